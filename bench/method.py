"""How the harness measures: warm-up, interleaved rounds, and a correctness check of every run.

For each workload: one warm-up run per runner, native first (its output is the reference),
then ROUNDS rounds in which every runner runs once, the order rotated each round (A B C, B C A,
C A B, ...) so drift on the machine and position in the round hit all runners alike.
Every run, warm-ups included, must exit as native did and print what native printed: a fast
wrong answer never counts. A runner that fails its warm-up, or times out in any round, is not
run again for that workload (its reason is reported), which keeps a broken or hung sandbox from
eating the time budget.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from bench.progress import Progress
from bench.runners import Runner
from bench.workloads import REPO, Context, Workload

TIMING = re.compile(rb"LXBENCH ns=(\d+) ops=(\d+)")
ANSWERED = re.compile(rb"LXBENCH ns=\d+ ops=(\d+) ones=(\d+)")


@dataclass
class RunResult:
    returncode: int
    stdout: bytes
    stderr: bytes
    wall_s: float
    cpu_s: float = 0.0
    timed_out: bool = False
    maxrss_kib: int | None = None    # peak resident set of the largest process in the tree


@dataclass
class Sample:
    workload: str
    runner: str
    round: int          # -1: warm-up (checked, not counted)
    wall_s: float
    cpu_s: float | None  # user + system time of the whole process tree (None: not ours to see)
    value: float | None  # the workload's metric: seconds, or µs per op
    ok: bool
    reason: str = ""
    returncode: int = 0
    # Peak RSS (KiB) of the largest process of the tree. The kernel keeps a process's high-water
    # mark across execve (exec_mmap), so it never reads below the harness's own RSS at fork.
    maxrss_kib: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def bench_env(base: dict | None = None) -> dict:
    """The environment of every run, the same for all runners. PYTHONPATH lets lxrun import the
    harness's Python handler (bench.handlers); the python workloads run with -I and ignore it."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["LC_ALL"] = "C"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_command(argv: list[str], env: dict | None = None, timeout: float = 300) -> RunResult:
    """Run ARGV to completion with stdin from /dev/null, capturing its output.

    The child is reaped with wait4(2), whose rusage covers the child and every descendant it
    reaped: the CPU time of the whole tree (a supervisor and its program alike) and the peak
    resident set of its largest process. Wall time ends when the child exits. On timeout the
    child's whole session is killed."""
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as e:
        return RunResult(127, b"", str(e).encode(), time.perf_counter() - t0)
    bufs: dict[str, bytes] = {}

    def drain(name, f):
        bufs[name] = f.read()
        f.close()
    readers = [threading.Thread(target=drain, args=(n, f), daemon=True)
               for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in readers:
        t.start()
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    while True:
        try:
            _, status, ru = os.wait4(p.pid, 0)
            break
        except InterruptedError:
            continue
    wall = time.perf_counter() - t0
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        # A descendant that outlived the child may hold the pipes open: do not wait forever.
        t.join(timeout=max(1.0, timeout - wall))
    if any(t.is_alive() for t in readers):
        kill()
        for t in readers:
            t.join()
    return RunResult(p.returncode, bufs.get("out", b""), bufs.get("err", b""), wall,
                     ru.ru_utime + ru.ru_stime, timed_out.is_set(), ru.ru_maxrss)


def parse_timing(stderr: bytes) -> float | None:
    """µs per op from the last `LXBENCH ns=N ops=M` line a workload program printed."""
    found = TIMING.findall(stderr)
    if not found:
        return None
    ns, ops = (int(x) for x in found[-1])
    return ns / 1000 / ops if ops else None


def _tail(b: bytes, n: int = 160) -> str:
    s = b.decode(errors="replace").strip().replace("\n", " | ")
    return s[-n:]


def check(result: RunResult, reference: RunResult, timeout: float | None = None) -> str:
    """Why RESULT does not count against REFERENCE (the native run), or "" if it does."""
    if result.timed_out:
        return f"timed out after {timeout or result.wall_s:.0f} s"
    if result.returncode != reference.returncode:
        return (f"exit status {result.returncode}, native {reference.returncode}"
                + (f": {_tail(result.stderr)}" if result.stderr.strip() else ""))
    if result.stdout != reference.stdout:
        got = result.stdout.decode(errors="replace").splitlines()
        want = reference.stdout.decode(errors="replace").splitlines()
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return f"output differs from native at line {i + 1}: {g[:60]!r} != {w[:60]!r}"
        return f"output differs from native: {len(got)} lines, native {len(want)}"
    return ""


def check_answered(workload: Workload, runner: Runner, result: RunResult) -> str:
    """Where the runner applies the workload's emulating rules (lxrun, the floors), every trapped
    call must have been answered by them: a loop that ran untrapped would be fast and print the
    same, so its `ones=` count (calls that returned the emulated 1) must equal its `ops=`."""
    if not (workload.emulates and runner.applies_policy):
        return ""
    found = ANSWERED.findall(result.stderr)
    if not found:
        return "no `LXBENCH ... ones=` count on stderr"
    ops, ones = (int(x) for x in found[-1])
    return "" if ones == ops else f"not answered by the policy: {ones} of {ops} calls returned 1"


def metric(workload: Workload, result: RunResult) -> tuple[float | None, str]:
    """The workload's value for one passing run, or (None, why) when it cannot be read."""
    if workload.metric == "per_op":
        v = parse_timing(result.stderr)
        return (v, "") if v is not None else (None, "no `LXBENCH ns= ops=` line on stderr")
    return result.wall_s, ""


def rotated(items: list, k: int) -> list:
    """ITEMS rotated left by K: round k of the interleaving."""
    if not items:
        return []
    k %= len(items)
    return items[k:] + items[:k]


@dataclass
class Plan:
    workload: Workload
    runners: list[tuple[Runner, list[str]]]   # (runner, its command) for the runners that apply


def plan(workloads: list[Workload], runners: list[Runner], ctx: Context) -> list[Plan]:
    out = []
    for w in workloads:
        argv = w.command(ctx)
        rs = [(r, cmd) for r in runners
              if (not w.kinds or r.kind == "native" or r.kind in w.kinds)
              and (cmd := r.wrap(w, argv, ctx)) is not None]
        out.append(Plan(w, rs))
    return out


def timeout_for(native_wall: float, quick: bool) -> float:
    """Generous for slow sandboxes (ptrace of every syscall can be 100× native), bounded so a hung
    run cannot eat the budget."""
    return min(max(30.0, native_wall * 200), 60.0 if quick else 120.0)


def measure(plans: list[Plan], rounds: int, quick: bool = False, env: dict | None = None,
            progress: Progress | None = None,
            run: Callable[..., RunResult] = run_command) -> tuple[list[Sample], list[str]]:
    """Run every plan; return all samples (warm-ups included) and notes on skipped workloads."""
    env = bench_env() if env is None else env
    samples: list[Sample] = []
    notes: list[str] = []
    for p in plans:
        w = p.workload
        runs_left = len(p.runners) * (rounds + 1)
        native = [(r, c) for r, c in p.runners if r.kind == "native"]
        others = [(r, c) for r, c in p.runners if r.kind != "native"]
        if not native:
            notes.append(f"{w.name}: skipped, native does not apply")
            if progress:
                progress.advance(n=runs_left, group=w.name)
            continue
        nrunner, ncmd = native[0]
        ref = run(ncmd, env=env, timeout=timeout_for(60, quick))
        if progress:
            progress.advance(f"{w.name} · native (warm-up)", group=w.name)
        runs_left -= 1
        value, why = metric(w, ref)
        if ref.returncode != 0 or ref.timed_out or value is None:
            why = why or f"exit status {ref.returncode}: {_tail(ref.stderr)}"
            notes.append(f"{w.name}: skipped, the native run failed ({why})")
            samples.append(Sample(w.name, "native", -1, ref.wall_s, ref.cpu_s, None, False, why,
                                  ref.returncode))
            if progress:
                progress.advance(n=runs_left, group=w.name)
            continue
        samples.append(Sample(w.name, "native", -1, ref.wall_s, ref.cpu_s, value, True, "",
                              ref.returncode, ref.maxrss_kib))
        timeout = timeout_for(ref.wall_s, quick)

        def once(runner: Runner, cmd: list[str], rnd: int) -> Sample:
            res = run(cmd, env=env, timeout=timeout)
            why = check(res, ref, timeout) or check_answered(w, runner, res)
            val = None
            if not why:
                val, why = metric(w, res)
            mine = runner.tree_cpu         # else the work ran outside our process tree
            return Sample(w.name, runner.name, rnd, res.wall_s, res.cpu_s if mine else None,
                          val, not why, why, res.returncode, res.maxrss_kib if mine else None)

        live = [(nrunner, ncmd)]
        for r, cmd in others:                       # warm-up: also the first correctness check
            s = once(r, cmd, -1)
            samples.append(s)
            runs_left -= 1
            if progress:
                progress.advance(f"{w.name} · {r.name} (warm-up)", group=w.name)
            if s.ok:
                live.append((r, cmd))
            else:
                runs_left -= rounds
                if progress:
                    progress.advance(n=rounds, group=w.name)
        hung: set[str] = set()
        for k in range(rounds):
            for r, cmd in rotated(live, k):
                if r.name in hung:                  # timed out once: do not wait on it again
                    if progress:
                        progress.advance(group=w.name)
                    continue
                s = once(r, cmd, k)
                samples.append(s)
                if s.reason.startswith("timed out"):
                    hung.add(r.name)
                if progress:
                    progress.advance(f"{w.name} · {r.name} ({k + 1}/{rounds})", group=w.name)
    return samples, notes
