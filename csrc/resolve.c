/* Paths as the program sees them (resolve.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "resolve.h"
#include "view.h"

ssize_t lx_read_path(struct lx_call *c, uint64_t addr, char *buf)
{
    if (!addr)
        return -EFAULT;
    /* one byte more than PATH_MAX: a path of PATH_MAX bytes has no room for its NUL */
    ssize_t n = lx_mem_read_str(c->pid, addr, buf, LX_PATH_MAX + 1);
    if (n < 0)
        return n;
    if (!lx_id_valid(c->sup, c->id))
        return -ESRCH; /* the pid named another process by the time we read (seccomp_unotify(2)) */
    return n >= LX_PATH_MAX ? -ENAMETOOLONG : n;
}

/* Append a component; -ENAMETOOLONG past LX_PATH_MAX. */
static int put(char *out, size_t *n, const char *p, size_t len)
{
    if (*n + len + 1 >= LX_PATH_MAX)
        return -ENAMETOOLONG;
    memcpy(out + *n, p, len);
    *n += len;
    out[*n] = '\0';
    return 0;
}

/* Join `base` (absolute) and `rel` into out, dropping "." and empty components. */
static ssize_t join(const char *base, const char *rel, char *out)
{
    size_t n = 0;
    out[0] = '\0';
    int trailing = 0;
    for (int part = 0; part < 2; part++) {
        const char *p = part ? rel : base;
        if (!p)
            continue;
        while (*p) {
            while (*p == '/')
                p++;
            const char *e = strchrnul(p, '/');
            size_t len = (size_t)(e - p);
            if (len == 0)
                break;
            trailing = *e == '/' || (len == 1 && p[0] == '.');
            if (!(len == 1 && p[0] == '.')) {
                if (put(out, &n, "/", 1) < 0 || put(out, &n, p, len) < 0)
                    return -ENAMETOOLONG;
            }
            p = e;
        }
        if (part == 1 && rel[0] && rel[strlen(rel) - 1] == '/')
            trailing = 1;
    }
    if (n == 0)
        return put(out, &n, "/", 1) < 0 ? -ENAMETOOLONG : 1;
    if (trailing && put(out, &n, "/", 1) < 0)
        return -ENAMETOOLONG;
    return (ssize_t)n;
}

/* /proc/self and /proc/thread-self, walked by the supervisor, would name it:
 * they name the program, by its ids in its own pid namespace (its /proc). */
static ssize_t proc_self(struct lx_view *v, char *p, size_t n)
{
    static const struct { const char *s; size_t len; int thread; } pre[] = {
        {"/proc/self", 10, 0}, {"/proc/thread-self", 17, 1}};
    for (size_t i = 0; i < 2; i++) {
        size_t k = pre[i].len;
        if (n < k || memcmp(p, pre[i].s, k) || (p[k] != '/' && p[k] != '\0'))
            continue;
        char head[64], rest[LX_PATH_MAX];
        int h = pre[i].thread ? snprintf(head, sizeof(head), "/proc/%d/task/%d", (int)v->ns_tgid, (int)v->ns_tid)
                              : snprintf(head, sizeof(head), "/proc/%d", (int)v->ns_tgid);
        if ((size_t)h + (n - k) + 1 >= LX_PATH_MAX)
            return -ENAMETOOLONG;
        memcpy(rest, p + k, n - k + 1);
        memcpy(p, head, (size_t)h);
        memcpy(p + h, rest, n - k + 1);
        return (ssize_t)((size_t)h + n - k);
    }
    return (ssize_t)n;
}

ssize_t lx_guest_path(struct lx_view *v, int dirfd, const char *path, char *out)
{
    char base[LX_PATH_MAX];
    ssize_t n;
    if (path[0] == '/') {
        n = join(NULL, path, out);
    } else {
        char link[64];
        if (dirfd == LX_AT_FDCWD)
            snprintf(link, sizeof(link), "/proc/%d/cwd", (int)v->tid);
        else if (dirfd < 0)
            return -EBADF;
        else
            snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)v->tid, dirfd);
        ssize_t b = readlink(link, base, sizeof(base) - 1);
        if (b < 0)
            return errno == ENOENT ? -EBADF : -errno;
        base[b] = '\0';
        if (base[0] != '/')
            return -ENOTDIR; /* a pipe, a socket, an anonymous inode: no directory */
        const char *rb = base;
        size_t rl = v->root->len;
        if (rl) {
            /* shown from the supervisor's root: take the program's root off */
            if (strncmp(base, v->root->path, rl) || (base[rl] != '/' && base[rl] != '\0'))
                return -EACCES; /* a directory outside its root (opened before a chroot) */
            rb = base[rl] ? base + rl : "/";
        }
        n = join(rb, path, out);
    }
    if (n < 0)
        return n;
    return proc_self(v, out, (size_t)n);
}

int lx_has_dotdot(const char *p)
{
    for (const char *q = p; (q = strstr(q, "..")); q += 2)
        if ((q == p || q[-1] == '/') && (q[2] == '/' || q[2] == '\0'))
            return 1;
    return 0;
}

size_t lx_match_len(const char *p, size_t n)
{
    while (n > 1 && p[n - 1] == '/')
        n--;
    return n;
}

int lx_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

ssize_t lx_real_path(struct lx_view *v, int fd, char *out)
{
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(self, out, LX_PATH_MAX - 1);
    if (n < 0)
        return -errno;
    out[n] = '\0';
    size_t rl = v->root->len;
    if (rl && !strncmp(out, v->root->path, rl) && (out[rl] == '/' || out[rl] == '\0')) {
        if (out[rl] == '\0') {
            out[0] = '/';
            out[1] = '\0';
            return 1;
        }
        memmove(out, out + rl, (size_t)n - rl + 1);
        n -= (ssize_t)rl;
    }
    return n;
}

int lx_take_fd(struct lx_sup *s, struct lx_call *c, int fd)
{
    if (fd == LX_AT_FDCWD) {
        char link[64];
        snprintf(link, sizeof(link), "/proc/%d/cwd", (int)c->tid);
        int r = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return r < 0 ? -errno : r;
    }
    if (fd < 0)
        return -EBADF;
    int err;
    struct lx_view *v = lx_view_get(s, c->tid, &err);
    if (!v)
        return err;
    int pidfd = lx_view_pidfd(s, v, c->id);
    if (pidfd < 0)
        return pidfd;
    int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    return got < 0 ? -errno : got;
}

int lx_is_supervisor_proc(const struct lx_sup *s, const char *guest, size_t n)
{
    char me[32];
    int k = snprintf(me, sizeof(me), "/proc/%d", (int)(s->self ? s->self : getpid()));
    return n >= (size_t)k && !memcmp(guest, me, (size_t)k) && (n == (size_t)k || guest[k] == '/');
}
