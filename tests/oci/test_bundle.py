"""The runtime driven by hand on a busybox bundle, as containerd would drive it (no Docker):
create/start/state/kill/delete, the pid-file, the console socket, exec, failures."""
import array
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from ocitest import (busybox_rootfs, bundle, cid, need_busybox, need_engine,  # noqa: F401
                     need_root, run_cli, state_root)

pytestmark = [need_root, need_busybox, need_engine]


def state_of(root, cid):
    r = run_cli(root, "state", cid)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_status(root, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = state_of(root, cid)["status"]
        if st == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{cid} never became {want} (last: {st})")


def leftovers(cid):
    """Cgroup directories named after the container, anywhere."""
    found = []
    for base, dirs, _ in os.walk("/sys/fs/cgroup"):
        if cid in dirs:
            found.append(os.path.join(base, cid))
        if base.count("/") > 6:
            dirs[:] = []
    return found


def assert_c_supervised(state_root, cid):
    """Init (its pid) is traced by lxbrand-sup, and no Python process names the container."""
    init = state_of(state_root, cid)["pid"]
    with open(f"/proc/{init}/status") as f:
        tracer = int(re.search(r"^TracerPid:\t(\d+)$", f.read(), re.M).group(1))
    assert os.path.basename(os.readlink(f"/proc/{tracer}/exe")) == "lxbrand-sup"
    pythons = []
    for p in os.listdir("/proc"):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            exe = os.readlink(f"/proc/{p}/exe")
        except OSError:
            continue
        if cid.encode() in cmd and "python" in os.path.basename(exe):
            pythons.append((p, cmd))
    assert pythons == []
    return init


def test_lifecycle(bundle, state_root, cid, tmp_path):
    out = tmp_path / "out"
    b = bundle(["sh", "-c", "echo hello pid $$ $(hostname); sleep 30"])
    pidfile = tmp_path / "pid"
    with open(out, "w") as f:
        r = run_cli(state_root, "create", "--bundle", str(b), "--pid-file", str(pidfile), cid,
                    stdout=f, stderr=f, capture_output=False)
    assert r.returncode == 0, out.read_text()
    text = pidfile.read_text()
    assert re.fullmatch(r"[0-9]+", text), repr(text)  # containerd: Atoi, no newline
    st = state_of(state_root, cid)
    assert st["status"] == "created" and st["id"] == cid
    # the pid-file and state's pid both name the container's init (runtime-spec, runc): pid 1
    # of its own pid namespace, in its own mount namespace, traced by a supervisor beside it
    assert st["pid"] == int(text)
    with open(f"/proc/{st['pid']}/status") as f:
        status = f.read()
    nspid = re.search(r"^NSpid:\t(.*)$", status, re.M).group(1).split()
    assert nspid == [text, "1"], status
    tracer = int(re.search(r"^TracerPid:\t(\d+)$", status, re.M).group(1))
    assert tracer > 0 and tracer != int(text)
    for ns in ("pid", "mnt"):
        assert os.readlink(f"/proc/{text}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
    assert st["bundle"] == str(b)
    assert run_cli(state_root, "list", "-q").stdout.split() == [cid]

    assert run_cli(state_root, "start", cid).returncode == 0
    wait_status(state_root, cid, "running")
    deadline = time.monotonic() + 10
    while "hello" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hello pid 1 lxbrand" in out.read_text()  # pid namespace, hostname
    r = run_cli(state_root, "start", cid)
    assert r.returncode != 0 and "running" in r.stderr

    r = run_cli(state_root, "delete", cid)
    assert r.returncode != 0 and "not stopped" in r.stderr
    r = run_cli(state_root, "exec", cid, "sh", "-c", "echo in $(hostname); exit 4")
    assert r.returncode == 4 and r.stdout.strip() == "in lxbrand", r.stderr
    ps = json.loads(run_cli(state_root, "ps", "--format", "json", cid).stdout)
    assert int(text) in ps and tracer not in ps  # the supervisor is not a container process

    assert run_cli(state_root, "kill", cid, "9").returncode == 0
    wait_status(state_root, cid, "stopped")
    r = run_cli(state_root, "kill", cid, "15")
    # runc's words: containerd's shim matches "container not running" to tell an exited
    # container from a failed kill (CRI's StopContainer hung on any other text)
    assert r.returncode != 0 and "container not running" in r.stderr
    assert run_cli(state_root, "kill", "--all", cid, "9").returncode == 0  # as runc: no error
    assert run_cli(state_root, "delete", cid).returncode == 0
    assert not (state_root / cid).exists()
    assert leftovers(cid) == []
    assert run_cli(state_root, "state", cid).returncode != 0


# (init is pid 1 of its namespace: it cannot SIGKILL itself, so the signal case kills a child)
@pytest.mark.parametrize("script, code", [("exit 3", 3), ("sh -c 'kill -9 $$'; exit $?", 137),
                                          ("true", 0)])
def test_run_exit_status(bundle, state_root, cid, script, code):
    b = bundle(["sh", "-c", script])
    r = run_cli(state_root, "run", "--bundle", str(b), cid)
    assert r.returncode == code, r.stderr
    assert not (state_root / cid).exists()


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_backends_and_policies(bundle, state_root, cid, backend):
    """--backend/--policy (daemon.json runtimeArgs) reach the engine: under `strict`,
    chroot(2) is refused; under `default` it runs."""
    def mutate(s):
        for k in ("bounding", "effective", "permitted"):
            s["process"]["capabilities"][k].append("CAP_SYS_CHROOT")
    b = bundle(["sh", "-c", "chroot / true 2>/dev/null && echo allowed || echo refused"],
               mutate=mutate)
    r = run_cli(state_root, "--backend", backend, "run", "--bundle", str(b), cid)
    assert (r.returncode, r.stdout) == (0, "allowed\n"), r.stderr
    r = run_cli(state_root, "--backend", backend, "--policy", "strict", "run", "--bundle",
                str(b), cid)
    assert (r.returncode, r.stdout) == (0, "refused\n"), r.stderr


def test_sigterm_forwarded(bundle, state_root, cid, tmp_path):
    b = bundle(["sh", "-c", "trap 'echo got TERM; exit 7' TERM; while true; do sleep 0.1; done"])
    with open(tmp_path / "out", "w") as f:
        assert run_cli(state_root, "create", "--bundle", str(b), cid, stdout=f,
                       capture_output=False).returncode == 0
    assert run_cli(state_root, "start", cid).returncode == 0
    time.sleep(0.5)
    assert run_cli(state_root, "kill", cid, "TERM").returncode == 0
    wait_status(state_root, cid, "stopped")
    assert "got TERM" in (tmp_path / "out").read_text()
    assert run_cli(state_root, "delete", cid).returncode == 0


def test_console_socket(bundle, state_root, cid, tmp_path):
    """One connection, one message, exactly one fd (the pty master), before create returns."""
    b = bundle(["sh", "-c", "tty; echo size $(stty size)"], terminal=True,
               mutate=lambda s: s["process"].update(consoleSize={"height": 24, "width": 80}))
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        got["fds"] = list(fds)
        got["more"] = conn.recv(10)  # then EOF: nothing else on the connection
        conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    r = run_cli(state_root, "create", "--bundle", str(b), "--console-socket", path, cid)
    assert r.returncode == 0, r.stderr
    t.join(10)
    assert len(got["fds"]) == 1 and got["more"] == b""
    master = got["fds"][0]
    assert run_cli(state_root, "start", cid).returncode == 0
    data = b""
    deadline = time.monotonic() + 10
    while b"size" not in data and time.monotonic() < deadline:
        try:
            data += os.read(master, 4096)
        except OSError:
            break
    os.close(master)
    assert b"/dev/pts/0" in data and b"size 24 80" in data, data
    wait_status(state_root, cid, "stopped")
    assert run_cli(state_root, "delete", cid).returncode == 0


def test_failed_create_leaves_nothing(bundle, state_root, cid, tmp_path):
    # a program that is not in the image: the error says so, nothing stays behind
    b = bundle(["no-such-program"])
    r = run_cli(state_root, "--log", str(tmp_path / "log.json"), "--log-format", "json",
                "create", "--bundle", str(b), "--pid-file", str(tmp_path / "pid"), cid)
    assert r.returncode == 1
    assert "executable file not found in $PATH" in r.stderr
    last = json.loads((tmp_path / "log.json").read_text().splitlines()[-1])
    assert last["level"] == "error" and "no-such-program" in last["msg"]
    assert not (state_root / cid).exists() and not (tmp_path / "pid").exists()
    assert leftovers(cid) == []

    # a mount that cannot be made
    b = bundle(["true"], mutate=lambda s: s["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": "/no/such/dir"}))
    r = run_cli(state_root, "create", "--bundle", str(b), cid)
    assert r.returncode == 1 and "/no/such/dir" in r.stderr
    assert not (state_root / cid).exists() and leftovers(cid) == []

    # a bad config.json
    b = bundle(["true"], mutate=lambda s: s["process"].update(cwd="relative"))
    r = run_cli(state_root, "create", "--bundle", str(b), cid)
    assert r.returncode == 1 and "process.cwd" in r.stderr
    assert not (state_root / cid).exists()


def test_duplicate_id_refused(bundle, state_root, cid):
    b = bundle(["sleep", "30"])
    # the container's stdio is create's: do not capture it, or we wait for the container
    assert run_cli(state_root, "create", "--bundle", str(b), cid, capture_output=False,
                   stdout=subprocess.DEVNULL).returncode == 0
    try:
        r = run_cli(state_root, "create", "--bundle", str(b), cid)
        assert r.returncode == 1 and "already exists" in r.stderr
    finally:
        assert run_cli(state_root, "delete", "--force", cid).returncode == 0
    assert leftovers(cid) == []


def test_container_setup(bundle, state_root, cid):
    """What the container sees: user, cwd, env, rlimits, masked and read-only paths,
    read-only root, hostname, its own pid namespace."""
    def mutate(s):
        s["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
        s["process"]["cwd"] = "/tmp"
        s["process"]["env"].append("FOO=bar")
        s["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
        s["hostname"] = "boxy"
    script = ("id -u; id -g; id -G; pwd; echo $FOO; ulimit -n; hostname; "
              "cat /proc/kcore | wc -c; touch /x 2>/dev/null || echo rofs; "
              "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo rosys; "
              "ls /proc | grep -c '^[0-9]'")
    b = bundle(["sh", "-c", script], mutate=mutate)
    r = run_cli(state_root, "run", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "1000", "1000", "5", "/tmp", "bar", "123", "boxy",
                                "0", "rofs", "rosys", "2"] or \
        r.stdout.split()[:9] == ["1000", "1000", "1000", "5", "/tmp", "bar", "123", "boxy", "0"], \
        r.stdout


def test_user_namespace(bundle, state_root, cid, tmp_path):
    """uid/gid mappings: root in the container is host uid 100000; the image's files (host
    root's) show as the overflow id; exec joins the same user namespace."""
    def mutate(s):
        s["linux"]["namespaces"].append({"type": "user"})
        for key in ("uidMappings", "gidMappings"):
            s["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; "
                "sleep 30"], mutate=mutate)
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = run_cli(state_root, "create", "--bundle", str(b), cid, stdout=f,
                    capture_output=False)
    assert r.returncode == 0, out.read_text()
    init = state_of(state_root, cid)["pid"]
    with open(f"/proc/{init}/uid_map") as f:  # already in it when created
        assert f.read().split() == ["0", "100000", "65536"]
    assert run_cli(state_root, "start", cid).returncode == 0
    r = run_cli(state_root, "exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.returncode == 0 and r.stdout.split() == ["0", "0", "100000", "65536"], r.stderr
    deadline = time.monotonic() + 10
    while len(out.read_text().split()) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text().split() == ["0", "0", "100000", "65536", "65534"]
    assert run_cli(state_root, "delete", "--force", cid).returncode == 0
    assert leftovers(cid) == []


@pytest.fixture(scope="module")
def c_launcher(tmp_path_factory):
    """The runtime's C front end (csrc/runtime/) as `lxbrand install` puts it, with
    lxbrand-sup and lxbrand-runtime.py beside it."""
    from lxbrand.oci.install import write_launcher
    dest = str(tmp_path_factory.mktemp("launcher") / "lxbrand-runtime")
    write_launcher(dest)
    with open(dest, "rb") as f:
        if f.read(4) != b"\x7fELF":
            pytest.fail("the runtime's C front end is not built (pip install -e . builds "
                        "lxbrand-runtime with the engine; it needs libjansson-dev)")
    return dest


def test_c_front_end(c_launcher, bundle, state_root, cid, tmp_path):
    """start, kill NUMBER and delete answered in C; create (and errors) by Python behind it."""
    def run(*args, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run([c_launcher, "--root", str(state_root), "--log",
                               str(tmp_path / "log.json"), "--log-format", "json", *args],
                              timeout=60, **kw)
    b = bundle(["sh", "-c", "trap 'exit 6' USR1; while true; do sleep 0.1; done"])
    assert run("create", "--bundle", str(b), cid, capture_output=False,
               stdout=subprocess.DEVNULL).returncode == 0
    assert (state_root / cid / "fast").exists()
    assert run("start", cid).returncode == 0
    assert not (state_root / cid / "exec.fifo").exists()
    wait_status(state_root, cid, "running")
    r = run("delete", cid)  # running: handed to Python, which refuses
    assert r.returncode == 1 and "not stopped" in r.stderr
    time.sleep(0.3)
    assert run("kill", cid, "10").returncode == 0  # SIGUSR1
    wait_status(state_root, cid, "stopped")
    assert run("delete", cid).returncode == 0
    assert not (state_root / cid).exists() and leftovers(cid) == []
    r = run("delete", cid)
    assert r.returncode == 1 and "does not exist" in r.stderr
    last = json.loads((tmp_path / "log.json").read_text().splitlines()[-1])
    assert last["level"] == "error" and "does not exist" in last["msg"]
    assert run("delete", "--force", cid).returncode == 0
    # a created (never started) container: delete kills its supervisor
    assert run("create", "--bundle", str(b), cid, capture_output=False,
               stdout=subprocess.DEVNULL).returncode == 0
    assert run("delete", cid).returncode == 0
    assert not (state_root / cid).exists() and leftovers(cid) == []


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_c_exec_matches_python(c_launcher, bundle, state_root, cid, backend, tmp_path):
    """exec --process, done in C (csrc/runtime/exec.c) and by the Python reference
    (LXBRAND_PYTHON=1), gives the same process: same output, exit status, ids, groups,
    capabilities, seccomp filters, namespaces and cgroups, and a supervisor of its own."""
    def run(*args, py=False, **kw):
        env = dict(os.environ, LXBRAND_PYTHON="1" if py else "0")
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run([c_launcher, "--root", str(state_root), "--backend", backend, *args],
                              text=True, timeout=60, env=env, **kw)
    b = bundle(["sleep", "60"])
    # (init inherits create's stdio: it must not be a pipe we wait on)
    assert run("create", "--bundle", str(b), cid, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL).returncode == 0
    assert run("start", cid).returncode == 0
    probe = ("echo pid=$$; id; cd /tmp && pwd; echo HOME=$HOME; "
             "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs|Seccomp|Seccomp_filters):' "
             "/proc/self/status; "
             "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/net; "
             "cat /proc/self/cgroup | sort; exit 3")
    spec = json.loads((b / "config.json").read_text())
    proc = dict(spec["process"], args=["sh", "-c", probe], cwd="/", terminal=False,
                user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})
    proc["env"] = ["PATH=/bin"]
    pf = tmp_path / "process.json"
    pf.write_text(json.dumps(proc))
    outs = []
    for py in (False, True):
        pidfile = tmp_path / f"pid{py}"
        r = run("exec", "--process", str(pf), "--pid-file", str(pidfile), cid, py=py)
        assert r.returncode == 3, r.stderr
        assert re.fullmatch(r"[0-9]+", pidfile.read_text())
        lines = r.stdout.splitlines()
        assert lines[0].startswith("pid=") and lines[0] != "pid=1"  # in the container's pid ns
        outs.append(lines[1:])
    assert outs[0] == outs[1]
    text = "\n".join(outs[0])
    assert "uid=1000(user) gid=1000 groups=10,20" in text and "HOME=/home" in text, text
    assert "Seccomp:\t2" in text and "/ns/pid" not in text, text
    # detached, as the shim calls it: the pid-file names the process (seen from the host), a
    # supervisor of its own traces it (invisible from inside: TracerPid reads 0 there)
    proc["args"] = ["sleep", "30"]
    pf.write_text(json.dumps(proc))
    init_tracer = re.search(r"TracerPid:\t(\d+)", open(f"/proc/{json.loads(run('state', cid).stdout)['pid']}/status").read()).group(1)
    for py in (False, True):
        pidfile = tmp_path / f"dpid{py}"
        r = run("exec", "--detach", "--process", str(pf), "--pid-file", str(pidfile), cid, py=py,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the process keeps them
        assert r.returncode == 0
        pid = int(pidfile.read_text())
        tracer = re.search(r"TracerPid:\t(\d+)", open(f"/proc/{pid}/status").read()).group(1)
        assert tracer not in ("0", init_tracer)
        assert open(f"/proc/{tracer}/cmdline").read().split("\0")[0].endswith("lxbrand-sup")
        os.kill(int(tracer), 9)  # the supervisor's death takes its process with it
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]:
            assert time.monotonic() < deadline, f"exec process {pid} outlived its supervisor"
            time.sleep(0.01)
    # a missing program: runc's words, which Docker maps to 127 (here: the runtime fails)
    proc["args"] = ["nosuch"]
    pf.write_text(json.dumps(proc))
    for py in (False, True):
        r = run("exec", "--process", str(pf), cid, py=py)
        assert r.returncode != 0 and "executable file not found in $PATH" in r.stderr, r.stderr
    assert run("delete", "--force", cid).returncode == 0
    assert leftovers(cid) == []


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_personality_and_path_rules_in_the_containers_namespaces(bundle, state_root, cid, backend, tmp_path):
    """The container's memory limit shows in /proc/meminfo and a [[path]] rule holds,
    on both backends: the served and the allowed opens reach init as fds (ADDFD, or
    csrc/inject.c on ptrace) -- nothing depends on the container seeing the
    supervisor, which lives outside its pid and mount namespaces."""
    pol = tmp_path / "paths.toml"
    pol.write_text('[[path]]\naction = "deny"\npaths = ["/etc/group"]\nerrno = "ENOENT"\n')

    def mutate(s):
        s["linux"].setdefault("resources", {})["memory"] = {"limit": 256 << 20}
    b = bundle(["sh", "-c", "head -1 /proc/meminfo; cat /etc/passwd >/dev/null && echo passwd ok; "
                            "cat /etc/group 2>&1 || echo group refused"], mutate=mutate)
    r = run_cli(state_root, "--backend", backend, "--policy", str(pol), "run", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["MemTotal:", str(256 * 1024), "kB"], r.stdout
    assert lines[1] == "passwd ok", r.stdout
    assert "No such file or directory" in lines[2] and lines[3] == "group refused", r.stdout


def _mountinfo_under(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


@pytest.mark.parametrize("drop", [("mount",), ("mount", "pid", "network", "ipc", "uts")])
def test_namespaces_not_listed_are_the_runtimes(bundle, state_root, cid, drop, tmp_path):
    """runtime-spec (and OCI validation's linux_ns_itype): a namespace type the config does
    not list is the runtime's.  Without a mount namespace the container's mounts are made
    under a private bind of its rootfs in the runtime's namespace, and delete detaches them."""
    def mutate(s):
        s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] not in drop]
    b = bundle(["sh", "-c", "for n in mnt pid net; do readlink /proc/self/ns/$n; done; "
                            "cat /etc/passwd | head -1; sleep 30"], mutate=mutate)
    rootfs = os.path.realpath(b / "rootfs")
    before = _mountinfo_under(rootfs)
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = run_cli(state_root, "create", "--bundle", str(b), cid, stdout=f, stderr=f,
                    capture_output=False)
    assert r.returncode == 0, out.read_text()
    assert run_cli(state_root, "start", cid).returncode == 0
    deadline = time.monotonic() + 10
    while "root:" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = out.read_text().splitlines()
    mine = {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("mnt", "pid", "net")}
    assert lines[0] == mine["mnt"], lines  # the runtime's mount namespace
    if "pid" in drop:
        assert lines[1:3] == [mine["pid"], mine["net"]], lines
    else:
        assert lines[1] != mine["pid"], lines
    assert lines[3].startswith("root:"), lines  # chroot'ed into the rootfs
    assert len(_mountinfo_under(rootfs)) > len(before)  # its /proc, /dev... under the rootfs
    assert run_cli(state_root, "delete", "--force", cid).returncode == 0
    assert _mountinfo_under(rootfs) == before  # nothing left in the runtime's namespace
    assert leftovers(cid) == []


def _memory_cgroup_dir(pid):
    """The directory of pid's memory cgroup, as mounted here (v1 memory, else v2)."""
    paths = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            paths["v2" if not ctrls else "v1" if "memory" in ctrls.split(",") else None] = path
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split(" - ") for ln in f]
    for want, fstype in (("v1", "cgroup"), ("v2", "cgroup2")):
        for left, right in mounts:
            fs, _, opts = right.split()[:3]
            root, point = left.split()[3:5]
            if want in paths and fs == fstype and root == "/" and (fs == "cgroup2" or "memory" in opts.split(",")):
                return point + paths[want]
    return None


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_container_limits_served_by_the_c_supervisor(bundle, state_root, cid, backend, tmp_path):
    """A container with a memory limit and a CPU quota (the personality's view) is
    supervised in C: no Python process stays alive for it, its init's tracer is
    lxbrand-sup, free/nproc/cpuinfo show the limits, and its usage is its memory
    cgroup's: memory a process outside its tree charges there shows in MemFree."""
    x = tmp_path / "x"
    x.mkdir()

    def mutate(s):
        s["linux"].setdefault("resources", {}).update(memory={"limit": 256 << 20},
                                                       cpu={"quota": 100000, "period": 100000})
        s["mounts"].append({"destination": "/x", "type": "bind", "source": str(x), "options": ["rbind", "rw"]})
    b = bundle(["sh", "-c", "head -1 /proc/meminfo; nproc; grep -c ^processor /proc/cpuinfo; "
                            "free -m | awk '/^Mem:/ {print $2}'; grep MemFree /proc/meminfo; touch /x/ready; "
                            "while [ ! -e /x/go ]; do sleep 0.05; done; grep MemFree /proc/meminfo"], mutate=mutate)
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = run_cli(state_root, "--backend", backend, "create", "--bundle", str(b), cid,
                    stdout=f, stderr=f, capture_output=False)
    assert r.returncode == 0, out.read_text()
    hog = None
    try:
        assert run_cli(state_root, "start", cid).returncode == 0
        deadline = time.monotonic() + 20
        while not (x / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (x / "ready").exists(), out.read_text()
        init = assert_c_supervised(state_root, cid)
        cg = _memory_cgroup_dir(init)
        assert cg and os.path.isdir(cg), cg
        hog = subprocess.Popen([sys.executable, "-c",
                                "import os, sys, time\n"
                                "open(sys.argv[1] + '/cgroup.procs', 'w').write(str(os.getpid()))\n"
                                "x = b'\\1' * (64 << 20)\nprint('held', flush=True)\ntime.sleep(30)\n", cg],
                               stdout=subprocess.PIPE, text=True)
        assert hog.stdout.readline() == "held\n"
        (x / "go").touch()
        wait_status(state_root, cid, "stopped", timeout=20)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        run_cli(state_root, "delete", "--force", cid)
    lines = out.read_text().splitlines()
    assert lines[:4] == [f"{'MemTotal:':<16}{256 * 1024:>8} kB", "1", "1", "256"], lines
    before, after = (int(ln.split()[1]) for ln in lines[4:6])
    assert before - after >= 60 << 10, lines   # the hog's 64 MiB, charged to the container's cgroup


def test_c_create_matches_python(c_launcher, bundle, state_root, tmp_path):
    """create done in C (csrc/runtime/create.c) and by the Python reference
    (LXBRAND_PYTHON=1) build the same container from a Docker-like config: the same view
    from inside (mounts, /dev, ids, capabilities, seccomp filters, cgroup limits, hostname,
    namespaces) and the same state; the first C create of a policy hands over to Python,
    which fills the compiled-policy cache the next ones load."""
    import uuid

    def run(*args, py=False, **kw):
        env = dict(os.environ, LXBRAND_PYTHON="1" if py else "0")
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run([c_launcher, "--root", str(state_root), *args], text=True, timeout=60,
                              env=env, **kw)

    probe = ("hostname; id; cat /proc/self/status | grep -E '^(Cap|NoNewPrivs|Seccomp)'; ls /dev; "
             "ls -la /dev/pts/ptmx /dev/null | cut -c1-10; cat /proc/self/mountinfo | cut -d' ' -f5,6 "
             "| sort; ulimit -n; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.swappiness "
             "2>/dev/null; echo $HOME; pwd; ls /proc | grep -vc '^[0-9]'")

    def mutate(s):
        s["hostname"] = "cdiff"
        s["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
        s["process"]["cwd"] = "/tmp/new/dir"  # made by init, as runc does
        s["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
        s["process"]["oomScoreAdj"] = 100
        s["linux"].setdefault("resources", {})["pids"] = {"limit": 77}
        s["linux"]["resources"]["memory"] = {"swappiness": 10}
        s["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                 "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO",
                                               "errnoRet": 1},
                                              {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                                               "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                                                        {"index": 0, "value": 16, "op": "SCMP_CMP_EQ"}]}]}
        s["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0"}
    b = bundle(["sh", "-c", probe], mutate=mutate)
    outs = []
    for py in (True, False, False):  # Python; C (a cache miss: Python again, filling it); C
        cid = "t" + uuid.uuid4().hex[:10]
        out = tmp_path / f"out-{cid}"
        with open(out, "w") as f:
            r = run("create", "--bundle", str(b), cid, py=py, stdout=f, stderr=f)
        assert r.returncode == 0, out.read_text()
        st = json.loads((state_root / cid / "state.json").read_text())
        fast = (state_root / cid / "fast").read_text()
        assert run("start", cid).returncode == 0
        wait_status(state_root, cid, "stopped")
        assert run("delete", cid).returncode == 0
        assert leftovers(cid) == []
        # the same but for the container id
        st, fast = json.loads(json.dumps(st).replace(cid, "CID")), fast.replace(cid, "CID")
        outs.append((out.read_text(), st, fast))
    assert list((state_root / ".policy").iterdir()), "the C create did not get its policy cached"
    (py_out, py_st, py_fast), _, (c_out, c_st, c_fast) = outs
    assert c_out == py_out, (c_out, py_out)
    lines = c_out.splitlines()
    assert lines[0] == "cdiff" and "/tmp/new/dir" in lines and "512" in lines and "77" in lines, c_out
    # the same state for the Python verbs and the C front end
    for key in ("status", "bundle", "rootfs", "annotations"):
        assert c_st[key] == py_st[key], key
    for key in ("cgroups", "hooks", "engine"):
        assert c_st["lxbrand"].get(key) == py_st["lxbrand"].get(key), key
    strip = lambda f: [ln for ln in f.splitlines() if not ln.startswith(("pid ", "start ", "sup "))]  # noqa: E731
    assert strip(c_fast) == strip(py_fast)


def test_c_create_with_limits(c_launcher, bundle, state_root, tmp_path):
    """A container with a memory limit and a CPU quota (the personality's view) is created
    in C once the policy of that shape is cached: its own limits are set in the cached
    view (two containers, two limits), with no Python at all (LXBRAND_PY=/bin/false makes
    any fallback fail)."""
    import uuid

    def make(mem_mib, quota):
        def mutate(s):
            res = s["linux"].setdefault("resources", {})
            res["memory"] = {"limit": mem_mib << 20}
            res["cpu"] = {"quota": quota, "period": 100000}
        return bundle(["sh", "-c", "head -1 /proc/meminfo; nproc"], mutate=mutate)

    def run(*args, env=None):
        return subprocess.run([c_launcher, "--root", str(state_root), *args], text=True, timeout=60,
                              env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)

    def once(b, env=None):
        cid = "t" + uuid.uuid4().hex[:10]
        out = tmp_path / f"out-{cid}"
        with open(out, "w") as f:
            r = subprocess.run([c_launcher, "--root", str(state_root), "create", "--bundle", str(b), cid],
                               stdout=f, stderr=f, timeout=60, env=dict(os.environ, **(env or {})))
        assert r.returncode == 0, out.read_text()
        assert run("start", cid).returncode == 0
        wait_status(state_root, cid, "stopped")
        assert run("delete", cid).returncode == 0
        assert leftovers(cid) == []
        return out.read_text().split()

    first = once(make(256, 100000))            # a cache miss: Python creates, fills the cache
    assert first == ["MemTotal:", str(256 * 1024), "kB", "1"], first
    no_python = {"LXBRAND_PY": "/bin/false"}   # from here, a fallback would fail
    assert once(make(128, 150000), no_python) == ["MemTotal:", str(128 * 1024), "kB", "2"]  # 1.5 shown as 2
    assert once(make(512, 100000), no_python) == ["MemTotal:", str(512 * 1024), "kB", "1"]


def test_c_state_matches_python(c_launcher, bundle, state_root, cid):
    """state, answered in C (csrc/runtime/state_verb.c), prints what the Python reference
    prints in every status: the same JSON, the same keys in the same order, indented alike
    (jansson writes \\u00E9 where Python writes \\u00e9)."""
    def state(py):
        r = subprocess.run([c_launcher, "--root", str(state_root), "state", cid], capture_output=True,
                           text=True, timeout=60, env=dict(os.environ, LXBRAND_PYTHON="1" if py else "0"))
        return r.returncode, r.stdout, r.stderr
    def mutate(s):
        s["annotations"] = {"org.example.note": "caf\u00e9 \"quoted\""}
    b = bundle(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"], mutate=mutate)
    r = subprocess.run([c_launcher, "--root", str(state_root), "create", "--bundle", str(b), cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0
    seen = []
    for step in ("created", "running", "paused", "stopped"):
        if step == "running":
            assert run_cli(state_root, "start", cid).returncode == 0
        elif step == "paused":
            assert run_cli(state_root, "pause", cid).returncode == 0
        elif step == "stopped":
            assert run_cli(state_root, "resume", cid).returncode == 0
            assert run_cli(state_root, "kill", cid, "TERM").returncode == 0
            wait_status(state_root, cid, "stopped")
        c, p = state(False), state(True)
        assert c[0] == p[0] == 0 and c[2] == p[2], (step, c, p)
        assert json.loads(c[1]) == json.loads(p[1]) and c[1].lower() == p[1].lower(), (step, c, p)
        seen.append(json.loads(c[1])["status"])
    assert seen == ["created", "running", "paused", "stopped"]
    assert state(False)[0] == 0 and run_cli(state_root, "delete", cid).returncode == 0
    c, p = state(False), state(True)
    assert c[0] == p[0] == 1 and c[2] == p[2] and "does not exist" in c[2]


@pytest.mark.parametrize("backend", ["unotify", "ptrace"])
def test_path_and_network_rules_served_by_the_c_supervisor(bundle, state_root, cid, backend, tmp_path):
    """A container whose policy has only [[path]] and [[network]] rules is supervised by
    lxbrand-sup from the compiled blob (csrc/blob.h LX_SEC_PATHS/LX_SEC_NET), with no
    Python alive for it, and the rules hold inside it: a denied file, a hidden one, an
    allowed write, a denied UDP send."""
    x = tmp_path / "x"
    x.mkdir()
    pol = tmp_path / "rules.toml"
    pol.write_text('path_default = "allow"\nnetwork_default = "deny"\n'
                   '[[path]]\naction = "deny"\npaths = ["/etc/group"]\nops = ["read"]\n'
                   '[[path]]\naction = "deny"\npaths = ["/etc/hosts*"]\nerrno = "ENOENT"\n'
                   '[[network]]\naction = "allow"\nfamily = "unix"\n')

    def mutate(s):
        s["mounts"].append({"destination": "/x", "type": "bind", "source": str(x), "options": ["rbind", "rw"]})
    b = bundle(["sh", "-c", "cat /etc/group >/dev/null 2>&1 || echo group refused; "
                            "ls /etc | grep -c '^hosts' ; echo made > /x/f && cat /x/f; "
                            "nc 127.0.0.1 1 </dev/null 2>&1 | head -1; touch /x/ready; "
                            "while [ ! -e /x/go ]; do sleep 0.05; done"], mutate=mutate)
    out = tmp_path / "out"
    with open(out, "w") as f:
        r = run_cli(state_root, "--backend", backend, "--policy", str(pol), "create", "--bundle", str(b), cid,
                    stdout=f, stderr=f, capture_output=False)
    assert r.returncode == 0, out.read_text()
    try:
        assert run_cli(state_root, "start", cid).returncode == 0
        deadline = time.monotonic() + 20
        while not (x / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (x / "ready").exists(), out.read_text()
        init = assert_c_supervised(state_root, cid)
    finally:
        (x / "go").touch()
        deadline = time.monotonic() + 20
        while run_cli(state_root, "state", cid).returncode == 0 and \
                json.loads(run_cli(state_root, "state", cid).stdout)["status"] == "running" and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        run_cli(state_root, "delete", "--force", cid)
    lines = out.read_text().splitlines()
    assert lines[:3] == ["group refused", "0", "made"], lines
    assert "Permission denied" in lines[3], lines  # connect to 127.0.0.1: the network rules deny it
