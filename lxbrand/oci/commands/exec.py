"""lxbrand exec [--process F | flags] [--detach] [--pid-file P] [--tty --console-socket S]
ID [COMMAND ARGS...]: run a new process in a running container, with a supervisor of its own
beside it (supervisor.py).  The pid-file names the process; with --detach (as containerd's
shim calls it) the shim, a subreaper, becomes its parent when we exit."""
import argparse
import os

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")
    # everything after the id is the command, options included (runc stops parsing there)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.add_argument("-p", "--process", default=None)
    p.add_argument("--console-socket", default=None)
    p.add_argument("--pidfd-socket", default=None)
    p.add_argument("--cwd", default=None)
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-u", "--user", default=None, help="UID[:GID]")
    p.add_argument("-g", "--additional-gids", action="append", default=[])
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--pid-file", default=None)
    p.add_argument("--process-label", default=None)
    p.add_argument("--apparmor", default=None)
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("-c", "--cap", action="append", default=[])
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("--cgroup", action="append", default=[])
    p.add_argument("--ignore-paused", action="store_true")


def _process_from_flags(args, spec):
    if not args.command:
        raise OCIError("exec: no command given (and no --process file)")
    base = dict(spec.get("process") or {})
    proc = {"args": list(args.command), "env": list(base.get("env") or []) + args.env,
            "cwd": args.cwd or base.get("cwd") or "/", "terminal": args.tty,
            "capabilities": base.get("capabilities"),
            "noNewPrivileges": args.no_new_privs or base.get("noNewPrivileges", False)}
    user = dict(base.get("user") or {})
    if args.user:
        uid, _, gid = args.user.partition(":")
        user = {"uid": int(uid), "gid": int(gid or 0)}
    if args.additional_gids:
        user["additionalGids"] = [int(x) for x in args.additional_gids]
    proc["user"] = user
    return proc


def run(args, g):
    import json

    from lxbrand.oci import config, supervisor
    from lxbrand.oci.commands.create import Reports, write_pid_file
    from lxbrand.oci.init import ExecInit
    from lxbrand.oci.state import Container
    c = Container.load(g.root, args.id)
    st = c.status()
    if st != "running" and not (st == "paused" and args.ignore_paused):
        raise OCIError(f"cannot exec in container {args.id!r}: it is {st}")
    try:
        with open(os.path.join(c.data["bundle"], "config.json"), "rb") as f:
            spec = json.loads(f.read())
    except (OSError, ValueError, KeyError):
        spec = {}
    proc = config.load_process(args.process) if args.process else _process_from_flags(args, spec)
    lx = c.data.get("lxbrand", {})
    init_pid = lx["init_pid"]
    sock = None
    if proc.get("terminal"):
        if not args.console_socket:
            raise OCIError("exec: process.terminal is true but no --console-socket was given")
        from lxbrand.oci import console
        sock = console.connect(args.console_socket)  # the child sends the pty master
    opts = {"policy": lx.get("policy") or g.policy, "backend": lx.get("backend") or g.backend,
            "preserve_fds": args.preserve_fds,
            "trace": lx.get("trace") or g.trace, "trace_dir": lx.get("trace_dir") or g.trace_dir,
            "trace_max_size": g.trace_max_size, "trace_keep": g.trace_keep, "events": g.events}
    policy, backend, trace = supervisor.engine_options(spec.get("annotations"), opts)
    sb = supervisor.make_sandbox(
        policy, backend,
        supervisor.trace_path(opts, args.id, f".exec-{os.getpid()}") if trace else None, spec, opts)
    eng = sb.compile()
    pipes = supervisor.Pipes()
    init = ExecInit(proc, spec, init_pid, pipes.end("report", 1), sock)
    init.pass_fds = supervisor.preserved(opts)
    init.debug = g.debug
    if not args.detach:
        # the process is our child and we wait for it; its children, orphaned, come to us too
        from lxbrand.oci import syscalls as sc
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    pid = sup_pid = None
    try:
        pid = supervisor.exec_in_container(proc, spec, init_pid, lx.get("cgroups") or {}, pipes,
                                           eng, init)
        if sock is not None:
            os.close(sock)
            sock = None
        for end in supervisor.PROCESS_ENDS:
            pipes.close(*end)
        sup_pid = supervisor.start_supervisor(sb, eng, pid, pipes, args.id, g.log, g.log_format)
        for end in supervisor.SUPERVISOR_ENDS:
            pipes.close(*end)
        Reports(pipes.end("report", 0)).wait("ready")
        try:
            os.write(pipes.end("ctl", 1), b"c")
        except OSError:
            raise OCIError("exec: the process's supervisor exited during setup") from None
    except BaseException:
        if sock is not None:
            os.close(sock)
        pipes.close_all()
        supervisor.kill_and_reap(pid)
        supervisor.kill_and_reap(sup_pid)
        raise
    finally:
        pipes.close_all()
    if args.pid_file:
        write_pid_file(args.pid_file, pid)
    if args.detach:
        return 0
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
