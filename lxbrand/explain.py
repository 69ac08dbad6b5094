"""What happens to each syscall under a policy, and which code decides it.

    lxrun --explain [--policy P] [personality options] [--json]
    python3 -m lxbrand.explain > SYSCALLS.md      # the support table, every syscall

Both come from lxbrand.engine.plan, the computation that fills the engine's action
table, so they cannot say other than what runs.  For each syscall: its verdict
(answered by the kernel -- allow, deny, kill -- or trapped and answered in C or by a
Python handler), the code that answers it, its owner (Rule.owner: the policy's
[[rule]], the policy default, or the module that installed the rule: the
personality's parts, the rule families, the open pipeline, the engine) and the
rule's comment.
"""
import errno as _errno
import json
import sys

from lxbrand import _core, engine, syscalls
from lxbrand.policy import API, DEFAULT, ENGINE, handler_name

# action kind -> (who answers, what it does, where the answer is made)
_KINDS = {
    _core.ALLOW: ("kernel", "allow", "the seccomp filter (csrc/filter.c)"),
    _core.DENY: ("kernel", "deny", "the seccomp filter (csrc/filter.c)"),
    _core.KILL: ("kernel", "kill", "the seccomp filter (csrc/filter.c)"),
    _core.TRACE: ("C", "trace: recorded, then runs", "the backends' loops (csrc/unotify.c, csrc/ptrace.c)"),
    _core.RETURN: ("C", "return", "lx_fast_answer (csrc/actions.c)"),
    _core.UNAME: ("C", "uname: the policy's identity", "lx_fast_answer (csrc/actions.c)"),
    _core.PERSONA: ("C", "the personality's view", "csrc/persona.c"),
    _core.PATH: ("C", "[[path]] rules: decided and performed", "csrc/pathopen.c, csrc/pathcalls.c"),
    _core.NET: ("C", "[[network]] rules: decided and performed", "csrc/net.c"),
    _core.WATCH: ("C", "watch: the engine forgets what it keeps, then it runs", "lx_observe (csrc/actions.c)"),
    _core.PYTHON: ("Python", "handler", None),
    _core.DEBUG: ("C", "debugger: the target handed over, or refused with the reason", "csrc/debuggee.c"),
}


def _errname(e):
    return _errno.errorcode.get(e, str(e))


class Row:
    """One syscall under a policy, as lxrun --explain shows it."""
    __slots__ = ("nr", "name", "by", "action", "code", "owner", "comment", "handler", "hooks", "note", "kind")

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "kind"}


def _row(p):
    by, action, code = _KINDS[p.kind]
    r = p.rule
    row = Row()
    row.nr, row.name, row.kind = p.nr, p.name, p.kind
    row.owner, row.comment = r.owner, r.comment
    row.handler, row.hooks = None, []
    row.note = syscalls.table()[p.name].note
    if p.kind == _core.DENY:
        action = f"deny {_errname(p.err or _errno.EPERM)}"
    elif p.kind == _core.RETURN:
        v = p.value
        action = f"errno {_errname(-v)}" if -4096 < v < 0 else f"return {v}"
    if p.handler is not None:
        row.handler = handler_name(p.handler)
        if p.kind == _core.PYTHON:
            action = f"Python {row.handler.rpartition(':')[2]}"
            code = row.handler
        else:
            by, action = "C+Python", action + "; then Python hooks"
    describe = getattr(r.handler, "describe", None)
    if callable(describe) and getattr(r.handler, "sees_engine_calls", False):
        row.hooks = describe()   # the open pipeline's hooks, in the order they are asked
    row.by, row.action, row.code = by, action, code
    return row


def rows(policy):
    """[Row] for every x86_64 syscall, by number."""
    return [_row(p) for p in engine.plan(policy)]


def _policy_name(policy):
    if policy.source.startswith(policy.name):       # "strict (built-in)"
        return policy.source
    return f"{policy.name} ({policy.source})" if policy.source not in ("<api>", "<dict>") else policy.name


def _short_hook(h, keep=4):
    """A hook line with at most `keep` basenames (--json has them all)."""
    who, sep, names = h.rpartition(": ")
    names = names.split(", ")
    if not sep or len(names) <= keep:
        return h
    return f"{who}: {', '.join(names[:keep])}, ... ({len(names)} names)"


def _owner_order(owner):
    """The policy's own rules first, in file order; then the modules; the engine last."""
    if owner.startswith("rule["):
        return (0, int(owner[5:-1]), owner)
    if owner == API:
        return (1, 0, owner)
    return (3 if owner == ENGINE else 2, 0, owner)


def text(policy, backend="unotify"):
    """lxrun --explain's report: the syscalls the policy does not simply allow, grouped
    by owner and reason; the policy default's syscalls counted in one line."""
    all_rows = rows(policy)
    out = [f"policy {_policy_name(policy)}" + (f": {policy.description}" if policy.description else ""),
           f"backend {backend}"]
    personality = getattr(policy, "personality", None)
    if personality is not None:
        out.append("personality: " + "; ".join(personality.describe()))
    groups = {}
    for r in all_rows:
        if r.owner == DEFAULT or r.kind == _core.ALLOW:
            continue
        groups.setdefault((r.owner, r.comment), []).append(r)
    width = max((len(r.name) for g in groups.values() for r in g), default=10)
    for (owner, comment), members in sorted(groups.items(), key=lambda kv: (_owner_order(kv[0][0]), kv[1][0].nr)):
        out.append("")
        out.append(f"{owner}" + (f" -- {comment}" if comment else ""))
        for r in members:
            out.append(f"  {r.nr:4} {r.name:<{width}}  {r.by:<8} {r.action}")
        hooks = {tuple(r.hooks) for r in members}
        for h in (hooks.pop() if len(hooks) == 1 else ()):
            out.append(f"  {'':4} hook: {_short_hook(h)}")
        if len(hooks) > 1:
            for r in members:
                out += [f"  {r.nr:4} hook: {_short_hook(h)}" for h in r.hooks]
    dflt = [r for r in all_rows if r.owner == DEFAULT]
    if dflt:
        r = dflt[0]
        what = {"allow": "allowed: they run natively", "kill": "kill the process, in the kernel",
                "trace": "trapped, recorded, then run"}.get(policy.default,
                                                           f"denied with {_errname(policy.default_errno)}, in the kernel")
        out += ["", f"every other syscall ({len(dflt)}): {what} (the policy default)"]
    unnamed = engine.unnamed_denied(policy)
    if unnamed:
        out.append(f"numbers {unnamed.start}..{unnamed.stop - 1} (newer than libseccomp's table): ENOSYS, "
                   "so that no call goes around the rules that judge arguments")
    guarded = [r.name for r in all_rows if r.note and r.name != "ptrace"
               and (backend == "ptrace" or _core.protections(r.nr) != _core.PROT_LISTENER)]
    if guarded:
        out += ["", "under every policy the engine's own filter (csrc/filter.c) also refuses some uses of: "
                + ", ".join(guarded) + " (why: --json, or SYSCALLS.md's notes)"]
    where = sorted({r.code for r in all_rows if r.kind not in (_core.ALLOW, _core.PYTHON) and
                    (r.owner != DEFAULT or r.kind != _core.DENY)})
    if where:
        out += ["", "answered in: " + "; ".join(where)]
    return "\n".join(out) + "\n"


def as_json(policy, backend="unotify"):
    """lxrun --explain --json: every syscall the policy does not simply allow."""
    personality = getattr(policy, "personality", None)
    unnamed = engine.unnamed_denied(policy)
    return {
        "policy": policy.name, "source": policy.source, "description": policy.description,
        "backend": backend,
        "default": {"action": policy.default, "errno": _errname(policy.default_errno) if policy.default == "deny" else None},
        "personality": personality.describe() if personality is not None else [],
        "unnamed_enosys": [unnamed.start, unnamed.stop - 1] if unnamed else None,
        "syscalls": [r.as_dict() for r in rows(policy) if r.kind != _core.ALLOW],
    }


def dump_json(policy, backend, out=None):
    out = out or sys.stdout
    json.dump(as_json(policy, backend), out, indent=1)
    out.write("\n")


# -- the support table (SYSCALLS.md) ---------------------------------------------------

# a verdict in one word or two, for the table's cells
_SHORT = {_core.ALLOW: "allow", _core.KILL: "kill", _core.TRACE: "trace", _core.RETURN: "C: return",
          _core.UNAME: "C: uname", _core.PERSONA: "C: view", _core.PATH: "C: path rules",
          _core.NET: "C: net rules", _core.WATCH: "C: watch", _core.PYTHON: "Python",
          _core.DEBUG: "C: debugger"}


def _cell(r):
    if r.kind == _core.DENY:
        return r.action.split()[1]       # the errno name
    return _SHORT[r.kind] + (" + Python" if r.by == "C+Python" else "")


# What the table's personality and rule-family columns apply, each to the default
# profile (a column shows what changes): lxrun's options, and one rule of each family.
_PERSONALITY_PROBES = (("identity", {"hostname": "zone", "release": "99.0"}),
                       ("--memory/--cpus", {"memory": "256M", "cpus": 1}),
                       ("--file", {"files": {"/etc/motd": b"hi\n"}}),
                       ("--fake-root", {"fake_root": True}))
# (a path rule that denies every operation and hides: under narrower rules fewer calls trap)
_FAMILY_PROBES = (("[[path]]", lambda p: p.path("deny", ["/etc/shadow"], errno="ENOENT")),
                  ("[[network]]", lambda p: p.network("deny", family="inet6")))


def _probe(change):
    from lxbrand.policy import load_policy
    p = load_policy("default")
    change(p)
    return {r.name: r for r in rows(p)}


def markdown():
    """SYSCALLS.md: every x86_64 syscall, its first release, what each built-in profile,
    the personality and the rule families do with it, and what the engine does with it
    under every policy."""
    from lxbrand.policy import builtin_profiles, load_policy
    profiles = builtin_profiles()
    by_profile = {p: {r.name: r for r in rows(load_policy(p))} for p in profiles}
    default = by_profile["default"]
    from lxbrand.personality import Personality
    probes = [(label, _probe(Personality(**opts).apply)) for label, opts in _PERSONALITY_PROBES]
    families = [(label, _probe(change)) for label, change in _FAMILY_PROBES]
    head = ["nr", "syscall", "since", *profiles, "personality", *(label for label, _ in families), "notes"]
    out = [
        "# Syscall support",
        "",
        "Generated from the code by `python3 -m lxbrand.explain > SYSCALLS.md` (tests/test_explain.py",
        "checks it is current); `lxrun --explain` shows the same for one policy, with owners and reasons.",
        f"Every x86_64 syscall libseccomp names (up to number {syscalls.highest_named()}), what lxbrand does",
        "with it under each built-in profile, what the personality and the rule families change over the",
        "`default` profile, and what the engine does under every policy.",
        "",
        "- **since**: the first Linux release with the syscall (lxbrand/data/syscall_since.txt). With",
        "  `--kernel-release R` (the era emulation) every syscall newer than R fails with ENOSYS.",
        "- **allow**: runs natively, unseen. **EPERM**, **ENOSYS**, ...: refused in the kernel with that",
        "  errno. **kill**: the process is killed. **trace**: trapped, recorded, then run.",
        "- **C: ...**: trapped and answered by the engine in C: `return` a fixed value, `uname` the policy's",
        "  identity, `view` the personality's resource and identity view (csrc/persona.c), `path rules` and",
        "  `net rules` decided and performed (csrc/pathopen.c, pathcalls.c, net.c), `watch` runs after the",
        "  engine forgets the caller's kept credentials (csrc/actions.c, view.h). **Python**: a Python handler answers.",
        "- **personality**: `identity` is `--hostname` and the like (uname and the identity files),",
        "  `--memory/--cpus` the resource view, `--file` a served file, `--fake-root` fake root",
        "  (lxbrand/personality/). `[personality] remap` (ptrace) rewrites the syscalls it names.",
        "- **[[path]]** and **[[network]]**: with a rule that denies every operation (and, for paths,",
        "  hides: `errno = \"ENOENT\"`) (lxbrand/rules/paths.py, rules/net.py); a call whose operations no",
        "  rule can deny is not trapped (listings without a hiding rule; reads, stats, execs where no rule",
        "  denies them: read-only opens told apart by their flags in the filter); syscalls newer than",
        "  libseccomp's table then fail with ENOSYS, and under `[[network]]` rules `socket(2)` of an SCTP",
        "  socket fails with EPROTONOSUPPORT (in the kernel, csrc/filter.c).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if h == "nr" else "---" for h in head) + "|",
    ]
    for name, sc in sorted(syscalls.table().items(), key=lambda kv: kv[1].nr):
        base = _cell(default[name])
        pers = "; ".join(f"{label}: {_cell(t[name])}" for label, t in probes if _cell(t[name]) != base)
        fams = [_cell(t[name]) if _cell(t[name]) != base else "" for _, t in families]
        since = ".".join(map(str, sc.since)) if sc.since else "?"
        cells = [str(sc.nr), f"`{name}`", since, *(_cell(by_profile[p][name]) for p in profiles), pers, *fams,
                 sc.note.replace("|", "\\|")]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv=None):
    """python3 -m lxbrand.explain: SYSCALLS.md (the support table) on stdout."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        print("usage: python3 -m lxbrand.explain > SYSCALLS.md", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
