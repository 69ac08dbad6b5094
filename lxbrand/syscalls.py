"""The one syscall table.

Numbers and names come from libseccomp (never written by hand here).  Argument
shapes come from python-ptrace's prototypes, used to show trace lines of the
syscalls lxbrand/traceshapes.py does not list.  The first kernel release of
each syscall (`since`) comes from lxbrand/data/syscall_since.txt, which cites its
sources; the era emulation (lxbrand/personality/era.py) hides the syscalls newer
than an emulated release.  What the engine does with a syscall under every
policy, and why, is its `note` (ENGINE_NOTES, PROTECTION_NOTES): lxrun --explain
and SYSCALLS.md (lxbrand/explain.py) show it.
"""
import os
import re
from functools import lru_cache

from lxbrand import _core

NR_MAX = _core.NR_MAX
SINCE_FILE = os.path.join(os.path.dirname(__file__), "data", "syscall_since.txt")


class Syscall:
    """One row of the table.  (A plain class: dataclasses costs lxrun's start-up 15 ms.)"""
    __slots__ = ("name", "nr", "note")

    def __init__(self, name, nr, note=""):
        self.name = name
        self.nr = nr
        self.note = note      # what lxbrand does with it regardless of policy, if anything

    def __repr__(self):
        return f"Syscall({self.name!r}, {self.nr})"

    @property
    def params(self):
        """((ctype, name), ...) from python-ptrace's prototypes; () when unknown.
        Loaded on first use: only tracing needs it (the import costs ~30 ms)."""
        return _prototypes().get(self.name, ("", ()))[1]

    @property
    def since(self):
        """First Linux release with this x86_64 syscall, as (major, minor, patch);
        () if lxbrand/data/syscall_since.txt does not list it."""
        return since_data().get(self.name, ())


# Syscalls the engine treats the same way under every policy, and why: decided in
# Python (lxbrand.engine.plan) ...
ENGINE_NOTES = {
    "ptrace": "where the policy allows it, handed over to the program's debugger (unotify backend): "
              "the target must be a task of this sandbox, which the supervisor detaches for the call "
              "and takes back when the debugger lets go; PTRACE_O_EXITKILL is forced so the debuggee "
              "dies with its debugger as the debugger with the supervisor.  Refused (EPERM, said once "
              "on stderr) on the ptrace backend and while exec rules, path views, a recorded trace, "
              "exec events or a live trace need the supervisor as every task's tracer (csrc/debuggee.c, "
              "SECURITY.md)",
    "restart_syscall": "allowed under every policy: it is not a request of the program's but the "
                       "kernel's continuation of a call already judged (a sleep, a futex wait with a "
                       "timeout) after a stop; every ptrace stop, and a signal the program ignores, "
                       "makes one under lxbrand (a traced task is woken by ignored signals too), so "
                       "denying it failed those calls with the policy's errno (glibc aborts on an "
                       "unexpected futex error; restart_syscall(2))",
}
# ... and by the engine's own filter, stacked on the policy's (csrc/filter.c, which
# says which syscalls each protection covers: _core.protections).
PROTECTION_NOTES = {
    _core.PROT_TTY: "ioctl TIOCSTI and TIOCLINUX refused (EPERM) under every policy: they would type "
                    "commands into the terminal that started the sandbox (CVE-2016-7545)",
    _core.PROT_SUPERVISOR: "refused (EPERM) under every policy when aimed at the supervisor's pid "
                           "(same pid namespace): the program must not stop, starve or read the process "
                           "that judges it (SECURITY.md)",
    _core.PROT_LISTENER: "ptrace backend: a filter with a listener of its own (SECCOMP_FILTER_FLAG_NEW_LISTENER) "
                         "refused (EPERM): its answers would outrank the supervisor's traps",
}


def engine_note(name, nr):
    """What the engine does with a syscall under every policy ("" if nothing)."""
    notes = [ENGINE_NOTES[name]] if name in ENGINE_NOTES else []
    bits = _core.protections(nr)
    notes += [text for bit, text in PROTECTION_NOTES.items() if bits & bit]
    return "; ".join(notes)


@lru_cache(maxsize=None)
def _prototypes():
    try:
        from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES
    except ImportError:  # python-ptrace is a declared dependency; decode less without it
        return {}
    return SYSCALL_PROTOTYPES


def parse_release(text):
    """(major, minor, patch) of a kernel release string: "4.4.0-lx" -> (4, 4, 0),
    "2.6.16" -> (2, 6, 16), "5.10" -> (5, 10, 0).  None if it does not start with X.Y."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if not m:
        return None
    return (int(m[1]), int(m[2]), int(m[3] or 0))


@lru_cache(maxsize=None)
def since_data():
    """{name: (major, minor, patch)} from lxbrand/data/syscall_since.txt, for the
    names libseccomp numbers (the file may list newer ones for newer libseccomps)."""
    with open(SINCE_FILE, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if parts[0] == "@baseline":      # @baseline RELEASE LO-HI: every number in LO..HI
            rel = parse_release(parts[1])
            lo, hi = (int(x) for x in parts[2].split("-"))
            for nr in range(lo, hi + 1):
                name = _core.syscall_name(nr)
                if name:
                    out.setdefault(name, rel)
            continue
        if len(parts) != 2 or parse_release(parts[1]) is None:
            raise ValueError(f"syscall_since.txt:{lineno}: expected NAME RELEASE, got {line!r}")
        out[parts[0]] = parse_release(parts[1])
    return out


@lru_cache(maxsize=None)
def table():
    """{name: Syscall} for every x86_64 syscall libseccomp knows below NR_MAX."""
    out = {}
    for nr in range(NR_MAX):
        name = _core.syscall_name(nr)
        if name is not None:
            out[name] = Syscall(name, nr, engine_note(name, nr))
    return out


@lru_cache(maxsize=None)
def by_nr():
    return {s.nr: s for s in table().values()}


def highest_named():
    """The highest number libseccomp names: the ones above it (below NR_MAX) are
    syscalls newer than its table, or none yet."""
    return max(by_nr())


def nr_of(name):
    """Number of a syscall name, or None."""
    s = table().get(name)
    return s.nr if s else None


def name_of(nr):
    s = by_nr().get(nr)
    return s.name if s else f"syscall_{nr}"
