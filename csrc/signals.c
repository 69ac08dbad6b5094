/* Signals sent to the supervisor reach the program (as runsc and tini do).
 * Signals the terminal sends to the foreground process group (Ctrl-C, Ctrl-\,
 * window size) already reached the program, which shares our group, so only
 * signals sent by a process (si_code <= 0: SI_USER, SI_QUEUE, SI_TKILL) are
 * forwarded.  SIGTSTP/SIGTTIN/SIGTTOU keep their default action: on Ctrl-Z the
 * supervisor stops beside the program, so the shell sees the job stopped. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "engine.h"

/* Every signal a process can send and a program can catch, except: SIGCHLD
 * (ours), SIGTSTP/SIGTTIN/SIGTTOU (job control: we stop beside the program),
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
static struct sigaction saved[NFWD], saved_rt[NRT];
static volatile pid_t fwd_pid;
static int installed;

static void forward(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    pid_t p = fwd_pid;
    if (p > 0 && info->si_code <= 0)
        kill(p, sig);
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
    installed = 1;
}

/* The first process has been reaped: its pid may be reused, stop forwarding. */
void lx_signals_child_gone(void) { fwd_pid = 0; }

void lx_signals_restore(void)
{
    if (!installed)
        return;
    fwd_pid = 0;
    for (size_t i = 0; i < NFWD; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    for (int sig = SIGRTMIN + RT_FIRST, i = 0; sig <= SIGRTMAX && i < NRT; sig++, i++)
        sigaction(sig, &saved_rt[i], NULL);
    installed = 0;
}
