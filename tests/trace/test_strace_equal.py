"""A trace reads as strace's: for a corpus of calls (tests/progs/trace_corpus.c), every line
of lxrun's --trace equals strace -f's for the same program, names, decoded arguments,
results and errno, on both backends -- the results on unotify too (csrc/trace.h)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

DATA = "0123456789abcdef line one\nline two\n"


def normalize(text):
    """Each process's lines (the first process's first, its children's after, in order),
    without what differs between two runs of the same program: the -T timing, strace's
    padding before '=', addresses (randomized), the random bytes asked for, and the pids
    the program was told (its own, its parent's, its child's).  Lines of different
    processes are not compared in order: which of two processes' calls ends first is a race."""
    by_pid, pids = {}, set()
    for line in join_resumed(text).splitlines():
        m = re.match(r"^(?:\[pid +(\d+)\] |(\d+) +)", line)
        if not m:
            continue
        pid = m[1] or m[2]
        pids.add(pid)
        line = line[m.end():]
        if not line or line.startswith(("+++", "---")):
            continue
        line = re.sub(r" <\d+\.\d+>$", "", line)
        line = re.sub(r"\)\s+= ", ") = ", line)
        line = re.sub(r"0x[0-9a-f]{6,}", "ADDR", line)
        line = re.sub(r'^getrandom\("[^"]*"', 'getrandom("RANDOM"', line)
        m = re.match(r"^(?:getppid\(\)|set_tid_address\(ADDR\)|clone\(.*\)) = (\d+)$", line)
        if m:
            pids.add(m[1])
        by_pid.setdefault(pid, []).append(line)
    pids = sorted(p for p in pids if len(p) >= 3)  # pids here are large: never a small number
    pat = re.compile(r"\b(" + "|".join(pids) + r")\b")
    seqs = [[pat.sub("PID", x) for x in lines] for lines in by_pid.values()]
    return seqs[:1] + sorted(seqs[1:])


def join_resumed(text):
    """strace -f splits a call that another process's line interrupts (`wait4(5,  <unfinished
    ...>` ... `<... wait4 resumed>[...], 0, NULL) = 5`); lxbrand writes each call whole, at
    its end: join strace's halves where the call ended."""
    lines, pending = [], {}
    for line in text.splitlines():
        m = re.match(r"^(\d+) +(.*) <unfinished \.\.\.>$", line)
        if m:
            pending[m[1]] = m[2]
            continue
        m = re.match(r"^(\d+) +<\.\.\. \w+ resumed>(.*)$", line)
        if m and m[1] in pending:
            line = f"{m[1]} {pending.pop(m[1])}{m[2]}"
        lines.append(line)
    return "\n".join(lines)


def run_corpus(cmd, cwd):
    (cwd / "data.txt").write_text(DATA)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LC_ALL": "C"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_trace_lines_equal_strace(backend, progs, tmp_path):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (apt-get install strace; .ci/setup installs it)")
    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(progs["trace_corpus"], work / "corpus")
    ref = tmp_path / "strace.txt"
    r = run_corpus(["strace", "-f", "-o", str(ref), "./corpus"], work)
    assert r.returncode == 0, r.stderr
    mine = tmp_path / "lxrun.txt"
    r = run_corpus([sys.executable, "-m", "lxbrand.cli.lxrun", "--backend", backend, "--policy", "trace-all",
                    f"--trace={mine}", "--", "./corpus"], work)
    assert r.returncode == 0, r.stderr
    want_text, got_text = ref.read_text(), mine.read_text()
    want, got = normalize(want_text), normalize(got_text)
    assert got[0][0].startswith('execve("./corpus", ["./corpus"]'), got[0][:3]  # from the program's execve
    assert len(want) == 2 and len(want[0]) > 60  # the program and its child
    for w, g in zip(want, got):
        assert g == w, "\n".join(f"strace: {a}\nlxrun:  {b}" for a, b in zip(w, g) if a != b) or \
            f"{len(w)} lines from strace, {len(g)} from lxrun"
    assert len(got) == len(want)
