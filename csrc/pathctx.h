/* One path call being performed under [[path]] rules (pathopen.c, pathcalls.c):
 * the caller's view, the credentials taken for it, and the steps every such call
 * shares.  Per call, on the stack: nothing of a call is kept on shared objects. */
#ifndef LX_PATHCTX_H
#define LX_PATHCTX_H
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "view.h"

struct lx_pc {
    struct lx_sup *s;
    struct lx_call *c;
    struct lx_view *v;
    struct lx_cred_state cred;
    int denied; /* the answer is a rule's denial (not the kernel's error) */
};

/* The caller's view (0 or -errno: the call then fails closed). */
int lx_pc_begin(struct lx_pc *p, struct lx_sup *s, struct lx_call *c);
/* This thread takes the caller's credentials / gives the supervisor's back (view.h).
 * Memory of the program and /proc are read as the supervisor, between these. */
int lx_pc_as_program(struct lx_pc *p);
/* access(2) without AT_EACCESS: the caller's real ids, and its permitted set when its
 * real uid is 0, none otherwise (fs/open.c, do_faccessat's override) */
int lx_pc_as_real(struct lx_pc *p);
void lx_pc_as_supervisor(struct lx_pc *p);
/* Decide ops on a path in the program's view (trailing '/' ignored): 0 or -errno,
 * p->denied set when the rules said no */
int lx_pc_check(struct lx_pc *p, unsigned ops, const char *path, size_t n);
/* The same on where a supervisor fd leads */
int lx_pc_check_fd(struct lx_pc *p, unsigned ops, int fd);
/* The caller's umask on this thread for a creating call: 0 (old set) or -errno */
int lx_pc_umask(struct lx_pc *p, mode_t *old);
/* The operations an open's flags ask for (read, write, stat for O_PATH) */
unsigned lx_open_ops(uint64_t flags);
#endif
