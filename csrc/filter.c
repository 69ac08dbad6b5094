/* Compile the action table into a seccomp BPF program with libseccomp.
 *
 * The filter is the first judge: ALLOW/DENY/KILL are applied in the kernel and
 * never reach the supervisor; everything else traps (USER_NOTIF or TRACE).
 * The programs are exported as raw sock_filter bytes so the child can install
 * them with seccomp(2) and the flags we choose (NEW_LISTENER, WAIT_KILLABLE_RECV),
 * which libseccomp 2.5 cannot all set: the policy's, and the engine's
 * protections stacked on it (one blob, struct lx_filter_hdr in engine.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "events.h"
#include "net.h"
static uint32_t scmp_action(const struct lx_action *a, const struct lx_sup *s)
{
    int backend = s->backend;
    switch (a->kind) {
    case LX_ACT_ALLOW:
        return SCMP_ACT_ALLOW;
    case LX_ACT_DENY:
        /* with denial events on, the supervisor answers the errno itself (events.h) */
        if (s->events && (s->events->flags & LX_EVS_DENY))
            return backend == LX_BACKEND_UNOTIFY ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
        return SCMP_ACT_ERRNO((uint16_t)(a->err > 0 ? a->err : EPERM));
    case LX_ACT_KILL:
        return SCMP_ACT_KILL_PROCESS;
    case LX_ACT_DEBUG:
        return SCMP_ACT_TRACE(0); /* the debugger's ptrace() stops the tracer thread (debuggee.c) */
    case LX_ACT_TRACE:
        /* A recorded call needs its result: a notification that continues never shows
         * it, so when the run records, TRACE calls stop the tracer instead (the tracer
         * thread then resumes them to their syscall-exit stop: ptrace.c). */
        if (s->trace_exit)
            return SCMP_ACT_TRACE(0);
        return backend == LX_BACKEND_UNOTIFY ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
    default:
        return backend == LX_BACKEND_UNOTIFY ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
    }
}

/* libseccomp's BPF for ctx, as malloc'ed bytes */
static int export_ctx(scmp_filter_ctx ctx, void **out, size_t *out_len)
{
    int rc;
    int fd = memfd_create("lxbrand-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
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
    return rc;
}

/* The engine's protections, under every policy (SECURITY.md): a second filter,
 * stacked on the policy's, allowing everything but
 *
 * - ioctl(TIOCSTI), which pushes bytes into a terminal's input queue, and
 *   ioctl(TIOCLINUX), whose TIOCL_PASTESEL pastes a console selection: both
 *   type commands into the shell that started the sandbox once the program
 *   exits (CVE-2016-7545 and many sandboxes since; Linux 6.2 made TIOCSTI
 *   optional with dev.tty.legacy_tiocsti, which is still on by default and
 *   never applies to CAP_SYS_ADMIN).  ioctl's cmd is an unsigned int, so only
 *   the low 32 bits are compared: garbage in the high bits cannot slip past.
 * - signals, pidfds, rlimits, scheduling and process_vm_* aimed at the
 *   supervisor's own pid: the program must not stop, starve or reach into the
 *   process that judges it (killing it would kill the tree -- fail closed --
 *   but stopping it would hang the program's trapped calls).  Only when the
 *   program shares our pid namespace; in a new one our pid names another
 *   process.  Group signals (kill(0, ...)) still reach us: see SECURITY.md.
 *
 * A separate filter because seccomp runs every stacked filter and the most
 * restrictive verdict wins (seccomp(2), "Filter return values"): EPERM here
 * beats ALLOW, USER_NOTIF and TRACE there, and libseccomp cannot add a rule
 * whose action equals the default of a deny-by-default policy. */
static const int by_pid[] = {SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo,
                             SYS_pidfd_open, SYS_prlimit64, SYS_process_vm_readv, SYS_process_vm_writev,
                             SYS_sched_setaffinity, SYS_sched_setscheduler, SYS_sched_setparam, SYS_sched_setattr};

unsigned lx_filter_protections(int nr)
{
    unsigned m = nr == SYS_ioctl ? LX_PROT_TTY : 0;
    for (size_t i = 0; i < sizeof(by_pid) / sizeof(by_pid[0]); i++)
        if (by_pid[i] == nr)
            m |= LX_PROT_SUPERVISOR;
    if (nr == SYS_ptrace)
        m |= LX_PROT_SUPERVISOR;
    if (nr == SYS_seccomp)
        m |= LX_PROT_LISTENER; /* compile_policy, ptrace backend */
    return m;
}

static int same_pidns_for_children(void)
{
    char a[64] = "", b[64] = "";
    if (readlink("/proc/self/ns/pid", a, sizeof(a) - 1) < 0 ||
        readlink("/proc/self/ns/pid_for_children", b, sizeof(b) - 1) < 0)
        return 1; /* cannot tell: protect */
    return strcmp(a, b) == 0;
}

/* Under [[network]] rules, SCTP sockets fail as on a kernel without SCTP: an SCTP
 * association is made and bound through setsockopt (SCTP_SOCKOPT_CONNECTX,
 * SCTP_SOCKOPT_BINDX_ADD) and sendmsg may go to any of several addresses, none of
 * which the rules judge.  IPPROTO_SCTP given, or the inet default for
 * SOCK_SEQPACKET (protocol 0).  In the stacked filter: decided on registers, in
 * the kernel, whatever the policy's action for socket(2) is (ERRNO outranks it). */
static int refuse_sctp(scmp_filter_ctx ctx)
{
    const uint32_t no = SCMP_ACT_ERRNO(EPROTONOSUPPORT);
    int rc = 0;
    for (int i = 0; i < 2 && rc >= 0; i++) {
        uint64_t fam = i ? AF_INET6 : AF_INET;
        rc = seccomp_rule_add(ctx, no, SYS_socket, 2, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, fam),
                              SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, IPPROTO_SCTP));
        if (rc >= 0)
            rc = seccomp_rule_add(ctx, no, SYS_socket, 3, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, fam),
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_SEQPACKET),
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffu, 0));
    }
    return rc;
}

static int compile_protections(const struct lx_sup *s, void **out, size_t *out_len)
{
    const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    int rc;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return -EINVAL;
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc >= 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc >= 0)
        rc = seccomp_rule_add(ctx, deny, SYS_ioctl, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
    if (rc >= 0)
        rc = seccomp_rule_add(ctx, deny, SYS_ioctl, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
    if (rc >= 0 && same_pidns_for_children()) {
        uint64_t self = (uint32_t)getpid();
        for (size_t i = 0; i < sizeof(by_pid) / sizeof(by_pid[0]) && rc >= 0; i++)
            rc = seccomp_rule_add(ctx, deny, by_pid[i], 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu, self));
        /* ptrace names its pid second: refused in the kernel whoever traces the caller
         * (a handed-over task's ptrace() stops its debugger, not us: debuggee.c) */
        if (rc >= 0)
            rc = seccomp_rule_add(ctx, deny, SYS_ptrace, 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, self));
    }
    if (rc >= 0 && s->net && s->net->refuse_sctp)
        rc = refuse_sctp(ctx);
    if (rc >= 0)
        rc = export_ctx(ctx, out, out_len);
    seccomp_release(ctx);
    return rc;
}

/* A trapped call that runs natively when (args[arg] & mask) == 0 (engine.h,
 * LX_NATIVE_ARG): libseccomp lets an unconditional rule override conditional ones
 * for the same syscall, so the two sides are both conditions, which partition the
 * values -- ALLOW when no bit of the mask is set, the trap when any one is (only
 * the low 32 bits: the kernel reads these arguments as int). */
static int native_when(scmp_filter_ctx ctx, int nr, uint32_t trap, uint32_t dflt, int arg, uint32_t mask)
{
    if (arg < 0 || arg > 5 || !mask)
        return -EINVAL;
    struct scmp_arg_cmp none = {.arg = (unsigned)arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = 0};
    /* (libseccomp refuses a rule whose action is the default: then that side is the default) */
    int rc = dflt == SCMP_ACT_ALLOW ? 0 : seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &none);
    for (int b = 0; b < 32 && rc >= 0; b++) {
        if (!(mask & (1u << b)))
            continue;
        struct scmp_arg_cmp set = {.arg = (unsigned)arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = 1u << b,
                                   .datum_b = 1u << b};
        rc = seccomp_rule_add_array(ctx, trap, nr, 1, &set);
    }
    return rc;
}

/* ptrace under LX_ACT_DEBUG (debuggee.c): only the requests that make a tracer or change
 * what a debugger holds stop the supervisor; the others (PEEK, GETREGS, CONT, ... which
 * strace and gdb make for every event) run in the kernel, which refuses them to anyone
 * but the tracer.  request is a long: compared whole.  (Under a default other than
 * allow every ptrace call traps, and debuggee.c lets the others run.) */
static int debug_requests(scmp_filter_ctx ctx)
{
    static const uint64_t reqs[] = {PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_SETOPTIONS, PTRACE_DETACH};
    int rc = 0;
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]) && rc >= 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_TRACE(0), SYS_ptrace, 1, SCMP_A0(SCMP_CMP_EQ, reqs[i]));
    return rc;
}

static int compile_policy(const struct lx_sup *s, void **out, size_t *out_len)
{
    int rc;
    uint32_t dflt = scmp_action(&s->dflt, s);
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
        uint32_t act = scmp_action(&s->table[nr], s);
        if (!name) {
            /* a number this libseccomp cannot name (a gap, or a syscall newer than
             * its table): the default, unless the policy layer set it (ENOSYS under
             * rules that judge arguments: lxbrand.engine.apply_policy) */
            if (act != dflt && (rc = seccomp_rule_add(ctx, act, nr, 0)) < 0)
                goto out;
            continue;
        }
        free(name);
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
        if (s->table[nr].kind == LX_ACT_DEBUG && s->backend == LX_BACKEND_UNOTIFY && dflt == SCMP_ACT_ALLOW) {
            rc = debug_requests(ctx);
            if (rc < 0)
                goto out;
            continue;
        }
        if (act == dflt)
            continue;
        if (s->table[nr].kind == LX_ACT_PATH && LX_NATIVE_ARG(s->table[nr].value)) {
            rc = native_when(ctx, nr, act, dflt, LX_NATIVE_ARG(s->table[nr].value) - 1,
                             LX_NATIVE_MASK(s->table[nr].value));
            if (rc < 0)
                goto out;
            continue;
        }
        rc = seccomp_rule_add(ctx, act, nr, 0);
        if (rc < 0)
            goto out;
    }


    rc = export_ctx(ctx, out, out_len);
out:
    seccomp_release(ctx);
    return rc;
}

int lx_filter_compile(const struct lx_sup *s, void **out, size_t *out_len)
{
    void *pol = NULL, *prot = NULL;
    size_t pol_len = 0, prot_len = 0;
    int rc = compile_policy(s, &pol, &pol_len);
    if (rc < 0)
        return rc;
    rc = compile_protections(s, &prot, &prot_len);
    if (rc < 0) {
        free(pol);
        return rc;
    }
    struct lx_filter_hdr h = {.magic = LX_FILTER_MAGIC, .policy_len = (uint32_t)pol_len};
    uint8_t *buf = malloc(sizeof(h) + pol_len + prot_len);
    if (buf) {
        memcpy(buf, &h, sizeof(h));
        memcpy(buf + sizeof(h), pol, pol_len);
        memcpy(buf + sizeof(h) + pol_len, prot, prot_len);
        *out = buf;
        *out_len = sizeof(h) + pol_len + prot_len;
    }
    free(pol);
    free(prot);
    return buf ? 0 : -ENOMEM;
}
