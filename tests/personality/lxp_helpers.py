"""Helpers shared by the personality tests (a plain module, not a conftest: the
tests import `conftest` from tests/ by name)."""
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

PROGS = Path(__file__).resolve().parent / "progs"
BACKENDS = ("unotify", "ptrace")


@lru_cache(maxsize=None)
def progs():
    """tests/personality/progs/*.c built static, {stem: path}; None without a compiler."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="lxp-progs-"))
    built = {}
    for src in sorted(PROGS.glob("*.c")):
        exe = out / src.stem
        subprocess.run([cc, "-O1", "-static", "-o", str(exe), str(src)], check=True)
        built[src.stem] = str(exe)
    return built


def lxrun(args, prog, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([sys.executable, "-m", "lxbrand.cli.lxrun", *args, "--", *prog], **kw)


def native(prog, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(list(prog), **kw)


def sh(args, script, **kw):
    """`sh -c script` under lxrun ARGS; asserts success, returns stdout."""
    r = lxrun(args, ["sh", "-c", script], **kw)
    assert r.returncode == 0, (args, script, r.stdout, r.stderr)
    return r.stdout


def host_cpus():
    return len(os.sched_getaffinity(0))
