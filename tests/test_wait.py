"""When lxrun returns, and how it ends a tree that does not (csrc/tasks.c, csrc/wake.c).

Natively `sh -c 'sleep 3 & echo started'` returns at once and its sleep runs on;
lxrun waits for the whole tree by default (as strace -f: a supervisor leaves no
supervised task behind), or with --wait first returns when the first process ends
and kills what it left (a container's rule).  A terminating signal to lxrun reaches
the program first and, once its first process has ended, ends the rest, listing
what it kills and what each was blocked in; SIGRTMIN+7 lists the tasks.  Every run
here starts in a session of its own, so "nothing is left" is checked on the
session, and each is bounded in time: a hang fails the test instead of CI."""
import os
import signal
import subprocess
import time

import pytest

from conftest import lxrun_cmd

FRONTENDS = ("python", "c")
# the hang: an orphan blocked for ever in a futex wait that ignores the
# terminating signals, beside a plain sleep
STUCK = ("python3 -c 'import signal, threading; [signal.signal(s, signal.SIG_IGN) for s in "
         "(signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]; threading.Event().wait()'")
LEFT = "sleep 60 & echo $! > {d}/sleep; (" + STUCK + ") & echo $! > {d}/stuck; "


def _session(sid):
    """pids of the processes of session sid (the run's tree, and lxrun)."""
    r = subprocess.run(["ps", "-o", "pid=", "-s", str(sid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def _gone(sid, timeout=10):
    end = time.monotonic() + timeout
    while _session(sid) and time.monotonic() < end:
        time.sleep(0.05)
    return _session(sid) == []


def _start(frontend, backend, *args, script):
    return subprocess.Popen(lxrun_cmd("--backend", backend, *args, "--", "sh", "-c", script, frontend=frontend),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(p, timeout=30):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError(f"lxrun did not return in {timeout} s; stderr: {err}")
    return out, err


def _wait_for(path, timeout=20):
    end = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < end, f"{path} was not written"
        time.sleep(0.02)
    return int(path.read_text())


def _only_orphans_left(p, timeout=20):
    """Wait until the run's first process (lxrun's only child) has ended."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True, text=True)
        if not r.stdout.split():
            return
        time.sleep(0.02)
    raise AssertionError("the first process did not end")


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_wait_all_is_the_default_and_waits_for_the_tree(frontend, backend):
    t0 = time.monotonic()
    p = _start(frontend, backend, script="sleep 1.5 & echo started")
    out, err = _finish(p)
    assert (p.returncode, out) == (0, "started\n"), err
    assert time.monotonic() - t0 >= 1.5


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_wait_first_returns_with_the_first_process_and_kills_the_rest(frontend, backend, tmp_path):
    t0 = time.monotonic()
    p = _start(frontend, backend, "--wait", "first", script=LEFT.format(d=tmp_path) + "echo started; exit 3")
    out, err = _finish(p)
    assert (p.returncode, out, err) == (3, "started\n", "")  # silent, as docker run
    assert time.monotonic() - t0 < 20
    assert _gone(p.pid), "processes left: " + str(_session(p.pid))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_wait_first_kills_what_is_born_meanwhile(frontend, backend):
    """An orphan that forks without end: its children born while the tree is
    being killed die on sight (their first stop), nothing escapes."""
    p = _start(frontend, backend, "--wait", "first",
               script="(while :; do sleep 5 & done) & sleep 0.5; echo started")
    out, err = _finish(p)
    assert (p.returncode, out) == (0, "started\n"), err
    assert _gone(p.pid), "processes left: " + str(_session(p.pid))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_wait_takes_all_or_first(frontend):
    r = subprocess.run(lxrun_cmd("--wait", "some", "--", "true", frontend=frontend),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--wait: invalid choice: 'some'" in r.stderr, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_terminating_signal_ends_what_is_left_and_says_what(frontend, sig, backend, tmp_path):
    """The first process is gone; what it left is blocked for ever and ignores
    the signal: lxrun lists it and kills it, and returns the first's status."""
    p = _start(frontend, backend, script=LEFT.format(d=tmp_path) + "echo started")
    assert p.stdout.readline() == "started\n"
    sleeper, stuck = _wait_for(tmp_path / "sleep"), _wait_for(tmp_path / "stuck")
    _only_orphans_left(p)
    time.sleep(0.3)  # the python orphan is in its wait
    p.send_signal(sig)
    out, err = _finish(p)
    assert p.returncode == 0, err
    assert "lxrun: killing what the program's first process left running: 2 tasks\n" in err, err
    assert f"  {sleeper} (sleep, parent " in err and "): sleeping, in clock_nanosleep" in err, err
    assert f"  {stuck} (python3, parent " in err and "): sleeping, in futex" in err, err
    assert _gone(p.pid), "processes left: " + str(_session(p.pid))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_the_program_gets_the_signal_first(frontend, backend):
    """The first process still runs: it gets SIGTERM (forwarded) and finishes as it
    likes; lxrun ends with its status, nothing else to kill, nothing said."""
    p = _start(frontend, backend, script="trap 'echo bye; exit 5' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = _finish(p)
    assert (p.returncode, out, err) == (5, "bye\n", "")


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_signal_to_a_running_program_ends_what_it_leaves(frontend, backend, tmp_path):
    """SIGTERM while the first process runs: it handles it and exits; what it
    started in the background is not waited for but listed and killed."""
    p = _start(frontend, backend,
               script=LEFT.format(d=tmp_path) + "trap 'exit 4' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.stdout.readline() == "ready\n"
    _wait_for(tmp_path / "stuck")
    p.send_signal(signal.SIGTERM)
    out, err = _finish(p)
    assert p.returncode == 4, err
    assert "lxrun: killing what the program's first process left running: 2 tasks\n" in err, err
    assert _gone(p.pid), "processes left: " + str(_session(p.pid))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_rtmin7_lists_every_task_and_changes_nothing(frontend, backend):
    p = _start(frontend, backend,
               script="echo ready; python3 -c 'import threading; threading.Event().wait(1.5)'; echo done; exit 6")
    assert p.stdout.readline() == "ready\n"
    time.sleep(0.7)
    p.send_signal(signal.SIGRTMIN + 7)
    out, err = _finish(p)
    assert (p.returncode, out) == (6, "done\n"), err
    assert "lxrun: the program's tasks: 2 tasks\n" in err, err
    assert "(sh, parent " in err and "): sleeping, in wait4" in err, err
    assert "(python3, parent " in err and "): sleeping, in futex" in err, err


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_second_terminating_signal_ends_everything_now(frontend, backend, tmp_path):
    """The first process ignores SIGTERM (natively `kill` would do nothing either) and
    lxrun waits on: a second SIGTERM from a process kills every task at once, the
    first process too, listed; lxrun dies by SIGKILL as its program did."""
    p = _start(frontend, backend,
               script=LEFT.format(d=tmp_path) + "trap '' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.stdout.readline() == "ready\n"
    _wait_for(tmp_path / "stuck")
    p.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(timeout=1)  # ignored: the program runs on
    p.send_signal(signal.SIGTERM)
    out, err = _finish(p)
    assert p.returncode == -signal.SIGKILL, err
    assert "lxrun: sent a terminating signal again: killing every task of the program: " in err, err
    assert "(sh, parent " in err and "(python3, parent " in err and "(sleep, parent " in err, err
    assert _gone(p.pid), "processes left: " + str(_session(p.pid))


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_task_name_cannot_write_to_the_terminal(frontend, backend):
    """The list shows names the program chose (PR_SET_NAME): control bytes are shown
    as '?', so an escape sequence never reaches the user's terminal."""
    name = "\\x1b]0;owned\\x07x"
    p = _start(frontend, backend, script="python3 -c 'import ctypes, time; "
               f"ctypes.CDLL(None).prctl(15, b\"{name}\"); print(\"ready\", flush=True); time.sleep(1.5)'")
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGRTMIN + 7)
    out, err = _finish(p)
    assert p.returncode == 0, err
    assert "(?]0;owned?x, parent " in err and "\x1b" not in err and "\x07" not in err, repr(err)


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_the_programs_own_group_signals_are_its_own(frontend, backend):
    """The program shares lxrun's process group, so its kill(0, ...) (a script's
    `trap 'kill 0' EXIT`) reaches lxrun too: as natively, the group got it once, and
    it is neither forwarded again, nor a request to end the sandbox (twice), nor a
    request for the task list."""
    p = _start(frontend, backend, script="trap '' RTMIN+7; kill -s RTMIN+7 0; n=0; trap 'n=$((n+1)); echo got TERM $n' "
                                         "TERM; kill 0; kill 0; sleep 0.5; echo end $n")
    out, err = _finish(p)
    assert (p.returncode, out, err) == (0, "got TERM 1\ngot TERM 2\nend 2\n", "")
