/* lxrun's C front end: runs a plain `lxrun [--backend B] [--policy P]
 * [--wait all|first] -- PROGRAM ARGS` without starting Python, so a
 * sandboxed run costs about what the program costs (the Python interpreter
 * alone takes 10-70 ms to start on the development machine).
 *
 * Only --backend, --policy and --wait are understood here; every other option (the
 * personality's among them) goes to the Python implementation.
 * It does no policy work of its own: it loads the action table that the Python
 * policy layer compiled for this policy (a blob in the user's cache, see
 * blob.c), and anything else — another option, a policy with Python handlers,
 * a missing or stale blob, a program to refuse — is handed to the Python
 * implementation (`lxrun-py`, lxbrand/cli/lxrun.py), which is the reference
 * and writes the blob for next time.  LXRUN_PYTHON=1 forces the Python path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../blob.h"
#include "../engine.h"

extern char **environ;

static char **g_argv;

static void exec_python(const char *cache_file)
{
    char self[PATH_MAX], py[PATH_MAX + 16];
    if (cache_file)
        setenv("LXRUN_CACHE_FILE", cache_file, 1);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(py, sizeof(py), "%s/lxrun-py", self);
            if (access(py, X_OK) == 0) {
                g_argv[0] = py;
                execv(py, g_argv);
            }
        }
    }
    /* no sibling script: the module, through the interpreter lxbrand was built for
     * (setup.py's LX_PYTHON), else whatever python3 is on the program's PATH */
    int argc = 0;
    while (g_argv[argc])
        argc++;
    char **v = calloc((size_t)argc + 4, sizeof(char *));
    if (!v)
        _exit(1);
    v[0] = "python3";
    v[1] = "-m";
    v[2] = "lxbrand.cli.lxrun";
    for (int i = 1; i < argc; i++)
        v[i + 2] = g_argv[i];
#ifdef LX_PYTHON
    v[0] = LX_PYTHON; /* Python finds its prefix from argv[0]: not through the program's PATH */
    execv(LX_PYTHON, v);
    v[0] = "python3";
#endif
    execvp("python3", v);
    fprintf(stderr, "lxrun: cannot start the Python implementation (lxrun-py or python3 -m lxbrand.cli.lxrun): %s\n",
            strerror(errno));
    _exit(1);
}

/* The blob's cache path for this policy spec in the user's cache dir; 0 on success. */
static int cache_path(const char *spec, char *out, size_t cap, char *dir, size_t dcap)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg == '/')
        snprintf(dir, dcap, "%s/lxbrand", xdg);
    else if (home && *home == '/')
        snprintf(dir, dcap, "%s/.cache/lxbrand", home);
    else
        return -1;
    return lx_policy_cache_path(dir, spec, "", out, cap);
}

/* execvp(3)'s search, as lxbrand.engine.resolve_program does it; returns a malloc'd
 * path or NULL.  Without PATH, execvp searches confstr(_CS_PATH) (execvp(3)), and so
 * does the Python reference (os.confstr("CS_PATH")): tests/test_frontend.py runs both. */
static char *which(const char *prog)
{
    if (strchr(prog, '/'))
        return strdup(prog);
    const char *path = getenv("PATH");
    char cs_path[PATH_MAX];
    if (!path) {
        size_t n = confstr(_CS_PATH, cs_path, sizeof(cs_path));
        if (n == 0 || n > sizeof(cs_path))
            return NULL; /* the Python reference explains */
        path = cs_path;
    }
    char buf[PATH_MAX];
    for (const char *p = path;; ) { /* every entry, the empty ones too: "", "a:", ":a", "a::b" */
        const char *end = strchrnul(p, ':');
        size_t dl = (size_t)(end - p);
        /* an empty entry is the cwd (execvp(3)); a name too long for PATH_MAX is no file */
        int n = dl ? snprintf(buf, sizeof(buf), "%.*s/%s", (int)dl, p, prog)
                   : snprintf(buf, sizeof(buf), "./%s", prog);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof(buf) && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
            access(buf, X_OK) == 0)
            return strdup(buf);
        if (!*end)
            return NULL;
        p = end + 1;
    }
}

/* 1: a 64-bit x86_64 ELF, a script whose interpreter is one, or a format the
 * kernel will judge itself; 0: let the Python layer explain the refusal. */
static int exec_ok(const char *path, int depth)
{
    unsigned char h[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, h, sizeof(h) - 1);
    close(fd);
    if (n < 4)
        return n >= 0 && depth == 0 ? 1 : 0;
    h[n] = '\0';
    if (h[0] == '#' && h[1] == '!') {
        if (depth >= 4)
            return 1;
        char *p = (char *)h + 2;
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n')
            e++;
        *e = '\0';
        return *p == '/' ? exec_ok(p, depth + 1) : 1;
    }
    if (memcmp(h, "\x7f" "ELF", 4) != 0)
        return 1;
    return n >= 20 && h[4] == 2 && (h[18] | (h[19] << 8)) == 62; /* ELFCLASS64, EM_X86_64 */
}

static void die_like(int st)
{
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
    g_argv = argv;
    const char *backend = "unotify", *policy = "default", *wait = "all";
    const char *v = getenv("LXRUN_PYTHON");
    if (v && *v && strcmp(v, "0") != 0)
        exec_python(NULL);

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char **slot = NULL;
        if (nl == 9 && strncmp(a, "--backend", nl) == 0)
            slot = &backend;
        else if (nl == 8 && strncmp(a, "--policy", nl) == 0)
            slot = &policy;
        else if (nl == 6 && strncmp(a, "--wait", nl) == 0)
            slot = &wait;
        if (!slot)
            exec_python(NULL); /* any other option: the reference implementation */
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            exec_python(NULL);
        *slot = val;
    }
    if (i >= argc)
        exec_python(NULL);
    if (strcmp(wait, "all") != 0 && strcmp(wait, "first") != 0)
        exec_python(NULL); /* the reference says what is wrong */
    int be;
    if (strcmp(backend, "unotify") == 0)
        be = LX_BACKEND_UNOTIFY;
    else if (strcmp(backend, "ptrace") == 0)
        be = LX_BACKEND_PTRACE;
    else
        exec_python(NULL);

    char dir[PATH_MAX], cache[PATH_MAX + 32];
    size_t blob_len = 0;
    if (cache_path(policy, cache, sizeof(cache), dir, sizeof(dir)) < 0)
        exec_python(NULL);
    void *blob_bytes = lx_policy_cache_load(dir, cache, &blob_len);
    if (!blob_bytes)
        exec_python(cache);
    const struct lx_blob *bh = lx_blob_header(blob_bytes, blob_len);

    char **prog = argv + i;
    char *path = which(prog[0]);
    if (!path || !exec_ok(path, 0))
        exec_python(NULL);

    static struct lx_sup sup;
    lx_sup_init(&sup, be);
    if (lx_blob_import(&sup, blob_bytes, blob_len) < 0)
        exec_python(cache);

    /* uname: the host's, then the policy's own identity */
    lx_blob_apply_uts(&sup, bh);

    void *prog_bpf = NULL;
    size_t prog_len = 0;
    int rc = lx_filter_compile(&sup, &prog_bpf, &prog_len);
    if (rc < 0)
        exec_python(NULL);

    int ready[2], go[2], err[2];
    if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        perror("lxrun: pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("lxrun: fork");
        return 1;
    }
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        close(err[0]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int e = -lx_child_exec(prog_bpf, prog_len, lx_child_backend(&sup), ready[1], go[0], path, prog, environ);
        char msg[PATH_MAX + 128];
        int m = snprintf(msg, sizeof(msg), "%s: %s", prog[0],
                         e == ENOEXEC ? "cannot execute: Exec format error" : strerror(e));
        if (write(err[1], msg, (size_t)m) < 0) { /* nothing more to do */ }
        _exit(e == ENOENT ? 127 : 126);
    }
    close(ready[1]);
    close(go[0]);
    close(err[1]);
    sup.child = pid;
    sup.wait_first = strcmp(wait, "first") == 0;
    lx_signals_install(&sup);
    rc = lx_supervise(&sup, pid, ready[0], go[1]);
    lx_signals_restore();

    char msg[PATH_MAX + 128];
    ssize_t m = read(err[0], msg, sizeof(msg) - 1);
    if (m > 0) {
        msg[m] = '\0';
        fprintf(stderr, "lxrun: %s\n", msg);
        _exit(sup.main_status_valid && WIFEXITED(sup.main_status) ? WEXITSTATUS(sup.main_status) : 126);
    }
    if (rc < 0 && rc != -ECHILD) {
        fprintf(stderr, "lxrun: supervisor failed: %s; the program was killed\n", strerror(-rc));
        return 1;
    }
    if (!sup.main_status_valid) {
        fprintf(stderr, "lxrun: the program's exit status is unknown\n");
        return 1;
    }
    die_like(sup.main_status);
    return 1;
}
