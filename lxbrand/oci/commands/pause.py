"""lxbrand pause ID: freeze every process of the container (freezer cgroup)."""
from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")


def run(args, g):
    from lxbrand.oci import cgroups
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    st = c.status()
    if st != "running":
        raise OCIError(f"cannot pause container {args.id!r}: it is {st}")
    cgroups.freeze(c.data.get("lxbrand", {}).get("cgroups") or {})
    return 0
