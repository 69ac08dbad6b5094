/* process.json for `exec --process`, read with jansson.  Every key of the OCI process
 * object is either handled here or, if present, hands the call to the Python runtime
 * (RT_FALLBACK), whose validation (lxbrand/oci/config.py) names the key in its error:
 * the C path never runs a process with less than the file asks for. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"
#include "runtime.h"

/* keys handled below, or harmless to ignore as the Python runtime ignores them
 * (apparmorProfile, selinuxLabel: no LSM labels are applied by lxbrand, DIVERGENCE.md) */
static const char *const KNOWN[] = {"args", "env", "cwd", "terminal", "consoleSize", "user", "capabilities",
                                    "noNewPrivileges", "rlimits", "oomScoreAdj", "apparmorProfile",
                                    "selinuxLabel", NULL};

static const struct {
    const char *name;
    int resource;
} RLIMITS[] = {
    {"RLIMIT_CPU", 0},     {"RLIMIT_FSIZE", 1},      {"RLIMIT_DATA", 2},     {"RLIMIT_STACK", 3},
    {"RLIMIT_CORE", 4},    {"RLIMIT_RSS", 5},        {"RLIMIT_NPROC", 6},    {"RLIMIT_NOFILE", 7},
    {"RLIMIT_MEMLOCK", 8}, {"RLIMIT_AS", 9},         {"RLIMIT_LOCKS", 10},   {"RLIMIT_SIGPENDING", 11},
    {"RLIMIT_MSGQUEUE", 12}, {"RLIMIT_NICE", 13},    {"RLIMIT_RTPRIO", 14},  {"RLIMIT_RTTIME", 15},
};

static int known_key(const char *k)
{
    for (int i = 0; KNOWN[i]; i++)
        if (!strcmp(KNOWN[i], k))
            return 1;
    return 0;
}

/* a NULL-terminated array of the strings of `arr` (which must all be strings) */
static const char **strings(json_t *arr, int need_eq)
{
    if (!json_is_array(arr))
        return NULL;
    size_t n = json_array_size(arr), i;
    const char **out = calloc(n + 1, sizeof(*out));
    if (!out)
        return NULL;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || (need_eq && !strchr(json_string_value(v), '='))) {
            free(out);
            return NULL;
        }
        out[i] = json_string_value(v);
    }
    return out;
}

static int uint_of(json_t *v, unsigned long long max, unsigned long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (unsigned long long)json_integer_value(v) > max)
        return -1;
    *out = (unsigned long long)json_integer_value(v);
    return 0;
}

static int caps_of(json_t *caps, struct rt_process *p)
{
    static const char *const SETS[5] = {"bounding", "effective", "permitted", "inheritable", "ambient"};
    if (!json_is_object(caps))
        return -1;
    const char *k;
    json_t *v;
    json_object_foreach(caps, k, v) {
        int set = -1;
        for (int i = 0; i < 5; i++)
            if (!strcmp(k, SETS[i]))
                set = i;
        if (set < 0 || !json_is_array(v))
            return -1;
        size_t i;
        json_t *name;
        json_array_foreach(v, i, name) {
            int n = json_is_string(name) ? rt_cap_number(json_string_value(name)) : -1;
            if (n < 0)
                return -1;
            p->caps[set] |= 1ull << n;
        }
    }
    p->has_caps = 1;
    return 0;
}

int rt_process_load(const char *path, struct rt_process *p)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return RT_FALLBACK;
    int rc = rt_process_parse(root, p);
    if (rc == 0)
        p->json = root; /* owned from here */
    else
        json_decref(root);
    return rc;
}

int rt_process_parse(void *obj, struct rt_process *p)
{
    json_t *root = obj;
    memset(p, 0, sizeof(*p));
    p->umask = -1;
    if (!json_is_object(root))
        return RT_FALLBACK;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!known_key(k))
            goto fallback;
    }
    p->args = strings(json_object_get(root, "args"), 0);
    if (!p->args || !p->args[0])
        goto fallback;
    v = json_object_get(root, "env");
    p->env = v ? strings(v, 1) : calloc(1, sizeof(char *));
    if (!p->env)
        goto fallback;
    v = json_object_get(root, "cwd");
    p->cwd = v ? json_string_value(v) : "/";
    if (!p->cwd || p->cwd[0] != '/')
        goto fallback;
    v = json_object_get(root, "terminal");
    if (v && !json_is_boolean(v))
        goto fallback;
    p->terminal = json_is_true(v);
    v = json_object_get(root, "consoleSize");
    if (v) {
        unsigned long long h, w;
        if (!json_is_object(v) || uint_of(json_object_get(v, "height"), 65535, &h) ||
            uint_of(json_object_get(v, "width"), 65535, &w))
            goto fallback;
        p->rows = (unsigned short)h;
        p->cols = (unsigned short)w;
    }
    v = json_object_get(root, "user");
    if (v) {
        unsigned long long n;
        json_t *u;
        if (!json_is_object(v))
            goto fallback;
        json_object_foreach(v, k, u) {
            if (strcmp(k, "uid") && strcmp(k, "gid") && strcmp(k, "umask") && strcmp(k, "additionalGids"))
                goto fallback; /* e.g. username (Windows) */
        }
        if ((u = json_object_get(v, "uid"))) {
            if (uint_of(u, 0xfffffffeu, &n))
                goto fallback;
            p->uid = (uid_t)n;
        }
        if ((u = json_object_get(v, "gid"))) {
            if (uint_of(u, 0xfffffffeu, &n))
                goto fallback;
            p->gid = (gid_t)n;
        }
        if ((u = json_object_get(v, "umask"))) {
            if (uint_of(u, 0777, &n))
                goto fallback;
            p->umask = (int)n;
        }
        if ((u = json_object_get(v, "additionalGids"))) {
            if (!json_is_array(u))
                goto fallback;
            p->ngids = json_array_size(u);
            p->gids = calloc(p->ngids + 1, sizeof(gid_t));
            if (!p->gids)
                goto fallback;
            size_t i;
            json_t *g;
            json_array_foreach(u, i, g) {
                if (uint_of(g, 0xfffffffeu, &n))
                    goto fallback;
                p->gids[i] = (gid_t)n;
            }
        }
    }
    v = json_object_get(root, "capabilities");
    if (v && caps_of(v, p) < 0)
        goto fallback;
    v = json_object_get(root, "noNewPrivileges");
    if (v && !json_is_boolean(v))
        goto fallback;
    p->nnp = json_is_true(v);
    v = json_object_get(root, "oomScoreAdj");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < -1000 || json_integer_value(v) > 1000)
            goto fallback;
        p->has_oom = 1;
        p->oom_score_adj = (int)json_integer_value(v);
    }
    v = json_object_get(root, "rlimits");
    if (v) {
        if (!json_is_array(v))
            goto fallback;
        p->nrlimits = json_array_size(v);
        p->rlimits = calloc(p->nrlimits + 1, sizeof(*p->rlimits));
        if (!p->rlimits)
            goto fallback;
        size_t i;
        json_t *rl;
        json_array_foreach(v, i, rl) {
            json_t *t = json_object_get(rl, "type");
            int res = -1;
            for (size_t j = 0; t && json_is_string(t) && j < sizeof(RLIMITS) / sizeof(RLIMITS[0]); j++)
                if (!strcmp(RLIMITS[j].name, json_string_value(t)))
                    res = RLIMITS[j].resource;
            /* soft/hard are Go uint64s: RLIM_INFINITY arrives as 2^64-1, which jansson's
             * signed integers cannot hold -- Python's reading of such a file is the reference */
            if (res < 0 || uint_of(json_object_get(rl, "soft"), ~0ull, &p->rlimits[i].soft) ||
                uint_of(json_object_get(rl, "hard"), ~0ull, &p->rlimits[i].hard))
                goto fallback;
            p->rlimits[i].resource = res;
        }
    }
    return 0;
fallback:
    rt_process_free(p);
    return RT_FALLBACK;
}

void rt_process_free(struct rt_process *p)
{
    free(p->args);
    free(p->env);
    free(p->gids);
    free(p->rlimits);
    if (p->json)
        json_decref(p->json);
    memset(p, 0, sizeof(*p));
}
