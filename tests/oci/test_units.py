"""Pieces of the runtime that need neither root nor a kernel feature: state files, mount
options, path resolution inside a rootfs, signals, cgroup paths, seccomp compilation."""
import json
import os
import signal

import pytest

from lxbrand.oci import cgroups, rootfs, state
from lxbrand.oci import syscalls as sc
from lxbrand.oci.commands.kill import parse_signal
from lxbrand.oci.errors import OCIError


def test_state_roundtrip_and_atomic(tmp_path):
    c = state.Container.new(str(tmp_path), "abc")
    c.data = {"id": "abc", "pid": os.getpid(), "bundle": "/b"}
    c.save()
    assert not [n for n in os.listdir(c.dir) if ".tmp." in n]  # renamed into place
    again = state.Container.load(str(tmp_path), "abc")
    assert again.data["bundle"] == "/b"
    assert again.alive()  # our own pid
    assert again.status() == "running"
    with pytest.raises(OCIError, match="already exists"):
        state.Container.new(str(tmp_path), "abc")
    again.data["pid"] = 2**22 + 12345  # beyond pid_max: never alive
    assert again.status() == "stopped"
    assert again.oci_state()["pid"] == 0
    again.remove()
    assert not os.path.exists(c.dir)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x y"])
def test_container_id_checked(bad):
    with pytest.raises(OCIError, match="invalid container id"):
        state.check_id(bad)


def test_parse_options():
    flags, prop, data = rootfs.parse_options(["nosuid", "noexec", "ro", "mode=755", "rprivate"])
    assert flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_RDONLY
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == "mode=755"
    flags, _, _ = rootfs.parse_options(["ro", "rw", "rbind"])
    assert flags == sc.MS_BIND | sc.MS_REC


def test_secure_join_stays_inside(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")              # absolute link: relative to the rootfs
    os.symlink("../../../../etc", root / "up")    # climbing out is clamped at the root
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert rootfs.secure_join(r, "/abs/passwd") == f"{r}/etc/passwd"
    assert rootfs.secure_join(r, "/up/passwd") == f"{r}/etc/passwd"
    assert rootfs.secure_join(r, "/../../x") == f"{r}/x"
    with pytest.raises(OCIError, match="symbolic links"):
        rootfs.secure_join(r, "/loop1/x")


def test_secure_join_in_proc_root():
    """exec resolves inside /proc/PID/root: it must not turn into the host's /."""
    assert rootfs.secure_join(f"/proc/{os.getpid()}/root", "/etc/passwd") == \
        f"/proc/{os.getpid()}/root/etc/passwd"


@pytest.mark.parametrize("text, num", [("9", 9), ("15", 15), ("TERM", 15), ("SIGKILL", 9),
                                       ("sigusr1", signal.SIGUSR1)])
def test_parse_signal(text, num):
    assert parse_signal(text) == num


def test_parse_signal_bad():
    with pytest.raises(OCIError):
        parse_signal("NOPE")


def test_systemd_cgroup_path():
    assert cgroups._systemd_path("system.slice:docker:abc") == "/system.slice/docker-abc.scope"
    assert cgroups._systemd_path("a-b.slice:p:n") == "/a.slice/a-b.slice/p-n.scope"
    with pytest.raises(OCIError):
        cgroups._systemd_path("nocolons")


# The cgroup mounts of a v1 host with the hybrid cgroup2 (as this machine's), and of a
# v2-only host: resolve() is decided from these alone (hierarchies, own_cgroups).
V1_MOUNTS = {"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
             "name=systemd": "/sys/fs/cgroup/systemd", "unified": "/sys/fs/cgroup/unified"}
V1_OWN = {"cpu": "/user.slice", "cpuacct": "/user.slice", "memory": "/user.slice/session-1.scope",
          "name=systemd": "/user.slice/session-1.scope", "unified": "/user.slice/session-1.scope"}


@pytest.mark.parametrize("mounts, own", [(V1_MOUNTS, V1_OWN),
                                         ({"unified": "/sys/fs/cgroup"}, {"unified": "/init.scope"})])
def test_cgroup_resolve(monkeypatch, mounts, own):
    monkeypatch.setattr(cgroups, "hierarchies", lambda: dict(mounts))
    monkeypatch.setattr(cgroups, "own_cgroups", lambda: dict(own))
    # an absolute cgroupsPath is under each hierarchy's root, whatever our own cgroups
    assert cgroups.resolve("/docker/xyz", "xyz") == {k: f"{m}/docker/xyz" for k, m in mounts.items()}
    # a relative one (and none: lxbrand/ID) is under the runtime's own cgroup of that hierarchy
    rel = {k: os.path.normpath(f"{m}/{own[k.split(',')[0]]}/pods/xyz") for k, m in mounts.items()}
    assert cgroups.resolve("pods/xyz", "xyz") == rel
    assert cgroups.resolve("", "abc") == {k: d.replace("pods/xyz", "lxbrand/abc") for k, d in rel.items()}
    # --systemd-cgroup: slice:prefix:name, absolute from each root
    assert cgroups.resolve("system.slice:docker:xyz", "xyz", systemd=True) == \
        {k: f"{m}/system.slice/docker-xyz.scope" for k, m in mounts.items()}


def test_seccomp_profile_compiles():
    from lxbrand.oci import seccomp
    try:
        seccomp._libseccomp()
    except OCIError as e:
        pytest.skip(str(e))
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                                   {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
    f = seccomp.Filter(prof)
    f.release()
    with pytest.raises(OCIError, match="unsupported action"):
        seccomp.Filter(dict(prof, defaultAction="SCMP_ACT_DANCE"))


def test_features_json():
    from lxbrand.oci.commands.features import features
    f = features()
    json.dumps(f)
    assert "prestart" in f["hooks"] and "rbind" in f["mountOptions"]
    assert "user" not in f["linux"]["namespaces"]
