"""Live tracing of a running sandbox (csrc/live.h, lxbrand/live.py, `lxbrand trace`):
attach without restarting it, see its calls with their results, detach leaving it
untraced; who may attach; a slow reader never holds the program up."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from lxbrand import live, traceshapes


class Burst:
    """tests/progs/burst.c under lxrun: bursts of getppid on demand, each reporting how
    often the program was switched out (about never untraced, twice a call traced)."""

    def __init__(self, progs, backend="unotify", policy="default"):
        self.p = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.lxrun", "--backend", backend,
                                   "--policy", policy, "--", progs["burst"]],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline() == "ready\n"

    def burst(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        words = self.p.stdout.readline().split()
        assert words[:2] == ["burst", str(n)], words
        return int(words[3])

    def end(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=60) == 0


def attach(pid, syscalls=None, strsize=32):
    return live.Attachment(pid, live.TRACE, syscalls, strsize,
                           traceshapes.capture_table(syscalls or range(512), listed_only=True))


def records(a, want, timeout=10):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += [v for k, v in a.read() if k == "call"]
    return got


@pytest.mark.parametrize("policy", ["default", "strict"])
def test_attach_shows_calls_and_detach_leaves_it_untraced(backend, progs, policy):
    b = Burst(progs, backend, policy)
    try:
        assert b.burst(20000) < 2000  # nothing traps getppid under these policies: no stops
        a = attach(b.p.pid, {traceshapes_nr("getppid")})
        assert a.hello.sup == b.p.pid and a.hello.child > 0
        assert b.burst(500) >= 500  # every call stops now
        recs = records(a, 500)
        assert len(recs) == 500
        assert all(r.name == "getppid" and r.has_ret and r.ret == b.p.pid for r in recs), recs[0].line()
        assert recs[0].line().startswith(f"[pid {a.hello.child}] getppid() = {b.p.pid} <")
        a.close()
        time.sleep(0.05)
        b.burst(10)  # each task takes one more stop, then goes on untraced
        assert b.burst(20000) < 2000
    finally:
        b.end()


def traceshapes_nr(name):
    from lxbrand import syscalls
    return syscalls.nr_of(name)


def test_results_and_decoding_of_every_call(progs, tmp_path):
    """A whole program traced live: its write shows its bytes and result, an open its
    path and errno, as a trace file does."""
    script = tmp_path / "s.sh"
    script.write_text("read x; cat /nonexistent-file; echo done-$x\n")
    p = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.lxrun", "--", "/bin/sh", str(script)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    a = attach(p.pid)
    p.stdin.write("go\n")
    p.stdin.close()
    lines = []
    while not a.ended:
        lines += [v.line() for k, v in a.read() if k == "call"]
    assert p.wait(timeout=30) == 0 or p.returncode == 1
    text = "\n".join(lines)
    assert 'read(0, "g", 1) = 1' in text  # the shell reads its input a byte at a time
    assert 'openat(AT_FDCWD, "/nonexistent-file", O_RDONLY) = -1 ENOENT (No such file or directory)' in text
    assert 'write(1, "done-go\\n", 8) = 8' in text
    assert "exit_group(" in text


def test_cli_trace_and_summary(progs):
    b = Burst(progs)
    env = dict(os.environ)
    try:
        cli = [sys.executable, "-m", "lxbrand.cli.runtime", "trace", "--pid", str(b.p.pid)]
        t = subprocess.Popen(cli + ["-e", "trace=getppid"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
        _wait_attached(t)
        b.burst(3)
        first = t.stdout.readline()
        assert "getppid() = " in first, first
        t.send_signal(signal.SIGINT)
        out, err = t.communicate(timeout=30)
        assert t.returncode == 0, err
        t = subprocess.Popen(cli + ["-c", "-e", "getppid"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
        _wait_attached(t)
        b.burst(123)
        time.sleep(0.3)
        t.send_signal(signal.SIGINT)
        out, err = t.communicate(timeout=30)
        assert t.returncode == 0, err
        row = [x for x in out.splitlines() if x.endswith(" getppid")]
        assert row and row[0].split()[3] == "123", out
        assert b.burst(20000) < 2000  # detached
    finally:
        b.end()


def _wait_attached(t):
    line = t.stderr.readline()
    assert "attached to 1 supervisor" in line, line + t.stderr.read()


def test_cli_errors():
    r = subprocess.run([sys.executable, "-m", "lxbrand.cli.runtime", "trace", "--pid", str(os.getpid())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not in a sandbox" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "lxbrand.cli.runtime", "trace", "-e", "trace=nosuchcall", "--pid", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no syscall named 'nosuchcall'" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "lxbrand.cli.runtime", "--root", "/nonexistent", "trace", "zz"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_only_root_or_the_owner_may_attach(progs):
    b = Burst(progs)
    try:
        code = ("import os, sys\nfrom lxbrand import live\nos.setgid(65534)\nos.setuid(65534)\n"
                f"try:\n    live.Attachment({b.p.pid}, live.EVENTS)\nexcept live.AttachError as e:\n"
                "    print(e)\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "only root or the sandbox's owner (uid 0) may attach" in r.stdout, r.stdout + r.stderr
    finally:
        b.end()


def test_a_sandboxed_process_may_not_attach(progs):
    b = Burst(progs)
    try:
        code = (f"from lxbrand import live\ntry:\n    live.Attachment({b.p.pid}, live.TRACE)\n"
                "except live.AttachError as e:\n    print(e)\n")
        r = subprocess.run([sys.executable, "-m", "lxbrand.cli.lxrun", "--", sys.executable, "-c", code],
                           capture_output=True, text=True, timeout=60)
        assert "a traced process" in r.stdout and "may not attach" in r.stdout, r.stdout + r.stderr
        assert b.burst(20000) < 2000  # and nothing changed for the sandbox
    finally:
        b.end()


def test_a_socket_that_is_not_the_supervisor_is_refused():
    """A name squatted by another process: the client checks the peer's pid."""
    sleeper = subprocess.Popen(["sleep", "30"])
    squat = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        squat.bind(f"\0{live.NAME}{sleeper.pid}")
        squat.listen(1)
        with pytest.raises(live.AttachError, match="not an lxbrand supervisor"):
            live.Attachment(sleeper.pid, live.TRACE, timeout=2)
    finally:
        squat.close()
        sleeper.kill()
        sleeper.wait()


def test_slow_reader_never_holds_the_program_up(progs):
    """A client that reads nothing while the program makes far more calls than the ring
    holds: the program goes on (its burst returns), what the client missed is counted and
    reported when it reads, and after it detaches the program is untraced."""
    b = Burst(progs)
    try:
        a = attach(b.p.pid, {traceshapes_nr("getppid")})
        b.burst(60000)  # ~6 MB of records through a 1 MiB ring, none read meanwhile
        dropped, calls = 0, 0
        a.sock.settimeout(2)
        try:
            while True:
                for kind, value in a.read():
                    if kind == "dropped":
                        dropped = value
                    elif kind == "call":
                        calls += 1
        except socket.timeout:
            pass
        assert dropped > 0 and calls > 0
        assert dropped + calls == 60000, (dropped, calls)
        a.close()
        b.burst(10)
        assert b.burst(20000) < 2000
    finally:
        b.end()


def test_bye_when_the_sandbox_ends(progs):
    b = Burst(progs)
    a = live.Attachment(b.p.pid, live.EVENTS)
    b.end()
    kinds = []
    while not a.ended:
        kinds += [k for k, _ in a.read()]
    assert kinds[-1] == "bye"
