/* ptrace inside the sandbox: the supervisor hands a task over to the program's
 * debugger (strace, gdb, a program that traces its own children) and takes it back.
 *
 * Design.  Every task of a sandbox is the supervisor's tracee (ptrace.c), and a task
 * has one tracer at most, so a debugger inside cannot attach as long as we hold the
 * task.  Emulating ptrace (as the illumos LX brand did in lx_ptrace.c, and gVisor's
 * sentry does in kernel/ptrace.go) means answering every request of the debugger from
 * a model of the tracee: hundreds of request/stop combinations that gdb and strace
 * each exercise.  On the unotify backend we need not: our traps are seccomp user
 * notifications, which reach the listener whoever traces the task, and the filter
 * stays in force under any tracer (seccomp(2): since Linux 4.8 the filter runs again
 * after a tracer changed the call).  The tracer relationship is then ours to give
 * away:
 *
 *  - The requests that make a tracer (PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_SEIZE)
 *    and the two that change what the debugger holds (PTRACE_SETOPTIONS,
 *    PTRACE_DETACH) stop the debugger here (SECCOMP_RET_TRACE for those request
 *    values only, filter.c; the others run in the kernel, which checks the caller
 *    is the tracer).
 *  - ATTACH/SEIZE: the target must be our tracee (lx_tids): never the supervisor,
 *    nothing outside the sandbox, nothing another debugger holds.  Its number cannot
 *    name another task meanwhile: an unreaped tracee keeps it.  In a container the
 *    debugger names it in its own pid namespace (translated through NSpid).  It is
 *    brought to a stop (PTRACE_INTERRUPT), detached, and the debugger's call runs in
 *    the kernel; we see its result at the syscall-exit stop and seize the target
 *    back if the call failed (nothing is left untraced: fail closed).
 *  - TRACEME: the caller's parent must be a task of ours (the first process's parent
 *    is the supervisor in lxrun, the shim in a container: refused).  The caller is
 *    detached from its RET_TRACE stop and the call goes on into the kernel; we wait
 *    until it has a tracer, or seize it back.
 *  - PTRACE_O_EXITKILL is forced into SEIZE's and SETOPTIONS' options, so the chain
 *    supervisor -> debugger -> debuggee dies together: the debugger is our tracee
 *    with EXITKILL, its tracees its with EXITKILL (auto-attached children inherit it).
 *  - When a debugger detaches (its DETACH succeeded) or ends (the kernel detaches its
 *    tracees), we seize back what nobody traces: the tasks we handed over (a pidfd
 *    taken at the handover proves the number still names the same task), and every
 *    untraced task found below ours (/proc/PID/task/TID/children, threads in
 *    /proc/PID/task: made while handed over, the debugger not following them; the
 *    parent read again after seizing proves it is the one found).
 *
 * What is left (SECURITY.md): (1) between our DETACH and the debugger's attach, and
 * after an ATTACH or TRACEME until the debugger's first SETOPTIONS (strace and gdb set
 * options at the first stop), a debuggee whose supervisor is SIGKILLed survives it in
 * lxrun (no pid namespace; a container's dies with its init); so do tasks forked
 * while handed over that the debugger does not follow, until taken back.  (2) A
 * handed-over task loses what needs us as its tracer: exec stops (exec rules, kept
 * views, exec events, the trace's execs), trace results (RET_TRACE goes to its
 * debugger), the repair of a trapped call interrupted before the supervisor received
 * it (interrupt.c).  So ptrace is refused (EPERM, said once on stderr) while any of
 * those is in use, and on the ptrace backend, whose every trap needs us as tracer.
 * (3) A handed-over task's own ptrace() goes to its debugger (RET_TRACE reaches the
 * current tracer): without PTRACE_O_TRACESECCOMP there it fails with ENOSYS; with it,
 * the debugger lets it run unchecked (the filter still refuses the supervisor's pid).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "live.h"
#include "paths.h"
#include "tids.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd for a thread, not only a leader */
#endif

enum { LX_DBG_ATTACH = 1, LX_DBG_DETACH = 2 };

struct lx_handed {
    pid_t tid;      /* the task handed over (our pid namespace) */
    pid_t debugger; /* who was to trace it: the caller of ATTACH/SEIZE, TRACEME's parent */
    int pidfd;      /* names the task itself, whatever its number names later */
};

struct lx_debug {
    struct lx_handed *v;
    size_t n, cap;
};

int lx_debug_on(const struct lx_sup *s)
{
    return s->table[SYS_ptrace].kind == LX_ACT_DEBUG;
}

void lx_debug_free(struct lx_sup *s)
{
    if (!s->debug)
        return;
    for (size_t i = 0; i < s->debug->n; i++)
        close(s->debug->v[i].pidfd);
    free(s->debug->v);
    free(s->debug);
    s->debug = NULL;
}


/* Why the supervisor must stay every task's tracer under this run, or NULL. */
static const char *needs_us(const struct lx_sup *s)
{
    if (s->backend == LX_BACKEND_PTRACE)
        return "the ptrace backend answers every trap as each task's tracer; run with --backend unotify";
    if (s->exec_check || (s->paths && s->paths->judges_exec))
        return "the policy's exec rules are checked at each execve's ptrace stop, which the debugger would take";
    if (s->views)
        return "the policy's path rules keep views of each task that its execve must reset, seen as a ptrace stop";
    if (s->recording || s->trace_exit)
        return "the run records a trace, whose execs and results are ptrace stops the debugger would take";
    if (s->live_execs || (s->events && (s->events->flags & LX_EVS_EXEC)))
        return "exec events are reported from execve's ptrace stop, which the debugger would take";
    if (lx_live_stops(s))
        return "a live trace client follows every task's syscalls as its tracer";
    return NULL;
}

static const char *request_name(long req)
{
    return req == PTRACE_TRACEME ? "PTRACE_TRACEME" : req == PTRACE_ATTACH ? "PTRACE_ATTACH" : "PTRACE_SEIZE";
}

/* Why a request was refused, on stderr: once per supervisor process (lxrun, lxbrand-sup). */
static void say(long req, const char *why)
{
    static int said;
    if (!said) {
        said = 1;
        fprintf(stderr, "lxbrand: %s refused (EPERM): %s\n", request_name(req), why);
    }
}

/* Answer the call in its RET_TRACE stop without running it (seccomp(2): syscall -1). */
static void answer(struct lx_sup *s, pid_t tid, int64_t ret)
{
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, tid, 0, &r) == 0) {
        r.orig_rax = (uint64_t)-1;
        r.rax = (uint64_t)ret;
        if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0) {
            kill(tid, SIGKILL); /* the call would run unjudged: fail closed */
            return;
        }
    } else {
        kill(tid, SIGKILL);
        return;
    }
    lx_ptrace_resume(s, tid, 0);
}

/* The ptrace() data argument (options) with PTRACE_O_EXITKILL added. */
static int force_exitkill(pid_t tid)
{
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
        return -errno;
    if (r.r10 & PTRACE_O_EXITKILL)
        return 0;
    r.r10 |= PTRACE_O_EXITKILL;
    return ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 ? -errno : 0;
}

/* A number from /proc/TID/status: the `index`th of line `key` (-1: the last), or -1. */
static long status_field(pid_t tid, const char *key, int index)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t klen = strlen(key);
    long val = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0 || line[klen] != ':')
            continue;
        char *p = line + klen + 1, *end;
        for (int i = 0;; i++) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            if (i == index || index < 0)
                val = v;
            if (i == index)
                break;
            p = end;
        }
        break;
    }
    fclose(f);
    return val;
}

static int nspid_depth(pid_t tid)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int n = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "NSpid:", 6) != 0)
            continue;
        n = 0;
        for (char *p = line + 6, *end;; p = end) {
            strtol(p, &end, 10);
            if (end == p)
                break;
            n++;
        }
        break;
    }
    fclose(f);
    return n - 1; /* 0: the supervisor's own pid namespace (that of its /proc) */
}

struct find {
    int depth;
    pid_t want, found;
};

static void match_nspid(struct lx_tstate *t, void *arg)
{
    struct find *f = arg;
    if (!f->found && status_field(t->tid, "NSpid", f->depth) == f->want)
        f->found = t->tid;
}

/* The task of ours that `pid`, as the debugger sees it, names; 0 if none. */
static pid_t our_task(struct lx_sup *s, pid_t debugger, long pid)
{
    if (pid <= 0 || pid > 0x3fffffff)
        return 0;
    int depth = nspid_depth(debugger);
    if (depth < 0)
        return 0;
    if (depth == 0)
        return lx_tids_get(s->tids, (pid_t)pid) ? (pid_t)pid : 0;
    struct find f = {.depth = depth, .want = (pid_t)pid, .found = 0};
    lx_tids_each(s->tids, match_nspid, &f);
    return f.found;
}

static int record(struct lx_sup *s, pid_t tid, pid_t debugger, int pidfd)
{
    struct lx_debug *d = s->debug;
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        struct lx_handed *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = (struct lx_handed){.tid = tid, .debugger = debugger, .pidfd = pidfd};
    return 0;
}

static void drop(struct lx_sup *s, size_t i)
{
    struct lx_debug *d = s->debug;
    close(d->v[i].pidfd);
    d->v[i] = d->v[--d->n];
}

static int alive(int pidfd)
{
    return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

void lx_debug_each_handed(struct lx_sup *s, void (*fn)(pid_t tid, pid_t debugger, int pidfd, void *arg), void *arg)
{
    for (size_t i = 0; s->debug && i < s->debug->n; i++)
        if (alive(s->debug->v[i].pidfd)) /* one that ended is dropped at the next take-back */
            fn(s->debug->v[i].tid, s->debug->v[i].debugger, s->debug->v[i].pidfd, arg);
}

/* Give back a task seized by mistake (its number was reused): stop it, detach it. */
static void release(pid_t tid)
{
    if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
        return;
    for (;;) {
        int st;
        if (waitpid(tid, &st, __WALL) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (!WIFSTOPPED(st))
            return;
        int sig = (st >> 16) || WSTOPSIG(st) == (SIGTRAP | 0x80) ? 0 : WSTOPSIG(st);
        ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig);
        return;
    }
}

/* Seize `tid` again; `same` proves afterwards that the number still names the task
 * meant (seized, it cannot be reaped and reused).  1 seized, 0 not (traced by another
 * or gone). */
static int seize_back(struct lx_sup *s, pid_t tid, int (*same)(pid_t tid, long arg), long arg)
{
    if (ptrace(PTRACE_SEIZE, tid, 0, (void *)lx_ptrace_run_opts(s)) < 0)
        return 0;
    if (!same(tid, arg)) {
        release(tid);
        return 0;
    }
    if (lx_ptrace_adopt(s, tid) < 0) {
        kill(tid, SIGKILL); /* ours but unaccounted for: it must not run unsupervised */
        return 0;
    }
    return 1;
}

static int same_pidfd(pid_t tid, long pidfd)
{
    (void)tid;
    return alive((int)pidfd);
}

static int same_parent(pid_t tid, long tgid)
{
    return status_field(tid, "PPid", 0) == tgid;
}

static int same_group(pid_t tid, long tgid)
{
    return status_field(tid, "Tgid", 0) == tgid;
}

/* A handed-over task nobody traces any more comes back; a dead one is forgotten. */
static void reclaim(struct lx_sup *s, size_t i)
{
    struct lx_handed *h = &s->debug->v[i];
    if (!alive(h->pidfd)) {
        drop(s, i);
        return;
    }
    if (status_field(h->tid, "TracerPid", 0) != 0)
        return; /* its debugger (or another) holds it */
    if (seize_back(s, h->tid, same_pidfd, h->pidfd) || !alive(h->pidfd))
        drop(s, i);
}

struct walk {
    pid_t *v;
    size_t n, cap;
};

static void push(struct walk *w, pid_t tid)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        pid_t *v = realloc(w->v, cap * sizeof(*v));
        if (!v)
            return;
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = tid;
}

static void collect(struct lx_tstate *t, void *arg)
{
    push(arg, t->tid);
}

static int seen(const struct walk *w, pid_t tid)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i] == tid)
            return 1;
    return 0;
}

/* Untraced tasks of the sandbox: the threads of each task's process and the children
 * of each of its threads, found from every task we hold or handed over (breadth first,
 * through tasks a debugger holds); each is seized back.  Bounded: the walk stops at
 * 65536 tasks. */
static void take_back_untraced(struct lx_sup *s)
{
    struct walk w = {0};
    lx_tids_each(s->tids, collect, &w);
    for (size_t i = 0; s->debug && i < s->debug->n; i++)
        if (!seen(&w, s->debug->v[i].tid))
            push(&w, s->debug->v[i].tid);
    for (size_t i = 0; i < w.n && w.n < 65536; i++) {
        pid_t r = w.v[i];
        long tgid = status_field(r, "Tgid", 0);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int)r);
        DIR *dir = opendir(path);
        if (!dir || tgid <= 0) {
            if (dir)
                closedir(dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(dir))) {
            pid_t th = (pid_t)atoi(e->d_name);
            if (th <= 0)
                continue;
            if (!seen(&w, th)) {
                push(&w, th);
                if (!lx_tids_get(s->tids, th) && status_field(th, "TracerPid", 0) == 0)
                    seize_back(s, th, same_group, tgid);
            }
            char cpath[96], buf[4096];
            snprintf(cpath, sizeof(cpath), "/proc/%d/task/%d/children", (int)r, (int)th);
            int fd = open(cpath, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            if (n <= 0)
                continue;
            buf[n] = '\0';
            for (char *p = buf, *end;; p = end) {
                long c = strtol(p, &end, 10);
                if (end == p)
                    break;
                if (c <= 0 || seen(&w, (pid_t)c))
                    continue;
                push(&w, (pid_t)c);
                if (!lx_tids_get(s->tids, (pid_t)c) && status_field((pid_t)c, "TracerPid", 0) == 0)
                    seize_back(s, (pid_t)c, same_parent, tgid);
            }
        }
        closedir(dir);
    }
    free(w.v);
}

/* After a debugger let go of tasks (a DETACH, its end, a failed attach): everything
 * of the sandbox that nobody traces is ours again. */
static void take_back(struct lx_sup *s)
{
    if (!s->debug)
        return;
    for (size_t i = s->debug->n; i-- > 0;)
        reclaim(s, i);
    take_back_untraced(s);
}

/* Detach `tid` (ours, in a ptrace stop) for `debugger`, remembering it to take it back
 * (pidfd: names it; closed here on failure).  -ENOMEM: still ours; -ESRCH: gone. */
static int hand_over(struct lx_sup *s, pid_t tid, pid_t debugger, int pidfd)
{
    if (record(s, tid, debugger, pidfd) < 0) {
        close(pidfd);
        return -ENOMEM;
    }
    if (ptrace(PTRACE_DETACH, tid, 0, 0) < 0) {
        drop(s, s->debug->n - 1);
        return -ESRCH;
    }
    lx_ptrace_forget(s, tid);
    return 0;
}

/* TRACEME: the caller (tid, in its RET_TRACE stop) is to be traced by its parent. */
static void traceme(struct lx_sup *s, pid_t tid)
{
    long ppid = status_field(tid, "PPid", 0);
    if (ppid <= 0 || !lx_tids_get(s->tids, (pid_t)ppid)) {
        answer(s, tid, -EPERM); /* the parent is the supervisor or outside the sandbox */
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (pidfd < 0 || hand_over(s, tid, (pid_t)ppid, pidfd) < 0) {
        answer(s, tid, -EPERM);
        return;
    }
    /* The call goes on in the kernel as soon as the caller runs (after a tracer's
     * stop the filter is run again and RET_TRACE then allows: seccomp(2)).  Wait
     * until it has its tracer; a caller left untraced (the call failed) is ours again. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0;; i++) {
        if (!alive(pidfd) || status_field(tid, "TracerPid", 0) > 0)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > 2000000000L)
            break;
        if (i < 1000)
            sched_yield();
        else
            usleep(200);
    }
    take_back(s);
}

/* ATTACH or SEIZE by `tid` (in its RET_TRACE stop) of c->args[1]. */
static void attach(struct lx_sup *s, pid_t tid, const struct lx_call *c, long req)
{
    pid_t x = our_task(s, tid, (long)c->args[1]);
    if (!x) {
        /* not a task of this sandbox that we hold: the supervisor, a process outside,
         * one another debugger traces, or none (as natively: ESRCH when there is none
         * in our namespace) */
        int none = nspid_depth(tid) == 0 && (long)c->args[1] > 0 && kill((pid_t)c->args[1], 0) < 0 &&
                   errno == ESRCH;
        if (!none)
            say(req, "the target is not a task of this sandbox held by its supervisor (the supervisor, a process "
                     "outside, a task another debugger traces; in a container, another `docker exec` tree, which "
                     "has a supervisor of its own)");
        answer(s, tid, none ? -ESRCH : -EPERM);
        return;
    }
    if (status_field(x, "Tgid", 0) == status_field(tid, "Tgid", 0)) {
        lx_ptrace_resume(s, tid, 0); /* its own thread group: the kernel refuses (EPERM) */
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, x, PIDFD_THREAD);
    if (pidfd < 0) {
        answer(s, tid, -EPERM);
        return;
    }
    if (lx_ptrace_stop_task(s, x, 1) < 0) {
        close(pidfd);
        answer(s, tid, -ESRCH); /* it ended meanwhile */
        return;
    }
    int rc = hand_over(s, x, tid, pidfd);
    if (rc < 0) {
        if (rc == -ENOMEM)
            lx_ptrace_resume(s, x, 0); /* still ours */
        answer(s, tid, rc);
        return;
    }
    if (req == PTRACE_SEIZE && force_exitkill(tid) < 0) {
        kill(tid, SIGKILL);
        take_back(s);
        return;
    }
    struct lx_tstate *t = lx_tids_get(s->tids, tid);
    if (!t) { /* the debugger ended while its target stopped */
        take_back(s);
        return;
    }
    t->debug_op = LX_DBG_ATTACH;
    t->debug_target = x;
    lx_ptrace_resume(s, tid, 0); /* to its syscall-exit stop: lx_debug_exit */
}

void lx_debug_call(struct lx_sup *s, pid_t tid, struct lx_call *c)
{
    long req = (long)c->args[0];
    struct lx_tstate *t;
    switch (req) {
    case PTRACE_TRACEME:
    case PTRACE_ATTACH:
    case PTRACE_SEIZE: {
        const char *why = needs_us(s);
        if (!why && !s->debug && !(s->debug = calloc(1, sizeof(*s->debug))))
            why = "out of memory";
        if (why) {
            say(req, why);
            answer(s, tid, -EPERM);
            return;
        }
        if (req == PTRACE_TRACEME)
            traceme(s, tid);
        else
            attach(s, tid, c, req);
        return;
    }
    case PTRACE_SETOPTIONS:
        /* the debugger's tracees die with it, as it dies with us */
        if (s->backend == LX_BACKEND_UNOTIFY && force_exitkill(tid) < 0) {
            answer(s, tid, -ESRCH);
            return;
        }
        lx_ptrace_resume(s, tid, 0);
        return;
    case PTRACE_DETACH:
        t = lx_tids_get(s->tids, tid);
        if (t && s->debug) {
            t->debug_op = LX_DBG_DETACH; /* its target is taken back at the exit stop */
            t->debug_target = 0;
        }
        lx_ptrace_resume(s, tid, 0);
        return;
    default:
        lx_ptrace_resume(s, tid, 0); /* the kernel checks the caller is the tracer */
        return;
    }
}

void lx_debug_exit(struct lx_sup *s, pid_t tid, int64_t rval)
{
    struct lx_tstate *t = lx_tids_get(s->tids, tid);
    if (!t)
        return;
    int op = t->debug_op;
    t->debug_op = 0;
    t->debug_target = 0;
    if ((op == LX_DBG_ATTACH && rval < 0) || (op == LX_DBG_DETACH && rval == 0))
        take_back(s);
}

void lx_debug_task_gone(struct lx_sup *s, pid_t tid)
{
    for (size_t i = 0; i < s->debug->n; i++) {
        if (s->debug->v[i].debugger == tid) {
            take_back(s); /* the kernel detached its tracees (exit_ptrace) */
            return;
        }
    }
}
