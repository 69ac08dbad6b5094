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

examples:
  lxrun -- uname -a
  lxrun --kernel-release 4.4.0-lx -- uname -r
  lxrun --policy trace-all --summary -- python3 -c 'print(1)'
  lxrun --policy strict --trace=trace.log -- ./untrusted
"""


def build_parser():
    p = argparse.ArgumentParser(prog="lxrun", description="Run a program under an lxbrand syscall policy.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", default="default", metavar="FILE|NAME",
                   help="policy TOML file, or a built-in profile: default, strict, trace-all (default: default)")
    p.add_argument("--backend", choices=("unotify", "ptrace"), default="unotify",
                   help="how trapped syscalls reach the supervisor (default: unotify)")
    p.add_argument("--kernel-release", metavar="R", help="emulated uname release (uname -r)")
    p.add_argument("--kernel-version", metavar="V", help="emulated uname version (uname -v)")
    p.add_argument("--machine", metavar="M", help="emulated uname machine (uname -m)")
    p.add_argument("--nodename", metavar="N", help="emulated uname nodename (uname -n)")
    p.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                   help="print one line per trapped syscall to FILE (default: stderr)")
    p.add_argument("--summary", action="store_true", help="print a per-syscall table at exit (like strace -c)")
    p.add_argument("--json", action="store_true", help="trace lines and summary as JSON lines")
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
    if not cmd:
        raise LaunchError("no program given (usage: lxrun [options] -- PROGRAM [ARGS...])", 2)

    policy = pol.load_policy(args.policy)
    policy.set_identity(release=args.kernel_release, version=args.kernel_version,
                        machine=args.machine, nodename=args.nodename)

    tracer = None
    out = None
    if args.trace or args.summary:
        from lxbrand.trace import Tracer  # only when asked: it loads python-ptrace's prototypes
        if args.trace and args.trace != "-":
            try:
                out = open(args.trace, "w", encoding="utf-8")
            except OSError as e:
                raise LaunchError(f"--trace {args.trace}: {e.strerror}", 2) from None
        trace_out = (out or sys.stderr) if args.trace else None
        tracer = Tracer(trace_out, as_json=args.json, summary=args.summary, summary_out=out or sys.stderr)
    try:
        status = Sandbox(policy, backend=args.backend, tracer=tracer).run(cmd)
    finally:
        if out is not None:
            out.close()
    status.exit()


if __name__ == "__main__":
    sys.exit(main())
