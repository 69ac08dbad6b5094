"""lxbrand events [--json] ID | --pid PID: the security events of a running container (or
lxrun sandbox) as JSON lines, until Ctrl-C or until it ends: execs, connects and binds,
denied calls with the rule that denied them and its comment (docs/events.md has the
schema).  What a container reports depends on how it started (csrc/events.h): its path
and network rules' verdicts always, execs while this is attached, and with the runtime's
--events (or the annotation org.lxbrand.events=true) connects, binds and syscall-rule
denials too.  A slow reader never holds the container up: what it misses is reported as
a "dropped" line.  (runc's `events` prints resource statistics; this one does not.)"""
import select
import signal
import sys
import time

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("--json", action="store_true", help="JSON lines (the only form; for clarity in scripts)")
    p.add_argument("--pid", type=int, default=None,
                   help="an lxrun sandbox instead of a container: any pid in it, or lxrun's own")
    p.add_argument("id", nargs="?", help="the container (a unique prefix of its id will do)")


def run(args, g):
    from lxbrand import events, live

    from .trace import locate, supervisors
    find = supervisors(g, args)
    sandbox = locate(g, args.id).id if args.pid is None else f"lxrun-{live.supervisor_of(args.pid)}"
    attached, gone, dropped, stop = {}, set(), {}, []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: stop.append(s))

    def attach_new():
        for pid in find():
            if pid not in attached and pid not in gone:
                try:
                    attached[pid] = live.Attachment(pid, live.EVENTS)
                except live.AttachError as e:
                    if not attached and not gone:
                        raise OCIError(str(e)) from None
                    gone.add(pid)

    try:
        attach_new()
    except live.AttachError as e:
        raise OCIError(str(e)) from None
    out = sys.stdout
    rescan = time.monotonic() + 1.0
    try:
        while attached and not stop:
            try:
                ready, _, _ = select.select(list(attached.values()), [], [], 0.5)
            except InterruptedError:
                continue
            lines = []
            for a in ready:
                for kind, value in a.read():
                    if kind == "event":
                        lines.append(events.json_line(value.as_dict(sandbox)))
                    elif kind in ("dropped", "bye") and value > dropped.get(a.sup_pid, 0):
                        lines.append(events.json_line(events.dropped_line(sandbox, value - dropped.get(a.sup_pid, 0))))
                        dropped[a.sup_pid] = value
                if a.ended:
                    a.close()
                    attached.pop(a.sup_pid, None)
                    gone.add(a.sup_pid)
            if lines:
                try:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                except BrokenPipeError:
                    break
            if time.monotonic() > rescan and not stop:
                try:
                    attach_new()
                except live.AttachError:
                    pass
                rescan = time.monotonic() + 1.0
    finally:
        for a in attached.values():
            a.close()
    return 0
