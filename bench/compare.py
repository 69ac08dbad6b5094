"""`--compare OLD.json`: what got faster or slower since an older run.

Medians move with the machine; ratios to the reference (native, or runc for the apps suite;
measured in the same run) travel better, so the verdict uses the ratio when both runs have one
and the median otherwise. For a throughput (req/s, tps: `higher_is_better`) a higher value is
faster; for a memory row (MiB) the words are smaller and larger."""
from __future__ import annotations

from bench.stats import fmt_ratio, fmt_value


WORDS = {"time": {"worse": "slower", "better": "faster", "same": "same"},
         "MiB": {"worse": "larger", "better": "smaller", "same": "same"}}


def compare(old: dict, new: dict, threshold: float = 0.10) -> list[dict]:
    """One row per (workload, runner) measured in both: medians, ratios, change and verdict."""
    old_i = {(s["workload"], s["runner"]): s for s in old["summary"]}
    ref = new.get("reference", "native")
    rows_of = {w["name"]: w for w in new.get("workloads", [])}
    rows = []
    for s in new["summary"]:
        o = old_i.get((s["workload"], s["runner"]))
        if not o or o["median"] is None or s["median"] is None:
            continue
        if s["runner"] != ref and o.get("ratio") and s.get("ratio"):
            change, basis = s["ratio"] / o["ratio"] - 1, "ratio"
        else:
            change, basis = s["median"] / o["median"] - 1, "median"
        w = rows_of.get(s["workload"], {})
        worse = -change if w.get("higher_is_better") else change
        verdict = "worse" if worse > threshold else "better" if worse < -threshold else "same"
        verdict = WORDS["MiB" if w.get("unit") == "MiB" else "time"][verdict]
        rows.append({"workload": s["workload"], "runner": s["runner"],
                     "old_median": o["median"], "new_median": s["median"],
                     "old_ratio": o.get("ratio"), "new_ratio": s.get("ratio"),
                     "change": change, "basis": basis, "verdict": verdict})
    return rows


def render(rows: list[dict], old_label: str, threshold: float = 0.10) -> str:
    if not rows:
        return f"Nothing in common with {old_label} to compare.\n"
    out = [f"## Compared with {old_label} (change beyond ±{threshold:.0%} counts)", "",
           "| workload | runner | old | new | old ratio | new ratio | change | verdict |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    order = {"slower": 0, "larger": 0, "faster": 1, "smaller": 1, "same": 2}
    for r in sorted(rows, key=lambda r: (order[r["verdict"]], r["workload"], r["runner"])):
        out.append(f"| {r['workload']} | {r['runner']} | {fmt_value(r['old_median'])} | "
                   f"{fmt_value(r['new_median'])} | {fmt_ratio(r['old_ratio'])} | "
                   f"{fmt_ratio(r['new_ratio'])} | {r['change']:+.0%} ({r['basis']}) | "
                   f"{r['verdict']} |")
    n = {v: sum(r["verdict"] == v for r in rows) for v in order}
    sizes = (f" ({n['smaller']} smaller, {n['larger']} larger in memory)"
             if n["smaller"] or n["larger"] else "")
    out += ["", f"{n['faster']} faster, {n['slower']} slower, {n['same']} unchanged{sizes}."]
    return "\n".join(out) + "\n"
