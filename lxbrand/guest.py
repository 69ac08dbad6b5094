"""Paths as the program sees them, for the policy layer's Python hooks (the
personality's open hooks, fake root's stat).  The engine's own resolver, which
[[path]] and [[network]] rules use, is csrc/resolve.c; this module follows the
same rules where they meet: a relative path is joined to the program's cwd or
dirfd as /proc shows them, less its root, and /proc/self names the program by
the ids the /proc under its root shows (csrc/view.c, our_proc).

    guest_path(tid, dirfd, path)   the absolute path, lexically normal, or ""
    walk_base(tid, dirfd, path)    (an O_PATH fd or None, a path) to walk from, as
                                   the supervisor, to what the program names
    proc_self(tid, path)           /proc/self and /proc/thread-self made the program's
"""
import errno
import os
import posixpath

from lxbrand.procfs import status

AT_FDCWD = -100  # linux/fcntl.h (os has no name for it)


def _root(tid):
    return os.readlink(f"/proc/{tid}/root")


def guest_view(tid, host_path):
    """A path readlink() gave us (host view) in the guest's view: strip the guest's
    root; None if it is outside it (a directory fd opened before a chroot)."""
    try:
        root = _root(tid)
    except OSError:
        return None
    if root == "/":
        return host_path
    if host_path == root:
        return "/"
    if host_path.startswith(root + "/"):
        return host_path[len(root):]
    return None


def guest_path(tid, dirfd, path):
    """Absolute, lexically normalised guest path of (dirfd, path) for task tid, or ""
    (undecodable, or the base directory cannot be known)."""
    try:
        p = os.fsdecode(path)
    except Exception:  # noqa: BLE001 - undecodable paths match no hook
        return ""
    if not p:
        return ""
    if not p.startswith("/"):
        link = f"/proc/{tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{tid}/fd/{dirfd}"
        try:
            base = guest_view(tid, os.readlink(link))
        except OSError:
            return ""
        if base is None or not base.startswith("/"):
            return ""  # e.g. a dirfd that is a pipe: the kernel will say ENOTDIR
        p = base + "/" + p
    return posixpath.normpath(p).replace("//", "/")


def proc_ids(tid):
    """(tgid, tid) of thread `tid` as the /proc under its root shows them: the
    supervisor's ids when that /proc is the supervisor's own procfs (lxrun: the
    program shares our root), its ids in its own pid namespace otherwise (a
    container's /proc, mounted for its namespace).  /proc/self names a process by
    its id in its procfs's namespace (proc(5))."""
    st = status(tid)
    tg, pid = int(st["Tgid"][0]), tid
    try:
        mine, theirs = os.stat("/proc"), os.stat(f"/proc/{tid}/root/proc", follow_symlinks=False)
        ours = (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
    except OSError:
        ours = False
    if not ours:
        tg, pid = int(st.get("NStgid", [tg])[-1]), int(st.get("NSpid", [pid])[-1])
    return tg, pid


def proc_self(tid, path):
    """/proc/self and /proc/thread-self in a path (bytes) the supervisor walks for
    thread `tid` would name the supervisor: rewritten to name the thread's process
    (proc_ids).  Only the path's own prefix: a symlink elsewhere that points into
    /proc/self (/etc/mtab) still names the supervisor (SECURITY.md)."""
    for prefix in (b"/proc/self", b"/proc/thread-self"):
        if path == prefix or path.startswith(prefix + b"/"):
            tg, pid = proc_ids(tid)
            new = b"/proc/%d" % tg if prefix == b"/proc/self" else b"/proc/%d/task/%d" % (tg, pid)
            return new + path[len(prefix):]
    return path


def walk_base(tid, dirfd, path):
    """Where the supervisor walks from to reach what (dirfd, path) names for thread
    `tid`: (None, an absolute path) -- through /proc/TID/root when the program has a
    root of its own (right even in another mount namespace) -- or (an O_PATH fd of
    its cwd or dirfd, the relative path), the fd the caller's to close."""
    if path.startswith(b"/"):
        path = proc_self(tid, path)
        if _root(tid) != "/":
            path = f"/proc/{tid}/root".encode() + path
        return None, path
    link = f"/proc/{tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{tid}/fd/{dirfd}"
    try:
        return os.open(link, os.O_PATH | os.O_CLOEXEC), path
    except OSError as e:
        raise OSError(errno.EBADF if dirfd != AT_FDCWD and e.errno == errno.ENOENT else e.errno, "dirfd")
