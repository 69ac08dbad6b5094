"""Fake root (--fake-root): the program believes it runs as uid/gid 0, like
fakeroot(1) or `proot -0`, but at the syscall level, so static binaries and
/proc/self/status see it too.

- getuid/geteuid/getgid/getegid, getresuid/getresgid/getgroups answer the faked
  ids: root's (0, groups [0]) until set*id/setgroups/setfs*id change them, which
  they do by the kernel's rules (EPERM included) without performing anything
  (fakeids.py; per process, inherited at fork);
- chown/fchown/lchown/fchownat succeed without touching the file: the new owner is
  kept in the supervisor, keyed by (st_dev, st_ino), for the whole run;
- stat/fstat/lstat/newfstatat/statx are performed by the supervisor on the same
  file (the guest's cwd, dirfd and root, through /proc/PID/...) and answered with
  the faked owner: a recorded one, or 0 for files owned by the real uid/gid
  (what fakeroot shows);
- /proc/{self,thread-self,N,N/task/M}/status show 0 in their Uid:/Gid: lines and
  root's capabilities (CapPrm and CapEff = the task's bounding set, what execve
  gives uid 0: capabilities(7), "Capabilities and execution of programs by root");
  capget(2) of the program itself answers the same;
- access/faccessat/faccessat2 answer as for root (capabilities(7) CAP_DAC_OVERRIDE;
  path_resolution(7)): read and write are granted, except write on a read-only
  file system (EROFS); execute needs a directory or one execute bit.  Only when
  the supervisor is not root: as root the kernel already answers so (set*id are
  faked, so the program keeps the supervisor's credentials);
- mknod/mknodat of a character or block device make an empty regular file with the
  requested permissions and record it as that device: later stats show the device
  type and numbers, owned by root (fakeroot's way; no device is ever made, even
  when the supervisor is root).

Gaps (DIVERGENCE.md): other permission checks (open, exec, unlink) are the real
user's; capset(2) is the kernel's.
"""
from functools import lru_cache
import errno
import os
import re
import stat

from lxbrand.handlers.files import AT_FDCWD, Serve, _sint
from lxbrand.personality.fakeids import ROOT, FakeIds, caps_of
from lxbrand.personality.rules import emulate
from lxbrand.guest import walk_base
from lxbrand.procfs import tgid as _tgid

OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)

AT_SYMLINK_NOFOLLOW = 0x100  # linux/fcntl.h (os has no names for them)
AT_EMPTY_PATH = 0x1000


@lru_cache(maxsize=None)
def _libc():
    """libc through ctypes, loaded on the first handler call (not at lxrun start-up)."""
    import ctypes
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    return lib
SYS_newfstatat, SYS_statx, SYS_capget = 262, 332, 125
AT_EACCESS = 0x200
R_OK, W_OK, X_OK = 4, 2, 1
S_IFMT = 0o170000  # sys/stat.h (the stat module has S_IFMT only as a function)
S_IFDIR, S_IFREG, S_IFLNK = stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
S_IFCHR, S_IFBLK = stat.S_IFCHR, stat.S_IFBLK
_LINUX_CAPABILITY_VERSION_1 = 0x19980330
_STATUS_RE = re.compile(r"^/proc/(self|thread-self|\d+)(/task/\d+)?/status$")


class FakeRoot:
    def __init__(self, uid=None, gid=None, fake_caps=True):
        self.real_uid = os.getuid() if uid is None else uid
        self.real_gid = os.getgid() if gid is None else gid
        self.owners = {}   # (dev, ino) -> (uid, gid) set by a faked chown
        self.devices = {}  # (dev, ino) -> (S_IFCHR or S_IFBLK, rdev) made by a faked mknod
        self.ids = FakeIds()
        self.fake_caps = fake_caps   # False in containers: the kernel's sets are the container root's

    # -- ids (lxbrand/personality/fakeids.py) -------------------------------------------
    def id_handler(self, call):
        """get*id, getres*id, getgroups, set*id, setgroups, setfs*id."""
        name = _NAMES[call.nr]
        idx = _GET_INDEX.get(name)
        if idx is not None:
            return self.ids.get(call, idx)
        if name == "getresuid":
            return self.ids.getres(call, 0)
        if name == "getresgid":
            return self.ids.getres(call, 4)
        if name == "getgroups":
            return self.ids.getgroups(call)
        if name == "setgroups":
            return self.ids.setgroups(call)
        if name in ("setfsuid", "setfsgid"):
            return self.ids.setfs(call, name)
        return self.ids.set_ids(call, name)

    # -- the guest's file, opened by the supervisor ----------------------------------------
    @staticmethod
    def _dirfd(call, dirfd, path):
        """A supervisor fd (O_PATH) standing for the guest's dirfd/cwd, and the path to use."""
        return walk_base(call.tid, dirfd, path)

    def _stat_raw(self, call, dirfd, path, flags, statx_mask=None):
        import ctypes
        fd, path = self._dirfd(call, dirfd, path)
        try:
            d = fd if fd is not None else AT_FDCWD
            if statx_mask is None:
                buf = ctypes.create_string_buffer(144)
                rc = _libc().syscall(SYS_newfstatat, d, path, buf, flags)
            else:
                buf = ctypes.create_string_buffer(256)
                rc = _libc().syscall(SYS_statx, d, path, flags, statx_mask, buf)
            if rc < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            return bytearray(buf.raw)
        finally:
            if fd is not None:
                os.close(fd)

    def _owner(self, key, uid, gid):
        if key in self.owners:
            return self.owners[key]
        return (0 if uid == self.real_uid else uid, 0 if gid == self.real_gid else gid)

    @staticmethod
    def _key_stat(b):
        return int.from_bytes(b[0:8], "little"), int.from_bytes(b[8:16], "little")

    @staticmethod
    def _key_statx(b):
        major, minor = int.from_bytes(b[136:140], "little"), int.from_bytes(b[140:144], "little")
        return os.makedev(major, minor), int.from_bytes(b[32:40], "little")

    def _path_arg(self, call, addr):
        if not addr:
            raise OSError(errno.EFAULT, "path")
        return call.read_str(addr)

    # -- stat family ---------------------------------------------------------------------
    def stat_handler(self, call):
        """stat, lstat, fstat, newfstatat: run by the supervisor, owner faked."""
        name = _NAMES[call.nr]
        a = call.args
        if name == "fstat":
            dirfd, path, flags, out = _sint(a[0]), b"", AT_EMPTY_PATH, a[1]
            if dirfd < 0:
                raise OSError(errno.EBADF, "fstat")
        elif name in ("stat", "lstat"):
            dirfd, path, out = AT_FDCWD, self._path_arg(call, a[0]), a[1]
            flags = AT_SYMLINK_NOFOLLOW if name == "lstat" else 0
        else:
            dirfd, path, out, flags = _sint(a[0]), self._path_arg(call, a[1]), a[2], a[3] & 0xFFFFFFFF
        if not path and not flags & AT_EMPTY_PATH:
            raise OSError(errno.ENOENT, "empty path")
        b = self._stat_raw(call, dirfd, path, flags)
        uid, gid = int.from_bytes(b[28:32], "little"), int.from_bytes(b[32:36], "little")
        key = self._key_stat(b)
        uid, gid = self._owner(key, uid, gid)
        b[28:32], b[32:36] = uid.to_bytes(4, "little"), gid.to_bytes(4, "little")
        dev = self.devices.get(key)
        if dev is not None and int.from_bytes(b[24:28], "little") & S_IFMT == S_IFREG:
            mode = int.from_bytes(b[24:28], "little") & ~S_IFMT | dev[0]
            b[24:28], b[40:48] = mode.to_bytes(4, "little"), dev[1].to_bytes(8, "little")
        call.write(out, bytes(b))
        return 0

    def statx_handler(self, call):
        a = call.args
        dirfd, flags, mask, out = _sint(a[0]), a[2] & 0xFFFFFFFF, a[3] & 0xFFFFFFFF, a[4]
        path = self._path_arg(call, a[1])
        b = self._stat_raw(call, dirfd, path, flags, statx_mask=mask)
        uid, gid = int.from_bytes(b[20:24], "little"), int.from_bytes(b[24:28], "little")
        key = self._key_statx(b)
        uid, gid = self._owner(key, uid, gid)
        b[20:24], b[24:28] = uid.to_bytes(4, "little"), gid.to_bytes(4, "little")
        dev = self.devices.get(key)
        if dev is not None and int.from_bytes(b[28:30], "little") & S_IFMT == S_IFREG:
            mode = int.from_bytes(b[28:30], "little") & ~S_IFMT | dev[0]
            b[28:30] = mode.to_bytes(2, "little")
            b[128:132] = os.major(dev[1]).to_bytes(4, "little")      # stx_rdev_major
            b[132:136] = os.minor(dev[1]).to_bytes(4, "little")      # stx_rdev_minor
        call.write(out, bytes(b))
        return 0

    # -- mknod -------------------------------------------------------------------------------
    def mknod_handler(self, call):
        """mknod, mknodat of a character or block device: an empty regular file with
        the requested permissions, recorded as that device for later stats (fakeroot's
        way: no device is ever made).  FIFOs, sockets and regular files: the kernel's."""
        from lxbrand._core import CONTINUE
        a = call.args
        if _NAMES[call.nr] == "mknod":
            dirfd, addr, mode, rdev = AT_FDCWD, a[0], a[1] & 0xFFFFFFFF, a[2]
        else:
            dirfd, addr, mode, rdev = _sint(a[0]), a[1], a[2] & 0xFFFFFFFF, a[3]
        kind = mode & S_IFMT
        if kind not in (S_IFCHR, S_IFBLK):
            return CONTINUE
        path = self._path_arg(call, addr)
        if not path:
            raise OSError(errno.ENOENT, "empty path")
        perm = mode & 0o7777 & ~_umask(call.tid)
        fd, p = self._dirfd(call, dirfd, path)
        try:
            # O_EXCL|O_NOFOLLOW: an existing name (a dangling symlink too) is EEXIST, as for mknod
            new = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0, dir_fd=fd)
        finally:
            if fd is not None:
                os.close(fd)
        try:
            os.fchmod(new, perm)          # the program's umask, not the supervisor's
            st = os.fstat(new)
        finally:
            os.close(new)
        # dev_t as the kernel decodes mknod's argument (new_decode_dev)
        self.devices[(st.st_dev, st.st_ino)] = (kind, _decode_dev(rdev & 0xFFFFFFFF))
        return 0

    # -- chown family --------------------------------------------------------------------
    def chown_handler(self, call):
        """chown, lchown, fchown, fchownat: recorded, never performed."""
        name = _NAMES[call.nr]
        a = call.args
        if name == "fchown":
            dirfd, path, flags, uid, gid = _sint(a[0]), b"", AT_EMPTY_PATH, a[1], a[2]
            if dirfd < 0:
                raise OSError(errno.EBADF, "fchown")
        elif name in ("chown", "lchown"):
            dirfd, path, uid, gid = AT_FDCWD, self._path_arg(call, a[0]), a[1], a[2]
            flags = AT_SYMLINK_NOFOLLOW if name == "lchown" else 0
        else:
            dirfd, path, uid, gid, flags = _sint(a[0]), self._path_arg(call, a[1]), a[2], a[3], a[4] & 0xFFFFFFFF
            if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
                raise OSError(errno.EINVAL, "fchownat flags")
        if not path and not flags & AT_EMPTY_PATH:
            raise OSError(errno.ENOENT, "empty path")
        b = self._stat_raw(call, dirfd, path, flags)
        key = self._key_stat(b)
        cur = self._owner(key, int.from_bytes(b[28:32], "little"), int.from_bytes(b[32:36], "little"))
        uid, gid = uid & 0xFFFFFFFF, gid & 0xFFFFFFFF
        self.owners[key] = (cur[0] if uid == 0xFFFFFFFF else uid, cur[1] if gid == 0xFFFFFFFF else gid)
        return 0

    # -- /proc/PID/status -----------------------------------------------------------------
    def status_hook(self, req):
        gp = req.guest_path
        if not gp or not req.read_only:
            return None
        m = _STATUS_RE.match(gp)
        if not m:
            return None
        if m[1] == "self":
            tgid = _tgid(req.tid)
            src = f"/proc/{tgid}/status"
        elif m[1] == "thread-self":
            tgid = _tgid(req.tid)
            src = f"/proc/{req.tid}/status"
        else:
            # In the guest's /proc (its root): the host's under lxrun, the container's in OCI.
            src = f"/proc/{req.tid}/root{gp}"
            tgid = int(m[1]) if _same_root(req.tid) else None
        try:
            with open(src, "rb") as f:
                text = f.read()
        except OSError as e:
            raise OSError(e.errno, "status") from None
        ids = self.ids.of(req.tid, tgid) if tgid is not None else ROOT
        caps = caps_of(ids, tgid or req.tid) if self.fake_caps else None
        return Serve(_as_faked(text, ids, caps), name="status")

    # -- capabilities ----------------------------------------------------------------------
    def capget(self, call):
        """capget(2): the kernel's answer (version checks, the inheritable set), with
        the effective and permitted sets of the program's own tasks = their bounding set."""
        import ctypes
        hdr_addr, data_addr = call.args[0], call.args[1]
        if not hdr_addr:
            raise OSError(errno.EFAULT, "capget")
        hdr = call.read(hdr_addr, 8)
        if len(hdr) < 8:
            raise OSError(errno.EFAULT, "capget")
        version, pid = int.from_bytes(hdr[:4], "little"), int.from_bytes(hdr[4:], "little", signed=True)
        own = pid == 0 or pid in (call.tid, call.pid) or _in_sandbox(pid)
        target = call.tid if pid == 0 else pid
        h = ctypes.create_string_buffer(version.to_bytes(4, "little") + target.to_bytes(4, "little", signed=True), 8)
        data = ctypes.create_string_buffer(24)
        rc = _libc().syscall(SYS_capget, h, data if data_addr else None)
        e = ctypes.get_errno() if rc < 0 else 0
        if h.raw[:4] != hdr[:4]:
            call.write(hdr_addr, h.raw[:4])         # an unknown version: the kernel writes its own
        if rc < 0:
            raise OSError(e, os.strerror(e))
        if not data_addr:
            return 0
        n = 1 if version == _LINUX_CAPABILITY_VERSION_1 else 2
        out = bytearray(data.raw[:12 * n])
        if own:
            prm, eff = caps_of(self.ids.of(target), target)
            for i in range(n):
                out[12 * i:12 * i + 4] = (eff >> (32 * i) & 0xFFFFFFFF).to_bytes(4, "little")
                out[12 * i + 4:12 * i + 8] = (prm >> (32 * i) & 0xFFFFFFFF).to_bytes(4, "little")
        call.write(data_addr, bytes(out))
        return 0

    # -- access family -----------------------------------------------------------------------
    def access_handler(self, call):
        """access, faccessat, faccessat2 answered as for root."""
        name = _NAMES[call.nr]
        a = call.args
        if name == "access":
            dirfd, path, mode, flags = AT_FDCWD, self._path_arg(call, a[0]), a[1], 0
        else:
            dirfd, path, mode = _sint(a[0]), self._path_arg(call, a[1]), a[2]
            flags = a[3] & 0xFFFFFFFF if name == "faccessat2" else 0
            if flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
                raise OSError(errno.EINVAL, "faccessat2 flags")
        if self.ids.of(call.tid)[3] != 0:
            from lxbrand._core import CONTINUE
            return CONTINUE     # a faked non-root fsuid: the kernel's answer for the real user
        mode &= 0xFFFFFFFF
        if mode & ~(R_OK | W_OK | X_OK):
            raise OSError(errno.EINVAL, "access mode")
        if not path and not flags & AT_EMPTY_PATH:
            raise OSError(errno.ENOENT, "empty path")
        # The lookup itself (ENOENT, ENOTDIR, ELOOP, a directory the real user may not
        # search) is the kernel's, done by the supervisor as the program would.
        b = self._stat_raw(call, dirfd, path, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        st_mode = int.from_bytes(b[24:28], "little")
        kind = st_mode & S_IFMT
        if mode & W_OK and kind in (S_IFREG, S_IFDIR, S_IFLNK) and self._read_only_fs(call, dirfd, path, flags):
            raise OSError(errno.EROFS, "read-only file system")      # fs/namei.c sb_permission()
        if mode & X_OK and kind != S_IFDIR and not st_mode & 0o111:
            raise OSError(errno.EACCES, "no execute bit")            # generic_permission(): even for root
        return 0

    def _read_only_fs(self, call, dirfd, path, flags):
        fd, p = self._dirfd(call, dirfd, path)
        try:
            o = os.open(p or b".", os.O_PATH | os.O_CLOEXEC | (os.O_NOFOLLOW if flags & AT_SYMLINK_NOFOLLOW else 0),
                        dir_fd=fd) if p else os.dup(fd)
        finally:
            if fd is not None:
                os.close(fd)
        try:
            return bool(os.fstatvfs(o).f_flag & os.ST_RDONLY)
        finally:
            os.close(o)


def _as_faked(text, ids, caps):
    """A /proc/PID/status with the faked ids (ROOT: all 0) in Uid/Gid/Groups and the
    faked (permitted, effective) capabilities in CapPrm/CapEff (fakeids.py)."""
    uid = b"Uid:\t%d\t%d\t%d\t%d" % ids[0:4]
    gid = b"Gid:\t%d\t%d\t%d\t%d" % ids[4:8]
    groups = b"Groups:\t" + b" ".join(b"%d" % g for g in ids[8]) + b" "   # fs/proc/array.c: a space after
    text = re.sub(rb"^Uid:\t.*$", lambda mm: uid, text, flags=re.M)
    text = re.sub(rb"^Gid:\t.*$", lambda mm: gid, text, flags=re.M)
    text = re.sub(rb"^Groups:\t.*$", lambda mm: groups, text, flags=re.M)
    if caps is None:
        return text             # a container's: its real capabilities are root's there
    prm, eff = (b"%016x" % c for c in caps)
    text = re.sub(rb"^CapPrm:\t[0-9a-f]+$", lambda mm: b"CapPrm:\t" + prm, text, flags=re.M)
    text = re.sub(rb"^CapEff:\t[0-9a-f]+$", lambda mm: b"CapEff:\t" + eff, text, flags=re.M)
    return text


def _same_root(tid):
    try:
        return os.readlink(f"/proc/{tid}/root") == "/"
    except OSError:
        return False


def _umask(tid):
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _decode_dev(d):
    """include/linux/kdev_t.h new_decode_dev(): the 32-bit dev_t mknod(2) takes."""
    return os.makedev((d & 0xfff00) >> 8, (d & 0xff) | ((d >> 12) & 0xfff00))


def _in_sandbox(pid):
    """pid is a descendant of the supervisor (a task of the program's tree)."""
    me = os.getpid()
    for _ in range(64):
        if pid == me:
            return True
        if pid <= 1:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                st = f.read()
        except OSError:
            return False
        pid = int(st[st.rindex(b")") + 2:].split()[1])
    return False


def _names():
    from lxbrand import syscalls
    return {s.nr: s.name for s in syscalls.table().values()}


_NAMES = _names()

ZERO_IDS = ("getuid", "geteuid", "getgid", "getegid")
_GET_INDEX = {"getuid": 0, "geteuid": 1, "getgid": 4, "getegid": 5}
SET_IDS = ("setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
           "setfsuid", "setfsgid", "setgroups")
STATS = ("stat", "fstat", "lstat", "newfstatat")
ACCESS = ("access", "faccessat", "faccessat2")
MKNODS = ("mknod", "mknodat")
CHOWNS = ("chown", "fchown", "lchown", "fchownat")


def install(policy, pipe, tag, track_ids=True):
    """track_ids=False (containers): set*id, setgroups, capset, capget and prctl stay
    the kernel's, and so do the capabilities in /proc/PID/status -- the OCI runtime
    drops the container's privileges with those very calls after the engine's filter
    is in (lxbrand/oci/init.py become_user, which also reads its permitted set from
    /proc/self/status), and faking them would leave the container real root; the
    container's real capabilities are what its root has anyway.  The getters answer
    root's ids."""
    fr = FakeRoot(fake_caps=track_ids)
    c = "personality: --fake-root"
    if track_ids:
        emulate(policy, ZERO_IDS + ("getresuid", "getresgid", "getgroups"), OWNER, handler=fr.id_handler,
                comment=c + ": the faked ids (root's until set*id changes them)")
        emulate(policy, SET_IDS, OWNER, handler=fr.id_handler,
                comment=c + ": faked ids changed by the kernel's rules, nothing performed")
        # Like set*id, capset and keep-caps act on the faked state only: nothing about the
        # real credentials changes, even under a root supervisor (as under fakeroot).
        emulate(policy, "capset", OWNER, handler=fr.ids.capset, comment=c + ": capset(2) on the faked capabilities")
        emulate(policy, "prctl", OWNER, handler=fr.ids.prctl, comment=c + ": PR_SET_KEEPCAPS on the faked state")
    else:
        emulate(policy, ZERO_IDS, OWNER, value=0, comment=c + ": uid/gid 0 (set*id are the kernel's here)")
        emulate(policy, ("getresuid", "getresgid", "getgroups"), OWNER, handler=fr.id_handler, comment=c)
    emulate(policy, STATS, OWNER, handler=fr.stat_handler, comment=c + ": faked owners")
    emulate(policy, "statx", OWNER, handler=fr.statx_handler, comment=c + ": faked owners")
    emulate(policy, CHOWNS, OWNER, handler=fr.chown_handler, comment=c + ": recorded, not performed")
    emulate(policy, MKNODS, OWNER, handler=fr.mknod_handler, comment=c + ": devices recorded, an empty file made")
    if track_ids:
        emulate(policy, "capget", OWNER, handler=fr.capget, comment=c + ": root's capabilities")
    if os.geteuid() != 0:
        # as root the kernel's answers are already root's
        emulate(policy, ACCESS, OWNER, handler=fr.access_handler, comment=c + ": access(2) as root would answer")
    pipe.add(fr.status_hook, names={"status"}, tag=tag)
    return fr
