"""Per-container state under --root (default /run/lxbrand): one directory per container.

    <root>/<id>/state.json   written atomically (temp file + rename), never half-written
    <root>/<id>/exec.fifo    exists from create until start: init blocks opening it

The status is not stored but derived, as runc does: init (the pid the pid-file names) gone
or a zombie -> stopped; exec.fifo present -> created; freezer frozen -> paused; else
running.  Init's start time is recorded so a recycled pid is not mistaken for it; so is the
supervisor's (lxbrand.sup_pid, sup_start), which `delete` kills if it outlives init.
"""
import json
import os
import re

from .errors import OCIError

DEFAULT_ROOT = "/run/lxbrand"
OCI_VERSION = "1.0.2"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class NotFound(OCIError):
    pass


def check_id(cid):
    if not cid or not _ID_RE.match(cid) or len(cid) > 1024:
        raise OCIError(f"invalid container id {cid!r}: use letters, digits and _ . + -")
    return cid


def write_atomic(path, data, mode=0o600):
    """Write path whole or not at all: a full or read-only state directory leaves the
    old file (or none) and raises OSError naming path."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        buf = data if isinstance(data, bytes) else data.encode()
        while buf:
            buf = buf[os.write(fd, buf):]
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        os.unlink(tmp)
        raise OSError(e.errno, e.strerror, path) from None
    os.close(fd)
    os.rename(tmp, path)


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat (starttime), and the state letter; (None, None) if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None, None
    rest = data[data.rfind(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


def _running(pid, start):
    """pid runs (not exited, not a zombie) and is the process that started at `start`."""
    if not pid:
        return False
    st, letter = proc_start_time(pid)
    if st is None or letter in ("Z", "X"):
        return False
    return start is None or start == st


class Container:
    """One container's state directory.  `data` is the state.json dict."""

    def __init__(self, root, cid):
        self.root = root
        self.id = check_id(cid)
        self.dir = os.path.join(root, cid)
        self.state_path = os.path.join(self.dir, "state.json")
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self.data = {}

    # -- lifecycle of the directory ------------------------------------------------------------
    @classmethod
    def new(cls, root, cid):
        c = cls(root, cid)
        os.makedirs(root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise OCIError(f"container {cid!r} already exists (in {root})") from None
        return c

    @classmethod
    def load(cls, root, cid):
        c = cls(root, cid)
        try:
            with open(c.state_path, "rb") as f:
                c.data = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"container {cid!r} does not exist (in {root})") from None
        except (OSError, ValueError) as e:
            raise OCIError(f"container {cid!r}: unreadable state {c.state_path}: {e}") from None
        return c

    @classmethod
    def list(cls, root):
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            try:
                out.append(cls.load(root, n))
            except OCIError:
                continue
        return out

    def save(self):
        write_atomic(self.state_path, json.dumps(self.data, separators=(",", ":")))

    def save_fast(self):
        """The plain-text summary the runtime's C front end (csrc/runtime/state.c) reads to
        answer start, kill, delete and exec without starting Python."""
        lx = self.data.get("lxbrand", {})
        hooks = lx.get("hooks") or {}
        # start and delete need Python for hooks to run, or mounts made in the runtime's
        # mount namespace to detach
        python = hooks.get("poststart") or hooks.get("poststop") or lx.get("host_mounts")
        lines = [f"pid {self.pid}", f"start {lx.get('pid_start') or 0}",
                 f"sup {lx.get('sup_pid') or 0} {lx.get('sup_start') or 0}",
                 f"python {1 if python else 0}"]
        if lx.get("engine"):
            lines.append(f"engine {lx['engine']}")
        lines += [f"cgroup {d}" for d in (lx.get("cgroups") or {}).values()]
        write_atomic(os.path.join(self.dir, "fast"), "\n".join(lines) + "\n")

    def remove(self):
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else ():
            try:
                os.unlink(os.path.join(self.dir, name))
            except IsADirectoryError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass

    # -- derived status ------------------------------------------------------------------------
    @property
    def pid(self):
        return self.data.get("pid", 0)

    def alive(self):
        """True while init runs (not exited, not a zombie, not a recycled pid)."""
        return _running(self.pid, self.data.get("lxbrand", {}).get("pid_start"))

    def supervisor_alive(self):
        lx = self.data.get("lxbrand", {})
        return _running(lx.get("sup_pid"), lx.get("sup_start"))

    def status(self):
        if not self.alive():
            return "stopped" if self.pid else self.data.get("status", "creating")
        if os.path.exists(self.fifo):
            return "created"
        from .cgroups import is_frozen
        if is_frozen(self.data.get("lxbrand", {}).get("cgroups", {})):
            return "paused"
        return "running"

    def oci_state(self):
        """The state as the OCI spec defines it (what `lxbrand state` prints)."""
        st = self.status()
        pid = self.pid  # init, as the host sees it (runtime-spec), as the pid-file says
        out = {"ociVersion": OCI_VERSION, "id": self.id, "status": st,
               "pid": pid if st != "stopped" else 0,
               "bundle": self.data.get("bundle", ""),
               "rootfs": self.data.get("rootfs", ""),
               "created": self.data.get("created", ""),
               "owner": ""}
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        return out
