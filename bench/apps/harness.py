"""`python -m bench --suite apps`: one run from start to finish — the image, the load
generators, runner discovery, the interleaved rounds, the outputs."""
from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

from bench import compare as cmp
from bench import machine
from bench import report as micro_report
from bench.apps import docker as dk
from bench.apps import image as img
from bench.apps import loadgen as lg
from bench.apps import method, report
from bench.apps import workloads as wl
from bench.progress import Progress
from bench.runners import Host, discover

# Interleaved rounds by default: each round of every app under every runner (full: ~35 minutes
# here; quick: shorter loads and 2 rounds, under 10 minutes).
ROUNDS = {True: 2, False: 3}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def setup(opts, stderr, host: Host | None = None):
    """The apps, the image, the context and the runners (discovered); raises ValueError or
    img.ImageError with what to do when something the run needs is missing."""
    apps = wl.select(opts.only)
    host = host or Host()
    docker = host.which("docker")
    if not docker:
        raise ValueError("the apps suite needs Docker: apt-get install -y docker.io (and a "
                         "running dockerd: bash .ci/setup-docker.sh)")
    missing = lg.missing_tools({t for a in apps for t in a.tools}, host.which)
    if missing:
        raise ValueError("the apps suite's load generators are missing on the host: "
                         f"apt-get install -y {' '.join(missing)}")
    tag = img.build(img.Builder(docker=docker,
                                say=lambda s: print(f"bench: {s}", file=stderr)),
                    rebuild=opts.rebuild_image)
    runners = dk.select(opts.runners)
    return apps, tag, runners, docker


def run(opts, stdout=None, stderr=None) -> dict:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    old = micro_report.load_json(opts.compare) if opts.compare else None
    apps, tag, runners, docker = setup(opts, stderr)
    rounds = opts.rounds or ROUNDS[opts.quick]
    work = Path(tempfile.mkdtemp(prefix="lxbench-apps-"))
    try:
        ctx = wl.Ctx(dk.Docker(docker), tag, work, quick=opts.quick)
        discover(runners, Host(), ctx)
        for r in runners:
            if not r.avail.ok:
                print(f"bench: {r.name}: not run: {r.avail.reason}. Install: {r.hint}",
                      file=stderr)
        live = [r for r in runners if r.avail.ok]
        if not any(r.name == dk.REFERENCE for r in live):
            raise ValueError(f"the reference runner {dk.REFERENCE} is not available: "
                             + next(r.avail.reason for r in runners if r.name == dk.REFERENCE))
        total = sum(len([r for r in live if a.applies(r)]) * (rounds + (1 if a.warmup else 0))
                    for a in apps)
        bar = Progress(total, stream=stderr, enabled=opts.progress)
        started, load_start = _now(), machine.load()
        samples, notes = method.measure(apps, live, ctx, rounds, progress=bar)
        bar.close()
        doc = report.build_doc(
            config={"quick": opts.quick, "rounds": rounds, "warmup": 1, "only": opts.only,
                    "runners": opts.runners, "argv": sys.argv[1:], "suite": "apps"},
            machine=dict(machine.describe(runners), load_start=load_start), runners=runners,
            apps=apps, samples=samples, notes=notes, started=started, finished=_now(),
            image=tag)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    opts.out.mkdir(parents=True, exist_ok=True)
    micro_report.write_json(doc, opts.out / "results.json")
    why = report.write_all(doc, opts.out, stdout)
    if why:
        print(f"bench: {why}", file=stderr)
    if old is not None:
        text = cmp.render(cmp.compare(old, doc, opts.threshold), str(opts.compare),
                          opts.threshold)
        (opts.out / "compare.md").write_text(text)
        stdout.write("\n" + text)
    print(f"bench: wrote {opts.out}/results.md, results.json"
          + ("" if why else ", results.png"), file=stderr)
    return doc


def list_all(opts, stdout) -> None:
    """--list --suite apps: the rows and the runners (probed: this builds the image)."""
    apps, tag, runners, docker = setup(opts, sys.stderr)
    print(f"apps workloads (image {tag}):", file=stdout)
    for a in apps:
        for row in a.rows:
            print(f"  {row.name:18} {row.title} [{row.unit}]", file=stdout)
    ctx = wl.Ctx(dk.Docker(docker), tag, Path(tempfile.gettempdir()), quick=True)
    discover(runners, Host(), ctx)
    print("apps runners:", file=stdout)
    for r in runners:
        state = "ok" if r.avail.ok else f"MISSING: {r.avail.reason}. Install: {r.hint}"
        print(f"  {r.name:16} {state}", file=stdout)
