"""lxbrand resume ID: thaw a paused container."""
from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")


def run(args, g):
    from lxbrand.oci import cgroups
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    st = c.status()
    if st != "paused":
        raise OCIError(f"cannot resume container {args.id!r}: it is {st}, not paused")
    cgroups.thaw(c.data.get("lxbrand", {}).get("cgroups") or {})
    return 0
