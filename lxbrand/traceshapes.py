"""How each syscall's arguments and result are shown in a trace: the one table.

Each entry names, per argument, a *type* (below); from it both the engine's capture
plan (what memory C copies at the call's entry or exit: csrc/trace.h) and the
formatter (lxbrand/tracefmt.py) are derived, so the two cannot disagree.  The shown
form follows strace 6.x's default output (names, flags, structs abbreviated as
strace abbreviates them without -v), so a trace reads as strace's and can be
compared line by line (tests/test_trace_strace.py does, for a corpus of calls).

A syscall not listed here is shown from python-ptrace's prototype (integers,
pointers, paths); one libseccomp cannot name, as strace does: syscall_0xNNN with
six hexadecimal arguments.

Types (an argument's value v; ":N" names another argument by index):
  int uint long ulong hex ptr   numbers as C prints them (ptr: NULL or 0x...)
  fd dirfd                      an fd; dirfd shows AT_FDCWD
  path str                      a NUL-terminated string (str: cut at the string size)
  buf_in:N buf_out:N buf_out:ret  bytes, N (or the result) long, cut at the string size
  hexbuf_out:ret                bytes shown in \\x escapes (random data, as strace)
  path_out:ret                  a path the call fills in (getcwd), up to its NUL
  sockaddr:N                    a socket address N bytes long
  argv envp                     a string array (envp: only how many)
  omode:N                       a mode shown only when argument N has O_CREAT or O_TMPFILE
  mode umask                    octal
  stat_out utsname_out timespec_in timespec_out pipefd_out rlimit_in rlimit_out
  sigset_in sigset_out int_out sigaction_in sigaction_out
                                structs the call reads (in) or fills (out)
  fcntlarg:N prctlarg:N         what the command (argument N) makes of the rest
  cloneargs                     clone's arguments by name, as strace shows them
  and flag or constant sets: oflags atflags access whence signal af socktype
  protocol:N clockid prot mapflags fdflags grnd archprctl rlimit sighow waitopts
  timerflags renameflags fcntlcmd ioctlcmd prctlop
Result types: int (the default), hex (an address), oct (umask), fcntl (F_GETFD/F_GETFL show
the flags), none (the call does not return).
"""
from functools import lru_cache

# capture kinds and limits (csrc/trace.h)
CAP_NONE, CAP_STR, CAP_BUF_IN, CAP_BUF_OUT, CAP_MEM_IN, CAP_MEM_OUT, CAP_STRV, CAP_STRV_COUNT = range(8)
CAP_LEN_RET = 0xff
CAP_WHOLE = 0x100
CAP_PATHLEN = 0x200
CAP_STR_SHOWN = 1          # LX_CAP_STR param: cut at the string size (else a path)

# sizes of the structs captured (x86_64)
STRUCT_SIZES = {"stat_out": 144, "utsname_out": 390, "timespec_in": 16, "timespec_out": 16,
                "pipefd_out": 8, "rlimit_in": 16, "rlimit_out": 16, "sigset_in": 8, "sigset_out": 8,
                "int_out": 4, "sigaction_in": 32, "sigaction_out": 32}

# name: (result type, argument types).  Result types: int (default), hex, oct, none.
SHAPES = {
    "read": ("int", ("fd", "buf_out:ret", "ulong")),
    "write": ("int", ("fd", "buf_in:2", "ulong")),
    "pread64": ("int", ("fd", "buf_out:ret", "ulong", "long")),
    "pwrite64": ("int", ("fd", "buf_in:2", "ulong", "long")),
    "open": ("int", ("path", "oflags", "omode:1")),
    "openat": ("int", ("dirfd", "path", "oflags", "omode:2")),
    "creat": ("int", ("path", "mode")),
    "close": ("int", ("fd",)),
    "lseek": ("int", ("fd", "long", "whence")),
    "stat": ("int", ("path", "stat_out")),
    "lstat": ("int", ("path", "stat_out")),
    "fstat": ("int", ("fd", "stat_out")),
    "newfstatat": ("int", ("dirfd", "path", "stat_out", "atflags")),
    "access": ("int", ("path", "access")),
    "faccessat": ("int", ("dirfd", "path", "access")),
    "faccessat2": ("int", ("dirfd", "path", "access", "atflags")),
    "mkdir": ("int", ("path", "mode")),
    "mkdirat": ("int", ("dirfd", "path", "mode")),
    "rmdir": ("int", ("path",)),
    "unlink": ("int", ("path",)),
    "unlinkat": ("int", ("dirfd", "path", "atflags")),
    "rename": ("int", ("path", "path")),
    "renameat": ("int", ("dirfd", "path", "dirfd", "path")),
    "renameat2": ("int", ("dirfd", "path", "dirfd", "path", "renameflags")),
    "link": ("int", ("path", "path")),
    "linkat": ("int", ("dirfd", "path", "dirfd", "path", "atflags")),
    "symlink": ("int", ("path", "path")),
    "symlinkat": ("int", ("path", "dirfd", "path")),
    "readlink": ("int", ("path", "buf_out:ret", "ulong")),
    "readlinkat": ("int", ("dirfd", "path", "buf_out:ret", "ulong")),
    "chmod": ("int", ("path", "mode")),
    "fchmod": ("int", ("fd", "mode")),
    "fchmodat": ("int", ("dirfd", "path", "mode")),
    "chown": ("int", ("path", "int", "int")),
    "fchown": ("int", ("fd", "int", "int")),
    "lchown": ("int", ("path", "int", "int")),
    "fchownat": ("int", ("dirfd", "path", "int", "int", "atflags")),
    "truncate": ("int", ("path", "long")),
    "ftruncate": ("int", ("fd", "long")),
    "chdir": ("int", ("path",)),
    "fchdir": ("int", ("fd",)),
    "chroot": ("int", ("path",)),
    "getcwd": ("int", ("path_out:ret", "ulong")),
    "umask": ("oct", ("umask",)),
    "dup": ("int", ("fd",)),
    "dup2": ("int", ("fd", "fd")),
    "dup3": ("int", ("fd", "fd", "fdflags")),
    "pipe": ("int", ("pipefd_out",)),
    "pipe2": ("int", ("pipefd_out", "fdflags")),
    "execve": ("int", ("path", "argv", "envp")),
    "execveat": ("int", ("dirfd", "path", "argv", "envp", "atflags")),
    "exit": ("none", ("int",)),
    "exit_group": ("none", ("int",)),
    "getpid": ("int", ()), "getppid": ("int", ()), "gettid": ("int", ()),
    "getuid": ("int", ()), "geteuid": ("int", ()), "getgid": ("int", ()), "getegid": ("int", ()),
    "getpgrp": ("int", ()), "setsid": ("int", ()), "sync": ("int", ()), "sched_yield": ("int", ()),
    "pause": ("int", ()), "vfork": ("int", ()), "fork": ("int", ()),
    "kill": ("int", ("int", "signal")),
    "tkill": ("int", ("int", "signal")),
    "tgkill": ("int", ("int", "int", "signal")),
    "uname": ("int", ("utsname_out",)),
    "nanosleep": ("int", ("timespec_in", "timespec_out")),
    "clock_nanosleep": ("int", ("clockid", "timerflags", "timespec_in", "timespec_out")),
    "clock_gettime": ("int", ("clockid", "timespec_out")),
    "socket": ("int", ("af", "socktype", "protocol:0")),
    "connect": ("int", ("fd", "sockaddr:2", "int")),
    "bind": ("int", ("fd", "sockaddr:2", "int")),
    "listen": ("int", ("fd", "int")),
    "shutdown": ("int", ("fd", "int")),
    "brk": ("hex", ("ptr",)),
    "mmap": ("hex", ("ptr", "ulong", "prot", "mapflags", "fd", "long")),
    "munmap": ("int", ("ptr", "ulong")),
    "mprotect": ("int", ("ptr", "ulong", "prot")),
    "arch_prctl": ("int", ("archprctl", "hex")),
    "set_tid_address": ("int", ("ptr",)),
    "set_robust_list": ("int", ("ptr", "ulong")),
    "rseq": ("int", ("ptr", "hex", "int", "hex")),
    "prlimit64": ("int", ("int", "rlimit", "rlimit_in", "rlimit_out")),
    "getrlimit": ("int", ("rlimit", "rlimit_out")),
    "setrlimit": ("int", ("rlimit", "rlimit_in")),
    "getrandom": ("int", ("hexbuf_out:ret", "ulong", "grnd")),
    "rt_sigprocmask": ("int", ("sighow", "sigset_in", "sigset_out", "ulong")),
    "rt_sigaction": ("int", ("signal", "sigaction_in", "sigaction_out", "ulong")),
    "fcntl": ("fcntl", ("fd", "fcntlcmd", "fcntlarg:1")),
    "ioctl": ("int", ("fd", "ioctlcmd", "ptr")),
    "prctl": ("int", ("prctlop", "prctlarg:0")),
    "clone": ("int", ("cloneargs",)),
    "wait4": ("int", ("int", "int_out", "waitopts", "ptr")),
    "sethostname": ("int", ("str", "int")),
    "fsync": ("int", ("fd",)), "fdatasync": ("int", ("fd",)),
}

# types -> (capture kind, param) for the engine
_SIMPLE_CAPS = {"path": (CAP_STR, 0), "str": (CAP_STR, CAP_STR_SHOWN), "argv": (CAP_STRV, 0),
                "envp": (CAP_STRV_COUNT, 0)}


def _cap_of(t):
    if t in _SIMPLE_CAPS:
        return _SIMPLE_CAPS[t]
    if t in STRUCT_SIZES:
        return (CAP_MEM_OUT if t.endswith("_out") else CAP_MEM_IN), STRUCT_SIZES[t]
    base, _, ref = t.partition(":")
    src = CAP_LEN_RET if ref == "ret" else (int(ref) if ref else 0)
    if base == "buf_in":
        return CAP_BUF_IN, src
    if base in ("buf_out", "hexbuf_out"):
        return CAP_BUF_OUT, src
    if base == "sockaddr":
        return CAP_BUF_IN, src | CAP_WHOLE
    if base == "prctlarg":
        return CAP_MEM_OUT, 16  # PR_GET_NAME fills a 16-byte name; PR_SET_NAME's is still there
    if base == "path_out":
        return CAP_BUF_OUT, src | CAP_PATHLEN
    return CAP_NONE, 0


_PATH_NAMES = {"filename", "pathname", "path", "oldname", "newname", "name", "specialfile", "library"}
_FD_NAMES = {"fd", "oldfd", "newfd", "sockfd", "fildes", "epfd", "out_fd", "in_fd"}


def _from_prototype(nr):
    """Types from python-ptrace's prototype, for a syscall the table does not list."""
    from lxbrand import syscalls
    sc = syscalls.by_nr().get(nr)
    if sc is None:
        return None
    out = []
    for ctype, pname in sc.params[:6]:
        c = ctype.replace(" ", "")
        if c in ("constchar*", "char*") and pname in _PATH_NAMES:
            t = "path"
        elif "*" in c or "[" in c:
            t = "ptr"
        elif pname in ("dfd", "dirfd", "olddfd", "newdfd"):
            t = "dirfd"
        elif pname in _FD_NAMES:
            t = "fd"
        elif c in ("int", "pid_t", "key_t", "mqd_t", "timer_t", "clockid_t"):
            t = "int"
        elif c in ("long", "off_t", "loff_t", "ssize_t", "time_t"):
            t = "long"
        elif c in ("umode_t", "mode_t"):
            t = "mode"
        elif c in ("size_t", "unsignedlong"):
            t = "ulong"
        else:
            t = "uint" if c.startswith("unsigned") or c in ("u32", "uid_t", "gid_t", "qid_t") else "hex"
        out.append(t)
    return "int", tuple(out)


@lru_cache(maxsize=None)
def shape(nr):
    """(result type, argument types) of a syscall number, or None when nothing is known
    of it (shown as strace shows an unknown syscall)."""
    from lxbrand import syscalls
    sc = syscalls.by_nr().get(nr)
    if sc is not None and sc.name in SHAPES:
        return SHAPES[sc.name]
    return _from_prototype(nr)


def capture_plan(nr):
    """((what, ...6), (param, ...6)) the engine captures for a syscall (csrc/trace.h's
    struct lx_capplan), or None if nothing is to be captured."""
    sh = shape(nr)
    if sh is None:
        return None
    what, param = [0] * 6, [0] * 6
    for i, t in enumerate(sh[1][:6]):
        what[i], param[i] = _cap_of(t)
    if not any(what):
        return None
    return tuple(what), tuple(param)


def capture_table(nrs, listed_only=False):
    """{nr: plan} for the syscall numbers given (those with something to capture).
    listed_only: only those SHAPES lists (no python-ptrace import: a live client attaches
    sooner; the others then show their pointers)."""
    from lxbrand import syscalls
    out = {}
    for nr in nrs:
        if listed_only:
            sc = syscalls.by_nr().get(nr)
            if sc is None or sc.name not in SHAPES:
                continue
        p = capture_plan(nr)
        if p is not None:
            out[nr] = p
    return out


# strace's classes for -e trace=%CLASS (strace(1), "Filtering"); %file and %desc are
# derived from the argument types (a path; an fd) where the table or a prototype says so.
CLASSES = {
    "process": ("clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4",
                "waitid", "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
                "pidfd_send_signal", "pidfd_getfd", "unshare", "setns"),
    "network": ("socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
                "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
                "setsockopt", "getsockopt", "shutdown"),
    "signal": ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
               "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "kill", "tkill", "tgkill",
               "pause", "signalfd", "signalfd4", "pidfd_send_signal"),
    "ipc": ("msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "shmget", "shmat",
            "shmdt", "shmctl"),
    "memory": ("brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "mlock2", "munlock",
               "mlockall", "munlockall", "msync", "mincore", "remap_file_pages", "mbind", "set_mempolicy",
               "get_mempolicy", "migrate_pages", "move_pages", "pkey_mprotect", "pkey_alloc", "pkey_free"),
    "creds": ("getuid", "geteuid", "getgid", "getegid", "setuid", "setgid", "setreuid", "setregid", "setresuid",
              "setresgid", "getresuid", "getresgid", "setfsuid", "setfsgid", "getgroups", "setgroups", "capget",
              "capset", "prctl"),
    "clock": ("clock_gettime", "clock_settime", "clock_getres", "clock_adjtime", "clock_nanosleep",
              "gettimeofday", "settimeofday", "adjtimex", "time", "nanosleep"),
    "stat": ("stat", "fstat", "lstat", "newfstatat", "statx"),
    "lstat": ("lstat", "newfstatat", "statx"),
    "fstat": ("fstat", "newfstatat"),
    "statfs": ("statfs", "fstatfs", "ustat"),
}
CLASSES["net"] = CLASSES["network"]
_FD_RESULT = ("open", "openat", "openat2", "creat", "socket", "accept", "accept4", "dup", "dup2", "dup3", "pipe",
              "pipe2", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "signalfd", "signalfd4",
              "timerfd_create", "inotify_init", "inotify_init1", "memfd_create", "pidfd_open", "userfaultfd",
              "fsopen", "fspick", "open_tree", "perf_event_open", "io_uring_setup", "socketpair")


class TraceSetError(ValueError):
    pass


def _class_members(name):
    from lxbrand import syscalls
    table = syscalls.table()
    if name in CLASSES:
        return {table[n].nr for n in CLASSES[name] if n in table}
    if name in ("file", "desc"):
        want = ("path",) if name == "file" else ("fd", "dirfd")
        out = set()
        for sc in table.values():
            sh = shape(sc.nr)
            if sh and any(t.partition(":")[0] in want for t in sh[1]):
                out.add(sc.nr)
        if name == "desc":
            out |= {table[n].nr for n in _FD_RESULT if n in table}
        return out
    raise TraceSetError(f"unknown class %{name} (known: %file, %desc, " + ", ".join(f"%{c}" for c in CLASSES) + ")")


def trace_set(expr):
    """The syscall numbers of strace's -e trace=EXPR: names, %CLASS, all, none, /REGEX,
    comma-separated, a leading ! for the complement.  None for all of them."""
    import re
    from lxbrand import syscalls
    expr = expr.strip()
    if expr.startswith("trace="):
        expr = expr[len("trace="):]
    neg = expr.startswith("!")
    if neg:
        expr = expr[1:]
    table = syscalls.table()
    chosen = set()
    for tok in (t.strip() for t in expr.split(",")):
        if not tok:
            continue
        if tok == "all":
            chosen |= {sc.nr for sc in table.values()}
        elif tok == "none":
            continue
        elif tok.startswith("%"):
            chosen |= _class_members(tok[1:])
        elif tok.startswith("/"):
            try:
                rx = re.compile(tok[1:])
            except re.error as e:
                raise TraceSetError(f"-e trace=/{tok[1:]}: {e}") from None
            chosen |= {sc.nr for sc in table.values() if rx.search(sc.name)}
        elif tok in table:
            chosen.add(table[tok].nr)
        else:
            raise TraceSetError(f"-e trace: no syscall named {tok!r}")
    if neg:
        return {sc.nr for sc in table.values()} - chosen
    return chosen
