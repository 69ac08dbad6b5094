/* The user-notification backend: one thread receives notifications and answers
 * them (seccomp_unotify(2)).  The lifecycle (fork/exec following, signals,
 * death of the tree with the supervisor) is ptrace.c's job on both backends. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "trace.h"

/* Linux 6.6, commit 48a1084a8b74 ("seccomp: add the synchronous mode for
 * seccomp_unotify"): the woken task and the supervisor run on the same CPU,
 * worth ~6x per trap on the development machine (bench/floor/unotify.c measures it: the
 * unotify-nosync floor of `python -m bench`). Not in older uapi headers. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define LX_WAKE_SIGNAL (SIGRTMIN + 5)

static void wake_handler(int sig) { (void)sig; }

static int answer(struct lx_sup *s, struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
    uint64_t t0 = lx_now_ns();
    struct lx_call c = {
        .nr = req->data.nr, .pid = (pid_t)req->pid, .tid = (pid_t)req->pid,
        .id = req->id, .backend = LX_BACKEND_UNOTIFY, .sup = s,
    };
    memcpy(c.args, req->data.args, sizeof(c.args));
    const struct lx_action *a = lx_action_for(s, c.nr);
    int kind = a->kind, answered = 0;

    memset(resp, 0, sizeof(*resp));
    resp->id = req->id;
    lx_observe(s, &c);
    if (req->data.arch != AUDIT_ARCH_X86_64) {
        c.ret = -ENOSYS; /* the filter kills foreign arches; never reached */
        answered = 1;
    } else if (kind == LX_ACT_TRACE) {
        answered = 0;
    } else {
        answered = lx_decide(s, &c, a);
    }
    if (answered) {
        if (c.ret < 0 && c.ret > -4096) {
            resp->error = (int32_t)c.ret;
            resp->val = 0;
        } else {
            resp->error = 0;
            resp->val = c.ret;
        }
    } else {
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    /* before the answer: once it is sent the call's body may run and be interrupted */
    lx_interrupt_note(s, c.tid, c.nr, c.args, req->data.instruction_pointer, !answered);
    lx_count(s, c.nr, c.ret, answered, t0);
    lx_record(s, &c, kind, answered, t0);
    return !c.sent;
}

static void *notify_loop(void *arg)
{
    struct lx_sup *s = arg;
    struct seccomp_notif_sizes sz;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
        s->notify_error = -errno;
        return NULL;
    }
    size_t reqsz = sz.seccomp_notif > sizeof(struct seccomp_notif) ? sz.seccomp_notif : sizeof(struct seccomp_notif);
    size_t respsz = sz.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ? sz.seccomp_notif_resp
                                                                               : sizeof(struct seccomp_notif_resp);
    struct seccomp_notif *req = calloc(1, reqsz);
    struct seccomp_notif_resp *resp = calloc(1, respsz);
    if (!req || !resp) {
        s->notify_error = -ENOMEM;
        goto out;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, LX_WAKE_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (s->thread_enter)
        s->thread_enter(s);

    while (!s->stop) {
        memset(req, 0, reqsz);
        if (ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
            if (errno == EINTR || errno == ENOENT)
                continue; /* woken to stop, or the target died before we received */
            s->notify_error = -errno;
            break;
        }
        if (answer(s, req, resp) && ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT) {
            /* ENOENT: the target was killed while we answered; anything else is a bug */
            s->notify_error = -errno;
        }
    }
    if (s->thread_exit)
        s->thread_exit(s);
out:
    free(req);
    free(resp);
    return NULL;
}

int lx_unotify_start(struct lx_sup *s)
{
    uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    s->sync_wakeup = ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0;
    int irc = lx_interrupt_init(s);
    if (irc < 0)
        return irc;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wake_handler; /* no SA_RESTART: a blocked RECV returns EINTR */
    sigaction(LX_WAKE_SIGNAL, &sa, NULL);

    /* the thread must not take the signals we forward to the program */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->notify_thread, NULL, notify_loop, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return -rc;
    s->notify_thread_started = 1;
    return 0;
}

void lx_unotify_stop(struct lx_sup *s)
{
    if (!s->notify_thread_started)
        return;
    s->stop = 1;
    for (;;) {
        /* the signal may land just before the thread blocks in RECV: resend until it is gone */
        pthread_kill(s->notify_thread, LX_WAKE_SIGNAL);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_timedjoin_np(s->notify_thread, NULL, &ts) == 0)
            break;
    }
    s->notify_thread_started = 0;
}

int lx_addfd(struct lx_sup *s, uint64_t id, int srcfd, int send, unsigned int newfd_flags)
{
    struct seccomp_notif_addfd a = {
        .id = id,
        .flags = send ? SECCOMP_ADDFD_FLAG_SEND : 0,
        .srcfd = (uint32_t)srcfd,
        .newfd = 0,
        .newfd_flags = newfd_flags,
    };
    int rc = ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    return rc < 0 ? -errno : rc;
}

int lx_notify_send(struct lx_sup *s, uint64_t id, int64_t ret)
{
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.id = id;
    if (ret < 0 && ret > -4096)
        resp.error = (int32_t)ret;
    else
        resp.val = ret;
    int rc = ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    return rc < 0 ? -errno : 0;
}
