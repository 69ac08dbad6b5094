/* Live tracing and events of a running sandbox: its supervisor's control socket.
 *
 * Every supervisor (lxrun, lxrun-py, lxbrand-sup, the Python OCI supervisor) listens
 * on an abstract UNIX socket named after its own pid, "\0lxbrand/sup/<pid>"
 * (SOCK_SEQPACKET), from the moment the program runs.  `lxbrand trace` and
 * `lxbrand events` (lxbrand/live.py) connect there and ask for
 *   - a live trace: every syscall of every task, from syscall-entry/exit stops
 *     (PTRACE_SYSCALL on every task while a trace client is attached: the
 *     supervisor already holds each task under ptrace, so nothing about the program
 *     or its policy changes); when the last trace client leaves, each task goes
 *     back to PTRACE_CONT at its next stop and pays nothing again;
 *   - events: execs, connects/binds and denials the supervisor sees (events.h).
 *
 * Who may attach: the socket is abstract (no file mode), so the supervisor checks
 * each peer itself (SO_PEERCRED): its uid must be 0 or the supervisor's own (the
 * container's owner), and it must not be traced (a sandboxed process, which is
 * always traced by its supervisor, never watches a sandbox, its own or another of
 * the same user).  Clients check the other way that the socket's peer is the pid
 * they meant (no other process can bind a name before the supervisor, as long as
 * they cannot guess a pid; a name taken first makes live tracing of that sandbox
 * unavailable, never a false one, because the client checks).
 *
 * Bounded: records and events go through one ring of bytes (LX_LIVE_RING) that the
 * producers (the tracer and notify threads) never wait on; each client reads it at
 * its own pace, and what it misses (the ring overtook it, or its socket was full) is
 * counted and reported to it (LX_FRAME_DROPPED).
 */
#ifndef LX_LIVE_H
#define LX_LIVE_H
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "trace.h"

#define LX_LIVE_MAGIC 0x6c78746cu /* "lxtl" */
#define LX_LIVE_VERSION 1
#define LX_LIVE_NAME "lxbrand/sup/" /* abstract socket name prefix; the supervisor's pid follows */
#define LX_LIVE_RING (1u << 20)     /* bytes of records and events in flight */

enum { LX_LIVE_TRACE = 1, LX_LIVE_EVENTS = 2 };

/* What a client asks for: its first message. */
struct lx_live_req {
    uint32_t magic, version;
    uint32_t what;              /* LX_LIVE_TRACE | LX_LIVE_EVENTS */
    uint32_t strsize;           /* bytes of strings and buffers captured (strace -s) */
    uint8_t set[LX_NR_MAX / 8]; /* LX_LIVE_TRACE: syscall nr is traced if bit nr is set */
    struct lx_capplan plan[LX_NR_MAX];
};

/* The supervisor's answer (LX_FRAME_HELLO): attached, or refused (err != 0, then why). */
struct lx_live_hello {
    uint32_t size;
    uint16_t type;
    uint16_t backend;           /* LX_BACKEND_* */
    int32_t err;                /* 0, or the errno of a refusal */
    int32_t child;              /* the program's first process */
    int32_t sup;                /* the supervisor */
    uint32_t version;
    uint32_t events;            /* what this supervisor reports as events (LX_EVS_*, events.h) */
    uint32_t pad;
    char why[128];
};

/* LX_FRAME_DROPPED: how many frames this client has missed so far. */
struct lx_live_dropped {
    uint32_t size;
    uint16_t type;
    uint16_t pad;
    uint64_t frames;
};

struct lx_live;
struct lx_tstate;

/* Listen (from the tracer thread, once the program runs).  0 or -errno; failing to
 * listen leaves the sandbox running without live tracing. */
int lx_live_start(struct lx_sup *s);
/* Tell clients the sandbox is gone, close, join (tracer thread, at the end). */
void lx_live_stop(struct lx_sup *s);
/* Tracer thread: apply what clients asked for (called when woken, and cheaply after
 * each event: a load and a compare when nothing is pending). */
void lx_live_poll(struct lx_sup *s);
/* Tracer thread: a syscall-entry stop (entry: nr and args) or -exit stop (rval) of
 * task t (PTRACE_O_TRACESYSGOOD; PTRACE_GET_SYSCALL_INFO told which). */
void lx_live_syscall(struct lx_sup *s, struct lx_tstate *t, int entry, int nr, const uint64_t *args, int64_t rval);
/* Tracer thread: the task is gone; what it had in flight is recorded without a result. */
void lx_live_task_gone(struct lx_sup *s, struct lx_tstate *t);
/* A frame for the clients that want it (any thread; never waits).  */
void lx_live_put(struct lx_sup *s, const void *frame, size_t len);
/* Is an events client attached? */
int lx_live_events(const struct lx_sup *s);
/* Do syscall stops go on (a trace client is attached)? */
static inline int lx_live_stops(const struct lx_sup *s) { return s->live_stops; }
#endif
