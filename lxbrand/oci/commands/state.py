"""lxbrand state ID: the container's state as JSON (runtime-spec runtime.md#state)."""
import json


def add_args(p):
    p.add_argument("id")


def run(args, g):
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    print(json.dumps(c.oci_state(), indent=2))
    return 0
