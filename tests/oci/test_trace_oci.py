"""The trace of a container process (the lxbrand-trace runtime's --trace): it starts at the
program's execve, not at the runtime's setup, and shows every call's result."""
import re

from ocitest import (busybox_rootfs, bundle, cid, need_busybox, need_engine,  # noqa: F401
                     need_root, run_cli, state_root)

import pytest

pytestmark = [need_root, need_busybox, need_engine]


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_trace_starts_at_execve(bundle, state_root, cid, tmp_path, backend):
    b = bundle(["sh", "-c", "cat /etc/passwd >/dev/null; echo done"])
    tdir = tmp_path / "traces"
    r = run_cli(state_root, "--policy", "trace-all", "--backend", backend, "--trace", "--trace-dir", str(tdir),
                "run", "--bundle", str(b), cid)
    assert r.returncode == 0 and r.stdout == "done\n", r.stderr
    text = (tdir / f"{cid}.trace").read_text()
    lines = text.splitlines()
    # (argv strings cut at 32 bytes, as strace -s 32 shows them)
    assert re.match(r'\[pid \d+\] execve\("/bin/sh", \["sh", "-c", "cat /etc/passwd >/dev/null; echo"\.\.\.\], '
                    r'0x[0-9a-f]+ /\* \d+ vars \*/\) = 0 <', lines[0]), lines[0]
    assert "seccomp(" not in text and "capset(" not in text  # the runtime's own setup is not traced
    assert re.search(r'openat\(AT_FDCWD, "/etc/passwd", O_RDONLY[|A-Z_]*\) = 3 <', text), text
    assert re.search(r'sendfile\(1, 3, NULL, \d+\) = \d+ <', text), text  # busybox cat
    assert 'write(1, "done\\n", 5) = 5' in text
    assert lines[-1].split()[-1] == "total"  # the summary closes it


def test_trace_file_capped(bundle, state_root, cid, tmp_path):
    b = bundle(["sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); cat /etc/passwd; done >/dev/null"])
    tdir = tmp_path / "traces"
    r = run_cli(state_root, "--policy", "trace-all", "--trace", "--trace-dir", str(tdir), "--trace-max-size",
                "16K", "--trace-keep", "1", "run", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tdir.iterdir())
    assert names == [f"{cid}.trace", f"{cid}.trace.1"], names
    assert all((tdir / n).stat().st_size <= 16 * 1024 for n in names)
    r = run_cli(state_root, "--trace-max-size", "lots", "--trace", "--trace-dir", str(tdir), "run", "--bundle",
                str(b), cid + "x")
    assert r.returncode == 1 and "--trace-max-size" in r.stderr
