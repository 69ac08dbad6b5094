"""The open family (open, openat, openat2) as one pipeline of pluggable hooks.

    pipe = files.pipeline(policy)          # one per policy, installed on first use
    pipe.add(hook, names={"remapped"})     # names: basenames the hook may care about (None: all)
    pipe.add(hook, first=True)             # a hook that must decide before the others
    pipe.add_in_c(names, tag)              # files the engine's view serves (csrc/persona.c)

For each trapped open the pipeline:

1. reads the path (and openat2's struct open_how) from the caller's memory ONCE,
   into an OpenRequest; nothing later re-reads the caller's memory;
2. skips the hooks whose basenames do not match (most opens: shared libraries,
   modules) and lets the call run natively (CONTINUE);
3. asks each remaining hook in order; a hook returns
      None          no opinion: ask the next hook,
      Deny(errno)   the call fails with errno,
      Serve(data)   the caller gets a new fd on that content (bytes, or a callable
                    producing bytes, or an fd the supervisor opened);
   the first answer wins;
   a hook added with add_in_c is the engine's own view: the engine answers the
   open in C if it serves the file (Call.persona_serve), else the next hook runs;
4. with no answer, CONTINUE: the kernel runs the original call.  That is only
   sound for cosmetic hooks: a hook that decides for security reasons must answer
   (Deny or Serve), because the caller's memory may change between our read and
   the kernel's (seccomp_unotify(2), "Caveats").

The path a hook sees (OpenRequest.guest_path) is the caller's path made
absolute and normalised lexically *as the guest sees paths*: a relative path is
joined to the guest's cwd (/proc/PID/cwd) or to the directory of its dirfd
(/proc/PID/fd/N), both shown relative to the guest's root (/proc/PID/root).
Symlinks are not followed (a hook keyed on /etc/os-release does not see an open
of /usr/lib/os-release); see DIVERGENCE.md, "Personality".

How a Serve reaches the caller: the content goes into a sealed memfd (or the
supervisor's fd is used as is) and is installed in the caller as the call's
result, honouring O_CLOEXEC of the open flags -- on unotify with
SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND (atomic), on ptrace by
having the stopped caller receive it over a socketpair (csrc/inject.c: the
decisive arguments are registers, so no sibling thread can redirect it).  The
new fd is the lowest free number, as open(2)'s would be.

When every hook is the engine's view, no Python runs for opens at all: the
engine answers them itself (lxbrand.engine.apply_policy gives the open syscalls
the PERSONA kind); with Python hooks too, the engine's pre-check (the gate) still
answers the view's files that no Python hook claims by basename.
"""
import errno
import os
import posixpath
import fcntl

from lxbrand._core import CONTINUE
from lxbrand.guest import AT_FDCWD, guest_path

O_ACCMODE, O_CREAT, O_TRUNC, O_DIRECTORY = os.O_ACCMODE, os.O_CREAT, os.O_TRUNC, os.O_DIRECTORY
O_NOFOLLOW, O_PATH, O_TMPFILE, O_CLOEXEC = os.O_NOFOLLOW, os.O_PATH, os.O_TMPFILE, os.O_CLOEXEC
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")  # 4096 (linux/limits.h), with its NUL
RESOLVE_BENEATH, RESOLVE_IN_ROOT = 0x08, 0x10  # linux/openat2.h (os has no names for them)
OPEN_SYSCALLS = ("open", "openat", "openat2")
OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)

_SEALS = getattr(fcntl, "F_SEAL_SEAL", 1) | getattr(fcntl, "F_SEAL_SHRINK", 2) | \
    getattr(fcntl, "F_SEAL_GROW", 4) | getattr(fcntl, "F_SEAL_WRITE", 8)


class Deny:
    """Hook verdict: the open fails with `errno`."""
    __slots__ = ("errno",)

    def __init__(self, err=errno.EACCES):
        self.errno = err


class Serve:
    """Hook verdict: the caller gets a fresh fd on `data`: bytes, a callable
    returning bytes (called once, now), or an int fd owned by the supervisor
    (closed by the pipeline once installed)."""
    __slots__ = ("data", "name")

    def __init__(self, data, name="lxbrand"):
        self.data = data
        self.name = name


def _sint(v, bits=32):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


class OpenRequest:
    """One open as the hooks see it.  Everything here was read from the caller once."""
    __slots__ = ("call", "nr_name", "dirfd", "path", "flags", "mode", "resolve", "pid", "tid", "_guest")

    def __init__(self, call, nr_name, dirfd, path, flags, mode, resolve=0):
        self.call = call
        self.nr_name = nr_name
        self.dirfd = dirfd
        self.path = path            # bytes, as the caller gave it
        self.flags = flags
        self.mode = mode
        self.resolve = resolve      # openat2's RESOLVE_* flags (0 otherwise)
        self.tid = call.tid
        self.pid = call.pid
        self._guest = None

    @property
    def basename(self):
        return posixpath.basename(self.path.rstrip(b"/")) if self.path else b""

    @property
    def read_only(self):
        """A plain read-only open of an existing file (what a Serve can stand for)."""
        return (self.flags & O_ACCMODE) == os.O_RDONLY and not self.flags & (O_CREAT | O_TRUNC | O_PATH | O_TMPFILE)

    @property
    def guest_path(self):
        """The absolute path, normalised lexically, in the guest's view; None if the
        base directory cannot be known (the task or its fd went away)."""
        if self._guest is None:
            path = self.path
            if self.resolve & RESOLVE_IN_ROOT:
                path = path.lstrip(b"/") or b"."     # openat2: dirfd is the root
            elif self.resolve & RESOLVE_BENEATH and path.startswith(b"/"):
                path = b""                           # the kernel answers EXDEV
            self._guest = guest_path(self.tid, self.dirfd, path) if path else ""
        return self._guest or None


# The hook that stands for the engine's view (add_in_c): the engine answers in C.
IN_C = object()


class FilePipeline:
    """The handler of open/openat/openat2 for one policy (see the module docstring)."""

    # Under [[path]] rules the engine owns the open family (csrc/pathopen.c): it
    # decides first, then asks the pipeline about the opens it gates (call.path is
    # the path it read), and performs the open itself when no hook answers.
    sees_engine_calls = True

    def __init__(self):
        self.hooks = []             # [(hook or IN_C, names or None, tag)]
        self._names = set()         # union of the hooks' basenames
        self._any = False           # some hook wants every open
        self.served = 0             # opens Python answered (the engine's own are not counted)

    # -- hooks ----------------------------------------------------------------
    def add(self, hook, names=None, first=False, tag=None):
        """Register hook(req) -> None | Deny | Serve.  names: the basenames (str) it
        may answer for, so other opens skip it; None: it sees every open."""
        entry = (hook, frozenset(os.fsencode(n) for n in names) if names is not None else None, tag)
        if first:
            self.hooks.insert(0, entry)
        else:
            self.hooks.append(entry)
        self._reindex()
        return hook

    def add_in_c(self, names, tag=None):
        """The files of the engine's view (csrc/persona.c), by basename: answered by
        the engine, in this hook's place in the order."""
        self.hooks.append((IN_C, frozenset(os.fsencode(n) for n in names), tag))
        self._reindex()

    def describe(self):
        """Its hooks in the order they are asked, for lxrun --explain."""
        from lxbrand.policy import handler_name
        out = []
        for hook, names, tag in self.hooks:
            who = "the personality's view, in C (csrc/persona.c)" if hook is IN_C else f"Python {handler_name(hook)}"
            which = "every open" if names is None else ", ".join(sorted(os.fsdecode(n) for n in names))
            out.append(f"{who}" + (f" [{tag}]" if tag else "") + f": {which}")
        return out

    def answered_in_c(self):
        """True if every hook is the engine's view: then the engine answers opens
        without Python (lxbrand.engine.apply_policy)."""
        return bool(self.hooks) and all(h is IN_C for h, _, _ in self.hooks)

    def remove(self, tag):
        """Drop every hook registered with `tag`."""
        self.hooks = [h for h in self.hooks if h[2] != tag]
        self._reindex()

    def _reindex(self):
        self._any = any(n is None for _, n, _ in self.hooks)
        self._names = set().union(*(n for _, n, _ in self.hooks if n is not None)) if self.hooks else set()

    def gate_names(self):
        """The basenames an open must have to reach the Python hooks, for the engine's
        C pre-check (lxbrand.engine.apply_policy), which answers the view's files
        itself; None when some hook sees every open (a security rule: then every
        open must reach Python)."""
        if self._any:
            return None
        return frozenset().union(*(n for h, n, _ in self.hooks if h is not IN_C))

    # -- the handler ------------------------------------------------------------
    def __call__(self, call):
        a = call.args
        nr_name = _NAMES.get(call.nr)
        if nr_name == "open":
            dirfd, path_addr, flags, mode, resolve = AT_FDCWD, a[0], a[1], a[2], 0
        elif nr_name == "openat":
            dirfd, path_addr, flags, mode, resolve = _sint(a[0]), a[1], a[2], a[3], 0
        else:  # openat2(dirfd, path, struct open_how *, size): copy_struct_from_user rules
            size = a[3]
            if size < 24:
                raise OSError(errno.EINVAL, "open_how too small")
            if size > 4096:
                raise OSError(errno.E2BIG, "open_how too large")
            how = call.read(a[2], size)      # EFAULT raises: the same answer as the kernel's
            if len(how) < size:
                raise OSError(errno.EFAULT, "open_how")
            if any(how[24:]):
                raise OSError(errno.E2BIG, "unknown open_how fields")
            flags, mode, resolve = (int.from_bytes(how[i:i + 8], "little") for i in (0, 8, 16))
            dirfd, path_addr = _sint(a[0]), a[1]
        # Unreadable or overlong paths are answered here, as the kernel would, rather
        # than continued: the kernel would read memory that no hook saw.  The engine
        # may have read it already (path rules): then its copy is the one decided on.
        path = getattr(call, "path", None)
        if path is None:
            path = call.read_str(path_addr, PATH_MAX)
            if len(path) >= PATH_MAX:
                raise OSError(errno.ENAMETOOLONG, "path")
        if not self._any and path.rstrip(b"/").rpartition(b"/")[2] not in self._names:
            return CONTINUE  # the cheap pre-check: no /proc link read for most opens
        req = OpenRequest(call, nr_name, dirfd, path, flags & 0xFFFFFFFF, mode, resolve)
        base = req.basename
        for hook, names, _tag in self.hooks:
            if names is not None and base not in names:
                continue
            if hook is IN_C:
                fd = req.call.persona_serve(req.path, req.dirfd, req.flags, req.resolve)
                if fd is not None:
                    return fd
                continue
            verdict = hook(req)
            if verdict is None:
                continue
            if isinstance(verdict, Deny):
                raise OSError(verdict.errno, os.strerror(verdict.errno))
            if isinstance(verdict, Serve):
                return self._serve(req, verdict)
            raise TypeError(f"open hook {hook!r} returned {verdict!r} (expected None, Deny or Serve)")
        return CONTINUE

    # -- serving ----------------------------------------------------------------
    def _serve(self, req, verdict):
        if (req.flags & O_DIRECTORY or req.path.endswith(b"/")) and not isinstance(verdict.data, int):
            raise OSError(errno.ENOTDIR, "not a directory")  # content is a file; an fd may be a directory
        data = verdict.data
        if callable(data):
            data = data()
        if isinstance(data, int):
            fd = data
        else:
            fd = os.memfd_create(verdict.name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
                os.lseek(fd, 0, os.SEEK_SET)
            except BaseException:
                os.close(fd)
                raise
        self.served += 1
        try:
            return req.call.addfd(fd, send=True, cloexec=bool(req.flags & O_CLOEXEC))
        finally:
            os.close(fd)  # a Serve of an fd hands it over


def _nr_tables():
    from lxbrand import syscalls
    nrs = {n: syscalls.nr_of(n) for n in OPEN_SYSCALLS}
    return nrs, {v: k for k, v in nrs.items()}


_NRS, _NAMES = _nr_tables()


def pipeline(policy, create=True):
    """The policy's open pipeline; installed as the handler of open/openat/openat2 on
    first use (as the hook of [[path]] rules where they own the opens).  A deny or
    kill rule keeps its effect; another owner's trap of an open is a PolicyError
    (lxbrand.policy.Policy.place)."""
    pipe = getattr(policy, "file_pipeline", None)
    if pipe is not None or not create:
        return pipe
    pipe = FilePipeline()
    names = []
    for n in OPEN_SYSCALLS:
        r = policy.rules.get(n)
        if r is not None and r.fast == "path":
            r.handler = pipe  # the engine performs the open; the hooks see what the rules allow
        elif policy.action_of(n).action not in ("deny", "kill"):
            names.append(n)
    if names:
        policy.emulate(names, handler=pipe, owner=OWNER,
                       comment="open pipeline: personality files, remaps (lxbrand.handlers.files)")
    policy.file_pipeline = pipe
    return pipe
