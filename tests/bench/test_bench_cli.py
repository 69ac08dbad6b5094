import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import pytest

from bench.__main__ import parse
from bench.workloads import select


def test_parse_defaults_and_lists():
    ns, opts = parse(["--quick", "--only", "getpid,gcc", "--runners", "native,lxrun-*",
                      "--out", "/tmp/x"])
    assert opts.quick and opts.only == ["getpid", "gcc"]
    assert opts.runners == ["native", "lxrun-*"]
    assert str(opts.out) == "/tmp/x" and opts.compare is None


def test_rounds_must_be_positive():
    with pytest.raises(SystemExit):
        parse(["--rounds", "0"])


def test_unknown_workload_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown workload.*nope.*known: startup"):
        select(["nope"])
    assert [w.name for w in select(["gcc", "getpid"])] == ["getpid", "gcc"]
