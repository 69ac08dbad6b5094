"""Policies are validated before anything runs, and the syscall table agrees
with an independent source (the kernel's uapi header), not with itself."""
import re
from pathlib import Path

import pytest

from lxbrand import syscalls
from lxbrand.errors import PolicyError
from lxbrand.policy import Policy, builtin_profiles, from_dict, load_policy

UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def test_syscall_numbers_match_kernel_header():
    if not UNISTD.exists():
        pytest.skip(f"{UNISTD} missing (apt-get install linux-libc-dev)")
    kernel = {m.group(1): int(m.group(2))
              for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", UNISTD.read_text())}
    table = syscalls.table()
    common = set(kernel) & set(table)
    assert len(common) > 300
    for name in common:
        assert table[name].nr == kernel[name], name


def test_builtin_profiles_load_and_say_why():
    assert {"default", "strict", "trace-all"} <= set(builtin_profiles())
    for name in builtin_profiles():
        p = load_policy(name)
        assert p.description
        for rule in p.rules.values():
            assert rule.comment, f"{name}: rule for {rule.syscalls} has no comment"


def test_strict_is_deny_by_default_and_denies_io_uring():
    p = load_policy("strict")
    assert p.default == "deny"
    for n in ("io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "mount", "unshare"):
        assert p.action_of(n).action == "deny", n
    # a syscall the list never mentions is denied
    assert p.action_of("lookup_dcookie").action == "deny"


def test_default_traps_nothing_and_trace_all_traps_everything():
    assert load_policy("default").traps() == []
    assert len(load_policy("trace-all").traps()) > 300


def write(tmp_path, text):
    f = tmp_path / "p.toml"
    f.write_text(text)
    return str(f)


@pytest.mark.parametrize("text, key, problem", [
    ('[[rule]]\nsyscalls=["nope"]\naction="deny"\n', "rule[1].syscalls", "unknown syscall 'nope'"),
    ('[[rule]]\nsyscalls=["read"]\naction="explode"\n', "rule[1].action", "unknown action 'explode'"),
    ('[[rule]]\nsyscalls="read"\naction=3\n', "rule[1].action", "expected a string"),
    ('[[rule]]\nsyscalls=[1]\naction="deny"\n', "rule[1].syscalls", "syscall names must be strings"),
    ('[[rule]]\nsyscalls=["read"]\naction="deny"\nerrno="EWHAT"\n', "rule[1].errno", "unknown errno name"),
    ('[[rule]]\nsyscalls=["read"]\naction="allow"\nerrno="EPERM"\n', "rule[1].errno", "not used by action"),
    ('[[rule]]\nsyscalls=["read"]\naction="emulate"\n', "rule[1]", "exactly one of"),
    ('[[rule]]\nsyscalls=["read"]\naction="emulate"\nreturn="x"\n', "rule[1].return", "expected an integer"),
    ('[[rule]]\nsyscalls=["read"]\naction="emulate"\nhandler="nosuchmod:f"\n', "rule[1].handler", "cannot load handler"),
    ('[[rule]]\nsyscalls=["read"]\naction="emulate"\nhandler="nocolon"\n', "rule[1].handler", "must be"),
    ('[[rule]]\nsyscalls=["read"]\naction="emulate"\nfast="warp"\n', "rule[1].fast", "unknown fast action"),
    ('[[rule]]\nsyscalls=["read"]\naction="deny"\n[[rule]]\nsyscalls=["read"]\naction="allow"\n',
     "rule[2].syscalls", "already has a rule in rule[1]"),
    ('[[rule]]\naction="deny"\n', "rule[1].syscalls", "missing"),
    ('default="maybe"\n', "default", "unknown default action"),
    ('colour="red"\n', "colour", "unknown key"),
    ('[[rule]]\nsyscalls=["ptrace"]\naction="emulate"\nreturn=0\n', "rule[1].syscalls",
     "ptrace cannot be given action 'emulate'"),
    ('[[rule]]\nsyscalls=["restart_syscall"]\naction="deny"\n', "rule[1].syscalls",
     "restart_syscall cannot be given action 'deny'"),
    ('[identity]\nrelease=4\n', "identity.release", "must be a string"),
    ('[identity]\nkernel="x"\n', "identity.kernel", "unknown field"),
    ('[[rule]]\nsyscalls=["read"]\naction=true\n', "rule[1].action", "expected a string"),
    ('x = [\n', None, "not valid TOML"),
])
def test_bad_policy_names_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as ei:
        load_policy(path)
    msg = str(ei.value)
    assert msg.startswith(f"policy {path}")
    if key:
        assert f": {key}: " in msg, msg
    assert problem in msg, msg


def test_unknown_profile_and_unreadable_file(tmp_path):
    with pytest.raises(PolicyError, match="no such built-in profile"):
        load_policy("nonesuch")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(str(tmp_path / "missing.toml"))


def test_api_builds_policies():
    p = Policy(default="allow")
    p.deny("mkdir", errno="EROFS", comment="read-only")
    p.emulate("getppid", value=1)

    @p.handler("getpid")
    def fake(call):
        return 5

    assert p.action_of("mkdir").errno == 30
    assert p.action_of("getpid").handler is fake
    assert set(p.traps()) == {"getppid", "getpid"}
    with pytest.raises(PolicyError):
        p.emulate("getpid", value=1, fast="uname")


def test_from_dict_emulate_and_identity():
    p = from_dict({"rule": [{"syscalls": ["getuid"], "action": "emulate", "return": 0, "comment": "root"}],
                   "identity": {"release": "4.4.0"}}, "t")
    assert p.action_of("getuid").value == 0
    assert p.identity == {"release": "4.4.0"}
    assert p.action_of("uname").fast == "uname"
