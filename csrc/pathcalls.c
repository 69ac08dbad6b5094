/* The path calls other than opens and execs under [[path]] rules (paths.h): the
 * stat family, access, readlink, statfs, chdir, inotify_add_watch,
 * name_to_handle_at, names made, removed and renamed, truncate, modes, owners,
 * times and xattrs; the calls that change a file the program holds open; and the
 * listing filter.  Each path is read once, resolved as the program sees it,
 * decided, and the call is performed by the supervisor on what was resolved (an
 * O_PATH fd of the very file decided on, or the resolved parent directory and
 * the last component), with the program's credentials; results are written
 * into its memory.  CONTINUE only for chdir (see do_chdir).
 *
 * The operation each call is judged as (the rules' ops):
 *   stat    stat family, statfs, access family, readlink, getxattr, listxattr,
 *           name_to_handle_at, chdir
 *   read    inotify_add_watch (a watch reports what is done in a directory, and
 *           every access to a file: what reading tells)
 *   write   chmod, chown, utime family, setxattr, removexattr, truncate, unlink,
 *           rmdir, rename (both names); fchmod, fchown, fsetxattr, fremovexattr,
 *           futimens on a held file (judged on the path of the file its fd
 *           names; a file without a name -- a memfd, a deleted file, a pipe -- has
 *           no path a rule could name: allowed)
 *   create  mkdir, mknod, symlink, link's new name, rename's new name
 * A path "" with AT_EMPTY_PATH (readlinkat: always) names the program's dirfd
 * itself: the supervisor takes a copy with pidfd_getfd(2) and judges its file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "pathctx.h"
#include "paths.h"
#include "resolve.h"

#define OURS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
#ifndef AT_HANDLE_MNT_ID_UNIQUE
#define AT_HANDLE_MNT_ID_UNIQUE 0x001
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#define MAX_HANDLE_SZ 128
#define XATTR_VALUE_MAX 65536
#define STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE)

static int neg(void)
{
    return -errno;
}

static int sint(uint64_t v)
{
    return (int)(uint32_t)v;
}

/* What a call writes into the program's memory, and answers. */
struct out {
    int nw;
    struct { uint64_t addr; const void *data; size_t len; } w[2];
    int err_after; /* an error answered after the writes (name_to_handle_at's EOVERFLOW) */
};

static void put(struct out *o, uint64_t addr, const void *data, size_t len)
{
    o->w[o->nw].addr = addr;
    o->w[o->nw].data = data;
    o->w[o->nw].len = len;
    o->nw++;
}

/* -- resolving -------------------------------------------------------------- */

/* An O_PATH fd of the file (dirfd, path) names, decided for ops; symlinks in the
 * last component followed only with `follow`.  `empty_fd` >= 0: the path was ""
 * with AT_EMPTY_PATH, and that is our copy of the program's fd.  Walks as the
 * program (the caller has taken its credentials); `g` is the guest path the
 * caller computed as the supervisor. */
static int stat_path(struct lx_pc *p, const char *g, size_t gn, int empty_fd, int follow, unsigned ops)
{
    int fd;
    uint64_t nf = follow ? 0 : O_NOFOLLOW;
    if (empty_fd >= 0) {
        fd = fcntl(empty_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
            return neg();
    } else {
        if (!lx_has_dotdot(g)) {
            /* no '..', no symlink on the way: the joined path is the path reached */
            fd = lx_openat2(p->v->root->fd, g, O_PATH | O_CLOEXEC | nf, 0, OURS | RESOLVE_NO_SYMLINKS);
            if (fd >= 0) {
                int rc = lx_pc_check(p, ops, g, gn);
                if (rc < 0) {
                    close(fd);
                    return rc;
                }
                return fd;
            }
            if (fd != -ELOOP)
                return fd;
        }
        fd = lx_openat2(p->v->root->fd, g, O_PATH | O_CLOEXEC | nf, 0, OURS);
        if (fd < 0)
            return fd;
    }
    int rc = lx_pc_check_fd(p, ops, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* One path argument as a parent directory (O_PATH) and a last component, for the
 * calls that make, remove or rename names (they never follow the last one). */
struct target {
    int dfd;
    char base[256];            /* "" : the fd itself; "." : the directory itself */
    char path[LX_PATH_MAX];    /* what rules match */
    size_t plen;
};

static int target_of(struct lx_pc *p, const char *g, int empty_fd, struct target *t)
{
    char d[LX_PATH_MAX];
    t->dfd = -1;
    if (empty_fd >= 0) {
        t->base[0] = '\0';
        t->dfd = fcntl(empty_fd, F_DUPFD_CLOEXEC, 0);
        if (t->dfd < 0)
            return neg();
        ssize_t n = lx_real_path(p->v, t->dfd, t->path);
        if (n < 0)
            return (int)n;
        t->plen = (size_t)n;
        return 0;
    }
    size_t n = lx_match_len(g, strlen(g));
    memcpy(d, g, n);
    d[n] = '\0';
    char *slash = strrchr(d, '/');
    const char *base = slash + 1;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
        /* the path names a directory through "." or "..": the directory itself, resolved whole */
        strcpy(t->base, ".");
        t->dfd = lx_openat2(p->v->root->fd, g, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, OURS);
        if (t->dfd < 0)
            return t->dfd;
        ssize_t k = lx_real_path(p->v, t->dfd, t->path);
        if (k < 0)
            return (int)k;
        t->plen = (size_t)k;
        return 0;
    }
    if (strlen(base) >= sizeof(t->base))
        return -ENAMETOOLONG;
    strcpy(t->base, base);
    if (slash == d)
        d[1] = '\0';
    else
        *slash = '\0';
    t->dfd = lx_openat2(p->v->root->fd, d, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, OURS);
    if (t->dfd < 0)
        return t->dfd;
    ssize_t k = lx_real_path(p->v, t->dfd, t->path);
    if (k < 0)
        return (int)k;
    k = (ssize_t)lx_match_len(t->path, (size_t)k);
    if (k == 1)
        k = 0; /* "/" */
    if ((size_t)k + 1 + strlen(t->base) >= sizeof(t->path))
        return -ENAMETOOLONG;
    t->path[k] = '/';
    strcpy(t->path + k + 1, t->base);
    t->plen = strlen(t->path);
    return 0;
}

static void target_close(struct target *t)
{
    if (t->dfd >= 0)
        close(t->dfd);
    t->dfd = -1;
}

static int tcheck(struct lx_pc *p, unsigned ops, const struct target *t)
{
    return lx_pc_check(p, ops, t->path, t->plen);
}

/* -- the calls: what each reads, where its path arguments are ------------------ */

/* Does "" stand for the dirfd at this slot?  (readlinkat: always, since 2.6.39) */
static int empty_ok(int nr, const uint64_t *a, int slot)
{
    switch (nr) {
    case SYS_readlinkat:
        return slot == 0;
    case SYS_faccessat2:
    case SYS_fchmodat2:
        return slot == 0 && (a[3] & AT_EMPTY_PATH);
    case SYS_fchownat:
    case SYS_linkat:
    case SYS_name_to_handle_at:
        return slot == 0 && (a[4] & AT_EMPTY_PATH);
    case SYS_utimensat:
        return slot == 0 && (a[3] & AT_EMPTY_PATH);
    case SYS_newfstatat:
        return slot == 0 && (a[3] & AT_EMPTY_PATH);
    case SYS_statx:
        return slot == 0 && (a[2] & AT_EMPTY_PATH);
    default:
        return 0;
    }
}

/* The (dirfd, path) argument slots of a call: how many, filled in dirfd[] and addr[] */
static int slots(int nr, const uint64_t *a, int dirfd[2], uint64_t addr[2])
{
    dirfd[0] = dirfd[1] = LX_AT_FDCWD;
    switch (nr) {
    case SYS_mkdir: case SYS_mknod: case SYS_unlink: case SYS_rmdir: case SYS_truncate: case SYS_access:
    case SYS_readlink: case SYS_chmod: case SYS_chown: case SYS_lchown: case SYS_utimes: case SYS_utime:
    case SYS_setxattr: case SYS_lsetxattr: case SYS_removexattr: case SYS_lremovexattr: case SYS_getxattr:
    case SYS_lgetxattr: case SYS_listxattr: case SYS_llistxattr: case SYS_stat: case SYS_lstat: case SYS_statfs:
    case SYS_chdir:
        addr[0] = a[0];
        return 1;
    case SYS_inotify_add_watch:
        addr[0] = a[1];
        return 1;
    case SYS_mkdirat: case SYS_mknodat: case SYS_unlinkat: case SYS_faccessat: case SYS_faccessat2:
    case SYS_readlinkat: case SYS_fchmodat: case SYS_fchmodat2: case SYS_fchownat: case SYS_utimensat:
    case SYS_futimesat: case SYS_newfstatat: case SYS_statx: case SYS_name_to_handle_at:
        dirfd[0] = sint(a[0]);
        addr[0] = a[1];
        return 1;
    case SYS_rename: case SYS_link:
        addr[0] = a[0];
        addr[1] = a[1];
        return 2;
    case SYS_renameat: case SYS_renameat2: case SYS_linkat:
        dirfd[0] = sint(a[0]);
        addr[0] = a[1];
        dirfd[1] = sint(a[2]);
        addr[1] = a[3];
        return 2;
    case SYS_symlink:
        addr[0] = a[1];
        return 1;
    case SYS_symlinkat:
        dirfd[0] = sint(a[1]);
        addr[0] = a[2];
        return 1;
    default:
        return -1;
    }
}

/* What utime-family and xattr calls need from the caller's memory, read once, now. */
struct pre {
    int have_times;
    struct timespec times[2];
    char attr[256];
    uint8_t *value;
    size_t vlen;
    char target[LX_PATH_MAX + 1]; /* symlink's contents */
    uint32_t handle_bytes;
};

static int read_exact(struct lx_call *c, uint64_t addr, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    return lx_mem_read(c->pid, addr, buf, n) == (ssize_t)n ? 0 : -EFAULT;
}

static int preread(struct lx_call *c, struct pre *pr)
{
    const uint64_t *a = c->args;
    int nr = c->nr;
    if (nr == SYS_utimensat) {
        pr->have_times = a[2] != 0;
        return pr->have_times ? read_exact(c, a[2], pr->times, sizeof(pr->times)) : 0;
    }
    if (nr == SYS_futimesat || nr == SYS_utimes) {
        uint64_t tv = nr == SYS_futimesat ? a[2] : a[1];
        pr->have_times = tv != 0;
        if (tv) { /* struct timeval[2] -> struct timespec[2] */
            int64_t t[4];
            int rc = read_exact(c, tv, t, sizeof(t));
            if (rc < 0)
                return rc;
            if (t[1] < 0 || t[1] >= 1000000 || t[3] < 0 || t[3] >= 1000000)
                return -EINVAL;
            pr->times[0] = (struct timespec){t[0], t[1] * 1000};
            pr->times[1] = (struct timespec){t[2], t[3] * 1000};
        }
        return 0;
    }
    if (nr == SYS_utime) {
        pr->have_times = a[1] != 0;
        if (a[1]) {
            int64_t t[2];
            int rc = read_exact(c, a[1], t, sizeof(t));
            if (rc < 0)
                return rc;
            pr->times[0] = (struct timespec){t[0], 0};
            pr->times[1] = (struct timespec){t[1], 0};
        }
        return 0;
    }
    if (nr == SYS_name_to_handle_at)
        return read_exact(c, a[2], &pr->handle_bytes, 4);
    if (nr == SYS_symlink || nr == SYS_symlinkat) {
        ssize_t n = lx_read_path(c, a[0], pr->target);
        return n < 0 ? (int)n : 0;
    }
    int xattr = nr == SYS_setxattr || nr == SYS_lsetxattr || nr == SYS_fsetxattr || nr == SYS_getxattr ||
                nr == SYS_lgetxattr || nr == SYS_removexattr || nr == SYS_lremovexattr || nr == SYS_fremovexattr;
    if (xattr) {
        if (!a[1])
            return -EFAULT;
        ssize_t n = lx_mem_read_str(c->pid, a[1], pr->attr, sizeof(pr->attr));
        if (n < 0)
            return (int)n;
        if (n == 0 || (size_t)n >= sizeof(pr->attr) - 1)
            return -ERANGE; /* the kernel's answer for an empty or overlong name */
    }
    if (nr == SYS_setxattr || nr == SYS_lsetxattr || nr == SYS_fsetxattr) {
        size_t size = (uint32_t)a[3];
        if (size > XATTR_VALUE_MAX)
            return -E2BIG;
        pr->value = malloc(size ? size : 1);
        if (!pr->value)
            return -ENOMEM;
        pr->vlen = size;
        return read_exact(c, a[2], pr->value, size);
    }
    return 0;
}

/* -- performing ------------------------------------------------------------------ */

static const char *self_fd(int fd, char buf[32])
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

static int stat_out(struct lx_pc *p, int fd, int nr, struct out *o, void *buf)
{
    const uint64_t *a = p->c->args;
    if (nr == SYS_statx) {
        if (statx(fd, "", AT_EMPTY_PATH | (sint(a[2]) & AT_STATX_SYNC_TYPE), (unsigned)a[3], buf) < 0)
            return neg();
        put(o, a[4], buf, sizeof(struct statx));
        return 0;
    }
    if (fstatat(fd, "", buf, AT_EMPTY_PATH) < 0)
        return neg();
    put(o, nr == SYS_newfstatat ? a[2] : a[1], buf, sizeof(struct stat));
    return 0;
}

static int do_access(struct lx_pc *p, int fd, int nr, int eaccess)
{
    const uint64_t *a = p->c->args;
    int mode = sint(nr == SYS_access ? a[1] : a[2]);
    unsigned ops = 0;
    struct stat st;
    if (mode & R_OK)
        ops |= LX_OP_READ;
    if (mode & W_OK)
        ops |= LX_OP_WRITE;
    if (mode & X_OK)
        ops |= LX_OP_EXEC;
    if ((ops & LX_OP_EXEC) && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        ops &= ~(unsigned)LX_OP_EXEC; /* X_OK on a directory asks about search, not exec rules */
    /* the answer is the rules' too: W_OK is "could I write it?", and a write rule says no */
    int rc = ops ? lx_pc_check_fd(p, ops, fd) : 0;
    if (rc < 0)
        return rc;
    if (!eaccess) {
        /* access(2) checks with the real ids: take them for the call */
        lx_pc_as_supervisor(p);
        rc = lx_pc_as_real(p);
        if (rc < 0)
            return rc;
    }
    return syscall(SYS_faccessat2, fd, "", mode, AT_EMPTY_PATH | AT_EACCESS) < 0 ? neg() : 0;
}

/* xattrs by path, on the O_PATH fd of the file decided on, through its magic link */
static int do_xattr(struct lx_pc *p, int fd, int nr, const struct pre *pr, struct out *o, char **buf)
{
    const uint64_t *a = p->c->args;
    char self[32];
    struct stat st;
    int follow = !(nr == SYS_lsetxattr || nr == SYS_lgetxattr || nr == SYS_llistxattr || nr == SYS_lremovexattr);
    if (!follow && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))
        return -EPERM; /* a symlink's own xattrs: not reachable through the magic link (DIVERGENCE.md) */
    const char *t = self_fd(fd, self);
    ssize_t n;
    size_t size;
    uint64_t dst;
    switch (nr) {
    case SYS_setxattr:
    case SYS_lsetxattr:
        return setxattr(t, pr->attr, pr->value, pr->vlen, sint(a[4])) < 0 ? neg() : 0;
    case SYS_removexattr:
    case SYS_lremovexattr:
        return removexattr(t, pr->attr) < 0 ? neg() : 0;
    case SYS_getxattr:
    case SYS_lgetxattr:
        size = (size_t)a[3];
        dst = a[2];
        n = getxattr(t, pr->attr, NULL, 0);
        if (n >= 0 && size) {
            *buf = malloc((size_t)n + 1);
            if (!*buf)
                return -ENOMEM;
            n = getxattr(t, pr->attr, *buf, (size_t)n);
        }
        break;
    default: /* listxattr, llistxattr */
        size = (size_t)a[2];
        dst = a[1];
        n = listxattr(t, NULL, 0);
        if (n >= 0 && size) {
            *buf = malloc((size_t)n + 1);
            if (!*buf)
                return -ENOMEM;
            n = listxattr(t, *buf, (size_t)n);
        }
        break;
    }
    if (n < 0)
        return neg();
    if (size == 0)
        return (int)n;
    if ((size_t)n > size)
        return -ERANGE;
    put(o, dst, *buf, (size_t)n);
    return (int)n;
}

static int do_handle(struct lx_pc *p, int fd, const struct pre *pr, struct out *o, uint8_t *hbuf, uint64_t *mnt)
{
    const uint64_t *a = p->c->args;
    int flags = sint(a[4]);
    uint32_t n = pr->handle_bytes;
    if (n > MAX_HANDLE_SZ)
        return -EINVAL;
    memcpy(hbuf, &n, 4);
    memset(hbuf + 4, 0, 4 + n);
    int how = (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) | AT_EMPTY_PATH; /* the other flags as given */
    int r = (int)syscall(SYS_name_to_handle_at, fd, "", hbuf, mnt, how);
    int err = r < 0 ? errno : 0;
    if (err && err != EOVERFLOW)
        return -err;
    uint32_t got;
    memcpy(&got, hbuf, 4);
    /* what the kernel writes: the mount id, and the handle (only its header, with the
     * size needed, on EOVERFLOW) */
    put(o, a[3], mnt, (flags & AT_HANDLE_MNT_ID_UNIQUE) ? 8 : 4);
    put(o, a[2], hbuf, 8 + (err ? 0 : got));
    o->err_after = -err;
    return 0;
}

/* The calls resolved to one O_PATH fd of the file decided on. */
static int on_file(struct lx_pc *p, int fd, const struct pre *pr, struct out *o, void *statbuf, char **xbuf,
                   int inofd)
{
    const uint64_t *a = p->c->args;
    int nr = p->c->nr;
    char self[32];
    struct stat st;
    switch (nr) {
    case SYS_stat: case SYS_lstat: case SYS_newfstatat: case SYS_statx:
        return stat_out(p, fd, nr, o, statbuf);
    case SYS_access: case SYS_faccessat:
        return do_access(p, fd, nr, 0);
    case SYS_faccessat2:
        return do_access(p, fd, nr, (a[3] & AT_EACCESS) != 0);
    case SYS_statfs:
        if (fstatfs(fd, statbuf) < 0) /* fstatfs(2) takes O_PATH fds (Linux 3.12) */
            return neg();
        put(o, a[1], statbuf, sizeof(struct statfs));
        return 0;
    case SYS_chdir:
        if (fstat(fd, &st) < 0)
            return neg();
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
    case SYS_chmod: case SYS_fchmodat: case SYS_fchmodat2:
        if (fstat(fd, &st) < 0)
            return neg();
        if (S_ISLNK(st.st_mode))
            return -EOPNOTSUPP; /* no modes on symlinks */
        return chmod(self_fd(fd, self), (mode_t)(a[nr == SYS_chmod ? 1 : 2] & 07777)) < 0 ? neg() : 0;
    case SYS_chown: case SYS_lchown: case SYS_fchownat: {
        int i = nr == SYS_fchownat ? 2 : 1;
        /* the inode decided on itself (an O_PATH fd of a symlink names the link) */
        return fchownat(fd, "", (uid_t)sint(a[i]), (gid_t)sint(a[i + 1]), AT_EMPTY_PATH) < 0 ? neg() : 0;
    }
    case SYS_utimensat: case SYS_utimes: case SYS_utime: case SYS_futimesat:
        return utimensat(fd, "", pr->have_times ? pr->times : NULL, AT_EMPTY_PATH) < 0 ? neg() : 0;
    case SYS_setxattr: case SYS_lsetxattr: case SYS_getxattr: case SYS_lgetxattr: case SYS_listxattr:
    case SYS_llistxattr: case SYS_removexattr: case SYS_lremovexattr:
        return do_xattr(p, fd, nr, pr, o, xbuf);
    case SYS_inotify_add_watch: {
        /* on our copy of the program's inotify fd (the same instance), through the magic
         * link of our O_PATH fd: the kernel lands on the very inode decided on (a symlink
         * itself under IN_DONT_FOLLOW) and follows nothing further */
        int wd = inotify_add_watch(inofd, self_fd(fd, self), (uint32_t)a[2] & ~(uint32_t)IN_DONT_FOLLOW);
        return wd < 0 ? neg() : wd;
    }
    case SYS_truncate: {
        int w = open(self_fd(fd, self), O_WRONLY | O_CLOEXEC);
        if (w < 0)
            return neg();
        int rc = ftruncate(w, (off_t)a[1]) < 0 ? neg() : 0;
        close(w);
        return rc;
    }
    case SYS_name_to_handle_at:
        return do_handle(p, fd, pr, o, (uint8_t *)statbuf, (uint64_t *)((char *)statbuf + 8 + MAX_HANDLE_SZ));
    default:
        return -ENOSYS;
    }
}

/* How a call resolved to one file is judged and followed: 1 if it is one, with
 * *follow and *ops set; 0 if it makes/removes names (targets). */
static int file_call(int nr, const uint64_t *a, int *follow, unsigned *ops)
{
    *ops = LX_OP_STAT;
    *follow = 1;
    switch (nr) {
    case SYS_stat: case SYS_statfs: case SYS_chdir: case SYS_access: case SYS_faccessat: case SYS_getxattr:
    case SYS_listxattr:
        return 1;
    case SYS_lstat: case SYS_lgetxattr: case SYS_llistxattr:
        *follow = 0;
        return 1;
    case SYS_newfstatat: case SYS_faccessat2:
        *follow = !(a[3] & AT_SYMLINK_NOFOLLOW);
        return 1;
    case SYS_statx:
        *follow = !(a[2] & AT_SYMLINK_NOFOLLOW);
        return 1;
    case SYS_name_to_handle_at:
        *follow = (a[4] & AT_SYMLINK_FOLLOW) != 0;
        return 1;
    case SYS_inotify_add_watch:
        *ops = LX_OP_READ;
        *follow = !(a[2] & IN_DONT_FOLLOW);
        return 1;
    case SYS_chmod: case SYS_fchmodat: case SYS_chown: case SYS_utimes: case SYS_utime: case SYS_futimesat:
    case SYS_setxattr: case SYS_removexattr: case SYS_truncate:
        *ops = LX_OP_WRITE;
        return 1;
    case SYS_fchmodat2:
        *ops = LX_OP_WRITE;
        *follow = !(a[3] & AT_SYMLINK_NOFOLLOW); /* fchmodat (268) has no flags argument */
        return 1;
    case SYS_lchown: case SYS_lsetxattr: case SYS_lremovexattr:
        *ops = LX_OP_WRITE;
        *follow = 0;
        return 1;
    case SYS_fchownat:
        *ops = LX_OP_WRITE;
        *follow = !(a[4] & AT_SYMLINK_NOFOLLOW);
        return 1;
    case SYS_utimensat:
        *ops = LX_OP_WRITE;
        *follow = !(a[3] & AT_SYMLINK_NOFOLLOW);
        return 1;
    default:
        return 0;
    }
}

/* The flags each call accepts (the kernel answers EINVAL to others before any lookup). */
static int bad_flags(int nr, const uint64_t *a)
{
    switch (nr) {
    case SYS_newfstatat:
        return (sint(a[3]) & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH)) != 0;
    case SYS_statx:
        return (sint(a[2]) & ~STATX_FLAGS) != 0 || (sint(a[2]) & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE;
    case SYS_faccessat2:
        return (sint(a[3]) & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0 || (sint(a[2]) & ~7);
    case SYS_access:
        return (sint(a[1]) & ~7) != 0;
    case SYS_faccessat:
        return (sint(a[2]) & ~7) != 0;
    case SYS_fchmodat2:
        return (sint(a[3]) & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0;
    case SYS_fchownat:
        return (sint(a[4]) & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0;
    case SYS_utimensat:
        return (sint(a[3]) & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0;
    case SYS_unlinkat:
        return (sint(a[2]) & ~AT_REMOVEDIR) != 0;
    case SYS_linkat:
        return (sint(a[4]) & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0;
    case SYS_readlink:
        return sint(a[2]) <= 0;
    case SYS_readlinkat:
        return sint(a[3]) <= 0;
    default:
        return 0;
    }
}

/* The calls that make, remove or rename names, on resolved targets. */
static int on_names(struct lx_pc *p, struct target *t, const char *g0, size_t g0n, const struct pre *pr, struct out *o,
                    char *lbuf)
{
    const uint64_t *a = p->c->args;
    int nr = p->c->nr, rc;
    mode_t old;
    switch (nr) {
    case SYS_mkdir: case SYS_mkdirat:
        if ((rc = tcheck(p, LX_OP_CREATE, &t[0])) < 0 || (rc = lx_pc_umask(p, &old)) < 0)
            return rc;
        rc = mkdirat(t[0].dfd, t[0].base, (mode_t)(a[nr == SYS_mkdir ? 1 : 2] & 07777)) < 0 ? neg() : 0;
        umask(old);
        return rc;
    case SYS_mknod: case SYS_mknodat: {
        int i = nr == SYS_mknod ? 1 : 2;
        if ((rc = tcheck(p, LX_OP_CREATE, &t[0])) < 0 || (rc = lx_pc_umask(p, &old)) < 0)
            return rc;
        rc = mknodat(t[0].dfd, t[0].base, (mode_t)(uint32_t)a[i], (dev_t)(uint32_t)a[i + 1]) < 0 ? neg() : 0;
        umask(old);
        return rc;
    }
    case SYS_unlink: case SYS_unlinkat: case SYS_rmdir:
        if ((rc = tcheck(p, LX_OP_WRITE, &t[0])) < 0)
            return rc;
        rc = unlinkat(t[0].dfd, t[0].base,
                      (nr == SYS_rmdir || (nr == SYS_unlinkat && (a[2] & AT_REMOVEDIR))) ? AT_REMOVEDIR : 0);
        return rc < 0 ? neg() : 0;
    case SYS_rename: case SYS_renameat: case SYS_renameat2: {
        unsigned flags = nr == SYS_renameat2 ? (unsigned)a[4] : 0;
        if ((rc = tcheck(p, LX_OP_WRITE, &t[0])) < 0 || (rc = tcheck(p, LX_OP_CREATE | LX_OP_WRITE, &t[1])) < 0)
            return rc;
        if ((flags & RENAME_EXCHANGE) && (rc = tcheck(p, LX_OP_CREATE, &t[0])) < 0)
            return rc; /* the old name gets the new one's file */
        rc = (int)syscall(SYS_renameat2, t[0].dfd, t[0].base, t[1].dfd, t[1].base, flags);
        return rc < 0 ? neg() : 0;
    }
    case SYS_link: case SYS_linkat: {
        /* a hard link is the same file under a new name, where other rules apply: only
         * files the program may read and write can get one */
        int follow = nr == SYS_linkat && (a[4] & AT_SYMLINK_FOLLOW);
        if (!t[0].base[0]) { /* linkat(fd, "", ..., AT_EMPTY_PATH): the fd's file */
            if ((rc = tcheck(p, LX_OP_READ | LX_OP_WRITE, &t[0])) < 0 || (rc = tcheck(p, LX_OP_CREATE, &t[1])) < 0)
                return rc;
            return linkat(t[0].dfd, "", t[1].dfd, t[1].base, AT_EMPTY_PATH) < 0 ? neg() : 0;
        }
        if (follow) {
            int fd = stat_path(p, g0, g0n, -1, 1, LX_OP_READ | LX_OP_WRITE); /* where the symlink leads */
            if (fd < 0)
                return fd;
            rc = tcheck(p, LX_OP_CREATE, &t[1]);
            char self[32];
            if (rc == 0 && linkat(AT_FDCWD, self_fd(fd, self), t[1].dfd, t[1].base, AT_SYMLINK_FOLLOW) < 0)
                rc = neg();
            close(fd);
            return rc;
        }
        if ((rc = tcheck(p, LX_OP_READ | LX_OP_WRITE, &t[0])) < 0 || (rc = tcheck(p, LX_OP_CREATE, &t[1])) < 0)
            return rc;
        return linkat(t[0].dfd, t[0].base, t[1].dfd, t[1].base, 0) < 0 ? neg() : 0;
    }
    case SYS_symlink: case SYS_symlinkat:
        if ((rc = tcheck(p, LX_OP_CREATE, &t[0])) < 0)
            return rc;
        return symlinkat(pr->target, t[0].dfd, t[0].base) < 0 ? neg() : 0;
    case SYS_readlink: case SYS_readlinkat: {
        if ((rc = tcheck(p, LX_OP_STAT, &t[0])) < 0)
            return rc;
        ssize_t k = readlinkat(t[0].dfd, t[0].base, lbuf, LX_PATH_MAX);
        if (k < 0)
            return neg();
        size_t size = (uint32_t)a[nr == SYS_readlink ? 2 : 3];
        if ((size_t)k > size)
            k = (ssize_t)size;
        put(o, a[nr == SYS_readlink ? 1 : 2], lbuf, (size_t)k);
        return (int)k;
    }
    default:
        return -ENOSYS;
    }
}

/* fchmod, fchown, fsetxattr, fremovexattr, futimens on a file the program holds:
 * judged "write" on the path of the file its fd names, performed on our copy of
 * the fd (the same open file: nothing to swap in between). */
static int on_held(struct lx_pc *p, int fd, const struct pre *pr)
{
    const uint64_t *a = p->c->args;
    struct stat st;
    char real[LX_PATH_MAX];
    if (fstat(fd, &st) < 0)
        return neg();
    ssize_t n = lx_real_path(p->v, fd, real);
    if (n > 0 && real[0] == '/' && st.st_nlink > 0) {
        int rc = lx_pc_check(p, LX_OP_WRITE, real, (size_t)n);
        if (rc < 0)
            return rc;
    }
    switch (p->c->nr) {
    case SYS_fchmod:
        return fchmod(fd, (mode_t)(a[1] & 07777)) < 0 ? neg() : 0;
    case SYS_fchown:
        return fchown(fd, (uid_t)sint(a[1]), (gid_t)sint(a[2])) < 0 ? neg() : 0;
    case SYS_fsetxattr:
        return fsetxattr(fd, pr->attr, pr->value, pr->vlen, sint(a[4])) < 0 ? neg() : 0;
    case SYS_fremovexattr:
        return fremovexattr(fd, pr->attr) < 0 ? neg() : 0;
    default: /* futimens: utimensat(fd, NULL, times, flags) */
        return futimens(fd, pr->have_times ? pr->times : NULL) < 0 ? neg() : 0;
    }
}

static int held_call(int nr, const uint64_t *a)
{
    return nr == SYS_fchmod || nr == SYS_fchown || nr == SYS_fsetxattr || nr == SYS_fremovexattr ||
           (nr == SYS_utimensat && a[1] == 0);
}

/* The listing filter: a name a rule hides (deny stat with ENOENT) does not show up
 * in a listing of its directory either.  The supervisor lists on its copy of the
 * program's fd (the same open file: the offset moves for the program too -- never
 * the fd number again, which a thread could dup2() another directory onto), drops
 * the hidden names and writes the rest into the program's buffer.  Without such
 * rules the kernel lists (CONTINUE). */
static int do_list(struct lx_pc *p, int *cont)
{
    const uint64_t *a = p->c->args;
    int nr = p->c->nr;
    if (!lx_paths_hides(p->s->paths)) {
        *cont = 1;
        return 0;
    }
    size_t count = (uint32_t)a[2];
    if (count > (1u << 20))
        count = 1u << 20;
    int fd = lx_take_fd(p->s, p->c, sint(a[0]));
    if (fd < 0)
        return fd;
    char dir[LX_PATH_MAX], path[LX_PATH_MAX];
    ssize_t dn = lx_real_path(p->v, fd, dir);
    int rc = (int)dn;
    char *buf = malloc(count ? count : 1), *out = malloc(count ? count : 1);
    if (!buf || !out)
        rc = -ENOMEM;
    if (dn >= 0 && buf && out) {
        dn = (ssize_t)lx_match_len(dir, (size_t)dn);
        if (dn == 1)
            dn = 0;
        for (;;) {
            long got = syscall(nr, fd, buf, count);
            if (got <= 0) {
                rc = got < 0 ? neg() : 0;
                break;
            }
            size_t kept = 0;
            for (long i = 0; i < got;) {
                unsigned short reclen;
                memcpy(&reclen, buf + i + 16, 2);
                /* linux_dirent64: ino, off (8 each), reclen (2), type (1), name;
                 * linux_dirent: ino, off (8 each), reclen (2), name, ..., type (last byte) */
                const char *name = buf + i + (nr == SYS_getdents64 ? 19 : 18);
                size_t nl = strnlen(name, (size_t)(buf + i + reclen - name));
                int keep = (nl == 1 && name[0] == '.') || (nl == 2 && name[0] == '.' && name[1] == '.');
                if (!keep) {
                    if ((size_t)dn + 1 + nl >= sizeof(path)) {
                        keep = 1;
                    } else {
                        memcpy(path, dir, (size_t)dn);
                        path[dn] = '/';
                        memcpy(path + dn + 1, name, nl);
                        keep = lx_paths_decide(p->s->paths, LX_OP_STAT, path, (size_t)dn + 1 + nl) != ENOENT;
                    }
                }
                if (keep) {
                    memcpy(out + kept, buf + i, reclen);
                    kept += reclen;
                }
                i += reclen;
            }
            if (kept) { /* else every name was hidden: list on, as if they were not there */
                if (lx_mem_write(p->c->pid, a[1], out, kept) < 0)
                    rc = -EFAULT;
                else
                    rc = (int)kept;
                break;
            }
        }
    }
    free(buf);
    free(out);
    close(fd);
    return rc;
}

static int write_out(struct lx_pc *p, const struct out *o)
{
    for (int i = 0; i < o->nw; i++)
        if (lx_mem_write(p->c->pid, o->w[i].addr, o->w[i].data, o->w[i].len) < 0)
            return -EFAULT;
    return o->err_after;
}

int lx_path_other(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    (void)a;
    struct lx_pc p;
    struct pre pr;
    struct out o;
    memset(&pr, 0, sizeof(pr));
    memset(&o, 0, sizeof(o));
    const uint64_t *args = c->args;
    int nr = c->nr, rc, cont = 0;
    int taken[2] = {-1, -1}, inofd = -1, fd = -1;
    struct target t[2] = {{.dfd = -1}, {.dfd = -1}};
    char paths[2][LX_PATH_MAX + 1], g[2][LX_PATH_MAX];
    size_t gn[2] = {0, 0};
    /* statbuf: struct stat/statx/statfs, or name_to_handle_at's handle and mount id */
    union { struct stat st; struct statx sx; struct statfs sf; uint8_t h[8 + MAX_HANDLE_SZ + 8]; } statbuf;
    char *xbuf = NULL, *lbuf = NULL;

    rc = lx_pc_begin(&p, s, c);
    if (rc < 0)
        goto answer;
    if (nr == SYS_getdents || nr == SYS_getdents64) {
        rc = do_list(&p, &cont);
        goto answer;
    }
    if (bad_flags(nr, args)) {
        rc = -EINVAL;
        goto answer;
    }
    if (held_call(nr, args)) {
        if (nr == SYS_utimensat && sint(args[0]) == LX_AT_FDCWD) {
            rc = -EFAULT; /* utimensat(AT_FDCWD, NULL, ...), as the kernel says */
            goto answer;
        }
        if ((rc = preread(c, &pr)) < 0)
            goto answer;
        fd = lx_take_fd(s, c, sint(args[0]));
        if (fd < 0) {
            rc = fd;
            goto answer;
        }
        if ((rc = lx_pc_as_program(&p)) == 0) {
            rc = on_held(&p, fd, &pr);
            lx_pc_as_supervisor(&p);
        }
        goto answer;
    }
    int dirfd[2];
    uint64_t addr[2];
    int n = slots(nr, args, dirfd, addr);
    if (n < 0) {
        rc = -ENOSYS; /* the policy layer gives this kind only to the calls above */
        goto answer;
    }
    /* everything read from the program is read now, as the supervisor */
    if ((rc = preread(c, &pr)) < 0)
        goto answer;
    for (int i = 0; i < n; i++) {
        int empty = 0;
        if (!addr[i] && ((nr == SYS_statx || nr == SYS_newfstatat) && empty_ok(nr, args, i))) {
            empty = 1; /* a NULL path with AT_EMPTY_PATH: the fd itself (Linux 6.11) */
            paths[i][0] = '\0';
        } else {
            ssize_t k = lx_read_path(c, addr[i], paths[i]);
            if (k < 0) {
                rc = (int)k;
                goto answer;
            }
            empty = !paths[i][0] && empty_ok(nr, args, i);
        }
        if (empty) {
            /* the program's fd itself (taken as the supervisor: pidfd_getfd checks our rights) */
            taken[i] = lx_take_fd(s, c, dirfd[i]);
            if (taken[i] < 0) {
                rc = taken[i];
                goto answer;
            }
        } else if (!paths[i][0]) {
            rc = -ENOENT;
            goto answer;
        } else {
            ssize_t k = lx_guest_path(p.v, dirfd[i], paths[i], g[i]);
            if (k < 0) {
                rc = (int)k;
                goto answer;
            }
            gn[i] = (size_t)k;
        }
    }
    if ((nr == SYS_newfstatat || nr == SYS_statx) && taken[0] >= 0) {
        /* fstat through "" + AT_EMPTY_PATH: the program's fd itself, not judged (as fstat) */
        rc = stat_out(&p, taken[0], nr, &o, &statbuf);
        goto answer;
    }
    if (nr == SYS_inotify_add_watch) {
        inofd = lx_take_fd(s, c, sint(args[0])); /* the program's instance: the watch is its */
        if (inofd < 0) {
            rc = inofd;
            goto answer;
        }
    }
    rc = lx_pc_as_program(&p);
    if (rc < 0)
        goto answer;
    int follow;
    unsigned ops;
    if (file_call(nr, args, &follow, &ops)) {
        fd = stat_path(&p, g[0], gn[0], taken[0], follow, ops);
        if (fd < 0)
            rc = fd;
        else
            rc = on_file(&p, fd, &pr, &o, &statbuf, &xbuf, inofd);
    } else {
        lbuf = malloc(LX_PATH_MAX);
        rc = lbuf ? 0 : -ENOMEM;
        for (int i = 0; i < n && rc == 0; i++)
            rc = target_of(&p, g[i], taken[i], &t[i]);
        if (rc == 0)
            rc = on_names(&p, t, g[0], gn[0], &pr, &o, lbuf);
    }
    lx_pc_as_supervisor(&p);
    if (nr == SYS_chdir && rc == 0) {
        /* Decided here; performed by the kernel, which re-reads the path (no call sets
         * another process's cwd).  Sound because nothing trusts the cwd: every later
         * relative path is resolved from the real /proc/PID/cwd and judged on the file
         * it reaches, and /proc/self/cwd is a magic link (SECURITY.md). */
        cont = 1;
    }
answer:
    if (rc >= 0 && !cont) {
        int w = write_out(&p, &o);
        if (w < 0)
            rc = w;
    }
    for (int i = 0; i < 2; i++) {
        target_close(&t[i]);
        if (taken[i] >= 0)
            close(taken[i]);
    }
    if (fd >= 0)
        close(fd);
    if (inofd >= 0)
        close(inofd);
    free(pr.value);
    free(xbuf);
    free(lbuf);
    if (cont) {
        c->cont = 1;
        return 0;
    }
    c->ret = rc;
    return 1;
}
