"""lxbrand start ID: release init (blocked opening exec.fifo for writing), run poststart."""
import os
import select
import time

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")


def start(g, cid, timeout=None):
    from lxbrand.oci import hooks
    from lxbrand.oci.state import Container
    c = Container.load(g.root, cid)
    st = c.status()
    if st != "created":
        raise OCIError(f"cannot start container {cid!r}: it is {st}, not created")
    try:
        # O_NONBLOCK: opening cannot hang if init died; its blocked open(O_WRONLY) returns
        fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OCIError(f"cannot start container {cid!r}: already started") from None
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                data = os.read(fd, 1)
                if data:
                    break
            if not c.alive():
                raise OCIError(f"cannot start container {cid!r}: its init exited")
            if deadline is not None and time.monotonic() > deadline:
                raise OCIError(f"cannot start container {cid!r}: init did not respond")
    finally:
        os.close(fd)
    try:
        os.unlink(c.fifo)
    except FileNotFoundError:
        pass
    # runtime-spec: a failing poststart hook is logged, the others and the container go on
    hooks.run_logged("poststart", c.data.get("lxbrand", {}).get("hooks"), c.oci_state())
    return c


def run(args, g):
    start(g, args.id)
    return 0
