"""The open pipeline as an API (lxbrand.handlers.files): hooks in order, Deny,
Serve, no opinion -> the native open; the later path policy (issue 6) plugs in
the same way with first=True."""
import errno
import threading

import pytest

from lxbrand.engine import Sandbox
from lxbrand.errors import PolicyError
from lxbrand.handlers import files
from lxbrand.personality import Personality
from lxbrand.policy import Policy, load_policy
from lxp_helpers import BACKENDS, progs


def _run(policy, backend, argv, capfd):
    st = Sandbox(policy, backend=backend).run(argv)
    return st.code, capfd.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
def test_hooks_deny_serve_and_pass(backend, capfd, tmp_path):
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "plain").write_text("plain\n")
    seen = []
    pol = load_policy("default")
    pipe = files.pipeline(pol)
    pipe.add(lambda req: seen.append(req.guest_path) or None)   # sees every open
    pipe.add(lambda req: files.Deny(errno.EACCES) if req.guest_path.endswith("/secret") else None,
             names={"secret"})
    pipe.add(lambda req: files.Serve(b"served\n") if req.guest_path == "/virtual/file" else None,
             names={"file"})
    code, out = _run(pol, backend, ["sh", "-c", f"cat {tmp_path}/plain; cat /virtual/file; "
                                                f"cat {tmp_path}/secret 2>&1; true"], capfd)
    assert code == 0
    assert out.splitlines()[:2] == ["plain", "served"]
    assert "Permission denied" in out and "s3cret" not in out
    assert f"{tmp_path}/plain" in seen and "/virtual/file" in seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_first_hook_wins_so_security_rules_go_first(backend, capfd):
    pol = load_policy("default")
    Personality(files={"/etc/motd": b"cosmetic\n"}).apply(pol)
    files.pipeline(pol).add(lambda req: files.Deny(errno.EPERM) if req.guest_path == "/etc/motd" else None,
                            names={"motd"}, first=True)
    code, out = _run(pol, backend, ["sh", "-c", "cat /etc/motd 2>&1; true"], capfd)
    assert "Operation not permitted" in out and "cosmetic" not in out


def test_a_hook_returning_garbage_fails_closed(capfd):
    pol = load_policy("default")
    files.pipeline(pol).add(lambda req: "yes", names={"hostname"})
    code, out = _run(pol, "unotify", ["sh", "-c", "cat /etc/hostname 2>&1; true"], capfd)
    assert "Operation not permitted" in out


def test_pipeline_refuses_to_replace_another_open_handler():
    pol = Policy()
    pol.emulate("openat", handler=lambda call: 0)
    with pytest.raises(PolicyError, match="openat"):
        files.pipeline(pol)


def test_denied_opens_stay_denied():
    pol = Policy()
    pol.deny("openat2", errno="ENOSYS")
    files.pipeline(pol)
    assert pol.action_of("openat2").action == "deny"
    assert pol.action_of("openat").handler is files.pipeline(pol)


def test_personalities_merge():
    pol = load_policy("default")
    Personality(memory="1G", hostname="a").apply(pol)
    Personality(cpus=1).apply(pol)
    eff = pol.personality
    assert (eff.memory, eff.cpus, eff.hostname) == (1 << 30, 1.0, "a")
    hooks = [h for h in files.pipeline(pol).hooks if h[2] == "personality"]
    assert len(hooks) == 2   # identity + resources, not duplicated by the second apply


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_opening_served_files_at_once(backend, capfd):
    """Many threads opening served files concurrently each get a correct fd
    (ptrace keeps one pending fd per thread)."""
    pol = load_policy("default")
    Personality(memory="512M").apply(pol)
    code = ("import threading\n"
            "bad=[]\n"
            "def f():\n"
            "    for _ in range(50):\n"
            "        t=open('/proc/meminfo').read()\n"
            "        if not t.startswith('MemTotal:         524288 kB'): bad.append(t[:40])\n"
            "ts=[threading.Thread(target=f) for _ in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print('bad', len(bad))\n")
    rc, out = _run(pol, backend, ["python3", "-c", code], capfd)
    assert rc == 0 and out.strip() == "bad 0"
