/* [[path]] rules in the engine: compiled by the policy layer (lxbrand/rules/paths.py),
 * decided and performed here, the same on both backends.
 *
 * A rule allows or denies operations (read, write, create, stat, exec) on paths
 * matching one of its patterns (match.h); rules are tried in order, the first
 * that matches decides, the default when none does.  Paths are resolved as the
 * program sees them (resolve.h) and the rule is matched on what was reached.
 */
#ifndef LX_PATHS_H
#define LX_PATHS_H
#include <stddef.h>
#include <stdint.h>

#include "match.h"

struct lx_sup;
struct lx_call;
struct lx_action;
struct lx_view;
struct lx_buf;

enum lx_path_op { LX_OP_READ = 1, LX_OP_WRITE = 2, LX_OP_CREATE = 4, LX_OP_STAT = 8, LX_OP_EXEC = 16 };
#define LX_OP_ALL 31

struct lx_path_rule {
    uint8_t allow;
    uint8_t ops;     /* enum lx_path_op bits */
    int32_t err;     /* a deny's errno */
    uint32_t npat;
    struct lx_pattern *pat;
};

struct lx_paths {
    uint8_t default_allow;
    uint32_t nrules;
    struct lx_path_rule *rules;
    int log;         /* 1: a denial is reported on stderr (lxbrand: path policy: ...) */
    uint8_t judges_exec; /* some rule (or the default) may deny exec: what runs is checked */
};

/* Building (the binding, the blob).  0 or -errno. */
int lx_paths_new(struct lx_sup *s, int default_allow, int log);
int lx_paths_add(struct lx_sup *s, int allow, unsigned ops, int err, uint32_t npat, const uint8_t *globs,
                 const void *const *data, const size_t *lens);
void lx_paths_free(struct lx_sup *s);
int lx_paths_export(const struct lx_sup *s, struct lx_buf *out);
int lx_paths_import(struct lx_sup *s, const uint8_t *p, size_t len);

/* The verdict for op on a path in the program's view (its length n, no trailing
 * '/'): 0 allowed, else the errno. */
int lx_paths_decide(const struct lx_paths *r, unsigned op, const char *path, size_t n);
/* the same, and which rule decided (1 + its index; 0: the default) */
int lx_paths_decide_rule(const struct lx_paths *r, unsigned op, const char *path, size_t n, int *which);
/* Every op of `ops` (first denial wins), the supervisor's own /proc refused;
 * the denial is logged.  0 or -errno. */
int lx_paths_check(struct lx_sup *s, unsigned ops, const char *path, size_t n, pid_t pid);
/* Does any rule hide paths (deny stat with ENOENT)?  Then listings leave them out. */
int lx_paths_hides(const struct lx_paths *r);

/* The calls: a trapped call of kind LX_ACT_PATH, answered (1) or continued (0),
 * as lx_decide returns. */
int lx_path_call(struct lx_sup *s, struct lx_call *c, const struct lx_action *a);
int lx_path_other(struct lx_sup *s, struct lx_call *c, const struct lx_action *a); /* pathcalls.c */
/* After an execve, before the new image runs: is what runs allowed?  0, or <0 (kill) */
int lx_paths_exec_ok(struct lx_sup *s, pid_t tid);
#endif
