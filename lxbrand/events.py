"""Security events of a sandbox as JSON (the frames: csrc/events.h; the schema:
docs/events.schema.json, described in docs/events.md).

    {"type": "exec", "id": "c1", "time": "2026-12-04T18:00:00.123456789Z", "pid": 7, "tid": 7,
     "data": {"filename": "/bin/cat", "argv": ["cat", "/etc/hostname"]}}
"""
import json
import struct
import time

from lxbrand import tracefmt

_EV = struct.Struct("<IHHiiiiiHHQ")
assert _EV.size == 40
KINDS = {1: "exec", 2: "connect", 3: "bind", 4: "denied"}
SOURCES = {0: None, 1: "syscall-rule", 2: "path-rule", 3: "network-rule"}


class Event:
    __slots__ = ("kind", "pid", "tid", "nr", "err", "rule", "source", "t_ns", "strings")

    def __init__(self, kind, pid, tid, nr, err, rule, source, t_ns, strings):
        self.kind, self.pid, self.tid, self.nr, self.err = kind, pid, tid, nr, err
        self.rule, self.source, self.t_ns, self.strings = rule, source, t_ns, strings

    @property
    def type(self):
        return KINDS.get(self.kind, f"kind-{self.kind}")

    def data(self):
        s = self.strings + [b""] * 3
        if self.kind == 1:
            argv = s[1].split(b"\0")
            if argv and argv[-1] == b"":
                argv.pop()
            return {"filename": _text(s[0]), "argv": [_text(a) for a in argv]}
        out = {}
        if self.kind in (2, 3):
            out.update(address(_text(s[0])))
            comment = s[1]
        else:
            out["syscall"] = tracefmt.call_name(self.nr) if self.nr >= 0 else None
            out["errno"] = tracefmt.errno_name(self.err) if self.err else None
            comment, op, what = s[0], s[1], s[2]
            if op:
                out["op"] = _text(op)
            if what:
                if self.source == 3:
                    out.update(address(_text(what)))
                else:
                    out["path"] = _text(what)
        out["source"] = SOURCES.get(self.source)
        out["rule"] = self.rule if self.rule >= 0 else None
        out["comment"] = _text(comment) or None
        return out

    def as_dict(self, sandbox_id):
        return {"type": self.type, "id": sandbox_id, "time": rfc3339(self.t_ns), "pid": self.pid,
                "tid": self.tid, "data": self.data()}


def _text(b):
    return b.decode("utf-8", "backslashreplace")


def address(text):
    """The parts of an address as csrc/events.c writes it (lx_addr_text)."""
    fam, _, rest = text.partition(":")
    out = {"address": text, "family": fam}
    if fam in ("inet", "inet6"):
        host, _, port = rest.rpartition(":")
        out["host"] = host.strip("[]")
        out["port"] = int(port) if port.isdigit() else None
    elif fam == "unix":
        out["path"] = rest
    return out


def rfc3339(t_ns):
    secs, ns = divmod(t_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ns:09d}Z"


def parse_event(buf, off, size):
    (_, _, kind, pid, tid, nr, err, rule, source, nstr, t_ns) = _EV.unpack_from(buf, off)
    strings, p, end = [], off + _EV.size, off + size
    for _ in range(nstr):
        if p + 4 > end:
            break
        n, = struct.unpack_from("<I", buf, p)
        strings.append(bytes(buf[p + 4:p + 4 + n]))
        p += 4 + n
    return Event(kind, pid, tid, nr, err, rule, source, t_ns, strings)


def dropped_line(sandbox_id, count):
    """What a client missed (the ring overtook it): one line of the stream too."""
    return {"type": "dropped", "id": sandbox_id, "time": rfc3339(time.time_ns()), "pid": 0, "tid": 0,
            "data": {"count": count}}


def json_line(d):
    return json.dumps(d, separators=(", ", ": "))
