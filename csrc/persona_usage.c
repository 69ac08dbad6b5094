/* The sandbox's usage when no cgroup holds it alone (lxrun): the resident memory and
 * the threads of the supervisor's descendants.  The tree is walked down from the
 * supervisor through /proc/PID/task/TID/children (proc(5), CONFIG_PROC_CHILDREN, on
 * in Debian's and most distributions' kernels): a few files per sandbox process
 * instead of one per host process; without it every pid in /proc is scanned for its
 * parent chain.  Every path is read under a host root ("" normally; tests inject a
 * /proc). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persona.h"

/* a small set of pids (open addressing) */
struct pidset {
    pid_t *k;
    size_t cap, n;
};

static int pidset_add(struct pidset *s, pid_t pid) /* 1 added, 0 present, <0 error */
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        pid_t *nk = calloc(nc, sizeof(pid_t));
        if (!nk)
            return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i])
                for (size_t j = (size_t)s->k[i] * 2654435761u % nc;; j = (j + 1) % nc)
                    if (!nk[j]) {
                        nk[j] = s->k[i];
                        break;
                    }
        free(s->k);
        s->k = nk;
        s->cap = nc;
    }
    for (size_t j = (size_t)pid * 2654435761u % s->cap;; j = (j + 1) % s->cap) {
        if (s->k[j] == pid)
            return 0;
        if (!s->k[j]) {
            s->k[j] = pid;
            s->n++;
            return 1;
        }
    }
}

/* /proc/PID/stat after the command name: ppid, threads, rss pages (proc(5) fields 4, 20, 24) */
static int proc_stat(const char *root, pid_t pid, pid_t *ppid, long *threads, long *rss)
{
    char path[PATH_MAX], buf[1024];
    snprintf(path, sizeof(path), "%s/proc/%d/stat", root, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    long f[24];
    int k = 0;
    for (p += 2; k < 22 && *p;) {
        if (k == 0) { /* state: a letter */
            f[k++] = 0;
            p = strchr(p, ' ');
            if (!p)
                return -EIO;
            p++;
            continue;
        }
        char *e;
        f[k++] = strtol(p, &e, 10);
        if (e == p)
            return -EIO;
        p = *e ? e + 1 : e;
    }
    if (k < 22)
        return -EIO;
    *ppid = (pid_t)f[1];
    *threads = f[17];
    *rss = f[21];
    return 0;
}

/* append the children of every thread of pid (a child belongs to the thread that
 * forked it; proc(5): /proc/PID/task/TID/children) */
static int children(const char *root, pid_t pid, long nthreads, pid_t **stack, size_t *n, size_t *cap)
{
    char path[PATH_MAX];
    struct lx_buf tids = {0};
    if (nthreads == 1) {
        if (lx_pv_printf(&tids, "%d\n", (int)pid) < 0)
            return -ENOMEM;
    } else {
        snprintf(path, sizeof(path), "%s/proc/%d/task", root, (int)pid);
        DIR *d = opendir(path);
        if (!d)
            return -errno;
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && lx_pv_printf(&tids, "%s\n", de->d_name) < 0) {
                closedir(d);
                lx_buf_free(&tids);
                return -ENOMEM;
            }
        closedir(d);
    }
    int rc = 0;
    for (char *t = (char *)tids.data, *e; rc == 0 && t && t < (char *)tids.data + tids.len; t = e + 1) {
        e = memchr(t, '\n', tids.len - (size_t)(t - (char *)tids.data));
        snprintf(path, sizeof(path), "%s/proc/%d/task/%d/children", root, (int)pid, atoi(t));
        struct lx_buf kids = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* the thread exited meanwhile */
        char chunk[4096];
        ssize_t r;
        while (rc == 0 && (r = read(fd, chunk, sizeof(chunk))) > 0)
            rc = lx_buf_put(&kids, chunk, (size_t)r); /* thousands of pids span reads */
        close(fd);
        if (rc == 0)
            rc = lx_buf_put(&kids, "", 1);
        for (char *q = (char *)kids.data; rc == 0 && q && *q;) {
            char *qe;
            long v = strtol(q, &qe, 10);
            if (qe == q)
                break;
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                pid_t *ns = realloc(*stack, nc * sizeof(pid_t));
                if (!ns) {
                    rc = -ENOMEM;
                    break;
                }
                *stack = ns;
                *cap = nc;
            }
            (*stack)[(*n)++] = (pid_t)v;
            q = qe;
        }
        lx_buf_free(&kids);
    }
    lx_buf_free(&tids);
    return rc;
}

int lx_pv_tree_usage(const char *root, pid_t top, uint64_t *kb, unsigned *tasks)
{
    pid_t *stack = NULL;
    size_t n = 0, cap = 0;
    struct pidset seen = {0};
    int rc = children(root, top, 0, &stack, &n, &cap);
    uint64_t pages = 0, nt = 0;
    while (rc == 0 && n) {
        pid_t pid = stack[--n];
        int added = pidset_add(&seen, pid);
        if (added < 0)
            rc = added;
        if (added <= 0)
            continue; /* re-listed after a reparenting between two reads */
        pid_t ppid;
        long threads, rss;
        if (proc_stat(root, pid, &ppid, &threads, &rss) < 0)
            continue; /* exited meanwhile */
        pages += (uint64_t)(rss > 0 ? rss : 0);
        nt += (uint64_t)(threads > 0 ? threads : 0);
        if (children(root, pid, threads, &stack, &n, &cap) == -ENOMEM)
            rc = -ENOMEM;
    }
    free(stack);
    free(seen.k);
    if (rc == 0) {
        *kb = pages * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
        *tasks = nt > UINT32_MAX ? UINT32_MAX : (unsigned)nt;
    }
    return rc;
}

int lx_pv_scan_usage(const char *root, pid_t me, uint64_t *kb, unsigned *tasks)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/proc", root);
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct ent { pid_t pid, ppid; long threads, rss; } *e = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(de->d_name), ppid;
        long th, rss;
        if (pid == me || proc_stat(root, pid, &ppid, &th, &rss) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            struct ent *ne = realloc(e, cap * sizeof(*e));
            if (!ne) {
                rc = -ENOMEM;
                break;
            }
            e = ne;
        }
        e[n++] = (struct ent){pid, ppid, th, rss};
    }
    closedir(d);
    /* pid -> index, for the parent chains */
    size_t hc = 1;
    while (hc < n * 2 + 1)
        hc <<= 1;
    long *idx = rc ? NULL : malloc(hc * sizeof(long));
    if (!rc && !idx)
        rc = -ENOMEM;
    uint64_t pages = 0, nt = 0;
    if (!rc) {
        for (size_t i = 0; i < hc; i++)
            idx[i] = -1;
        for (size_t i = 0; i < n; i++)
            for (size_t j = (size_t)e[i].pid * 2654435761u & (hc - 1);; j = (j + 1) & (hc - 1))
                if (idx[j] < 0) {
                    idx[j] = (long)i;
                    break;
                }
        for (size_t i = 0; i < n; i++) {
            pid_t q = e[i].ppid;
            for (int hops = 0; q > 1 && hops < 64; hops++) {
                if (q == me) {
                    pages += (uint64_t)(e[i].rss > 0 ? e[i].rss : 0);
                    nt += (uint64_t)(e[i].threads > 0 ? e[i].threads : 0);
                    break;
                }
                long at = -1;
                for (size_t j = (size_t)q * 2654435761u & (hc - 1); idx[j] >= 0; j = (j + 1) & (hc - 1))
                    if (e[idx[j]].pid == q) {
                        at = idx[j];
                        break;
                    }
                q = at < 0 ? 0 : e[at].ppid;
            }
        }
    }
    free(idx);
    free(e);
    if (rc == 0) {
        *kb = pages * (uint64_t)(sysconf(_SC_PAGESIZE) / 1024);
        *tasks = nt > UINT32_MAX ? UINT32_MAX : (unsigned)nt;
    }
    return rc;
}

