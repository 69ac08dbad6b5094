"""Observability: strace-like lines, JSON lines and a per-syscall summary.

The C engine records each trapped syscall (number, arguments, up to two string
arguments read at the trap, result, timing) without entering Python, and hands
the records over in batches; this module only formats them.
"""
import errno as _errno
import json
import os

from lxbrand import _core, syscalls

_KIND_NAMES = {_core.TRACE: "trace", _core.RETURN: "emulate", _core.UNAME: "emulate",
               _core.PYTHON: "emulate", _core.DENY: "deny", _core.ALLOW: "allow"}
AT_FDCWD = -100
_OPEN_FLAGS = [(os.O_WRONLY, "O_WRONLY"), (os.O_RDWR, "O_RDWR")]
_OPEN_BITS = [(os.O_CREAT, "O_CREAT"), (os.O_EXCL, "O_EXCL"), (os.O_NOCTTY, "O_NOCTTY"),
              (os.O_TRUNC, "O_TRUNC"), (os.O_APPEND, "O_APPEND"), (os.O_NONBLOCK, "O_NONBLOCK"),
              (os.O_DIRECTORY, "O_DIRECTORY"), (os.O_NOFOLLOW, "O_NOFOLLOW"), (os.O_CLOEXEC, "O_CLOEXEC"),
              (getattr(os, "O_PATH", 0o10000000), "O_PATH"), (getattr(os, "O_TMPFILE", 0o20200000), "O_TMPFILE")]


def _signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _open_flags(v):
    acc = v & 3
    parts = [dict(_OPEN_FLAGS).get(acc, "O_RDONLY")]
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


def decode_args(nr, args, strs):
    """Render arguments the way strace does, as far as the prototype tells."""
    sc = syscalls.by_nr().get(nr)
    params = sc.params if sc else ()
    n = len(params) if params else 6
    if sc and sc.name in ("open", "openat"):
        fi = 1 if sc.name == "open" else 2  # the mode only matters with O_CREAT/O_TMPFILE (as strace shows it)
        if not args[fi] & (os.O_CREAT | getattr(os, "O_TMPFILE", 0o20200000)):
            n = fi + 1
    out = []
    for i in range(min(n, 6)):
        ctype, pname = params[i] if params else ("long", "")
        v = args[i]
        if i in strs:
            out.append(_quote(strs[i]) + ("..." if len(strs[i]) >= _core_strcap() - 1 else ""))
        elif "*" in ctype:
            out.append("NULL" if v == 0 else hex(v))
        elif pname in ("dirfd", "dfd", "olddfd", "newdfd", "fd") and _signed(v) & 0xffffffff == AT_FDCWD & 0xffffffff:
            out.append("AT_FDCWD")
        elif pname == "flags" and sc and sc.name in ("open", "openat", "openat2"):
            out.append(_open_flags(v))
        elif ctype in ("int", "long", "pid_t", "off_t", "loff_t", "ssize_t"):
            sv = _signed(v)
            if ctype == "int" or ctype == "pid_t":
                sv = (v & 0xffffffff) - (1 << 32) if v & 0x80000000 else v & 0xffffffff
            out.append(str(sv))
        elif ctype in ("umode_t", "mode_t"):
            out.append(oct(v))
        else:
            out.append(str(v) if v < 4096 else hex(v))
    return out


def _core_strcap():
    return 96


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
