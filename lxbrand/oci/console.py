"""The terminal for `process.terminal: true`: a new pty whose master goes to the caller over
--console-socket (a unix socket; one message carrying exactly one fd via SCM_RIGHTS, as
containerd's shim expects), and whose slave becomes the container process's stdio and
controlling terminal."""
import array
import fcntl
import os
import socket
import struct
import termios

from .errors import OCIError


def open_pty(size=None):
    """(master fd, slave fd, slave path)."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    os.set_inheritable(slave, False)
    if size:
        set_size(master, size.get("height", 0), size.get("width", 0))
    return master, slave, os.ttyname(slave)


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def send_master(socket_path, master, name="/dev/ptmx"):
    """Send `master` over the console socket, then close our connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(socket_path)
        fds = array.array("i", [master])
        s.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    except OSError as e:
        raise OCIError(f"console socket {socket_path}: {e.strerror or e}") from None
    finally:
        s.close()


def make_controlling(slave):
    """In the child: new session, the pty as controlling terminal and as fds 0, 1, 2."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
