"""The controlling terminal and job control, driven through a real pty the way
a person at a shell would: Ctrl-Z stops the job, fg resumes it, Ctrl-C kills
it and lxrun dies by SIGINT like the program; tty programs see a terminal."""
import os
import pty
import select
import shutil
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


def test_program_sees_a_terminal(term, backend):
    term.send(f"{_lxrun(backend, 'sh', '-c', repr('tty >/dev/null && echo IS-A-TTY; stty size'))}\n")
    term.expect("IS-A-TTY")
