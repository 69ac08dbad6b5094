"""The runtime's C front end (csrc/runtime/) against the Python reference
(LXBRAND_PYTHON=1) where both answer: which container ids are valid, in every verb the C
front end answers itself, and delete in each status a container can be in.  Same exit
status, same message, same state left behind."""
import os
import signal
import subprocess
import time

import pytest

from ocitest import (busybox_rootfs, bundle, need_busybox, need_engine, need_root,  # noqa: F401
                     run_cli, state_root)
from test_bundle import c_launcher, leftovers, state_of, wait_status  # noqa: F401

pytestmark = [need_root, need_busybox, need_engine]


def runtime(c_launcher, root, *args, py):
    env = dict(os.environ, LXBRAND_PYTHON="1" if py else "0")
    return subprocess.run([c_launcher, "--root", str(root), *args], capture_output=True, text=True,
                          timeout=60, env=env)


# ids as runc's validateID judges them (libcontainer: ^[\w+-\.]+$, and not "." or "..")
# and as lxbrand/oci/state.py check_id does
IDS = ["abc", "a.b+c-d_e", "9lives", "x" * 1024, "x" * 1025, ".", "..", ".hidden", "a/b", "../x", "a b",
       "caf\u00e9", "a\tb"]
# ids the two implementations judge differently today: csrc/runtime/state.c rt_valid_id accepts a
# leading "_" or "+" (as runc does), lxbrand/oci/state.py check_id wants a letter or digit first
LEADING_PUNCT = ["_lead", "+lead"]  # refused by both front ends (they once judged these apart)
VERBS = [("state", "{id}"), ("start", "{id}"), ("kill", "{id}", "9"), ("kill", "{id}", "KILL"),
         ("delete", "{id}"), ("delete", "--force", "{id}")]


def _id_case(c_launcher, root, verb, cid):
    args = [a.format(id=cid) for a in verb]
    c = runtime(c_launcher, root, *args, py=False)
    py = runtime(c_launcher, root, *args, py=True)
    assert (c.returncode, c.stdout, c.stderr) == (py.returncode, py.stdout, py.stderr), (args, c, py)
    assert os.listdir(root) == [], f"{args} left state behind"
    return c


@pytest.mark.parametrize("verb", VERBS, ids=[" ".join(v) for v in VERBS])
def test_container_ids(c_launcher, state_root, verb):
    os.makedirs(state_root, exist_ok=True)
    for cid in IDS:
        r = _id_case(c_launcher, state_root, verb, cid)
        if verb == ("delete", "--force", "{id}") and r.returncode == 0:
            continue  # runc: delete --force of a missing container succeeds
        assert r.returncode == 1 and r.stderr.startswith("lxbrand: "), (verb, cid, r)


@pytest.mark.parametrize("cid", LEADING_PUNCT)
def test_container_ids_with_a_leading_punctuation_mark(c_launcher, state_root, cid):
    os.makedirs(state_root, exist_ok=True)
    for verb in VERBS:
        _id_case(c_launcher, state_root, verb, cid)


def _make(c_launcher, bundle_dir, root, cid, status):
    # the container keeps create's stdio: a pipe would never reach EOF
    r = subprocess.run([c_launcher, "--root", str(root), "create", "--bundle", str(bundle_dir), cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0
    pid = state_of(root, cid)["pid"]  # init's (a stopped container's state has none)
    assert pid > 0
    if status in ("running", "stopped"):
        assert run_cli(root, "start", cid).returncode == 0
        wait_status(root, cid, "running")
    if status == "stopped":
        assert run_cli(root, "kill", cid, "TERM").returncode == 0
        wait_status(root, cid, "stopped")
    return pid


def _gone(pid, timeout=5):
    assert pid > 0  # never a process group
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("status, args", [("created", ["delete"]), ("stopped", ["delete"]),
                                          ("running", ["delete"]), ("running", ["delete", "--force"])])
def test_delete(c_launcher, bundle, state_root, status, args):
    """Each container in `status` deleted once through C and once through Python: the
    same answer, and what is left (state, cgroups, processes) the same."""
    b = bundle(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"])
    seen = []
    for py in (False, True):
        cid = f"lxdiff-{'py' if py else 'c'}-{os.getpid()}-{status}-{len(args)}"
        pid = _make(c_launcher, b, state_root, cid, status)
        try:
            r = runtime(c_launcher, state_root, *args, cid, py=py)
            seen.append((r.returncode, r.stdout, r.stderr.replace(cid, "ID"),
                         os.path.exists(state_root / cid), bool(leftovers(cid)), not _gone(pid, 1 if r.returncode else 5)))
        finally:
            run_cli(state_root, "delete", "--force", cid)
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
    c, py = seen
    assert c == py, (status, args, c, py)
    if status != "running" or "--force" in args:
        assert c[0] == 0 and c[3:] == (False, False, False), c
    else:
        assert c[0] == 1 and "not stopped" in c[2] and c[3:] == (True, True, True), c
