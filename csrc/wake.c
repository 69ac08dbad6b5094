/* The lifecycle loop's wait, and waking it from a signal handler or another
 * thread without a lost wake-up.
 *
 * The loop (ptrace.c) blocks in wait4(-1, __WALL), which only a tracee's event
 * ends: on the ptrace backend every trapped call is such an event, so this wait
 * is the backend's per-call path.  To act on something asked from outside -- a
 * signal to lxrun (signals.c: end the tree, list the tasks), a live client
 * (live.c) -- lx_wake raises s->woken and sends the loop's thread
 * LX_LOOP_SIGNAL, whose handler has no SA_RESTART, so a wait under way fails
 * with EINTR and the loop looks at s->woken.  A signal that lands between the
 * loop's last look at the flag and the syscall instruction would be lost (the
 * race pselect(2) and ppoll(2) exist for; wait4 has no sigmask argument), so
 * the look and the syscall are one piece of assembly, and a handler that finds
 * the thread inside it moves it to the piece's end with -EINTR: musl's
 * cancellation points do the same (src/thread/x86_64/syscall_cp.s,
 * src/thread/pthread_cancel.c: cancel_handler).  A wait that returned an event
 * is never undone: the instruction after the syscall is outside the piece.
 *
 * Why not the alternatives: a signalfd for SIGCHLD watched with ppoll costs a
 * ppoll, a read of the signalfd and a wait4 that finds nothing, per event,
 * beside the wait4 that finds it (SIGCHLD must then also be blocked in every
 * thread, the Python interpreter's among them); a pidfd per task needs one
 * descriptor per thread of the program and an epoll.  This costs one compare
 * per event: a getppid loop answered in C on --backend ptrace took 11.45 us a
 * call with it and 11.46 us without (medians of 21 interleaved runs of 20,000
 * calls, 2-core VM).
 *
 * x86_64 only, as the engine is (regs_to_call, filter.c's architecture check). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine.h"

#if !defined(__x86_64__)
#error "csrc/wake.c: the interruptible wait is written for x86_64"
#endif

/* long lx_wait_cp(volatile int *woken, int *status):
 * wait4(-1, status, __WALL, NULL), unless *woken is set: then -EINTR.  Returns
 * the kernel's result (a tid or -errno). */
extern long lx_wait_cp(volatile int *woken, int *status);
extern const char lx_wait_cp_begin[], lx_wait_cp_end[];
__asm__(".text\n"
        ".globl lx_wait_cp\n"
        ".hidden lx_wait_cp\n"
        ".type lx_wait_cp,@function\n"
        "lx_wait_cp:\n"
        "\tmovq %rdi, %r8\n"        /* woken */
        "\tmovq $-1, %rdi\n"        /* pid: any tracee or child */
        "\tmovl $0x40000000, %edx\n" /* __WALL */
        "\txorl %r10d, %r10d\n"     /* rusage: none */
        "\tmovl $61, %eax\n"        /* SYS_wait4 */
        ".globl lx_wait_cp_begin\n"
        ".hidden lx_wait_cp_begin\n"
        "lx_wait_cp_begin:\n"
        "\tcmpl $0, (%r8)\n"
        "\tjne 1f\n"
        "\tsyscall\n"
        ".globl lx_wait_cp_end\n"
        ".hidden lx_wait_cp_end\n"
        "lx_wait_cp_end:\n"
        "\tret\n"
        "1:\tmovq $-4, %rax\n"      /* -EINTR */
        "\tret\n"
        ".size lx_wait_cp, .-lx_wait_cp\n");
_Static_assert(SYS_wait4 == 61 && __WALL == 0x40000000 && EINTR == 4, "x86_64 numbers used in lx_wait_cp");

static void on_loop_signal(int sig, siginfo_t *info, void *ucv)
{
    (void)sig, (void)info;
    ucontext_t *uc = ucv;
    greg_t ip = uc->uc_mcontext.gregs[REG_RIP];
    /* inside the piece: the flag was not set when looked at, or the syscall is
     * about to be (re)started (a SA_RESTART handler before us backs the ip up
     * onto the syscall instruction): do not wait */
    if (ip >= (greg_t)(uintptr_t)lx_wait_cp_begin && ip < (greg_t)(uintptr_t)lx_wait_cp_end) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)lx_wait_cp_end;
        uc->uc_mcontext.gregs[REG_RAX] = -EINTR;
    }
}

void lx_wake_install(struct lx_sup *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_loop_signal;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: a wait it interrupts fails with EINTR */
    sigfillset(&sa.sa_mask);
    /* Never restored: a wake sent as the loop ends must not find the default
     * action (a real-time signal's is to terminate).  The engine keeps
     * SIGRTMIN+0..+7 (signals.c's RT_FIRST). */
    sigaction(LX_LOOP_SIGNAL, &sa, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, LX_LOOP_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    s->tracer = pthread_self();
    s->loop_tid = (pid_t)syscall(SYS_gettid);
    s->woken = 1; /* take what was asked before the loop ran */
    __atomic_store_n(&s->loop_running, 1, __ATOMIC_SEQ_CST);
}

void lx_wake_uninstall(struct lx_sup *s)
{
    __atomic_store_n(&s->loop_running, 0, __ATOMIC_SEQ_CST);
}

pid_t lx_wake_wait(struct lx_sup *s, int *status)
{
    long r = lx_wait_cp(&s->woken, status);
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return (pid_t)r;
}

void lx_wake(struct lx_sup *s)
{
    s->woken = 1;
    if (__atomic_load_n(&s->loop_running, __ATOMIC_SEQ_CST))
        pthread_kill(s->tracer, LX_LOOP_SIGNAL); /* async-signal-safe (signal-safety(7)) */
}

int lx_wake_take(struct lx_sup *s)
{
    /* cleared before the loop looks at what was asked: a request made after
     * this sets it again, and the next wait returns at once */
    return s->woken && __atomic_exchange_n(&s->woken, 0, __ATOMIC_SEQ_CST);
}
