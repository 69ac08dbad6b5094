/* start ID: release init, blocked opening exec.fifo for writing (runc's handshake).
 * Poststart hooks, and every error worth a precise message, are Python's. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "runtime.h"

int rt_start(const char *id)
{
    struct rt_state f;
    char fifo[PATH_MAX + 16];
    if (rt_state_read(id, &f) != 0 || f.python || !rt_running(f.pid, f.start))
        return RT_FALLBACK; /* Python words the error or runs poststart */
    snprintf(fifo, sizeof fifo, "%s/exec.fifo", f.dir);
    int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return RT_FALLBACK; /* already started: Python says so */
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, 50);
        if (r > 0 && (pfd.revents & POLLIN)) {
            char c;
            if (read(fd, &c, 1) == 1)
                break;
        }
        if (!rt_running(f.pid, f.start)) {
            close(fd);
            return rt_fail("cannot start container '%s': its init exited", id);
        }
    }
    close(fd);
    unlink(fifo);
    return 0;
}
