"""python -m bench [--suite micro|apps] [--quick] [--only NAMES] [--runners NAMES] [--out DIR]
[--compare OLD.json]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import harness
from bench.apps.image import ImageError
from bench.build import BuildError


def _names(s: str) -> list[str]:
    return [n.strip() for n in s.split(",") if n.strip()]


def parse(argv: list[str]) -> tuple[argparse.Namespace, harness.Options]:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the same workloads natively, under lxrun and under its peers; print a "
                    "Markdown table, write JSON (every sample) and a PNG chart.")
    ap.add_argument("--suite", choices=("micro", "apps"),
                    help="micro (default): syscall-level workloads natively and under each "
                         "sandbox; apps: real servers (redis, nginx, postgres, a python web "
                         "app), a build, density and docker exec/run in containers under every "
                         "Docker runtime (implied by --only with apps workloads)")
    ap.add_argument("--quick", action="store_true",
                    help="smaller workloads and fewer rounds (micro: a few minutes; apps: "
                         "under 10 minutes)")
    ap.add_argument("--only", type=_names, metavar="NAMES",
                    help="comma-separated workloads (see --list; apps: an app or one of its rows)")
    ap.add_argument("--runners", type=_names, metavar="NAMES",
                    help="comma-separated runners, shell globs allowed (lxrun-*); the reference "
                         "(micro: native, apps: runc) is always run")
    ap.add_argument("--rebuild-image", action="store_true",
                    help="apps: rebuild the image from Debian packages even if Docker has it")
    ap.add_argument("--out", type=Path, metavar="DIR",
                    help="where results.{md,json,png} go (default: bench/out; with --render: "
                         "beside the JSON)")
    ap.add_argument("--compare", type=Path, metavar="OLD.json",
                    help="print what got faster or slower than in OLD.json")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="relative change that counts in --compare (default 0.10)")
    ap.add_argument("--rounds", type=int,
                    help="interleaved rounds (default micro: 3 quick, 7 full; apps: 2 quick, "
                         "3 full)")
    ap.add_argument("--list", action="store_true", help="list workloads and runners, then exit")
    ap.add_argument("--render", type=Path, metavar="RESULTS.json",
                    help="redraw results.md and results.png from a results JSON, run nothing")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ns = ap.parse_args(argv)
    if ns.rounds is not None and ns.rounds < 1:
        ap.error("--rounds must be at least 1")
    try:
        suite = harness.suite_of(ns.suite, ns.only)
    except ValueError as e:
        ap.error(str(e))
    out = ns.out or (harness.Options.out / "apps" if suite == "apps" else harness.Options.out)
    return ns, harness.Options(quick=ns.quick, only=ns.only, runners=ns.runners, out=out,
                               compare=ns.compare, rounds=ns.rounds, threshold=ns.threshold,
                               progress=False if ns.no_progress else None, suite=suite,
                               rebuild_image=ns.rebuild_image)


def main(argv: list[str] | None = None) -> int:
    ns, opts = parse(sys.argv[1:] if argv is None else argv)
    try:
        if ns.list:
            harness.list_all(opts)
        elif ns.render:
            harness.render(ns.render, ns.out)
        else:
            harness.run(opts)
    except (ValueError, BuildError, ImageError, OSError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
