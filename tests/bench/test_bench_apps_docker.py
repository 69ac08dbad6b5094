"""The apps suite against real Docker: a short run names every runner and row in its JSON, and
a server broken inside its container fails its rows. Needs root, a running dockerd with runc,
the load generators and the apps image (.ci/setup-docker.sh builds it: python -m
bench.apps.image); skips with the reason otherwise. ~1 minute."""
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.apps import docker as D
from bench.apps import image as I
from bench.apps import loadgen as L
from bench.apps import method as M
from bench.apps import workloads as W
from bench.runners import Host


def _docker_ok() -> str | None:
    if os.geteuid() != 0:
        return "needs root (Docker)"
    if not shutil.which("docker"):
        return "docker CLI not installed"
    r = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                       capture_output=True, timeout=30, check=False)
    if r.returncode != 0:
        return "no Docker engine running (bash .ci/setup-docker.sh)"
    if "runc" not in json.loads(r.stdout or b"{}"):
        return "Docker has no runc runtime"
    missing = L.missing_tools({"ab", "redis-benchmark"}, shutil.which)
    if missing:
        return f"load generators missing: apt-get install -y {' '.join(missing)}"
    if not I.Builder().exists(I.tag()):
        return f"image {I.tag()} not built: python -m bench.apps.image (.ci/setup-docker.sh does)"
    return None


pytestmark = pytest.mark.skipif(bool(_docker_ok()), reason=_docker_ok() or "")


def test_quick_run_names_every_runner_and_row(tmp_path):
    runtimes = json.loads(subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                                         capture_output=True, check=True).stdout)
    want = ["runc"] + (["lxbrand"] if "lxbrand" in runtimes else [])
    out = tmp_path / "out"
    assert main(["--only", "redis,nginx", "--runners", ",".join(want), "--rounds", "1",
                 "--quick", "--no-progress", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["suite"] == "apps" and doc["reference"] == "runc"
    assert [r["name"] for r in doc["runners"]] == want
    rows = {w["name"] for w in doc["workloads"]}
    assert rows == {"redis-set", "redis-get", "redis-lrange", "nginx-4k-c1", "nginx-4k-c16",
                    "nginx-1m-c1", "nginx-1m-c16"}
    runc = [s for s in doc["summary"] if s["runner"] == "runc"]
    assert {s["workload"] for s in runc} == rows
    assert all(s["n"] == 1 and s["failed"] == 0 and s["median"] > 0 for s in runc), runc
    assert all("p99_ms" in s["extra"] for s in runc)
    assert "| **nginx-4k-c16**" in (out / "results.md").read_text()
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=lxbench.run={os.getpid()}"],
                          capture_output=True, check=True).stdout.split()
    assert left == []                                  # every container removed


def test_a_server_broken_in_its_container_fails_its_rows():
    """nginx whose files are hidden by an empty tmpfs answers 404: the rows fail with the reason,
    no number is counted, and the container is removed."""
    ctx = W.Ctx(D.Docker(), I.tag(), Path(tempfile.mkdtemp()), quick=True)
    broken = D.AppRunner("broken", "runc", "runc with /srv/www hidden", "",
                         args=("--tmpfs", "/srv/www:ro"))
    broken.avail = broken.detect(Host(), ctx)
    assert broken.avail.ok, broken.avail.reason
    samples, _ = M.measure([W.NginxApp()], [broken], ctx, rounds=1)
    assert samples and all(not s.ok and s.value is None for s in samples)
    assert all("GET /4k.bin: HTTP 404" in s.reason for s in samples), samples[0].reason
    left = subprocess.run(["docker", "ps", "-aq", "--filter", "name=lxbench-nginx-broken"],
                          capture_output=True, check=True).stdout.split()
    assert left == []
