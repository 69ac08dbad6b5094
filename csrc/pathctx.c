/* The steps every path call under [[path]] rules shares (pathctx.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "pathctx.h"
#include "paths.h"
#include "resolve.h"

int lx_pc_begin(struct lx_pc *p, struct lx_sup *s, struct lx_call *c)
{
    int err = 0;
    memset(p, 0, sizeof(*p));
    p->s = s;
    p->c = c;
    p->v = lx_view_get(s, c->tid, &err);
    return p->v ? 0 : err;
}

int lx_pc_as_program(struct lx_pc *p)
{
    return lx_creds_take(p->s, &p->v->cr, 0, &p->cred);
}

int lx_pc_as_real(struct lx_pc *p)
{
    struct lx_creds real = p->v->cr;
    real.fsuid = p->v->ruid;
    real.fsgid = p->v->rgid;
    real.capeff = p->v->ruid == 0 ? p->v->capprm : 0;
    return lx_creds_take(p->s, &real, 0, &p->cred);
}

void lx_pc_as_supervisor(struct lx_pc *p)
{
    lx_creds_restore(p->s, &p->cred);
}

unsigned lx_open_ops(uint64_t flags)
{
    if (flags & O_PATH)
        return LX_OP_STAT;
    unsigned acc = flags & O_ACCMODE, ops = 0;
    if (acc == O_RDONLY || acc == O_RDWR)
        ops |= LX_OP_READ;
    if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
        ops |= LX_OP_WRITE;
    return ops ? ops : LX_OP_READ;
}

int lx_pc_check(struct lx_pc *p, unsigned ops, const char *path, size_t n)
{
    int rc = lx_paths_check(p->s, ops, path, lx_match_len(path, n), p->c->pid);
    p->denied = rc < 0;
    return rc;
}

int lx_pc_check_fd(struct lx_pc *p, unsigned ops, int fd)
{
    char real[LX_PATH_MAX];
    ssize_t n = lx_real_path(p->v, fd, real);
    return n < 0 ? (int)n : lx_pc_check(p, ops, real, (size_t)n);
}

int lx_pc_umask(struct lx_pc *p, mode_t *old)
{
    int m = lx_view_umask(p->c->tid);
    if (m < 0)
        return m;
    int rc = lx_creds_own_fs(); /* its own fs_struct: the supervisor's other threads keep theirs */
    if (rc < 0)
        return rc;
    *old = umask((mode_t)m);
    return 0;
}
