/* The supervision loop.
 *
 * Both backends run the program's whole tree as ptrace tracees (PTRACE_SEIZE
 * with EXITKILL and fork/vfork/clone/exec following), because ptrace is what
 * gives the two guarantees a sandbox needs from its lifecycle: every task dies
 * if the supervisor dies, even by SIGKILL (PTRACE_O_EXITKILL), and no task can
 * get another tracer (a task has one tracer at most).  Without
 * PTRACE_O_TRACESECCOMP or PTRACE_SYSCALL ptrace costs nothing per syscall.
 *
 * The ptrace backend also answers traps here (SECCOMP_RET_TRACE ->
 * PTRACE_EVENT_SECCOMP); the unotify backend answers them in unotify.c's
 * thread.  Stop kinds are told apart as ptrace(2) describes for PTRACE_SEIZE:
 * group-stops and the initial stop of a new tracee are both PTRACE_EVENT_STOP,
 * so each new tid is marked `fresh` until its first one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "net.h"
#include "paths.h"
#include "events.h"
#include "live.h"
#include "tids.h"
#include "trace.h"
#include "view.h"

/* PTRACE_GET_SYSCALL_INFO (Linux 5.3) and its struct __ptrace_syscall_info come from
 * glibc's <sys/ptrace.h> (2.32 and later), the one declaration ptrace.c and inject.c share. */

/* PTRACE_SYSCALL while the task's traced call runs (its exit stop gives the result) or a
 * live client traces (live.h); otherwise PTRACE_CONT: no stop per syscall. */
static long resume(const struct lx_sup *s, pid_t tid, const struct lx_tstate *t, int sig)
{
    int stops = (t && (t->in_trace || t->debug_op)) || lx_live_stops(s);
    return ptrace(stops ? PTRACE_SYSCALL : PTRACE_CONT, tid, 0, (void *)(long)sig);
}

static void regs_to_call(const struct user_regs_struct *r, struct lx_call *c)
{
    c->nr = (int32_t)r->orig_rax;
    c->args[0] = r->rdi;
    c->args[1] = r->rsi;
    c->args[2] = r->rdx;
    c->args[3] = r->r10;
    c->args[4] = r->r8;
    c->args[5] = r->r9;
}

static void call_to_regs(const struct lx_call *c, struct user_regs_struct *r)
{
    r->orig_rax = (uint64_t)(int64_t)c->nr;
    r->rdi = c->args[0];
    r->rsi = c->args[1];
    r->rdx = c->args[2];
    r->r10 = c->args[3];
    r->r8 = c->args[4];
    r->r9 = c->args[5];
}

static int is_listener_request(const struct lx_call *c)
{
    return c->nr == SYS_seccomp && c->args[0] == SECCOMP_SET_MODE_FILTER &&
           (c->args[1] & SECCOMP_FILTER_FLAG_NEW_LISTENER);
}

static void finish_trace_unknown(struct lx_sup *s, struct lx_tstate *t);

/* What is kept about a task that is no longer ours (ended, or handed over: debuggee.c). */
static void task_forget(struct lx_sup *s, pid_t tid, struct lx_tstate *t)
{
    finish_trace_unknown(s, t);
    lx_live_task_gone(s, t);
    lx_tids_del(s->tids, tid);
    lx_views_forget(s, tid); /* its number may name another task next */
    lx_interrupt_forget(s, tid);
}

static void task_gone(struct lx_sup *s, pid_t tid, struct lx_tstate *t, int st)
{
    if (tid == s->child) {
        s->main_status = st;
        s->main_status_valid = 1;
        lx_signals_child_gone();
    }
    task_forget(s, tid, t);
    if (s->debug)
        lx_debug_task_gone(s, tid); /* a debugger's end detached its tracees */
    if (tid == s->child)
        lx_tasks_first_gone(s); /* --wait first, or lxrun was asked to end: the rest is killed */
}

void lx_ptrace_forget(struct lx_sup *s, pid_t tid)
{
    task_forget(s, tid, lx_tids_get(s->tids, tid));
}

long lx_ptrace_resume(struct lx_sup *s, pid_t tid, int sig)
{
    return resume(s, tid, lx_tids_get(s->tids, tid), sig);
}

/* PTRACE_EVENT_SECCOMP: the ptrace backend's trap. */
static void on_seccomp_stop(struct lx_sup *s, pid_t tid, struct lx_tstate *t)
{
    struct user_regs_struct regs;
    uint64_t t0 = lx_now_ns();
    if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0) {
        resume(s, tid, t, 0);
        return;
    }
    struct lx_call c = {.pid = tid, .tid = tid, .backend = LX_BACKEND_PTRACE, .sup = s};
    regs_to_call(&regs, &c);
    const struct lx_action *a = lx_action_for(s, c.nr);
    int kind = a->kind, answered;
    lx_observe(s, &c);

    if (s->backend == LX_BACKEND_PTRACE && is_listener_request(&c)) {
        c.ret = -EPERM; /* see filter.c: a listener of the program's would outrank RET_TRACE */
        answered = 1;
    } else if (kind == LX_ACT_DEBUG) {
        lx_debug_call(s, tid, &c); /* hands a task over to the program's debugger, or refuses */
        return;
    } else if (kind == LX_ACT_TRACE) {
        /* (on unotify too, when the run records: s->trace_exit) its result at the exit stop */
        lx_trace_begin(s, t, &c, LX_ACT_TRACE, t0);
        ptrace(PTRACE_SYSCALL, tid, 0, 0);
        return;
    } else {
        s->gone_tid = 0;
        answered = lx_decide(s, &c, a);
        if (s->gone_tid == tid) {
            /* the handler ran syscalls in the task (inject.c) and it died meanwhile */
            lx_count(s, c.nr, 0, 0, t0);
            task_gone(s, tid, lx_tids_get(s->tids, tid), s->gone_status);
            s->gone_tid = 0;
            return;
        }
    }

    if (answered) {
        /* skip the call: syscall number -1, result in rax (seccomp(2), RET_TRACE) */
        regs.orig_rax = (uint64_t)-1;
        regs.rax = (uint64_t)c.ret;
        ptrace(PTRACE_SETREGS, tid, 0, &regs);
    } else if (c.rewrite) {
        /* the kernel re-runs the filter on the rewritten call (Linux >= 4.8) */
        call_to_regs(&c, &regs);
        ptrace(PTRACE_SETREGS, tid, 0, &regs);
    }
    if (!answered && s->recording && s->trace_exit) {
        /* it continues natively: its result is seen at the exit stop */
        lx_trace_begin(s, t, &c, kind, t0);
        ptrace(PTRACE_SYSCALL, tid, 0, 0);
        return;
    }
    lx_count(s, c.nr, c.ret, answered, t0);
    lx_record(s, &c, kind, answered, t0);
    resume(s, tid, t, 0);
}

/* A syscall-entry or -exit stop: the exit of a traced call (its result), or, while
 * a live client traces, any call's entry and exit (live.h). */
static void on_syscall_stop(struct lx_sup *s, pid_t tid, struct lx_tstate *t)
{
    struct __ptrace_syscall_info info;
    memset(&info, 0, sizeof(info));
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) < 0) {
        lx_trace_end(s, t, 0, 0);
        resume(s, tid, t, 0);
        return;
    }
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
        lx_live_syscall(s, t, 1, (int)info.entry.nr, (const uint64_t *)info.entry.args, 0);
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
        if (t && t->debug_op) {
            lx_debug_exit(s, tid, info.exit.rval);
            t = lx_tids_get(s->tids, tid); /* the table may have grown (tasks seized back) */
        }
        lx_trace_end(s, t, info.exit.rval, 1);
        lx_live_syscall(s, t, 0, -1, NULL, info.exit.rval);
    }
    resume(s, tid, t, 0);
}

static void finish_trace_unknown(struct lx_sup *s, struct lx_tstate *t)
{
    if (t && t->in_trace)
        lx_trace_end(s, t, 0, 0); /* exit_group, execve failing into death, or a kill: no result */
}

/* unotify: step the child through its last syscalls until seccomp() returns
 * the listener, then take it with pidfd_getfd(2). */
static int take_listener(struct lx_sup *s, pid_t child, int go_fd, int stopped)
{
    int st;
    if (!stopped) {
        if (ptrace(PTRACE_INTERRUPT, child, 0, 0) < 0)
            return -errno;
        if (waitpid(child, &st, __WALL) < 0)
            return -errno;
        if (!WIFSTOPPED(st))
            return -ESRCH;
    }
    if (ptrace(PTRACE_SYSCALL, child, 0, 0) < 0)
        return -errno;
    char g = 'g';
    if (write(go_fd, &g, 1) != 1)
        return -EPIPE;
    uint64_t last_nr = (uint64_t)-1;
    for (;;) {
        if (waitpid(child, &st, __WALL) < 0)
            return -errno;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            s->main_status = st;
            s->main_status_valid = 1;
            return -ESRCH;
        }
        int sig = WSTOPSIG(st), ev = (unsigned)st >> 16;
        if (sig == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info;
            memset(&info, 0, sizeof(info));
            if (ptrace(PTRACE_GET_SYSCALL_INFO, child, sizeof(info), &info) < 0)
                return -errno;
            if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
                last_nr = info.entry.nr;
            } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && last_nr == SYS_seccomp && info.exit.rval >= 0) {
                int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
                if (pidfd < 0)
                    return -errno;
                int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)info.exit.rval, 0);
                int err = errno;
                close(pidfd);
                if (fd < 0)
                    return -err;
                s->notify_fd = fd;
                return 0;
            }
            if (ptrace(PTRACE_SYSCALL, child, 0, 0) < 0)
                return -errno;
        } else if (ev == PTRACE_EVENT_EXEC) {
            return -EPROTO; /* exec'd without a listener: never let it run */
        } else {
            if (ptrace(PTRACE_SYSCALL, child, 0, (void *)(long)(ev ? 0 : sig)) < 0)
                return -errno;
        }
    }
}

int lx_wait_defer(struct lx_sup *s, pid_t tid, int status)
{
    if (s->npend == s->cappend) {
        size_t cap = s->cappend ? 2 * s->cappend : 16;
        struct lx_wait_event *p = realloc(s->pend, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->pend = p;
        s->cappend = cap;
    }
    s->pend[s->npend].tid = tid;
    s->pend[s->npend].status = status;
    s->npend++;
    return 0;
}

/* The next wait status: one deferred while a handler waited on its own task
 * (inject.c), else the kernel's. */
static pid_t next_event(struct lx_sup *s, int *st)
{
    if (s->npend) {
        pid_t tid = s->pend[0].tid;
        *st = s->pend[0].status;
        memmove(s->pend, s->pend + 1, (s->npend - 1) * sizeof(*s->pend));
        s->npend--;
        return tid;
    }
    return lx_wake_wait(s, st); /* waitpid(-1, st, __WALL), which lx_wake interrupts */
}

/* One wait status of a tracee: the same handling before and after the program
 * is armed (see lx_supervise_attached). */
static long run_opts(const struct lx_sup *s);

static void handle_event(struct lx_sup *s, pid_t tid, int st)
{
    int created;
    struct lx_tstate *t = lx_tids_get(s->tids, tid);
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
        task_gone(s, tid, t, st);
        return;
    }
    if (!WIFSTOPPED(st))
        return;
    if (s->killing)
        kill(tid, SIGKILL); /* born while the tree is being killed (tasks.c): resumed below, it dies */
    if (!t) {
        /* a new task whose stop beat its parent's fork event */
        t = lx_tids_add(s->tids, tid, &created);
        if (!t) {
            kill(tid, SIGKILL);
            return;
        }
        t->fresh = 1;
        lx_views_forget(s, tid); /* a new task: nothing kept under its number is its */
        lx_interrupt_forget(s, tid);
    }
    int sig = WSTOPSIG(st), ev = (unsigned)st >> 16;
    if (t->opts_gen != s->opts_gen) {
        /* the options changed while it ran (exec stops for an events client: live.c) */
        ptrace(PTRACE_SETOPTIONS, tid, 0, (void *)run_opts(s));
        t->opts_gen = s->opts_gen;
    }
    if (tid == s->child)
        lx_signals_child_running(); /* a stop again is its group-stop event below */
    if (sig == (SIGTRAP | 0x80)) {
        on_syscall_stop(s, tid, t);
        return;
    }
    unsigned long msg = 0;
    switch (ev) {
    case 0:
        /* signal-delivery-stop: deliver it (a trapped call it interrupted before
         * the notify thread received it is restarted: interrupt.c) */
        lx_interrupt_repair(s, tid);
        resume(s, tid, t, sig);
        break;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
        int in_trace = t->in_trace;
        struct lx_tstate *n = lx_tids_add(s->tids, (pid_t)msg, &created);
        if (n && created) {
            n->fresh = 1;
            lx_views_forget(s, (pid_t)msg); /* before it runs: its number may have been another's */
            lx_interrupt_forget(s, (pid_t)msg);
        }
        /* the table may have grown: look ourselves up again */
        t = lx_tids_get(s->tids, tid);
        if (t)
            t->in_trace = (uint8_t)in_trace;
        resume(s, tid, t, 0);
        break;
    }
    case PTRACE_EVENT_EXEC: {
        ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg);
        pid_t former = (pid_t)msg;
        if (former != tid) {
            /* a non-leader thread exec'd and took the leader's tid (ptrace(2), execve under ptrace) */
            struct lx_tstate *f = lx_tids_get(s->tids, former);
            struct lx_tstate saved;
            int have = 0;
            if (f) {
                saved = *f;
                have = 1;
                memset(&f->rec, 0, sizeof(f->rec)); /* moves with it */
                memset(&f->live, 0, sizeof(f->live));
                lx_tids_del(s->tids, former);
                lx_interrupt_forget(s, former);
            }
            t = lx_tids_get(s->tids, tid);
            if (t && have) {
                t->in_trace = saved.in_trace;
                t->t0 = saved.t0;
                t->call = saved.call;
                t->call.tid = t->call.pid = tid;
                lx_recb_free(&t->rec);
                t->rec = saved.rec;
                lx_recb_free(&t->live);
                t->live = saved.live;
                t->fresh = 0;
            } else if (have) {
                lx_recb_free(&saved.rec);
                lx_recb_free(&saved.live);
            }
        }
        /* The new image is mapped and has not run yet: a check of what was
         * executed (/proc/TID/exe) cannot be raced, unlike one of the path
         * execve() re-reads after a decision (SECURITY.md).  Fail closed. */
        lx_views_forget(s, 0); /* the execing thread took over its leader's number */
        lx_trace_exec_seen(s, tid);
        if ((s->paths && s->paths->judges_exec && lx_paths_exec_ok(s, tid) < 0) ||
            (s->exec_check && s->exec_check(s->ctx, tid) < 0))
            kill(tid, SIGKILL);
        else if (s->live_execs || (s->events && (s->events->flags & LX_EVS_EXEC)))
            lx_event_exec(s, tid);
        resume(s, tid, t, 0);
        break;
    }
    case PTRACE_EVENT_SECCOMP:
        on_seccomp_stop(s, tid, t);
        break;
    case PTRACE_EVENT_STOP:
        if (t->fresh) {
            t->fresh = 0;
            resume(s, tid, t, 0);
        } else if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
            /* group-stop: stay stopped, but let SIGCONT wake it (PTRACE_LISTEN) */
            ptrace(PTRACE_LISTEN, tid, 0, 0);
            if (tid == s->child)
                lx_signals_child_stopped(sig); /* the shell's job stops now, not before (signals.c) */
        } else {
            resume(s, tid, t, 0);
        }
        break;
    default:
        resume(s, tid, t, 0);
        break;
    }
}

/* The ptrace options while the program runs, and while it is being armed: exec
 * stops are needed only to check what runs (exec_check), to carry a traced call
 * across a non-leader's exec (recording), and until the listener is taken
 * (take_listener refuses an exec before it).  Otherwise each exec of the tree
 * would cost a stop and a round trip for nothing (PTRACE_SEIZE sends no SIGTRAP
 * on exec without the option). */
static long arm_opts(const struct lx_sup *s)
{
    long opts = PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD;
    if (s->backend == LX_BACKEND_PTRACE || s->trace_exit || lx_debug_on(s))
        opts |= PTRACE_O_TRACESECCOMP; /* (a debugger's ptrace() stops us: debuggee.c) */
    return opts;
}

static long run_opts(const struct lx_sup *s)
{
    long opts = arm_opts(s);
    /* with views kept (csrc/view.h), an exec forgets them all when it happens: a
     * non-leader's exec takes over its leader's number, whose exit is never reported */
    int execs = s->exec_check || s->views || s->recording || s->live_execs ||
                (s->events && (s->events->flags & LX_EVS_EXEC));
    return execs ? opts : (opts & ~(long)PTRACE_O_TRACEEXEC);
}

long lx_ptrace_run_opts(const struct lx_sup *s)
{
    return run_opts(s);
}

int lx_ptrace_adopt(struct lx_sup *s, pid_t tid)
{
    int created;
    struct lx_tstate *t = lx_tids_add(s->tids, tid, &created);
    if (!t)
        return -ENOMEM;
    t->fresh = 0; /* PTRACE_SEIZE reports no initial stop (only a group-stop, if it is in one) */
    t->opts_gen = s->opts_gen;
    lx_views_forget(s, tid); /* nothing kept under its number is its now */
    lx_interrupt_forget(s, tid);
    if (s->killing)
        kill(tid, SIGKILL); /* taken back while the tree is being killed (tasks.c) */
    return 0;
}

/* The child is seized and blocked reading go_fd: let it install its filter and
 * take the listener (unotify), so that nothing it runs is unsupervised.  On
 * failure the child is killed (fail closed).  `stopped`: the child is already
 * in a ptrace stop (else it is interrupted first). */
static int arm(struct lx_sup *s, pid_t child, int go_fd, int stopped)
{
    int rc = 0;
    if (lx_child_backend(s) == LX_BACKEND_UNOTIFY) {
        rc = take_listener(s, child, go_fd, stopped);
        if (rc == 0)
            rc = lx_unotify_start(s);
        if (rc < 0) {
            kill(child, SIGKILL); /* fail closed: the program never runs unsupervised */
            return rc;
        }
        if (run_opts(s) != arm_opts(s))
            ptrace(PTRACE_SETOPTIONS, child, 0, (void *)run_opts(s)); /* stopped in take_listener's step */
        ptrace(PTRACE_CONT, child, 0, 0);
    } else {
        char g = 'g';
        if (write(go_fd, &g, 1) != 1) {
            rc = -EPIPE;
            kill(child, SIGKILL);
        } else if (stopped) {
            ptrace(PTRACE_CONT, child, 0, 0);
        }
    }
    return rc;
}

static int new_tids(struct lx_sup *s, pid_t child)
{
    int created;
    s->tids = lx_tids_new();
    if (!s->tids || !lx_tids_add(s->tids, child, &created))
        return -ENOMEM;
    return 0;
}

/* Until no tracee is left.  rc: the error so far (kept if nothing worse happens). */
static int run_loop(struct lx_sup *s, int rc)
{
    lx_wake_install(s);
    if (!s->no_live)
        lx_live_start(s); /* live clients may attach from now on (failing leaves them out) */
    for (;;) {
        int st;
        if (lx_wake_take(s))
            lx_tasks_requests(s); /* a signal to lxrun asked (signals.c) */
        pid_t tid = next_event(s, &st);
        if (tid < 0) {
            if (errno == EINTR) {
                lx_live_poll(s); /* woken by the control thread */
                continue;
            }
            if (errno != ECHILD && rc == 0)
                rc = -errno;
            break;
        }
        handle_event(s, tid, st);
        lx_live_poll(s);
    }
    lx_live_stop(s);
    lx_wake_uninstall(s);
    lx_unotify_stop(s);
    lx_net_stop(s); /* blocking connects answered from threads of their own */
    lx_interrupt_free(s);
    lx_debug_free(s);
    lx_flush(s);
    free(s->pend);
    s->pend = NULL;
    s->npend = s->cappend = 0;
    lx_tids_free(s->tids);
    s->tids = NULL;
    if (s->notify_fd >= 0) {
        close(s->notify_fd);
        s->notify_fd = -1;
    }
    if (s->notify_error && rc == 0)
        rc = s->notify_error;
    return rc;
}

static int supervise(struct lx_sup *s, pid_t child, int ready_fd, int go_fd)
{
    int rc = 0;
    char c;
    s->child = child;
    s->main_status_valid = 0;

    if (read(ready_fd, &c, 1) != 1) {
        /* the child failed before it was ready: reap it and report */
        int st;
        if (waitpid(child, &st, 0) == child) {
            s->main_status = st;
            s->main_status_valid = 1;
        }
        return -ECHILD;
    }
    long opts = lx_child_backend(s) == LX_BACKEND_UNOTIFY ? arm_opts(s) : run_opts(s);
    if (ptrace(PTRACE_SEIZE, child, 0, (void *)opts) < 0) {
        rc = -errno;
        kill(child, SIGKILL);
        waitpid(child, NULL, __WALL);
        return rc;
    }
    if (new_tids(s, child) < 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, __WALL);
        return -ENOMEM;
    }
    rc = arm(s, child, go_fd, 0);
    return run_loop(s, rc);
}

/* Stop `tid` (ours, running or blocked in a syscall) in a PTRACE_EVENT_STOP; the
 * stops that come first are handled as usual (the interrupt stays pending).  others:
 * meanwhile handle every task's events, not only its own (it may be waiting for
 * another task, e.g. a vfork parent for its child, whose stop would otherwise wait
 * for us: debuggee.c). */
int lx_ptrace_stop_task(struct lx_sup *s, pid_t tid, int others)
{
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
        return -errno;
    for (;;) {
        int st;
        pid_t w = waitpid(others ? -1 : tid, &st, __WALL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w != tid) {
            handle_event(s, w, st);
            if (!lx_tids_get(s->tids, tid))
                return -ESRCH; /* handed over meanwhile (another debugger's attach) */
            continue;
        }
        if (!WIFSTOPPED(st)) {
            handle_event(s, w, st);
            return -ESRCH;
        }
        if ((st >> 16) == PTRACE_EVENT_STOP) {
            struct lx_tstate *t = lx_tids_get(s->tids, tid);
            if (t)
                t->fresh = 0; /* (a new task's first stop is this one) */
            return 0;
        }
        handle_event(s, w, st);
    }
}

/* Stop `child` (seized, running or blocked in a syscall) and give it `opts`. */
static int interrupt_and_set(struct lx_sup *s, pid_t child, long opts)
{
    int rc = lx_ptrace_stop_task(s, child, 0);
    if (rc == 0 && ptrace(PTRACE_SETOPTIONS, child, 0, (void *)opts) < 0)
        rc = -errno;
    return rc;
}

/* The OCI process model (lxbrand/oci/supervisor.py): `child` is not ours but the
 * container's init, forked by a process that has exited (so the shim, a
 * subreaper, is its parent and reaps it).  We seize it at once, so the whole
 * tree dies with us from the start (EXITKILL), and follow it while it builds
 * the container (fork/clone only: no exec checks on the runtime's own hooks,
 * no filter yet).  Two things end this phase: a byte on ready_fd (the child is
 * about to install its filter: it is armed as in lx_supervise) and ctl_fd
 * (the runtime's `create`: 'c' when it has committed the container; EOF
 * without it means create failed or died, and the child is killed, so nothing
 * is left half-made).  A SIGCHLD signalfd wakes the poll for ptrace events. */
static int supervise_attached(struct lx_sup *s, pid_t child, int ready_fd, int go_fd, int ctl_fd)
{
    int rc = 0, ready = 0, committed = ctl_fd < 0;
    s->child = child;
    s->main_status_valid = 0;
    long pre = arm_opts(s) & ~(long)(PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP);
    if (ptrace(PTRACE_SEIZE, child, 0, (void *)pre) < 0)
        return -errno;
    if (new_tids(s, child) < 0) {
        kill(child, SIGKILL);
        return run_loop(s, -ENOMEM);
    }
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        rc = -errno;
        kill(child, SIGKILL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return run_loop(s, rc);
    }
    int gone = 0;
    while (!(ready && committed) && !gone) {
        int st;
        pid_t tid;
        while ((tid = waitpid(-1, &st, __WALL | WNOHANG)) > 0) {
            handle_event(s, tid, st);
            if (tid == child && (WIFEXITED(st) || WIFSIGNALED(st)))
                gone = 1;
        }
        if (tid < 0 && errno == ECHILD)
            gone = 1;
        if (gone)
            break;
        struct pollfd p[3] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = ready ? -1 : ready_fd, .events = POLLIN},
            {.fd = committed ? -1 : ctl_fd, .events = POLLIN},
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            kill(child, SIGKILL);
            break;
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            }
        }
        if (p[1].revents) {
            char c;
            ssize_t n = read(ready_fd, &c, 1);
            if (n == 1)
                ready = 1;
            else if (n == 0)
                ready_fd = -1; /* the child exited or closed it: its exit comes through wait */
        }
        if (p[2].revents) {
            char c = 0;
            ssize_t n = read(ctl_fd, &c, 1);
            if (n == 1 && c == 'c') {
                committed = 1;
            } else if (n <= 0 || c != 'c') {
                /* create failed or died: leave nothing behind */
                kill(child, SIGKILL);
                ctl_fd = -1;
                committed = 1;
                rc = -ECANCELED;
            }
        }
    }
    close(sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (!gone && rc == 0) {
        rc = interrupt_and_set(s, child, arm_opts(s));
        if (rc == 0)
            rc = arm(s, child, go_fd, 1);
        else
            kill(child, SIGKILL);
    }
    return run_loop(s, rc);
}

static int undumpable_begin(struct lx_sup *s)
{
    s->self = getpid();
    int was = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return was;
}

static void undumpable_end(int was)
{
    if (was > 0)
        prctl(PR_SET_DUMPABLE, was, 0, 0, 0);
}

int lx_supervise(struct lx_sup *s, pid_t child, int ready_fd, int go_fd)
{
    /* Not dumpable while supervising: /proc/<us>/mem, /proc/<us>/fd/N, pidfd_getfd,
     * process_vm_* and ptrace on us then need CAP_SYS_PTRACE (ptrace_may_access),
     * so a program running as our user cannot write our memory or take our
     * listener fd (Yama is not on every host; it is not on the development VM).
     * A root program still can: SECURITY.md. */
    int was = undumpable_begin(s);
    int rc = supervise(s, child, ready_fd, go_fd);
    undumpable_end(was);
    return rc;
}

int lx_supervise_attached(struct lx_sup *s, pid_t child, int ready_fd, int go_fd, int ctl_fd)
{
    int was = undumpable_begin(s);
    int rc = supervise_attached(s, child, ready_fd, go_fd, ctl_fd);
    undumpable_end(was);
    return rc;
}
