"""The load generators (Debian packages on the host) and how their output is read and checked.

    redis-benchmark (redis-tools)     --csv: requests/s and latency percentiles per test
    ab (apache2-utils)                requests/s, failed requests, -e CSV: percentiles (ms)
    pgbench (postgresql-client)       tps, failed transactions; -l: per-transaction latency

Each parser returns the numbers or raises LoadError saying what was wrong with the output: a
load generator that reports errors, or prints less than it should, fails the run.
"""
from __future__ import annotations

import csv
import io
import re
import statistics
from dataclasses import dataclass, field

TOOLS = {  # tool -> the Debian package that has it
    "redis-benchmark": "redis-tools",
    "ab": "apache2-utils",
    "pgbench": "postgresql-client",
    "psql": "postgresql-client",
    "pg_isready": "postgresql-client",
}


def missing_tools(names, which) -> list[str]:
    """The Debian packages to install for the tools among NAMES that WHICH cannot find."""
    return sorted({TOOLS.get(n, n) for n in names if not which(n)})


class LoadError(RuntimeError):
    """The load generator's output shows a failure (or is not what it should be)."""


@dataclass
class Result:
    value: float                                   # the row's metric (requests/s, tps)
    extra: dict[str, float] = field(default_factory=dict)   # p50_ms, p99_ms, ...


# --- redis-benchmark --------------------------------------------------------------------------

# redis-benchmark -t set,get,lrange_100 names its rows so (7.x); LPUSH fills the list first.
REDIS_TESTS = {"SET": "set", "GET": "get", "LRANGE_100": "lrange_100"}


def parse_redis_csv(text: str, tests=tuple(REDIS_TESTS)) -> dict[str, Result]:
    """redis-benchmark --csv: one row per test with rps and latency columns (ms)."""
    rows = list(csv.reader(io.StringIO(text.strip())))
    if not rows or rows[0][:2] != ["test", "rps"]:
        raise LoadError(f"redis-benchmark: no CSV header in its output: {text.strip()[:120]!r}")
    head = rows[0]
    out: dict[str, Result] = {}
    for r in rows[1:]:
        if len(r) != len(head):
            continue
        d = dict(zip(head, r))
        name = d["test"].split(" ")[0]
        if name not in tests:
            continue
        try:
            out[name] = Result(float(d["rps"]),
                               {"p50_ms": float(d["p50_latency_ms"]),
                                "p99_ms": float(d["p99_latency_ms"])})
        except (KeyError, ValueError) as e:
            raise LoadError(f"redis-benchmark: unreadable row {r!r}: {e}") from None
    missing = [t for t in tests if t not in out]
    if missing:
        raise LoadError(f"redis-benchmark: no result for {', '.join(missing)}")
    for name, res in out.items():
        if not res.value > 0:
            raise LoadError(f"redis-benchmark: {name} at {res.value} requests/s")
    return out


# --- ab --------------------------------------------------------------------------------------

def _ab_field(text: str, label: str) -> str | None:
    m = re.search(rf"^{re.escape(label)}:\s+(.+?)\s*$", text, re.M)
    return m.group(1) if m else None


def parse_ab(text: str, percentiles_csv: str, length: int) -> Result:
    """ab's report. Every request must have completed with a 2xx answer of LENGTH bytes: ab counts
    a body of another length, a refused or reset connection, as a failed request."""
    done = _ab_field(text, "Complete requests")
    if done is None:
        raise LoadError(f"ab: no report in its output: {text.strip()[-160:]!r}")
    failed = int((_ab_field(text, "Failed requests") or "0").split()[0])
    non2xx = _ab_field(text, "Non-2xx responses")
    doclen = _ab_field(text, "Document Length")
    if failed:
        detail = re.search(r"\(Connect: .*?\)", text)
        raise LoadError(f"ab: {failed} of {done} requests failed"
                        + (f" {detail.group(0)}" if detail else ""))
    if non2xx:
        raise LoadError(f"ab: {non2xx.split()[0]} of {done} responses were not 2xx")
    if doclen is None or int(doclen.split()[0]) != length:
        raise LoadError(f"ab: document length {doclen!r}, expected {length} bytes")
    if int(done) <= 0:
        raise LoadError("ab: no request completed")
    rps = float((_ab_field(text, "Requests per second") or "0").split()[0])
    pct = parse_ab_percentiles(percentiles_csv)
    return Result(rps, {"p50_ms": pct[50], "p99_ms": pct[99], "requests": float(done)})


def parse_ab_percentiles(text: str) -> dict[int, float]:
    """ab -e FILE: "Percentage served,Time in ms" then one row per percent 0..100."""
    out: dict[int, float] = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) == 2 and row[0].strip().isdigit():
            out[int(row[0])] = float(row[1])
    if 50 not in out or 99 not in out:
        raise LoadError("ab: no percentiles in its -e file")
    return out


# --- pgbench ----------------------------------------------------------------------------------

def parse_pgbench(text: str, log_lines: list[str] | None = None) -> Result:
    """pgbench's summary: tps and failed transactions (PostgreSQL 15+). With LOG_LINES (-l:
    `client txno latency_us script epoch us`) the p50 and p99 latency too."""
    tps = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", text, re.M)
    done = re.search(r"^number of transactions actually processed: (\d+)", text, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    if not tps or not done:
        raise LoadError(f"pgbench: no summary in its output: {text.strip()[-200:]!r}")
    if failed is None:
        raise LoadError("pgbench: no 'number of failed transactions' line (pgbench < 15?)")
    if int(failed.group(1)):
        raise LoadError(f"pgbench: {failed.group(1)} failed transactions")
    if int(done.group(1)) == 0:
        raise LoadError("pgbench: no transaction processed")
    extra: dict[str, float] = {"transactions": float(done.group(1))}
    avg = re.search(r"^latency average = ([\d.]+) ms", text, re.M)
    if avg:
        extra["avg_ms"] = float(avg.group(1))
    if log_lines is not None:
        lat = []
        for line in log_lines:
            f = line.split()
            if len(f) < 3:
                continue
            if not f[2].isdigit():       # "failed" or "skipped" in place of a latency
                raise LoadError(f"pgbench log: a transaction {f[2]}: {line.strip()}")
            lat.append(int(f[2]) / 1000.0)
        if not lat:
            raise LoadError("pgbench: its per-transaction log is empty")
        q = statistics.quantiles(lat, n=100, method="inclusive")
        extra["p50_ms"], extra["p99_ms"] = q[49], q[98]
    return Result(float(tps.group(1)), extra)
