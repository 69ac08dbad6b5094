/* The last steps of a container's process (proc.h), shared by create and exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "../engine.h"
#include "proc.h"

_Noreturn void rt_child_fail(struct rt_child *c, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    msg[0] = 'E';
    n = n < (int)sizeof(msg) - 1 ? n + 1 : (int)sizeof(msg) - 1;
    if (c->report_w >= 0) {
        if (write(c->report_w, msg, (size_t)n) < 0) { /* nobody to tell */ }
    } else {
        dprintf(2, "lxbrand: %s\n", msg + 1);
    }
    _exit(code);
}

void rt_child_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
}

void rt_child_console(struct rt_child *c, char *pty, size_t cap)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        rt_child_fail(c, 1, "console: opening a pty in the container: %s", strerror(errno));
    char name[64];
    if (ptsname_r(master, name, sizeof name) != 0)
        rt_child_fail(c, 1, "console: ptsname: %s", strerror(errno));
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        rt_child_fail(c, 1, "console: opening %s: %s", name, strerror(errno));
    if (c->p->rows || c->p->cols) {
        struct winsize ws = {.ws_row = c->p->rows, .ws_col = c->p->cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    if (fchown(slave, c->p->uid, (gid_t)-1) < 0) { /* as runc: best effort */ }
    /* one message carrying exactly one fd, as containerd's shim expects */
    char data[] = "/dev/ptmx";
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data) - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    if (sendmsg(c->console, &mh, 0) < 0)
        rt_child_fail(c, 1, "console socket: sending the pty master: %s", strerror(errno));
    close(master);
    close(c->console);
    c->console = -1;
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        rt_child_fail(c, 1, "console: making %s the controlling terminal: %s", name, strerror(errno));
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            rt_child_fail(c, 1, "console: dup2: %s", strerror(errno));
    if (slave > 2)
        close(slave);
    if (pty)
        snprintf(pty, cap, "%s", name);
}

void rt_child_limits(struct rt_child *c)
{
    const struct rt_process *p = c->p;
    for (size_t i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = {(rlim_t)p->rlimits[i].soft, (rlim_t)p->rlimits[i].hard};
        if (setrlimit(p->rlimits[i].resource, &rl) < 0)
            rt_child_fail(c, 1, "process.rlimits[%zu]: setrlimit soft=%llu hard=%llu: %s", i, p->rlimits[i].soft,
                          p->rlimits[i].hard, strerror(errno));
    }
    if (p->has_oom) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || dprintf(fd, "%d", p->oom_score_adj) < 0)
            rt_child_fail(c, 1, "process.oomScoreAdj: %s", strerror(errno));
        close(fd);
    }
}

void rt_child_check_exe(struct rt_child *c)
{
    struct stat st;
    if (stat(c->path, &st) < 0)
        rt_child_fail(c, 127, "exec: \"%s\": stat %s: %s", c->p->args[0], c->path, strerror(errno));
    if (!S_ISREG(st.st_mode) || access(c->path, X_OK) < 0)
        rt_child_fail(c, 126, "exec: \"%s\": %s: permission denied", c->p->args[0], c->path);
}

void rt_child_ready(struct rt_child *c)
{
    if (write(c->report_w, "R", 1) != 1)
        _exit(1); /* the runtime is gone: it kills the supervisor, which closes go */
    close(c->report_w);
    c->report_w = -1;
}

static void load_seccomp(struct rt_child *c)
{
    struct sock_fprog fp = {
        .len = (unsigned short)(c->seccomp.len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)c->seccomp.data,
    };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0)
        rt_child_fail(c, 1, "linux.seccomp: loading the filter failed: %s", strerror(errno));
}

/* setgroups/gid/uid, then capabilities, with the container's seccomp profile loaded in
 * between while CAP_SYS_ADMIN is still effective (init.py become_user, runc's order) */
static void become_user(struct rt_child *c)
{
    const struct rt_process *p = c->p;
    if (p->has_caps && rt_caps_drop_bounding(p->caps[RT_CAP_BOUNDING]) < 0)
        rt_child_fail(c, 1, "process.capabilities.bounding: %s", strerror(errno));
    if (setgroups(p->ngids, p->gids) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
        prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresuid(p->uid, p->uid, p->uid) < 0 ||
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        rt_child_fail(c, 1, "process.user uid=%u gid=%u: %s", (unsigned)p->uid, (unsigned)p->gid, strerror(errno));
    if (c->seccomp.len) {
        if (p->uid != 0 && p->has_caps) {
            uint64_t prm = rt_caps_permitted_now(); /* setresuid cleared the effective set */
            rt_capset(prm, prm, 0);
        }
        load_seccomp(c);
    }
    if (p->has_caps && rt_caps_apply(p) < 0)
        rt_child_fail(c, 1, "process.capabilities: %s", strerror(errno));
    if (p->umask >= 0)
        umask((mode_t)p->umask);
}

_Noreturn void rt_child_exec(struct rt_child *c)
{
    const struct rt_process *p = c->p;
    /* nothing of the runtime's reaches the program: every fd above stdio closes at execve
     * (as runc's CloseExecFrom(3); the handshake pipes are close-on-exec already) */
    if (syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
        for (int fd = 3; fd < 1024; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    int rc = lx_child_filter(c->filter.data, c->filter.len, c->backend, c->ready_w, c->go_r, p->nnp, 0);
    if (rc < 0)
        rt_child_fail(c, 1, "installing the seccomp filter: %s", strerror(-rc));
    become_user(c);
    if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        rt_child_fail(c, 1, "process.noNewPrivileges: %s", strerror(errno));
    execve(c->path, (char *const *)p->args, c->envp);
    int e = errno;
    rt_child_fail(c, e == ENOENT ? 127 : 126, "%s: %s", p->args[0],
                  e == ENOEXEC ? "cannot execute: Exec format error" : strerror(e));
}
