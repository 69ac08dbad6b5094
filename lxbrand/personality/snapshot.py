"""Generated files kept for a short while, so that a program reading one many times
in a row (`free` in a loop, `top`) does not pay for generating it each time.

A Snapshot is a callable for files.Serve: it returns an fd on the content.  The
content lives in one sealed memfd for `ttl` seconds; each open gets a new open file
description of that memfd (a reopen of /proc/self/fd/N, read-only), so two readers
never share a file offset, and a write fails with EBADF as on the real procfs file.
After `ttl` the next open generates the content again.

The memfd is made on the first open (not at start-up) and replaced, never
modified: a reader keeps the content it opened.
"""
import fcntl
import os
import time

_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class Snapshot:
    def __init__(self, gen, name, ttl):
        self.gen = gen              # () -> bytes
        self.name = name            # the memfd's name (readlink shows /memfd:NAME (deleted))
        self.ttl = ttl              # seconds; float("inf") for content that never changes
        self._fd = None
        self._name = None           # str(self._fd), the name to reopen under /proc/self/fd
        self._at = 0.0
        self.generated = 0          # how many times gen() ran (the tests count it)

    def __call__(self):
        now = time.monotonic()
        fd = self._fd
        if fd is None or now - self._at >= self.ttl:
            data = self.gen()
            self.generated += 1
            try:
                fd = _sealed(self.name, data)
            except OSError:
                return data         # no memfd here: the pipeline serves the bytes itself
            old, self._fd, self._at, self._name = self._fd, fd, now, str(fd)
            if old is not None:
                os.close(old)
        try:
            return os.open(self._name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=_fd_dir if _fd_dir is not None else _own_fds())
        except OSError:
            # No procfs of our own to reopen through (a supervisor without /proc):
            # serve a copy the old way.
            return _read_all(fd)

    def held(self):
        """(fd, seconds it stays fresh) of the current content, or None: for the
        engine to repeat this answer without Python (Call.cache_answer)."""
        if self._fd is None:
            return None
        return self._fd, self.ttl - (time.monotonic() - self._at)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._name = None


_fd_dir = None               # fd of this process's /proc/self/fd, opened on first use


def _own_fds():
    """An fd on this process's /proc/self/fd: a reopen relative to it skips two
    path lookups."""
    global _fd_dir
    _fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return _fd_dir


def _forget_after_fork():
    # A child's fd table is a copy: its own /proc/self/fd is opened when it needs one
    # (the inherited fd still names the parent's table).
    global _fd_dir
    _fd_dir = None


os.register_at_fork(after_in_child=_forget_after_fork)


def _sealed(name, data):
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_all(fd):
    out, off = [], 0
    while chunk := os.pread(fd, 65536, off):
        out.append(chunk)
        off += len(chunk)
    return b"".join(out)
