"""Shared fixtures: both backends, the test programs, and running lxrun as a user would."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# bench/ (the harness, not installed) is imported by tests/bench from the repo root
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PROGS = Path(__file__).resolve().parent / "progs"
BACKENDS = ("unotify", "ptrace")


def lxrun_c():
    """The installed `lxrun` (the C front end), or None.  LXRUN_C_TEST names another
    build of it (a checkout's `python3 setup.py build_scripts`: build/scripts-*/lxrun)."""
    import sysconfig
    exe = os.environ.get("LXRUN_C_TEST") or os.path.join(sysconfig.get_path("scripts"), "lxrun")
    try:
        with open(exe, "rb") as f:
            return exe if f.read(4) == b"\x7fELF" else None
    except OSError:
        return None


def lxrun_cmd(*args, frontend="python"):
    """argv for lxrun: the Python implementation, or the C front end users run."""
    if frontend == "c":
        exe = lxrun_c()
        if exe is None:
            pytest.skip("the C front end is not installed (pip install -e . builds it as `lxrun`)")
        return [exe, *args]
    return [sys.executable, "-m", "lxbrand.cli.lxrun", *args]


def run_lxrun(args, prog, **kw):
    """Run `lxrun ARGS -- PROG...`; returns CompletedProcess (text)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(lxrun_cmd(*args, "--", *prog), **kw)


def run_native(prog, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(list(prog), **kw)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def build_c_programs(srcdir, outdir):
    """{name: path} of every srcdir/*.c built static into outdir (skips without a compiler)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    built = {}
    for src in sorted(Path(srcdir).glob("*.c")):
        exe = Path(outdir) / src.stem
        subprocess.run([cc, "-O1", "-static", "-pthread", "-o", str(exe), str(src)], check=True)
        built[src.stem] = str(exe)
    return built


@pytest.fixture(scope="session")
def progs(tmp_path_factory):
    """The C programs of tests/progs, built static (so they need nothing else)."""
    return build_c_programs(PROGS, tmp_path_factory.mktemp("progs"))


def _can_seccomp_notify():
    """False when the engine is not built; a build that refuses to load (stale: its
    sources changed since) raises its ImportError, which says what to do."""
    try:
        from lxbrand import engine
        return engine is not None
    except ModuleNotFoundError as e:
        if e.name != "lxbrand._core":
            raise
        return False


_ENGINE_OK = None
BENCH_TESTS = Path(__file__).resolve().parent / "bench"


@pytest.fixture(autouse=True)
def _engine_importable(request):
    """Skip with the reason when the engine is not built -- except the harness's own tests
    (tests/bench), which need neither the engine nor any peer.  (One conftest.py for the
    whole tree: the test modules import this one by name, and a second conftest.py in a
    subfolder would take its place in sys.modules.)"""
    global _ENGINE_OK
    if BENCH_TESTS in Path(str(request.node.fspath)).resolve().parents:
        return
    if _ENGINE_OK is None:
        _ENGINE_OK = _can_seccomp_notify()
    if not _ENGINE_OK:
        pytest.skip("lxbrand._core is not built (pip install -e .)")


def fresh_env():
    env = dict(os.environ)
    env.setdefault("LC_ALL", "C")
    return env
