"""Observability: strace-like lines, JSON lines and a per-syscall summary.

The C engine records each trapped syscall (number, arguments, up to two string
arguments read at the trap, result, timing) without entering Python, and hands
the records over in batches; this module only formats them.
"""
import errno as _errno
import json
import os
from functools import lru_cache

from lxbrand import _core, syscalls

_KIND_NAMES = {_core.TRACE: "trace", _core.RETURN: "emulate", _core.UNAME: "emulate",
               _core.PYTHON: "emulate", _core.DENY: "deny", _core.ALLOW: "allow"}
AT_FDCWD = -100
_OPEN_BITS = [(os.O_CREAT, "O_CREAT"), (os.O_EXCL, "O_EXCL"), (os.O_NOCTTY, "O_NOCTTY"),
              (os.O_TRUNC, "O_TRUNC"), (os.O_APPEND, "O_APPEND"), (os.O_NONBLOCK, "O_NONBLOCK"),
              (os.O_DIRECTORY, "O_DIRECTORY"), (os.O_NOFOLLOW, "O_NOFOLLOW"), (os.O_CLOEXEC, "O_CLOEXEC"),
              (getattr(os, "O_PATH", 0o10000000), "O_PATH"), (getattr(os, "O_TMPFILE", 0o20200000), "O_TMPFILE")]


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


_ACC = {os.O_WRONLY: "O_WRONLY", os.O_RDWR: "O_RDWR"}


@lru_cache(maxsize=256)
def _open_flags(v):
    parts = [_ACC.get(v & 3, "O_RDONLY")]
    rest = v & ~3
    for bit, name in _OPEN_BITS:
        if bit and rest & bit == bit:
            parts.append(name)
            rest &= ~bit
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def _quote(b):
    s = b.decode("utf-8", "backslashreplace")
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{s}"'


# How each argument is shown, decided once per syscall from its prototype.
_PTR, _DIRFD, _OFLAGS, _INT32, _INT64, _MODE, _OTHER = range(7)
_O_CREAT_OR_TMPFILE = os.O_CREAT | getattr(os, "O_TMPFILE", 0o20200000)


@lru_cache(maxsize=None)
def _plan(nr):
    """(name, [(kind), ...], index of open flags or -1) for a syscall number."""
    sc = syscalls.by_nr().get(nr)
    params = sc.params if sc else ()
    name = sc.name if sc else ""
    kinds = []
    for i in range(min(len(params) if params else 6, 6)):
        ctype, pname = params[i] if params else ("long", "")
        if "*" in ctype:
            k = _PTR
        elif pname in ("dirfd", "dfd", "olddfd", "newdfd", "fd"):
            k = _DIRFD
        elif pname == "flags" and name in ("open", "openat", "openat2"):
            k = _OFLAGS
        elif ctype in ("int", "pid_t"):
            k = _INT32
        elif ctype in ("long", "off_t", "loff_t", "ssize_t"):
            k = _INT64
        elif ctype in ("umode_t", "mode_t"):
            k = _MODE
        else:
            k = _OTHER
        kinds.append(k)
    flags_at = {"open": 1, "openat": 2}.get(name, -1)
    return kinds, flags_at


def _int32(v):
    v &= 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


def decode_args(nr, args, strs):
    """Render arguments the way strace does, as far as the prototype tells."""
    kinds, flags_at = _plan(nr)
    n = len(kinds)
    if flags_at >= 0 and not args[flags_at] & _O_CREAT_OR_TMPFILE:
        n = flags_at + 1  # the mode only matters with O_CREAT/O_TMPFILE (as strace shows it)
    out = []
    for i in range(n):
        v = args[i]
        if i in strs:
            s = strs[i]
            out.append(_quote(s) + ("..." if s is not None and len(s) >= _STRCAP - 1 else "") if s is not None
                       else hex(v))
            continue
        k = kinds[i]
        if k == _PTR:
            out.append("NULL" if v == 0 else hex(v))
        elif k == _DIRFD:
            sv = _int32(v)
            out.append("AT_FDCWD" if sv == AT_FDCWD else str(sv))
        elif k == _OFLAGS:
            out.append(_open_flags(v))
        elif k == _INT32:
            out.append(str(_int32(v)))
        elif k == _INT64:
            out.append(str(_signed(v)))
        elif k == _MODE:
            out.append(oct(v))
        else:
            out.append(str(v) if v < 4096 else hex(v))
    return out


_STRCAP = 96  # LX_STR_CAP in csrc/engine.h


def result_text(has_ret, ret):
    if not has_ret:
        return "?"
    if -4096 < ret < 0:
        e = -ret
        return f"-1 {_errno.errorcode.get(e, e)} ({os.strerror(e)})"
    return str(ret) if ret < 4096 else hex(ret & 0xffffffffffffffff)


class Tracer:
    """Receives record batches from the engine; writes trace lines; prints the summary."""

    def __init__(self, out=None, as_json=False, summary=False, summary_out=None):
        self.out = out                  # file for per-call lines, or None
        self.as_json = as_json
        self.summary = summary
        self.summary_out = summary_out or out
        self.count = 0

    def records(self, recs):
        self.count += len(recs)
        if self.out is None:
            return
        lines = []
        for nr, tid, kind, has_ret, ret, args, t0, dur, strs in recs:
            name = syscalls.name_of(nr)
            if self.as_json:
                d = {"pid": tid, "syscall": name, "nr": nr, "args": decode_args(nr, args, strs),
                     "action": _KIND_NAMES.get(kind, str(kind)), "t_ns": t0, "dur_ns": dur}
                if has_ret:
                    d["ret"] = ret
                    if -4096 < ret < 0:
                        d["errno"] = _errno.errorcode.get(-ret, str(-ret))
                else:
                    d["ret"] = None
                lines.append(json.dumps(d))
            else:
                note = "" if kind == _core.TRACE else f" (lxbrand: {_KIND_NAMES.get(kind, kind)})"
                lines.append(f"[pid {tid}] {name}({', '.join(decode_args(nr, args, strs))}) = "
                             f"{result_text(has_ret, ret)}{note} <{dur / 1e9:.6f}>")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def finish(self, stats):
        if not self.summary:
            return
        out = self.summary_out
        if self.as_json:
            rows = [{"syscall": syscalls.name_of(nr), "calls": c, "errors": e, "seconds": ns / 1e9}
                    for nr, c, e, ns in sorted(stats, key=lambda r: -r[3])]
            out.write(json.dumps({"summary": rows}) + "\n")
        else:
            out.write(format_summary(stats))
        out.flush()


def format_summary(stats):
    """A table like strace -c: time is what the supervisor spent (unotify) or the
    call's time between its trap and its exit (ptrace)."""
    total = sum(ns for _, _, _, ns in stats) or 1
    lines = ["% time     seconds  usecs/call     calls    errors syscall",
             "------ ----------- ----------- --------- --------- ----------------"]
    calls = errs = 0
    for nr, c, e, ns in sorted(stats, key=lambda r: (-r[3], r[0])):
        calls += c
        errs += e
        lines.append(f"{100 * ns / total:6.2f} {ns / 1e9:11.6f} {ns / 1e3 / c:11.0f} {c:9d} "
                     f"{(str(e) if e else ''):>9} {syscalls.name_of(nr)}")
    lines.append("------ ----------- ----------- --------- --------- ----------------")
    lines.append(f"100.00 {sum(r[3] for r in stats) / 1e9:11.6f} {'':>11} {calls:9d} {(str(errs) if errs else ''):>9} total")
    return "\n".join(lines) + "\n"
