"""The ptrace backend's fd hand-over (csrc/inject.c), attacked from inside the
program: a thread scribbling on the memory the hand-over uses (random bytes and
copies of a denied path), realtime signals queued meanwhile, job-control stops
from outside.  The same programs run on unotify (ADDFD) as the reference."""
import os
import signal
import subprocess
import time

import pytest

from conftest import lxrun_cmd, run_lxrun
from sec import secprogs  # noqa: F401 - a fixture


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ok").write_text("fine\n")
    (tmp_path / "secret").write_text("SECRET\n")
    pol = tmp_path / "p.toml"
    pol.write_text(f'[[path]]\naction = "deny"\npaths = ["{tmp_path}/secret"]\n')
    return tmp_path, str(pol)


def fields(line):
    return dict(kv.split("=") for kv in line.split() if "=" in kv)


def test_scribbling_on_the_hand_over_never_gives_another_file(backend, secprogs, files):
    """Every allowed open reads the allowed file or fails; a denied one never opens;
    the program survives.  Under attack on ptrace most opens fail (EIO: the pair or
    the message was overwritten), which hurts only the attacker."""
    d, pol = files
    n = 1500
    r = run_lxrun(["--backend", backend, "--policy", pol],
                  [secprogs["injrace"], "scribble", f"{d}/ok", f"{d}/secret", str(n)], timeout=170)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout.strip()
    assert out.endswith("alive"), out
    f = fields(out)
    assert (f["wrong"], f["denied_open"]) == ("0", "0"), out
    assert int(f["ok"]) + int(f["failed"]) == n, out
    if backend == "unotify":
        assert f["ok"] == str(n), out  # ADDFD uses none of the program's memory


def test_signals_are_not_lost_during_a_hand_over(backend, secprogs, files):
    """Realtime signals queued to the opener while its mask is held (PTRACE_SETSIGMASK)
    are all delivered, and SIGSTOP/SIGCONT from outside neither lose a stop nor break
    an open."""
    d, pol = files
    p = subprocess.Popen(lxrun_cmd("--backend", backend, "--policy", pol, "--",
                                   secprogs["injrace"], "signals", f"{d}/ok", "8000"),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        child = None
        for _ in range(200):
            kids = _children(p.pid)
            if kids:
                child = kids[0]
                break
            time.sleep(0.01)
        assert child, "the program did not start"
        stops = 0
        while p.poll() is None and stops < 30:
            try:
                os.kill(child, signal.SIGSTOP)
                # it stops within 0.5 s (a stop held during a hand-over is re-sent):
                # then no thread of it runs for 100 ms
                stopped = _stops_within(child, 0.5)
                os.kill(child, signal.SIGCONT)
            except ProcessLookupError:
                break
            assert stopped is not False, "still running 0.5 s after SIGSTOP"
            stops += 1
            time.sleep(0.02)
        out, _ = p.communicate(timeout=170)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, out
    f = fields(out)
    assert f["bad"] == "0", out
    assert int(f["sent"]) > 0 and f["got"] == f["sent"], out


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _stops_within(pid, limit):
    """True once two CPU-time samples 100 ms apart are equal, False if that never
    happens within `limit` seconds, None if the process is gone."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = _cpu_ticks(pid)
        time.sleep(0.1)
        after = _cpu_ticks(pid)
        if before is None or after is None:
            return None
        if after == before:
            return True
    return False


def _cpu_ticks(pid):
    """utime + stime of all the process's threads (None once it is gone)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
    except OSError:
        return None
    return total


CHANNEL = r"""
import os, sys
d = sys.argv[1]
def read(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        return os.read(fd, 100).decode().strip()
    finally:
        os.close(fd)
def sockets():
    out = []
    for f in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{f}").startswith("socket:"):
                out.append(int(f))
        except OSError:
            pass
    return out
print(read(f"{d}/ok"))
for fd in sockets():            # what closefrom(3) would do: the kept channel goes
    os.close(fd)
print(read(f"{d}/ok"))
null = os.open("/dev/null", os.O_RDONLY)
for fd in sockets():            # another file dup2()ed onto its number
    os.dup2(null, fd)
print(read(f"{d}/ok"))
pid = os.fork()
if pid == 0:                    # the child shares the channel with its parent
    print("child", read(f"{d}/ok"), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
try:
    read(f"{d}/secret")
except OSError as e:
    print("secret", e.errno)
fd = os.open(f"{d}/ok", os.O_RDONLY)
print("lowest", fd == min(set(range(3, 64)) - {int(f) for f in os.listdir("/proc/self/fd")} | {fd}))
"""


def test_the_kept_channel_survives_what_the_program_does_to_it(backend, files):
    """The ptrace hand-over keeps a socket in each process (inject.c): a program that
    closes it, or dup2()s another file onto its number, gets a new one at its next
    open; a forked child uses its parent's; opens still get the lowest free number.
    The same program on unotify (no channel) is the reference."""
    d, pol = files
    r = run_lxrun(["--backend", backend, "--policy", pol], ["python3", "-c", CHANNEL, str(d)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["fine", "fine", "fine", "child fine", "secret 13", "lowest True"], r.stdout
