/* Control groups for the C create, as lxbrand/oci/cgroups.py (the reference) makes them:
 * v1 (one hierarchy per controller mount, as on this machine with Docker's cgroupfs
 * driver), v2, and the hybrid layout (v1 controllers plus the empty cgroup2 at
 * /sys/fs/cgroup/unified, which is joined too).  A container's cgroups are one directory
 * per hierarchy, keyed by the mount's sorted controller list ("cpu,cpuacct",
 * "name=systemd") or "unified".  Any resource key this file does not write makes the
 * whole create Python's (rt_cg_supported), so nothing asked for is silently skipped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroups.h"
#include "runtime.h"

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the key of a cgroup v1 mount from its super options: its controllers, sorted */
static void v1_key(char *sopts, char *key, size_t cap)
{
    char *sp = NULL;
    char *parts[32];
    int n = 0;
    for (char *tok = strtok_r(sopts, ",", &sp); tok && n < 32; tok = strtok_r(NULL, ",", &sp)) {
        if (!strcmp(tok, "rw") || !strcmp(tok, "ro") || !strncmp(tok, "release_agent=", 14) ||
            !strncmp(tok, "clone_children", 14) || !strcmp(tok, "noprefix") || !strcmp(tok, "xattr") ||
            !strcmp(tok, "cpuset_v2_mode") || !strcmp(tok, "nsdelegate"))
            continue;
        parts[n++] = tok;
    }
    qsort(parts, (size_t)n, sizeof(char *), cmpstr);
    key[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strncat(key, ",", cap - strlen(key) - 1);
        strncat(key, parts[i], cap - strlen(key) - 1);
    }
}

int rt_cg_hierarchies(struct rt_cgroups *h)
{
    char *sp = NULL;
    memset(h, 0, sizeof(*h));
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        *sep = '\0';
        char *fields[8] = {0};
        int nf = 0;
        for (char *t = strtok_r(line, " ", &sp); t && nf < 8; t = strtok_r(NULL, " ", &sp))
            fields[nf++] = t;
        char *fstype = strtok_r(sep + 3, " ", &sp), *src = strtok_r(NULL, " ", &sp), *sopts = strtok_r(NULL, " \n", &sp);
        (void)src;
        if (nf < 5 || !fstype || strcmp(fields[3], "/"))
            continue;
        char key[256];
        if (!strcmp(fstype, "cgroup2"))
            snprintf(key, sizeof key, "unified");
        else if (!strcmp(fstype, "cgroup") && sopts)
            v1_key(sopts, key, sizeof key);
        else
            continue;
        if (!key[0])
            continue;
        int seen = 0;
        for (int i = 0; i < h->n; i++)
            seen |= !strcmp(h->key[i], key);
        if (seen || h->n == RT_MAX_CG)
            continue;
        snprintf(h->key[h->n], sizeof h->key[0], "%s", key);
        snprintf(h->dir[h->n], sizeof h->dir[0], "%s", fields[4]);
        h->n++;
    }
    free(line);
    fclose(f);
    return 0;
}

/* this process's path in the hierarchy whose first controller is `ctrl` */
static void own_path(const char *ctrl, char *out, size_t cap)
{
    char *sp = NULL;
    snprintf(out, cap, "/");
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        char *ctrls = c1 + 1;
        int match = !strcmp(ctrl, "unified") ? !*ctrls : 0;
        for (char *t = strtok_r(ctrls, ",", &sp); t && !match; t = strtok_r(NULL, ",", &sp))
            match = !strcmp(t, ctrl);
        if (match) {
            snprintf(out, cap, "%s", c2 + 1);
            break;
        }
    }
    fclose(f);
}

/* 'slice:prefix:name' (--systemd-cgroup) -> the cgroupfs path systemd would make */
static int systemd_path(const char *spec, char *out, size_t cap)
{
    char *sp = NULL;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || strchr(c2 + 1, ':'))
        return -1;
    *c1 = *c2 = '\0';
    const char *slice = *buf ? buf : "system.slice", *prefix = c1 + 1, *name = c2 + 1;
    out[0] = '\0';
    size_t sl = strlen(slice);
    if (sl > 6 && !strcmp(slice + sl - 6, ".slice")) {
        /* a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice */
        char acc[1024] = "";
        char stem[1024];
        snprintf(stem, sizeof stem, "%.*s", (int)(sl - 6), slice);
        for (char *t = strtok_r(stem, "-", &sp); t; t = strtok_r(NULL, "-", &sp)) {
            if (acc[0])
                strncat(acc, "-", sizeof acc - strlen(acc) - 1);
            strncat(acc, t, sizeof acc - strlen(acc) - 1);
            snprintf(out + strlen(out), cap - strlen(out), "/%s.slice", acc);
        }
    } else {
        snprintf(out, cap, "/%s", slice);
    }
    if (*prefix)
        snprintf(out + strlen(out), cap - strlen(out), "/%s-%s.scope", prefix, name);
    else
        snprintf(out + strlen(out), cap - strlen(out), "/%s.scope", name);
    return 0;
}

/* lexical normalisation of an absolute path (os.path.normpath) */
static void normpath(char *p)
{
    char *sp = NULL;
    char *parts[512];
    int n = 0;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", p);
    for (char *t = strtok_r(tmp, "/", &sp); t && n < 512; t = strtok_r(NULL, "/", &sp)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            if (n)
                n--;
            continue;
        }
        parts[n++] = t;
    }
    char out[PATH_MAX] = "";
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "/%s", parts[i]);
    snprintf(p, PATH_MAX, "%s", n ? out : "/");
}

int rt_cg_resolve(const char *cgroups_path, const char *id, int systemd, struct rt_cgroups *cg)
{
    char rel[1024];
    int rc = rt_cg_hierarchies(cg);
    if (rc < 0)
        return rc;
    if (systemd && cgroups_path && strchr(cgroups_path, ':')) {
        if (systemd_path(cgroups_path, rel, sizeof rel) < 0)
            return -EINVAL;
    } else if (cgroups_path && *cgroups_path) {
        snprintf(rel, sizeof rel, "%s", cgroups_path);
    } else {
        snprintf(rel, sizeof rel, "lxbrand/%s", id);
    }
    for (int i = 0; i < cg->n; i++) {
        char path[PATH_MAX], base[PATH_MAX];
        if (rel[0] == '/') {
            snprintf(path, sizeof path, "%s/%s", cg->dir[i], rel + 1);
        } else {
            char first[256];
            snprintf(first, sizeof first, "%s", cg->key[i]);
            first[strcspn(first, ",")] = '\0';
            own_path(first, base, sizeof base);
            snprintf(path, sizeof path, "%s/%s/%s", cg->dir[i], base, rel);
        }
        normpath(path);
        snprintf(cg->dir[i], sizeof cg->dir[i], "%s", path);
    }
    return 0;
}

static int write_file(const char *dir, const char *name, const char *val)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return rt_fail("cgroup: cannot write '%s' to %s: %s", val, p, strerror(errno));
    ssize_t n = write(fd, val, strlen(val));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(val))
        return rt_fail("cgroup: cannot write '%s' to %s: %s", val, p, strerror(e));
    return 0;
}

static int write_int(const char *dir, const char *name, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return write_file(dir, name, b);
}

static int exists_in(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static const char *find(const struct rt_cgroups *cg, const char *ctrl)
{
    char *sp = NULL;
    for (int i = 0; i < cg->n; i++) {
        char key[256];
        snprintf(key, sizeof key, "%s", cg->key[i]);
        for (char *t = strtok_r(key, ",", &sp); t; t = strtok_r(NULL, ",", &sp))
            if (!strcmp(t, ctrl))
                return cg->dir[i];
    }
    return NULL;
}

int rt_cg_v2_only(void) { return access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0; }

/* every key of linux.resources this file writes; anything else is Python's */
static long long ival(json_t *obj, const char *k, long long dflt, int *has);

/* Every limit asked for has where to go on this host: its v1 controller mounted, swap
 * accounting for a swap limit, a swappiness in range.  Otherwise the create is Python's,
 * which refuses it naming the field (lxbrand/oci/resources.py), as runc does: a container
 * must never run without a limit its config asks for.  A zero is "not set" where runc reads
 * it so (Docker sends cpu.shares 0).  A pure cgroup v2 host: any limit is Python's. */
static int hierarchies_can(json_t *res)
{
    json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu");
    json_t *pids = json_object_get(res, "pids"), *devs = json_object_get(res, "devices");
    int has, asks_mem = 0, asks_cpu = 0, asks_cpuset = 0;
    long long v;
    if ((v = ival(mem, "limit", 0, &has)) != 0)
        asks_mem = 1;
    long long swap = ival(mem, "swap", 0, &has);
    if (swap != 0 || ival(mem, "reservation", 0, NULL) != 0 || json_is_true(json_object_get(mem, "disableOOMKiller")))
        asks_mem = 1;
    v = ival(mem, "swappiness", -1, &has);
    if (has && v != -1) {
        if (v < 0 || v > 100)
            return 0;
        asks_mem = 1;
    }
    if (ival(cpu, "shares", 0, NULL) || ival(cpu, "quota", 0, NULL) || ival(cpu, "period", 0, NULL))
        asks_cpu = 1;
    const char *cpus = json_string_value(json_object_get(cpu, "cpus"));
    const char *mems = json_string_value(json_object_get(cpu, "mems"));
    if ((cpus && *cpus) || (mems && *mems))
        asks_cpuset = 1;
    int asks_pids = json_object_get(pids, "limit") != NULL;
    int asks_devices = json_array_size(devs) > 0;
    if (!(asks_mem || asks_cpu || asks_cpuset || asks_pids || asks_devices))
        return 1;
    if (rt_cg_v2_only())
        return 0;
    struct rt_cgroups h;
    if (rt_cg_hierarchies(&h) < 0)
        return 0;
    const char *dmem = find(&h, "memory");
    if ((asks_mem && !dmem) || (asks_cpu && !find(&h, "cpu")) || (asks_cpuset && !find(&h, "cpuset")) ||
        (asks_pids && !find(&h, "pids")) || (asks_devices && !find(&h, "devices")))
        return 0;
    if (swap != 0 && !exists_in(dmem, "memory.memsw.limit_in_bytes"))
        return 0; /* no swap accounting here */
    return 1;
}

int rt_cg_supported(void *resources)
{
    static const char *const TOP[] = {"devices", "memory", "cpu", "pids", "blockIO", NULL};
    static const char *const MEM[] = {"limit", "swap", "reservation", "disableOOMKiller", "swappiness", NULL};
    static const char *const CPU[] = {"shares", "quota", "period", "cpus", "mems", NULL};
    json_t *res = resources;
    if (!res)
        return 1;
    const char *k;
    json_t *v;
    json_object_foreach(res, k, v) {
        const char *const *sub = NULL;
        int ok = 0;
        for (int i = 0; TOP[i]; i++)
            ok |= !strcmp(TOP[i], k);
        if (!ok)
            return 0;
        if (!strcmp(k, "memory"))
            sub = MEM;
        else if (!strcmp(k, "cpu"))
            sub = CPU;
        else if (!strcmp(k, "blockIO")) {
            const char *bk;
            json_t *bv;
            json_object_foreach(v, bk, bv) {
                /* Docker sends weight 0 (unset); a weight (CFQ's or BFQ's file, or an error
                 * naming it: lxbrand/oci/resources.py), device weights and throttles are Python's */
                if (strcmp(bk, "weight") || !json_is_integer(bv) || json_integer_value(bv) != 0)
                    return 0;
            }
            continue;
        } else if (!strcmp(k, "pids")) {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                if (strcmp(pk, "limit") || !json_is_integer(pv))
                    return 0;
            }
            continue;
        } else {
            if (!json_is_array(v))
                return 0;
            continue;
        }
        const char *sk;
        json_t *sv;
        if (!json_is_object(v))
            return 0;
        json_object_foreach(v, sk, sv) {
            int known = 0;
            for (int i = 0; sub[i]; i++)
                known |= !strcmp(sub[i], sk);
            if (!known)
                return 0;
            if (!json_is_null(sv) && !json_is_integer(sv) && !json_is_boolean(sv) && !json_is_string(sv))
                return 0;
        }
    }
    return hierarchies_can(res);
}

static long long ival(json_t *obj, const char *k, long long dflt, int *has)
{
    json_t *v = json_object_get(obj, k);
    if (!json_is_integer(v)) {
        if (has)
            *has = 0;
        return dflt;
    }
    if (has)
        *has = 1;
    return json_integer_value(v);
}

/* Docker's and runc's default device rules beside config.json's (cgroups.py) */
static const char *const DEFAULT_DEVICE_RULES[] = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm",
                                                   "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm",
                                                   "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", NULL};

static int apply_devices_v1(const char *d, json_t *rules)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        char line[64];
        const char *t = json_string_value(json_object_get(r, "type"));
        const char *acc = json_string_value(json_object_get(r, "access"));
        json_t *ma = json_object_get(r, "major"), *mi = json_object_get(r, "minor");
        char smaj[24] = "*", smin[24] = "*";
        if (json_is_integer(ma) && json_integer_value(ma) != -1)
            snprintf(smaj, sizeof smaj, "%lld", (long long)json_integer_value(ma));
        if (json_is_integer(mi) && json_integer_value(mi) != -1)
            snprintf(smin, sizeof smin, "%lld", (long long)json_integer_value(mi));
        if (!t || !strcmp(t, "a"))
            snprintf(line, sizeof line, "a");
        else
            snprintf(line, sizeof line, "%s %s:%s %s", t, smaj, smin, acc && *acc ? acc : "rwm");
        if (write_file(d, json_is_true(json_object_get(r, "allow")) ? "devices.allow" : "devices.deny", line))
            return 1;
    }
    for (int k = 0; DEFAULT_DEVICE_RULES[k]; k++)
        if (write_file(d, "devices.allow", DEFAULT_DEVICE_RULES[k]))
            return 1;
    return 0;
}

/* cpu.cpus / cpu.mems, the same files on v1 and v2 */
static int write_cpuset(const char *d, json_t *cpu)
{
    const char *cpus = json_string_value(json_object_get(cpu, "cpus"));
    const char *mems = json_string_value(json_object_get(cpu, "mems"));
    if (cpus && *cpus && write_file(d, "cpuset.cpus", cpus))
        return 1;
    if (mems && *mems && write_file(d, "cpuset.mems", mems))
        return 1;
    return 0;
}

static int apply_v2(const char *d, json_t *mem, json_t *cpu, json_t *pids, json_t *blkio)
{
    int has;
    char b[64];
    long long limit = ival(mem, "limit", 0, &has);
    if (has) {
        if (limit == -1 ? write_file(d, "memory.max", "max") : write_int(d, "memory.max", limit))
            return 1;
        int hs;
        long long sw = ival(mem, "swap", 0, &hs);
        if (hs && exists_in(d, "memory.swap.max") &&
            (sw == -1 ? write_file(d, "memory.swap.max", "max")
                      : write_int(d, "memory.swap.max", sw - limit > 0 ? sw - limit : 0)))
            return 1;
    }
    long long r = ival(mem, "reservation", 0, NULL);
    if (r && write_int(d, "memory.low", r))
        return 1;
    long long shares = ival(cpu, "shares", 0, NULL);
    if (shares && write_int(d, "cpu.weight", 1 + ((shares - 2) * 9999) / 262142)) /* runc's conversion */
        return 1;
    long long q = ival(cpu, "quota", 0, NULL), per = ival(cpu, "period", 0, NULL);
    if (q || per) {
        if (q > 0)
            snprintf(b, sizeof b, "%lld %lld", q, per ? per : 100000);
        else
            snprintf(b, sizeof b, "max %lld", per ? per : 100000);
        if (write_file(d, "cpu.max", b))
            return 1;
    }
    if (write_cpuset(d, cpu))
        return 1;
    long long pl = ival(pids, "limit", 0, &has);
    if (has && (pl > 0 ? write_int(d, "pids.max", pl) : write_file(d, "pids.max", "max")))
        return 1;
    long long w = ival(blkio, "weight", 0, NULL);
    if (w && exists_in(d, "io.weight") && write_int(d, "io.weight", w))
        return 1;
    return 0;
}

static int apply(const struct rt_cgroups *cg, json_t *res)
{
    json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu");
    json_t *pids = json_object_get(res, "pids"), *blkio = json_object_get(res, "blockIO");
    if (rt_cg_v2_only()) {
        for (int i = 0; i < cg->n; i++)
            if (!strcmp(cg->key[i], "unified"))
                return apply_v2(cg->dir[i], mem, cpu, pids, blkio);
        return 0;
    }
    const char *d = find(cg, "memory");
    int has;
    if (d && mem) {
        int hl, hs;
        long long limit = ival(mem, "limit", 0, &hl), swap = ival(mem, "swap", 0, &hs);
        int memsw = exists_in(d, "memory.memsw.limit_in_bytes");
        int swap_first = 0;
        if (hs && swap != -1 && hl && limit != -1) {
            /* raising: memsw first (it must stay >= limit); lowering: limit first */
            char p[PATH_MAX + 64];
            snprintf(p, sizeof p, "%s/memory.memsw.limit_in_bytes", d);
            FILE *f = fopen(p, "re");
            long long cur = 0;
            if (f && fscanf(f, "%lld", &cur) == 1 && swap > cur)
                swap_first = 1;
            if (f)
                fclose(f);
        }
        for (int pass = 0; pass < 2; pass++) {
            int do_swap = (pass == 0) == swap_first;
            if (do_swap) {
                if (hs && memsw && write_int(d, "memory.memsw.limit_in_bytes", swap))
                    return 1;
            } else if (hl && write_int(d, "memory.limit_in_bytes", limit)) {
                return 1;
            }
        }
        long long r = ival(mem, "reservation", 0, NULL);
        if (r && write_int(d, "memory.soft_limit_in_bytes", r))
            return 1;
        if (json_is_true(json_object_get(mem, "disableOOMKiller")) && write_int(d, "memory.oom_control", 1))
            return 1;
        long long sw = ival(mem, "swappiness", -1, &has);
        if (has && sw >= 0 && sw <= 100 && write_int(d, "memory.swappiness", sw))
            return 1;
    }
    d = find(cg, "cpu");
    if (d && cpu) {
        long long v;
        if ((v = ival(cpu, "shares", 0, NULL)) && write_int(d, "cpu.shares", v))
            return 1;
        if ((v = ival(cpu, "period", 0, NULL)) && write_int(d, "cpu.cfs_period_us", v))
            return 1;
        if ((v = ival(cpu, "quota", 0, NULL)) && write_int(d, "cpu.cfs_quota_us", v))
            return 1;
    }
    d = find(cg, "cpuset");
    if (d && cpu && write_cpuset(d, cpu))
        return 1;
    d = find(cg, "pids");
    long long pl = ival(pids, "limit", 0, &has);
    if (d && has && (pl > 0 ? write_int(d, "pids.max", pl) : write_file(d, "pids.max", "max")))
        return 1;
    d = find(cg, "blkio");
    long long w = ival(blkio, "weight", 0, NULL);
    if (d && w && exists_in(d, "blkio.weight") && write_int(d, "blkio.weight", w))
        return 1;
    d = find(cg, "devices");
    json_t *devs = json_object_get(res, "devices");
    if (d && devs && apply_devices_v1(d, devs))
        return 1;
    return 0;
}

/* mkdir -p for a v1 cpuset dir, copying cpus/mems down (a new cpuset refuses tasks
 * until both are set) */
static int mkdirs(const char *dir, const char *mnt, int cpuset, int v2)
{
    char *sp = NULL, *sp2 = NULL;
    size_t ml = strlen(mnt);
    if (strncmp(dir, mnt, ml) || (dir[ml] && dir[ml] != '/'))
        return -EXDEV; /* the cgroupsPath climbed out of the hierarchy */
    char cur[PATH_MAX], parent[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", mnt);
    const char *rest = dir + strlen(mnt);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", rest);
    for (char *t = strtok_r(tmp, "/", &sp); t; t = strtok_r(NULL, "/", &sp)) {
        snprintf(parent, sizeof parent, "%s", cur);
        if (v2) {
            /* turn on the available controllers in every ancestor (best effort) */
            char p[PATH_MAX + 32], ctrls[1024] = "", line[1100] = "";
            snprintf(p, sizeof p, "%s/cgroup.controllers", cur);
            FILE *f = fopen(p, "re");
            if (f) {
                if (fgets(ctrls, sizeof ctrls, f)) {
                    for (char *c = strtok_r(ctrls, " \n", &sp2); c; c = strtok_r(NULL, " \n", &sp2))
                        snprintf(line + strlen(line), sizeof line - strlen(line), "%s+%s", *line ? " " : "", c);
                }
                fclose(f);
                snprintf(p, sizeof p, "%s/cgroup.subtree_control", cur);
                int fd = open(p, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                    if (write(fd, line, strlen(line)) < 0) { /* best effort, as cgroups.py */ }
                    close(fd);
                }
            }
        }
        snprintf(cur + strlen(cur), sizeof cur - strlen(cur), "/%s", t);
        if (mkdir(cur, 0755) < 0 && errno != EEXIST)
            return -errno;
        if (cpuset) {
            static const char *const F[] = {"cpuset.cpus", "cpuset.mems"};
            for (int i = 0; i < 2; i++) {
                char p[PATH_MAX + 32], val[4096] = "";
                snprintf(p, sizeof p, "%s/%s", cur, F[i]);
                FILE *f = fopen(p, "re");
                int empty = !f || !fgets(val, sizeof val, f) || strspn(val, " \n") == strlen(val);
                if (f)
                    fclose(f);
                if (!empty)
                    continue;
                snprintf(p, sizeof p, "%s/%s", parent, F[i]);
                f = fopen(p, "re");
                if (!f)
                    continue;
                if (fgets(val, sizeof val, f)) {
                    val[strcspn(val, "\n")] = 0;
                    if (write_file(cur, F[i], val))
                        return -EIO;
                }
                fclose(f);
            }
        }
    }
    return 0;
}

int rt_cg_create(struct rt_cgroups *cg, void *resources)
{
    char *sp = NULL;
    struct rt_cgroups mounts;
    if (rt_cg_hierarchies(&mounts) < 0)
        return rt_fail("cgroup: cannot read /proc/self/mountinfo: %s", strerror(errno));
    int has_cpuset = find(&mounts, "cpuset") != NULL;
    for (int i = 0; i < cg->n; i++) {
        struct stat st;
        cg->made[i] = 0;
        if (stat(cg->dir[i], &st) == 0)
            continue;
        int cpuset = 0, v2 = !strcmp(cg->key[i], "unified") && !has_cpuset && exists_in(mounts.dir[i], "cgroup.controllers");
        char key[256];
        snprintf(key, sizeof key, "%s", cg->key[i]);
        for (char *t = strtok_r(key, ",", &sp); t; t = strtok_r(NULL, ",", &sp))
            cpuset |= !strcmp(t, "cpuset");
        int rc = mkdirs(cg->dir[i], mounts.dir[i], cpuset, v2);
        if (rc < 0) {
            rt_fail("cgroup: cannot make %s: %s", cg->dir[i], strerror(-rc));
            rt_cg_destroy(cg);
            return 1;
        }
        cg->made[i] = 1;
    }
    if (resources && apply(cg, resources)) {
        rt_cg_destroy(cg);
        return 1;
    }
    return 0;
}

int rt_cg_attach(const struct rt_cgroups *cg, pid_t pid)
{
    char b[32];
    snprintf(b, sizeof b, "%d", (int)pid);
    for (int i = 0; i < cg->n; i++)
        if (write_file(cg->dir[i], "cgroup.procs", b))
            return 1;
    return 0;
}

void rt_cg_destroy(const struct rt_cgroups *cg)
{
    for (int i = cg->n - 1; i >= 0; i--)
        if (cg->made[i])
            rmdir(cg->dir[i]);
}
