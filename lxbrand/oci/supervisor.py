"""The supervisor: the long-lived process that `create` (and `exec`) fork, that the pid-file
names, and that runs the container's init under the lxbrand engine.

    shim ─ lxbrand create ─┐ fork, create exits: the supervisor is reparented to the shim
                           └ supervisor (setsid; joins cgroups, net/uts/ipc/pid namespaces)
                               └ Sandbox(policy).run(args, preexec_fn=ContainerInit)
                                   └ init (pid 1 of the container), under the engine

The engine forwards the signals the supervisor receives (so `kill ID SIG` reaches init) and
the supervisor exits exactly as init did (status.exit()), which is what the shim reports.
gVisor's runsc has the same shape (its sandbox process stands between shim and program).
"""
import os
import signal

from . import cgroups, hooks, namespaces
from . import syscalls as sc
from .init import ContainerInit, ExecInit, home_of, lookup, report

POLICY_ANNOTATION = "org.lxbrand.policy"
BACKEND_ANNOTATION = "org.lxbrand.backend"
TRACE_ANNOTATION = "org.lxbrand.trace"
PERSONALITY_ANNOTATION = "org.lxbrand.personality"
DEFAULT_TRACE_DIR = "/var/log/lxbrand"


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


def make_sandbox(policy_name, backend, trace_file=None, spec=None):
    from lxbrand.engine import Sandbox
    from lxbrand.policy import load_policy
    tracer = None
    if trace_file:
        # Recording decodes arguments with python-ptrace, whose import runs `ldconfig -p`
        # (ctypes.util.find_library).  Import it now: once the pid namespace is unshared, a
        # child that exits before init is forked kills the namespace (fork: ENOMEM).
        import importlib
        importlib.import_module("ptrace.syscall.prototypes")
        from lxbrand.trace import Tracer
        out = open(trace_file, "w", encoding="utf-8")
        tracer = Tracer(out, summary=True, summary_out=out)
    policy = load_policy(policy_name)
    personality = container_personality(spec) if spec is not None else None
    if personality is not None:
        personality.apply(policy)
    return Sandbox(policy, backend=backend, tracer=tracer)


def _detach_stdio(keep_stdio):
    """The supervisor's own stdio: the container's (inherited by init) or /dev/null."""
    if keep_stdio:
        return
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def run_container(spec, rootfs_path, cg_paths, report_fd, fifo_path, state, opts,
                  console_sock=None, maps_fd=None):
    """Body of the container supervisor (in the child of `create`); never returns."""
    code = 1
    try:
        os.setsid()
        _detach_stdio(console_sock is None)
        if namespaces.wanted(spec).get("user", False) is None:
            # a new user namespace and the namespaces it must own, made by a helper; the
            # supervisor itself stays in the host's user namespace (namespaces.py)
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
        linux = spec.get("linux") or {}
        namespaces.write_sysctls(linux.get("sysctl"))
        proc = spec["process"]
        argv = list(proc["args"])
        # resolved here (the engine needs the path before it forks), checked again by init
        # once the mounts are made and the root is pivoted
        mounted = {m["destination"] for m in spec.get("mounts") or ()}
        path = lookup(rootfs_path, argv[0], proc.get("env"), mounted)
        env = _env_dict(proc.get("env"))
        if "HOME" not in env:  # as runc: from the image's /etc/passwd
            env["HOME"] = home_of((proc.get("user") or {}).get("uid", 0), rootfs_path)
        # Load the engine (~70 ms of imports and policy compilation) while the hooks run:
        # Docker's prestart hook (libnetwork-setkey) takes longer than that.
        policy, backend, trace = engine_options(spec.get("annotations"), opts)
        loader = _SandboxLoader(policy, backend,
                                trace_path(opts, state["id"]) if trace else None, spec)
        st = dict(state, pid=os.getpid(), status="created")  # as runc passes it
        hooks.run("prestart", spec.get("hooks"), st)
        hooks.run("createRuntime", spec.get("hooks"), st)
        sb = loader.get()
        # Join the cgroups only now: hooks (Docker's is a re-exec of dockerd, ~30 MB) must
        # not be charged to, or OOM-killed by, a small --memory limit; runc runs them from
        # outside the container's cgroups too.
        if cg_paths:
            cgroups.attach(cg_paths)
        restore = _PidnsRestore()
        namespaces.enter(spec, namespaces.PID_TYPES)
        init = ContainerInit(spec, rootfs_path, cg_paths, report_fd, fifo_path, console_sock,
                             opts.get("no_pivot", False), state)
        init.exe = path
        init.no_new_keyring = opts.get("no_new_keyring", False)

        def on_spawn(pid):
            restore()
            if console_sock is not None:
                _close_quiet(console_sock)  # the child holds it until the master is sent
            report(report_fd, init_pid=pid)

        # path was resolved inside the container; init gets argv exactly as configured
        status = sb.run(list(argv), executable=path, env=env, cwd=None, preexec_fn=init,
                        pass_fds=_preserved(opts), on_spawn=on_spawn, post_filter_fn=init.post_filter,
                        no_new_privs=bool(proc_of(init).get("noNewPrivileges")))
        _close_quiet(report_fd)
        status.exit()
    except BaseException as e:  # noqa: B902 -- report, never unwind into create's code
        report(report_fd, error=_describe(e, opts))
        code = getattr(e, "exit_code", 1)
    os._exit(code)


def run_exec(proc, spec, init_pid, cg_paths, report_fd, opts, console_sock=None):
    """Body of an exec supervisor; never returns."""
    code = 1
    try:
        os.setsid()
        _detach_stdio(console_sock is None)
        if cg_paths:
            try:
                cgroups.attach(cg_paths)
            except Exception:
                pass  # a cgroup removed under us must not stop `docker exec`
        argv = list(proc["args"])
        path = lookup(f"/proc/{init_pid}/root", argv[0], proc.get("env"))
        policy, backend, trace = engine_options(spec.get("annotations"), opts)
        sb = make_sandbox(policy, backend,
                          trace_path(opts, opts["id"], f".exec-{os.getpid()}") if trace else None, spec)
        restore = _PidnsRestore()
        namespaces.join_pid(init_pid, ("pid",))
        init = ExecInit(proc, spec, init_pid, report_fd, console_sock)
        init.exe = path

        def on_spawn(pid):
            restore()
            if console_sock is not None:
                _close_quiet(console_sock)  # the child holds it until the master is sent
            report(report_fd, init_pid=pid)

        env = _env_dict(proc.get("env"))
        if "HOME" not in env:
            env["HOME"] = home_of((proc.get("user") or {}).get("uid", 0), f"/proc/{init_pid}/root")
        status = sb.run(list(argv), executable=path, env=env, cwd=None, preexec_fn=init,
                        pass_fds=_preserved(opts), on_spawn=on_spawn, post_filter_fn=init.post_filter,
                        no_new_privs=bool(proc_of(init).get("noNewPrivileges")))
        _close_quiet(report_fd)
        status.exit()
    except BaseException as e:  # noqa: B902
        report(report_fd, error=_describe(e, opts))
        code = getattr(e, "exit_code", 1)
    os._exit(code)


class _SandboxLoader:
    """make_sandbox() in a thread, so its imports overlap with the hooks' processes."""

    def __init__(self, policy, backend, trace_file, spec=None):
        import threading
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._load, args=(policy, backend, trace_file, spec),
                                       daemon=True)
        self.thread.start()

    def _load(self, policy, backend, trace_file, spec):
        try:
            self.result = make_sandbox(policy, backend, trace_file, spec)
        except BaseException as e:  # noqa: B902 -- re-raised in get()
            self.error = e

    def get(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result


class _PidnsRestore:
    """Undo unshare/setns(CLONE_NEWPID) for our own future children once init is forked.

    While a process's pid namespace for children differs from its own, clone(CLONE_THREAD)
    fails with EINVAL (pid_namespaces(7)), and the engine starts its notify thread after
    the fork.  setns() back to our own pid namespace is always allowed."""

    def __init__(self):
        self.fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)

    def __call__(self):
        if self.fd is not None:
            sc.setns(self.fd, sc.CLONE_NEWPID)
            os.close(self.fd)
            self.fd = None


def _describe(e, opts):
    from .errors import OCIError
    msg = str(e) if isinstance(e, OCIError) else f"supervisor: {type(e).__name__}: {e}"
    if opts.get("debug"):
        import traceback
        msg += "\n" + "".join(traceback.format_exception(e))
    return msg


def proc_of(init):
    return init.proc if hasattr(init, "proc") else init.spec["process"]


def _preserved(opts):
    """--preserve-fds N: fds 3 .. 3+N-1 of create/exec stay open in the process."""
    return tuple(range(3, 3 + max(0, int(opts.get("preserve_fds") or 0))))


def _env_dict(env):
    return dict(e.split("=", 1) for e in env or ())


def _close_quiet(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def kill_and_reap(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
