"""The open pipeline as an API (lxbrand.handlers.files): hooks in order, Deny,
Serve, no opinion -> the native open; a security hook (added first) plugs in
the same way with first=True."""
import errno

import pytest

from lxbrand.engine import Sandbox
from lxbrand.errors import PolicyError
from lxbrand.handlers import files
from lxbrand.personality import Personality
from lxbrand.policy import Policy, load_policy
from lxp_helpers import BACKENDS


def _run(policy, backend, argv, capfd):
    st = Sandbox(policy, backend=backend).run(argv)
    return st.code, capfd.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_deny_serve_and_pass(backend, capfd, tmp_path):
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "plain").write_text("plain\n")
    seen = []
    pol = load_policy("default")
    pipe = files.pipeline(pol)
    pipe.add(lambda req: seen.append(req.guest_path) or None)   # sees every open
    pipe.add(lambda req: files.Deny(errno.EACCES) if req.guest_path.endswith("/secret") else None,
             names={"secret"})
    pipe.add(lambda req: files.Serve(b"served\n") if req.guest_path == "/virtual/file" else None,
             names={"file"})
    code, out = _run(pol, backend, ["sh", "-c", f"cat {tmp_path}/plain; cat /virtual/file; "
                                                f"cat {tmp_path}/secret 2>&1; true"], capfd)
    assert code == 0
    assert out.splitlines()[:2] == ["plain", "served"]
    assert "Permission denied" in out and "s3cret" not in out
    assert f"{tmp_path}/plain" in seen and "/virtual/file" in seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_hook_wins_so_security_rules_go_first(backend, capfd):
    pol = load_policy("default")
    Personality(files={"/etc/motd": b"cosmetic\n"}).apply(pol)
    files.pipeline(pol).add(lambda req: files.Deny(errno.EPERM) if req.guest_path == "/etc/motd" else None,
                            names={"motd"}, first=True)
    code, out = _run(pol, backend, ["sh", "-c", "cat /etc/motd 2>&1; true"], capfd)
    assert "Operation not permitted" in out and "cosmetic" not in out


def test_a_hook_returning_garbage_fails_closed(capfd):
    pol = load_policy("default")
    files.pipeline(pol).add(lambda req: "yes", names={"hostname"})
    code, out = _run(pol, "unotify", ["sh", "-c", "cat /etc/hostname 2>&1; true"], capfd)
    assert "Operation not permitted" in out


def test_pipeline_refuses_to_replace_another_open_handler():
    pol = Policy()
    pol.emulate("openat", handler=lambda call: 0)
    with pytest.raises(PolicyError, match="openat"):
        files.pipeline(pol)


def test_denied_opens_stay_denied():
    pol = Policy()
    pol.deny("openat2", errno="ENOSYS")
    files.pipeline(pol)
    assert pol.action_of("openat2").action == "deny"
    assert pol.action_of("openat").handler is files.pipeline(pol)


def test_personalities_merge():
    pol = load_policy("default")
    Personality(memory="1G", hostname="a").apply(pol)
    Personality(cpus=1).apply(pol)
    eff = pol.personality
    assert (eff.memory, eff.cpus, eff.hostname) == (1 << 30, 1.0, "a")
    hooks = [h for h in files.pipeline(pol).hooks if h[2] == "personality"]
    assert len(hooks) == 1 and hooks[0][0] is files.IN_C   # the engine's view, not duplicated by the second apply
    names = hooks[0][1]
    assert {b"meminfo", b"cpuinfo", b"hostname", b"cpu.max"} <= names


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_opening_served_files_at_once(backend, capfd):
    """Many threads opening served files concurrently each get a correct fd
    (ptrace keeps one pending fd per thread)."""
    pol = load_policy("default")
    Personality(memory="512M").apply(pol)
    code = ("import threading\n"
            "bad=[]\n"
            "def f():\n"
            "    for _ in range(50):\n"
            "        t=open('/proc/meminfo').read()\n"
            "        if not t.startswith('MemTotal:         524288 kB'): bad.append(t[:40])\n"
            "ts=[threading.Thread(target=f) for _ in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print('bad', len(bad))\n")
    rc, out = _run(pol, backend, ["python3", "-c", code], capfd)
    assert rc == 0 and out.strip() == "bad 0"


class FakeCall:
    """A Call without a kernel (STYLE.md: inject the host): counts memory reads."""

    def __init__(self, nr_name, args, mem, backend="unotify"):
        from lxbrand import syscalls
        self.nr = syscalls.nr_of(nr_name)
        self.args = args
        self.mem = mem
        self.backend = backend
        self.pid = self.tid = __import__("os").getpid()
        self.reads = 0
        self.added = []

    def read_str(self, addr, maxlen=4096):
        self.reads += 1
        return self.mem[addr].split(b"\0")[0][:maxlen]

    def read(self, addr, n):
        self.reads += 1
        return self.mem[addr][:n]

    def addfd(self, fd, send=False, cloexec=False):
        import os
        os.lseek(fd, 0, 0)
        self.added.append((os.read(fd, 100), send, cloexec))
        return 7


def _pipe_with(hook, names=None):
    pipe = files.FilePipeline()
    pipe.add(hook, names=names)
    return pipe


def test_path_read_once_whatever_the_number_of_hooks():
    calls = []
    pipe = files.FilePipeline()
    for _ in range(3):
        pipe.add(lambda req: calls.append(req.path) and None)
    call = FakeCall("openat", (files.AT_FDCWD & (2**64 - 1), 0x1000, 0, 0, 0, 0), {0x1000: b"/etc/x\0"})
    assert pipe(call) is files.CONTINUE
    assert call.reads == 1 and calls == [b"/etc/x"] * 3


def test_openat2_reads_how_once_and_honours_cloexec():
    import struct
    how = struct.pack("<QQQ", 0o2000000, 0, 0)   # O_CLOEXEC
    pipe = _pipe_with(lambda req: files.Serve(b"hi") if req.guest_path == "/v" else None)
    call = FakeCall("openat2", (files.AT_FDCWD & (2**64 - 1), 0x1000, 0x2000, 24, 0, 0),
                    {0x1000: b"/v\0", 0x2000: how})
    assert pipe(call) == 7
    assert call.reads == 2 and call.added == [(b"hi", True, True)]


def test_basename_prefilter_skips_reading_proc_links():
    seen = []
    pipe = _pipe_with(lambda req: seen.append(req) and None, names={"meminfo"})
    call = FakeCall("open", (0x1000, 0, 0, 0, 0, 0), {0x1000: b"lib/libc.so.6\0"})
    assert pipe(call) is files.CONTINUE and seen == []


def test_resolve_in_root_is_relative_to_dirfd():
    import os
    req = files.OpenRequest(FakeCall("openat2", (0,) * 6, {}), "openat2", files.AT_FDCWD, b"/etc/x",
                            0, 0, files.RESOLVE_IN_ROOT)
    assert req.guest_path == os.path.join(os.getcwd(), "etc/x")
    req = files.OpenRequest(FakeCall("openat2", (0,) * 6, {}), "openat2", files.AT_FDCWD, b"/etc/x",
                            0, 0, files.RESOLVE_BENEATH)
    assert req.guest_path is None


def test_second_personality_keeps_rules_added_in_between():
    pol = load_policy("default")
    Personality(fake_root=True, release="4.4.0").apply(pol)
    assert pol.action_of("statx").action == "deny"          # era: statx is 4.11
    pol.deny("mkdir", errno="EROFS")                          # the caller's own rule
    Personality(cpus=1, era=False).apply(pol)
    assert pol.action_of("mkdir").action == "deny"
    assert pol.action_of("statx").handler is not None         # era off: fake root's statx again
    assert pol.action_of("getuid").handler is not None       # fake root's ids (fakeids.py)
    assert pol.action_of("sched_getaffinity").fast == "persona"    # answered by the engine's view
    assert pol.identity["release"] == "4.4.0"


def test_second_personality_keeps_other_hooks_in_the_pipeline():
    pol = load_policy("default")
    Personality(memory="1G").apply(pol)
    rule = lambda req: None  # noqa: E731 - a security hook, added first
    files.pipeline(pol).add(rule, first=True)
    Personality(cpus=1).apply(pol)
    pipe = files.pipeline(pol)
    assert pipe.hooks[0][0] is rule
    assert pol.action_of("openat").handler is pipe
    assert [h[0] for h in pipe.hooks if h[2] == "personality"] == [files.IN_C]   # the engine's view only


@pytest.mark.parametrize("size,extra,err", [(16, b"", errno.EINVAL), (32, b"\1" + b"\0" * 7, errno.E2BIG),
                                            (8192, b"", errno.E2BIG)])
def test_openat2_bad_how_answered_like_the_kernel(size, extra, err):
    import struct
    pipe = _pipe_with(lambda req: None)
    how = struct.pack("<QQQ", 0, 0, 0) + extra
    call = FakeCall("openat2", (files.AT_FDCWD & (2**64 - 1), 0x1000, 0x2000, size, 0, 0),
                    {0x1000: b"/v\0", 0x2000: how})
    with pytest.raises(OSError) as e:
        pipe(call)
    assert e.value.errno == err


def test_overlong_path_is_refused_not_continued():
    pipe = _pipe_with(lambda req: None, names={"x"})
    call = FakeCall("open", (0x1000, 0, 0, 0, 0, 0), {0x1000: b"a" * 5000 + b"\0"})
    with pytest.raises(OSError) as e:
        pipe(call)
    assert e.value.errno == errno.ENAMETOOLONG


def test_from_oci_config():
    spec = {"hostname": "web1", "annotations": {"org.lxbrand.kernel-release": "5.10.0-lx"},
            "linux": {"resources": {"memory": {"limit": 268435456}, "cpu": {"quota": 150000, "period": 100000}}}}
    p = Personality.from_oci(spec)
    assert (p.hostname, p.memory, p.cpus, p.release, p.fake_root) == ("web1", 256 << 20, 1.5, "5.10.0-lx", None)
    p = Personality.from_oci({"linux": {"resources": {"memory": {"limit": -1}, "cpu": {"cpus": "0,2-3"}}}})
    assert (p.memory, p.cpus, p.hostname) == (None, 3, None)
    assert Personality.from_oci({}).is_empty()


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_fd_leak_in_the_supervisor(backend, capfd):
    """200 processes each get a served file: the supervisor's fds stay bounded."""
    import os
    pol = load_policy("default")
    Personality(memory="512M").apply(pol)
    before = len(os.listdir("/proc/self/fd"))
    code, _ = _run(pol, backend, ["sh", "-c", "i=0; while [ $i -lt 200 ]; do head -c1 /proc/meminfo >/dev/null; "
                                              "i=$((i+1)); done"], capfd)
    assert code == 0
    after = len(os.listdir("/proc/self/fd"))
    assert after - before <= 20, (before, after)
