"""Policies: which syscalls run natively, which are denied or killed in the
kernel, and which trap to be traced or emulated.

A policy is data (a TOML file, a built-in profile, or built with this API) and
is validated completely before anything runs: a bad one raises PolicyError
naming the file, the key and the problem.

    p = load_policy("default")
    p.deny("mount", errno="EPERM", comment="why")

    @p.handler("getppid")
    def ppid(call):
        return 1
"""
import errno as _errno
import importlib
import os
import tomllib

from lxbrand import syscalls
from lxbrand.errors import PolicyError
# the rule tables' shared helpers (also the rule families'; re-exported here for API users)
from lxbrand.rules.common import check_rule_table, parse_errno, rule_errno_and_comment  # noqa: F401

ACTIONS = ("allow", "deny", "kill", "trace", "emulate")
DEFAULT_ACTIONS = ("allow", "deny", "kill", "trace")
FAST_ACTIONS = ("uname",)
# Answered in C by the personality's view (csrc/persona.c), which lxbrand.personality
# configures: for the API (Personality.apply), not for policy files.
_INTERNAL_FAST = ("persona",)
IDENTITY_KEYS = ("sysname", "nodename", "release", "version", "machine", "domainname")
BUILTIN_DIR = "profiles"


_PROFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), BUILTIN_DIR)


def builtin_profiles():
    """Names of the profiles shipped with lxbrand (package data next to this file)."""
    return sorted(n[:-5] for n in os.listdir(_PROFILE_DIR) if n.endswith(".toml"))


# Who installed a rule (Rule.owner).  The policy's own rules: "rule[N]" (the N-th
# [[rule]] of a file), API (added through this class), DEFAULT (its default).  Every
# other owner is a module that installs itself into a policy, named after it
# (__name__ without "lxbrand."): the personality's parts ("personality.era",
# "personality.view", ...), the rule families ("rules.paths", "rules.net"), the open
# pipeline ("handlers.files"); and IDENTITY (the policy's uname fields, however set)
# and ENGINE (what the engine does under every policy: syscalls.ENGINE_NOTES, the
# watch of csrc/view.h).  Policy.place decides how owners meet; lxrun --explain and
# docs/policy.md ("How the sections combine") show them.
API = "policy"
DEFAULT = "default"
IDENTITY = "identity"
ENGINE = "engine"


# Rule.how() of the answers the engine gives in C (Rule.fast)
_FAST_HOW = {"uname": "uname from the policy's identity (C)", "persona": "the personality's view (C)",
             "path": "[[path]] rules (C)", "net": "[[network]] rules (C)", "watch": "the engine's watch (C)"}


def handler_name(fn):
    """A Python handler as a reader finds it in the code: "module:Class.method" (a
    callable object by its class)."""
    target = fn if hasattr(fn, "__qualname__") else type(fn)
    mod = getattr(target, "__module__", None) or "?"
    return f"{mod}:{target.__qualname__}"


class Rule:
    """What happens to some syscalls, why, and who said so.  (Plain classes here:
    dataclasses costs lxrun's start-up 15 ms.)"""
    __slots__ = ("syscalls", "action", "errno", "value", "fast", "handler", "comment", "owner")

    def __init__(self, syscalls, action, errno=_errno.EPERM, value=None, fast=None, handler=None, comment="",
                 owner=API):
        self.syscalls = syscalls    # tuple of names
        self.action = action
        self.errno = errno
        self.value = value          # emulate: fixed result
        self.fast = fast            # emulate: built-in C action
        self.handler = handler      # emulate: Python callable(call)
        self.comment = comment
        self.owner = owner          # who installed it (see API above)

    @property
    def traps(self):
        """Does the syscall stop in the supervisor (rather than be answered by the kernel)?"""
        return self.action in ("trace", "emulate")

    @property
    def is_policys_own(self):
        """A rule of the policy itself (a [[rule]], the API, the default), not a module's."""
        return self.owner in (API, DEFAULT) or self.owner.startswith("rule[")

    def __repr__(self):
        return f"Rule({self.syscalls!r}, {self.how()!r})"

    def how(self):
        """Short description of what the rule does, for docs and errors."""
        if self.action == "deny":
            return f"deny {_errno.errorcode.get(self.errno, self.errno)}"
        if self.action == "emulate":
            if self.fast:
                return _FAST_HOW.get(self.fast, f"emulate {self.fast} (C)")
            if self.handler is not None:
                return f"emulate {handler_name(self.handler)} (Python)"
            return f"emulate return {self.value} (C)"
        return self.action


class Policy:
    def __init__(self, name="custom", description="", default="allow", default_errno=_errno.EPERM,
                 source="<api>"):
        self.name = name
        self.description = description
        self.default = default
        self.default_errno = default_errno
        self.rules = {}        # syscall name -> Rule (last set wins)
        self.identity = {}     # emulated uname fields
        self.source = source
        self.net = None        # lxbrand.rules.net.NetPolicy once a network or path rule exists
        self.paths = None      # lxbrand.rules.paths.PathPolicy once a path rule exists
        if self.default not in DEFAULT_ACTIONS:
            raise PolicyError(self.source, "default",
                              f"unknown default action {self.default!r} (one of {', '.join(DEFAULT_ACTIONS)})")

    # -- building -------------------------------------------------------
    def _names(self, syscalls_, key="syscalls"):
        if isinstance(syscalls_, str):
            syscalls_ = [syscalls_]
        names = tuple(syscalls_)
        if not names:
            raise PolicyError(self.source, key, "empty list of syscalls")
        table = syscalls.table()
        for n in names:
            if not isinstance(n, str):
                raise PolicyError(self.source, key, f"syscall names must be strings, got {n!r}")
            if n not in table:
                raise PolicyError(self.source, key, f"unknown syscall {n!r} (not an x86_64 syscall known to libseccomp)")
        return names

    def add(self, rule):
        """Install `rule` for each of its syscalls (Policy.place); returns it."""
        if rule.action not in ("allow", "trace", "deny", "kill") and "ptrace" in rule.syscalls:
            raise PolicyError(self.source, "syscalls", f"ptrace cannot be given action {rule.action!r} "
                              "(allow, trace, deny or kill): " + syscalls.ENGINE_NOTES["ptrace"])
        if rule.action not in ("allow", "trace") and "restart_syscall" in rule.syscalls:
            raise PolicyError(self.source, "syscalls",
                              f"restart_syscall cannot be given action {rule.action!r}: "
                              + syscalls.ENGINE_NOTES["restart_syscall"])
        for n in rule.syscalls:
            self.place(n, rule)
        return rule

    def place(self, name, rule):
        """Install `rule` for syscall `name`: the one way a rule gets into a policy, so
        that every trapped syscall has exactly one owner (Rule.owner), whatever order
        the policy's sections, the personality and the rule families are applied in:

        - The policy's own rules replace each other (the author's last word).  They
          replace a module's rule only to deny or kill the syscall: an allow or a trap
          of their own would go around what the module does (a PolicyError).
        - A module leaves a syscall that is denied or killed already (by the policy, its
          default, or another module) as it is (returns False): the stricter answer
          wins, and the kernel gives it first.
        - A module's deny or kill replaces anything else (the era hides a syscall
          whoever traps it; a rule family refuses one it cannot judge).
        - A module's trap takes a syscall that is allowed (by a rule or the default),
          traced by the default (trace-all), or its own already.
        - A trap where another owner traps already is a PolicyError naming both --
          except where one answer contains the other: the engine's watch (any trap
          lets the engine forget what it keeps about the caller, csrc/view.h) and a
          rule that keeps the old one's handler as its own (the open pipeline's hooks
          under [[path]] rules, which the engine asks after its own decision).

        Returns True if `rule` is now the syscall's rule."""
        cur = self.rules.get(name)
        if rule.is_policys_own:
            if cur is None or cur.is_policys_own or rule.action in ("deny", "kill"):
                self.rules[name] = rule
                return True
            raise self._conflict(name, cur, rule, "would go around it")
        if self.action_of(name).action in ("deny", "kill"):
            return False
        if (rule.action in ("deny", "kill") or cur is None or cur.action == "allow" or cur.owner == rule.owner
                or cur.fast == "watch"):
            self.rules[name] = rule
            return True
        if rule.fast == "watch":
            return False  # it traps already: the engine sees it
        if rule.handler is not None and rule.handler is cur.handler:
            self.rules[name] = rule
            return True
        raise self._conflict(name, cur, rule, "needs it too")

    def _conflict(self, name, cur, rule, what):
        return PolicyError(self.source, rule.owner,
                           f"{name} is {'trapped' if cur.traps else 'answered'} by {cur.owner} ({cur.how()}) and "
                           f"{rule.owner} {what} ({rule.how()}): a trapped syscall has one owner, so remove one "
                           "of the two (lxrun --explain shows who owns each syscall)")

    def allow(self, names, comment="", owner=API):
        return self.add(Rule(self._names(names), "allow", comment=comment, owner=owner))

    def deny(self, names, errno="EPERM", comment="", owner=API):
        return self.add(Rule(self._names(names), "deny", errno=parse_errno(errno, self.source), comment=comment,
                             owner=owner))

    def kill(self, names, comment="", owner=API):
        return self.add(Rule(self._names(names), "kill", comment=comment, owner=owner))

    def trace(self, names, comment="", owner=API):
        return self.add(Rule(self._names(names), "trace", comment=comment, owner=owner))

    def emulate(self, names, value=None, fast=None, handler=None, errno=None, comment="", owner=API):
        given = [x is not None for x in (value, fast, handler, errno)]
        if sum(given) != 1:
            raise PolicyError(self.source, "emulate", "give exactly one of return, errno, fast, handler")
        if fast is not None and fast not in FAST_ACTIONS + _INTERNAL_FAST:
            raise PolicyError(self.source, "fast", f"unknown fast action {fast!r} (one of {', '.join(FAST_ACTIONS)})")
        if handler is not None and not callable(handler):
            raise PolicyError(self.source, "handler", f"{handler!r} is not callable")
        rule = Rule(self._names(names), "emulate", value=value, fast=fast, handler=handler, comment=comment,
                    owner=owner)
        if errno is not None:
            rule.errno, rule.value = parse_errno(errno, self.source), None
            rule.value = -rule.errno
        return self.add(rule)

    def handler(self, names, comment=""):
        """Decorator: emulate `names` with a Python function(call) -> result."""
        def deco(fn):
            self.emulate(names, handler=fn, comment=comment or (fn.__doc__ or "").strip())
            return fn
        return deco

    def set_identity(self, **fields):
        """Emulate uname(2): the fields given replace the host's."""
        for k, v in fields.items():
            if v is None:
                continue
            if k not in IDENTITY_KEYS:
                raise PolicyError(self.source, f"identity.{k}", f"unknown field (one of {', '.join(IDENTITY_KEYS)})")
            if not isinstance(v, str) or len(v.encode()) > 64 or "\0" in v:
                raise PolicyError(self.source, f"identity.{k}", "must be a string of at most 64 bytes")
            self.identity[k] = v
        if self.identity:
            self.emulate("uname", fast="uname", comment="emulated kernel identity", owner=IDENTITY)

    def network(self, action, comment="", **keys):
        """A network rule (see lxbrand.rules.net): p.network("allow", family="inet",
        cidr=["127.0.0.0/8"], ports=[80], ops=["connect"]).  Rules are tried in order."""
        from lxbrand.rules import net
        n = len(self.net.rules) + 1 if self.net else 1
        rule = net.rule_from_dict(dict(keys, action=action, comment=comment), self.source, f"network[{n}]")
        self._net_policy().add(rule)
        return rule

    def set_network_default(self, action):
        self._net_policy().default = self._allow_or_deny("network_default", action)

    def _allow_or_deny(self, key, action):
        if action not in ("allow", "deny"):
            raise PolicyError(self.source, key, f"expected \"allow\" or \"deny\", got {action!r}")
        return action

    def _net_policy(self, rules_section=True):
        """The [[network]] rule family, installed on first use (lxbrand.rules.net).
        Path rules install it too, without rules of its own (rules_section=False): a
        UNIX socket's path is a file."""
        from lxbrand.rules import net
        if self.net is None:
            self.net = net.install(self, rules_section)
        elif rules_section and not self.net.rules_section:
            self.net = net.install(self, True)  # rules of its own now: io_uring refused, SCTP too
        return self.net

    def path(self, action, paths, ops=None, errno=None, comment=""):
        """A path rule (see lxbrand.rules.paths): p.path("deny", ["/etc/shadow"], ops=["read"])."""
        from lxbrand.rules import paths as pathmod
        rule = {"action": action, "paths": paths, "comment": comment}
        if ops is not None:
            rule["ops"] = ops
        if errno is not None:
            rule["errno"] = errno
        n = len(self.paths.rules) + 1 if self.paths else 1
        rule = pathmod.rule_from_dict(rule, self.source, f"path[{n}]")
        self._path_policy().add(rule)
        return rule

    def set_path_default(self, action):
        self._path_policy().default = self._allow_or_deny("path_default", action)

    def _path_policy(self):
        """The [[path]] rule family, installed on first use (lxbrand.rules.paths)."""
        if self.paths is None:
            from lxbrand.rules import paths
            self.paths = paths.install(self)
            # a UNIX socket's path is a file: connect/send "write", bind "create" (csrc/net.c)
            self._net_policy(rules_section=False)
        return self.paths

    # -- what rule families install (lxbrand.rules.*) -------------------------
    def claim_engine(self, names, section, comment, owner):
        """Give syscalls to a rule family (`owner`, its module) that the engine decides
        and performs (Rule.fast = section).  A handler that sees what the engine allows
        (the open pipeline's) stays, as the family's hook; everything else as
        Policy.place decides."""
        for name in names:
            r = self.rules.get(name)
            keep = r.handler if r is not None and getattr(r.handler, "sees_engine_calls", False) else None
            self.place(name, Rule((name,), "emulate", fast=section, handler=keep, comment=comment, owner=owner))

    def refuse(self, name, errno, comment, owner):
        """Deny a syscall a rule family (`owner`) cannot let run (unless already denied or killed)."""
        self.place(name, Rule((name,), "deny", errno=errno, comment=comment, owner=owner))

    def watch_engine(self):
        """The calls that change what the engine keeps about a thread to act for it
        (its credentials, its root: csrc/view.h) trap, so it forgets; they run as
        they are (fast = "watch").  Only where they would otherwise run untrapped."""
        from lxbrand import _core
        for name, sc in syscalls.table().items():
            if _core.watched(sc.nr) and self.action_of(name).action == "allow":
                self.place(name, Rule((name,), "emulate", fast="watch", owner=ENGINE,
                                      comment="the engine forgets the caller's kept credentials and root"))

    # -- reading --------------------------------------------------------
    def action_of(self, name):
        r = self.rules.get(name)
        if r is not None:
            return r
        return Rule((name,), self.default, errno=self.default_errno, comment="policy default", owner=DEFAULT)

    def traps(self):
        """Names of the syscalls that trap to the supervisor under this policy."""
        out = []
        for name in syscalls.table():
            r = self.action_of(name)
            if r.action in ("trace", "emulate"):
                out.append(name)
        return out

    def handlers(self):
        return {n: r.handler for n, r in self.rules.items() if r.handler is not None}


def _load_handler(spec, source, key):
    mod, sep, attr = spec.partition(":")
    if not sep or not mod or not attr:
        raise PolicyError(source, key, f"handler {spec!r} must be \"package.module:function\"")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except Exception as e:  # noqa: BLE001 - any import failure is the policy's problem
        raise PolicyError(source, key, f"cannot load handler {spec!r}: {e}") from None
    if not callable(fn):
        raise PolicyError(source, key, f"handler {spec!r} is not callable")
    return fn


_TOP_KEYS = {"name", "description", "default", "default_errno", "rule", "identity", "personality", "network",
             "network_default", "path", "path_default"}
_RULE_KEYS = {"syscalls", "action", "errno", "return", "fast", "handler", "comment"}


def _expect(source, key, value, types, what):
    if isinstance(value, bool) or not isinstance(value, types):  # no key here takes a boolean
        raise PolicyError(source, key, f"expected {what}, got {type(value).__name__} {value!r}")
    return value


def from_dict(data, source="<dict>", name=None, base_dir="."):
    """Build a Policy from parsed TOML, validating every key."""
    if not isinstance(data, dict):
        raise PolicyError(source, None, "a policy is a table of keys")
    for k in data:
        if k not in _TOP_KEYS:
            raise PolicyError(source, k, f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    default = _expect(source, "default", data.get("default", "allow"), str, "a string")
    default_errno = parse_errno(data.get("default_errno", "EPERM"), source, "default_errno")
    p = Policy(name=_expect(source, "name", data.get("name", name or "custom"), str, "a string"),
               description=_expect(source, "description", data.get("description", ""), str, "a string"),
               default=default, default_errno=default_errno, source=source)
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise PolicyError(source, "rule", "expected an array of tables ([[rule]])")
    seen = {}
    for i, r in enumerate(rules, 1):
        key = f"rule[{i}]"
        if not isinstance(r, dict):
            raise PolicyError(source, key, "expected a table")
        for k in r:
            if k not in _RULE_KEYS:
                raise PolicyError(source, f"{key}.{k}", f"unknown key (known: {', '.join(sorted(_RULE_KEYS))})")
        if "syscalls" not in r:
            raise PolicyError(source, f"{key}.syscalls", "missing (a list of syscall names)")
        if "action" not in r:
            raise PolicyError(source, f"{key}.action", f"missing (one of {', '.join(ACTIONS)})")
        sc = r["syscalls"]
        if isinstance(sc, str):
            sc = [sc]
        _expect(source, f"{key}.syscalls", sc, list, "a list of syscall names")
        p_src = p.source
        try:
            p.source = source
            names = p._names(sc, f"{key}.syscalls")
        finally:
            p.source = p_src
        for n in names:
            if n in seen:
                raise PolicyError(source, f"{key}.syscalls", f"{n!r} already has a rule in {seen[n]}")
            seen[n] = key
        action = _expect(source, f"{key}.action", r["action"], str, "a string")
        if action not in ACTIONS:
            raise PolicyError(source, f"{key}.action", f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
        comment = _expect(source, f"{key}.comment", r.get("comment", ""), str, "a string")
        extra = {k for k in r if k not in ("syscalls", "action", "comment")}
        allowed = {"deny": {"errno"}, "emulate": {"return", "errno", "fast", "handler"}}.get(action, set())
        for k in extra - allowed:
            raise PolicyError(source, f"{key}.{k}", f"not used by action {action!r}")
        try:
            if action == "allow":
                p.allow(names, comment, owner=key)
            elif action == "deny":
                p.deny(names, r.get("errno", "EPERM"), comment, owner=key)
            elif action == "kill":
                p.kill(names, comment, owner=key)
            elif action == "trace":
                p.trace(names, comment, owner=key)
            else:
                given = [k for k in ("return", "errno", "fast", "handler") if k in r]
                if len(given) != 1:
                    raise PolicyError(source, key, "emulate needs exactly one of return, errno, fast, handler")
                k = given[0]
                if k == "return":
                    v = _expect(source, f"{key}.return", r["return"], int, "an integer")
                    if not -(2**63) <= v < 2**63:
                        raise PolicyError(source, f"{key}.return", "out of the 64-bit range")
                    p.emulate(names, value=v, comment=comment, owner=key)
                elif k == "errno":
                    p.emulate(names, errno=parse_errno(r["errno"], source, f"{key}.errno"), comment=comment, owner=key)
                elif k == "fast":
                    f = _expect(source, f"{key}.fast", r["fast"], str, "a string")
                    if f not in FAST_ACTIONS:
                        raise PolicyError(source, f"{key}.fast", f"unknown fast action {f!r} (one of {', '.join(FAST_ACTIONS)})")
                    p.emulate(names, fast=f, comment=comment, owner=key)
                else:
                    spec = _expect(source, f"{key}.handler", r["handler"], str, "\"module:function\"")
                    p.emulate(names, handler=_load_handler(spec, source, f"{key}.handler"), comment=comment, owner=key)
        except PolicyError as e:
            if e.key and e.key.startswith("rule["):
                raise
            raise PolicyError(source, f"{key}.{e.key}" if e.key else key, e.problem) from None
    p.source = source
    # The rule families first, then the personality, in the order lxrun and the OCI
    # runtime apply a command line's personality to a loaded policy: the same rules
    # either way (Policy.place; between two modules' denials, the first stays).
    _load_section(p, data, "network", "lxbrand.rules.net", p._net_policy, p.set_network_default)
    _load_section(p, data, "path", "lxbrand.rules.paths", p._path_policy, p.set_path_default)
    ident = data.get("identity", {})
    if not isinstance(ident, dict):
        raise PolicyError(source, "identity", "expected a table")
    p.source = source
    p.set_identity(**ident)
    if ident or "personality" in data:
        # One identity everywhere (uname and /proc), plus the [personality] table:
        # lxbrand.personality validates it (errors name personality.KEY).
        from lxbrand.personality import Personality
        Personality.from_dict(data.get("personality", {}), source, base_dir).apply(p)
    return p


def _load_section(p, data, key, module, section_policy, set_default):
    """A [[KEY]] array of rules and its KEY_default, validated by `module`'s
    rule_from_dict; nothing is installed when neither is given."""
    rules = data.get(key, [])
    if not isinstance(rules, list):
        raise PolicyError(p.source, key, f"expected an array of tables ([[{key}]])")
    if rules or f"{key}_default" in data:
        rule_from_dict = importlib.import_module(module).rule_from_dict
        sp = section_policy()
        for i, r in enumerate(rules, 1):
            sp.add(rule_from_dict(r, p.source, f"{key}[{i}]"))
        set_default(data.get(f"{key}_default", "allow"))


def load_policy(spec):
    """A built-in profile by name, or a TOML file by path."""
    if isinstance(spec, Policy):
        return spec
    if os.sep not in spec and not spec.endswith(".toml"):
        if spec not in builtin_profiles():
            raise PolicyError(spec, None, f"no such built-in profile (built-in: {', '.join(builtin_profiles())}; "
                                          "or give the path of a .toml file)")
        with open(os.path.join(_PROFILE_DIR, spec + ".toml"), encoding="utf-8") as f:
            text = f.read()
        source = f"{spec} (built-in)"
    else:
        try:
            with open(spec, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise PolicyError(spec, None, f"cannot read: {e.strerror}") from None
        except UnicodeDecodeError:
            raise PolicyError(spec, None, "not UTF-8 text") from None
        source = spec
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(source, None, f"not valid TOML: {e}") from None
    return from_dict(data, source, name=os.path.basename(spec).removesuffix(".toml"),
                     base_dir=os.path.dirname(os.path.abspath(spec)))
