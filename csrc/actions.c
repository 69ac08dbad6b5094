/* Fast actions: answers produced in C, shared by both backends. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
#include <sys/utsname.h>

#include "engine.h"

int lx_id_valid(struct lx_sup *s, uint64_t id)
{
    if (s->backend != LX_BACKEND_UNOTIFY)
        return 1;
    return ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int lx_fast_answer(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    switch (a->kind) {
    case LX_ACT_RETURN:
        c->ret = a->err ? -(int64_t)a->err : a->value;
        return 1;
    case LX_ACT_UNAME: {
        /* uname(2) writes struct new_utsname: six 65-byte fields, which is
         * exactly struct lx_utsname. */
        _Static_assert(sizeof(struct lx_utsname) == sizeof(struct utsname), "utsname layout");
        if (!c->args[0]) {
            c->ret = -EFAULT;
            return 1;
        }
        /* The target waits in the notification and stays our (unreaped) tracee,
         * so a valid id means its pid still names it. */
        if (!lx_id_valid(s, c->id)) {
            c->ret = -ESRCH;
            return 1;
        }
        ssize_t n = lx_mem_write(c->pid, c->args[0], &s->uts, sizeof(s->uts));
        c->ret = n < 0 ? -EFAULT : 0;
        return 1;
    }
    case LX_ACT_DENY:
        c->ret = -(int64_t)(a->err ? a->err : EPERM);
        return 1;
    default:
        return 0;
    }
}

/* The verdict for a trapped call that is not TRACE, the same on both backends:
 * a Python handler when the table says so (a failing handler denies: fail
 * closed), otherwise a fast action.  Returns 1 if answered (c->ret set), 0 if
 * the call must continue natively. */
int lx_decide(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    if (a->kind != LX_ACT_PYTHON)
        return lx_fast_answer(s, c, a);
    if (!s->handler) {
        c->ret = -ENOSYS;
        return 1;
    }
    if (s->handler(s->ctx, c) < 0) {
        c->ret = -EPERM;
        return 1;
    }
    return !c->cont;
}
