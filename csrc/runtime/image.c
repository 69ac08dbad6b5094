/* The container's files as the runtime reads them from outside, before its process runs:
 * process.args[0] looked up in PATH, HOME from /etc/passwd -- always through
 * openat2(RESOLVE_IN_ROOT) from a directory fd of its root (the image for create,
 * /proc/PID/root for exec), so symlinks and ".." in the image cannot lead out of it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "image.h"
#include "runtime.h"

int rt_open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}

const char *rt_env_get(const char **env, const char *key)
{
    size_t n = strlen(key);
    for (; *env; env++)
        if (!strncmp(*env, key, n) && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static int listed(const char *const *present, const char *path)
{
    for (; present && *present; present++)
        if (!strcmp(*present, path))
            return 1;
    return 0;
}

int rt_lookup(int rootfd, const char *name, const char **env, const char *const *present, char *out, size_t cap)
{
    struct stat st;
    if (strchr(name, '/')) {
        int ok = name[0] == '/' && listed(present, name);
        int fd = name[0] == '/' && !ok ? rt_open_in_root(rootfd, name, O_PATH) : -1;
        if (fd >= 0) {
            ok = fstat(fd, &st) == 0;
            close(fd);
        }
        if (!ok)
            return rt_fail("exec: \"%s\": stat %s: no such file or directory", name, name);
        snprintf(out, cap, "%s", name);
        return 0;
    }
    const char *path = rt_env_get(env, "PATH");
    if (!path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (*path) {
        const char *end = strchrnul(path, ':');
        int dl = (int)(end - path);
        if (dl > 0 && path[0] == '/') {
            snprintf(out, cap, "%.*s/%s", dl, path, name);
            if (listed(present, out))
                return 0;
            int fd = rt_open_in_root(rootfd, out, O_PATH);
            if (fd >= 0) {
                int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
                close(fd);
                if (ok)
                    return 0;
            }
        }
        path = *end ? end + 1 : end;
    }
    return rt_fail("exec: \"%s\": executable file not found in $PATH", name);
}

char *rt_home_env(int rootfd, uid_t uid)
{
    char line[1024], *home = NULL;
    int fd = rt_open_in_root(rootfd, "/etc/passwd", O_RDONLY);
    FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
    if (!f && fd >= 0)
        close(fd);
    while (f && !home && fgets(line, sizeof line, f)) {
        char *fields[7] = {0}, *p = line, *endp;
        line[strcspn(line, "\n")] = 0;
        for (int i = 0; i < 7 && p; i++) {
            fields[i] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = 0;
        }
        if (fields[2] && fields[5] && *fields[2] && strtoul(fields[2], &endp, 10) == uid && !*endp &&
            asprintf(&home, "HOME=%s", *fields[5] ? fields[5] : "/") < 0)
            home = NULL;
    }
    if (f)
        fclose(f);
    return home ? home : strdup("HOME=/");
}

int rt_connect_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
