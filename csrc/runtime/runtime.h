/* lxbrand-runtime: the binary containerd's shim runs as "the runtime" (runc's CLI).
 *
 * The verbs that need no Python are answered here in C, from what `create` (Python, the
 * reference implementation of every verb) left in the container's state directory; any
 * other verb, flag or case is handed to the Python runtime unchanged (rt_fallback).  One
 * file per verb (create.c, start.c, state_verb.c, kill.c, delete.c, exec.c), the state
 * directory's files in state.c, process.json in process.c, config.json in spec.c.
 *
 * Error convention: a verb returns its exit status (0, or 1 after rt_fail printed and
 * logged the message); RT_FALLBACK hands the call to Python, which words the error or
 * does the work. */
#ifndef LX_RUNTIME_H
#define LX_RUNTIME_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define RT_FALLBACK (-1)
#define RT_MAX_CG 32

struct rt_globals {
    char **argv;            /* as we were called: what the fallback runs */
    const char *root;       /* --root */
    const char *log;        /* --log: containerd shows the last error line of it */
    const char *log_format; /* text | json */
    const char *policy;     /* --policy (runtimeArgs), or NULL */
    const char *backend;    /* --backend, or NULL */
    int trace;              /* --trace: recording needs the Python supervisor */
    int systemd_cgroup;     /* --systemd-cgroup */
};
extern struct rt_globals G;

_Noreturn void rt_fallback(void);
int rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* the directory this binary lives in (for lxbrand-sup and lxbrand-runtime.py beside it) */
const char *rt_self_dir(void);

/* state.c: <root>/<id>/fast, written by `create` (lxbrand/oci/state.py save_fast) */
struct rt_state {
    char dir[PATH_MAX];
    long pid, sup_pid;                   /* init, the supervisor */
    unsigned long long start, sup_start; /* their /proc/PID/stat start times */
    int python;                          /* start/delete need Python (hooks, host mounts) */
    char engine[16];                     /* "unotify"/"ptrace": exec may be done in C; "" not */
    int ncg;
    char cg[RT_MAX_CG][PATH_MAX];
};
int rt_valid_id(const char *id);
/* 0: read; -ENOENT: no such file; RT_FALLBACK: anything unexpected */
int rt_state_read(const char *id, struct rt_state *st);
int rt_running(long pid, unsigned long long start);
unsigned long long rt_start_time(long pid, char *state); /* 0: gone */
int rt_frozen(const struct rt_state *st);
int rt_write_pid_file(const char *path, long pid);

/* supervise.c: lxbrand-sup beside pid; its pid, or -1 after rt_fail */
pid_t rt_start_supervisor(const char *backend, const char *id, pid_t pid, int blob_fd, int ready_r, int go_w,
                          int ctl_r);

/* verbs */
int rt_start(const char *id);
int rt_kill(const char *id, const char *sig);
int rt_delete(const char *id, int force);
int rt_exec(int argc, char **argv); /* argv: what follows the verb */
int rt_create(int argc, char **argv);
int rt_state(const char *id);
#endif
