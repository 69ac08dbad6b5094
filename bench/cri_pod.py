"""The cri-pod workload: what a Kubernetes node does to start a pod, timed from kubelet's side.

RunPodSandbox + CreateContainer + StartContainer + the first ExecSync, through containerd's CRI
plugin (bench/cri.py), once per run, under one runtime handler per runner: cri-runc and
cri-lxbrand, interleaved by the harness like every other runner.  Tearing the pod down
afterwards is not timed.  The native reference runs the same command (fork, exec, wait) on the
host: `echo` prints the line every runner must print.

    python -m bench --only cri-pod --runners 'cri-*'

The pod uses the host's network (no CNI time) and the busybox image .ci/setup-orchestrators.sh
imports; the endpoint is LXBRAND_CRI_ENDPOINT or the containerd that script starts.

Run as a program it is one measurement:
    python -m bench.cri_pod [--handler H] [--endpoint E] -- ARGV...
prints ARGV's output (run natively without --handler, else by ExecSync in a new pod) and
`LXBENCH ns=<elapsed> ops=1` on stderr.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

# workloads first: it imports this module at its end, and runners imports it (an import of
# this file as `python -m bench.cri_pod` then finds both whole)
from bench.workloads import Workload  # noqa: I001
from bench.runners import Availability, Runner, _probe

NAME = "cri-pod"
IMAGE = "localhost/lxbrand-test/busybox:latest"
ARGV = ["echo", "cri-pod ok"]

WORKLOAD = Workload(
    NAME, "CRI: RunPodSandbox + CreateContainer + StartContainer + first ExecSync",
    lambda c: [c.python, "-m", "bench.cri_pod", "--", *ARGV],
    metric="per_op", unit="µs/pod", kinds=("cri",),
    note="containerd's CRI plugin driven over gRPC as kubelet drives it (bench/cri.py), one pod "
         "per run, host network; native: the exec'd command alone")


class Cri(Runner):
    """A runtime handler of containerd's CRI plugin (RuntimeClass handler)."""
    kind = "cri"
    tree_cpu = False            # the pod is containerd's, not our child
    hint = ("bash .ci/setup-orchestrators.sh (a containerd with the CRI plugin and the handlers "
            "runc, lxbrand, lxbrand-strict; pip install grpcio grpcio-tools protobuf)")

    def __init__(self, handler: str):
        super().__init__()
        self.handler = handler
        self.name = f"cri-{handler}"
        self.description = f"containerd CRI, runtime handler {handler!r} (runc v2 shim)"

    def detect(self, host, ctx):
        try:
            from bench.cri import ENDPOINT, Client
            c = Client()
        except ImportError as e:
            return Availability(False, reason=str(e))
        try:
            why = c.ready()
            if why:
                return Availability(False, reason=why)
            if c.image_status(IMAGE) is None:
                return Availability(False, reason=f"image {IMAGE} is not in containerd's k8s.io "
                                                  "namespace")
            v = c.version()
        finally:
            c.close()
        why = _probe(host, self._argv(["true"], ctx), timeout=120)
        if why:
            return Availability(False, reason=why)
        return Availability(True, ENDPOINT, version=f"containerd {v.runtime_version}, "
                                                     f"handler {self.handler}")

    def _argv(self, argv, ctx):
        return [ctx.python, "-m", "bench.cri_pod", "--handler", self.handler, "--", *argv]

    def wrap(self, workload, argv, ctx):
        if workload.name != NAME:
            return None
        return self._argv(argv[argv.index("--") + 1:], ctx)


def pod_once(handler: str, argv: list[str], endpoint: str | None = None) -> tuple[int, bytes, bytes, int]:
    """(ns for the four calls, stdout, stderr, exit code) of ARGV in a new pod of HANDLER."""
    from bench.cri import ENDPOINT, Client
    with Client(endpoint or ENDPOINT) as c:
        cfg = c.pod_config("bench-cri-pod")
        t0 = time.perf_counter_ns()
        pod = c.run_pod(cfg, handler)
        try:
            cid = c.create_container(pod, cfg, "app", IMAGE, ["sleep", "3600"])
            c.start_container(cid)
            r = c.exec_sync(cid, argv)
            ns = time.perf_counter_ns() - t0
        finally:
            c.remove_pod_fully(pod)
        return ns, r.stdout, r.stderr, r.exit_code


def main(args: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cri_pod")
    ap.add_argument("--handler", help="CRI runtime handler (none: run ARGV natively)")
    ap.add_argument("--endpoint", help="CRI socket (default: LXBRAND_CRI_ENDPOINT or "
                                       "unix:///run/lxbrand-cri/containerd.sock)")
    ap.add_argument("argv", nargs="+")
    ns = ap.parse_args(args)
    if ns.handler:
        from bench.cri import CRIError
        try:
            elapsed, out, err, code = pod_once(ns.handler, ns.argv, ns.endpoint)
        except CRIError as e:
            print(f"cri-pod: {e}", file=sys.stderr)
            return 125
    else:
        t0 = time.perf_counter_ns()
        p = subprocess.run(ns.argv, capture_output=True)
        elapsed, out, err, code = time.perf_counter_ns() - t0, p.stdout, p.stderr, p.returncode
    sys.stdout.buffer.write(out)
    sys.stderr.buffer.write(err)
    print(f"LXBENCH ns={elapsed} ops=1", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
