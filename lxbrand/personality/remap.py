"""File remap and syscall remap.

File remap (--file GUEST=HOST, [personality.files]): an open of GUEST, as the
guest names it (its root and cwd; lexical, symlinks not followed), is served
from a host file the supervisor opens, or from generated content.  The guest
never gets to choose what the supervisor opens: the host path is fixed when the
policy is built, and the guest's path is read once.

Syscall remap (ptrace backend): a rule turns one syscall into another with
rewritten arguments, e.g. serve a syscall the host lacks through an older
equivalent, as PRoot's kompat extension does.  Each argument of the replacement
is a constant or "argN" (the original's argument N).  The kernel runs the
replacement, checked again by the filter, and the program gets its result.
"""
import errno
import os
import posixpath

from lxbrand import syscalls
from lxbrand.handlers.files import Serve
from lxbrand.personality.rules import emulate

OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)


class FileRemap:
    """guest path -> host path (str) or content (bytes)."""

    def __init__(self, files):
        self.files = {}
        for guest, src in files.items():
            self.files[posixpath.normpath(guest)] = src

    def hook(self, req):
        src = self.files.get(req.guest_path)
        if src is None or not req.read_only:
            return None  # writes go to the real path (DIVERGENCE.md)
        if isinstance(src, bytes):
            return Serve(src, name=posixpath.basename(req.guest_path))
        try:
            fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise OSError(e.errno, f"remapped file {src}") from None
        return Serve(fd)


class SyscallRemap:
    """One rule: `syscall` runs as `to` with `args` (ints, or "argN" strings)."""

    def __init__(self, syscall, to, args=None, source="<api>", key="remap"):
        from lxbrand.errors import PolicyError
        table = syscalls.table()
        for k, n in (("syscall", syscall), ("to", to)):
            if n not in table:
                raise PolicyError(source, f"{key}.{k}", f"unknown syscall {n!r}")
        self.syscall, self.to = syscall, to
        self.to_nr = table[to].nr
        spec = list(args) if args is not None else [f"arg{i}" for i in range(6)]
        if len(spec) > 6:
            raise PolicyError(source, f"{key}.args", "at most 6 arguments")
        self.args = []
        for i, a in enumerate(spec):
            if isinstance(a, bool) or not isinstance(a, (int, str)):
                raise PolicyError(source, f"{key}.args[{i}]", f"expected an integer or \"argN\", got {a!r}")
            if isinstance(a, str):
                if not (len(a) == 4 and a.startswith("arg") and a[3] in "012345"):
                    raise PolicyError(source, f"{key}.args[{i}]", f"expected \"arg0\"..\"arg5\", got {a!r}")
            elif not -(2 ** 63) <= a < 2 ** 64:
                raise PolicyError(source, f"{key}.args[{i}]", "out of the 64-bit range")
            self.args.append(a)
        self.args += [0] * (6 - len(self.args))

    def __call__(self, call):
        if call.backend != "ptrace":
            # A rewrite needs the registers: only the ptrace backend has them.
            raise OSError(errno.ENOSYS, "syscall remap needs the ptrace backend")
        orig = call.args
        new = [orig[int(a[3])] if isinstance(a, str) else a & 0xFFFFFFFFFFFFFFFF for a in self.args]
        return call.rewrite(self.to_nr, new)

    def describe(self):
        return f"{self.syscall} -> {self.to}({', '.join(map(str, self.args))})"


def install(policy, pipe, files, remaps, tag):
    if files:
        fr = FileRemap(files)
        pipe.add(fr.hook, names={posixpath.basename(g) for g in fr.files}, first=False, tag=tag)
    for r in remaps:
        emulate(policy, r.syscall, OWNER, handler=r, comment=f"personality remap: {r.describe()}")
