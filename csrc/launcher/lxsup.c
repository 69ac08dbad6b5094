/* lxbrand-sup: the C supervisor of one OCI container process (its init, or a
 * `docker exec` process) and of every process it starts.
 *
 * The OCI runtime (lxbrand/oci/supervisor.py) compiles the container's policy
 * in Python, forks the container's process (whose parent then exits, so the
 * shim reaps it and the pid-file names it, as with runc), and starts this
 * program beside it with the compiled policy (the blob, csrc/blob.h) and the
 * handshake pipes.  No Python stays alive for the container: this process is
 * all that supervises it, and the whole tree dies if it dies (EXITKILL).
 *
 *   lxbrand-sup --id ID --pid PID --backend unotify|ptrace --blob FD
 *               --ready FD --go FD [--ctl FD] [--log FILE] [--log-format text|json]
 *
 * --id only names the container on our command line (ps, and what bench counts
 * as the container's).  Exit status: 0 once no process of the tree is left, 1
 * if supervising failed (the tree was killed), 2 for a bad invocation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../blob.h"
#include "../engine.h"
#include "../runtime/log.h"

static const char *g_log, *g_log_format = "text", *g_id = "?";

/* Errors go where the runtime's go: the --log file containerd reads. */
static void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_error(const char *fmt, ...)
{
    char msg[1024], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "lxbrand supervisor (%s): %s", g_id, msg);
    rt_log_error(g_log, g_log_format, line);
}

static int usage(const char *why)
{
    fprintf(stderr, "lxbrand-sup: %s\nusage: lxbrand-sup --id ID --pid PID --backend unotify|ptrace --blob FD "
                    "--ready FD --go FD [--ctl FD] [--log FILE] [--log-format text|json]\n", why);
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void *read_all(int fd, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct lx_blob) || st.st_size > (off_t)LX_BLOB_MAX)
        return NULL;
    size_t n = (size_t)st.st_size, got = 0;
    char *b = malloc(n);
    while (b && got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)got);
        if (r <= 0) {
            free(b);
            return NULL;
        }
        got += (size_t)r;
    }
    *len = n;
    return b;
}

/* The uname fields the policy does not emulate are the container's own: read
 * them in its UTS namespace (its hostname), as the program itself would. */
static void join_uts(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/uts", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (setns(fd, CLONE_NEWUTS) < 0)
        log_error("joining the container's UTS namespace: %s (uname shows the host's names)", strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    long pid = -1, blob_fd = -1, ready_fd = -1, go_fd = -1, ctl_fd = -1;
    int backend = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage("every option takes a value");
        const char *v = argv[++i];
        long *slot = NULL, lo = 0, hi = 1 << 20;
        if (!strcmp(a, "--id"))
            g_id = v;
        else if (!strcmp(a, "--log"))
            g_log = v;
        else if (!strcmp(a, "--log-format"))
            g_log_format = v;
        else if (!strcmp(a, "--backend")) {
            if (!strcmp(v, "unotify"))
                backend = LX_BACKEND_UNOTIFY;
            else if (!strcmp(v, "ptrace"))
                backend = LX_BACKEND_PTRACE;
            else
                return usage("--backend: unotify or ptrace");
        } else if (!strcmp(a, "--pid")) {
            slot = &pid;
            lo = 1;
            hi = 1L << 30;
        } else if (!strcmp(a, "--blob"))
            slot = &blob_fd;
        else if (!strcmp(a, "--ready"))
            slot = &ready_fd;
        else if (!strcmp(a, "--go"))
            slot = &go_fd;
        else if (!strcmp(a, "--ctl"))
            slot = &ctl_fd;
        else
            return usage("unknown option");
        if (slot && parse_int(v, lo, hi, slot) < 0)
            return usage("a pid or fd must be a number");
    }
    if (pid < 0 || blob_fd < 0 || ready_fd < 0 || go_fd < 0 || backend < 0)
        return usage("--pid, --backend, --blob, --ready and --go are required");

    /* Whatever happens to us before the tree is armed, the child must not run on:
     * it waits on go_fd and gives up when that closes (csrc/child.c). */
    signal(SIGPIPE, SIG_IGN);
    size_t len = 0;
    void *blob = read_all((int)blob_fd, &len);
    close((int)blob_fd);
    static struct lx_sup sup;
    lx_sup_init(&sup, backend);
    int rc = blob ? lx_blob_import(&sup, blob, len) : -EINVAL;
    if (rc < 0) {
        log_error("cannot load the compiled policy: %s", rc == -ENOTSUP ? "it needs the Python layer" : strerror(-rc));
        kill((pid_t)pid, SIGKILL);
        return 1;
    }
    join_uts((pid_t)pid);
    lx_blob_apply_uts(&sup, lx_blob_header(blob, len));
    free(blob);

    rc = lx_supervise_attached(&sup, (pid_t)pid, (int)ready_fd, (int)go_fd, (int)ctl_fd);
    if (rc < 0 && rc != -ECANCELED) {
        log_error("supervising pid %ld failed: %s; its processes were killed", pid, strerror(-rc));
        return 1;
    }
    return 0;
}
