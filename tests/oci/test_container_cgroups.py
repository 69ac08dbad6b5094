"""cgroup resource files written for linux.resources, on fake cgroup directories (no root,
no particular cgroup version on the host): v1 as on the CI machine, v2 as on modern hosts."""
import os

import pytest

from lxbrand.oci import cgroups


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
