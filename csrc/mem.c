/* Tracee memory access.  process_vm_readv/writev need PTRACE_MODE_ATTACH on the
 * target; the supervisor is the tracer (ptrace lifecycle) so it always has it.
 * Under unotify, a read is only trusted after SECCOMP_IOCTL_NOTIF_ID_VALID
 * (seccomp_unotify(2), "Caveats": the pid may have been recycled). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "engine.h"

ssize_t lx_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return n < 0 ? -errno : n;
}

ssize_t lx_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? n : -EFAULT;
}

/* Read a NUL-terminated string of at most cap-1 bytes.  Reads page by page so a
 * string that ends just before an unmapped page is still read. */
ssize_t lx_mem_read_str(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
    size_t got = 0;
    if (cap == 0)
        return -EINVAL;
    while (got < cap - 1) {
        uint64_t a = addr + got;
        size_t chunk = 4096 - (a & 4095);
        if (chunk > cap - 1 - got)
            chunk = cap - 1 - got;
        ssize_t n = lx_mem_read(pid, a, buf + got, chunk);
        if (n <= 0) {
            if (got == 0)
                return n < 0 ? n : -EFAULT;
            break;
        }
        char *z = memchr(buf + got, '\0', (size_t)n);
        if (z)
            return z - buf;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}
