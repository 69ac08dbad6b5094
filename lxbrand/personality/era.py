"""Era emulation: with an emulated release older than the host's, the syscalls that
did not exist in that release fail with ENOSYS, as they would on that kernel, so
programs take their fallback paths (glibc: statx -> fstatat, clone3 -> clone,
faccessat2 -> faccessat; Python: pidfd_open -> waitpid ...).

The first release of each syscall is the `since` column of the one syscall table
(lxbrand/syscalls.py, from lxbrand/data/syscall_since.txt).  The refusal is a
seccomp RET_ERRNO in the kernel: no trap, no cost.
"""
from lxbrand import syscalls

OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)


def hidden(release):
    """Names of the syscalls newer than `release` ("4.4.0-lx", "5.10"), sorted by number.
    Empty if the release cannot be parsed or is not older than anything."""
    rel = syscalls.parse_release(release)
    if rel is None:
        return []
    return [s.name for s in sorted(syscalls.table().values(), key=lambda s: s.nr)
            if s.since and s.since > rel]


def install(policy, release):
    """Deny (ENOSYS) every syscall newer than `release`, unless the policy already
    denies or kills it (the stricter rule stays).  Returns the names hidden."""
    names = [n for n in hidden(release) if policy.action_of(n).action not in ("deny", "kill")]
    if names:
        policy.deny(names, errno="ENOSYS", owner=OWNER,
                    comment=f"personality era: not in Linux {release} (syscalls.py since column)")
    return names


def main(argv=None):
    """python -m lxbrand.personality.era RELEASE: the syscalls that release lacks."""
    import sys
    from lxbrand import syscalls as sc
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or sc.parse_release(args[0]) is None:
        print("usage: python -m lxbrand.personality.era RELEASE   (e.g. 4.4.0)", file=sys.stderr)
        return 2
    table = sc.table()
    for name in hidden(args[0]):
        print(f"{table[name].nr:4} {name:28} {'.'.join(map(str, table[name].since))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
