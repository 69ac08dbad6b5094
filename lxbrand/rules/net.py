"""[[network]] rules: connect, bind, sendto, sendmsg and sendmmsg allowed or denied
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
`network_default` (a top-level key, "allow" unless set) decides.  This module
validates them and compiles them for the engine, which decides and performs the
calls they judge, on both backends, without Python (csrc/net.h, csrc/net.c: how
a decision is carried out -- read once, performed by the supervisor on the
program's own socket taken with pidfd_getfd(2), UNIX paths resolved as the
program sees them, with its credentials).  io_uring is refused (its
IORING_OP_CONNECT/SENDMSG would go around the rules) and so are SCTP sockets (in
the kernel, by the engine's filter: SCTP connects through setsockopt).  Under
[[path]] rules the family is installed without rules of its own, for UNIX
socket files (connect/send "write", bind "create").
"""
import errno
import fnmatch
import ipaddress
import socket
import struct

from lxbrand.errors import PolicyError
from lxbrand.rules.common import check_rule_table, rule_errno_and_comment, stderr_log
from lxbrand.rules.patterns import compile_pattern, glob_tokens

OPS = ("connect", "bind", "send")             # bit i of the engine's ops is OPS[i] (csrc/net.h)
SYSCALL_OPS = {"connect": "connect", "bind": "bind", "sendto": "send", "sendmsg": "send", "sendmmsg": "send"}
CALLS = tuple(SYSCALL_OPS)
ACTIONS = ("allow", "deny")
_RULE_KEYS = {"action", "ops", "family", "cidr", "ports", "path", "abstract", "errno", "comment"}
IO_URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")
OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)


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
        # by number, as the engine compares them (an alias names the same family)
        if op not in self.ops or FAMILIES.get(addr.family) != FAMILIES[self.family]:
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
    for k, pats in (("path", paths), ("abstract", abstracts)):
        for p in pats:
            try:
                glob_tokens(p)
            except (ValueError, IndexError) as e:  # fnmatch cannot translate it
                raise PolicyError(source, f"{key}.{k}", f"{p!r} is not a glob fnmatch can use: {e}") from None
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


class NetPolicy:
    """The [[network]] rules of one policy: what they say (decide: the reference the
    engine is tested against) and their compiled form (compile).  `rules_section`:
    the policy has [[network]] rules (or network_default) of its own, as opposed to
    the family installed for [[path]] rules' UNIX socket files."""

    def __init__(self, rules=(), default="allow", log=None, rules_section=False):
        self.rules = list(rules)
        self.default = default
        self.log = log
        self.rules_section = rules_section

    def add(self, rule):
        self.rules.append(rule)

    def decide(self, op, addr):
        """The rule (or the default action string) that decides `op` on an Addr."""
        for r in self.rules:
            if r.matches(op, addr):
                return r
        return self.default

    def allows_all(self, op):
        """Is every `op` allowed whatever the socket and the address?"""
        return self.default == "allow" and all(r.action == "allow" for r in self.rules if op in r.ops)

    def native(self, name, paths=None):
        """"all" when syscall `name` need not trap: the rules allow its operation for
        every socket and address, and no [[path]] rule (`paths`) may deny what a UNIX
        socket file would be judged as (connect/send: write, bind: create); else None."""
        op = SYSCALL_OPS[name]
        if not self.allows_all(op):
            return None
        if paths is not None and ({"create"} if op == "bind" else {"write"}) & paths.denied_ops():
            return None
        return "all"

    def compile(self, sup):
        """Hand the rules to the engine (lxbrand._core.Supervisor.set_net_rules)."""
        bits = {op: 1 << i for i, op in enumerate(OPS)}
        out = []
        for r in self.rules:
            nets = [(n.version == 6, n.prefixlen, n.network_address.packed.ljust(16, b"\0")) for n in r.nets]
            # a UNIX path pattern is always a glob (fnmatch), a name without glob characters matching only itself
            paths = [struct.pack(f"={len(t)}I", *t) for t in (glob_tokens(p) for p in r.paths)]
            abstracts = [compile_pattern(a, text=False)[1] for a in r.abstracts]
            out.append((r.action == "allow", sum(bits[o] for o in r.ops), r.errno, FAMILIES[r.family], nets,
                        list(r.ports), paths, abstracts))
        sup.set_net_rules(self.default == "allow", out, log=self.log is not None, refuse_sctp=self.rules_section)


def install(policy, rules_section):
    """The network rule family's entry point into a policy (as lxbrand.personality's
    modules apply themselves): the socket calls that carry addresses go to the
    engine; with rules of its own (rules_section) io_uring is refused too (SCTP is
    refused by the engine's filter).  Returns the (empty) NetPolicy."""
    np_ = NetPolicy(log=stderr_log, rules_section=rules_section)
    policy.claim_engine(CALLS, "net", "network rules, decided and performed in C (csrc/net.h)", OWNER)
    if rules_section:
        for name in IO_URING:
            policy.refuse(name, errno.EPERM, "io_uring could connect and send around the network policy",
                          owner=OWNER)
    policy.watch_engine()
    return np_
