"""lxrun's C front end: a plain run starts no Python once the policy's compiled
table is cached, behaves as the Python implementation does, and never uses a
table it cannot trust or that would do less than the policy."""
import os
import signal
import subprocess

import pytest

from conftest import lxrun_c, lxrun_cmd

pytestmark = pytest.mark.skipif(lxrun_c() is None, reason="the C front end is not installed (pip install -e .)")

WHO = ["sh", "-c", "readlink /proc/$PPID/exe"]  # the program's parent is the supervisor


def run(args, prog, cache, extra_env=None):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), **(extra_env or {}))
    env.pop("LXRUN_PYTHON", None)
    return subprocess.run(lxrun_cmd(*args, "--", *prog, frontend="c"), capture_output=True, text=True,
                          env=env, timeout=60)


def supervisor_is_c(r):
    return os.path.basename(r.stdout.strip()) == "lxrun"


def test_cold_then_warm(tmp_path):
    cold = run([], WHO, tmp_path)
    assert cold.returncode == 0 and not supervisor_is_c(cold)  # first run: Python, which writes the table
    assert len(list((tmp_path / "lxbrand").glob("*.pol"))) == 1
    warm = run([], WHO, tmp_path)
    assert warm.returncode == 0 and supervisor_is_c(warm), warm.stdout


def test_untrusted_cache_is_ignored(tmp_path):
    run([], ["true"], tmp_path)
    (blob,) = (tmp_path / "lxbrand").glob("*.pol")
    blob.chmod(0o664)  # writable by the group: someone else could have changed the policy
    r = run([], WHO, tmp_path)
    assert not supervisor_is_c(r)
    blob.chmod(0o600)
    blob.write_bytes(b"\0" * blob.stat().st_size)  # right size, wrong content
    r = run([], WHO, tmp_path)
    assert r.returncode == 0 and not supervisor_is_c(r)


def test_policy_with_handlers_never_cached(tmp_path):
    mod = tmp_path / "h.py"
    mod.write_text("def h(call):\n    return 3\n")
    pol = tmp_path / "p.toml"
    pol.write_text('[[rule]]\nsyscalls = ["getppid"]\naction = "emulate"\nhandler = "h:h"\n')
    for _ in range(2):
        r = run(["--policy", str(pol)], ["sh", "-c", "echo ok"], tmp_path / "c", {"PYTHONPATH": str(tmp_path)})
        assert r.stdout == "ok\n", r.stderr
    assert not list((tmp_path / "c").glob("lxbrand/*.pol"))


def test_personality_policy_runs_without_python(backend, tmp_path):
    """A policy whose personality is identity, era and resource view is cached like any
    table (its blob carries the view): the warm run serves it with no Python at all."""
    pol = tmp_path / "p.toml"
    pol.write_text('[personality]\nmemory = "256M"\ncpus = 1\nrelease = "4.4.0-lx"\n')
    script = ("readlink /proc/$PPID/exe; head -1 /proc/meminfo; nproc; uname -r; "
              "cat /proc/sys/kernel/osrelease; free -m | awk '/^Mem:/ {print $2}'")
    outs = []
    for _ in range(2):  # cold (Python, which writes the blob), then warm (C)
        r = run(["--backend", backend, "--policy", str(pol)], ["sh", "-c", script], tmp_path / "c")
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.splitlines())
    (cold_sup, *cold), (warm_sup, *warm) = outs
    assert os.path.basename(cold_sup) != "lxrun" and os.path.basename(warm_sup) == "lxrun"
    assert cold == warm == [f"{'MemTotal:':<16}{256 * 1024:>8} kB", "1", "4.4.0-lx", "4.4.0-lx", "256"]


def test_changed_policy_file_is_recompiled(backend, progs, tmp_path):
    pol = tmp_path / "p.toml"
    for value in (11, 22, 33):
        pol.write_text(f'[[rule]]\nsyscalls = ["getppid"]\naction = "emulate"\nreturn = {value}\n')
        for _ in range(2):  # cold (Python), then warm (C)
            r = run(["--backend", backend, "--policy", str(pol)], [progs["getppid_loop"], "3"], tmp_path / "c")
            assert r.stdout.strip() == str(value)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGSEGV])
def test_exit_and_signals_warm(backend, progs, tmp_path, sig):
    for _ in range(2):
        r = run(["--backend", backend], [progs["sigself"], str(int(sig))], tmp_path)
        assert r.returncode == -sig
        r = run(["--backend", backend], [progs["sigself"], "0", "42"], tmp_path)
        assert r.returncode == 42


def test_strict_and_kill_warm(backend, progs, tmp_path):
    for _ in range(2):
        r = run(["--backend", backend, "--policy", "strict"], [progs["io_uring"]], tmp_path)
        assert r.stdout.strip() == "io_uring_setup -1 Operation not permitted"
        r = run(["--backend", backend], [progs["x32"]], tmp_path)
        assert r.returncode == -signal.SIGSYS


def test_other_options_and_refusals_go_to_python(tmp_path, progs):
    run([], ["true"], tmp_path)
    r = run(["--kernel-release", "4.4.0-lx"], ["uname", "-r"], tmp_path)
    assert r.stdout == "4.4.0-lx\n"
    r = run(["--policy", "trace-all", "--summary"], ["true"], tmp_path)
    assert "total" in r.stderr
    r = run([], ["/no/such/prog"], tmp_path)
    assert r.returncode == 127 and "No such file" in r.stderr
    bad = tmp_path / "i386"
    data = bytearray(open(progs["sigself"], "rb").read())
    data[18:20] = (3).to_bytes(2, "little")
    bad.write_bytes(bytes(data))
    bad.chmod(0o755)
    r = run([], [str(bad)], tmp_path)
    assert r.returncode == 126 and "x86_64 programs only" in r.stderr
    r = run(["--backend", "bogus"], ["true"], tmp_path)
    assert r.returncode == 2


def test_edited_builtin_profile_is_recompiled(tmp_path, progs):
    """An editable checkout: changing a shipped profile must not leave the C front end
    answering from the table compiled before the change."""
    import lxbrand.policy as pol
    prof = os.path.join(pol._PROFILE_DIR, "strict.toml")
    if not os.access(prof, os.W_OK):
        pytest.skip("the profiles are not writable here (a wheel install)")
    before = open(prof).read()
    for _ in range(2):
        r = run(["--policy", "strict"], [progs["io_uring"]], tmp_path)
        assert r.stdout.strip() == "io_uring_setup -1 Operation not permitted"
    try:
        with open(prof, "w") as f:
            f.write(before.replace('syscalls = ["io_uring_setup", "io_uring_enter", "io_uring_register"]\n'
                                   'action = "deny"\nerrno = "EPERM"',
                                   'syscalls = ["io_uring_setup", "io_uring_enter", "io_uring_register"]\n'
                                   'action = "deny"\nerrno = "ENOSYS"'))
        assert open(prof).read() != before
        for _ in range(2):
            r = run(["--policy", "strict"], [progs["io_uring"]], tmp_path)
            assert r.stdout.strip() == "io_uring_setup -1 Function not implemented", r.stdout
    finally:
        with open(prof, "w") as f:
            f.write(before)
