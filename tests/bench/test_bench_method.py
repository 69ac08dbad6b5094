"""The method: interleaving, and the correctness check that keeps a fast wrong answer out."""
import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import sys
from pathlib import Path

import pytest

from bench import method as M
from bench.runners import Runner
from bench.workloads import Workload


class Fake(Runner):
    def __init__(self, name, kind="fake"):
        super().__init__()
        self.name, self.kind = name, kind

    def wrap(self, workload, argv, ctx):
        return [self.name, *argv]


def res(out=b"ok\n", rc=0, err=b"", wall=1.0, timed_out=False):
    return M.RunResult(rc, out, err, wall, 0.5, timed_out)


def test_check_accepts_identical_output_and_status():
    assert M.check(res(), res()) == ""


def test_check_rejects_wrong_output_exit_status_and_timeouts():
    ref = res(b"a\nb\n")
    assert "line 2" in M.check(res(b"a\nc\n"), ref)
    assert "2 lines" not in M.check(res(b"a\nb\nc\n"), ref)
    assert "3 lines, native 2" in M.check(res(b"a\nb\nc\n"), ref)
    assert "exit status 1, native 0" in M.check(res(b"a\nb\n", rc=1, err=b"boom"), ref)
    assert "boom" in M.check(res(b"a\nb\n", rc=1, err=b"boom"), ref)
    assert "timed out" in M.check(res(timed_out=True), ref, timeout=5)


def test_parse_timing_uses_the_last_line():
    err = b"noise\nLXBENCH ns=1000 ops=10\nLXBENCH ns=5000 ops=1000\n"
    assert M.parse_timing(err) == pytest.approx(0.005)
    assert M.parse_timing(b"nothing") is None
    assert M.parse_timing(b"LXBENCH ns=5 ops=0") is None


def test_rotation_gives_every_runner_every_position():
    items = ["a", "b", "c"]
    firsts = {M.rotated(items, k)[0] for k in range(3)}
    assert firsts == set(items)
    assert M.rotated(items, 4) == ["b", "c", "a"]
    assert M.rotated([], 2) == []


def _plan(runners, metric="wall"):
    w = Workload("w", "test", lambda c: ["prog"], metric=metric)
    return [M.Plan(w, [(r, r.wrap(w, ["prog"], None)) for r in runners])]


def test_measure_counts_right_answers_and_drops_wrong_ones():
    runners = [Fake("native", "native"), Fake("good"), Fake("wrong"), Fake("crash")]
    log = []

    def run(cmd, env=None, timeout=None):
        log.append(cmd[0])
        return {"native": res(wall=1.0), "good": res(wall=2.0), "wrong": res(b"42\n", wall=0.1),
                "crash": res(rc=-11, err=b"Segmentation fault")}[cmd[0]]

    samples, notes = M.measure(_plan(runners), rounds=3, env={}, run=run)
    by = {}
    for s in samples:
        by.setdefault(s.runner, []).append(s)
    assert [s.round for s in by["native"]] == [-1, 0, 1, 2]
    assert all(s.ok and s.value == 2.0 for s in by["good"])
    # A wrong answer fails its warm-up and is not run again: it never counts, however fast.
    assert len(by["wrong"]) == 1 and not by["wrong"][0].ok
    assert "output differs" in by["wrong"][0].reason
    assert "exit status -11" in by["crash"][0].reason
    assert log.count("wrong") == 1
    # Interleaved: each round runs native and good once, in rotated order.
    rounds = log[4:]
    assert rounds == ["native", "good", "good", "native", "native", "good"]
    assert notes == []


def test_a_wrong_answer_in_a_later_round_is_not_counted():
    runners = [Fake("native", "native"), Fake("flaky")]
    n = {"flaky": 0}

    def run(cmd, env=None, timeout=None):
        if cmd[0] == "flaky":
            n["flaky"] += 1
            return res(b"bad\n" if n["flaky"] == 3 else b"ok\n", wall=0.01 if n["flaky"] == 3 else 5)
        return res()

    samples, _ = M.measure(_plan(runners), rounds=3, env={}, run=run)
    flaky = [s for s in samples if s.runner == "flaky" and s.round >= 0]
    assert [s.ok for s in flaky] == [True, False, True]
    assert flaky[1].value is None


def test_per_op_metric_needs_the_timing_line():
    runners = [Fake("native", "native"), Fake("silent")]

    def run(cmd, env=None, timeout=None):
        return res(err=b"LXBENCH ns=2000 ops=2\n" if cmd[0] == "native" else b"")

    samples, _ = M.measure(_plan(runners, metric="per_op"), rounds=1, env={}, run=run)
    native = [s for s in samples if s.runner == "native"]
    assert native[0].value == pytest.approx(1.0)
    silent = [s for s in samples if s.runner == "silent"]
    assert not silent[0].ok and "LXBENCH" in silent[0].reason


def test_a_failing_native_run_skips_the_workload_with_a_note():
    runners = [Fake("native", "native"), Fake("other")]

    def run(cmd, env=None, timeout=None):
        return res(rc=1, err=b"gcc: not found")

    samples, notes = M.measure(_plan(runners), rounds=2, env={}, run=run)
    assert len(samples) == 1 and not samples[0].ok
    assert "native run failed" in notes[0] and "gcc: not found" in notes[0]


def test_run_command_real_process():
    r = M.run_command([sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"])
    assert (r.returncode, r.stdout, r.timed_out) == (3, b"hi\n", False)
    assert r.wall_s > 0 and r.cpu_s > 0 and r.maxrss_kib > 0


def test_run_command_timeout_kills():
    r = M.run_command(["/bin/sh", "-c", "sleep 30"], timeout=0.2)
    assert r.timed_out and r.wall_s < 10


def test_bench_env_puts_the_repo_on_pythonpath():
    env = M.bench_env({"PYTHONPATH": "/x"})
    assert env["PYTHONPATH"].split(":")[1] == "/x"
    assert (Path(env["PYTHONPATH"].split(":")[0]) / "bench" / "handlers.py").is_file()


def test_an_emulating_runner_must_have_answered_every_trapped_call():
    w = Workload("g", "test", lambda c: ["loop"], metric="per_op",
                 rules=({"syscalls": ["getppid"], "action": "emulate", "return": 1},))
    lx = Fake("lx")
    lx.applies_policy = True
    runners = [Fake("native", "native"), lx, Fake("strace")]
    errs = {"native": b"LXBENCH ns=10 ops=5 ones=0\n",
            "lx": b"LXBENCH ns=10 ops=5 ones=3\n",       # two calls escaped the policy
            "strace": b"LXBENCH ns=90 ops=5 ones=0\n"}   # applies no policy: not checked

    def run(cmd, env=None, timeout=None):
        return res(err=errs[cmd[0]])

    plans = [M.Plan(w, [(r, r.wrap(w, ["loop"], None)) for r in runners])]
    samples, _ = M.measure(plans, rounds=1, env={}, run=run)
    by = {s.runner: s for s in samples if s.round == -1}
    assert "3 of 5 calls returned 1" in by["lx"].reason and not by["lx"].ok
    assert by["strace"].ok
    errs["lx"] = b"LXBENCH ns=10 ops=5 ones=5\n"
    samples, _ = M.measure(plans, rounds=1, env={}, run=run)
    assert all(s.ok for s in samples)


def test_a_runner_that_hangs_in_a_round_is_not_waited_on_again():
    runners = [Fake("native", "native"), Fake("hangs")]
    n = {"hangs": 0}

    def run(cmd, env=None, timeout=None):
        if cmd[0] == "hangs":
            n["hangs"] += 1
            return res(timed_out=n["hangs"] == 2)
        return res()

    samples, _ = M.measure(_plan(runners), rounds=4, env={}, run=run)
    assert n["hangs"] == 2                      # warm-up, round 0 (times out), then never again
    assert [s.ok for s in samples if s.runner == "hangs"] == [True, False]


def test_a_workload_for_some_runner_kinds_is_planned_for_those_and_native():
    """cri-pod means something only under the CRI runners: lxrun, strace, proot do not run it."""
    from pathlib import Path
    from bench import runners as R
    from bench.cri_pod import WORKLOAD
    from bench.workloads import Context
    ctx = Context(bins=None, work=Path("/tmp"))
    plans = M.plan([WORKLOAD], R.all_runners(), ctx)
    assert sorted(r.name for r, _ in plans[0].runners) == ["cri-lxbrand", "cri-runc", "native"]
