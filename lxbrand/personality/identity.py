"""Kernel identity, consistent everywhere: one setting (release, version string,
machine, hostname, domainname) is what uname(2) and /proc/version and
/proc/sys/kernel/{osrelease,version,hostname,domainname,ostype} show -- all
answered by the engine in C from the policy's uname fields (the files: the
view's LX_PV_IDENTITY, csrc/persona.c; /proc/version is the host's line with
release and version replaced, so builder and compiler stay the host's)."""


def install(policy, identity):
    """uname(2) in C with these fields over the host's (the files follow them)."""
    policy.set_identity(**identity)
