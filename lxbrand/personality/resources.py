"""The resource view's options: a memory limit and a CPU count, parsed and checked.

What the sandbox is shown from them -- /proc/meminfo, /proc/cpuinfo, /proc/stat,
/proc/uptime, /proc/loadavg, /sys/devices/system/cpu/{online,possible,present},
sysinfo(2), sched_getaffinity(2) and the cgroup limit files -- is made by the
engine in C (csrc/persona.c, configured by lxbrand.personality.view): every file
starts from the host's own, so keys, order and format are the running kernel's.

The view shows limits, it does not enforce them: under lxrun nothing stops the
program from using more memory or CPUs (the OCI runtime enforces them with
cgroups).  Known gaps are in DIVERGENCE.md, "Personality".
"""
import re

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")


def parse_size(value, minimum=4 * 1024 * 1024, what="memory limit"):
    """Bytes from 268435456, "256M", "1g", "512MiB", "1.5G" (binary units, like docker);
    at least `minimum` (what: how the message names the value)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like \"256M\", got {value!r}")
    if isinstance(value, int):
        n = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise ValueError(f"expected a size like \"256M\" or a number of bytes, got {value!r}")
        n = int(float(m[1]) * 1024 ** " KMGT".index((m[2] or " ").upper()))
    if n < minimum:
        low = f"{minimum >> 20} MiB" if minimum >= 1 << 20 else f"{minimum} bytes"
        raise ValueError(f"{what} {value!r} is below {low}")
    if n >= 1 << 63:
        raise ValueError(f"{what} {value!r} is out of range")
    return n


def parse_cpus(value):
    """A CPU count: a positive number, fractional like docker's --cpus 1.5 (shown rounded up)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number of CPUs, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of CPUs like 2 or 1.5, got {value!r}") from None
    if not f > 0 or f > 8192:
        raise ValueError(f"CPU count {value!r} is out of range (0 < N <= 8192)")
    return f


def cpu_list(text):
    """[0, 1, 4, 5] from "0-1,4-5" (a cpuset, as in config.json)."""
    out = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out
