"""cgroup resource files written for linux.resources, on fake cgroup directories (no root,
no particular cgroup version on the host): v1 as on the CI machine, v2 as on modern hosts;
then `create` with this host's own cgroups."""
import json
import os
import subprocess

import pytest

from lxbrand.oci import cgroups
from ocitest import (busybox_rootfs, bundle, cid, need_busybox, need_engine,  # noqa: F401
                     need_root, run_cli, state_root)
from test_bundle import c_launcher  # noqa: F401


def fake(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for f, v in files.items():
        (d / f).write_text(v)
    return d


def read(d, f):
    return (d / f).read_text()


RES = {"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
       "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
       "pids": {"limit": 20}, "blockIO": {"weight": 300},
       "devices": [{"allow": False, "access": "rwm"},
                   {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}


def test_v1_files(tmp_path):
    mem = fake(tmp_path, "memory", {"memory.limit_in_bytes": "", "memory.memsw.limit_in_bytes":
                                    str(2**63 - 4096), "memory.soft_limit_in_bytes": ""})
    cpu = fake(tmp_path, "cpu", {"cpu.shares": "", "cpu.cfs_quota_us": "", "cpu.cfs_period_us": ""})
    cpuset = fake(tmp_path, "cpuset", {"cpuset.cpus": "", "cpuset.mems": ""})
    pids = fake(tmp_path, "pids", {"pids.max": ""})
    blkio = fake(tmp_path, "blkio", {"blkio.weight": ""})
    dev = fake(tmp_path, "devices", {"devices.allow": "", "devices.deny": ""})
    paths = {"memory": str(mem), "cpu,cpuacct": str(cpu), "cpuset": str(cpuset),
             "pids": str(pids), "blkio": str(blkio), "devices": str(dev)}
    cgroups.apply(paths, RES, v2_only=False)
    assert read(mem, "memory.limit_in_bytes") == str(64 << 20)
    assert read(mem, "memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(mem, "memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(cpu, "cpu.shares") == "512"
    assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("50000", "100000")
    assert read(cpuset, "cpuset.cpus") == "0"
    assert read(pids, "pids.max") == "20"
    assert read(blkio, "blkio.weight") == "300"
    # each write replaces the file here; the kernel appends rules: the last one written
    assert read(dev, "devices.allow") == "c 5:2 rwm"  # runc's default devices come last
    assert read(dev, "devices.deny") == "a"


def test_v1_unlimited_and_no_swap_accounting(tmp_path):
    mem = fake(tmp_path, "memory", {"memory.limit_in_bytes": ""})
    pids = fake(tmp_path, "pids", {"pids.max": ""})
    cgroups.apply({"memory": str(mem), "pids": str(pids)},
                  {"memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0}}, v2_only=False)
    assert read(mem, "memory.limit_in_bytes") == "-1"
    assert not (mem / "memory.memsw.limit_in_bytes").exists()  # not written when absent
    assert read(pids, "pids.max") == "max"


def test_v2_conversions(tmp_path):
    d = fake(tmp_path, "unified", {f: "" for f in (
        "memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus",
        "cpuset.mems", "pids.max", "io.weight")})
    cgroups.apply({"unified": str(d)}, RES, v2_only=True)
    assert read(d, "memory.max") == str(64 << 20)
    assert read(d, "memory.swap.max") == str(64 << 20)  # v1 swap is memory+swap
    assert read(d, "memory.low") == str(32 << 20)
    assert read(d, "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    assert read(d, "cpu.max") == "50000 100000"
    assert read(d, "pids.max") == "20"
    assert read(d, "io.weight") == "300"


def test_write_error_names_the_file(tmp_path):
    with pytest.raises(cgroups.OCIError, match="pids.max"):
        cgroups.apply({"pids": str(tmp_path / "missing")}, {"pids": {"limit": 5}},
                      v2_only=False)


def test_hierarchies_of_this_host():
    h = cgroups.hierarchies()
    assert h, "no cgroup hierarchy mounted"
    for key, mnt in h.items():
        assert os.path.isdir(mnt), (key, mnt)


# --- every linux.resources field is applied, or the create fails naming it (runc's rule:
# "cannot set hugetlb limit: container could not join or create cgroup"); found with the
# runtime-tools validation suite (linux_cgroups_hugetlb, _network, _blkio ran unlimited)

V1_FILES = {
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.kmem.tcp.limit_in_bytes", "memory.swappiness", "memory.oom_control",
               "memory.use_hierarchy"],
    "cpu,cpuacct": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.cfs_burst_us",
                    "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"],
    "blkio": ["blkio.weight", "blkio.leaf_weight", "blkio.weight_device",
              "blkio.leaf_weight_device", "blkio.throttle.read_bps_device",
              "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
              "blkio.throttle.write_iops_device"],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes",
                "hugetlb.1GB.limit_in_bytes"],
    "net_cls,net_prio": ["net_cls.classid", "net_prio.ifpriomap"],
    "rdma": ["rdma.max"],
}

FULL = {"memory": {"limit": 64 << 20, "swap": 128 << 20, "kernel": 1 << 20, "kernelTCP": 2 << 20,
                   "swappiness": 10, "disableOOMKiller": True, "useHierarchy": True},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000,
                "realtimePeriod": 1000000, "realtimeRuntime": 950000, "idle": 1},
        "blockIO": {"weight": 300, "leafWeight": 200,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 400}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 80}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 90}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}, {"pageSize": "1GB", "limit": 0}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}


def v1_tree(tmp_path, drop=(), files=V1_FILES):
    paths = {}
    for key, names in files.items():
        if key in drop:
            continue
        paths[key] = str(fake(tmp_path, key, {n: "" for n in names}))
    return paths


def test_v1_every_field(tmp_path):
    paths = v1_tree(tmp_path)
    cgroups.apply(paths, FULL, v2_only=False)
    got = {f"{k}/{n}": read(tmp_path / k, n) for k, names in V1_FILES.items() for n in names}
    assert got == {
        "memory/memory.limit_in_bytes": str(64 << 20),
        "memory/memory.memsw.limit_in_bytes": str(128 << 20),
        "memory/memory.soft_limit_in_bytes": "",
        "memory/memory.kmem.tcp.limit_in_bytes": str(2 << 20),
        "memory/memory.swappiness": "10", "memory/memory.oom_control": "1",
        "memory/memory.use_hierarchy": "1",
        "cpu,cpuacct/cpu.shares": "512", "cpu,cpuacct/cpu.cfs_quota_us": "50000",
        "cpu,cpuacct/cpu.cfs_period_us": "100000", "cpu,cpuacct/cpu.cfs_burst_us": "1000",
        "cpu,cpuacct/cpu.rt_period_us": "1000000", "cpu,cpuacct/cpu.rt_runtime_us": "950000",
        "cpu,cpuacct/cpu.idle": "1",
        "blkio/blkio.weight": "300", "blkio/blkio.leaf_weight": "200",
        "blkio/blkio.weight_device": "8:0 500", "blkio/blkio.leaf_weight_device": "8:0 400",
        "blkio/blkio.throttle.read_bps_device": "8:0 600",
        "blkio/blkio.throttle.write_bps_device": "8:0 700",
        "blkio/blkio.throttle.read_iops_device": "8:0 80",
        "blkio/blkio.throttle.write_iops_device": "8:16 90",
        "hugetlb/hugetlb.2MB.limit_in_bytes": str(4 << 21),
        "hugetlb/hugetlb.2MB.rsvd.limit_in_bytes": str(4 << 21),  # reservations too
        "hugetlb/hugetlb.1GB.limit_in_bytes": "0",
        "net_cls,net_prio/net_cls.classid": "1048577",
        "net_cls,net_prio/net_prio.ifpriomap": "eth0 500",
        "rdma/rdma.max": "mlx5_1 hca_handle=3 hca_object=10000",
    }
    assert not (tmp_path / "memory" / "memory.kmem.limit_in_bytes").exists()  # kernel: ignored


def test_v1_bfq_weights(tmp_path):
    blkio = fake(tmp_path, "blkio", {"blkio.bfq.weight": "", "blkio.bfq.weight_device": ""})
    cgroups.apply({"blkio": str(blkio)}, {"blockIO": {
        "weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}}, v2_only=False)
    assert read(blkio, "blkio.bfq.weight") == "300"
    assert read(blkio, "blkio.bfq.weight_device") == "8:0 500"


@pytest.mark.parametrize("drop, res, field", [
    ("hugetlb", {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]},
     r"hugepageLimits\[0\]: the hugetlb cgroup controller is not mounted"),
    ("net_cls,net_prio", {"network": {"classID": 7}}, "network.classID: the net_cls"),
    ("net_cls,net_prio", {"network": {"priorities": [{"name": "lo", "priority": 1}]}},
     r"network.priorities\[0\]: the net_prio"),
    ("blkio", {"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}},
     "blockIO: the blkio"),
    ("memory", {"memory": {"limit": 1 << 30}}, "memory: the memory"),
    ("cpu,cpuacct", {"cpu": {"quota": 1000}}, "cpu: the cpu"),
    ("rdma", {"rdma": {"mlx5_1": {"hcaHandles": 1}}}, "rdma.mlx5_1: the rdma"),
    ("pids", {"pids": {"limit": 10}}, "pids: the pids"),
])
def test_v1_missing_controller_is_an_error_naming_the_field(tmp_path, drop, res, field):
    paths = v1_tree(tmp_path, drop=(drop,), files=dict(V1_FILES, pids=["pids.max"]))
    with pytest.raises(cgroups.OCIError, match="linux.resources." + field):
        cgroups.apply(paths, res, v2_only=False)


@pytest.mark.parametrize("res, field", [
    ({"blockIO": {"weight": 300}}, "blockIO.weight: cannot apply 300: .*blkio.bfq.weight does not exist"),
    ({"blockIO": {"leafWeight": 300}}, "blockIO.leafWeight: cannot apply"),
    ({"hugepageLimits": [{"pageSize": "64KB", "limit": 1}]}, r"hugepageLimits\[0\]: cannot apply"),
    ({"memory": {"limit": 1 << 30, "swap": 2 << 30}}, "memory.swap: this kernel does not account swap"),
])
def test_v1_missing_file_is_an_error_naming_the_field(tmp_path, res, field):
    # a blkio without CFQ/BFQ (this VM's disks: mq-deadline), hugetlb without 64KB pages,
    # memory without swap accounting
    files = {"blkio": ["blkio.throttle.read_bps_device"], "hugetlb": ["hugetlb.2MB.limit_in_bytes"],
             "memory": ["memory.limit_in_bytes"]}
    with pytest.raises(cgroups.OCIError, match="linux.resources." + field):
        cgroups.apply(v1_tree(tmp_path, files=files), res, v2_only=False)


def test_unset_values_need_no_controller(tmp_path):
    # what Docker sends for a container without limits: zeros mean unset (as in runc)
    docker = {"memory": {"disableOOMKiller": False, "swappiness": -1, "kernel": 0},
              "cpu": {"shares": 0}, "blockIO": {"weight": 0}, "network": {"classID": 0},
              "hugepageLimits": []}
    cgroups.apply({}, docker, v2_only=False)


@pytest.mark.parametrize("res, msg", [
    ({"memory": {"swappiness": 101}}, "memory.swappiness: must be 0-100"),
    ({"blockIO": {"weightDevice": {"major": 8}}}, "blockIO.weightDevice: must be an array"),
    ({"blockIO": {"weightDevice": [{"major": 8, "weight": 5}]}},
     r"weightDevice\[0\]: major and minor are required"),
    ({"cpu": {"quota": "50000"}}, "cpu.quota: must be an integer"),
    ({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}, r"pageSize: must be like 2MB"),
    ({"unified": {"memory.high": "1G"}}, "unified: holds cgroup v2 files"),
])
def test_v1_bad_values_named(tmp_path, res, msg):
    with pytest.raises(cgroups.OCIError, match=msg):
        cgroups.apply(v1_tree(tmp_path), res, v2_only=False)


def test_v2_every_field(tmp_path):
    names = ["memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle",
             "io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "rdma.max",
             "memory.high", "cgroup.max.descendants"]
    d = fake(tmp_path, "unified", {n: "" for n in names})
    res = {"memory": {"limit": 64 << 20, "swap": 128 << 20, "kernel": 5},
           "cpu": {"shares": 2, "quota": 50000, "period": 100000, "burst": 1000, "idle": 1},
           "blockIO": {"weight": 300, "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 90}]},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}],
           "rdma": {"mlx5_1": {"hcaObjects": 10}}, "unified": {"memory.high": "1073741824", "cgroup.max.descendants": "5"}}
    cgroups.apply({"unified": str(d)}, res, v2_only=True)
    assert {n: read(d, n) for n in names} == {
        "memory.max": str(64 << 20), "memory.swap.max": str(64 << 20), "cpu.weight": "1",
        "cpu.max": "50000 100000", "cpu.max.burst": "1000", "cpu.idle": "1", "io.weight": "300",
        "io.max": "8:16 wiops=90", "hugetlb.2MB.max": str(4 << 21),
        "hugetlb.2MB.rsvd.max": str(4 << 21), "rdma.max": "mlx5_1 hca_object=10",
        "memory.high": "1073741824", "cgroup.max.descendants": "5"}


@pytest.mark.parametrize("res, msg", [
    ({"network": {"classID": 7}}, "network: net_cls and net_prio are cgroup v1 controllers"),
    ({"cpu": {"realtimeRuntime": 950000}}, "cpu.realtimeRuntime: cgroup v2 has no realtime"),
    ({"memory": {"kernelTCP": 1 << 20}}, "memory.kernelTCP: cgroup v2 has no such knob"),
    ({"memory": {"disableOOMKiller": True}}, "memory.disableOOMKiller: cgroup v2 has no such knob"),
    ({"blockIO": {"leafWeight": 10}}, "blockIO.leafWeight: cgroup v2 has no leaf weights"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}, r"hugepageLimits\[0\]: cannot apply"),
    ({"unified": {"cgroup.procs": "1"}}, "unified.cgroup.procs: must name a controller file"),
    ({"unified": {"../memory.max": "1"}}, r"unified\.\.\./memory\.max: must name a controller file"),
])
def test_v2_refusals_named(tmp_path, res, msg):
    d = fake(tmp_path, "unified", {"memory.max": ""})
    with pytest.raises(cgroups.OCIError, match="linux.resources." + msg):
        cgroups.apply({"unified": str(d)}, res, v2_only=True)


def _mounted(ctrl):
    return any(ctrl in key.split(",") for key in cgroups.hierarchies())


def _create(state_root, b, cid, tmp_path):
    with open(tmp_path / "create.out", "w") as f:  # init keeps create's pipes open
        r = run_cli(state_root, "create", "--bundle", str(b), cid, stdout=f, stderr=f,
                    capture_output=False)
    return r.returncode, (tmp_path / "create.out").read_text()


@need_root
@need_busybox
@need_engine
def test_create_refuses_a_limit_this_host_cannot_apply(bundle, state_root, cid, tmp_path):
    from test_bundle import leftovers
    cases = [("hugetlb", {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]},
              "hugepageLimits[0]"),
             ("net_cls", {"network": {"classID": 1048577}}, "network.classID"),
             ("net_prio", {"network": {"priorities": [{"name": "lo", "priority": 5}]}},
              "network.priorities[0]")]
    cases = [c for c in cases if not _mounted(c[0])]
    if not cases or cgroups.is_v2_only():
        pytest.skip("hugetlb, net_cls and net_prio are all mounted here (cgroup v1)")
    for ctrl, res, field in cases:
        b = bundle(["true"], mutate=lambda s: s["linux"].update(resources=res))
        rc, out = _create(state_root, b, cid, tmp_path)
        assert rc != 0 and f"linux.resources.{field}: the {ctrl} cgroup controller is not " \
            "mounted" in out, out
        assert not (state_root / cid).exists() and leftovers(cid) == []


@need_root
@need_busybox
@need_engine
def test_create_applies_block_io_throttles(bundle, state_root, cid, tmp_path):
    if cgroups.is_v2_only() or not _mounted("blkio"):
        pytest.skip("needs the cgroup v1 blkio controller")
    disks = sorted(os.listdir("/sys/block"))
    assert disks
    with open(f"/sys/block/{disks[0]}/dev") as f:
        mj, mn = (int(x) for x in f.read().split(":"))
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": mj, "minor": mn, "rate": 1 << 20}],
                       "throttleWriteIOPSDevice": [{"major": mj, "minor": mn, "rate": 77}]}}
    b = bundle(["sleep", "30"], mutate=lambda s: s["linux"].update(resources=res))
    rc, out = _create(state_root, b, cid, tmp_path)
    assert rc == 0, out
    pid = json.loads(run_cli(state_root, "state", cid).stdout)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        rel = next(line.split(":", 2)[2].strip() for line in f
                   if "blkio" in line.split(":")[1].split(","))
    d = [m for k, m in cgroups.hierarchies().items() if "blkio" in k.split(",")][0] + rel
    with open(f"{d}/blkio.throttle.read_bps_device") as f:
        assert f.read().split() == [f"{mj}:{mn}", str(1 << 20)]
    with open(f"{d}/blkio.throttle.write_iops_device") as f:
        assert f.read().split() == [f"{mj}:{mn}", "77"]
    assert run_cli(state_root, "delete", "--force", cid).returncode == 0


@need_root
@need_busybox
@need_engine
def test_c_create_refuses_or_applies_a_blkio_weight_as_python_does(c_launcher, bundle, state_root,
                                                                    cid, tmp_path):
    """The C create leaves a nonzero blockIO.weight to Python, which writes CFQ's or BFQ's file
    or fails naming the field (it ran unlimited when neither file exists, as on this VM)."""
    if cgroups.is_v2_only() or not _mounted("blkio"):
        pytest.skip("needs the cgroup v1 blkio controller")
    def create(weight, name):
        b = bundle(["sleep", "30"], mutate=lambda s: s["linux"].update(
            resources={"blockIO": {"weight": weight}}))
        with open(tmp_path / "create.out", "w") as f:
            r = subprocess.run([c_launcher, "--root", str(state_root), "create", "--bundle",
                                str(b), name], stdout=f, stderr=f, timeout=60)
        return r, (tmp_path / "create.out").read_text()
    # the first C create of a policy is Python's (it fills the compiled-policy cache): warm
    # it with Docker's "unset" weight, which C takes, so the next create is C's to decide
    r, out = create(0, cid + "w")
    assert r.returncode == 0, out
    assert run_cli(state_root, "delete", "--force", cid + "w").returncode == 0
    r, out = create(300, cid)
    mnt = [m for k, m in cgroups.hierarchies().items() if "blkio" in k.split(",")][0]
    if any(os.path.exists(f"{mnt}/{n}") for n in ("blkio.weight", "blkio.bfq.weight")):
        assert r.returncode == 0, out
        pid = json.loads(run_cli(state_root, "state", cid).stdout)["pid"]
        with open(f"/proc/{pid}/cgroup") as f:
            rel = next(line.split(":", 2)[2].strip() for line in f
                       if "blkio" in line.split(":")[1].split(","))
        name = "blkio.weight" if os.path.exists(f"{mnt}/blkio.weight") else "blkio.bfq.weight"
        with open(f"{mnt}{rel}/{name}") as f:
            assert f.read().split()[-1] == "300"
    else:
        assert r.returncode != 0 and "linux.resources.blockIO.weight: cannot apply 300" in out, out
        assert not (state_root / cid).exists()


@need_root
@need_busybox
@need_engine
def test_c_create_leaves_what_it_cannot_apply_to_python(c_launcher, bundle, state_root, cid,
                                                        tmp_path):
    """The C create takes a limit only where it has somewhere to go (csrc/runtime/cgroups.c
    hierarchies_can): a swappiness out of range (or a limit whose controller is not mounted,
    swap without swap accounting) goes to Python, which refuses it naming the field; a
    pids limit it applies itself."""
    if cgroups.is_v2_only() or not _mounted("pids") or not _mounted("memory"):
        pytest.skip("needs the cgroup v1 pids and memory controllers")

    def create(res, name, env=None):
        b = bundle(["sleep", "30"], mutate=lambda s: s["linux"].update(resources=res))
        with open(tmp_path / "create.out", "w") as f:
            r = subprocess.run([c_launcher, "--root", str(state_root), "create", "--bundle", str(b),
                                name], stdout=f, stderr=f, timeout=60, env=dict(os.environ, **(env or {})))
        return r, (tmp_path / "create.out").read_text()
    r, out = create({}, cid + "w")  # warms the compiled-policy cache: the next creates are C's
    assert r.returncode == 0, out
    assert run_cli(state_root, "delete", "--force", cid + "w").returncode == 0
    r, out = create({"pids": {"limit": 33}}, cid, env={"LXBRAND_PY": "/bin/false"})  # no fallback
    assert r.returncode == 0, out
    pid = json.loads(run_cli(state_root, "state", cid).stdout)["pid"]
    mnt = [m for k, m in cgroups.hierarchies().items() if "pids" in k.split(",")][0]
    with open(f"/proc/{pid}/cgroup") as f:
        rel = next(line.split(":", 2)[2].strip() for line in f if "pids" in line.split(":")[1].split(","))
    with open(f"{mnt}{rel}/pids.max") as f:
        assert f.read().strip() == "33"
    assert run_cli(state_root, "delete", "--force", cid).returncode == 0
    r, out = create({"memory": {"swappiness": 101}}, cid)
    assert r.returncode != 0 and "linux.resources.memory.swappiness" in out, out
    assert not (state_root / cid).exists()
