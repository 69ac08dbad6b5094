"""The one syscall table.

Numbers and names come from libseccomp (never written by hand here).  Argument
shapes come from python-ptrace's prototypes, used to decode trace output and
to tell the C engine which arguments are strings.  What lxbrand does specially
with a syscall, and why, is in ENGINE_NOTES: the docs and tests derive from it.
"""
from dataclasses import dataclass
from functools import lru_cache

from lxbrand import _core

NR_MAX = _core.NR_MAX


@dataclass(frozen=True)
class Syscall:
    name: str
    nr: int
    params: tuple      # ((ctype, name), ...) from python-ptrace; () when unknown
    note: str = ""     # what lxbrand does with it regardless of policy, if anything

    @property
    def string_args(self):
        """Bit mask of the arguments that are NUL-terminated strings."""
        mask = 0
        for i, (ctype, pname) in enumerate(self.params[:6]):
            if ctype.replace(" ", "") in ("constchar*", "char*") and pname not in ("buf", "optval"):
                mask |= 1 << i
        return mask


# Syscalls the engine treats the same way under every policy, and why.
ENGINE_NOTES = {
    "ptrace": "denied (EPERM) under every policy: every task already has the supervisor as its "
              "tracer, and denying it keeps the program from tracing the supervisor "
              "(a debugger cannot run inside lxrun; see DIVERGENCE.md)",
}


@lru_cache(maxsize=None)
def table():
    """{name: Syscall} for every x86_64 syscall libseccomp knows below NR_MAX."""
    try:
        from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES as protos
    except ImportError:  # python-ptrace is a declared dependency; decode less without it
        protos = {}
    out = {}
    for nr in range(NR_MAX):
        name = _core.syscall_name(nr)
        if name is None:
            continue
        params = tuple(protos.get(name, ("", ()))[1])
        out[name] = Syscall(name, nr, params, ENGINE_NOTES.get(name, ""))
    return out


@lru_cache(maxsize=None)
def by_nr():
    return {s.nr: s for s in table().values()}


def nr_of(name):
    """Number of a syscall name, or None."""
    s = table().get(name)
    return s.nr if s else None


def name_of(nr):
    s = by_nr().get(nr)
    return s.name if s else f"syscall_{nr}"
