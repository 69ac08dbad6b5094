"""Output: one JSON document (every sample, the machine, the runners) from which the Markdown
table and the PNG chart are both drawn, so a committed JSON can always be re-rendered and
compared (`--compare`)."""
from __future__ import annotations

import json
import math
from pathlib import Path

from bench.stats import fmt_ratio, fmt_value, summarize_samples

SCHEMA = 1
FLOOR = "floor-unotify"


def _summary(sample_dicts: list[dict]) -> list[dict]:
    return [{"workload": w, "runner": r, **s.as_dict()}
            for (w, r), s in summarize_samples(sample_dicts).items()]


def resummarize(doc: dict) -> dict:
    """Recompute the summary from the samples (after a change in how they are summarized)."""
    doc["summary"] = _summary(doc["samples"])
    return doc


def runner_entries(runners: list) -> list[dict]:
    """Each runner as the JSON stores it: what it is, whether it ran, why not, how to install."""
    return [{"name": r.name, "kind": r.kind, "description": r.description,
             "available": r.avail.ok, "path": r.avail.path, "version": r.avail.version,
             "reason": r.avail.reason, "install": r.hint} for r in runners]


def build_doc(*, config: dict, machine: dict, runners: list, workloads: list, samples: list,
              notes: list[str], started: str, finished: str) -> dict:
    sample_dicts = [s.as_dict() if hasattr(s, "as_dict") else dict(s) for s in samples]
    return {
        "schema": SCHEMA,
        "started": started,
        "finished": finished,
        "config": config,
        "machine": machine,
        "runners": runner_entries(runners),
        "workloads": [{"name": w.name, "title": w.title, "metric": w.metric, "unit": w.unit,
                       "floor": w.floor, "note": w.note} for w in workloads],
        "notes": notes,
        "summary": _summary(sample_dicts),
        "samples": sample_dicts,
    }


def write_json(doc: dict, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def load_json(path: Path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e}); pass a results.json written by the harness")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise ValueError(f"{path}: not a bench result (schema {found!r}, expected {SCHEMA})")
    return doc


def _index(doc: dict) -> dict[tuple[str, str], dict]:
    return {(s["workload"], s["runner"]): s for s in doc["summary"]}


def columns(doc: dict) -> list[str]:
    """Runners with at least one result, in the harness's order."""
    present = {s["runner"] for s in doc["summary"]}
    return [r["name"] for r in doc["runners"] if r["name"] in present]


def _cell(s: dict | None, native: bool) -> str:
    if s is None:
        return "·"
    if s["median"] is None:
        return "FAIL" if s["failed"] else "—"
    txt = fmt_value(s["median"])
    if not native:
        txt += f" ({fmt_ratio(s['ratio'])})"
    if s["failed"]:
        txt += f" [{s['failed']} failed]"
    return txt


def _load(v) -> str:
    return "/".join(f"{x:.2f}" for x in v) if v else "?"


def _busy(m: dict) -> str:
    """A warning when other work ran beside the benchmark (load above half the cores)."""
    peak = max([*(m.get("load_start") or [0])[:1], *(m.get("load_end") or [0])[:1]])
    if m.get("cores") and peak > m["cores"] / 2:
        return (" (other work was running on the machine: wall times are noisy, the CPU-time "
                "table below is less so)")
    return ""


def markdown(doc: dict) -> str:
    idx = _index(doc)
    cols = columns(doc)
    m = doc["machine"]
    cfg = doc["config"]
    out = [f"# lxbrand bench: {doc['started'][:16].replace('T', ' ')} UTC",
           "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('mem_gib')} GiB, kernel {m['kernel']}"
           f", {m.get('os', '')}; lxbrand {m.get('lxbrand_commit') or '?'}. "
           f"Load average (1/5/15 min) before: {_load(m.get('load_start'))}, "
           f"after: {_load(m.get('load_end'))}" + _busy(m) + ".",
           f"Method: {'quick' if cfg.get('quick') else 'full'} run; 1 warm-up then "
           f"{cfg['rounds']} interleaved rounds per workload (runner order rotated each round); "
           "each cell is the median and, in parentheses, the ratio to native. Every run's stdout "
           "and exit status were checked against the native run; failing runs are not counted.",
           "",
           "| workload | unit | " + " | ".join(cols) + " |",
           "|---|---|" + "---:|" * len(cols)]
    for w in doc["workloads"]:
        if not any((w["name"], c) in idx for c in cols):
            continue
        cells = [_cell(idx.get((w["name"], c)), c == "native") for c in cols]
        out.append(f"| **{w['name']}** {w['title']} | {w['unit']} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("`·`: does not apply (the floors run only the single-process syscall loops, the "
               "Docker runners only the static programs); FAIL: see below. The Docker runners "
               "run the loops without the lxrun policy: under runc nothing traps, under runsc "
               "every syscall is served by gVisor's Sentry.")

    floor_rows = [w for w in doc["workloads"] if w["floor"] and (w["name"], FLOOR) in idx
                  and idx[(w["name"], FLOOR)]["median"]]
    if floor_rows:
        # Docker runners apply no policy to the loops (nothing of theirs traps under runc): a
        # distance from a trap floor means nothing for them.
        kinds = {r["name"]: r["kind"] for r in doc["runners"]}
        fcols = [c for c in cols if kinds.get(c) not in ("native", "docker")]
        out += ["", f"## Distance from the floor (median / {FLOOR} median)", "",
                "| workload | " + " | ".join(fcols) + " |", "|---|" + "---:|" * len(fcols)]
        for w in floor_rows:
            base = idx[(w["name"], FLOOR)]["median"]
            cells = []
            for c in fcols:
                s = idx.get((w["name"], c))
                cells.append(fmt_ratio(s["median"] / base) if s and s["median"] else "·")
            out.append(f"| {w['name']} | " + " | ".join(cells) + " |")

    wall_rows = [w for w in doc["workloads"] if w["metric"] == "wall"
                 and any(idx.get((w["name"], c), {}).get("cpu_median") for c in cols)]
    if wall_rows:
        ccols = [c for c in cols if any(idx.get((w["name"], c), {}).get("cpu_median")
                                        for w in wall_rows)]
        out += ["", "## CPU time (user + system s of the whole process tree, supervisor "
                "included; median, ratio to native)", "",
                "| workload | " + " | ".join(ccols) + " |", "|---|" + "---:|" * len(ccols)]
        for w in wall_rows:
            cells = []
            for c in ccols:
                s = idx.get((w["name"], c))
                if not s or s.get("cpu_median") is None:
                    cells.append("·")
                    continue
                cells.append(fmt_value(s["cpu_median"]) +
                             ("" if c == "native" else f" ({fmt_ratio(s.get('cpu_ratio'))})"))
            out.append(f"| {w['name']} | " + " | ".join(cells) + " |")

    out += ["", "## Spread (min–max of the counted runs, n)", "",
            "| workload | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for w in doc["workloads"]:
        if not any((w["name"], c) in idx for c in cols):
            continue
        cells = []
        for c in cols:
            s = idx.get((w["name"], c))
            cells.append("·" if not s or s["median"] is None else
                         f"{fmt_value(s['min'])}–{fmt_value(s['max'])} ({s['n']})")
        out.append(f"| {w['name']} | " + " | ".join(cells) + " |")

    out += targets_section(idx)
    out += closing_sections(doc)
    return "\n".join(out) + "\n"


def closing_sections(doc: dict, failed: str = "Failed runs") -> list[str]:
    """What failed and why, the runners not run (with how to install them), the notes, and each
    runner that ran with its version: the end of every suite's report."""
    out: list[str] = []
    failures = [s for s in doc["summary"] if s["failed"]]
    if failures:
        out += ["", f"## {failed}", ""]
        out += [f"- {s['workload']} / {s['runner']}: {s['failed']} failed: {s['reason']}"
                for s in failures]
    missing = [r for r in doc["runners"] if not r["available"]]
    if missing:
        out += ["", "## Runners not run", ""]
        out += [f"- {r['name']}: {r['reason']}. Install: {r['install']}" for r in missing]
    if doc["notes"]:
        out += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    out += ["", "## Runners", ""]
    out += [f"- {r['name']}: {r['description']}" + (f" ({r['version']})" if r["version"] else "")
            for r in doc["runners"] if r["available"]]
    return out


# The engine's targets, as ratios measured in one run: (what, numerator, denominator,
# comparison, bound). A cell is (workload, runner). Reported, never asserted: timing here is noisy.
TARGETS = [
    ("untrapped syscall, unotify: ≤ 1.05× native",
     ("getpid", "lxrun-unotify"), ("getpid", "native"), "<=", 1.05),
    ("untrapped syscall, ptrace: ≤ 1.05× native",
     ("getpid", "lxrun-ptrace"), ("getpid", "native"), "<=", 1.05),
    ("trap answered in C (unotify): ≤ 1.5× the bare C notify loop",
     ("getppid-c", "lxrun-unotify"), ("getppid-c", FLOOR), "<=", 1.5),
    ("trap answered in C: ≥ 10× cheaper than strace",
     ("getppid-c", "strace"), ("getppid-c", "lxrun-unotify"), ">=", 10),
    ("trap answered in C: ≥ 10× cheaper than proot",
     ("getppid-c", "proot"), ("getppid-c", "lxrun-unotify"), ">=", 10),
    ("traced openat (path decoded, line written): ≥ 10× cheaper than strace",
     ("openat-trace", "strace"), ("openat-trace", "lxrun-unotify"), ">=", 10),
    ("traced openat: ≥ 10× cheaper than proot",
     ("openat-trace", "proot"), ("openat-trace", "lxrun-unotify"), ">=", 10),
    ("traced call with its result, a line each (unotify): ≤ strace's per-call cost (issue 16)",
     ("getppid-trace", "lxrun-unotify"), ("getppid-trace", "strace"), "<=", 1.0),
    ("traced call counted for --summary (unotify): ≤ 1.5× the trap answered in C (issue 16)",
     ("getppid-summary", "lxrun-unotify"), ("getppid-c", "lxrun-unotify"), "<=", 1.5),
    ("trap answered by a Python handler (unotify): ≤ 4× the bare C loop",
     ("getppid-py", "lxrun-unotify"), ("getppid-py", FLOOR), "<=", 4),
    ("real mix, identity policy (unotify, uname emulated): ≤ 1.10× native",
     ("mix", "lxrun-unotify-identity"), ("mix", "native"), "<=", 1.10),
    ("real mix, default policy (unotify): ≤ 1.10× native",
     ("mix", "lxrun-unotify"), ("mix", "native"), "<=", 1.10),
]


def targets_section(idx: dict) -> list[str]:
    rows = []
    for label, num, den, op, bound in TARGETS:
        a, b = idx.get(num), idx.get(den)
        if not a or not b or not a["median"] or not b["median"]:
            continue
        r = a["median"] / b["median"]
        met = r <= bound if op == "<=" else r >= bound
        rows.append(f"| {label} | {fmt_ratio(r)} | {'yes' if met else '**no**'} |")
    if not rows:
        return []
    return ["", "## The engine's targets, from this run", "",
            "Informational: ratios of medians from this run; noisy, never a test.", "",
            "| target | measured | met |", "|---|---:|---|", *rows]


def chart(doc: dict, path: Path) -> str | None:
    """A PNG of every runner's ratio to native, log scale, one group per workload. Returns None on
    success, else why there is no chart (matplotlib missing, nothing to draw)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib): no chart"
    idx = _index(doc)
    cols = [c for c in columns(doc) if c != "native"]
    rows = [w for w in doc["workloads"]
            if any(idx.get((w["name"], c), {}).get("ratio") for c in cols)]
    if not rows or not cols:
        return "no ratios to draw"
    fig, ax = plt.subplots(figsize=(max(10, 1.3 * len(rows) + 3), 6), dpi=110)
    width = 0.85 / len(cols)
    # One colour family per kind of runner, shades within it: lxrun blues, strace greens, proot
    # red, floors greys, Docker browns.
    kinds = {r["name"]: r["kind"] for r in doc["runners"]}
    family = {"lxrun": "Blues", "strace": "Greens", "proot": "Reds", "floor": "Greys",
              "docker": "YlOrBr"}
    members: dict[str, list[str]] = {}
    for c in cols:
        members.setdefault(kinds.get(c, ""), []).append(c)

    def colour(c):
        group = members[kinds.get(c, "")]
        cmap = plt.get_cmap(family.get(kinds.get(c, ""), "Purples"))
        return cmap(0.9 - 0.55 * group.index(c) / max(len(group) - 1, 1))
    for i in range(1, len(rows)):
        ax.axvline(i - 0.5, color="grey", linewidth=0.5, alpha=0.4)
    for j, c in enumerate(cols):
        xs, ys = [], []
        for i, w in enumerate(rows):
            r = idx.get((w["name"], c), {}).get("ratio")
            if r:
                xs.append(i - 0.425 + width * (j + 0.5))
                ys.append(r)
        if xs:
            ax.bar(xs, ys, width, label=c, color=colour(c), edgecolor="white", linewidth=0.3)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([w["name"] for w in rows], rotation=30, ha="right")
    ax.set_ylabel("ratio to native (median; log scale, lower is better)")
    top = max(idx[(w["name"], c)]["ratio"] for w in rows for c in cols
              if idx.get((w["name"], c), {}).get("ratio"))
    ax.set_ylim(0.5, 10 ** math.ceil(math.log10(max(top, 2)) + 0.2))
    m = doc["machine"]
    ax.set_title(f"lxbrand bench {doc['started'][:10]}: {m['cpu']}, {m['cores']} cores, "
                 f"kernel {m['kernel']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
