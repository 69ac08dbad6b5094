/* Supervisor state: init/free, counters, trace records. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "net.h"
#include "paths.h"
#include "persona.h"
#include "view.h"

int lx_sup_init(struct lx_sup *s, int backend)
{
    memset(s, 0, sizeof(*s));
    s->backend = backend;
    s->notify_fd = -1;
    s->caprec = 1024;
    pthread_mutex_init(&s->rec_lock, NULL);
    return 0;
}

void lx_sup_free(struct lx_sup *s)
{
    for (size_t i = 0; i < s->ngate; i++)
        free(s->gate[i]);
    free(s->gate);
    s->gate = NULL;
    s->ngate = 0;
    lx_paths_free(s);
    lx_net_free(s);
    lx_views_free(s);
    lx_inject_free(s);
    lx_persona_free(s);
    free(s->recs);
    s->recs = NULL;
    s->nrec = 0;
    pthread_mutex_destroy(&s->rec_lock);
}

/* 1 if some syscall traps (to a listener or a tracer): with none, the unotify
 * backend needs no listener and no notify thread at all. */
int lx_sup_traps(const struct lx_sup *s)
{
    if (s->dflt.kind >= LX_ACT_TRACE)
        return 1;
    for (int i = 0; i < LX_NR_MAX; i++)
        if (s->table[i].kind >= LX_ACT_TRACE)
            return 1;
    return 0;
}

/* The backend the child installs its filter for: without traps a listener
 * would only cost a notify thread, so the child installs a plain filter. */
int lx_child_backend(const struct lx_sup *s)
{
    return s->backend == LX_BACKEND_UNOTIFY && !lx_sup_traps(s) ? LX_BACKEND_PTRACE : s->backend;
}

uint64_t lx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const struct lx_action *lx_action_for(const struct lx_sup *s, int nr)
{
    if (nr >= 0 && nr < LX_NR_MAX)
        return &s->table[nr];
    return &s->dflt;
}

void lx_count(struct lx_sup *s, int nr, int64_t ret, int has_ret, uint64_t t0)
{
    if (nr < 0 || nr >= LX_NR_MAX)
        return;
    __atomic_add_fetch(&s->count[nr], 1, __ATOMIC_RELAXED);
    if (has_ret && ret < 0 && ret > -4096)
        __atomic_add_fetch(&s->errors[nr], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->ns[nr], lx_now_ns() - t0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->traps, 1, __ATOMIC_RELAXED);
}

/* Must be called with rec_lock held. */
static void flush_locked(struct lx_sup *s)
{
    if (s->nrec && s->flush)
        s->flush(s->ctx, s->recs, s->nrec);
    s->nrec = 0;
}

void lx_flush(struct lx_sup *s)
{
    pthread_mutex_lock(&s->rec_lock);
    flush_locked(s);
    pthread_mutex_unlock(&s->rec_lock);
}

void lx_record(struct lx_sup *s, const struct lx_call *c, int kind, int has_ret, uint64_t t0)
{
    if (!s->recording)
        return;
    pthread_mutex_lock(&s->rec_lock);
    if (!s->recs) {
        s->recs = calloc(s->caprec, sizeof(*s->recs));
        if (!s->recs) {
            pthread_mutex_unlock(&s->rec_lock);
            return;
        }
    }
    if (s->nrec == s->caprec)
        flush_locked(s);
    struct lx_record *r = &s->recs[s->nrec++];
    memset(r, 0, offsetof(struct lx_record, str));
    r->nr = c->nr;
    r->tid = c->tid;
    r->kind = (uint8_t)kind;
    r->has_ret = (uint8_t)has_ret;
    r->ret = c->ret;
    memcpy(r->args, c->args, sizeof(r->args));
    r->t_start_ns = t0;
    r->dur_ns = lx_now_ns() - t0;
    r->str_idx[0] = r->str_idx[1] = 0xff;
    r->str[0][0] = r->str[1][0] = '\0';
    const struct lx_action *a = lx_action_for(s, c->nr);
    int k = 0;
    for (int i = 0; i < 6 && k < 2; i++) {
        if (!(a->str_args & (1u << i)))
            continue;
        r->str_idx[k] = (uint8_t)i;
        if (!c->args[i] || lx_mem_read_str(c->pid, c->args[i], r->str[k], LX_STR_CAP) < 0)
            r->str_idx[k] = 0xfe; /* unreadable */
        k++;
    }
    pthread_mutex_unlock(&s->rec_lock);
}
