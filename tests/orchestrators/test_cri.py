"""Kubernetes' path to lxbrand: containerd's CRI plugin, driven over gRPC as kubelet drives it
(bench/cri.py), with the runtime handlers lxbrand and lxbrand-strict beside runc.  Every step's
result under lxbrand is compared with the same pod under the runc handler.

Needs the containerd that .ci/setup-orchestrators.sh starts (its own socket, root and state;
config /etc/lxbrand-cri/config.toml) and grpcio; skips, saying so, where they are missing."""
import glob
import json
import os
import re
import time

import pytest

from orchtest import CRI_IMAGE, SETUP, leftovers, need_root

HANDLERS = ("runc", "lxbrand")
CGROUP_PARENT = "lxbrand-cri-test"


@pytest.fixture(scope="module")
def cri():
    need_root()
    try:
        from bench.cri import Client, CRIError  # noqa: F401
        c = Client()
    except ImportError as e:
        pytest.skip(f"{e} ({SETUP})")
    why = c.ready()
    if why:
        pytest.skip(f"no CRI endpoint: {why} ({SETUP} starts one)")
    if c.image_status(CRI_IMAGE) is None:
        pytest.skip(f"image {CRI_IMAGE} is not in containerd's k8s.io namespace ({SETUP})")
    yield c
    c.close()


@pytest.fixture
def pods(cri):
    """Pods a test made; each is stopped and removed at the end, whatever happened."""
    made = []
    yield made
    for p in made:
        try:
            cri.remove_pod_fully(p)
        except Exception as e:  # noqa: BLE001 - clean the rest, then report
            print(f"cleanup of pod {p}: {e}")


def make_pod(cri, pods, tmp_path, name, handler, annotations=None, network="node", pid="container"):
    cfg = cri.pod_config(name, annotations=annotations, network=network, pid=pid,
                         log_directory=str(tmp_path / f"logs-{handler}-{name}"))
    # as kubelet (cgroupfs driver) gives each pod a cgroup parent of its own
    cfg.linux.cgroup_parent = f"/{CGROUP_PARENT}/pod{cfg.metadata.uid}"
    pod_id = cri.run_pod(cfg, handler)
    pods.append(pod_id)
    return pod_id, cfg


def info(status_response):
    return json.loads(status_response.info["info"])


def wait_state(cri, cid, state, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        st = cri.container_status(cid).status
        if st.state == state or time.monotonic() > deadline:
            return st
        time.sleep(0.05)


def log_lines(path):
    """The CRI log file's messages: each line is `TIME STREAM P|F MESSAGE` (the CRI logging
    format); the time differs between runs, the rest must not."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path).read().splitlines():
        _, stream, tag, msg = line.split(" ", 3)
        out.append((stream, tag, msg))
    return out


def test_version(cri):
    v = cri.version()
    assert v.runtime_name == "containerd" and v.runtime_api_version == "v1", v


def test_image_status_local(cri):
    """kubelet's IfNotPresent: ImageStatus finds the locally imported image, so no PullImage
    (which would need a registry) is made."""
    img = cri.image_status(CRI_IMAGE)
    assert img is not None and CRI_IMAGE in img.repo_tags and img.size > 0, img
    assert cri.image_status("localhost/lxbrand-test/no-such-image:1") is None


PULLED = "localhost:5055/lxbrand-test/pulled:1"     # in the setup script's loopback registry


def test_pull_image_and_run_it(cri, pods, tmp_path):
    """kubelet's Always/first pull: RemoveImage, PullImage from the registry, ImageStatus, then
    a pod of each handler runs the pulled image."""
    from bench.cri import CRIError
    try:
        cri.remove_image(PULLED)
    except CRIError as e:
        if e.code != "NOT_FOUND":
            raise
    assert cri.image_status(PULLED) is None
    try:
        ref = cri.pull_image(PULLED)
    except CRIError as e:
        if "127.0.0.1:5055" in e.details and "connection refused" in e.details:
            pytest.skip(f"no registry on 127.0.0.1:5055 ({SETUP} starts one)")
        raise
    img = cri.image_status(PULLED)
    assert img is not None and img.id == ref and PULLED in img.repo_tags
    out = {}
    for h in HANDLERS:
        pod_id, cfg = make_pod(cri, pods, tmp_path, "pulled", h)
        cid = cri.create_container(pod_id, cfg, "app", PULLED, ["sleep", "60"])
        cri.start_container(cid)
        out[h] = cri.exec_sync(cid, ["cat", "/pulled"]).stdout
        cri.remove_pod_fully(pod_id)
    assert out == {h: b"pulled from the registry\n" for h in HANDLERS}


INIT = ("echo hello from $(hostname); trap 'echo bye; exit 0' TERM; "
        "while :; do sleep 0.1; done")
EXECS = (
    ["sh", "-c", "echo out; echo err >&2"],
    ["sh", "-c", "exit 3"],
    ["id"],
    ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"],   # pid 1: the container's init
    ["sh", "-c", "echo $HOME $MYVAR; pwd"],
    ["sh", "-c", "ls /; cat /etc/hostname"],
    ["sh", "-c", "touch /tmp/x && echo writable"],
    ["nosuchcommand"],
)


def lifecycle(cri, pods, tmp_path, handler):
    """Every CRI call kubelet makes for a pod with one container, and what each returned
    (everything that does not depend on the handler: ids and times are left out)."""
    r = {}
    pod_id, cfg = make_pod(cri, pods, tmp_path, "life", handler)
    st = cri.pod_status(pod_id, verbose=True)
    r["pod_state"] = st.status.state
    r["pod_handler"] = st.status.runtime_handler
    cid = cri.create_container(pod_id, cfg, "app", CRI_IMAGE, ["sh", "-c", INIT],
                               env={"MYVAR": "v1"}, log_path="app.log")
    r["created"] = cri.container_status(cid).status.state
    cri.start_container(cid)
    s = cri.container_status(cid, verbose=True)
    r["started"] = s.status.state
    # the pid containerd reports (kubelet, crictl inspect) is the container's init: its
    # command line is the container's, and it lives in a pid namespace of its own
    pid = info(s)["pid"]
    deadline = time.monotonic() + 5
    while True:     # `start` returns once init is released; its execve follows at once
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            r["pid_cmdline"] = f.read().split(b"\0")[:2]
        if r["pid_cmdline"] == [b"sh", b"-c"] or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    r["pid_own_pidns"] = os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    r["execs"] = []
    from bench.cri import CRIError
    for cmd in EXECS:
        try:
            e = cri.exec_sync(cid, cmd)
            r["execs"].append((cmd, e.exit_code, e.stdout, e.stderr))
        except CRIError as e:   # what cannot start is an error naming it (runc's words differ)
            r["execs"].append((cmd, "error", e.code, cmd[0] in e.details))
    deadline = time.monotonic() + 10
    log = os.path.join(cfg.log_directory, "app.log")
    while time.monotonic() < deadline and not (os.path.exists(log) and open(log).read()):
        time.sleep(0.05)
    cri.stop_container(cid, timeout=10)
    s = wait_state(cri, cid, cri.pb.CONTAINER_EXITED)
    r["stopped"] = (s.state, s.exit_code, s.reason)
    r["log"] = log_lines(log)
    cri.remove_container(cid)
    r["containers_after_remove"] = [c.id for c in cri.list_containers(pod_id)]
    cri.stop_pod(pod_id)
    r["pod_after_stop"] = cri.pod_status(pod_id).status.state
    cri.remove_pod(pod_id)
    r["pods_after_remove"] = [p.id for p in cri.list_pods() if p.id == pod_id]
    r["leftovers"] = leftovers(cid) + leftovers(pod_id)
    return r


def test_pod_lifecycle_like_runc(cri, pods, tmp_path):
    got = {h: lifecycle(cri, pods, tmp_path, h) for h in HANDLERS}
    runc, lx = got["runc"], got["lxbrand"]
    pb = cri.pb
    assert runc["pod_state"] == pb.SANDBOX_READY and runc["started"] == pb.CONTAINER_RUNNING
    assert runc["stopped"] == (pb.CONTAINER_EXITED, 0, "Completed"), runc["stopped"]
    assert runc["log"][0] == ("stdout", "F", f"hello from {os.uname().nodename}")
    assert lx["pod_handler"] == "lxbrand" and runc["pod_handler"] == "runc"
    for key in runc:
        if key == "pod_handler":
            continue
        if key == "execs":
            for a, b in zip(runc["execs"], lx["execs"]):
                assert a == b, f"exec {a[0]}: runc {a[1:]}, lxbrand {b[1:]}"
        assert lx[key] == runc[key], f"{key}: runc {runc[key]!r}, lxbrand {lx[key]!r}"
    assert lx["leftovers"] == []


def test_stop_after_grace_period_kills(cri, pods, tmp_path):
    """StopContainer on a process that ignores SIGTERM: after the timeout, SIGKILL (137)."""
    got = {}
    for h in HANDLERS:
        pod_id, cfg = make_pod(cri, pods, tmp_path, "grace", h)
        cid = cri.create_container(pod_id, cfg, "stubborn", CRI_IMAGE,
                                   ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
        cri.start_container(cid)
        t = time.monotonic()
        cri.stop_container(cid, timeout=1)
        s = wait_state(cri, cid, cri.pb.CONTAINER_EXITED)
        got[h] = (s.state, s.exit_code, s.reason, round(time.monotonic() - t) <= 5)
        cri.remove_pod_fully(pod_id)
    assert got["runc"] == (cri.pb.CONTAINER_EXITED, 137, "Error", True), got["runc"]
    assert got["lxbrand"] == got["runc"]


def shared_pod(cri, pods, tmp_path, handler):
    """A pod with its own network namespace (CNI: loopback) and a shared pid namespace, and two
    containers: what each sees of the other."""
    pod_id, cfg = make_pod(cri, pods, tmp_path, "pair", handler, network="pod", pid="shared")
    ids = []
    for name, script in (("a", "echo a > /dev/shm/from-a; while :; do sleep 0.1; done"),
                         ("b", "while :; do sleep 0.1; done")):
        cid = cri.create_container(pod_id, cfg, name, CRI_IMAGE, ["sh", "-c", script],
                                   pid="shared")
        cri.start_container(cid)
        ids.append(cid)
    a, b = ids
    ns = "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"
    na = cri.exec_sync(a, ["sh", "-c", ns]).stdout
    nb = cri.exec_sync(b, ["sh", "-c", ns]).stdout
    r = {"same_namespaces": na == nb and na.count(b"\n") == 4,
         "own_netns": na.split(b"\n")[0].decode() != os.readlink("/proc/self/ns/net"),
         # ipc: the pod's /dev/shm; pid: b sees a's process (shareProcessNamespace)
         "shm_from_a": cri.exec_sync(b, ["cat", "/dev/shm/from-a"]).stdout,
         "b_sees_a": b"/dev/shm/from-a" in cri.exec_sync(b, ["ps", "-o", "args"]).stdout,
         "ifaces": cri.exec_sync(a, ["sh", "-c", "ls /sys/class/net"]).stdout,
         "hostname": cri.exec_sync(b, ["hostname"]).stdout}
    for cid in ids:
        cri.stop_container(cid, timeout=2)
        cri.remove_container(cid)
    cri.remove_pod_fully(pod_id)
    r["leftovers"] = leftovers(pod_id) + leftovers(a) + leftovers(b)
    return r


def test_two_containers_share_the_pods_namespaces(cri, pods, tmp_path):
    runc = shared_pod(cri, pods, tmp_path, "runc")
    assert runc == {"same_namespaces": True, "own_netns": True, "shm_from_a": b"a\n",
                    "b_sees_a": True, "ifaces": b"eth0\nlo\n", "hostname": b"pair\n",
                    "leftovers": []}, runc
    assert shared_pod(cri, pods, tmp_path, "lxbrand") == runc


@pytest.mark.parametrize("handler, annotations, strict", [
    ("runc", {}, False),
    ("lxbrand", {}, False),
    ("lxbrand", {"org.lxbrand.policy": "strict"}, True),    # per pod, by annotation
    ("lxbrand-strict", {}, True),                           # per RuntimeClass (handler)
    ("lxbrand-strict", {"org.lxbrand.policy": "default"}, False),  # the pod's word wins
])
def test_policy_per_pod(cri, pods, tmp_path, handler, annotations, strict):
    """strict denies ioprio_set (not on its allowlist); default lets it run as runc does."""
    pod_id, cfg = make_pod(cri, pods, tmp_path, "policy", handler, annotations)
    cid = cri.create_container(pod_id, cfg, "c", CRI_IMAGE, ["sleep", "60"])
    cri.start_container(cid)
    r = cri.exec_sync(cid, ["ionice", "-c", "3", "true"])
    if strict:
        assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r
    else:
        assert r.exit_code == 0, r


def host_traces():
    """What this containerd's containers leave on the host: mounts under its state, shims and
    runtime state of its k8s.io namespace, and cgroups under the tests' cgroup parent."""
    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4] for line in f if "/run/lxbrand-cri/" in line}
    shims = set()
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"/run/lxbrand-cri/containerd.sock" in cmd and b"containerd-shim" in cmd:
            shims.add(cmd.replace(b"\0", b" ").decode(errors="replace"))  # names its -id
    state = set(glob.glob("/run/containerd/runc/k8s.io/*"))
    cgroups = {c for c in glob.glob(f"/sys/fs/cgroup/*/{CGROUP_PARENT}/*/*")
               if os.path.isdir(c)}
    return {"mounts": mounts, "shims": shims, "state": state, "cgroups": cgroups}


@pytest.mark.parametrize("handler, annotations, field", [
    ("no-such-handler", {}, '"no-such-handler"'),
    ("lxbrand", {"org.lxbrand.policy": "no-such-policy"}, "org.lxbrand.policy"),
    ("lxbrand", {"org.lxbrand.backend": "bogus"}, "org.lxbrand.backend"),
    ("lxbrand", {"org.lxbrand.polcy": "strict"}, "org.lxbrand.polcy"),
    ("lxbrand-strict", {"org.lxbrand.trace": "maybe"}, "org.lxbrand.trace"),
])
def test_bad_pod_spec_fails_and_leaves_nothing(cri, pods, tmp_path, handler, annotations,
                                               field):
    from bench.cri import CRIError
    before = host_traces()
    with pytest.raises(CRIError) as e:
        make_pod(cri, pods, tmp_path, "bad", handler, annotations)
    assert field in e.value.details, e.value.details
    assert [p for p in cri.list_pods() if p.metadata.name == "bad"] == []
    after = host_traces()
    # what is new and names no live pod or container (another test run may share this
    # containerd) was left by the failed pod
    live = [p.id for p in cri.list_pods()] + [c.id for c in cri.list_containers()]
    new = {k: sorted(x for x in after[k] - before[k] if not any(i in x for i in live))
           for k in after}
    assert new == {k: [] for k in after}, new


def test_bad_container_annotation_fails_that_container(cri, pods, tmp_path):
    """A container's own annotation (container_annotations) is checked as a pod's: its
    CreateContainer or StartContainer fails naming the key; the pod and its other containers
    carry on."""
    from bench.cri import CRIError
    pod_id, cfg = make_pod(cri, pods, tmp_path, "mixed", "lxbrand")
    good = cri.create_container(pod_id, cfg, "good", CRI_IMAGE, ["sleep", "60"])
    cri.start_container(good)
    with pytest.raises(CRIError) as e:
        bad = cri.create_container(pod_id, cfg, "bad", CRI_IMAGE, ["sleep", "60"],
                                   annotations={"org.lxbrand.backend": "bogus"})
        cri.start_container(bad)
    assert "org.lxbrand.backend" in e.value.details, e.value.details
    assert cri.exec_sync(good, ["echo", "alive"]).stdout == b"alive\n"
    assert cri.pod_status(pod_id).status.state == cri.pb.SANDBOX_READY
    bad_ids = [c.id for c in cri.list_containers(pod_id) if c.metadata.name == "bad"]
    for cid in bad_ids:                 # kubelet removes what failed to start, as here
        cri.remove_container(cid)
        assert leftovers(cid) == []


CGROUP_LIMITS = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                 "/sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || "
                 "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max")


def secured(cri, pods, tmp_path, handler):
    """A container as a restricted pod spec makes it: runAsUser, readOnlyRootFilesystem, a
    writable and a read-only hostPath volume, workingDir, memory and CPU limits; then an
    in-place resize (UpdateContainerResources) and what the container sees of each."""
    rw, ro = tmp_path / f"rw-{handler}", tmp_path / f"ro-{handler}"
    for d in (rw, ro):
        d.mkdir()
        d.chmod(0o777)
    (ro / "in").write_text("read me\n")
    pod_id, cfg = make_pod(cri, pods, tmp_path, "secured", handler)
    cid = cri.create_container(pod_id, cfg, "app", CRI_IMAGE, ["sleep", "3600"],
                               run_as_user=1000, readonly_rootfs=True, working_dir="/data",
                               mounts=[("/data", str(rw), False), ("/ro", str(ro), True)],
                               memory=256 << 20, cpu_quota=50000, cpu_period=100000)
    cri.start_container(cid)
    r = {}
    for cmd in (["id", "-u"], ["pwd"], ["sh", "-c", "touch /x"], ["sh", "-c", "touch /ro/x"],
                ["sh", "-c", "cat /ro/in; echo written > /data/out; stat -c %u /data/out"],
                ["sh", "-c", CGROUP_LIMITS]):
        e = cri.exec_sync(cid, cmd)
        r[" ".join(cmd)] = (e.exit_code, e.stdout, b"Read-only file system" in e.stderr)
    r["host_sees"] = (rw / "out").read_text()
    cri.update_resources(cid, memory=128 << 20, cpu_quota=100000, cpu_period=100000)
    r["resized"] = cri.exec_sync(cid, ["sh", "-c", CGROUP_LIMITS]).stdout
    cri.remove_pod_fully(pod_id)
    return r, cid


def test_security_context_volumes_and_resources_like_runc(cri, pods, tmp_path):
    (runc, _), (lx, cid) = (secured(cri, pods, tmp_path, h) for h in HANDLERS)
    assert runc["id -u"] == (0, b"1000\n", False) and runc["pwd"] == (0, b"/data\n", False)
    assert runc["sh -c touch /x"][0] != 0 and runc["sh -c touch /x"][2]
    assert runc["sh -c touch /ro/x"][0] != 0 and runc["sh -c touch /ro/x"][2]
    assert runc["host_sees"] == "written\n"
    assert runc[f"sh -c {CGROUP_LIMITS}"][1].split()[:2] in ([b"268435456", b"50000"],
                                                             [b"268435456", b"50000"])
    assert runc["resized"].split()[:2] == [b"134217728", b"100000"]
    assert lx == runc
    assert leftovers(cid) == []


def test_limits_shown_inside_under_lxbrand(cri, pods, tmp_path):
    """The LX personality: free and nproc describe the container's limits (runc: the host's)."""
    pod_id, cfg = make_pod(cri, pods, tmp_path, "limits", "lxbrand")
    cid = cri.create_container(pod_id, cfg, "app", CRI_IMAGE, ["sleep", "3600"],
                               memory=256 << 20, cpu_quota=100000, cpu_period=100000)
    cri.start_container(cid)
    r = cri.exec_sync(cid, ["sh", "-c", "free -m | awk '/^Mem:/ {print $2}'; nproc"])
    assert r.stdout.split() == [b"256", b"1"], r


def restarted(cri, pods, tmp_path, handler):
    """kubelet restarting a crashed container: a new CreateContainer (attempt 1) of the same
    name in the same sandbox, after the first one exited."""
    pod_id, cfg = make_pod(cri, pods, tmp_path, "restart", handler)
    first = cri.create_container(pod_id, cfg, "app", CRI_IMAGE,
                                 ["sh", "-c", "echo run; exit 1"], log_path="app_0.log")
    cri.start_container(first)
    s = wait_state(cri, first, cri.pb.CONTAINER_EXITED)
    r = {"first": (s.state, s.exit_code, s.reason)}
    second = cri.create_container(pod_id, cfg, "app", CRI_IMAGE,
                                  ["sh", "-c", "echo run again; exec sleep 3600"],
                                  log_path="app_1.log", attempt=1)
    cri.start_container(second)
    r["second"] = cri.exec_sync(second, ["cat", "/proc/1/cmdline"]).stdout
    r["pod"] = cri.pod_status(pod_id).status.state
    cri.remove_container(first)
    r["listed"] = sorted(c.metadata.attempt for c in cri.list_containers(pod_id))
    deadline = time.monotonic() + 10      # containerd writes the log files as output comes
    while True:
        r["logs"] = [[m for _, _, m in log_lines(os.path.join(cfg.log_directory, f"app_{i}.log"))]
                     for i in (0, 1)]
        if all(r["logs"]) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    cri.remove_pod_fully(pod_id)
    return r


def test_container_restart_in_the_same_pod(cri, pods, tmp_path):
    runc = restarted(cri, pods, tmp_path, "runc")
    assert runc == {"first": (cri.pb.CONTAINER_EXITED, 1, "Error"),
                    "second": b"sleep\x003600\x00", "pod": cri.pb.SANDBOX_READY, "listed": [1],
                    "logs": [["run"], ["run again"]]}, runc
    assert restarted(cri, pods, tmp_path, "lxbrand") == runc
