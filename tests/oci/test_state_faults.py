"""The state directory (--root) read-only or full: create fails with an error that
names the place (on stderr and in the --log JSON that containerd shows), and leaves
no state, pid-file, cgroup or process behind."""
import json
import subprocess

import pytest

from ocitest import (busybox_rootfs, bundle, need_busybox, need_engine, need_root,  # noqa: F401
                     run_cli)
from test_bundle import leftovers

pytestmark = [need_root, need_busybox, need_engine]


@pytest.fixture
def small_fs(tmp_path):
    mounted = []

    def make(name, opts):
        d = tmp_path / name
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], check=True)
        mounted.append(d)
        return d
    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)])


def _create(root, bundle_dir, tmp_path, cid):
    log = tmp_path / f"{cid}.log"
    r = run_cli(root, "--log", str(log), "--log-format", "json", "create", "--bundle", str(bundle_dir),
                "--pid-file", str(tmp_path / f"{cid}.pid"), cid)
    last = json.loads(log.read_text().splitlines()[-1]) if log.exists() else {}
    return r, last


def test_read_only_state_dir(bundle, small_fs, tmp_path):
    root = small_fs("ro", "ro,size=1m")
    r, last = _create(root, bundle(["true"]), tmp_path, "ro1")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{root}/ro1" in r.stderr and "Read-only file system" in r.stderr
    assert last.get("level") == "error" and "Read-only file system" in last["msg"]
    assert not (tmp_path / "ro1.pid").exists() and leftovers("ro1") == []


def test_full_state_dir(bundle, small_fs, tmp_path):
    root = small_fs("full", "size=64k")
    subprocess.run(["dd", "if=/dev/zero", f"of={root}/fill", "bs=4k"], capture_output=True)
    r, last = _create(root, bundle(["true"]), tmp_path, "full1")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "No space left on device" in r.stderr and f"{root}/full1" in r.stderr, r.stderr
    assert last.get("level") == "error"
    assert sorted(p.name for p in root.iterdir()) == ["fill"]  # no half-made state
    assert not (tmp_path / "full1.pid").exists() and leftovers("full1") == []
