/* config.json's linux.seccomp (e.g. Docker's default profile) compiled with libseccomp into
 * raw BPF, for the C create (lxbrand/oci/seccomp.py is the reference and does the same
 * with the same rules).  The container's process loads the bytes with seccomp(2) after the
 * engine's filter, as runc loads it last; the bytes are also kept for the C exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"
#include "seccomp_oci.h"

static int action(const char *name, json_t *errno_ret, uint32_t *out)
{
    int e = json_is_integer(errno_ret) ? (int)json_integer_value(errno_ret) : EPERM;
    if (!name)
        return -1;
    if (!strcmp(name, "SCMP_ACT_ALLOW"))
        *out = SCMP_ACT_ALLOW;
    else if (!strcmp(name, "SCMP_ACT_ERRNO"))
        *out = SCMP_ACT_ERRNO(e & 0xffff);
    else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
        *out = SCMP_ACT_KILL_THREAD;
    else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
        *out = SCMP_ACT_KILL_PROCESS;
    else if (!strcmp(name, "SCMP_ACT_TRAP"))
        *out = SCMP_ACT_TRAP;
    else if (!strcmp(name, "SCMP_ACT_TRACE"))
        *out = SCMP_ACT_TRACE(e & 0xffff);
    else if (!strcmp(name, "SCMP_ACT_LOG"))
        *out = SCMP_ACT_LOG;
    else
        return -1;
    return 0;
}

static int op_of(const char *s, enum scmp_compare *op)
{
    static const struct {
        const char *name;
        enum scmp_compare op;
    } OPS[] = {{"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
               {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
               {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
    for (size_t i = 0; s && i < sizeof(OPS) / sizeof(OPS[0]); i++)
        if (!strcmp(OPS[i].name, s)) {
            *op = OPS[i].op;
            return 0;
        }
    return -1;
}

static int only(json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return -1;
    json_object_foreach(o, k, v) {
        int ok = 0;
        for (int i = 0; keys[i]; i++)
            ok |= !strcmp(keys[i], k);
        if (!ok)
            return -1;
    }
    return 0;
}

/* Conditions on one argument index are alternatives (OR), as runc reads them: every
 * combination becomes a rule; conditions on distinct indexes stay in one rule (AND). */
static int add_rule(scmp_filter_ctx ctx, uint32_t act, int nr, json_t *args)
{
    size_t n = json_array_size(args);
    struct scmp_arg_cmp cmp[16];
    if (n > 16)
        return -1;
    json_t *by_idx[6][16];
    size_t cnt[6] = {0};
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(args, i);
        static const char *const KEYS[] = {"index", "value", "valueTwo", "op", NULL};
        json_t *ix = json_object_get(a, "index");
        if (only(a, KEYS) < 0 || !json_is_integer(ix) || json_integer_value(ix) < 0 || json_integer_value(ix) > 5)
            return -1;
        int k = (int)json_integer_value(ix);
        by_idx[k][cnt[k]++] = a;
    }
    /* iterate over the cartesian product of the per-index alternatives */
    size_t pick[6] = {0};
    for (;;) {
        unsigned m = 0;
        for (int k = 0; k < 6; k++) {
            if (!cnt[k])
                continue;
            json_t *a = by_idx[k][pick[k]];
            enum scmp_compare op;
            if (op_of(json_string_value(json_object_get(a, "op")), &op) < 0)
                return -1;
            cmp[m].arg = (unsigned)k;
            cmp[m].op = op;
            cmp[m].datum_a = (scmp_datum_t)json_integer_value(json_object_get(a, "value"));
            cmp[m].datum_b = (scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo"));
            m++;
        }
        int rc = seccomp_rule_add_array(ctx, act, nr, m, cmp);
        if (rc < 0)
            return rc;
        int k = 0;
        for (; k < 6; k++) {
            if (!cnt[k])
                continue;
            if (++pick[k] < cnt[k])
                break;
            pick[k] = 0;
        }
        if (k == 6)
            return 0;
    }
}

int rt_seccomp_compile(void *profile, void **out, size_t *len)
{
    static const char *const TOP[] = {"defaultAction", "defaultErrnoRet", "architectures", "syscalls", NULL};
    static const char *const RULE[] = {"names", "action", "errnoRet", "args", "comment", "includes", "excludes",
                                       NULL};
    json_t *p = profile;
    uint32_t dflt;
    *out = NULL;
    *len = 0;
    if (only(p, TOP) < 0 ||
        action(json_string_value(json_object_get(p, "defaultAction")), json_object_get(p, "defaultErrnoRet"), &dflt))
        return RT_FALLBACK; /* flags, listenerPath, an action we do not know: Python words it */
    scmp_filter_ctx ctx = seccomp_init(dflt);
    if (!ctx)
        return RT_FALLBACK;
    /* no_new_privs is decided by process.noNewPrivileges, not by libseccomp's default */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    json_t *arches = json_object_get(p, "architectures");
    for (size_t i = 0; i < json_array_size(arches); i++) {
        const char *a = json_string_value(json_array_get(arches, i));
        uint32_t tok = 0;
        if (!a)
            goto fallback;
        if (!strcmp(a, "SCMP_ARCH_X86_64"))
            tok = SCMP_ARCH_X86_64;
        else if (!strcmp(a, "SCMP_ARCH_X86"))
            tok = SCMP_ARCH_X86;
        else if (!strcmp(a, "SCMP_ARCH_X32"))
            tok = SCMP_ARCH_X32;
        else
            continue; /* an architecture this host cannot run: irrelevant here */
        int rc = seccomp_arch_add(ctx, tok);
        if (rc < 0 && rc != -EEXIST)
            goto fallback;
    }
    json_t *rules = json_object_get(p, "syscalls");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        uint32_t act;
        if (only(r, RULE) < 0 || json_object_get(r, "includes") || json_object_get(r, "excludes") ||
            action(json_string_value(json_object_get(r, "action")), json_object_get(r, "errnoRet"), &act))
            goto fallback;
        if (act == dflt)
            continue; /* libseccomp refuses rules that repeat the default action */
        json_t *names = json_object_get(r, "names");
        for (size_t j = 0; j < json_array_size(names); j++) {
            const char *name = json_string_value(json_array_get(names, j));
            if (!name)
                goto fallback;
            int nr = seccomp_syscall_resolve_name(name);
            if (nr == __NR_SCMP_ERROR)
                continue; /* unknown to this libseccomp/kernel: runc skips it too */
            if (add_rule(ctx, act, nr, json_object_get(r, "args")) < 0)
                goto fallback;
        }
    }
    int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0) {
        if (fd >= 0)
            close(fd);
        goto fallback;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    void *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (!buf || pread(fd, buf, (size_t)size, 0) != size) {
        free(buf);
        close(fd);
        goto fallback;
    }
    close(fd);
    seccomp_release(ctx);
    *out = buf;
    *len = (size_t)size;
    return 0;
fallback:
    seccomp_release(ctx);
    return RT_FALLBACK;
}
