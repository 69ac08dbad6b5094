"""Runner discovery with a fake host: each missing or broken tool is reported with a reason and
an install hint, and never stops the other runners."""
import sys as _sys
from pathlib import Path as _Path

# The harness is the package bench/ at the repo root (not installed): import it from there.
_sys.path.insert(0, str(_Path(__file__).resolve().parents[2]))

import pytest as _pytest


@_pytest.fixture(autouse=True, scope="session")
def _engine_importable():
    """Overrides tests/conftest.py's skip-everything-without-the-engine: the harness's own tests
    need neither the engine nor any peer."""


import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from bench import runners as R
from bench.build import Binaries
from bench.workloads import BY_NAME, Context


class FakeHost(R.Host):
    def __init__(self, tools=(), results=None, tmp=Path("/nonexistent")):
        super().__init__(which=lambda t: f"/usr/bin/{t}" if t in tools else None,
                         run=self._run, scripts_dir=tmp, environ={})
        self.results = results or {}
        self.calls = []

    def _run(self, argv, timeout=30, input=None):
        self.calls.append(argv)
        for key, (rc, out, err) in self.results.items():
            if key in " ".join(argv):
                return subprocess.CompletedProcess(argv, rc, out.encode(), err.encode())
        return subprocess.CompletedProcess(argv, 0, b"", b"")


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "bin").mkdir()
    return Context(Binaries(tmp_path / "bin"), tmp_path / "work", quick=True)


def by_name(rs):
    return {r.name: r for r in rs}


def test_nothing_installed_reports_each_runner_with_hint(ctx):
    rs = R.select(["native", "lxrun-*", "strace*", "proot", "docker-*"])
    live = R.discover(rs, FakeHost(), ctx)
    assert [r.name for r in live] == ["native"]
    for r in rs[1:]:
        assert not r.avail.ok and r.avail.reason, r.name
        assert r.hint, r.name
    n = by_name(rs)
    assert "not installed" in n["strace"].avail.reason
    assert n["strace"].hint == "apt-get install -y strace"
    assert n["proot"].hint == "apt-get install -y proot"


def test_tools_present_and_working(ctx):
    host = FakeHost(tools={"strace", "proot", "lxrun"},
                    results={"strace -V": (0, "strace -- version 6.1\n", ""),
                             "proot --version": (0, "proot v5.1.0\n", "")})
    rs = R.select(["lxrun-unotify", "strace", "proot"])
    live = by_name(R.discover(rs, host, ctx))
    assert set(live) == {"native", "lxrun-unotify", "strace", "proot"}
    assert live["strace"].avail.version == "strace -- version 6.1"
    assert live["proot"].avail.version == "proot 5.1.0"


def test_lxrun_that_fails_its_probe_is_reported_not_run(ctx):
    host = FakeHost(tools={"lxrun"},
                    results={"--backend ptrace": (1, "", "lxrun: ptrace backend: EPERM\n")})
    rs = R.select(["lxrun-*"])
    R.discover(rs, host, ctx)
    n = by_name(rs)
    assert n["lxrun-unotify"].avail.ok
    assert not n["lxrun-ptrace"].avail.ok
    assert "EPERM" in n["lxrun-ptrace"].avail.reason


def test_docker_without_engine(ctx):
    host = FakeHost(tools={"docker"}, results={"docker info": (
        1, "", "Cannot connect to the Docker daemon. Is the docker daemon running?\n")})
    rs = R.select(["docker-*"])
    R.discover(rs, host, ctx)
    for r in rs[1:]:
        assert "no Docker engine running" in r.avail.reason


def test_docker_runtimes_detected_from_docker_info(ctx):
    runtimes = {"runc": {}, "runsc": {}, "runsc-ptrace": {"runtimeArgs": ["--platform=ptrace"]}}
    host = FakeHost(tools={"docker"},
                    results={"docker info": (0, json.dumps(runtimes), ""),
                             "docker image inspect": (1, "", "No such image"),
                             "docker version": (0, "28.0\n", "")})
    rs = R.select(["docker-*"])
    R.discover(rs, host, ctx)
    n = by_name(rs)
    assert n["docker-runc"].avail.ok and n["docker-runc"].runtime == "runc"
    assert n["docker-runsc"].avail.ok and n["docker-runsc"].runtime == "runsc-ptrace"
    assert n["docker-runsc"].avail.version.endswith("runtime runsc-ptrace (--platform=ptrace)")
    assert not n["docker-lxbrand"].avail.ok
    assert "no lxbrand runtime" in n["docker-lxbrand"].avail.reason
    # The image is built locally with `docker import`, never pulled.
    assert any(c[:2] == ["/usr/bin/docker", "import"] for c in host.calls)


def test_a_crashing_probe_does_not_stop_discovery(ctx):
    class Broken(R.Native):
        name = "broken"

        def detect(self, host, ctx):
            raise KeyError("boom")
    rs = [R.Native(), Broken()]
    live = R.discover(rs, FakeHost(), ctx)
    assert [r.name for r in live] == ["native"]
    assert "KeyError" in rs[1].avail.reason


def test_select_globs_keep_native_and_reject_unknown():
    names = [r.name for r in R.select(["lxrun-unotify*"])]
    assert names == ["native", "lxrun-unotify", "lxrun-unotify-traceall", "lxrun-unotify-identity"]
    with pytest.raises(ValueError, match="unknown runner.*nope.*known: native"):
        R.select(["nope"])


def test_wrap_commands(ctx):
    w = BY_NAME["getppid-c"]
    argv = ["/bin/loop", "getppid", "10"]
    st = R.Strace(False)
    st.avail = R.Availability(True, "/usr/bin/strace")
    assert st.wrap(w, argv, ctx) == ["/usr/bin/strace", "-f", "--seccomp-bpf", "-e",
                                     "trace=getppid", "-o", "/dev/null", "--", *argv]
    fl = R.Floor("unotify", sync=False)
    assert fl.wrap(w, argv, ctx)[1:] == ["--no-sync", *argv]
    assert fl.wrap(BY_NAME["gcc"], argv, ctx) is None          # floors: loops only
    assert R.Docker("runc").wrap(BY_NAME["gcc"], argv, ctx) is None


def test_lxrun_writes_the_workload_policy(ctx):
    lx = R.Lxrun("unotify", traceall=True)
    lx.avail = R.Availability(True, "/x/lxrun")
    cmd = lx.wrap(BY_NAME["getppid-py"], ["/bin/loop"], ctx)
    assert cmd[:4] == ["/x/lxrun", "--backend", "unotify", "--policy"]
    pol = tomllib.loads(Path(cmd[4]).read_text())
    assert pol["default"] == "trace"
    assert pol["rule"] == [{"syscalls": ["getppid"], "action": "emulate",
                            "handler": "bench.handlers:getppid",
                            "comment": "bench: a trap answered by a Python handler"}]
    # A workload without rules uses the built-in profile by name.
    assert lx.wrap(BY_NAME["gcc"], ["make"], ctx)[3:5] == ["--policy", "trace-all"]


def test_default_trapped_reads_emulate_and_trace_rules(tmp_path):
    p = tmp_path / "default.toml"
    p.write_text('default = "allow"\n'
                 '[[rule]]\nsyscalls = ["uname"]\naction = "emulate"\nfast = "uname"\n'
                 '[[rule]]\nsyscalls = ["kexec_load"]\naction = "deny"\n'
                 '[[rule]]\nsyscalls = ["ptrace", "uname"]\naction = "trace"\n')
    assert R.default_trapped(p) == ("uname", "ptrace")
    assert R.default_trapped(tmp_path / "missing.toml") is None


def test_identity_runner_traps_only_identity_syscalls(ctx):
    lx = R.Lxrun("unotify", traceall=False, identity=True)
    lx.avail = R.Availability(True, "/x/lxrun")
    assert lx.name == "lxrun-unotify-identity"
    argv = lx.wrap(BY_NAME["mix"], ["sh"], ctx)
    assert argv[:4] == ["/x/lxrun", "--backend", "unotify", "--policy"] and argv[-2:] == ["--", "sh"]
    from lxbrand.policy import load_policy
    p = load_policy(argv[4])
    assert sorted(p.traps()) == ["getegid", "geteuid", "getgid", "getuid", "uname"]
    assert p.action_of("uname").fast == "uname" and not p.handlers()


def test_floor_reports_whether_the_sync_wake_up_flag_took(ctx):
    host = FakeHost(results={"floor-unotify": (0, "", "LXBENCH floor=unotify sync_wake_up=0\n")})
    fl = R.Floor("unotify")
    assert fl.detect(host, ctx).version.endswith("sync wake-up unavailable on this kernel")
    host = FakeHost(results={"floor-unotify": (0, "", "LXBENCH floor=unotify sync_wake_up=1\n")})
    assert fl.detect(host, ctx).version.endswith("sync wake-up on")
    host = FakeHost(results={"floor-ptrace": (1, "", "floor: seccomp: Invalid argument\n")})
    bad = R.Floor("ptrace").detect(host, ctx)
    assert not bad.ok and "Invalid argument" in bad.reason


def test_traced_workload_passes_its_lxrun_options_and_strace_set(ctx):
    w = BY_NAME["openat-trace"]
    lx = R.Lxrun("ptrace", traceall=False)
    lx.avail = R.Availability(True, "/x/lxrun")
    cmd = lx.wrap(w, ["/bin/loop", "openat", "10"], ctx)
    assert cmd[5:] == ["--trace=/dev/null", "--", "/bin/loop", "openat", "10"]
    assert R.Strace(False).syscall_set(w) == "openat"
    assert not w.emulates                 # traced, not answered: no `ones=` check
