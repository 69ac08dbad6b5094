/* The container's filesystem for the C create: config.json mounts, /dev, pivot_root,
 * masked and readonly paths -- lxbrand/oci/rootfs.py is the reference, step for step.
 * Runs in init (the forked child) in its new mount namespace.  Every destination is
 * resolved inside the rootfs as the container would see it (symlinks followed but
 * clamped to the rootfs), so an image cannot point a mount outside it.  Errors are
 * written into `err` (init reports them to create, which prints them). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroups.h"
#include "rootfs.h"

static int fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, RT_ERRLEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* option -> (clear, set) for mount(2) flags; propagation is applied separately */
static const struct {
    const char *name;
    unsigned long clear, set;
} FLAGS[] = {
    {"ro", 0, MS_RDONLY},           {"rw", MS_RDONLY, 0},          {"nosuid", 0, MS_NOSUID},
    {"suid", MS_NOSUID, 0},         {"nodev", 0, MS_NODEV},        {"dev", MS_NODEV, 0},
    {"noexec", 0, MS_NOEXEC},       {"exec", MS_NOEXEC, 0},        {"sync", 0, MS_SYNCHRONOUS},
    {"async", MS_SYNCHRONOUS, 0},   {"dirsync", 0, MS_DIRSYNC},    {"remount", 0, MS_REMOUNT},
    {"mand", 0, MS_MANDLOCK},       {"nomand", MS_MANDLOCK, 0},    {"atime", MS_NOATIME, 0},
    {"noatime", 0, MS_NOATIME},     {"diratime", MS_NODIRATIME, 0}, {"nodiratime", 0, MS_NODIRATIME},
    {"relatime", 0, MS_RELATIME},   {"norelatime", MS_RELATIME, 0}, {"strictatime", 0, MS_STRICTATIME},
    {"nostrictatime", MS_STRICTATIME, 0}, {"lazytime", 0, MS_LAZYTIME}, {"nolazytime", MS_LAZYTIME, 0},
    {"nosymfollow", 0, 256 /* MS_NOSYMFOLLOW */}, {"symfollow", 256, 0},
    {"bind", 0, MS_BIND},           {"rbind", 0, MS_BIND | MS_REC},
};
static const struct {
    const char *name;
    unsigned long flags;
} PROPAGATION[] = {
    {"private", MS_PRIVATE}, {"rprivate", MS_PRIVATE | MS_REC}, {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC}, {"slave", MS_SLAVE}, {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};
/* ours to interpret, never passed to the filesystem */
static const char *const IGNORED[] = {"defaults", "tmpcopyup", "idmap", "ridmap", "rro", "rrw", "recursive", NULL};

unsigned long rt_propagation(const char *name)
{
    for (size_t i = 0; name && i < sizeof(PROPAGATION) / sizeof(PROPAGATION[0]); i++)
        if (!strcmp(PROPAGATION[i].name, name))
            return PROPAGATION[i].flags;
    return 0;
}

static void parse_options(const char **opts, unsigned long *flags, unsigned long prop[8], int *nprop, char *data,
                          size_t cap)
{
    *flags = 0;
    *nprop = 0;
    data[0] = '\0';
    for (; opts && *opts; opts++) {
        const char *o = *opts;
        int done = 0;
        for (size_t i = 0; !done && i < sizeof(FLAGS) / sizeof(FLAGS[0]); i++)
            if (!strcmp(FLAGS[i].name, o)) {
                *flags = (*flags & ~FLAGS[i].clear) | FLAGS[i].set;
                done = 1;
            }
        unsigned long p = rt_propagation(o);
        if (!done && p && *nprop < 8) {
            prop[(*nprop)++] = p;
            done = 1;
        }
        for (int i = 0; !done && IGNORED[i]; i++)
            done = !strcmp(IGNORED[i], o);
        if (!done)
            snprintf(data + strlen(data), cap - strlen(data), "%s%s", data[0] ? "," : "", o);
    }
}

int rt_secure_join(const char *root, const char *path, char *out, size_t cap)
{
    /* `path` inside `root` as if root were /: symlinks followed, never leaving root */
    char parts[PATH_MAX * 2], resolved[PATH_MAX] = "";
    int links = 0;
    snprintf(parts, sizeof parts, "%s", path);
    char *rest = parts;
    while (*rest) {
        while (*rest == '/')
            rest++;
        if (!*rest)
            break;
        char *slash = strchr(rest, '/');
        char comp[NAME_MAX + 1];
        size_t cl = slash ? (size_t)(slash - rest) : strlen(rest);
        if (cl > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(comp, rest, cl);
        comp[cl] = '\0';
        rest = slash ? slash : rest + cl;
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            char *last = strrchr(resolved, '/');
            if (last)
                *last = '\0';
            continue;
        }
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%s%s/%s", root, resolved, comp) >= (int)sizeof cand)
            return -ENAMETOOLONG;
        struct stat st;
        if (lstat(cand, &st) == 0 && S_ISLNK(st.st_mode)) {
            if (++links > 255)
                return -ELOOP;
            char target[PATH_MAX];
            ssize_t n = readlink(cand, target, sizeof target - 1);
            if (n < 0)
                return -errno;
            target[n] = '\0';
            if (target[0] == '/')
                resolved[0] = '\0';
            char next[PATH_MAX * 2];
            if (snprintf(next, sizeof next, "%s/%s", target, rest) >= (int)sizeof next)
                return -ENAMETOOLONG;
            snprintf(parts, sizeof parts, "%s", next);
            rest = parts;
            continue;
        }
        snprintf(resolved + strlen(resolved), sizeof resolved - strlen(resolved), "/%s", comp);
    }
    if (snprintf(out, cap, "%s%s", root, resolved) >= (int)cap)
        return -ENAMETOOLONG;
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int make_target(const char *dest, int is_dir)
{
    struct stat st;
    if (lstat(dest, &st) == 0)
        return 0;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dest);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir_p(parent, 0755) < 0)
            return -1;
    }
    if (is_dir)
        return mkdir_p(dest, 0755);
    int fd = open(dest, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* flags of the mount at `path` a bind remount must keep (locked in a user namespace) */
static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long out = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        out |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        out |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        out |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME)
        out |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME)
        out |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME)
        out |= MS_RELATIME;
    return out;
}

/* a cgroup mount as runc makes it without a cgroup namespace: a tmpfs with, per hierarchy,
 * a bind of the container's own cgroup directory (so it sees its limits) */
static int mount_cgroup(const char *dest, unsigned long flags, const struct rt_cgroups *cg, char *err)
{
    struct rt_cgroups h;
    if (make_target(dest, 1) < 0 || rt_cg_hierarchies(&h) < 0)
        return fail(err, "mount cgroup on %s: %s", dest, strerror(errno));
    if (h.n == 1 && !strcmp(h.key[0], "unified")) {
        const char *src = cg->n ? cg->dir[0] : h.dir[0];
        if (mount(src, dest, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
            return fail(err, "mount cgroup on %s: %s", dest, strerror(errno));
        return 0;
    }
    if (mount("tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
        return fail(err, "mount cgroup on %s: %s", dest, strerror(errno));
    for (int i = 0; i < h.n; i++) {
        const char *name = strrchr(h.dir[i], '/') ? strrchr(h.dir[i], '/') + 1 : h.dir[i];
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", dest, name);
        const char *src = h.dir[i];
        for (int j = 0; j < cg->n; j++)
            if (!strcmp(cg->key[j], h.key[i]))
                src = cg->dir[j];
        if (mkdir_p(sub, 0755) < 0 || mount(src, sub, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | (flags & ~MS_REC) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0)
            return fail(err, "mount cgroup %s on %s: %s", src, sub, strerror(errno));
        /* co-mounted controllers get a link per name (cpu -> cpu,cpuacct), as on a host */
        if (strchr(h.key[i], ',') && strchr(name, ',')) {
            char key[256], *sp = NULL;
            snprintf(key, sizeof key, "%s", h.key[i]);
            for (char *c = strtok_r(key, ",", &sp); c; c = strtok_r(NULL, ",", &sp)) {
                char link[PATH_MAX];
                struct stat st;
                snprintf(link, sizeof link, "%s/%s", dest, c);
                if (lstat(link, &st) < 0 && symlink(name, link) < 0)
                    return fail(err, "mount cgroup: link %s: %s", link, strerror(errno));
            }
        }
    }
    if ((flags & MS_RDONLY) &&
        mount(NULL, dest, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return fail(err, "mount cgroup on %s read-only: %s", dest, strerror(errno));
    return 0;
}

static int do_mount(const char *rootfs, const struct rt_mount *m, const struct rt_cgroups *cg, char *err)
{
    const char *typ = m->type ? m->type : "";
    unsigned long flags, prop[8];
    int nprop;
    char data[1024], dest[PATH_MAX];
    parse_options(m->options, &flags, prop, &nprop, data, sizeof data);
    const char *src = m->source && *m->source ? m->source : (*typ ? typ : "none");
    int is_bind = (flags & MS_BIND) || !strcmp(typ, "bind");
    int rc = rt_secure_join(rootfs, m->destination, dest, sizeof dest);
    if (rc < 0)
        return fail(err, "mount %s: %s", m->destination, strerror(-rc));
    if (!strcmp(typ, "cgroup"))
        return mount_cgroup(dest, flags, cg, err);
    if (is_bind) {
        struct stat st;
        if (stat(src, &st) < 0)
            return fail(err, "mount %s: bind source %s does not exist", m->destination, src);
        if (make_target(dest, S_ISDIR(st.st_mode)) < 0 || mount(src, dest, NULL, MS_BIND | (flags & MS_REC), NULL) < 0)
            goto failed;
        /* a bind mount ignores other flags at first: remount to apply ro/nosuid/... */
        unsigned long extra = flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
        if (extra && mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | extra | locked_flags(dest), NULL) < 0)
            goto failed;
    } else {
        if (make_target(dest, 1) < 0)
            goto failed;
        if (mount(src, dest, typ, flags, data[0] ? data : NULL) < 0) {
            /* sysfs cannot be mounted in a netns we do not own: bind the host's, as runc */
            if (!strcmp(typ, "sysfs") && errno == EPERM) {
                if (mount("/sys", dest, NULL, MS_BIND | MS_REC, NULL) < 0 ||
                    mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
                    goto failed;
            } else {
                goto failed;
            }
        }
    }
    for (int i = 0; i < nprop; i++)
        if (mount(NULL, dest, NULL, prop[i], NULL) < 0)
            goto failed;
    return 0;
failed:
    return fail(err, "mount %s on %s (type %s): %s", m->source ? m->source : "", m->destination,
                *typ ? typ : "bind", strerror(errno));
}

/* the devices every container has (runtime-spec config-linux.md, "Default Devices") */
static const struct {
    const char *path;
    int major, minor;
} DEFAULT_DEVICES[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                       {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

static int make_device(const char *rootfs, const struct rt_device *d, char *err)
{
    char dest[PATH_MAX];
    int rc = rt_secure_join(rootfs, d->path, dest, sizeof dest);
    if (rc < 0)
        return fail(err, "device %s: %s", d->path, strerror(-rc));
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dest);
    *strrchr(parent, '/') = '\0';
    if (mkdir_p(parent, 0755) < 0)
        return fail(err, "device %s: %s", d->path, strerror(errno));
    mode_t kind = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    struct stat st;
    if (lstat(dest, &st) == 0)
        unlink(dest);
    if (mknod(dest, kind | (d->mode & 07777), makedev(d->major, d->minor)) < 0) {
        if (errno != EPERM)
            return fail(err, "device %s: %s", d->path, strerror(errno));
        /* no CAP_MKNOD: bind the host's node instead */
        if (make_target(dest, 0) < 0 || mount(d->path, dest, NULL, MS_BIND, NULL) < 0)
            return fail(err, "device %s: %s", d->path, strerror(errno));
        return 0;
    }
    chmod(dest, d->mode & 07777); /* mknod obeys the umask */
    if (chown(dest, d->uid, d->gid) < 0) { /* an id not mapped: the node keeps its owner */ }
    return 0;
}

static int create_devices(const char *rootfs, const struct rt_spec *s, int defaults, char *err)
{
    for (size_t i = 0; defaults && i < sizeof(DEFAULT_DEVICES) / sizeof(DEFAULT_DEVICES[0]); i++) {
        int listed = 0;
        for (size_t j = 0; j < s->ndevices; j++)
            listed |= !strcmp(s->devices[j].path, DEFAULT_DEVICES[i].path);
        if (listed)
            continue;
        struct rt_device d = {.path = DEFAULT_DEVICES[i].path, .type = 'c', .major = DEFAULT_DEVICES[i].major,
                              .minor = DEFAULT_DEVICES[i].minor, .mode = 0666};
        if (make_device(rootfs, &d, err) < 0)
            return -1;
    }
    for (size_t j = 0; j < s->ndevices; j++)
        if (make_device(rootfs, &s->devices[j], err) < 0)
            return -1;
    return 0;
}

static int dev_links(const char *rootfs, char *err)
{
    static const char *const LINKS[][2] = {{"/proc/self/fd", "/dev/fd"},
                                           {"/proc/self/fd/0", "/dev/stdin"},
                                           {"/proc/self/fd/1", "/dev/stdout"},
                                           {"/proc/self/fd/2", "/dev/stderr"}};
    char p[PATH_MAX];
    struct stat st;
    for (size_t i = 0; i < 4; i++) {
        if (rt_secure_join(rootfs, LINKS[i][1], p, sizeof p) < 0)
            return fail(err, "%s: path too long", LINKS[i][1]);
        if (lstat(p, &st) < 0 && symlink(LINKS[i][0], p) < 0)
            return fail(err, "%s: %s", LINKS[i][1], strerror(errno));
    }
    char ptmx[PATH_MAX], pts[PATH_MAX];
    rt_secure_join(rootfs, "/dev/ptmx", ptmx, sizeof ptmx);
    rt_secure_join(rootfs, "/dev/pts", pts, sizeof pts);
    if (stat(pts, &st) == 0) {
        if (lstat(ptmx, &st) == 0)
            unlink(ptmx);
        if (symlink("pts/ptmx", ptmx) < 0)
            return fail(err, "/dev/ptmx: %s", strerror(errno));
    }
    return 0;
}

int rt_rootfs_prepare(const struct rt_spec *s, const struct rt_cgroups *cg, int own_ns, char *err)
{
    const char *rootfs = s->rootfs;
    if (own_ns) {
        /* stop our mounts from leaking to the host: everything becomes a slave (or private)
         * of the host's mounts first; a requested shared root is applied in finish() */
        int priv = s->propagation && (!strcmp(s->propagation, "private") || !strcmp(s->propagation, "rprivate"));
        if (mount(NULL, "/", NULL, (priv ? MS_PRIVATE : MS_SLAVE) | MS_REC, NULL) < 0)
            return fail(err, "making / a slave mount: %s", strerror(errno));
    }
    /* pivot_root needs rootfs to be a mount point; in the runtime's namespace this bind is
     * what delete detaches */
    if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return fail(err, "bind mount of the rootfs %s: %s", rootfs, strerror(errno));
    if (!own_ns && mount(NULL, rootfs, NULL, MS_PRIVATE | MS_REC, NULL) < 0)
        return fail(err, "making the rootfs %s private: %s", rootfs, strerror(errno));
    int dev_tmpfs = 0;
    for (size_t i = 0; i < s->nmounts; i++) {
        const struct rt_mount *m = &s->mounts[i];
        if (do_mount(rootfs, m, cg, err) < 0)
            return -1;
        size_t dl = strlen(m->destination);
        while (dl > 1 && m->destination[dl - 1] == '/')
            dl--;
        if (dl == 4 && !strncmp(m->destination, "/dev", 4) && !(m->type && !strcmp(m->type, "bind")))
            dev_tmpfs = 1;
    }
    if (create_devices(rootfs, s, dev_tmpfs, err) < 0)
        return -1;
    if (dev_tmpfs && dev_links(rootfs, err) < 0)
        return -1;
    return 0;
}

int rt_rootfs_enter(const char *rootfs, int own_ns, int no_pivot, char *err)
{
    if (!own_ns || no_pivot) {
        if (chdir(rootfs) < 0)
            return fail(err, "chdir %s: %s", rootfs, strerror(errno));
        if (own_ns && mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
            return fail(err, "moving %s over /: %s", rootfs, strerror(errno));
        if (chroot(".") < 0 || chdir("/") < 0)
            return fail(err, "chroot %s: %s", rootfs, strerror(errno));
        return 0;
    }
    /* the "pivot_root(., .)" idiom: no temporary directory in a possibly read-only rootfs */
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (oldroot < 0 || newroot < 0 || fchdir(newroot) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        fchdir(oldroot) < 0 || mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 || umount2(".", MNT_DETACH) < 0 ||
        chdir("/") < 0)
        fail(err, "pivot_root into %s: %s", rootfs, strerror(errno));
    else
        rc = 0;
    if (oldroot >= 0)
        close(oldroot);
    if (newroot >= 0)
        close(newroot);
    return rc;
}

int rt_rootfs_finish(const struct rt_spec *s, char *err)
{
    struct stat st;
    for (const char **p = s->readonly; *p; p++) {
        if (stat(*p, &st) < 0)
            continue;
        if (mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, *p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked_flags(*p), NULL) < 0)
            return fail(err, "readonlyPaths %s: %s", *p, strerror(errno));
    }
    for (const char **p = s->masked; *p; p++) {
        if (lstat(*p, &st) < 0)
            continue;
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", *p, "tmpfs", MS_RDONLY, NULL)
                                     : mount("/dev/null", *p, NULL, MS_BIND, NULL);
        if (rc < 0 && errno != ENOENT)
            return fail(err, "maskedPaths %s: %s", *p, strerror(errno));
    }
    if (s->propagation && (!strcmp(s->propagation, "shared") || !strcmp(s->propagation, "rshared") ||
                           !strcmp(s->propagation, "unbindable") || !strcmp(s->propagation, "runbindable")) &&
        mount(NULL, "/", NULL, rt_propagation(s->propagation), NULL) < 0)
        return fail(err, "linux.rootfsPropagation %s: %s", s->propagation, strerror(errno));
    if (s->readonly_root && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL) < 0)
        return fail(err, "root.readonly: remount / read-only: %s", strerror(errno));
    return 0;
}

int rt_bind_console(const char *pty, char *err)
{
    if (make_target("/dev/console", 0) < 0 || mount(pty, "/dev/console", NULL, MS_BIND, NULL) < 0)
        return fail(err, "/dev/console: binding %s: %s", pty, strerror(errno));
    return 0;
}
