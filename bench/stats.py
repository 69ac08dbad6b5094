"""Medians, spreads and ratios. Timing on a shared 2-core VM is noisy: the harness reports the
median of interleaved runs and each runner's ratio to native, never one absolute time."""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass


@dataclass
class Summary:
    n: int                      # runs that passed the correctness check
    failed: int                 # runs that did not (wrong output, exit status, timeout)
    median: float | None
    min: float | None
    max: float | None
    ratio: float | None = None  # median / native median
    reason: str = ""            # why runs failed (the first reason seen)
    cpu_median: float | None = None  # CPU seconds (user + sys) of the whole tree, median
    cpu_ratio: float | None = None
    # Median over rounds of (this run / native's run in the same round): what interleaving buys,
    # robust to drift between rounds; None without at least one round where both passed.
    paired_ratio: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values: list[float], failed: int = 0, reason: str = "") -> Summary:
    """Median, min and max of VALUES (the passing runs only)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return Summary(0, failed, None, None, None, None, reason)
    return Summary(len(vals), failed, statistics.median(vals), min(vals), max(vals), None, reason)


def ratio(value: float | None, reference: float | None) -> float | None:
    """VALUE / REFERENCE, or None when either is missing or the reference is not positive."""
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def summarize_samples(samples: list[dict], reference: str = "native") -> dict[tuple[str, str], Summary]:
    """Group measured samples (round >= 0) by (workload, runner); ratios against REFERENCE.

    A runner that failed its warm-up has no measured rounds: it gets a Summary with n = 0 and the
    warm-up's reason, so the table can say why the cell is empty."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        groups.setdefault((s["workload"], s["runner"]), []).append(s)
    out: dict[tuple[str, str], Summary] = {}
    for key, ss in groups.items():
        measured = [s for s in ss if s["round"] >= 0]
        pool = measured or ss
        bad = [s for s in pool if not s["ok"]]
        out[key] = summarize([s["value"] for s in measured if s["ok"]], len(bad),
                             bad[0]["reason"] if bad else "")
        out[key].cpu_median = summarize([s.get("cpu_s") for s in measured if s["ok"]]).median
    by_round = {(s["workload"], s["runner"], s["round"]): s["value"]
                for s in samples if s["round"] >= 0 and s["ok"]}
    for (w, r), summ in out.items():
        ref = out.get((w, reference))
        summ.ratio = ratio(summ.median, ref.median if ref else None)
        summ.cpu_ratio = ratio(summ.cpu_median, ref.cpu_median if ref else None)
        pairs = [ratio(v, by_round.get((w, reference, k)))
                 for (w2, r2, k), v in by_round.items() if (w2, r2) == (w, r)]
        pairs = [p for p in pairs if p is not None]
        summ.paired_ratio = statistics.median(pairs) if pairs else None
    return out


def fmt_value(v: float | None) -> str:
    """Three significant digits, no exponent for the ranges the harness sees."""
    if v is None:
        return "—"
    if v == 0:
        return "0"
    digits = max(0, 2 - int(math.floor(math.log10(abs(v)))))
    return f"{v:.{digits}f}"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×" if r < 20 else f"{r:.0f}×"
    return f"{r:.2f}×"
