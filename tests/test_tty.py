"""The controlling terminal and job control, driven through a real pty the way
a person at a shell would: Ctrl-Z stops the job, fg resumes it, Ctrl-C kills
it and lxrun dies by SIGINT like the program; tty programs see a terminal."""
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import lxrun_cmd


class Term:
    def __init__(self):
        if not shutil.which("bash"):
            pytest.skip("bash is needed to drive job control")
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(PS1="$ ", TERM="dumb", LC_ALL="C")
            os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
        self.pid, self.fd, self.buf = pid, fd, b""

    def send(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def expect(self, needle, timeout=20):
        end = time.time() + timeout
        needle = needle.encode()
        while needle not in self.buf:
            left = end - time.time()
            if left <= 0:
                raise AssertionError(f"did not see {needle!r}; screen so far:\n{self.buf.decode(errors='replace')}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    break
        i = self.buf.index(needle) + len(needle)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen.decode(errors="replace")

    def close(self):
        try:
            self.send("exit\n")
            time.sleep(0.2)
            os.kill(self.pid, 9)
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def term():
    t = Term()
    yield t
    t.close()


def _lxrun(backend, *argv):
    return " ".join([*lxrun_cmd("--backend", backend), "--", *argv])


def _running(term, name, timeout=20):
    """Wait until a process `name` runs in the terminal's session (the job started)."""
    end = time.time() + timeout
    while time.time() < end:
        if subprocess.run(["pgrep", "-s", str(term.pid), "-x", name], capture_output=True).returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start; screen so far:\n{term.buf.decode(errors='replace')}")


def _resumed(term, name, timeout=20):
    """Wait until `name` in the terminal's session is no longer stopped (after
    fg: the line typed next is read in the program's terminal mode)."""
    end = time.time() + timeout
    while time.time() < end:
        r = subprocess.run(["ps", "-o", "stat=", "-s", str(term.pid), "-C", name], capture_output=True, text=True)
        states = [x for x in r.stdout.split() if x]
        if states and not any(x[0] in "Tt" for x in states):
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} was not resumed; screen so far:\n{term.buf.decode(errors='replace')}")


def test_ctrl_z_fg_ctrl_c(term, backend):
    term.send(f"{_lxrun(backend, 'cat')}\n")
    time.sleep(1.5)
    term.send("hello\n")
    term.expect("hello\r\nhello")           # echoed by the tty, then by cat
    term.send(b"\x1a")                       # Ctrl-Z
    term.expect("Stopped")
    term.send("fg\n")
    time.sleep(1.0)
    term.send("again\n")
    term.expect("again\r\nagain")
    term.send(b"\x03")                       # Ctrl-C
    time.sleep(0.5)
    term.send("echo status=$?\n")
    term.expect("status=130")                # 128 + SIGINT: lxrun died by the program's signal


JOB_ROUNDS = int(os.environ.get("LXBRAND_JOB_ROUNDS", "40"))


def test_fg_typed_right_after_stopped_reaches_the_shell(term, backend):
    """A line typed as soon as the shell says "Stopped" is the shell's.  The job
    was reported stopped when the supervisor stopped, while the program could
    still be in its read() of the terminal and take the line: `fg` was lost
    (3 in 20 runs of test_ctrl_z_fg_ctrl_c; at that rate 40 rounds miss it
    with probability 0.9%).  Now the supervisor stops once the program has."""
    term.send(f"{_lxrun(backend, 'cat')}\n")
    _running(term, "cat")
    term.send("ready\n")
    term.expect("ready\r\nready")
    for i in range(JOB_ROUNDS):
        term.send(b"\x1a")
        term.expect("Stopped")
        term.send("fg\n")                         # at once, before the prompt
        term.expect("cat\r\n")                   # the shell ran it: it names the job going on
        _resumed(term, "cat")
        term.send(f"line{i}\n")
        term.expect(f"line{i}\r\nline{i}")       # the tty's echo, then cat's
    term.send(b"\x04")                            # EOF: cat ends
    term.expect("$ ")
    term.send("echo status=$?\n")
    term.expect("status=0")


def test_a_program_that_ignores_ctrl_z_keeps_running(term, backend):
    """Natively Ctrl-Z does nothing to a job that ignores SIGTSTP; the
    supervisor used to stop anyway (the shell said "Stopped", the program ran on)."""
    term.send(_lxrun(backend, "sh", "-c", "'trap \"\" TSTP; exec cat'") + "\n")
    _running(term, "cat")
    term.send("one\n")
    term.expect("one\r\none")
    term.send(b"\x1a")
    term.send("two\n")
    seen = term.expect("two\r\ntwo")
    assert "Stopped" not in seen
    term.send(b"\x03")
    term.expect("$ ")                              # the job ended: the shell's prompt
    term.send("echo status=$?\n")
    term.expect("status=130")


def test_kill_tstp_to_lxrun_stops_the_job(term, backend):
    """`kill -TSTP <lxrun>` reaches the program, and the job stops with it."""
    term.send(f"{_lxrun(backend, 'cat')}\n")
    _running(term, "cat")
    term.send("one\n")
    term.expect("one\r\none")
    lxrun = int(subprocess.run(["pgrep", "-P", str(term.pid)], capture_output=True, text=True).stdout.split()[0])
    os.kill(lxrun, signal.SIGTSTP)
    term.expect("Stopped")
    term.send("fg\n")
    term.expect("cat\r\n")
    _resumed(term, "cat")
    term.send("two\n")
    term.expect("two\r\ntwo")
    term.send(b"\x04")
    term.expect("$ ")
    term.send("echo status=$?\n")
    term.expect("status=0")


def test_a_background_read_stops_the_job_for_tty_input(term, backend):
    """A background job that reads the terminal gets SIGTTIN: the job stops, as
    natively, and `fg` gives it the line."""
    term.send(f"{_lxrun(backend, 'head', '-n1')} &\n")
    end = time.time() + 20
    while subprocess.run(["ps", "-o", "stat=", "--ppid", str(term.pid)], capture_output=True,
                         text=True).stdout.strip()[:1] != "T":   # the shell's child: the job
        assert time.time() < end, "the background job did not stop"
        time.sleep(0.05)
    term.send("jobs\n")
    term.expect("Stopped")
    term.send("fg\n")
    term.expect("-n1\r\n")
    _resumed(term, "head")
    term.send("line\n")
    term.expect("line\r\nline")
    term.expect("$ ")
    term.send("echo status=$?\n")
    term.expect("status=0")


def test_program_sees_a_terminal(term, backend):
    term.send(f"{_lxrun(backend, 'sh', '-c', repr('tty >/dev/null && echo IS-A-TTY; stty size'))}\n")
    term.expect("IS-A-TTY")


def test_ctrl_c_ends_what_the_first_process_left(term, backend):
    """The program's first process has exited; what it left ignores SIGINT (as a
    background job of sh does) and lxrun waits for it: Ctrl-C from the terminal
    (not forwarded: it reached the whole group) ends it at once, and lxrun says
    what it killed (csrc/tasks.c).  Natively the shell would have returned."""
    term.send(_lxrun(backend, "sh", "-c", "'sleep 60 & echo started'") + "\n")
    term.expect("started")
    _running(term, "sleep")
    end = time.time() + 20
    while subprocess.run(["pgrep", "-s", str(term.pid), "-x", "sh"], capture_output=True).returncode == 0:
        assert time.time() < end, "the first process did not exit"
        time.sleep(0.05)
    term.send(b"\x03")
    term.expect("killing what the program's first process left running: 1 task")
    term.expect("(sleep, parent ")
    term.expect("$ ")
    term.send("echo status=$?\n")
    term.expect("status=0")
    end = time.time() + 10  # killed; its zombie waits for its parent (init) to reap it
    while subprocess.run(["pgrep", "-s", str(term.pid), "-x", "sleep"], capture_output=True).returncode == 0:
        assert time.time() < end, "the sleep was left running"
        time.sleep(0.05)


def test_ctrl_c_twice_is_the_programs(term, backend):
    """Ctrl-C is a keystroke a program may take any number of times: it never makes
    lxrun end a program that caught it (only a second signal sent by a process does)."""
    # what the program prints is not in the command line the terminal echoes
    term.send(_lxrun(backend, "sh", "-c", "'trap \"echo caught$((6*7))\" INT; echo ready$((6*7)); "
                                          "while :; do sleep 0.1; done'") + "\n")
    term.expect("ready42")
    for _ in range(3):
        time.sleep(0.3)
        term.send(b"\x03")
        term.expect("caught42")
    time.sleep(0.5)
    assert subprocess.run(["pgrep", "-s", str(term.pid), "-x", "sh"], capture_output=True).returncode == 0
    term.send(b"\x1c")                                # Ctrl-\: sh does not catch SIGQUIT
    term.expect("$ ")
    term.send("echo status=$?\n")
    term.expect("status=131")
