"""lxbrand ps [--format table|json] ID [PS OPTIONS]: the container's processes (json: a
list of host pids, what `docker top` asks for).  Supervisors are in the container's
cgroups but not in its pid namespace, and are left out."""
import argparse
import json
import os
import subprocess

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("-f", "--format", default="table", choices=("table", "json"))
    p.add_argument("id")
    p.add_argument("ps_args", nargs=argparse.REMAINDER)


def container_pids(c):
    from lxbrand.oci import cgroups
    lx = c.data.get("lxbrand", {})
    try:
        ns = os.stat(f"/proc/{lx.get('init_pid')}/ns/pid").st_ino
    except (OSError, TypeError):
        ns = None
    out = []
    for pid in cgroups.procs(lx.get("cgroups") or {}):
        try:
            if ns is not None and os.stat(f"/proc/{pid}/ns/pid").st_ino != ns:
                continue
        except OSError:
            continue
        out.append(pid)
    return out


def run(args, g):
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    pids = container_pids(c)
    if args.format == "json":
        print(json.dumps(pids))
        return 0
    ps = subprocess.run(["ps"] + (args.ps_args or ["-ef"]), capture_output=True, text=True)
    if ps.returncode != 0:
        raise OCIError(f"ps: {ps.stderr.strip()}")
    lines = ps.stdout.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise OCIError("ps output has no PID column")
    col = header.index("PID")
    print(lines[0])
    for line in lines[1:]:
        f = line.split()
        if len(f) > col and f[col].isdigit() and int(f[col]) in pids:
            print(line)
    return 0
