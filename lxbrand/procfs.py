"""Reading another task's /proc entries: the few lookups the handlers share."""
import errno


def tgid(tid):
    """The thread group (process) of thread `tid`, from /proc/TID/status."""
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                return int(line.split()[1])
    raise OSError(errno.ESRCH, "no such task")


def status(pid):
    """/proc/PID/status as {field: [words]}."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def proc_ids(tid):
    """(tgid, tid) of thread `tid` as the /proc under its root shows them: the
    supervisor's ids when that /proc is the supervisor's own procfs (lxrun: the
    program shares our root), its ids in its own pid namespace otherwise (a
    container's /proc, mounted for its namespace).  /proc/self names a process by
    its id in its procfs's namespace (proc(5)).  The engine's rule too
    (csrc/view.c, our_proc)."""
    import os
    st = status(tid)
    tg, pid = int(st["Tgid"][0]), tid
    try:
        root = os.readlink(f"/proc/{tid}/root")
        mine, theirs = os.stat("/proc"), os.stat(f"/proc/{tid}/root/proc", follow_symlinks=False)
        ours = root == "/" or (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
    except OSError:
        ours = False
    if not ours:
        tg, pid = int(st.get("NStgid", [tg])[-1]), int(st.get("NSpid", [pid])[-1])
    return tg, pid


def proc_self(tid, path):
    """/proc/self and /proc/thread-self in a path (bytes) that the supervisor walks
    for thread `tid` name the supervisor: rewrite them to name the thread's
    process (proc_ids).  Only the path's own prefix: a symlink elsewhere that
    points into /proc/self (/etc/mtab) still names the supervisor (SECURITY.md)."""
    for prefix in (b"/proc/self", b"/proc/thread-self"):
        if path == prefix or path.startswith(prefix + b"/"):
            tg, pid = proc_ids(tid)
            new = b"/proc/%d" % tg if prefix == b"/proc/self" else b"/proc/%d/task/%d" % (tg, pid)
            return new + path[len(prefix):]
    return path
