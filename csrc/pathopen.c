/* Opens and execs under [[path]] rules (paths.h): open, openat, openat2, creat,
 * execve, execveat -- read once, resolved once, decided, performed by the
 * supervisor with the program's credentials and installed as the call's result
 * (ADDFD+SEND on unotify, csrc/inject.c's hand-over on ptrace).  The program's
 * memory is never read again and the original call never runs: another thread
 * could change the path between our read and the kernel's (seccomp_unotify(2),
 * "Caveats").
 *
 * The common open -- no O_CREAT, O_TMPFILE or O_PATH, no ".." -- costs one walk:
 * the rules are matched on the path as joined (no symlink has been followed, so
 * it is the path of what will be reached), then openat2 opens it with the
 * program's flags and RESOLVE_NO_SYMLINKS.  If the walk meets a symlink (ELOOP),
 * nothing was opened, and the general way takes over: resolve to an O_PATH fd,
 * read the path it reached, decide on that, reopen that very inode.  A denial
 * is confirmed by the same symlink-free walk (O_PATH, no side effect) before it
 * is answered, so a path that only looks denied (a symlink out of the denied
 * tree) is decided on what it reaches.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "pathctx.h"
#include "paths.h"
#include "persona.h"
#include "resolve.h"
#include "view.h"

#define TMPFILE_BIT 020000000 /* __O_TMPFILE without O_DIRECTORY (asm-generic/fcntl.h) */
/* what open(2) keeps of its flags (fs/open.c, VALID_OPEN_FLAGS and O_PATH_FLAGS) */
#define VALID_OPEN (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | FASYNC | \
                    O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | \
                    TMPFILE_BIT)
#define PATH_FLAGS (O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC)
#define OURS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* One open as decided: everything the program gave, read once. */
struct open_req {
    int nr;
    int dirfd;
    uint64_t flags, mode, resolve; /* resolve: openat2's own RESOLVE_* flags */
    char path[LX_PATH_MAX + 1];
};

/* SECCOMP_IOCTL_NOTIF_ADDFD refuses O_PATH files (fget), so on unotify an
 * allowed O_PATH open gets the same inode opened read-only where that is
 * harmless -- a directory, a regular file it may read, a FIFO without blocking
 * -- and EACCES otherwise (DIVERGENCE.md). */
static int path_fd(int pfd, const struct stat *st)
{
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
    int fl = S_ISDIR(st->st_mode) ? O_RDONLY | O_DIRECTORY : S_ISREG(st->st_mode) ? O_RDONLY
           : S_ISFIFO(st->st_mode) ? O_RDONLY | O_NONBLOCK : -1;
    if (fl < 0)
        return -EACCES;
    int fd = open(self, fl | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int reopen(int pfd, uint64_t flags, mode_t mode)
{
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
    int fd = open(self, (int)flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

/* A new file under the resolved parent: decided on parent + name, created with
 * O_EXCL and O_NOFOLLOW (a name planted meanwhile is never followed out of the
 * directory).  EEXIST from a name that appeared meanwhile: *again = 1. */
static int create(struct lx_pc *p, int base, const char *gpath, uint64_t flags, uint64_t mode, uint64_t res, int probe,
                  int *again)
{
    char d[LX_PATH_MAX];
    size_t n = strlen(gpath);
    while (n > 1 && gpath[n - 1] == '/')
        n--;
    memcpy(d, gpath, n);
    d[n] = '\0';
    char *slash = strrchr(d, '/');
    const char *name = slash ? slash + 1 : d;
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return -EISDIR;
    char namebuf[LX_PATH_MAX];
    strcpy(namebuf, name);
    if (slash)
        slash == d ? (void)(d[1] = '\0') : (void)(*slash = '\0');
    else
        strcpy(d, ".");
    int dfd = lx_openat2(base, d, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, res);
    if (dfd < 0)
        return dfd;
    char real[LX_PATH_MAX];
    ssize_t rn = lx_real_path(p->v, dfd, real);
    int rc = (int)rn;
    if (rn >= 0) {
        size_t k = lx_match_len(real, (size_t)rn);
        if (k == 1 && real[0] == '/')
            k = 0;
        if (k + 1 + strlen(namebuf) >= sizeof(real)) {
            rc = -ENAMETOOLONG;
        } else {
            real[k] = '/';
            strcpy(real + k + 1, namebuf);
            unsigned ops = LX_OP_CREATE |
                           (((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) ? LX_OP_WRITE : 0);
            rc = lx_pc_check(p, ops, real, strlen(real));
        }
    }
    if (rc == 0 && probe) {
        rc = dfd;
        dfd = -1;
    } else if (rc == 0) {
        mode_t old;
        rc = lx_pc_umask(p, &old);
        if (rc == 0) {
            rc = openat(dfd, namebuf, (int)((flags | O_NOFOLLOW | O_CLOEXEC | O_EXCL) & ~(uint64_t)O_PATH),
                        (mode_t)(mode & 07777));
            rc = rc < 0 ? -errno : rc;
            umask(old);
            if (rc == -EEXIST && !(flags & O_EXCL))
                *again = 1;
        }
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* The general way (the module comment): resolve, decide on what was reached,
 * open that.  probe: decide only, and return an O_PATH fd (nothing created or
 * truncated).  Returns a supervisor fd or -errno.  Runs as the program. */
static int open_general(struct lx_pc *p, int base, const char *gpath, uint64_t flags, uint64_t mode, uint64_t res,
                        int probe)
{
    int real_o_path = p->s->backend == LX_BACKEND_PTRACE; /* SCM_RIGHTS carries O_PATH files; ADDFD does not */
    for (int tries = 0; tries < 2; tries++) {
        if ((flags & TMPFILE_BIT) == TMPFILE_BIT) {
            int d = lx_openat2(base, gpath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, res);
            if (d < 0)
                return d;
            int rc = lx_pc_check_fd(p, LX_OP_CREATE, d);
            if (rc == 0 && probe)
                return d;
            if (rc == 0) {
                mode_t old;
                rc = lx_pc_umask(p, &old);
                if (rc == 0) {
                    rc = reopen(d, flags & ~(uint64_t)O_PATH, (mode_t)(mode & 07777));
                    umask(old);
                }
            }
            close(d);
            return rc;
        }
        int pfd = lx_openat2(base, gpath, O_PATH | O_CLOEXEC | (flags & (O_NOFOLLOW | O_DIRECTORY)), 0, res);
        if (pfd == -ENOENT && (flags & O_CREAT)) {
            int again = 0;
            int rc = create(p, base, gpath, flags, mode, res, probe, &again);
            if (!again)
                return rc;
            continue; /* it appeared meanwhile: open it as existing, decided as such */
        }
        if (pfd < 0)
            return pfd;
        struct stat st;
        int rc = 0;
        if ((flags & O_CREAT) && (flags & O_EXCL))
            rc = -EEXIST;
        else if (fstat(pfd, &st) < 0)
            rc = -errno;
        else if (S_ISLNK(st.st_mode) && !(flags & O_PATH))
            rc = -ELOOP; /* O_NOFOLLOW of a symlink */
        if (rc == 0)
            rc = lx_pc_check_fd(p, lx_open_ops(flags), pfd);
        if (rc == 0) {
            if (probe)
                return pfd;
            if (flags & O_PATH && real_o_path) {
                rc = fcntl(pfd, F_DUPFD_CLOEXEC, 0);
                rc = rc < 0 ? -errno : rc;
            } else if (flags & O_PATH) {
                rc = path_fd(pfd, &st);
            } else {
                /* the inode decided on, reopened through OUR fd's magic link */
                rc = reopen(pfd, flags & ~(uint64_t)(O_CREAT | O_EXCL | O_NOFOLLOW), 0);
            }
        }
        close(pfd);
        return rc;
    }
    return -EEXIST;
}

/* Resolve, decide and open as the program would; a supervisor fd or -errno. */
static int open_for(struct lx_pc *p, struct open_req *r, int probe)
{
    char g[LX_PATH_MAX];
    int base = p->v->root->fd, owned = -1;
    uint64_t their = r->resolve & (RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT);
    uint64_t res;
    const char *gpath;
    if (!r->path[0])
        return -ENOENT;
    if (their & (RESOLVE_BENEATH | RESOLVE_IN_ROOT)) {
        /* the program's flags are about its dirfd: walk from (our copy of) it, which
         * they keep below (BENEATH) or treat as the root (IN_ROOT) */
        owned = lx_take_fd(p->s, p->c, r->dirfd);
        if (owned < 0)
            return owned;
        base = owned;
        res = their | RESOLVE_NO_MAGICLINKS;
        gpath = r->path;
    } else {
        /* from the program's root (without RESOLVE_BENEATH a walk from its dirfd
         * could climb out of its root with ".."); the path made absolute */
        ssize_t n = lx_guest_path(p->v, r->dirfd, r->path, g);
        if (n < 0)
            return (int)n;
        res = OURS | their;
        gpath = g;
        if (!probe && !their && !(r->flags & (O_CREAT | TMPFILE_BIT | O_PATH)) && !lx_has_dotdot(g)) {
            size_t m = lx_match_len(g, (size_t)n);
            unsigned ops = lx_open_ops(r->flags);
            int denied = lx_is_supervisor_proc(p->s, g, m) ? EACCES : 0;
            for (unsigned op = 1; !denied && op <= LX_OP_EXEC; op <<= 1)
                if (ops & op)
                    denied = lx_paths_decide(p->s->paths, op, g, m);
            int rc = lx_pc_as_program(p);
            if (rc < 0)
                return rc;
            int fd = denied ? lx_openat2(base, g, O_PATH | O_CLOEXEC | (r->flags & (O_NOFOLLOW | O_DIRECTORY)), 0,
                                         OURS | RESOLVE_NO_SYMLINKS)
                            : lx_openat2(base, g, r->flags | O_CLOEXEC, r->mode, OURS | RESOLVE_NO_SYMLINKS);
            lx_pc_as_supervisor(p);
            if (fd != -ELOOP) {
                if (fd >= 0 && denied) {
                    close(fd);
                    return lx_pc_check(p, ops, g, (size_t)n); /* logs and answers the denial */
                }
                return fd;
            }
            /* a symlink on the way: decide on where it leads */
        }
    }
    int rc = lx_pc_as_program(p);
    if (rc == 0) {
        rc = open_general(p, base, gpath, r->flags, r->mode, res, probe);
        lx_pc_as_supervisor(p);
    }
    if (owned >= 0)
        close(owned);
    return rc;
}

/* The arguments of open, openat, openat2, creat; the path read once. */
static int read_open(struct lx_call *c, struct open_req *r)
{
    const uint64_t *a = c->args;
    uint64_t addr;
    r->nr = c->nr;
    r->resolve = 0;
    if (c->nr == SYS_open || c->nr == SYS_creat) {
        r->dirfd = LX_AT_FDCWD;
        addr = a[0];
        r->flags = c->nr == SYS_creat ? (O_CREAT | O_WRONLY | O_TRUNC) : a[1];
        r->mode = c->nr == SYS_creat ? a[1] : a[2];
    } else if (c->nr == SYS_openat) {
        r->dirfd = (int)a[0];
        addr = a[1];
        r->flags = a[2];
        r->mode = a[3];
    } else {
        /* openat2(dirfd, path, struct open_how *, size): copy_struct_from_user's rules */
        uint64_t size = a[3];
        if (size < sizeof(struct open_how))
            return -EINVAL;
        if (size > 4096)
            return -E2BIG;
        uint8_t how[4096];
        if (lx_mem_read(c->pid, a[2], how, size) != (ssize_t)size)
            return -EFAULT;
        for (uint64_t i = sizeof(struct open_how); i < size; i++)
            if (how[i])
                return -E2BIG;
        struct open_how h;
        memcpy(&h, how, sizeof(h));
        r->dirfd = (int)a[0];
        addr = a[1];
        r->flags = h.flags;
        r->mode = h.mode;
        r->resolve = h.resolve;
        /* the kernel's checks of open_how (build_open_flags), which the supervisor's
         * own openat2 would not all make for it */
        if ((h.flags & ~(uint64_t)VALID_OPEN) || (h.mode & ~(uint64_t)07777) ||
            (h.mode && !(h.flags & (O_CREAT | TMPFILE_BIT))) ||
            ((h.flags & O_PATH) && (h.flags & ~(uint64_t)PATH_FLAGS)) ||
            (h.resolve & ~(uint64_t)(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
                                     RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED)) ||
            ((h.resolve & RESOLVE_BENEATH) && (h.resolve & RESOLVE_IN_ROOT)))
            return -EINVAL;
    }
    if (c->nr != SYS_openat2) {
        /* what the kernel keeps of open/openat's flags (build_open_how) */
        r->flags &= (uint32_t)VALID_OPEN;
        if (r->flags & O_PATH)
            r->flags &= PATH_FLAGS;
        r->mode = (r->flags & (O_CREAT | TMPFILE_BIT)) ? r->mode & 07777 : 0;
    }
    ssize_t n = lx_read_path(c, addr, r->path);
    return n < 0 ? (int)n : 0;
}

/* Should the policy's Python handler (the open pipeline's hooks: the personality's
 * files) see this open once the rules allow it? */
static int upcall_wanted(struct lx_sup *s, const struct lx_action *a, const char *path)
{
    if (!s->handler)
        return 0;
    if (a->value & LX_PATH_UPCALL_ALL)
        return 1;
    return a->gate_arg && lx_gate_match(s, path);
}

static int do_open(struct lx_pc *p, const struct lx_action *a)
{
    struct lx_call *c = p->c;
    struct open_req r;
    int rc = read_open(c, &r);
    if (rc < 0)
        goto answer;
    int err;
    p->v = lx_view_get(p->s, c->tid, &err);
    if (!p->v) {
        rc = err;
        goto answer;
    }
    /* a file the personality's view serves (persona.c), unless a Python hook
     * claims its name: then the hooks decide in their order */
    int hooks = upcall_wanted(p->s, a, r.path), view = !hooks && lx_persona_wants(p->s, r.path);
    if (hooks || view) {
        /* The rules first: a denial wins over a served file.  Anything else the
         * probe meets (ENOENT, ...) is the view's or the hooks' to answer (a served
         * file need not exist).  Then the view or the hooks, then the open. */
        int pfd = open_for(p, &r, 1);
        if (pfd >= 0) {
            close(pfd);
        } else if (p->denied) {
            rc = pfd;
            goto answer;
        }
        if (view) {
            if (lx_persona_open(p->s, c, r.path, r.dirfd, r.flags, r.resolve))
                return 1;
            goto perform; /* not a file the view serves after all (a write, a relative name) */
        }
        c->path = r.path;
        int answered = lx_upcall(p->s, c);
        c->path = NULL;
        if (answered || !c->cont)
            return answered;
        c->cont = 0; /* no hook answered: the open is ours to perform */
        c->ret = 0;
    }
perform:;
    int fd = open_for(p, &r, 0);
    if (fd < 0) {
        rc = fd;
        goto answer;
    }
    rc = lx_install_fd(p->s, p->c, fd, (r.flags & O_CLOEXEC) != 0);
    close(fd);
answer:
    c->ret = rc;
    return 1;
}

/* execve/execveat: the early answer.  The kernel reads the path again after
 * this, so this cannot be the enforcement: lx_paths_exec_ok checks what actually
 * runs, at PTRACE_EVENT_EXEC, before its first instruction (SECURITY.md). */
static int do_exec(struct lx_pc *p)
{
    struct lx_call *c = p->c;
    int dirfd = LX_AT_FDCWD;
    uint64_t addr = c->args[0], at = 0;
    if (c->nr == SYS_execveat) {
        dirfd = (int)c->args[0];
        addr = c->args[1];
        at = c->args[4];
    }
    char path[LX_PATH_MAX + 1], g[LX_PATH_MAX];
    ssize_t n = lx_read_path(c, addr, path);
    int err, rc;
    if (n < 0) {
        c->ret = n;
        return 1;
    }
    p->v = lx_view_get(p->s, c->tid, &err);
    if (!p->v) {
        c->ret = err;
        return 1;
    }
    int fd;
    if (!path[0] && (at & AT_EMPTY_PATH)) {
        fd = lx_take_fd(p->s, c, dirfd); /* the fd itself, as the program names it */
    } else {
        n = lx_guest_path(p->v, dirfd, path, g);
        if (n < 0) {
            c->ret = n;
            return 1;
        }
        rc = lx_pc_as_program(p);
        if (rc < 0) {
            c->ret = rc;
            return 1;
        }
        fd = lx_openat2(p->v->root->fd, g, O_PATH | O_CLOEXEC, 0, OURS);
        lx_pc_as_supervisor(p);
    }
    if (fd < 0) {
        c->ret = fd;
        return 1;
    }
    rc = lx_pc_check_fd(p, LX_OP_EXEC, fd);
    close(fd);
    if (rc < 0) {
        c->ret = rc;
        return 1;
    }
    c->cont = 1;
    return 0;
}

int lx_path_call(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    struct lx_pc p = {.s = s, .c = c};
    if (!s->paths || !s->views) {
        c->ret = -ENOSYS;
        return 1;
    }
    switch (c->nr) {
    case SYS_open:
    case SYS_openat:
    case SYS_openat2:
    case SYS_creat:
        return do_open(&p, a);
    case SYS_execve:
    case SYS_execveat:
        return do_exec(&p);
    default:
        return lx_path_other(s, c, a);
    }
}
