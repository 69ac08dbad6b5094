"""The personality's view is served by the engine in C (csrc/persona.c): a policy
whose personality is identity, era and resource view gives Python no call at all
(no handler is even installed), on both backends; it travels in the compiled
policy's blob; it composes with the Python hooks of the open pipeline in their
order (a path rule's denial wins, a remapped file wins where it comes first)."""
import errno
import os
import sys
import textwrap

import pytest

from lxbrand import _core
from lxbrand.engine import Sandbox, apply_policy
from lxbrand.fastpath import table_only
from lxbrand.personality import Personality
from lxbrand.policy import load_policy
from lxp_helpers import BACKENDS, progs

PROBE = r"""
import ctypes, fcntl, os, sys
libc = ctypes.CDLL(None, use_errno=True)   # os.open always adds O_CLOEXEC
seen = set()
fds = []
for i in range(int(sys.argv[1])):
    fd = libc.open(b"/proc/meminfo", os.O_RDONLY | (os.O_CLOEXEC if i % 2 else 0))
    assert fd >= 0, ctypes.get_errno()
    cloexec = bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
    assert cloexec == bool(i % 2), (i, cloexec)
    seen.add(os.read(fd, 64).split(b"\n")[0])
    fds.append(fd)
# every open its own description: all of them at the same offset
assert len({os.lseek(fd, 0, os.SEEK_CUR) for fd in fds}) == 1
for fd in fds:
    os.close(fd)
# the other ways in (relative, not normal, openat2 in a root) are served too
os.chdir("/proc")
seen.add(open("meminfo", "rb").readline().rstrip())
seen.add(open("/proc//meminfo", "rb").readline().rstrip())
seen.add(open("sys/../meminfo", "rb").readline().rstrip())
try:
    os.open("/proc/meminfo", os.O_RDONLY | os.O_DIRECTORY)
except NotADirectoryError:
    pass
else:
    raise SystemExit("O_DIRECTORY opened")
try:
    os.open("/proc/meminfo/", os.O_RDONLY)
except NotADirectoryError:
    pass
else:
    raise SystemExit("a trailing slash opened")
print(sorted(seen))
print(open("/proc/sys/kernel/osrelease").read().strip(), os.cpu_count(), len(os.sched_getaffinity(0)))
"""


def _policy(**kw):
    p = load_policy("default")
    Personality(**kw).apply(p)
    return p


def test_no_python_for_identity_era_and_resources():
    p = _policy(memory=256 << 20, cpus=1, release="4.4.0-lx", hostname="zone1")
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    assert apply_policy(p, sup) == {}                       # no handler: Python is never asked
    assert table_only(p)                                    # lxrun's C front end runs it (the blob)
    for name in ("open", "openat", "openat2", "sysinfo", "sched_getaffinity"):
        assert p.action_of(name).fast == "persona" or p.file_pipeline.answered_in_c(), name
    # what needs code still goes to Python
    for kw in ({"fake_root": True}, {"files": {"/etc/motd": b"hi\n"}}):
        p = _policy(memory=256 << 20, **kw)
        assert apply_policy(p, _core.Supervisor(_core.BACKEND_UNOTIFY)) and not table_only(p)


@pytest.mark.parametrize("backend", BACKENDS)
def test_served_in_c_like_a_file(backend, capfd):
    p = _policy(memory=256 << 20, cpus=1, release="4.4.0-lx")
    st = Sandbox(p, backend=backend).run([sys.executable, "-c", PROBE, "200"])
    out = capfd.readouterr().out.splitlines()
    assert st.code == 0, out
    assert out == ["[b'MemTotal:         262144 kB']", "4.4.0-lx 1 1"]


SNAP_PROBE = r"""
import os, time
def ino(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.fstat(fd).st_ino
    finally:
        os.close(fd)
a, b = ino("/proc/meminfo"), ino("/proc/meminfo")
time.sleep(0.25)
c = ino("/proc/meminfo")
s1, s2 = ino("/proc/stat"), ino("/proc/stat")
r1, r2 = ino("/sys/devices/system/cpu/online"), ino("/sys/devices/system/cpu/online")
print(a == b, b != c, s1 != s2, r1 == r2)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshots_are_reopened_within_a_sample(backend, capfd):
    """/proc/meminfo is made at most once per 100 ms sample (two quick opens reopen
    one memfd), /proc/stat for each open, the CPU range once for the run."""
    p = _policy(memory=256 << 20, cpus=1)
    st = Sandbox(p, backend=backend).run([sys.executable, "-c", SNAP_PROBE])
    assert st.code == 0
    assert capfd.readouterr().out.split() == ["True"] * 4


SYSINFO_PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(112)
seen, ups = set(), []
for i in range(int(sys.argv[1])):
    assert libc.sysinfo(buf) == 0, ctypes.get_errno()
    unit = int.from_bytes(buf.raw[104:108], "little") or 1
    seen.add((int.from_bytes(buf.raw[32:40], "little") * unit, int.from_bytes(buf.raw[64:72], "little")))
    ups.append(int.from_bytes(buf.raw[0:8], "little"))
assert libc.sysinfo(None) == -1 and ctypes.get_errno() == 14   # EFAULT
assert ups == sorted(ups) and ups[-1] < 10, ups
print(sorted(seen))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_sysinfo_in_c(backend, capfd):
    p = _policy(memory=256 << 20)
    st = Sandbox(p, backend=backend).run([sys.executable, "-c", SYSINFO_PROBE, "300"])
    assert st.code == 0
    assert capfd.readouterr().out.strip() == f"[({256 << 20}, 0)]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_path_rules_denial_wins_over_a_served_file(backend, capfd):
    """Path rules see every open (in Python, first): a denied served file stays denied,
    the view still serves the others from there (Call.persona_serve)."""
    p = _policy(memory=256 << 20, cpus=1)
    p.path("deny", ["/proc/meminfo"], ops=["read"], errno="EACCES")
    st = Sandbox(p, backend=backend).run(["sh", "-c", "cat /proc/meminfo 2>&1; nproc; head -1 /proc/cpuinfo"])
    out = capfd.readouterr().out.splitlines()
    assert st.code == 0
    assert "Permission denied" in out[0] and out[1] == "1" and out[2].startswith("processor")


@pytest.mark.parametrize("backend", BACKENDS)
def test_python_hooks_keep_their_order(backend, capfd, tmp_path):
    """A file remapped by the policy (a Python hook, installed first) wins over the
    view's own; the view's other files are answered in C by the gate, next to fake
    root's Python hooks."""
    mine = tmp_path / "meminfo"
    mine.write_text("MemTotal: 1 kB\n")
    p = _policy(memory=256 << 20, cpus=1, fake_root=True, files={"/proc/meminfo": str(mine)})
    st = Sandbox(p, backend=backend).run(["sh", "-c", "cat /proc/meminfo; nproc; id -u"])
    assert st.code == 0
    assert capfd.readouterr().out.splitlines() == ["MemTotal: 1 kB", "1", "0"]


def test_blob_round_trip_carries_the_view(tmp_path):
    """export_blob/import_blob: a C consumer configured from the blob serves the same
    files; a malformed section is refused (EINVAL), the whole blob with it."""
    p = _policy(memory=256 << 20, cpus=1.5, release="4.4.0-lx", start=12.5)
    a = _core.Supervisor(_core.BACKEND_UNOTIFY)
    apply_policy(p, a)
    blob = a.export_blob(4)
    b = _core.Supervisor(_core.BACKEND_UNOTIFY)
    b.import_blob(blob)
    u = os.uname()
    b.set_uname(u.sysname, u.nodename, "4.4.0-lx", u.version, u.machine, "(none)")   # as lxrun.c merges them
    for path in (b"/proc/cpuinfo", b"/sys/devices/system/cpu/online", b"/proc/sys/kernel/osrelease",
                 b"/proc/version"):
        assert a.persona_read(path) == b.persona_read(path), path
    assert b.persona_read(b"/proc/meminfo").startswith(b"MemTotal:         262144 kB\n")
    assert b.persona_read(b"/proc/stat").split(b"\n")[0].startswith(b"cpu  ")
    assert b.export_blob(4) == blob
    # the section: flags, dir_len, memory, cpus, start; a memory limit below 4 MiB is malformed
    import struct
    at = blob.index(struct.pack("<II", 4, 32)) + 8
    bad = blob[:at + 8] + struct.pack("<Q", 1024) + blob[at + 16:]
    with pytest.raises(OSError) as e:
        _core.Supervisor(_core.BACKEND_UNOTIFY).import_blob(bad)
    assert e.value.errno == errno.EINVAL


def test_configure_refuses_what_c_would_refuse():
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    with pytest.raises(OSError):
        sup.set_persona(_core.PV_MEMORY, memory=1024)
    with pytest.raises(OSError):
        sup.set_persona(_core.PV_CPUS, cpus=0.0)
    with pytest.raises(OSError):
        sup.set_persona(_core.PV_MEMORY, memory=1 << 30, usage_dir=b"/no/flag")
    from lxbrand.errors import PolicyError
    with pytest.raises(PolicyError, match="usage_cgroup"):
        Personality(memory="1G", usage_cgroup="relative/dir")
    with pytest.raises(PolicyError, match="start"):
        Personality(memory="1G", start=-1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_affinity_of_another_task_and_bad_buffers(backend, capfd):
    """sched_getaffinity(pid) of another task in the tree is cut to N CPUs too; a bad
    buffer is EFAULT and a bad size EINVAL, as natively."""
    built = progs()
    if built is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    code = textwrap.dedent("""
        import ctypes, os, subprocess, sys
        libc = ctypes.CDLL(None, use_errno=True)
        child = subprocess.Popen(["sleep", "5"])
        print(len(os.sched_getaffinity(child.pid)))
        child.kill()
        buf = ctypes.create_string_buffer(128)
        print(libc.syscall(204, 0, 128, None), ctypes.get_errno())          # EFAULT
        print(libc.syscall(204, 0, 3, buf), ctypes.get_errno())             # EINVAL
    """)
    p = _policy(cpus=1)
    st = Sandbox(p, backend=backend).run([sys.executable, "-c", code])
    assert st.code == 0
    assert capfd.readouterr().out.split() == ["1", "-1", str(errno.EFAULT), "-1", str(errno.EINVAL)]


def test_a_container_supervisor_from_python_starts_no_python_per_call():
    """Personality.from_oci + apply + apply_policy: the view a container gets is all
    in C and reads its usage from the memory cgroup."""
    spec = {"linux": {"resources": {"memory": {"limit": 256 << 20}, "cpu": {"quota": 100000, "period": 100000}}}}
    p = load_policy("default")
    Personality.from_oci(spec).apply(p)
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    assert apply_policy(p, sup) == {}
    assert p.personality.view_flags & _core.PV_USAGE_CGROUP
