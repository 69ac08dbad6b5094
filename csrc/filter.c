/* Compile the action table into a seccomp BPF program with libseccomp.
 *
 * The filter is the first judge: ALLOW/DENY/KILL are applied in the kernel and
 * never reach the supervisor; everything else traps (USER_NOTIF or TRACE).
 * The program is exported as raw sock_filter bytes so the child can install
 * it with seccomp(2) and the flags we choose (NEW_LISTENER, WAIT_KILLABLE_RECV),
 * which libseccomp 2.5 cannot all set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"

static uint32_t scmp_action(const struct lx_action *a, int backend)
{
    switch (a->kind) {
    case LX_ACT_ALLOW:
        return SCMP_ACT_ALLOW;
    case LX_ACT_DENY:
        return SCMP_ACT_ERRNO((uint16_t)(a->err > 0 ? a->err : EPERM));
    case LX_ACT_KILL:
        return SCMP_ACT_KILL_PROCESS;
    default:
        return backend == LX_BACKEND_UNOTIFY ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
    }
}

int lx_filter_compile(const struct lx_sup *s, void **out, size_t *out_len)
{
    int rc;
    uint32_t dflt = scmp_action(&s->dflt, s->backend);
    scmp_filter_ctx ctx = seccomp_init(dflt);
    if (!ctx)
        return -EINVAL;
    /* Only native x86_64 syscalls pass: i386 (int $0x80) and x32 (nr | 0x40000000)
     * entries are killed, so they cannot bypass rules written for x86_64. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0)
        goto out;
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the child sets no_new_privs itself */
    if (rc < 0)
        goto out;
    for (int nr = 0; nr < LX_NR_MAX; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        if (!name)
            continue; /* not a syscall: the default applies */
        free(name);
        uint32_t act = scmp_action(&s->table[nr], s->backend);
        if (s->backend == LX_BACKEND_PTRACE && nr == SYS_seccomp && act == SCMP_ACT_ALLOW) {
            /* Under RET_TRACE, a filter of the program's own returning USER_NOTIF
             * takes precedence over ours and its listener could CONTINUE past our
             * traps (linux/seccomp.h, SECCOMP_USER_NOTIF_FLAG_CONTINUE note).
             * Refuse new listeners; other filters may stack freely. */
            if (dflt != SCMP_ACT_ERRNO(EPERM)) {
                rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2,
                                      SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
                                      SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                              SECCOMP_FILTER_FLAG_NEW_LISTENER));
            } else { /* the default already denies with EPERM: allow everything but a listener */
                rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_NE, SECCOMP_SET_MODE_FILTER));
                if (rc >= 0)
                    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER),
                                          SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0));
            }
            if (rc < 0)
                goto out;
            continue;
        }
        if (act == dflt)
            continue;
        rc = seccomp_rule_add(ctx, act, nr, 0);
        if (rc < 0)
            goto out;
    }

    int fd = memfd_create("lxbrand-bpf", MFD_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = seccomp_export_bpf(ctx, fd);
    if (rc >= 0) {
        off_t len = lseek(fd, 0, SEEK_END);
        void *buf = len > 0 ? malloc((size_t)len) : NULL;
        if (!buf) {
            rc = -ENOMEM;
        } else if (pread(fd, buf, (size_t)len, 0) != len) {
            free(buf);
            rc = -EIO;
        } else {
            *out = buf;
            *out_len = (size_t)len;
            rc = 0;
        }
    }
    close(fd);
out:
    seccomp_release(ctx);
    return rc;
}
