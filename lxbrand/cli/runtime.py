"""`lxbrand`: the runc-compatible command line (what Docker/containerd call).

    lxbrand [global options] COMMAND [command options] ARGS

This module only parses and dispatches: the command table maps each verb to a module in
lxbrand.oci.commands (one file per verb, imported only when used, to keep the create/start
path lean), which declares its flags (add_args) and does the work (run).

Global options are runc's, plus the engine's (--policy, --backend: set them per runtime
entry with "runtimeArgs" in /etc/docker/daemon.json).
"""
import argparse
import sys

COMMANDS = {
    # verb: (module, one-line help)
    "create": ("create", "create a container from a bundle (init waits for start)"),
    "start": ("start", "start init of a created container"),
    "state": ("state", "print a container's state as JSON"),
    "kill": ("kill", "send a signal to a container's init (or all its processes)"),
    "delete": ("delete", "delete a stopped container (--force: any)"),
    "exec": ("exec", "run a new process in a running container"),
    "ps": ("ps", "list a container's processes"),
    "list": ("list", "list containers"),
    "features": ("features", "print the features this runtime supports (JSON)"),
    "spec": ("spec", "write a template config.json"),
    "run": ("run", "create and start a container"),
    "pause": ("pause", "freeze every process of a container"),
    "resume": ("resume", "thaw a paused container"),
    "update": ("update", "update a container's cgroup resources"),
    "install": ("install", "register lxbrand with Docker, Podman (--podman) or containerd's CRI (--containerd)"),
    "trace": ("trace", "attach to a running container (or lxrun sandbox) and show its syscalls live"),
    "events": ("events", "a running container's security events as JSON lines (execs, connects, denials)"),
}
VERSION = "0.1.0"
SPEC_VERSION = "1.0.2"


class Parser(argparse.ArgumentParser):
    """argparse that fails like runc: message on stderr, exit status 1 (not argparse's 2)."""

    def error(self, message):
        sys.stderr.write(f"lxbrand: {message}\n")
        sys.exit(1)


def global_parser():
    p = Parser(prog="lxbrand", add_help=True, allow_abbrev=False,
               formatter_class=argparse.RawDescriptionHelpFormatter,
               description="lxbrand OCI runtime: runc-compatible, every container process "
                           "runs under the lxbrand engine",
               epilog="commands:\n" + "\n".join(f"  {v:<10} {h}"
                                                 for v, (_, h) in COMMANDS.items())
               + "\n\n`lxbrand COMMAND --help` for a command's options.")
    p.add_argument("--root", default="/run/lxbrand",
                   help="directory for container state (default /run/lxbrand)")
    p.add_argument("--log", default=None, help="log file for errors (containerd reads it)")
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true",
                   help="cgroupsPath is slice:prefix:name")
    p.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    p.add_argument("--rootless", default=None, help=argparse.SUPPRESS)
    p.add_argument("--policy", default=None,
                   help="engine policy for containers (name or TOML path; default: default)")
    p.add_argument("--backend", default=None, choices=("unotify", "ptrace"),
                   help="engine backend (default unotify)")
    p.add_argument("--trace", action="store_true",
                   help="record each container's trapped syscalls and a summary in --trace-dir")
    p.add_argument("--trace-dir", default=None,
                   help="where traces go: <dir>/<container id>.trace (default /var/log/lxbrand)")
    p.add_argument("--trace-max-size", default=None, metavar="SIZE",
                   help="a trace file that would grow past SIZE becomes <file>.1 (.1 becomes .2, ...) "
                        "and starts anew (default 64M)")
    p.add_argument("--trace-keep", default=None, type=int, metavar="N",
                   help="rotated trace files kept per container process (default 3)")
    p.add_argument("--events", action="store_true",
                   help="containers report execs, connects/binds and denied syscalls to `lxbrand events` "
                        "(each such call then traps)")
    p.add_argument("-v", "--version", action="store_true")
    p.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    g = global_parser().parse_args(argv)
    if g.version:
        print(f"lxbrand version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if not g.command:
        global_parser().print_help()
        return 0
    if g.command not in COMMANDS:
        sys.stderr.write(f"lxbrand: no such command: {g.command}\n")
        return 1
    import importlib
    from lxbrand.oci import log
    from lxbrand.errors import LxError
    from lxbrand.oci.errors import OCIError
    log.configure(g.log, g.log_format, g.debug)
    mod = importlib.import_module(f"lxbrand.oci.commands.{COMMANDS[g.command][0]}")
    p = Parser(prog=f"lxbrand {g.command}", description=COMMANDS[g.command][1],
               allow_abbrev=False)
    mod.add_args(p)
    args = p.parse_args(g.rest)
    try:
        rc = mod.run(args, g)
    except (OCIError, LxError) as e:
        # LxError: the engine's (a bad policy file or annotation, a missing program) -- its
        # message names the input, as an OCIError's does
        log.error(str(e))
        sys.stderr.write(f"lxbrand: {e}\n")
        return 1
    except OSError as e:
        # the state directory (--root) full or read-only, a file that vanished...: say
        # what and where, as containerd shows the user the last error line (commands clean
        # up what they made before the error reaches here)
        where = f" {e.filename}" if e.filename else ""
        msg = f"{g.command}: cannot use{where}: {e.strerror or e}"
        log.error(msg)
        sys.stderr.write(f"lxbrand: {msg}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    sys.stdout.flush()
    return rc or 0


def entry():
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
