/* Trace records (trace.h): capturing what a call's arguments point to, building
 * record frames, and the run's own trace. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "engine.h"
#include "tids.h"
#include "trace.h"

#define PAD8(n) (((n) + 7u) & ~(size_t)7u)
#define LX_RBUF_CAP (256u << 10) /* records batched for s->flush */

void lx_recb_free(struct lx_recb *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

static int reserve(struct lx_recb *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->buf, cap);
    if (!p)
        return -ENOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

static struct lx_rec *hdr(struct lx_recb *b) { return (struct lx_rec *)b->buf; }

/* Append an item of up to `room` bytes; returns where its bytes go (the caller
 * fills them and calls item_done with how many it wrote), or NULL. */
static struct lx_rec_item *item_open(struct lx_recb *b, int arg, int what, size_t room)
{
    if (reserve(b, sizeof(struct lx_rec_item) + PAD8(room)) < 0)
        return NULL;
    struct lx_rec_item *it = (struct lx_rec_item *)(b->buf + b->len);
    memset(it, 0, sizeof(*it));
    it->arg = (uint8_t)arg;
    it->what = (uint8_t)what;
    return it;
}

static void item_done(struct lx_recb *b, struct lx_rec_item *it, size_t len)
{
    it->len = (uint32_t)len;
    size_t total = sizeof(*it) + PAD8(len);
    memset((uint8_t *)(it + 1) + len, 0, PAD8(len) - len);
    b->len += total;
    hdr(b)->nitems++;
}

static void cap_str(struct lx_recb *b, pid_t tid, int arg, uint64_t addr, size_t cap)
{
    if (!addr)
        return; /* NULL: the formatter shows the pointer */
    struct lx_rec_item *it = item_open(b, arg, LX_CAP_STR, cap + 1);
    if (!it)
        return;
    char *dst = (char *)(it + 1);
    ssize_t n = lx_mem_read_str(tid, addr, dst, cap + 1);
    if (n < 0) {
        it->flags = LX_ITEM_FAULT;
        n = 0;
    } else if ((size_t)n >= cap) {
        it->flags = LX_ITEM_TRUNC; /* no NUL within cap bytes */
    }
    it->full = (uint64_t)n;
    item_done(b, it, (size_t)n);
}

static void cap_mem(struct lx_recb *b, pid_t tid, int arg, int what, uint64_t addr, uint64_t want, size_t limit)
{
    if (!addr)
        return;
    size_t take = want < limit ? (size_t)want : limit;
    struct lx_rec_item *it = item_open(b, arg, what, take);
    if (!it)
        return;
    ssize_t n = take ? lx_mem_read(tid, addr, it + 1, take) : 0;
    if (n < 0) {
        it->flags = LX_ITEM_FAULT;
        n = 0;
    }
    it->full = want;
    if ((uint64_t)n < want)
        it->flags |= LX_ITEM_TRUNC;
    item_done(b, it, (size_t)n);
}

/* argv: the strings, NUL-separated, each cut at strsize + 1 bytes (so the formatter
 * sees which were longer); `full` counts them all. */
static void cap_strv(struct lx_recb *b, pid_t tid, int arg, uint64_t addr, unsigned strsize, int count_only)
{
    if (!addr)
        return;
    size_t room = count_only ? 0 : LX_CAP_STRV_MAX * (strsize + 2);
    if (room > LX_CAP_STRV_BYTES)
        room = LX_CAP_STRV_BYTES;
    struct lx_rec_item *it = item_open(b, arg, count_only ? LX_CAP_STRV_COUNT : LX_CAP_STRV, room);
    if (!it)
        return;
    size_t off = (size_t)((uint8_t *)it - b->buf), used = 0;
    uint64_t n = 0, ptrs[64];
    for (;;) {
        ssize_t got = lx_mem_read(tid, addr + n * 8, ptrs, sizeof(ptrs));
        if (got < 8) {
            ((struct lx_rec_item *)(b->buf + off))->flags |= LX_ITEM_FAULT;
            break;
        }
        size_t k = (size_t)got / 8, i;
        for (i = 0; i < k && ptrs[i]; i++) {
            if (!count_only && n + i < LX_CAP_STRV_MAX && used + strsize + 2 <= room) {
                char *dst = (char *)(b->buf + off + sizeof(struct lx_rec_item) + used);
                ssize_t sl = lx_mem_read_str(tid, ptrs[i], dst, strsize + 2);
                if (sl < 0)
                    sl = 0;
                dst[sl] = '\0';
                used += (size_t)sl + 1;
            }
        }
        n += i;
        if (i < k || n > (1u << 20))
            break;
    }
    it = (struct lx_rec_item *)(b->buf + off);
    it->full = n;
    if (!count_only && n > LX_CAP_STRV_MAX)
        it->flags |= LX_ITEM_TRUNC;
    item_done(b, it, used);
}

static uint64_t len_of(uint16_t param, const uint64_t *args, int64_t ret)
{
    unsigned src = param & 0xff;
    int64_t v = src == LX_CAP_LEN_RET ? ret : (src < 6 ? (int64_t)args[src] : 0);
    return v < 0 ? 0 : (uint64_t)v;
}

static size_t buf_limit(uint16_t param, unsigned strsize)
{
    if (param & LX_CAP_PATHLEN)
        return LX_CAP_PATH_MAX;
    return (param & LX_CAP_WHOLE) ? LX_CAP_WHOLE_MAX : strsize;
}

int lx_rec_begin(struct lx_recb *b, const struct lx_capplan *plan, unsigned strsize, const struct lx_call *c,
                 int kind, uint64_t t0)
{
    b->len = 0;
    if (reserve(b, sizeof(struct lx_rec)) < 0)
        return -ENOMEM;
    struct lx_rec *r = hdr(b);
    memset(r, 0, sizeof(*r));
    r->type = LX_FRAME_CALL;
    r->kind = (uint8_t)kind;
    r->nr = c->nr;
    r->tid = c->tid;
    memcpy(r->args, c->args, sizeof(r->args));
    r->t_start_ns = t0;
    b->len = sizeof(*r);
    if (!plan)
        return 0;
    for (int i = 0; i < 6; i++) {
        uint16_t p = plan->param[i];
        uint64_t a = c->args[i];
        switch (plan->what[i]) {
        case LX_CAP_STR:
            cap_str(b, c->tid, i, a, p == LX_CAP_STR_SHOWN ? strsize + 1 : LX_CAP_PATH_MAX);
            break;
        case LX_CAP_BUF_IN:
            cap_mem(b, c->tid, i, LX_CAP_BUF_IN, a, len_of(p, c->args, 0), buf_limit(p, strsize));
            break;
        case LX_CAP_MEM_IN:
            cap_mem(b, c->tid, i, LX_CAP_MEM_IN, a, p, LX_CAP_MEM_MAX);
            break;
        case LX_CAP_STRV:
        case LX_CAP_STRV_COUNT:
            cap_strv(b, c->tid, i, a, strsize, plan->what[i] == LX_CAP_STRV_COUNT);
            break;
        default:
            break;
        }
    }
    return 0;
}

void lx_rec_end(struct lx_recb *b, const struct lx_capplan *plan, unsigned strsize, pid_t tid, int64_t ret,
                int has_ret)
{
    if (!b->len)
        return;
    struct lx_rec *r = hdr(b);
    r->ret = ret;
    if (has_ret)
        r->flags |= LX_REC_RET;
    if (plan && has_ret && ret >= 0) {
        uint64_t args[6];
        memcpy(args, r->args, sizeof(args));
        for (int i = 0; i < 6; i++) {
            uint16_t p = plan->param[i];
            if (plan->what[i] == LX_CAP_BUF_OUT)
                cap_mem(b, tid, i, LX_CAP_BUF_OUT, args[i], len_of(p, args, ret), buf_limit(p, strsize));
            else if (plan->what[i] == LX_CAP_MEM_OUT)
                cap_mem(b, tid, i, LX_CAP_MEM_OUT, args[i], p, LX_CAP_MEM_MAX);
        }
        r = hdr(b);
    }
    r->dur_ns = lx_now_ns() - r->t_start_ns;
    r->size = (uint32_t)b->len;
}

/* -- the run's own trace ---------------------------------------------------------- */

int lx_trace_on(struct lx_sup *s, const struct lx_call *c)
{
    if (!s->rec_from_exec || s->rec_started)
        return 1;
    if (c->tid == s->child && (c->nr == SYS_execve || c->nr == SYS_execveat)) {
        s->rec_started = 1;
        return 1;
    }
    return 0;
}

void lx_trace_exec_seen(struct lx_sup *s, pid_t tid)
{
    if (tid == s->child)
        s->rec_started = 1;
}

static const struct lx_capplan *plan_for(const struct lx_sup *s, int nr)
{
    return s->plan && nr >= 0 && nr < LX_NR_MAX ? &s->plan[nr] : NULL;
}

/* Records reach s->flush (Python's formatter) from a thread of their own, so that
 * formatting overlaps the traced program instead of adding to each of its calls: the
 * recording threads fill one buffer while the flusher hands the other to s->flush.
 * When both are full the recording thread waits (a trace file is complete or it is
 * nothing; the live stream, which must never hold the program up, drops instead). */
static void *flusher(void *arg)
{
    struct lx_sup *s = arg;
    pthread_mutex_lock(&s->rec_lock);
    for (;;) {
        while (!s->r2len && !s->rec_thread_stop)
            pthread_cond_wait(&s->rec_cv, &s->rec_lock);
        if (!s->r2len)
            break;
        pthread_mutex_unlock(&s->rec_lock);
        s->flush(s->ctx, s->rbuf2, s->r2len);
        pthread_mutex_lock(&s->rec_lock);
        s->r2len = 0;
        pthread_cond_broadcast(&s->rec_cv);
    }
    pthread_mutex_unlock(&s->rec_lock);
    return NULL;
}

/* Hand the filled buffer to the flusher (or, without one, to s->flush here).
 * Must be called with rec_lock held. */
static void handoff_locked(struct lx_sup *s)
{
    if (!s->rlen || !s->flush) {
        s->rlen = 0;
        return;
    }
    if (!s->rec_thread_started && !s->rec_thread_stop) {
        sigset_t all, old;
        sigfillset(&all); /* signals are the program's or the tracer's, never the flusher's */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (!s->rbuf2)
            s->rbuf2 = malloc(s->rcap);
        if (s->rbuf2 && pthread_create(&s->rec_thread, NULL, flusher, s) == 0)
            s->rec_thread_started = 1;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!s->rec_thread_started) {
        s->flush(s->ctx, s->rbuf, s->rlen);
        s->rlen = 0;
        return;
    }
    while (s->r2len)
        pthread_cond_wait(&s->rec_cv, &s->rec_lock);
    uint8_t *t = s->rbuf2;
    s->rbuf2 = s->rbuf;
    s->rbuf = t;
    s->r2len = s->rlen;
    s->rlen = 0;
    pthread_cond_broadcast(&s->rec_cv);
}

/* Everything recorded so far reaches s->flush before this returns; the flusher ends. */
void lx_flush(struct lx_sup *s)
{
    pthread_mutex_lock(&s->rec_lock);
    handoff_locked(s);
    int started = s->rec_thread_started;
    s->rec_thread_stop = 1;
    pthread_cond_broadcast(&s->rec_cv);
    pthread_mutex_unlock(&s->rec_lock);
    if (started) {
        pthread_join(s->rec_thread, NULL);
        s->rec_thread_started = 0;
    }
    s->rec_thread_stop = 0;
}

static void put(struct lx_sup *s, const struct lx_recb *b)
{
    if (!b->len)
        return;
    pthread_mutex_lock(&s->rec_lock);
    if (!s->rbuf) {
        s->rcap = LX_RBUF_CAP;
        s->rbuf = malloc(s->rcap);
        if (!s->rbuf) {
            pthread_mutex_unlock(&s->rec_lock);
            return;
        }
    }
    if (s->rlen + b->len > s->rcap)
        handoff_locked(s);
    if (b->len <= s->rcap) {
        memcpy(s->rbuf + s->rlen, b->buf, b->len);
        s->rlen += b->len;
    }
    pthread_mutex_unlock(&s->rec_lock);
}

void lx_record(struct lx_sup *s, const struct lx_call *c, int kind, int has_ret, uint64_t t0)
{
    static __thread struct lx_recb b; /* one per recording thread (tracer, notify), kept */
    if (!s->recording || !lx_trace_on(s, c))
        return;
    const struct lx_capplan *plan = plan_for(s, c->nr);
    if (lx_rec_begin(&b, plan, s->strsize, c, kind, t0) < 0)
        return;
    lx_rec_end(&b, plan, s->strsize, c->tid, c->ret, has_ret);
    put(s, &b);
}

void lx_trace_begin(struct lx_sup *s, struct lx_tstate *t, const struct lx_call *c, int kind, uint64_t t0)
{
    t->in_trace = 1;
    t->t0 = t0;
    t->call = *c;
    t->rec.len = 0;
    if (s->recording && lx_trace_on(s, c))
        lx_rec_begin(&t->rec, plan_for(s, c->nr), s->strsize, c, kind, t0);
}

void lx_trace_end(struct lx_sup *s, struct lx_tstate *t, int64_t ret, int has_ret)
{
    if (!t->in_trace)
        return;
    t->in_trace = 0;
    t->call.ret = ret;
    /* a call that never returned (exit_group, a kill) spent nothing we can show */
    lx_count(s, t->call.nr, ret, has_ret, has_ret ? t->t0 : lx_now_ns());
    if (!t->rec.len)
        return;
    lx_rec_end(&t->rec, plan_for(s, t->call.nr), s->strsize, t->tid, ret, has_ret);
    put(s, &t->rec);
    t->rec.len = 0;
}
