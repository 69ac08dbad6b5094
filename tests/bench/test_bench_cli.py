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
import shutil

import pytest

from bench.__main__ import main, parse
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


def test_end_to_end_native_only(tmp_path, capsys):
    """The whole pipeline on the cheapest workload and runner: build, measure, write all three
    outputs, print the table, then --compare against itself."""
    if not shutil.which("gcc"):
        pytest.skip("no C compiler: apt-get install -y gcc libc6-dev")
    out = tmp_path / "out"
    args = ["--only", "startup,getpid", "--runners", "native", "--rounds", "1", "--quick",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "results.json").read_text())
    assert {s["workload"] for s in doc["samples"]} == {"startup", "getpid"}
    assert all(s["ok"] for s in doc["samples"])
    assert doc["machine"]["kernel"] and doc["machine"]["cores"]
    assert "| **getpid** untrapped getpid loop | µs/call |" in capsys.readouterr().out
    assert (out / "results.md").exists()
    assert main(args[:-1] + [str(tmp_path / "again"), "--compare", str(out / "results.json")]) == 0
    assert "## Compared with" in (tmp_path / "again" / "compare.md").read_text()
