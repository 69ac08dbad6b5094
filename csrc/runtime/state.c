/* The container's state directory as the C verbs read it: the plain-text file `fast`
 * that `create` writes beside state.json (lxbrand/oci/state.py, save_fast):
 *
 *     pid <init's pid>
 *     start <its start time, /proc/PID/stat field 22>
 *     sup <the supervisor's pid> <its start time>
 *     python <1 if start and delete need the Python runtime: hooks to run, mounts
 *            made in the runtime's mount namespace to detach>
 *     engine <unotify|ptrace>                  (exec may be done in C: policy.blob and
 *                                               filter.bpf are there; absent: Python)
 *     cgroup <absolute cgroup directory>        (one line per hierarchy)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

/* lxbrand/oci/state.py's check_id: a letter or digit first, then letters, digits and _ . + - */
int rt_valid_id(const char *id)
{
    if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9')) ||
        strlen(id) > 1024)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '+' || *p == '-'))
            return 0;
    return 1;
}

int rt_state_read(const char *id, struct rt_state *f)
{
    char path[PATH_MAX + 16], line[PATH_MAX + 16];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", G.root, id);
    snprintf(path, sizeof path, "%s/fast", f->dir);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return errno == ENOENT ? -ENOENT : RT_FALLBACK;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "pid ", 4))
            f->pid = strtol(line + 4, NULL, 10);
        else if (!strncmp(line, "start ", 6))
            f->start = strtoull(line + 6, NULL, 10);
        else if (!strncmp(line, "sup ", 4) && sscanf(line + 4, "%ld %llu", &f->sup_pid, &f->sup_start) != 2)
            f->sup_pid = 0;
        else if (!strncmp(line, "python ", 7))
            f->python = atoi(line + 7);
        else if (!strncmp(line, "engine ", 7))
            snprintf(f->engine, sizeof f->engine, "%s", line + 7);
        else if (!strncmp(line, "cgroup ", 7) && f->ncg < RT_MAX_CG)
            snprintf(f->cg[f->ncg++], PATH_MAX, "%.4000s", line + 7);
    }
    fclose(fp);
    return f->pid > 0 ? 0 : RT_FALLBACK;
}

/* /proc/PID/stat: its state letter into *state (may be NULL) and its start time (field
 * 22), or 0 if it is gone */
unsigned long long rt_start_time(long pid, char *state)
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
    if (state)
        *state = *p;
    /* field 3 is the state; starttime is field 22: 19 more fields on */
    for (int i = 0; i < 19 && p; i++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

/* pid runs: not exited, not a zombie, not a recycled pid (started at `start`). */
int rt_running(long pid, unsigned long long start)
{
    char state = 0;
    unsigned long long st = rt_start_time(pid, &state);
    return st && st == start && state != 'Z' && state != 'X';
}

int rt_frozen(const struct rt_state *f)
{
    char path[PATH_MAX + 16], buf[16] = "";
    for (int i = 0; i < f->ncg; i++) {
        snprintf(path, sizeof path, "%s/freezer.state", f->cg[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(path, sizeof path, "%s/cgroup.freeze", f->cg[i]); /* cgroup v2 */
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0 && (!strncmp(buf, "FROZEN", 6) || !strncmp(buf, "FREEZING", 8) || buf[0] == '1'))
            return 1;
    }
    return 0;
}

/* Atomically, digits only: containerd parses it with strconv.Atoi. */
int rt_write_pid_file(const char *path, long pid)
{
    char tmp[PATH_MAX + 32], buf[32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int n = snprintf(buf, sizeof buf, "%ld", pid);
    if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return -e;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}
