/* Fast actions: answers produced in C, shared by both backends. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/seccomp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "net.h"
#include "paths.h"
#include "persona.h"
#include "trace.h"
#include "view.h"

int lx_id_valid(struct lx_sup *s, uint64_t id)
{
    if (s->backend != LX_BACKEND_UNOTIFY)
        return 1;
    return ioctl(s->notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int lx_install_fd(struct lx_sup *s, struct lx_call *c, int fd, int cloexec)
{
    int rc = s->backend == LX_BACKEND_UNOTIFY ? lx_addfd(s, c->id, fd, 1, cloexec ? O_CLOEXEC : 0)
                                              : lx_ptrace_addfd(s, c->tid, fd, cloexec);
    c->sent = rc >= 0 && s->backend == LX_BACKEND_UNOTIFY;
    return rc;
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
        /* trapped only with denial events on (filter.c): the kernel answers otherwise */
        c->ret = -(int64_t)(a->err ? a->err : EPERM);
        lx_event_denied(s, c->tid, c->nr, (int)-c->ret, LX_EVSRC_SYSCALL, -1, NULL, NULL);
        return 1;
    default:
        return 0;
    }
}

/* The verdict for a trapped call that is not TRACE, the same on both backends:
 * a Python handler when the table says so (a failing handler denies: fail
 * closed), otherwise a fast action.  Returns 1 if answered (c->ret set), 0 if
 * the call must continue natively. */
int lx_gate_set(struct lx_sup *s, char *const names[], size_t n)
{
    char **g = calloc(n ? n : 1, sizeof(char *));
    if (!g)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        g[i] = strdup(names[i]);
        if (!g[i]) {
            while (i--)
                free(g[i]);
            free(g);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < s->ngate; i++)
        free(s->gate[i]);
    free(s->gate);
    s->gate = g;
    s->ngate = n;
    return 0;
}

/* The open pipeline's pre-check, in C (lxbrand/handlers/files.py does the same in
 * Python): a cosmetic handler only answers opens whose basename it serves, so any
 * other open continues without entering Python; a file the personality's view
 * serves, and no Python hook claims, is answered here (persona.c).  Only for
 * handlers that declared their basenames; anything the check cannot read goes to
 * Python, which answers it as the kernel would. */
enum gate_verdict { GATE_CONTINUE, GATE_PYTHON, GATE_ANSWERED };
static enum gate_verdict gate(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    char path[4096];
    ssize_t n = lx_mem_read_str(c->pid, c->args[a->gate_arg - 1], path, sizeof(path));
    if (n < 0 || (size_t)n >= sizeof(path) - 1)
        return GATE_PYTHON;
    if (lx_gate_match(s, path))
        return GATE_PYTHON;
    /* open(path, flags) / openat(dirfd, path, flags): the path is argument 1 of openat */
    int dirfd = a->gate_arg - 1 == 1 ? (int)c->args[0] : AT_FDCWD;
    return s->persona && lx_persona_open(s, c, path, dirfd, c->args[a->gate_arg], 0) ? GATE_ANSWERED
                                                                                        : GATE_CONTINUE;
}

int lx_gate_match(const struct lx_sup *s, const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *base = memrchr(path, '/', n);
    base = base ? base + 1 : path;
    size_t blen = (size_t)(path + n - base);
    for (size_t i = 0; i < s->ngate; i++)
        if (strlen(s->gate[i]) == blen && memcmp(base, s->gate[i], blen) == 0)
            return 1;
    return 0;
}

int lx_upcall(struct lx_sup *s, struct lx_call *c)
{
    if (!s->handler) {
        c->ret = -ENOSYS;
        return 1;
    }
    if (s->handler(s->ctx, c) < 0) {
        c->ret = -EPERM; /* a failing handler denies: fail closed */
        return 1;
    }
    return !c->cont;
}

void lx_observe(struct lx_sup *s, const struct lx_call *c)
{
    if (s->rec_from_exec && !s->rec_started)
        lx_trace_on(s, c); /* the first process's first execve starts the trace (trace.h) */
    if (s->views)
        lx_views_note(s, c->nr, c->tid);
    if (s->events)
        lx_event_observe(s, c); /* connect/bind, with events on */
}

int lx_decide(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    switch (a->kind) {
    case LX_ACT_PATH:
        return lx_path_call(s, c, a);
    case LX_ACT_NET:
        return lx_net_call(s, c, a);
    case LX_ACT_WATCH:
        c->cont = 1; /* lx_observe forgot what it may change */
        return 0;
    case LX_ACT_PERSONA:
        return lx_persona_decide(s, c);
    case LX_ACT_PYTHON:
        break;
    default:
        return lx_fast_answer(s, c, a);
    }
    if (a->gate_arg) {
        enum gate_verdict g = gate(s, c, a);
        if (g == GATE_ANSWERED)
            return 1;
        if (g == GATE_CONTINUE) {
            c->cont = 1;
            return 0;
        }
    }
    return lx_upcall(s, c);
}
