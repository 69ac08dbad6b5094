"""Debuggers inside the sandbox (csrc/debuggee.c): strace and gdb run under lxrun's default
profile on the unotify backend with the output they give natively; the supervisor hands
each target over and takes it back; where a guarantee needs the supervisor as every
task's tracer, ptrace is refused with EPERM and lxrun says why once."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import lxrun_cmd, run_lxrun, run_native
from debugger_output import gdb_argv, gdb_lines, norm, strace_c_rows

pytestmark = pytest.mark.skipif(shutil.which("strace") is None or shutil.which("gdb") is None,
                                reason="strace and gdb are not installed (.ci/setup installs them)")

HERE = os.path.dirname(os.path.abspath(__file__))


def _both(argv, args=(), frontend="python", **kw):
    kw.setdefault("timeout", 120)
    native = run_native(argv, **kw)
    boxed = subprocess.run(lxrun_cmd(*args, "--", *argv, frontend=frontend), capture_output=True, text=True, **kw)
    return native, boxed


@pytest.fixture(scope="module")
def threads_g(tmp_path_factory):
    """tests/progs/threads.c with debugging information (dynamic: gdb's libthread_db)."""
    exe = tmp_path_factory.mktemp("dbg") / "threads"
    subprocess.run(["gcc", "-g", "-O0", "-pthread", "-o", str(exe), os.path.join(HERE, "progs", "threads.c")],
                   check=True)
    return str(exe)


@pytest.mark.parametrize("frontend", ["python", "c"])
def test_strace_f_true_exits_0(frontend):
    # issue 12: natively 0, under lxbrand 1 before (ptrace denied)
    r = run_lxrun([], ["strace", "-f", "-o", "/dev/null", "true"]) if frontend == "python" else \
        subprocess.run(lxrun_cmd("--", "strace", "-f", "-o", "/dev/null", "true", frontend="c"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_strace_f_output_as_natively(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"s{i}"
        argv = ["strace", "-f", "-qq", "-o", str(out), "-e", "trace=execve,write,exit_group",
                "sh", "-c", "echo hi; /bin/echo there; exit 3"]
        r = run_native(argv) if i == 0 else run_lxrun([], argv)
        assert (r.returncode, r.stdout) == (3, "hi\nthere\n"), r.stderr
        outs.append(norm(out.read_text()))
    assert outs[1] == outs[0]
    assert 'execve("/bin/echo", ["/bin/echo", "there"]' in outs[1]


def test_strace_c_counts_as_natively(tmp_path):
    rows = []
    for i in range(2):
        out = tmp_path / f"c{i}"
        argv = ["strace", "-c", "-o", str(out), "/bin/true"]
        r = run_native(argv) if i == 0 else run_lxrun([], argv)
        assert r.returncode == 0, r.stderr
        rows.append(strace_c_rows(out.read_text()))
    assert rows[1] == rows[0]
    assert any(r[0] == "execve" for r in rows[1])


def test_strace_p_of_a_sibling_and_taken_back(tmp_path):
    """strace -p attaches to a sibling (the supervisor detaches it), follows it, and on
    SIGINT detaches; the supervisor is its tracer again (TracerPid: lxrun itself)."""
    out = tmp_path / "p"
    script = (f'sh -c "sleep 0.6; echo child-out; sleep 2" & p=$!; '
              f'timeout -s INT 1.5 strace -qq -o {out} -e trace=write -p $p; '
              'echo strace=$?; grep TracerPid: /proc/$p/status; kill $p; wait')
    p = subprocess.Popen(lxrun_cmd("--", "sh", "-c", script), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    so, se = p.communicate(timeout=60)
    assert p.returncode == 0, se
    lines = so.splitlines()
    # (124: timeout's status when it had to interrupt strace, as natively)
    assert lines[:2] == ["child-out", "strace=124"], (so, se)
    assert lines[2].split() == ["TracerPid:", str(p.pid)], "the sibling was not taken back by the supervisor"
    assert 'write(1, "child-out\\n", 10)' in out.read_text()


def test_gdb_batch_breakpoint_step_backtrace_threads(threads_g):
    argv = gdb_argv(threads_g)
    native, boxed = _both(argv)
    assert boxed.returncode == native.returncode == 0, boxed.stderr
    want = gdb_lines(native.stdout)
    assert gdb_lines(boxed.stdout) == want, (boxed.stdout, boxed.stderr)
    # the lines that matter were there to compare
    assert any(ln.startswith("Breakpoint 1, main") for ln in want)
    assert any("hit Breakpoint 2, work" in ln for ln in want)
    assert any(ln.startswith("[Inferior 1 (process N) exited normally]") for ln in want)
    assert "total 32000" in boxed.stdout


def test_gdb_attach_to_a_sibling():
    script = ('sleep 5 & p=$!; gdb -batch -nx -p $p -ex "info inferiors" -ex detach 2>&1 | '
              'grep -c "^\\* 1 *process"; grep TracerPid: /proc/$p/status; kill $p; wait')
    p = subprocess.Popen(lxrun_cmd("--", "sh", "-c", script), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    so, se = p.communicate(timeout=60)
    assert so.split() == ["1", "TracerPid:", str(p.pid)], (so, se)


def test_supervisor_and_its_threads_cannot_be_attached():
    # every thread of the supervisor (the program's parent in lxrun): never ours to hand over
    code = ("import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); "
            "ts = os.listdir(f'/proc/{os.getppid()}/task'); "
            "print(len(ts) > 1, all(libc.ptrace(16, int(t), 0, 0) == -1 and ctypes.get_errno() == 1 for t in ts), "
            "all(libc.ptrace(0x4206, int(t), 0, 0) == -1 for t in ts))")
    r = run_lxrun([], [sys.executable, "-c", code])
    assert r.stdout.split() == ["True", "True", "True"], r.stderr


def test_strict_still_denies_ptrace():
    r = run_lxrun(["--policy", "strict"], ["strace", "-o", "/dev/null", "true"])
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr
    assert "lxbrand:" not in r.stderr    # the policy denies it: nothing to explain


EXEC_RULE = """\
name = "exec-rule"
default = "allow"

[[path]]
action = "deny"
ops = ["exec"]
paths = ["/nonexistent-dir"]
comment = "nothing runs from there"
"""


@pytest.mark.parametrize("how", ["exec-rule", "ptrace-backend", "trace"])
def test_refused_with_the_reason_once(tmp_path, how):
    args = {"exec-rule": ["--policy", str(tmp_path / "p.toml")], "ptrace-backend": ["--backend", "ptrace"],
            "trace": ["--trace", str(tmp_path / "t.out")]}[how]
    (tmp_path / "p.toml").write_text(EXEC_RULE)
    r = run_lxrun(args, ["strace", "-f", "-o", "/dev/null", "true"])
    assert r.returncode != 0
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("lxbrand: ")]
    assert len(said) == 1, r.stderr
    assert "refused (EPERM)" in said[0]
    assert {"exec-rule": "exec rules", "ptrace-backend": "--backend unotify", "trace": "records a trace"}[how] in said[0]


def test_traceme_under_the_supervisor_refused(progs):
    # the first process's parent is the supervisor: PTRACE_TRACEME would make it the tracer
    r = run_lxrun([], [progs["ptrace_parent"]])
    assert r.stdout.splitlines() == ["attach-parent -1 Operation not permitted", "traceme -1 Operation not permitted"]


def test_program_tracing_its_children_as_natively(progs):
    # PTRACE_TRACEME + exec event, and PTRACE_SEIZE + INTERRUPT + DETACH of a second child
    native, boxed = run_native([progs["ptrace_child"]]), run_lxrun([], [progs["ptrace_child"]])
    assert boxed.returncode == native.returncode == 0, boxed.stderr
    assert boxed.stdout == native.stdout
    assert "second exited 7" in boxed.stdout


def test_children_made_while_handed_over_are_taken_back(tmp_path):
    """strace -p without -f: the child its target forks meanwhile is nobody's tracee; once
    strace detaches, the supervisor holds it again."""
    pidfile = tmp_path / "grandchild"
    script = (f'sh -c "sleep 0.5; sleep 30 & echo \\$! > {pidfile}; wait" & p=$!; '
              'timeout -s INT 1.5 strace -qq -o /dev/null -p $p; '
              f'g=$(cat {pidfile}); grep TracerPid: /proc/$g/status; kill $g $p; wait')
    p = subprocess.Popen(lxrun_cmd("--", "sh", "-c", script), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    so, se = p.communicate(timeout=60)
    assert so.split() == ["TracerPid:", str(p.pid)], (so, se)


def test_debuggee_dies_with_its_debugger():
    # PTRACE_O_EXITKILL is forced (DIVERGENCE.md): natively the target of a SIGKILLed
    # strace -p runs on; here it dies with it, as the debugger dies with the supervisor
    script = ('sleep 30 & p=$!; strace -qq -o /dev/null -p $p & s=$!; sleep 0.5; kill -9 $s; wait $s; '
              'sleep 0.2; if kill -0 $p 2>/dev/null; then echo alive; kill $p; else echo gone; fi')
    r = run_lxrun([], ["sh", "-c", script])
    assert r.stdout.split() == ["gone"], r.stderr


@pytest.mark.skipif(shutil.which("ltrace") is None, reason="ltrace is not installed (.ci/setup installs it)")
def test_ltrace_as_natively(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"l{i}"
        argv = ["ltrace", "-o", str(out), "-e", "getenv+puts", "/bin/echo", "hi"]
        r = run_native(argv) if i == 0 else run_lxrun([], argv)
        assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
        outs.append(norm(out.read_text()))
    assert outs[1] == outs[0] and "getenv(" in outs[0]


def test_attach_outside_the_sandbox_refused_with_the_reason():
    # pid 1 is outside lxrun's sandbox (no pid namespace): natively root could attach
    r = run_lxrun([], ["strace", "-o", "/dev/null", "-p", "1"])
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("lxbrand: ")]
    assert len(said) == 1 and "not a task of this sandbox" in said[0], r.stderr
