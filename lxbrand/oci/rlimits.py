"""process.rlimits: OCI names to resource numbers, applied with setrlimit in the child."""
import resource

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


def _lim(v):
    # JSON carries RLIM_INFINITY as 2**64-1 (Go's uint64); Python wants -1
    return resource.RLIM_INFINITY if v < 0 or v >= 2**63 else v


def apply(rlimits):
    for rl in rlimits or ():
        try:
            resource.setrlimit(RLIMITS[rl["type"]], (_lim(rl["soft"]), _lim(rl["hard"])))
        except (ValueError, OSError) as e:
            raise OSError(getattr(e, "errno", None) or 22,
                          f"setrlimit {rl['type']} soft={rl['soft']} hard={rl['hard']}: {e}")
