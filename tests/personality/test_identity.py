"""Kernel identity: one setting, the same everywhere (uname and /proc)."""
import os

import pytest

from lxp_helpers import BACKENDS, lxrun, native, sh

FILES = "/proc/version /proc/sys/kernel/osrelease /proc/sys/kernel/version " \
        "/proc/sys/kernel/hostname /proc/sys/kernel/ostype /proc/sys/kernel/domainname"


@pytest.mark.parametrize("backend", BACKENDS)
def test_uname_and_proc_agree(backend):
    args = ["--backend", backend, "--kernel-release", "4.4.0-lx", "--kernel-version", "#1 SMP LX",
            "--hostname", "zone1"]
    out = sh(args, f"uname -r; uname -v; uname -n; uname -s; cat {FILES}").splitlines()
    rel, ver, host, sysname, procver, osrel, kver, hostname, ostype, domain = out
    assert (rel, ver, host, sysname) == ("4.4.0-lx", "#1 SMP LX", "zone1", "Linux")
    assert osrel == rel and kver == ver and hostname == host and ostype == sysname
    assert domain == native(["cat", "/proc/sys/kernel/domainname"]).stdout.strip()
    hostver = native(["cat", "/proc/version"]).stdout.strip()
    u = os.uname()
    # the host's line with only release and version replaced
    assert procver == hostver.replace(u.release, "4.4.0-lx", 1).replace(u.version, "#1 SMP LX", 1)
    assert procver.startswith("Linux version 4.4.0-lx ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_policy_identity_table_is_consistent_too(backend, tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[identity]\nrelease = "5.4.0-lx"\nnodename = "zone2"\n')
    out = sh(["--backend", backend, "--policy", str(pol)],
             "uname -rn; cat /proc/sys/kernel/osrelease /proc/sys/kernel/hostname").split()
    assert out == ["zone2", "5.4.0-lx", "5.4.0-lx", "zone2"]


def test_nothing_served_without_identity():
    assert sh([], f"cat {FILES}") == native(["sh", "-c", f"cat {FILES}"]).stdout


def test_bad_identity_is_a_usage_error():
    r = lxrun(["--hostname", "x" * 65], ["true"])
    assert r.returncode == 2 and "--hostname" in r.stderr and "64 bytes" in r.stderr
