"""pytest-benchmark suite for the micro cases: per-trap cost beside native and the peers.

Not collected by the main test run (pyproject's testpaths is tests/). Run it with:

    python -m pytest bench/test_micro.py --benchmark-only

pytest-benchmark times the whole process (start-up included); the per-call cost the loop
measures itself is in each benchmark's extra_info["us_per_call"] (median over the rounds), and
every round's output is checked against the native run before it counts, as in `python -m bench`.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import pytest

from bench import method, runners as R
from bench.build import build_all
from bench.workloads import BY_NAME, Context

MICRO = ["getpid", "getppid-c", "getppid-py", "openat-trace"]
RUNNERS = ["native", "lxrun-unotify", "lxrun-unotify-traceall", "lxrun-ptrace",
           "lxrun-ptrace-traceall", "strace", "proot", "floor-unotify", "floor-unotify-nosync",
           "floor-ptrace"]


@pytest.fixture(scope="session")
def setup():
    with tempfile.TemporaryDirectory(prefix="lxbench-micro-") as work:
        ctx = Context(build_all(), Path(work), quick=True)
        rs = {r.name: r for r in R.all_runners() if r.name in RUNNERS}
        R.discover(list(rs.values()), R.Host(), ctx)
        yield ctx, rs, method.bench_env(), {}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("workload", MICRO)
def test_micro(benchmark, setup, workload, runner):
    ctx, rs, env, refs = setup
    r, w = rs[runner], BY_NAME[workload]
    if not w.floor and r.kind == "floor":
        pytest.skip(f"the floors trap getppid only; {workload} is not theirs")
    if not r.avail.ok:
        pytest.skip(f"{runner} not available: {r.avail.reason}. Install: {r.hint}")
    argv = w.command(ctx)
    cmd = r.wrap(w, argv, ctx)
    if workload not in refs:
        refs[workload] = method.run_command(rs["native"].wrap(w, argv, ctx), env)
    ref = refs[workload]
    per_call: list[float] = []

    def once():
        res = method.run_command(cmd, env)
        why = method.check(res, ref) or method.check_answered(w, r, res)
        assert not why, f"{runner} on {workload}: {why}"
        per_call.append(method.parse_timing(res.stderr))

    benchmark.pedantic(once, rounds=5, warmup_rounds=1, iterations=1)
    benchmark.extra_info["us_per_call"] = statistics.median(per_call)
    benchmark.extra_info["calls"] = int(argv[-1])
