"""Network policy: connect, bind, sendto, sendmsg and sendmmsg allowed or denied
by address family, CIDR, port, and UNIX socket path or abstract name.

    [[network]]
    action = "allow"                  # allow | deny
    ops = ["connect", "send"]         # connect | bind | send (default: all three)
    family = "inet"                   # inet | inet6 | unix | netlink | packet | ... (default: from cidr/path)
    cidr = ["127.0.0.0/8"]            # inet/inet6 only
    ports = [80, "8000-8100"]         # inet/inet6 only
    # path = ["/run/app/*.sock"]      # unix: filesystem sockets (glob on the resolved path)
    # abstract = ["app-*"]            # unix: abstract names (glob)
    errno = "EACCES"                  # deny only (default EACCES)
    comment = "why"

Rules are tried in order; the first that matches decides; with none,
`network_default` (a top-level key, "allow" unless set) decides.

How a decision is carried out (seccomp_unotify(2), "Caveats"; DESIGN.md):

- An allowed call CONTINUEs natively only when nothing was decided: the rules
  allow the operation for every socket and address, or sendto() has no address
  (a register).  A verdict that depends on the socket's family (SO_DOMAIN of
  the copy we took) is carried out on that copy too, because the kernel would
  look the fd number up again and another thread may have dup2()ed a different
  socket onto it (test_fd_swapped_between_check_and_use_never_leaks).
- Otherwise the address is read ONCE into the supervisor and decided on; an
  allowed call is performed BY THE SUPERVISOR on the program's own socket, taken
  with pidfd_getfd(2), with the copy; its result is the call's result.  The
  program's memory may change after the read: the kernel never looks at it again.
  (Under ptrace the same: take the socket, act, skip the call with the result.)
- UNIX path sockets are resolved as the program sees them (its root and cwd,
  openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), the rule is matched on the
  resolved path, and the supervisor connects through /proc/self/fd/N of the
  resolved inode, so a symlink swapped after the decision changes nothing.

Blocking semantics: a connect() on a non-blocking socket returns EINPROGRESS
to the program exactly as natively (the supervisor's connect runs on the same
open file description, so it inherits O_NONBLOCK), and the program polls its
own fd.  A blocking connect() is performed on a thread of its own and answered
from there (Call.defer, unotify), so the program's other trapped calls go on;
under ptrace, and for a blocking send, the supervisor waits (other trapped calls
of the sandbox wait too).  A non-fatal signal does not interrupt the wait
(SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV).  See DIVERGENCE.md.
"""
import ctypes
import errno
import fnmatch
import ipaddress
import os
import socket
import stat
import struct

from lxbrand._core import CONTINUE
from lxbrand.procfs import status as _status, tgid as _tgid
from lxbrand.errors import PolicyError

OPS = ("connect", "bind", "send")
SYSCALL_OPS = {"connect": "connect", "bind": "bind", "sendto": "send", "sendmsg": "send", "sendmmsg": "send"}
NET_SYSCALLS = tuple(SYSCALL_OPS)
ACTIONS = ("allow", "deny")
_RULE_KEYS = {"action", "ops", "family", "cidr", "ports", "path", "abstract", "errno", "comment"}

SYS_PIDFD_GETFD = 438
PIDFD_THREAD = os.O_EXCL          # pidfd_open(2), Linux 6.9: a pidfd for a thread, not only a leader
MAX_ADDR = 128                    # sizeof(struct sockaddr_storage)
MAX_SEND = 4 << 20                # bytes copied per send (a stream send may be partial, a datagram cannot be bigger)
MAX_IOV = 1024                    # UIO_MAXIOV
MAX_CONTROL = 64 << 10
MAX_MMSG = 1024                   # UIO_MAXIOV caps sendmmsg's vlen too
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2
SOL_SOCKET = 1
CAP_NET_BIND_SERVICE = 10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
for _f in ("connect", "bind"):
    getattr(_libc, _f).argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_libc.sendto.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint32)
_libc.sendto.restype = ctypes.c_ssize_t
_libc.sendmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_libc.sendmsg.restype = ctypes.c_ssize_t


def _family_numbers():
    out = {}
    for name in dir(socket):
        if name.startswith("AF_") and name != "AF_UNSPEC":
            v = getattr(socket, name)
            out.setdefault(name[3:].lower(), int(v))
    out["unix"] = socket.AF_UNIX
    return out


FAMILIES = _family_numbers()


def family_name(n):
    for name, v in FAMILIES.items():
        if v == n:
            return name
    return f"#{n}"


# -- rules --------------------------------------------------------------------

class NetRule:
    __slots__ = ("action", "ops", "family", "nets", "ports", "paths", "abstracts", "errno", "comment")

    def __init__(self, action, ops=OPS, family=None, nets=(), ports=(), paths=(), abstracts=(),
                 errno_=errno.EACCES, comment=""):
        self.action, self.ops, self.family = action, frozenset(ops), family
        self.nets, self.ports, self.paths, self.abstracts = tuple(nets), tuple(ports), tuple(paths), tuple(abstracts)
        self.errno, self.comment = errno_, comment

    def __repr__(self):
        return f"NetRule({self.action}, {sorted(self.ops)}, {self.family}, nets={self.nets}, ports={self.ports}, " \
               f"paths={self.paths}, abstracts={self.abstracts})"

    @property
    def has_address(self):
        return bool(self.nets or self.ports or self.paths or self.abstracts)

    def families(self):
        """Socket domains whose calls this rule may decide (an inet6 socket reaches
        IPv4 through AF_INET and v4-mapped addresses)."""
        if self.family == "inet":
            return {socket.AF_INET, socket.AF_INET6}
        return {FAMILIES[self.family]}

    def matches(self, op, addr):
        if op not in self.ops or addr.family != self.family:
            return False
        if addr.family in ("inet", "inet6"):
            if self.nets and not any(addr.ip.version == n.version and addr.ip in n for n in self.nets):
                return False
            if self.ports and not any(lo <= addr.port <= hi for lo, hi in self.ports):
                return False
            return True
        if addr.family == "unix":
            if not (self.paths or self.abstracts):
                return True
            if addr.path is not None:
                return any(fnmatch.fnmatchcase(addr.path, p) for p in self.paths)
            if addr.abstract is not None:
                return any(fnmatch.fnmatchcase(addr.abstract, p) for p in self.abstracts)
            return False
        return True


def _strings(source, key, value, what):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError(source, key, f"expected {what} (a string or a non-empty list of strings), got {value!r}")
    return value


def _ports(source, key, value):
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise PolicyError(source, key, f"expected a port, a \"LO-HI\" range or a list of them, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool):
            raise PolicyError(source, key, f"expected a port number, got {v!r}")
        if isinstance(v, int):
            lo = hi = v
        elif isinstance(v, str) and v.count("-") == 1 and all(p.strip().isdigit() for p in v.split("-")):
            lo, hi = (int(p) for p in v.split("-"))
        elif isinstance(v, str) and v.strip().isdigit():
            lo = hi = int(v)
        else:
            raise PolicyError(source, key, f"expected a port, a \"LO-HI\" range or a list of them, got {v!r}")
        if not (0 <= lo <= hi <= 65535):
            raise PolicyError(source, key, f"port range {v!r} is not within 0..65535 (low first)")
        out.append((lo, hi))
    return out


def rule_from_dict(r, source, key):
    """Validate one [[network]] table into a NetRule."""
    from lxbrand.rules.common import check_rule_table, rule_errno_and_comment
    action = check_rule_table(r, source, key, _RULE_KEYS, ACTIONS)
    ops = _strings(source, f"{key}.ops", r.get("ops", list(OPS)), "operations")
    for o in ops:
        if o not in OPS:
            raise PolicyError(source, f"{key}.ops", f"unknown operation {o!r} (one of {', '.join(OPS)})")
    nets = []
    if "cidr" in r:
        for c in _strings(source, f"{key}.cidr", r["cidr"], "CIDR blocks"):
            try:
                nets.append(ipaddress.ip_network(c, strict=False))
            except ValueError as e:
                raise PolicyError(source, f"{key}.cidr", f"bad CIDR block {c!r}: {e}") from None
    ports = _ports(source, f"{key}.ports", r["ports"]) if "ports" in r else []
    paths = _strings(source, f"{key}.path", r["path"], "path globs") if "path" in r else []
    for p in paths:
        if not p.startswith("/") or "\0" in p:
            raise PolicyError(source, f"{key}.path", f"path glob {p!r} must be absolute (as the program sees it)")
    abstracts = _strings(source, f"{key}.abstract", r["abstract"], "abstract name globs") if "abstract" in r else []
    family = r.get("family")
    if family is not None and (not isinstance(family, str) or family not in FAMILIES):
        raise PolicyError(source, f"{key}.family",
                          f"unknown address family {family!r} (e.g. inet, inet6, unix, netlink, packet)")
    if family is None:
        versions = {n.version for n in nets}
        if paths or abstracts:
            family = "unix"
        elif len(versions) == 1:
            family = "inet" if versions == {4} else "inet6"
        else:
            raise PolicyError(source, f"{key}.family", "missing (inet, inet6, unix, ...); it can only be left out "
                                                      "when cidr (of one IP version), path or abstract says it")
    if (nets or ports) and family not in ("inet", "inet6"):
        raise PolicyError(source, key, f"cidr and ports apply to inet and inet6 only, not {family}")
    if (paths or abstracts) and family != "unix":
        raise PolicyError(source, key, f"path and abstract apply to unix only, not {family}")
    for n in nets:
        want = 4 if family == "inet" else 6
        if n.version != want:
            raise PolicyError(source, f"{key}.cidr", f"{n} is not an IPv{want} block (family {family})")
    err, comment = rule_errno_and_comment(r, action, source, key)
    return NetRule(action, ops, family, nets, ports, paths, [a.encode() for a in abstracts], err, comment)


# -- addresses ----------------------------------------------------------------

class Addr:
    """A parsed socket address: family "inet" (IPv4, also v4-mapped IPv6),
    "inet6", "unix" (path or abstract or unnamed), or another family name."""
    __slots__ = ("family", "ip", "port", "path", "abstract", "raw")

    def __init__(self, family, ip=None, port=0, path=None, abstract=None, raw=b""):
        self.family, self.ip, self.port, self.path, self.abstract, self.raw = family, ip, port, path, abstract, raw

    def __repr__(self):
        if self.family in ("inet", "inet6"):
            return f"{self.ip}:{self.port}"
        if self.family == "unix":
            return f"unix:{self.path!r}" if self.path is not None else f"unix:@{self.abstract!r}"
        return self.family


def parse_sockaddr(raw, sock_domain):
    """Addr for the bytes the program gave, None for AF_UNSPEC; raises OSError(errno)
    for addresses the kernel would refuse anyway."""
    if len(raw) < 2:
        raise OSError(errno.EINVAL, "address too short")
    fam = struct.unpack_from("=H", raw)[0]
    if fam == socket.AF_UNSPEC:
        return None
    if fam == socket.AF_INET:
        if len(raw) < 16:
            raise OSError(errno.EINVAL, "sockaddr_in too short")
        port = struct.unpack_from("!H", raw, 2)[0]
        return Addr("inet", ipaddress.IPv4Address(raw[4:8]), port, raw=raw)
    if fam == socket.AF_INET6:
        if len(raw) < 24:  # SIN6_LEN_RFC2133
            raise OSError(errno.EINVAL, "sockaddr_in6 too short")
        port = struct.unpack_from("!H", raw, 2)[0]
        ip = ipaddress.IPv6Address(raw[8:24])
        if ip.ipv4_mapped is not None:
            return Addr("inet", ip.ipv4_mapped, port, raw=raw)  # reaches IPv4: IPv4 rules apply
        return Addr("inet6", ip, port, raw=raw)
    if fam == socket.AF_UNIX:
        sun = raw[2:]
        if not sun:
            return Addr("unix", raw=raw)  # unnamed (bind: autobind)
        if sun[0] == 0:
            return Addr("unix", abstract=sun[1:], raw=raw)
        return Addr("unix", path=sun.split(b"\0", 1)[0], raw=raw)
    return Addr(family_name(fam), raw=raw)


# -- the program's side -------------------------------------------------------

def _pidfd(call):
    """A pidfd for the calling thread (its fd table is the one that holds the fd)."""
    try:
        fd = os.pidfd_open(call.pid, PIDFD_THREAD)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise OSError(errno.ESRCH, "the caller is gone") from None
        fd = os.pidfd_open(_tgid(call.pid))  # kernels before 6.9: the leader (threads share the fd table)
    try:
        call._still_valid() if call.backend == "unotify" else None  # the pid named the caller when we opened it
    except BaseException:
        os.close(fd)
        raise
    return fd


def take_fd(call, pidfd, fd):
    """A supervisor copy of the program's fd (pidfd_getfd(2)); OSError(EBADF) if it has none."""
    if fd < 0 or fd > 0x7fffffff:
        raise OSError(errno.EBADF, "bad fd")
    r = _libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(errno.EBADF if e == errno.EBADF else e, os.strerror(e))
    return r


SO_TYPE, SO_DOMAIN = 3, 39
_libc.getsockopt.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def sockopt_int(fd, opt):
    """An int SOL_SOCKET option of the supervisor's copy (ENOTSOCK if not a socket)."""
    v, ln = ctypes.c_int(0), ctypes.c_uint32(4)
    if _libc.getsockopt(fd, SOL_SOCKET, opt, ctypes.byref(v), ctypes.byref(ln)) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return v.value


def _c_int(v):
    v &= 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


# -- the handler --------------------------------------------------------------

class NetPolicy:
    """The [[network]] rules of one policy and the handler that enforces them."""

    def __init__(self, rules=(), default="allow", log=None):
        self.rules = list(rules)
        self.default = default
        self.log = log  # callable(str) for denials, or None
        # [[path]] rules (a lxbrand.rules.paths.PathPolicy), or None: a UNIX socket's
        # path is a file too -- connect/send to it is judged "write" (the kernel wants
        # write permission on the socket file), bind "create"
        self.paths = None

    def add(self, rule):
        self.rules.append(rule)

    # decisions
    def fixed_verdict(self, op, domain):
        """The rule that decides every `op` on a socket of `domain` whatever the
        address, or None if the address matters.  (An action string for the default.)"""
        for r in self.rules:
            if op in r.ops and domain in r.families():
                return None if r.has_address else r
        return self.default

    def allows_all(self, op):
        """True if every `op` is allowed whatever the socket and the address: only
        then may the kernel run the call (CONTINUE) -- it looks the fd up again."""
        return self.default == "allow" and all(r.action == "allow" for r in self.rules if op in r.ops)

    def decide(self, op, addr):
        for r in self.rules:
            if r.matches(op, addr):
                return r
        return self.default

    @staticmethod
    def _answer(v):
        action = v if isinstance(v, str) else v.action
        if action == "allow":
            return None
        return v.errno if not isinstance(v, str) else errno.EACCES

    def _deny(self, op, call, addr, err):
        if self.log:
            what = addr if isinstance(addr, str) else repr(addr)
            self.log(f"lxbrand: network policy: {op} to {what} by pid {call.pid} denied ({errno.errorcode.get(err, err)})")
        raise OSError(err, os.strerror(err))

    def __call__(self, call):
        from lxbrand import syscalls
        name = syscalls.name_of(call.nr)
        op = SYSCALL_OPS[name]
        pidfd = _pidfd(call)
        sock = -1
        try:
            sock = take_fd(call, pidfd, _c_int(call.args[0]))
            fam = sockopt_int(sock, SO_DOMAIN)
            if name == "sendto" and call.args[4] == 0:
                return CONTINUE   # no address (a register): the connected peer, checked at connect
            if self.allows_all(op) and not (self.paths is not None and fam == socket.AF_UNIX):
                return CONTINUE   # nothing to decide: every socket, every address
            v = self.fixed_verdict(op, int(fam))
            if v is not None and self._answer(v) is not None:
                self._deny(op, call, f"any {family_name(fam)} address", self._answer(v))
            # Performed by the supervisor on the socket it took, even when the family
            # alone allowed it: the kernel would look the fd number up again, and a
            # thread may have dup2()ed another socket onto it meanwhile.
            return _Performer(self, call, pidfd, sock, int(fam), op).run(name)
        finally:
            if sock >= 0:
                os.close(sock)
            os.close(pidfd)


IPPROTO_SCTP = 132
SOCK_TYPE_MASK = 0xf


def socket_handler(call):
    """socket(2) under network rules: SCTP associations are made and bound through
    setsockopt (SCTP_SOCKOPT_CONNECTX, SCTP_SOCKOPT_BINDX_ADD) and sendmsg to any of
    several addresses, which the rules do not judge: refuse SCTP sockets (explicit
    IPPROTO_SCTP, or the inet default for SOCK_SEQPACKET) as a kernel without SCTP
    would.  Decided on registers only, so the kernel may run the rest (CONTINUE)."""
    fam, typ, proto = call.args[0] & 0xffffffff, call.args[1] & SOCK_TYPE_MASK, call.args[2] & 0xffffffff
    if fam in (socket.AF_INET, socket.AF_INET6) and (proto == IPPROTO_SCTP or (proto == 0 and typ == socket.SOCK_SEQPACKET)):
        raise OSError(errno.EPROTONOSUPPORT, "SCTP is refused under network rules")
    return CONTINUE


class _Performer:
    """Reads the call's memory once, decides, and does the call on the
    supervisor's copy of the program's socket."""

    def __init__(self, pol, call, pidfd, sock, domain, op):
        self.pol, self.call, self.pidfd, self.sock, self.domain, self.op = pol, call, pidfd, sock, domain, op
        self.fds = []   # supervisor fds to close

    def run(self, name):
        try:
            return getattr(self, "do_" + name)()
        finally:
            for fd in self.fds:
                os.close(fd)

    # one address: read, parse, decide, and make it usable by the supervisor
    def _target(self, addr_ptr, addr_len):
        addr_len &= 0xffffffff
        if addr_len > MAX_ADDR or addr_len < 2 or addr_len > 0x7fffffff:
            raise OSError(errno.EINVAL, "bad address length")
        raw = self.call.read(addr_ptr, addr_len)
        if len(raw) != addr_len:
            raise OSError(errno.EFAULT, "address not readable")
        addr = parse_sockaddr(raw, self.domain)
        if addr is None:
            if self.op == "connect":
                return raw  # AF_UNSPEC: dissolve the association; reaches nobody
            raise OSError(errno.EAFNOSUPPORT, "AF_UNSPEC")
        if addr.family == "unix" and addr.path is not None:
            raw = self._unix_path(addr)
            if self.pol.paths is not None:  # decided on the resolved path, as for opens
                self.pol.paths.check(["create"] if self.op == "bind" else ["write"], addr.path, self.call.pid)
        err = self.pol._answer(self.pol.decide(self.op, addr))
        if err is not None:
            self.pol._deny(self.op, self.call, addr, err)
        if self.op == "bind" and addr.family in ("inet", "inet6"):
            self._check_bind_port(addr.port)
        return raw

    def _as_program(self):
        """For a UNIX socket the kernel records who connects or sends (SO_PEERCRED,
        SO_PEERGROUPS, SCM_CREDENTIALS attached for SO_PASSCRED receivers) and checks
        the socket file's permissions: the supervisor's thread takes the program's
        euid, egid and groups for the call.  Nothing else needs it."""
        if self.domain != socket.AF_UNIX:
            return _NoSwitch()
        return AsIdentity(self.call.pid)

    def _check_bind_port(self, port):
        """bind(2) below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE --
        the program's, not the supervisor's (which performs the call)."""
        if port == 0:
            return
        try:
            with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
                start = int(f.read())
        except OSError:
            start = 1024
        if port >= start:
            return
        cap = int(_status(self.call.pid)["CapEff"][0], 16)
        if not cap & (1 << CAP_NET_BIND_SERVICE):
            raise OSError(errno.EACCES, "privileged port")

    def _unix_path(self, addr):
        """Resolve a UNIX socket path as the program sees it; set addr.path to the
        resolved path (what rules match) and return a sockaddr_un the supervisor
        can use that names the resolved inode (or, for bind, its resolved parent)."""
        pid = self.call.pid
        root = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fds.append(root)
        root_real = os.readlink(f"/proc/{pid}/root")
        path = addr.path
        if not path.startswith(b"/"):
            cwd = os.readlink(f"/proc/{pid}/cwd")
            if root_real != "/" and (cwd + "/").startswith(root_real + "/"):
                cwd = cwd[len(root_real):] or "/"
            path = os.fsencode(cwd).rstrip(b"/") + b"/" + path
        from lxbrand.procfs import proc_self
        path = proc_self(pid, path)

        def guest(fd):
            real = os.readlink(f"/proc/self/fd/{fd}")
            if root_real != "/":
                real = real[len(root_real):] if (real + "/").startswith(root_real + "/") else real
            return os.fsencode(real or "/")

        if self.op == "bind":
            d, _, base = path.rstrip(b"/").rpartition(b"/")
            if not base or base in (b".", b".."):
                raise OSError(errno.EINVAL, "bad socket path")
            with self._as_program():  # search permission on the way, as the program
                dfd = openat2(root, d or b"/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self.fds.append(dfd)
            addr.path = (guest(dfd).rstrip(b"/") + b"/" + base).decode("utf-8", "surrogateescape")
            sun = f"/proc/self/fd/{dfd}/".encode() + base
        else:
            with self._as_program():
                fd = openat2(root, path, os.O_PATH | os.O_CLOEXEC)
            self.fds.append(fd)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise OSError(errno.ECONNREFUSED, "not a socket")
            addr.path = guest(fd).decode("utf-8", "surrogateescape")
            sun = f"/proc/self/fd/{fd}".encode()
        if len(sun) > 107:
            raise OSError(errno.ENAMETOOLONG, "socket path")
        return struct.pack("=H", socket.AF_UNIX) + sun + b"\0"

    # the calls
    def do_connect(self):
        raw = self._target(self.call.args[1], self.call.args[2])
        if self.call.backend == "unotify" and os.get_blocking(self.sock):  # O_NONBLOCK of the shared file
            return self._connect_later(raw)
        with self._as_program():
            r = _libc.connect(self.sock, raw, len(raw))
        return _result(r)

    def _connect_later(self, raw):
        """A blocking connect may wait for long (a SYN to a silent host, a full UNIX
        backlog): do it on a thread of its own and answer the call from there, so
        the notify thread goes on answering the program's other calls."""
        import threading
        sock = os.dup(self.sock)
        # the resolved UNIX path fd (if any) is named in raw: keep our copies open until done
        keep = [os.dup(fd) for fd in self.fds]
        if keep:
            raw = _rename_fds(raw, self.fds, keep)
        deferred = self.call.defer()
        identity = self._as_program()

        def run():
            try:
                with identity:  # credentials are per thread: take them on this one
                    r = _libc.connect(sock, raw, len(raw))
                deferred.send(r if r >= 0 else -ctypes.get_errno())
            except OSError:
                pass  # the caller is gone
            except BaseException:
                try:
                    deferred.send(-errno.EPERM)  # fail closed
                except OSError:
                    pass
            finally:
                os.close(sock)
                for fd in keep:
                    os.close(fd)

        threading.Thread(target=run, name="lxbrand-connect", daemon=True).start()
        return 0

    def do_bind(self):
        raw = self._target(self.call.args[1], self.call.args[2])
        with self._as_program():
            r = _libc.bind(self.sock, raw, len(raw))
        return _result(r)

    def do_sendto(self):
        raw = self._target(self.call.args[4], self.call.args[5])
        n = min(self.call.args[2], MAX_SEND)
        data = self.call.read(self.call.args[1], n) if n else b""
        with self._as_program():
            r = _libc.sendto(self.sock, data, len(data), _c_int(self.call.args[3]), raw, len(raw))
        return _result(r)

    def do_sendmsg(self):
        return self._sendmsg(self.call.args[1], _c_int(self.call.args[2]))

    def do_sendmmsg(self):
        vec, vlen, flags = self.call.args[1], min(self.call.args[2] & 0xffffffff, MAX_MMSG), _c_int(self.call.args[3])
        sent = 0
        for i in range(vlen):
            try:
                n = self._sendmsg(vec + i * 64, flags)   # struct mmsghdr: msghdr (56) + msg_len + pad
            except OSError:
                if sent:
                    break
                raise
            self.call.write(vec + i * 64 + 56, struct.pack("=I", n))
            sent += 1
        return sent

    def _sendmsg(self, msg_ptr, flags):
        hdr = self.call.read(msg_ptr, 56)
        if len(hdr) != 56:
            raise OSError(errno.EFAULT, "msghdr")
        name, namelen, iov, iovlen, control, controllen = struct.unpack_from("=QI4xQQQQ", hdr)
        # as the kernel reads a msghdr (____sys_sendmsg / __copy_msghdr): no name, or a
        # zero length, means no address (the connected peer); a longer one is clamped
        namelen = min(namelen, MAX_ADDR)
        raw = self._target(name, namelen) if name and namelen else None
        if iovlen > MAX_IOV:
            raise OSError(errno.EMSGSIZE, "iovlen")
        chunks, total = [], 0
        if iovlen:
            iovs = self.call.read(iov, 16 * iovlen)
            for k in range(iovlen):
                base, ln = struct.unpack_from("=QQ", iovs, 16 * k)
                ln = min(ln, MAX_SEND - total)
                if ln:
                    chunks.append(self.call.read(base, ln))
                    total += ln
        ctl = b""
        if control and controllen:
            if controllen > MAX_CONTROL:
                raise OSError(errno.ENOBUFS, "control")
            ctl = self._control(self.call.read(control, controllen))
        bufs = [ctypes.create_string_buffer(c, len(c)) for c in chunks]
        iovarr = (ctypes.c_uint64 * (2 * max(len(bufs), 1)))()
        for k, b in enumerate(bufs):
            iovarr[2 * k] = ctypes.addressof(b)
            iovarr[2 * k + 1] = len(chunks[k])
        namebuf = ctypes.create_string_buffer(raw, len(raw)) if raw else None
        ctlbuf = ctypes.create_string_buffer(ctl, len(ctl)) if ctl else None
        msg = struct.pack("=QI4xQQQQi4x",
                          ctypes.addressof(namebuf) if namebuf else 0, len(raw) if raw else 0,
                          ctypes.addressof(iovarr), len(bufs),
                          ctypes.addressof(ctlbuf) if ctlbuf else 0, len(ctl), 0)
        msgbuf = ctypes.create_string_buffer(msg, len(msg))
        with self._as_program():
            r = _libc.sendmsg(self.sock, msgbuf, flags)
        return _result(r)

    def _control(self, ctl):
        """Rebuild ancillary data for the supervisor's sendmsg: SCM_RIGHTS fds are
        the program's numbers, so each is taken with pidfd_getfd; SCM_CREDENTIALS
        would be checked against the supervisor's credentials, so only the
        program's own are passed."""
        out, off = b"", 0
        while off + 16 <= len(ctl):
            ln, level, typ = struct.unpack_from("=Qii", ctl, off)
            if ln < 16 or off + ln > len(ctl):
                raise OSError(errno.EINVAL, "cmsg_len")
            data = ctl[off + 16: off + ln]
            if level == SOL_SOCKET and typ == SCM_RIGHTS:
                nums = struct.unpack(f"={len(data) // 4}i", data[: len(data) // 4 * 4])
                mine = []
                for n in nums:
                    fd = take_fd(self.call, self.pidfd, n)
                    self.fds.append(fd)
                    mine.append(fd)
                data = struct.pack(f"={len(mine)}i", *mine)
            elif level == SOL_SOCKET and typ == SCM_CREDENTIALS:
                pid, uid, gid = struct.unpack_from("=iII", data)
                st = _status(self.call.pid)
                if pid != int(st["Tgid"][0]) or str(uid) not in st["Uid"][:3] or str(gid) not in st["Gid"][:3]:
                    raise OSError(errno.EPERM, "SCM_CREDENTIALS other than the program's")
            cm = struct.pack("=Qii", 16 + len(data), level, typ) + data
            cm += b"\0" * (-len(cm) % 8)
            out += cm
            off += (ln + 7) & ~7
        return out


def _rename_fds(raw, old, new):
    """A sockaddr_un naming /proc/self/fd/OLD[/...] renamed to NEW (the copies a
    deferred call keeps open)."""
    for o, n in zip(old, new):
        a, b = f"/proc/self/fd/{o}".encode(), f"/proc/self/fd/{n}".encode()
        path = raw[2:].split(b"\0", 1)[0]
        if path == a or path.startswith(a + b"/"):
            return raw[:2] + b + path[len(a):] + b"\0"
    return raw


class _NoSwitch:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


SYS_setresuid, SYS_setresgid, SYS_setgroups = 117, 119, 116


class AsIdentity:
    """This thread takes `pid`'s effective uid, gid and groups (raw syscalls:
    credentials are per thread in Linux; glibc's wrappers would change every
    thread), and its own back after.  Needs the supervisor to be root unless the
    ids are already the same; otherwise EACCES (fail closed)."""

    def __init__(self, pid):
        self.pid = pid
        self.switched = False

    def __enter__(self):
        st = _status(self.pid)
        euid, egid = int(st["Uid"][1]), int(st["Gid"][1])
        groups = sorted(int(g) for g in st.get("Groups", []))
        self.saved = (os.geteuid(), os.getegid(), os.getgroups())
        if (euid, egid, groups) == (self.saved[0], self.saved[1], sorted(self.saved[2])):
            return self
        if self.saved[0] != 0:
            raise OSError(errno.EACCES, "UNIX socket of a program running as another user than the supervisor")
        arr = (ctypes.c_uint32 * max(len(groups), 1))(*groups)
        self.switched = True
        if _libc.syscall(SYS_setgroups, len(groups), arr) < 0 or \
                _libc.syscall(SYS_setresgid, -1, egid, -1) < 0 or _libc.syscall(SYS_setresuid, -1, euid, -1) < 0:
            e = ctypes.get_errno()
            self.__exit__()
            raise OSError(e, "taking the program's credentials")
        return self

    def __exit__(self, *exc):
        if self.switched:
            euid, egid, groups = self.saved
            _libc.syscall(SYS_setresuid, -1, euid, -1)  # first: root again, so the rest is allowed
            _libc.syscall(SYS_setresgid, -1, egid, -1)
            arr = (ctypes.c_uint32 * max(len(groups), 1))(*groups)
            _libc.syscall(SYS_setgroups, len(groups), arr)
            self.switched = False
        return False


def _result(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


# openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: resolve as the program would, inside its root
SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd, path, flags, resolve=RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS):
    how = struct.pack("=QQQ", flags, 0, resolve)
    r = _libc.syscall(SYS_OPENAT2, dirfd, ctypes.c_char_p(bytes(path)), ctypes.c_char_p(how), ctypes.c_size_t(24))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def stderr_log(msg):
    import sys
    print(msg, file=sys.stderr, flush=True)
