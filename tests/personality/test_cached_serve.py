"""A snapshot the open pipeline served is served again by the engine in C while it
is fresh (Call.cache_answer, csrc/actions.c): a read-only open of exactly the
same absolute path no longer enters Python.  What the program gets is what the
pipeline gives: the same content, its own file offset, O_CLOEXEC as asked."""
import subprocess
import sys
import textwrap

import pytest

from lxp_helpers import BACKENDS

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
# the other ways in still reach the pipeline (relative, not normal, O_DIRECTORY)
os.chdir("/proc")
seen.add(open("meminfo", "rb").readline().rstrip())
seen.add(open("/proc//meminfo", "rb").readline().rstrip())
try:
    os.open("/proc/meminfo", os.O_RDONLY | os.O_DIRECTORY)
except NotADirectoryError:
    pass
else:
    raise SystemExit("O_DIRECTORY opened")
print(sorted(seen))
"""


def run(backend, n):
    code = textwrap.dedent(f"""
        import sys
        from lxbrand import Sandbox, load_policy
        from lxbrand.personality import Personality
        p = load_policy("default")
        Personality(memory=256 << 20, cpus=1).apply(p)
        st = Sandbox(p, backend="{backend}").run([sys.executable, "-c", {PROBE!r}, "{n}"])
        print("python-served", p.file_pipeline.served)
        st.exit()
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fresh_snapshot_answered_in_c(backend):
    n = 200
    r = run(backend, n)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == "[b'MemTotal:         262144 kB']", lines
    served = int(lines[1].split()[1])
    # 200 plain opens within the snapshot's 100 ms (more rounds of Python if the
    # machine is slow), plus the relative and the //-path opens which always go
    # to Python; without the engine's cache all 203 would
    assert served < 40, served


SYSINFO_PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(112)
seen, ups = set(), []
for i in range(int(sys.argv[1])):
    assert libc.sysinfo(buf) == 0, ctypes.get_errno()
    unit = int.from_bytes(buf.raw[104:108], "little") or 1
    seen.add(int.from_bytes(buf.raw[32:40], "little") * unit)
    ups.append(int.from_bytes(buf.raw[0:8], "little"))
assert libc.sysinfo(None) == -1 and ctypes.get_errno() == 14   # EFAULT, from the handler
assert ups == sorted(ups), ups
print(sorted(seen))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_sysinfo_answer_repeated_in_c(backend):
    """The personality's sysinfo is answered by Python once per usage sample and
    repeated by the engine in between (Call.cache_reply); a NULL buffer still gets
    Python's EFAULT."""
    code = textwrap.dedent(f"""
        import sys
        from lxbrand import Sandbox, load_policy
        from lxbrand.personality import Personality
        from lxbrand.personality.rules import emulate
        p = load_policy("default")
        Personality(memory=256 << 20, cpus=1).apply(p)
        real = p.action_of("sysinfo").handler
        calls = [0]
        def counting(call):
            calls[0] += 1
            return real(call)
        counting._lx_personality = True
        emulate(p, "sysinfo", handler=counting, comment="counted")
        st = Sandbox(p, backend="{backend}").run([sys.executable, "-c", {SYSINFO_PROBE!r}, "300"])
        print("python-answered", calls[0])
        st.exit()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0] == f"[{256 << 20}]", lines
    answered = int(lines[1].split()[1])
    # 300 calls within a few 100 ms samples, plus the NULL one; without the cache all 301
    assert answered < 40, answered
