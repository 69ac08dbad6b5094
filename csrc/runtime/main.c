/* lxbrand-runtime's entry: global options, the verb table, the fallback to Python.
 *
 * Every container costs containerd 3-4 runtime calls (create, start, delete, delete
 * --force) and each `docker exec` one more; a Python interpreter's start-up is tens of
 * milliseconds on a small VM, runc's whole call a few.  So the calls that need no Python
 * are answered here (runtime.h); the rest go to the Python runtime (lxbrand/cli/runtime.py):
 * $LXBRAND_PY, else lxbrand-runtime.py beside this binary (`lxbrand install` writes it),
 * else `python3 -m lxbrand.cli.runtime`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"

struct rt_globals G = {.root = "/run/lxbrand", .log_format = "text"};

const char *rt_self_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
        if (n <= 0)
            return ".";
        dir[n] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
    }
    return dir;
}

_Noreturn void rt_fallback(void)
{
    char py[PATH_MAX + 32];
    const char *env = getenv("LXBRAND_PY");
    if (env && *env)
        snprintf(py, sizeof(py), "%s", env);
    else
        snprintf(py, sizeof(py), "%s/lxbrand-runtime.py", rt_self_dir());
    if (access(py, X_OK) == 0) {
        G.argv[0] = py;
        execv(py, G.argv);
    }
    int argc = 0;
    while (G.argv[argc])
        argc++;
    char **v = calloc((size_t)argc + 4, sizeof(char *));
    if (v) {
        v[0] = "python3";
        v[1] = "-m";
        v[2] = "lxbrand.cli.runtime";
        for (int i = 1; i < argc; i++)
            v[i + 2] = G.argv[i];
        execvp("python3", v);
    }
    fprintf(stderr, "lxbrand: cannot run the Python runtime (%s, or python3 -m lxbrand.cli.runtime): %s\n", py,
            strerror(errno));
    exit(1);
}

/* As the Python runtime reports errors: stderr, and the --log file (JSON lines for
 * containerd, which shows the user the last {"level":"error"} line). */
int rt_fail(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "lxbrand: %s\n", msg);
    rt_log_error(G.log, G.log_format, msg);
    return 1;
}

int main(int argc, char **argv)
{
    G.argv = argv;
    const char *force_py = getenv("LXBRAND_PYTHON");
    if (force_py && *force_py && strcmp(force_py, "0") != 0)
        rt_fallback(); /* the reference implementation of every verb, for tests and debugging */
    int i = 1;
    /* global options: runc's and lxbrand's */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (!strcmp(a, "--root"))
            val = &G.root;
        else if (!strcmp(a, "--log"))
            val = &G.log;
        else if (!strcmp(a, "--log-format"))
            val = &G.log_format;
        else if (!strcmp(a, "--policy"))
            val = &G.policy;
        else if (!strcmp(a, "--backend"))
            val = &G.backend;
        else if (!strncmp(a, "--root=", 7))
            G.root = a + 7;
        else if (!strncmp(a, "--log=", 6))
            G.log = a + 6;
        else if (!strncmp(a, "--log-format=", 13))
            G.log_format = a + 13;
        else if (!strncmp(a, "--policy=", 9))
            G.policy = a + 9;
        else if (!strncmp(a, "--backend=", 10))
            G.backend = a + 10;
        else if (!strcmp(a, "--trace"))
            G.trace = 1;
        else if (!strcmp(a, "--systemd-cgroup"))
            G.systemd_cgroup = 1;
        else if (!strcmp(a, "--debug"))
            continue;
        else if (!strcmp(a, "--criu") || !strcmp(a, "--rootless") || !strcmp(a, "--trace-dir") ||
                 !strcmp(a, "--trace-max-size") || !strcmp(a, "--trace-keep")) {
            i++; /* their values only matter to the Python verbs */
            continue;
        } else if (!strncmp(a, "--trace-dir=", 12) || !strncmp(a, "--trace-max-size=", 17) ||
                   !strncmp(a, "--trace-keep=", 13))
            continue;
        else
            rt_fallback();
        if (val) {
            if (++i >= argc)
                rt_fallback();
            *val = argv[i];
        }
    }
    if (i >= argc)
        rt_fallback();
    const char *verb = argv[i++];
    if (!strcmp(verb, "exec") || !strcmp(verb, "create")) {
        int rc = !strcmp(verb, "exec") ? rt_exec(argc - i, argv + i) : rt_create(argc - i, argv + i);
        if (rc == RT_FALLBACK)
            rt_fallback();
        return rc;
    }
    int force = 0;
    const char *pos[2] = {0};
    int npos = 0;
    for (; i < argc; i++) {
        if (!strcmp(verb, "delete") && (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")))
            force = 1;
        else if (argv[i][0] == '-' || npos == 2)
            rt_fallback();
        else
            pos[npos++] = argv[i];
    }
    if (npos < 1 || !rt_valid_id(pos[0]))
        rt_fallback();
    int rc = RT_FALLBACK;
    if (!strcmp(verb, "start") && npos == 1)
        rc = rt_start(pos[0]);
    else if (!strcmp(verb, "state") && npos == 1)
        rc = rt_state(pos[0]);
    else if (!strcmp(verb, "kill") && npos == 2)
        rc = rt_kill(pos[0], pos[1]);
    else if (!strcmp(verb, "delete") && npos == 1)
        rc = rt_delete(pos[0], force);
    if (rc == RT_FALLBACK)
        rt_fallback();
    return rc;
}
