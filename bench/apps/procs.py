"""The processes that belong to a container, and what they cost.

A container's processes are those in its cgroup plus those whose command line names its id:
the containerd shim (`-id ID`), the runtime, a supervisor (lxbrand), gVisor's sandbox and
gofer (their `--log` paths hold the id). A cgroup counts only if its path names the id: gVisor
with --ignore-cgroups leaves its processes in whatever cgroup the shim had, which holds the rest
of the machine too.

Memory is PSS (proportional set size, /proc/PID/smaps_rollup: a page shared by N processes
counts 1/N to each), so summing it over processes and containers does not count shared pages
twice. CPU is utime+stime+cutime+cstime from /proc/PID/stat: a child reaped by a member (a
postgres backend, a gcc under make) is counted through its parent.

`Proc` is injected (a root other than /proc, a fake cgroup tree) so tests need no containers.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

@dataclass
class Proc:
    proc: Path = Path("/proc")
    cgroup_root: Path = Path("/sys/fs/cgroup")

    def _read(self, pid: int, name: str) -> bytes | None:
        try:
            return (self.proc / str(pid) / name).read_bytes()
        except OSError:
            return None

    def pids(self) -> list[int]:
        return [int(p) for p in os.listdir(self.proc) if p.isdigit()]

    def cmdline(self, pid: int) -> str:
        return (self._read(pid, "cmdline") or b"").replace(b"\0", b" ").decode(errors="replace")

    def cgroup_procs(self, pid: int, cid: str) -> set[int]:
        """The pids in PID's cgroup(s) whose path names CID (v1: each hierarchy; v2: the one)."""
        text = (self._read(pid, "cgroup") or b"").decode(errors="replace")
        out: set[int] = set()
        for line in text.splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3 or cid not in parts[2]:
                continue
            ctrls = [c for c in parts[1].split(",") if c and not c.startswith("name=")]
            bases = ([self.cgroup_root / c for c in ctrls] if ctrls
                     else [self.cgroup_root] if parts[0] == "0" else [])
            for base in bases:
                try:
                    f = base / parts[2].lstrip("/") / "cgroup.procs"
                    out |= {int(x) for x in f.read_text().split()}
                except (OSError, ValueError):
                    continue
                break
        return out

    def members(self, cid: str, init_pid: int | None) -> set[int]:
        """The process set of container CID (whose init is INIT_PID), as the module says."""
        found = self.cgroup_procs(init_pid, cid) if init_pid else set()
        if init_pid and not found and cid in self.cmdline(init_pid):
            found.add(init_pid)
        needle = cid.encode()
        for pid in self.pids():
            if pid not in found and needle in (self._read(pid, "cmdline") or b""):
                found.add(pid)
        return found

    def pss_kib(self, pid: int) -> int | None:
        text = self._read(pid, "smaps_rollup")
        m = re.search(rb"^Pss:\s+(\d+) kB", text or b"", re.M)
        return int(m.group(1)) if m else None

    def rss_kib(self, pid: int) -> int | None:
        text = self._read(pid, "status")
        m = re.search(rb"^VmRSS:\s+(\d+) kB", text or b"", re.M)
        return int(m.group(1)) if m else None

    def cpu_s(self, pid: int) -> float | None:
        """utime+stime of PID and of its reaped children, seconds."""
        text = self._read(pid, "stat")
        if not text:
            return None
        # comm may hold spaces and parentheses: the fields start after the last ')'.
        f = text[text.rfind(b")") + 2:].split()
        return sum(int(x) for x in f[11:15]) / CLK_TCK

    def meminfo_kib(self, key: str = "MemAvailable") -> int:
        text = (self.proc / "meminfo").read_text()
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        if not m:
            raise OSError(f"{self.proc}/meminfo has no {key}")
        return int(m.group(1))


def role(cmdline: str) -> str:
    """shim, runtime (lxbrand's supervisor, gVisor's sandbox and gofer) or container."""
    argv0 = cmdline.split(" ", 1)[0]
    if "containerd-shim" in argv0:
        return "shim"
    if "runsc" in argv0 or "lxbrand" in cmdline:
        return "runtime"
    return "container"


@dataclass
class Footprint:
    """One container's memory, by role (KiB of PSS)."""
    pss_kib: dict[str, int] = field(default_factory=dict)
    runtime_rss_kib: int = 0        # the supervisor / sandbox processes' RSS (0: none)
    processes: int = 0

    @property
    def total_kib(self) -> int:
        return sum(self.pss_kib.values())


def footprint(proc: Proc, cid: str, init_pid: int | None) -> Footprint:
    fp = Footprint()
    for pid in sorted(proc.members(cid, init_pid)):
        pss = proc.pss_kib(pid)
        if pss is None:              # gone meanwhile, or a kernel thread
            continue
        r = role(proc.cmdline(pid))
        fp.pss_kib[r] = fp.pss_kib.get(r, 0) + pss
        fp.processes += 1
        if r == "runtime":
            fp.runtime_rss_kib += proc.rss_kib(pid) or 0
    return fp


def cpu_total(proc: Proc, pids: set[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        v = proc.cpu_s(pid)
        if v is not None:
            out[pid] = v
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes seen in both (a pid that is new
    in AFTER counts from zero)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())
