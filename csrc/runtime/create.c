/* create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] [--no-new-keyring] ID,
 * done in C for the configs it implements (spec.h), with lxbrand/oci/commands/create.py
 * and supervisor.py as the reference: the same processes, the same order, the same files.
 *
 *   shim ─ create ─┬─ builder (fork): setsid, net/uts/ipc namespaces, hostname, sysctls,
 *                  │    cgroups, pid namespace, fork ─► init, report its pid, exit
 *                  │      init: mount namespace, (gate) mounts, /dev, createContainer
 *                  │      hooks, pivot_root, masked/readonly paths, console, limits,
 *                  │      keyring, cwd -> "ready" -> exec.fifo -> startContainer hooks
 *                  │      -> the engine's filter -> user, seccomp profile, caps -> exec
 *                  └─ lxbrand-sup (fork+exec): seizes init at once; the tree dies with it
 *
 * The policy comes compiled from the cache the Python layer fills (blobcache.c): on a
 * miss, before anything is made, the call goes to Python with LXBRAND_POLICY_CACHE naming
 * the blob to write, so the next create of this policy is C's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../blob.h"
#include "../engine.h"
#include "../persona.h"
#include "cgroups.h"
#include "image.h"
#include "proc.h"
#include "rootfs.h"
#include "runtime.h"
#include "seccomp_oci.h"
#include "spec.h"

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

struct create_args {
    const char *id, *bundle, *pid_file, *console_socket;
    int no_pivot, no_new_keyring;
};

static int parse_args(int argc, char **argv, struct create_args *a)
{
    memset(a, 0, sizeof(*a));
    a->bundle = ".";
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (!strcmp(s, "--no-pivot"))
            a->no_pivot = 1;
        else if (!strcmp(s, "--no-new-keyring"))
            a->no_new_keyring = 1;
        else if (!strcmp(s, "-b") || !strcmp(s, "--bundle"))
            slot = &a->bundle;
        else if (!strcmp(s, "--pid-file"))
            slot = &a->pid_file;
        else if (!strcmp(s, "--console-socket"))
            slot = &a->console_socket;
        else if (!strncmp(s, "--bundle=", 9))
            a->bundle = s + 9;
        else if (!strncmp(s, "--pid-file=", 11))
            a->pid_file = s + 11;
        else if (!strncmp(s, "--console-socket=", 17))
            a->console_socket = s + 17;
        else if (!strcmp(s, "--preserve-fds") && i + 1 < argc && !strcmp(argv[i + 1], "0"))
            i++;
        else if (s[0] == '-' || a->id)
            return RT_FALLBACK; /* --preserve-fds N, --pidfd-socket...: Python's */
        else
            a->id = s;
        if (slot) {
            if (++i >= argc)
                return RT_FALLBACK;
            *slot = argv[i];
        }
    }
    return a->id && rt_valid_id(a->id) ? 0 : RT_FALLBACK;
}

/* ---- init and the builder ---------------------------------------------------------------- */

struct init_ctx {
    struct rt_child c;
    int builder_w;   /* the builder's own report to create: "P<init pid>" or "E<error>" */
    const struct rt_spec *s;
    const struct rt_cgroups *cg;
    const char *id, *fifo;
    int gate_r, no_pivot, no_new_keyring;
    char state_created[4096], state_running[4096]; /* hooks' stdin, pid filled in by init */
};

static void state_json(char *out, size_t cap, const char *id, const char *bundle, long pid, const char *status,
                       void *annotations)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s}", "ociVersion", "1.0.2", "id", id, "pid", (json_int_t)pid,
                          "status", status, "bundle", bundle);
    if (annotations && json_object_size(annotations))
        json_object_set(o, "annotations", annotations);
    char *t = json_dumps(o, JSON_COMPACT);
    snprintf(out, cap, "%s", t ? t : "{}");
    free(t);
    json_decref(o);
}

static void enter_ns(struct rt_child *c, const struct rt_ns *ns, int type, const char *what)
{
    if (!ns->wanted)
        return;
    if (ns->path) {
        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, type) < 0)
            rt_child_fail(c, 1, "namespace %s %s: %s", what, ns->path, strerror(errno));
        close(fd);
    } else if (unshare(type) < 0) {
        rt_child_fail(c, 1, "namespace %s: %s", what, strerror(errno));
    }
}

static _Noreturn void run_init(struct init_ctx *x)
{
    struct rt_child *c = &x->c;
    const struct rt_spec *s = x->s;
    char err[RT_ERRLEN], hookerr[2048];
    rt_child_signals();
    char self[32];
    ssize_t n = readlink("/proc/self", self, sizeof self - 1); /* still the runtime's procfs */
    long host_pid = n > 0 ? (self[n] = 0, strtol(self, NULL, 10)) : (long)getpid();
    enter_ns(c, &s->ns[RT_NS_MNT], CLONE_NEWNS, "mount");
    enter_ns(c, &s->ns[RT_NS_CGROUP], CLONE_NEWCGROUP, "cgroup");
    int own_mnt = s->ns[RT_NS_MNT].wanted;
    if (x->gate_r >= 0) {
        char g;
        if (read(x->gate_r, &g, 1) != 1 || g != 'g')
            _exit(1); /* create failed meanwhile; it reports why */
        close(x->gate_r);
    }
    if (rt_rootfs_prepare(s, x->cg, own_mnt, err) < 0)
        rt_child_fail(c, 1, "%s", err);
    if (rt_hooks_has(s->hooks, "createContainer")) {
        char st[4096];
        state_json(st, sizeof st, x->id, s->bundle, host_pid, "created", s->annotations);
        if (rt_hooks_run(s->hooks, "createContainer", st, hookerr, sizeof hookerr) < 0)
            rt_child_fail(c, 1, "%s", hookerr);
    }
    int fifo = open(x->fifo, O_PATH | O_CLOEXEC);
    if (fifo < 0)
        rt_child_fail(c, 1, "%s: %s", x->fifo, strerror(errno));
    if (rt_rootfs_enter(s->rootfs, own_mnt, x->no_pivot, err) < 0 || rt_rootfs_finish(s, err) < 0)
        rt_child_fail(c, 1, "%s", err);
    if (c->console >= 0) {
        char pty[64];
        rt_child_console(c, pty, sizeof pty);
        if (rt_bind_console(pty, err) < 0)
            rt_child_fail(c, 1, "%s", err);
    }
    rt_child_limits(c);
    if (!x->no_new_keyring) {
        /* as runc: the container does not share the caller's session keyring */
        char name[256];
        snprintf(name, sizeof name, "_ses.%s", x->id);
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) < 0 && errno != ENOSYS && errno != EPERM &&
            errno != EACCES)
            rt_child_fail(c, 1, "session keyring: %s", strerror(errno));
    }
    struct stat st;
    if (stat(s->proc.cwd, &st) < 0) {
        /* runc creates a missing cwd too */
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", s->proc.cwd);
        for (char *q = tmp + 1; *q; q++)
            if (*q == '/') {
                *q = 0;
                mkdir(tmp, 0755);
                *q = '/';
            }
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            rt_child_fail(c, 1, "process.cwd '%s': cannot use it as the working directory: %s", s->proc.cwd,
                          strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        rt_child_fail(c, 1, "process.cwd '%s': cannot use it as the working directory: Not a directory",
                      s->proc.cwd);
    }
    rt_child_check_exe(c);
    rt_child_ready(c);
    /* block until `start` opens the fifo for reading (runc's exec.fifo handshake) */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fifo);
    int w = open(path, O_WRONLY | O_CLOEXEC);
    if (w < 0 || write(w, "0", 1) != 1)
        _exit(1);
    close(w);
    close(fifo);
    if (rt_hooks_has(s->hooks, "startContainer")) {
        char stj[4096];
        state_json(stj, sizeof stj, x->id, s->bundle, host_pid, "running", s->annotations);
        if (rt_hooks_run(s->hooks, "startContainer", stj, hookerr, sizeof hookerr) < 0)
            rt_child_fail(c, 1, "%s", hookerr);
    }
    if (chdir(s->proc.cwd) < 0)
        rt_child_fail(c, 1, "chdir %s: %s", s->proc.cwd, strerror(errno));
    rt_child_exec(c);
}

static void write_sysctls(struct rt_child *c, void *sysctl)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sysctl, k, v) {
        char path[512];
        snprintf(path, sizeof path, "/proc/sys/%s", k);
        for (char *q = path + 10; *q; q++)
            if (*q == '.')
                *q = '/';
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        const char *val = json_string_value(v);
        if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
            rt_child_fail(c, 1, "linux.sysctl.%s: cannot write '%s' to %s: %s", k, val, path, strerror(errno));
        close(fd);
    }
}

/* the builder: never returns.  Its own errors reach create on the report pipe like init's. */
static _Noreturn void run_builder(struct init_ctx *x)
{
    struct rt_child *c = &x->c;
    const struct rt_spec *s = x->s;
    /* our errors go on our own pipe: init's may follow ours at any moment on its */
    int init_report = c->report_w;
    c->report_w = x->builder_w;
    if (setsid() < 0)
        rt_child_fail(c, 1, "setsid: %s", strerror(errno));
    enter_ns(c, &s->ns[RT_NS_NET], CLONE_NEWNET, "network");
    enter_ns(c, &s->ns[RT_NS_UTS], CLONE_NEWUTS, "uts");
    enter_ns(c, &s->ns[RT_NS_IPC], CLONE_NEWIPC, "ipc");
    if (s->ns[RT_NS_UTS].wanted) {
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
            rt_child_fail(c, 1, "hostname %s: %s", s->hostname, strerror(errno));
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
            rt_child_fail(c, 1, "domainname %s: %s", s->domainname, strerror(errno));
    }
    if (s->sysctl)
        write_sysctls(c, s->sysctl);
    /* init inherits them; the runtime's hooks run outside */
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    for (int i = 0; i < x->cg->n; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s/cgroup.procs", x->cg->dir[i]);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
            rt_child_fail(c, 1, "cgroup: cannot write '%s' to %s: %s", pid, p, strerror(errno));
        close(fd);
    }
    /* after unshare(CLONE_NEWPID) the first child is pid 1 of the new namespace */
    enter_ns(c, &s->ns[RT_NS_PID], CLONE_NEWPID, "pid");
    pid_t init = fork();
    if (init < 0)
        rt_child_fail(c, 1, "fork: %s", strerror(errno));
    if (init == 0) {
        close(x->builder_w);
        c->report_w = init_report;
        run_init(x);
    }
    char msg[32];
    int n = snprintf(msg, sizeof msg, "P%d", (int)init);
    if (write(x->builder_w, msg, (size_t)n) != n)
        _exit(1);
    _exit(0);
}

/* ---- the runtime's side ------------------------------------------------------------------ */

static void remove_dir(const char *dir)
{
    static const char *const FILES[] = {"exec.fifo", "state.json", "fast", "policy.blob", "filter.bpf",
                                        "seccomp.bpf", NULL};
    char p[PATH_MAX + 32];
    for (int i = 0; FILES[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, FILES[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
    char p[PATH_MAX + 32], tmp[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", p, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    return rename(tmp, p);
}

static int sealed_memfd(const void *data, size_t len)
{
    int fd = memfd_create("lxbrand-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (write(fd, data, len) != (ssize_t)len ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int save_state(const struct create_args *a, const struct rt_spec *s, const struct rt_cgroups *cg,
                      const char *dir, const char *created, pid_t init, pid_t sup, const char *policy,
                      const char *backend)
{
    json_t *cgs = json_object();
    for (int i = 0; i < cg->n; i++)
        json_object_set_new(cgs, cg->key[i], json_string(cg->dir[i]));
    json_t *lx = json_pack("{s:o, s:O, s:o, s:o, s:b, s:n, s:I, s:I, s:I, s:I, s:s}", "cgroups", cgs, "hooks",
                           s->hooks ? (json_t *)s->hooks : json_object(), "policy",
                           G.policy ? json_string(G.policy) : json_null(), "backend",
                           G.backend ? json_string(G.backend) : json_null(), "trace", 0, "trace_dir", "init_pid",
                           (json_int_t)init, "pid_start", (json_int_t)rt_start_time(init, NULL), "sup_pid", (json_int_t)sup,
                           "sup_start", (json_int_t)rt_start_time(sup, NULL), "engine", backend);
    (void)policy;
    json_t *ann = s->annotations ? json_incref((json_t *)s->annotations) : json_object();
    json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "id", a->id, "status", "created", "bundle",
                           s->bundle, "rootfs", s->rootfs, "created", created, "annotations", ann, "lxbrand", lx,
                           "pid", (json_int_t)init);
    if (!s->ns[RT_NS_MNT].wanted) {
        /* never: a config without a mount namespace is Python's (its mounts need detaching) */
    }
    char *text = st ? json_dumps(st, JSON_COMPACT) : NULL;
    json_decref(st);
    if (!text)
        return -1;
    int rc = write_file(dir, "state.json", text, strlen(text), 0600);
    free(text);
    if (rc < 0)
        return -1;
    /* what the C verbs read (state.c) */
    char fast[8192];
    int n = snprintf(fast, sizeof fast, "pid %d\nstart %llu\nsup %d %llu\npython %d\nengine %s\n", (int)init,
                     rt_start_time(init, NULL), (int)sup, rt_start_time(sup, NULL),
                     rt_hooks_has(s->hooks, "poststart") || rt_hooks_has(s->hooks, "poststop"), backend);
    for (int i = 0; i < cg->n && n < (int)sizeof fast; i++)
        n += snprintf(fast + n, sizeof fast - (size_t)n, "cgroup %s\n", cg->dir[i]);
    return write_file(dir, "fast", fast, (size_t)n, 0600);
}

/* This container's limits in the cached policy's view (compiled by Python for a container
 * of the same shape: personality/view.py's flags for an OCI container), and the blob the
 * supervisor loads made again with them. */
static int set_view(struct lx_sup *sup, const struct rt_spec *s, void **blob, size_t *len)
{
    struct lx_persona_conf conf;
    int have = lx_persona_conf_get(sup, &conf) == 0;
    if (!s->memory && !(s->cpus > 0))
        return have ? -1 : 0; /* a view nobody asked for: not a blob of ours */
    uint32_t want = LX_PV_USAGE_CGROUP | (s->memory ? LX_PV_MEMORY : 0) | (s->cpus > 0 ? LX_PV_CPUS : 0);
    if (!have || (conf.flags & ~(uint32_t)LX_PV_IDENTITY) != want)
        return -1;
    conf.memory = s->memory;
    conf.cpus = s->cpus;
    conf.start = 0;          /* when the supervisor configures it: the container's start */
    conf.usage_dir[0] = '\0'; /* the memory cgroup init is in, found at the first sample */
    if (lx_persona_set(sup, &conf, "") < 0)
        return -1;
    const struct lx_blob *h = lx_blob_header(*blob, *len);
    void *out = NULL;
    ssize_t n = h ? lx_blob_export(sup, h->uts_mask, &out) : -1;
    if (n < 0)
        return -1;
    free(*blob);
    *blob = out;
    *len = (size_t)n;
    return 0;
}

int rt_create(int argc, char **argv)
{
    struct create_args a;
    static struct rt_spec s;
    if (G.trace || parse_args(argc, argv, &a) != 0 || rt_spec_load(a.bundle, &s) != 0)
        return RT_FALLBACK;
    if (!rt_cg_supported(s.resources) || !s.ns[RT_NS_MNT].wanted || (s.proc.terminal && !a.console_socket)) {
        rt_spec_free(&s);
        return RT_FALLBACK; /* Python words the error, or does what is not implemented here */
    }
    const char *policy = G.policy ? G.policy : "default";
    const char *backend = G.backend ? G.backend : "unotify";
    int be = !strcmp(backend, "unotify") ? LX_BACKEND_UNOTIFY : !strcmp(backend, "ptrace") ? LX_BACKEND_PTRACE : -1;
    char cache_dir[PATH_MAX], cache[PATH_MAX + 64] = "", variant[64];
    snprintf(cache_dir, sizeof cache_dir, "%s/.policy", G.root);
    /* the personality's shape decides what traps: a blob per shape, this container's
     * limits set in its view below */
    snprintf(variant, sizeof variant, "oci-view:memory=%d,cpus=%d", s.memory > 0, s.cpus > 0);
    size_t blob_len = 0;
    void *blob = NULL;
    if (be < 0 || lx_policy_cache_path(cache_dir, policy, variant, cache, sizeof cache) < 0 ||
        !(blob = lx_policy_cache_load(cache_dir, cache, &blob_len))) {
        rt_spec_free(&s);
        if (be >= 0 && cache[0])
            setenv("LXBRAND_POLICY_CACHE", cache, 1); /* Python writes it for next time */
        return RT_FALLBACK;
    }
    static struct lx_sup sup;
    lx_sup_init(&sup, be);
    void *prog = NULL;
    size_t prog_len = 0;
    if (lx_blob_import(&sup, blob, blob_len) < 0 || set_view(&sup, &s, &blob, &blob_len) < 0 ||
        lx_filter_compile(&sup, &prog, &prog_len) < 0) {
        free(blob);
        rt_spec_free(&s);
        return RT_FALLBACK;
    }
    struct rt_bytes seccomp = {0};
    if (s.seccomp && rt_seccomp_compile(s.seccomp, &seccomp.data, &seccomp.len) != 0) {
        free(blob);
        free(prog);
        rt_spec_free(&s);
        return RT_FALLBACK;
    }
    /* from here on, the errors are ours to report, and everything made is undone */
    int rc = 1, report[2] = {-1, -1}, ready[2] = {-1, -1}, go[2] = {-1, -1}, ctl[2] = {-1, -1};
    int gate[2] = {-1, -1}, bld[2] = {-1, -1}, console = -1, blob_fd = -1, made_dir = 0;
    pid_t builder = -1, init = -1, supervisor = -1;
    char dir[PATH_MAX], fifo[PATH_MAX + 16], path[PATH_MAX], created[64], err[4096];
    static struct rt_cgroups cg;
    static struct init_ctx x;
    char **envp = NULL;
    size_t nenv = 0;
    int has_home = 0, rootfd = -1;
    const char **mounted = NULL;
    ssize_t n;
    char msg[RT_ERRLEN + 8];
    int runtime_hooks = rt_hooks_has(s.hooks, "prestart") || rt_hooks_has(s.hooks, "createRuntime");

    rootfd = open(s.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    mounted = calloc(s.nmounts + 1, sizeof(char *)); /* mounts provide e.g. Docker's --init */
    if (rootfd < 0 || !mounted) {
        rt_fail("root.path %s: %s", s.rootfs, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < s.nmounts; i++)
        mounted[i] = s.mounts[i].destination;
    if (rt_lookup(rootfd, s.proc.args[0], s.proc.env, mounted, path, sizeof path) != 0)
        goto out;
    while (s.proc.env[nenv])
        nenv++;
    envp = calloc(nenv + 2, sizeof(char *));
    if (!envp)
        goto out;
    memcpy(envp, s.proc.env, nenv * sizeof(char *));
    for (size_t i = 0; i < nenv; i++)
        has_home |= !strncmp(envp[i], "HOME=", 5);
    if (!has_home)
        envp[nenv] = rt_home_env(rootfd, s.proc.uid);
    snprintf(dir, sizeof dir, "%s/%s", G.root, a.id);
    for (char *q = dir + 1; *q; q++) /* mkdir -p of --root (0711, as the Python runtime) */
        if (*q == '/' && q < dir + strlen(G.root)) {
            *q = '\0';
            mkdir(dir, 0711);
            *q = '/';
        }
    mkdir(G.root, 0711);
    if (mkdir(dir, 0711) < 0) {
        if (errno == EEXIST)
            rt_fail("container '%s' already exists (in %s)", a.id, G.root);
        else
            rt_fail("%s: %s", dir, strerror(errno));
        goto out;
    }
    made_dir = 1;
    /* 0622 as runc: init may have joined a user namespace by the time it opens it */
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", dir);
    if (mkfifo(fifo, 0622) < 0 || chmod(fifo, 0622) < 0) {
        rt_fail("%s: %s", fifo, strerror(errno));
        goto out;
    }
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%S.000000000Z", gmtime(&now));
    if (rt_cg_resolve(s.cgroups_path, a.id, G.systemd_cgroup, &cg) < 0) {
        rt_fail("linux.cgroupsPath '%s': cannot resolve it", s.cgroups_path ? s.cgroups_path : "");
        goto out;
    }
    if (rt_cg_create(&cg, s.resources))
        goto out;
    if (s.proc.terminal) {
        console = rt_connect_socket(a.console_socket);
        if (console < 0) {
            rt_fail("console socket %s: %s", a.console_socket, strerror(errno));
            goto out;
        }
    }
    if (pipe2(report, O_CLOEXEC) || pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC) ||
        pipe2(bld, O_CLOEXEC) || (runtime_hooks && pipe2(gate, O_CLOEXEC))) {
        rt_fail("pipe: %s", strerror(errno));
        goto out;
    }
    x.s = &s;
    x.cg = &cg;
    x.id = a.id;
    x.fifo = fifo;
    x.gate_r = gate[0];
    x.no_pivot = a.no_pivot;
    x.no_new_keyring = a.no_new_keyring;
    x.builder_w = bld[1];
    x.c = (struct rt_child){.p = &s.proc, .path = path, .envp = envp, .report_w = report[1], .ready_w = ready[1],
                            .go_r = go[0], .console = console, .backend = lx_child_backend(&sup),
                            .filter = {prog, prog_len}, .seccomp = seccomp};
    builder = fork();
    if (builder == 0) {
        close(report[0]);
        close(ready[0]);
        close(go[1]);
        close(ctl[0]);
        close(ctl[1]);
        close(bld[0]);
        if (gate[1] >= 0)
            close(gate[1]);
        run_builder(&x);
    }
    if (builder < 0) {
        rt_fail("fork: %s", strerror(errno));
        goto out;
    }
    close(report[1]);
    close(ready[1]);
    close(go[0]);
    close(bld[1]);
    report[1] = ready[1] = go[0] = bld[1] = -1;
    if (gate[0] >= 0) {
        close(gate[0]);
        gate[0] = -1;
    }
    if (console >= 0) {
        close(console);
        console = -1;
    }
    /* the builder says init's pid (or an error) and exits */
    n = read(bld[0], msg, sizeof msg - 1);
    while (waitpid(builder, NULL, 0) < 0 && errno == EINTR) {
    }
    builder = -1;
    if (n <= 0 || (msg[0] != 'P' && msg[0] != 'E')) {
        rt_fail("the runtime's builder exited during setup without saying why");
        goto out;
    }
    msg[n] = 0;
    if (msg[0] == 'E') {
        rt_fail("%s", msg + 1);
        goto out;
    }
    init = (pid_t)strtol(msg + 1, NULL, 10);
    blob_fd = sealed_memfd(blob, blob_len);
    if (blob_fd < 0) {
        rt_fail("policy memfd: %s", strerror(errno));
        goto out;
    }
    supervisor = rt_start_supervisor(backend, a.id, init, blob_fd, ready[0], go[1], ctl[0]);
    close(ready[0]);
    close(go[1]);
    close(ctl[0]);
    ready[0] = go[1] = ctl[0] = -1;
    if (supervisor < 0)
        goto out;
    if (runtime_hooks) {
        /* in the runtime's namespaces, after the container's exist (Docker's
         * libnetwork-setkey finds the netns through the pid), before init builds its root,
         * outside the container's cgroups */
        char st[4096];
        state_json(st, sizeof st, a.id, s.bundle, init, "creating", s.annotations);
        if (rt_hooks_run(s.hooks, "prestart", st, err, sizeof err) < 0 ||
            rt_hooks_run(s.hooks, "createRuntime", st, err, sizeof err) < 0) {
            rt_fail("%s", err);
            goto out;
        }
        if (write(gate[1], "g", 1) != 1) {
            rt_fail("container init exited during setup without saying why");
            goto out;
        }
        close(gate[1]);
        gate[1] = -1;
    }
    n = read(report[0], msg, sizeof msg - 1);
    if (n <= 0) {
        rt_fail("container init exited during setup without saying why");
        goto out;
    }
    msg[n] = 0;
    if (msg[0] != 'R') {
        rt_fail("%s", msg[0] == 'E' ? msg + 1 : msg);
        goto out;
    }
    if (write(ctl[1], "c", 1) != 1) {
        rt_fail("the container's supervisor exited during setup");
        goto out;
    }
    if (write_file(dir, "policy.blob", blob, blob_len, 0600) < 0 ||
        write_file(dir, "filter.bpf", prog, prog_len, 0600) < 0 ||
        (seccomp.len && write_file(dir, "seccomp.bpf", seccomp.data, seccomp.len, 0600) < 0) ||
        save_state(&a, &s, &cg, dir, created, init, supervisor, policy, backend) < 0) {
        rt_fail("%s: cannot write the container's state: %s", dir, strerror(errno));
        goto out;
    }
    if (a.pid_file) {
        int e = rt_write_pid_file(a.pid_file, init);
        if (e < 0) {
            rt_fail("cannot write the pid file %s: %s", a.pid_file, strerror(-e));
            goto out;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        int *fds[] = {&report[i], &ready[i], &go[i], &ctl[i], &gate[i], &bld[i]};
        for (int k = 0; k < 6; k++)
            if (*fds[k] >= 0)
                close(*fds[k]); /* ctl closed without 'c': the supervisor kills the tree */
    }
    if (console >= 0)
        close(console);
    if (blob_fd >= 0)
        close(blob_fd);
    if (rootfd >= 0)
        close(rootfd);
    free(mounted);
    if (rc != 0) {
        if (init > 0)
            kill(init, SIGKILL); /* the shim's child, not ours */
        if (builder > 0) {
            kill(builder, SIGKILL);
            waitpid(builder, NULL, 0);
        }
        if (supervisor > 0) {
            kill(supervisor, SIGKILL);
            waitpid(supervisor, NULL, 0);
        }
        if (cg.n) {
            /* whatever joined them is dying: give it a moment to leave */
            for (int i = 0; i < 200; i++) {
                rt_cg_destroy(&cg);
                int left = 0;
                for (int k = 0; k < cg.n; k++)
                    left |= cg.made[k] && access(cg.dir[k], F_OK) == 0;
                if (!left)
                    break;
                usleep(5000);
            }
        }
        if (made_dir)
            remove_dir(dir);
    }
    if (envp && !has_home)
        free(envp[nenv]);
    free(envp);
    free(blob);
    free(prog);
    free(seccomp.data);
    rt_spec_free(&s);
    return rc;
}
