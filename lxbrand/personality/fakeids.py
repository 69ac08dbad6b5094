"""Fake root's user and group ids and capabilities: every process of the program
starts as root (all ids 0, groups [0], permitted = effective = the bounding set);
set*id, setgroups, setfs*id, capset and prctl(PR_SET_KEEPCAPS) change the faked
state by the kernel's rules, and nothing is performed:

- credentials(7), setresuid(2), setfsuid(2): who may set what (EPERM otherwise);
  the saved and fs ids follow as kernel/sys.c sets them;
- capabilities(7), "Effect of user ID changes on capabilities" (security/commoncap.c
  cap_emulate_setxuid): all of real/effective/saved uid leaving 0 clears permitted
  and effective unless keep-caps is set; the effective uid leaving 0 clears
  effective, returning to 0 restores it from permitted; the fs uid moving clears or
  restores the file-system capabilities;
- CAP_SETUID/CAP_SETGID in the faked effective set is what lets a process change
  ids freely; capset(2) may only lower permitted, and raise effective within it.

The state is kept per process (thread group), keyed by (tgid, start time) so a
reused pid does not inherit a dead process's state.  A process with no record has
its nearest recorded ancestor's (what it inherited at fork), or root's.  Before a
process changes, its children without a record get the old state, so children
forked before the change keep what they inherited.  While nothing has changed,
every answer is root's without reading /proc.

execve is noticed when the program a process runs is not the one it ran when its
state was recorded: the state then goes through execve's rules (saved ids = the
effective ones; capabilities as for a file without any; keep-caps cleared).

Not modelled: an exec of the same file, set-user-ID and file-capability files,
inheritable and ambient sets, securebits other than keep-caps, a thread changing
alone (glibc changes every thread of a process).
"""
import errno
import os

from lxbrand.procfs import tgid as _tgid

NOCHANGE = 0xFFFFFFFF
BND = -1                    # "the task's bounding set" (what execve gives root)
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID = 0, 1, 2, 3, 4
CAP_SETGID, CAP_SETUID = 6, 7
CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_MAC_OVERRIDE = 9, 27, 32
# include/linux/capability.h CAP_FS_MASK: what a fs uid change clears or restores
CAP_FS_MASK = sum(1 << c for c in (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
                                   CAP_FSETID, CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_MAC_OVERRIDE))
# ruid euid suid fsuid | rgid egid sgid fsgid | groups | permitted effective keepcaps
ROOT = (0, 0, 0, 0, 0, 0, 0, 0, (0,), BND, BND, 0)
NGROUPS_MAX = 65536
PR_GET_KEEPCAPS, PR_SET_KEEPCAPS = 7, 8
_V1, _V2, _V3 = 0x19980330, 0x20071026, 0x20080522


def _stat(pid):
    """(ppid, starttime) of pid from /proc/PID/stat (proc(5) fields 4 and 22)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        st = f.read()
    f = st[st.rindex(b")") + 2:].split()
    return int(f[1]), int(f[19])


def bounding(tid):
    """The task's bounding set (CapBnd), 0 if it cannot be read."""
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapBnd:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _children(pid):
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/children", "rb") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return out


def _has(mask, cap):
    return mask == BND or mask >> cap & 1


def caps_of(ids, tid):
    """(permitted, effective) as numbers for a task with these faked ids."""
    bnd = bounding(tid) if BND in ids[9:11] else 0
    return tuple(bnd if m == BND else m for m in ids[9:11])


def _concrete(mask, tid):
    return bounding(tid) if mask == BND else mask


def _setxuid(old, new):
    """security/commoncap.c cap_emulate_setxuid(): setuid, setreuid, setresuid."""
    prm, eff = old[9], old[10]
    if 0 in old[0:3] and 0 not in new[0:3] and not old[11]:
        prm = eff = 0
    if old[1] == 0 and new[1] != 0:
        eff = 0
    elif old[1] != 0 and new[1] == 0:
        eff = prm
    return new[:9] + (prm, eff, new[11])


def _setfsuid(old, new, tid):
    """cap_task_fix_setuid(LSM_SETID_FS): the file-system capabilities follow the fs uid."""
    prm, eff = old[9], old[10]
    if old[3] == 0 and new[3] != 0:
        eff = _concrete(eff, tid) & ~CAP_FS_MASK
    elif old[3] != 0 and new[3] == 0:
        eff = _concrete(eff, tid) | (_concrete(prm, tid) & CAP_FS_MASK)
    return new[:9] + (prm, eff, new[11])


def _exe(pid):
    """The identity (st_dev, st_ino) of the program pid runs, None if unknown."""
    try:
        st = os.stat(f"/proc/{pid}/exe")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _execve(state):
    """What execve of a file without capabilities or set-ID bits does to the state:
    the saved and fs ids take the effective ones (credentials(7)); capabilities(7),
    "Transformation of capabilities during execve()": root (real or effective uid
    0) gets the bounding set as permitted, effective too if its effective uid is 0;
    anyone else none; keep-caps is cleared."""
    r, e, _s, _fs, rg, eg, _sg, _fsg, groups, prm, eff, _keep = state
    if r == 0 or e == 0:
        prm, eff = BND, (BND if e == 0 else 0)
    else:
        prm = eff = 0
    return (r, e, e, e, rg, eg, eg, eg, groups, prm, eff, 0)


class FakeIds:
    def __init__(self, root_pid=None):
        self.root_pid = root_pid        # the supervisor: nothing above it is recorded
        self.records = {}               # (tgid, starttime) -> (state tuple (see ROOT), exe)
        self._prune_at = 1024           # forget dead processes past this many records

    # -- lookup -------------------------------------------------------------------------
    def of(self, tid, tgid=None):
        """The faked state of the process tid belongs to."""
        if not self.records:
            return ROOT
        return self._lookup(tgid if tgid is not None else _tgid(tid))[1]

    def _lookup(self, tgid):
        """((tgid, starttime) or None, state): its own record or the nearest ancestor's,
        passed through execve when the program it runs is not the one recorded (an
        exec of the same file is not noticed)."""
        sup = self.root_pid if self.root_pid is not None else os.getpid()
        key, p = None, tgid
        for _ in range(128):
            if p <= 1 or p == sup:
                break
            try:
                ppid, start = _stat(p)
            except OSError:
                break
            if key is None:
                key = (p, start)
            got = self.records.get((p, start))
            if got is not None:
                state, exe = got
                cur = _exe(tgid)
                if cur is not None and exe is not None and cur != exe:
                    state = _execve(state)
                    if p == tgid:
                        self.records[key] = (state, cur)
                return key, state
            p = ppid
        return key, ROOT

    def _set(self, tid, new):
        tgid = _tgid(tid)
        key, old = self._lookup(tgid)
        if new == old or key is None:
            return
        # children forked before this change keep what they have now
        for child in _children(tgid):
            try:
                ck = (child, _stat(child)[1])
            except OSError:
                continue
            if ck not in self.records:
                self.records[ck] = (self._lookup(child)[1], _exe(child))
        self.records[key] = (new, _exe(tgid))
        if len(self.records) > self._prune_at:
            self._prune()

    def _prune(self):
        """Forget the processes that are gone (a long run of workers dropping privileges
        must not grow the supervisor without bound)."""
        for key in list(self.records):
            try:
                alive = _stat(key[0])[1] == key[1]
            except OSError:
                alive = False
            if not alive:
                del self.records[key]
        self._prune_at = max(1024, 2 * len(self.records))

    # -- ids -----------------------------------------------------------------------------
    def get(self, call, index):
        return self.of(call.tid)[index]

    def getres(self, call, base):
        ids = self.of(call.tid)
        for a, v in zip(call.args[:3], ids[base:base + 3]):
            call.write(a, v.to_bytes(4, "little"))
        return 0

    def getgroups(self, call):
        groups = self.of(call.tid)[8]
        size = call.args[0] & 0xFFFFFFFF
        if size == 0:
            return len(groups)
        if size < len(groups) or size > 0x7FFFFFFF:
            raise OSError(errno.EINVAL, "getgroups")
        call.write(call.args[1], b"".join(g.to_bytes(4, "little") for g in groups))
        return len(groups)

    def setgroups(self, call):
        ids = self.of(call.tid)
        n = call.args[0] & 0xFFFFFFFF
        if n > NGROUPS_MAX:
            raise OSError(errno.EINVAL, "setgroups")
        raw = call.read(call.args[1], 4 * n) if n else b""
        if len(raw) < 4 * n:
            raise OSError(errno.EFAULT, "setgroups")
        if not _has(ids[10], CAP_SETGID):
            raise OSError(errno.EPERM, "setgroups")
        groups = tuple(sorted(int.from_bytes(raw[i:i + 4], "little") for i in range(0, 4 * n, 4)))
        self._set(call.tid, ids[:8] + (groups,) + ids[9:])
        return 0

    def set_ids(self, call, name):
        """setuid setgid setreuid setregid setresuid setresgid (kernel/sys.c rules)."""
        old = self.of(call.tid)
        ids = list(old)
        g = 4 if name.endswith("gid") else 0
        priv = _has(old[10], CAP_SETGID if g else CAP_SETUID)
        r, e, s = ids[g:g + 3]
        a = [x & 0xFFFFFFFF for x in call.args[:3]]
        if name in ("setuid", "setgid"):
            if a[0] == NOCHANGE:
                raise OSError(errno.EINVAL, name)
            if priv:
                r = e = s = a[0]
            elif a[0] in (r, s):
                e = a[0]
            else:
                raise OSError(errno.EPERM, name)
        elif name in ("setreuid", "setregid"):
            nr, ne = a[0], a[1]
            if nr != NOCHANGE and not priv and nr not in (r, e):
                raise OSError(errno.EPERM, name)
            if ne != NOCHANGE and not priv and ne not in (r, e, s):
                raise OSError(errno.EPERM, name)
            old_r = r
            if nr != NOCHANGE:
                r = nr
            if ne != NOCHANGE:
                e = ne
            if nr != NOCHANGE or (ne != NOCHANGE and ne != old_r):
                s = e
        else:   # setresuid, setresgid
            for v in a:
                if v != NOCHANGE and not priv and v not in (r, e, s):
                    raise OSError(errno.EPERM, name)
            r, e, s = (v if v != NOCHANGE else o for v, o in zip(a, (r, e, s)))
        ids[g:g + 4] = [r, e, s, e]     # the fs id follows the effective one
        new = tuple(ids)
        self._set(call.tid, new if g else _setxuid(old, new))
        return 0

    def setfs(self, call, name):
        """setfsuid/setfsgid: always the previous fs id; changed when allowed."""
        old = self.of(call.tid)
        ids = list(old)
        g = 4 if name == "setfsgid" else 0
        prev, v = ids[g + 3], call.args[0] & 0xFFFFFFFF
        if v != NOCHANGE and (_has(old[10], CAP_SETGID if g else CAP_SETUID) or v in ids[g:g + 4]):
            ids[g + 3] = v
            new = tuple(ids)
            self._set(call.tid, new if g else _setfsuid(old, new, call.tid))
        return prev

    # -- capabilities ------------------------------------------------------------------------
    def capset(self, call):
        """capset(2) of the caller itself: permitted may only shrink, effective stays
        within permitted (EPERM otherwise); the inheritable set is not kept."""
        hdr_addr, data_addr = call.args[0], call.args[1]
        hdr = call.read(hdr_addr, 8) if hdr_addr else b""
        if len(hdr) < 8:
            raise OSError(errno.EFAULT, "capset")
        version, pid = int.from_bytes(hdr[:4], "little"), int.from_bytes(hdr[4:], "little", signed=True)
        if version not in (_V1, _V2, _V3):
            call.write(hdr_addr, _V3.to_bytes(4, "little"))
            raise OSError(errno.EINVAL, "capset version")
        if pid not in (0, call.pid, call.tid):
            raise OSError(errno.EPERM, "capset of another process")
        n = 1 if version == _V1 else 2
        raw = call.read(data_addr, 12 * n) if data_addr else b""
        if len(raw) < 12 * n:
            raise OSError(errno.EFAULT, "capset data")
        word = lambda i, k: int.from_bytes(raw[12 * i + 4 * k:12 * i + 4 * k + 4], "little")  # noqa: E731
        eff = sum(word(i, 0) << (32 * i) for i in range(n))
        prm = sum(word(i, 1) << (32 * i) for i in range(n))
        old = self.of(call.tid)
        old_prm = caps_of(old, call.tid)[0]
        if prm & ~old_prm or eff & ~prm:
            raise OSError(errno.EPERM, "capset")
        self._set(call.tid, old[:9] + (prm, eff, old[11]))
        return 0

    def prctl(self, call):
        """PR_SET_KEEPCAPS/PR_GET_KEEPCAPS on the faked state; anything else is the kernel's."""
        opt = call.args[0] & 0xFFFFFFFF
        if opt == PR_GET_KEEPCAPS:
            return self.of(call.tid)[11]
        if opt == PR_SET_KEEPCAPS:
            if call.args[1] > 1 or any(call.args[2:5]):
                raise OSError(errno.EINVAL, "prctl")
            old = self.of(call.tid)
            self._set(call.tid, old[:11] + (int(call.args[1]),))
            return 0
        from lxbrand._core import CONTINUE
        return CONTINUE
