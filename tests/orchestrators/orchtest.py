"""Helpers of the orchestrator tests: the skips (each saying why and what sets it up), and the
traces a container may leave on the host (mounts, processes, runtime state, cgroups), so a
failed create can be shown to leave none.

Imported by name (a conftest.py here would shadow tests/conftest.py)."""
import glob
import os
import shutil
import subprocess

import pytest

SETUP = "bash .ci/setup-orchestrators.sh (after .ci/setup and .ci/setup-docker.sh)"
IMAGE = "lxbrand-test/busybox"
CRI_IMAGE = f"localhost/{IMAGE}:latest"      # as .ci/setup-orchestrators.sh imports it
PODMAN_CONF = "/etc/lxbrand-cri/containers.conf"


def need_root():
    if os.geteuid() != 0:
        pytest.skip("containers need root (namespaces, mounts, cgroups)")


def leftovers(key):
    """Where KEY (a container or pod id) still shows on the host: mounts, processes (by their
    command line), runtime state directories and cgroup directories."""
    found = []
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if key in line]
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                if key.encode() in f.read():
                    found.append(f"process {p.split('/')[2]}")
        except OSError:
            pass
    for root in ("/run/containerd/runc", "/run/lxbrand", "/run/runc"):
        found += [f"state {d}" for d in glob.glob(f"{root}/*/{key}") + glob.glob(f"{root}/{key}")]
    for d in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        for sub in ("", "*/", "*/*/"):
            found += [f"cgroup {c}" for c in glob.glob(f"{d}{sub}*{key}*")]
    return sorted(set(found))


def run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, **kw)


def which_or_skip(tool, package):
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package}; {SETUP})")
    return path
