"""The machine a result was measured on, stored with every result: a ratio means little
without the kernel, the CPU and the version of each peer."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from bench.workloads import REPO


def _first_line(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return ((r.stdout or r.stderr).strip().splitlines() or [""])[0]


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or "unknown"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return ""


def load() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine shows in every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe(runners=()) -> dict:
    """Kernel, CPU, cores, memory, OS, tool versions and the lxbrand commit."""
    u = os.uname()
    versions = {
        "python": sys.version.split()[0],
        "gcc": _first_line(["gcc", "--version"]),
        "git": _first_line(["git", "--version"]),
        "tar": _first_line(["tar", "--version"]),
    }
    for r in runners:
        if r.avail.ok and r.avail.version:
            versions[r.name] = r.avail.version
    return {
        "kernel": u.release,
        "kernel_version": u.version,
        "arch": u.machine,
        "hostname": u.nodename,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "mem_gib": _mem_gib(),
        "load_end": load(),
        "os": _os_release(),
        "lxbrand_commit": _first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "versions": versions,
    }
