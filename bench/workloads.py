"""What is measured: each workload is a real program, run the same way under every runner.

A workload gives the command, how its result is read (whole wall time, or the program's own
timing of its inner loop reported on stderr as `LXBENCH ns=... ops=...`), which runners it
suits, and, for lxrun, the policy rules it needs (for strace: the same syscall set).
Its stdout and exit status must equal the native run's: that is the correctness check.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.build import Binaries

REPO = Path(__file__).resolve().parent.parent

# Fixed times make tar archives and git commit ids identical across runs, so they can be compared.
EPOCH = 1_600_000_000


@dataclass
class Context:
    """Everything a workload's command may refer to, prepared once per harness run."""
    bins: Binaries
    work: Path                     # generated inputs (file tree, C project), policy files
    quick: bool = False
    python: str = sys.executable

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full


@dataclass
class Workload:
    name: str
    title: str
    command: Callable[[Context], list[str]]
    metric: str = "wall"            # "wall": seconds of the whole command; "per_op": µs per op
    unit: str = "s"
    rules: tuple[dict, ...] = ()    # lxrun policy rules this workload needs (default: none)
    floor: bool = False             # the floors (single process, trap getppid only) apply
    container: bool = False         # a static binary from the cache: runs inside a container
    prepare: Callable[[Context], None] | None = None
    note: str = ""
    lxrun_args: tuple[str, ...] = ()  # extra lxrun options (e.g. where trace records go)
    kinds: tuple[str, ...] = ()     # runner kinds it is for, besides native (empty: any)
    sections: str = ""              # lxrun policy text beyond [[rule]]s: [[path]], [[network]] rules

    @property
    def emulates(self) -> bool:
        """Its rules answer a syscall with a fixed value (checked on runners that apply them)."""
        return any(r.get("action") == "emulate" for r in self.rules)

    @property
    def trapped(self) -> tuple[str, ...]:
        """Syscalls this workload's own policy stops (what strace traces for it)."""
        return tuple(s for r in self.rules if r.get("action") in ("emulate", "trace")
                     for s in r["syscalls"])


EMULATE_C = {"syscalls": ["getppid"], "action": "emulate", "return": 1,
             "comment": "bench: a trap answered in C"}
TRACE_OPENAT = {"syscalls": ["openat"], "action": "trace",
                "comment": "bench: a trap that is recorded (decoded) and let through"}
TRACE_GETPPID = {"syscalls": ["getppid"], "action": "trace",
                 "comment": "bench: a trap that is recorded with its result and let through"}
EMULATE_PY = {"syscalls": ["getppid"], "action": "emulate", "handler": "bench.handlers:getppid",
              "comment": "bench: a trap answered by a Python handler"}

# A path policy as a user would write one to keep a program from the host's secrets:
# everything else allowed, so every open and stat is judged (and performed) by lxbrand.
PATH_RULES = """path_default = "allow"
[[path]]
action = "deny"
paths = ["/etc/shadow", "/root/.ssh"]
comment = "bench: every open and stat is judged by a path rule"
"""
# A network policy that allows loopback only: every connect is judged on its address.
NET_RULES = """network_default = "deny"
[[network]]
action = "allow"
cidr = ["127.0.0.0/8"]
comment = "bench: every connect is judged by a network rule"
"""
# a regular file a few components deep, as most opens name (the loop's default, /dev/null,
# has two); no symlink on the way (a symlinked path costs the engine a second resolution)
OPEN_PATH = "/usr/lib/os-release"

PY_IMPORTS = ("import json, decimal, asyncio, email.parser, http.client, argparse, logging, "
              "xml.etree.ElementTree, unittest, sqlite3; print('imports ok')")


def _tree(ctx: Context) -> Path:
    return ctx.work / ("tree-quick" if ctx.quick else "tree")


def make_tree(ctx: Context) -> None:
    """A deterministic tree of small files (dirs x files) for find and tar."""
    root = _tree(ctx)
    ndirs, nfiles = (20, 25) if ctx.quick else (40, 50)
    done = root.with_name(root.name + ".complete")
    if done.exists():
        return
    for d in range(ndirs):
        sub = root / f"d{d:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        for f in range(nfiles):
            p = sub / f"f{f:03d}.txt"
            p.write_text(f"file {d}/{f}\n" * (1 + (d * nfiles + f) % 40))
            os.utime(p, (EPOCH, EPOCH))
        os.utime(sub, (EPOCH, EPOCH))
    done.touch()
    os.utime(root, (EPOCH, EPOCH))


def _tree_cmd(ctx: Context) -> str:
    # tar to a pipe, not to /dev/null: GNU tar notices /dev/null and skips reading the files.
    return (f"find {_tree(ctx)} -type f | wc -l; "
            f"tar --sort=name -cf - -C {_tree(ctx)} . | cksum")


def _project(ctx: Context) -> Path:
    return ctx.work / ("proj-quick" if ctx.quick else "proj")


def make_project(ctx: Context) -> None:
    """A small C project: N units and a Makefile; its program prints a checksum of them all."""
    root = _project(ctx)
    n = ctx.size(4, 8)
    src = root / "src"
    if (src / "Makefile").exists():
        return
    src.mkdir(parents=True, exist_ok=True)
    decls, calls = [], []
    for i in range(n):
        body = "\n".join(
            f"static long f{i}_{j}(long x) {{ long s = x; for (int k = 0; k < {j + 3}; k++) "
            f"s = s * 31 + k + {i}; return s ^ (s >> 7); }}" for j in range(30))
        chain = " + ".join(f"f{i}_{j}(x)" for j in range(30))
        (src / f"unit{i}.c").write_text(f'#include "proj.h"\n{body}\n'
                                        f"long unit{i}(long x) {{ return {chain}; }}\n")
        decls.append(f"long unit{i}(long x);")
        calls.append(f"unit{i}(7)")
    (src / "proj.h").write_text("\n".join(decls) + "\n")
    (src / "main.c").write_text('#include <stdio.h>\n#include "proj.h"\n'
                                f"int main(void) {{ long s = {' + '.join(calls)}; "
                                'printf("checksum %ld\\n", s); return 0; }\n')
    objs = " ".join(f"unit{i}.o" for i in range(n)) + " main.o"
    (src / "Makefile").write_text(f"prog: {objs}\n\t$(CC) -o $@ {objs}\n"
                                  "%.o: %.c proj.h\n\t$(CC) -O1 -c -o $@ $<\n")
    # The build dir is separate so the git workload commits only sources.
    (root / "build").mkdir(exist_ok=True)


def _gcc_cmd(ctx: Context) -> str:
    p = _project(ctx)
    return (f"cd {p / 'build'} && make -s -B -f {p / 'src/Makefile'} VPATH={p / 'src'} "
            f"CFLAGS= CPPFLAGS=-I{p / 'src'} CC='gcc -I{p / 'src'}' && ./prog")


def make_git_script(ctx: Context) -> None:
    (ctx.work / "git.sh").write_text(f"""set -e
d=$(mktemp -d "${{TMPDIR:-/tmp}}/lxbench-git.XXXXXX")
trap 'rm -rf "$d"' EXIT
export HOME="$d" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_DATE=@{EPOCH} GIT_COMMITTER_DATE=@{EPOCH}
cd "$d"
git -c init.defaultBranch=main init -q repo
cd repo
cp -R {_project(ctx) / 'src'}/. .
git add -A
git -c user.name=bench -c user.email=bench@example.invalid commit -q -m bench
git rev-parse HEAD
git ls-files | wc -l
""")


def _prepare_files(ctx: Context) -> None:
    make_tree(ctx)
    make_project(ctx)
    make_git_script(ctx)


def _sh(script: Callable[[Context], str]) -> Callable[[Context], list[str]]:
    return lambda ctx: ["/bin/sh", "-c", script(ctx)]


WORKLOADS: list[Workload] = [
    Workload("startup", "start-up latency: a static `true`",
             lambda c: [c.bins["true"]], container=True,
             note="the runner's own start-up latency (for Docker: container start)"),
    Workload("getpid", "untrapped getpid loop",
             lambda c: [c.bins["loop"], "getpid", str(c.size(100_000, 200_000))],
             metric="per_op", unit="µs/call", floor=True, container=True,
             note="a syscall no policy stops: should cost what it costs natively"),
    Workload("getppid-c", "trapped getppid, answered in C",
             lambda c: [c.bins["loop"], "getppid", str(c.size(5_000, 20_000))],
             metric="per_op", unit="µs/call", rules=(EMULATE_C,), floor=True, container=True,
             note="lxrun: policy rule `return = 1`; strace traces getppid; floors answer 1"),
    Workload("getppid-py", "trapped getppid, answered in Python",
             lambda c: [c.bins["loop"], "getppid", str(c.size(5_000, 20_000))],
             metric="per_op", unit="µs/call", rules=(EMULATE_PY,), floor=True,
             note="lxrun: handler bench.handlers:getppid; other runners as for getppid-c"),
    Workload("getppid-trace", "traced getppid, a line with its result written per call",
             lambda c: [c.bins["loop"], "getppid", str(c.size(5_000, 20_000))],
             metric="per_op", unit="µs/call", rules=(TRACE_GETPPID,), lxrun_args=("--trace=/dev/null",),
             note="issue 16's target: ≤ strace's per-call cost (lxrun: rule action trace, --trace=/dev/null: "
                  "on unotify the call stops at its trap and its exit; strace -e trace=getppid)"),
    Workload("getppid-summary", "traced getppid, counted for --summary only",
             lambda c: [c.bins["loop"], "getppid", str(c.size(5_000, 20_000))],
             metric="per_op", unit="µs/call", rules=(TRACE_GETPPID,), lxrun_args=("--summary",),
             note="issue 16's target: ≤ 1.5x the trap answered in C (getppid-c): one trap a call"),
    Workload("openat-trace", "openat+close loop, openat traced",
             lambda c: [c.bins["loop"], "openat", str(c.size(2_000, 5_000))],
             metric="per_op", unit="µs/pair", rules=(TRACE_OPENAT,), container=True,
             lxrun_args=("--trace=/dev/null",),
             note="lxrun: rule action trace, --trace=/dev/null; strace -e trace=openat -o "
                  "/dev/null: both decode the path and write a line per call"),
    Workload("open-path", "openat+close loop under a [[path]] rule",
             lambda c: [c.bins["loop"], "openat", str(c.size(2_000, 20_000)), OPEN_PATH],
             metric="per_op", unit="µs/pair", sections=PATH_RULES,
             note="target: ≤ 10 µs (unotify), ≤ 25 µs (ptrace); lxrun decides and opens, "
                  "other runners open natively"),
    Workload("stat-path", "stat loop under a [[path]] rule",
             lambda c: [c.bins["loop"], "stat", str(c.size(2_000, 20_000)), OPEN_PATH],
             metric="per_op", unit="µs/call", sections=PATH_RULES,
             note="target: ≤ 8 µs (unotify)"),
    Workload("connect-net", "UDP socket+connect+close loop under a [[network]] allow rule",
             lambda c: [c.bins["loop"], "connect", str(c.size(2_000, 20_000))],
             metric="per_op", unit="µs/pair", sections=NET_RULES,
             note="target: ≤ 15 µs (unotify); lxrun judges the address and connects"),
    Workload("forkexec", "fork+exec storm",
             lambda c: [c.bins["forkexec"], c.bins["true"], str(c.size(50, 300))],
             metric="per_op", unit="µs/fork", container=True),
    Workload("threads", "4 pthreads × (getppid, open, read, close)",
             lambda c: [c.bins["threads"], "4", str(c.size(2_000, 10_000))],
             metric="per_op", unit="µs/iter", container=True),
    Workload("tree", "find + tar (checksummed) of a file tree", _sh(_tree_cmd), prepare=_prepare_files),
    Workload("python", "python3 -I: start-up + 10 stdlib imports",
             lambda c: [c.python, "-I", "-c", PY_IMPORTS]),
    Workload("gcc", "make: gcc builds a small C project", _sh(_gcc_cmd), prepare=_prepare_files),
    Workload("git", "init, add, commit in a temp dir",
             lambda c: ["/bin/sh", str(c.work / "git.sh")], prepare=_prepare_files),
    Workload("free", "`free -m` runs (lxrun: with --memory 256M --cpus 1)",
             lambda c: [c.bins["forkexec"], shutil.which("free") or "/usr/bin/free",
                        str(c.size(50, 200)), "-m"],
             metric="per_op", unit="µs/run", lxrun_args=("--memory", "256M", "--cpus", "1"),
             note="the personality's target (≤1.2× native): lxrun runners serve /proc/meminfo "
                  "from the limits and trap every open; free's output (which differs) is dropped"),
    Workload("mix", "python imports + find + tar",
             _sh(lambda c: f"{c.python} -I -c \"{PY_IMPORTS}\"; " + _tree_cmd(c)),
             prepare=_prepare_files,
             note="the mix the engine's speed bar is set with (~0.2 s natively)"),
    Workload("python-path", "python3 -I: start-up + 10 stdlib imports, under a [[path]] rule",
             lambda c: [c.python, "-I", "-c", PY_IMPORTS], sections=PATH_RULES,
             note="target: ≤ 1.3× native"),
    Workload("mix-path", "python imports + find + tar, under a [[path]] rule",
             _sh(lambda c: f"{c.python} -I -c \"{PY_IMPORTS}\"; " + _tree_cmd(c)),
             prepare=_prepare_files, sections=PATH_RULES,
             note="target: ≤ 1.3× native"),
]

# Workloads kept in modules of their own (they bring their runners): imported here, last, as
# they build on the classes above.
from bench.cri_pod import WORKLOAD as _CRI_POD  # noqa: E402
WORKLOADS.append(_CRI_POD)

BY_NAME = {w.name: w for w in WORKLOADS}


def select(names: list[str] | None) -> list[Workload]:
    """Workloads by name, in the harness's order; an unknown name is an error naming the known ones."""
    if not names:
        return list(WORKLOADS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; "
                         f"known: {', '.join(BY_NAME)}")
    return [w for w in WORKLOADS if w.name in names]
