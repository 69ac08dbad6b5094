"""A real distribution in a container: a debootstrap'ed Debian (minbase + python3),
run under runc and under lxbrand with outputs compared, and the personality seen
by python3.  .ci/setup-docker.sh builds the image (lxbrand-test/debian)."""
import os
import subprocess

import pytest

from test_docker import RUNTIME, _docker_ready, docker

IMAGE = os.environ.get("LXBRAND_DEBIAN_IMAGE", "lxbrand-test/debian")


def _ready():
    why = _docker_ready()
    if why:
        return why
    r = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=20)
    return None if r.returncode == 0 else f"image {IMAGE} is missing (bash .ci/setup-docker.sh builds it)"


_why = _ready()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

SCRIPT = r"""
import hashlib, json, os, sqlite3, subprocess, threading, pwd
out = [None] * 4
def work(i):
    out[i] = hashlib.sha256(str(i).encode() * 1000).hexdigest()[:8]
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(out)
print(sqlite3.connect(":memory:").execute("select 6*7").fetchone()[0])
print(subprocess.run(["sh", "-c", "echo child $((1+2))"], capture_output=True, text=True).stdout.strip())
print(pwd.getpwuid(os.getuid()).pw_name, os.getcwd(), sorted(os.listdir("/"))[:5])
print(len(subprocess.run(["dpkg-query", "-W"], capture_output=True, text=True).stdout.splitlines()) > 50)
"""


@pytest.mark.parametrize("user", ["0", "65534"])
def test_python3_same_as_runc(user):
    args = ["--rm", "--user", user, "-w", "/tmp", IMAGE, "python3", "-c", SCRIPT]
    runc = docker("run", "--runtime=runc", *args)
    lx = docker("run", f"--runtime={RUNTIME}", *args)
    assert runc.returncode == 0, runc.stderr
    assert (lx.returncode, lx.stdout, lx.stderr) == (runc.returncode, runc.stdout, runc.stderr)


def test_python3_sees_the_container_limits():
    r = docker("run", f"--runtime={RUNTIME}", "--rm", "--memory", "256m", "--cpus", "1", IMAGE, "python3", "-c",
               "import os; print(os.cpu_count(), len(os.sched_getaffinity(0)));"
               "print([l.split()[1] for l in open('/proc/meminfo') if l.startswith('MemTotal')][0])")
    assert r.stdout.split() == ["1", "1", "262144"], (r.stdout, r.stderr)
