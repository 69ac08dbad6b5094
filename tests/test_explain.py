"""Who answers each syscall: every trapped syscall has exactly one owner under every
built-in profile, personality and rule family combination (two owners are a
PolicyError at load time, naming both), `lxrun --explain` reports it, and
SYSCALLS.md is the table the code generates today."""
import itertools
import json
import re
import subprocess

import pytest

from conftest import ROOT, lxrun_cmd
from lxbrand import _core, engine, explain, syscalls
from lxbrand.errors import PolicyError
from lxbrand.personality import Personality
from lxbrand.policy import Policy, builtin_profiles, from_dict, load_policy

# lxrun's personality options, one at a time and together (a remap needs --backend ptrace
# to run, not to load)
OPTIONS = {
    "identity": dict(hostname="zone1", release="4.4.0-lx"),
    "no-era": dict(release="4.4.0-lx", era=False),
    "memory": dict(memory="256M"),
    "cpus": dict(cpus=2),
    "fake_root": dict(fake_root=True),
    "files": dict(files={"/etc/motd": b"hello\n"}),
    "remap": dict(remap=[{"syscall": "getppid", "to": "getpid"}]),
}
# the rule families, as a policy file's sections
SECTIONS = {
    "path": {"path": [{"action": "deny", "paths": ["/etc/shadow"], "comment": "t"}]},
    "network": {"network": [{"action": "deny", "cidr": ["10.0.0.0/8"], "comment": "t"}]},
}
# combinations the policy layer refuses, and the two owners its error names
CONFLICTS = {("fake_root", "path"): ("rules.paths", "personality.fakeroot")}


class Placements:
    """Every Policy.place and what came of it."""

    def __init__(self, monkeypatch):
        self.log = []
        orig = Policy.place

        def place(policy, name, rule):
            ok = orig(policy, name, rule)
            self.log.append((policy, name, rule, ok))
            return ok
        monkeypatch.setattr(Policy, "place", place)

    def check_one_owner(self, policy):
        """No trap that got into `policy` was then replaced by another owner's trap:
        it is still there, or a deny/kill took its place (the stricter answer), or its
        own owner's rule, or a rule that carries its handler as a hook; the engine's
        watch yields to any trap."""
        for p, name, rule, ok in self.log:
            if p is not policy or not ok or not rule.traps or rule.fast == "watch":
                continue
            final = policy.rules.get(name)
            assert final is not None, (name, rule.owner)
            assert (final is rule or final.action in ("deny", "kill") or final.owner == rule.owner
                    or (rule.handler is not None and final.handler is rule.handler)), \
                f"{name}: {rule.owner}'s {rule.how()} was replaced by {final.owner}'s {final.how()}"
        for name, r in policy.rules.items():
            assert r.owner, name


def combos():
    keys = list(OPTIONS) + list(SECTIONS)
    out = [()]
    out += [(k,) for k in keys]
    out += [c for c in itertools.combinations(keys, 2) if {"identity", "no-era"} != set(c)]
    out.append(tuple(k for k in keys if k not in ("no-era", "fake_root")))
    out.append(("identity", "memory", "cpus", "fake_root", "files", "remap", "network"))
    return out


def _conflict(combo):
    for pair, owners in CONFLICTS.items():
        if set(pair) <= set(combo):
            return owners
    return None


def _personality(combo):
    kw = {}
    for k in combo:
        if k in OPTIONS:
            kw.update(OPTIONS[k])
    return kw


@pytest.mark.parametrize("profile", ["default", "strict", "trace-all"])
def test_every_trapped_syscall_has_one_owner(monkeypatch, profile):
    """For each profile and combination: as one policy file (its sections, then its
    [personality]) and as lxrun builds it (the file, then the command line's personality)
    -- the same owners either way, or the same PolicyError."""
    import tomllib
    with open(ROOT / "lxbrand" / "profiles" / f"{profile}.toml", "rb") as f:
        base = tomllib.load(f)
    placed = Placements(monkeypatch)
    for combo in combos():
        pers = _personality(combo)
        data = dict(base)
        for k in combo:
            data.update(SECTIONS.get(k, {}))
        file_pers = {k: ({g: {"content": v.decode()} for g, v in pers["files"].items()} if k == "files" else v)
                     for k, v in pers.items()}
        results = []
        for how in ("file", "lxrun"):
            placed.log.clear()
            try:
                if how == "file":
                    p = from_dict({**data, **({"personality": file_pers} if pers else {})}, "t.toml")
                else:
                    p = from_dict(data, "t.toml")
                    if pers:
                        Personality(**pers).apply(p)
            except PolicyError as e:
                results.append(("error", str(e)))
                continue
            placed.check_one_owner(p)
            results.append(("ok", {n: (r.owner, r.how()) for n, r in p.rules.items()}))
        owners = _conflict(combo)
        if owners:
            for kind, what in results:
                assert kind == "error" and all(o in what for o in owners), (combo, what)
            continue
        (k1, r1), (k2, r2) = results
        assert k1 == k2 == "ok", (combo, r1 if k1 == "error" else r2)
        assert r1 == r2, (combo, {n for n in set(r1) | set(r2) if r1.get(n) != r2.get(n)})


@pytest.mark.parametrize("doc, owners", [
    # a [[rule]] of the policy and a module that needs the same syscall
    ({"rule": [{"syscalls": ["sysinfo"], "action": "emulate", "return": 0}],
      "personality": {"memory": "256M"}}, ("rule[1]", "personality.view")),
    ({"rule": [{"syscalls": ["uname"], "action": "trace"}], "identity": {"release": "5.0"}}, ("rule[1]", "identity")),
    ({"rule": [{"syscalls": ["openat"], "action": "trace"}], "personality": {"files": {"/x": {"content": "y"}}}},
     ("rule[1]", "handlers.files")),
    ({"rule": [{"syscalls": ["stat"], "action": "emulate", "return": 0}],
      "path": [{"action": "deny", "paths": ["/x"]}]}, ("rule[1]", "rules.paths")),
    ({"rule": [{"syscalls": ["connect"], "action": "trace"}],
      "network": [{"action": "deny", "family": "inet6"}]}, ("rule[1]", "rules.net")),
    # two modules
    ({"personality": {"hostname": "h", "remap": [{"syscall": "uname", "to": "getpid"}]}},
     ("identity", "personality.remap")),
    ({"personality": {"fake_root": True}, "path": [{"action": "deny", "paths": ["/x"]}]},
     ("personality.fakeroot", "rules.paths")),
])
def test_two_owners_are_a_policy_error(doc, owners):
    with pytest.raises(PolicyError) as e:
        from_dict(doc, "t.toml")
    msg = str(e.value)
    assert msg.startswith("policy t.toml: ") and "one owner" in msg, msg
    assert all(o in msg for o in owners), msg


def test_stricter_rules_stay_and_the_api_cannot_go_around_a_module():
    p = from_dict({"rule": [{"syscalls": ["sysinfo", "uname"], "action": "deny", "errno": "EACCES"}],
                   "identity": {"release": "5.0"}, "personality": {"memory": "256M"}}, "t.toml")
    assert p.action_of("sysinfo").how() == p.action_of("uname").how() == "deny EACCES"
    p = load_policy("default")
    p.path("deny", ["/etc/shadow"])
    with pytest.raises(PolicyError, match="openat is trapped by rules.paths .* policy would go around it"):
        p.allow("openat")            # would run opens natively, around the rules
    p.deny("openat", errno="EROFS")  # stricter: fine
    assert p.action_of("openat").owner == "policy"
    # the era hides a syscall whoever traps it; the kernel answers first
    Personality(release="4.4.0").apply(p)
    assert p.action_of("statx").how() == "deny ENOSYS" and p.action_of("statx").owner == "personality.era"


def test_explain_rows_are_the_engines_plan():
    """Every row is what apply_policy hands the engine: same kind, errno, value."""
    p = load_policy("strict")
    Personality(memory="256M", hostname="z").apply(p)
    planned = {x.name: x for x in engine.plan(p)}
    rows = explain.rows(p)
    assert [r.name for r in rows] == sorted(syscalls.table(), key=lambda n: syscalls.table()[n].nr)
    for r in rows:
        assert r.kind == planned[r.name].kind and r.owner == planned[r.name].rule.owner
    by = {r.name: r for r in rows}
    assert (by["sysinfo"].by, by["sysinfo"].owner) == ("C", "personality.view")
    assert (by["uname"].action, by["uname"].owner) == ("uname: the policy's identity", "identity")
    mount_rule = load_policy("strict").action_of("mount").owner      # strict's "namespaces and mounts"
    assert mount_rule.startswith("rule[") and (by["mount"].action, by["mount"].owner) == ("deny EPERM", mount_rule)
    assert (by["ptrace"].by, by["ptrace"].owner) == ("kernel", "default")   # strict denies it already
    d = {r.name: r for r in explain.rows(load_policy("default"))}
    assert (d["ptrace"].by, d["ptrace"].owner) == ("C", "engine")   # handed over to a debugger (debuggee.c)
    assert d["ptrace"].action.startswith("debugger")


def _lxrun(*args):
    return subprocess.run(lxrun_cmd(*args), capture_output=True, text=True, timeout=60)


def test_lxrun_explain_answers_in_one_screen():
    r = _lxrun("--explain", "--policy", "strict", "--memory", "256M")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) <= 60, len(lines)
    assert lines[0] == "policy strict (built-in): Deny by default; an allowlist for ordinary programs"
    text = r.stdout
    assert re.search(r"^personality\.view -- .*\n +99 sysinfo +C +the personality's view$", text, re.M), text
    owner = re.escape(load_policy("strict").action_of("mount").owner)
    assert re.search(rf"^{owner} -- namespaces and mounts.*\n(.*\n)* +165 mount +kernel +deny EPERM$", text, re.M)
    assert re.search(r"^every other syscall \(\d+\): denied with EPERM, in the kernel \(the policy default\)$",
                     text, re.M)


def test_lxrun_explain_json_lists_every_syscall_not_simply_allowed(tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[[rule]]\nsyscalls = ["getppid"]\naction = "emulate"\nreturn = 7\ncomment = "why"\n'
                   '[[path]]\naction = "deny"\npaths = ["/etc/shadow"]\n')
    r = _lxrun("--explain", "--json", "--policy", str(pol), "--file", "/etc/motd=/etc/hostname")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {x["name"]: x for x in doc["syscalls"]}
    p = load_policy(str(pol))
    Personality(files={"/etc/motd": "/etc/hostname"}).apply(p)
    want = {x.name for x in engine.plan(p) if x.kind != _core.ALLOW}
    assert set(rows) == want
    assert rows["getppid"] == {"nr": 110, "name": "getppid", "by": "C", "action": "return 7",
                               "code": "lx_fast_answer (csrc/actions.c)", "owner": "rule[1]", "comment": "why",
                               "handler": None, "hooks": [], "note": ""}
    assert rows["openat"]["by"] == "C+Python" and rows["openat"]["owner"] == "rules.paths"
    assert rows["openat"]["handler"] == "lxbrand.handlers.files:FilePipeline"
    assert rows["openat"]["hooks"] == ["Python lxbrand.personality.remap:FileRemap.hook [personality]: motd"]
    assert rows["chroot"]["action"] == "deny EPERM" and rows["chroot"]["owner"] == "rules.paths"
    assert doc["unnamed_enosys"] == [syscalls.highest_named() + 1, _core.NR_MAX - 1]


def test_lxrun_explain_refuses_a_program_and_reports_conflicts(tmp_path):
    r = _lxrun("--explain", "--", "true")
    assert r.returncode == 2 and "--explain runs no program" in r.stderr
    pol = tmp_path / "p.toml"
    pol.write_text('[[path]]\naction = "deny"\npaths = ["/x"]\n')
    r = _lxrun("--explain", "--policy", str(pol), "--fake-root")
    assert r.returncode == 2 and "rules.paths" in r.stderr and "personality.fakeroot" in r.stderr, r.stderr


def test_syscalls_md_is_current():
    path = ROOT / "SYSCALLS.md"
    text = path.read_text()
    m = re.search(r"up to number (\d+)", text)
    assert m, "SYSCALLS.md names no libseccomp table size"
    if int(m[1]) != syscalls.highest_named():
        pytest.skip(f"SYSCALLS.md was generated with a libseccomp naming syscalls up to {m[1]}, this one "
                    f"up to {syscalls.highest_named()}: its rows differ by that alone")
    assert text == explain.markdown(), "SYSCALLS.md is stale: python3 -m lxbrand.explain > SYSCALLS.md"


def test_syscalls_md_covers_every_syscall_and_note():
    """Every syscall has a row, and every engine note (Syscall.note) reaches the table."""
    md = explain.markdown()
    for name, sc in syscalls.table().items():
        row = re.search(rf"^\| {sc.nr} \| `{re.escape(name)}` \|.*$", md, re.M)
        assert row, name
        if sc.note:
            assert sc.note in row[0], name
    assert syscalls.table()["ptrace"].note and syscalls.table()["ioctl"].note
