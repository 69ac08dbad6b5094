/* The LX personality's resource view and identity files, served by the engine
 * (persona.h): configuration, the sandbox's usage, the served files and the two
 * syscalls, and the blob section that carries the configuration to C consumers.
 *
 * A served file is a sealed memfd installed in the caller as the open's result
 * (SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND on unotify, inject.c on
 * ptrace).  Files that change slowly are kept as snapshots: one memfd made at most
 * every LX_PV_SAMPLE_NS (or once for the run) that each open reopens read-only
 * through /proc/self/fd, so two readers never share an offset and a write fails
 * with EBADF as on the real file; the others are made per open. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <math.h> /* isfinite: a macro, no libm */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "persona.h"

#ifndef RESOLVE_BENEATH
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif

/* What a served file holds. */
enum what {
    F_MEMINFO, F_CPUINFO, F_CPURANGE, F_STAT, F_UPTIME, F_LOADAVG,
    F_VERSION, F_IDENT, /* F_IDENT: one uname field and a newline */
    F_CG_LIMIT, F_CG_USAGE, F_CG_PEAK, F_CG_NOSWAP, F_CG_QUOTA, F_CG_MAX, F_CG_CPUS,
};

/* a buffer read_host filled, as text (NUL-terminated) */
#define TXT(b) ((char *)(b).data)

#define TTL_OPEN 0            /* made for each open */
#define TTL_RUN UINT64_MAX    /* made once, for the run */

static uint64_t ttl_of(int what)
{
    switch (what) {
    case F_MEMINFO:
    case F_CPUINFO:
        return LX_PV_SAMPLE_NS;
    case F_STAT:
    case F_UPTIME:
    case F_LOADAVG:
    case F_CG_USAGE:
    case F_CG_PEAK:
        return TTL_OPEN;
    default:
        return TTL_RUN;
    }
}

#define RESOURCES (LX_PV_MEMORY | LX_PV_CPUS)

/* The files at fixed paths, and the flags under which each is served. */
static const struct fixed {
    const char *path;
    int what;
    uint32_t need; /* any of these flags */
    size_t field;  /* F_IDENT: the uname field (offset in struct lx_utsname) */
} FIXED[] = {
    {"/proc/meminfo", F_MEMINFO, LX_PV_MEMORY, 0},
    {"/proc/cpuinfo", F_CPUINFO, LX_PV_CPUS, 0},
    {"/sys/devices/system/cpu/online", F_CPURANGE, LX_PV_CPUS, 0},
    {"/sys/devices/system/cpu/possible", F_CPURANGE, LX_PV_CPUS, 0},
    {"/sys/devices/system/cpu/present", F_CPURANGE, LX_PV_CPUS, 0},
    {"/proc/stat", F_STAT, RESOURCES, 0},
    {"/proc/uptime", F_UPTIME, RESOURCES, 0},
    {"/proc/loadavg", F_LOADAVG, RESOURCES, 0},
    {"/proc/version", F_VERSION, LX_PV_IDENTITY, 0},
    {"/proc/sys/kernel/osrelease", F_IDENT, LX_PV_IDENTITY, offsetof(struct lx_utsname, release)},
    {"/proc/sys/kernel/version", F_IDENT, LX_PV_IDENTITY, offsetof(struct lx_utsname, version)},
    {"/proc/sys/kernel/hostname", F_IDENT, LX_PV_IDENTITY, offsetof(struct lx_utsname, nodename)},
    {"/proc/sys/kernel/domainname", F_IDENT, LX_PV_IDENTITY, offsetof(struct lx_utsname, domainname)},
    {"/proc/sys/kernel/ostype", F_IDENT, LX_PV_IDENTITY, offsetof(struct lx_utsname, sysname)},
};
#define NFIXED (sizeof(FIXED) / sizeof(FIXED[0]))

/* The cgroup files: basename, version, controller, content, the limit it needs.
 *   v1 memory/  memory.limit_in_bytes, memory.memsw.limit_in_bytes   the limit
 *               memory.usage_in_bytes, memory.memsw.usage_in_bytes   the sandbox's usage
 *               memory.max_usage_in_bytes, memory.memsw.max_usage_in_bytes  its peak
 *      cpu/     cpu.cfs_quota_us     N x the real cpu.cfs_period_us
 *      cpuset/  cpuset.cpus, cpuset.effective_cpus  0..ceil(N)-1 (the CPUs /sys shows)
 *   v2          memory.max, memory.current, memory.peak, memory.swap.max (0: no swap
 *               is shown), cpu.max ("QUOTA PERIOD"), cpuset.cpus.effective
 * Memory values are what the kernel would store: the limit rounded down to a page,
 * "memory & swap" equal to the limit (SwapTotal is 0 in /proc/meminfo too). */
static const struct cgfile {
    const char *name;
    int version;
    const char *ctrl;
    int what;
} CGFILES[] = {
    {"memory.limit_in_bytes", 1, "memory", F_CG_LIMIT},
    {"memory.memsw.limit_in_bytes", 1, "memory", F_CG_LIMIT},
    {"memory.usage_in_bytes", 1, "memory", F_CG_USAGE},
    {"memory.memsw.usage_in_bytes", 1, "memory", F_CG_USAGE},
    {"memory.max_usage_in_bytes", 1, "memory", F_CG_PEAK},
    {"memory.memsw.max_usage_in_bytes", 1, "memory", F_CG_PEAK},
    {"cpu.cfs_quota_us", 1, "cpu", F_CG_QUOTA},
    {"cpuset.cpus", 1, "cpuset", F_CG_CPUS},
    {"cpuset.effective_cpus", 1, "cpuset", F_CG_CPUS},
    {"memory.max", 2, "memory", F_CG_LIMIT},
    {"memory.current", 2, "memory", F_CG_USAGE},
    {"memory.peak", 2, "memory", F_CG_PEAK},
    {"memory.swap.max", 2, "memory", F_CG_NOSWAP},
    {"cpu.max", 2, "cpu", F_CG_MAX},
    {"cpuset.cpus.effective", 2, "cpuset", F_CG_CPUS},
};
#define NCGFILES (sizeof(CGFILES) / sizeof(CGFILES[0]))

static uint32_t cg_need(const struct cgfile *f)
{
    return strcmp(f->ctrl, "memory") == 0 ? LX_PV_MEMORY : LX_PV_CPUS;
}

struct pv_file {
    char *path;         /* guest path: absolute, normal */
    const char *base;   /* its basename (in path) */
    int what;
    size_t field;       /* F_IDENT: as struct fixed */
    int cg_version;     /* cgroup files: 1 or 2; 0 otherwise */
    char *cg_dir;       /* cgroup files: the directory */
    int snap_fd;        /* snapshot memfd, -1 if none */
    uint64_t snap_until;
};

struct lx_persona {
    struct lx_persona_conf conf;
    char *host_root;
    double start;              /* CLOCK_BOOTTIME seconds */
    long long btime;           /* the wall-clock second it corresponds to */
    int *cpu_ids, ncpu, host_ncpu;
    struct pv_file *files;
    size_t nfiles;
    int cg_built;              /* the cgroup files were looked for */
    /* usage, sampled at most every LX_PV_SAMPLE_NS */
    uint64_t sample_at, used_kb, peak_kb;
    unsigned tasks;
    int sampled;
    char *usage_dir;           /* the memory cgroup read for usage, once found */
    int usage_v2;
    int have_children;         /* /proc/PID/task/TID/children exists (CONFIG_PROC_CHILDREN) */
    int fd_dir;                /* this process's /proc/self/fd, for reopening snapshots */
    pid_t fd_dir_pid;
    const char *bases[NFIXED + NCGFILES]; /* the basenames served (lx_persona_basenames) */
    size_t nbases;
};

/* -- configuration -------------------------------------------------------------------- */

static double boottime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* a host file under host_root, whole, NUL-terminated (out->len excludes the NUL) */
static int read_host(const struct lx_persona *p, const char *path, struct lx_buf *out)
{
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof(full), "%s%s", p->host_root, path) >= sizeof(full))
        return -ENAMETOOLONG;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((rc = lx_buf_put(out, chunk, (size_t)n)) < 0)
            break;
    }
    close(fd);
    if (rc == 0 && (rc = lx_buf_put(out, "", 1)) == 0)
        out->len--;
    return rc;
}

static int host_exists(const struct lx_persona *p, const char *path)
{
    char full[PATH_MAX];
    snprintf(full, sizeof(full), "%s%s", p->host_root, path);
    return access(full, F_OK) == 0;
}

static void files_free(struct lx_persona *p)
{
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].path);
        free(p->files[i].cg_dir);
        if (p->files[i].snap_fd >= 0)
            close(p->files[i].snap_fd);
    }
    free(p->files);
    p->files = NULL;
    p->nfiles = 0;
}

static int add_file(struct lx_persona *p, const char *path, int what, int cg_version, const char *cg_dir)
{
    struct pv_file *n = realloc(p->files, (p->nfiles + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    p->files = n;
    struct pv_file *f = &p->files[p->nfiles];
    memset(f, 0, sizeof(*f));
    f->snap_fd = -1;
    f->what = what;
    f->cg_version = cg_version;
    f->path = strdup(path);
    f->cg_dir = cg_dir ? strdup(cg_dir) : NULL;
    if (!f->path || (cg_dir && !f->cg_dir)) {
        free(f->path);
        free(f->cg_dir);
        return -ENOMEM;
    }
    f->base = strrchr(f->path, '/') + 1;
    p->nfiles++;
    return 0;
}

static void persona_free(struct lx_persona *p)
{
    if (!p)
        return;
    files_free(p);
    free(p->cpu_ids);
    free(p->usage_dir);
    free(p->host_root);
    if (p->fd_dir >= 0 && p->fd_dir_pid == getpid())
        close(p->fd_dir);
    free(p);
}

void lx_persona_free(struct lx_sup *s)
{
    persona_free(s->persona);
    s->persona = NULL;
}

static int conf_valid(const struct lx_persona_conf *c)
{
    if (!c->flags || (c->flags & ~(uint32_t)LX_PV_KNOWN))
        return 0;
    if ((c->flags & LX_PV_MEMORY) ? c->memory < (4u << 20) : c->memory != 0)
        return 0;
    if ((c->flags & LX_PV_CPUS) ? !(isfinite(c->cpus) && c->cpus > 0 && c->cpus <= 8192) : c->cpus != 0)
        return 0;
    if (!isfinite(c->start) || c->start < 0)
        return 0;
    size_t dl = strnlen(c->usage_dir, sizeof(c->usage_dir));
    if (dl == sizeof(c->usage_dir) || (dl && (c->usage_dir[0] != '/' || !(c->flags & LX_PV_USAGE_CGROUP))))
        return 0;
    return 1;
}

int lx_persona_set(struct lx_sup *s, const struct lx_persona_conf *conf, const char *host_root)
{
    if (!conf_valid(conf) || !host_root || (*host_root && *host_root != '/'))
        return -EINVAL;
    struct lx_persona *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->conf = *conf;
    p->fd_dir = -1;
    p->host_root = strdup(host_root);
    if (!p->host_root)
        goto nomem;
    size_t rl = strlen(p->host_root);
    while (rl && p->host_root[rl - 1] == '/')
        p->host_root[--rl] = '\0';

    /* the sandbox "booted" now, or when the layer above says it started */
    double now_boot = boottime();
    p->start = conf->start > 0 ? conf->start : now_boot;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    p->btime = (long long)((double)wall.tv_sec + (double)wall.tv_nsec / 1e9 - (now_boot - p->start));

    /* the first ceil(N) CPUs of the supervisor's affinity, renumbered from 0 */
    cpu_set_t *set = CPU_ALLOC(8192);
    size_t setsz = CPU_ALLOC_SIZE(8192);
    if (!set)
        goto nomem;
    int online = 0;
    if (sched_getaffinity(0, setsz, set) == 0)
        online = CPU_COUNT_S(setsz, set);
    p->cpu_ids = calloc((size_t)(online ? online : 1), sizeof(int));
    if (!p->cpu_ids) {
        CPU_FREE(set);
        goto nomem;
    }
    for (int c = 0, k = 0; c < 8192 && k < online; c++)
        if (CPU_ISSET_S(c, setsz, set))
            p->cpu_ids[k++] = c;
    CPU_FREE(set);
    if (!online) {
        online = 1; /* cannot happen for a running process; show one CPU */
        p->cpu_ids[0] = 0;
    }
    p->ncpu = online;
    if (conf->flags & LX_PV_CPUS) {
        int up = (int)conf->cpus; /* rounded up: docker's --cpus 1.5 shows 2 */
        if (up < conf->cpus)
            up++;
        if (up < online)
            p->ncpu = up < 1 ? 1 : up;
    }
    struct lx_buf b = {0};
    p->host_ncpu = read_host(p, "/sys/devices/system/cpu/online", &b) == 0 ? lx_pv_cpu_list(TXT(b), NULL, 0) : 0;
    if (p->host_ncpu <= 0)
        p->host_ncpu = online;
    lx_buf_free(&b);

    char children[64];
    snprintf(children, sizeof(children), "/proc/self/task/%d/children", (int)syscall(SYS_gettid));
    p->have_children = host_exists(p, children);

    for (size_t i = 0; i < NFIXED; i++)
        if (FIXED[i].need & conf->flags) {
            if (add_file(p, FIXED[i].path, FIXED[i].what, 0, NULL) < 0)
                goto nomem;
            p->files[p->nfiles - 1].field = FIXED[i].field;
        }
    if (!(conf->flags & LX_PV_CGROUPS) || !(conf->flags & RESOURCES))
        p->cg_built = 1; /* no cgroup files to look for */
    p->nbases = lx_persona_basenames(conf->flags, p->bases, sizeof(p->bases) / sizeof(p->bases[0]));

    persona_free(s->persona);
    s->persona = p;
    return 0;
nomem:
    persona_free(p);
    return -ENOMEM;
}

/* The directories of the cgroup a /proc/PID/cgroup file names, as our mountinfo
 * mounts them (persona_cgroup.c). */
static int cgroup_dirs(const struct lx_persona *p, const char *cgroup_file, struct lx_cg_dir **d, size_t *n)
{
    struct lx_buf cg = {0}, mi = {0};
    int rc = read_host(p, cgroup_file, &cg);
    if (rc == 0)
        rc = read_host(p, "/proc/self/mountinfo", &mi);
    if (rc == 0)
        rc = lx_cg_dirs(TXT(cg), TXT(mi), p->host_root, d, n);
    lx_buf_free(&cg);
    lx_buf_free(&mi);
    return rc;
}

/* -- the sandbox's usage ----------------------------------------------------------------- */

static int read_u64(const struct lx_persona *p, const char *dir, const char *name, uint64_t *v)
{
    char path[PATH_MAX];
    struct lx_buf b = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int rc = read_host(p, path, &b);
    if (rc == 0) {
        char *e;
        errno = 0;
        *v = strtoull(TXT(b), &e, 10);
        if (e == TXT(b) || errno)
            rc = -EINVAL;
    }
    lx_buf_free(&b);
    return rc;
}

/* The memory cgroup the sandbox's first process is in, as its /proc/PID/cgroup and
 * our mountinfo place it (the directory a reader inside would find). */
static int find_usage_dir(struct lx_sup *s, struct lx_persona *p)
{
    if (p->conf.usage_dir[0]) {
        p->usage_dir = strdup(p->conf.usage_dir);
    } else {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)(s->child > 0 ? s->child : getpid()));
        struct lx_cg_dir *d = NULL;
        size_t n = 0;
        int rc = cgroup_dirs(p, path, &d, &n);
        if (rc < 0)
            return rc;
        const char *v1 = NULL, *v2 = NULL;
        for (size_t i = 0; i < n; i++) {
            if (d[i].version == 1 && (d[i].ctrls & lx_cg_bit("memory")) && !v1)
                v1 = d[i].dir;
            if (d[i].version == 2 && !v2)
                v2 = d[i].dir;
        }
        /* the memory controller lives in v1 where it is mounted there (hybrid hosts) */
        const char *dir = v1 ? v1 : v2;
        p->usage_dir = dir ? strdup(dir) : NULL;
        lx_cg_dirs_free(d, n);
        if (!dir)
            return -ENOENT;
    }
    if (!p->usage_dir)
        return -ENOMEM;
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/memory.current", p->usage_dir);
    p->usage_v2 = host_exists(p, f);
    return 0;
}

static unsigned count_lines(const struct lx_buf *b)
{
    unsigned n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->data[i] == '\n';
    return n;
}

/* A memory cgroup's usage as LXCFS reads it: usage (memory.current, v1
 * memory.usage_in_bytes) minus the page cache (memory.stat "file", v1 "total_cache"),
 * which the kernel reclaims before it fails an allocation; threads from cgroup.threads
 * (v1 tasks). */
static int cgroup_usage(struct lx_sup *s, struct lx_persona *p, uint64_t *kb, unsigned *tasks)
{
    if (!p->usage_dir) {
        int rc = find_usage_dir(s, p);
        if (rc < 0)
            return rc;
    }
    uint64_t usage = 0;
    int rc = read_u64(p, p->usage_dir, p->usage_v2 ? "memory.current" : "memory.usage_in_bytes", &usage);
    if (rc < 0)
        return rc;
    char path[PATH_MAX];
    struct lx_buf b = {0};
    uint64_t cache = 0;
    snprintf(path, sizeof(path), "%s/memory.stat", p->usage_dir);
    if (read_host(p, path, &b) == 0) {
        const char *key = p->usage_v2 ? "file " : "total_cache ";
        size_t kl = strlen(key);
        for (const char *l = TXT(b); l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
            if (strncmp(l, key, kl) == 0) {
                cache = strtoull(l + kl, NULL, 10);
                break;
            }
    }
    lx_buf_free(&b);
    *kb = (usage > cache ? usage - cache : 0) / 1024;
    snprintf(path, sizeof(path), "%s/%s", p->usage_dir, p->usage_v2 ? "cgroup.threads" : "tasks");
    *tasks = read_host(p, path, &b) == 0 ? count_lines(&b) : 1;
    lx_buf_free(&b);
    return 0;
}

/* Sample the sandbox's usage when the last sample is older than LX_PV_SAMPLE_NS. */
static void sample(struct lx_sup *s, struct lx_persona *p)
{
    uint64_t now = lx_now_ns();
    if (p->sampled && now - p->sample_at < LX_PV_SAMPLE_NS)
        return;
    uint64_t kb = 0;
    unsigned tasks = 0;
    int rc = -ENOENT;
    if (p->conf.flags & LX_PV_USAGE_CGROUP)
        rc = cgroup_usage(s, p, &kb, &tasks);
    /* the supervisor's descendants: the sandbox's tree (lxrun), or a container whose
     * cgroup cannot be read */
    if (rc < 0 && p->have_children)
        rc = lx_pv_tree_usage(p->host_root, getpid(), &kb, &tasks);
    if (rc < 0)
        rc = lx_pv_scan_usage(p->host_root, getpid(), &kb, &tasks);
    if (rc < 0)
        return; /* keep the last sample */
    p->used_kb = kb;
    p->tasks = tasks;
    if (kb > p->peak_kb)
        p->peak_kb = kb;
    p->sample_at = now;
    p->sampled = 1;
}

static unsigned tasks_now(struct lx_sup *s, struct lx_persona *p)
{
    sample(s, p);
    return p->tasks ? p->tasks : 1; /* at least the caller */
}

/* -- the files ------------------------------------------------------------------------------ */

/* a cgroup's own CPU period (v1 cpu.cfs_period_us, v2 the second field of cpu.max) */
static long cg_period(const struct lx_persona *p, const struct pv_file *f)
{
    char path[PATH_MAX];
    struct lx_buf b = {0};
    snprintf(path, sizeof(path), "%s/%s", f->cg_dir, f->cg_version == 1 ? "cpu.cfs_period_us" : "cpu.max");
    long period = 100000; /* the kernel's default */
    if (read_host(p, path, &b) == 0) {
        char *last = strrchr(TXT(b), ' ');
        long v = strtol(last ? last + 1 : TXT(b), NULL, 10);
        if (v > 0)
            period = v;
    }
    lx_buf_free(&b);
    return period;
}

static int render(struct lx_sup *s, struct lx_persona *p, struct pv_file *f, struct lx_buf *out)
{
    struct lx_buf host = {0};
    int rc = 0;
    const struct lx_utsname *u = &s->uts;
    switch (f->what) {
    case F_MEMINFO:
        if ((rc = read_host(p, "/proc/meminfo", &host)) == 0) {
            sample(s, p);
            rc = lx_pv_meminfo(TXT(host), host.len, p->conf.memory / 1024, p->used_kb, out);
        }
        break;
    case F_CPUINFO:
        if ((rc = read_host(p, "/proc/cpuinfo", &host)) == 0)
            rc = lx_pv_cpuinfo(TXT(host), host.len, p->cpu_ids, p->ncpu, out);
        break;
    case F_CPURANGE:
    case F_CG_CPUS:
        rc = lx_pv_cpu_range(p->ncpu, out);
        break;
    case F_STAT:
        if ((rc = read_host(p, "/proc/stat", &host)) == 0)
            rc = lx_pv_stat(TXT(host), host.len, p->cpu_ids, p->ncpu, p->btime, out);
        break;
    case F_UPTIME: {
        double up = boottime() - p->start;
        if ((rc = read_host(p, "/proc/uptime", &host)) == 0)
            rc = lx_pv_uptime(TXT(host), host.len, up > 0 ? up : 0, p->ncpu, p->host_ncpu, out);
        break;
    }
    case F_LOADAVG:
        if ((rc = read_host(p, "/proc/loadavg", &host)) == 0)
            rc = lx_pv_loadavg(TXT(host), host.len, p->ncpu, tasks_now(s, p), out);
        break;
    case F_VERSION: {
        struct utsname h;
        uname(&h);
        if (read_host(p, "/proc/version", &host) < 0)
            host.len = 0; /* made from the uname fields then */
        rc = lx_pv_proc_version(host.data ? TXT(host) : "", host.len, h.sysname, h.release, h.version, u, out);
        break;
    }
    case F_IDENT:
        rc = lx_pv_printf(out, "%.*s\n", LX_UTS_LEN - 1, (const char *)u + f->field);
        break;
    case F_CG_LIMIT: {
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE); /* the kernel keeps limits in pages */
        rc = lx_pv_printf(out, "%llu\n", (unsigned long long)(p->conf.memory / page * page));
        break;
    }
    case F_CG_USAGE:
        sample(s, p);
        rc = lx_pv_printf(out, "%llu\n", (unsigned long long)p->used_kb * 1024);
        break;
    case F_CG_PEAK:
        sample(s, p);
        rc = lx_pv_printf(out, "%llu\n", (unsigned long long)(p->peak_kb > p->used_kb ? p->peak_kb : p->used_kb) * 1024);
        break;
    case F_CG_NOSWAP:
        rc = lx_pv_printf(out, "0\n");
        break;
    case F_CG_QUOTA:
    case F_CG_MAX: {
        long period = cg_period(p, f);
        double q = p->conf.cpus * (double)period;
        long quota = (long)q; /* rounded half to even */
        if (q - (double)quota > 0.5 || (q - (double)quota == 0.5 && (quota & 1)))
            quota++;
        if (quota < 1000)
            quota = 1000; /* the kernel's minimum quota: 1 ms */
        rc = f->what == F_CG_QUOTA ? lx_pv_printf(out, "%ld\n", quota) : lx_pv_printf(out, "%ld %ld\n", quota, period);
        break;
    }
    default:
        rc = -EINVAL;
    }
    lx_buf_free(&host);
    return rc;
}

/* The cgroup files of the supervisor's cgroups, looked for on the first open of a
 * cgroup file's basename (not at start-up): only files the kernel has there are
 * served, so the answer is always the file a cgroup with this limit would have. */
static int build_cgroup_files(struct lx_persona *p)
{
    p->cg_built = 1;
    struct lx_cg_dir *d = NULL;
    size_t n = 0;
    int rc = cgroup_dirs(p, "/proc/self/cgroup", &d, &n);
    if (rc < 0)
        return rc == -ENOMEM ? rc : 0; /* no /proc/self/cgroup: nothing a reader could find either */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (size_t k = 0; rc == 0 && k < NCGFILES; k++) {
            const struct cgfile *c = &CGFILES[k];
            if (c->version != d[i].version || !(cg_need(c) & p->conf.flags))
                continue;
            if (c->version == 1 && !(d[i].ctrls & lx_cg_bit(c->ctrl)))
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", strcmp(d[i].dir, "/") ? d[i].dir : "", c->name);
            if (host_exists(p, path))
                rc = add_file(p, path, c->what, c->version, d[i].dir);
        }
    }
    lx_cg_dirs_free(d, n);
    return rc;
}

static int is_cg_name(const char *base)
{
    for (size_t k = 0; k < NCGFILES; k++)
        if (strcmp(base, CGFILES[k].name) == 0)
            return 1;
    return 0;
}

static struct pv_file *find_file(struct lx_persona *p, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!p->cg_built && is_cg_name(base) && build_cgroup_files(p) < 0)
        return NULL;
    for (size_t i = 0; i < p->nfiles; i++)
        if (strcmp(p->files[i].base, base) == 0 && strcmp(p->files[i].path, path) == 0)
            return &p->files[i];
    return NULL;
}

static const int SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

static int sealed(const char *name, const void *data, size_t len)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < len) {
        ssize_t n = pwrite(fd, (const char *)data + off, len - off, (off_t)off);
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        off += (size_t)n;
    }
    if (fcntl(fd, F_ADD_SEALS, SEALS) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* a new read-only open file description of the snapshot (its own offset) */
static int reopen(struct lx_persona *p, struct pv_file *f)
{
    if (p->fd_dir < 0 || p->fd_dir_pid != getpid()) {
        /* a forked child's copy names its parent's table: open our own */
        p->fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        p->fd_dir_pid = getpid();
    }
    char name[16];
    snprintf(name, sizeof(name), "%d", f->snap_fd);
    int fd = p->fd_dir >= 0 ? openat(p->fd_dir, name, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0)
        return fd;
    /* no procfs of our own to reopen through: a copy of its own */
    struct stat st;
    if (fstat(f->snap_fd, &st) < 0)
        return -errno;
    char *data = malloc((size_t)st.st_size + 1);
    if (!data)
        return -ENOMEM;
    ssize_t n = pread(f->snap_fd, data, (size_t)st.st_size, 0);
    fd = n == st.st_size ? sealed(f->base, data, (size_t)n) : -EIO;
    free(data);
    return fd;
}

/* an fd on the file's content for one open (the caller closes it) */
static int content_fd(struct lx_sup *s, struct lx_persona *p, struct pv_file *f)
{
    uint64_t ttl = ttl_of(f->what), now = lx_now_ns();
    if (ttl != TTL_OPEN && f->snap_fd >= 0 && now < f->snap_until)
        return reopen(p, f);
    struct lx_buf b = {0};
    int rc = render(s, p, f, &b);
    int fd = rc < 0 ? rc : sealed(f->base, TXT(b) ? (const char *)TXT(b) : "", b.len);
    lx_buf_free(&b);
    if (fd < 0 || ttl == TTL_OPEN)
        return fd;
    if (f->snap_fd >= 0)
        close(f->snap_fd); /* a reader keeps the content it opened */
    f->snap_fd = fd;
    f->snap_until = ttl == TTL_RUN ? UINT64_MAX : now + ttl;
    return reopen(p, f);
}

int lx_persona_content(struct lx_sup *s, const char *path, struct lx_buf *out)
{
    struct lx_persona *p = s->persona;
    struct pv_file *f = p ? find_file(p, path) : NULL;
    if (!f)
        return 0;
    int fd = content_fd(s, p, f);
    if (fd < 0)
        return fd;
    char chunk[8192];
    ssize_t n;
    int rc = 0;
    off_t off = 0;
    while (rc == 0 && (n = pread(fd, chunk, sizeof(chunk), off)) > 0) {
        rc = lx_buf_put(out, chunk, (size_t)n);
        off += n;
    }
    close(fd);
    return rc < 0 ? rc : 1;
}

/* -- opens ------------------------------------------------------------------------------------ */

size_t lx_persona_basenames(uint32_t flags, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NFIXED; i++) {
        if (!(FIXED[i].need & flags))
            continue;
        const char *b = strrchr(FIXED[i].path, '/') + 1;
        int dup = 0;
        for (size_t k = 0; k < n && k < cap; k++)
            dup |= strcmp(out[k], b) == 0;
        if (!dup && n++ < cap)
            out[n - 1] = b;
    }
    for (size_t i = 0; (flags & LX_PV_CGROUPS) && (flags & RESOURCES) && i < NCGFILES; i++)
        if ((cg_need(&CGFILES[i]) & flags) && n++ < cap)
            out[n - 1] = CGFILES[i].name;
    return n;
}

int lx_persona_wants(const struct lx_sup *s, const char *path)
{
    const struct lx_persona *p = s->persona;
    if (!p)
        return 0;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *base = memrchr(path, '/', n);
    base = base ? base + 1 : path;
    size_t bl = (size_t)(path + n - base);
    for (size_t i = 0; i < p->nbases; i++)
        if (p->bases[i][0] == base[0] && strlen(p->bases[i]) == bl && memcmp(p->bases[i], base, bl) == 0)
            return 1;
    return 0;
}

/* A directory the task named by readlink(/proc/TID/LINK), in the guest's view (its
 * root, /proc/TID/root, taken off); 0 or -errno. */
static int guest_dir(pid_t tid, const char *link, char *out, size_t cap)
{
    char path[64], root[PATH_MAX];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)tid, link);
    ssize_t n = readlink(path, out, cap - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/root", (int)tid);
    ssize_t r = readlink(path, root, sizeof(root) - 1);
    if (r < 0)
        return -errno;
    root[r] = '\0';
    if (out[0] != '/')
        return -ENOTDIR; /* e.g. a dirfd that is a pipe: the kernel says ENOTDIR */
    if (strcmp(root, "/") == 0)
        return 0;
    if (strcmp(out, root) == 0) {
        strcpy(out, "/");
        return 0;
    }
    if (strncmp(out, root, (size_t)r) == 0 && out[r] == '/') {
        memmove(out, out + r, (size_t)(n - r) + 1);
        return 0;
    }
    return -EXDEV; /* outside the guest's root (a directory fd opened before a chroot) */
}

/* `path` made absolute (against base) and normal, lexically: "." and ".." and doubled
 * slashes resolved, ".." at the root staying there (posixpath.normpath's rules). */
static int normalise(const char *base, const char *path, char *out, size_t cap)
{
    char tmp[2 * PATH_MAX + 2];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", path[0] == '/' ? "" : base, path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    size_t o = 0;
    for (char *p = tmp; *p;) {
        while (*p == '/')
            p++;
        char *e = strchrnul(p, '/');
        size_t l = (size_t)(e - p);
        if (l == 0 || (l == 1 && p[0] == '.')) {
            /* nothing */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the slash before the dropped component */
        } else {
            if (o + 1 + l + 1 > cap)
                return -ENAMETOOLONG;
            out[o++] = '/';
            memcpy(out + o, p, l);
            o += l;
        }
        p = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return 0;
}

int lx_persona_open(struct lx_sup *s, struct lx_call *c, const char *path, int dirfd, uint64_t flags,
                    uint64_t resolve)
{
    struct lx_persona *p = s->persona;
    if (!p || !*path)
        return 0;
    /* the cheap check first: most opens (libraries, modules) stop here */
    if (!lx_persona_wants(s, path))
        return 0;

    /* the path as the guest sees it: absolute, normal, relative to its root */
    const char *rel = path;
    if (resolve & RESOLVE_IN_ROOT) {
        while (*rel == '/')
            rel++; /* openat2: dirfd is the root */
        if (!*rel)
            rel = ".";
    } else if ((resolve & RESOLVE_BENEATH) && path[0] == '/') {
        return 0; /* the kernel answers EXDEV */
    }
    char dir[PATH_MAX], guest[PATH_MAX];
    dir[0] = '/', dir[1] = '\0'; /* an absolute path needs no base: no 4 KiB to clear */
    if (rel[0] != '/') {
        char link[32];
        if (dirfd == AT_FDCWD)
            snprintf(link, sizeof(link), "cwd");
        else
            snprintf(link, sizeof(link), "fd/%d", dirfd);
        if (guest_dir(c->tid, link, dir, sizeof(dir)) < 0)
            return 0; /* the task or its fd went away, or it is not a directory: the kernel's */
    }
    if (normalise(dir, rel, guest, sizeof(guest)) < 0)
        return 0;
    struct pv_file *f = find_file(p, guest);
    if (!f)
        return 0;
    /* only a plain read-only open of an existing file is what a served file stands
     * for; writes (a program setting its own limit, sethostname through /proc) and
     * O_DIRECTORY opens reach the kernel */
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_PATH | __O_TMPFILE | O_DIRECTORY)))
        return 0;
    if (path[strlen(path) - 1] == '/') {
        c->ret = -ENOTDIR;
        return 1;
    }
    int fd = content_fd(s, p, f);
    if (fd < 0) {
        c->ret = fd; /* the view cannot be made: the open fails, it never shows the host's */
        return 1;
    }
    int cloexec = (flags & O_CLOEXEC) != 0;
    c->ret = lx_install_fd(s, c, fd, cloexec);
    close(fd);
    return 1;
}

/* -- the syscalls ------------------------------------------------------------------------------ */

_Static_assert(sizeof(struct sysinfo) == 112, "struct sysinfo is x86_64's");

/* sysinfo(2): the host's answer with uptime, loads, procs, memory and swap replaced */
static int answer_sysinfo(struct lx_sup *s, struct lx_persona *p, struct lx_call *c)
{
    if (!c->args[0]) {
        c->ret = -EFAULT;
        return 1;
    }
    struct sysinfo si;
    if (sysinfo(&si) < 0) {
        c->ret = -errno;
        return 1;
    }
    double up = boottime() - p->start;
    si.uptime = up > 0 ? (long)up : 0;
    unsigned tasks = tasks_now(s, p);
    si.procs = (unsigned short)(tasks < 0xFFFF ? tasks : 0xFFFF); /* the sandbox's threads */
    for (int i = 0; i < 3; i++) {
        unsigned long cap = (unsigned long)p->ncpu << 16; /* SI_LOAD_SHIFT */
        if (si.loads[i] > cap)
            si.loads[i] = cap;
    }
    if (p->conf.flags & LX_PV_MEMORY) {
        uint64_t unit = si.mem_unit ? si.mem_unit : 1;
        uint64_t total_kb = p->conf.memory / 1024, host_kb = (uint64_t)si.totalram * unit / 1024;
        if (host_kb < total_kb)
            total_kb = host_kb;
        uint64_t free_kb = total_kb > p->used_kb ? total_kb - p->used_kb : 0;
        si.totalram = (unsigned long)(total_kb * 1024 / unit);
        si.freeram = (unsigned long)(free_kb * 1024 / unit);
        si.sharedram = si.bufferram = si.totalswap = si.freeswap = 0;
    }
    /* the caller waits in the notification: a valid id means its pid still names it */
    if (!lx_id_valid(s, c->id)) {
        c->ret = -ESRCH;
        return 1;
    }
    c->ret = lx_mem_write(c->pid, c->args[0], &si, sizeof(si)) < 0 ? -EFAULT : 0;
    return 1;
}

/* sched_getaffinity(2): the kernel's answer for the task, then only the first N
 * allowed CPUs kept (the return value, the mask's size, stays the kernel's) */
static int answer_affinity(struct lx_sup *s, struct lx_persona *p, struct lx_call *c)
{
    pid_t pid = (pid_t)(uint32_t)c->args[0];
    /* the guest's pid names the same task here: lxrun shares the pid namespace; a
     * container's supervisor sees its pids through /proc (DIVERGENCE.md) */
    pid_t target = pid ? pid : c->tid;
    unsigned size = (unsigned)c->args[1];
    if (size > 1u << 16)
        size = 1u << 16;
    unsigned char *buf = calloc(size > 8 ? size : 8, 1);
    if (!buf) {
        c->ret = -ENOMEM;
        return 1;
    }
    long ret = syscall(SYS_sched_getaffinity, target, size, buf);
    if (ret < 0) {
        c->ret = -errno;
        free(buf);
        return 1;
    }
    int kept = 0;
    for (long bit = 0; bit < ret * 8; bit++) {
        unsigned char m = (unsigned char)(1u << (bit % 8));
        if (!(buf[bit / 8] & m))
            continue;
        if (kept < p->ncpu)
            kept++;
        else
            buf[bit / 8] &= (unsigned char)~m;
    }
    if (!lx_id_valid(s, c->id))
        c->ret = -ESRCH;
    else
        c->ret = lx_mem_write(c->pid, c->args[2], buf, (size_t)ret) < 0 ? -EFAULT : ret;
    free(buf);
    return 1;
}

int lx_persona_decide(struct lx_sup *s, struct lx_call *c)
{
    struct lx_persona *p = s->persona;
    int dirfd = AT_FDCWD;
    uint64_t path_addr, flags, resolve = 0;
    if (!p) {
        c->cont = 1; /* no view configured: the host's */
        return 0;
    }
    switch (c->nr) {
    case SYS_sysinfo:
        return answer_sysinfo(s, p, c);
    case SYS_sched_getaffinity:
        if (p->conf.flags & LX_PV_CPUS)
            return answer_affinity(s, p, c);
        c->cont = 1;
        return 0;
    case SYS_open:
        path_addr = c->args[0];
        flags = c->args[1];
        break;
    case SYS_openat:
        dirfd = (int)c->args[0];
        path_addr = c->args[1];
        flags = c->args[2];
        break;
    case SYS_openat2: {
        /* struct open_how {u64 flags, mode, resolve}: anything the kernel would refuse
         * (copy_struct_from_user: too small, too large, unknown fields set) it refuses */
        uint64_t how[3], size = c->args[3];
        unsigned char tail[64];
        if (size < sizeof(how) || size > 4096 || lx_mem_read(c->pid, c->args[2], how, sizeof(how)) != sizeof(how)) {
            c->cont = 1;
            return 0;
        }
        for (uint64_t off = sizeof(how); off < size;) {
            size_t n = size - off < sizeof(tail) ? (size_t)(size - off) : sizeof(tail);
            if (lx_mem_read(c->pid, c->args[2] + off, tail, n) != (ssize_t)n) {
                c->cont = 1;
                return 0;
            }
            for (size_t i = 0; i < n; i++)
                if (tail[i]) {
                    c->cont = 1;
                    return 0;
                }
            off += n;
        }
        dirfd = (int)c->args[0];
        path_addr = c->args[1];
        flags = how[0];
        resolve = how[2];
        break;
    }
    default:
        c->cont = 1;
        return 0;
    }
    /* read once; an open this view does not answer continues, and the kernel reads
     * the path again: sound for a cosmetic view (the program can only get the real file) */
    char path[4096];
    ssize_t n = lx_mem_read_str(c->pid, path_addr, path, sizeof(path));
    if (n <= 0 || (size_t)n >= sizeof(path) - 1 || !lx_persona_open(s, c, path, dirfd, flags, resolve)) {
        c->cont = 1;
        return 0;
    }
    return 1;
}

/* -- the blob section ----------------------------------------------------------------------- */

/* LX_SEC_PERSONA's payload: this header, then dir_len bytes of usage_dir (no NUL). */
struct pv_wire {
    uint32_t flags, dir_len;
    uint64_t memory;
    double cpus, start;
};

int lx_persona_conf_get(const struct lx_sup *s, struct lx_persona_conf *out)
{
    if (!s->persona)
        return -ENOENT;
    *out = s->persona->conf;
    return 0;
}

int lx_persona_export(const struct lx_sup *s, struct lx_buf *out)
{
    const struct lx_persona *p = s->persona;
    if (!p)
        return 0;
    /* a start the layer above gave travels; "when configured" stays that */
    struct pv_wire w = {p->conf.flags, (uint32_t)strlen(p->conf.usage_dir), p->conf.memory, p->conf.cpus,
                        p->conf.start};
    int rc = lx_buf_put(out, &w, sizeof(w));
    return rc ? rc : lx_buf_put(out, p->conf.usage_dir, w.dir_len);
}

int lx_persona_import(struct lx_sup *s, const uint8_t *p, size_t len)
{
    struct pv_wire w;
    struct lx_persona_conf conf;
    if (len < sizeof(w))
        return -EINVAL;
    memcpy(&w, p, sizeof(w));
    if (w.dir_len >= sizeof(conf.usage_dir) || len != sizeof(w) + w.dir_len ||
        memchr(p + sizeof(w), '\0', w.dir_len))
        return -EINVAL;
    memset(&conf, 0, sizeof(conf));
    conf.flags = w.flags;
    conf.memory = w.memory;
    conf.cpus = w.cpus;
    conf.start = w.start;
    memcpy(conf.usage_dir, p + sizeof(w), w.dir_len);
    return lx_persona_set(s, &conf, "");
}

int lx_persona_cgroup_dirs(struct lx_sup *s, struct lx_buf *out)
{
    struct lx_persona *p = s->persona;
    if (!p)
        return -EINVAL;
    struct lx_cg_dir *d = NULL;
    size_t n = 0;
    int rc = cgroup_dirs(p, "/proc/self/cgroup", &d, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = lx_pv_printf(out, "%d ", d[i].version);
        const char *sep = "";
        for (int b = 0; rc == 0 && lx_cg_controller(b); b++)
            if (d[i].ctrls & (1u << b)) {
                rc = lx_pv_printf(out, "%s%s", sep, lx_cg_controller(b));
                sep = ",";
            }
        if (rc == 0)
            rc = lx_pv_printf(out, " %s\n", d[i].dir);
    }
    lx_cg_dirs_free(d, n);
    return rc;
}
