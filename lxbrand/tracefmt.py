"""Show a trace record's arguments and result as strace does (types: lxbrand/traceshapes.py).

A record (lxbrand.trace.Record) carries the raw arguments and the memory the engine
captured for some of them; each type below turns one argument into strace's text.
Only the record is read: nothing here touches the traced program.
"""
import errno as _errno
import os
import signal as _signal
import socket as _socket
import struct
from functools import lru_cache

from lxbrand import syscalls, traceshapes

AT_FDCWD = -100
DEFAULT_STRSIZE = 32  # strace -s


def _s32(v):
    v &= 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v):
    v &= 0xffffffffffffffff
    return v - (1 << 64) if v & (1 << 63) else v


def _flags(v, table, zero="0"):
    """strace's flag set: names in table order, the rest in hex."""
    if v == 0:
        return zero
    parts = []
    for bit, name in table:
        if bit and v & bit == bit:
            parts.append(name)
            v &= ~bit
    if v:
        parts.append(hex(v))
    return "|".join(parts)


def _const(v, table):
    name = table.get(v)
    return name if name is not None else str(v)


# -- strings -------------------------------------------------------------------------

_ESC = {0x09: "\\t", 0x0a: "\\n", 0x0b: "\\v", 0x0c: "\\f", 0x0d: "\\r", 0x22: '\\"', 0x5c: "\\\\"}


def quote(data, hexall=False):
    """strace's quoting: printable ASCII as is, the usual escapes, other bytes in octal
    (three digits when an octal digit follows), or all in \\x when hexall."""
    if not hexall:
        t = data.decode("latin-1")
        if t.isascii() and t.isprintable() and '"' not in t and "\\" not in t:
            return f'"{t}"'  # the common case: nothing to escape
    out = ['"']
    n = len(data)
    for i, c in enumerate(data):
        if hexall:
            out.append(f"\\x{c:02x}")
        elif c in _ESC:
            out.append(_ESC[c])
        elif 0x20 <= c < 0x7f:
            out.append(chr(c))
        elif i + 1 < n and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    return "".join(out)


# -- flag and constant tables (Linux x86_64 values) ---------------------------------------

O_TMPFILE = 0o20200000
OPEN_FLAGS = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
              (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"), (0o10000, "O_DSYNC"),
              (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"),
              (O_TMPFILE, "O_TMPFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
              (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH")]
AT_FLAGS = [(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
            (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
            (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE")]
ACCESS = [(4, "R_OK"), (2, "W_OK"), (1, "X_OK")]
WHENCE = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
FD_FLAGS = [(0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT"), (0o2000000, "O_CLOEXEC")]
PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (0x8, "PROT_SEM"),
        (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP")]
MAP_TYPE = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
MAP_FLAGS = [(0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
             (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
             (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"),
             (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
             (0x100000, "MAP_FIXED_NOREPLACE")]
AF = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
SOCK_TYPE = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM", 5: "SOCK_SEQPACKET",
             6: "SOCK_DCCP", 10: "SOCK_PACKET"}
SOCK_FLAGS = [(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")]
IPPROTO = {0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP",
           41: "IPPROTO_IPV6", 58: "IPPROTO_ICMPV6", 132: "IPPROTO_SCTP", 136: "IPPROTO_UDPLITE",
           255: "IPPROTO_RAW"}
CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
          3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE",
          6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME", 8: "CLOCK_REALTIME_ALARM",
          9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI"}
GRND = [(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE")]
ARCH_PRCTL = {0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS", 0x1004: "ARCH_GET_GS",
              0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID"}
RLIMITS = {0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 2: "RLIMIT_DATA", 3: "RLIMIT_STACK", 4: "RLIMIT_CORE",
           5: "RLIMIT_RSS", 6: "RLIMIT_NPROC", 7: "RLIMIT_NOFILE", 8: "RLIMIT_MEMLOCK", 9: "RLIMIT_AS",
           10: "RLIMIT_LOCKS", 11: "RLIMIT_SIGPENDING", 12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE",
           14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME"}
SIGHOW = {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}
WAIT_OPTS = [(1, "WNOHANG"), (2, "WUNTRACED"), (8, "WCONTINUED"), (0x20000000, "__WNOTHREAD"),
             (0x40000000, "__WALL"), (0x80000000, "__WCLONE")]
RENAME_FLAGS = [(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")]
SA_FLAGS = [(0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
            (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"), (1, "SA_NOCLDSTOP"),
            (2, "SA_NOCLDWAIT"), (4, "SA_SIGINFO")]
FCNTL_CMDS = {0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
              6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 1024: "F_SETLEASE",
              1025: "F_GETLEASE", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
              1033: "F_ADD_SEALS", 1034: "F_GET_SEALS", 36: "F_OFD_GETLK", 37: "F_OFD_SETLK",
              38: "F_OFD_SETLKW"}
IOCTLS = {0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF", 0x540b: "TCFLSH",
          0x540e: "TIOCSCTTY", 0x540f: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ",
          0x5414: "TIOCSWINSZ", 0x541b: "FIONREAD", 0x5421: "FIONBIO", 0x5450: "FIONCLEX", 0x5451: "FIOCLEX",
          0x5452: "FIOASYNC", 0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK"}
PRCTL_OPS = {1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
             8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME", 16: "PR_GET_NAME", 21: "PR_GET_SECCOMP",
             22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 36: "PR_SET_CHILD_SUBREAPER",
             38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS", 42: "PR_GET_THP_DISABLE",
             47: "PR_CAP_AMBIENT"}
CLONE_FLAGS = [(0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
               (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"),
               (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"),
               (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
               (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"), (0x800000, "CLONE_UNTRACED"),
               (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"),
               (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"),
               (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO")]
S_IFMT = {0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o060000: "S_IFBLK",
          0o040000: "S_IFDIR", 0o020000: "S_IFCHR", 0o010000: "S_IFIFO"}
# what Linux returns beyond errno.h (include/linux/errno.h): seen when a call is interrupted
KERNEL_ERRNOS = {512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
                 513: ("ERESTARTNOINTR", "To be restarted"),
                 514: ("ERESTARTNOHAND", "To be restarted if no handler"),
                 516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal")}


def signame(n):
    """strace's signal names: the kernel's real-time numbering (32 is SIGRTMIN, 33 SIGRT_1,
    ...), not glibc's, which keeps the first two for itself."""
    if n == 0:
        return "0"
    if 32 <= n <= 64:
        return "SIGRTMIN" if n == 32 else f"SIGRT_{n - 32}"
    try:
        return _signal.Signals(n).name
    except ValueError:
        return str(n)


def errno_name(e):
    if e in KERNEL_ERRNOS:
        return KERNEL_ERRNOS[e][0]
    return _errno.errorcode.get(e, str(e))


def errno_text(e):
    if e in KERNEL_ERRNOS:
        return KERNEL_ERRNOS[e][1]
    return os.strerror(e)


# -- structs -------------------------------------------------------------------------

def _stat(b):
    mode, = struct.unpack_from("<I", b, 24)
    rdev, size = struct.unpack_from("<Qq", b, 40)
    perm = _octal(mode & 0o7777, 4)
    ftype = S_IFMT.get(mode & 0o170000)
    m = f"{ftype}|{perm}" if ftype else perm
    if mode & 0o170000 in (0o020000, 0o060000):
        major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)
        minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff)
        return f"{{st_mode={m}, st_rdev=makedev({major:#x}, {minor:#x}), ...}}"
    return f"{{st_mode={m}, st_size={size}, ...}}"


def _cstr(b):
    return b.split(b"\0", 1)[0]


def _utsname(b):
    f = [_cstr(b[i * 65:(i + 1) * 65]) for i in range(2)]
    return f"{{sysname={quote(f[0])}, nodename={quote(f[1])}, ...}}"


def _timespec(b):
    s, ns = struct.unpack_from("<qq", b)
    return f"{{tv_sec={s}, tv_nsec={ns}}}"


def _rlim(v):
    if v == 0xffffffffffffffff:
        return "RLIM64_INFINITY"
    return f"{v // 1024}*1024" if v and v % 1024 == 0 else str(v)


def _rlimit(b):
    cur, mx = struct.unpack_from("<QQ", b)
    return f"{{rlim_cur={_rlim(cur)}, rlim_max={_rlim(mx)}}}"


def _sigset(b):
    mask, = struct.unpack_from("<Q", b)
    sigs = [n for n in range(1, 65) if mask >> (n - 1) & 1]
    if len(sigs) > 32:  # strace shows a mostly full set by what it lacks
        return "~[" + " ".join(signame(n)[3:] for n in range(1, 65) if not mask >> (n - 1) & 1) + "]"
    return "[" + " ".join(signame(n)[3:] for n in sigs) + "]"


def _wait_status(b):
    st, = struct.unpack_from("<i", b)
    if os.WIFEXITED(st):
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {os.WEXITSTATUS(st)}}}]"
    if os.WIFSIGNALED(st):
        core = " && WCOREDUMP(s)" if os.WCOREDUMP(st) else ""
        return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {signame(os.WTERMSIG(st))}{core}}}]"
    if os.WIFSTOPPED(st):
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {signame(os.WSTOPSIG(st))}}}]"
    return f"[{st:#x}]"


def sockaddr(b):
    """strace's struct sockaddr (the families it is asked about most)."""
    if len(b) < 2:
        return "{...}"
    fam, = struct.unpack_from("<H", b)
    name = AF.get(fam, str(fam))
    if fam == 1:
        path = b[2:]
        if path[:1] == b"\0" and len(path) > 1:
            return f"{{sa_family={name}, sun_path=@{quote(path[1:])}}}"
        return f"{{sa_family={name}, sun_path={quote(_cstr(path))}}}"
    if fam == 2 and len(b) >= 8:
        port, = struct.unpack_from(">H", b, 2)
        return (f"{{sa_family={name}, sin_port=htons({port}), "
                f"sin_addr=inet_addr({quote(_socket.inet_ntoa(b[4:8]).encode())})}}")
    if fam == 10 and len(b) >= 28:
        port, flow = struct.unpack_from(">HI", b, 2)
        scope, = struct.unpack_from("<I", b, 24)
        addr = _socket.inet_ntop(_socket.AF_INET6, b[8:24])
        return (f"{{sa_family={name}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
                f"inet_pton({name}, {quote(addr.encode())}, &sin6_addr), sin6_scope_id={scope}}}")
    return f"{{sa_family={name}, sa_data={quote(b[2:])}}}"


def _sigaction(b):
    handler, flags, restorer, mask = struct.unpack_from("<QQQQ", b)
    h = {0: "SIG_DFL", 1: "SIG_IGN"}.get(handler, hex(handler))
    text = f"{{sa_handler={h}, sa_mask={_sigset(struct.pack('<Q', mask))}, sa_flags={_flags(flags, SA_FLAGS)}"
    if flags & 0x04000000:  # SA_RESTORER
        text += f", sa_restorer={_ptr(restorer)}"
    return text + "}"


_STRUCTS = {"sigaction_in": _sigaction, "sigaction_out": _sigaction, "stat_out": _stat, "utsname_out": _utsname, "timespec_in": _timespec,
            "timespec_out": _timespec, "rlimit_in": _rlimit, "rlimit_out": _rlimit,
            "sigset_in": _sigset, "sigset_out": _sigset, "int_out": _wait_status,
            "pipefd_out": lambda b: "[{}, {}]".format(*struct.unpack_from("<ii", b))}


def _ptr(v):
    return "NULL" if v == 0 else hex(v)


def _octal(v, width=3):
    """C's %#0Wo: a leading 0, at least W digits."""
    return "0" + f"{v:o}".rjust(width - 1, "0") if v else "0" * width


def _mode(v):
    return _octal(v, 4) if v else "000"


def _buf(item, strsize, hexall=False):
    data = item.data
    more = item.full > len(data) or len(data) > strsize
    return quote(data[:strsize], hexall) + ("..." if more else "")


def _strv(item, strsize):
    parts = []
    for s in item.data.split(b"\0")[:-1] if item.data else []:
        parts.append(quote(s[:strsize]) + ("..." if len(s) > strsize else ""))
    if item.full > len(parts):
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


@lru_cache(maxsize=1024)
def _open_flags(v):
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(v & 3, "O_ACCMODE")
    rest = _flags(v & ~3, OPEN_FLAGS, zero="")
    return f"{acc}|{rest}" if rest else acc


def _dirfd(v):
    sv = _s32(v)
    return "AT_FDCWD" if sv == AT_FDCWD else str(sv)


def _mapflags(v):
    t = MAP_TYPE.get(v & 0xf, hex(v & 0xf))
    rest = _flags(v & ~0xf, MAP_FLAGS, zero="")
    return f"{t}|{rest}" if rest else t


def _socktype(v):
    t = SOCK_TYPE.get(v & 0xf, hex(v & 0xf))
    rest = _flags(v & ~0xf, SOCK_FLAGS, zero="")
    return f"{t}|{rest}" if rest else t


def _archprctl(v):
    name = ARCH_PRCTL.get(v)
    return name if name else f"{v:#x} /* ARCH_??? */"


# types shown from the value alone
_BY_VALUE = {
    "int": lambda v: str(_s32(v)), "fd": lambda v: str(_s32(v)), "dirfd": _dirfd,
    "long": lambda v: str(_s64(v)), "uint": lambda v: str(v & 0xffffffff),
    "ulong": lambda v: str(v & 0xffffffffffffffff), "ptr": _ptr, "hex": hex, "mode": _mode,
    "umask": lambda v: _octal(v & 0o777), "oflags": _open_flags,
    "atflags": lambda v: _flags(v, AT_FLAGS), "access": lambda v: _flags(v, ACCESS, zero="F_OK"),
    "whence": lambda v: _const(v, WHENCE), "signal": lambda v: signame(_s32(v)),
    "fdflags": lambda v: _flags(v, FD_FLAGS), "prot": lambda v: _flags(v, PROT, zero="PROT_NONE"),
    "mapflags": _mapflags, "af": lambda v: _const(v, AF), "socktype": _socktype,
    "clockid": lambda v: _const(_s32(v), CLOCKS), "timerflags": lambda v: _flags(v, [(1, "TIMER_ABSTIME")]),
    "grnd": lambda v: _flags(v, GRND), "archprctl": _archprctl, "rlimit": lambda v: _const(v, RLIMITS),
    "sighow": lambda v: _const(v, SIGHOW), "waitopts": lambda v: _flags(v, WAIT_OPTS),
    "renameflags": lambda v: _flags(v, RENAME_FLAGS),
    "fcntlcmd": lambda v: _const(v & 0xffffffff, FCNTL_CMDS), "ioctlcmd": lambda v: _ioctl_cmd(v & 0xffffffff),
    "prctlop": lambda v: _prctl_op(v & 0xffffffff),
}


def _memory_shower(t, base):
    """A shower for a type whose text comes from captured memory: (v, item, strsize)."""
    if base in ("path", "str"):
        def show(v, item, strsize):
            if base == "str" and len(item.data) > strsize:
                return quote(item.data[:strsize]) + "..."
            return quote(item.data)
    elif base == "path_out":
        def show(v, item, strsize):
            return quote(_cstr(item.data))
    elif base in ("buf_in", "buf_out", "hexbuf_out"):
        hexall = base == "hexbuf_out"

        def show(v, item, strsize):
            return _buf(item, strsize, hexall)
    elif base == "sockaddr":
        def show(v, item, strsize):
            return sockaddr(item.data)
    elif base == "argv":
        def show(v, item, strsize):
            return _strv(item, strsize)
    elif base == "envp":
        def show(v, item, strsize):
            return f"{hex(v)} /* {item.full} var{'s' if item.full != 1 else ''} */"
    elif t in _STRUCTS:
        need = traceshapes.STRUCT_SIZES[t]
        fn = _STRUCTS[t]

        def show(v, item, strsize):
            return fn(item.data) if len(item.data) >= need else _ptr(v)
    else:
        return None
    return show


def _ioctl_cmd(v):
    name = IOCTLS.get(v)
    return name if name else hex(v)


def _prctl_op(v):
    name = PRCTL_OPS.get(v)
    return name if name else f"{v:#x} /* PR_??? */"


def _fcntl_arg(cmd_at):
    """fcntl's third argument, as its command reads it (none for the F_GET* ones)."""
    def show(v, item, args, strsize):
        cmd = args[cmd_at] & 0xffffffff
        if cmd in (1, 3, 9, 1025, 1032, 1034):  # F_GETFD F_GETFL F_GETOWN F_GETLEASE F_GETPIPE_SZ F_GET_SEALS
            return None
        if cmd == 2:  # F_SETFD
            return _flags(v, [(1, "FD_CLOEXEC")])
        if cmd == 4:  # F_SETFL
            return _open_flags(v)
        if cmd in (0, 1030, 8, 1031, 1024):  # F_DUPFD F_DUPFD_CLOEXEC F_SETOWN F_SETPIPE_SZ F_SETLEASE
            return str(_s32(v))
        return _ptr(v)
    return show


def _prctl_args(op_at):
    """prctl's arguments after the option, as strace shows the common options."""
    def show(v, item, args, strsize):
        op = args[op_at] & 0xffffffff
        if op in (15, 16):  # PR_SET_NAME, PR_GET_NAME: a 16-byte name
            return quote(_cstr(item.data)) if item is not None and not item.fault else _ptr(v)
        if op == 1:  # PR_SET_PDEATHSIG
            return signame(_s32(v))
        if op in (3, 21, 39, 42):  # PR_GET_DUMPABLE PR_GET_SECCOMP PR_GET_NO_NEW_PRIVS PR_GET_THP_DISABLE
            return None
        if op == 2:  # PR_GET_PDEATHSIG
            return _ptr(v)
        if op in (4, 8, 24, 36):  # PR_SET_DUMPABLE PR_SET_KEEPCAPS PR_CAPBSET_DROP PR_SET_CHILD_SUBREAPER
            return str(v)
        return [hex(a) for a in args[op_at + 1:5]]
    return show


def _clone_args(_):
    """clone's arguments by name, as strace shows them (x86_64 order: flags, stack,
    parent_tid, child_tid, tls)."""
    def show(v, item, args, strsize):
        flags, stack, ptid, ctid, tls = args[:5]
        sig = flags & 0xff
        names = _flags(flags & ~0xff, CLONE_FLAGS, zero="")
        if sig:
            names = f"{names}|{signame(sig)}" if names else signame(sig)
        out = [f"child_stack={_ptr(stack)}", f"flags={names or '0'}"]
        if flags & (0x00100000 | 0x1000):  # CLONE_PARENT_SETTID, CLONE_PIDFD
            out.append(f"parent_tid={_ptr(ptid)}")
        if flags & (0x01000000 | 0x00200000):  # CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID
            out.append(f"child_tidptr={_ptr(ctid)}")
        if flags & 0x00080000:  # CLONE_SETTLS
            out.append(f"tls={_ptr(tls)}")
        return out
    return show


def _omode(flags_at):
    """open's mode: shown only with O_CREAT or O_TMPFILE, as strace shows it."""
    def show(v, item, args, strsize):
        return _mode(v) if args[flags_at] & (0o100 | O_TMPFILE) else None
    return show


def _protocol(fam_at):
    def show(v, item, args, strsize):
        return _const(v, IPPROTO) if args[fam_at] in (2, 10) else str(v)
    return show


# types whose text depends on another argument (":N")
_DEPENDENT = {"fcntlarg": _fcntl_arg, "prctlarg": _prctl_args, "cloneargs": _clone_args,
              "omode": _omode, "protocol": _protocol}


@lru_cache(maxsize=None)
def _arg_shower(t):
    """shower(v, item, args, strsize) for an argument type: its text, a list of texts (it
    stands for several), or None (it and the arguments after it are not shown)."""
    base, _, ref = t.partition(":")
    mem = _memory_shower(t, base)
    if mem is not None:
        def show(v, item, args, strsize):
            if item is None or item.fault:  # NULL, unreadable, or an output of a failed call
                return _ptr(v)
            return mem(v, item, strsize)
        return show
    if base in _DEPENDENT:
        return _DEPENDENT[base](int(ref) if ref else 0)
    byv = _BY_VALUE.get(base, hex)
    return lambda v, item, args, strsize: byv(v)


@lru_cache(maxsize=None)
def _plan(nr):
    """[(index, shower)] for a syscall, or None (unknown)."""
    sh = traceshapes.shape(nr)
    if sh is None:
        return None
    return [(i, _arg_shower(t)) for i, t in enumerate(sh[1][:6])]


def call_name(nr):
    sc = syscalls.by_nr().get(nr)
    return sc.name if sc is not None else f"syscall_{nr:#x}"


def show_args(nr, args, items, strsize=DEFAULT_STRSIZE):
    """The arguments of a call as strace shows them (a list of strings)."""
    plan = _plan(nr)
    if plan is None:
        return [hex(a) for a in args]
    out = []
    for i, show in plan:
        text = show(args[i], items.get(i), args, strsize)
        if text is None:
            break
        if isinstance(text, list):
            out.extend(text)
        else:
            out.append(text)
    return out


def show_result(nr, has_ret, ret, args=None):
    """`= ...` as strace shows it (without the '= ')."""
    if not has_ret:
        return "?"
    if -4096 < ret < 0:
        e = -ret
        return f"-1 {errno_name(e)} ({errno_text(e)})"
    sh = traceshapes.shape(nr)
    kind = sh[0] if sh else "int"
    if kind == "hex":
        return hex(ret & 0xffffffffffffffff)
    if kind == "oct":
        return _octal(ret)
    if kind == "fcntl" and args is not None:
        cmd = args[1] & 0xffffffff
        if cmd == 1 and ret:  # F_GETFD
            return f"{ret:#x} (flags {_flags(ret, [(1, 'FD_CLOEXEC')])})"
        if cmd == 3:  # F_GETFL
            return f"{ret:#x} (flags {_open_flags(ret)})"
    return str(ret)
