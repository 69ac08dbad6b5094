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
    """Write linux.resources into the cgroup files (lxbrand/oci/resources.py); a limit this
    host cannot apply is an OCIError naming the field.  `v2_only`: whether the host is pure
    cgroup v2 (default: look at /sys/fs/cgroup)."""
    from . import resources
    resources.apply(paths, res, is_v2_only() if v2_only is None else v2_only)


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
