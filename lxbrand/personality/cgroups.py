"""cgroup files: what the JVM, Go's runtime (automaxprocs, Go 1.25's GOMAXPROCS) and
libuv (Node's process.constrainedMemory) size themselves from.

Those readers find their cgroup as the kernel shows it: the line of
/proc/self/cgroup for a controller, the cgroup mount of /proc/self/mountinfo
holding that controller, and the directory mount point + (cgroup path relative to
the mount's root).  The sandbox's tasks stay in the supervisor's cgroup, so the
supervisor works out the same directories from its own /proc/self/cgroup and
mountinfo and serves the limit files found there with --memory/--cpus:

    cgroup v1 (the layout this host has; hybrid hosts too)
      memory/  memory.limit_in_bytes, memory.memsw.limit_in_bytes   the limit
               memory.usage_in_bytes, memory.memsw.usage_in_bytes   the sandbox's RSS
               memory.max_usage_in_bytes, memory.memsw.max_usage_in_bytes  its peak
      cpu/     cpu.cfs_quota_us       N x the real cpu.cfs_period_us
      cpuset/  cpuset.cpus, cpuset.effective_cpus   0..ceil(N)-1 (the CPUs /sys shows)
    cgroup v2
      memory.max (the limit), memory.current, memory.peak (usage, peak),
      memory.swap.max (0: the sandbox is shown no swap), cpu.max ("QUOTA PERIOD"),
      cpuset.cpus.effective

The layout shown is the host's own (v1, v2 or both as mounted): a reader decides
between v1 and v2 from /proc/cgroups and mountinfo, which stay the host's.  Only
files the kernel has in that directory are served (a cgroup v2 root has no
memory.max; `ls` shows what the kernel has), so the answer is always the file a
cgroup with this limit would have.  /proc/self/cgroup and mountinfo are not
changed: the paths in them are true.  Memory values are what the kernel would
store: the limit rounded down to a page, "memory & swap" equal to the limit
(SwapTotal is 0 in /proc/meminfo too).  Not emulated: memory.stat, cpu.shares /
cpu.weight, cpuacct and pids files (the real cgroup's), a cgroup the program moves
itself to.  Under the OCI runtime the container's cgroup holds the real limits, so
none of this is installed there.
"""
import os

from lxbrand.handlers.files import Serve
from lxbrand.personality.rules import finder
from lxbrand.personality.snapshot import Snapshot

PAGE = os.sysconf("SC_PAGE_SIZE")

# basename -> (controller, what): every file this module may serve.
V1 = {
    "memory.limit_in_bytes": ("memory", "limit"),
    "memory.memsw.limit_in_bytes": ("memory", "limit"),
    "memory.usage_in_bytes": ("memory", "usage"),
    "memory.memsw.usage_in_bytes": ("memory", "usage"),
    "memory.max_usage_in_bytes": ("memory", "peak"),
    "memory.memsw.max_usage_in_bytes": ("memory", "peak"),
    "cpu.cfs_quota_us": ("cpu", "quota"),
    "cpuset.cpus": ("cpuset", "cpus"),
    "cpuset.effective_cpus": ("cpuset", "cpus"),
}
V2 = {
    "memory.max": ("memory", "limit"),
    "memory.current": ("memory", "usage"),
    "memory.peak": ("memory", "peak"),
    "memory.swap.max": ("memory", "noswap"),
    "cpu.max": ("cpu", "max"),
    "cpuset.cpus.effective": ("cpuset", "cpus"),
}
NAMES = frozenset(V1) | frozenset(V2)


class Host:
    """The supervisor's view of its cgroups; tests inject another."""

    def read(self, path):
        with open(path, "rb") as f:
            return f.read().decode()

    def exists(self, path):
        return os.path.exists(path)

    def same_dir(self, alias, target):
        """alias is a symlink to the directory target (/sys/fs/cgroup/cpu -> cpu,cpuacct)."""
        return os.path.islink(alias) and os.path.realpath(alias) == os.path.realpath(target)


def _unescape(field):
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    if "\\" not in field:
        return field
    import re
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def directories(host=None):
    """[(version, controllers, directory)] of the supervisor's cgroups, as a reader
    of /proc/self/cgroup and /proc/self/mountinfo would find them: version 1 or 2,
    controllers a frozenset (empty for v2), directory an absolute path."""
    host = host or Host()
    paths = {}               # frozenset(controllers) -> path ; v2 under frozenset()
    for line in host.read("/proc/self/cgroup").splitlines():
        hid, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if not hid:
            continue
        key = frozenset() if hid == "0" and not ctrls else frozenset(c for c in ctrls.split(",") if c)
        paths[key] = path
    out = []
    for line in host.read("/proc/self/mountinfo").splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3 or r[0] not in ("cgroup", "cgroup2"):
            continue
        root, point = _unescape(f[3]), _unescape(f[4])
        if r[0] == "cgroup2":
            version, ctrls = 2, frozenset()
        else:
            version = 1
            ctrls = frozenset(o for o in r[2].split(",") if o not in ("rw", "ro") and "=" not in o
                              and o in _V1_CONTROLLERS)
            if not ctrls:
                continue         # name=systemd and other named hierarchies
        path = paths.get(ctrls)
        if path is None:
            continue
        # A cgroup outside the part of the hierarchy this mount shows is unreachable
        # (the reader finds no directory either).
        if root != "/" and path != root and not path.startswith(root.rstrip("/") + "/"):
            continue
        rel = path[len(root):] if root != "/" else path
        points = [point]
        # co-mounted controllers get one symlink each (cpu -> cpu,cpuacct); readers
        # that hard-code /sys/fs/cgroup/cpu/ open through it
        parent = point.rsplit("/", 1)[0]
        points += [f"{parent}/{c}" for c in sorted(ctrls)
                   if f"{parent}/{c}" != point and host.same_dir(f"{parent}/{c}", point)]
        for pt in points:
            out.append((version, ctrls, (pt.rstrip("/") + "/" + rel.strip("/")).rstrip("/") or "/"))
    return out


_V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
                   "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc"}


class CgroupFiles:
    """The generators for one ResourceView's limits, keyed by guest path; worked out
    on the first open of a candidate basename (not at start-up)."""

    def __init__(self, view, host=None):
        self.view = view
        self.host = host or Host()
        self._files = None
        self._find = None

    def files(self):
        if self._files is None:
            self._files = self._build()
        return self._files

    def find(self, req):
        if self._find is None:
            self._find = finder(self.files())
        return self._find(req)

    def _build(self):
        v = self.view
        out = {}
        try:
            dirs = directories(self.host)
        except OSError:
            return out           # no /proc/self/cgroup: nothing a reader could find either
        for version, ctrls, d in dirs:
            table = V1 if version == 1 else V2
            for name, (ctrl, what) in table.items():
                if version == 1 and ctrl not in ctrls:
                    continue
                if ctrl == "memory" and v.memory is None or ctrl in ("cpu", "cpuset") and v.cpus_limit is None:
                    continue
                path = f"{d}/{name}"
                if not self.host.exists(path):
                    continue
                gen = self._generator(what, d, version)
                # usage and peak change; the rest is fixed for the run
                out[path] = gen if what in ("usage", "peak") else Snapshot(gen, name, float("inf"))
        return out

    def _generator(self, what, d, version):
        v = self.view
        if what == "limit":
            limit = v.memory // PAGE * PAGE          # the kernel keeps limits in pages
            return lambda: b"%d\n" % limit
        if what == "usage":
            return lambda: b"%d\n" % (v.usage_kb() * 1024)
        if what == "peak":
            return lambda: b"%d\n" % (max(v.peak_kb, v.usage_kb()) * 1024)
        if what == "noswap":
            return lambda: b"0\n"
        if what == "cpus":
            return lambda: v.cpu_range()
        period_file = f"{d}/cpu.cfs_period_us" if version == 1 else f"{d}/cpu.max"

        def period():
            try:
                return int(self.host.read(period_file).split()[-1])
            except (OSError, ValueError, IndexError):
                return 100000    # the kernel's default period
        if what == "quota":
            return lambda: b"%d\n" % max(1000, round(v.cpus_limit * period()))
        return lambda: b"%d %d\n" % (max(1000, round(v.cpus_limit * period())), period())  # "max"


def install(pipe, view, tag, host=None):
    """Serve the cgroup limit files of the supervisor's cgroups from `view`."""
    if view.memory is None and view.cpus_limit is None:
        return None
    cg = CgroupFiles(view, host)

    def hook(req):
        hit = cg.find(req)
        if hit is None or not req.read_only:
            return None          # writes (a program setting its own limit) reach the kernel
        return Serve(hit[0], name=hit[1])

    pipe.add(hook, names=NAMES, tag=tag)
    return cg
