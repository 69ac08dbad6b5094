"""Observability: strace-like lines, JSON lines and a per-syscall summary.

The C engine records each traced syscall (number, arguments, the memory some of them
point to, result, timing: csrc/trace.h) without entering Python and hands the
records over in batches of frames; this module parses and formats them
(lxbrand/tracefmt.py shows each argument as strace does).  The same frames come from
a live attach (lxbrand/live.py).
"""
import json
import os
import struct

from lxbrand import _core, tracefmt, traceshapes

_KIND_NAMES = {_core.TRACE: "trace", _core.RETURN: "emulate", _core.UNAME: "emulate",
               _core.PYTHON: "emulate", _core.DENY: "deny", _core.ALLOW: "allow",
               _core.PATH: "path", _core.NET: "network", _core.WATCH: "watch",
               _core.PERSONA: "emulate"}

# csrc/trace.h
FRAME_CALL, FRAME_EVENT, FRAME_DROPPED, FRAME_HELLO, FRAME_BYE = 1, 2, 3, 4, 5
REC_RET, REC_LIVE = 1, 2
ITEM_TRUNC, ITEM_FAULT = 1, 2
_HDR = struct.Struct("<IHBBiiIIq6QQQ")
_ITEM = struct.Struct("<BBBBIQ")
assert _HDR.size == 96 and _ITEM.size == 16


class Item:
    """Memory the engine captured for one argument."""
    __slots__ = ("what", "flags", "full", "data")

    def __init__(self, what, flags, full, data):
        self.what, self.flags, self.full, self.data = what, flags, full, data

    @property
    def fault(self):
        return bool(self.flags & ITEM_FAULT)


class Record:
    """One traced syscall."""
    __slots__ = ("nr", "tid", "kind", "flags", "ret", "args", "t0", "dur", "items")

    def __init__(self, nr, tid, kind, flags, ret, args, t0, dur, items):
        self.nr, self.tid, self.kind, self.flags, self.ret = nr, tid, kind, flags, ret
        self.args, self.t0, self.dur, self.items = args, t0, dur, items

    @property
    def has_ret(self):
        return bool(self.flags & REC_RET)

    @property
    def name(self):
        return tracefmt.call_name(self.nr)

    def args_text(self, strsize=tracefmt.DEFAULT_STRSIZE):
        return tracefmt.show_args(self.nr, self.args, self.items, strsize)

    def result_text(self):
        return tracefmt.show_result(self.nr, self.has_ret, self.ret, self.args)

    def line(self, strsize=tracefmt.DEFAULT_STRSIZE, timing=True, note=True):
        """strace's line: `[pid N] name(args) = result <seconds>`."""
        s = f"[pid {self.tid}] {self.name}({', '.join(self.args_text(strsize))}) = {self.result_text()}"
        if note and self.kind not in (_core.TRACE, _core.ALLOW) and not self.flags & REC_LIVE:
            s += f" (lxbrand: {_KIND_NAMES.get(self.kind, self.kind)})"
        if timing:
            s += f" <{self.dur / 1e9:.6f}>"
        return s

    def as_dict(self, strsize=tracefmt.DEFAULT_STRSIZE):
        d = {"pid": self.tid, "syscall": self.name, "nr": self.nr, "args": self.args_text(strsize),
             "action": _KIND_NAMES.get(self.kind, str(self.kind)), "t_ns": self.t0, "dur_ns": self.dur}
        if self.has_ret:
            d["ret"] = self.ret
            if -4096 < self.ret < 0:
                d["errno"] = tracefmt.errno_name(-self.ret)
        else:
            d["ret"] = None
        return d


def parse_call(buf, off, size):
    """The Record of a FRAME_CALL frame at buf[off:off+size]."""
    (_, _, kind, flags, nr, tid, nitems, _, ret, a0, a1, a2, a3, a4, a5, t0, dur) = _HDR.unpack_from(buf, off)
    items = {}
    p = off + _HDR.size
    end = off + size
    for _ in range(nitems):
        if p + _ITEM.size > end:
            break
        arg, what, iflags, _, ln, full = _ITEM.unpack_from(buf, p)
        p += _ITEM.size
        items[arg] = Item(what, iflags, full, bytes(buf[p:p + ln]))
        p += (ln + 7) & ~7
    return Record(nr, tid, kind, flags, ret, (a0, a1, a2, a3, a4, a5), t0, dur, items)


def iter_frames(buf):
    """(type, offset, size) of each frame in a batch."""
    off, n = 0, len(buf)
    while off + 8 <= n:
        size, ftype = struct.unpack_from("<IH", buf, off)
        if size < 8 or off + size > n:
            raise ValueError(f"malformed trace frame at byte {off} (size {size})")
        yield ftype, off, size
        off += size


def parse_records(buf):
    return [parse_call(buf, off, size) for ftype, off, size in iter_frames(buf) if ftype == FRAME_CALL]


class RotatingFile:
    """A text file that is never longer than max_bytes: once it would be, it becomes
    PATH.1 (PATH.1 becomes PATH.2 ... up to PATH.keep, the oldest dropped) and PATH
    starts anew.  keep=0: PATH itself starts anew.  Whole lines are never split."""

    def __init__(self, path, max_bytes=None, keep=3):
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self.f = open(path, "w", encoding="utf-8")
        self.size = 0
        self.rotations = 0

    def write(self, text):
        """Write text, whole lines at a time: a text that does not fit goes to a new file
        (a batch longer than the cap goes line by line)."""
        if not self.max_bytes:
            self.f.write(text)
            return
        n = len(text.encode("utf-8", "surrogateescape"))
        if self.size + n > self.max_bytes and n > self.max_bytes and "\n" in text.rstrip("\n"):
            for line in text.splitlines(keepends=True):
                self.write(line)
            return
        if self.size and self.size + n > self.max_bytes:
            self._rotate()
        self.f.write(text)
        self.size += n

    def _rotate(self):
        self.f.close()
        for i in range(self.keep - 1, 0, -1):
            src = f"{self.path}.{i}"
            if os.path.exists(src):
                os.replace(src, f"{self.path}.{i + 1}")
        if self.keep:
            os.replace(self.path, f"{self.path}.1")
        self.f = open(self.path, "w", encoding="utf-8")
        self.size = 0
        self.rotations += 1

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()


class Tracer:
    """Receives record batches from the engine; writes trace lines; prints the summary.

    out: where per-call lines go (a file-like object with write/flush), or None for the
    summary alone.  Lines need each call's result, so with out the engine stops traced
    calls at their exit (csrc/trace.h); the summary alone costs one trap per call."""

    def __init__(self, out=None, as_json=False, summary=False, summary_out=None,
                 strsize=tracefmt.DEFAULT_STRSIZE):
        self.out = out
        self.as_json = as_json
        self.summary = summary
        self.summary_out = summary_out or out
        self.strsize = strsize
        self.count = 0

    @property
    def wants_results(self):
        return self.out is not None

    def capture_table(self):
        """{nr: capture plan} for the engine: what per-call lines show."""
        from lxbrand import syscalls
        return traceshapes.capture_table(syscalls.by_nr()) if self.out is not None else {}

    def records(self, data):
        recs = parse_records(data)
        self.count += len(recs)
        if self.out is None:
            return
        if self.as_json:
            text = "".join(json.dumps(r.as_dict(self.strsize)) + "\n" for r in recs)
        else:
            text = "".join(r.line(self.strsize) + "\n" for r in recs)
        self.out.write(text)
        self.out.flush()

    def finish(self, stats):
        if not self.summary:
            return
        out = self.summary_out
        if self.as_json:
            out.write(json.dumps({"summary": summary_rows(stats)}) + "\n")
        else:
            out.write(format_summary(stats))
        out.flush()


def json_line(d):
    return json.dumps(d, separators=(", ", ": "))


def summary_rows(stats):
    return [{"syscall": tracefmt.call_name(nr), "calls": c, "errors": e, "seconds": ns / 1e9}
            for nr, c, e, ns in sorted(stats, key=lambda r: -r[3])]


def format_summary(stats):
    """A table like strace -c: time is what the supervisor spent (a call answered or let
    through at its trap) or the call's time from its trap to its exit (traced with results);
    errors count the calls whose result was seen."""
    total = sum(ns for _, _, _, ns in stats) or 1
    lines = ["% time     seconds  usecs/call     calls    errors syscall",
             "------ ----------- ----------- --------- --------- ----------------"]
    calls = errs = 0
    for nr, c, e, ns in sorted(stats, key=lambda r: (-r[3], r[0])):
        calls += c
        errs += e
        lines.append(f"{100 * ns / total:6.2f} {ns / 1e9:11.6f} {ns / 1e3 / c:11.0f} {c:9d} "
                     f"{(str(e) if e else ''):>9} {tracefmt.call_name(nr)}")
    lines.append("------ ----------- ----------- --------- --------- ----------------")
    lines.append(f"100.00 {sum(r[3] for r in stats) / 1e9:11.6f} {'':>11} {calls:9d} {(str(errs) if errs else ''):>9} total")
    return "\n".join(lines) + "\n"
