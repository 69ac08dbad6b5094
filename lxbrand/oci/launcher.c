/* lxbrand-runtime: the binary containerd's shim runs as "the runtime".
 *
 * Every container costs containerd 3-4 runtime calls (create, start, delete, delete
 * --force); a Python interpreter start-up is ~40 ms on a small VM, runc's is ~5 ms.  So the
 * three calls that are pure bookkeeping are answered here in C, from the plain-text file
 * `fast` that `create` writes beside state.json:
 *
 *     pid <init's pid>
 *     start <its start time, /proc/PID/stat field 22>
 *     sup <the supervisor's pid> <its start time>
 *     hooks <1 if poststart/poststop hooks exist>
 *     cgroup <absolute cgroup directory>        (one line per hierarchy)
 *
 *   start ID             release init through exec.fifo
 *   kill ID NUMBER       signal init
 *   delete [--force] ID  kill init if asked, then the supervisor if it outlived init, remove
 *                        the cgroups and the state dir
 *
 * Anything else -- other verbs, other flags, hooks to run, a container not in the expected
 * state, an error worth a precise message -- is handed to the Python runtime unchanged
 * (execv of LXBRAND_PY), which is the reference implementation of every verb.
 * Built by `lxbrand install` (lxbrand/oci/install.py); without a C compiler the Python
 * runtime is registered directly.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef LXBRAND_PY
#error "build with -DLXBRAND_PY=\"/path/to/python-runtime\""
#endif

#define FALLBACK (-1)
#define MAX_CG 32

static char **g_argv;
static const char *g_root = "/run/lxbrand", *g_log, *g_log_format = "text";

struct fast {
    long pid, sup_pid;
    unsigned long long start, sup_start;
    int hooks;
    int ncg;
    char cg[MAX_CG][PATH_MAX];
};

static void fallback(void)
{
    g_argv[0] = (char *)LXBRAND_PY;
    execv(LXBRAND_PY, g_argv);
    fprintf(stderr, "lxbrand: cannot run %s: %s\n", LXBRAND_PY, strerror(errno));
    exit(1);
}

/* As the Python runtime reports errors: stderr, and the --log file (JSON lines for
 * containerd, which shows the user the last {"level":"error"} line). */
static int fail(const char *msg)
{
    fprintf(stderr, "lxbrand: %s\n", msg);
    if (g_log) {
        FILE *f = fopen(g_log, "ae");
        if (f) {
            char ts[32];
            time_t now = time(NULL);
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
            if (strcmp(g_log_format, "json") == 0) {
                fputs("{\"level\": \"error\", \"msg\": \"", f);
                for (const char *p = msg; *p; p++) {
                    if (*p == '"' || *p == '\\')
                        fputc('\\', f);
                    if ((unsigned char)*p >= 0x20)
                        fputc(*p, f);
                }
                fprintf(f, "\", \"time\": \"%s\"}\n", ts);
            } else {
                fprintf(f, "time=\"%s\" level=error msg=\"%s\"\n", ts, msg);
            }
            fclose(f);
        }
    }
    return 1;
}

static int valid_id(const char *id)
{
    if (!*id || *id == '.' || strlen(id) > 1024)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '+' || *p == '-'))
            return 0;
    return 1;
}

/* 0: read; -ENOENT: no such file; FALLBACK: anything unexpected */
static int read_fast(const char *dir, struct fast *f)
{
    char path[PATH_MAX], line[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/fast", dir);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return errno == ENOENT ? -ENOENT : FALLBACK;
    memset(f, 0, sizeof *f);
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "pid ", 4))
            f->pid = strtol(line + 4, NULL, 10);
        else if (!strncmp(line, "start ", 6))
            f->start = strtoull(line + 6, NULL, 10);
        else if (!strncmp(line, "sup ", 4) && sscanf(line + 4, "%ld %llu", &f->sup_pid, &f->sup_start) != 2)
            f->sup_pid = 0;
        else if (!strncmp(line, "hooks ", 6))
            f->hooks = atoi(line + 6);
        else if (!strncmp(line, "cgroup ", 7) && f->ncg < MAX_CG)
            snprintf(f->cg[f->ncg++], PATH_MAX, "%.4000s", line + 7);
    }
    fclose(fp);
    return f->pid > 0 ? 0 : FALLBACK;
}

/* pid runs: not exited, not a zombie, not a recycled pid (started at `start`). */
static int running(long pid, unsigned long long start)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return 0;
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X')
        return 0;
    /* field 3 is the state; starttime is field 22: 19 more fields on */
    for (int i = 0; i < 19 && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p && strtoull(p, NULL, 10) == start;
}

/* init runs */
static int alive(const struct fast *f) { return running(f->pid, f->start); }

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int fast_start(const char *dir, const char *id)
{
    struct fast f;
    char fifo[PATH_MAX], msg[PATH_MAX + 128];
    if (read_fast(dir, &f) != 0 || f.hooks || !alive(&f))
        return FALLBACK; /* Python words the error or runs poststart */
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", dir);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return FALLBACK; /* already started: Python says so */
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, 50);
        if (r > 0 && (pfd.revents & POLLIN)) {
            char c;
            if (read(fd, &c, 1) == 1)
                break;
        }
        if (!alive(&f)) {
            close(fd);
            snprintf(msg, sizeof msg, "cannot start container '%s': its init exited", id);
            return fail(msg);
        }
    }
    close(fd);
    unlink(fifo);
    return 0;
}

static int fast_kill(const char *dir, const char *sigstr)
{
    struct fast f;
    char *end;
    long sig = strtol(sigstr, &end, 10);
    if (*end || sig <= 0 || sig >= 65)
        return FALLBACK; /* names: Python parses them */
    if (read_fast(dir, &f) != 0 || !alive(&f))
        return FALLBACK;
    if (kill((pid_t)f.pid, (int)sig) < 0)
        return FALLBACK;
    return 0;
}

static void kill_procs(const char *cg)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/cgroup.procs", cg);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return;
    long pid;
    while (fscanf(fp, "%ld", &pid) == 1)
        kill((pid_t)pid, SIGKILL);
    fclose(fp);
}

static int frozen(const struct fast *f)
{
    char path[PATH_MAX + 16], buf[16] = "";
    for (int i = 0; i < f->ncg; i++) {
        snprintf(path, sizeof path, "%s/freezer.state", f->cg[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0 && !strncmp(buf, "FROZEN", 6))
            return 1;
    }
    return 0;
}

static int fast_delete(const char *dir, const char *id, int force)
{
    struct fast f;
    char fifo[PATH_MAX], msg[PATH_MAX + 128];
    int r = read_fast(dir, &f);
    if (r == -ENOENT && !exists(dir)) {
        if (force)
            return 0;
        snprintf(msg, sizeof msg, "container '%s' does not exist (in %s)", id, g_root);
        return fail(msg);
    }
    if (r != 0 || f.hooks || frozen(&f))
        return FALLBACK;
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", dir);
    if (alive(&f)) {
        if (!force && !exists(fifo))
            return FALLBACK; /* running: Python refuses with the status */
        kill((pid_t)f.pid, SIGKILL);
        for (int i = 0; alive(&f); i++) {
            if (i > 10000)
                return FALLBACK;
            usleep(1000);
        }
    }
    /* init is gone, and with a pid namespace of its own every process with it; without one
     * (--pid=host) the rest lives on under the supervisor: killing it kills them (EXITKILL) */
    if (running(f.sup_pid, f.sup_start))
        kill((pid_t)f.sup_pid, SIGKILL);
    /* cgroups: kill what is left, then rmdir (EBUSY until the last task is gone) */
    for (int i = f.ncg - 1; i >= 0; i--) {
        for (int tries = 0;; tries++) {
            if (rmdir(f.cg[i]) == 0 || errno == ENOENT)
                break;
            if ((errno != EBUSY && errno != ENOTEMPTY) || tries > 5000)
                return FALLBACK; /* e.g. sub-cgroups: Python walks them */
            kill_procs(f.cg[i]);
            usleep(1000);
        }
    }
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        return FALLBACK;
    return 0;
}

int main(int argc, char **argv)
{
    g_argv = argv;
    int i = 1;
    /* global options: runc's and lxbrand's */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (!strcmp(a, "--root"))
            val = &g_root;
        else if (!strcmp(a, "--log"))
            val = &g_log;
        else if (!strcmp(a, "--log-format"))
            val = &g_log_format;
        else if (!strncmp(a, "--root=", 7))
            g_root = a + 7;
        else if (!strncmp(a, "--log=", 6))
            g_log = a + 6;
        else if (!strncmp(a, "--log-format=", 13))
            g_log_format = a + 13;
        else if (!strcmp(a, "--debug") || !strcmp(a, "--systemd-cgroup") || !strcmp(a, "--trace"))
            continue;
        else if (!strcmp(a, "--policy") || !strcmp(a, "--backend") || !strcmp(a, "--criu") ||
                 !strcmp(a, "--rootless") || !strcmp(a, "--trace-dir")) {
            i++; /* their values only matter to create and exec */
            continue;
        } else if (!strncmp(a, "--policy=", 9) || !strncmp(a, "--backend=", 10) ||
                   !strncmp(a, "--trace-dir=", 12))
            continue;
        else
            fallback();
        if (val) {
            if (++i >= argc)
                fallback();
            *val = argv[i];
        }
    }
    if (i >= argc)
        fallback();
    const char *verb = argv[i++];
    int force = 0;
    const char *pos[2] = {0};
    int npos = 0;
    for (; i < argc; i++) {
        if (!strcmp(verb, "delete") && (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")))
            force = 1;
        else if (argv[i][0] == '-' || npos == 2)
            fallback();
        else
            pos[npos++] = argv[i];
    }
    if (npos < 1 || !valid_id(pos[0]))
        fallback();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", g_root, pos[0]);
    int rc = FALLBACK;
    if (!strcmp(verb, "start") && npos == 1)
        rc = fast_start(dir, pos[0]);
    else if (!strcmp(verb, "kill") && npos == 2)
        rc = fast_kill(dir, pos[1]);
    else if (!strcmp(verb, "delete") && npos == 1)
        rc = fast_delete(dir, pos[0], force);
    if (rc == FALLBACK)
        fallback();
    return rc;
}
