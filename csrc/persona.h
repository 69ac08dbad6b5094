/* The LX personality's view, served by the engine (persona.c, persona_text.c,
 * persona_cgroup.c): what LXCFS shows a container, without FUSE and without Python.
 *
 *   /proc/meminfo, /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg,
 *   /sys/devices/system/cpu/{online,possible,present}     the sandbox's limits
 *   the cgroup limit files the JVM, Go and libuv read         (v1 and v2 layouts)
 *   /proc/version, /proc/sys/kernel/{osrelease,version,hostname,domainname,ostype}
 *   sysinfo(2), sched_getaffinity(2)
 *
 * Every file starts from the host's own, so keys, order and format are the running
 * kernel's; only values change.  The Python policy layer (lxbrand/personality/)
 * decides what is shown and configures it once (lx_persona_set, or a blob's
 * LX_SEC_PERSONA section); the engine then answers every such call itself: a
 * trapped call of kind LX_ACT_PERSONA, or an open the open pipeline's gate or its
 * Python hooks hand over (lx_persona_open).
 *
 * A C consumer of a blob (lxrun's front end, the container supervisor): lx_blob_import
 * configures the view from the blob's LX_SEC_PERSONA section; the identity files show
 * s->uts, so fill the uname fields the blob leaves to the host (lx_blob_apply_uts)
 * before the program runs; a container's usage is read from the memory cgroup of
 * s->child (set by lx_supervise / lx_supervise_attached).
 *
 * Threads: the view is used by the thread that decides calls (the notify thread on
 * unotify, the tracer on ptrace), one call at a time; it takes no lock. */
#ifndef LX_PERSONA_H
#define LX_PERSONA_H

#include <stdint.h>
#include <sys/types.h>

#include "blob.h"
#include "engine.h"

/* What the view shows (struct lx_persona_conf.flags). */
enum {
    LX_PV_IDENTITY = 1,     /* the /proc identity files, from sup->uts */
    LX_PV_MEMORY = 2,       /* a memory limit: meminfo, sysinfo's memory, cgroup memory files */
    LX_PV_CPUS = 4,         /* a CPU count: cpuinfo, the CPU ranges, sched_getaffinity, cgroup cpu files */
    LX_PV_CGROUPS = 8,      /* serve the limit files of the supervisor's cgroups (lxrun) */
    LX_PV_USAGE_CGROUP = 16, /* usage from the sandbox's memory cgroup, not the walk of its tree */
    LX_PV_KNOWN = 31,
};

/* How old a usage sample, and a file made from it, may be: `free` and `top` read
 * /proc/meminfo several times in a row (100 ms, as LXCFS's caches). */
#define LX_PV_SAMPLE_NS 100000000ull

struct lx_persona_conf {
    uint32_t flags;
    uint64_t memory;     /* bytes (LX_PV_MEMORY) */
    double cpus;         /* shown rounded up (LX_PV_CPUS), 0 < cpus <= 8192 */
    double start;        /* CLOCK_BOOTTIME seconds the sandbox started; 0: when configured */
    char usage_dir[4096]; /* LX_PV_USAGE_CGROUP: the memory cgroup directory; "": the one
                          * the sandbox's first process is in (found at the first sample) */
};

struct lx_persona; /* persona.c */

/* Configure (or replace) the view of s; validates conf (-EINVAL names nothing: the
 * Python layer checks and explains first).  host_root: "" normally; a directory
 * standing for "/" for every host file the view reads (tests inject a host). */
int lx_persona_set(struct lx_sup *s, const struct lx_persona_conf *conf, const char *host_root);
void lx_persona_free(struct lx_sup *s);
/* the configuration in force (-ENOENT: no view): the OCI runtime's C create takes a
 * cached policy's view and sets this container's limits in it */
int lx_persona_conf_get(const struct lx_sup *s, struct lx_persona_conf *out);

/* LX_ACT_PERSONA: answer the call (1, c->ret set) or let it continue natively (0). */
int lx_persona_decide(struct lx_sup *s, struct lx_call *c);
/* An open whose path (read once, by the caller), dirfd, flags and openat2 resolve
 * flags are given: 1 if the view answered it (served: c->ret the new fd, c->sent on
 * unotify; or c->ret = -errno), 0 if it is not a file the view serves. */
int lx_persona_open(struct lx_sup *s, struct lx_call *c, const char *path, int dirfd, uint64_t flags,
                    uint64_t resolve);
/* 1 if the last component of `path` may name a file the view serves, so an open
 * with another basename needs no more thought. */
int lx_persona_wants(const struct lx_sup *s, const char *path);

/* The basenames a view with `flags` may serve (static strings, at most cap into
 * out); returns how many there are.  The Python open pipeline's gate uses them. */
size_t lx_persona_basenames(uint32_t flags, const char **out, size_t cap);

/* What an open of guest path `path` would be served, into *out (lx_buf): 1, 0 (not
 * served), or -errno.  For tests and tools; serving uses the same function. */
int lx_persona_content(struct lx_sup *s, const char *path, struct lx_buf *out);

/* The supervisor's cgroup directories as a reader of /proc/self/cgroup and
 * /proc/self/mountinfo finds them (under host_root): "VERSION CTRL,CTRL DIR\n" per
 * directory into out.  For tests; the served cgroup files come from the same list. */
int lx_persona_cgroup_dirs(struct lx_sup *s, struct lx_buf *out);

/* blob.c's LX_SEC_PERSONA section */
int lx_persona_export(const struct lx_sup *s, struct lx_buf *out);
int lx_persona_import(struct lx_sup *s, const uint8_t *p, size_t len);

/* -- persona_text.c: the files, rendered from the host's text (pure functions) -- */
int lx_pv_meminfo(const char *host, size_t n, uint64_t limit_kb, uint64_t used_kb, struct lx_buf *out);
int lx_pv_cpuinfo(const char *host, size_t n, const int *cpu_ids, int ncpu, struct lx_buf *out);
int lx_pv_stat(const char *host, size_t n, const int *cpu_ids, int ncpu, long long btime, struct lx_buf *out);
int lx_pv_uptime(const char *host, size_t n, double up, int ncpu, int host_ncpu, struct lx_buf *out);
int lx_pv_loadavg(const char *host, size_t n, int ncpu, unsigned tasks, struct lx_buf *out);
int lx_pv_cpu_range(int ncpu, struct lx_buf *out);
int lx_pv_proc_version(const char *host, size_t n, const char *host_sysname, const char *host_release,
                       const char *host_version, const struct lx_utsname *ident, struct lx_buf *out);
int lx_pv_printf(struct lx_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* how many CPUs a list like "0-3,8-9" names (the first cap of them into ids), or -EINVAL */
int lx_pv_cpu_list(const char *text, int *ids, int cap);

/* -- persona_usage.c: (resident kB, threads) of the descendants of pid `top` (walked
 * down the children files), or -errno; the same by scanning every pid's parent chain
 * (all of them: once pid numbers wrap at pid_max a descendant's pid may be below
 * ours).  Paths under host_root ("" normally). */
int lx_pv_tree_usage(const char *host_root, pid_t top, uint64_t *kb, unsigned *tasks);
int lx_pv_scan_usage(const char *host_root, pid_t me, uint64_t *kb, unsigned *tasks);

/* -- persona_cgroup.c: where a reader finds its cgroup's files -- */
struct lx_cg_dir {
    int version;          /* 1 or 2 */
    uint32_t ctrls;       /* v1 controllers (bits of lx_cg_controllers order) */
    char *dir;            /* absolute directory */
};
/* Directories of the cgroup described by `cgroup` (a /proc/PID/cgroup) as mounted per
 * `mountinfo` (a /proc/self/mountinfo); co-mount symlinks (cpu -> cpu,cpuacct) are
 * checked under host_root.  *out: malloc'd array (lx_cg_dirs_free). */
int lx_cg_dirs(const char *cgroup, const char *mountinfo, const char *host_root, struct lx_cg_dir **out,
               size_t *n);
void lx_cg_dirs_free(struct lx_cg_dir *d, size_t n);
const char *lx_cg_controller(int bit); /* the name of controller bit, or NULL */
uint32_t lx_cg_bit(const char *name);  /* the bit of a v1 controller, 0 if unknown */

#endif
