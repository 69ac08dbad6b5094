"""lxbrand kill [--all] ID [SIGNAL]: signal init (the kernel's rules for a pid namespace's
init apply: a signal it has no handler for is dropped, but SIGKILL and SIGSTOP), or with
--all every process in the container's cgroups.  SIGNAL: a number (containerd sends numbers),
a name (TERM, SIGTERM); default SIGTERM.

A container that is not running is an error that says "container not running", runc's words
(libcontainer's ErrNotRunning): containerd's shim reads them to tell an exited container from a
failed kill (pkg/process checkKillError), and CRI's StopContainer and task-exit handling hang
and retry on any other text.  With --all a stopped container is no error, as in runc: what is
left in its cgroups is signalled (a shared pid namespace's orphans)."""
import os
import signal

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="SIGTERM")


def parse_signal(s):
    if s.isdigit():
        n = int(s)
        if 0 < n < signal.NSIG:
            return n
    else:
        name = s.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        sig = getattr(signal.Signals, name, None) if hasattr(signal.Signals, name) else None
        if sig is not None:
            return int(sig)
    raise OCIError(f"unknown signal {s!r}")


def kill(g, cid, sig, all_=False):
    from lxbrand.oci import cgroups
    from lxbrand.oci.state import Container
    c = Container.load(g.root, cid)
    st = c.status()
    if st == "stopped" and not all_:
        raise OCIError(f"{cid}: container not running")
    if all_:
        for pid in cgroups.procs(c.data.get("lxbrand", {}).get("cgroups", {})):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return
    try:
        os.kill(c.pid, sig)
    except ProcessLookupError:
        raise OCIError(f"{cid}: container not running") from None


def run(args, g):
    kill(g, args.id, parse_signal(args.signal), args.all)
    return 0
