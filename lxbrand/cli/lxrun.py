"""lxrun: run one program tree under a syscall policy.

    lxrun [options] -- PROGRAM [ARGS...]

The CLI parses and reports; lxbrand.engine does the work.
"""
import argparse
import os
import sys

EPILOG = """\
exit status: the program's own; if a signal killed it, lxrun dies by the same
signal. 126: the program cannot be executed (e.g. not an x86_64 ELF);
127: not found; 2: bad usage or bad policy.

background processes: lxrun returns once every process of the program's tree
has ended (like strace -f; natively `sh -c 'sleep 9 & echo'` returns at once),
or with --wait first once its first process has, killing the rest (like
docker run when the container's init exits).
ending: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT reach the program; once its first
process has ended, lxrun lists every process it left and what each is blocked
in, and kills them; a second such signal sent by a process (not Ctrl-C) while
the first process runs on kills every task at once.  `kill -s RTMIN+7 <lxrun's
pid>` lists the tasks and what each is blocked in, changing nothing.

examples:
  lxrun -- uname -a
  lxrun --kernel-release 4.4.0-lx -- uname -r
  lxrun --memory 256M --cpus 1 -- sh -c 'free -m; nproc'
  lxrun --fake-root -- sh -c 'touch f; chown 7:7 f; ls -ln f'
  lxrun --file /etc/os-release=./os-release -- cat /etc/os-release
  lxrun --policy trace-all --summary -- python3 -c 'print(1)'
  lxrun --policy strict --trace=trace.log -- ./untrusted
  lxrun --explain --policy strict --memory 256M
"""


def build_parser():
    p = argparse.ArgumentParser(prog="lxrun", description="Run a program under an lxbrand syscall policy.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", default="default", metavar="FILE|NAME",
                   help="policy TOML file, or a built-in profile: default, strict, trace-all (default: default)")
    p.add_argument("--backend", choices=("unotify", "ptrace"), default="unotify",
                   help="how trapped syscalls reach the supervisor (default: unotify)")
    p.add_argument("--kernel-release", metavar="R",
                   help="emulated kernel release: uname -r, /proc/version, /proc/sys/kernel/osrelease; "
                        "syscalls newer than R fail with ENOSYS (see --no-era)")
    p.add_argument("--kernel-version", metavar="V",
                   help="emulated kernel version: uname -v, /proc/version, /proc/sys/kernel/version")
    p.add_argument("--machine", metavar="M", help="emulated uname machine (uname -m)")
    p.add_argument("--nodename", "--hostname", dest="nodename", metavar="N",
                   help="emulated hostname: uname -n and /proc/sys/kernel/hostname")
    g = p.add_argument_group("personality (see DIVERGENCE.md, \"Personality\")")
    g.add_argument("--memory", metavar="SIZE",
                   help="memory the program sees (/proc/meminfo, free, sysinfo), e.g. 256M; shown, not enforced")
    g.add_argument("--cpus", metavar="N",
                   help="CPUs the program sees (nproc, /proc/cpuinfo, /sys/devices/system/cpu/online, affinity)")
    g.add_argument("--fake-root", action="store_true",
                   help="the program sees uid/gid 0; chown is recorded and shown by stat, never performed")
    g.add_argument("--file", action="append", default=[], metavar="GUEST=HOST",
                   help="serve the guest path GUEST from the host file HOST (repeatable)")
    g.add_argument("--no-era", action="store_true",
                   help="with --kernel-release, keep syscalls newer than that release (default: ENOSYS)")
    p.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                   help="print one line per trapped syscall to FILE (default: stderr)")
    p.add_argument("--trace-max-size", metavar="SIZE",
                   help="with --trace=FILE: once FILE would grow past SIZE (e.g. 64M) it becomes FILE.1 "
                        "(FILE.1 becomes FILE.2, ...) and FILE starts anew (default: no limit)")
    p.add_argument("--trace-keep", type=int, default=3, metavar="N",
                   help="rotated trace files kept, FILE.1 .. FILE.N (default 3)")
    p.add_argument("-s", "--string-size", type=int, default=32, metavar="N",
                   help="bytes of a string or buffer shown in trace lines (strace -s; default 32)")
    p.add_argument("--summary", action="store_true", help="print a per-syscall table at exit (like strace -c)")
    p.add_argument("--wait", choices=("all", "first"), default="all",
                   help="return once every process of the tree has ended (all, the default: like strace -f), "
                        "or once the first has, killing what it left running (first: like docker run)")
    p.add_argument("--events", action="store_true",
                   help="report execs, connects/binds and denied syscalls to `lxbrand events --pid` "
                        "(each such call then traps)")
    p.add_argument("--json", action="store_true", help="trace lines and summary as JSON lines (with --explain: "
                                                       "the report as one JSON document)")
    p.add_argument("--explain", action="store_true",
                   help="print what happens to each syscall the policy (with the personality options) does not "
                        "simply allow, who decides it and why; no program is run")
    p.add_argument("--list-profiles", action="store_true", help="list the built-in profiles and exit")
    p.add_argument("--version", action="version", version="lxrun (lxbrand) " + _version())
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- PROGRAM [ARGS...]")
    return p


def _version():
    from lxbrand import __version__
    return __version__


def main(argv=None):
    args = build_parser().parse_args(argv)
    from lxbrand.errors import LxError
    try:
        return run(args)
    except LxError as e:
        print(f"lxrun: {e}", file=sys.stderr)
        return e.exit_code


def personality_from_args(args):
    """The personality options of the command line as one Personality."""
    from lxbrand.errors import PolicyError
    from lxbrand.personality import Personality
    files = {}
    for spec in args.file:
        guest, sep, host = spec.partition("=")
        if not sep or not guest or not host:
            raise PolicyError("command line", "--file", f"expected GUEST=HOST, got {spec!r}")
        files[guest] = host
    try:
        return Personality(release=args.kernel_release, version=args.kernel_version, machine=args.machine,
                           hostname=args.nodename, memory=args.memory, cpus=args.cpus,
                           fake_root=args.fake_root or None, files=files,
                           era=False if args.no_era else None, source="command line")
    except PolicyError as e:
        flag = {"release": "--kernel-release", "version": "--kernel-version", "hostname": "--hostname"}
        key = e.key.split(".")[0] if e.key else None
        raise PolicyError("command line", flag.get(key, f"--{key}".replace("_", "-")) if key else None,
                          e.problem) from None


def trace_options(args):
    """The trace file's size cap in bytes (or None), the options checked."""
    from lxbrand.errors import PolicyError
    from lxbrand.personality.resources import parse_size
    if not 1 <= args.string_size <= 4096:
        raise PolicyError("command line", "--string-size", f"expected 1..4096, got {args.string_size}")
    if args.trace_keep < 0:
        raise PolicyError("command line", "--trace-keep", f"expected 0 or more, got {args.trace_keep}")
    if args.trace_max_size is None:
        return None
    try:
        return parse_size(args.trace_max_size, minimum=4096, what="--trace-max-size")
    except ValueError as e:
        raise PolicyError("command line", "--trace-max-size", str(e)) from None


def run(args):
    from lxbrand import policy as pol
    from lxbrand.engine import Sandbox
    from lxbrand.errors import LaunchError

    if args.list_profiles:
        for name in pol.builtin_profiles():
            p = pol.load_policy(name)
            print(f"{name:10} {p.description}")
        return 0
    cmd = args.command
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if args.explain and cmd:
        raise LaunchError("--explain runs no program (usage: lxrun --explain [--policy P] [options])", 2)
    if not cmd and not args.explain:
        raise LaunchError("no program given (usage: lxrun [options] -- PROGRAM [ARGS...])", 2)

    policy = pol.load_policy(args.policy)
    personality = personality_from_args(args)
    if not personality.is_empty():
        personality.apply(policy)
    if args.explain:
        from lxbrand import explain
        if args.json:
            explain.dump_json(policy, args.backend)
        else:
            sys.stdout.write(explain.text(policy, args.backend))
        return 0
    if args.backend != "ptrace" and getattr(policy, "personality", None) is not None and policy.personality.remap:
        raise LaunchError("policy: personality.remap needs --backend ptrace (a rewrite needs the registers)", 2)

    cache = os.environ.pop("LXRUN_CACHE_FILE", None)  # set by the C front end (lxbrand.fastpath)
    if cache:
        from lxbrand.fastpath import write_blob
        write_blob(policy, cache, args.backend)

    tracer = None
    out = None
    if args.trace or args.summary:
        from lxbrand.trace import RotatingFile, Tracer  # only when asked: it loads python-ptrace's prototypes
        cap = trace_options(args)
        if args.trace and args.trace != "-":
            try:
                out = RotatingFile(args.trace, cap, args.trace_keep)
            except OSError as e:
                raise LaunchError(f"--trace {args.trace}: {e.strerror}", 2) from None
        trace_out = (out or sys.stderr) if args.trace else None
        tracer = Tracer(trace_out, as_json=args.json, summary=args.summary, summary_out=out or sys.stderr,
                        strsize=args.string_size)
    try:
        status = Sandbox(policy, backend=args.backend, tracer=tracer, events=args.events,
                         wait=args.wait).run(cmd)
    finally:
        if out is not None:
            out.close()
    status.exit()


if __name__ == "__main__":
    sys.exit(main())
