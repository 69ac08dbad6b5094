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

/* The effective set `eff` (what we permit of it: a program's capability the
 * supervisor lacks cannot be lent), the permitted and inheritable sets kept as
 * the supervisor's, read once (no capget per switch). */
static int caps_set(const struct lx_creds *own, uint64_t eff)
{
    struct __user_cap_data_struct d[2];
    eff &= own->capprm;
    d[0].effective = (uint32_t)eff;
    d[1].effective = (uint32_t)(eff >> 32);
    d[0].permitted = (uint32_t)own->capprm;
    d[1].permitted = (uint32_t)(own->capprm >> 32);
    d[0].inheritable = (uint32_t)own->capinh;
    d[1].inheritable = (uint32_t)(own->capinh >> 32);
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
    c->capprm = d[0].permitted | ((uint64_t)d[1].permitted << 32);
    c->capinh = d[0].inheritable | ((uint64_t)d[1].inheritable << 32);
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

static int set_groups(const struct lx_creds *c)
{
    return syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) < 0 ? -errno : 0;
}

/* Only what differs from the supervisor's is switched: a container's root, which
 * differs in its capabilities alone, costs one capset each way.  A filesystem uid
 * that leaves 0 drops the effective file capabilities, and one that comes back to
 * 0 restores them (capabilities(7)): the capabilities follow a uid change too. */
enum { SW_GROUPS = 1, SW_FSGID = 2, SW_FSUID = 4, SW_CAPS = 8, SW_IDS = 16 };

int lx_creds_take(struct lx_sup *s, const struct lx_creds *want, int identity, struct lx_cred_state *st)
{
    const struct lx_creds *own = &s->views->own;
    int what = 0, rc = 0;
    if (!same_groups(want, own))
        what |= SW_GROUPS;
    if (identity && (want->euid != own->euid || want->egid != own->egid))
        what |= SW_IDS | SW_CAPS;
    if (!identity && want->fsgid != own->fsgid)
        what |= SW_FSGID;
    if (!identity && want->fsuid != own->fsuid)
        what |= SW_FSUID | SW_CAPS;
    if (want->capeff != own->capeff)
        what |= SW_CAPS;
    st->switched = what;
    st->identity = identity;
    if (!what)
        return 0;
    if (what & SW_GROUPS)
        rc = set_groups(want);
    if (rc == 0 && (what & SW_IDS)) {
        if (syscall(SYS_setresgid, -1, want->egid, -1) < 0 || syscall(SYS_setresuid, -1, want->euid, -1) < 0)
            rc = -errno;
    }
    if (rc == 0 && (what & (SW_FSGID | SW_FSUID))) {
        if (what & SW_FSGID)
            syscall(SYS_setfsgid, want->fsgid);
        if (what & SW_FSUID)
            syscall(SYS_setfsuid, want->fsuid);
        /* setfsuid reports no error: ask which ids we have now */
        if (((what & SW_FSUID) && (uid_t)syscall(SYS_setfsuid, -1) != want->fsuid) ||
            ((what & SW_FSGID) && (gid_t)syscall(SYS_setfsgid, -1) != want->fsgid))
            rc = -EPERM;
    }
    if (rc == 0 && (what & SW_CAPS))
        rc = caps_set(own, want->capeff);
    if (rc < 0) {
        lx_creds_restore(s, st);
        return rc == -EPERM ? -EACCES : rc; /* cannot act as the program: refuse (fail closed) */
    }
    return 0;
}

void lx_creds_restore(struct lx_sup *s, struct lx_cred_state *st)
{
    int what = st->switched;
    if (!what)
        return;
    const struct lx_creds *own = &s->views->own;
    int bad = 0;
    if (what & SW_IDS) {
        /* first: back to a uid that may do the rest */
        bad |= syscall(SYS_setresuid, -1, own->euid, -1) < 0;
        bad |= syscall(SYS_setresgid, -1, own->egid, -1) < 0;
    }
    /* the capabilities before the groups: setgroups needs CAP_SETGID, which the
     * program's set may lack (a filesystem uid back to 0 restores only the file
     * capabilities, capabilities(7)); restored after, the groups failed with EPERM and
     * the thread kept the program's, to lend them to the next call it served */
    if (what & SW_CAPS)
        bad |= caps_set(own, own->capeff) < 0;
    /* (with our capabilities back, setting our own filesystem ids cannot fail: no
     * second call to ask, as lx_creds_take must) */
    if (what & SW_FSUID)
        syscall(SYS_setfsuid, own->fsuid);
    if (what & SW_FSGID)
        syscall(SYS_setfsgid, own->fsgid);
    if (what & SW_GROUPS)
        bad |= set_groups(own) < 0;
    if (bad) {
        /* a supervisor thread that cannot be itself again would act for the next
         * program with another's credentials: fail closed (the tree dies with us) */
        static const char msg[] = "lxbrand: supervisor: cannot restore its own credentials; aborting\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
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
