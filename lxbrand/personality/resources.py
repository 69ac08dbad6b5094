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
from lxbrand.personality.rules import emulate, finder
from lxbrand.personality.snapshot import Snapshot

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# How old the sandbox's memory usage, and the files made from it, may be (seconds):
# `free` and `top` read /proc/meminfo several times in a row.
SAMPLE = 0.1


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
# Computed from the limit and the sandbox's usage (ResourceView.meminfo).
_MEMINFO_SET = {"MemTotal", "MemFree", "MemAvailable", "Active", "Active(anon)", "AnonPages"}
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


# /proc/PID/task/TID/children (proc(5); CONFIG_PROC_CHILDREN, on in Debian's and most
# distributions' kernels): the sandbox's tree is walked from the supervisor down,
# reading a few files per sandbox process instead of one per host process.
_HAVE_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _readb(path):
    """A small /proc file's bytes, with raw syscalls (no buffered file object: this
    runs a few times per sandbox process while a program waits for its meminfo)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if len(data) == 65536:          # a children list of thousands of pids
            while chunk := os.read(fd, 65536):
                data += chunk
        return data
    finally:
        os.close(fd)


def _stat_fields(pid):
    """/proc/PID/stat after the command name: [state, ppid, ...] (proc(5) fields 3...)."""
    st = _readb(f"/proc/{pid}/stat")
    return st[st.rindex(b")") + 2:].split()


def _children(pid, nthreads):
    """The children of every thread of pid (a child belongs to the thread that forked it)."""
    tids = [pid] if nthreads == 1 else os.listdir(f"/proc/{pid}/task")
    out = []
    for tid in tids:
        try:
            out.extend(_readb(f"/proc/{pid}/task/{tid}/children").split())
        except OSError:
            continue           # the thread exited meanwhile
    return out


def _tree_usage(root):
    """(resident pages, tasks) of root's descendants, from the children files.
    Raises OSError if root's own files cannot be read."""
    stack = _children(root, 0)
    seen, total, tasks = set(), 0, 0
    while stack:
        pid = int(stack.pop())
        if pid in seen:
            continue           # re-listed after a reparenting between two reads
        seen.add(pid)
        try:
            f = _stat_fields(pid)
            total += int(f[21])                   # rss
            nthreads = int(f[17])
            tasks += nthreads
            stack.extend(_children(pid, nthreads))
        except (OSError, ValueError, IndexError):
            continue           # exited meanwhile
    return total, tasks


def _tree_rss_pages(root):
    return _tree_usage(root)[0]


def _scan_rss_pages(me):
    return _scan_usage(me)[0]


def _scan_usage(me):
    """The same sums without the children files: every pid in /proc with its parent
    (all of them: once pid numbers wrap at pid_max a descendant's pid may be below
    the supervisor's)."""
    parent, rss, threads = {}, {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            f = _stat_fields(d)
        except OSError:
            continue
        parent[int(d)] = int(f[1])
        rss[int(d)] = int(f[21])
        threads[int(d)] = int(f[17])
    total = tasks = 0
    for pid in parent:
        p, hops = pid, 0
        while p > 1 and hops < 64:
            p = parent.get(p, 0)
            if p == me:
                total += rss[pid]
                tasks += threads[pid]
                break
            hops += 1
    return total, tasks


class _MeminfoPlan:
    """How to turn the host's /proc/meminfo into the sandbox's, worked out once from
    the host's lines (the running kernel's keys and order do not change): which lines
    are computed, zeroed, capped at the limit or kept as they are.  render() then
    touches only the lines whose value changes, so every other byte is the kernel's."""

    def __init__(self, lines):
        self.n = len(lines)
        self.keys = []          # [(index, b"Key:")] checked by fits()
        self.set = []           # [(index, key, prefix, width)] values the caller computes
        self.zero = []          # [(index, whole line)] constant
        self.capped = []        # [(index, prefix, width, skip)] min(host value, limit)
        self.total = self.available = None
        for i, line in enumerate(lines):
            m = re.match(rb"([^:]+):(\s*)(\d+)( kB)?$", line)
            if not m:
                continue
            key = m[1].decode()
            if key == "MemTotal":
                self.total = (i, len(m[1]) + 1)
            elif key == "MemAvailable":
                self.available = (i, len(m[1]) + 1)
            if not m[4] or key in _MEMINFO_KEEP:
                continue        # counts (HugePages_*) and address-space sizes: the host's
            self.keys.append((i, m[1] + b":"))
            # mm/meminfo.c show_val_kb(): a label padded to 16 columns, the value to 8
            # (a longer label such as "HardwareCorrupted: " keeps the value ending in
            # column 24); a wider value pushes " kB" right, as %8lu does.
            prefix = (m[1] + b":").ljust(16) if len(m[1]) < 15 else m[1] + b": "
            width = 24 - len(prefix)
            if key in _MEMINFO_SET:
                self.set.append((i, key, prefix, width))
            elif key in _MEMINFO_ZERO:
                self.zero.append((i, prefix + b"0".rjust(width) + b" kB"))
            else:
                self.capped.append((i, prefix, width, len(m[1]) + 1))

    def fits(self, lines):
        """lines have this plan's layout (same count, same keys where values change)."""
        return len(lines) == self.n and all(lines[i].startswith(k) for i, k in self.keys)

    @staticmethod
    def value(lines, where, default=1 << 62):
        if where is None:
            return default
        i, skip = where
        return int(lines[i][skip:].split()[0])

    def render(self, lines, limit, values):
        out = list(lines)
        for i, line in self.zero:
            out[i] = line
        for i, prefix, width, skip in self.capped:
            # the host's line stays byte for byte unless its value is over the limit
            if int(lines[i][skip:-3]) > limit:
                out[i] = b"%s%*d kB" % (prefix, width, limit)
        for i, key, prefix, width in self.set:
            out[i] = b"%s%*d kB" % (prefix, width, values[key])
        return b"\n".join(out)


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
        self.peak_kb = 0                # the largest usage sampled (cgroup max_usage/peak files)
        self._tasks = 0                 # threads in the sandbox's tree at that sample
        self._meminfo_fd = None
        self._meminfo_plan = None
        self.files = {}                 # guest path -> generator, once installed

    # -- sandbox usage -----------------------------------------------------------
    def usage_kb(self):
        """Resident memory of the supervisor's descendants (the sandbox's tree), kB.
        Sampled at most every SAMPLE seconds."""
        now = time.monotonic()
        if now - self._usage[0] < SAMPLE:
            return self._usage[1]
        got = None
        if _HAVE_CHILDREN:
            try:
                got = _tree_usage(os.getpid())
            except OSError:
                got = None         # the supervisor's own /proc unreadable: scan instead
        if got is None:
            got = _scan_usage(os.getpid())
        pages, self._tasks = got
        kb = pages * PAGE_KB
        self._usage = (now, kb)
        self.peak_kb = max(self.peak_kb, kb)
        return kb

    def tasks(self):
        """Threads of the sandbox's tree (sampled with the usage), at least 1: the caller."""
        self.usage_kb()
        return max(1, self._tasks)

    def uptime(self):
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - self.start)

    # -- files ---------------------------------------------------------------------
    def meminfo(self):
        host = self._host_meminfo()
        lines = host.split(b"\n")
        plan = self._meminfo_plan
        if plan is None or not plan.fits(lines):
            plan = self._meminfo_plan = _MeminfoPlan(lines)
        total = min(self.memory // 1024, plan.value(lines, plan.total))
        used = min(self.usage_kb(), total)
        free = total - used
        return plan.render(lines, total, {
            "MemTotal": total, "MemFree": free,
            "MemAvailable": min(free, plan.value(lines, plan.available, free)),
            "Active": used, "Active(anon)": used, "AnonPages": used})

    def _host_meminfo(self):
        """The host's /proc/meminfo, read again (pread at 0 restarts a seq_file) from
        an fd kept open: one syscall instead of three."""
        if self._meminfo_fd is None:
            self._meminfo_fd = os.open("/proc/meminfo", os.O_RDONLY | os.O_CLOEXEC)
        data = os.pread(self._meminfo_fd, 65536, 0)
        return data

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
        lines = _readb("/proc/stat").split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        percpu, head, cpu_at = {}, None, None
        rest = []
        for line in lines:
            if line.startswith(b"cpu"):
                name, _, vals = line.partition(b" ")
                if name == b"cpu":
                    head = vals
                    cpu_at = len(rest)
                else:
                    percpu[int(name[3:])] = vals
            elif line.startswith(b"btime "):
                rest.append(b"btime %d" % int(self.start_wall))
            else:
                rest.append(line)
        shown = [percpu[c].split() for c in self.cpu_ids if c in percpu]
        if head is None:
            return b"\n".join(rest) + b"\n"
        if shown:
            agg = b"cpu  " + b" ".join(b"%d" % sum(map(int, col)) for col in zip(*shown))
        else:
            agg = b"cpu " + head
        cpus = [b"cpu%d %s" % (i, b" ".join(v)) for i, v in enumerate(shown)]
        return b"\n".join(rest[:cpu_at] + [agg] + cpus + rest[cpu_at:]) + b"\n"

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
        if len(f) > 3 and "/" in f[3]:
            # "running/total" scheduling entities: the sandbox's threads
            running, tasks = int(f[3].split("/")[0]), self.tasks()
            f[3] = f"{max(1, min(running, tasks))}/{tasks}"
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
        b[80:82] = min(self.tasks(), 0xFFFF).to_bytes(2, "little")   # procs: the sandbox's threads
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
        out = bytes(b)
        call.write(call.args[0], out)
        # the same answer for every caller until the next usage sample: from C
        # (uptime then lags by up to SAMPLE, as the snapshot files' values do)
        call.cache_reply(out, 0, SAMPLE)
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
        # Generated at most once per usage sample (SAMPLE): `free` or `top` in a loop
        # then costs a reopen, not a generation, per read.
        files["/proc/meminfo"] = Snapshot(view.meminfo, "meminfo", SAMPLE)
    if view.cpus_limit is not None:
        files["/proc/cpuinfo"] = Snapshot(view.cpuinfo, "cpuinfo", SAMPLE)
        for f in ("online", "possible", "present"):
            files[f"/sys/devices/system/cpu/{f}"] = Snapshot(view.cpu_range, f, float("inf"))
        emulate(policy, "sched_getaffinity", handler=view.sched_getaffinity,
                comment="personality: the first N CPUs (--cpus)")
    emulate(policy, "sysinfo", handler=view.sysinfo, comment="personality: memory limit, sandbox uptime")

    find = finder(files)

    def hook(req):
        hit = find(req)
        if hit is None or not req.read_only:
            return None
        return Serve(hit[0], name=hit[1])

    pipe.add(hook, names={p.rsplit("/", 1)[-1] for p in files}, tag=tag)
    view.files = files
    return files
