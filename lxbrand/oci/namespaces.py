"""Namespaces from linux.namespaces: created (no path) or joined (path, as Docker does for
`--network container:X`).  Who enters which:

  builder     network, uts, ipc, and pid (unshare/setns of a pid namespace applies to
              children: init becomes pid 1); see supervisor.py
  child       mount and cgroup (after joining the cgroups), in the preexec step, and the
              user namespace last, once the container is built.  A new user namespace is
              made by a helper: see make_user_namespaces()
"""
import os

from . import syscalls as sc
from .errors import OCIError

FLAGS = {"pid": sc.CLONE_NEWPID, "network": sc.CLONE_NEWNET, "mount": sc.CLONE_NEWNS,
         "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "user": sc.CLONE_NEWUSER,
         "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME}
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}
USER_TYPES = ("user",)
SUPERVISOR_TYPES = ("network", "uts", "ipc")
# Entered last, right before the engine forks init: after unshare(CLONE_NEWPID) the first
# child forked becomes pid 1, and once it exits the namespace is dead (fork: ENOMEM), so no
# hook or helper may be forked in between.
PID_TYPES = ("pid",)
CHILD_TYPES = ("mount", "cgroup")


def wanted(spec):
    """{type: path or None} from linux.namespaces."""
    return {ns["type"]: ns.get("path") or None
            for ns in (spec.get("linux") or {}).get("namespaces") or ()}


def check_supported(spec):
    ns = wanted(spec)
    linux = spec.get("linux") or {}
    if "user" in ns and ns["user"] is None and not linux.get("uidMappings"):
        raise OCIError("linux.uidMappings: a new user namespace needs uid and gid mappings")
    if "time" in ns and ns["time"] is None and not os.path.exists("/proc/self/ns/time"):
        raise OCIError("linux.namespaces: time namespaces need Linux 5.6+")


def enter(spec, types):
    """Create or join the namespaces of `types` that the spec lists, in that order."""
    ns = wanted(spec)
    for t in types:
        if t not in ns:
            continue
        path = ns[t]
        try:
            if path:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(fd, FLAGS[t])
                finally:
                    os.close(fd)
            else:
                sc.unshare(FLAGS[t])
        except OSError as e:
            raise OCIError(f"namespace {t}{' ' + path if path else ''}: {e.strerror}") from None


def join_pid(pid, types):
    """setns into the namespaces of process `pid` (for exec), skipping those we share.
    The user namespace, if any, must come first (and while single-threaded)."""
    for t in types:
        mine = f"/proc/self/ns/{PROC_NAMES[t]}"
        theirs = f"/proc/{pid}/ns/{PROC_NAMES[t]}"
        try:
            if os.stat(mine).st_ino == os.stat(theirs).st_ino:
                continue
            fd = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            sc.setns(fd, FLAGS[t])
        except OSError as e:
            raise OCIError(f"joining the container's {t} namespace: {e.strerror}") from None
        finally:
            os.close(fd)


def make_user_namespaces(spec, announce, maps_fd):
    """A new user namespace (linux.namespaces "user" without a path) and, owned by it, the
    new network/uts/ipc namespaces the spec asks for.

    They are made by a short-lived helper process, so that the builder stays in the
    host's user namespace: it keeps its privileges (cgroups, sysctls) and makes the pid
    namespace (which cannot be handed over before its init exists, so it is owned by the
    host's user namespace).  The helper unshares, `create` writes its id maps
    (announce(pid), then a byte on maps_fd), the builder opens the namespaces as fds and
    rewrites the spec's paths to them (/proc/self/fd/N, valid in the builder and in init
    after fork), and the helper exits.  Init builds the container
    as the host's root (mount namespace, pivot_root, devices) and joins the user namespace
    last, just before it takes the process's uid (see DIVERGENCE.md)."""
    ns = wanted(spec)
    types = [t for t in ("network", "uts", "ipc") if t in ns and ns[t] is None]
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            flags = 0
            for t in types:
                flags |= FLAGS[t]
            if flags:
                sc.unshare(flags)
            os.write(ready_w, b"1")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OCIError("linux.namespaces: could not create the user namespace")
        announce(pid)
        if os.read(maps_fd, 1) != b"1":
            raise OCIError("linux.uidMappings: the id maps were not written")
        paths = {"user": "user"}
        paths.update({t: PROC_NAMES[t] for t in types})
        for entry in spec["linux"]["namespaces"]:
            name = paths.get(entry["type"])
            if name and not entry.get("path"):
                fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)  # inherited by init
                entry["path"] = f"/proc/self/fd/{fd}"
    finally:
        os.close(ready_r)
        os.close(done_w)  # the helper exits
        os.waitpid(pid, 0)


def write_id_maps(pid, spec):
    """Write linux.uidMappings/gidMappings for process `pid` (which has just unshared its
    user namespace); done by `create`, which holds CAP_SETUID/CAP_SETGID in the parent
    namespace (user_namespaces(7), "Defining user and group ID mappings")."""
    linux = spec.get("linux") or {}
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n"
                        for m in linux.get(key) or ())
        if not lines:
            continue
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except (OSError, KeyError) as e:
            raise OCIError(f"linux.{key}: cannot write /proc/{pid}/{name}: "
                           f"{getattr(e, 'strerror', None) or e}") from None


def write_sysctls(sysctl):
    """linux.sysctl, written by the supervisor inside the container's net/ipc/uts namespaces."""
    for key, val in (sysctl or {}).items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(val)
        except OSError as e:
            raise OCIError(f"linux.sysctl.{key}: cannot write {val!r} to {path}: "
                           f"{e.strerror}") from None
