/* config.json, parsed for the C `create` (create.c).  The Python runtime is the reference
 * (lxbrand/oci/config.py validates every key and words every error): this parser accepts
 * only what the C path implements, with the right types, and answers RT_FALLBACK for
 * anything else -- an unknown key, a user namespace, a personality to show -- before
 * anything is made, so the call goes to Python whole. */
#ifndef LX_RT_SPEC_H
#define LX_RT_SPEC_H
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "process.h"

struct rt_mount {
    const char *destination, *type, *source;
    const char **options; /* NULL-terminated */
};

struct rt_device {
    const char *path;
    char type;            /* c b u p */
    long major, minor;
    unsigned mode;        /* fileMode, 0666 if absent */
    unsigned uid, gid;
};

enum { RT_NS_PID, RT_NS_NET, RT_NS_MNT, RT_NS_IPC, RT_NS_UTS, RT_NS_CGROUP, RT_NS_N };
struct rt_ns {
    int wanted;           /* listed in linux.namespaces */
    const char *path;     /* join this one (NULL: a new one) */
};

struct rt_spec {
    void *json;                  /* owns every string below */
    char bundle[PATH_MAX];
    char rootfs[PATH_MAX];       /* absolute */
    int readonly_root;
    struct rt_process proc;
    const char *hostname, *domainname;
    struct rt_mount *mounts;
    size_t nmounts;
    struct rt_ns ns[RT_NS_N];
    const char *cgroups_path;
    void *resources;             /* linux.resources (json_t), written by cgroups.c */
    void *seccomp;               /* linux.seccomp (json_t) or NULL */
    void *hooks;                 /* hooks (json_t) or NULL */
    void *annotations;           /* annotations (json_t) or NULL */
    const char **masked, **readonly; /* NULL-terminated */
    struct rt_device *devices;
    size_t ndevices;
    void *sysctl;                /* linux.sysctl (json_t) or NULL */
    const char *propagation;     /* linux.rootfsPropagation or NULL */
    uint64_t memory;             /* the personality's view: a memory limit (0: none) */
    double cpus;                 /* and a CPU count (0: none) */
};

/* 0, RT_FALLBACK (Python's to judge), never an error of its own */
int rt_spec_load(const char *bundle, struct rt_spec *s);
void rt_spec_free(struct rt_spec *s);
/* hooks.c: run hooks[kind] with the state as JSON on stdin; 0 or an error message
 * written to err (rt_fail's job is the caller's) */
int rt_hooks_run(void *hooks, const char *kind, const char *state_json, char *err, size_t errlen);
int rt_hooks_has(void *hooks, const char *kind);
#endif
