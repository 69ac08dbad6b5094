/* Supervisor state: init/free, counters (trace records: trace.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "net.h"
#include "paths.h"
#include "events.h"
#include "persona.h"
#include "trace.h"
#include "view.h"

int lx_sup_init(struct lx_sup *s, int backend)
{
    memset(s, 0, sizeof(*s));
    s->backend = backend;
    s->notify_fd = -1;
    s->strsize = LX_CAP_STRSIZE_DEFAULT;
    pthread_mutex_init(&s->rec_lock, NULL);
    pthread_cond_init(&s->rec_cv, NULL);
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
    lx_interrupt_free(s);
    lx_events_free(s);
    lx_flush(s);
    free(s->rbuf);
    free(s->rbuf2);
    s->rbuf = s->rbuf2 = NULL;
    s->rlen = s->rcap = s->r2len = 0;
    free(s->plan);
    s->plan = NULL;
    pthread_mutex_destroy(&s->rec_lock);
    pthread_cond_destroy(&s->rec_cv);
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
    if (nr < 0 || nr >= LX_NR_MAX || (s->rec_from_exec && !s->rec_started))
        return;
    __atomic_add_fetch(&s->count[nr], 1, __ATOMIC_RELAXED);
    if (has_ret && ret < 0 && ret > -4096)
        __atomic_add_fetch(&s->errors[nr], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->ns[nr], lx_now_ns() - t0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->traps, 1, __ATOMIC_RELAXED);
}
