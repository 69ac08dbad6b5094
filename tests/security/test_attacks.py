"""The adversarial suite: each test runs one attack (tests/security/progs/attack.c,
or an engine attack program of tests/progs) under the `strict` profile and under a
denying policy (default profile + network denied + emulated getppid), on both
backends, and asserts the exact outcome: the errno, or death by SIGSYS.

Also tests/security/test_network.py (address rewritten between check and use),
test_faults.py (supervisor killed at random points) and test_paths.py."""
import fcntl
import os
import pty
import shutil
import signal
import subprocess
import tempfile
import termios
import tty

import pytest

from conftest import lxrun_cmd, run_lxrun, run_native
from sec import free_port, secprogs, write_policy  # noqa: F401 - secprogs is a fixture

DENYING = """
description = "default profile, no network, an emulated getppid (the attack suite's denying policy)"
network_default = "deny"
[[rule]]
syscalls = ["getppid"]
action = "emulate"
return = 4242
comment = "shows that the policy still applies after the attack"
"""
POLICIES = ("strict", "denying")


DENYING_PATHS = """
[[path]]
action = "deny"
paths = ["/etc/shadow", "/root"]
comment = "the attack suite's path rules"
"""


@pytest.fixture(params=POLICIES)
def policy(request, tmp_path, backend):
    if request.param == "strict":
        return "strict"
    return write_policy(tmp_path, DENYING + DENYING_PATHS, "denying.toml")


def lx(backend, policy, *argv, **kw):
    return run_lxrun(["--backend", backend, "--policy", policy], list(argv), **kw)


def lines(r):
    return r.stdout.splitlines()


def _queued(fd):
    """Bytes waiting in a terminal's input queue (TIOCINQ; all of them, the tty being raw)."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, "little")


def test_tiocsti_cannot_type_into_the_terminal(backend, policy, secprogs):
    """TIOCSTI / TIOCLINUX would push commands into the shell that started us: whatever
    is pushed waits in the terminal's input queue, which is measured after each run."""
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)  # non-canonical: the queue counts every byte, not whole lines
        native = subprocess.run([secprogs["attack"], "tiocsti"], stdin=slave, capture_output=True, text=True)
        native_typed = _queued(slave)
        termios.tcflush(slave, termios.TCIFLUSH)
        r = lx(backend, policy, secprogs["attack"], "tiocsti", stdin=slave)
        r2 = lx(backend, policy, secprogs["attack"], "tioclinux", stdin=slave)
        typed = _queued(slave)
    finally:
        os.close(master)
        os.close(slave)
    if os.geteuid() == 0:
        # the attack works natively (root passes even with dev.tty.legacy_tiocsti=0), and the
        # queue measurement sees it: two bytes, from tiocsti and tiocsti64
        assert lines(native)[0] == "tiocsti 0" and native_typed == 2, (native.stdout, native_typed)
    assert lines(r) == ["tiocsti -1 Operation not permitted", "tiocsti64 -1 Operation not permitted"], r.stderr
    assert lines(r2) == ["tioclinux -1 Operation not permitted"]
    assert typed == 0, "the sandboxed program pushed input into the terminal"


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL, signal.SIGTERM])
def test_signals_aimed_at_the_supervisor(backend, policy, secprogs, sig):
    r = lx(backend, policy, secprogs["attack"], "supsig", str(int(sig)), timeout=30)
    assert lines(r) == ["kill -1 Operation not permitted", "tgkill -1 Operation not permitted", "alive 0"], r.stderr
    assert r.returncode == 0


def test_seccomp_tsync_cannot_loosen_the_filter(backend, policy, secprogs):
    port = free_port("127.0.0.3", __import__("socket").SOCK_DGRAM)
    r = lx(backend, policy, secprogs["attack"], "tsync", str(port))
    out = lines(r)
    # One listener per filter chain (unotify: EBUSY); ptrace: lxbrand refuses it (filter.c).  A policy
    # that traps nothing may run without a listener of ours; the program's own listener then only
    # hears its own filter, whose verdicts never outrank our ERRNO/KILL (seccomp(2): precedence).
    if backend == "ptrace":
        assert out[0] == "tsync_listener -1 Operation not permitted", r.stdout
    else:
        assert out[0] == "tsync_listener -1 Device or resource busy" or \
            (policy == "strict" and not out[0].startswith("tsync_listener -1")), r.stdout
    assert out[1] == "tsync 0"
    if policy == "strict":
        assert out[3:] == ["unshare -1 Operation not permitted", "connect 0", "tiocsti -1 Operation not permitted"]
    else:
        assert out[2:] == ["getppid 4242", "unshare 0", "connect -1 Permission denied",
                           "tiocsti -1 Operation not permitted"], r.stderr


def test_vfork_exec_races_stay_supervised(backend, policy, secprogs):
    """Four threads vfork+exec 25 children each at once: every child runs under
    the filter and the tracer, and the policy answers its calls."""
    r = lx(backend, policy, secprogs["attack"], "vforkexec", "25", secprogs["attack"], timeout=120)
    out = lines(r)
    assert out[-1] == "vforkexec done", r.stderr
    children = out[:-1]
    assert len(children) == 100
    for c in children:
        seccomp, traced, ppid = (kv.split("=")[1] for kv in c.split()[1:])
        assert (seccomp, traced) == ("2", "1"), c
        if policy != "strict":
            assert ppid == "4242", c


def test_open_by_handle_at_refused(backend, policy, secprogs):
    """Refused by strict, and by any policy with path rules (a handle is a path the rules never see).
    Under path rules name_to_handle_at itself is judged like stat (a handle opens nothing by itself)."""
    r = lx(backend, policy, secprogs["attack"], "handle", "/etc/hostname")
    first = "name_to_handle_at -1 Operation not permitted" if policy == "strict" else "name_to_handle_at 0"
    assert lines(r) == [first, "open_by_handle_at -1 Operation not permitted"]


@pytest.mark.parametrize("attack", ["x32", "int80"])
def test_foreign_abi_killed(backend, policy, progs, attack):
    r = lx(backend, policy, progs[attack])
    assert r.returncode == -signal.SIGSYS
    assert "returned" not in r.stdout


def test_cannot_ptrace_supervisor_or_install_listener(backend, policy, progs):
    r = lx(backend, policy, progs["ptrace_parent"])
    assert lines(r) == ["attach-parent -1 Operation not permitted", "traceme -1 Operation not permitted"]
    r = lx(backend, policy, progs["listener"])
    out = r.stdout.strip()
    if backend == "unotify" and policy == "strict":
        # strict traps nothing: the program's own listener hears only its own filter (see the tsync test)
        assert out in ("listener -1 Device or resource busy", "listener 3 ok"), out
    else:
        assert out in ("listener -1 Device or resource busy", "listener -1 Operation not permitted"), out


def test_io_uring_refused(backend, policy, progs):
    """strict denies io_uring; a network policy denies it too (IORING_OP_CONNECT would go around it)."""
    r = lx(backend, policy, progs["io_uring"])
    assert r.stdout.strip() == "io_uring_setup -1 Operation not permitted"


@pytest.fixture
def public_dir():
    """A directory every user can read (tmp_path is 0700 root's), for tests that drop to nobody."""
    d = tempfile.mkdtemp(prefix="lxbrand-sec-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _as_nobody(cmd, **kw):
    setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run(setpriv + cmd, capture_output=True, text=True, timeout=60, **kw)


def test_same_user_program_cannot_reach_the_supervisor(backend, policy, secprogs, public_dir):
    """Supervisor and program both run as nobody (no Yama on this host): the
    supervisor's memory, root, fds and pidfd are out of the program's reach."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user for both supervisor and program")
    prog = shutil.copy(secprogs["attack"], public_dir)
    pol = policy if policy == "strict" else shutil.copy(policy, public_dir)
    os.chmod(prog, 0o755)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HOME=public_dir, PYTHONPATH=repo)
    r1 = _as_nobody(lxrun_cmd("--backend", backend, "--policy", pol, "--", prog, "supmem"), env=env, cwd=public_dir)
    if "Traceback" in r1.stderr or r1.returncode not in (0,):
        pytest.skip(f"lxrun cannot run as nobody here: {r1.stderr[-300:]}")
    # (with path rules the magic link /proc/<sup>/root is refused first: ELOOP)
    assert lines(r1)[0] == "supmem -1 Permission denied", r1.stderr
    assert lines(r1)[1] in ("suproot -1 Permission denied", "suproot -1 Too many levels of symbolic links")
    r2 = _as_nobody(lxrun_cmd("--backend", backend, "--policy", pol, "--", prog, "supfd"), env=env, cwd=public_dir)
    assert lines(r2) == ["supfd_dir -1 Permission denied", "pidfd_open -1 Operation not permitted", "pidfd_getfd 0"], r2.stderr


def test_setuid_binary_gains_nothing_under_no_new_privs(backend, policy, secprogs, public_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a setuid-root binary")
    suid = os.path.join(public_dir, "suid-attack")
    shutil.copy(secprogs["attack"], suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    native = _as_nobody([suid, "uid"])
    if lines(native) != ["euid 0"]:
        pytest.skip(f"setuid does not take effect on {public_dir} here (nosuid mount?): {native.stdout}")
    r = lx(backend, policy, secprogs["attack"], "asuser", "65534", suid, "uid")
    assert lines(r) == ["euid 65534"], r.stderr
