/* Security events: what a supervisor reports to `lxbrand events` clients (live.h).
 *
 *   exec     every successful execve of the tree (at PTRACE_EVENT_EXEC, before the new
 *            image runs): the file run (as the program sees it: inside its root) and argv
 *   connect, bind   an address a socket is connected or bound to: judged by [[network]]
 *            rules (their verdict), or, with events on, observed at the call
 *   denied   a call a policy refused: a syscall rule (with events on: such calls then
 *            trap instead of failing in the kernel), a [[path]] rule, a [[network]] rule;
 *            with the rule (its index in its family) and its comment
 *
 * Always reported: what the supervisor decides anyway (path and network rules).  With
 * events on (`lxrun --events`, the runtime's `--events` or the annotation
 * org.lxbrand.events): execs, connects and binds, and syscall-rule denials too, at the
 * cost of a trap for each of those calls (and a stop per exec).  An events client that
 * attaches to a sandbox started without them still gets execs: exec stops are turned on
 * while it is attached.
 *
 * The frame (LX_FRAME_EVENT) is this header, then `nstr` strings, each a uint32
 * length and its bytes, the whole padded to 8; lxbrand/events.py turns it into the
 * documented JSON (docs/events.md).
 */
#ifndef LX_EVENTS_H
#define LX_EVENTS_H
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

enum lx_ev_kind { LX_EV_EXEC = 1, LX_EV_CONNECT = 2, LX_EV_BIND = 3, LX_EV_DENIED = 4 };
enum lx_ev_source { LX_EVSRC_NONE = 0, LX_EVSRC_SYSCALL = 1, LX_EVSRC_PATH = 2, LX_EVSRC_NET = 3 };
/* what a sandbox started with events reports beyond its decisions (lx_events.flags) */
#define LX_EVS_EXEC 1
#define LX_EVS_NET 2
#define LX_EVS_DENY 4

struct lx_event {
    uint32_t size;
    uint16_t type;     /* LX_FRAME_EVENT */
    uint16_t kind;     /* enum lx_ev_kind */
    int32_t pid;       /* its process (thread group), 0 if unknown */
    int32_t tid;
    int32_t nr;        /* the syscall, -1 for none */
    int32_t err;       /* the errno a denied call failed with; 0 */
    int32_t rule;      /* 1 + the deciding rule's index in its family; 0: the family's default; -1: none */
    uint16_t source;   /* enum lx_ev_source */
    uint16_t nstr;
    uint64_t t_ns;     /* CLOCK_REALTIME */
};

/* A sandbox's events configuration: what it reports, and the rules' comments. */
struct lx_events {
    uint32_t flags;               /* LX_EVS_* */
    char *dflt_note;              /* the comment of the policy's default, if it denies */
    char *sys_note[LX_NR_MAX];    /* the comment of the rule deciding each syscall, or NULL */
    char **path_note, **net_note; /* the comments of the [[path]] and [[network]] rules, in order */
    uint32_t npath, nnet;
};

int lx_events_set(struct lx_sup *s, uint32_t flags);
int lx_events_note(struct lx_sup *s, int family, int index, const char *text); /* family: LX_EVSRC_* or 0: default */
void lx_events_free(struct lx_sup *s);
struct lx_buf;
int lx_events_export(const struct lx_sup *s, struct lx_buf *out);
int lx_events_import(struct lx_sup *s, const uint8_t *p, size_t len);

/* Emitters (any supervisor thread; nothing when no client can get them). */
void lx_event_exec(struct lx_sup *s, pid_t tid);
void lx_event_addr(struct lx_sup *s, int kind, pid_t tid, int nr, const char *addr, int err, int source, int rule);
void lx_event_denied(struct lx_sup *s, pid_t tid, int nr, int err, int source, int rule, const char *op,
                     const char *what);
/* connect/bind seen at their trap with events on (and no [[network]] rule deciding them) */
void lx_event_observe(struct lx_sup *s, const struct lx_call *c);
/* Is anyone to get events, or are they on? (cheap) */
int lx_events_wanted(const struct lx_sup *s);
/* The canonical text of a socket address (inet:A:P, inet6:[A]:P, unix:PATH, unix:@NAME) */
void lx_addr_text(const uint8_t *raw, size_t len, char *out, size_t cap);
#endif
