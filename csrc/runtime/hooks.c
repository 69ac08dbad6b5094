/* OCI lifecycle hooks for the C create (lxbrand/oci/hooks.py is the reference): each hook
 * runs with the container's state as JSON on its stdin, stdout discarded, stderr kept for
 * the error message, within its timeout (runtime-spec config.md#posix-platform-hooks). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spec.h"

int rt_hooks_has(void *hooks, const char *kind)
{
    return json_array_size(json_object_get(hooks, kind)) > 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

static int run_one(json_t *h, const char *kind, size_t idx, const char *state, char *err, size_t errlen)
{
    const char *path = json_string_value(json_object_get(h, "path"));
    json_t *args = json_object_get(h, "args"), *env = json_object_get(h, "env");
    json_t *tmo = json_object_get(h, "timeout");
    if (!path || path[0] != '/') {
        snprintf(err, errlen, "%s hook #%zu: path must be absolute", kind, idx);
        return -1;
    }
    size_t na = json_array_size(args), ne = json_array_size(env);
    const char **argv = calloc(na + 2, sizeof(char *)), **envp = calloc(ne + 1, sizeof(char *));
    if (!argv || !envp) {
        free(argv);
        free(envp);
        snprintf(err, errlen, "%s hook #%zu %s: out of memory", kind, idx, path);
        return -1;
    }
    if (na)
        for (size_t i = 0; i < na; i++)
            argv[i] = json_string_value(json_array_get(args, i)) ? json_string_value(json_array_get(args, i)) : "";
    else
        argv[0] = path;
    for (size_t i = 0, k = 0; i < ne; i++)
        if (json_string_value(json_array_get(env, i)))
            envp[k++] = json_string_value(json_array_get(env, i));
    int in[2], er[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "%s hook #%zu %s: pipe: %s", kind, idx, path, strerror(errno));
        free(argv);
        free(envp);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(in[0], 0);
        dup2(null, 1);
        dup2(er[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execve(path, (char *const *)argv, (char *const *)envp);
        dprintf(2, "%s", strerror(errno));
        _exit(127);
    }
    free(argv);
    free(envp);
    close(in[0]);
    close(er[1]);
    if (pid < 0) {
        close(in[1]);
        close(er[0]);
        snprintf(err, errlen, "%s hook #%zu %s: fork: %s", kind, idx, path, strerror(errno));
        return -1;
    }
    /* the state is small (< PIPE_BUF mostly); a hook that does not read it gets EPIPE */
    signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0, len = strlen(state); off < len;) {
        ssize_t n = write(in[1], state + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(in[1]);
    char out[1024] = "";
    size_t got = 0;
    long long deadline = json_is_integer(tmo) && json_integer_value(tmo) > 0
                             ? now_ms() + json_integer_value(tmo) * 1000 : -1;
    int timed_out = 0;
    for (;;) {
        int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
        if (deadline >= 0 && wait <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd p = {.fd = er[0], .events = POLLIN};
        int r = poll(&p, 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[512];
        ssize_t n = read(er[0], buf, sizeof buf);
        if (n <= 0)
            break;
        size_t take = (size_t)n < sizeof(out) - 1 - got ? (size_t)n : sizeof(out) - 1 - got;
        memcpy(out + got, buf, take);
        got += take;
        out[got] = '\0';
    }
    close(er[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        snprintf(err, errlen, "%s hook #%zu %s: timed out after %llds", kind, idx, path,
                 (long long)json_integer_value(tmo));
        return -1;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        while (got && (out[got - 1] == '\n' || out[got - 1] == ' '))
            out[--got] = '\0';
        snprintf(err, errlen, "%s hook #%zu %s exited with status %d: %s", kind, idx, path,
                 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out);
        return -1;
    }
    return 0;
}

int rt_hooks_run(void *hooks, const char *kind, const char *state, char *err, size_t errlen)
{
    json_t *lst = json_object_get(hooks, kind);
    for (size_t i = 0; i < json_array_size(lst); i++)
        if (run_one(json_array_get(lst, i), kind, i, state, err, errlen) < 0)
            return -1;
    return 0;
}
