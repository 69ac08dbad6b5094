"""Namespaces from linux.namespaces: created (no path) or joined (path, as Docker does for
`--network container:X`).  Who enters which:

  supervisor  network, uts, ipc (so prestart hooks that find the netns through the state's
              pid, like Docker's libnetwork-setkey, configure the container's), and pid
              (unshare/setns of a pid namespace applies to children: init becomes pid 1)
  child       mount and cgroup (after joining the cgroups), in the preexec step
"""
import os

from . import syscalls as sc
from .errors import OCIError

FLAGS = {"pid": sc.CLONE_NEWPID, "network": sc.CLONE_NEWNET, "mount": sc.CLONE_NEWNS,
         "ipc": sc.CLONE_NEWIPC, "uts": sc.CLONE_NEWUTS, "user": sc.CLONE_NEWUSER,
         "cgroup": sc.CLONE_NEWCGROUP, "time": sc.CLONE_NEWTIME}
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}
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
    if "user" in ns:
        raise OCIError("linux.namespaces: user namespaces are not supported by lxbrand yet "
                       "(Docker's userns-remap mode)")
    if "time" in ns and ns["time"] is None and not os.path.exists("/proc/self/ns/time"):
        raise OCIError("linux.namespaces: time namespaces need Linux 5.6+")


def translate_paths(spec, root):
    """Rewrite namespace paths that name one of our supervisors to its container's init.

    Docker joins another container's namespaces (--pid/--ipc/--network container:X) by the
    pid it knows, which for lxbrand is the supervisor: it shares the container's network,
    uts and ipc namespaces, but not its pid (or mount) namespace."""
    import json
    import re
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        m = re.fullmatch(r"/proc/(\d+)/ns/(\w+)", ns.get("path") or "")
        if not m:
            continue
        pid = int(m.group(1))
        try:
            names = os.listdir(root)
        except OSError:
            return
        for name in names:
            try:
                with open(os.path.join(root, name, "state.json"), "rb") as f:
                    st = json.loads(f.read())
            except (OSError, ValueError):
                continue
            init = (st.get("lxbrand") or {}).get("init_pid")
            if st.get("pid") == pid and init:
                ns["path"] = f"/proc/{init}/ns/{m.group(2)}"
                break


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
    """setns into the namespaces of process `pid` (for exec), skipping those we share."""
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
