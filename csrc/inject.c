/* ptrace's ADDFD: give a supervisor fd to a tracee stopped at its seccomp stop.
 *
 * Under unotify the kernel installs a supervisor fd in the program atomically
 * (SECCOMP_IOCTL_NOTIF_ADDFD).  ptrace has no such request, and the usual
 * substitute -- rewriting the program's path argument so the kernel opens
 * /proc/<supervisor>/fd/N -- is not a boundary: another thread of the program
 * can overwrite that string between our write and the kernel's read.
 *
 * So the tracee is made to run syscalls whose decisive inputs are registers,
 * which no other thread can touch, and the fd travels as SCM_RIGHTS:
 *
 *   1. the trapped call is rewritten (at its PTRACE_EVENT_SECCOMP stop) into
 *      socketpair(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC, 0, scratch);
 *   2. the supervisor takes both ends with pidfd_getfd and proves they are one
 *      pair (a nonce sent on one end arrives on the other), then sends the fd
 *      on the first end;
 *   3. the tracee closes the first end (the lowest free number, which open(2)
 *      would have returned: programs rely on that) and runs recvmsg(second end,
 *      scratch msghdr, MSG_DONTWAIT), which installs the fd there -- the
 *      `syscall` instruction is re-executed (ip - 2), each entry checked to be
 *      ours (number and ip) or the tracee is killed;
 *   4. the tracee closes the second end; its registers (and the scratch bytes
 *      below its red zone) are restored and the caller answers the call.
 *
 * Memory is only used for outputs (socketpair's pair, recvmsg's message): a
 * sibling thread scribbling on it can only confuse its own process -- the file
 * it receives is the one the supervisor opened, and the number we report is
 * checked with kcmp(KCMP_FILE).  Signals stay pending meanwhile
 * (PTRACE_SETSIGMASK blocks all); a SIGSTOP it dequeues, or a group-stop of
 * its process, is held: the tracee finishes, then gets SIGSTOP.  Only the
 * tracer thread may call this, and only while `tid`
 * is in the seccomp stop being handled (on_seccomp_stop -> handler).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"

#ifndef PTRACE_GETSIGMASK
#define PTRACE_GETSIGMASK 0x420a
#define PTRACE_SETSIGMASK 0x420b
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#define KCMP_FILE 0

/* The scratch area just below the tracee's red zone: the x86_64 ABI lets a
 * signal frame (over 1 KiB) be written below rsp - 128 at any moment, so the
 * program keeps nothing there; our ~150 bytes stay inside what any signal
 * would overwrite (also on a sigaltstack, where the kernel would refuse a frame
 * that does not fit -- a stack that full would not survive its next signal). */
struct scratch {
    int sv[2];
    struct msghdr msg;
    struct iovec iov;
    char byte;
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
};

struct inj {
    struct lx_sup *s;
    pid_t tid;
    struct user_regs_struct regs; /* as at the seccomp stop */
    int first;                    /* the next call rewrites the stopped one */
    int held_stop;                /* a stop arrived meanwhile: send SIGSTOP after */
};

/* Did the tracee die while a call ran in it (its status went to the main loop)? */
static int s_gone(const struct inj *j);

/* The tracee died while we waited on it: hand its status to the main loop. */
static int gone(struct inj *j, int st)
{
    j->s->gone_tid = j->tid;
    j->s->gone_status = st;
    return -ESRCH;
}

/* The tracee's next wait status.  Waits for any task: a dying thread-group
 * leader reports only after its other threads are reaped, so waiting on the
 * tracee alone could wait forever.  Other tasks' statuses go to the loop. */
static int wait_tracee(struct inj *j, int *st)
{
    for (;;) {
        pid_t got = waitpid(-1, st, __WALL);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (got == j->tid)
            return 0;
        if (lx_wait_defer(j->s, got, *st) < 0) {
            kill(got, SIGKILL); /* cannot keep its status: fail closed */
            return -ENOMEM;
        }
    }
}

static void kill_tracee(struct inj *j)
{
    int st;
    kill(j->tid, SIGKILL);
    while (wait_tracee(j, &st) == 0)
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            gone(j, st);
            return;
        }
}

/* Run one syscall in the tracee; its result (or -errno) in *ret.  Returns 0, or
 * -errno if the tracee could not run it (then it is dead or was killed). */
static int run(struct inj *j, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, int64_t *ret)
{
    struct user_regs_struct r = j->regs;
    r.rdi = a0;
    r.rsi = a1;
    r.rdx = a2;
    r.r10 = a3;
    r.r8 = r.r9 = 0;
    if (j->first) {
        r.orig_rax = (uint64_t)nr; /* rewrite the stopped call (the filter runs again on it) */
    } else {
        r.orig_rax = (uint64_t)-1; /* at a syscall-exit stop: no restart */
        r.rax = (uint64_t)nr;
        r.rip = j->regs.rip - 2;   /* the `syscall` instruction that trapped */
    }
    if (ptrace(PTRACE_SETREGS, j->tid, 0, &r) < 0 || ptrace(PTRACE_SYSCALL, j->tid, 0, 0) < 0)
        return -errno;
    int entered = j->first;
    j->first = 0;
    for (;;) {
        int st, rc = wait_tracee(j, &st);
        if (rc < 0)
            return rc;
        if (WIFEXITED(st) || WIFSIGNALED(st))
            return gone(j, st);
        if (!WIFSTOPPED(st))
            continue;
        int sig = WSTOPSIG(st), ev = (unsigned)st >> 16;
        int resume_sig = 0;
        if (sig == (SIGTRAP | 0x80)) {
            struct __ptrace_syscall_info info; /* glibc's <sys/ptrace.h>, as in ptrace.c */
            memset(&info, 0, sizeof(info));
            if (ptrace(PTRACE_GET_SYSCALL_INFO, j->tid, sizeof(info), &info) < 0)
                return -errno;
            if (info.op == PTRACE_SYSCALL_INFO_ENTRY) { /* it must be our call at our instruction */
                if (entered || info.entry.nr != (uint64_t)nr || info.instruction_pointer != j->regs.rip) {
                    kill_tracee(j);    /* the code at ip changed under us */
                    return -EIO;
                }
                entered = 1;
            } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) { /* done */
                if (!entered) {
                    kill_tracee(j);
                    return -EIO;
                }
                *ret = info.exit.rval;
                return 0;
            }
        } else if (ev == PTRACE_EVENT_SECCOMP) {
            /* our call hit a RET_TRACE rule: let it run */
        } else if (ev == PTRACE_EVENT_STOP) {
            /* a group-stop of the process: finish first, then stop again (resuming
             * it here counted it as stopped; DIVERGENCE.md) */
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
                j->held_stop = 1;
        } else if (ev == 0) {
            /* signal-delivery-stop: all catchable signals are blocked, so this is
             * SIGSTOP (hold it) or a fault (deliver it) */
            if (sig == SIGSTOP)
                j->held_stop = 1;
            else
                resume_sig = sig;
        } else {
            kill_tracee(j); /* fork/exec/... cannot come from the calls we inject */
            return -EIO;
        }
        if (ptrace(PTRACE_SYSCALL, j->tid, 0, (void *)(long)resume_sig) < 0)
            return -errno;
    }
}

static pid_t tgid_of(pid_t tid)
{
    char path[64], line[256];
    pid_t tgid = -ESRCH;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Tgid: %d", &tgid) == 1)
            break;
    fclose(f);
    return tgid;
}

static pid_t self_pid(struct lx_sup *s)
{
    return s->self ? s->self : getpid();
}

static int s_gone(const struct inj *j)
{
    return j->s->gone_tid == j->tid;
}

static int take(pid_t tid, int fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (pidfd < 0) {
        /* before Linux 6.9: the thread group's leader (threads share the fd table) */
        pid_t tgid = tgid_of(tid);
        if (tgid < 0)
            return tgid;
        pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
        if (pidfd < 0)
            return -errno;
    }
    int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int err = errno;
    close(pidfd);
    return got < 0 ? -err : got;
}

/* Prove that the supervisor's a and b are the two ends of one socketpair. */
static int paired(int a, int b)
{
    uint64_t nonce = lx_now_ns() ^ ((uint64_t)getpid() << 32), got = 0;
    if (send(a, &nonce, sizeof(nonce), MSG_DONTWAIT) != (ssize_t)sizeof(nonce))
        return 0;
    for (int i = 0; i < 4; i++) { /* a sibling may have queued datagrams of its own */
        ssize_t n = recv(b, &got, sizeof(got), MSG_DONTWAIT);
        if (n < 0)
            return 0;
        if (n == (ssize_t)sizeof(got) && got == nonce)
            return 1;
    }
    return 0;
}

static int send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &m, MSG_DONTWAIT) == 1 ? 0 : -errno;
}

/* -- the kept channel ------------------------------------------------------------
 *
 * Creating a socketpair in the tracee for every hand-over costs four injected
 * syscalls with two stops each.  So the first hand-over into a process leaves the
 * receiving end in it, moved to a high number (below min(RLIMIT_NOFILE, 1024),
 * close-on-exec), and keeps its other end and a copy of the receiving end here;
 * each later hand-over sends the fd and rewrites the trapped call itself into
 * recvmsg on that number -- one extra stop.  Before using the number, kcmp proves
 * it still names our socket (the program may have closed or replaced it: then a
 * new channel is made); the received fd is proved with kcmp as before, and a
 * message left queued by a failed try is drained.  The rewritten call is the
 * trapped one, run from its seccomp stop: the tracee does not return to user
 * mode before its exit stop, so no signal handler can run in between and the
 * mask need not change.  Its scratch memory is below the red zone, which the
 * x86_64 ABI lets any signal frame overwrite: the program keeps nothing there,
 * so it is not saved and restored either.  The program sees one more socket
 * among its fds (DIVERGENCE.md). */
struct lx_chan {
    int send;  /* our end */
    int recv;  /* our copy of the tracee's end */
    int num;   /* the tracee's number for it */
};

#define LX_CHANS 16

static void chan_close(struct lx_chan *c)
{
    close(c->send);
    close(c->recv);
}

void lx_inject_free(struct lx_sup *s)
{
    struct lx_chan *c = s->chans;
    for (size_t i = 0; c && i < s->nchans; i++)
        chan_close(&c[i]);
    free(c);
    s->chans = NULL;
    s->nchans = 0;
}

static int names_ours(struct lx_sup *s, pid_t tid, int mine, int theirs)
{
    return syscall(SYS_kcmp, self_pid(s), tid, KCMP_FILE, mine, theirs) == 0;
}

/* The channel the tracee's fd table holds (moved to the front), or NULL. */
static struct lx_chan *chan_find(struct lx_sup *s, pid_t tid)
{
    struct lx_chan *c = s->chans;
    for (size_t i = 0; c && i < s->nchans; i++) {
        if (!names_ours(s, tid, c[i].recv, c[i].num))
            continue;
        if (i) {
            struct lx_chan t = c[i];
            memmove(c + 1, c, i * sizeof(*c));
            c[0] = t;
        }
        return &c[0];
    }
    return NULL;
}

static struct lx_chan *chan_keep(struct lx_sup *s, int send, int recv, int num)
{
    struct lx_chan *c = s->chans;
    if (!c) {
        c = calloc(LX_CHANS, sizeof(*c));
        if (!c)
            return NULL;
        s->chans = c;
    }
    if (s->nchans == LX_CHANS)
        chan_close(&c[--s->nchans]); /* the least recently used: its process is likely gone */
    memmove(c + 1, c, s->nchans * sizeof(*c));
    c[0] = (struct lx_chan){send, recv, num};
    s->nchans++;
    return &c[0];
}

/* Drop what a failed try left queued for the tracee. */
static void drain(int recv_copy)
{
    char byte;
    union { struct cmsghdr h; char buf[CMSG_SPACE(4 * sizeof(int))]; } ctl;
    for (int i = 0; i < 8; i++) {
        struct iovec iov = {&byte, 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
        if (recvmsg(recv_copy, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0)
            return;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
            if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
                for (size_t k = 0; k < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++)
                    close(((int *)CMSG_DATA(h))[k]);
    }
}

/* `fd` is sent on `send` and the tracee runs recvmsg(num, scratch, MSG_DONTWAIT),
 * which installs it at its lowest free number: that number, proved, or -errno.
 * `recv_copy`: our copy of the tracee's end, to drain what a failure left queued. */
static int receive(struct inj *j, int num, int send, int recv_copy, int fd, int cloexec)
{
    uint64_t at = ((j->regs.rsp - 128 - sizeof(struct scratch)) & ~(uint64_t)15);
    struct scratch sc;
    int64_t r;
    int rc = send_fd(send, fd);
    if (rc < 0)
        return rc;
    memset(&sc, 0, sizeof(sc));
    sc.iov.iov_base = (void *)(uintptr_t)(at + offsetof(struct scratch, byte));
    sc.iov.iov_len = 1;
    sc.msg.msg_iov = (void *)(uintptr_t)(at + offsetof(struct scratch, iov));
    sc.msg.msg_iovlen = 1;
    sc.msg.msg_control = (void *)(uintptr_t)(at + offsetof(struct scratch, ctl));
    sc.msg.msg_controllen = sizeof(sc.ctl.buf);
    sc.sv[0] = sc.sv[1] = -1;
    if (lx_mem_write(j->tid, at, &sc, sizeof(sc)) < 0) {
        drain(recv_copy);
        return -EFAULT;
    }
    rc = run(j, SYS_recvmsg, (uint64_t)num, at + offsetof(struct scratch, msg),
             MSG_DONTWAIT | (cloexec ? MSG_CMSG_CLOEXEC : 0), 0, &r);
    if (rc < 0)
        return rc; /* dead, or killed */
    if (r != 1 || lx_mem_read(j->tid, at, &sc, sizeof(sc)) != (ssize_t)sizeof(sc) ||
        sc.ctl.h.cmsg_level != SOL_SOCKET || sc.ctl.h.cmsg_type != SCM_RIGHTS ||
        sc.ctl.h.cmsg_len != CMSG_LEN(sizeof(int))) {
        drain(recv_copy);
        return r < 0 ? (int)r : -EIO;
    }
    int got;
    memcpy(&got, CMSG_DATA(&sc.ctl.h), sizeof(int));
    /* the number is the tracee's own memory: check it names our file */
    if (syscall(SYS_kcmp, self_pid(j->s), j->tid, KCMP_FILE, fd, got) != 0 && errno != ENOSYS)
        return -EIO;
    return got;
}

/* A new channel into the tracee's process (signals blocked, from the injection
 * below): its kept record, or NULL (then a pair serves this one hand-over). */
static struct lx_chan *chan_make(struct inj *j, uint64_t at)
{
    int64_t r;
    int sv[2], a = -1, b = -1, num = -1;
    struct rlimit rl;
    if (prlimit(j->tid, RLIMIT_NOFILE, NULL, &rl) < 0 || rl.rlim_cur < 64)
        return NULL;
    int high = (int)((rl.rlim_cur < 1024 ? rl.rlim_cur : 1024) - 1);
    if (run(j, SYS_socketpair, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, at + offsetof(struct scratch, sv), &r) < 0 ||
        r < 0 || lx_mem_read(j->tid, at, sv, sizeof(sv)) != (ssize_t)sizeof(sv))
        return NULL;
    a = take(j->tid, sv[1]);
    b = take(j->tid, sv[0]);
    if (a >= 0 && b >= 0 && paired(b, a)) {
        /* the tracee's end to a number of its own, far from what open(2) hands out */
        for (int want = high; want >= high - 32 && num < 0; want -= 8)
            if (run(j, SYS_fcntl, (uint64_t)sv[1], F_DUPFD_CLOEXEC, (uint64_t)want, 0, &r) == 0 && r >= 0)
                num = (int)r;
    }
    if (s_gone(j))
        goto fail;
    /* the pair's own numbers go back to the program */
    for (int i = 0; i < 2; i++)
        if (run(j, SYS_close, (uint64_t)sv[i], 0, 0, 0, &r) < 0)
            goto fail;
    if (num < 0 || !names_ours(j->s, j->tid, a, num)) {
        if (num >= 0)
            run(j, SYS_close, (uint64_t)num, 0, 0, 0, &r);
        goto fail;
    }
    struct lx_chan *c = chan_keep(j->s, b, a, num);
    if (c)
        return c;
fail:
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return NULL;
}

int lx_ptrace_addfd(struct lx_sup *s, pid_t tid, int fd, int cloexec)
{
    struct inj j = {.s = s, .tid = tid, .first = 1};
    if (s->backend != LX_BACKEND_PTRACE)
        return -EOPNOTSUPP;
    if (ptrace(PTRACE_GETREGS, tid, 0, &j.regs) < 0)
        return -errno;

    /* 0. the kept channel: the trapped call becomes the recvmsg */
    struct lx_chan *ch = chan_find(s, tid);
    if (ch) {
        int got = receive(&j, ch->num, ch->send, ch->recv, fd, cloexec);
        if (got >= 0 || s_gone(&j)) {
            if (!s_gone(&j))
                ptrace(PTRACE_SETREGS, tid, 0, &j.regs); /* at its exit stop: the caller answers */
            return got;
        }
        /* it failed after the call ran: the injection below (signals blocked) takes over */
    }

    uint64_t mask0, all = ~0ull;
    if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(mask0), &mask0) < 0)
        return -errno;
    if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(all), &all) < 0)
        return -errno;

    uint64_t at = ((j.regs.rsp - 128 - sizeof(struct scratch)) & ~(uint64_t)15);
    struct scratch saved;
    int have_saved = lx_mem_read(tid, at, &saved, sizeof(saved)) == (ssize_t)sizeof(saved);
    int rc, sv[2] = {-1, -1}, a = -1, b = -1;
    int64_t r;

    if (!ch) {
        ch = chan_make(&j, at);
        if (s_gone(&j)) {
            rc = -ESRCH;
            goto out;
        }
        if (ch) {
            rc = receive(&j, ch->num, ch->send, ch->recv, fd, cloexec);
            goto out;
        }
    }

    /* no channel: a pair for this hand-over alone */
    /* 1. the pair */
    rc = run(&j, SYS_socketpair, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, at + offsetof(struct scratch, sv), &r);
    if (rc < 0)
        goto out;
    if (r < 0) {
        rc = (int)r;
        goto out;
    }
    if (lx_mem_read(tid, at, sv, sizeof(sv)) != (ssize_t)sizeof(sv)) {
        sv[0] = sv[1] = -1;
        rc = -EFAULT;
        goto out;
    }
    /* 2. prove, then send */
    a = take(tid, sv[1]);
    b = take(tid, sv[0]);
    if (a < 0 || b < 0) {
        rc = a < 0 ? a : b;
        goto out;
    }
    if (!paired(b, a)) {
        rc = -EIO; /* a sibling rewrote the pair's numbers */
        goto out;
    }
    /* 3. free the first end's number (open(2) would have returned it), send, and
     * receive on the second end */
    rc = run(&j, SYS_close, (uint64_t)sv[0], 0, 0, 0, &r);
    if (rc < 0)
        goto out;
    sv[0] = -1;
    rc = receive(&j, sv[1], b, a, fd, cloexec);

out:
    /* 4. close what is left of the pair in the tracee, put everything back */
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    if (s->gone_tid != tid) {
        for (int i = 0; i < 2; i++)
            if (sv[i] >= 0 && run(&j, SYS_close, (uint64_t)sv[i], 0, 0, 0, &r) < 0)
                break;
        if (s->gone_tid != tid) {
            if (have_saved)
                lx_mem_write(tid, at, &saved, sizeof(saved));
            /* at a syscall-exit stop now (unless nothing ran): the caller sets the answer */
            ptrace(PTRACE_SETREGS, tid, 0, &j.regs);
            ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask0), &mask0);
            pid_t tgid = j.held_stop ? tgid_of(tid) : -1;
            if (tgid > 0)
                syscall(SYS_tgkill, tgid, tid, SIGSTOP); /* the stop we held */
        }
    }
    return rc;
}
