/* exec --process F [--detach] [--pid-file P] [--console-socket S] ID: a new process in a
 * running container, as containerd's shim calls it for `docker exec`, done in C.
 *
 * The shape is lxbrand/oci/supervisor.py's (the reference, in Python): we fork the
 * process inside the container's pid namespace (the rest of joining is the child's
 * job), start a supervisor beside it (lxbrand-sup, loading the container's compiled
 * policy), wait until the child is about to install its filter, commit, write the
 * pid-file and exit: the shim, a subreaper, becomes the process's parent and reaps it.
 *
 *   runtime ─┬─ child: cgroups, ipc/uts/net/cgroup/mnt namespaces, pty or setsid,
 *            │   rlimits, oom_score_adj, cwd -> "ready" -> user namespace -> (engine
 *            │   filter, armed by the supervisor) -> user, container seccomp, caps -> exec
 *            └─ lxbrand-sup --pid CHILD: seizes it at once; the tree dies with it
 *
 * What `create` left in the state directory makes this possible: `engine` in `fast`
 * (the policy needs no Python), policy.blob (the supervisor's tables), filter.bpf (the
 * engine's filter, csrc/filter.c's format) and seccomp.bpf (the container's own profile,
 * compiled, if it has one).  Anything else -- a policy that needs Python, a paused or
 * created container, CLI flags instead of --process, a key of process.json this file
 * does not implement -- is the Python runtime's (RT_FALLBACK).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
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
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../engine.h"
#include "image.h"
#include "proc.h"
#include "process.h"
#include "runtime.h"

struct exec_args {
    const char *id, *process, *pid_file, *console_socket;
    int detach;
};

static int parse_args(int argc, char **argv, struct exec_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (!strcmp(s, "-d") || !strcmp(s, "--detach")) {
            a->detach = 1;
            continue;
        }
        if (!strcmp(s, "-p") || !strcmp(s, "--process"))
            slot = &a->process;
        else if (!strcmp(s, "--pid-file"))
            slot = &a->pid_file;
        else if (!strcmp(s, "--console-socket"))
            slot = &a->console_socket;
        else if (!strncmp(s, "--process=", 10))
            a->process = s + 10;
        else if (!strncmp(s, "--pid-file=", 11))
            a->pid_file = s + 11;
        else if (!strncmp(s, "--console-socket=", 17))
            a->console_socket = s + 17;
        else if (s[0] == '-' || a->id)
            return RT_FALLBACK; /* other flags, or a command after the id: Python's */
        else
            a->id = s;
        if (slot) {
            if (++i >= argc)
                return RT_FALLBACK;
            *slot = argv[i];
        }
    }
    return a->id && a->process && rt_valid_id(a->id) ? 0 : RT_FALLBACK;
}

static int read_file(int dirfd, const char *name, struct rt_bytes *b, int optional)
{
    b->data = NULL;
    b->len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return optional && errno == ENOENT ? 0 : -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (16 << 20)) {
        close(fd);
        return -1;
    }
    b->data = malloc((size_t)st.st_size);
    if (!b->data || read(fd, b->data, (size_t)st.st_size) != st.st_size) {
        close(fd);
        free(b->data);
        b->data = NULL;
        return -1;
    }
    b->len = (size_t)st.st_size;
    close(fd);
    return 0;
}

/* ---- the child ------------------------------------------------------------------------ */

static int same_ns(const char *ns, pid_t pid)
{
    char a[64], b[64];
    struct stat sa, sb;
    snprintf(a, sizeof a, "/proc/%d/ns/%s", (int)pid, ns);
    snprintf(b, sizeof b, "/proc/self/ns/%s", ns);
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static void join_ns(struct rt_child *c, pid_t init, const char *ns, int type)
{
    char path[64];
    if (same_ns(ns, init))
        return;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)init, ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        rt_child_fail(c, 1, "joining the container's %s namespace: %s", ns, strerror(errno));
    }
    if (setns(fd, type) < 0)
        rt_child_fail(c, 1, "joining the container's %s namespace: %s", ns, strerror(errno));
    close(fd);
}

static _Noreturn void run_child(struct rt_child *c, const struct rt_state *st)
{
    pid_t init = (pid_t)st->pid;
    rt_child_signals();
    for (int i = 0; i < st->ncg; i++) {
        /* a cgroup removed under us must not stop exec (as the Python runtime) */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/cgroup.procs", st->cg[i]);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "0", 1) < 0) { /* see above */ }
            close(fd);
        }
    }
    /* the user namespace last: joining the others needs the host's capabilities; opened
     * now, before /proc becomes the container's */
    int user_fd = -1;
    if (!same_ns("user", init)) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)init);
        user_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (user_fd < 0)
            rt_child_fail(c, 1, "joining the container's user namespace: %s", strerror(errno));
    }
    join_ns(c, init, "ipc", CLONE_NEWIPC);
    join_ns(c, init, "uts", CLONE_NEWUTS);
    join_ns(c, init, "net", CLONE_NEWNET);
    join_ns(c, init, "cgroup", CLONE_NEWCGROUP);
    join_ns(c, init, "mnt", CLONE_NEWNS);
    if (c->console >= 0)
        rt_child_console(c, NULL, 0);
    else if (setsid() < 0)
        rt_child_fail(c, 1, "setsid: %s", strerror(errno));
    rt_child_limits(c);
    if (chdir(c->p->cwd) < 0)
        rt_child_fail(c, 1, "exec: chdir to cwd (\"%s\") set in config.json failed: %s", c->p->cwd,
                      strerror(errno));
    rt_child_check_exe(c);
    rt_child_ready(c);
    if (user_fd >= 0) {
        if (setns(user_fd, CLONE_NEWUSER) < 0)
            rt_child_fail(c, 1, "joining the container's user namespace: %s", strerror(errno));
        close(user_fd);
        /* become its root: the host's uid 0 is not mapped there */
        if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
            rt_child_fail(c, 1, "linux.uidMappings: container uid and gid 0 must be mapped (%s)", strerror(errno));
    }
    rt_child_exec(c);
}

/* ---- the runtime's side --------------------------------------------------------------- */

static void kill_reap(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
}

int rt_exec(int argc, char **argv)
{
    struct exec_args a;
    struct rt_state st;
    struct rt_process p;
    if (parse_args(argc, argv, &a) != 0 || rt_state_read(a.id, &st) != 0 || !st.engine[0])
        return RT_FALLBACK;
    char fifo[PATH_MAX + 16];
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", st.dir);
    if (!rt_running(st.pid, st.start) || access(fifo, F_OK) == 0 || rt_frozen(&st))
        return RT_FALLBACK; /* not running: Python says what it is */
    int backend = !strcmp(st.engine, "ptrace") ? LX_BACKEND_PTRACE : LX_BACKEND_UNOTIFY;
    if (rt_process_load(a.process, &p) != 0)
        return RT_FALLBACK;
    if (p.terminal && !a.console_socket) {
        rt_process_free(&p);
        return rt_fail("exec: process.terminal is true but no --console-socket was given");
    }

    int rc = 1, dirfd = -1, rootfd = -1, blob_fd = -1, console = -1, pidns = -1, ourns = -1;
    int report[2] = {-1, -1}, ready[2] = {-1, -1}, go[2] = {-1, -1}, ctl[2] = {-1, -1};
    pid_t child = -1, sup = -1;
    char **envp = NULL;
    size_t nenv = 0;
    struct rt_child c = {.p = &p, .report_w = -1, .ready_w = -1, .go_r = -1, .console = -1, .backend = backend};
    char path[PATH_MAX], rootpath[64];

    dirfd = open(st.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    blob_fd = dirfd < 0 ? -1 : openat(dirfd, "policy.blob", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (blob_fd < 0 || read_file(dirfd, "filter.bpf", &c.filter, 0) < 0 ||
        read_file(dirfd, "seccomp.bpf", &c.seccomp, 1) < 0) {
        rc = RT_FALLBACK;
        goto out;
    }
    snprintf(rootpath, sizeof rootpath, "/proc/%ld/root", st.pid);
    rootfd = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        rc = RT_FALLBACK;
        goto out;
    }
    if (rt_lookup(rootfd, p.args[0], p.env, NULL, path, sizeof path) != 0)
        goto out;
    c.path = path;
    while (p.env[nenv])
        nenv++;
    envp = calloc(nenv + 2, sizeof(char *));
    if (!envp)
        goto out;
    memcpy(envp, p.env, nenv * sizeof(char *));
    if (!rt_env_get(p.env, "HOME"))
        envp[nenv] = rt_home_env(rootfd, p.uid);
    c.envp = envp;
    if (a.console_socket && p.terminal) {
        console = rt_connect_socket(a.console_socket);
        if (console < 0) {
            rt_fail("console socket %s: %s", a.console_socket, strerror(errno));
            goto out;
        }
    }
    if (pipe2(report, O_CLOEXEC) || pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC)) {
        rt_fail("exec: pipe: %s", strerror(errno));
        goto out;
    }
    /* fork into the container's pid namespace: setns applies to our children only */
    char nspath[64];
    snprintf(nspath, sizeof nspath, "/proc/%ld/ns/pid", st.pid);
    ourns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    pidns = open(nspath, O_RDONLY | O_CLOEXEC);
    if (ourns < 0 || pidns < 0 || setns(pidns, CLONE_NEWPID) < 0) {
        rt_fail("exec: joining the container's pid namespace: %s", strerror(errno));
        goto out;
    }
    if (!a.detach)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); /* we wait for it, and its orphans come to us */
    child = fork();
    if (child == 0) {
        close(report[0]);
        close(ready[0]);
        close(go[1]);
        close(ctl[0]);
        close(ctl[1]);
        close(blob_fd);
        c.report_w = report[1];
        c.ready_w = ready[1];
        c.go_r = go[0];
        c.console = console;
        run_child(&c, &st);
    }
    setns(ourns, CLONE_NEWPID);
    if (child < 0) {
        rt_fail("exec: fork: %s", strerror(errno));
        goto out;
    }
    close(report[1]);
    close(ready[1]);
    close(go[0]);
    report[1] = ready[1] = go[0] = -1;
    if (console >= 0) {
        close(console);
        console = -1;
    }
    sup = rt_start_supervisor(st.engine, a.id, child, blob_fd, ready[0], go[1], ctl[0]);
    close(ready[0]);
    close(go[1]);
    close(ctl[0]);
    ready[0] = go[1] = ctl[0] = -1;
    if (sup < 0)
        goto out;
    char msg[2049];
    ssize_t n = read(report[0], msg, sizeof msg - 1);
    if (n <= 0) {
        rt_fail("exec: the process exited during setup without saying why");
        goto out;
    }
    msg[n] = '\0';
    if (msg[0] != 'R') {
        rt_fail("%s", msg[0] == 'E' ? msg + 1 : msg);
        goto out;
    }
    if (write(ctl[1], "c", 1) != 1) {
        rt_fail("exec: the process's supervisor exited during setup");
        goto out;
    }
    if (a.pid_file) {
        int e = rt_write_pid_file(a.pid_file, child);
        if (e < 0) {
            rt_fail("exec: cannot write the pid file %s: %s", a.pid_file, strerror(-e));
            goto out;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
        if (ready[i] >= 0)
            close(ready[i]);
        if (go[i] >= 0)
            close(go[i]);
        if (ctl[i] >= 0)
            close(ctl[i]); /* EOF without 'c' kills the tree: nothing is left on failure */
    }
    if (rc != 0) {
        kill_reap(child);
        kill_reap(sup);
    }
    int fds[] = {dirfd, rootfd, blob_fd, console, pidns, ourns};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (envp) {
        if (!rt_env_get(p.env, "HOME"))
            free(envp[nenv]);
        free(envp);
    }
    free(c.filter.data);
    free(c.seccomp.data);
    if (rc == 0 && !a.detach) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    }
    rt_process_free(&p);
    return rc;
}
