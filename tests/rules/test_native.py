"""A call whose operations no rule denies runs in the kernel, untrapped (PathPolicy.native,
NetPolicy.native, csrc/filter.c's native_when): read-only opens under rules that only
keep a tree read-only, listings without a hiding rule, stats without a stat rule, sends
under rules about connect only.  What is judged still is."""
import os
import subprocess
import sys

import pytest

from lxbrand import _core, syscalls
from lxbrand.engine import Sandbox
from lxbrand.policy import from_dict


def trapped(policy, argv, backend):
    sb = Sandbox(policy, backend=backend)
    st = sb.run(argv)
    return st.code, {syscalls.name_of(nr): count for nr, count, _e, _ns in sb.stats}


READER = """
import os, sys
d = sys.argv[1]
for i in range(40):
    with open(os.path.join(d, "f"), "rb") as f:
        f.read()
    os.stat(os.path.join(d, "f"))
os.listdir(d)
try:
    open(os.path.join(d, "g"), "w")
except OSError as e:
    print("write", e.errno)
"""


def test_read_only_tree_traps_only_what_it_judges(tmp_path, backend, capfd):
    (tmp_path / "f").write_text("x")
    p = from_dict({"path": [{"action": "deny", "paths": [str(tmp_path)], "ops": ["write", "create"]}]}, "t.toml")
    code, stats = trapped(p, [sys.executable, "-c", READER, str(tmp_path)], backend)
    assert code == 0
    assert capfd.readouterr().out == "write 13\n"
    assert stats.get("openat", 0) < 10, stats      # the 40 read-only opens ran in the kernel
    assert "newfstatat" not in stats and "statx" not in stats and "getdents64" not in stats, stats


def test_everything_judged_under_a_rule_on_every_op(tmp_path, backend, capfd):
    (tmp_path / "f").write_text("x")
    p = from_dict({"path": [{"action": "deny", "paths": ["/nonexistent"]}]}, "t.toml")
    code, stats = trapped(p, [sys.executable, "-c", READER, str(tmp_path)], backend)
    assert code == 0 and capfd.readouterr().out == ""
    assert stats.get("openat", 0) >= 40 and stats.get("newfstatat", 0) + stats.get("statx", 0) >= 40, stats


def test_network_rules_about_connect_leave_sends_untrapped(backend):
    p = from_dict({"network": [{"action": "deny", "cidr": ["10.0.0.0/8"], "ops": ["connect"]}]}, "t.toml")
    code, stats = trapped(p, [sys.executable, "-c",
                              "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                              "for i in range(20): s.sendto(b'x', ('127.0.0.1', 9))\n"
                              "try:\n s.connect(('10.1.1.1', 9))\nexcept OSError as e: print(e.errno)"], backend)
    assert code == 0
    assert "sendto" not in stats and stats.get("connect") == 1, stats


def test_the_native_condition_is_in_the_filter():
    """openat runs natively exactly when its flags ask for nothing the rules deny."""
    p = from_dict({"path": [{"action": "deny", "paths": ["/srv"], "ops": ["write", "create"]}]}, "t.toml")
    assert p.paths.native("openat") == ("args", 2, os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_CREAT | 0o20000000)
    assert p.paths.native("openat2") is None and p.paths.native("unlink") is None
    assert p.paths.native("newfstatat") == "all" and p.paths.native("execve") == "watch"
    p = from_dict({"path": [{"action": "deny", "paths": ["/srv"], "ops": ["read"]}]}, "t.toml")
    assert p.paths.native("openat") is None   # a read-only open has no flag to tell it by
    p = from_dict({"path_default": "deny"}, "t.toml")
    assert all(p.paths.native(n) is None for n in ("openat", "newfstatat", "execve"))
    assert p.paths.native("getdents64") == "all"  # a default denial hides nothing (EACCES, not ENOENT)
