"""[[path]] and [[network]] rules travel in the compiled-policy blob (csrc/blob.h:
LX_SEC_PATHS, LX_SEC_NET): a C consumer that loads it decides as the policy's own
supervisor does, a malformed section is refused with the whole blob, and a policy
with only such rules needs no Python (fastpath.table_only): lxrun's C front end and
the OCI runtime's C supervisor serve it alone."""
import errno
import os
import socket
import struct
import subprocess

import pytest

from lxbrand import _core
from lxbrand.engine import Sandbox, apply_policy
from lxbrand.fastpath import table_only
from lxbrand.policy import from_dict

RULES = {
    "path_default": "allow",
    "path": [{"action": "deny", "paths": ["/etc/shadow", "/srv/*.key"], "ops": ["read", "write"]},
             {"action": "deny", "paths": ["/hidden"], "errno": "ENOENT"},
             {"action": "allow", "paths": ["/etc"], "ops": ["exec"]}],
    "network_default": "deny",
    "network": [{"action": "allow", "cidr": ["127.0.0.0/8"], "ports": [80, "8000-8100"]},
                {"action": "allow", "path": ["/run/*.sock"]},
                {"action": "deny", "family": "inet6", "errno": "ECONNREFUSED"}],
}
PATHS = [b"/etc/shadow", b"/etc/passwd", b"/srv/a.key", b"/srv/a.txt", b"/hidden/x", b"/x"]
ADDRS = [(socket.AF_INET, bytes([127, 0, 0, 1]), 80, None), (socket.AF_INET, bytes([127, 0, 0, 1]), 81, None),
         (socket.AF_INET, bytes([10, 0, 0, 1]), 80, None), (socket.AF_INET6, bytes(15) + b"\1", 80, None),
         (socket.AF_UNIX, b"", 0, b"/run/a.sock"), (socket.AF_UNIX, b"", 0, b"/tmp/a.sock")]


def decisions(sup):
    return ([sup.path_decide(1 << op, p) for p in PATHS for op in range(5)] +
            [sup.net_decide(1 << op, f, ip, port, path) for f, ip, port, path in ADDRS for op in range(3)])


def test_round_trip_decides_the_same():
    p = from_dict(RULES, "t.toml")
    a = _core.Supervisor(_core.BACKEND_UNOTIFY)
    apply_policy(p, a)
    blob = a.export_blob(0)
    b = _core.Supervisor(_core.BACKEND_UNOTIFY)
    b.import_blob(blob)
    assert decisions(b) == decisions(a)
    assert b.export_blob(0) == blob
    assert decisions(a)[:5] == [errno.EACCES, errno.EACCES, 0, 0, 0]  # /etc/shadow: read, write denied


def sections(blob):
    """{tag: (offset of its header, length)}, walking the blob (csrc/blob.h)."""
    head = len(_core.Supervisor(_core.BACKEND_UNOTIFY).export_blob(0))  # the fixed part: no sections
    out, at = {}, head
    while at < len(blob):
        tag, ln = struct.unpack_from("<II", blob, at)
        out[tag] = (at, ln)
        at += 8 + ln + (8 - ln % 8) % 8
    return out


@pytest.mark.parametrize("tag", [2, 3])  # LX_SEC_PATHS, LX_SEC_NET
def test_malformed_sections_are_refused(tag):
    p = from_dict(RULES, "t.toml")
    a = _core.Supervisor(_core.BACKEND_UNOTIFY)
    apply_policy(p, a)
    blob = a.export_blob(0)
    at, ln = sections(blob)[tag]
    body = at + 8
    # the default-allow byte out of range; the section cut short (its length says less)
    for bad in (blob[:body] + b"\x07" + blob[body + 1:],
                blob[:at + 4] + struct.pack("<I", ln - 3) + blob[at + 8:]):
        with pytest.raises(OSError) as e:
            _core.Supervisor(_core.BACKEND_UNOTIFY).import_blob(bad)
        assert e.value.errno == errno.EINVAL


def test_rules_alone_need_no_python():
    assert table_only(from_dict(RULES, "t.toml"))
    # a Python hook in the open pipeline still needs Python
    p = from_dict(RULES, "t.toml")
    from lxbrand.handlers import files
    files.pipeline(p).add(lambda req: None, names={"x"})
    assert not table_only(p)


def test_c_front_end_runs_a_path_policy_from_the_blob(tmp_path, progs):
    """lxrun's C front end writes the blob on the first run (through Python) and runs
    from it on the next: the rules hold, and no Python is started."""
    from conftest import lxrun_c
    exe = os.environ.get("LXRUN_C") or lxrun_c()
    if exe is None:
        pytest.skip("the C front end is not built")
    pol = tmp_path / "p.toml"
    sec = tmp_path / "sec"
    sec.mkdir()
    (sec / "k").write_text("SECRET")
    pol.write_text(f'path_default = "allow"\n[[path]]\naction = "deny"\npaths = ["{sec}"]\n')
    env = dict(os.environ, HOME=str(tmp_path))
    outs = []
    for _ in range(2):
        r = subprocess.run([exe, "--policy", str(pol), "--", "sh", "-c", f"cat {sec}/k; echo $?"],
                           capture_output=True, text=True, env=env, timeout=60)
        outs.append(r.stdout)
    assert outs == ["1\n", "1\n"]
    blobs = list((tmp_path / ".cache" / "lxbrand").glob("*.pol"))
    assert len(blobs) == 1
    # the second run came from the blob: LXRUN_PYTHON=1 (the Python path) and the blob
    # path give the same answer, and a run with Python hidden still works
    r = subprocess.run([exe, "--policy", str(pol), "--", "sh", "-c", f"cat {sec}/k; echo $?"],
                       capture_output=True, text=True, env=dict(env, PATH="/usr/bin:/bin", PYTHONPATH="/nonexistent",
                                                                  PYTHONHOME="/nonexistent"), timeout=60)
    assert r.stdout == "1\n", r.stderr
