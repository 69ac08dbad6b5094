import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import math

import pytest

from bench.stats import fmt_ratio, fmt_value, ratio, summarize, summarize_samples


def s(w, r, rnd, value, ok=True, reason=""):
    return {"workload": w, "runner": r, "round": rnd, "value": value, "ok": ok, "reason": reason}


def test_summarize_odd_and_even_counts():
    a = summarize([3.0, 1.0, 2.0])
    assert (a.n, a.median, a.min, a.max) == (3, 2.0, 1.0, 3.0)
    b = summarize([4.0, 1.0, 2.0, 3.0])
    assert b.median == 2.5


def test_summarize_ignores_missing_and_non_finite_values():
    a = summarize([1.0, None, math.nan, 3.0])
    assert (a.n, a.median) == (2, 2.0)


def test_summarize_nothing_passed_keeps_failure_count_and_reason():
    a = summarize([], failed=3, reason="timed out")
    assert a.median is None and a.failed == 3 and a.reason == "timed out"


def test_ratio():
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(None, 1.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_summarize_samples_ratios_against_native_and_drops_warmups():
    samples = [s("w", "native", -1, 100.0), s("w", "native", 0, 1.0), s("w", "native", 1, 3.0),
               s("w", "x", -1, 100.0), s("w", "x", 0, 4.0), s("w", "x", 1, 4.0),
               s("w", "x", 2, None, ok=False, reason="output differs")]
    out = summarize_samples(samples)
    nat, x = out[("w", "native")], out[("w", "x")]
    assert nat.median == 2.0 and nat.ratio == 1.0
    assert x.median == 4.0 and x.n == 2
    assert x.ratio == pytest.approx(2.0)
    assert x.failed == 1 and x.reason == "output differs"


def test_runner_that_failed_its_warmup_reports_why():
    samples = [s("w", "native", 0, 1.0), s("w", "bad", -1, None, ok=False, reason="exit status 1")]
    bad = summarize_samples(samples)[("w", "bad")]
    assert bad.median is None and bad.failed == 1 and bad.reason == "exit status 1"
    assert bad.ratio is None


def test_no_native_means_no_ratio():
    out = summarize_samples([s("w", "x", 0, 2.0)])
    assert out[("w", "x")].ratio is None


@pytest.mark.parametrize("v,text", [(0.000123456, "0.000123"), (0.152, "0.152"), (4.31, "4.31"),
                                    (13.64, "13.6"), (731.2, "731"), (12345.6, "12346"),
                                    (None, "—"), (0, "0")])
def test_fmt_value_three_significant_digits(v, text):
    assert fmt_value(v) == text


@pytest.mark.parametrize("r,text", [(1.0412, "1.04×"), (12.34, "12.3×"), (27.6, "28×"),
                                    (153.2, "153×"), (None, "—")])
def test_fmt_ratio(r, text):
    assert fmt_ratio(r) == text


def test_paired_ratio_follows_drift_between_rounds():
    # The machine slows down 10x in round 1; the runner is always 2x native in its own round.
    samples = [s("w", "native", 0, 1.0), s("w", "x", 0, 2.0),
               s("w", "native", 1, 10.0), s("w", "x", 1, 20.0),
               s("w", "native", 2, 1.0), s("w", "x", 2, 2.0),
               s("w", "x", 3, 99.0)]                       # no native in round 3: no pair
    x = summarize_samples(samples)[("w", "x")]
    assert x.paired_ratio == pytest.approx(2.0)
    assert summarize_samples(samples)[("w", "native")].paired_ratio == 1.0
