"""linux.resources written into a container's cgroup files, on v1 and on v2.

Every field of runtime-spec config-linux.md#control-groups is either applied or refused:
a limit the host cannot apply (its controller is not mounted, its file does not exist, cgroup
v2 has no such knob) fails `create` (and `update`) with the field named, as runc does
("cannot set hugetlb limit: container could not join or create cgroup"). A container must not
run without a limit its config asks for. Two exceptions, both as in runc:
  - a zero means "not set" where runc reads it so (Docker sends `blockIO.weight: 0`,
    `cpu.shares: 0`), and `memory.swappiness: -1` is unset;
  - `memory.kernel` is ignored: Linux has refused kernel memory limits since 5.16 (commit
    58056f77502f, "memcg, kmem: further deprecate kmem.limit_in_bytes") and since 4597648fddea
    takes the write and ignores it; runc ignores it too (runc commit 52390d68) and the spec
    marks it NOT RECOMMENDED.
`paths` is {hierarchy key: directory} (lxbrand.oci.cgroups.resolve): v1 keys are controller
lists such as "cpu,cpuacct"; "unified" is the cgroup2 directory.
"""
import errno
import os
import re

from .errors import OCIError

RES = "linux.resources"

# runc's default device rules (AllowedDevices): mknod of anything, the standard char devices,
# /dev/pts/* and /dev/ptmx; added after the config's own rules.
_DEFAULT_DEVICE_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm",
                         "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm",
                         "c 5:2 rwm"]


def apply(paths, res, v2_only):
    res = res or {}
    if not isinstance(res, dict):
        raise OCIError(f"{RES}: must be an object")
    sections = {"memory": dict, "cpu": dict, "pids": dict, "blockIO": dict, "network": dict,
                "rdma": dict, "unified": dict, "hugepageLimits": list, "devices": list}
    for key, typ in sections.items():
        if res.get(key) is not None and not isinstance(res[key], typ):
            raise OCIError(f"{RES}.{key}: must be an {'object' if typ is dict else 'array'}")
    if v2_only:
        d = paths.get("unified")
        if d is None:
            if any(res.get(k) for k in sections if k != "devices"):
                raise OCIError(f"{RES}: this host has no cgroup2 hierarchy for the container")
            return
        _v2(d, res)
    else:
        _v1(paths, res)


# ---------------------------------------------------------------- helpers

def _num(sect, key, where, signed=True):
    """sect[key] as an int (None when absent); anything else is refused with its name."""
    v = sect.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or (not signed and v < 0):
        raise OCIError(f"{where}.{key}: must be {'an' if signed else 'a non-negative'} "
                       f"integer, not {v!r}")
    return v


def _write(d, name, value, where, einval_ok=False):
    """Write one cgroup file; an error names the config field and the file.  With
    `einval_ok`, EINVAL returns False instead (a value the kernel takes only in another
    order, see _v1_cpu)."""
    p = os.path.join(d, name)
    try:
        # never O_CREAT: a file the cgroup does not have is ENOENT, not a new file (or
        # cgroupfs's EACCES for a create); O_TRUNC as runc's cgroups.WriteFile
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, str(value).encode())
        finally:
            os.close(fd)
    except OSError as e:
        if einval_ok and e.errno == errno.EINVAL:
            return False
        if e.errno == errno.ENOENT:
            raise OCIError(f"{where}: cannot apply {value!r}: {p} does not exist (the kernel "
                           "or this cgroup does not offer it)") from None
        raise OCIError(f"{where}: cannot write {value!r} to {p}: {e.strerror}") from None
    return True


def _ctrl(paths, ctrl, where):
    """The directory of v1 controller `ctrl`; an error naming `where` if it is not mounted."""
    for key, d in paths.items():
        if ctrl in key.split(","):
            return d
    raise OCIError(f"{where}: the {ctrl} cgroup controller is not mounted on this host, so "
                   "the limit cannot be applied")


def _exists(d, name):
    return os.path.exists(os.path.join(d, name))


def _devices(lst, where, fields):
    """Entries of a per-device list (blockIO.weightDevice, throttle*): (major:minor, entry)."""
    if lst is not None and not isinstance(lst, list):
        raise OCIError(f"{where}: must be an array")
    out = []
    for i, e in enumerate(lst or ()):
        w = f"{where}[{i}]"
        if not isinstance(e, dict):
            raise OCIError(f"{w}: must be an object")
        mj, mn = _num(e, "major", w, signed=False), _num(e, "minor", w, signed=False)
        if mj is None or mn is None:
            raise OCIError(f"{w}: major and minor are required")
        for f in fields:
            _num(e, f, w, signed=False)
        out.append((f"{mj}:{mn}", e, w))
    return out


def _hugepages(lst):
    out = []  # (apply() checked it is a list)
    for i, e in enumerate(lst or ()):
        w = f"{RES}.hugepageLimits[{i}]"
        if not isinstance(e, dict):
            raise OCIError(f"{w}: must be an object")
        size = e.get("pageSize")
        # runtime-spec: <size><unit-prefix>B, as in the hugetlb.<size>.limit_in_bytes files
        if not isinstance(size, str) or not re.fullmatch(r"[0-9]+[KMGTPE]?B", size):
            raise OCIError(f"{w}.pageSize: must be like 2MB or 1GB, not {size!r}")
        limit = _num(e, "limit", w, signed=False)
        if limit is None:
            raise OCIError(f"{w}.limit: required")
        out.append((size, limit, w))
    return out


def _rdma(rdma):
    out = []
    for dev, lim in (rdma or {}).items():
        w = f"{RES}.rdma.{dev}"
        if not isinstance(lim, dict) or not dev or any(c.isspace() for c in dev):
            raise OCIError(f"{w}: must be an object named by an RDMA device")
        parts = [f"{f}={v}" for f, k in (("hca_handle", "hcaHandles"), ("hca_object", "hcaObjects"))
                 if (v := _num(lim, k, w, signed=False)) is not None]
        if parts:
            out.append((f"{dev} {' '.join(parts)}", w))
    return out


def _cpuset(cpu):
    """(key, value) of cpu.cpus and cpu.mems where set."""
    out = []
    for key in ("cpus", "mems"):
        v = cpu.get(key)
        if v is not None and not isinstance(v, str):
            raise OCIError(f"{RES}.cpu.{key}: must be a string like \"0-3,5\", not {v!r}")
        if v:
            out.append((key, v))
    return out


def _swappiness(mem):
    v = _num(mem, "swappiness", f"{RES}.memory")
    if v is None or v == -1:  # runc: -1 is unset
        return None
    if not 0 <= v <= 100:
        raise OCIError(f"{RES}.memory.swappiness: must be 0-100 (or -1, unset), not {v}")
    return v


# ---------------------------------------------------------------- cgroup v1

def _v1(paths, res):
    if res.get("unified"):
        raise OCIError(f"{RES}.unified: holds cgroup v2 files, and this host's controllers are "
                       "cgroup v1")
    _v1_memory(paths, res.get("memory") or {})
    _v1_cpu(paths, res.get("cpu") or {})
    pids = res.get("pids") or {}
    limit = _num(pids, "limit", f"{RES}.pids")
    if limit is not None:
        _write(_ctrl(paths, "pids", f"{RES}.pids"), "pids.max",
               limit if limit > 0 else "max", f"{RES}.pids.limit")
    _v1_blkio(paths, res.get("blockIO") or {})
    pages = _hugepages(res.get("hugepageLimits"))
    for size, limit, w in pages:
        d = _ctrl(paths, "hugetlb", w)
        _write(d, f"hugetlb.{size}.limit_in_bytes", limit, w)
        if _exists(d, f"hugetlb.{size}.rsvd.limit_in_bytes"):  # reservations too (5.7+)
            _write(d, f"hugetlb.{size}.rsvd.limit_in_bytes", limit, w)
    net = res.get("network") or {}
    where = f"{RES}.network"
    classid = _num(net, "classID", where, signed=False)
    if classid:
        _write(_ctrl(paths, "net_cls", f"{where}.classID"), "net_cls.classid", classid,
               f"{where}.classID")
    for i, p in enumerate(net.get("priorities") or ()):
        w = f"{where}.priorities[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or not p["name"]:
            raise OCIError(f"{w}: must be an object with an interface name")
        prio = _num(p, "priority", w, signed=False)
        _write(_ctrl(paths, "net_prio", w), "net_prio.ifpriomap", f"{p['name']} {prio or 0}", w)
    for line, w in _rdma(res.get("rdma")):
        _write(_ctrl(paths, "rdma", w), "rdma.max", line, w)
    if "devices" in res:
        _v1_devices(_ctrl(paths, "devices", f"{RES}.devices"), res["devices"])


def _v1_memory(paths, mem):
    where = f"{RES}.memory"
    limit, swap = _num(mem, "limit", where), _num(mem, "swap", where)
    reservation = _num(mem, "reservation", where)
    tcp = _num(mem, "kernelTCP", where)
    swappiness = _swappiness(mem)
    _num(mem, "kernel", where)  # ignored: see the module's docstring
    hier = mem.get("useHierarchy")
    oom_off = mem.get("disableOOMKiller")
    for k, v in (("disableOOMKiller", oom_off), ("useHierarchy", hier)):
        if v is not None and not isinstance(v, bool):
            raise OCIError(f"{where}.{k}: must be true or false, not {v!r}")
    if not (limit or swap or reservation or tcp or swappiness is not None or oom_off
            or hier is not None):
        return
    d = _ctrl(paths, "memory", where)
    memsw = _exists(d, "memory.memsw.limit_in_bytes")
    if swap and swap != -1 and not memsw:
        raise OCIError(f"{where}.swap: this kernel does not account swap "
                       "(memory.memsw.limit_in_bytes: boot with swapaccount=1)")
    # memory+swap must stay >= memory: when raising, memsw first; when lowering, memory first
    order = [("memory.limit_in_bytes", limit, "limit"), ("memory.memsw.limit_in_bytes", swap, "swap")]
    if limit and swap and memsw:
        try:
            with open(os.path.join(d, "memory.memsw.limit_in_bytes")) as f:
                if swap == -1 or swap > int(f.read()):
                    order.reverse()
        except (OSError, ValueError):
            pass
    for name, val, key in order:
        if val and (memsw or name == "memory.limit_in_bytes"):
            _write(d, name, val, f"{where}.{key}")
    if reservation:
        _write(d, "memory.soft_limit_in_bytes", reservation, f"{where}.reservation")
    if tcp:
        _write(d, "memory.kmem.tcp.limit_in_bytes", tcp, f"{where}.kernelTCP")
    if oom_off:
        _write(d, "memory.oom_control", 1, f"{where}.disableOOMKiller")
    if swappiness is not None:
        _write(d, "memory.swappiness", swappiness, f"{where}.swappiness")
    if hier is not None:
        _write(d, "memory.use_hierarchy", int(hier), f"{where}.useHierarchy")


def _v1_cpu(paths, cpu):
    where = f"{RES}.cpu"
    shares, quota = _num(cpu, "shares", where, signed=False), _num(cpu, "quota", where)
    period, burst = _num(cpu, "period", where, signed=False), _num(cpu, "burst", where, signed=False)
    rt_period = _num(cpu, "realtimePeriod", where, signed=False)
    rt_runtime = _num(cpu, "realtimeRuntime", where)
    idle = _num(cpu, "idle", where)
    if shares or quota or period or burst is not None or rt_period or rt_runtime \
            or idle is not None:
        d = _ctrl(paths, "cpu", where)
        if shares:
            _write(d, "cpu.shares", shares, f"{where}.shares")
        # The kernel checks period, burst and quota against each other and the parent's:
        # a period or burst refused (EINVAL) before the quota is written is written again
        # after it, as runc does (libcontainer cgroups/fs/cpu.go).
        later = []
        for name, val, key in (("cpu.cfs_period_us", period, "period"),
                               ("cpu.cfs_burst_us", burst, "burst")):
            if val or (key == "burst" and val is not None):
                if not _write(d, name, val, f"{where}.{key}", einval_ok=bool(quota)):
                    later.append((name, val, key))
        if quota:
            _write(d, "cpu.cfs_quota_us", quota, f"{where}.quota")
        for name, val, key in later:
            _write(d, name, val, f"{where}.{key}")
        # realtime: the runtime must fit the period, and both the parent's budget
        later = []
        if rt_period and not _write(d, "cpu.rt_period_us", rt_period, f"{where}.realtimePeriod",
                                    einval_ok=bool(rt_runtime)):
            later.append(("cpu.rt_period_us", rt_period, "realtimePeriod"))
        if rt_runtime:
            _write(d, "cpu.rt_runtime_us", rt_runtime, f"{where}.realtimeRuntime")
        for name, val, key in later:
            _write(d, name, val, f"{where}.{key}")
        if idle is not None:
            _write(d, "cpu.idle", idle, f"{where}.idle")
    for key, v in _cpuset(cpu):
        _write(_ctrl(paths, "cpuset", f"{where}.{key}"), f"cpuset.{key}", v, f"{where}.{key}")


def _v1_blkio(paths, blkio):
    where = f"{RES}.blockIO"
    weight = _num(blkio, "weight", where, signed=False)
    leaf = _num(blkio, "leafWeight", where, signed=False)
    wdev = _devices(blkio.get("weightDevice"), f"{where}.weightDevice", ("weight", "leafWeight"))
    throttles = [(f"blkio.throttle.{f}_device", _devices(blkio.get(k), f"{where}.{k}", ("rate",)))
                 for k, f in (("throttleReadBpsDevice", "read_bps"),
                              ("throttleWriteBpsDevice", "write_bps"),
                              ("throttleReadIOPSDevice", "read_iops"),
                              ("throttleWriteIOPSDevice", "write_iops"))]
    if not (weight or leaf or wdev or any(t for _, t in throttles)):
        return
    d = _ctrl(paths, "blkio", where)
    # CFQ's files, or BFQ's where the disks are scheduled by BFQ (runc picks the same way)
    bfq = "" if _exists(d, "blkio.weight") else "bfq."
    if weight:
        _write(d, f"blkio.{bfq}weight", weight, f"{where}.weight")
    if leaf:
        _write(d, "blkio.leaf_weight", leaf, f"{where}.leafWeight")
    for dev, e, w in wdev:
        if e.get("weight"):
            _write(d, f"blkio.{bfq}weight_device", f"{dev} {e['weight']}", f"{w}.weight")
        if e.get("leafWeight"):
            _write(d, "blkio.leaf_weight_device", f"{dev} {e['leafWeight']}", f"{w}.leafWeight")
    for name, devs in throttles:
        for dev, e, w in devs:
            if e.get("rate") is None:
                raise OCIError(f"{w}.rate: required")
            _write(d, name, f"{dev} {e['rate']}", w)


def _v1_devices(d, rules):
    for i, r in enumerate(list(rules or ()) + [{"allow": True, "_raw": x}
                                               for x in _DEFAULT_DEVICE_RULES]):
        if not isinstance(r, dict):
            raise OCIError(f"{RES}.devices[{i}]: must be an object")
        if "_raw" in r:
            line = r["_raw"]
        else:
            t = r.get("type") or "a"
            maj = "*" if r.get("major") in (None, -1) else r["major"]
            mnr = "*" if r.get("minor") in (None, -1) else r["minor"]
            line = "a" if t == "a" else f"{t} {maj}:{mnr} {r.get('access') or 'rwm'}"
        _write(d, "devices.allow" if r.get("allow") else "devices.deny", line,
               f"{RES}.devices[{i}]")


# ---------------------------------------------------------------- cgroup v2

_UNIFIED_REFUSED = ("cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.subtree_control",
                    "cgroup.type")

def _v2(d, res):
    """The v1-shaped fields converted as runc converts them (libcontainer/cgroups/fs2)."""
    mem, cpu = res.get("memory") or {}, res.get("cpu") or {}
    where = f"{RES}.memory"
    limit, swap = _num(mem, "limit", where), _num(mem, "swap", where)
    reservation = _num(mem, "reservation", where)
    _num(mem, "kernel", where)  # ignored: see the module's docstring
    for key, v in (("kernelTCP", _num(mem, "kernelTCP", where)), ("swappiness", _swappiness(mem)),
                   ("disableOOMKiller", mem.get("disableOOMKiller") or None)):
        if v is not None:
            raise OCIError(f"{where}.{key}: cgroup v2 has no such knob")
    if limit:
        _write(d, "memory.max", "max" if limit == -1 else limit, f"{where}.limit")
    if swap and (swap != -1 or _exists(d, "memory.swap.max")):
        # v1's swap is memory+swap; v2's memory.swap.max is swap alone
        val = "max" if swap == -1 else max(swap - (limit if limit and limit > 0 else 0), 0)
        _write(d, "memory.swap.max", val, f"{where}.swap")
    if reservation:
        _write(d, "memory.low", reservation, f"{where}.reservation")

    where = f"{RES}.cpu"
    shares, quota = _num(cpu, "shares", where, signed=False), _num(cpu, "quota", where)
    period, burst = _num(cpu, "period", where, signed=False), _num(cpu, "burst", where, signed=False)
    idle = _num(cpu, "idle", where)
    for key in ("realtimePeriod", "realtimeRuntime"):
        if _num(cpu, key, where):
            raise OCIError(f"{where}.{key}: cgroup v2 has no realtime group scheduling knobs")
    if shares:
        # runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000]
        _write(d, "cpu.weight", 1 + ((shares - 2) * 9999) // 262142, f"{where}.shares")
    if quota or period:
        q = quota or 0
        _write(d, "cpu.max", f"{q if q > 0 else 'max'} {period or 100000}", f"{where}.quota")
    if burst is not None:
        _write(d, "cpu.max.burst", burst, f"{where}.burst")
    if idle is not None:
        _write(d, "cpu.idle", idle, f"{where}.idle")
    for key, v in _cpuset(cpu):
        _write(d, f"cpuset.{key}", v, f"{where}.{key}")

    pids = res.get("pids") or {}
    limit = _num(pids, "limit", f"{RES}.pids")
    if limit is not None:
        _write(d, "pids.max", limit if limit > 0 else "max", f"{RES}.pids.limit")

    blkio, where = res.get("blockIO") or {}, f"{RES}.blockIO"
    weight = _num(blkio, "weight", where, signed=False)
    if _num(blkio, "leafWeight", where, signed=False):
        raise OCIError(f"{where}.leafWeight: cgroup v2 has no leaf weights")
    wname = "io.weight" if _exists(d, "io.weight") else "io.bfq.weight"
    if weight:
        _write(d, wname, weight, f"{where}.weight")
    for dev, e, w in _devices(blkio.get("weightDevice"), f"{where}.weightDevice",
                              ("weight", "leafWeight")):
        if e.get("leafWeight"):
            raise OCIError(f"{w}.leafWeight: cgroup v2 has no leaf weights")
        if e.get("weight"):
            _write(d, wname, f"{dev} {e['weight']}", f"{w}.weight")
    for k, f in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                 ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for dev, e, w in _devices(blkio.get(k), f"{where}.{k}", ("rate",)):
            if e.get("rate") is None:
                raise OCIError(f"{w}.rate: required")
            _write(d, "io.max", f"{dev} {f}={e['rate']}", w)

    for size, limit, w in _hugepages(res.get("hugepageLimits")):
        _write(d, f"hugetlb.{size}.max", limit, w)
        if _exists(d, f"hugetlb.{size}.rsvd.max"):
            _write(d, f"hugetlb.{size}.rsvd.max", limit, w)
    net = res.get("network") or {}
    if net.get("classID") or net.get("priorities"):
        raise OCIError(f"{RES}.network: net_cls and net_prio are cgroup v1 controllers; cgroup "
                       "v2 has none")
    for line, w in _rdma(res.get("rdma")):
        _write(d, "rdma.max", line, w)
    for name, val in (res.get("unified") or {}).items():
        w = f"{RES}.unified.{name}"
        # a file of this cgroup only (no path), and none that moves or kills its processes or
        # reshapes the hierarchy; limits such as cgroup.max.descendants are taken, as in runc
        if not isinstance(name, str) or "/" in name or name.startswith(".") \
                or name in _UNIFIED_REFUSED or not isinstance(val, str):
            raise OCIError(f"{w}: must name a controller file of the container's cgroup, with "
                           "a string value")
        _write(d, name, val, w)
