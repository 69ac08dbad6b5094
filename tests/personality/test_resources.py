"""Resource view (--memory, --cpus): the same commands natively and under the
personality; only the expected values differ, keys and formats are the host's."""
import re
import shutil
import time

import pytest

from lxp_helpers import BACKENDS, host_cpus, lxrun, native, progs, sh

MEM = ["--memory", "256M"]
CPU1 = ["--cpus", "1"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def p():
    built = progs()
    if built is None:
        pytest.skip("no C compiler (apt-get install gcc)")
    return built


def _shape(line):
    """A meminfo line with its number blanked: label, padding and unit must match."""
    return re.sub(r"\d", "9", line)


def test_meminfo_keys_and_format_are_the_hosts(backend):
    host = native(["cat", "/proc/meminfo"]).stdout.splitlines()
    out = sh(["--backend", backend, *MEM], "cat /proc/meminfo").splitlines()
    keys = lambda lines: [ln.split(":")[0] for ln in lines]  # noqa: E731
    assert keys(out) == keys(host)
    vals = {ln.split(":")[0]: ln for ln in out}
    assert vals["MemTotal"] == f"{'MemTotal:':<16}{256 * 1024:>8} kB"
    for h, o in zip(host, out):
        if len(re.sub(r"\D", "", h)) == len(re.sub(r"\D", "", o)):
            assert _shape(h) == _shape(o)   # same label column and value width
        assert o.endswith(" kB") == h.endswith(" kB")
    free = int(vals["MemFree"].split()[1])
    assert 0 < free <= 256 * 1024


def test_free_shows_the_limit(backend):
    host = native(["free", "-m"]).stdout.splitlines()
    out = sh(["--backend", backend, *MEM], "free -m").splitlines()
    assert out[0] == host[0]                        # same header
    assert out[1].split()[1] == "256"               # total
    used, free, avail = int(out[1].split()[2]), int(out[1].split()[3]), int(out[1].split()[6])
    assert used + free <= 256 and 0 < avail <= 256


@pytest.mark.parametrize("cmd,native_expected", [
    ("nproc", None),
    ("getconf _NPROCESSORS_ONLN", None),
    ("cat /sys/devices/system/cpu/online", "range"),
    ("cat /sys/devices/system/cpu/possible", "range"),
    ("cat /sys/devices/system/cpu/present", "range"),
    ("python3 -c 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))'", "pair"),
])
def test_cpu_count_everywhere(backend, cmd, native_expected):
    if host_cpus() < 2:
        pytest.skip("needs a host with 2+ CPUs to see --cpus 1 differ")
    out = sh(["--backend", backend, *CPU1], cmd).strip()
    nat = native(["sh", "-c", cmd]).stdout.strip()
    want = {"range": "0", "pair": "1 1"}.get(native_expected, "1")
    assert out == want
    assert nat != want  # the difference is the personality's


def test_cpuinfo_shows_n_processors_with_the_hosts_keys(backend):
    host = native(["cat", "/proc/cpuinfo"]).stdout
    out = sh(["--backend", backend, *CPU1], "cat /proc/cpuinfo")
    assert len(re.findall(r"^processor\s*:", out, re.M)) == 1
    first_host = host.split("\n\n")[0]
    keys = lambda b: [ln.split(":")[0] for ln in b.splitlines()]  # noqa: E731
    assert keys(out.split("\n\n")[0]) == keys(first_host)
    assert re.search(r"^siblings\s*: 1$", out, re.M) and re.search(r"^cpu cores\s*: 1$", out, re.M)
    assert out.endswith("\n\n") == host.endswith("\n\n")


def test_proc_stat_cpus_and_btime(backend):
    host = native(["cat", "/proc/stat"]).stdout.splitlines()
    t0 = time.time()
    out = sh(["--backend", backend, *CPU1], "cat /proc/stat; cat /proc/uptime").splitlines()
    stat, up = out[:-1], float(out[-1].split()[0])
    hkeys = [ln.split()[0] for ln in host if not re.match(r"cpu\d", ln)]
    okeys = [ln.split()[0] for ln in stat if not re.match(r"cpu\d", ln)]
    assert okeys == hkeys
    assert [ln.split()[0] for ln in stat if re.match(r"cpu\d", ln)] == ["cpu0"]
    cpu, cpu0 = stat[0].split()[1:], stat[1].split()[1:]
    assert cpu == cpu0 and len(cpu) == len(host[0].split()[1:])
    t1 = time.time()
    btime = int(next(ln for ln in stat if ln.startswith("btime")).split()[1])
    assert t0 - 1 <= btime + up <= t1 + 1  # the sandbox "booted" when it started
    assert up < 10


def test_uptime_counts_from_the_sandbox_start(backend):
    out = sh(["--backend", backend, *CPU1], "uptime; cat /proc/uptime; cat /proc/loadavg")
    lines = out.splitlines()
    assert re.search(r" up 0 min,", lines[0]), lines[0]
    up, idle = (float(x) for x in lines[1].split())
    assert 0 <= up < 10 and 0 <= idle <= up * 1 + 0.01
    load = lines[2].split()
    assert len(load) == len(native(["cat", "/proc/loadavg"]).stdout.split())
    assert all(float(x) <= 1.0 for x in load[:3])
    running, tasks = (int(x) for x in load[3].split("/"))
    assert 1 <= running <= tasks <= 4              # the sandbox's threads (sh, cat)


def test_sysinfo_and_affinity_syscalls(backend, p):
    nat = native([p["sysinfo"]]).stdout
    out = lxrun(["--backend", backend, *MEM, *CPU1], [p["sysinfo"]]).stdout
    f = dict(kv.split("=") for kv in out.split())
    nf = dict(kv.split("=") for kv in nat.split())
    assert int(f["totalram"]) == 256 << 20
    assert 0 < int(f["freeram"]) <= 256 << 20
    assert int(f["totalswap"]) == 0
    assert int(f["uptime"]) < 10 <= int(nf["uptime"]) or int(f["uptime"]) < int(nf["uptime"])
    assert f["affinity_ret"] == nf["affinity_ret"]   # the kernel's mask size, unchanged
    assert f["count"] == "1" and f["nprocs"] == "1"
    assert int(f["load1"]) <= 1 << 16
    assert 1 <= int(f["procs"]) <= 4 < int(nf["procs"])   # the sandbox's threads, not the host's


def test_served_file_behaves_like_a_read_only_file(backend, p):
    """Small reads across the content, O_CLOEXEC honoured (or not), writes refused."""
    out = lxrun(["--backend", backend, *MEM], [p["pcat"], "-c", "-f", "-w", "/proc/meminfo"]).stdout
    assert out.startswith("MemTotal:") and "cloexec=1" in out
    assert re.search(r"write=(9|1)\n", out)       # EBADF natively; EPERM (sealed memfd) here
    out = lxrun(["--backend", backend, *MEM], [p["pcat"], "-f", "/proc/meminfo"]).stdout
    assert out.startswith("MemTotal:") and "cloexec=0" in out


def test_openat2_and_relative_paths_are_served(backend, p):
    r = lxrun(["--backend", backend, *MEM], [p["pcat"], "-2", "/proc/meminfo"])
    assert r.stdout.startswith(f"{'MemTotal:':<16}{256 * 1024:>8} kB"), r.stdout + r.stderr
    r = lxrun(["--backend", backend, *MEM], [p["pcat"], "-d", "/proc", "meminfo"])
    assert r.stdout.startswith(f"{'MemTotal:':<16}{256 * 1024:>8} kB")
    r = lxrun(["--backend", backend, *MEM], ["sh", "-c", "cd /proc/sys && cat ../meminfo"])
    assert r.stdout.startswith(f"{'MemTotal:':<16}{256 * 1024:>8} kB")


def test_without_limits_nothing_changes(backend):
    """No option, no emulation: the same output as natively."""
    for cmd in ("nproc", "cat /sys/devices/system/cpu/online", "grep -c ^processor /proc/cpuinfo"):
        assert sh(["--backend", backend], cmd) == native(["sh", "-c", cmd]).stdout


def test_memory_only_keeps_the_cpus(backend):
    out = sh(["--backend", backend, *MEM], "nproc; grep MemTotal /proc/meminfo")
    assert out.splitlines()[0] == str(host_cpus())
    assert out.splitlines()[1].split()[1] == str(256 * 1024)


def test_program_running_as_another_user(backend):
    """The served fd is installed whatever the caller's uid (ADDFD on unotify; the
    caller receives it over a socketpair on ptrace)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed (util-linux)")
    r = lxrun(["--backend", backend, *MEM],
              ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "head", "-1", "/proc/meminfo"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{'MemTotal:':<16}{256 * 1024:>8} kB\n"


def test_memory_used_is_the_sandbox_trees_resident_memory(backend):
    """A grandchild holding 96 MiB shows in MemFree while it lives (the usage is the
    RSS of the supervisor's descendants, walked through /proc/PID/task/TID/children),
    and is gone once it exits."""
    script = ("grep MemFree /proc/meminfo; "
              "( python3 -c 'import time; x = b\"\\1\" * (96 << 20); time.sleep(2)' & wait ) & "
              "sleep 1.2; grep MemFree /proc/meminfo; wait; sleep 0.3; grep MemFree /proc/meminfo")
    out = sh(["--backend", backend, "--memory", "1G"], script).splitlines()
    before, during, after = (int(ln.split()[1]) // 1024 for ln in out)
    assert before - during >= 90, (before, during, after)
    assert abs(after - before) < 16, (before, during, after)


def test_served_meminfo_opens_do_not_share_an_offset(backend):
    """Two opens of the served file are two open file descriptions (each reader
    starts at 0), and writing fails with EBADF as on the real read-only file."""
    prog = ("import os\n"
            "a = os.open('/proc/meminfo', os.O_RDONLY); b = os.open('/proc/meminfo', os.O_RDONLY)\n"
            "print(os.read(a, 9), os.read(b, 9), os.read(a, 7))\n"
            "try:\n    os.write(a, b'x')\nexcept OSError as e:\n    print(e.errno)\n")
    out = sh(["--backend", backend, *MEM], f"python3 -c \"{prog}\"").splitlines()
    assert out == ["b'MemTotal:' b'MemTotal:' b'       '", "9"]
