"""lxbrand update [--resources FILE|-] [--memory N ...] ID: change a container's cgroup
limits (a linux.resources object, or runc's individual flags)."""
import json
import sys

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")
    p.add_argument("-r", "--resources", default=None)
    for flag in ("memory", "memory-swap", "memory-reservation", "kernel-memory",
                 "kernel-memory-tcp", "cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-period",
                 "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight",
                 "l3-cache-schema", "mem-bw-schema"):
        p.add_argument("--" + flag, default=None)


def _int(v, flag):
    try:
        return int(v)
    except ValueError:
        raise OCIError(f"update --{flag}: not a number: {v!r}") from None


def run(args, g):
    from lxbrand.oci import cgroups
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    if c.status() == "stopped":
        raise OCIError(f"cannot update container {args.id!r}: it is stopped")
    if args.resources:
        try:
            data = sys.stdin.read() if args.resources == "-" else open(args.resources).read()
            res = json.loads(data)
        except (OSError, ValueError) as e:
            raise OCIError(f"update --resources {args.resources}: {e}") from None
    else:
        res = {"memory": {}, "cpu": {}, "pids": {}, "blockIO": {}}
        for attr, sect, key in (("memory", "memory", "limit"), ("memory_swap", "memory", "swap"),
                                ("memory_reservation", "memory", "reservation"),
                                ("cpu_shares", "cpu", "shares"), ("cpu_quota", "cpu", "quota"),
                                ("cpu_period", "cpu", "period"), ("pids_limit", "pids", "limit"),
                                ("blkio_weight", "blockIO", "weight")):
            v = getattr(args, attr)
            if v is not None:
                res[sect][key] = _int(v, attr.replace("_", "-"))
        if args.cpuset_cpus:
            res["cpu"]["cpus"] = args.cpuset_cpus
        if args.cpuset_mems:
            res["cpu"]["mems"] = args.cpuset_mems
    cgroups.apply(c.data.get("lxbrand", {}).get("cgroups") or {}, res)
    return 0
