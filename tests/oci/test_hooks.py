"""OCI lifecycle hooks on a busybox bundle: when each kind runs, the state it reads on stdin,
and what a failing hook does (runtime-spec config.md#posix-platform-hooks, runtime.md#lifecycle).
Found with the runtime-tools validation suite (poststart_fail, poststop_fail): a failing
poststart or poststop hook stopped the hooks after it."""
import json

from ocitest import (busybox_rootfs, bundle, cid, need_busybox, need_engine,  # noqa: F401
                     need_root, run_cli, state_root)
from test_bundle import leftovers, wait_status

pytestmark = [need_root, need_busybox, need_engine]


def recorder(out, kind):
    """A hook that appends `kind <state JSON from stdin>` to `out`."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f'echo "{kind} $(cat)" >> {out}']}


def failing(kind):
    return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {kind} refuses >&2; exit 3"]}


def create(state_root, b, cid, tmp_path):
    """create, its output (and init's, which keeps the pipes open) in a file."""
    with open(tmp_path / "create.out", "w") as f:
        r = run_cli(state_root, "create", "--bundle", str(b), cid, stdout=f, stderr=f,
                    capture_output=False)
    r.stderr = (tmp_path / "create.out").read_text()
    return r


def records(out):
    if not out.exists():
        return []
    rows = []
    for line in out.read_text().splitlines():
        kind, _, state = line.partition(" ")
        rows.append((kind, json.loads(state)))
    return rows


def test_hooks_run_in_order_with_the_state(bundle, state_root, cid, tmp_path):
    out = tmp_path / "hooks.log"
    kinds = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    b = bundle(["sleep", "30"], mutate=lambda s: s.update(
        hooks={k: [recorder(out, k + "1"), recorder(out, k + "2")] for k in kinds}))
    r = create(state_root, b, cid, tmp_path)
    assert r.returncode == 0, r.stderr
    pid = json.loads(run_cli(state_root, "state", cid).stdout)["pid"]
    assert [k for k, _ in records(out)] == ["prestart1", "prestart2", "createRuntime1",
                                           "createRuntime2", "createContainer1",
                                           "createContainer2"]
    assert run_cli(state_root, "start", cid).returncode == 0
    assert [k for k, _ in records(out)][6:] == ["poststart1", "poststart2"]
    assert run_cli(state_root, "kill", cid, "KILL").returncode == 0
    wait_status(state_root, cid, "stopped")
    assert run_cli(state_root, "delete", cid).returncode == 0
    rows = records(out)
    assert [k for k, _ in rows][8:] == ["poststop1", "poststop2"]
    for kind, st in rows:
        assert st["id"] == cid and st["bundle"] == str(b), (kind, st)
        if not kind.startswith("poststop"):
            assert st["pid"] == pid, (kind, st)  # init's, as the pid-file says
    status = {k: st["status"] for k, st in rows}
    # runc's words before start; poststart sees the container running, poststop stopped
    assert status["prestart1"] == status["createRuntime1"] == "creating"
    assert status["poststart1"] == "running" and status["poststop1"] == "stopped"


def test_failing_poststart_and_poststop_hooks_are_logged_and_the_rest_run(
        bundle, state_root, cid, tmp_path):
    out = tmp_path / "hooks.log"
    b = bundle(["sleep", "30"], mutate=lambda s: s.update(hooks={
        "poststart": [failing("poststart"), recorder(out, "poststart")],
        "poststop": [failing("poststop"), recorder(out, "poststop")]}))
    assert create(state_root, b, cid, tmp_path).returncode == 0
    r = run_cli(state_root, "start", cid)
    # runtime-spec runtime.md#lifecycle: "the runtime MUST log a warning, but the remaining
    # hooks and lifecycle continue as if the hook had succeeded"
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "poststart hook #0" in r.stderr and "refuses" in r.stderr
    wait_status(state_root, cid, "running")
    assert [k for k, _ in records(out)] == ["poststart"]
    assert run_cli(state_root, "kill", cid, "KILL").returncode == 0
    wait_status(state_root, cid, "stopped")
    r = run_cli(state_root, "delete", cid)
    assert r.returncode == 0, r.stderr
    assert "poststop hook #0" in r.stderr
    assert [k for k, _ in records(out)] == ["poststart", "poststop"]
    assert not (state_root / cid).exists() and leftovers(cid) == []


def test_a_failing_prestart_hook_fails_create_and_leaves_nothing(bundle, state_root, cid,
                                                                 tmp_path):
    out = tmp_path / "hooks.log"
    b = bundle(["true"], mutate=lambda s: s.update(hooks={
        "prestart": [failing("prestart"), recorder(out, "prestart")]}))
    r = create(state_root, b, cid, tmp_path)
    assert r.returncode != 0
    assert "prestart hook #0 /bin/sh exited with status 3: prestart refuses" in r.stderr
    # runtime-spec runtime.md#lifecycle: an error, the container stopped, no later hook run
    assert records(out) == []
    assert not (state_root / cid).exists() and leftovers(cid) == []
