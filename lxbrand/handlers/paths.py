"""Path policy: allow or deny read, write, create, stat and exec by path prefix
or glob, as the program sees paths.

    path_default = "allow"           # top level: allow | deny (default allow)
    [[path]]
    action = "deny"                  # allow | deny
    ops = ["read", "write"]          # read | write | create | stat | exec (default: all)
    paths = ["/etc/shadow", "/home"] # a prefix (the path itself and everything under it) or a glob (* ? [)
    errno = "ENOENT"                 # deny only (default EACCES); ENOENT hides
    comment = "why"

Rules are tried in order, the first that matches decides, `path_default` when
none does.  What the program asks to open is resolved as the program sees it
-- its root (/proc/PID/root), its cwd or dirfd, symlinks and ".." -- with
openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), and the rules are matched on
the path of the file actually reached, never on the string the program gave.

Enforcement (the first hook of lxbrand.handlers.files' open pipeline, so the
path is read once):

1. The supervisor resolves the path to an O_PATH fd (following symlinks unless
   O_NOFOLLOW), reads its real path, and decides for every operation the open
   flags imply (read, write = O_WRONLY/O_RDWR/O_TRUNC, create = O_CREAT of a
   missing file or O_TMPFILE, stat = O_PATH).
2. An allowed open is performed by the supervisor on that same inode (reopened
   through /proc/self/fd/N, so nothing can be swapped in between), or for a new
   file created under the resolved parent directory with O_NOFOLLOW, and
   installed in the program with SECCOMP_IOCTL_NOTIF_ADDFD + ADDFD_FLAG_SEND.
   The program's memory is never read again: CONTINUE is never used.
3. The supervisor's thread takes the program's filesystem credentials for the
   operation (fsuid, fsgid, supplementary groups and effective capabilities,
   all per-thread in Linux; umask through a private fs_struct), so the kernel
   checks permissions and owns new files as it would for the program.

Both backends: on ptrace the opened fd reaches the program the way it does on
unotify -- as the call's result, never by a path the program's memory could
change (csrc/inject.c: the stopped caller receives it over a socketpair).

Limits (SECURITY.md): magic links (/proc/PID/fd/N,
/proc/PID/root, /proc/PID/cwd) are refused with ELOOP; exec rules are checked
before execve (EACCES) and, since the kernel re-reads the path, again on what
actually runs at PTRACE_EVENT_EXEC (exec_verify: SIGKILL); every other path
call is judged and performed by PathSyscalls (see its docstring), and the calls
that would change what paths mean (chroot, mounts) are refused (REFUSED); chdir
is decided, then performed by the kernel (no call sets another process's cwd).
"""
import ctypes
import errno
import os
import stat
import struct
import threading

from lxbrand.errors import PolicyError

OPS = ("read", "write", "create", "stat", "exec")
ACTIONS = ("allow", "deny")
_RULE_KEYS = {"action", "ops", "paths", "errno", "comment"}

O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 0o3, 0o100, 0o200, 0o1000, 0o2000
O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_PATH = 0o200000, 0o400000, 0o2000000, 0o10000000
O_TMPFILE = 0o20000000 | O_DIRECTORY
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH, RESOLVE_IN_ROOT = 0x01, 0x02, 0x04, 0x08, 0x10
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_openat2, SYS_setfsuid, SYS_setfsgid, SYS_setgroups, SYS_capget, SYS_capset = 437, 122, 123, 116, 125, 126
CLONE_FS = 0x200


class PathDenied(PermissionError):
    """The path policy refused (an OSError carrying the rule's errno)."""


class PathRule:
    __slots__ = ("action", "ops", "paths", "errno", "comment")

    def __init__(self, action, ops, paths, errno_=errno.EACCES, comment=""):
        self.action, self.ops, self.paths, self.errno, self.comment = action, frozenset(ops), tuple(paths), errno_, comment

    def __repr__(self):
        return f"PathRule({self.action}, {sorted(self.ops)}, {self.paths})"

    def matches(self, op, path):
        return op in self.ops and any(match(p, path) for p in self.paths)


def match(pattern, path):
    from lxbrand.rules.patterns import match as _match
    return _match(pattern, path)


def rule_from_dict(r, source, key):
    from lxbrand.policy import check_rule_table, rule_errno_and_comment
    action = check_rule_table(r, source, key, _RULE_KEYS, ACTIONS)
    ops = r.get("ops", list(OPS))
    if isinstance(ops, str):
        ops = [ops]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o in OPS for o in ops):
        raise PolicyError(source, f"{key}.ops", f"expected a list of operations ({', '.join(OPS)}), got {ops!r}")
    paths = r.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise PolicyError(source, f"{key}.paths", f"expected a list of absolute paths or globs, got {paths!r}")
    for p in paths:
        if not p.startswith("/") or "\0" in p:
            raise PolicyError(source, f"{key}.paths", f"{p!r} must be an absolute path (as the program sees it)")
    err, comment = rule_errno_and_comment(r, action, source, key)
    return PathRule(action, ops, paths, err, comment)


def openat2(dirfd, path, flags, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, mode=0):
    how = struct.pack("=QQQ", flags, mode, resolve)
    r = _libc.syscall(SYS_openat2, dirfd, ctypes.c_char_p(bytes(path)), ctypes.c_char_p(how), ctypes.c_size_t(24))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


# -- the program's credentials, taken by the handler thread -------------------

class _CapHdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522
_local = threading.local()


def _caps_get():
    hdr, data = _CapHdr(_CAP_V3, 0), (_CapData * 2)()
    if _libc.syscall(SYS_capget, ctypes.byref(hdr), data) < 0:
        raise OSError(ctypes.get_errno(), "capget")
    return data


def _caps_set_effective(eff):
    data = _caps_get()
    data[0].effective, data[1].effective = eff & 0xffffffff & data[0].permitted, (eff >> 32) & data[1].permitted
    hdr = _CapHdr(_CAP_V3, 0)
    if _libc.syscall(SYS_capset, ctypes.byref(hdr), data) < 0:
        raise OSError(ctypes.get_errno(), "capset")


def _creds(pid):
    """(fsuid, fsgid, groups, effective capabilities, umask) of `pid`, from its
    /proc status, read raw and searched for the five lines (every judged path call
    and open takes them: reading the file as text and splitting every line cost
    ~40 us, this ~8 us)."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY | O_CLOEXEC)
    try:
        b = b"\n" + os.read(fd, 16384)
    finally:
        os.close(fd)

    def field(key, default=None):
        i = b.find(b"\n" + key + b":")
        if i < 0:
            if default is None:
                raise OSError(errno.ESRCH, f"no {key.decode()} in /proc/{pid}/status")
            return default
        j = b.find(b"\n", i + 1)
        return b[i + len(key) + 2:j if j >= 0 else len(b)].split()

    return (int(field(b"Uid")[3]), int(field(b"Gid")[3]), tuple(sorted(int(g) for g in field(b"Groups", []))),
            int(field(b"CapEff")[0], 16), int(field(b"Umask", [b"0022"])[0], 8))


class AsProgram:
    """Context manager: this thread checks permissions as `pid` does (fsuid, fsgid,
    groups, effective capabilities and umask), and gets its own back after.
    Linux keeps credentials per thread, so the rest of the supervisor is untouched
    (raw syscalls: glibc's setgroups would change every thread)."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        if not getattr(_local, "own_fs", False):
            # a private fs_struct for this thread, so umask does not touch the others
            if _libc.unshare(CLONE_FS) == 0:
                _local.own_fs = True
        uid, gid, groups, capeff, umask = _creds(self.pid)
        self.saved_umask = os.umask(umask) if getattr(_local, "own_fs", False) else None
        me = (os.geteuid(), os.getegid(), tuple(sorted(os.getgroups())))
        self.switched = (uid, gid, groups) != me or capeff != _my_capeff()
        if not self.switched:
            return self
        self.saved = _caps_get()
        self.saved_groups = os.getgroups()
        arr = (ctypes.c_uint32 * max(len(groups), 1))(*groups)
        if _libc.syscall(SYS_setgroups, len(groups), arr) < 0 and os.geteuid() == 0:
            raise OSError(ctypes.get_errno(), "setgroups")
        _libc.syscall(SYS_setfsgid, gid)
        _libc.syscall(SYS_setfsuid, uid)
        _caps_set_effective(capeff)
        return self

    def __exit__(self, *exc):
        if self.switched:
            hdr = _CapHdr(_CAP_V3, 0)
            _libc.syscall(SYS_capset, ctypes.byref(hdr), self.saved)
            _libc.syscall(SYS_setfsuid, os.geteuid())
            _libc.syscall(SYS_setfsgid, os.getegid())
            arr = (ctypes.c_uint32 * max(len(self.saved_groups), 1))(*self.saved_groups)
            _libc.syscall(SYS_setgroups, len(self.saved_groups), arr)
        if self.saved_umask is not None:
            os.umask(self.saved_umask)
        return False


def _my_capeff():
    d = _caps_get()
    return d[0].effective | (d[1].effective << 32)


# -- the hook -----------------------------------------------------------------

class PathPolicy:
    def __init__(self, rules=(), default="allow", log=None):
        self.rules = list(rules)
        self.default = default
        self.log = log

    def add(self, rule):
        self.rules.append(rule)

    def hides(self):
        """Does any rule hide paths (deny "stat" with ENOENT)?"""
        return any(r.action == "deny" and "stat" in r.ops and r.errno == errno.ENOENT for r in self.rules)

    def hidden(self, path):
        """Is this path hidden (its stat denied with ENOENT)?  Then listings leave it out."""
        return self.decide("stat", path) == errno.ENOENT

    def decide(self, op, path):
        """None if allowed, else the errno."""
        for r in self.rules:
            if r.matches(op, path):
                return None if r.action == "allow" else r.errno
        return None if self.default == "allow" else errno.EACCES

    def check(self, ops, path, pid):
        sup = f"/proc/{os.getpid()}"
        if path == sup or path.startswith(sup + "/"):
            # The supervisor performs the open, and /proc lets a process into its own
            # entries whatever its credentials (same thread group): never on the
            # program's behalf.
            e = PathDenied(errno.EACCES, "the supervisor's /proc entries")
            e.errno = errno.EACCES
            raise e
        for op in ops:
            err = self.decide(op, path)
            if err is not None:
                if self.log:
                    self.log(f"lxbrand: path policy: {op} {path} by pid {pid} denied ({errno.errorcode.get(err, err)})")
                e = PathDenied(err, os.strerror(err))
                e.errno = err
                raise e

    def compile(self, sup):
        """Hand the rules to the engine, which decides and performs the calls they
        judge (csrc/paths.h)."""
        from lxbrand.rules.patterns import compile_pattern
        bits = {op: 1 << i for i, op in enumerate(OPS)}
        sup.set_path_rules(self.default == "allow",
                           [(r.action == "allow", sum(bits[o] for o in r.ops), r.errno,
                             [compile_pattern(p) for p in r.paths]) for r in self.rules],
                           log=self.log is not None)

    @staticmethod
    def _guest_abs(pid, root_real, dirfd, path):
        if path.startswith(b"/"):
            return proc_self(pid, path)
        link = f"/proc/{pid}/cwd" if dirfd == -100 else f"/proc/{pid}/fd/{dirfd}"
        try:
            base = os.readlink(link)
        except FileNotFoundError:
            raise OSError(errno.EBADF, "bad dirfd") from None
        if not base.startswith("/"):
            raise OSError(errno.ENOTDIR, "dirfd is not a directory")
        if root_real != "/":
            if not (base + "/").startswith(root_real + "/"):
                raise OSError(errno.EACCES, "directory outside the program's root")
            base = base[len(root_real):] or "/"
        return proc_self(pid, os.fsencode(base).rstrip(b"/") + b"/" + path)

    @staticmethod
    def _real(fd, root_real):
        real = os.readlink(f"/proc/self/fd/{fd}")
        if root_real != "/":
            real = real[len(root_real):] if (real + "/").startswith(root_real + "/") else real
        return real or "/"


def proc_self(tid, gpath):
    """/proc/self and /proc/thread-self name the process that resolves the path:
    the supervisor does, so name the program's instead (its ids in its own pid
    namespace, the one its /proc shows: the last NStgid / NSpid field).  Only the
    path's own prefix can be rewritten: a symlink elsewhere that points into
    /proc/self (/etc/mtab) still names the supervisor (SECURITY.md)."""
    for prefix in (b"/proc/self", b"/proc/thread-self"):
        if gpath == prefix or gpath.startswith(prefix + b"/"):
            st = {}
            with open(f"/proc/{tid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    st[k] = v.split()
            tgid, ptid = st["NStgid"][-1], st["NSpid"][-1]
            new = f"/proc/{tgid}" if prefix == b"/proc/self" else f"/proc/{tgid}/task/{ptid}"
            return new.encode() + gpath[len(prefix):]
    return gpath


def _sint(v):
    v &= 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


def stderr_log(msg):
    import sys
    print(msg, file=sys.stderr, flush=True)


# -- the other path syscalls: names made, removed or renamed; stat; truncate ---------

SYS_renameat2, SYS_newfstatat, SYS_statx = 316, 262, 332
AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH = -100, 0x100, 0x200, 0x400, 0x1000
_libc.renameat2.argtypes = None

# name -> (path argument slots as (dirfd index or None, path index), kind)
MODIFY = {
    "mkdir": (((None, 0),), "mkdir"), "mkdirat": (((0, 1),), "mkdir"),
    "mknod": (((None, 0),), "mknod"), "mknodat": (((0, 1),), "mknod"),
    "unlink": (((None, 0),), "unlink"), "unlinkat": (((0, 1),), "unlink"), "rmdir": (((None, 0),), "rmdir"),
    "rename": (((None, 0), (None, 1)), "rename"), "renameat": (((0, 1), (2, 3)), "rename"),
    "renameat2": (((0, 1), (2, 3)), "rename"),
    "link": (((None, 0), (None, 1)), "link"), "linkat": (((0, 1), (2, 3)), "link"),
    "symlink": (((None, 1),), "symlink"), "symlinkat": (((1, 2),), "symlink"),
    "truncate": (((None, 0),), "truncate"),
    "access": (((None, 0),), "access"), "faccessat": (((0, 1),), "access"), "faccessat2": (((0, 1),), "access"),
    "readlink": (((None, 0),), "readlink"), "readlinkat": (((0, 1),), "readlink"),
    "chmod": (((None, 0),), "chmod"), "fchmodat": (((0, 1),), "chmod"), "fchmodat2": (((0, 1),), "chmod"),
    "chown": (((None, 0),), "chown"), "lchown": (((None, 0),), "chown"), "fchownat": (((0, 1),), "chown"),
    "utimensat": (((0, 1),), "utime"), "utimes": (((None, 0),), "utime"), "utime": (((None, 0),), "utime"),
    "futimesat": (((0, 1),), "utime"),
    "setxattr": (((None, 0),), "xattr"), "lsetxattr": (((None, 0),), "xattr"),
    "removexattr": (((None, 0),), "xattr"), "lremovexattr": (((None, 0),), "xattr"),
    "getxattr": (((None, 0),), "xattr"), "lgetxattr": (((None, 0),), "xattr"),
    "listxattr": (((None, 0),), "xattr"), "llistxattr": (((None, 0),), "xattr"),
    "stat": (((None, 0),), "stat"), "lstat": (((None, 0),), "lstat"), "newfstatat": (((0, 1),), "fstatat"),
    "statx": (((0, 1),), "statx"),
    "statfs": (((None, 0),), "statfs"), "chdir": (((None, 0),), "chdir"),
    "inotify_add_watch": (((None, 1),), "inotify"), "name_to_handle_at": (((0, 1),), "handle"),
}

# calls on a file the program holds open that change it: judged "write" on the file's path
FD_WRITE = ("fchmod", "fchown", "fsetxattr", "fremovexattr")

# directory listings: names a rule hides (deny stat with ENOENT) are left out
DIR_LIST = ("getdents", "getdents64")
SYS_getdents, SYS_getdents64 = 78, 217

# calls that would go around the rules, refused under path rules (unless the policy
# already denies or kills them): name -> why
REFUSED = {
    "open_by_handle_at": "opens a file by handle, without a path the rules could judge",
    "open_tree": "an O_PATH fd of a path (or a detached copy of a mount), outside the open pipeline",
    "io_uring_setup": "IORING_OP_OPENAT and friends open files without a trap",
    "io_uring_enter": "IORING_OP_OPENAT and friends open files without a trap",
    "io_uring_register": "IORING_OP_OPENAT and friends open files without a trap",
    # The rules are matched on paths as the program sees them, from its root and in
    # its mount namespace: a program that may chroot or mount (root, or anyone after
    # unshare(CLONE_NEWUSER)) would move a denied tree under an allowed name.
    "chroot": "moves the program's root: rules would match inside the new root",
    "pivot_root": "moves the program's root: rules would match inside the new root",
    "mount": "a bind mount puts a denied tree under an allowed path",
    "umount2": "uncovers what a mount hid",
    "move_mount": "a bind mount puts a denied tree under an allowed path",
    "fsopen": "new mounts (with fsmount/move_mount)",
    "fsconfig": "new mounts (with fsmount/move_mount)",
    "fsmount": "new mounts (with move_mount)",
    "fspick": "reconfigures a mount found by path",
    "mount_setattr": "changes a mount found by path (e.g. makes it writable)",
    "fanotify_mark": "watches a path, a mount or a filesystem; its events carry fds of the files others open",
    # files reached by path that only privileged programs may use (and root
    # without namespaces is not defended against, SECURITY.md): not judged, refused
    "uselib": "maps a library file by path",
    "acct": "writes process accounting to a file by path",
    "swapon": "turns a file found by path into swap",
    "swapoff": "finds a swap file by path",
    "quotactl": "finds a filesystem by a device path",
}

# name -> (the path slot that "" may stand for, the flags argument with AT_EMPTY_PATH)
_EMPTY_PATH = {"faccessat2": (0, 3), "fchownat": (0, 4), "fchmodat2": (0, 3), "utimensat": (0, 3),
               "linkat": (0, 4), "name_to_handle_at": (0, 4)}
SYS_fstatfs, SYS_inotify_add_watch, SYS_name_to_handle_at, SYS_linkat = 138, 254, 303, 265
SYS_fchownat, SYS_utimensat, SYS_faccessat2 = 260, 280, 439
IN_DONT_FOLLOW, MAX_HANDLE_SZ = 0x02000000, 128
AT_HANDLE_MNT_ID_UNIQUE = 0x001


def _empty_path_ok(name, args, slot=0):
    """Does "" name the dirfd itself here?  (readlinkat: always, since Linux 2.6.39.)"""
    if name == "readlinkat":
        return slot == 0
    e = _EMPTY_PATH.get(name)
    return e is not None and e[0] == slot and bool(args[e[1]] & AT_EMPTY_PATH)


def _take(call, fd):
    """A supervisor copy of the program's fd (its cwd for AT_FDCWD), taken as the supervisor."""
    if fd == AT_FDCWD:
        return os.open(f"/proc/{call.pid}/cwd", O_PATH | O_DIRECTORY | O_CLOEXEC)
    from lxbrand.handlers.net import _pidfd, take_fd
    pidfd = _pidfd(call)
    try:
        return take_fd(call, pidfd, fd)
    finally:
        os.close(pidfd)


class _Out:
    """A handler's result with several writes into the program's memory, and maybe an
    errno to answer after them (name_to_handle_at's EOVERFLOW writes the size it needs)."""

    def __init__(self, writes, result=0, err=0):
        self.writes, self.result, self.err = writes, result, err


def _raw(nr, *args):
    r = _libc.syscall(nr, *args)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


class _Target:
    """One path argument resolved as the program sees it: the parent directory
    (an O_PATH fd), the last component, and the guest path rules match."""

    def __init__(self, pp, pid, rootfd, root_real, dirfd, path):
        g = pp._guest_abs(pid, root_real, dirfd, path)
        self.guest = g
        d, _, base = g.rstrip(b"/").rpartition(b"/")
        if base in (b"", b".", b".."):
            # the path names a directory through "." or "..": the directory itself, resolved whole
            self.base = b"."
            self.dfd = openat2(rootfd, g, O_PATH | O_DIRECTORY | O_CLOEXEC)
            self.path = pp._real(self.dfd, root_real)
            return
        self.base = base
        self.dfd = openat2(rootfd, d or b"/", O_PATH | O_DIRECTORY | O_CLOEXEC)
        self.path = pp._real(self.dfd, root_real).rstrip("/") + "/" + os.fsdecode(base)

    @classmethod
    def of_fd(cls, pp, fd, root_real):
        """The program's fd itself (a path "" with AT_EMPTY_PATH): `fd` is our copy (taken over)."""
        t = cls.__new__(cls)
        t.dfd, t.base, t.guest = fd, b"", None
        t.path = pp._real(fd, root_real)
        return t

    def close(self):
        os.close(self.dfd)


class PathSyscalls:
    """Handler of the non-open path syscalls under path rules: each path is read
    once, resolved (parent directory + last component; symlinks in the last
    component are not followed except where the call follows them), decided,
    and the call is performed by the supervisor on the resolved directory (or on
    an O_PATH fd of the very file decided on) with the program's credentials.

    The operation each call is judged as (OPS of the rules):
      stat   stat family, statfs, access/faccessat(2), readlink(at), getxattr,
             listxattr, name_to_handle_at, chdir (chdir is open(O_PATH|O_DIRECTORY)
             + fchdir, which is judged stat too)
      read   inotify_add_watch (a watch reports the names made and removed in a
             directory, and every access to a file: what reading tells)
      write  chmod, chown, utime(s), setxattr, removexattr, truncate, unlink,
             rmdir, rename (both names); and fchmod, fchown, fsetxattr,
             fremovexattr, futimens on a file the program holds open (judged on
             the path of the file its fd names; a file without a name -- a memfd,
             a deleted file, a pipe -- has no path a rule could name: allowed)
      create mkdir, mknod, symlink, link's new name, rename's new name
    A path "" with AT_EMPTY_PATH (readlinkat: always) names the program's dirfd
    itself: the supervisor takes a copy with pidfd_getfd(2) and judges its file.
    Listings (getdents64, getdents) leave out the names a rule hides (deny stat
    with ENOENT).  UNIX socket paths are judged by the network handler with these
    rules (lxbrand.handlers.net: connect/send "write", bind "create").  REFUSED
    lists what would go around the rules (chroot, mounts, handles, io_uring ...).

    chdir cannot be performed for the program (no syscall changes another
    process's working directory), so after an allowed decision the kernel
    re-reads the path (CONTINUE): a second thread can move the program into a
    directory the rules deny.  That gives it nothing: the working directory is
    never trusted -- every later relative path is resolved from the real
    /proc/PID/cwd and judged on the file it reaches, and /proc/self/cwd is a
    magic link (ELOOP).  What the race tells the program is whether the hidden
    directory exists and its name (getcwd), which it supplied itself (SECURITY.md)."""

    def __init__(self, pp):
        self.pp = pp

    def __call__(self, call):
        from lxbrand import syscalls
        name = syscalls.name_of(call.nr)
        a = call.args
        if name in DIR_LIST:
            return self._list(call, name)
        if name in FD_WRITE or (name == "utimensat" and a[1] == 0):
            # futimens(fd) is utimensat(fd, NULL, ...): no path (a NULL pointer is a register value)
            return self._fd_call(call, name)
        slots, kind = MODIFY[name]
        paths = [call.read_str(a[pi]) for _, pi in slots]
        dirfds = [AT_FDCWD if di is None else _sint(a[di]) for di, _ in slots]
        if kind in ("fstatat", "statx") and not paths[0] and a[3 if kind == "fstatat" else 2] & AT_EMPTY_PATH:
            return self._stat_fd(call, kind, dirfds[0])
        pid = call.pid
        # everything read from the program is read now, as the supervisor (a program
        # that changed uid is not dumpable: only our CAP_SYS_PTRACE reaches its memory)
        self.paths, self.dirfds = paths, dirfds
        self.symlink_target = call.read_str(a[0]) if kind == "symlink" else None
        self.pre = self._preread(call, name) if kind in ("utime", "xattr", "handle") else None
        # fds of the program are taken now too (pidfd_getfd checks the supervisor's real
        # credentials and capabilities, which AsProgram drops): "" + AT_EMPTY_PATH names
        # the dirfd itself; inotify_add_watch acts on the program's inotify instance
        empty = [not p and _empty_path_ok(name, a, i) for i, p in enumerate(paths)]
        self.fds = {}
        targets = []
        rootfd = -1
        try:
            for i, (dfd, e) in enumerate(zip(dirfds, empty)):
                if e:
                    self.fds[i] = _take(call, dfd)
            if kind == "inotify":
                self.fds["inotify"] = _take(call, _sint(a[0]))
            rootfd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            root_real = os.readlink(f"/proc/{pid}/root")
            self.rootfd = rootfd
            with AsProgram(pid):
                for i, (dfd, p) in enumerate(zip(dirfds, paths)):
                    if i in self.fds:
                        targets.append(_Target.of_fd(self.pp, self.fds.pop(i), root_real))
                        continue
                    if not p:
                        raise OSError(errno.ENOENT, "empty path")
                    targets.append(_Target(self.pp, pid, rootfd, root_real, dfd, p))
                r = getattr(self, "do_" + kind)(call, name, targets, rootfd, root_real)
        finally:
            for t in targets:
                t.close()
            for fd in self.fds.values():
                os.close(fd)
            if rootfd >= 0:
                os.close(rootfd)
        return self._finish(call, r)

    @staticmethod
    def _finish(call, r):
        if isinstance(r, _Out):  # several writes, and maybe an error after them (EOVERFLOW)
            for addr, data in r.writes:
                call.write(addr, data)
            if r.err:
                raise OSError(r.err, os.strerror(r.err))
            return r.result
        if isinstance(r, tuple):  # (address, bytes[, result]): written back as the supervisor
            call.write(r[0], r[1])
            return r[2] if len(r) > 2 else 0
        return r

    def _check(self, ops, path, call):
        self.pp.check(ops, path, call.pid)

    def do_mkdir(self, call, name, t, *_):
        self._check(["create"], t[0].path, call)
        os.mkdir(t[0].base, call.args[1 if name == "mkdir" else 2] & 0o7777, dir_fd=t[0].dfd)
        return 0

    def do_mknod(self, call, name, t, *_):
        self._check(["create"], t[0].path, call)
        i = 1 if name == "mknod" else 2
        os.mknod(t[0].base, call.args[i] & 0xffffffff, call.args[i + 1] & 0xffffffff, dir_fd=t[0].dfd)
        return 0

    def do_unlink(self, call, name, t, *_):
        self._check(["write"], t[0].path, call)
        if name == "unlinkat" and call.args[2] & AT_REMOVEDIR:
            os.rmdir(t[0].base, dir_fd=t[0].dfd)
        else:
            os.unlink(t[0].base, dir_fd=t[0].dfd)
        return 0

    def do_rmdir(self, call, name, t, *_):
        self._check(["write"], t[0].path, call)
        os.rmdir(t[0].base, dir_fd=t[0].dfd)
        return 0

    def do_rename(self, call, name, t, *_):
        self._check(["write"], t[0].path, call)
        self._check(["create", "write"], t[1].path, call)
        flags = call.args[4] & 0xffffffff if name == "renameat2" else 0
        if flags & 2:  # RENAME_EXCHANGE: the old name gets the new one's file
            self._check(["create"], t[0].path, call)
        _raw(SYS_renameat2, t[0].dfd, ctypes.c_char_p(t[0].base), t[1].dfd, ctypes.c_char_p(t[1].base),
             ctypes.c_uint(flags))
        return 0

    def do_link(self, call, name, t, rootfd, root_real):
        # a hard link is the same file under a new name, where other rules apply:
        # only files the program may read and write can get one
        follow = name == "linkat" and call.args[4] & AT_SYMLINK_FOLLOW
        if t[0].base == b"":  # linkat(fd, "", ..., AT_EMPTY_PATH): the fd's file (CAP_DAC_READ_SEARCH)
            self._check(["read", "write"], t[0].path, call)
            self._check(["create"], t[1].path, call)
            _raw(SYS_linkat, t[0].dfd, ctypes.c_char_p(b""), t[1].dfd, ctypes.c_char_p(t[1].base), AT_EMPTY_PATH)
            return 0
        if follow:
            fd = openat2(rootfd, self.pp._guest_abs(call.pid, root_real, self.dirfds[0], self.paths[0]),
                         O_PATH | O_CLOEXEC)
            try:
                self._check(["read", "write"], self.pp._real(fd, root_real), call)
                self._check(["create"], t[1].path, call)
                os.link(f"/proc/self/fd/{fd}", t[1].base, dst_dir_fd=t[1].dfd, follow_symlinks=True)
            finally:
                os.close(fd)
            return 0
        self._check(["read", "write"], t[0].path, call)
        self._check(["create"], t[1].path, call)
        os.link(t[0].base, t[1].base, src_dir_fd=t[0].dfd, dst_dir_fd=t[1].dfd, follow_symlinks=False)
        return 0

    def do_symlink(self, call, name, t, *_):
        self._check(["create"], t[0].path, call)
        os.symlink(self.symlink_target, t[0].base, dir_fd=t[0].dfd)
        return 0

    def do_truncate(self, call, name, t, rootfd, root_real):
        fd = openat2(rootfd, t[0].guest, O_PATH | O_CLOEXEC)  # truncate(2) follows symlinks
        try:
            self._check(["write"], self.pp._real(fd, root_real), call)
            w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | O_CLOEXEC)
            try:
                os.ftruncate(w, call.args[1])
            finally:
                os.close(w)
        finally:
            os.close(fd)
        return 0

    def do_access(self, call, name, t, rootfd, root_real):
        a = call.args
        mode, flags = (a[1], 0) if name == "access" else (a[2], a[3] if name == "faccessat2" else 0)
        fd = self._stat_path(call, t[0], not flags & AT_SYMLINK_NOFOLLOW, root_real)
        try:
            # the answer is the rules' too: W_OK is "could I write it?", and a write rule says no
            ops = [op for bit, op in ((4, "read"), (2, "write"), (1, "exec")) if mode & bit]
            if "exec" in ops and stat.S_ISDIR(os.fstat(fd).st_mode):
                ops.remove("exec")  # X_OK on a directory asks about search, not exec rules
            self._check(ops, self.pp._real(fd, root_real), call)
            # AT_EACCESS: the thread's (the program's) effective ids; access(2) proper uses the
            # real ids, which differ only in a setuid program (none run under no_new_privs)
            _raw(SYS_faccessat2, fd, ctypes.c_char_p(b""), ctypes.c_int(mode & 0xffffffff),
                 ctypes.c_int(AT_EMPTY_PATH | 0x200))
        finally:
            os.close(fd)
        return 0

    def do_readlink(self, call, name, t, rootfd, root_real):
        self._check(["stat"], t[0].path, call)
        target = os.readlink(t[0].base, dir_fd=t[0].dfd)
        target = os.fsencode(target)
        i = 1 if name == "readlink" else 2
        size = call.args[i + 1] & 0xffffffff
        if size == 0 or size > 0x7fffffff:
            raise OSError(errno.EINVAL, "bad size")
        data = target[:size]
        return (call.args[i], data, len(data))

    def do_chmod(self, call, name, t, rootfd, root_real):
        mode = call.args[1 if name == "chmod" else 2] & 0o7777
        nofollow = name in ("fchmodat", "fchmodat2") and call.args[3] & AT_SYMLINK_NOFOLLOW
        fd = self._stat_path(call, t[0], not nofollow, root_real, ops=["write"])
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise OSError(errno.EOPNOTSUPP, "no modes on symlinks")
            os.chmod(f"/proc/self/fd/{fd}", mode)
        finally:
            os.close(fd)
        return 0

    def do_chown(self, call, name, t, rootfd, root_real):
        a = call.args
        i = 1 if name in ("chown", "lchown") else 2
        uid, gid = _sint(a[i]), _sint(a[i + 1])
        follow = name == "chown" or (name == "fchownat" and not a[4] & AT_SYMLINK_NOFOLLOW)
        fd = self._stat_path(call, t[0], follow, root_real, ops=["write"])
        try:
            # the inode decided on itself (an O_PATH fd of a symlink names the link)
            _raw(SYS_fchownat, fd, ctypes.c_char_p(b""), ctypes.c_int(uid), ctypes.c_int(gid), AT_EMPTY_PATH)
        finally:
            os.close(fd)
        return 0

    @staticmethod
    def _preread(call, name):
        """What utime/xattr calls need from the caller's memory, read once, now (as the
        supervisor: a program that changed uid is not dumpable)."""
        a = call.args
        if name == "utimensat":
            return {"times": call.read(a[2], 32) if a[2] else None, "nofollow": a[3] & AT_SYMLINK_NOFOLLOW}
        if name in ("futimesat", "utimes"):
            tv = a[2] if name == "futimesat" else a[1]
            times = None
            if tv:  # struct timeval[2] -> struct timespec[2]
                s0, us0, s1, us1 = struct.unpack("=qqqq", call.read(tv, 32))
                times = struct.pack("=qqqq", s0, us0 * 1000, s1, us1 * 1000)
            return {"times": times, "nofollow": 0}
        if name == "utime":
            times = None
            if a[1]:
                at, mt = struct.unpack("=qq", call.read(a[1], 16))
                times = struct.pack("=qqqq", at, 0, mt, 0)
            return {"times": times, "nofollow": 0}
        if name == "name_to_handle_at":
            return {"handle_bytes": struct.unpack("=I", call.read(a[2], 4))[0]}
        pre = {}
        if not name.endswith("listxattr"):
            pre["attr"] = call.read_str(a[1], 255)
        if name.endswith("setxattr"):
            size = a[3] & 0xffffffff
            if size > 65536:
                raise OSError(errno.E2BIG, "xattr value too large")
            pre["value"] = call.read(a[2], size) if size else b""
        return pre

    def do_utime(self, call, name, t, rootfd, root_real):
        times, nofollow = self.pre["times"], self.pre["nofollow"]
        fd = self._stat_path(call, t[0], not nofollow, root_real, ops=["write"])
        try:
            buf = ctypes.create_string_buffer(times, 32) if times else None
            # the inode decided on itself (an O_PATH fd of a symlink names the link)
            _raw(SYS_utimensat, fd, ctypes.c_char_p(b""), buf, AT_EMPTY_PATH)
        finally:
            os.close(fd)
        return 0

    def do_xattr(self, call, name, t, rootfd, root_real):
        a = call.args
        follow = not name.startswith("l")
        reading = name.endswith(("getxattr", "listxattr"))
        fd = self._stat_path(call, t[0], follow, root_real, ops=["stat"] if reading else ["write"])
        try:
            target = f"/proc/self/fd/{fd}" if follow or not stat.S_ISLNK(os.fstat(fd).st_mode) else None
            if target is None:
                raise OSError(errno.EPERM, "xattrs of a symlink itself are not supported under path rules")
            if name.endswith("listxattr"):
                size = a[2]
                data = b"".join(os.fsencode(n) + b"\0" for n in os.listxattr(target))
            elif name.endswith("getxattr"):
                size = a[3]
                data = os.getxattr(target, self.pre["attr"])
            elif name.endswith("removexattr"):
                os.removexattr(target, self.pre["attr"])
                return 0
            else:
                os.setxattr(target, self.pre["attr"], self.pre["value"], a[4] & 0xffffffff)
                return 0
            if size == 0:
                return len(data)
            if len(data) > size:
                raise OSError(errno.ERANGE, "buffer too small")
            return (a[1] if name.endswith("listxattr") else a[2], data, len(data))
        finally:
            os.close(fd)

    def do_statfs(self, call, name, t, rootfd, root_real):
        fd = self._stat_path(call, t[0], True, root_real)
        try:
            buf = ctypes.create_string_buffer(120)  # struct statfs (x86_64)
            _raw(SYS_fstatfs, fd, buf)  # fstatfs(2) takes O_PATH fds (Linux 3.12)
        finally:
            os.close(fd)
        return (call.args[1], buf.raw)

    def do_inotify(self, call, name, t, rootfd, root_real):
        mask = call.args[2] & 0xffffffff
        fd = self._stat_path(call, t[0], not mask & IN_DONT_FOLLOW, root_real, ops=["read"])
        try:
            # on our copy of the program's inotify fd (the same instance), through the
            # magic link of our O_PATH fd: the kernel lands on the very inode decided on
            # (a symlink itself under IN_DONT_FOLLOW) and follows nothing further
            return _raw(SYS_inotify_add_watch, self.fds["inotify"], ctypes.c_char_p(f"/proc/self/fd/{fd}".encode()),
                        ctypes.c_uint32(mask & ~IN_DONT_FOLLOW))
        finally:
            os.close(fd)

    def do_chdir(self, call, name, t, rootfd, root_real):
        """Decided here; performed by the kernel, which re-reads the path (no call sets
        another process's cwd).  Sound because nothing trusts the cwd: see the class
        docstring."""
        from lxbrand._core import CONTINUE
        fd = self._stat_path(call, t[0], True, root_real)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(errno.ENOTDIR, "not a directory")
        finally:
            os.close(fd)
        return CONTINUE

    def do_handle(self, call, name, t, rootfd, root_real):
        a = call.args
        flags = a[4] & 0xffffffff
        n = self.pre["handle_bytes"]
        if n > MAX_HANDLE_SZ:
            raise OSError(errno.EINVAL, "handle_bytes too large")
        fd = self._stat_path(call, t[0], flags & AT_SYMLINK_FOLLOW, root_real)
        try:
            buf = ctypes.create_string_buffer(struct.pack("=Ii", n, 0) + bytes(n))
            mnt = ctypes.create_string_buffer(8)
            how = (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) | AT_EMPTY_PATH  # the other flags as given
            r = _libc.syscall(SYS_name_to_handle_at, fd, ctypes.c_char_p(b""), buf, mnt, ctypes.c_int(how))
            err = ctypes.get_errno() if r < 0 else 0
        finally:
            os.close(fd)
        if err not in (0, errno.EOVERFLOW):
            raise OSError(err, os.strerror(err))
        got = struct.unpack("=I", buf.raw[:4])[0]
        # what the kernel writes: the mount id, and the handle (only its header, with the
        # size needed, on EOVERFLOW)
        writes = [(a[3], mnt.raw[:8 if flags & AT_HANDLE_MNT_ID_UNIQUE else 4]),
                  (a[2], buf.raw[:8 + (0 if err else got)])]
        return _Out(writes, 0, err)

    def _list(self, call, name):
        """getdents(64): a name a rule hides (deny "stat" with ENOENT) must not show up
        in a listing of its directory either.  Without such rules nothing is decided
        and the kernel lists (CONTINUE).  With them the supervisor lists on its copy of
        the program's fd (the same open file: the offset moves for the program too --
        never the fd number again, which a thread could dup2() another directory onto),
        drops the hidden names and writes the rest into the program's buffer."""
        from lxbrand._core import CONTINUE
        if not self.pp.hides():
            return CONTINUE
        a = call.args
        count = min(a[2] & 0xffffffff, 1 << 20)
        fd = _take(call, _sint(a[0]))
        try:
            d = self.pp._real(fd, os.readlink(f"/proc/{call.pid}/root")).rstrip("/")
            buf = ctypes.create_string_buffer(count or 1)
            while True:
                n = _raw(SYS_getdents64 if name == "getdents64" else SYS_getdents, fd, buf, ctypes.c_uint(count))
                if n == 0:
                    return 0
                kept, i, raw = [], 0, buf.raw[:n]
                while i < n:
                    # linux_dirent64: ino, off (8 each), reclen (2), type (1), name;
                    # linux_dirent: ino, off (8 each), reclen (2), name, ..., type (last byte)
                    reclen = struct.unpack_from("=H", raw, i + 16)[0]
                    nm = raw[i + (19 if name == "getdents64" else 18):i + reclen].split(b"\0", 1)[0]
                    if nm in (b".", b"..") or not self.pp.hidden(d + "/" + os.fsdecode(nm)):
                        kept.append(raw[i:i + reclen])
                    i += reclen
                if kept:  # else every name was hidden: list on, as if they were not there
                    out = b"".join(kept)
                    return self._finish(call, (a[1], out, len(out)))
        finally:
            os.close(fd)

    def _fd_call(self, call, name):
        """fchmod, fchown, fsetxattr, fremovexattr, futimens on a file the program holds:
        judged "write" on the path of the file its fd names, performed on our copy of the
        fd (the same open file: nothing to swap in between)."""
        a = call.args
        dfd = _sint(a[0])
        if name == "utimensat" and dfd == AT_FDCWD:
            raise OSError(errno.EFAULT, "no path")  # utimensat(AT_FDCWD, NULL, ...), as the kernel says
        pre = self._preread(call, name) if name != "fchmod" and name != "fchown" else None
        fd = _take(call, dfd)
        try:
            # the program's root is looked up as the supervisor (a program that changed
            # uid is not dumpable: its /proc/PID/root needs our CAP_SYS_PTRACE)
            root_real = os.readlink(f"/proc/{call.pid}/root")
            with AsProgram(call.pid):
                st = os.fstat(fd)
                real = os.readlink(f"/proc/self/fd/{fd}")
                if real.startswith("/") and st.st_nlink > 0:
                    self._check(["write"], self.pp._real(fd, root_real), call)
                if name == "fchmod":
                    os.fchmod(fd, a[1] & 0o7777)
                elif name == "fchown":
                    os.fchown(fd, _sint(a[1]), _sint(a[2]))
                elif name == "fsetxattr":
                    os.setxattr(fd, pre["attr"], pre["value"], a[4] & 0xffffffff)
                elif name == "fremovexattr":
                    os.removexattr(fd, pre["attr"])
                else:
                    times = pre["times"]
                    buf = ctypes.create_string_buffer(times, 32) if times else None
                    _raw(SYS_utimensat, fd, None, buf, ctypes.c_int(a[3] & 0xffffffff))
        finally:
            os.close(fd)
        return 0

    # stat family: the decision and the stat are on the same inode; the result is written back
    def _stat_path(self, call, t, follow, root_real, ops=("stat",)):
        flags = O_PATH | O_CLOEXEC | (0 if follow else O_NOFOLLOW)
        if t.base == b"":  # the program's own fd (AT_EMPTY_PATH): its file, as it is
            fd = os.dup(t.dfd)
        elif t.base in (b".", b".."):
            fd = os.dup(t.dfd)
        elif follow:  # a symlink may lead anywhere in the program's root
            fd = openat2(self.rootfd, t.guest, flags)
        else:
            fd = openat2(t.dfd, t.base, flags, resolve=RESOLVE_NO_MAGICLINKS | 0x08)  # BENEATH: the name itself
        try:
            self._check(list(ops), self.pp._real(fd, root_real), call)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _stat_write(self, call, fd, kind):
        if kind == "statx":
            buf = ctypes.create_string_buffer(256)
            _raw(SYS_statx, fd, ctypes.c_char_p(b""), AT_EMPTY_PATH | (call.args[2] & 0x6000),
                 ctypes.c_uint(call.args[3] & 0xffffffff), buf)
            return (call.args[4], buf.raw)
        buf = ctypes.create_string_buffer(144)
        _raw(SYS_newfstatat, fd, ctypes.c_char_p(b""), buf, AT_EMPTY_PATH)
        return (call.args[1 if kind in ("stat", "lstat") else 2], buf.raw)

    def _stat_any(self, call, name, t, rootfd, root_real, kind):
        if kind in ("stat",):
            follow = True
        elif kind == "lstat":
            follow = False
        else:
            follow = not call.args[3 if kind == "fstatat" else 2] & AT_SYMLINK_NOFOLLOW
        fd = self._stat_path(call, t[0], follow, root_real)
        try:
            return self._stat_write(call, fd, kind)
        finally:
            os.close(fd)

    def do_stat(self, call, name, t, rootfd, root_real):
        return self._stat_any(call, name, t, rootfd, root_real, "stat")

    def do_lstat(self, call, name, t, rootfd, root_real):
        return self._stat_any(call, name, t, rootfd, root_real, "lstat")

    def do_fstatat(self, call, name, t, rootfd, root_real):
        return self._stat_any(call, name, t, rootfd, root_real, "fstatat")

    def do_statx(self, call, name, t, rootfd, root_real):
        return self._stat_any(call, name, t, rootfd, root_real, "statx")

    def _stat_fd(self, call, kind, fd):
        """fstat through newfstatat/statx(fd, "", AT_EMPTY_PATH): the path was "" when
        we read it, so stat the program's fd itself (taken with pidfd_getfd) rather
        than let the kernel re-read a path a sibling thread may have filled in."""
        from lxbrand.handlers.net import take_fd, _pidfd
        pidfd = _pidfd(call)
        try:
            if fd == AT_FDCWD:
                mine = os.open(f"/proc/{call.pid}/cwd", O_PATH | O_CLOEXEC)
            else:
                mine = take_fd(call, pidfd, fd)
        finally:
            os.close(pidfd)
        try:
            return self._finish(call, self._stat_write(call, mine, kind))
        finally:
            os.close(mine)
