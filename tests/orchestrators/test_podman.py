"""Podman drives lxbrand (`podman --runtime lxbrand`, registered by `lxbrand install --podman`):
the everyday surface, each case run under runc too and compared with it.

Podman reads /etc/lxbrand-cri/containers.conf (CONTAINERS_CONF), which .ci/setup-orchestrators.sh
writes: the lxbrand runtimes, and `default_ulimits = []` (Podman's default nofile/nproc limits
need CAP_SYS_RESOURCE, which this VM's root lacks: runc fails the same way without it)."""
import os
import pty
import select
import socket
import subprocess
import time
import uuid

import pytest

from orchtest import IMAGE, PODMAN_CONF, SETUP, leftovers, need_root, run, which_or_skip

RUNTIMES = ("runc", "lxbrand")


@pytest.fixture(scope="module")
def podman():
    """podman(runtime, *args, **kw) -> CompletedProcess (text)."""
    need_root()
    exe = which_or_skip("podman", "podman conmon")
    if not os.path.exists(PODMAN_CONF):
        pytest.skip(f"{PODMAN_CONF} is missing ({SETUP} writes it)")
    env = dict(os.environ, CONTAINERS_CONF=PODMAN_CONF)

    def call(runtime, *args, **kw):
        kw.setdefault("env", env)
        return run([exe, "--runtime", runtime, *args], **kw)
    r = call("lxbrand", "image", "exists", IMAGE)
    if r.returncode != 0:
        pytest.skip(f"podman has no image {IMAGE} ({SETUP} loads it from Docker)")
    call.env = env
    call.exe = exe
    return call


@pytest.fixture
def names(podman):
    """Container and pod names a test uses; all removed at the end, whatever happened."""
    made = []

    def new(prefix="t"):
        n = f"lx{prefix}{uuid.uuid4().hex[:8]}"
        made.append(n)
        return n
    yield new
    for n in made:
        podman("runc", "rm", "-f", "-t", "0", n)
        podman("runc", "pod", "rm", "-f", "-t", "0", n)


def both(fn):
    """fn(runtime) under runc and lxbrand; asserts they agree and returns runc's result."""
    got = {rt: fn(rt) for rt in RUNTIMES}
    assert got["lxbrand"] == got["runc"], f"runc {got['runc']!r}\nlxbrand {got['lxbrand']!r}"
    return got["runc"]


def test_run_exit_status_and_output(podman):
    r = both(lambda rt: (lambda p: (p.returncode, p.stdout, p.stderr))(
        podman(rt, "run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")))
    assert r == (3, "out\n", "err\n")


def test_run_stdin(podman):
    r = both(lambda rt: podman(rt, "run", "--rm", "-i", IMAGE, "sh", "-c", "wc -c; cat",
                               input="hello\n").stdout)
    assert r.split() == ["6"]


def in_pty(argv, env, send=b"", timeout=60):
    """Run ARGV on a new terminal (as a person at a shell); returns (status, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    out = b""
    if send:
        os.write(fd, send)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace").replace("\r", "")


def test_run_it_pty(podman):
    def go(rt):
        code, out = in_pty([podman.exe, "--runtime", rt, "run", "-it", "--rm", IMAGE, "sh", "-c",
                            "tty; stty size; test -t 0 && echo stdin-is-tty; exit 5"],
                           podman.env)
        return code, out.split("\n")[0], "stdin-is-tty" in out
    assert both(go) == (5, "/dev/pts/0", True)


def test_detached_exec_logs_top_stop(podman, names):
    def go(rt):
        n = names()
        r = podman(rt, "run", "-d", "--name", n, IMAGE, "sh", "-c",
                   "echo started; trap 'echo got TERM; exit 3' TERM; "
                   "while :; do sleep 0.1; done")
        assert r.returncode == 0, r.stderr
        res = {}
        ex = podman(rt, "exec", n, "sh", "-c", "echo in exec; exit 4")
        res["exec"] = (ex.returncode, ex.stdout)
        ex = podman(rt, "exec", "-i", n, "sh", "-c", "cat", input="piped\n")
        res["exec_i"] = ex.stdout
        code, out = in_pty([podman.exe, "--runtime", rt, "exec", "-it", n, "sh", "-c",
                            "tty; exit 6"], podman.env)
        res["exec_it"] = (code, out.split("\n")[0])
        # podman top: the container's processes as its pid namespace numbers them
        top = podman(rt, "top", n, "pid", "args").stdout.splitlines()[1:]
        res["top"] = sorted(" ".join(line.split()) for line in top
                            if line.split()[1:2] != ["sleep"])   # the loop's sleep comes and goes
        # State.Pid is the container's init, seen from the host
        pid = int(podman(rt, "inspect", "-f", "{{.State.Pid}}", n).stdout)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            res["pid_cmdline"] = f.read().split(b"\0")[:2]
        stop = podman(rt, "stop", "-t", "10", n)
        res["stop"] = stop.returncode
        res["exit"] = podman(rt, "inspect", "-f", "{{.State.ExitCode}}", n).stdout.strip()
        res["logs"] = podman(rt, "logs", n).stdout
        cid = podman(rt, "inspect", "-f", "{{.Id}}", n).stdout.strip()
        podman(rt, "rm", n)
        res["leftovers"] = leftovers(cid)
        return res
    r = both(go)
    assert r["exec"] == (4, "in exec\n") and r["exec_i"] == "piped\n"
    assert r["exec_it"] == (6, "/dev/pts/0")
    assert r["top"] == ["1 sh -c echo started; trap 'echo got TERM; exit 3' TERM; while :; "
                        "do sleep 0.1; done"], r["top"]
    assert r["pid_cmdline"] == [b"sh", b"-c"]
    assert (r["stop"], r["exit"], r["logs"]) == (0, "3", "started\ngot TERM\n")
    assert r["leftovers"] == []


def test_kill_signal_restart_and_rm(podman, names):
    def go(rt):
        n = names()
        podman(rt, "run", "-d", "--name", n, IMAGE, "sh", "-c",
               "echo up; trap 'exit 9' USR1; while :; do sleep 0.1; done")
        time.sleep(0.5)
        res = {"kill": podman(rt, "kill", "-s", "USR1", n).returncode,
               "wait": podman(rt, "wait", n).stdout.strip()}
        res["restart"] = podman(rt, "restart", n).returncode
        time.sleep(0.5)
        res["running"] = podman(rt, "inspect", "-f", "{{.State.Running}}", n).stdout.strip()
        res["logs"] = podman(rt, "logs", n).stdout
        res["kill9"] = podman(rt, "kill", n).returncode            # SIGKILL by default
        res["wait9"] = podman(rt, "wait", n).stdout.strip()
        cid = podman(rt, "inspect", "-f", "{{.Id}}", n).stdout.strip()
        res["rm"] = podman(rt, "rm", n).returncode
        res["gone"] = podman(rt, "container", "exists", n).returncode
        res["leftovers"] = leftovers(cid)
        return res
    assert both(go) == {"kill": 0, "wait": "9", "restart": 0, "running": "true",
                        "logs": "up\nup\n", "kill9": 0, "wait9": "137", "rm": 0, "gone": 1,
                        "leftovers": []}


def test_rm_flag_leaves_nothing(podman, names):
    def go(rt):
        n = names()
        r = podman(rt, "run", "--rm", "--name", n, IMAGE, "true")
        return r.returncode, podman(rt, "container", "exists", n).returncode
    assert both(go) == (0, 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_published_port(podman, names):
    def go(rt):
        n, port = names(), free_port()
        r = podman(rt, "run", "-d", "--name", n, "-p", f"127.0.0.1:{port}:8080", IMAGE,
                   "httpd", "-f", "-p", "8080", "-h", "/etc")
        assert r.returncode == 0, r.stderr
        deadline, body = time.monotonic() + 20, None
        while time.monotonic() < deadline and body is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"GET /group HTTP/1.0\r\n\r\n")
                    data = b""
                    while chunk := s.recv(4096):
                        data += chunk
                body = data.split(b"\r\n\r\n", 1)[1] if b"200 OK" in data else None
            except OSError:
                time.sleep(0.2)
        podman(rt, "rm", "-f", "-t", "0", n)
        return body
    assert both(go) == b"root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n"


def test_volumes_read_only_and_user(podman, tmp_path):
    def go(rt):
        d = tmp_path / rt
        d.mkdir()
        (d / "in").write_text("from host\n")
        os.chmod(d, 0o777)
        r = podman(rt, "run", "--rm", "-v", f"{d}:/data", IMAGE, "sh", "-c",
                   "cat /data/in; echo from container > /data/out")
        ro = podman(rt, "run", "--rm", "-v", f"{d}:/data:ro", IMAGE, "sh", "-c",
                    "echo x > /data/y")
        rofs = podman(rt, "run", "--rm", "--read-only", IMAGE, "sh", "-c",
                      "touch /x; echo $?; touch /tmp/x && echo tmp-ok")
        user = podman(rt, "run", "--rm", "--user", "1000:1000", "-v", f"{d}:/data", IMAGE,
                      "sh", "-c", "id; touch /data/by-user; stat -c %u:%g /data/by-user")
        return (r.returncode, r.stdout, (d / "out").read_text(), ro.returncode,
                "Read-only file system" in ro.stderr, rofs.stdout,
                "Read-only file system" in rofs.stderr, user.stdout)
    assert both(go) == (0, "from host\n", "from container\n", 1, True, "1\ntmp-ok\n", True,
                        "uid=1000(user) gid=1000(user) groups=1000(user)\n1000:1000\n")


def test_limits(podman):
    """The cgroup limits are the kernel's under both; lxbrand's personality also shows them
    to free and nproc (runc shows the host's: DIVERGENCE.md)."""
    script = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
              " 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max")
    got = both(lambda rt: podman(rt, "run", "--rm", "-m", "256m", "--cpus", "1", IMAGE,
                                 "sh", "-c", script).stdout.split()[:2])
    assert got in (["268435456", "100000"], ["268435456", "100000 100000"][:2]), got
    r = podman("lxbrand", "run", "--rm", "-m", "256m", "--cpus", "1", IMAGE, "sh", "-c",
               "free -m | awk '/^Mem:/ {print $2}'; nproc")
    assert r.stdout.split() == ["256", "1"], (r.stdout, r.stderr)


def test_pod_shares_namespaces(podman, names):
    """`podman pod create` + `run --pod`: two containers in the pod's network, ipc and uts
    namespaces (the infra container holds them) reach each other on localhost."""
    def go(rt):
        pod = names("pod")
        r = podman(rt, "pod", "create", "--name", pod)
        assert r.returncode == 0, r.stderr
        web, cli = names(), names()
        podman(rt, "run", "-d", "--pod", pod, "--name", web, IMAGE, "sh", "-c",
               "echo shared > /dev/shm/x; httpd -f -p 8080 -h /etc")
        podman(rt, "run", "-d", "--pod", pod, "--name", cli, IMAGE, "sleep", "60")
        ns = "for n in net ipc uts; do readlink /proc/self/ns/$n; done"
        same = podman(rt, "exec", web, "sh", "-c", ns).stdout == \
            podman(rt, "exec", cli, "sh", "-c", ns).stdout
        deadline, body = time.monotonic() + 20, ""
        while time.monotonic() < deadline and not body:
            body = podman(rt, "exec", cli, "wget", "-q", "-O", "-",
                          "http://127.0.0.1:8080/hostname").stdout
            time.sleep(0.1)
        res = (same, body.strip() == pod, podman(rt, "exec", cli, "cat", "/dev/shm/x").stdout,
               podman(rt, "exec", cli, "hostname").stdout == f"{pod}\n")
        infra = podman(rt, "pod", "inspect", "-f", "{{.InfraContainerID}}", pod).stdout.strip()
        runtimes = {podman(rt, "inspect", "-f", "{{.OCIRuntime}}", c).stdout.strip()
                    for c in (infra, web, cli)}
        podman(rt, "pod", "rm", "-f", "-t", "0", pod)
        return res, runtimes == {rt}, leftovers(infra)
    assert both(go) == ((True, True, "shared\n", True), True, [])


@pytest.mark.parametrize("args, strict", [
    ((), False),
    (("--annotation", "org.lxbrand.policy=strict"), True),      # per container
])
def test_policy_per_container(podman, args, strict):
    """strict denies ioprio_set (not on its allowlist); default runs it as runc does. The
    lxbrand-strict runtime (`lxbrand install --podman --runtime-name lxbrand-strict -- --policy
    strict`) is strict for every container."""
    for rt in ("lxbrand",) + (("lxbrand-strict",) if not args else ()):
        r = podman(rt, "run", "--rm", *args, IMAGE, "ionice", "-c", "3", "true")
        if strict or rt == "lxbrand-strict":
            assert r.returncode != 0 and "Operation not permitted" in r.stderr, (rt, r.stderr)
        else:
            assert r.returncode == 0, (rt, r.stderr)


def test_bad_annotation_names_it(podman, names):
    n = names()
    r = podman("lxbrand", "run", "--rm", "--name", n, "--annotation",
               "org.lxbrand.policy=no-such-policy", IMAGE, "true")
    assert r.returncode != 0 and "org.lxbrand.policy" in r.stderr, r.stderr
