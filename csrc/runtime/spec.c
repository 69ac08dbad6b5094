/* config.json for the C create (spec.h): read with jansson, every key known or handed to
 * the Python runtime (RT_FALLBACK), whose validation names the key in its error. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime.h"
#include "spec.h"

static int only_keys(json_t *obj, const char *const *known)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return -1;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            if (!strcmp(known[i], k))
                ok = 1;
        if (!ok)
            return -1;
    }
    return 0;
}

static const char *opt_str(json_t *obj, const char *key, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* NULL-terminated array of absolute paths (or any strings with abs=0) */
static const char **str_list(json_t *arr, int abs, int *bad)
{
    if (!arr || json_is_null(arr))
        return calloc(1, sizeof(char *));
    if (!json_is_array(arr)) {
        *bad = 1;
        return NULL;
    }
    size_t i, n = json_array_size(arr);
    json_t *v;
    const char **out = calloc(n + 1, sizeof(*out));
    if (!out) {
        *bad = 1;
        return NULL;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || (abs && json_string_value(v)[0] != '/')) {
            *bad = 1;
            free(out);
            return NULL;
        }
        out[i] = json_string_value(v);
    }
    return out;
}

static const char *const NS_NAMES[RT_NS_N] = {"pid", "network", "mount", "ipc", "uts", "cgroup"};

/* "0-3,6" -> 5; -1 if malformed */
static int cpu_count(const char *list)
{
    int n = 0;
    while (*list) {
        char *end;
        long lo = strtol(list, &end, 10), hi = lo;
        if (end == list)
            return -1;
        if (*end == '-') {
            const char *q = end + 1;
            hi = strtol(q, &end, 10);
            if (end == q || hi < lo)
                return -1;
        }
        n += (int)(hi - lo + 1);
        list = end;
        if (*list == ',')
            list++;
        else if (*list && !strchr(" \t\n", *list))
            return -1;
        while (*list && strchr(" \t\n", *list))
            list++;
    }
    return n;
}

/* The view Python's Personality.from_oci() would give this container (personality/
 * __init__.py): its memory limit, and its CPU quota (quota/period) or cpuset size.  An
 * lxbrand annotation (policy, backend, trace, personality, fake root, kernel release)
 * is validated and applied by Python: 0, or -1 for Python's. */
static int personality_of(json_t *resources, json_t *annotations, struct rt_spec *s)
{
    json_t *mem = json_object_get(resources, "memory"), *cpu = json_object_get(resources, "cpu");
    json_t *limit = json_object_get(mem, "limit"), *quota = json_object_get(cpu, "quota");
    json_t *period = json_object_get(cpu, "period"), *cpus = json_object_get(cpu, "cpus");
    const char *k;
    json_t *v;
    json_object_foreach(annotations, k, v) {
        if (!strncmp(k, "org.lxbrand.", 12))
            return -1;
    }
    if (json_is_integer(limit) && json_integer_value(limit) > 0)
        s->memory = (uint64_t)json_integer_value(limit);
    long long p = json_is_integer(period) && json_integer_value(period) > 0 ? json_integer_value(period) : 100000;
    if (json_is_integer(quota) && json_integer_value(quota) > 0) {
        s->cpus = (double)json_integer_value(quota) / (double)p;
    } else if (json_is_string(cpus) && strspn(json_string_value(cpus), " \t\n") != strlen(json_string_value(cpus))) {
        int n = cpu_count(json_string_value(cpus));
        if (n <= 0)
            return -1;
        s->cpus = n;
    }
    return 0;
}

int rt_spec_load(const char *bundle, struct rt_spec *s)
{
    static const char *const TOP[] = {"ociVersion", "process", "root", "hostname", "domainname", "mounts", "hooks",
                                      "linux", "annotations", NULL};
    static const char *const LINUX[] = {"namespaces", "cgroupsPath", "resources", "seccomp", "maskedPaths",
                                        "readonlyPaths", "sysctl", "devices", "rootfsPropagation", "mountLabel",
                                        NULL};
    static const char *const MOUNT[] = {"destination", "type", "source", "options", NULL};
    char path[PATH_MAX + 16];
    int bad = 0;
    memset(s, 0, sizeof(*s));
    if (!realpath(bundle, s->bundle))
        return RT_FALLBACK;
    snprintf(path, sizeof path, "%s/config.json", s->bundle);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return RT_FALLBACK;
    s->json = root;
    if (only_keys(root, TOP) < 0)
        goto fallback;
    const char *ver = opt_str(root, "ociVersion", &bad);
    if (!ver || strncmp(ver, "1.", 2))
        goto fallback;
    json_t *r = json_object_get(root, "root");
    const char *rp = r ? opt_str(r, "path", &bad) : NULL;
    if (!rp || bad)
        goto fallback;
    json_t *ro = json_object_get(r, "readonly");
    if (ro && !json_is_boolean(ro))
        goto fallback;
    s->readonly_root = json_is_true(ro);
    if (rp[0] == '/')
        snprintf(s->rootfs, sizeof s->rootfs, "%s", rp);
    else
        snprintf(s->rootfs, sizeof s->rootfs, "%s/%s", s->bundle, rp);
    struct stat st;
    if (stat(s->rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
        goto fallback;
    json_t *proc = json_object_get(root, "process");
    if (!proc || rt_process_parse(proc, &s->proc) != 0)
        goto fallback;
    s->hostname = opt_str(root, "hostname", &bad);
    s->domainname = opt_str(root, "domainname", &bad);

    json_t *mounts = json_object_get(root, "mounts");
    if (mounts && !json_is_array(mounts))
        goto fallback;
    s->nmounts = json_array_size(mounts);
    s->mounts = calloc(s->nmounts + 1, sizeof(*s->mounts));
    if (!s->mounts)
        goto fallback;
    for (size_t i = 0; i < s->nmounts; i++) {
        json_t *m = json_array_get(mounts, i);
        if (only_keys(m, MOUNT) < 0)
            goto fallback;
        struct rt_mount *mt = &s->mounts[i];
        mt->destination = opt_str(m, "destination", &bad);
        mt->type = opt_str(m, "type", &bad);
        mt->source = opt_str(m, "source", &bad);
        mt->options = str_list(json_object_get(m, "options"), 0, &bad);
        if (bad || !mt->destination || mt->destination[0] != '/')
            goto fallback;
    }

    json_t *hooks = json_object_get(root, "hooks");
    if (hooks && !json_is_object(hooks))
        goto fallback;
    s->hooks = hooks;
    json_t *ann = json_object_get(root, "annotations");
    if (ann && !json_is_object(ann))
        goto fallback;
    s->annotations = ann;

    json_t *lnx = json_object_get(root, "linux");
    if (lnx && only_keys(lnx, LINUX) < 0)
        goto fallback;
    json_t *nss = json_object_get(lnx, "namespaces");
    if (nss && !json_is_array(nss))
        goto fallback;
    for (size_t i = 0; i < json_array_size(nss); i++) {
        json_t *n = json_array_get(nss, i);
        const char *t = json_is_object(n) ? opt_str(n, "type", &bad) : NULL;
        int k = -1;
        for (int j = 0; t && j < RT_NS_N; j++)
            if (!strcmp(NS_NAMES[j], t))
                k = j;
        if (k < 0 || s->ns[k].wanted)
            goto fallback; /* user, time, unknown or twice: Python's */
        s->ns[k].wanted = 1;
        s->ns[k].path = opt_str(n, "path", &bad);
        if (s->ns[k].path && (!*s->ns[k].path || stat(s->ns[k].path, &st) < 0))
            goto fallback;
    }
    s->cgroups_path = opt_str(lnx, "cgroupsPath", &bad);
    json_t *res = json_object_get(lnx, "resources");
    if (res && !json_is_object(res))
        goto fallback;
    s->resources = res;
    if (personality_of(res, ann, s) < 0)
        goto fallback;
    if (s->hostname && *s->hostname && !s->ns[RT_NS_UTS].wanted)
        goto fallback; /* the identity's files would show it (a hostname without a UTS namespace) */
    json_t *sc = json_object_get(lnx, "seccomp");
    if (sc && !json_is_null(sc)) {
        if (!json_is_object(sc))
            goto fallback;
        s->seccomp = sc;
    }
    s->masked = str_list(json_object_get(lnx, "maskedPaths"), 1, &bad);
    s->readonly = str_list(json_object_get(lnx, "readonlyPaths"), 1, &bad);
    json_t *sysctl = json_object_get(lnx, "sysctl");
    if (sysctl && !json_is_null(sysctl)) {
        const char *k;
        json_t *v;
        if (!json_is_object(sysctl))
            goto fallback;
        json_object_foreach(sysctl, k, v) {
            if (!json_is_string(v))
                goto fallback;
        }
        s->sysctl = sysctl;
    }
    json_t *devs = json_object_get(lnx, "devices");
    if (devs && !json_is_null(devs)) {
        if (!json_is_array(devs))
            goto fallback;
        s->ndevices = json_array_size(devs);
        s->devices = calloc(s->ndevices + 1, sizeof(*s->devices));
        if (!s->devices)
            goto fallback;
        for (size_t i = 0; i < s->ndevices; i++) {
            json_t *d = json_array_get(devs, i);
            struct rt_device *dv = &s->devices[i];
            const char *t = json_is_object(d) ? opt_str(d, "type", &bad) : NULL;
            dv->path = json_is_object(d) ? opt_str(d, "path", &bad) : NULL;
            if (!t || strlen(t) != 1 || !strchr("cbup", t[0]) || !dv->path || dv->path[0] != '/')
                goto fallback;
            dv->type = t[0];
            json_t *ma = json_object_get(d, "major"), *mi = json_object_get(d, "minor");
            json_t *fm = json_object_get(d, "fileMode"), *u = json_object_get(d, "uid"), *g = json_object_get(d, "gid");
            if (dv->type != 'p' && (!json_is_integer(ma) || !json_is_integer(mi)))
                goto fallback;
            dv->major = (long)json_integer_value(ma);
            dv->minor = (long)json_integer_value(mi);
            dv->mode = fm ? (unsigned)json_integer_value(fm) : 0666;
            dv->uid = u ? (unsigned)json_integer_value(u) : 0;
            dv->gid = g ? (unsigned)json_integer_value(g) : 0;
            if ((fm && !json_is_integer(fm)) || (u && !json_is_integer(u)) || (g && !json_is_integer(g)))
                goto fallback;
        }
    }
    s->propagation = opt_str(lnx, "rootfsPropagation", &bad);
    if (s->propagation) {
        static const char *const PROP[] = {"private", "rprivate", "slave", "rslave", "shared", "rshared",
                                           "unbindable", "runbindable", NULL};
        int ok = 0;
        for (int i = 0; PROP[i]; i++)
            ok |= !strcmp(PROP[i], s->propagation);
        if (!ok)
            goto fallback;
    }
    if (bad || !s->masked || !s->readonly)
        goto fallback;
    return 0;
fallback:
    rt_spec_free(s);
    return RT_FALLBACK;
}

void rt_spec_free(struct rt_spec *s)
{
    for (size_t i = 0; s->mounts && i < s->nmounts; i++)
        free(s->mounts[i].options);
    free(s->mounts);
    free(s->masked);
    free(s->readonly);
    free(s->devices);
    json_t *root = s->json;
    s->json = NULL;
    /* the process's strings belong to root: free its arrays first, then the document */
    rt_process_free(&s->proc);
    if (root)
        json_decref(root);
    memset(s, 0, sizeof(*s));
}
