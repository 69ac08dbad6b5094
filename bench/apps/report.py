"""The apps suite's outputs, all drawn from one JSON document (so a committed JSON can be
re-rendered with --render and compared with --compare): a Markdown report and a PNG chart of
every runner's ratio to runc, with the spread between rounds."""
from __future__ import annotations

import statistics
from pathlib import Path

from bench.report import SCHEMA, _busy, _load, closing_sections, runner_entries
from bench.stats import fmt_ratio, fmt_value, ratio, summarize_samples

SUITE = "apps"
REFERENCE = "runc"


def summary(samples: list[dict], reference: str = REFERENCE) -> list[dict]:
    """stats' summary against REFERENCE, plus the median of each extra (p50_ms, cpu_us_per_op,
    ...) over the counted rounds, and the spread of the ratio (min and max over the rounds of
    value / the reference's median)."""
    out = []
    base = summarize_samples(samples, reference)
    for (w, r), s in base.items():
        d = {"workload": w, "runner": r, **s.as_dict()}
        counted = [x for x in samples if x["workload"] == w and x["runner"] == r
                   and x["round"] >= 0 and x["ok"]]
        keys = sorted({k for x in counted for k in (x.get("extra") or {})})
        d["extra"] = {k: statistics.median(x["extra"][k] for x in counted if k in x["extra"])
                      for k in keys}
        ref = base.get((w, reference))
        d["ratio_min"] = ratio(s.min, ref.median if ref else None)
        d["ratio_max"] = ratio(s.max, ref.median if ref else None)
        if "cpu_us_per_op" in d["extra"] and ref is not None:
            rx = [x["extra"].get("cpu_us_per_op") for x in samples if x["workload"] == w
                  and x["runner"] == reference and x["round"] >= 0 and x["ok"]]
            rx = [v for v in rx if v is not None]
            d["cpu_ratio"] = ratio(d["extra"]["cpu_us_per_op"],
                                   statistics.median(rx) if rx else None)
        out.append(d)
    return out


def build_doc(*, config: dict, machine: dict, runners: list, apps: list, samples: list,
              notes: list[str], started: str, finished: str, image: str) -> dict:
    sample_dicts = [s.as_dict() if hasattr(s, "as_dict") else dict(s) for s in samples]
    return {
        "schema": SCHEMA,
        "suite": SUITE,
        "reference": REFERENCE,
        "image": image,
        "started": started,
        "finished": finished,
        "config": config,
        "machine": machine,
        "runners": runner_entries(runners),
        "workloads": [{"name": row.name, "title": row.title, "unit": row.unit, "app": a.name,
                       "metric": "app", "floor": False, "higher_is_better": row.higher_is_better,
                       "cpu_unit": row.cpu_unit, "note": a.title}
                      for a in apps for row in a.rows],
        "notes": notes,
        "summary": summary(sample_dicts),
        "samples": sample_dicts,
    }


def resummarize(doc: dict) -> dict:
    doc["summary"] = summary(doc["samples"], doc.get("reference", REFERENCE))
    return doc


def _grouped_failures(doc: dict) -> dict:
    """DOC with the failures of one runner that share a reason and a count (an app's rows all
    fail together) folded into one line: `redis-set, redis-get / lxbrand: ...`."""
    groups: dict[tuple, list[str]] = {}
    for s in doc["summary"]:
        if s["failed"]:
            groups.setdefault((s["runner"], s["failed"], s["reason"]), []).append(s["workload"])
    folded = [{"workload": ", ".join(ws), "runner": r, "failed": n, "reason": why}
              for (r, n, why), ws in groups.items()]
    return dict(doc, summary=folded)


def _cols(doc: dict) -> list[str]:
    present = {s["runner"] for s in doc["summary"]}
    return [r["name"] for r in doc["runners"] if r["name"] in present]


def _cell(s: dict | None, ref: bool) -> str:
    if s is None:
        return "·"
    if s["median"] is None:
        return "FAIL" if s["failed"] else "—"
    txt = fmt_value(s["median"]) + ("" if ref or s["ratio"] is None
                                    else f" ({fmt_ratio(s['ratio'])})")
    return txt + (f" [{s['failed']} failed]" if s["failed"] else "")


def _table(rows: list[str], cols: list[str], cell) -> list[str]:
    out = ["| workload | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for w in rows:
        out.append(f"| {w} | " + " | ".join(cell(w, c) for c in cols) + " |")
    return out


def markdown(doc: dict) -> str:
    idx = {(s["workload"], s["runner"]): s for s in doc["summary"]}
    cols = _cols(doc)
    ref = doc.get("reference", REFERENCE)
    m, cfg = doc["machine"], doc["config"]
    rows = [w for w in doc["workloads"] if any((w["name"], c) in idx for c in cols)]
    out = [f"# lxbrand apps bench: {doc['started'][:16].replace('T', ' ')} UTC", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('mem_gib')} GiB, kernel "
           f"{m['kernel']}, {m.get('os', '')}; lxbrand {m.get('lxbrand_commit') or '?'}; image "
           f"{doc.get('image', '?')}. Load average (1/5/15 min) before: "
           f"{_load(m.get('load_start'))}, after: {_load(m.get('load_end'))}" + _busy(m) + ".",
           f"Method: {'quick' if cfg.get('quick') else 'full'} run; every server in a Docker "
           f"container on the host's network, its load generator on the host; a checked warm-up"
           f" then {cfg['rounds']} interleaved rounds (runner order rotated each round). Each "
           f"cell is the median and, in parentheses, the ratio to {ref}: for req/s and tps "
           "higher is better, for s and MiB lower is better. Every round's answers were "
           "checked (bench/apps/workloads.py); failing rounds are not counted.", "",
           "| workload | unit | " + " | ".join(cols) + " |",
           "|---|---|" + "---:|" * len(cols)]
    for w in rows:
        cells = [_cell(idx.get((w["name"], c)), c == ref) for c in cols]
        out.append(f"| **{w['name']}** {w['title']} | {w['unit']} | " + " | ".join(cells) + " |")
    out += ["", "`·`: does not apply (density runs runc, runsc, lxbrand and lxbrand-limits, as "
            "bench/apps/docker.py defines them); FAIL: see below."]

    lat = [w for w in rows if any("p99_ms" in (idx.get((w["name"], c)) or {}).get("extra", {})
                                  for c in cols)]
    if lat:
        def lcell(w, c):
            e = (idx.get((w, c)) or {}).get("extra") or {}
            return (f"{fmt_value(e['p50_ms'])} / {fmt_value(e['p99_ms'])}"
                    if "p50_ms" in e and "p99_ms" in e else "·")
        out += ["", "## Latency (p50 / p99 ms, median over the rounds)", ""]
        out += _table([w["name"] for w in lat], cols, lcell)

    cpu = [w for w in rows if w.get("cpu_unit") and any(
        "cpu_us_per_op" in (idx.get((w["name"], c)) or {}).get("extra", {}) for c in cols)]
    if cpu:
        def ccell(w, c):
            s = idx.get((w, c)) or {}
            v = (s.get("extra") or {}).get("cpu_us_per_op")
            if v is None:
                return "·"
            return fmt_value(v) + ("" if c == ref else f" ({fmt_ratio(s.get('cpu_ratio'))})")
        out += ["", "## CPU time per request (µs of user + system time of the container's "
                "processes: server, runtime, supervisor, shim; median, ratio to "
                f"{ref})", ""]
        out += _table([f"{w['name']} ({w['cpu_unit']})" for w in cpu], cols,
                      lambda w, c: ccell(w.split(" (")[0], c))

    dens = [c for c in cols if (idx.get(("density", c)) or {}).get("median") is not None]
    if dens:
        out += ["", "## Density detail (MiB per idle container, medians)", "",
                "| runner | summed PSS | shim | runtime / supervisor | container | supervisor "
                "RSS | MemAvailable drop | processes |", "|---|" + "---:|" * 7]
        for c in dens:
            e = idx[("density", c)]["extra"]
            mem = (idx.get(("density-memavail", c)) or {}).get("median")
            out.append(f"| {c} | {fmt_value(idx[('density', c)]['median'])} | "
                       f"{fmt_value(e.get('shim_pss_mib'))} | {fmt_value(e.get('runtime_pss_mib'))}"
                       f" | {fmt_value(e.get('container_pss_mib'))} | "
                       f"{fmt_value(e.get('supervisor_rss_mib'))} | {fmt_value(mem)} | "
                       f"{e.get('processes', 0):.0f} |")
        out += ["", "PSS: each process's share of the pages it maps (/proc/PID/smaps_rollup), "
                "summed over the processes in the container's cgroup and those whose command "
                "line names its id. MemAvailable drop: /proc/meminfo before and after starting "
                "the containers, caches dropped both times, divided by their number: it moves "
                "with everything else on the machine too."]

    def scell(w, c):
        s = idx.get((w, c))
        if not s or s["median"] is None:
            return "·"
        spread = (f"{fmt_value(s['min'])}–{fmt_value(s['max'])} ({s['n']})")
        if s.get("ratio_min") is not None:
            lo, hi = sorted((s["ratio_min"], s["ratio_max"]))
            spread += f", {fmt_ratio(lo)}–{fmt_ratio(hi)}"
        return spread
    out += ["", f"## Spread (min–max of the counted rounds (n), and as ratios to {ref}'s "
            "median)", ""]
    out += _table([w["name"] for w in rows], cols, scell)

    out += closing_sections(_grouped_failures(doc), "Failed rounds")
    return "\n".join(out) + "\n"


# Rows too noisy, or not a cost, to draw as a ratio (the MemAvailable drop under runc is ~0 and
# can be negative: its ratio means nothing).
NOT_CHARTED = {"density-memavail"}


def chart(doc: dict, path: Path) -> str | None:
    """Two panels of ratios to runc, log scale, one group per row, one bar per runner with the
    spread between rounds as a whisker: throughput (higher is better) and costs (seconds, MiB:
    lower is better). None on success, else why there is no chart."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no chart"
    idx = {(s["workload"], s["runner"]): s for s in doc["summary"]}
    cols = _cols(doc)
    ref = doc.get("reference", REFERENCE)

    def drawn(w):
        return w["name"] not in NOT_CHARTED and any(
            (idx.get((w["name"], c)) or {}).get("ratio") or
            (idx.get((w["name"], c)) or {}).get("failed") for c in cols)
    panels = [("throughput, ratio to " + ref + " (higher is better)",
               [w for w in doc["workloads"] if w["higher_is_better"] and drawn(w)]),
              ("cost, ratio to " + ref + " (lower is better)",
               [w for w in doc["workloads"] if not w["higher_is_better"] and drawn(w)])]
    panels = [p for p in panels if p[1]]
    if not panels:
        return "no ratios to draw"
    widths = [max(len(p[1]), 2) for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(10, 1.1 * sum(widths) + 4), 6),
                             dpi=110, gridspec_kw={"width_ratios": widths}, squeeze=False)
    cmap = plt.get_cmap("tab10")
    colour = {c: cmap(i % 10) for i, c in enumerate(cols)}
    width = 0.85 / len(cols)
    for ax, (label, rows) in zip(axes[0], panels):
        lo_all, hi_all = 1.0, 1.0
        for j, c in enumerate(cols):
            xs, ys, err = [], [], [[], []]
            for i, w in enumerate(rows):
                s = idx.get((w["name"], c)) or {}
                r = s.get("ratio")
                if not r or r <= 0:
                    continue
                lo = s.get("ratio_min") or r
                hi = s.get("ratio_max") or r
                lo, hi = min(lo, hi, r), max(lo, hi, r)
                xs.append(i - 0.425 + width * (j + 0.5))
                ys.append(r)
                err[0].append(r - lo)
                err[1].append(hi - r)
                lo_all, hi_all = min(lo_all, lo), max(hi_all, hi)
            if xs:
                ax.bar(xs, ys, width, label=c, color=colour[c], edgecolor="white",
                       linewidth=0.3, yerr=err, capsize=2, error_kw={"elinewidth": 0.8})
        bottom = max(lo_all, 1e-3) / 1.5
        for j, c in enumerate(cols):        # a failed cell is marked, not left blank
            for i, w in enumerate(rows):
                s = idx.get((w["name"], c))
                if s is not None and s["median"] is None and s["failed"]:
                    ax.text(i - 0.425 + width * (j + 0.5), bottom * 1.05, "FAIL",
                            rotation=90, ha="center", va="bottom", fontsize=7,
                            color=colour[c], fontweight="bold")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom, hi_all * 1.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}×" if f"{v:.0e}"[0] in "25" else ""))
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([w["name"] for w in rows], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label, fontsize=9)
        for i in range(1, len(rows)):
            ax.axvline(i - 0.5, color="grey", linewidth=0.5, alpha=0.4)
        ax.grid(axis="y", which="both", alpha=0.3)
    m = doc["machine"]
    fig.suptitle(f"lxbrand apps bench {doc['started'][:10]}: {m['cpu']}, {m['cores']} cores, "
                 f"kernel {m['kernel']} — bar: median, whisker: min–max over the rounds",
                 fontsize=10)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def write_all(doc: dict, out: Path, stdout) -> str | None:
    """results.md, results.png beside results.json; the Markdown also on STDOUT."""
    md = markdown(doc)
    (out / "results.md").write_text(md)
    stdout.write(md)
    return chart(doc, out / "results.png")


def is_apps(doc: dict) -> bool:
    return doc.get("suite") == SUITE

