/* The last steps of a container's process, shared by create's init (create.c) and exec's
 * process (exec.c): lxbrand/oci/init.py is the reference.  The process reports to the
 * runtime on `report_w` ('R' when ready, or 'E' and a message) until it is ready; after
 * that its errors go to its stderr, as they would after exec. */
#ifndef LX_RT_PROC_H
#define LX_RT_PROC_H
#include <stddef.h>

#include "process.h"

struct rt_bytes {
    void *data;
    size_t len;
};

struct rt_child {
    const struct rt_process *p;
    const char *path;        /* the executable, a container path */
    char **envp;
    int report_w;            /* -1 once ready */
    int ready_w, go_r;       /* the engine's handshake with the supervisor */
    int console;             /* the connected console socket, or -1 */
    int backend;             /* LX_BACKEND_*: what the filter is for */
    struct rt_bytes filter;  /* the engine's filter (csrc/filter.c's blob) */
    struct rt_bytes seccomp; /* the container's own profile as raw BPF, or empty */
};

_Noreturn void rt_child_fail(struct rt_child *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* default dispositions, nothing blocked: what a container process starts with */
void rt_child_signals(void);
/* a pty from the container's own devpts (after its mount namespace is ours), the master
 * sent over the console socket, the slave our controlling terminal and stdio; the slave's
 * path in pty (may be NULL) */
void rt_child_console(struct rt_child *c, char *pty, size_t cap);
void rt_child_limits(struct rt_child *c);   /* rlimits, oomScoreAdj */
void rt_child_check_exe(struct rt_child *c); /* what will be exec'd is there and executable */
void rt_child_ready(struct rt_child *c);
/* the engine's filter (armed by the supervisor), the user, the container's seccomp
 * profile and capabilities, no_new_privs, execve */
_Noreturn void rt_child_exec(struct rt_child *c);
#endif
