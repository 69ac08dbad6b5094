"""Control groups for one container: v1 (per-controller hierarchies, as on this machine and
Docker's cgroupfs driver), v2 (unified), and the hybrid layout (v1 controllers plus an empty
cgroup2 at /sys/fs/cgroup/unified, which we join too so nothing is left behind).

A container's cgroups are a dict {hierarchy key: absolute directory}; keys are the v1
controller list of a mount ("memory", "cpu,cpuacct", "name=systemd") or "unified" for cgroup2.
The supervisor joins them before forking init, so the container's processes, the supervisor
included (which is the pid the shim watches and loads cgroup stats from), are all inside.
"""
import errno
import os
import signal
import time

from .errors import OCIError

# Devices every container gets even if config.json does not list them (runc's AllowedDevices):
# mknod of anything, the standard char devices, /dev/pts/* and /dev/ptmx.
_DEFAULT_DEVICE_RULES = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm",
                         "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm",
                         "c 5:2 rwm"]


def hierarchies():
    """{key: mountpoint} of the mounted cgroup hierarchies (first mount of each)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            fstype, _src, sopts = (post.split() + ["", "", ""])[:3]
            if fields[3] != "/":
                continue
            if fstype == "cgroup2":
                out.setdefault("unified", fields[4])
            elif fstype == "cgroup":
                ctrls = [o for o in sopts.split(",")
                         if o not in ("rw", "ro") and not o.startswith(("release_agent=",
                                                                        "clone_children"))
                         and o not in ("noprefix", "xattr", "cpuset_v2_mode", "nsdelegate")]
                key = ",".join(sorted(ctrls))
                if key:
                    out.setdefault(key, fields[4])
    return out


def own_cgroups():
    """{controller or 'unified' or 'name=X': path} of this process (/proc/self/cgroup)."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if not ctrls:
                out["unified"] = path
            for c in ctrls.split(","):
                if c:
                    out[c] = path
    return out


def is_v2_only():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _systemd_path(path):
    """'slice:prefix:name' (--systemd-cgroup) -> a cgroupfs path like systemd would make."""
    parts = path.split(":")
    if len(parts) != 3:
        raise OCIError(f"linux.cgroupsPath {path!r}: with --systemd-cgroup it must be "
                       "slice:prefix:name")
    slice_, prefix, name = parts
    slice_ = slice_ or "system.slice"
    # a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice
    segs, acc = [], []
    for piece in slice_[:-len(".slice")].split("-") if slice_.endswith(".slice") else [slice_]:
        acc.append(piece)
        segs.append("-".join(acc) + ".slice")
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return "/" + "/".join(segs + [unit])


def resolve(cgroups_path, cid, systemd=False):
    """{key: absolute dir} for this container, one per hierarchy."""
    if systemd and cgroups_path and ":" in cgroups_path:
        cgroups_path = _systemd_path(cgroups_path)
    if not cgroups_path:
        cgroups_path = f"lxbrand/{cid}"
    own = own_cgroups() if not cgroups_path.startswith("/") else {}
    out = {}
    for key, mnt in hierarchies().items():
        rel = cgroups_path
        if not rel.startswith("/"):
            base = own.get(key.split(",")[0], "/")
            rel = os.path.join(base, rel)
        out[key] = os.path.normpath(os.path.join(mnt, rel.lstrip("/")))
    return out


def _write(d, name, value):
    p = os.path.join(d, name)
    try:
        with open(p, "w") as f:
            f.write(str(value))
    except OSError as e:
        raise OCIError(f"cgroup: cannot write {value!r} to {p}: {e.strerror}") from None


def _mkdirs_cpuset(d, mnt):
    """mkdir -p for a v1 cpuset dir, copying cpus/mems down (a new cpuset starts empty and
    refuses tasks until both are set)."""
    rel = os.path.relpath(d, mnt)
    cur = mnt
    for part in rel.split("/"):
        parent, cur = cur, os.path.join(cur, part)
        if not os.path.isdir(cur):
            os.mkdir(cur)
        for f in ("cpuset.cpus", "cpuset.mems"):
            try:
                with open(os.path.join(cur, f)) as fh:
                    if fh.read().strip():
                        continue
                with open(os.path.join(parent, f)) as fh:
                    _write(cur, f, fh.read().strip())
            except FileNotFoundError:
                pass


def _enable_v2_controllers(d, mnt):
    """Turn on the available controllers in every ancestor's cgroup.subtree_control."""
    rel = os.path.relpath(d, mnt)
    cur = mnt
    for part in rel.split("/"):
        try:
            with open(os.path.join(cur, "cgroup.controllers")) as f:
                ctrls = f.read().split()
            with open(os.path.join(cur, "cgroup.subtree_control"), "w") as f:
                f.write(" ".join("+" + c for c in ctrls))
        except OSError:
            pass  # best effort: the root of a delegated subtree may refuse some
        cur = os.path.join(cur, part)


def create(paths, resources):
    """Make the directories and apply linux.resources.  On error, remove what was made."""
    made = []
    try:
        hier = hierarchies()
        for key, d in paths.items():
            mnt = hier[key]
            if not os.path.isdir(d):
                if key == "unified" and os.path.exists(os.path.join(mnt, "cgroup.controllers")) \
                        and "cpuset" not in hier:
                    _enable_v2_controllers(d, mnt)
                if "cpuset" in key.split(","):
                    _mkdirs_cpuset(d, mnt)
                else:
                    os.makedirs(d, exist_ok=True)
                made.append(d)
        apply(paths, resources or {})
    except OSError as e:
        destroy({k: d for k, d in paths.items() if d in made})
        raise OCIError(f"cgroup: {e}") from None
    except OCIError:
        destroy({k: d for k, d in paths.items() if d in made})
        raise


def _find(paths, ctrl):
    for key, d in paths.items():
        if ctrl in key.split(","):
            return d
    return None


def apply(paths, res, v2_only=None):
    """Write linux.resources into the cgroup files (v1 or v2, whichever holds each controller).
    `v2_only`: whether the host is pure cgroup v2 (default: look at /sys/fs/cgroup)."""
    if v2_only is None:
        v2_only = is_v2_only()
    v2 = paths.get("unified") if v2_only else None
    mem = res.get("memory") or {}
    cpu = res.get("cpu") or {}
    pids = res.get("pids") or {}
    blkio = res.get("blockIO") or {}
    if v2:
        _apply_v2(v2, mem, cpu, pids, blkio)
        return
    d = _find(paths, "memory")
    if d and mem:
        limit, swap = mem.get("limit"), mem.get("swap")
        memsw = os.path.exists(os.path.join(d, "memory.memsw.limit_in_bytes"))
        # raising: memsw first (it must stay >= limit); lowering: limit first
        order = [("memory.limit_in_bytes", limit), ("memory.memsw.limit_in_bytes", swap)]
        if swap is not None and swap != -1 and limit is not None and limit != -1:
            try:
                with open(os.path.join(d, "memory.memsw.limit_in_bytes")) as f:
                    cur = int(f.read())
                if swap > cur:
                    order.reverse()
            except (OSError, ValueError):
                pass
        for name, val in order:
            if val is None or (name.startswith("memory.memsw") and not memsw):
                continue
            _write(d, name, -1 if val == -1 else val)
        if mem.get("reservation"):
            _write(d, "memory.soft_limit_in_bytes", mem["reservation"])
        if mem.get("disableOOMKiller"):
            _write(d, "memory.oom_control", 1)
        if mem.get("swappiness") is not None and 0 <= mem["swappiness"] <= 100:
            _write(d, "memory.swappiness", mem["swappiness"])
    d = _find(paths, "cpu")
    if d and cpu:
        if cpu.get("shares"):
            _write(d, "cpu.shares", cpu["shares"])
        if cpu.get("period"):
            _write(d, "cpu.cfs_period_us", cpu["period"])
        if cpu.get("quota"):
            _write(d, "cpu.cfs_quota_us", cpu["quota"])
    d = _find(paths, "cpuset")
    if d:
        if cpu.get("cpus"):
            _write(d, "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            _write(d, "cpuset.mems", cpu["mems"])
    d = _find(paths, "pids")
    if d and pids.get("limit") is not None:
        _write(d, "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
    d = _find(paths, "blkio")
    if d and blkio.get("weight") and os.path.exists(os.path.join(d, "blkio.weight")):
        _write(d, "blkio.weight", blkio["weight"])
    d = _find(paths, "devices")
    if d and "devices" in res:
        _apply_devices_v1(d, res["devices"])


def _apply_devices_v1(d, rules):
    for r in list(rules or ()) + [{"allow": True, "_raw": x} for x in _DEFAULT_DEVICE_RULES]:
        if "_raw" in r:
            line = r["_raw"]
        else:
            t = r.get("type") or "a"
            maj = "*" if r.get("major") in (None, -1) else r["major"]
            mnr = "*" if r.get("minor") in (None, -1) else r["minor"]
            line = "a" if t == "a" else f"{t} {maj}:{mnr} {r.get('access') or 'rwm'}"
        _write(d, "devices.allow" if r.get("allow") else "devices.deny", line)


def _apply_v2(d, mem, cpu, pids, blkio):
    if mem.get("limit") is not None:
        _write(d, "memory.max", "max" if mem["limit"] == -1 else mem["limit"])
        if mem.get("swap") is not None and os.path.exists(os.path.join(d, "memory.swap.max")):
            sw = mem["swap"]
            _write(d, "memory.swap.max", "max" if sw == -1 else max(sw - mem["limit"], 0))
    if mem.get("reservation"):
        _write(d, "memory.low", mem["reservation"])
    if cpu.get("shares"):
        # runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000]
        _write(d, "cpu.weight", 1 + ((cpu["shares"] - 2) * 9999) // 262142)
    if cpu.get("quota") or cpu.get("period"):
        q = cpu.get("quota") or 0
        _write(d, "cpu.max", f"{q if q > 0 else 'max'} {cpu.get('period') or 100000}")
    if cpu.get("cpus"):
        _write(d, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        _write(d, "cpuset.mems", cpu["mems"])
    if pids.get("limit") is not None:
        _write(d, "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
    if blkio.get("weight") and os.path.exists(os.path.join(d, "io.weight")):
        _write(d, "io.weight", blkio["weight"])


def attach(paths, pid=0):
    """Move `pid` (0: the calling process) into every hierarchy."""
    for d in paths.values():
        _write(d, "cgroup.procs", pid)


def procs(paths):
    """Pids in the container's cgroups (from the first hierarchy that has the directory)."""
    for d in paths.values():
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            continue
    return []


def destroy(paths, timeout=5.0):
    """SIGKILL whatever is left inside, then rmdir every directory (children first)."""
    deadline = time.monotonic() + timeout
    was_frozen = is_frozen(paths)
    for pid in procs(paths):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if was_frozen:
        thaw(paths)  # frozen tasks cannot die
    for d in sorted(paths.values(), key=len, reverse=True):
        while True:
            try:
                for sub in sorted((os.path.join(r, n) for r, ds, _ in os.walk(d) for n in ds),
                                  key=len, reverse=True):
                    os.rmdir(sub)
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise OCIError(f"cgroup: cannot remove {d}: {e.strerror}") from None
                for pid in procs({"x": d}):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.01)


def _freezer(paths):
    if is_v2_only() and "unified" in paths:
        return paths["unified"], "cgroup.freeze", "1", "0"
    d = _find(paths, "freezer")
    if d:
        return d, "freezer.state", "FROZEN", "THAWED"
    return None, None, None, None


def is_frozen(paths):
    d, name, frozen, _ = _freezer(paths or {})
    if not d:
        return False
    try:
        with open(os.path.join(d, name)) as f:
            return f.read().strip() == frozen
    except OSError:
        return False


def freeze(paths):
    d, name, frozen, _ = _freezer(paths)
    if not d:
        raise OCIError("pause needs the freezer cgroup controller, which is not mounted")
    _write(d, name, frozen)
    if name == "freezer.state":  # v1 goes through FREEZING; wait until it settles
        for _ in range(500):
            with open(os.path.join(d, name)) as f:
                if f.read().strip() == frozen:
                    return
            time.sleep(0.002)


def thaw(paths):
    d, name, _, thawed = _freezer(paths)
    if d:
        _write(d, name, thawed)
