"""Report and --compare, drawn from a synthetic result (no workload runs)."""
import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import json

import pytest

from bench import compare as C
from bench import report as RP
from bench.method import Sample
from bench.runners import Availability, Floor, Native, Proot, Strace
from bench.workloads import BY_NAME

MACHINE = {"cpu": "Test CPU", "cores": 2, "mem_gib": 4.0, "kernel": "6.18.0", "os": "Debian",
           "lxbrand_commit": "abc1234", "versions": {}}


def make_doc(strace_factor=10.0, floor_factor=3.0):
    native, strace, proot, floor = Native(), Strace(False), Proot(), Floor("unotify")
    for r in (native, strace, floor):
        r.avail = Availability(True, version="v1")
    proot.avail = Availability(False, reason="proot not installed")
    samples = []
    for k, (w, base) in enumerate([("getppid-c", 0.2), ("gcc", 0.25)]):
        for rnd in range(-1, 3):
            samples.append(Sample(w, "native", rnd, base, base / 2, base, True))
            samples.append(Sample(w, "strace", rnd, base, base, base * strace_factor, True))
            if w == "getppid-c":
                samples.append(Sample(w, "floor-unotify", rnd, base, 0, base * floor_factor, True))
    samples.append(Sample("gcc", "strace", 3, 9, 0, None, False, "output differs from native"))
    return RP.build_doc(config={"quick": True, "rounds": 3}, machine=MACHINE,
                        runners=[native, strace, proot, floor],
                        workloads=[BY_NAME["getppid-c"], BY_NAME["gcc"]], samples=samples,
                        notes=[], started="2026-11-27T20:00:00+00:00",
                        finished="2026-11-27T20:01:00+00:00")


def test_markdown_table_has_medians_ratios_failures_and_missing_runners():
    md = RP.markdown(make_doc())
    assert "| workload | unit | native | strace | floor-unotify |" in md
    assert "| 0.200 | 2.00 (10.0×) | 0.600 (3.00×) |" in md
    assert "[1 failed]" in md
    assert "gcc / strace: 1 failed: output differs from native" in md
    assert "proot: proot not installed. Install: apt-get install -y proot" in md
    assert "Distance from the floor" in md
    assert "| getppid-c | 3.33× | 1.00× |" in md
    assert "Test CPU, 2 cores" in md and "kernel 6.18.0" in md


def test_json_round_trip_keeps_every_sample(tmp_path):
    doc = make_doc()
    RP.write_json(doc, tmp_path / "r.json")
    back = RP.load_json(tmp_path / "r.json")
    assert len(back["samples"]) == len(doc["samples"]) == 21
    assert back["machine"]["cpu"] == "Test CPU"
    assert {r["name"]: r["available"] for r in back["runners"]}["proot"] is False


def test_load_json_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a bench result"):
        RP.load_json(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("hello")
    with pytest.raises(ValueError, match="y.json: not JSON"):
        RP.load_json(tmp_path / "y.json")


def test_chart_is_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed: the chart is optional")
    assert RP.chart(make_doc(), tmp_path / "c.png") is None
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_verdicts_use_ratios():
    old, new = make_doc(strace_factor=10.0), make_doc(strace_factor=5.0)
    rows = {(r["workload"], r["runner"]): r for r in C.compare(old, new)}
    assert rows[("getppid-c", "strace")]["verdict"] == "faster"
    assert rows[("getppid-c", "strace")]["change"] == pytest.approx(-0.5)
    assert rows[("getppid-c", "native")]["verdict"] == "same"
    back = {(r["workload"], r["runner"]): r for r in C.compare(new, old)}
    assert back[("gcc", "strace")]["verdict"] == "slower"
    text = C.render(C.compare(old, new), "old.json")
    assert "2 faster, 0 slower" in text


def test_compare_with_nothing_in_common():
    doc = make_doc()
    empty = dict(doc, summary=[])
    assert "Nothing in common" in C.render(C.compare(empty, doc), "old.json")


def test_targets_are_reported_as_met_or_not():
    idx = {("getppid-c", "lxrun-unotify"): {"median": 5.0},
           ("getppid-c", "floor-unotify"): {"median": 4.0},
           ("getppid-c", "strace"): {"median": 20.0}}
    text = "\n".join(RP.targets_section(idx))
    assert "≤ 1.5× the bare C notify loop | 1.25× | yes |" in text
    assert "cheaper than strace | 4.00× | **no** |" in text
    assert "proot" not in text          # not measured: no row
    assert RP.targets_section({}) == []


def test_cpu_time_table_for_whole_program_workloads():
    md = RP.markdown(make_doc())
    cpu = md.split("## CPU time")[1].split("##")[0]
    assert "| gcc | 0.125 | 0.250 (2.00×) |" in cpu
    assert "getppid-c" not in cpu            # per-op loops time themselves


def test_render_recomputes_the_summary_from_samples():
    doc = make_doc()
    doc["summary"] = []
    assert RP.resummarize(doc)["summary"] and "| gcc |" in RP.markdown(doc)
