"""lxbrand delete [--force] ID: remove a stopped (or created) container: its cgroups,
poststop hooks, state directory.  --force kills a running one first.  Mounts need no
cleanup: they live in the container's mount namespace, gone with its last process."""
import os
import signal
import time

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("id")


# seconds a supervisor may take to finish after its tree is gone (csrc/runtime/delete.c too)
SUPERVISOR_GRACE = 5.0


def _wait_dead(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while c.alive():
        if time.monotonic() > deadline:
            raise OCIError(f"container {c.id!r}: init {c.pid} did not die")
        time.sleep(0.005)


def delete(g, cid, force=False):
    from lxbrand.oci import cgroups, hooks
    from lxbrand.oci.state import Container, NotFound
    try:
        c = Container.load(g.root, cid)
    except NotFound:
        if force:
            return
        raise
    st = c.status()
    if st not in ("stopped", "created") and not force:
        raise OCIError(f"cannot delete container {cid!r} that is not stopped: {st}")
    if c.alive():
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_dead(c)
    lx = c.data.get("lxbrand", {})
    # Init is gone, and with a pid namespace of its own every process with it; without one
    # (--pid=host) the rest lives on: kill it through the cgroups, as runc does.  Then the
    # supervisor exits by itself once it has finished its work (a trace file is closed with
    # its summary): give it a moment, and kill it only if it does not go.
    for pid in cgroups.procs(lx.get("cgroups") or {}):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + SUPERVISOR_GRACE
    while c.supervisor_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if c.supervisor_alive():
        try:
            os.kill(lx["sup_pid"], signal.SIGKILL)  # its remaining tracees die with it
        except ProcessLookupError:
            pass
    if lx.get("host_mounts"):
        from lxbrand.oci import rootfs
        rootfs.detach_host_mounts(*lx["host_mounts"])
    cgroups.destroy(lx.get("cgroups") or {})
    # runtime-spec: a failing poststop hook is logged, the others and the delete go on
    hooks.run_logged("poststop", lx.get("hooks"), dict(c.oci_state(), status="stopped"))
    c.remove()


def run(args, g):
    delete(g, args.id, args.force)
    return 0
