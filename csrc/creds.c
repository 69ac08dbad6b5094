/* The one credential switcher (view.h): a supervisor thread acts with a program
 * thread's credentials, so the kernel checks permissions, owns new files and
 * records socket peers as it would for the program.
 *
 * Credentials are per thread in Linux; glibc's setgroups/setresuid wrappers
 * change every thread of the process (nptl's setxid broadcast), so the raw
 * syscalls are used.  setfsuid/setfsgid change only the ids the kernel checks
 * files with; setresuid/setresgid (identity) also the effective ids a UNIX
 * socket records for its peer (SO_PEERCRED).  A thread whose effective or
 * filesystem uid leaves 0 loses its effective capabilities (capabilities(7),
 * "Effect of user ID changes on capabilities"), so capset comes last. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "view.h"

static int caps_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capget, &h, d) < 0 ? -errno : 0;
}

static int caps_set_effective(uint64_t eff)
{
    struct __user_cap_data_struct d[2];
    int rc = caps_get(d);
    if (rc < 0)
        return rc;
    /* only what we hold: a program's capability the supervisor lacks cannot be lent */
    d[0].effective = (uint32_t)eff & d[0].permitted;
    d[1].effective = (uint32_t)(eff >> 32) & d[1].permitted;
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

int lx_creds_read_own(struct lx_creds *c)
{
    memset(c, 0, sizeof(*c));
    uid_t r, e, sv;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &sv) < 0 || getresgid(&gr, &ge, &gs) < 0)
        return -errno;
    c->euid = c->fsuid = e;
    c->egid = c->fsgid = ge;
    c->fsuid = (uid_t)syscall(SYS_setfsuid, -1); /* -1 changes nothing and answers the current one */
    c->fsgid = (gid_t)syscall(SYS_setfsgid, -1);
    int n = getgroups(0, NULL);
    if (n < 0)
        return -errno;
    c->groups = calloc((size_t)n + 1, sizeof(gid_t));
    if (!c->groups)
        return -ENOMEM;
    n = getgroups(n, c->groups);
    if (n < 0) {
        free(c->groups);
        c->groups = NULL;
        return -errno;
    }
    c->ngroups = n;
    qsort(c->groups, (size_t)n, sizeof(gid_t), cmp_gid);
    struct __user_cap_data_struct d[2];
    int rc = caps_get(d);
    if (rc < 0)
        return rc;
    c->capeff = d[0].effective | ((uint64_t)d[1].effective << 32);
    return 0;
}

void lx_creds_free(struct lx_creds *c)
{
    free(c->groups);
    c->groups = NULL;
    c->ngroups = 0;
}

static int same_groups(const struct lx_creds *a, const struct lx_creds *b)
{
    return a->ngroups == b->ngroups && (a->ngroups == 0 || !memcmp(a->groups, b->groups, a->ngroups * sizeof(gid_t)));
}

int lx_creds_equal(const struct lx_creds *a, const struct lx_creds *b)
{
    return a->euid == b->euid && a->fsuid == b->fsuid && a->egid == b->egid && a->fsgid == b->fsgid &&
           a->capeff == b->capeff && same_groups(a, b);
}

static int set_groups(const struct lx_creds *c)
{
    return syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0 ? -errno : 0;
}

int lx_creds_take(struct lx_sup *s, const struct lx_creds *want, int identity, struct lx_cred_state *st)
{
    const struct lx_creds *own = &s->views->own;
    st->switched = 0;
    st->identity = identity;
    int same = want->fsuid == own->fsuid && want->fsgid == own->fsgid && want->capeff == own->capeff &&
               same_groups(want, own) && (!identity || (want->euid == own->euid && want->egid == own->egid));
    if (same)
        return 0;
    st->switched = 1;
    int rc = set_groups(want);
    if (rc == 0) {
        if (identity) {
            if (syscall(SYS_setresgid, -1, want->egid, -1) < 0 || syscall(SYS_setresuid, -1, want->euid, -1) < 0)
                rc = -errno;
        } else {
            syscall(SYS_setfsgid, want->fsgid);
            syscall(SYS_setfsuid, want->fsuid);
            /* setfsuid reports no error: ask which ids we have now */
            if ((uid_t)syscall(SYS_setfsuid, -1) != want->fsuid || (gid_t)syscall(SYS_setfsgid, -1) != want->fsgid)
                rc = -EPERM;
        }
    }
    if (rc == 0)
        rc = caps_set_effective(want->capeff);
    if (rc < 0) {
        lx_creds_restore(s, st);
        return rc == -EPERM ? -EACCES : rc; /* cannot act as the program: refuse (fail closed) */
    }
    return 0;
}

void lx_creds_restore(struct lx_sup *s, struct lx_cred_state *st)
{
    if (!st->switched)
        return;
    const struct lx_creds *own = &s->views->own;
    if (st->identity) {
        syscall(SYS_setresuid, -1, own->euid, -1); /* first: back to a uid that may do the rest */
        syscall(SYS_setresgid, -1, own->egid, -1);
    }
    syscall(SYS_setfsuid, own->fsuid);
    syscall(SYS_setfsgid, own->fsgid);
    set_groups(own);
    caps_set_effective(own->capeff);
    st->switched = 0;
}

int lx_creds_own_fs(void)
{
    static __thread int done;
    if (done)
        return 0;
    if (unshare(CLONE_FS) < 0)
        return -errno;
    done = 1;
    return 0;
}
