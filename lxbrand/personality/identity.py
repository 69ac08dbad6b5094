"""Kernel identity, consistent everywhere: one setting (release, version string,
machine, hostname, domainname) is what uname(2) (answered in C), /proc/version
and /proc/sys/kernel/{osrelease,version,hostname,domainname,ostype} show."""
import os

from lxbrand.handlers.files import Serve
from lxbrand.personality.rules import finder
from lxbrand.personality.snapshot import Snapshot

FIELDS = ("sysname", "nodename", "release", "version", "machine", "domainname")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def effective(identity):
    """The six uname fields the guest sees: the given ones over the host's."""
    host = os.uname()
    out = dict(sysname=host.sysname, nodename=host.nodename, release=host.release,
               version=host.version, machine=host.machine,
               domainname=_read("/proc/sys/kernel/domainname").strip() or "(none)")
    out.update({k: v for k, v in identity.items() if v is not None})
    return out


def proc_version(ident):
    """/proc/version: the host's line (fs/proc/version.c: "Linux version %s (%s) %s")
    with the release and version replaced; the builder and compiler stay the host's."""
    host = os.uname()
    line = _read("/proc/version") or f"Linux version {host.release} {host.version}\n"
    line = line.replace(f"{host.sysname} version {host.release} ",
                        f"{ident['sysname']} version {ident['release']} ", 1)
    if host.version in line:
        line = line.replace(host.version, ident["version"], 1)
    return line.encode()


def install(policy, pipe, identity, tag):
    """uname(2) in C (policy identity) plus the /proc files, served from one dict."""
    policy.set_identity(**identity)
    ident = effective(identity)
    files = {
        "/proc/version": lambda: proc_version(ident),
        "/proc/sys/kernel/osrelease": lambda: (ident["release"] + "\n").encode(),
        "/proc/sys/kernel/version": lambda: (ident["version"] + "\n").encode(),
        "/proc/sys/kernel/hostname": lambda: (ident["nodename"] + "\n").encode(),
        "/proc/sys/kernel/domainname": lambda: (ident["domainname"] + "\n").encode(),
        "/proc/sys/kernel/ostype": lambda: (ident["sysname"] + "\n").encode(),
    }
    # fixed for the run: made once (on the first open), reopened after
    files = {p: Snapshot(g, p.rsplit("/", 1)[-1], float("inf")) for p, g in files.items()}

    find = finder(files)

    def hook(req):
        hit = find(req)
        if hit is None or not req.read_only:
            return None  # writes (sethostname through /proc) go to the kernel as usual
        return Serve(hit[0], name=hit[1])

    pipe.add(hook, names={p.rsplit("/", 1)[-1] for p in files}, tag=tag)
    return ident
