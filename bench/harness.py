"""One harness run from start to finish: build, prepare, discover, measure, write the outputs.
`python -m bench` parses the command line and calls `run`; tests and the pytest-benchmark suite
use the pieces directly."""
from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import compare as cmp
from bench import machine, method, report, runners as rmod, workloads as wmod
from bench.build import build_all
from bench.progress import Progress


@dataclass
class Options:
    quick: bool = False
    only: list[str] | None = None
    runners: list[str] | None = None
    out: Path = Path(__file__).resolve().parent / "out"
    compare: Path | None = None
    rounds: int | None = None
    threshold: float = 0.10
    cache: Path | None = None
    progress: bool | None = None       # None: a bar when stderr is a terminal
    suite: str = "micro"               # micro: the syscall-level workloads; apps: real servers
    rebuild_image: bool = False        # apps: rebuild the image even if Docker has it


def suite_of(suite: str | None, only: list[str] | None) -> str:
    """The suite to run: as asked, else the one --only's names belong to (micro by default).
    Names of both suites at once are an error: the two report against different references."""
    from bench.apps import workloads as apps
    names = only or []
    in_apps = [n for n in names if n in apps.ROWS or n in {a.name for a in apps.APPS}]
    in_micro = [n for n in names if n in wmod.BY_NAME]
    if in_apps and in_micro:
        raise ValueError(f"--only mixes the micro suite ({', '.join(in_micro)}) and the apps "
                         f"suite ({', '.join(in_apps)}): run them separately")
    if suite is None:
        return "apps" if in_apps else "micro"
    if (suite == "apps" and in_micro) or (suite == "micro" and in_apps):
        raise ValueError(f"--only {','.join(in_micro or in_apps)} is not in the {suite} suite")
    return suite


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def discover(opts: Options, ctx: wmod.Context, host: rmod.Host | None = None):
    chosen = rmod.select(opts.runners)
    return chosen, rmod.discover(chosen, host or rmod.Host(), ctx)


def run(opts: Options, stdout=None, stderr=None) -> dict:
    if opts.suite == "apps":
        from bench.apps import harness as apps_harness
        return apps_harness.run(opts, stdout, stderr)
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    workloads = wmod.select(opts.only)
    old = report.load_json(opts.compare) if opts.compare else None   # fail early on a bad file
    rounds = opts.rounds or (3 if opts.quick else 7)
    bins = build_all(opts.cache)
    work = Path(tempfile.mkdtemp(prefix="lxbench-"))
    try:
        ctx = wmod.Context(bins, work, quick=opts.quick)
        for w in workloads:
            if w.prepare:
                w.prepare(ctx)
        chosen, live = discover(opts, ctx)
        for r in chosen:
            if not r.avail.ok:
                print(f"bench: {r.name}: not run: {r.avail.reason}. Install: {r.hint}",
                      file=stderr)
        plans = method.plan(workloads, live, ctx)
        total = sum(len(p.runners) for p in plans) * (rounds + 1)
        bar = Progress(total, stream=stderr, enabled=opts.progress)
        started = _now()
        load_start = machine.load()
        samples, notes = method.measure(plans, rounds, quick=opts.quick, progress=bar)
        bar.close()
        doc = report.build_doc(
            config={"quick": opts.quick, "rounds": rounds, "warmup": 1,
                    "only": opts.only, "runners": opts.runners, "argv": sys.argv[1:]},
            machine=dict(machine.describe(chosen), load_start=load_start), runners=chosen, workloads=workloads,
            samples=samples, notes=notes, started=started, finished=_now())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    opts.out.mkdir(parents=True, exist_ok=True)
    report.write_json(doc, opts.out / "results.json")
    md = report.markdown(doc)
    (opts.out / "results.md").write_text(md)
    why = report.chart(doc, opts.out / "results.png")
    stdout.write(md)
    if why:
        print(f"bench: {why}", file=stderr)
    if old is not None:
        text = cmp.render(cmp.compare(old, doc, opts.threshold), str(opts.compare), opts.threshold)
        (opts.out / "compare.md").write_text(text)
        stdout.write("\n" + text)
    print(f"bench: wrote {opts.out}/results.md, results.json"
          + ("" if why else ", results.png"), file=stderr)
    return doc


def render(path: Path, out: Path | None = None, stdout=None) -> dict:
    """--render: redraw the Markdown and the chart from a results JSON (no runs)."""
    doc = report.load_json(path)
    out = out or Path(path).parent
    out.mkdir(parents=True, exist_ok=True)
    if doc.get("suite") == "apps":
        from bench.apps import report as apps_report
        why = apps_report.write_all(apps_report.resummarize(doc), out, stdout or sys.stdout)
    else:
        doc = report.resummarize(doc)
        md = report.markdown(doc)
        (out / "results.md").write_text(md)
        why = report.chart(doc, out / "results.png")
        (stdout or sys.stdout).write(md)
    if why:
        print(f"bench: {why}", file=sys.stderr)
    return doc


def list_all(opts: Options, stdout=None) -> None:
    """--list: the workloads and each runner with its availability."""
    stdout = stdout or sys.stdout
    if opts.suite == "apps":
        from bench.apps import harness as apps_harness
        return apps_harness.list_all(opts, stdout)
    bins = build_all(opts.cache)
    ctx = wmod.Context(bins, Path(tempfile.gettempdir()), quick=True)
    print("workloads:", file=stdout)
    for w in wmod.WORKLOADS:
        print(f"  {w.name:12} {w.title} [{w.unit}]", file=stdout)
    chosen, _ = discover(opts, ctx)
    print("runners:", file=stdout)
    for r in chosen:
        state = "ok" if r.avail.ok else f"MISSING: {r.avail.reason}. Install: {r.hint}"
        print(f"  {r.name:24} {state}", file=stdout)
