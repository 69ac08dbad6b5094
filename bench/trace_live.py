"""Live tracing's costs (issue 16's targets), interleaved rounds on one host:

    python -m bench.trace_live [--rounds N] [--calls N] [--out DIR]

Each round starts a sandbox (`lxrun -- burst`, tests/progs/burst.c: bursts of getppid on
demand, timed by the program itself, under the default policy: nothing traps) and measures
  - the per-call cost before any attach (untraced: what getppid costs natively),
  - `attach-api`: from lxbrand.live.Attachment() to the first record received, the program busy;
  - `attach-cli`: from starting `lxbrand trace --pid` to its first line on stdout (Python's
    start-up included), the program busy;
  - the per-call cost while attached (every syscall stops at entry and exit),
  - the per-call cost after detaching: the target is "where it was before".
The rows are medians over the rounds (with the spread), in Markdown and JSON under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build_burst(out: Path) -> str:
    exe = out / "burst"
    if not exe.exists():
        subprocess.run(["gcc", "-O1", "-static", "-o", str(exe), str(REPO / "tests/progs/burst.c")], check=True)
    return str(exe)


class Sandbox:
    def __init__(self, burst: str, backend: str):
        self.p = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.lxrun", "--backend", backend, "--", burst],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline() == "ready\n"
        self.lock = threading.Lock()

    def burst(self, n: int) -> float:
        """µs per call of a burst of n getppid."""
        with self.lock:
            self.p.stdin.write(f"{n}\n")
            self.p.stdin.flush()
            words = self.p.stdout.readline().split()
        return int(words[5]) / n / 1000

    def busy(self, stop: threading.Event):
        while not stop.is_set():
            self.burst(50)

    def end(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def _drain(a):
    """Read (and drop) what an attachment gets until it is closed."""
    try:
        while not a.ended:
            a.read()
    except OSError:
        pass


def one_round(burst: str, backend: str, calls: int) -> dict:
    from lxbrand import live, syscalls, traceshapes
    sb = Sandbox(burst, backend)
    row = {}
    try:
        sb.burst(calls)
        row["before_us"] = sb.burst(calls)
        stop = threading.Event()
        t = threading.Thread(target=sb.busy, args=(stop,), daemon=True)
        t.start()
        t0 = time.monotonic()
        a = live.Attachment(sb.p.pid, live.TRACE, None, 32,
                            traceshapes.capture_table(syscalls.by_nr(), listed_only=True))
        while not any(k == "call" for k, _ in a.read()):
            pass
        row["attach_api_ms"] = (time.monotonic() - t0) * 1000
        a.close()
        time.sleep(0.05)
        t0 = time.monotonic()
        cli = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.runtime", "trace", "--pid", str(sb.p.pid)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        cli.stdout.readline()
        row["attach_cli_ms"] = (time.monotonic() - t0) * 1000
        cli.send_signal(2)
        cli.communicate(timeout=30)
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        row["python_start_ms"] = (time.monotonic() - t0) * 1000
        stop.set()
        t.join()
        a = live.Attachment(sb.p.pid, live.TRACE, None, 32,
                            traceshapes.capture_table(syscalls.by_nr(), listed_only=True))
        drain = threading.Thread(target=_drain, args=(a,), daemon=True)
        drain.start()
        row["during_us"] = sb.burst(max(calls // 10, 1000))
        a.close()
        time.sleep(0.05)
        sb.burst(10)
        row["after_us"] = sb.burst(calls)
    finally:
        sb.end()
    return row


def summarize(rounds: list[dict]) -> dict:
    out = {}
    for k in rounds[0]:
        v = [r[k] for r in rounds]
        out[k] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
    return out


def report(summary: dict, meta: dict) -> str:
    def cell(k, fmt="{:.2f}"):
        s = summary[k]
        return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}–{fmt.format(s['max'])})"
    ratio = summary["after_us"]["median"] / summary["before_us"]["median"]
    lines = [f"# lxbrand trace: live attach, {meta['rounds']} interleaved rounds, backend {meta['backend']}",
             "", f"{meta['when']} on {meta['host']}, load {meta['load']}", "",
             "| what | median (min–max) | target |", "|---|---:|---|",
             f"| attach, API to first record (ms) | {cell('attach_api_ms')} | |",
             f"| `lxbrand trace --pid` start to first line (ms) | {cell('attach_cli_ms')} | ≤ 100 ms |",
             f"| of which the interpreter's start-up: `python3 -c pass` (ms) | {cell('python_start_ms')} | |",
             f"| getppid before any attach (µs/call) | {cell('before_us', '{:.3f}')} | |",
             f"| getppid while attached, every call recorded (µs/call) | {cell('during_us')} | |",
             f"| getppid after detaching (µs/call) | {cell('after_us', '{:.3f}')} | = before |",
             f"| after / before | {ratio:.2f}× | 1.0× |"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.trace_live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--calls", type=int, default=50000)
    ap.add_argument("--backend", default="unotify", choices=("unotify", "ptrace"))
    ap.add_argument("--out", default=str(REPO / "bench/results/trace-live"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from bench.build import default_cache_dir
    cache = default_cache_dir() / "trace-live"
    cache.mkdir(parents=True, exist_ok=True)
    burst = build_burst(cache)
    rounds = [one_round(burst, args.backend, args.calls) for _ in range(args.rounds)]
    meta = {"rounds": args.rounds, "backend": args.backend, "host": os.uname().nodename,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": open("/proc/loadavg").read().split()[0]}
    summary = summarize(rounds)
    (out / "trace-live.json").write_text(json.dumps({"meta": meta, "rounds": rounds, "summary": summary}, indent=1))
    text = report(summary, meta)
    (out / "trace-live.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
