/* Trace records: a syscall as a tracer shows it.
 *
 * A record holds the call's number, arguments, the memory some of them point to
 * (a path, the bytes written or read, a struct the call filled in, argv), its
 * result and the time from its trap (or syscall-entry stop) to its exit, as
 * strace -T measures it.  What to capture for each syscall is data: the policy
 * layer derives it from one table (lxbrand/traceshapes.py) and hands it over as
 * struct lx_capplan; records are formatted in Python (lxbrand/trace.py), never
 * on the path of the traced call.
 *
 * Records go two ways:
 *   - the run's own trace (lxrun --trace/--summary, the lxbrand-trace runtime):
 *     the calls the policy traps, from the trap to the exit, batched into
 *     s->rbuf and handed to s->flush;
 *   - live clients (ctl.c: `lxbrand trace`): every syscall of every task while
 *     one is attached, from syscall-entry/exit stops, through a ring that never
 *     blocks the program (live.h).
 *
 * The frame below is also the live stream's wire format (one host: native
 * byte order; lxbrand/trace.py parses it).
 */
#ifndef LX_TRACE_H
#define LX_TRACE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lx_sup;
struct lx_call;
struct lx_tstate;

/* How the memory behind one argument is captured (lx_capplan.what). */
enum lx_cap {
    LX_CAP_NONE = 0,
    LX_CAP_STR = 1,        /* NUL-terminated string at entry: a path (up to LX_CAP_PATH_MAX),
                            * or with param LX_CAP_STR_SHOWN one byte more than the string size */
    LX_CAP_BUF_IN = 2,     /* bytes at entry; param: the length's source (LX_CAP_LEN_*) */
    LX_CAP_BUF_OUT = 3,    /* bytes at exit, when the call succeeded; param as BUF_IN */
    LX_CAP_MEM_IN = 4,     /* param bytes at entry (a struct the call reads) */
    LX_CAP_MEM_OUT = 5,    /* param bytes at exit, when the call succeeded (a struct it fills) */
    LX_CAP_STRV = 6,       /* a NULL-terminated array of strings (argv) at entry */
    LX_CAP_STRV_COUNT = 7, /* only how many strings such an array holds (envp) */
    LX_CAP_KINDS
};
/* BUF_IN/BUF_OUT param: bits 0-7 the index of the length argument, or LX_CAP_LEN_RET
 * (the call's result); LX_CAP_WHOLE: up to LX_CAP_WHOLE_MAX bytes (a sockaddr), not
 * the string size the tracer shows (strace -s). */
#define LX_CAP_LEN_RET 0xff
#define LX_CAP_STR_SHOWN 1
#define LX_CAP_WHOLE 0x100
#define LX_CAP_PATHLEN 0x200 /* up to LX_CAP_PATH_MAX bytes (a path the call fills in) */
#define LX_CAP_PATH_MAX 4096
#define LX_CAP_WHOLE_MAX 512
#define LX_CAP_MEM_MAX 1024
#define LX_CAP_STRV_MAX 256  /* argv strings captured; more are only counted */
#define LX_CAP_STRV_BYTES (16u << 10) /* and at most this many bytes of them */
#define LX_CAP_STRSIZE_MAX 4096
#define LX_CAP_STRSIZE_DEFAULT 32 /* strace's default -s */

struct lx_capplan {
    uint8_t what[6];   /* enum lx_cap, per argument */
    uint16_t param[6];
};

/* A record frame: this header, then `nitems` items, each a struct lx_rec_item and
 * its `len` bytes padded to 8. */
enum lx_frame_type { LX_FRAME_CALL = 1, LX_FRAME_EVENT = 2, LX_FRAME_DROPPED = 3, LX_FRAME_HELLO = 4,
                     LX_FRAME_BYE = 5 };
#define LX_REC_RET 1   /* ret is the call's result (else it continued natively, unseen) */
#define LX_REC_LIVE 2  /* from a live attach (syscall stops) */
struct lx_rec {
    uint32_t size;     /* the whole frame, a multiple of 8 */
    uint16_t type;     /* LX_FRAME_CALL */
    uint8_t kind;      /* the action kind of the policy for this call (LX_ACT_*) */
    uint8_t flags;     /* LX_REC_* */
    int32_t nr;
    int32_t tid;
    uint32_t nitems;
    uint32_t pad;
    int64_t ret;
    uint64_t args[6];
    uint64_t t_start_ns; /* CLOCK_MONOTONIC */
    uint64_t dur_ns;
};
#define LX_ITEM_TRUNC 1 /* more than was captured (the whole length is in `full`) */
#define LX_ITEM_FAULT 2 /* the memory could not be read */
struct lx_rec_item {
    uint8_t arg;       /* the argument's index */
    uint8_t what;      /* enum lx_cap */
    uint8_t flags;     /* LX_ITEM_* */
    uint8_t pad;
    uint32_t len;      /* the bytes that follow */
    uint64_t full;     /* the whole length (bytes, or strings in an array) */
};

/* A record being built (per task while its call runs, or per thread). */
struct lx_recb {
    uint8_t *buf;
    size_t len, cap;
};
void lx_recb_free(struct lx_recb *b);

/* Start a record of call c (entry captures per plan, when plan is not NULL);
 * 0 or -ENOMEM. */
int lx_rec_begin(struct lx_recb *b, const struct lx_capplan *plan, unsigned strsize, const struct lx_call *c,
                 int kind, uint64_t t0);
/* Complete it: the result (has_ret) and the exit captures, read from tid. */
void lx_rec_end(struct lx_recb *b, const struct lx_capplan *plan, unsigned strsize, pid_t tid, int64_t ret,
                int has_ret);

/* The run's own trace (s->recording).  Until the program's first execve, nothing
 * is recorded or counted: what ran before is the runtime's own setup. */
int lx_trace_on(struct lx_sup *s, const struct lx_call *c);
void lx_trace_exec_seen(struct lx_sup *s, pid_t tid);
/* a call recorded at one point (answered, or continued without its result) */
void lx_record(struct lx_sup *s, const struct lx_call *c, int kind, int has_ret, uint64_t t0);
/* a call recorded from its trap to its exit stop (ptrace: the task's t->rec) */
void lx_trace_begin(struct lx_sup *s, struct lx_tstate *t, const struct lx_call *c, int kind, uint64_t t0);
void lx_trace_end(struct lx_sup *s, struct lx_tstate *t, int64_t ret, int has_ret);
void lx_flush(struct lx_sup *s);
#endif
