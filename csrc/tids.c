/* Per-thread supervisor state, keyed by tid: open addressing, linear probing,
 * backward-shift deletion.  Grows at 50% load. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tids.h"

struct lx_tidtab {
    struct lx_tstate *slots;
    size_t cap, n;
};

static size_t slot_of(pid_t tid, size_t cap) { return ((uint32_t)tid * 2654435761u) & (cap - 1); }

struct lx_tidtab *lx_tids_new(void)
{
    struct lx_tidtab *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cap = 64;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void lx_tids_free(struct lx_tidtab *t)
{
    if (t) {
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].tid) {
                lx_recb_free(&t->slots[i].rec);
                lx_recb_free(&t->slots[i].live);
            }
        free(t->slots);
        free(t);
    }
}

size_t lx_tids_count(const struct lx_tidtab *t) { return t->n; }

struct lx_tstate *lx_tids_get(struct lx_tidtab *t, pid_t tid)
{
    for (size_t i = slot_of(tid, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (!t->slots[i].tid)
            return NULL;
        if (t->slots[i].tid == tid)
            return &t->slots[i];
    }
}

static int grow(struct lx_tidtab *t)
{
    size_t ncap = t->cap * 2;
    struct lx_tstate *ns = calloc(ncap, sizeof(*ns)), *old = t->slots;
    if (!ns)
        return -ENOMEM;
    for (size_t i = 0; i < t->cap; i++) {
        if (!old[i].tid)
            continue;
        size_t j = slot_of(old[i].tid, ncap);
        while (ns[j].tid)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    t->slots = ns;
    t->cap = ncap;
    free(old);
    return 0;
}

struct lx_tstate *lx_tids_add(struct lx_tidtab *t, pid_t tid, int *created)
{
    struct lx_tstate *e = lx_tids_get(t, tid);
    *created = 0;
    if (e)
        return e;
    if ((t->n + 1) * 2 > t->cap && grow(t) < 0)
        return NULL;
    size_t i = slot_of(tid, t->cap);
    while (t->slots[i].tid)
        i = (i + 1) & (t->cap - 1);
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->slots[i].tid = tid;
    t->n++;
    *created = 1;
    return &t->slots[i];
}

void lx_tids_del(struct lx_tidtab *t, pid_t tid)
{
    size_t mask = t->cap - 1, i = slot_of(tid, t->cap);
    while (t->slots[i].tid != tid) {
        if (!t->slots[i].tid)
            return;
        i = (i + 1) & mask;
    }
    lx_recb_free(&t->slots[i].rec);
    lx_recb_free(&t->slots[i].live);
    t->slots[i].tid = 0;
    t->n--;
    /* backward shift: move later entries of the cluster into the hole if their
     * home slot does not lie cyclically in (hole, j] */
    for (size_t j = (i + 1) & mask; t->slots[j].tid; j = (j + 1) & mask) {
        size_t home = slot_of(t->slots[j].tid, t->cap);
        int in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (in_range)
            continue;
        t->slots[i] = t->slots[j];
        t->slots[j].tid = 0;
        i = j;
    }
}

void lx_tids_each(struct lx_tidtab *t, void (*fn)(struct lx_tstate *, void *), void *arg)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].tid)
            fn(&t->slots[i], arg);
}
