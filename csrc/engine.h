/* lxbrand C engine: the contract between the supervision loops and the binding.
 *
 * One supervisor (struct lx_sup) per sandbox.  The Python layer fills the action
 * table once, before the program starts; the loops then answer every trapped
 * syscall from the table.  Only LX_ACT_PYTHON leaves C (through sup->handler).
 *
 * Error convention: functions return 0 or a positive count on success and
 * -errno on failure (the binding raises OSError from it).
 */
#ifndef LX_ENGINE_H
#define LX_ENGINE_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define LX_NR_MAX 512 /* x86_64 syscall numbers are < 512 (x32 numbers are refused by the filter) */

enum lx_backend { LX_BACKEND_UNOTIFY = 0, LX_BACKEND_PTRACE = 1 };

/* What happens to one syscall number.  ALLOW, DENY and KILL never reach the
 * supervisor: the BPF filter applies them in the kernel.  The others trap. */
enum lx_kind {
    LX_ACT_ALLOW = 0,
    LX_ACT_DENY,   /* fail with -err, in the kernel (SECCOMP_RET_ERRNO) */
    LX_ACT_KILL,   /* SECCOMP_RET_KILL_PROCESS */
    LX_ACT_TRACE,  /* trap, record, let the call run natively */
    LX_ACT_RETURN, /* trap, answer `value` (or -err) without running the call */
    LX_ACT_UNAME,  /* trap, write the emulated struct utsname, answer 0 */
    LX_ACT_PYTHON, /* trap, ask the Python handler */
    LX_ACT_PATH,   /* trap, judged and performed by the compiled [[path]] rules (paths.h) */
    LX_ACT_NET,    /* trap, judged and performed by the compiled [[network]] rules (net.h) */
    LX_ACT_WATCH,  /* trap, forget what is kept about the caller (view.h), let it run */
    LX_ACT_PERSONA, /* trap, answered by the personality's view in C (persona.h): sysinfo,
                     * sched_getaffinity, opens of the files it serves; else continue */
    LX_ACT_DEBUG,  /* ptrace: the requests that make a tracer trap as RET_TRACE; the task is handed
                    * over to the program's debugger, or the call refused (debuggee.c) */
    LX_ACT_KINDS,  /* the number of kinds: new kinds go above PERSONA, before this */
};
/* LX_ACT_PATH and LX_ACT_NET: `value` bits */
/* bits 8-15: 1 + the index of an argument, bits 32-63: a mask -- the call runs in the
 * kernel, untrapped, when (argument & mask) == 0: the rules deny nothing such a call
 * does (an open whose flags ask for no operation any rule denies; filter.c) */
#define LX_NATIVE_ARG(v) ((int)(((uint64_t)(v) >> 8) & 0xff))
#define LX_NATIVE_MASK(v) ((uint32_t)((uint64_t)(v) >> 32))
#define LX_PATH_UPCALL_ALL 1 /* once the rules allow it, the Python handler sees every such call
                              * (an open hook without basenames); gate_arg: only those gated */

struct lx_action {
    uint8_t kind;     /* enum lx_kind */
    uint8_t str_args; /* unused (the blob's layout keeps it): records capture per lx_capplan */
    uint8_t gate_arg; /* PYTHON only: 1 + index of a path argument whose basename must be in
                       * sup->gate for the call to reach Python; other calls continue natively */
    int32_t err;      /* errno for DENY / RETURN-with-error (0: use value) */
    int64_t value;    /* RETURN: the result */
};

#define LX_UTS_LEN 65
struct lx_utsname {
    char sysname[LX_UTS_LEN], nodename[LX_UTS_LEN], release[LX_UTS_LEN];
    char version[LX_UTS_LEN], machine[LX_UTS_LEN], domainname[LX_UTS_LEN];
};

/* One trapped syscall, as handed to Python handlers. */
struct lx_call {
    int32_t nr;
    pid_t pid; /* thread group (ptrace) or thread id (unotify reports the tid) */
    pid_t tid;
    uint64_t args[6];
    uint64_t id;   /* unotify cookie, 0 under ptrace */
    int backend;
    struct lx_sup *sup;
    /* verdict, set by the handler */
    int64_t ret;   /* result, or -errno */
    int cont;      /* 1: let the call run natively (no pointer-based decision may rely on it) */
    int rewrite;   /* ptrace only: 1 = run `nr`/`args` as rewritten */
    int sent;      /* unotify only: already answered (SECCOMP_ADDFD_FLAG_SEND) */
    const char *path; /* the path argument as C read it (once), when C already did: a
                       * handler decides on this copy, never on the caller's memory */
};

typedef int (*lx_handler_fn)(void *ctx, struct lx_call *call);   /* 0 ok, <0 fail closed */
/* a batch of record frames (trace.h) */
typedef void (*lx_flush_fn)(void *ctx, const uint8_t *frames, size_t len);

struct lx_tidtab; /* ptrace.c */
struct lx_paths;  /* paths.h */
struct lx_net;    /* net.h */
struct lx_views;  /* view.h */
struct lx_chan;   /* inject.c */
struct lx_persona; /* persona.h */
struct lx_capplan; /* trace.h */
struct lx_live;    /* live.h */
struct lx_events;  /* events.h */
struct lx_debug;   /* debuggee.c */

struct lx_sup {
    int backend;
    struct lx_action table[LX_NR_MAX];
    struct lx_action dflt;            /* for numbers >= LX_NR_MAX */
    struct lx_utsname uts;

    /* Python upcalls */
    lx_handler_fn handler;
    lx_flush_fn flush;
    void (*thread_enter)(struct lx_sup *s);  /* called on the notify thread before/after its loop */
    void (*thread_exit)(struct lx_sup *s);
    void *py_ts;                              /* the binding's per-thread interpreter state */
    char **gate;                              /* basenames that reach Python (see gate_arg) */
    size_t ngate;
    struct lx_persona *persona;               /* the personality's view (persona.h), or NULL */
    int py_gs;
    void *ctx;
    /* compiled rules answered in C (NULL: none), and what C keeps of the program's
     * threads to act for them */
    struct lx_paths *paths;
    struct lx_net *net;
    struct lx_views *views;
    struct lx_chan *chans;            /* inject.c: fd channels kept in tracee processes (ptrace) */
    pid_t self;                       /* the supervisor's pid while it supervises (getpid is a syscall) */
    size_t nchans;
    /* after every execve (PTRACE_EVENT_EXEC, before the new image runs an
     * instruction): <0 kills the task.  NULL: no check. */
    int (*exec_check)(void *ctx, pid_t tid);

    /* counters (always on; cheap) */
    uint64_t count[LX_NR_MAX], errors[LX_NR_MAX], ns[LX_NR_MAX];

    /* the run's own trace (trace.h): record frames, flushed to Python when full and at the end */
    int recording;
    int trace_exit;                   /* unotify: TRACE calls trap as RET_TRACE, so that their
                                       * exit (the result) is seen at a syscall-exit stop */
    int rec_from_exec, rec_started;   /* nothing recorded or counted before the first process's
                                       * first execve (what runs before is the runtime's setup) */
    struct lx_capplan *plan;          /* [LX_NR_MAX]: what records capture, or NULL */
    unsigned strsize;                 /* bytes of a buffer or string argument captured (strace -s) */
    uint8_t *rbuf, *rbuf2;            /* filling, and handed to the flusher thread (r2len > 0) */
    size_t rlen, rcap, r2len;
    pthread_mutex_t rec_lock;
    pthread_cond_t rec_cv;
    pthread_t rec_thread;             /* calls s->flush, off the traced calls' path (trace.c) */
    int rec_thread_started, rec_thread_stop;
    /* live clients (live.h): the control socket, and syscall stops while one traces */
    struct lx_live *live;
    int live_stops;
    int no_live;                      /* 1: no control socket for this run */
    int live_execs;                   /* an events client wants execs: exec stops on (live.c) */
    unsigned opts_gen;                /* bumped when the ptrace options change while running */
    struct lx_events *events;         /* what this sandbox reports as events (events.h), or NULL */
    pthread_t tracer;                 /* the thread that runs the ptrace loop */

    /* run state */
    int notify_fd;
    pid_t child;                      /* the program's first process */
    volatile int main_status_valid;
    int main_status;                  /* its wait status */
    int sync_wakeup;                  /* 1 if SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP took effect */
    volatile int stop;
    pthread_t notify_thread;
    int notify_thread_started;
    int notify_error;                 /* -errno the notify loop died with, 0 if none */
    struct lx_tidtab *tids;
    uint64_t traps;                   /* total trapped syscalls handled */
    pid_t gone_tid;                   /* ptrace: a tracee reaped inside a handler (inject.c), */
    int gone_status;                  /* for the loop to account for; 0: none */
    struct lx_wait_event { pid_t tid; int status; } *pend; /* other tasks' wait statuses */
    size_t npend, cappend;            /* taken meanwhile, for the loop to handle first */
    /* interrupt.c: the last notification received from each thread (unotify;
     * NULL when not kept), written by the notify thread, read by the lifecycle's */
    struct lx_tidtab *seen;
    pthread_mutex_t seen_lock;
    int seen_lost;                    /* a note could not be kept (out of memory) */
    struct lx_debug *debug;           /* debuggee.c: tasks handed over to the program's debuggers */
    /* the end of the tree (tasks.c) and waking the lifecycle loop (wake.c) */
    int wait_first;                   /* 1: what the first process leaves is killed when it ends */
    int killing;                      /* every task is being killed, a new one on sight */
    volatile int woken;               /* something was asked of the loop (lx_wake) */
    volatile int loop_running;        /* s->tracer waits in lx_wake_wait and may be woken */
    volatile pid_t loop_tid;          /* its thread id: the program's tasks' TracerPid (signals.c) */
};

/* sup.c */
int lx_sup_init(struct lx_sup *s, int backend);
void lx_sup_free(struct lx_sup *s);
uint64_t lx_now_ns(void);
int lx_sup_traps(const struct lx_sup *s);
int lx_child_backend(const struct lx_sup *s);
void lx_count(struct lx_sup *s, int nr, int64_t ret, int has_ret, uint64_t t0);
const struct lx_action *lx_action_for(const struct lx_sup *s, int nr);

/* filter.c: compile the action table into BPF: the policy's program and the
 * engine's protections (stacked), as one blob: this header, then the policy's
 * raw sock_filter bytes (policy_len), then the protections' (the rest). */
#define LX_FILTER_MAGIC 0x6c786266u /* "lxbf" */
struct lx_filter_hdr {
    uint32_t magic;
    uint32_t policy_len;
};
int lx_filter_compile(const struct lx_sup *s, void **out, size_t *out_len);
/* Which of the engine's protections (the stacked filter, under every policy) apply to
 * syscall nr: LX_PROT_* bits, for the syscall table's notes (lxbrand/syscalls.py). */
enum {
    LX_PROT_TTY = 1,        /* ioctl: TIOCSTI and TIOCLINUX refused */
    LX_PROT_SUPERVISOR = 2, /* refused when aimed at the supervisor's pid */
    LX_PROT_LISTENER = 4,   /* ptrace backend: a filter with a listener of its own refused */
};
unsigned lx_filter_protections(int nr);

/* child.c: runs in the forked child; never returns on success */
int lx_child_exec(const void *prog, size_t prog_len, int backend, int sock_fd, int sync_fd,
                  const char *path, char *const argv[], char *const envp[]);
/* the same up to the filter, without execve; nnp=0 leaves no_new_privs off when the
 * child may install the filter without it (CAP_SYS_ADMIN), as runc does; pdeathsig=0
 * when the supervisor is not the parent (the OCI process model) */
int lx_child_filter(const void *prog, size_t prog_len, int backend, int ready_fd, int go_fd, int nnp,
                    int pdeathsig);

/* mem.c: tracee memory */
ssize_t lx_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
ssize_t lx_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);
ssize_t lx_mem_read_str(pid_t pid, uint64_t addr, char *buf, size_t cap);

/* actions.c: the fast actions shared by both backends.  Returns 1 if answered
 * (call->ret set), 0 if the call must continue natively. */
int lx_fast_answer(struct lx_sup *s, struct lx_call *c, const struct lx_action *a);
int lx_id_valid(struct lx_sup *s, uint64_t id);
int lx_decide(struct lx_sup *s, struct lx_call *c, const struct lx_action *a);
int lx_gate_set(struct lx_sup *s, char *const names[], size_t n);
/* for the kinds answered in C that hand some calls on to Python (paths, ...):
 * ask the Python handler, as lx_decide does (1 answered, 0 continue, c->cont set) */
int lx_upcall(struct lx_sup *s, struct lx_call *c);
/* is the basename of path in sup->gate? */
int lx_gate_match(const struct lx_sup *s, const char *path);
/* every trapped call, before anything else (both backends): what it may change
 * in what C keeps about its caller is forgotten (view.h) */
void lx_observe(struct lx_sup *s, const struct lx_call *c);

/* unotify.c */
int lx_unotify_start(struct lx_sup *s);  /* starts the notify thread */
void lx_unotify_stop(struct lx_sup *s);
int lx_addfd(struct lx_sup *s, uint64_t id, int srcfd, int send, unsigned int newfd_flags);
/* answer notification `id` later, from any thread (a handler that deferred it) */
int lx_notify_send(struct lx_sup *s, uint64_t id, int64_t ret);

/* ptrace.c: the lifecycle loop (both backends) and the trap loop (ptrace backend).
 * Seizes `child`, lets it go (writes to sync_fd), runs until no tracee is left.
 * Returns 0 with s->main_status set, or -errno. */
int lx_supervise(struct lx_sup *s, pid_t child, int sock_fd, int sync_fd);
/* The same for a child that is not ours (an OCI container's init, whose parent is
 * the shim): seized at once, armed when it writes to ready_fd; ctl_fd (or -1)
 * carries 'c' once the caller has committed, and EOF without it kills the child.
 * Signals sent to us are not forwarded: they go to the child directly. */
int lx_supervise_attached(struct lx_sup *s, pid_t child, int ready_fd, int go_fd, int ctl_fd);

/* inject.c: ptrace's ADDFD.  Installs the supervisor's `fd` in tracee `tid`, which
 * must be in the PTRACE_EVENT_SECCOMP stop being handled (tracer thread only);
 * returns the tracee's new fd number or -errno.  The caller answers the call. */
int lx_ptrace_addfd(struct lx_sup *s, pid_t tid, int fd, int cloexec);
void lx_inject_free(struct lx_sup *s); /* closes the kept channels */
/* ptrace.c: keep a wait status taken for another task, for the loop (0 or -ENOMEM) */
int lx_wait_defer(struct lx_sup *s, pid_t tid, int status);
/* actions.c: install the supervisor's `fd` in the caller of `c` as the call's result,
 * whichever the backend: ADDFD + SECCOMP_ADDFD_FLAG_SEND on unotify (which answers the
 * call: c->sent), lx_ptrace_addfd on ptrace (the caller answers it with c->ret).  The
 * new fd number (the lowest free one, as open(2)'s) or -errno; `fd` stays ours. */
int lx_install_fd(struct lx_sup *s, struct lx_call *c, int fd, int cloexec);

/* interrupt.c: calls interrupted before the notify thread received them are
 * restarted instead of failing with EINTR (see there) */
int lx_interrupt_init(struct lx_sup *s);   /* before the notify thread starts */
void lx_interrupt_free(struct lx_sup *s);  /* after it stopped */
void lx_interrupt_note(struct lx_sup *s, pid_t tid, int nr, const uint64_t args[6], uint64_t ip, int continued);
void lx_interrupt_forget(struct lx_sup *s, pid_t tid);
/* at tid's signal-delivery-stop (lifecycle thread): 1 if its call was made to restart */
int lx_interrupt_repair(struct lx_sup *s, pid_t tid);

/* debuggee.c: ptrace inside the sandbox (the unotify backend hands a task over to the
 * program's debugger and takes it back; see there).  Called on the tracer thread. */
/* the debugger `tid` is in the RET_TRACE stop of a ptrace() call (regs in `c`): resumes it */
void lx_debug_call(struct lx_sup *s, pid_t tid, struct lx_call *c);
/* its syscall-exit stop after lx_debug_call asked for one (rval: the call's result) */
void lx_debug_exit(struct lx_sup *s, pid_t tid, int64_t rval);
void lx_debug_task_gone(struct lx_sup *s, pid_t tid); /* a task of ours ended */
void lx_debug_free(struct lx_sup *s);
int lx_debug_on(const struct lx_sup *s);              /* the table holds LX_ACT_DEBUG */
/* the live tasks handed over to a debugger, not yet taken back (tasks.c lists and kills them) */
void lx_debug_each_handed(struct lx_sup *s, void (*fn)(pid_t tid, pid_t debugger, int pidfd, void *arg),
                          void *arg);
/* ptrace.c, for debuggee.c */
long lx_ptrace_run_opts(const struct lx_sup *s);
int lx_ptrace_stop_task(struct lx_sup *s, pid_t tid, int others); /* PTRACE_INTERRUPT, wait for its stop */
void lx_ptrace_forget(struct lx_sup *s, pid_t tid);    /* no longer ours (detached) */
int lx_ptrace_adopt(struct lx_sup *s, pid_t tid);      /* seized again: ours from now on */
long lx_ptrace_resume(struct lx_sup *s, pid_t tid, int sig);
/* wake.c: the lifecycle loop's wait4, which lx_wake ends (EINTR) from a signal
 * handler or another thread without a lost wake-up (see there) */
#define LX_LOOP_SIGNAL (SIGRTMIN + 6) /* one of the engine's own: signals.c never forwards it */
void lx_wake_install(struct lx_sup *s);   /* on the loop's thread, before it waits */
void lx_wake_uninstall(struct lx_sup *s);
pid_t lx_wake_wait(struct lx_sup *s, int *status); /* waitpid(-1, status, __WALL) */
void lx_wake(struct lx_sup *s);           /* async-signal-safe, from any thread */
int lx_wake_take(struct lx_sup *s);       /* 1 once after lx_wake: look at what was asked */

/* tasks.c: the end of the tree -- no hang is silent.  Every task held and what
 * it is blocked in, one line each, to fd; SIGKILL to all of them (the loop then
 * kills a new one on sight, s->killing); what the loop does when the first
 * process has gone and when it was woken (signals.c's requests) */
void lx_tasks_report(struct lx_sup *s, int fd, const char *why);
void lx_tasks_kill_all(struct lx_sup *s);
void lx_tasks_first_gone(struct lx_sup *s);
void lx_tasks_requests(struct lx_sup *s);

/* signals forwarded to the program while supervising */
void lx_signals_install(struct lx_sup *s);
void lx_signals_restore(void);
void lx_signals_child_gone(void);
/* job control (signals.c): the program's first process is in a group-stop by
 * `sig` / runs again; the supervisor stops beside it if it was sent a stop signal */
void lx_signals_child_stopped(int sig);
void lx_signals_child_running(void);
/* what signals to lxrun asked of the lifecycle loop (LX_REQ_* bits): look, or take once */
#define LX_REQ_END 1    /* a terminating signal: end the tree once the first process has ended */
#define LX_REQ_REPORT 2 /* SIGRTMIN+7: list every task and what it is blocked in */
#define LX_REQ_NOW 4    /* a second terminating signal from a process: end every task now */
int lx_signals_requests(void);
int lx_signals_take(int bits);

#endif
