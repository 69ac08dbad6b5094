"""The view the engine serves in C (csrc/persona.c): the resource view of a memory
limit and a CPU count, and the identity's /proc files.

    /proc/meminfo, /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg,
    /sys/devices/system/cpu/{online,possible,present}       the sandbox's limits
    the cgroup limit files the JVM, Go and libuv read       (v1 and v2 layouts)
    /proc/version, /proc/sys/kernel/{osrelease,version,hostname,domainname,ostype}
    sysinfo(2), sched_getaffinity(2)

This module only decides and configures: which of those the sandbox sees (the
PV_* flags), the rules that send the calls to the engine (the PERSONA kind, and
the open pipeline's entry for the files), and the configuration handed to the
engine when a policy is applied (configure, from lxbrand.engine.apply_policy),
which a compiled policy's blob carries to C consumers (its LX_SEC_PERSONA
section).  No Python runs for any of it while the program runs.

The sandbox's usage (free memory, its threads) is the resident memory of the
supervisor's descendants, walked through /proc/PID/task/TID/children (lxrun); in
a container, its memory cgroup's usage minus page cache, as LXCFS reads it
(DIVERGENCE.md, "Personality").
"""
import os

from lxbrand import _core
from lxbrand.personality.rules import emulate

OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)


def flags(identity=False, memory=None, cpus=None, cgroups=True, container=False):
    """The view's PV_* flags: the identity files, a memory limit, a CPU count, the
    cgroup limit files (cgroups; off where the real cgroup holds the limits), usage
    from the memory cgroup (a container) instead of the process tree."""
    f = _core.PV_IDENTITY if identity else 0
    if memory is not None:
        f |= _core.PV_MEMORY
    if cpus is not None:
        f |= _core.PV_CPUS
    if f & (_core.PV_MEMORY | _core.PV_CPUS):
        if cgroups:
            f |= _core.PV_CGROUPS
        if container:
            f |= _core.PV_USAGE_CGROUP
    return f


def install(policy, pipe, view_flags, tag):
    """The rules for a view with `view_flags`: sysinfo and sched_getaffinity answered
    by the engine, and the view's files in the open pipeline (answered by the
    engine in the pipeline's order: a path rule's denial first)."""
    if view_flags & (_core.PV_MEMORY | _core.PV_CPUS):
        emulate(policy, "sysinfo", OWNER, fast="persona", comment="personality: memory limit, sandbox uptime (C)")
    if view_flags & _core.PV_CPUS:
        emulate(policy, "sched_getaffinity", OWNER, fast="persona", comment="personality: the first N CPUs (C)")
    pipe.add_in_c(_core.persona_basenames(view_flags), tag=tag)


def configure(sup, personality):
    """Configure the engine's view on `sup` (a _core.Supervisor) from an applied
    Personality: its flags, memory limit, CPU count, start and usage cgroup; the
    identity fields are the supervisor's uname fields (set by apply_policy)."""
    view_flags = getattr(personality, "view_flags", 0)
    if not view_flags:
        return
    usage = personality.usage_cgroup
    sup.set_persona(view_flags, memory=personality.memory or 0, cpus=float(personality.cpus or 0),
                    start=float(personality.start or 0), usage_dir=os.fsencode(usage) if usage else b"")
