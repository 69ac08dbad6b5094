"""The runners: how each sandbox (or none) wraps a workload's command, and whether it is here.

Discovery never raises: a runner whose tool is missing or broken is reported as unavailable
with the reason and how to install it, and the others run. The host is injected (`Host`) so
discovery is tested without the tools.
"""
from __future__ import annotations

import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.workloads import REPO, Context, Workload


def _run(argv: list[str], timeout: float = 30, input: bytes | None = None
         ) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, timeout=timeout, input=input, check=False)


@dataclass
class Host:
    """What discovery asks of the machine; tests pass fakes."""
    which: Callable[[str], str | None] = shutil.which
    run: Callable[..., subprocess.CompletedProcess] = _run
    scripts_dir: Path = Path(sysconfig.get_path("scripts"))
    environ: dict = field(default_factory=lambda: dict(os.environ))

    def find(self, tool: str) -> str | None:
        # Prefer the running interpreter's scripts dir: a pyenv shim on PATH is a shell script
        # that would add its own start-up to every run.
        p = self.scripts_dir / tool
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
        return self.which(tool)


def _out(r: subprocess.CompletedProcess) -> str:
    b = r.stdout or b""
    return (b.decode(errors="replace") if isinstance(b, bytes) else b).strip()


def _err(r: subprocess.CompletedProcess) -> str:
    b = r.stderr or b""
    s = (b.decode(errors="replace") if isinstance(b, bytes) else b).strip()
    return s.splitlines()[-1] if s else f"exit status {r.returncode}"


def _probe(host: Host, argv: list[str], timeout: float = 30) -> str | None:
    """Run ARGV; None if it succeeded, else why not (one line)."""
    try:
        r = host.run(argv, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{' '.join(argv[:3])}: {e}"
    return None if r.returncode == 0 else f"`{' '.join(argv)}` failed: {_err(r)}"


@dataclass
class Availability:
    ok: bool
    path: str | None = None
    version: str = ""
    reason: str = ""


class Runner:
    name = ""
    kind = ""
    hint = ""
    description = ""
    applies_policy = False      # answers the workload's emulate rules (lxrun, the floors)
    tree_cpu = True             # the whole run is our child: RUSAGE_CHILDREN sees all its CPU

    def __init__(self) -> None:
        self.avail = Availability(False, reason="not probed")

    def detect(self, host: Host, ctx: Context) -> Availability:
        raise NotImplementedError

    def wrap(self, workload: Workload, argv: list[str], ctx: Context) -> list[str] | None:
        """The command that runs ARGV under this runner, or None if it does not apply."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Native(Runner):
    name, kind = "native", "native"
    description = "the program alone: the reference for every ratio and every output"

    def detect(self, host, ctx):
        return Availability(True, version="")

    def wrap(self, workload, argv, ctx):
        return list(argv)


def default_trapped(profile: Path | None = None) -> tuple[str, ...] | None:
    """Syscalls lxrun's `default` profile stops in its supervisor (emulate/trace rules), read from
    the shipped profile; None when there is no such file (then strace traces nothing)."""
    profile = profile or REPO / "lxbrand" / "profiles" / "default.toml"
    try:
        data = tomllib.loads(profile.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    names: list[str] = []
    for rule in data.get("rule", []):
        if rule.get("action") in ("emulate", "trace"):
            names += [s for s in rule.get("syscalls", []) if s not in names]
    return tuple(names)


def policy_toml(rules: tuple[dict, ...], default: str, description: str, sections: str = "") -> str:
    """A policy file in ENGINE_API.md's format (a tiny writer: the values are strings, ints and
    lists of strings)."""
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return json.dumps(str(v))   # a JSON string is a valid TOML basic string
    lines = [f"description = {val(description)}", f"default = {val(default)}"]
    # the sections' top-level keys (path_default, ...) before any table
    head, _, tables = sections.partition("[[")
    lines += [head.strip(), ""] if head.strip() else [""]
    for r in rules:
        lines.append("[[rule]]")
        lines += [f"{k} = {val(v)}" for k, v in r.items()]
        lines.append("")
    if tables:
        lines.append("[[" + tables)
    return "\n".join(lines)


class Lxrun(Runner):
    kind = "lxrun"
    applies_policy = True
    hint = ("pip install -e . in the lxbrand checkout (Debian: gcc python3-dev libseccomp-dev; "
            "pip: Cython)")

    # The "policy that traps only identity syscalls" of the targets: uname answered in C (the
    # engine's fast action) and the uid/gid getters trapped and recorded.  Not
    # --kernel-release: that switches on the whole LX personality, which also traps
    # every open to serve /proc/version (measured apart, see README).
    IDENTITY_RULES = (
        {"syscalls": ["uname"], "action": "emulate", "fast": "uname",
         "comment": "kernel identity answered in C"},
        {"syscalls": ["getuid", "geteuid", "getgid", "getegid"], "action": "trace",
         "comment": "identity getters trapped"},
    )

    def __init__(self, backend: str, traceall: bool, identity: bool = False):
        super().__init__()
        self.backend, self.traceall, self.identity = backend, traceall, identity
        self.name = (f"lxrun-{backend}" + ("-traceall" if traceall else "")
                     + ("-identity" if identity else ""))
        self.description = (f"lxrun --backend {backend} --policy "
                            + ("trace-all (every syscall stopped and recorded)" if traceall
                               else "default (or the workload's own rules)")
                            + (" + identity rules (uname answered in C, uid/gid getters trapped)"
                               if identity else ""))

    def detect(self, host, ctx):
        # LXBENCH_LXRUN: another build's lxrun (a checkout's own C front end)
        path = host.environ.get("LXBENCH_LXRUN") or host.find("lxrun")
        if not path:
            return Availability(False, reason="lxrun not installed")
        policy = "trace-all" if self.traceall else "default"
        why = _probe(host, [path, "--backend", self.backend, "--policy", policy, "--", "/bin/true"])
        if why:
            return Availability(False, path, reason=why)
        return Availability(True, path, version=_lxbrand_version())

    def policy_for(self, workload: Workload, ctx: Context) -> str:
        rules = tuple(workload.rules)
        if self.identity:
            names = {n for r in rules for n in r["syscalls"]}
            rules += tuple(r for r in self.IDENTITY_RULES if not names & set(r["syscalls"]))
        if not rules and not workload.sections:
            return "trace-all" if self.traceall else "default"
        default = "trace" if self.traceall else "allow"
        path = ctx.work / "policies" / (f"{workload.name}-{default}"
                                        + ("-identity" if self.identity else "") + ".toml")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(policy_toml(rules, default,
                                        f"bench workload {workload.name}: {workload.title}",
                                        workload.sections))
        return str(path)

    def wrap(self, workload, argv, ctx):
        return [self.avail.path or "lxrun", "--backend", self.backend,
                "--policy", self.policy_for(workload, ctx), *workload.lxrun_args, "--", *argv]


def _lxbrand_version() -> str:
    try:
        from importlib.metadata import version
        return "lxbrand " + version("lxbrand")
    except Exception:   # noqa: BLE001 - a version string is decoration, never a failure
        return ""


class Strace(Runner):
    kind = "strace"
    hint = "apt-get install -y strace"

    def __init__(self, traceall: bool = False):
        super().__init__()
        self.traceall = traceall
        self.name = "strace-traceall" if traceall else "strace"
        self.description = ("strace -f -o /dev/null (every syscall)" if traceall else
                            "strace -f --seccomp-bpf -e trace=<the syscalls lxrun stops> -o /dev/null")
        self.default_set: tuple[str, ...] | None = None

    def detect(self, host, ctx):
        path = host.which("strace")
        if not path:
            return Availability(False, reason="strace not installed")
        try:
            r = host.run([path, "-V"], timeout=10)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Availability(False, path, reason=str(e))
        self.default_set = default_trapped()
        return Availability(True, path, version=(_out(r).splitlines() or [""])[0])

    def syscall_set(self, workload: Workload) -> str:
        names = workload.trapped if workload.rules else (self.default_set or ())
        return ",".join(names) or "none"

    def wrap(self, workload, argv, ctx):
        path = self.avail.path or "strace"
        if self.traceall:
            return [path, "-f", "-o", "/dev/null", "--", *argv]
        return [path, "-f", "--seccomp-bpf", "-e", f"trace={self.syscall_set(workload)}",
                "-o", "/dev/null", "--", *argv]


class Proot(Runner):
    name, kind = "proot", "proot"
    hint = "apt-get install -y proot"
    description = "proot -r / (ptrace; every path syscall translated)"

    def detect(self, host, ctx):
        path = host.which("proot")
        if not path:
            return Availability(False, reason="proot not installed")
        why = _probe(host, [path, "-r", "/", "/bin/true"])
        if why:
            return Availability(False, path, reason=why)
        try:
            m = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", _out(host.run([path, "--version"], timeout=10)))
        except (OSError, subprocess.TimeoutExpired):
            m = None
        return Availability(True, path, version=f"proot {m.group(1)}" if m else "proot")

    def wrap(self, workload, argv, ctx):
        return [self.avail.path or "proot", "-r", "/", *argv]


class Floor(Runner):
    kind = "floor"
    applies_policy = True       # they answer getppid with 1, as the workloads' rules do
    hint = "apt-get install -y gcc libc6-dev (the harness builds the floors from bench/floor/)"

    def __init__(self, mechanism: str, sync: bool = True):
        super().__init__()
        self.mechanism, self.sync = mechanism, sync
        self.name = f"floor-{mechanism}" + ("" if sync or mechanism != "unotify" else "-nosync")
        self.description = {
            ("unotify", True): "bare C user-notify loop, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP",
            ("unotify", False): "bare C user-notify loop, without the sync wake-up flag",
            ("ptrace", True): "bare C ptrace loop: RET_TRACE, GETREGS/SETREGS, PTRACE_CONT",
        }[(mechanism, sync)]

    def _argv(self, ctx):
        exe = ctx.bins[f"floor-{self.mechanism}"]
        return [exe] + ([] if self.sync or self.mechanism != "unotify" else ["--no-sync"])

    def detect(self, host, ctx):
        argv = self._argv(ctx) + [ctx.bins["true"]]
        try:
            r = host.run(argv, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Availability(False, argv[0], reason=str(e))
        if r.returncode != 0:
            return Availability(False, argv[0], reason=f"`{' '.join(argv)}` failed: {_err(r)}")
        version = "bench/floor"
        err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr or ""
        if self.mechanism == "unotify" and self.sync:
            # The floor falls back without the flag on kernels before 6.6: say which one ran.
            version += (", sync wake-up on" if "sync_wake_up=1" in err
                        else ", sync wake-up unavailable on this kernel")
        return Availability(True, argv[0], version=version)

    def wrap(self, workload, argv, ctx):
        return self._argv(ctx) + list(argv) if workload.floor else None


class Docker(Runner):
    kind = "docker"
    tree_cpu = False            # the container is containerd's child, not ours

    def __init__(self, flavour: str):
        super().__init__()
        self.flavour = flavour
        self.name = f"docker-{flavour}"
        self.runtime: str | None = None
        self.image: str | None = None
        self.description = {
            "runc": "docker run --runtime=runc (the default OCI runtime)",
            "runsc": "docker run with gVisor runsc (ptrace platform)",
            "lxbrand": "docker run --runtime=lxbrand (our OCI runtime)",
        }[flavour]
        self.hint = {
            "runc": "a running Docker engine (apt-get install -y docker.io; start dockerd)",
            "runsc": "gVisor's runsc registered with Docker, ptrace platform: runsc install "
                     "--runtime=runsc-ptrace -- --platform=ptrace; restart dockerd",
            "lxbrand": "the lxbrand runtime registered with Docker: \"runtimes\": {\"lxbrand\": "
                       "{\"path\": \"lxbrand\"}} in /etc/docker/daemon.json; restart dockerd",
        }[flavour]

    def pick_runtime(self, runtimes: list[str], environ: dict) -> str | None:
        override = environ.get(f"LXBENCH_{self.flavour.upper()}_RUNTIME")
        if override:
            return override if override in runtimes else None
        if self.flavour == "runsc":
            cands = sorted((r for r in runtimes if "runsc" in r), key=lambda r: "ptrace" not in r)
            return cands[0] if cands else None
        return self.flavour if self.flavour in runtimes else None

    def detect(self, host, ctx):
        docker = host.which("docker")
        if not docker:
            return Availability(False, reason="docker CLI not installed")
        try:
            r = host.run([docker, "info", "--format", "{{json .Runtimes}}"], timeout=20)
        except (OSError, subprocess.TimeoutExpired) as e:
            return Availability(False, docker, reason=f"docker info: {e}")
        if r.returncode != 0:
            return Availability(False, docker, reason=f"no Docker engine running ({_err(r)})")
        try:
            info = json.loads(_out(r)) or {}
        except ValueError:
            info = {}
        runtimes = sorted(info)
        self.runtime = self.pick_runtime(runtimes, host.environ)
        if not self.runtime:
            return Availability(False, docker, reason=f"Docker has no {self.flavour} runtime "
                                f"(has: {', '.join(runtimes) or 'none'})")
        try:
            self.image = ensure_image(host, docker, ctx)
        except RuntimeError as e:
            return Availability(False, docker, reason=str(e))
        why = _probe(host, self._run_argv(docker) + [ctx.bins["true"]], timeout=120)
        if why:
            return Availability(False, docker, reason=why)
        ver = _out(host.run([docker, "version", "--format", "{{.Server.Version}}"], timeout=20))
        args = " ".join((info.get(self.runtime) or {}).get("runtimeArgs") or [])
        return Availability(True, docker, version=f"docker {ver}, runtime {self.runtime}"
                            + (f" ({args})" if args else ""))

    def _run_argv(self, docker: str) -> list[str]:
        return [docker, "run", "--rm", "--runtime", self.runtime or self.flavour,
                "--network", "none", self.image or "lxbench-static"]

    def wrap(self, workload, argv, ctx):
        return self._run_argv(self.avail.path or "docker") + list(argv) if workload.container else None


def ensure_image(host: Host, docker: str, ctx: Context) -> str:
    """A local image holding only the harness's static binaries, at the same paths as on the host.
    Built with `docker import` from a tar made here: no registry is needed."""
    tag = f"lxbench-static:{ctx.bins.dir.name}"
    if host.run([docker, "image", "inspect", tag], timeout=30).returncode == 0:
        return tag
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("tmp", "dev", "proc", "sys", "etc"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(ti)
        tar.add(str(ctx.bins.dir), arcname=str(ctx.bins.dir).lstrip("/"))
    r = host.run([docker, "import", "-", tag], timeout=120, input=buf.getvalue())
    if r.returncode != 0:
        raise RuntimeError(f"docker import of the bench image failed: {_err(r)}")
    return tag


def all_runners() -> list[Runner]:
    return [Native(),
            Lxrun("unotify", False), Lxrun("unotify", True),
            Lxrun("ptrace", False), Lxrun("ptrace", True), Lxrun("unotify", False, identity=True),
            Strace(False), Strace(True), Proot(),
            Floor("unotify", True), Floor("unotify", False), Floor("ptrace"),
            Docker("runc"), Docker("runsc"), Docker("lxbrand"),
            *cri_runners()]


def cri_runners() -> list[Runner]:
    from bench.cri_pod import Cri     # its own module (bench/cri_pod.py), which imports this one
    return [Cri("runc"), Cri("lxbrand")]


def select(patterns: list[str] | None, runners: list[Runner] | None = None,
           reference: Callable[[Runner], bool] = lambda r: r.kind == "native",
           what: str = "runner") -> list[Runner]:
    """Runners whose name matches any pattern (shell globs: `lxrun-*`). The REFERENCE (native;
    runc in the apps suite) is always kept: it is the reference for outputs and ratios."""
    runners = runners if runners is not None else all_runners()
    if not patterns:
        return runners
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(r.name, p) for r in runners)]
    if unknown:
        raise ValueError(f"unknown {what}(s) {', '.join(unknown)}; "
                         f"known: {', '.join(r.name for r in runners)}")
    return [r for r in runners
            if reference(r) or any(fnmatch.fnmatchcase(r.name, p) for p in patterns)]


def discover(runners: list[Runner], host: Host, ctx: Context) -> list[Runner]:
    """Probe each runner (never raising); return those available. Each keeps its `avail`."""
    for r in runners:
        try:
            r.avail = r.detect(host, ctx)
        except Exception as e:  # noqa: BLE001 - one broken runner must not stop the others
            r.avail = Availability(False, reason=f"probe crashed: {type(e).__name__}: {e}")
    return [r for r in runners if r.avail.ok]
