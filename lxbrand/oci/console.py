"""The terminal for `process.terminal: true`: a new pty whose master goes to the caller over
--console-socket (a unix socket; one message carrying exactly one fd via SCM_RIGHTS, as
containerd's shim expects), and whose slave becomes the container process's stdio and
controlling terminal.

As runc does, the pty is allocated inside the container (from its own devpts, after
pivot_root or setns), so the process sees /dev/pts/N, which ttyname(3) can find; the
runtime only connects to the socket beforehand and hands the connected fd down."""
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


def connect(socket_path):
    """Connect to --console-socket; returns the fd (inherited by the supervisor and child)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(socket_path)
    except OSError as e:
        s.close()
        raise OCIError(f"console socket {socket_path}: {e.strerror or e}") from None
    return s.detach()


def send_master(sock_fd, master, name="/dev/ptmx"):
    """Send `master` (exactly one fd, one message) over the connected console socket."""
    s = socket.socket(fileno=sock_fd)
    try:
        fds = array.array("i", [master])
        s.sendmsg([name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
    except OSError as e:
        raise OCIError(f"console socket: sending the pty master: {e.strerror or e}") from None
    finally:
        s.close()


def setup_in_container(sock_fd, size, uid):
    """In the child, inside the container's mount namespace: allocate the pty from the
    container's /dev/ptmx, send the master, and return the slave fd and path."""
    master, slave = open_pty(size)[:2]
    path = os.ttyname(slave)
    try:
        os.fchown(slave, uid, -1)
    except OSError:
        pass
    send_master(sock_fd, master)
    os.close(master)
    return slave, path


def make_controlling(slave):
    """In the child: new session, the pty as controlling terminal and as fds 0, 1, 2."""
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
