"""The floors and loop programs the harness builds: built once with gcc, then checked to answer
the trapped call (every getppid returns 1 under a floor) and to leave as the program left."""
import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import shutil

import pytest

from bench import method
from bench.build import BuildError, build_all


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("no C compiler: apt-get install -y gcc libc6-dev")
    try:
        return build_all(tmp_path_factory.mktemp("cache"))
    except BuildError as e:
        pytest.skip(f"cannot build the harness's C programs here: {e}")


def floors(bins):
    return {"unotify": [bins["floor-unotify"]],
            "unotify-nosync": [bins["floor-unotify"], "--no-sync"],
            "ptrace": [bins["floor-ptrace"]]}


def test_build_is_cached(bins):
    again = build_all(bins.dir.parent)
    assert again.dir == bins.dir


def test_loop_reports_its_own_timing(bins):
    r = method.run_command([bins["loop"], "getppid", "1000"])
    assert r.returncode == 0 and r.stdout == b"getppid x 1000: ok\n"
    assert method.parse_timing(r.stderr) > 0
    assert b"ones=0" in r.stderr          # natively getppid is our pid, not 1


def _kernel_lacks(floor):
    """Why this kernel cannot run `floor`, or None.  Asked of the kernel directly, never
    read from the floor's own failure (a bug in the floor prints the same "floor:" lines)."""
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            actions = f.read().split()
    except OSError as e:
        return f"no seccomp filters here (/proc/sys/kernel/seccomp/actions_avail: {e.strerror})"
    want = "trace" if floor == "ptrace" else "user_notif"
    if want not in actions:
        return f"this kernel's seccomp has no {want} action (actions_avail: {' '.join(actions)})"
    if floor == "ptrace":
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as f:
                if f.read().strip() == "3":
                    return "ptrace is disabled (kernel.yama.ptrace_scope = 3)"
        except OSError:
            pass  # no Yama: a parent may trace its child
    return None


@pytest.mark.parametrize("floor", ["unotify", "unotify-nosync", "ptrace"])
def test_floor_answers_every_trapped_call(bins, floor):
    why = _kernel_lacks(floor)
    if why:
        pytest.skip(why)
    argv = floors(bins)[floor] + [bins["loop"], "getppid", "1000"]
    r = method.run_command(argv, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == b"getppid x 1000: ok\n"
    assert b"ops=1000 ones=1000" in r.stderr


@pytest.mark.parametrize("floor", ["unotify", "ptrace"])
def test_floor_leaves_as_the_program_left(bins, floor):
    r = method.run_command(floors(bins)[floor] + ["/bin/sh", "-c", "exit 3"], timeout=60)
    assert r.returncode == 3
    r = method.run_command(floors(bins)[floor] + ["/bin/sh", "-c", "kill -TERM $$"], timeout=60)
    assert r.returncode == -15
