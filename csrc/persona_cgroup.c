/* Where a program finds its cgroup's files, worked out as the readers do: the JVM
 * (CgroupSubsystemFactory), Go's runtime and automaxprocs, libuv.  They take their
 * controller's line of /proc/self/cgroup, the cgroup mount of /proc/self/mountinfo
 * holding that controller, and join the mount point with the cgroup path relative
 * to the mount's root (cgroups(7), "/proc/[pid]/cgroup"; proc(5), mountinfo).
 *
 * The view serves the limit files found there (persona.c), and reads the memory
 * usage of a container's cgroup the same way (from its first process's
 * /proc/PID/cgroup). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persona.h"

/* The v1 controllers, sorted by name (co-mount symlinks are looked for in this
 * order, as `ls` shows them); a named hierarchy (name=systemd) serves no limits. */
static const char *const CONTROLLERS[] = {"blkio",   "cpu",        "cpuacct", "cpuset",  "devices",
                                          "freezer", "hugetlb",    "memory",  "misc",    "net_cls",
                                          "net_prio", "perf_event", "pids",    "rdma",    NULL};
#define CG_OTHER (1u << 31) /* a name that is not a v1 controller (name=..., a new one) */

const char *lx_cg_controller(int bit)
{
    return bit >= 0 && bit < (int)(sizeof(CONTROLLERS) / sizeof(CONTROLLERS[0])) - 1 ? CONTROLLERS[bit] : NULL;
}

static uint32_t controller_bit(const char *name, size_t len)
{
    for (int i = 0; CONTROLLERS[i]; i++)
        if (strlen(CONTROLLERS[i]) == len && memcmp(CONTROLLERS[i], name, len) == 0)
            return 1u << i;
    return 0;
}

uint32_t lx_cg_bit(const char *name) { return controller_bit(name, strlen(name)); }

/* mountinfo escapes space, tab, newline and backslash as octal (\040) */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
            p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* alias is a symlink to the same directory as target (/sys/fs/cgroup/cpu -> cpu,cpuacct) */
static int same_dir(const char *host_root, const char *alias, const char *target)
{
    char a[PATH_MAX], t[PATH_MAX], ra[PATH_MAX], rt[PATH_MAX];
    struct stat st;
    snprintf(a, sizeof(a), "%s%s", host_root, alias);
    snprintf(t, sizeof(t), "%s%s", host_root, target);
    if (lstat(a, &st) < 0 || !S_ISLNK(st.st_mode))
        return 0;
    return realpath(a, ra) && realpath(t, rt) && strcmp(ra, rt) == 0;
}

struct cg_line {
    uint32_t ctrls; /* 0: the v2 line ("0::PATH") */
    char *path;
};

static int add_dir(struct lx_cg_dir **out, size_t *n, size_t *cap, int version, uint32_t ctrls, const char *point,
                   const char *rel)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        struct lx_cg_dir *d = realloc(*out, nc * sizeof(*d));
        if (!d)
            return -ENOMEM;
        *out = d;
        *cap = nc;
    }
    /* mount point + the path below the mount's root, without doubled or trailing slashes */
    size_t pl = strlen(point);
    while (pl > 0 && point[pl - 1] == '/')
        pl--;
    while (*rel == '/')
        rel++;
    size_t rl = strlen(rel);
    while (rl > 0 && rel[rl - 1] == '/')
        rl--;
    char *dir;
    if (asprintf(&dir, "%.*s%s%.*s", (int)pl, point, rl ? "/" : "", (int)rl, rel) < 0)
        return -ENOMEM;
    if (!*dir) {
        free(dir);
        if (!(dir = strdup("/")))
            return -ENOMEM;
    }
    (*out)[(*n)++] = (struct lx_cg_dir){version, ctrls, dir};
    return 0;
}

int lx_cg_dirs(const char *cgroup, const char *mountinfo, const char *host_root, struct lx_cg_dir **out, size_t *n)
{
    struct cg_line lines[64];
    size_t nl = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    char *text = strdup(cgroup), *save = NULL;
    if (!text)
        return -ENOMEM;
    /* "HIERARCHY-ID:CONTROLLERS:PATH"; a later line for the same controllers wins */
    for (char *l = strtok_r(text, "\n", &save); l && nl < 64; l = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c1 == l)
            continue;
        uint32_t ctrls = 0;
        for (char *p = c1 + 1; p < c2;) {
            char *e = memchr(p, ',', (size_t)(c2 - p));
            if (!e)
                e = c2;
            if (e > p) {
                uint32_t b = controller_bit(p, (size_t)(e - p));
                ctrls |= b ? b : CG_OTHER;
            }
            p = e + 1;
        }
        size_t k = 0;
        while (k < nl && lines[k].ctrls != ctrls)
            k++;
        lines[k] = (struct cg_line){ctrls, c2 + 1};
        if (k == nl)
            nl++;
    }
    char *mi = strdup(mountinfo);
    if (!mi) {
        free(text);
        return -ENOMEM;
    }
    save = NULL;
    for (char *l = strtok_r(mi, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
        /* "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
        char *sep = strstr(l, " - ");
        if (!sep)
            continue;
        *sep = '\0';
        char *f[5], *s2 = NULL, *r[3], *s3 = NULL;
        int k = 0;
        for (char *t = strtok_r(l, " ", &s2); t && k < 5; t = strtok_r(NULL, " ", &s2))
            f[k++] = t;
        if (k < 5)
            continue;
        int j = 0;
        for (char *t = strtok_r(sep + 3, " ", &s3); t && j < 3; t = strtok_r(NULL, " ", &s3))
            r[j++] = t;
        if (j < 3)
            continue;
        int version;
        uint32_t ctrls = 0;
        if (strcmp(r[0], "cgroup2") == 0) {
            version = 2;
        } else if (strcmp(r[0], "cgroup") == 0) {
            version = 1;
            for (char *o = r[2]; *o;) {
                char *e = strchrnul(o, ',');
                ctrls |= controller_bit(o, (size_t)(e - o));
                o = *e ? e + 1 : e;
            }
            if (!ctrls)
                continue; /* name=systemd and other named hierarchies */
        } else {
            continue;
        }
        const char *path = NULL;
        for (size_t i = 0; i < nl; i++)
            if (lines[i].ctrls == ctrls)
                path = lines[i].path;
        if (!path)
            continue;
        char *root = f[3], *point = f[4];
        unescape(root);
        unescape(point);
        /* a cgroup outside the part of the hierarchy this mount shows is unreachable
         * (the reader finds no directory either) */
        size_t rl = strlen(root);
        while (rl > 1 && root[rl - 1] == '/')
            root[--rl] = '\0';
        const char *rel = path;
        if (strcmp(root, "/") != 0) {
            if (strcmp(path, root) == 0)
                rel = "";
            else if (strncmp(path, root, rl) == 0 && path[rl] == '/')
                rel = path + rl;
            else
                continue;
        }
        rc = add_dir(out, n, &cap, version, ctrls, point, rel);
        /* co-mounted controllers get one symlink each (cpu -> cpu,cpuacct): readers
         * that hard-code /sys/fs/cgroup/cpu/ open through it */
        char *slash = strrchr(point, '/');
        for (int b = 0; rc == 0 && slash && CONTROLLERS[b]; b++) {
            if (!(ctrls & (1u << b)))
                continue;
            char alias[PATH_MAX];
            snprintf(alias, sizeof(alias), "%.*s/%s", (int)(slash - point), point, CONTROLLERS[b]);
            if (strcmp(alias, point) != 0 && same_dir(host_root, alias, point))
                rc = add_dir(out, n, &cap, version, ctrls, alias, rel);
        }
    }
    free(mi);
    free(text);
    if (rc < 0) {
        lx_cg_dirs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void lx_cg_dirs_free(struct lx_cg_dir *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].dir);
    free(d);
}
