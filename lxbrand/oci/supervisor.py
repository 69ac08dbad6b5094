"""The container's processes and the supervisor beside them: runc's process model.

    shim ─ lxbrand create ─┬─ builder (fork): setsid, net/uts/ipc (and user) namespaces,
                           │    unshare(CLONE_NEWPID), fork ─► init, report its pid, exit
                           │      init: pid 1 of the container (init.py builds the rootfs,
                           │      waits on exec.fifo, installs the filter, execs); reparented
                           │      to the shim when the builder exits: the pid-file names it,
                           │      the shim reaps it and sees its exact exit status and signal
                           └─ supervisor (fork): seizes init at once (ptrace EXITKILL: the
                                whole tree dies if the supervisor dies), takes the listener,
                                answers traps; exits once no process of the tree is left.
                                `lxbrand-sup` (C, csrc/launcher/lxsup.c) from the compiled
                                policy, or this Python process when the policy needs it
                                (Python handlers, recording).

`docker exec` has the same shape (exec.py): the exec process is forked inside the
container's namespaces by the runtime, whose exit hands it to the shim; a supervisor is
started beside it.  Signals sent to the pid-file's pid reach the container's process
directly, under the kernel's rules for a pid namespace's init, as with runc.  The
supervisor stays in the runtime's cgroup, not the container's (DIVERGENCE.md says why).
"""
import os
import shutil
import signal
import sysconfig

from . import cgroups, namespaces
from . import syscalls as sc
from .errors import OCIError
from .init import home_of, lookup, report

POLICY_ANNOTATION = "org.lxbrand.policy"
BACKEND_ANNOTATION = "org.lxbrand.backend"
TRACE_ANNOTATION = "org.lxbrand.trace"
EVENTS_ANNOTATION = "org.lxbrand.events"
PERSONALITY_ANNOTATION = "org.lxbrand.personality"
DEFAULT_TRACE_DIR = "/var/log/lxbrand"
SUP_ENV = "LXBRAND_SUP"


def engine_options(annotations, defaults):
    """(policy name/path, backend, trace?): the container's annotations win over runtime
    args (--policy, --backend, --trace in daemon.json's runtimeArgs)."""
    ann = annotations or {}
    policy = ann.get(POLICY_ANNOTATION) or defaults.get("policy") or "default"
    backend = ann.get(BACKEND_ANNOTATION) or defaults.get("backend") or "unotify"
    trace = ann.get(TRACE_ANNOTATION)
    trace = defaults.get("trace", False) if trace is None else trace.lower() in ("1", "true",
                                                                                 "yes", "on")
    return policy, backend, trace


def events_on(annotations, defaults):
    """Does the container report execs, connects/binds and syscall-rule denials (csrc/events.h)?
    The annotation org.lxbrand.events wins over the runtime's --events."""
    v = (annotations or {}).get(EVENTS_ANNOTATION)
    return bool(defaults.get("events")) if v is None else v.lower() in ("1", "true", "yes", "on")


def trace_path(opts, cid, suffix=""):
    """Where a container's trace goes: <--trace-dir>/<id><suffix>.trace (read it after the
    run: it holds strace-like lines of the trapped syscalls, then the summary table)."""
    d = opts.get("trace_dir") or DEFAULT_TRACE_DIR
    os.makedirs(d, mode=0o700, exist_ok=True)
    return os.path.join(d, f"{cid}{suffix}.trace")


def container_personality(spec):
    """The LX personality this container gets (lxbrand.personality), or None.

    On when config.json gives the container limits to show (memory, CPU quota or
    cpuset) or asks for an emulation by annotation (org.lxbrand.kernel-release,
    org.lxbrand.fake-root); org.lxbrand.personality=false turns it off.  The
    hostname is left out when the container has its own UTS namespace: the kernel
    already shows it there, and emulating it would trap every open for nothing."""
    ann = spec.get("annotations") or {}
    if (ann.get(PERSONALITY_ANNOTATION) or "").lower() in ("0", "false", "no", "off"):
        return None
    from lxbrand.personality import Personality
    p = Personality.from_oci(spec)
    if "uts" in namespaces.wanted(spec):
        p.hostname = None
    return None if p.is_empty() else p


DEFAULT_TRACE_MAX = "64M"
DEFAULT_TRACE_KEEP = 3


def make_sandbox(policy_name, backend, trace_file=None, spec=None, opts=None):
    """The Sandbox of a container process.  With trace_file, its trace goes there, capped
    by opts' trace_max_size (rotated into trace_file.1 .. .trace_keep: lxbrand.trace)."""
    from lxbrand.engine import Sandbox
    from lxbrand.policy import load_policy
    tracer = None
    if trace_file:
        from lxbrand.personality.resources import parse_size
        from lxbrand.trace import RotatingFile, Tracer
        opts = opts or {}
        try:
            cap = parse_size(opts.get("trace_max_size") or DEFAULT_TRACE_MAX, minimum=4096,
                             what="--trace-max-size")
        except ValueError as e:
            raise OCIError(f"--trace-max-size: {e}") from None
        keep = opts.get("trace_keep")
        if keep is not None and keep < 0:
            raise OCIError(f"--trace-keep: expected 0 or more, got {keep}")
        out = RotatingFile(trace_file, cap, DEFAULT_TRACE_KEEP if keep is None else keep)
        tracer = Tracer(out, summary=True, summary_out=out)
    policy = load_policy(policy_name)
    personality = container_personality(spec) if spec is not None else None
    if personality is not None:
        personality.apply(policy)
    events = events_on((spec or {}).get("annotations"), opts or {})
    return Sandbox(policy, backend=backend, tracer=tracer, events=events)


def sup_binary():
    """The C supervisor (csrc/launcher/lxsup.c): $LXBRAND_SUP, else the one beside the
    runtime we were started as (`lxbrand install` puts lxbrand-sup beside
    lxbrand-runtime.py, as the C front end finds it: one build for both paths), else the
    one beside the console scripts."""
    import sys
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0] or ".")), "lxbrand-sup")
    cand = os.environ.get(SUP_ENV) or (beside if os.access(beside, os.X_OK) else
                                       os.path.join(sysconfig.get_path("scripts"), "lxbrand-sup"))
    if not os.access(cand, os.X_OK):
        cand = shutil.which("lxbrand-sup") or cand
    if not os.access(cand, os.X_OK):
        raise OCIError(f"the C supervisor {cand} is missing: build lxbrand (pip install -e .) or "
                       f"set {SUP_ENV}")
    return cand


class Pipes:
    """The handshake between the runtime (create/exec), the container's process and its
    supervisor.  All O_CLOEXEC; each process closes the ends it does not use, so that a
    process that dies is seen as an EOF by the others:

        report   process -> runtime   JSON lines: init_pid, userns, ready, error
        ready    process -> supervisor  one byte: about to install the filter
        go       supervisor -> process  one byte: armed (a closed pipe: give up)
        ctl      runtime -> supervisor  b"c" once committed; EOF without it: kill the tree
        gate     runtime -> process   one byte once the runtime's hooks ran (or None)
    """
    NAMES = ("report", "ready", "go", "ctl", "gate")

    def __init__(self, gate=False):
        self.fds = {}
        for name in self.NAMES:
            if name == "gate" and not gate:
                continue
            self.fds[name] = os.pipe2(os.O_CLOEXEC)

    def end(self, name, side):
        """The read (0) or write (1) end of pipe `name`, or None."""
        p = self.fds.get(name)
        return None if p is None else p[side]

    def keep(self, *ends):
        """Close every end but (name, side) pairs in `ends`."""
        for name, pair in self.fds.items():
            for side in (0, 1):
                if (name, side) not in ends and pair[side] is not None:
                    _close_quiet(pair[side])
        self.fds = {n: tuple(fd if (n, s) in ends else None for s, fd in enumerate(p))
                    for n, p in self.fds.items()}

    def close(self, name, side):
        p = self.fds.get(name)
        if p is not None and p[side] is not None:
            _close_quiet(p[side])
            self.fds[name] = tuple(None if s == side else fd for s, fd in enumerate(p))

    def close_all(self):
        self.keep()


# The ends each process keeps.
PROCESS_ENDS = (("report", 1), ("ready", 1), ("go", 0), ("gate", 0))
SUPERVISOR_ENDS = (("ready", 0), ("go", 1), ("ctl", 0))
RUNTIME_ENDS = (("report", 0), ("ctl", 1), ("gate", 1))


def run_builder(spec, rootfs_path, cg_paths, pipes, eng, argv, path, env, init, maps_fd=None):
    """Body of the builder, forked by `create`; never returns.  Makes the namespaces the
    runtime's process must not enter, forks init into a new pid namespace, reports its
    pid and exits, so that init is reparented to the shim (the nearest subreaper)."""
    from lxbrand.engine import child_main
    report_fd = pipes.end("report", 1)
    code = 1
    try:
        pipes.keep(*PROCESS_ENDS)
        os.setsid()
        if namespaces.wanted(spec).get("user", False) is None:
            # a new user namespace and the namespaces it must own, made by a helper; the
            # builder (and so init until it builds the rootfs) stays in the host's
            namespaces.make_user_namespaces(
                spec, lambda pid: report(report_fd, userns=pid), maps_fd)
        if maps_fd is not None:
            os.close(maps_fd)
        namespaces.enter(spec, namespaces.SUPERVISOR_TYPES)
        if "uts" in namespaces.wanted(spec):
            if spec.get("hostname"):
                sc.sethostname(spec["hostname"])
            if spec.get("domainname"):
                sc.setdomainname(spec["domainname"])
        namespaces.write_sysctls((spec.get("linux") or {}).get("sysctl"))
        if cg_paths:
            cgroups.attach(cg_paths)  # init inherits them; the runtime's hooks run outside
        namespaces.enter(spec, namespaces.PID_TYPES)
        pid = os.fork()
        if pid == 0:
            init.gate_fd = pipes.end("gate", 0)
            child_main(eng, argv, path, env, pipes.end("ready", 1), pipes.end("go", 0),
                       2, preexec_fn=init, pass_fds=init.pass_fds,
                       no_new_privs=init.no_new_privs, post_filter_fn=init.post_filter,
                       err_prefix=b"lxbrand: ", pdeathsig=False)
        report(report_fd, init_pid=pid)
        code = 0
    except BaseException as e:  # noqa: B902 -- report, never unwind into create's code
        report(report_fd, error=describe(e, init.debug))
        code = getattr(e, "exit_code", 1)
    os._exit(code)


def start_supervisor(sb, eng, pid, pipes, cid, log=None, log_format="text", blob_bytes=None):
    """Fork the supervisor of process `pid` (seized at once).  Returns the supervisor's
    pid.  The C supervisor gets the compiled policy (blob_bytes, or eng's) as a sealed
    memfd; a policy that needs Python is supervised by this (forked) Python process."""
    blob = None
    exe = None
    if not eng.needs_python:
        exe = sup_binary()
        blob = _sealed_memfd(f"lxbrand-policy-{cid}",
                             blob_bytes or eng.sup.export_blob(eng.uts_mask))
    backend = "ptrace" if sb.backend == "ptrace" else "unotify"
    sup_pid = os.fork()
    if sup_pid == 0:
        try:
            pipes.keep(*SUPERVISOR_ENDS)
            os.setsid()
            _null_stdio()
            ready_r, go_w, ctl_r = pipes.end("ready", 0), pipes.end("go", 1), pipes.end("ctl", 0)
            if exe is not None:
                keep = (ready_r, go_w, ctl_r, blob)
                for fd in keep:
                    os.set_inheritable(fd, True)
                from lxbrand.engine import _close_others
                _close_others({0, 1, 2, *keep})
                args = [exe, "--id", cid, "--pid", str(pid), "--backend", backend,
                        "--blob", str(blob), "--ready", str(ready_r), "--go", str(go_w),
                        "--ctl", str(ctl_r)]
                if log:
                    args += ["--log", log, "--log-format", log_format]
                os.execv(exe, args)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            sb.supervise_attached(eng, pid, ready_r, go_w, ctl_r)
            os._exit(0)
        except BaseException:  # noqa: B902 -- never unwind into the runtime's code
            os._exit(1)
    if blob is not None:
        os.close(blob)
    return sup_pid


def exec_in_container(proc, spec, init_pid, cg_paths, pipes, eng, init):
    """Fork `docker exec`'s process inside the container's pid namespace (the rest of
    joining is init.ExecInit's job, in the child).  Returns its pid: our child until we
    exit, the shim's after."""
    from lxbrand.engine import child_main
    argv = list(proc["args"])
    path = lookup(f"/proc/{init_pid}/root", argv[0], proc.get("env"))
    env = _env_dict(proc.get("env"))
    if "HOME" not in env:
        env["HOME"] = home_of((proc.get("user") or {}).get("uid", 0), f"/proc/{init_pid}/root")
    restore = _PidnsRestore()
    namespaces.join_pid(init_pid, ("pid",))
    try:
        pid = os.fork()
        if pid == 0:
            try:
                pipes.keep(*PROCESS_ENDS)
                if cg_paths:
                    try:
                        cgroups.attach(cg_paths)
                    except Exception:  # noqa: BLE001 -- a cgroup removed under us must not stop exec
                        pass
            except BaseException as e:  # noqa: B902
                report(pipes.end("report", 1), error=describe(e, init.debug))
                os._exit(1)
            init.exe = path
            child_main(eng, argv, path, env, pipes.end("ready", 1), pipes.end("go", 0), 2,
                       preexec_fn=init, pass_fds=init.pass_fds, no_new_privs=init.no_new_privs,
                       post_filter_fn=init.post_filter, err_prefix=b"lxbrand: ", pdeathsig=False)
    finally:
        restore()
    return pid


def write_exec_files(directory, spec, eng, blob_bytes):
    """What the runtime's C exec needs (csrc/runtime/exec.c) beside state.json: the
    supervisor's compiled policy, the engine's filter and the container's own seccomp
    profile compiled.  Only for a policy a C supervisor can run."""
    from .seccomp import Filter
    from .state import write_atomic
    profile = (spec.get("linux") or {}).get("seccomp")
    if profile:
        f = Filter(profile)
        try:
            write_atomic(os.path.join(directory, "seccomp.bpf"), f.export_bpf())
        finally:
            f.release()
    write_atomic(os.path.join(directory, "filter.bpf"), eng.prog)
    write_atomic(os.path.join(directory, "policy.blob"), blob_bytes)


def init_argv(spec, rootfs_path):
    """(argv, path, env) of the container's process: args[0] resolved in the image (the
    engine execs a path), HOME from the image's /etc/passwd as runc does."""
    proc = spec["process"]
    argv = list(proc["args"])
    mounted = {m["destination"] for m in spec.get("mounts") or ()}
    path = lookup(rootfs_path, argv[0], proc.get("env"), mounted)
    env = _env_dict(proc.get("env"))
    if "HOME" not in env:
        env["HOME"] = home_of((proc.get("user") or {}).get("uid", 0), rootfs_path)
    return argv, path, env


class _PidnsRestore:
    """Undo setns(CLONE_NEWPID) for our own future children once the process is forked.

    While a process's pid namespace for children differs from its own, clone(CLONE_THREAD)
    fails with EINVAL (pid_namespaces(7)).  setns() back to our own pid namespace is always
    allowed."""

    def __init__(self):
        self.fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def __call__(self):
        if self.fd is not None:
            sc.setns(self.fd, sc.CLONE_NEWPID)
            os.close(self.fd)
            self.fd = None


def describe(e, debug=False):
    msg = str(e) if isinstance(e, OCIError) else f"{type(e).__name__}: {e}"
    if debug:
        import traceback
        msg += "\n" + "".join(traceback.format_exception(e))
    return msg


def preserved(opts):
    """--preserve-fds N: fds 3 .. 3+N-1 of create/exec stay open in the process."""
    return tuple(range(3, 3 + max(0, int(opts.get("preserve_fds") or 0))))


def _env_dict(env):
    return dict(e.split("=", 1) for e in env or ())


def _null_stdio():
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def _sealed_memfd(name, data):
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    import fcntl
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                | fcntl.F_SEAL_WRITE)
    return fd


def _close_quiet(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def kill_and_reap(pid, sig=signal.SIGKILL, reap=True):
    """Kill pid; reap it if it is our child."""
    if not pid:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if reap:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
