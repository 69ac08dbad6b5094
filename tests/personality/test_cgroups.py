"""cgroup limit files (--memory/--cpus): found where the JVM, Go and libuv look
(/proc/self/cgroup + /proc/self/mountinfo), on the host's own layout; checked with
real readers where installed and on injected v1/v2/container layouts."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lxbrand import _core
from lxbrand.engine import apply_policy
from lxbrand.errors import PolicyError
from lxbrand.personality import Personality
from lxbrand.policy import load_policy
from lxp_helpers import BACKENDS, lxrun, native

MEM = ["--memory", "256M"]
CPU1 = ["--cpus", "1"]

# Reads the limit files as the JVM and automaxprocs find them: the controller's line
# of /proc/self/cgroup, the cgroup mount holding it, mount point + path below its root.
READER = r'''
import json, os, sys
cg = {}
for line in open("/proc/self/cgroup"):
    hid, ctrls, path = line.rstrip("\n").split(":", 2)
    for c in (ctrls.split(",") if ctrls else ["<v2>"]):
        cg[c] = path
dirs = {}
for line in open("/proc/self/mountinfo"):
    left, right = line.split(" - ")
    f, r = left.split(), right.split()
    opts = r[2].split(",") if r[0] == "cgroup" else ["<v2>"] if r[0] == "cgroup2" else []
    for c in opts:
        if c in cg and cg[c].startswith(f[3]):
            dirs.setdefault(c, f[4] + "/" + cg[c][len(f[3]):].lstrip("/"))
if sys.argv[1:] == ["dirs"]:
    print(json.dumps({c: d for c, d in dirs.items() if c in ("memory", "cpu", "cpuset", "<v2>")}))
    sys.exit()
def rd(c, name):
    try:
        return open(os.path.join(dirs[c], name)).read().strip()
    except (OSError, KeyError):
        return None
print(json.dumps({n: rd(c, n) for c, n in [
    ("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.usage_in_bytes"), ("memory", "memory.max_usage_in_bytes"),
    ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"), ("cpuset", "cpuset.cpus"),
    ("cpuset", "cpuset.effective_cpus"), ("<v2>", "memory.max"), ("<v2>", "memory.current"),
    ("<v2>", "cpu.max"), ("<v2>", "cpuset.cpus.effective")]}))
'''


def _read(args):
    r = lxrun(args, ["python3", "-c", READER]) if args is not None else native(["python3", "-c", READER])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def host_files():
    got = _read(None)
    if all(v is None for v in got.values()):
        pytest.skip("no cgroup limit file reachable through /proc/self/cgroup and mountinfo here")
    return got


@pytest.mark.parametrize("backend", BACKENDS)
def test_limit_files_follow_the_options(backend, host_files):
    out = _read(["--backend", backend, *MEM, "--cpus", "1.5"])
    if host_files["memory.limit_in_bytes"] is not None:          # cgroup v1 (this host)
        assert out["memory.limit_in_bytes"] == str(256 << 20) != host_files["memory.limit_in_bytes"]
        if host_files["memory.memsw.limit_in_bytes"] is not None:
            assert out["memory.memsw.limit_in_bytes"] == str(256 << 20)
        used, peak = int(out["memory.usage_in_bytes"]), int(out["memory.max_usage_in_bytes"])
        assert 0 < used <= peak < 256 << 20
        period = int(host_files["cpu.cfs_period_us"])
        assert out["cpu.cfs_period_us"] == host_files["cpu.cfs_period_us"]   # the real one
        assert out["cpu.cfs_quota_us"] == str(int(1.5 * period)) != host_files["cpu.cfs_quota_us"]
        assert out["cpuset.cpus"] == out["cpuset.effective_cpus"] == \
            ("0-1" if len(cpus_of(host_files["cpuset.cpus"])) >= 2 else "0")
    if host_files["memory.max"] is not None:                     # cgroup v2 with controllers
        assert out["memory.max"] == str(256 << 20)
        assert out["cpu.max"].split()[0] == str(int(1.5 * int(host_files["cpu.max"].split()[1])))


def cpus_of(text):
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def test_no_limits_no_cgroup_files_served(host_files):
    out = _read(["--kernel-release", "5.4.0-lx"])
    for k in ("memory.limit_in_bytes", "cpu.cfs_quota_us", "cpuset.cpus", "memory.max", "cpu.max"):
        assert out[k] == host_files[k]


def test_cgroups_false_keeps_the_kernels_files(host_files, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[personality]\nmemory = "256M"\ncpus = 1\ncgroups = false\n')
    out = _read(["--policy", str(pol)])
    for k in ("memory.limit_in_bytes", "cpu.cfs_quota_us", "cpuset.cpus", "memory.max", "cpu.max"):
        assert out[k] == host_files[k]


def test_bad_cgroups_value_is_a_policy_error():
    with pytest.raises(PolicyError, match="cgroups"):
        Personality.from_dict({"cgroups": "yes"})


def test_oci_containers_keep_their_real_cgroup():
    """The container's cgroup enforces the limits: its files are already right, and
    its usage is what the view shows."""
    p = Personality.from_oci({"linux": {"resources": {"memory": {"limit": 256 << 20}}}})
    pol = load_policy("default")
    p.apply(pol)
    f = pol.personality.view_flags
    assert not f & _core.PV_CGROUPS and f & _core.PV_USAGE_CGROUP
    pol = load_policy("default")
    Personality(memory="256M").apply(pol)
    f = pol.personality.view_flags
    assert f & _core.PV_CGROUPS and not f & _core.PV_USAGE_CGROUP


# -- real readers ------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_jvm_sizes_itself_from_the_quota(backend, host_files):
    """OpenJDK reads cpu.cfs_quota_us/cpu.max (its "CPU Quota" line exists only from
    there) and sizes its heap to a quarter of the limit."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java here (apt-get install openjdk-17-jre-headless)")
    r = lxrun(["--backend", backend, "--memory", "1G", *CPU1], [java, "-XshowSettings:system", "-version"])
    assert r.returncode == 0, r.stderr
    if "Provider: cgroupv" not in r.stderr:
        pytest.skip(f"this JDK reports no cgroup provider: {r.stderr.splitlines()[:3]}")
    assert re.search(r"CPU Quota: 100000us", r.stderr), r.stderr
    assert re.search(r"Effective CPU Count: 1\b", r.stderr), r.stderr
    nat = native([java, "-XshowSettings:system", "-version"]).stderr
    assert "CPU Quota: 100000us" not in nat
    r = lxrun(["--backend", backend, "--memory", "1G", *CPU1], [java, "-XX:+PrintFlagsFinal", "-version"])
    heap = int(re.search(r"\bMaxHeapSize\s*=\s*(\d+)", r.stdout)[1])
    assert heap == (1 << 30) // 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_node_constrained_memory(backend, host_files):
    """libuv (uv_get_constrained_memory) reads memory.limit_in_bytes or memory.max
    under the path of /proc/self/cgroup."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node here (apt-get install nodejs)")
    probe = "console.log(typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 'none')"
    if native([node, "-e", probe]).stdout.strip() == "none":
        pytest.skip("node < 19 has no process.constrainedMemory()")
    r = lxrun(["--backend", backend, *MEM], [node, "-e", probe])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(256 << 20)


# -- layouts, injected -------------------------------------------------------------------
# A host of our own making (the view's host_root stands for "/"): /proc/self/cgroup,
# /proc/self/mountinfo, the cgroup directories with the files the kernel would have.

def _mi(root, point, fstype, opts):
    return f"30 23 0:28 {root} {point} rw,relatime - {fstype} {fstype} {opts}\n"


def fake_host(tmp_path, cgroup, mountinfo, present=(), links=None, contents=None):
    (tmp_path / "proc/self").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    (tmp_path / "proc/self/mountinfo").write_text(mountinfo)
    for f in present:
        path = tmp_path / f.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((contents or {}).get(f, "kernel's\n"))
    for alias, target in (links or {}).items():
        (tmp_path / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (tmp_path / alias.lstrip("/")).symlink_to(target.rsplit("/", 1)[1])
    return str(tmp_path).encode()


def view(root, flags=_core.PV_MEMORY | _core.PV_CPUS | _core.PV_CGROUPS, memory=256 << 20, cpus=1.0):
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    sup.set_persona(flags, memory=memory if flags & _core.PV_MEMORY else 0,
                    cpus=cpus if flags & _core.PV_CPUS else 0, host_root=root)
    return sup


V1_HOST = (_mi("/", "/sys/fs/cgroup/cpu", "cgroup", "rw,cpu") + _mi("/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory")
           + _mi("/", "/sys/fs/cgroup/systemd", "cgroup", "rw,name=systemd")
           + _mi("/", "/sys/fs/cgroup/unified", "cgroup2", "rw"))


def test_layout_v1_hybrid_like_this_host(tmp_path):
    root = fake_host(tmp_path, "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n", V1_HOST)
    assert view(root).persona_cgroup_dirs() == [
        (1, frozenset({"cpu"}), "/sys/fs/cgroup/cpu"),
        (1, frozenset({"memory"}), "/sys/fs/cgroup/memory/process_api/abc"),
        (2, frozenset(), "/sys/fs/cgroup/unified")]


def test_layout_comounted_controllers_and_their_symlinks(tmp_path):
    mi = _mi("/", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct")
    root = fake_host(tmp_path, "2:cpu,cpuacct:/user.slice\n", mi,
                     links={"/sys/fs/cgroup/cpu": "/sys/fs/cgroup/cpu,cpuacct"})
    assert [d for _, _, d in view(root).persona_cgroup_dirs()] == [
        "/sys/fs/cgroup/cpu,cpuacct/user.slice", "/sys/fs/cgroup/cpu/user.slice"]


def test_layout_v2_and_a_container_root(tmp_path):
    root = fake_host(tmp_path / "a", "0::/user.slice/session-1.scope\n",
                     _mi("/", "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate"))
    assert view(root).persona_cgroup_dirs() == [(2, frozenset(), "/sys/fs/cgroup/user.slice/session-1.scope")]
    # a v1 container: the mount shows only the container's part of the hierarchy
    mi = _mi("/docker/abc", "/sys/fs/cgroup/memory", "cgroup", "ro,memory") + \
        _mi("/docker/abc", "/sys/fs/cgroup/cpu", "cgroup", "ro,cpu")
    root = fake_host(tmp_path / "b", "4:memory:/docker/abc/sub\n1:cpu:/elsewhere\n", mi)
    assert view(root).persona_cgroup_dirs() == [(1, frozenset({"memory"}), "/sys/fs/cgroup/memory/sub")]
    root = fake_host(tmp_path / "c", "4:memory:/docker/abc\n",
                     _mi("/docker/abc", "/sys/fs/cgroup/my\\040mem", "cgroup", "rw,memory"))
    assert view(root).persona_cgroup_dirs() == [(1, frozenset({"memory"}), "/sys/fs/cgroup/my mem")]


def test_files_served_are_those_the_kernel_has_with_kernel_values(tmp_path):
    d = "/sys/fs/cgroup/user.slice"
    root = fake_host(tmp_path, "0::/user.slice\n", _mi("/", "/sys/fs/cgroup", "cgroup2", "rw"),
                     present=[f"{d}/memory.max", f"{d}/memory.current", f"{d}/cpu.max", f"{d}/memory.swap.max"],
                     contents={f"{d}/cpu.max": "max 50000\n"})
    sup = view(root, memory=(256 << 20) + 100, cpus=1.5)
    got = {n: sup.persona_read(f"{d}/{n}".encode())
           for n in ("memory.max", "memory.current", "memory.swap.max", "cpu.max", "memory.peak",
                     "cpuset.cpus.effective", "memory.limit_in_bytes")}
    ncpu = min(2, len(os.sched_getaffinity(0)))
    assert got == {"memory.max": b"%d\n" % (256 << 20),       # rounded down to a page
                   "memory.current": got["memory.current"],    # the sandbox's usage (this process's tree)
                   "memory.swap.max": b"0\n",
                   "cpu.max": b"75000 50000\n",             # N x the cgroup's own period
                   "memory.peak": None, "cpuset.cpus.effective": None,   # not there: not served
                   "memory.limit_in_bytes": None}            # a v1 name in a v2 directory
    assert int(got["memory.current"]) % 1024 == 0 and ncpu >= 1
    # memory only: no cpu file
    sup = view(root, flags=_core.PV_MEMORY | _core.PV_CGROUPS)
    assert sup.persona_read(f"{d}/cpu.max".encode()) is None
    assert sup.persona_read(f"{d}/memory.max".encode()) == b"%d\n" % (256 << 20)
    # cgroups off (the OCI runtime): none
    sup = view(root, flags=_core.PV_MEMORY)
    assert sup.persona_read(f"{d}/memory.max".encode()) is None


def test_python_reader_agrees_with_the_views_directories():
    """The view's idea of the directories is the reader's (same host files)."""
    got = subprocess.run(["python3", "-c", READER, "dirs"], capture_output=True, text=True, check=True)
    mine = {d for _, _, d in view(b"").persona_cgroup_dirs()}
    for d in json.loads(got.stdout).values():
        assert d.rstrip("/") in mine


def test_no_python_runs_for_the_cgroup_files():
    pol = load_policy("default")
    Personality(memory="256M", cpus=1).apply(pol)
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    assert apply_policy(pol, sup) == {}
