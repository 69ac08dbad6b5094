"""lxbrand list [--format table|json] [--quiet]: the containers under --root."""
import json


def add_args(p):
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.add_argument("-q", "--quiet", action="store_true")


def run(args, g):
    from lxbrand.oci.state import Container
    states = [c.oci_state() for c in Container.list(g.root)]
    if args.quiet:
        for s in states:
            print(s["id"])
    elif args.format == "json":
        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
    return 0
