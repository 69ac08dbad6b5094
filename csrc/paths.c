/* [[path]] rules: the compiled table and the decision (paths.h).  The calls that
 * carry the decisions out are in pathopen.c (open, creat, exec) and pathcalls.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "blob.h"
#include "engine.h"
#include "events.h"
#include "paths.h"
#include "resolve.h"
#include "view.h"

int lx_paths_new(struct lx_sup *s, int default_allow, int log)
{
    lx_paths_free(s);
    struct lx_paths *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->default_allow = default_allow ? 1 : 0;
    r->log = log ? 1 : 0;
    r->judges_exec = !r->default_allow;
    s->paths = r;
    return lx_views_init(s);
}

int lx_paths_add(struct lx_sup *s, int allow, unsigned ops, int err, uint32_t npat, const uint8_t *globs,
                 const void *const *data, const size_t *lens)
{
    struct lx_paths *r = s->paths;
    if (!r || !npat || !ops || ops > LX_OP_ALL || err < 0 || err > 4095)
        return -EINVAL;
    struct lx_path_rule *nr = realloc(r->rules, (r->nrules + 1) * sizeof(*nr));
    if (!nr)
        return -ENOMEM;
    r->rules = nr;
    struct lx_path_rule *rule = &r->rules[r->nrules];
    memset(rule, 0, sizeof(*rule));
    rule->pat = calloc(npat, sizeof(*rule->pat));
    if (!rule->pat)
        return -ENOMEM;
    for (uint32_t i = 0; i < npat; i++) {
        int rc = lx_pattern_set(&rule->pat[i], globs[i], data[i], lens[i]);
        if (rc < 0) {
            while (i--)
                lx_pattern_free(&rule->pat[i]);
            free(rule->pat);
            return rc;
        }
    }
    rule->allow = allow ? 1 : 0;
    rule->ops = (uint8_t)ops;
    rule->err = err ? err : EACCES;
    rule->npat = npat;
    r->judges_exec |= !rule->allow && (ops & LX_OP_EXEC);
    r->nrules++;
    return 0;
}

void lx_paths_free(struct lx_sup *s)
{
    struct lx_paths *r = s->paths;
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nrules; i++) {
        for (uint32_t j = 0; j < r->rules[i].npat; j++)
            lx_pattern_free(&r->rules[i].pat[j]);
        free(r->rules[i].pat);
    }
    free(r->rules);
    free(r);
    s->paths = NULL;
}

int lx_paths_decide(const struct lx_paths *r, unsigned op, const char *path, size_t n)
{
    return lx_paths_decide_rule(r, op, path, n, NULL);
}

int lx_paths_decide_rule(const struct lx_paths *r, unsigned op, const char *path, size_t n, int *which)
{
    struct lx_text_buf t = {.s = path, .n = n, .mode = LX_TEXT_UTF8};
    int verdict = r->default_allow ? 0 : EACCES;
    if (which)
        *which = 0;
    for (uint32_t i = 0; i < r->nrules; i++) {
        const struct lx_path_rule *rule = &r->rules[i];
        if (!(rule->ops & op))
            continue;
        int hit = 0;
        for (uint32_t j = 0; j < rule->npat && !hit; j++) {
            hit = lx_pattern_match(&rule->pat[j], &t);
            if (hit < 0) {
                verdict = ENOMEM; /* cannot decide: deny */
                goto out;
            }
        }
        if (hit) {
            verdict = rule->allow ? 0 : rule->err;
            if (which)
                *which = (int)i + 1;
            goto out;
        }
    }
out:
    lx_text_free(&t);
    return verdict;
}

static const char *op_name(unsigned op)
{
    switch (op) {
    case LX_OP_READ: return "read";
    case LX_OP_WRITE: return "write";
    case LX_OP_CREATE: return "create";
    case LX_OP_STAT: return "stat";
    default: return "exec";
    }
}

int lx_paths_check(struct lx_sup *s, unsigned ops, const char *path, size_t n, pid_t pid)
{
    if (lx_is_supervisor_proc(s, path, n))
        return -EACCES;
    /* in the order Python's policy layer names them: read, write, create, stat, exec */
    for (unsigned op = 1; op <= LX_OP_EXEC; op <<= 1) {
        if (!(ops & op))
            continue;
        int rule;
        int err = lx_paths_decide_rule(s->paths, op, path, n, &rule);
        if (err) {
            char *p = strndup(path, n);
            lx_event_denied(s, pid, -1, err, LX_EVSRC_PATH, rule, op_name(op), p);
            free(p);
            if (s->paths->log) {
                const char *name = strerrorname_np(err);
                fprintf(stderr, "lxbrand: path policy: %s %.*s by pid %d denied (%s)\n", op_name(op), (int)n, path,
                        (int)pid, name ? name : "?");
            }
            return -err;
        }
    }
    return 0;
}

int lx_paths_hides(const struct lx_paths *r)
{
    for (uint32_t i = 0; r && i < r->nrules; i++)
        if (!r->rules[i].allow && (r->rules[i].ops & LX_OP_STAT) && r->rules[i].err == ENOENT)
            return 1;
    return 0;
}

/* LX_SEC_PATHS: default_allow (u8), log (u8), nrules (u32); per rule allow (u8),
 * ops (u8), err (i32), npat (u32), then each pattern (match.h). */
int lx_paths_export(const struct lx_sup *s, struct lx_buf *out)
{
    const struct lx_paths *r = s->paths;
    if (!r)
        return 0;
    int rc = lx_buf_put(out, &r->default_allow, 1);
    if (rc == 0)
        rc = lx_buf_put(out, &(uint8_t){(uint8_t)r->log}, 1);
    if (rc == 0)
        rc = lx_buf_put(out, &r->nrules, 4);
    for (uint32_t i = 0; rc == 0 && i < r->nrules; i++) {
        const struct lx_path_rule *rule = &r->rules[i];
        rc = lx_buf_put(out, &rule->allow, 1);
        if (rc == 0)
            rc = lx_buf_put(out, &rule->ops, 1);
        if (rc == 0)
            rc = lx_buf_put(out, &rule->err, 4);
        if (rc == 0)
            rc = lx_buf_put(out, &rule->npat, 4);
        for (uint32_t j = 0; rc == 0 && j < rule->npat; j++)
            rc = lx_pattern_put(out, &rule->pat[j]);
    }
    return rc;
}

int lx_paths_import(struct lx_sup *s, const uint8_t *p, size_t len)
{
    const uint8_t *q = p, *end = p + len;
    uint32_t nrules;
    if (len < 6 || q[0] > 1 || q[1] > 1)
        return -EINVAL;
    int rc = lx_paths_new(s, q[0], q[1]);
    if (rc < 0)
        return rc;
    memcpy(&nrules, q + 2, 4);
    q += 6;
    for (uint32_t i = 0; i < nrules; i++) {
        uint8_t allow, ops;
        int32_t err;
        uint32_t npat;
        if (end - q < 10)
            goto bad;
        allow = q[0];
        ops = q[1];
        memcpy(&err, q + 2, 4);
        memcpy(&npat, q + 6, 4);
        q += 10;
        if (allow > 1 || !ops || ops > LX_OP_ALL || err <= 0 || err > 4095 || !npat || npat > len)
            goto bad;
        struct lx_pattern *pats = calloc(npat, sizeof(*pats));
        if (!pats) {
            rc = -ENOMEM;
            goto fail;
        }
        for (uint32_t j = 0; j < npat; j++) {
            rc = lx_pattern_get(&pats[j], &q, end);
            if (rc < 0) {
                while (j--)
                    lx_pattern_free(&pats[j]);
                free(pats);
                goto fail;
            }
        }
        struct lx_path_rule *nr = realloc(s->paths->rules, (s->paths->nrules + 1) * sizeof(*nr));
        if (!nr) {
            for (uint32_t j = 0; j < npat; j++)
                lx_pattern_free(&pats[j]);
            free(pats);
            rc = -ENOMEM;
            goto fail;
        }
        s->paths->rules = nr;
        nr[s->paths->nrules++] = (struct lx_path_rule){.allow = allow, .ops = ops, .err = err, .npat = npat, .pat = pats};
        s->paths->judges_exec |= !allow && (ops & LX_OP_EXEC);
    }
    if (q != end)
        goto bad;
    return 0;
bad:
    rc = -EINVAL;
fail:
    lx_paths_free(s);
    return rc;
}

int lx_paths_exec_ok(struct lx_sup *s, pid_t tid)
{
    /* What runs is what /proc/TID/exe names now: the image is mapped and has not
     * run an instruction (PTRACE_EVENT_EXEC), so no thread can swap it anymore. */
    char link[64], exe[LX_PATH_MAX], root[LX_PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)tid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n < 0)
        return -errno;
    exe[n] = '\0';
    snprintf(link, sizeof(link), "/proc/%d/root", (int)tid);
    ssize_t rl = readlink(link, root, sizeof(root) - 1);
    if (rl < 0)
        return -errno;
    root[rl] = '\0';
    const char *guest = exe;
    if (strcmp(root, "/") != 0) {
        if (strncmp(exe, root, (size_t)rl) || (exe[rl] != '/' && exe[rl] != '\0'))
            return -EACCES; /* it runs something outside its root */
        guest = exe[rl] ? exe + rl : "/";
    }
    int rule;
    int err = lx_paths_decide_rule(s->paths, LX_OP_EXEC, guest, strlen(guest), &rule);
    if (err) {
        lx_event_denied(s, tid, SYS_execve, err, LX_EVSRC_PATH, rule, "exec", guest);
        if (s->paths->log)
            fprintf(stderr, "lxbrand: path policy: exec %s by pid %d denied after execve: killed\n", guest, (int)tid);
        return -err;
    }
    return 0;
}
