"""lxbrand trace [-e trace=SET] [--summary] [--json] [-o FILE] [-s N] ID | --pid PID:
attach to a running container (or an lxrun sandbox, by any of its pids or lxrun's own)
and print its syscalls as strace -f -T does, until Ctrl-C or until it ends; then detach,
leaving it running and untraced, whatever policy it started with (csrc/live.h).

Every process of the container is traced: init's supervisor and each `docker exec`
process's (found again every second, so an exec started meanwhile is traced too).
Only root or the container's owner may attach; the supervisor checks (csrc/live.h)."""
import os
import select
import signal
import sys
import time

from lxbrand.oci.errors import OCIError

# where runtimes that call us keep their state, when --root is not given: Docker
# (--root <exec-root>/runtime-<name>/moby) and containerd's CRI (runtime root per namespace)
_STATE_GLOBS = ("/run/docker/runtime-*/moby", "/var/run/docker/runtime-*/moby", "/run/containerd/runc/*")


def add_args(p):
    p.add_argument("-e", dest="expr", default=None, metavar="trace=SET",
                   help="the syscalls to show: names, %%file, %%process, %%network, %%signal, %%desc, %%memory, "
                        "%%ipc, %%creds, %%clock, %%stat, /REGEX, a leading ! (as strace -e trace=)")
    p.add_argument("-c", "--summary", action="store_true",
                   help="print only a per-syscall table (as strace -c) when detaching")
    p.add_argument("--json", action="store_true", help="JSON lines (and the summary as one JSON line)")
    p.add_argument("-o", dest="output", default=None, metavar="FILE", help="write there instead of stdout")
    p.add_argument("-s", dest="strsize", type=int, default=32, metavar="N",
                   help="bytes of a string or buffer shown (strace -s; default 32)")
    p.add_argument("--pid", type=int, default=None,
                   help="an lxrun sandbox instead of a container: any pid in it, or lxrun's own")
    p.add_argument("id", nargs="?", help="the container (a unique prefix of its id will do)")


def locate(g, cid):
    """The Container for cid (or a unique prefix of an id) under --root, or, when --root
    was not given, under the roots Docker and containerd give their runtimes."""
    import glob

    from lxbrand.oci.state import DEFAULT_ROOT, Container
    roots = [g.root]
    if g.root == DEFAULT_ROOT:
        for pattern in _STATE_GLOBS:
            roots += sorted(glob.glob(pattern))
    found = []
    for root in roots:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        if cid in names:
            return Container.load(root, cid)
        found += [(root, n) for n in names if n.startswith(cid)]
    if len(found) == 1:
        return Container.load(*found[0])
    if found:
        raise OCIError(f"container id prefix {cid!r} is ambiguous: " + ", ".join(n for _, n in found[:5]))
    raise OCIError(f"container {cid!r} does not exist (looked in {', '.join(roots)})")


def supervisors(g, args):
    """() -> [supervisor pids] of what to attach to, looked up anew each time."""
    from lxbrand import live
    if args.pid is not None:
        sup = live.supervisor_of(args.pid)
        return lambda: [sup]
    if not args.id:
        raise OCIError("trace: give a container ID, or --pid PID for an lxrun sandbox")
    c = locate(g, args.id)
    init = (c.data.get("lxbrand") or {}).get("init_pid")
    if not init:
        raise OCIError(f"container {c.id!r} has no init process (not created?)")
    return lambda: live.supervisors_in_pidns(init)


def _devnull_stdout():
    """Where stdout goes once its reader has gone: nowhere (no second broken pipe at exit)."""
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, sys.stdout.fileno())
    os.close(fd)


def run(args, g):
    from lxbrand import live
    from lxbrand import trace as tr
    from lxbrand import traceshapes
    if not 1 <= args.strsize <= 4096:
        raise OCIError(f"-s: expected 1..4096, got {args.strsize}")
    try:
        chosen = traceshapes.trace_set(args.expr) if args.expr else None
    except traceshapes.TraceSetError as e:
        raise OCIError(str(e)) from None
    find = supervisors(g, args)
    from lxbrand import syscalls
    nrs = chosen if chosen is not None else set(syscalls.by_nr())
    plans = {} if args.summary else traceshapes.capture_table(nrs, listed_only=True)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    stats = {}  # nr -> [calls, errors, ns]
    attached, dropped, gone = {}, {}, set()
    stop = []

    def on_signal(sig, frame):
        stop.append(sig)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    def attach_new():
        try:
            pids = find()
        except live.AttachError as e:
            if not attached:
                raise OCIError(str(e)) from None
            return
        for pid in pids:
            if pid in attached or pid in gone:
                continue
            try:
                attached[pid] = live.Attachment(pid, live.TRACE, chosen, args.strsize, plans)
            except live.AttachError as e:
                if not attached and not gone:
                    raise OCIError(str(e)) from None
                gone.add(pid)  # it ended meanwhile (an exec that finished)

    attach_new()
    if not attached:
        raise OCIError("nothing to attach to: the sandbox has no supervisor left")
    print(f"lxbrand trace: attached to {len(attached)} supervisor(s) "
          f"({', '.join(str(p) for p in attached)}); Ctrl-C detaches", file=sys.stderr, flush=True)
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
                    if kind == "call":
                        r = value
                        if args.summary:
                            row = stats.setdefault(r.nr, [0, 0, 0])
                            row[0] += 1
                            row[1] += r.has_ret and -4096 < r.ret < 0
                            row[2] += r.dur
                        elif args.json:
                            lines.append(tr.json_line(r.as_dict(args.strsize)))
                        else:
                            lines.append(r.line(args.strsize))
                    elif kind in ("dropped", "bye"):
                        if value > dropped.get(a.sup_pid, 0):
                            print(f"lxbrand trace: supervisor {a.sup_pid}: {value} record(s) dropped so far "
                                  "(this reader was too slow; the program was not held up)", file=sys.stderr)
                        dropped[a.sup_pid] = value
                if a.ended:
                    a.close()
                    attached.pop(a.sup_pid, None)
                    gone.add(a.sup_pid)
            if lines:
                try:
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                except BrokenPipeError:  # the reader went (`| head`): detach, as strace does
                    stop.append(signal.SIGPIPE)
                    _devnull_stdout()
            if time.monotonic() > rescan and not stop:
                attach_new()
                rescan = time.monotonic() + 1.0
    finally:
        for a in attached.values():
            a.close()  # detach: the supervisor stops the syscall stops
        if args.summary:
            rows = [(nr, c, e, ns) for nr, (c, e, ns) in stats.items()]
            if args.json:
                out.write(tr.json_line({"summary": tr.summary_rows(rows)}) + "\n")
            else:
                out.write(tr.format_summary(rows))
        total = sum(dropped.values())
        if total:
            print(f"lxbrand trace: {total} record(s) dropped in all", file=sys.stderr)
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    return 0
