"""The resource view: what LXCFS shows a container, without FUSE.

/proc/meminfo, /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg,
/sys/devices/system/cpu/{online,possible,present}, sysinfo(2) and
sched_getaffinity(2) describe the sandbox (its memory limit, CPU count and start
time) instead of the host.  Every generated file starts from the host's own
file, so keys, order and format are the running kernel's; only values change.

The view shows limits, it does not enforce them: under lxrun nothing stops the
program from using more memory or CPUs (the OCI runtime enforces them with
cgroups).  Known gaps are in DIVERGENCE.md, "Personality".
"""
from functools import lru_cache
import errno
import os
import re
import time

from lxbrand.handlers.files import Serve
from lxbrand.personality.rules import emulate

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@lru_cache(maxsize=None)
def _libc():
    """libc through ctypes, loaded on the first handler call (not at lxrun start-up)."""
    import ctypes
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib

# meminfo keys that describe address space or page sizes, not memory in use:
# left as the host's.
_MEMINFO_KEEP = {"VmallocTotal", "VmallocUsed", "VmallocChunk", "Hugepagesize", "Hugetlb",
                 "DirectMap4k", "DirectMap2M", "DirectMap1G", "Percpu"}
# Caches, buffers, swap and kernel memory: none of it is the sandbox's.
_MEMINFO_ZERO = {"Buffers", "Cached", "SwapCached", "SwapTotal", "SwapFree", "Inactive", "Inactive(anon)",
                 "Active(file)", "Inactive(file)", "Mapped", "Shmem", "Zswap", "Zswapped", "Dirty",
                 "Writeback", "Slab", "SReclaimable", "SUnreclaim", "KReclaimable"}
_MEMINFO_LINE = re.compile(r"^([^:\n]+):(\s+)(\d+)( kB)?$", re.M)
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")


def parse_size(value):
    """Bytes from 268435456, "256M", "1g", "512MiB", "1.5G" (binary units, like docker)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like \"256M\", got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise ValueError(f"expected a size like \"256M\" or a number of bytes, got {value!r}")
        n = int(float(m[1]) * 1024 ** " KMGT".index((m[2] or " ").upper()))
    if n < 4 * 1024 * 1024:
        raise ValueError(f"memory limit {value!r} is below 4 MiB")
    return n


def parse_cpus(value):
    """A CPU count: a positive number, fractional like docker's --cpus 1.5 (shown rounded up)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number of CPUs, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of CPUs like 2 or 1.5, got {value!r}") from None
    if not f > 0 or f > 8192:
        raise ValueError(f"CPU count {value!r} is out of range (0 < N <= 8192)")
    return f


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode()


def _cpu_list(text):
    """[0, 1, 4, 5] from "0-1,4-5"."""
    out = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _cpu_range(n):
    return "0\n" if n == 1 else f"0-{n - 1}\n"


class ResourceView:
    """The numbers the sandbox sees.  memory: bytes or None; cpus: float or None;
    start: CLOCK_BOOTTIME seconds at the sandbox's start; sup_pid: the supervisor
    (the sandbox's tasks are its descendants)."""

    def __init__(self, memory=None, cpus=None, start=None, host_cpus=None):
        self.memory = memory
        self.cpus_limit = cpus
        self.start = time.clock_gettime(time.CLOCK_BOOTTIME) if start is None else start
        self.start_wall = time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - self.start)
        online = host_cpus if host_cpus is not None else sorted(os.sched_getaffinity(0))
        self.host_ncpu = len(_cpu_list(_read("/sys/devices/system/cpu/online")))
        n = len(online) if cpus is None else min(len(online), max(1, -int(-cpus // 1)))
        self.cpu_ids = online[:n]       # the host CPUs the sandbox is shown (renumbered 0..n-1)
        self.ncpu = n
        self._usage = (0.0, 0)

    # -- sandbox usage -----------------------------------------------------------
    def usage_kb(self):
        """Resident memory of the supervisor's descendants (the sandbox's tree), kB.
        Cached for 100 ms: `free`, `top` read meminfo several times in a row."""
        now = time.monotonic()
        if now - self._usage[0] < 0.1:
            return self._usage[1]
        me = os.getpid()
        parent, rss = {}, {}
        for d in os.listdir("/proc"):
            # The sandbox's tasks were created after the supervisor: only larger pids
            # can be its descendants (until pid numbers wrap at pid_max; then the
            # older descendants are missed, an approximation DIVERGENCE.md notes).
            if not d.isdigit() or int(d) <= me:
                continue
            try:
                st = _read(f"/proc/{d}/stat")
            except OSError:
                continue
            f = st[st.rindex(")") + 2:].split()
            parent[int(d)] = int(f[1])
            rss[int(d)] = int(f[21])
        total = 0
        for pid in parent:
            p, hops = pid, 0
            while p > 1 and hops < 64:
                p = parent.get(p, 0)
                if p == me:
                    total += rss[pid]
                    break
                hops += 1
        kb = total * PAGE_KB
        self._usage = (now, kb)
        return kb

    def uptime(self):
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - self.start)

    # -- files ---------------------------------------------------------------------
    def meminfo(self):
        host = _read("/proc/meminfo")
        fields = _MEMINFO_LINE.findall(host)          # [(key, spacing, value, " kB" or "")]
        vals = {k: int(v) for k, _, v, _ in fields}
        total = min(self.memory // 1024, vals.get("MemTotal", 1 << 62))
        used = min(self.usage_kb(), total)
        free = total - used
        new = {"MemTotal": total, "MemFree": free, "MemAvailable": min(free, vals.get("MemAvailable", free)),
               "Active": used, "Active(anon)": used, "AnonPages": used}
        out = []
        for k, sp, v, unit in fields:
            if unit and k not in _MEMINFO_KEEP:
                # mm/meminfo.c show_val_kb(): the label padded to 16 columns, the value to 8
                out.append(f"{(k + ':'):<16}{new.get(k, 0 if k in _MEMINFO_ZERO else min(int(v), total)):>8} kB")
            else:
                out.append(f"{k}:{sp}{v}{unit}")
        return ("\n".join(out) + "\n").encode()

    def cpuinfo(self):
        blocks = _read("/proc/cpuinfo").split("\n\n")
        by_id = {}
        for b in blocks:
            m = re.match(r"processor\s*:\s*(\d+)", b)
            if m:
                by_id[int(m[1])] = b
        out = []
        for i, cpu in enumerate(self.cpu_ids):
            b = by_id.get(cpu)
            if b is None:
                continue
            b = re.sub(r"^(processor\s*:\s*)\d+", lambda m: m[1] + str(i), b, flags=re.M)
            b = re.sub(r"^(siblings\s*:\s*)\d+", lambda m: m[1] + str(self.ncpu), b, flags=re.M)
            b = re.sub(r"^(cpu cores\s*:\s*)\d+", lambda m: m[1] + str(self.ncpu), b, flags=re.M)
            b = re.sub(r"^(core id\s*:\s*)\d+", lambda m: m[1] + str(i), b, flags=re.M)
            out.append(b.strip("\n"))
        return ("\n\n".join(out) + "\n\n").encode()

    def stat(self):
        lines = _read("/proc/stat").splitlines()
        percpu = {}
        for line in lines:
            m = re.match(r"cpu(\d+) ", line)
            if m:
                percpu[int(m[1])] = [int(x) for x in line.split()[1:]]
        shown = [percpu[c] for c in self.cpu_ids if c in percpu]
        out = []
        for line in lines:
            if line.startswith("cpu "):
                agg = [sum(col) for col in zip(*shown)] if shown else line.split()[1:]
                out.append("cpu  " + " ".join(map(str, agg)))
                for i, v in enumerate(shown):
                    out.append(f"cpu{i} " + " ".join(map(str, v)))
            elif re.match(r"cpu\d+ ", line):
                continue
            elif line.startswith("btime "):
                out.append(f"btime {int(self.start_wall)}")
            else:
                out.append(line)
        return ("\n".join(out) + "\n").encode()

    def uptime_file(self):
        host = _read("/proc/uptime").split()
        up = self.uptime()
        host_up, host_idle = float(host[0]), float(host[1])
        frac = host_idle / (host_up * self.host_ncpu) if host_up > 0 else 0.0
        idle = up * self.ncpu * min(1.0, frac)
        return f"{up:.2f} {idle:.2f}\n".encode()

    def loadavg(self):
        f = _read("/proc/loadavg").split()
        loads = [f"{min(float(x), float(self.ncpu)):.2f}" for x in f[:3]]
        return (" ".join(loads + f[3:]) + "\n").encode()

    def cpu_range(self):
        return _cpu_range(self.ncpu).encode()

    # -- syscalls -------------------------------------------------------------------
    def sysinfo(self, call):
        """sysinfo(2): the host's answer with uptime, load, memory and swap replaced."""
        import ctypes
        buf = ctypes.create_string_buffer(112)   # struct sysinfo on x86_64
        if _libc().sysinfo(buf) != 0:
            raise OSError(ctypes.get_errno(), "sysinfo")
        b = bytearray(buf.raw)
        unit = int.from_bytes(b[104:108], "little") or 1
        put = lambda off, v: b.__setitem__(slice(off, off + 8), int(v).to_bytes(8, "little"))  # noqa: E731
        put(0, int(self.uptime()))
        for i in range(3):
            load = int.from_bytes(b[8 + 8 * i:16 + 8 * i], "little")
            put(8 + 8 * i, min(load, self.ncpu << 16))
        if self.memory is not None:
            total_kb = min(self.memory // 1024, int.from_bytes(b[32:40], "little") * unit // 1024)
            free_kb = max(0, total_kb - self.usage_kb())
            put(32, total_kb * 1024 // unit)
            put(40, free_kb * 1024 // unit)
            put(48, 0)   # sharedram
            put(56, 0)   # bufferram
            put(64, 0)   # totalswap
            put(72, 0)   # freeswap
        if not call.args[0]:
            raise OSError(errno.EFAULT, "sysinfo")
        call.write(call.args[0], bytes(b))
        return 0

    def sched_getaffinity(self, call):
        """sched_getaffinity(2): the kernel's answer for the task, then only the first
        N allowed CPUs kept (the return value, the mask size, is the kernel's)."""
        import ctypes
        pid, size, addr = call.args[0] & 0xFFFFFFFF, call.args[1], call.args[2]
        target = pid or call.tid
        if size > 1 << 16:
            size = 1 << 16
        buf = ctypes.create_string_buffer(max(size, 8))
        # The guest's pid names the same task here (lxrun shares the pid namespace;
        # the OCI runtime gives the supervisor the container's pids through /proc).
        ret = _libc().syscall(204, ctypes.c_long(target), ctypes.c_ulong(size), buf)  # SYS_sched_getaffinity
        if ret < 0:
            raise OSError(ctypes.get_errno(), "sched_getaffinity")
        mask = int.from_bytes(buf.raw[:ret], "little")
        kept, out = 0, 0
        for bit in range(ret * 8):
            if mask >> bit & 1 and kept < self.ncpu:
                out |= 1 << bit
                kept += 1
        call.write(addr, out.to_bytes(ret, "little"))
        return ret


def install(policy, pipe, view, tag):
    """Serve the resource files and answer sysinfo/sched_getaffinity from `view`."""
    files = {"/proc/uptime": view.uptime_file, "/proc/loadavg": view.loadavg, "/proc/stat": view.stat}
    if view.memory is not None:
        files["/proc/meminfo"] = view.meminfo
    if view.cpus_limit is not None:
        files["/proc/cpuinfo"] = view.cpuinfo
        for f in ("online", "possible", "present"):
            files[f"/sys/devices/system/cpu/{f}"] = view.cpu_range
        emulate(policy, "sched_getaffinity", handler=view.sched_getaffinity,
                comment="personality: the first N CPUs (--cpus)")
    emulate(policy, "sysinfo", handler=view.sysinfo, comment="personality: memory limit, sandbox uptime")

    def hook(req):
        gen = files.get(req.guest_path)
        if gen is None or not req.read_only:
            return None
        return Serve(gen, name=req.guest_path.rsplit("/", 1)[-1])

    pipe.add(hook, names={p.rsplit("/", 1)[-1] for p in files}, tag=tag)
    return files
