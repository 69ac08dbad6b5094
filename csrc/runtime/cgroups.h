/* A container's cgroups for the C create (cgroups.c; lxbrand/oci/cgroups.py is the
 * reference): one directory per mounted hierarchy. */
#ifndef LX_RT_CGROUPS_H
#define LX_RT_CGROUPS_H
#include <limits.h>
#include <sys/types.h>

#include "runtime.h"

struct rt_cgroups {
    int n;
    char key[RT_MAX_CG][256];       /* "memory", "cpu,cpuacct", "name=systemd", "unified" */
    char dir[RT_MAX_CG][PATH_MAX];  /* the mount point (rt_cg_hierarchies) or the container's dir */
    int made[RT_MAX_CG];            /* made by us: removed on failure */
};

int rt_cg_hierarchies(struct rt_cgroups *h);  /* 0 or -errno */
/* the container's directories for linux.cgroupsPath (systemd: slice:prefix:name) */
int rt_cg_resolve(const char *cgroups_path, const char *id, int systemd, struct rt_cgroups *cg);
int rt_cg_supported(void *resources);        /* 1: every key of linux.resources is written here */
int rt_cg_create(struct rt_cgroups *cg, void *resources); /* 0, or 1 after rt_fail (nothing left) */
int rt_cg_attach(const struct rt_cgroups *cg, pid_t pid); /* 0, or 1 after rt_fail */
void rt_cg_destroy(const struct rt_cgroups *cg);
int rt_cg_v2_only(void);
#endif
