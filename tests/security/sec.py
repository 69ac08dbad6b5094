"""Helpers for the adversarial suite: the attack programs (tests/security/progs/*.c,
built static once per session), loopback listeners that count what reaches them,
and policy files.

Imported by name: a conftest.py here would shadow tests/conftest.py, which the
suite imports as `conftest`."""
import os
import socket
import threading
from pathlib import Path

import pytest

PROGS = Path(__file__).resolve().parent / "progs"


@pytest.fixture(scope="session")
def secprogs(tmp_path_factory):
    from conftest import build_c_programs
    return build_c_programs(PROGS, tmp_path_factory.mktemp("secprogs"))


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Listener:
    """A TCP echo server or a UDP sink on one loopback address; counts what arrives."""

    def __init__(self, host, port, kind="tcp", family=socket.AF_INET):
        self.kind = kind
        self.count = 0
        self.data = []
        self.sock = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if kind == "udp":
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((host, port))
        if kind == "tcp":
            self.sock.listen(128)
        self.sock.settimeout(0.2)
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        while not self._stop:
            try:
                if self.kind == "tcp":
                    c, _ = self.sock.accept()
                    self.count += 1
                    with c:
                        c.settimeout(2)
                        try:
                            d = c.recv(16)
                            self.data.append(d)
                            c.sendall(d)
                        except OSError:
                            pass
                else:
                    d = self.sock.recv(65536)
                    self.count += 1
                    self.data.append(d)
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return

    def close(self):
        """Stop, and count what is still queued (datagrams, connections in the backlog)."""
        if self._stop:
            return self.count
        self._stop = True
        self._t.join(5)
        self.sock.setblocking(False)
        while True:
            try:
                if self.kind == "tcp":
                    self.sock.accept()[0].close()
                else:
                    self.data.append(self.sock.recv(65536))
                self.count += 1
            except OSError:
                break
        self.sock.close()
        return self.count


def write_policy(tmp_path, text, name="p.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def same_creds_skip():
    return None if os.geteuid() == 0 else "needs root"
