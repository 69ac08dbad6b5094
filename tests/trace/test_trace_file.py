"""The run's own trace file: where it starts, its size cap and rotation, its summary."""
import json
import re
import sys

from conftest import run_lxrun
from lxbrand.trace import RotatingFile


def test_rotating_file_keeps_whole_lines_and_n_files(tmp_path):
    path = tmp_path / "t.trace"
    f = RotatingFile(str(path), max_bytes=100, keep=2)
    for i in range(30):
        f.write(f"line {i:02d} " + "x" * 20 + "\n")  # 29 bytes a line: 3 per file
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["t.trace", "t.trace.1", "t.trace.2"]  # the oldest dropped
    sizes = [(tmp_path / n).stat().st_size for n in names]
    assert all(0 < s <= 100 for s in sizes)
    last = [int(x.split()[1]) for x in path.read_text().splitlines()]
    older = [int(x.split()[1]) for x in (tmp_path / "t.trace.1").read_text().splitlines()]
    assert older == [older[0] + i for i in range(len(older))]
    assert older[-1] + 1 == last[0] and last[-1] == 29
    assert f.rotations == 9


def test_rotating_file_keep_zero_starts_anew(tmp_path):
    path = tmp_path / "t.trace"
    f = RotatingFile(str(path), max_bytes=50, keep=0)
    for i in range(10):
        f.write(f"{i}" * 20 + "\n")
    f.close()
    assert [p.name for p in tmp_path.iterdir()] == ["t.trace"]
    assert path.read_text() == "8" * 20 + "\n" + "9" * 20 + "\n"


def test_lxrun_trace_cap_rotates(tmp_path, progs):
    out = tmp_path / "t.trace"
    r = run_lxrun(["--policy", "trace-all", f"--trace={out}", "--trace-max-size", "8K", "--trace-keep", "2",
                   "--summary"], [progs["getppid_loop"], "400"])
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.trace", "t.trace.1", "t.trace.2"], files
    for name in files:
        assert (tmp_path / name).stat().st_size <= 8192
    text = out.read_text()
    assert text.splitlines()[-1].split()[-1] == "total"  # the summary closes the newest file
    assert re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+400\s+getppid$", text, re.M), text[-2000:]


def test_lxrun_bad_trace_options(tmp_path):
    r = run_lxrun(["--trace=" + str(tmp_path / "t"), "--trace-max-size", "lots"], ["true"])
    assert r.returncode == 2 and "--trace-max-size" in r.stderr
    r = run_lxrun(["--trace=" + str(tmp_path / "t"), "--string-size", "0"], ["true"])
    assert r.returncode == 2 and "--string-size" in r.stderr


def test_string_size_as_strace_s(tmp_path):
    out = tmp_path / "t.trace"
    r = run_lxrun(["--policy", "trace-all", f"--trace={out}", "-s", "4"],
                  ["sh", "-c", "echo hello-world > /dev/null"])
    assert r.returncode == 0, r.stderr
    assert 'write(1, "hell"..., 12) = 12' in out.read_text()


def test_summary_only_counts_without_stopping_at_exit(progs):
    """--summary alone on unotify: a notification per call, no exit stop (only lines need
    results); every call is counted from the program's execve on."""
    from lxbrand import Sandbox, load_policy
    from lxbrand.trace import Tracer
    assert not Sandbox(load_policy("trace-all"), tracer=Tracer(summary=True)).compile().sup.trace_exit
    assert Sandbox(load_policy("trace-all"), tracer=Tracer(out=sys.stderr)).compile().sup.trace_exit
    r = run_lxrun(["--policy", "trace-all", "--summary", "--json"], [progs["getppid_loop"], "50"])
    rows = {row["syscall"]: row for row in json.loads(r.stderr.splitlines()[-1])["summary"]}
    assert rows["getppid"]["calls"] == 50
    assert rows["execve"]["calls"] == 1
    assert "seccomp" not in rows  # lxrun's own setup is not the program's
