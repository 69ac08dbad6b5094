/* Signals sent to the supervisor reach the program (as runsc and tini do).
 * Signals the terminal sends to the foreground process group (Ctrl-C, Ctrl-\,
 * window size) already reached the program, which shares our group, so only
 * signals sent by a process (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL) are
 * forwarded.
 *
 * Job control: the supervisor is the process the shell waits for, so it must
 * stop when the program stops -- and not before.  It used to stop by the
 * default action of the terminal's SIGTSTP, beside the program; but the
 * program's own stop then waited for a stopped supervisor (its
 * signal-delivery-stop is a ptrace stop), and the shell reported the job
 * stopped while the program was still in its read() of the terminal: a line
 * typed after "Stopped" (`fg`) was read by the program instead of the shell
 * (tests/test_tty.py failed 3 in 20 here).  So SIGTSTP, SIGTTIN and SIGTTOU are
 * caught: the supervisor stops itself, with the program's stop signal, once
 * the program's first process has stopped (lx_signals_child_stopped, from the
 * lifecycle loop) -- as the shell's own child would.  A program that ignores
 * or handles the signal does not stop, and neither does the supervisor.
 *
 * Ending (tasks.c): a terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT),
 * from a process or the terminal, also asks the lifecycle loop to end what the
 * program's first process leaves behind once it has ended, and a second one sent
 * by a process (kill(1)) asks it to end every task at once; SIGRTMIN+7 (one of
 * the engine's own, never forwarded) asks it to list every task.  The handlers
 * only set bits and wake the loop (lx_wake: async-signal-safe). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

/* Every signal a process can send and a program can catch, except: SIGCHLD
 * (ours), SIGTSTP/SIGTTIN/SIGTTOU (job control: below),
 * SIGPIPE/SIGXFSZ (the kernel sends them to us as SI_USER when our own writes
 * fail: they are ours, not the program's),
 * the synchronous faults SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGTRAP/SIGSYS/SIGABRT
 * (a fault of the supervisor's own must kill it, not loop in a handler), and
 * the first real-time signals (glibc's and the notify thread's wake-up). */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGCONT,
                                SIGVTALRM, SIGPROF, SIGXCPU, SIGURG, SIGIO, SIGPWR, SIGSTKFLT};
#define NFWD (sizeof(forwarded) / sizeof(forwarded[0]))
#define RT_FIRST 8 /* SIGRTMIN+8 .. SIGRTMAX are forwarded; below is kept for the engine */
#define NRT 64
static const int job_stops[] = {SIGTSTP, SIGTTIN, SIGTTOU};
#define NJOB (sizeof(job_stops) / sizeof(job_stops[0]))
static struct sigaction saved[NFWD], saved_rt[NRT], saved_job[NJOB], saved_report;
static volatile pid_t fwd_pid;
static int installed;
/* job control: a stop signal we were sent and have not acted on (0: none), and
 * the stop signal of the program's first process while it is stopped (0: running).
 * Whoever swaps stop_wanted to 0 first -- the handler or the loop -- stops us. */
static int stop_wanted, child_stop;
static int requests;              /* LX_REQ_* bits, taken by the lifecycle loop (tasks.c) */
static struct lx_sup *volatile req_sup;
#define REPORT_SIG (SIGRTMIN + 7) /* below RT_FIRST: the engine's, so never the program's */

/* The tracer of `pid` (/proc/PID/status TracerPid), or 0.  Async-signal-safe:
 * open, read and close only (signal-safety(7)), no stdio. */
static pid_t tracer_of(pid_t pid)
{
    char path[32] = "/proc/", digits[12], buf[1024];
    int n = 0, len = 6;
    for (unsigned v = (unsigned)pid; n == 0 || v; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    while (n)
        path[len++] = digits[--n];
    memcpy(path + len, "/status", 8);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0)
        return 0;
    buf[got] = '\0';
    const char *t = strstr(buf, "\nTracerPid:");
    if (!t)
        return 0;
    pid_t v = 0;
    for (t += 12; *t == '\t' || *t == ' '; t++) {
    }
    for (; *t >= '0' && *t <= '9'; t++)
        v = v * 10 + (*t - '0');
    return v;
}

/* Was the signal sent by a task of the program (its tracer is the supervisor's loop
 * thread, or a debugger that is one: debuggee.c)?  The program shares lxrun's process
 * group (job control), so its kill(0, sig) -- a script's `trap 'kill 0' EXIT` --
 * reaches us too: natively that signal went to the group, which already holds the
 * program, so it is neither forwarded again nor a request to end the sandbox.  The
 * sender read from /proc may have exited meanwhile: then it counts as the user's. */
static int from_program(const siginfo_t *info)
{
    struct lx_sup *s = req_sup;
    pid_t us = s ? s->loop_tid : 0;
    if (info->si_code > 0 || info->si_pid <= 0 || us <= 0)
        return 0;
    pid_t t = tracer_of(info->si_pid);
    return t == us || (t > 0 && tracer_of(t) == us);
}

static void request(int bit)
{
    __atomic_or_fetch(&requests, bit, __ATOMIC_SEQ_CST);
    struct lx_sup *s = req_sup;
    if (s)
        lx_wake(s);
}

int lx_signals_requests(void) { return __atomic_load_n(&requests, __ATOMIC_SEQ_CST); }
int lx_signals_take(int bits) { return __atomic_fetch_and(&requests, ~bits, __ATOMIC_SEQ_CST) & bits; }

static void on_report(int sig, siginfo_t *info, void *uc)
{
    (void)sig, (void)uc;
    if (!from_program(info))
        request(LX_REQ_REPORT);
}

static void forward(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    pid_t p = fwd_pid;
    if (sig == SIGCONT)
        __atomic_store_n(&stop_wanted, 0, __ATOMIC_SEQ_CST); /* continued: a stop not yet acted on is over */
    if (info->si_code <= 0 && from_program(info))
        return;
    if (p > 0 && info->si_code <= 0)
        kill(p, sig);
    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) {
        /* a second one sent by a process (kill(1), a service manager) while the first
         * process lives on: it ignored or caught the first, end everything now.  Not
         * from the terminal: Ctrl-C is a keystroke a program may take many times */
        if (info->si_code <= 0 && (lx_signals_requests() & LX_REQ_END))
            request(LX_REQ_NOW);
        request(LX_REQ_END);
    }
}

/* Stop the whole supervisor with `sig`'s default action, until SIGCONT.  Also
 * from a signal handler (every call here is async-signal-safe): the signal is
 * unblocked for the raise, so it is taken on the way out of tgkill(2). */
static void stop_self(int sig)
{
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    int changed = sig != SIGSTOP && sigaction(sig, &dfl, &old) == 0;
    sigset_t one, prev;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, &prev);
    raise(sig); /* an orphaned process group ignores SIGTSTP/TTIN/TTOU: as its program did */
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    if (changed)
        sigaction(sig, &old, NULL);
}

static void take_stop(void)
{
    int sig = __atomic_load_n(&child_stop, __ATOMIC_SEQ_CST);
    if (sig && __atomic_exchange_n(&stop_wanted, 0, __ATOMIC_SEQ_CST))
        stop_self(sig);
}

static void on_job_stop(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    pid_t p = fwd_pid;
    if (p > 0 && info->si_code <= 0)
        kill(p, sig); /* `kill -TSTP <lxrun>`: the program stops, then we do */
    __atomic_store_n(&stop_wanted, sig, __ATOMIC_SEQ_CST);
    take_stop(); /* already stopped (by someone else before): now */
}

void lx_signals_child_stopped(int sig)
{
    if (!installed)
        return;
    __atomic_store_n(&child_stop, sig, __ATOMIC_SEQ_CST);
    take_stop();
}

void lx_signals_child_running(void)
{
    __atomic_store_n(&child_stop, 0, __ATOMIC_SEQ_CST);
}

void lx_signals_install(struct lx_sup *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    fwd_pid = s->child;
    for (size_t i = 0; i < NFWD; i++)
        sigaction(forwarded[i], &sa, &saved[i]);
    for (int sig = SIGRTMIN + RT_FIRST, i = 0; sig <= SIGRTMAX && i < NRT; sig++, i++)
        sigaction(sig, &sa, &saved_rt[i]);
    stop_wanted = child_stop = requests = 0;
    sa.sa_sigaction = on_job_stop;
    for (size_t i = 0; i < NJOB; i++)
        sigaction(job_stops[i], &sa, &saved_job[i]);
    sa.sa_sigaction = on_report;
    sigaction(REPORT_SIG, &sa, &saved_report);
    req_sup = s;
    installed = 1;
}

/* The first process has been reaped: its pid may be reused, stop forwarding. */
void lx_signals_child_gone(void)
{
    fwd_pid = 0;
    lx_signals_child_running();
}

void lx_signals_restore(void)
{
    if (!installed)
        return;
    fwd_pid = 0;
    for (size_t i = 0; i < NFWD; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    for (int sig = SIGRTMIN + RT_FIRST, i = 0; sig <= SIGRTMAX && i < NRT; sig++, i++)
        sigaction(sig, &saved_rt[i], NULL);
    for (size_t i = 0; i < NJOB; i++)
        sigaction(job_stops[i], &saved_job[i], NULL);
    sigaction(REPORT_SIG, &saved_report, NULL);
    req_sup = NULL;
    installed = 0;
}
