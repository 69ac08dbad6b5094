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
#include "paths.h"
#include "view.h"

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

int lx_cache_set(struct lx_sup *s, const char *path, int fd, uint64_t until_ns)
{
    struct lx_cached *e = NULL;
    for (size_t i = 0; i < s->ncached; i++)
        if (strcmp(s->cached[i].path, path) == 0)
            e = &s->cached[i];
    if (fd < 0) {
        if (e) {
            close(e->fd);
            free(e->path);
            *e = s->cached[--s->ncached];
        }
        return 0;
    }
    int mine = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (mine < 0)
        return -errno;
    if (!e) {
        struct lx_cached *n = realloc(s->cached, (s->ncached + 1) * sizeof(*n));
        char *p = strdup(path);
        if (!n || !p) {
            if (n)
                s->cached = n;
            free(p);
            close(mine);
            return -ENOMEM;
        }
        s->cached = n;
        e = &s->cached[s->ncached++];
        e->path = p;
    } else {
        close(e->fd);
    }
    e->fd = mine;
    e->until_ns = until_ns;
    return 0;
}

int lx_reply_set(struct lx_sup *s, int nr, const void *data, size_t len, int64_t ret, uint64_t until_ns)
{
    struct lx_reply *e = NULL;
    for (size_t i = 0; i < s->nreplies; i++)
        if (s->replies[i].nr == nr)
            e = &s->replies[i];
    if (len == 0) {
        if (e) {
            free(e->data);
            *e = s->replies[--s->nreplies];
        }
        return 0;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    if (!e) {
        struct lx_reply *n = realloc(s->replies, (s->nreplies + 1) * sizeof(*n));
        if (!n) {
            free(copy);
            return -ENOMEM;
        }
        s->replies = n;
        e = &s->replies[s->nreplies++];
        e->data = NULL;
    }
    free(e->data);
    e->nr = nr;
    e->data = copy;
    e->len = len;
    e->ret = ret;
    e->until_ns = until_ns;
    return 0;
}

/* Repeat a fresh Python answer: 1 if answered (c->ret set), 0 if Python must run. */
static int replied(struct lx_sup *s, struct lx_call *c)
{
    for (size_t i = 0; i < s->nreplies; i++) {
        struct lx_reply *e = &s->replies[i];
        if (e->nr != c->nr)
            continue;
        if (!c->args[0] || lx_now_ns() >= e->until_ns)
            return 0; /* NULL (Python answers EFAULT as the kernel), or stale */
        /* the target waits in the notification: a valid id means its pid still names it */
        if (!lx_id_valid(s, c->id)) {
            c->ret = -ESRCH;
            return 1;
        }
        c->ret = lx_mem_write(c->pid, c->args[0], e->data, e->len) < 0 ? -EFAULT : e->ret;
        return 1;
    }
    return 0;
}

void lx_cache_clear(struct lx_sup *s)
{
    for (size_t i = 0; i < s->nreplies; i++)
        free(s->replies[i].data);
    free(s->replies);
    s->replies = NULL;
    s->nreplies = 0;
    for (size_t i = 0; i < s->ncached; i++) {
        close(s->cached[i].fd);
        free(s->cached[i].path);
    }
    free(s->cached);
    s->cached = NULL;
    s->ncached = 0;
}

/* The flags of an open that a snapshot answers as the pipeline would: read-only,
 * nothing that changes the answer (O_DIRECTORY, O_PATH, O_CREAT, O_TRUNC, ...). */
#define LX_CACHE_FLAGS (O_CLOEXEC | O_LARGEFILE | O_NOCTTY | O_NONBLOCK | O_NOATIME)

/* Answer a gated open from the cache: 1 if answered (c->ret set), 0 if not. */
int lx_cached_serve(struct lx_sup *s, struct lx_call *c, uint64_t flags, const char *path)
{
    if (!s->ncached || path[0] != '/' || (flags & ~(uint64_t)LX_CACHE_FLAGS) != O_RDONLY)
        return 0;
    for (size_t i = 0; i < s->ncached; i++) {
        struct lx_cached *e = &s->cached[i];
        if (strcmp(e->path, path) != 0)
            continue;
        if (lx_now_ns() >= e->until_ns)
            return 0; /* stale: Python generates it again (and tells us) */
        char self[32];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", e->fd);
        int fd = open(self, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 0;
        int cloexec = (flags & O_CLOEXEC) != 0;
        int rc = s->backend == LX_BACKEND_UNOTIFY ? lx_addfd(s, c->id, fd, 1, cloexec ? O_CLOEXEC : 0)
                                                  : lx_ptrace_addfd(s, c->tid, fd, cloexec);
        close(fd);
        c->ret = rc;
        c->sent = rc >= 0 && s->backend == LX_BACKEND_UNOTIFY; /* ADDFD_FLAG_SEND answered it */
        return 1;
    }
    return 0;
}

/* The open pipeline's pre-check, in C (lxbrand/handlers/files.py does the same in
 * Python): a cosmetic handler only answers opens whose basename it serves, so any
 * other open continues without entering Python, and a snapshot it served is
 * served again from here while it is fresh.  Only for handlers that declared
 * their basenames; anything the check cannot read goes to Python, which answers
 * it as the kernel would.  Returns 1: to Python, 0: continue, 2: answered. */
static int gate(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    char path[4096];
    ssize_t n = lx_mem_read_str(c->pid, c->args[a->gate_arg - 1], path, sizeof(path));
    if (n < 0 || (size_t)n >= sizeof(path) - 1)
        return 1;
    /* open(path, flags) / openat(dirfd, path, flags) */
    if (lx_cached_serve(s, c, c->args[a->gate_arg], path))
        return 2;
    return lx_gate_match(s, path);
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
    if (s->views)
        lx_views_note(s, c->nr, c->tid);
}

int lx_decide(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    switch (a->kind) {
    case LX_ACT_PATH:
        return lx_path_call(s, c, a);
    case LX_ACT_WATCH:
        c->cont = 1; /* lx_observe forgot what it may change */
        return 0;
    case LX_ACT_PYTHON:
        break;
    default:
        return lx_fast_answer(s, c, a);
    }
    if (s->nreplies && replied(s, c))
        return 1;
    if (a->gate_arg) {
        int g = gate(s, c, a);
        if (g == 2)
            return 1;
        if (g == 0) {
            c->cont = 1;
            return 0;
        }
    }
    return lx_upcall(s, c);
}
