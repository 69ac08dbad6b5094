"""lxbrand create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] ID

Builds the container and leaves init blocked on exec.fifo until `start`.  Returns only when
the container is fully created (or failed and was cleaned up): containerd reads the pid-file
(decimal digits, no newline) right after.  It names init, the container's pid 1, already the
shim's child (its parent, the builder, has exited; the shim is a subreaper), as with runc.
The supervisor beside it (supervisor.py) becomes the shim's child too when we exit."""
import json
import os
import signal
import time

from lxbrand.oci.errors import OCIError


def add_args(p):
    p.add_argument("id")
    p.add_argument("-b", "--bundle", default=".")
    p.add_argument("--console-socket", default=None)
    p.add_argument("--pidfd-socket", default=None)
    p.add_argument("--pid-file", default=None)
    p.add_argument("--no-pivot", action="store_true")
    p.add_argument("--no-new-keyring", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)


def write_pid_file(path, pid):
    """Atomically, digits only: containerd parses it with strconv.Atoi."""
    from lxbrand.oci.state import write_atomic
    write_atomic(os.path.abspath(path), str(pid), mode=0o644)


class Reports:
    """The JSON lines the builder and the container's process send on the report pipe:
    {"init_pid": N}, {"userns": N} (waits for its id maps), {"ready": true} or
    {"error": msg}.  Lines read past what one wait needs are kept for the next."""

    def __init__(self, fd, on_userns=None):
        self.fd = fd
        self.on_userns = on_userns
        self.buf = b""
        self.init_pid = None
        self.ready = False

    def wait(self, until):
        """Read until `until` ("init_pid" or "ready") has arrived; raise OCIError with a
        reported error, or when the writers are gone first."""
        while not getattr(self, until):
            while b"\n" not in self.buf:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    raise OCIError("container init exited during setup without saying why"
                                   if self.init_pid else
                                   "the runtime's builder exited during setup without saying why")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "error" in msg:
                raise OCIError(msg["error"])
            if "userns" in msg and self.on_userns is not None:
                self.on_userns(msg["userns"])
            if "init_pid" in msg:
                self.init_pid = msg["init_pid"]
            if msg.get("ready"):
                self.ready = True
        return self.init_pid


def create(g, cid, bundle, pid_file=None, console_socket=None, no_pivot=False,
           preserve_fds=0, no_new_keyring=False):
    """The work of `create`; returns the Container (state saved, status created).

    The order (supervisor.py draws the processes): compile the policy; fork the builder,
    which forks init; start the supervisor beside init; run the prestart and createRuntime
    hooks with init's pid and release init's setup; wait for init to be ready; commit.
    Any failure kills init and the supervisor and removes what was made."""
    from lxbrand.oci import cgroups, config, hooks, namespaces, supervisor
    from lxbrand.oci.init import ContainerInit
    from lxbrand.oci.state import Container, proc_start_time
    spec, rootfs = config.load_bundle(bundle)
    namespaces.check_supported(spec)
    proc = spec["process"]
    if proc.get("terminal") and not console_socket:
        raise OCIError("process.terminal is true but no --console-socket was given")
    c = Container.new(g.root, cid)
    builder = sup_pid = init_pid = None
    cg_paths = {}
    sock = None
    pipes = None
    maps_r = maps_w = None
    try:
        # 0622 as runc: init may have joined a user namespace by the time it opens it
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)  # mkfifo obeys the umask
        linux = spec.get("linux") or {}
        hook_specs = spec.get("hooks") or {}
        cg_paths = cgroups.resolve(linux.get("cgroupsPath"), cid, g.systemd_cgroup)
        c.data = {
            "id": cid, "status": "creating", "bundle": os.path.abspath(bundle),
            "rootfs": rootfs,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "annotations": spec.get("annotations") or {},
            "lxbrand": {"cgroups": cg_paths, "hooks": hook_specs,
                        "policy": g.policy, "backend": g.backend, "trace": g.trace,
                        "trace_dir": g.trace_dir},
        }
        if "mount" not in namespaces.wanted(spec):
            # the container's mounts land in our namespace: `delete` detaches them
            from lxbrand.oci import rootfs as rootfs_mod
            c.data["lxbrand"]["host_mounts"] = [rootfs, rootfs_mod.host_mount_depth(rootfs)]
        c.save()
        cgroups.create(cg_paths, linux.get("resources"))
        opts = {"policy": g.policy, "backend": g.backend, "trace": g.trace,
                "trace_dir": g.trace_dir, "preserve_fds": preserve_fds,
                "trace_max_size": g.trace_max_size, "trace_keep": g.trace_keep, "events": g.events}
        policy, backend, trace = supervisor.engine_options(spec.get("annotations"), opts)
        sb = supervisor.make_sandbox(policy, backend,
                                     supervisor.trace_path(opts, cid) if trace else None, spec, opts)
        eng = sb.compile()
        argv, path, env = supervisor.init_argv(spec, rootfs)
        state = {"ociVersion": "1.0.2", "id": cid, "bundle": c.data["bundle"],
                 "annotations": c.data["annotations"]}
        if proc.get("terminal"):
            from lxbrand.oci import console
            sock = console.connect(console_socket)  # init sends the pty master through it
        runtime_hooks = bool(hook_specs.get("prestart") or hook_specs.get("createRuntime"))
        pipes = supervisor.Pipes(gate=runtime_hooks)
        if (namespaces.wanted(spec).get("user", False)) is None:
            maps_r, maps_w = os.pipe2(os.O_CLOEXEC)  # create -> builder: maps written
        init = ContainerInit(spec, rootfs, cg_paths, pipes.end("report", 1), c.fifo, sock,
                             no_pivot, state)
        init.exe = path
        init.no_new_keyring = no_new_keyring
        init.pass_fds = supervisor.preserved(opts)
        init.debug = g.debug
        builder = os.fork()
        if builder == 0:
            if maps_w is not None:
                os.close(maps_w)
            supervisor.run_builder(spec, rootfs, cg_paths, pipes, eng, argv, path, env, init,
                                   maps_fd=maps_r)
            os._exit(1)  # not reached
        if sock is not None:
            os.close(sock)
            sock = None
        if maps_r is not None:
            os.close(maps_r)
            maps_r = None
        for end in supervisor.PROCESS_ENDS:
            pipes.close(*end)
        report_r = pipes.end("report", 0)

        def on_userns(pid):
            namespaces.write_id_maps(pid, spec)
            os.write(maps_w, b"1")

        reports = Reports(report_r, on_userns)
        init_pid = reports.wait("init_pid")
        _reap(builder)
        builder = None
        blob = None if eng.needs_python else eng.sup.export_blob(eng.uts_mask)
        sup_pid = supervisor.start_supervisor(sb, eng, init_pid, pipes, cid, g.log, g.log_format,
                                              blob)
        for end in supervisor.SUPERVISOR_ENDS:
            if end != ("ctl", 0):
                pipes.close(*end)
        pipes.close("ctl", 0)
        st = dict(state, pid=init_pid, status="creating")
        if runtime_hooks:
            # runtime-spec: in the runtime's namespace, after the container's namespaces
            # exist (Docker's libnetwork-setkey finds the netns through the pid), before
            # init builds its root; outside the container's cgroups (a re-exec of dockerd
            # must not be charged to, or OOM-killed by, a small --memory limit)
            hooks.run("prestart", hook_specs, st)
            hooks.run("createRuntime", hook_specs, st)
            os.write(pipes.end("gate", 1), b"g")
            pipes.close("gate", 1)
        reports.wait("ready")
        try:
            os.write(pipes.end("ctl", 1), b"c")
        except OSError:
            raise OCIError("the container's supervisor exited during setup") from None
        pipes.close_all()
        if blob is not None:
            supervisor.write_exec_files(c.dir, spec, eng, blob)
            c.data["lxbrand"]["engine"] = backend  # `exec` may be done in C (state.py)
        c.data.update(pid=init_pid, status="created")
        c.data["lxbrand"].update(init_pid=init_pid, pid_start=proc_start_time(init_pid)[0],
                                 sup_pid=sup_pid, sup_start=proc_start_time(sup_pid)[0])
        c.save()
        c.save_fast()
        if pid_file:
            write_pid_file(pid_file, init_pid)
        _fill_policy_cache(sb.policy, backend)
        return c
    except BaseException:
        for fd in (sock, maps_r, maps_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if pipes is not None:
            pipes.close_all()  # EOF on ctl: the supervisor kills the tree
        supervisor.kill_and_reap(init_pid, reap=False)  # the shim's child, not ours
        supervisor.kill_and_reap(builder)
        supervisor.kill_and_reap(sup_pid)
        hm = (c.data.get("lxbrand") or {}).get("host_mounts")
        if hm:
            from lxbrand.oci import rootfs as rootfs_mod
            rootfs_mod.detach_host_mounts(*hm)
        try:
            cgroups.destroy(cg_paths)
        except OCIError:
            pass
        c.remove()
        raise


# The runtime's C create (csrc/runtime/create.c) loads policies compiled here: on a miss it
# hands the call to us naming the blob it wants (as lxrun's front end does, fastpath.py).
POLICY_CACHE_ENV = "LXBRAND_POLICY_CACHE"


def _fill_policy_cache(policy, backend):
    """Write the compiled policy the C create asked for: this container's (with its
    personality, if it shows limits: the C create sets each container's own limits in the
    view of a blob compiled for a container of the same shape)."""
    path = os.environ.pop(POLICY_CACHE_ENV, None)
    if not path:
        return
    from lxbrand.fastpath import write_blob
    try:
        write_blob(policy, path, backend)
    except Exception:  # noqa: BLE001 -- a cache: the next create compiles again
        pass


def _reap(pid):
    """The builder exits as soon as it has forked init (or failed)."""
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return


def run(args, g):
    create(g, args.id, args.bundle, args.pid_file, args.console_socket, args.no_pivot,
           args.preserve_fds, args.no_new_keyring)
    return 0
