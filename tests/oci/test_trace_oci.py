"""The trace of a container process (the lxbrand-trace runtime's --trace): it starts at the
program's execve, not at the runtime's setup, and shows every call's result."""
import os
import re
import signal
import subprocess
import threading
import time

from ocitest import (REPO, busybox_rootfs, bundle, cid, lxbrand_cmd, need_busybox, need_engine,  # noqa: F401
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


def _start(bundle, state_root, cid, tmp_path, args, *globals_):
    b = bundle(args)
    with open(tmp_path / "out", "w") as f:
        r = run_cli(state_root, *globals_, "create", "--bundle", str(b), "--pid-file", str(tmp_path / "pid"), cid,
                    stdout=f, stderr=f, capture_output=False)
    assert r.returncode == 0, (tmp_path / "out").read_text()
    assert run_cli(state_root, "start", cid).returncode == 0


def _trace(state_root, cid, *opts, wait_for="", seconds=1.0):
    """`lxbrand trace` on the container until wait_for shows (or `seconds` pass), then Ctrl-C."""
    t = subprocess.Popen(lxbrand_cmd(state_root, "trace", *opts, cid), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    line = t.stderr.readline()
    assert "attached to" in line, line + t.stderr.read()
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(t.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + (20 if wait_for else seconds)
    while time.monotonic() < deadline and not (wait_for and any(wait_for in x for x in lines)):
        time.sleep(0.05)
    t.send_signal(signal.SIGINT)
    t.wait(timeout=30)
    reader.join(timeout=10)
    err = t.stderr.read()
    assert t.returncode == 0, err
    return "".join(lines), err


@pytest.mark.parametrize("policy", ["default", "trace-all"])
def test_live_trace_of_a_running_container(bundle, state_root, cid, tmp_path, policy):
    """`lxbrand trace ID` on a container started with any policy (default: the C supervisor,
    nothing traps; trace-all: the Python supervisor, which also writes its own trace):
    its calls with results, then it runs on untraced."""
    globals_ = ("--policy", policy) + (("--trace", "--trace-dir", str(tmp_path / "t")) if policy == "trace-all"
                                       else ())
    _start(bundle, state_root, cid, tmp_path,
           ["sh", "-c", "while :; do cat /etc/passwd >/dev/null; sleep 0.1; done"], *globals_)
    try:
        out, _ = _trace(state_root, cid, "-e", "trace=openat,execve", wait_for='"/etc/passwd"')
        assert re.search(r'openat\(AT_FDCWD, "/etc/passwd", O_RDONLY[A-Z_|]*\) = 3 <', out), out
        # (busybox runs its applets through /proc/self/exe)
        assert re.search(r'execve\("/proc/self/exe", \["cat", "/etc/passwd"\], 0x[0-9a-f]+ /\* \d+ vars \*/\) = 0',
                         out), out
        assert "close(" not in out  # only the set asked for
        out, _ = _trace(state_root, cid, "-c", seconds=1.0)
        assert re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+\d*\s*execve$", out, re.M), out
    finally:
        run_cli(state_root, "delete", "--force", cid)
