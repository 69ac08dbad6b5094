"""The container is the container: what Docker and every ops tool see of an lxbrand
container is what they see of a runc one, with the real dockerd.

State.Pid names the container's init (its own pid and mount namespaces, NSpid ending in 1);
`nsenter -t PID -m -p` lands in the container; the shim reaps init itself, so exit codes and
death signals are exact and signals reach init under the kernel's rules for a pid
namespace's init; a supervisor runs beside it (traces it, not in its cgroup), is a C
program for a policy that needs no Python, and takes the whole tree with it when it dies.
"""
import json
import os
import random
import re
import subprocess
import time

import pytest

from test_docker import IMAGE, RUNTIME, _why, docker  # noqa: F401 -- the same skips

pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

# how many random supervisor kills the trial makes (a thorough run makes 100:
# LXBRAND_KILL_TRIALS=100; CI makes fewer to stay fast)
KILL_TRIALS = int(os.environ.get("LXBRAND_KILL_TRIALS", "25"))


@pytest.fixture
def names():
    made = []

    def new(prefix="lxpm"):
        n = f"{prefix}-{os.urandom(5).hex()}"
        made.append(n)
        return n
    yield new
    if made:
        docker("rm", "-f", *made)


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return f.read()


def field(status, key):
    return re.search(rf"^{key}:\t(.*)$", status, re.M).group(1)


def inspect(name):
    return json.loads(docker("inspect", name, check=True).stdout)[0]


def run_detached(name, *args, runtime=None):
    """docker run -d; returns the inspect data once init runs the program (`start`, like
    runc's, returns when init is released, a moment before it execs)."""
    docker("run", f"--runtime={runtime or RUNTIME}", "-d", "--name", name, *args, check=True)
    c = inspect(name)
    pid, deadline = c["State"]["Pid"], time.monotonic() + 10
    while "python" in _exe_name(pid) or "runc" in _exe_name(pid):
        assert time.monotonic() < deadline, f"init {pid} never exec'd the program"
        time.sleep(0.005)
    return c


def supervisor_of(pid):
    tracer = int(field(status_of(pid), "TracerPid"))
    assert tracer > 0, f"pid {pid} is not supervised"
    return tracer


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def python_processes_of(cid):
    """Processes whose command line names the container id and that run a Python."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = cmdline(int(d))
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            continue
        if any(cid.encode() in a for a in argv) and "python" in os.path.basename(exe):
            found.append((int(d), b" ".join(argv)[:200]))
    return found


def test_state_pid_is_the_containers_init(names):
    n = names()
    c = run_detached(n, IMAGE, "sh", "-c", "sleep 300")
    pid = c["State"]["Pid"]
    st = status_of(pid)
    assert field(st, "NSpid").split() == [str(pid), "1"], st
    for ns in ("pid", "mnt", "net", "uts", "ipc"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # nsenter lands in the container: its processes, not the host's
    r = subprocess.run(["nsenter", "-t", str(pid), "-m", "-p", "ps"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    procs = {int(line.split()[0]): line for line in r.stdout.splitlines()[1:]}
    assert 1 in procs and "sleep 300" in procs[1] or "sh -c" in procs[1], r.stdout
    assert len(procs) <= 3, r.stdout  # sh/sleep and ps: nothing of the host's
    # docker top lists the container's processes and not the supervisor
    top = docker("top", n, check=True).stdout
    sup = supervisor_of(pid)
    assert str(pid) in top and f" {sup} " not in top, top
    # the supervisor: beside init (not its parent), a C program naming the container,
    # outside the container's cgroups and namespaces
    assert int(field(st, "PPid")) != sup
    assert os.path.basename(os.readlink(f"/proc/{sup}/exe")) == "lxbrand-sup"
    assert c["Id"].encode() in b" ".join(cmdline(sup))
    with open(f"/proc/{sup}/cgroup") as f:
        assert c["Id"] not in f.read()
    assert os.readlink(f"/proc/{sup}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    # no Python stays alive for a container whose policy needs none
    assert python_processes_of(c["Id"]) == []


def test_exit_status_and_death_signal_are_inits(names):
    assert docker("run", f"--runtime={RUNTIME}", "--rm", IMAGE, "sh", "-c", "exit 42").returncode == 42
    n = names()
    run_detached(n, IMAGE, "sleep", "300")
    docker("kill", "-s", "KILL", n, check=True)
    docker("wait", n, check=True)
    st = inspect(n)["State"]
    assert st["ExitCode"] == 137 and not st["OOMKilled"], st
    # the pid namespace's init rule, the same under runc and lxbrand: a signal init has no
    # handler for is dropped unless it is SIGKILL/SIGSTOP (pid_namespaces(7))
    got = {}
    for runtime in ("runc", RUNTIME):
        m = names()
        run_detached(m, IMAGE, "sleep", "300", runtime=runtime)
        docker("kill", "-s", "TERM", m, check=True)
        time.sleep(0.5)
        running = inspect(m)["State"]["Running"]
        docker("kill", "-s", "KILL", m)
        docker("wait", m)
        got[runtime] = (running, inspect(m)["State"]["ExitCode"])
    assert got[RUNTIME] == got["runc"] == (True, 137), got


def test_docker_stop_times_out_on_a_handlerless_init_as_with_runc(names):
    n = names()
    run_detached(n, IMAGE, "sleep", "300")
    t0 = time.monotonic()
    docker("stop", "-t", "1", n, check=True)
    took = time.monotonic() - t0
    st = inspect(n)["State"]
    assert st["ExitCode"] == 137 and 0.9 < took < 20, (st, took)
    # with a handler, init exits at once with its own code
    m = names()
    run_detached(m, IMAGE, "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done")
    time.sleep(0.3)
    docker("stop", "-t", "10", m, check=True)
    assert inspect(m)["State"]["ExitCode"] == 3


def test_pause_resume_and_exec(names):
    n = names()
    c = run_detached(n, IMAGE, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done")
    time.sleep(0.3)
    docker("pause", n, check=True)
    r = docker("exec", n, "true")
    assert r.returncode != 0 and "paused" in r.stderr.lower(), r.stderr
    docker("unpause", n, check=True)
    time.sleep(0.3)
    r = docker("exec", n, "sh", "-c", "cat /tmp/n; echo $$")
    assert r.returncode == 0 and int(r.stdout.split()[0]) > 1, r.stderr
    assert python_processes_of(c["Id"]) == []


def test_exec_process_is_supervised_and_reaped_by_the_shim(names):
    n = names()
    c = run_detached(n, IMAGE, "sleep", "300")
    init_sup = supervisor_of(c["State"]["Pid"])
    r = docker("exec", "-d", n, "sleep", "200")
    assert r.returncode == 0, r.stderr
    time.sleep(0.3)
    top = docker("top", n, "-o", "pid,args").stdout
    execd = [int(line.split()[0]) for line in top.splitlines()[1:] if "sleep 200" in line]
    assert len(execd) == 1, top
    sup = supervisor_of(execd[0])
    assert sup != init_sup and os.path.basename(os.readlink(f"/proc/{sup}/exe")) == "lxbrand-sup"
    assert python_processes_of(c["Id"]) == []
    # exact exit codes through docker exec
    assert docker("exec", n, "sh", "-c", "exit 17").returncode == 17
    assert docker("exec", n, "sh", "-c", "kill -9 $$").returncode == 137


def _container_procs(cid):
    """Host pids of processes in the container's cgroups (any hierarchy), and supervisors."""
    out = set()
    for root, _, files in os.walk("/sys/fs/cgroup"):
        if cid in root and "cgroup.procs" in files:
            try:
                with open(os.path.join(root, "cgroup.procs")) as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                pass
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if cid.encode() in b" ".join(cmdline(int(d))) and _exe_name(d) == "lxbrand-sup":
                    out.add(int(d))
            except OSError:
                pass
    return out


def _kill_and_collect(name, c, init_sup, i):
    """SIGKILL the container's supervisor; the container must stop, and what of it is still
    alive 10 s later is returned (sorted host pids); the container is removed."""
    os.kill(init_sup, 9)
    r = docker("wait", name, timeout=30)
    assert r.returncode == 0, f"trial {i}: {r.stderr}"
    deadline = time.monotonic() + 10
    while (rest := _container_procs(c["Id"])) and time.monotonic() < deadline:
        time.sleep(0.02)
    docker("rm", "-f", name)
    return sorted(rest)


def test_supervisor_kill_trial(names):
    """The whole tree dies if its supervisor dies, at any moment: KILL_TRIALS containers
    running a forking, exec'ing workload, each init's supervisor SIGKILLed at a random time
    (and in every third, first the supervisor of a `docker exec` tree, which must take that
    tree and nothing else); every container stops and leaves no process behind."""
    rng = random.Random(int(os.environ.get("LXBRAND_KILL_SEED", "10")))
    left = []
    for i in range(KILL_TRIALS):
        n = names("lxkill")
        c = run_detached(n, IMAGE, "sh", "-c",
                         "while :; do (echo x | cat >/dev/null) & sleep 0.01; ls / >/dev/null; done")
        init_sup = supervisor_of(c["State"]["Pid"])
        if i % 3 == 0:
            docker("exec", "-d", n, "sh", "-c", "while :; do (true) & sleep 0.02; done", check=True)
            time.sleep(rng.uniform(0, 0.2))
            exec_sups = [p for p in _container_procs(c["Id"]) if p != init_sup and
                         _exe_name(p) == "lxbrand-sup"]
            assert len(exec_sups) == 1, exec_sups
            traced = _traced_by(exec_sups[0])
            assert traced, "the exec supervisor traces nothing"
            os.kill(exec_sups[0], 9)
            deadline = time.monotonic() + 10
            while any(_alive(p) for p in traced) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not any(_alive(p) for p in traced), f"trial {i}: exec tree outlived its supervisor"
            assert inspect(n)["State"]["Running"], f"trial {i}: the exec's supervisor took init"
        time.sleep(rng.uniform(0, 0.4))
        rest = _kill_and_collect(n, c, init_sup, i)
        if rest:
            left.append((i, rest))
    assert left == [], left


def _exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _traced_by(tracer):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(field(status_of(int(d)), "TracerPid")) == tracer:
                    out.append(int(d))
            except (OSError, AttributeError):
                pass
    return out


DEBUG_IMAGE = os.environ.get("LXBRAND_DEBUG_IMAGE", "lxbrand-test/debug")


def test_supervisor_kill_trial_with_a_debugger_inside(names):
    """The same with debuggers inside (csrc/debuggee.c hands their targets over): strace -f
    following a tree it started and strace -p attached to a sibling tree; each init's
    supervisor SIGKILLed at a random time takes everything with it."""
    if docker("image", "inspect", DEBUG_IMAGE).returncode != 0:
        pytest.skip(f"image {DEBUG_IMAGE} is missing (bash .ci/setup-docker.sh builds it)")
    rng = random.Random(int(os.environ.get("LXBRAND_KILL_SEED", "10")) + 1)
    loop = "while :; do (echo x | cat >/dev/null) & sleep 0.01; done"
    left = []
    for i in range(max(5, KILL_TRIALS // 2)):
        n = names("lxkilldbg")
        c = run_detached(n, DEBUG_IMAGE, "sh", "-c",
                         f"strace -f -o /dev/null sh -c '{loop}' & ({loop}) & strace -f -o /dev/null -p $! & {loop}")
        init_sup = supervisor_of(c["State"]["Pid"])
        time.sleep(rng.uniform(0.1, 0.6))
        rest = _kill_and_collect(n, c, init_sup, i)
        if rest:
            left.append((i, rest))
    assert left == [], left


def test_init_exit_ends_the_container(names):
    """When init exits, the kernel kills the rest of its pid namespace (pid_namespaces(7)),
    as under runc: background tasks of init, one that ignores SIGTERM, one blocked for
    ever, and a `docker exec` tree with a supervisor of its own.  No supervisor waits for
    a task that is gone: the container stops at once with init's status, nothing is left."""
    n = names("lxinit")
    c = run_detached(n, IMAGE, "sh", "-c",
                     "sleep 1000 & (trap '' TERM INT HUP; sleep 1000) & "
                     "(while :; do sleep 1000 & wait; done) & cat /dev/zero | sleep 1000 & "
                     "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3")
    cid = c["Id"]
    docker("exec", "-d", n, "sh", "-c", "sleep 1000 & exec sleep 1000", check=True)
    deadline = time.monotonic() + 10
    while len([p for p in _container_procs(cid) if _exe_name(p) == "lxbrand-sup"]) < 2:
        assert time.monotonic() < deadline, "the exec's supervisor did not start"
        time.sleep(0.05)
    t0 = time.monotonic()
    docker("exec", n, "touch", "/tmp/go", check=True)
    r = docker("wait", n, timeout=30)
    assert (r.returncode, r.stdout.strip()) == (0, "3"), r.stderr
    assert time.monotonic() - t0 < 10
    deadline = time.monotonic() + 10
    while _container_procs(cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _container_procs(cid) == set(), "left behind: " + str(sorted(_container_procs(cid)))
