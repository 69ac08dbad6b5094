"""Attach to a running sandbox's supervisor: a live trace, or its events (csrc/live.h).

    with Attachment(sup_pid, TRACE, syscalls={0, 1}) as a:
        for kind, value in a.read():   # ("call", Record), ("event", Event), ("dropped", n), ("bye", n)
            ...

Every supervisor listens on the abstract UNIX socket "\\0lxbrand/sup/<its pid>".  It lets
in root and its own user, and no traced process; this side checks that the socket's
peer is the supervisor it meant (its pid), so a name taken by another process is an
error, never a false trace.
"""
import os
import socket
import struct

from lxbrand import trace

TRACE, EVENTS = 1, 2
MAGIC = 0x6c78746c  # "lxtl"
VERSION = 1
NAME = "lxbrand/sup/"
NR_MAX = 512
_PLAN = struct.Struct("<6B6H")
_HELLO = struct.Struct("<IHHiiiIII128s")
_DROPPED = struct.Struct("<IHHQ")
_RECV = 256 << 10
assert _PLAN.size == 18 and _HELLO.size == 160 and _DROPPED.size == 16


class AttachError(Exception):
    """The supervisor could not be reached, or refused (the message says why)."""


def request(what, syscalls=None, strsize=32, plans=None):
    """The bytes of struct lx_live_req: what (TRACE|EVENTS), the traced syscall numbers
    (None: all), the string size, the capture plans {nr: (what, param)}."""
    bits = bytearray(NR_MAX // 8)
    for nr in (range(NR_MAX) if syscalls is None else syscalls):
        if 0 <= nr < NR_MAX:
            bits[nr // 8] |= 1 << (nr % 8)
    plans = plans or {}
    empty = _PLAN.pack(*([0] * 12))
    table = b"".join(_PLAN.pack(*plans[nr][0], *plans[nr][1]) if nr in plans else empty for nr in range(NR_MAX))
    return struct.pack("<IIII", MAGIC, VERSION, what, strsize) + bytes(bits) + table


class Hello:
    __slots__ = ("backend", "err", "child", "sup", "version", "events", "why")

    def __init__(self, data):
        (_, _, self.backend, self.err, self.child, self.sup, self.version, self.events, _,
         why) = _HELLO.unpack_from(data)
        self.why = why.split(b"\0", 1)[0].decode(errors="replace")


class Attachment:
    """One supervisor, attached.  read() returns what has arrived (blocks until something
    does); fileno() for select/poll."""

    def __init__(self, sup_pid, what, syscalls=None, strsize=32, plans=None, timeout=5.0):
        self.sup_pid = sup_pid
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(f"\0{NAME}{sup_pid}")
            except OSError as e:
                raise AttachError(f"no lxbrand supervisor listens as pid {sup_pid} "
                                  f"({e.strerror or e}; is it running, in this network namespace?)") from None
            pid, uid, _ = struct.unpack("3i", self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                   struct.calcsize("3i")))
            if pid != sup_pid or uid not in (0, os.geteuid()):
                raise AttachError(f"the socket of supervisor {sup_pid} belongs to pid {pid} (uid {uid}): "
                                  "not an lxbrand supervisor; refusing it")
            try:
                self.sock.sendall(request(what, syscalls, strsize, plans))
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before it read us: its answer says why
            try:
                data = self.sock.recv(_RECV)
            except socket.timeout:
                raise AttachError(f"supervisor {sup_pid} did not answer") from None
            except ConnectionResetError:
                # it answered and closed before reading us: the answer is still queued
                try:
                    data = self.sock.recv(_RECV)
                except OSError:
                    data = b""
            if len(data) < _HELLO.size or struct.unpack_from("<IH", data)[1] != trace.FRAME_HELLO:
                raise AttachError(f"supervisor {sup_pid} answered something else than a hello")
            self.hello = Hello(data)
            if self.hello.err:
                raise AttachError(f"supervisor {sup_pid} refused: {self.hello.why} "
                                  f"({os.strerror(self.hello.err)})")
            self.sock.settimeout(None)
        except BaseException:
            self.sock.close()
            raise
        self.dropped = 0
        self.ended = False

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        """[(kind, value)]: ("call", Record), ("event", Event), ("dropped", total missed so
        far), ("bye", total missed): the sandbox is gone."""
        try:
            data = self.sock.recv(_RECV)
        except ConnectionResetError:
            data = b""
        if not data:
            self.ended = True
            return [("bye", self.dropped)]
        out = []
        for ftype, off, size in trace.iter_frames(data):
            if ftype == trace.FRAME_CALL:
                out.append(("call", trace.parse_call(data, off, size)))
            elif ftype == trace.FRAME_EVENT:
                from lxbrand import events
                out.append(("event", events.parse_event(data, off, size)))
            elif ftype in (trace.FRAME_DROPPED, trace.FRAME_BYE):
                self.dropped = _DROPPED.unpack_from(data, off)[3]
                out.append(("dropped" if ftype == trace.FRAME_DROPPED else "bye", self.dropped))
                if ftype == trace.FRAME_BYE:
                    self.ended = True
        return out

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tracer_of(pid):
    """The pid tracing pid (its supervisor), or 0."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def supervisor_of(pid):
    """The supervisor of a sandbox given by pid: pid itself if it is a supervisor (lxrun),
    else the process tracing it."""
    if os.path.exists(f"/proc/{pid}") and _listens(pid):
        return pid
    sup = tracer_of(pid)
    if not sup:
        raise AttachError(f"pid {pid} is not in a sandbox (nothing traces it) and is not a supervisor")
    return sup


def _listens(pid):
    """Does pid listen as a supervisor? (/proc/net/unix lists abstract names.)"""
    want = f"@{NAME}{pid}"
    try:
        with open("/proc/net/unix") as f:
            return any(line.rstrip().endswith(" " + want) for line in f)
    except OSError:
        return False


def supervisors_in_pidns(init_pid):
    """The supervisors of every process in init's pid namespace (a container's init and
    each `docker exec` process has one of its own), init's first."""
    try:
        ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError as e:
        raise AttachError(f"the container's init (pid {init_pid}) is gone ({e.strerror})") from None
    sups = [tracer_of(init_pid)]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/pid") != ns:
                continue
        except OSError:
            continue
        t = tracer_of(int(name))
        if t and t not in sups:
            sups.append(t)
    return [s for s in sups if s]
