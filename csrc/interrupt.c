/* Calls interrupted before the supervisor received them (unotify backend).
 *
 * A task waiting in a user notification that the supervisor has not yet
 * received is woken by any signal: the kernel drops the notification and the
 * call returns -ERESTARTSYS before its body has run (kernel/seccomp.c,
 * seccomp_do_user_notification; SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only
 * protects the wait after the supervisor's RECV).  If the signal's handler was
 * installed without SA_RESTART, the program then sees EINTR from a call that
 * cannot fail that way natively: kill(2), fork(2), close(2) (with the fd still
 * open), an open of a regular file.  Under trace-all, dash's SIGCHLD handler
 * made `kill -CONT` fail in 13 of 40 runs here (and the job then hung, stopped
 * for ever).  Receiving notifications sooner only narrows the window (the
 * kernel commit that adds SECCOMP_FILTER_FLAG_RESTART_BEFORE_RECV says so; no
 * kernel this engine supports has it yet).
 *
 * The repair uses the lifecycle's ptrace: the handler runs only after the
 * task's signal-delivery-stop, where the call's result is still -ERESTARTSYS
 * in RAX (x86 arch_do_signal_or_restart() calls get_signal() before the
 * restart fix-up of handle_signal()).  The tracer turns it into
 * -ERESTARTNOINTR, which handle_signal() restarts whatever the handler's
 * flags: the handler runs, then the call traps again, as if the signal had
 * come just before it.
 *
 * Only a call whose body cannot have run is changed.  The notify thread notes,
 * per thread, the last notification it received (its number, arguments and
 * instruction pointer) and whether it let it continue; a call's body runs only
 * after such a CONTINUE.  So -ERESTARTSYS from a trapped number is ours unless
 * that note is this very call, continued -- and even then it is ours if the
 * syscall never returns -ERESTARTSYS natively (may_restartsys below).  The one
 * case left as the kernel made it (EINTR) is a call identical to the last one
 * continued, of a syscall that can block interruptibly, interrupted before
 * RECV: the same answer the program would get had the signal come during that
 * blocking call, which it must handle anyway.
 *
 * The notes need WAIT_KILLABLE_RECV (5.19): without it a received call can be
 * interrupted too, after the supervisor acted on it, and restarting it would
 * act twice.  Without it nothing is repaired.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>

#include "engine.h"
#include "tids.h"

/* include/linux/errno.h: not visible to user space */
#define LX_ERESTARTSYS 512
#define LX_ERESTARTNOINTR 513

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* Syscalls whose body may itself return -ERESTARTSYS when a signal interrupts
 * a blocking wait (an interruptible sleep on a pipe, socket, tty, FIFO, lock,
 * child or futex).  When unsure, a syscall is listed: a listed one is repaired
 * only when the note proves its body never ran.  Not listed: calls that never
 * sleep interruptibly, and those that sleep but return another code natively
 * (nanosleep/clock_nanosleep: -ERESTART_RESTARTBLOCK; poll, select, pause,
 * rt_sigsuspend: -ERESTARTNOHAND; epoll_wait, rt_sigtimedwait, io_getevents:
 * -EINTR; fork, clone, execve: -ERESTARTNOINTR; close: never restarted, see
 * fs/open.c). */
static int may_restartsys(int nr)
{
    switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64: case SYS_pwrite64:
    case SYS_preadv: case SYS_pwritev: case SYS_preadv2: case SYS_pwritev2:
    case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat: case SYS_open_by_handle_at:
    case SYS_ioctl: case SYS_fcntl: case SYS_flock:
    case SYS_wait4: case SYS_waitid:
    case SYS_accept: case SYS_accept4: case SYS_connect: case SYS_recvfrom: case SYS_recvmsg:
    case SYS_recvmmsg: case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
    case SYS_getsockopt: case SYS_setsockopt:
    case SYS_futex: case SYS_futex_waitv:
    case SYS_msgrcv: case SYS_msgsnd: case SYS_semop: case SYS_semtimedop:
    case SYS_mq_timedsend: case SYS_mq_timedreceive:
    case SYS_splice: case SYS_tee: case SYS_vmsplice: case SYS_sendfile: case SYS_copy_file_range:
    case SYS_fsync: case SYS_fdatasync: case SYS_sync_file_range:
    case SYS_getrandom: case SYS_request_key: case SYS_keyctl: case SYS_io_uring_enter:
    case SYS_mount: case SYS_umount2:
        return 1;
    default:
        return 0;
    }
}

int lx_interrupt_init(struct lx_sup *s)
{
    /* The flag is known if seccomp() gets as far as reading the (NULL) filter:
     * unknown flags fail with EINVAL first (kernel/seccomp.c). */
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                      SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, NULL);
    if (!(rc < 0 && errno == EFAULT))
        return 0;
    s->seen = lx_tids_new();
    if (!s->seen)
        return -ENOMEM;
    pthread_mutex_init(&s->seen_lock, NULL);
    return 0;
}

void lx_interrupt_free(struct lx_sup *s)
{
    if (!s->seen)
        return;
    lx_tids_free(s->seen);
    s->seen = NULL;
    pthread_mutex_destroy(&s->seen_lock);
}

void lx_interrupt_note(struct lx_sup *s, pid_t tid, int nr, const uint64_t args[6], uint64_t ip, int continued)
{
    if (!s->seen)
        return;
    int created;
    pthread_mutex_lock(&s->seen_lock);
    struct lx_tstate *e = lx_tids_add(s->seen, tid, &created);
    if (e) {
        e->seen.nr = nr;
        memcpy(e->seen.args, args, sizeof(e->seen.args));
        e->seen.ip = ip;
        e->seen.cont = (uint8_t)continued;
    } else {
        /* out of memory: every later interruption of this thread looks like
         * its body ran, which leaves the kernel's answer (never repairs wrongly) */
        s->seen_lost = 1;
    }
    pthread_mutex_unlock(&s->seen_lock);
}

void lx_interrupt_forget(struct lx_sup *s, pid_t tid)
{
    if (!s->seen)
        return;
    pthread_mutex_lock(&s->seen_lock);
    lx_tids_del(s->seen, tid);
    pthread_mutex_unlock(&s->seen_lock);
}

/* Was the call in `r` (stopped with -ERESTARTSYS) possibly run: the last note
 * of the thread is this call, continued. */
static int body_may_have_run(struct lx_sup *s, pid_t tid, const struct user_regs_struct *r)
{
    const uint64_t args[6] = {r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9};
    int ran;
    pthread_mutex_lock(&s->seen_lock);
    const struct lx_tstate *e = lx_tids_get(s->seen, tid);
    if (!e)
        ran = s->seen_lost;
    else
        ran = e->seen.cont && e->seen.nr == (int32_t)r->orig_rax && e->seen.ip == r->rip &&
              memcmp(e->seen.args, args, sizeof(args)) == 0;
    pthread_mutex_unlock(&s->seen_lock);
    return ran;
}

int lx_interrupt_repair(struct lx_sup *s, pid_t tid)
{
    if (!s->seen || s->notify_fd < 0)
        return 0;
    errno = 0;
    long rax = ptrace(PTRACE_PEEKUSER, tid, offsetof(struct user_regs_struct, rax), 0);
    if (rax != -LX_ERESTARTSYS || errno)
        return 0;
    struct user_regs_struct r;
    if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
        return 0;
    int nr = (int)(int64_t)r.orig_rax;
    if (nr < 0 || lx_action_for(s, nr)->kind < LX_ACT_TRACE)
        return 0; /* not in a syscall, or one that does not trap: the kernel's own answer */
    if (may_restartsys(nr) && body_may_have_run(s, tid, &r))
        return 0;
    if (ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rax), (void *)(long)-LX_ERESTARTNOINTR) < 0)
        return 0;
    return 1;
}
