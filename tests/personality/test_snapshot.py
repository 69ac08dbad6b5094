"""Snapshot: generated content kept in one sealed memfd for a while, each open a
new open file description of it."""
import errno
import fcntl
import os
import time

import pytest

from lxbrand.personality.snapshot import Snapshot


def test_each_open_is_its_own_read_only_file_description():
    calls = []
    snap = Snapshot(lambda: calls.append(1) or b"hello world\n", "demo", 60)
    a, b = snap(), snap()
    try:
        assert len(calls) == 1                       # generated once, reopened after
        assert os.read(a, 5) == b"hello" and os.read(b, 5) == b"hello"   # offsets not shared
        assert os.readlink(f"/proc/self/fd/{a}") == "/memfd:demo (deleted)"
        assert fcntl.fcntl(a, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        with pytest.raises(OSError) as e:
            os.write(a, b"x")
        assert e.value.errno == errno.EBADF         # read-only, as the procfs file
        seals = fcntl.fcntl(a, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
    finally:
        os.close(a)
        os.close(b)
        snap.close()


def test_regenerated_after_ttl_and_old_readers_keep_their_content():
    n = [0]

    def gen():
        n[0] += 1
        return b"v%d\n" % n[0]
    snap = Snapshot(gen, "demo", 0.05)
    a = snap()
    time.sleep(0.08)
    b = snap()
    try:
        assert os.read(a, 10) == b"v1\n" and os.read(b, 10) == b"v2\n"
        assert snap.generated == 2
    finally:
        os.close(a)
        os.close(b)
        snap.close()
