"""End to end with a real dockerd: `docker run --runtime=lxbrand` as a user types it.

Needs root, a running dockerd with the lxbrand runtime registered and the busybox image
(.ci/setup-docker.sh provides all three).  A focused set: each test runs a handful of
containers, every docker call is bounded in time."""
import json
import os
import pty
import select
import subprocess
import time
import uuid

import pytest

RUNTIME = os.environ.get("LXBRAND_RUNTIME_NAME", "lxbrand")
IMAGE = os.environ.get("LXBRAND_IMAGE", "lxbrand-test/busybox")
T = 60  # seconds, for any one docker command


def _docker_ready():
    if os.geteuid() != 0:
        return "needs root (dockerd)"
    try:
        r = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker is not usable: {e}"
    if r.returncode != 0:
        return "dockerd is not running (bash .ci/setup-docker.sh starts it)"
    if RUNTIME not in json.loads(r.stdout or "{}"):
        return f"runtime {RUNTIME!r} is not registered with dockerd (lxbrand install)"
    r = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, timeout=20)
    if r.returncode != 0:
        return f"image {IMAGE} is missing (bash .ci/setup-docker.sh builds it)"
    return None


_why = _docker_ready()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")


def docker(*args, timeout=T, check=False, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    r = subprocess.run(["docker", *args], timeout=timeout, **kw)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def drun(*args, **kw):
    return docker("run", f"--runtime={RUNTIME}", "--rm", *args, **kw)


@pytest.fixture
def name():
    n = "lxt-" + uuid.uuid4().hex[:10]
    yield n
    docker("rm", "-f", n)


def test_echo_and_exit_codes():
    r = drun(IMAGE, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    assert drun(IMAGE, "sh", "-c", "exit 42").returncode == 42
    r = drun(IMAGE, "no-such-program")
    assert r.returncode == 127 and "executable file not found" in r.stderr
    r = drun(IMAGE, "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr
    # --init: the program is Docker's bind-mounted /sbin/docker-init, absent from the image
    r = drun("--init", IMAGE, "ps")
    assert r.returncode == 0 and "docker-init" in r.stdout, r.stderr


def test_process_settings():
    """-e, -w, --user, -v, --read-only, as the container sees them."""
    vol = f"/tmp/lxt-vol-{uuid.uuid4().hex[:8]}"
    os.makedirs(vol)
    try:
        with open(f"{vol}/f", "w") as f:
            f.write("from host\n")
        os.chown(vol, 1000, 1000)  # the container's user owns the volume: its write must land there
        r = drun("-e", "FOO=bar", "-w", "/tmp", "--user", "1000:1000", "-v", f"{vol}:/data",
                 "-v", f"{vol}:/ro:ro", "--read-only", IMAGE, "sh", "-c",
                 "echo $FOO; pwd; id -u; cat /data/f; touch /x 2>/dev/null || echo rofs; "
                 "touch /ro/h 2>/dev/null || echo rovol; echo out > /data/g")
        assert r.stdout.split("\n")[:6] == ["bar", "/tmp", "1000", "from host", "rofs", "rovol"], \
            (r.stdout, r.stderr)
        # the bind mount is writable, through the same directory mounted read-only it is not
        assert r.returncode == 0, r.stderr
        with open(f"{vol}/g") as f:
            assert f.read() == "out\n"
        assert not os.path.exists(f"{vol}/h")
    finally:
        subprocess.run(["rm", "-rf", vol])


def test_detached_logs_exec_stop(name):
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, IMAGE, "sh", "-c",
           "trap 'echo got TERM; exit 5' TERM; echo started; "
           "while true; do sleep 0.1; done", check=True)
    deadline = time.monotonic() + 20
    while "started" not in docker("logs", name).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "started" in docker("logs", name).stdout
    r = docker("exec", name, "sh", "-c", "echo exec in $(hostname); exit 3")
    assert r.returncode == 3 and r.stdout.startswith("exec in "), r.stderr
    # resolved in the container, not on the host (which has dockerd in its PATH)
    r = docker("exec", name, "dockerd", "--version")
    assert r.returncode != 0 and "executable file not found" in r.stdout + r.stderr, r
    top = docker("top", name, check=True).stdout
    assert "sleep" in top or "sh -c" in top
    docker("stop", "-t", "20", name, check=True)
    st = json.loads(docker("inspect", name, check=True).stdout)[0]["State"]
    assert st["ExitCode"] == 5 and "got TERM" in docker("logs", name).stdout


def _cgroup_version():
    """Docker's cgroup version on this host ("1" or "2"): which files a container shows."""
    v = docker("info", "--format", "{{.CgroupVersion}}", check=True).stdout.strip()
    assert v in ("1", "2"), f"docker info: unexpected CgroupVersion {v!r}"
    return v


# The limit files a container reads, per cgroup version (the container's cgroup is mounted
# at /sys/fs/cgroup: per controller on v1, one unified directory on v2 -- as runc mounts it).
CPU_FILES = {"1": ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
             "2": ("/sys/fs/cgroup/cpu.max",)}
MEMORY_FILE = {"1": "/sys/fs/cgroup/memory/memory.limit_in_bytes", "2": "/sys/fs/cgroup/memory.max"}


def test_pause_update_rm(name):
    v = _cgroup_version()
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, "--cpus", "0.5", IMAGE,
           "sleep", "60", check=True)
    r = docker("exec", name, "cat", *CPU_FILES[v])
    assert (r.returncode, r.stdout.split()) == (0, ["50000", "100000"]), (v, r.stdout, r.stderr)
    docker("pause", name, check=True)
    assert json.loads(docker("inspect", name).stdout)[0]["State"]["Status"] == "paused"
    docker("unpause", name, check=True)
    docker("update", "--memory", "100m", "--memory-swap", "200m", name, check=True)
    r = docker("exec", name, "cat", MEMORY_FILE[v])
    assert (r.returncode, r.stdout.strip()) == (0, str(100 * 2**20)), (v, r.stdout, r.stderr)
    docker("rm", "-f", name, check=True)
    assert docker("inspect", name).returncode != 0


def test_restart_policy(name):
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, "--restart", "on-failure:2",
           IMAGE, "sh", "-c", "exit 1", check=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = json.loads(docker("inspect", name).stdout)[0]
        if st["RestartCount"] == 2 and st["State"]["Status"] == "exited":
            break
        time.sleep(0.2)
    assert st["RestartCount"] == 2 and st["State"]["ExitCode"] == 1, st["State"]


@pytest.fixture(scope="module")
def ctr_run(tmp_path_factory):
    """`ctr run --runc-binary <lxbrand>` with dockerd's containerd: the containerd path,
    and the way to pass OCI annotations where this Docker cannot (API < 1.43)."""
    import shutil
    sock = "/var/run/docker/containerd/containerd.sock"
    if not shutil.which("ctr") or not os.path.exists(sock):
        pytest.skip("ctr or dockerd's containerd socket is missing")
    runtime = json.load(open("/etc/docker/daemon.json"))["runtimes"][RUNTIME]["path"]
    ctr = ["ctr", "-a", sock, "-n", "lxbrand-test"]
    tar = tmp_path_factory.mktemp("ctr") / "img.tar"
    docker("save", IMAGE, "-o", str(tar), check=True)
    r = subprocess.run(ctr + ["image", "import", str(tar)], capture_output=True, text=True,
                       timeout=T)
    assert r.returncode == 0, r.stderr
    ref = f"docker.io/{IMAGE}:latest"

    def run(*argv, annotations=(), cid=None):
        cid = cid or "ctr-" + uuid.uuid4().hex[:8]
        opts = [a for k in annotations for a in ("--annotation", k)]
        return subprocess.run(ctr + ["run", "--rm", *opts, "--runc-binary", runtime, ref, cid, *argv],
                              capture_output=True, text=True, timeout=T)
    return run


def test_containerd_ctr(ctr_run):
    r = ctr_run("sh", "-c", "echo hi from ctr; exit 3")
    assert r.returncode == 3 and r.stdout == "hi from ctr\n", r.stderr


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_init_exit_ends_the_container_on_both_backends(ctr_run, backend):
    """Init exits: the kernel kills the rest of the pid namespace, whatever it was doing,
    and the container ends at once with init's status, as under runc; its supervisor is
    gone too (it waits for no task that cannot come back)."""
    cid = "ctr-" + uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    r = ctr_run("sh", "-c", "sleep 1000 & (trap '' TERM INT HUP; sleep 1000) & "
                "(while :; do sleep 1000 & wait; done) & sleep 0.3; exit 3",
                annotations=[f"org.lxbrand.backend={backend}"], cid=cid)
    assert r.returncode == 3, r.stderr
    assert time.monotonic() - t0 < 20
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", f"lxbrand-sup --id {cid} "]).returncode == 0:
        time.sleep(0.05)
    assert subprocess.run(["pgrep", "-f", f"lxbrand-sup --id {cid} "]).returncode == 1, "its supervisor is left"


def test_annotations_through_containerd(ctr_run):
    r = ctr_run("uname", "-r", annotations=["org.lxbrand.kernel-release=4.4.0-lx"])
    assert r.returncode == 0 and r.stdout == "4.4.0-lx\n", r.stderr
    r = ctr_run("sh", "-c", "echo $((6*7))", annotations=["org.lxbrand.policy=strict"])
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr
    r = ctr_run("true", annotations=["org.lxbrand.policy=/no/such/policy.toml"])
    assert r.returncode != 0 and "no/such/policy.toml" in r.stderr, r.stderr


def test_kill_signal(name):
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, IMAGE, "sh", "-c",
           "trap 'exit 9' USR1; while true; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    docker("kill", "-s", "USR1", name, check=True)
    docker("wait", name, check=True)
    assert json.loads(docker("inspect", name).stdout)[0]["State"]["ExitCode"] == 9


def _pty_session(argv, send, expect, timeout=30):
    """Run argv on a new pty, type `send`, read until `expect` and EOF; (output, status)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    sent = False
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break  # EIO: the other side closed
                if not chunk:
                    break
                out += chunk
            if not sent and (b"#" in out or time.monotonic() > deadline - timeout + 3):
                os.write(master, send)
                sent = True
            if p.poll() is not None and not r:
                break
        return out, p.wait(timeout=10)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()


def test_interactive_tty(name):
    out, rc = _pty_session(["docker", "run", f"--runtime={RUNTIME}", "-it", "--name", name,
                            IMAGE, "sh"], b"tty; echo $((6*7)); exit 3\r", b"42")
    assert b"42" in out and b"/dev/pts/0" in out, out
    assert rc == 3, out


def test_exec_tty(name):
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, IMAGE, "sleep", "60",
           check=True)
    out, rc = _pty_session(["docker", "exec", "-it", name, "sh"],
                           b"tty; echo $((7*6)); exit 4\r", b"42")
    assert b"42" in out and b"/dev/pts/" in out, out
    assert rc == 4, out


def test_memory_and_pids_limits(name):
    # 64 MiB buffer in a 32 MiB container: the OOM killer ends it, docker sees OOMKilled
    r = docker("run", f"--runtime={RUNTIME}", "--name", name, "--memory", "32m",
               "--memory-swap", "32m", IMAGE, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
               "count=1")
    st = json.loads(docker("inspect", name).stdout)[0]["State"]
    assert r.returncode == 137 and st["OOMKilled"], (r.stderr, st)
    # a small limit still starts: Docker's network hook is not charged to the container
    r = drun("--memory", "8m", IMAGE, "echo", "small")
    assert r.returncode == 0 and r.stdout == "small\n", r.stderr
    r = drun("--pids-limit", "8", IMAGE, "sh", "-c",
             "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait")
    assert "can't fork" in r.stderr, r.stderr


@pytest.mark.parametrize("net, want", [("none", {"lo"}), ("bridge", {"lo", "eth0"})])
def test_network_modes(net, want):
    r = drun("--network", net, IMAGE, "sh", "-c", "ls /sys/class/net")
    assert set(r.stdout.split()) == want, (r.stdout, r.stderr)


def test_join_other_container(name):
    """--pid/--network container:X: Docker names our supervisor's namespaces; the pid one
    must be the container's, not the host's."""
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, IMAGE, "sleep", "60",
           check=True)
    r = drun("--pid", f"container:{name}", "--network", f"container:{name}", IMAGE, "sh", "-c",
             "tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'; "
             "ip -4 addr show eth0 | grep -c inet")
    lines = r.stdout.splitlines()
    assert lines[0].strip() == "sleep 60", (r.stdout, r.stderr)  # the other init, argv as given
    assert int(lines[1]) < 10 and lines[2] == "1", r.stdout  # not the host's namespaces


def test_network_host():
    r = drun("--network", "host", IMAGE, "sh", "-c", "ls /sys/class/net")
    # the host's own interfaces (veths of other containers come and go meanwhile)
    host = {n for n in os.listdir("/sys/class/net") if not n.startswith("veth")}
    assert host <= set(r.stdout.split()), (r.stdout, r.stderr)


def test_docker_seccomp_profile_still_enforced():
    """Docker's default profile refuses unshare() without CAP_SYS_ADMIN, though creating a
    user namespace needs no capability: proof that its filter is stacked with the engine's."""
    r = drun(IMAGE, "unshare", "-U", "true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    r = drun("--security-opt", "seccomp=unconfined", IMAGE, "unshare", "-U", "true")
    assert r.returncode == 0, r.stderr
    # Docker's filter is one more than the engine's own (however many the engine stacks)
    ours = drun("--security-opt", "seccomp=unconfined", IMAGE, "grep", "Seccomp_filters",
                "/proc/self/status").stdout.split()
    with_docker = drun(IMAGE, "grep", "Seccomp_filters", "/proc/self/status").stdout.split()
    assert int(ours[1]) >= 1 and int(with_docker[1]) == int(ours[1]) + 1, (ours, with_docker)


def test_policy_from_runtime_args():
    """A runtime entry with runtimeArgs ["--policy", "strict"] (as .ci/setup-docker.sh
    registers "lxbrand-strict") runs containers under that engine policy."""
    runtimes = json.loads(docker("info", "--format", "{{json .Runtimes}}").stdout)
    if "lxbrand-strict" not in runtimes:
        pytest.skip("runtime lxbrand-strict is not registered (bash .ci/setup-docker.sh)")
    assert drun(IMAGE, "chroot", "/", "true").returncode == 0
    r = docker("run", "--runtime=lxbrand-strict", "--rm", IMAGE, "chroot", "/", "true")
    assert r.returncode == 1 and "Operation not permitted" in r.stderr, r.stderr


def test_trace_runtime(name):
    """runtimeArgs --policy trace-all --trace: each container's syscalls and summary are in
    /var/log/lxbrand/<id>.trace once it has run."""
    runtimes = json.loads(docker("info", "--format", "{{json .Runtimes}}").stdout)
    if "lxbrand-trace" not in runtimes:
        pytest.skip("runtime lxbrand-trace is not registered (bash .ci/setup-docker.sh)")
    r = docker("run", "--runtime=lxbrand-trace", "--name", name, IMAGE, "cat", "/etc/hostname")
    assert r.returncode == 0, r.stderr
    cid = json.loads(docker("inspect", name).stdout)[0]["Id"]
    path = f"/var/log/lxbrand/{cid}.trace"
    try:
        # the supervisor, beside init, closes the trace just after the shim saw init exit
        deadline = time.monotonic() + 10
        while True:
            text = open(path).read() if os.path.exists(path) else ""
            if (text.strip() and "total" in text.splitlines()[-1]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert 'execve("/bin/cat"' in text and '"/etc/hostname"' in text, text[:2000]
        assert "total" in text.splitlines()[-1]  # the summary table closes it
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _runtime_root():
    # dockerd passes --root <exec-root>/runtime-<name>/moby, per runtime (20.10: runtime-runc)
    for base in ("/run/docker", "/var/run/docker"):
        if os.path.isdir(base):
            return [os.path.join(base, d, "moby") for d in os.listdir(base)
                    if d.startswith("runtime-")]
    return []


def _traces_of(cid):
    """Everything on the host that still names container `cid`."""
    found = []
    for r in _runtime_root():
        if os.path.exists(os.path.join(r, cid)):
            found.append(f"state {r}/{cid}")
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        for ctrl in os.listdir(base) if os.path.isdir(base) else ():
            p = os.path.join(base, ctrl, "docker", cid)
            if os.path.exists(p):
                found.append(f"cgroup {p}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if cid in line]
    ps = subprocess.run(["pgrep", "-fa", cid], capture_output=True, text=True).stdout
    found += [f"process {line}" for line in ps.splitlines()]
    return found


def test_hygiene_repeated_runs(tmp_path):
    """Sequential `docker run --rm` leave no state dirs, cgroups, mounts or processes
    (checked by container id: other users of this dockerd may run containers meanwhile)."""
    ids = []
    for i in range(10):
        cidfile = tmp_path / f"cid{i}"
        assert drun("--cidfile", str(cidfile), IMAGE, "true").returncode == 0
        ids.append(cidfile.read_text().strip())
    time.sleep(0.5)
    left = [t for cid in ids for t in _traces_of(cid)]
    assert left == []


def test_failed_create_message(name):
    """A create that fails inside the container: docker shows our message, and nothing is
    left behind (no state, cgroup or process of that container -- looked up by its id, as
    other containers may come and go meanwhile)."""
    # dockerd lets any net.* sysctl through; the runtime fails writing it in the netns
    r = docker("run", f"--runtime={RUNTIME}", "--name", name, "--sysctl", "net.ipv4.no_such_knob=1",
               IMAGE, "true")
    assert r.returncode in (125, 127), r.stderr
    assert "linux.sysctl.net.ipv4.no_such_knob" in r.stderr, r.stderr
    cid = json.loads(docker("inspect", name, check=True).stdout)[0]["Id"]
    assert _traces_of(cid) == []


def test_policy_annotation(ctr_run):
    r = drun("--annotation", "org.lxbrand.policy=/no/such/policy.toml", IMAGE, "true")
    if "requires API version" in r.stderr or "unknown flag" in r.stderr:
        # this Docker (API < 1.43) cannot pass annotations: the same through containerd
        r = ctr_run("true", annotations=["org.lxbrand.policy=/no/such/policy.toml"])
        assert r.returncode != 0 and "no/such/policy.toml" in r.stderr, r.stderr
        return
    assert r.returncode == 125 and "no/such/policy.toml" in r.stderr, r.stderr


def test_personality_shows_the_container_limits(name):
    """The LX personality in a container: free, nproc and /proc/meminfo describe the
    container's --memory and --cpus (for init and for docker exec), not the host."""
    r = drun("--memory", "256m", "--cpus", "1", IMAGE, "sh", "-c",
             "free -m | awk '/^Mem:/ {print $2}'; nproc; grep MemTotal /proc/meminfo")
    assert r.stdout.split()[:3] == ["256", "1", "MemTotal:"], (r.stdout, r.stderr)
    assert r.stdout.split()[3] == "262144", r.stdout
    docker("run", f"--runtime={RUNTIME}", "-d", "--name", name, "--memory", "128m", IMAGE,
           "sleep", "60", check=True)
    r = docker("exec", name, "sh", "-c", "free -m | awk '/^Mem:/ {print $2}'")
    assert r.stdout.strip() == "128", (r.stdout, r.stderr)
    # no limits: the host's view, and nothing traps opens
    host_cpus = str(os.cpu_count())
    r = drun(IMAGE, "nproc")
    assert r.stdout.strip() == host_cpus
