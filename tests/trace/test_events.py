"""The event stream (csrc/events.h, `lxbrand events`): execs, connects, denied calls with
their rule and its comment, path-rule denials; every line valid against the documented
schema (docs/events.schema.json)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema (.ci/setup installs it)")

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "events.schema.json").read_text())

POLICY = '''
description = "events test"
default = "allow"
path_default = "allow"

[[rule]]
syscalls = ["mount"]
action = "deny"
errno = "EPERM"
comment = "no new mounts in here"

[[path]]
action = "deny"
paths = ["{secret}"]
comment = "keep the secret"
'''


def events_of(sandbox_args, script, extra=(), started_at_go=True, wait=1.0):
    """Run `sh -c script` under lxrun, attach `lxbrand events --pid`, let the script go
    (it waits for a line on stdin), collect the events until the sandbox ends."""
    p = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.lxrun", *sandbox_args, "--", "/bin/sh", "-c",
                          "read x; " + script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(wait)
    ev = subprocess.Popen([sys.executable, "-m", "lxbrand.cli.runtime", "events", "--json", "--pid", str(p.pid),
                           *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(ev.stdout.readline, "")), daemon=True)
    reader.start()
    time.sleep(0.5)
    p.stdin.write("go\n")
    p.stdin.close()
    p.wait(timeout=60)
    try:
        ev.wait(timeout=20)  # it ends with the sandbox
    except subprocess.TimeoutExpired:
        ev.send_signal(signal.SIGINT)
        ev.wait(timeout=10)
    reader.join(timeout=10)
    assert ev.returncode == 0, ev.stderr.read()
    out = [json.loads(x) for x in lines]
    for e in out:
        jsonschema.validate(e, SCHEMA)
        assert e["id"] == f"lxrun-{p.pid}"
    return out, p


def test_events_of_a_sandbox_started_with_them(tmp_path, backend):
    secret = tmp_path / "secret"
    secret.write_text("x")
    pol = tmp_path / "p.toml"
    pol.write_text(POLICY.format(secret=secret))
    script = (f"cat {secret}; python3 -c \"import ctypes, socket; "
              "socket.socket().connect_ex(('127.0.0.1', 9)); "
              "print(ctypes.CDLL(None).mount(b'none', b'/mnt', b'tmpfs', 0, None))\"; echo done")
    out, p = events_of(["--backend", backend, "--policy", str(pol), "--events"], script)
    by_type = {}
    for e in out:
        by_type.setdefault(e["type"], []).append(e)
    execs = [e["data"] for e in by_type["exec"]]
    assert {"filename": "/usr/bin/cat", "argv": ["cat", str(secret)]} in execs, execs
    assert any(x["argv"][:1] == ["python3"] for x in execs)
    denied = by_type["denied"]
    path = [d for d in denied if d["data"]["source"] == "path-rule"]
    assert path and path[0]["data"] == {"syscall": None, "errno": "EACCES", "op": "read", "path": str(secret),
                                        "source": "path-rule", "rule": 1, "comment": "keep the secret"}, denied
    mounts = [d for d in denied if d["data"]["syscall"] == "mount"]
    assert mounts and mounts[0]["data"]["errno"] == "EPERM" and mounts[0]["data"]["source"] == "syscall-rule"
    assert mounts[0]["data"]["comment"] == "no new mounts in here"
    conn = by_type["connect"][0]["data"]
    assert conn["address"] == "inet:127.0.0.1:9" and conn["host"] == "127.0.0.1" and conn["port"] == 9
    python = [e for e in by_type["exec"] if e["data"]["argv"][:1] == ["python3"]][0]
    assert mounts[0]["pid"] == python["pid"] == by_type["connect"][0]["pid"]


def test_network_rule_verdicts(tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('network_default = "deny"\n[[network]]\naction = "allow"\ncidr = ["127.0.0.0/8"]\n'
                   'ports = [9]\ncomment = "the echo port only"\n')
    script = ("python3 -c \"import socket; socket.socket().connect_ex(('127.0.0.1', 9)); "
              "socket.socket().connect_ex(('127.0.0.1', 10))\"")
    out, _ = events_of(["--policy", str(pol)], script)
    conns = [e["data"] for e in out if e["type"] == "connect"]
    assert conns == [{"address": "inet:127.0.0.1:9", "family": "inet", "host": "127.0.0.1", "port": 9,
                      "source": "network-rule", "rule": 1, "comment": "the echo port only"}], out
    denied = [e["data"] for e in out if e["type"] == "denied"]
    assert denied[0]["op"] == "connect" and denied[0]["port"] == 10 and denied[0]["rule"] == 0
    assert denied[0]["errno"] == "EACCES" and denied[0]["source"] == "network-rule"


def test_execs_while_attached_without_events_started(tmp_path):
    """A sandbox started without events still reports its execs to a client attached to it
    (exec stops are turned on for that client)."""
    out, _ = events_of([], "true; cat /dev/null; echo x")
    execs = [e["data"]["argv"] for e in out if e["type"] == "exec"]
    assert ["cat", "/dev/null"] in execs, out
    assert not [e for e in out if e["type"] in ("connect", "denied")]


def test_events_cli_errors():
    r = subprocess.run([sys.executable, "-m", "lxbrand.cli.runtime", "events", "--pid", str(os.getpid())],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not in a sandbox" in r.stderr, r.stderr
