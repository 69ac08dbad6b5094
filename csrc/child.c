/* The forked child's last steps before the program runs.
 *
 * Order matters: (1) die with the supervisor (when it is our parent: an OCI
 * container's process is not its supervisor's child, and dies with it through
 * ptrace's EXITKILL instead); (2) no_new_privs, which
 * seccomp(2) requires without CAP_SYS_ADMIN and which makes setuid binaries
 * harmless; (3) tell the supervisor we are ready and wait until it has seized
 * us with ptrace (so the tree can never run untraced, and RET_TRACE always has
 * a tracer); (4) install the filter; (5) execve.
 *
 * After (4) every syscall may trap, so nothing here talks to the supervisor:
 * the supervisor steps us with PTRACE_SYSCALL and takes the listener fd from
 * seccomp()'s return value with pidfd_getfd(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

/* seccomp(2) without no_new_privs needs CAP_SYS_ADMIN; without it, set
 * no_new_privs and try again: the filter is installed either way. */
static long install(unsigned int flags, struct sock_fprog *fp, int nnp)
{
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, fp);
    if (rc < 0 && errno == EACCES && !nnp) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            return -1;
        rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, fp);
    }
    return rc;
}

int lx_child_exec(const void *prog, size_t prog_len, int backend, int ready_fd, int go_fd,
                  const char *path, char *const argv[], char *const envp[])
{
    int rc = lx_child_filter(prog, prog_len, backend, ready_fd, go_fd, 1, 1);
    if (rc < 0)
        return rc;
    execve(path, argv, envp);
    return -errno;
}

int lx_child_filter(const void *prog, size_t prog_len, int backend, int ready_fd, int go_fd, int nnp, int pdeathsig)
{
    char c = 'r';
    struct lx_filter_hdr h;
    if (prog_len < sizeof(h))
        return -EINVAL;
    memcpy(&h, prog, sizeof(h));
    if (h.magic != LX_FILTER_MAGIC || h.policy_len > prog_len - sizeof(h))
        return -EINVAL;
    if (pdeathsig && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        return -errno;
    if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (write(ready_fd, &c, 1) != 1)
        return -EPIPE;
    /* From here to seccomp() the supervisor steps us syscall by syscall: keep
     * it to read() alone (the pipes are O_CLOEXEC and close at execve). */
    if (read(go_fd, &c, 1) != 1 || c != 'g')
        return -EPIPE; /* the supervisor is gone: never run unsupervised */
    const char *policy = (const char *)prog + sizeof(h);
    struct sock_fprog fp = {
        .len = (unsigned short)(h.policy_len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)policy,
    };
    struct sock_fprog prot = {
        .len = (unsigned short)((prog_len - sizeof(h) - h.policy_len) / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)(policy + h.policy_len),
    };
    if (backend == LX_BACKEND_UNOTIFY) {
        /* WAIT_KILLABLE_RECV (5.19): once the supervisor has received a
         * notification, only a fatal signal interrupts the wait, so Go's
         * SIGURG preemption does not restart trapped calls endlessly. */
        long fd = install(SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fp, nnp);
        if (fd < 0 && errno == EINVAL)
            fd = install(SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp, nnp);
        if (fd < 0)
            return -errno;
        /* the listener fd is O_CLOEXEC: it disappears from the program at execve */
    } else {
        if (install(0, &fp, nnp) < 0)
            return -errno;
    }
    /* the engine's protections (filter.c), after the policy's filter: the
     * supervisor takes the listener from the first seccomp() that returns one */
    if (prot.len && install(0, &prot, nnp) < 0)
        return -errno;
    return 0;
}
