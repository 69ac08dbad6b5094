#ifndef LX_TIDS_H
#define LX_TIDS_H
#include "engine.h"
#include "trace.h"

struct lx_tstate {
    pid_t tid;             /* 0: free slot */
    uint8_t fresh;         /* auto-attached, its initial PTRACE_EVENT_STOP not yet seen */
    uint8_t in_trace;      /* a traced syscall is running; resume with PTRACE_SYSCALL to see its exit */
    uint8_t debug_op;      /* debuggee.c: its ptrace() call's exit stop is awaited (LX_DBG_*) */
    pid_t debug_target;    /* ... and the task that call handed over */
    unsigned opts_gen;     /* the sup->opts_gen its ptrace options were last set for */
    uint64_t t0;
    struct lx_call call;   /* the traced call awaiting its result */
    struct lx_recb rec;    /* its record, when the run records (owned: freed with the entry) */
    struct lx_recb live;   /* the record of its call for live clients (live.h), from its entry stop */
    struct {               /* interrupt.c (unotify, its own table): the last notification */
        int32_t nr;        /* received from this thread, and whether it continued */
        uint8_t cont;
        uint64_t ip, args[6];
    } seen;
};

struct lx_tidtab *lx_tids_new(void);
void lx_tids_free(struct lx_tidtab *t);
size_t lx_tids_count(const struct lx_tidtab *t);
struct lx_tstate *lx_tids_get(struct lx_tidtab *t, pid_t tid);
struct lx_tstate *lx_tids_add(struct lx_tidtab *t, pid_t tid, int *created);
void lx_tids_del(struct lx_tidtab *t, pid_t tid);
/* fn(each entry, arg); the table must not change meanwhile */
void lx_tids_each(struct lx_tidtab *t, void (*fn)(struct lx_tstate *, void *), void *arg);
#endif
