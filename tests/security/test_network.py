"""Network policy ([[network]], lxbrand.rules.net; csrc/net.c) on both backends: allowed
calls work on the program's own socket, denied ones fail with the rule's errno
and reach nobody, and a second thread rewriting the address between the check
and the use never gets through (read once, performed by the supervisor).

All traffic stays on 127.0.0.0/8, ::1 and UNIX sockets in tmp_path."""
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from conftest import run_lxrun
from sec import Listener, free_port, secprogs, write_policy  # noqa: F401 - secprogs is a fixture

GOOD, BAD = "127.0.0.2", "127.0.0.3"
ALLOW_GOOD = f"""
network_default = "deny"
[[network]]
action = "allow"
cidr = ["{GOOD}/32"]
comment = "the only address this program may reach"
"""


@pytest.fixture
def pair():
    """An allowed and a denied listener on the same port (TCP and UDP)."""
    port = free_port(GOOD)
    ls = {(h, k): Listener(h, port, k) for h in (GOOD, BAD) for k in ("tcp", "udp")}
    yield port, ls
    for x in ls.values():
        x.close()


def lx(backend, pol, *argv, **kw):
    return run_lxrun(["--backend", backend, "--policy", pol], list(argv), **kw)


def test_connect_allowed_and_denied(backend, secprogs, tmp_path, pair):
    port, ls = pair
    pol = write_policy(tmp_path, ALLOW_GOOD)
    r = lx(backend, pol, secprogs["netcall"], "connect", GOOD, str(port))
    assert r.stdout.splitlines() == ["echo hi", "connect 0"], r.stderr
    r = lx(backend, pol, secprogs["netcall"], "connect", BAD, str(port))
    assert r.stdout.splitlines() == ["connect -1 Permission denied"]
    assert "connect to 127.0.0.3" in r.stderr and "denied (EACCES)" in r.stderr
    assert ls[GOOD, "tcp"].close() == 1
    assert ls[BAD, "tcp"].close() == 0


def test_nonblocking_connect_keeps_einprogress(backend, secprogs, tmp_path, pair):
    port, ls = pair
    pol = write_policy(tmp_path, ALLOW_GOOD)
    r = lx(backend, pol, secprogs["netcall"], "connect", GOOD, str(port), "nonblock")
    lines = r.stdout.splitlines()
    # loopback TCP may finish the handshake at once; otherwise EINPROGRESS and the program polls its own fd
    assert lines in (["echo hi", "connect 0"],
                     ["connect -1 Operation now in progress", "echo hi", "completed 0"]), r.stdout + r.stderr


@pytest.mark.parametrize("op", ["sendto", "sendmsg", "sendmmsg"])
def test_datagrams_allowed_and_denied(backend, secprogs, tmp_path, pair, op):
    port, ls = pair
    pol = write_policy(tmp_path, ALLOW_GOOD)
    r = lx(backend, pol, secprogs["netcall"], op, GOOD, str(port))
    want = {"sendto": ["sendto 1"], "sendmsg": ["sendmsg 1"], "sendmmsg": ["lens 1 2", "sendmmsg 2"]}[op]
    assert r.stdout.splitlines() == want, r.stderr
    r = lx(backend, pol, secprogs["netcall"], op, BAD, str(port))
    assert r.stdout.splitlines() == [f"{op} -1 Permission denied"]
    good = ls[GOOD, "udp"]
    assert good.close() == (2 if op == "sendmmsg" else 1)
    assert good.data[:2] == ([b"x", b"yz"] if op == "sendmmsg" else [b"x"])
    assert ls[BAD, "udp"].close() == 0


def test_ports_and_errno(backend, secprogs, tmp_path, pair):
    port, ls = pair
    other = free_port(GOOD)
    pol = write_policy(tmp_path, f"""
        [[network]]
        action = "deny"
        family = "inet"
        ports = [{other}, "1-1023"]
        errno = "ECONNREFUSED"
        comment = "these ports are off limits"
    """.replace("\n        ", "\n"))
    r = lx(backend, pol, secprogs["netcall"], "connect", GOOD, str(port))
    assert r.stdout.splitlines()[-1] == "connect 0", r.stderr
    r = lx(backend, pol, secprogs["netcall"], "sendto", GOOD, str(other))
    assert r.stdout.splitlines() == ["sendto -1 Connection refused"]


def test_ipv4_mapped_ipv6_is_judged_as_ipv4(backend, secprogs, tmp_path, pair):
    port, ls = pair
    pol = write_policy(tmp_path, f"""
[[network]]
action = "deny"
cidr = ["{BAD}/32"]
comment = "an inet6 socket must not reach it through ::ffff:{BAD}"
""")
    r = lx(backend, pol, secprogs["netcall"], "sendto", f"::ffff:{BAD}", str(port))
    assert r.stdout.splitlines() == ["sendto -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "sendto", f"::ffff:{GOOD}", str(port))
    assert r.stdout.splitlines() == ["sendto 1"], r.stderr
    assert ls[BAD, "udp"].close() == 0
    assert ls[GOOD, "udp"].close() == 1


def test_ipv6_loopback(backend, secprogs, tmp_path):
    try:
        lst = Listener("::1", 0, "udp", socket.AF_INET6)
    except OSError as e:
        pytest.skip(f"no IPv6 loopback here: {e}")
    port = lst.sock.getsockname()[1]
    pol = write_policy(tmp_path, '[[network]]\naction = "deny"\ncidr = ["::1/128"]\nops = ["send"]\n')
    r = lx(backend, pol, secprogs["netcall"], "sendto", "::1", str(port))
    assert r.stdout.splitlines() == ["sendto -1 Permission denied"]
    assert lst.close() == 0


def test_bind_rules_and_privileged_ports(backend, secprogs, tmp_path):
    pol = write_policy(tmp_path, f"""
[[network]]
action = "allow"
ops = ["bind"]
cidr = ["127.0.0.0/8"]
ports = ["0", "20000-65535"]
[[network]]
action = "deny"
ops = ["bind"]
family = "inet"
""")
    r = lx(backend, pol, secprogs["netcall"], "bind", "127.0.0.1", "0")
    assert r.stdout.splitlines()[-1] == "bind 0", r.stderr
    p = free_port()
    r = lx(backend, pol, secprogs["netcall"], "bind", "127.0.0.1", str(p if p >= 20000 else 20001))
    assert r.stdout.splitlines()[-1] == "bind 0", r.stderr
    r = lx(backend, pol, secprogs["netcall"], "bind", "127.0.0.1", "8080")
    assert r.stdout.splitlines() == ["bind -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "bind", "0.0.0.0", "30000")
    assert r.stdout.splitlines() == ["bind -1 Permission denied"]


def test_privileged_port_needs_the_programs_capability(backend, secprogs, tmp_path):
    """The supervisor performs bind(2); it must not lend its own CAP_NET_BIND_SERVICE."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the supervisor must hold the capability the program lacks")
    # network_default deny: the bind is decided, so the supervisor performs it (an
    # allow-everything policy lets the kernel run it as the program)
    pol = write_policy(tmp_path, 'network_default = "deny"\n'
                                 '[[network]]\naction = "allow"\nops = ["bind"]\ncidr = ["127.0.0.0/8"]\n')
    setpriv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
    native = subprocess.run(setpriv + [secprogs["netcall"], "bind", "127.0.0.1", "81"], capture_output=True, text=True)
    assert native.stdout.splitlines() == ["bind -1 Permission denied"]
    r = lx(backend, pol, *setpriv, secprogs["netcall"], "bind", "127.0.0.1", "81")
    assert r.stdout.splitlines() == ["bind -1 Permission denied"], r.stderr
    # as root (with the capability) the same policy lets the program bind it
    r = lx(backend, pol, secprogs["netcall"], "bind", "127.0.0.1", "81")
    assert r.stdout.splitlines()[-1] == "bind 0", r.stderr


@pytest.fixture
def unix_servers(tmp_path):
    """Two listening UNIX sockets (allowed dir / secret dir), an abstract one, and a
    symlink in the allowed dir pointing at the secret socket."""
    ok_dir, secret = tmp_path / "ok", tmp_path / "secret"
    ok_dir.mkdir()
    secret.mkdir()
    socks = []
    for path in (ok_dir / "s.sock", secret / "s.sock"):
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.listen(8)
        socks.append(s)
    abstract = f"lxbrand-test-{os.getpid()}"
    for name in (abstract + "-ok", abstract + "-no"):
        s = socket.socket(socket.AF_UNIX)
        s.bind("\0" + name)
        s.listen(8)
        socks.append(s)
    (ok_dir / "link.sock").symlink_to(secret / "s.sock")
    yield ok_dir, secret, abstract, socks
    for s in socks:
        s.close()


def _accepted(s):
    s.setblocking(False)
    n = 0
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            return n
        c.close()
        n += 1


def test_unix_path_rules_follow_the_resolved_path(backend, secprogs, tmp_path, unix_servers):
    ok_dir, secret, abstract, socks = unix_servers
    pol = write_policy(tmp_path, f"""
network_default = "deny"
[[network]]
action = "allow"
path = ["{ok_dir}/*"]
[[network]]
action = "allow"
abstract = ["{abstract}-ok"]
""")
    r = lx(backend, pol, secprogs["netcall"], "unix", str(ok_dir / "s.sock"))
    assert r.stdout.splitlines() == ["unix 2"], r.stderr
    r = lx(backend, pol, secprogs["netcall"], "unix", "s.sock", cwd=str(ok_dir))  # relative to the program's cwd
    assert r.stdout.splitlines() == ["unix 2"], r.stderr
    r = lx(backend, pol, secprogs["netcall"], "unix", str(secret / "s.sock"))
    assert r.stdout.splitlines() == ["unix -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "unix", str(ok_dir / "link.sock"))  # symlink into the secret dir
    assert r.stdout.splitlines() == ["unix -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "unix", f"{ok_dir}/../secret/s.sock")
    assert r.stdout.splitlines() == ["unix -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "unix", str(ok_dir / "missing.sock"))
    assert r.stdout.splitlines() == ["unix -1 No such file or directory"]
    r = lx(backend, pol, secprogs["netcall"], "abstract", abstract + "-ok")
    assert r.stdout.splitlines() == ["abstract 2"], r.stderr
    r = lx(backend, pol, secprogs["netcall"], "abstract", abstract + "-no")
    assert r.stdout.splitlines() == ["abstract -1 Permission denied"]
    assert [_accepted(s) for s in socks] == [2, 0, 1, 0]


def test_family_rule_without_address_decides_without_reading_memory(backend, secprogs, tmp_path, unix_servers):
    ok_dir, secret, abstract, socks = unix_servers
    pol = write_policy(tmp_path, '[[network]]\naction = "deny"\nfamily = "unix"\nerrno = "EPERM"\n')
    r = lx(backend, pol, secprogs["netcall"], "abstract", abstract + "-ok")
    assert r.stdout.splitlines() == ["abstract -1 Operation not permitted"]
    assert "any unix address" in r.stderr


@pytest.mark.parametrize("mode", ["connect", "sendto", "sendmsg"])
def test_address_rewritten_between_check_and_use_never_leaks(backend, secprogs, tmp_path, pair, mode):
    """A second thread flips the sockaddr between an allowed and a denied address
    all the time, 3000 calls: the denied listener receives nothing, every call is
    either performed (to the allowed address) or denied with EACCES."""
    port, ls = pair
    pol = write_policy(tmp_path, ALLOW_GOOD)
    n = 3000
    r = lx(backend, pol, secprogs["netcall"], "race", mode, GOOD, BAD, str(port), str(n), timeout=170)
    out = r.stdout.split()
    assert out[0] == "race", r.stdout + r.stderr[-500:]
    got = dict(kv.split("=") for kv in out[1:])
    assert int(got["other"]) == 0, r.stdout
    assert int(got["ok"]) + int(got["denied"]) == int(got["n"]) >= n
    assert int(got["ok"]) > 0 and int(got["denied"]) > 0, "the race did not race: both outcomes expected"
    assert ls[BAD, "udp"].close() == 0, "a datagram reached the denied address"
    assert ls[GOOD, "udp"].close() <= int(got["ok"])


def test_strict_profile_with_network_rules(backend, secprogs, tmp_path, pair):
    port, ls = pair
    strict = open(os.path.join(os.path.dirname(__import__("lxbrand").__file__), "profiles", "strict.toml")).read()
    pol = write_policy(tmp_path, strict.replace('default_errno = "EPERM"', 'default_errno = "EPERM"\n' + ALLOW_GOOD, 1))
    r = lx(backend, pol, secprogs["netcall"], "connect", BAD, str(port))
    assert r.stdout.splitlines() == ["connect -1 Permission denied"]
    r = lx(backend, pol, secprogs["netcall"], "connect", GOOD, str(port))
    assert r.stdout.splitlines() == ["echo hi", "connect 0"], r.stderr


def test_python_api(backend, secprogs, pair):
    port, ls = pair
    code = textwrap.dedent(f"""
        from lxbrand import Sandbox, load_policy
        p = load_policy("default")
        p.set_network_default("deny")
        p.network("allow", cidr=["{GOOD}/32"], ops=["send"], comment="api")
        st = Sandbox(p, backend="{backend}").run(["{secprogs['netcall']}", "sendto", "{GOOD}", "{port}"])
        st = Sandbox(p, backend="{backend}").run(["{secprogs['netcall']}", "connect", "{GOOD}", "{port}"])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.splitlines() == ["sendto 1", "connect -1 Permission denied"], r.stderr


def test_unix_peer_sees_the_programs_credentials(secprogs, tmp_path, unix_servers):
    """The supervisor performs the connect, so its thread takes the program's
    euid/egid/groups for it: the peer's SO_PEERCRED shows the program's user,
    never the supervisor's root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the program must run as another user than the supervisor")
    ok_dir, secret, abstract, socks = unix_servers
    pol = write_policy(tmp_path, f'network_default = "deny"\n[[network]]\naction = "allow"\nabstract = ["{abstract}-*"]\n')
    # attack.c's asuser drops to nobody and execs netcall (both static), from a directory nobody can read
    import shutil
    import struct
    import tempfile
    pub = tempfile.mkdtemp(prefix="lxbrand-net-", dir="/tmp")
    try:
        os.chmod(pub, 0o755)
        netcall = shutil.copy(secprogs["netcall"], pub)
        r = run_lxrun(["--policy", pol], [secprogs["attack"], "asuser", "65534", netcall, "abstract", abstract + "-ok"])
    finally:
        shutil.rmtree(pub, ignore_errors=True)
    assert r.stdout.splitlines() == ["abstract 2"], r.stderr
    srv = socks[2]
    srv.setblocking(False)
    c, _ = srv.accept()
    pid, uid, gid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    c.close()
    assert (uid, gid) == (65534, 65534)


def test_ancillary_data_through_the_supervisor(secprogs, tmp_path, backend):
    """An allowed sendmsg to a UNIX path is performed by the supervisor: the
    program's SCM_RIGHTS fds are carried over (taken with pidfd_getfd), and
    SCM_CREDENTIALS other than the program's own are refused (the kernel would
    check them against the supervisor's credentials)."""
    import array
    sockpath = tmp_path / "d.sock"
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(sockpath))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    rx.settimeout(10)
    payload = tmp_path / "payload"
    payload.write_text("carried by fd")
    pol = write_policy(tmp_path, f'network_default = "deny"\n[[network]]\naction = "allow"\npath = ["{tmp_path}/*"]\n')
    try:
        r = run_lxrun(["--backend", backend, "--policy", pol], [secprogs["netcall"], "sendfd", str(sockpath), str(payload)])
        assert r.stdout.splitlines() == ["sendfd 1"], r.stderr
        msg, anc, _, _ = rx.recvmsg(16, socket.CMSG_SPACE(64))
        fds = array.array("i")
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % 4])
        assert msg == b"m" and len(fds) == 1
        with os.fdopen(fds[0]) as f:
            assert f.read() == "carried by fd"
        r = run_lxrun(["--backend", backend, "--policy", pol], [secprogs["netcall"], "sendcred", str(sockpath), "1", "0", "0"])
        assert r.stdout.splitlines() == ["sendcred -1 Operation not permitted"], r.stderr
        r = run_lxrun(["--backend", backend, "--policy", pol],
                      [secprogs["netcall"], "sendcred", str(sockpath), "0", str(os.geteuid()), str(os.getegid())])
        assert r.stdout.splitlines() == ["sendcred 1"], r.stderr
    finally:
        rx.close()


def test_blocking_connect_does_not_hold_up_other_calls(secprogs, tmp_path):
    """unotify: a blocking connect performed by the supervisor runs on a thread of
    its own (csrc/net.c), so the program's other trapped calls are answered while
    it waits; the connect completes when the server makes room."""
    import select
    sockpath = tmp_path / "full.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(sockpath))
    srv.listen(0)
    filler = socket.socket(socket.AF_UNIX)
    filler.connect(str(sockpath))  # the backlog (0 + 1) is now full: the next connect blocks
    pol = write_policy(tmp_path, f"""
network_default = "deny"
[[network]]
action = "allow"
path = ["{tmp_path}/*"]
[[rule]]
syscalls = ["getppid"]
action = "emulate"
return = 4242
""")
    from conftest import lxrun_cmd
    p = subprocess.Popen(lxrun_cmd("--policy", pol, "--", secprogs["netcall"], "blockconnect", str(sockpath)),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 20)
        assert ready, "the trapped calls waited for the blocking connect"
        assert p.stdout.readline() == "trapped calls answered (4242)\n"
        srv.accept()[0].close()  # make room: the blocked connect completes
        srv.accept()[0].close()
        out, err = p.communicate(timeout=20)
        assert out == "connect 0\n", err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        srv.close()
        filler.close()


def test_fd_swapped_between_check_and_use_never_leaks(backend, secprogs, tmp_path, pair):
    """The verdict may depend on the socket's family; a thread swaps the fd number
    between a UNIX and a UDP socket (dup2) while another sends to a denied address.
    The supervisor acts on the socket it took, never on the fd number again."""
    port, ls = pair
    pol = write_policy(tmp_path, f"""
[[network]]
action = "allow"
family = "unix"
comment = "every UNIX socket: a verdict that needs no address"
[[network]]
action = "deny"
cidr = ["{BAD}/32"]
""")
    r = lx(backend, pol, secprogs["netcall"], "fdswap", BAD, str(port), "3000", timeout=170)
    assert r.stdout.startswith("fdswap"), r.stderr[-300:]
    assert ls[BAD, "udp"].close() == 0, f"datagrams reached the denied address ({r.stdout.strip()})"


def test_sctp_sockets_refused_under_network_rules(backend, secprogs, tmp_path):
    """SCTP connects and binds through setsockopt, which the rules do not see."""
    pol = write_policy(tmp_path, ALLOW_GOOD)
    r = lx(backend, pol, secprogs["netcall"], "sctp", "-")
    assert r.stdout.splitlines() == ["sctp_stream -1 Protocol not supported", "sctp_seqpacket -1 Protocol not supported",
                                     "udp 0"], r.stderr
