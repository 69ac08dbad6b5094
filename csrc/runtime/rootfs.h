/* The container's filesystem for the C create (rootfs.c; lxbrand/oci/rootfs.py is the
 * reference).  Every function runs in init and writes its error into err. */
#ifndef LX_RT_ROOTFS_H
#define LX_RT_ROOTFS_H
#include <stddef.h>

#include "cgroups.h"
#include "spec.h"

#define RT_ERRLEN 2048

int rt_secure_join(const char *root, const char *path, char *out, size_t cap); /* 0 or -errno */
unsigned long rt_propagation(const char *name);
/* propagation, the rootfs bind, config.json's mounts, /dev's nodes and links; own_ns=0:
 * in the runtime's mount namespace (nothing outside the rootfs touched) */
int rt_rootfs_prepare(const struct rt_spec *s, const struct rt_cgroups *cg, int own_ns, char *err);
/* pivot_root into it (or chroot: no namespace of our own, or --no-pivot) */
int rt_rootfs_enter(const char *rootfs, int own_ns, int no_pivot, char *err);
/* readonly and masked paths, a shared/unbindable root, a read-only root */
int rt_rootfs_finish(const struct rt_spec *s, char *err);
int rt_bind_console(const char *pty, char *err);
#endif
