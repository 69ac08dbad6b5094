"""Soak: 200 sequential sandboxes in this process and 20 concurrent lxrun
processes leave no processes, fds or temp files behind (the 1M-trap memory
test is tests/test_soak.py)."""
import os
import socket
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import lxrun_cmd
from sec import Listener, free_port, secprogs, write_policy  # noqa: F401 - secprogs is a fixture
from test_faults import _marked


def _fds():
    return sorted(os.listdir("/proc/self/fd"))


def _children():
    kids = []
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/children") as f:
                kids += f.read().split()
        except OSError:
            pass
    return kids


def test_200_sequential_sandboxes_leak_nothing(progs, secprogs, tmp_path, monkeypatch):
    from lxbrand import Sandbox, load_policy
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    port = free_port("127.0.0.2", socket.SOCK_DGRAM)
    sink = Listener("127.0.0.2", port, "udp")
    p = load_policy("default")
    p.network("allow", cidr=["127.0.0.2/32"])
    p.set_network_default("deny")

    @p.handler("getppid")
    def ppid(call):
        return 7

    shm_before = set(os.listdir("/dev/shm"))
    Sandbox(p, backend="unotify").run([progs["getppid_loop"], "3"])  # warm up (imports, caches)
    fds_before = _fds()
    for i in range(200):
        backend = ("unotify", "ptrace")[i % 2]
        if i % 4 == 0:  # the network handler: pidfd_open + pidfd_getfd + a supervisor-side sendto
            st = Sandbox(p, backend=backend).run([secprogs["netcall"], "sendto", "127.0.0.2", str(port)],
                                                 env={"PATH": "/usr/bin:/bin"})
        else:
            st = Sandbox(p, backend=backend).run([progs["getppid_loop"], "5"], env={"PATH": "/usr/bin:/bin"})
        assert st.code == 0
    assert _fds() == fds_before, "fds leaked"
    assert sink.close() == 50
    assert _children() == [], "processes left behind"
    assert os.listdir(tmpdir) == []
    assert set(os.listdir("/dev/shm")) - shm_before == set()


def test_20_concurrent_sandboxes(secprogs, progs, tmp_path):
    port = free_port("127.0.0.2", socket.SOCK_DGRAM)
    sink = Listener("127.0.0.2", port, "udp")
    pol = write_policy(tmp_path, f"""
network_default = "deny"
[[network]]
action = "allow"
cidr = ["127.0.0.2/32"]
[[rule]]
syscalls = ["getppid"]
action = "emulate"
return = 4242
""")
    marker = uuid.uuid4().hex
    env = dict(os.environ, LXB_TRIAL=marker, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    def one(i):
        backend = ("unotify", "ptrace")[i % 2]
        script = f"{progs['getppid_loop']} 2000 && {secprogs['netcall']} sendto 127.0.0.2 {port} && " \
                 f"{secprogs['netcall']} sendto 127.0.0.3 {port}"
        return subprocess.run(lxrun_cmd("--backend", backend, "--policy", pol, "--", "sh", "-c", script),
                               capture_output=True, text=True, timeout=120, env=env)

    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(one, range(20)))
    for r in results:
        assert r.stdout.splitlines() == ["4242", "sendto 1", "sendto -1 Permission denied"], r.stderr
    assert sink.close() == 20
    assert _marked(f"LXB_TRIAL={marker}".encode()) == []
    assert os.listdir(tmp_path / "tmp") == []
