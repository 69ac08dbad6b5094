"""The apps suite's runners (one Docker runtime each, with its flags) and the containers they run.

Every container is the same image and the same command under a different `--runtime`; runc is
the reference for every ratio and every output. Containers share the host's network
(`--network host`, as gVisor's own published server benchmarks do): no bridge or proxy between
the load generator and the server, so what differs between runners is the runtime alone. Each
container is named and labelled after this harness run (`lxbench.run=PID`) and removed when the
workload ends, whatever happened.

`Docker` wraps the docker CLI with an injected `run` (tests pass fakes); discovery never raises.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.runners import Availability, Runner, _err, _out
from bench.runners import select as runners_select

REFERENCE = "runc"


def _run(argv: list[str], timeout: float = 60, input: bytes | None = None
         ) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, timeout=timeout, input=input, check=False)


def _docker_err(r: subprocess.CompletedProcess) -> str:
    """docker's complaint without its closing "Run 'docker run --help'" hint."""
    text = (r.stderr or b"").decode(errors="replace")
    lines = [ln.strip().removeprefix("docker: ") for ln in text.splitlines()
             if ln.strip() and not ln.startswith("Run 'docker")]
    # The runtime's own words come last, after containerd's wrapping of them.
    return " | ".join(lines)[-300:] if lines else _err(r)


class DockerError(RuntimeError):
    """A docker command failed: the message has the command and docker's last line."""


@dataclass
class Docker:
    """The docker CLI, as the apps suite uses it."""
    path: str = "docker"
    run: Callable[..., subprocess.CompletedProcess] = _run
    label: str = f"lxbench.run={os.getpid()}"

    def __call__(self, *args: str, timeout: float = 120, check: bool = True
                 ) -> subprocess.CompletedProcess:
        argv = [self.path, *args]
        try:
            r = self.run(argv, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DockerError(f"`{shlex.join(argv[:6])} ...` timed out after {timeout:.0f} s")
        if check and r.returncode != 0:
            what = ["docker", args[0]] if args else ["docker"]
            if "--runtime" in args[:-1]:
                what += ["--runtime", args[args.index("--runtime") + 1]]
            raise DockerError(f"`{shlex.join(what)}` failed: {_docker_err(r)}")
        return r

    def start(self, runner: "AppRunner", image: str, command: list[str], name: str,
              args: tuple[str, ...] | None = None) -> str:
        """`docker run -d`: the new container's id."""
        try:
            r = self("run", "-d", "--name", name, "--label", self.label, "--network", "host",
                     *runner.run_args(args), image, *command)
        except DockerError:
            # A runtime that fails `start` leaves the container created under our name.
            self("rm", "-f", name, timeout=120, check=False)
            raise
        cid = _out(r).splitlines()[-1] if _out(r) else ""
        if len(cid) != 64:
            self("rm", "-f", name, timeout=120, check=False)
            raise DockerError(f"docker run -d printed no container id: {_out(r)[-120:]!r}")
        return cid

    def running(self, cid: str) -> tuple[bool, str]:
        """(is it running, its state and last log lines when not)."""
        r = self("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}} {{.State.Error}}",
                 cid, check=False)
        if r.returncode != 0:
            return False, f"container gone ({_err(r)})"
        state = _out(r).split(" ", 2)
        if state[0] == "true":
            return True, ""
        logs = self("logs", "--tail", "15", cid, check=False)
        text = ((logs.stdout or b"") + (logs.stderr or b"")).decode(errors="replace").strip()
        return False, (f"container exited with status {state[1] if len(state) > 1 else '?'}"
                       + (f" ({state[2]})" if len(state) > 2 and state[2] else "")
                       + (": " + text.replace("\n", " | ")[-300:] if text else ""))

    def pid(self, cid: str) -> int:
        return int(_out(self("inspect", "-f", "{{.State.Pid}}", cid)))

    def remove(self, runner: "AppRunner", *cids: str) -> None:
        """Remove our containers, and the syscall traces RUNNER wrote for them (lxbrand-trace:
        every syscall of a server under load, hundreds of MB over a full run)."""
        if not cids:
            return
        self("rm", "-f", *cids, timeout=300, check=False)
        for cid in cids:
            trace = runner.trace_file(cid)
            if trace is not None:
                try:
                    trace.unlink()
                except OSError:
                    pass

    def run_rm(self, runner: "AppRunner", image: str, command: list[str],
               timeout: float = 120, network: str | None = "none"
               ) -> subprocess.CompletedProcess:
        """`docker run --rm` of COMMAND under RUNNER (NETWORK None: Docker's default bridge);
        its trace removed after."""
        net = ["--network", network] if network else []
        with tempfile.TemporaryDirectory(prefix="lxbench-cid-") as d:
            cidfile = Path(d) / "cid"
            try:
                return self("run", "--rm", "--cidfile", str(cidfile), *net,
                            *runner.run_args(), image, *command, timeout=timeout)
            finally:
                cid = cidfile.read_text().strip() if cidfile.exists() else ""
                trace = runner.trace_file(cid) if cid else None
                if trace is not None:
                    try:
                        trace.unlink()
                    except OSError:
                        pass


def wait_ready(docker: Docker, cid: str, probe: Callable[[], str | None], timeout: float,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> None:
    """Until PROBE answers None (the server is up), or raise DockerError: the container exited
    (with its logs) or TIMEOUT passed (with the probe's last complaint)."""
    end = clock() + timeout
    why = "not probed"
    while True:
        why = probe()
        if why is None:
            return
        alive, state = docker.running(cid)
        if not alive:
            raise DockerError(state)
        if clock() > end:
            raise DockerError(f"not ready after {timeout:.0f} s: {why}")
        sleep(0.2)


class AppRunner(Runner):
    """One Docker runtime (plus flags) that runs the apps."""
    kind = "docker"
    tree_cpu = False

    def __init__(self, name: str, runtime: str, description: str, hint: str,
                 args: tuple[str, ...] = (), density: bool = True):
        super().__init__()
        self.name, self.want, self.description, self.hint = name, runtime, description, hint
        self.args = args                 # more `docker run` flags (lxbrand-limits: the limits)
        self.density = density           # the density rows run this runner
        self.runtime: str | None = None
        self.runtime_args: list[str] = []
        self.image: str | None = None

    def pick_runtime(self, runtimes: dict, environ: dict) -> str | None:
        override = environ.get(f"LXBENCH_{self.name.upper().replace('-', '_')}_RUNTIME")
        if override:
            return override if override in runtimes else None
        if self.want == "runsc":
            # gVisor may be registered under several names; the ptrace platform is what
            # is the one compared (no KVM here), so prefer a runtime whose args say ptrace.
            cands = sorted((r for r in runtimes if "runsc" in r),
                           key=lambda r: "ptrace" not in (r + " ".join(
                               (runtimes[r] or {}).get("runtimeArgs") or [])))
            return cands[0] if cands else None
        return self.want if self.want in runtimes else None

    def run_args(self, args: tuple[str, ...] | None = None) -> list[str]:
        """--runtime and this runner's flags (ARGS instead of them: density's own limits)."""
        return ["--runtime", self.runtime or self.want, *(self.args if args is None else args)]

    def detect(self, host, ctx):
        docker = ctx.docker
        try:
            r = docker("info", "--format", "{{json .Runtimes}}", timeout=30)
            runtimes = json.loads(_out(r) or "{}") or {}
        except (DockerError, ValueError) as e:
            return Availability(False, docker.path, reason=f"no Docker engine ({e})")
        self.runtime = self.pick_runtime(runtimes, host.environ)
        if not self.runtime:
            return Availability(False, docker.path,
                                reason=f"Docker has no {self.want} runtime "
                                       f"(has: {', '.join(sorted(runtimes)) or 'none'})")
        self.runtime_args = list((runtimes.get(self.runtime) or {}).get("runtimeArgs") or [])
        self.image = ctx.image
        # No trial run here: a registered runtime that cannot run the image is a broken sandbox,
        # and shows as FAIL in every row (with docker's reason), not as a missing column.
        ver = _out(docker("version", "--format", "{{.Server.Version}}", check=False))
        return Availability(True, docker.path,
                            version=f"docker {ver}, runtime {self.runtime}"
                            + (f" ({' '.join(self.runtime_args)})" if self.runtime_args else "")
                            + (f", {' '.join(self.args)}" if self.args else ""))

    def trace_file(self, cid: str) -> Path | None:
        """Where this runtime writes the container's syscall trace, if it does (lxbrand-trace:
        `--trace --trace-dir DIR`, one DIR/ID.trace per container)."""
        args = self.runtime_args
        if "--trace" not in args:
            return None
        d = args[args.index("--trace-dir") + 1] if "--trace-dir" in args[:-1] else None
        return Path(d) / f"{cid}.trace" if d else None


LIMITS = ("--memory", "1g", "--cpus", "2")
# the lxbrand-paths runtime's [[path]] policy (issue 14's apps target). A registered runtime,
# not the org.lxbrand.policy annotation: `docker run --annotation` needs API 1.43 (Docker 24),
# Debian 12's Docker 20.10 speaks 1.41
PATHS_POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paths-policy.toml")
# The density rows' limits: lxbrand with --memory 256m --cpus 1 (the personality's view on).
DENSITY_LIMITS = ("--memory", "256m", "--cpus", "1")
_REGISTER = ("`lxbrand install --runtime-name {0}{1}` (or bash .ci/setup-docker.sh), "
             "then reload dockerd")


def all_runners() -> list[AppRunner]:
    return [
        AppRunner("runc", "runc", "runc, Docker's default runtime: the reference",
                  "a running Docker engine (apt-get install -y docker.io runc)"),
        AppRunner("runsc", "runsc", "gVisor runsc, ptrace platform (every syscall served by "
                  "its Sentry)", "apt-get install -y runsc; register it in daemon.json with "
                  "runtimeArgs [\"--platform=ptrace\", \"--network=host\"] (bash "
                  ".ci/setup-docker.sh does)"),
        AppRunner("lxbrand", "lxbrand", "lxbrand, default policy",
                  _REGISTER.format("lxbrand", "")),
        AppRunner("lxbrand-strict", "lxbrand-strict", "lxbrand, --policy strict",
                  _REGISTER.format("lxbrand-strict", " -- --policy strict"), density=False),
        AppRunner("lxbrand-limits", "lxbrand",
                  "lxbrand with --memory 1g --cpus 2 (not binding on this machine: the cost of "
                  "the personality's resource view; density: --memory 256m --cpus 1)",
                  _REGISTER.format("lxbrand", ""), args=LIMITS),
        AppRunner("lxbrand-paths", "lxbrand-paths",
                  "lxbrand with a [[path]] policy (--policy bench/apps/paths-policy.toml: every "
                  "open and stat judged and performed by the engine in C)",
                  _REGISTER.format("lxbrand-paths", " -- --policy bench/apps/paths-policy.toml"),
                  density=False),
        AppRunner("lxbrand-trace", "lxbrand-trace", "lxbrand, --policy trace-all --trace (every "
                  "syscall recorded to a file)",
                  _REGISTER.format("lxbrand-trace", " -- --policy trace-all --trace --trace-dir "
                                   "/var/log/lxbrand"), density=False),
    ]


def select(patterns: list[str] | None, runners: list[AppRunner] | None = None
           ) -> list[AppRunner]:
    """Runners matching any pattern (shell globs); runc is always kept (the reference)."""
    return runners_select(patterns, runners if runners is not None else all_runners(),
                          reference=lambda r: r.name == REFERENCE, what="apps runner")
