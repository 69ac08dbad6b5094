"""How the apps suite measures: one container per runner, a checked warm-up, then interleaved
rounds with the runner order rotated each round (A B C, B C A, C A B, ...), so drift on the
machine and position in the round hit all runners alike. Servers of all runners are up at once
and idle while another runner is measured (postgres checkpoints after its round, so it stays
quiet).

Every round is checked (see workloads.py); a failed check fails that round's rows for that
runner with the reason. A runner whose container does not start, or whose warm-up fails, is
not run again for that app; one whose load generator timed out is not waited on again.
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass, field

from bench.apps.docker import AppRunner, DockerError
from bench.apps.loadgen import LoadError
from bench.apps.resp import RespError
from bench.apps.workloads import App, CheckError, Ctx, Handle
from bench.method import rotated
from bench.progress import Progress

# What a broken app, runtime or load generator raises; anything else is a bug of the harness.
FAILURES = (CheckError, LoadError, DockerError, RespError, OSError, subprocess.SubprocessError)


@dataclass
class AppSample:
    workload: str           # the row (redis-get, nginx-4k-c16, ...)
    runner: str
    round: int              # -1: warm-up (checked, not counted)
    value: float | None
    ok: bool
    reason: str = ""
    wall_s: float = 0.0     # the whole round of the app for this runner
    cpu_s: float | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _fail(app: App, runner: AppRunner, rnd: int, why: str, wall: float = 0.0
          ) -> list[AppSample]:
    return [AppSample(row.name, runner.name, rnd, None, False, why, wall) for row in app.rows]


def _reason(e: BaseException) -> str:
    return (str(e) or type(e).__name__).replace("\n", " | ")[:400]


def measure(apps: list[App], runners: list[AppRunner], ctx: Ctx, rounds: int,
            progress: Progress | None = None) -> tuple[list[AppSample], list[str]]:
    samples: list[AppSample] = []
    notes: list[str] = []
    for app in apps:
        rs = [r for r in runners if app.applies(r)]
        runs = len(rs) * (rounds + (1 if app.warmup else 0))
        done = 0

        def tick(label: str, n: int = 1):
            nonlocal done
            done += n
            if progress:
                progress.advance(label, n=n, group=app.name)

        handles: dict[str, Handle] = {}
        live: list[AppRunner] = []
        try:
            for r in rs:                               # start every server, then wait for each
                try:
                    handles[r.name] = app.open(r, ctx)
                except FAILURES as e:
                    samples += _fail(app, r, -1, f"container did not start: {_reason(e)}")
            for r in rs:
                h = handles.get(r.name)
                if h is None:
                    continue
                try:
                    app.ready(h, ctx)
                    live.append(r)
                except FAILURES as e:
                    samples += _fail(app, r, -1, f"not ready: {_reason(e)}")
                    app.close(handles.pop(r.name), ctx)
            if app.warmup:
                for r in list(live):
                    s = _round(app, handles[r.name], ctx, -1)
                    samples += s
                    tick(f"{app.name} · {r.name} (warm-up)")
                    if not all(x.ok for x in s):
                        live.remove(r)
                        app.close(handles.pop(r.name), ctx)
            hung: set[str] = set()
            for k in range(rounds):
                for r in rotated(live, k):
                    if r.name in hung:
                        tick(f"{app.name} · {r.name} (skipped)")
                        continue
                    s = _round(app, handles[r.name], ctx, k)
                    samples += s
                    if any("timed out" in x.reason for x in s):
                        hung.add(r.name)
                    tick(f"{app.name} · {r.name} ({k + 1}/{rounds})")
        finally:
            for h in handles.values():
                try:
                    app.close(h, ctx)
                except FAILURES as e:
                    notes.append(f"{app.name}: removing {h.runner.name}'s container: "
                                 f"{_reason(e)}")
            if done < runs:
                tick(app.name, runs - done)
        if not live:
            notes.append(f"{app.name}: no runner could run it")
    return samples, notes


def _round(app: App, h: Handle, ctx: Ctx, k: int) -> list[AppSample]:
    t0 = time.perf_counter()
    try:
        results = app.round(h, ctx, warmup=k < 0)
    except FAILURES as e:
        return _fail(app, h.runner, k, _reason(e), time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    out = []
    for row in app.rows:
        res = results.get(row.name)
        if res is None:
            out.append(AppSample(row.name, h.runner.name, k, None, False,
                                 "the app gave no result for this row", wall))
        else:
            out.append(AppSample(row.name, h.runner.name, k, res.value, True, "", wall,
                                 None, dict(res.extra)))
    return out
