"""Helpers and fixtures for the OCI runtime tests: a busybox bundle, the CLI as a subprocess,
and the skips (with reasons) for what needs root.

Imported by name: a conftest.py here would shadow tests/conftest.py, which the engine's
tests import as `conftest`."""
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "/bin/busybox"


def lxbrand_cmd(root, *args):
    return [sys.executable, "-m", "lxbrand.cli.runtime", "--root", str(root), *args]


def run_cli(root, *args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    kw.setdefault("env", env)
    return subprocess.run(lxbrand_cmd(root, *args), **kw)


def _static_busybox():
    if not os.path.exists(BUSYBOX):
        return False
    with open(BUSYBOX, "rb") as f:
        head = f.read(4096)
    return b"/lib64/ld-linux" not in head  # no interpreter: static


need_root = pytest.mark.skipif(os.geteuid() != 0,
                               reason="building containers needs root (mounts, namespaces)")
need_busybox = pytest.mark.skipif(not _static_busybox(),
                                  reason="needs a static /bin/busybox (apt-get install busybox-static)")


def _engine_ok():
    try:
        import lxbrand._core  # noqa: F401
        return True
    except ImportError:
        return False


need_engine = pytest.mark.skipif(not _engine_ok(),
                                 reason="the C engine (lxbrand._core) is not built: pip install -e .")


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bbroot") / "rootfs"
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home"):
        (root / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            (root / "bin" / a).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "user:x:1000:1000:user:/home:/bin/sh\n")
    return root


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    """A bundle dir with config.json from `lxbrand spec`, adjusted by `make(args, **over)`."""
    b = tmp_path / "bundle"
    b.mkdir()
    os.symlink(busybox_rootfs, b / "rootfs")
    r = run_cli(tmp_path / "state", "spec", "--bundle", str(b))
    assert r.returncode == 0, r.stderr
    base = json.loads((b / "config.json").read_text())

    def make(args, terminal=False, mutate=None):
        spec = json.loads(json.dumps(base))
        spec["process"]["args"] = list(args)
        spec["process"]["terminal"] = terminal
        spec["process"]["env"] = ["PATH=/bin", "TERM=xterm"]
        if mutate:
            mutate(spec)
        (b / "config.json").write_text(json.dumps(spec))
        return b
    return make


@pytest.fixture
def state_root(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def cid(state_root):
    """A fresh container id; whatever a failing test left under it is force-deleted."""
    c = "t" + uuid.uuid4().hex[:10]
    yield c
    if (state_root / c).exists():
        run_cli(state_root, "delete", "--force", c)
