/* The program's threads as the supervisor must see them to act for them: the
 * root their paths start from, their ids in their own pid namespace, and the
 * credentials the kernel checks their file and socket calls with.
 *
 * Taken from /proc once per thread and kept (struct lx_views), because reading
 * them costs more than the call they serve (/proc/PID/status ~10 us, opening
 * /proc/PID/root ~5 us, on the development VM).  What is kept is forgotten
 * whenever it may change:
 *   - a thread's credentials and root change only by its own calls (set*id,
 *     setgroups, capset, unshare, setns; execve), which trap when anything is
 *     kept (LX_ACT_WATCH) and are noted before they run (lx_views_note); the
 *     thread can make no other call until that one returns, so the next call it
 *     makes reads them again (exec forgets every thread: the execing thread
 *     takes over its leader's id);
 *   - a thread id that ends, or starts (a new task may reuse a number), is
 *     forgotten by the lifecycle loop before the new task runs.
 * chroot, pivot_root and the mount calls, which would move a root under a kept
 * view, are refused under path rules.  The umask (shared by threads of one
 * fs_struct, and changed by any of them) is never kept: creating calls read it.
 */
#ifndef LX_VIEW_H
#define LX_VIEW_H
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

struct lx_sup;

/* The credentials a file or socket call is checked with (credentials(7)). */
struct lx_creds {
    uid_t euid, fsuid;
    gid_t egid, fsgid;
    uint64_t capeff;   /* effective capabilities; 0 when the thread is in another user namespace */
    uint64_t capprm, capinh; /* the supervisor's own only (creds.c keeps them while switching) */
    int ngroups;
    gid_t *groups;     /* sorted */
};

struct lx_root {       /* a program root, shared by the threads that have it */
    int fd;            /* O_PATH, taken as the supervisor from /proc/TID/root */
    char *path;        /* its host path; "" when it is the supervisor's "/" */
    size_t len;
    dev_t dev;
    ino_t ino;
    int refs;
};

struct lx_view {
    pid_t tid;         /* 0: a free slot */
    struct lx_root *root;
    pid_t ns_tgid, ns_tid; /* its ids as its /proc shows them (/proc/self rewritten to these) */
    pid_t tgid;            /* its thread group, in ours */
    struct lx_creds cr;
    uid_t ruid;            /* its real ids and permitted capabilities: access(2) checks */
    gid_t rgid;            /* with these (pathctx.h, lx_pc_as_real) */
    uint64_t capprm;
    uint64_t capeff_own;   /* its effective capabilities as they count in its own user namespace */
    int pidfd;             /* a pidfd of the thread (pidfd_getfd), -1 until needed */
};

struct lx_views {
    struct lx_view *tab; /* open addressing on tid */
    size_t cap, n;
    struct lx_root **roots;
    size_t nroots;
    struct lx_creds own; /* the supervisor's, as it started */
    char userns[64];     /* readlink of our /proc/self/ns/user */
    /* forgetting, asked from any thread, done by the answering thread */
    pthread_mutex_t lock;
    pid_t *pending;
    size_t npending, cappending;
    int forget_all;
    int dirty;           /* atomic: something is pending */
};

int lx_views_init(struct lx_sup *s);   /* 0 or -errno; idempotent */
void lx_views_free(struct lx_sup *s);
/* The caller's view, from what is kept or read now; NULL with *err set if the
 * thread is gone or /proc cannot be read (the call then fails closed). */
struct lx_view *lx_view_get(struct lx_sup *s, pid_t tid, int *err);
/* Forget a thread (tid 0: every thread); any thread may ask. */
void lx_views_forget(struct lx_sup *s, pid_t tid);
/* A trapped call is about to run: forget what it may change (see above). */
void lx_views_note(struct lx_sup *s, int nr, pid_t tid);
/* Is nr a call that may change a view?  (the policy layer traps these: LX_ACT_WATCH) */
int lx_views_watched(int nr);
/* A pidfd of the view's thread, opened on first use and kept (a pidfd names its
 * task for good: no reuse); -errno if it is gone.  `id`: the notification the
 * thread waits in (unotify), proving the tid still names it when opened. */
int lx_view_pidfd(struct lx_sup *s, struct lx_view *v, uint64_t id);
/* The thread's umask now (creating calls), or -errno */
int lx_view_umask(pid_t tid);

/* creds.c: the one credential switcher.  The calling thread takes `want`
 * (fsuid, fsgid, groups, effective capabilities; with `identity` also the
 * effective uid and gid, which UNIX sockets record for their peer), and
 * lx_creds_restore gives it the supervisor's back.  Nothing is switched when
 * `want` equals what the thread already has.  Credentials are per thread in
 * Linux (raw syscalls: glibc's wrappers would change every thread), so the
 * rest of the supervisor is untouched.  0 or -errno; on failure the thread is
 * left as the supervisor (the call fails closed). */
struct lx_cred_state {
    int switched;      /* what was switched (creds.c), 0: nothing */
    int identity;
};
int lx_creds_take(struct lx_sup *s, const struct lx_creds *want, int identity, struct lx_cred_state *st);
void lx_creds_restore(struct lx_sup *s, struct lx_cred_state *st);
int lx_creds_read_own(struct lx_creds *c);
void lx_creds_free(struct lx_creds *c);
/* The thread's umask is its own (unshare(CLONE_FS) once), so setting it for a
 * creating call does not change the supervisor's other threads.  0 or -errno. */
int lx_creds_own_fs(void);
#endif
