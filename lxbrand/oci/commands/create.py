"""lxbrand create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] ID

Builds the container and leaves init blocked on exec.fifo until `start`.  Returns only when
the container is fully created (or failed and was cleaned up): containerd reads the pid-file
(decimal digits, no newline) right after, and the pid it names, the supervisor, becomes the
shim's child when we exit (the shim is a subreaper)."""
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


def read_reports(fd, want_pid=True, on_userns=None):
    """Read the JSON lines the supervisor and init send until init is ready (or failed).
    Returns init's host pid; raises OCIError with the reported error.  on_userns(pid) is
    called when the supervisor has unshared its user namespace and waits for its id maps."""
    buf = b""
    init_pid, ready = None, False
    while not (ready and (init_pid or not want_pid)):
        chunk = os.read(fd, 4096)
        if not chunk:
            raise OCIError("container init exited during setup without saying why"
                           if init_pid else "the supervisor exited during setup")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            msg = json.loads(line)
            if "error" in msg:
                raise OCIError(msg["error"])
            if "userns" in msg and on_userns is not None:
                on_userns(msg["userns"])
            if "init_pid" in msg:
                init_pid = msg["init_pid"]
            if msg.get("ready"):
                ready = True
    return init_pid


def create(g, cid, bundle, pid_file=None, console_socket=None, no_pivot=False,
           preserve_fds=0, no_new_keyring=False):
    """The work of `create`; returns the Container (state saved, status created)."""
    from lxbrand.oci import cgroups, config, namespaces, supervisor
    from lxbrand.oci.state import Container, proc_start_time
    spec, rootfs = config.load_bundle(bundle)
    namespaces.check_supported(spec)
    namespaces.translate_paths(spec, g.root)
    proc = spec["process"]
    if proc.get("terminal") and not console_socket:
        raise OCIError("process.terminal is true but no --console-socket was given")
    c = Container.new(g.root, cid)
    sup_pid = None
    cg_paths = {}
    sock = None
    r = w = maps_r = maps_w = None
    try:
        # 0622 as runc: init may have joined a user namespace by the time it opens it
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)  # mkfifo obeys the umask
        linux = spec.get("linux") or {}
        cg_paths = cgroups.resolve(linux.get("cgroupsPath"), cid, g.systemd_cgroup)
        c.data = {
            "id": cid, "status": "creating", "bundle": os.path.abspath(bundle),
            "rootfs": rootfs,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "annotations": spec.get("annotations") or {},
            "lxbrand": {"cgroups": cg_paths, "hooks": spec.get("hooks") or {},
                        "policy": g.policy, "backend": g.backend, "trace": g.trace,
                        "trace_dir": g.trace_dir},
        }
        c.save()
        cgroups.create(cg_paths, linux.get("resources"))
        if proc.get("terminal"):
            from lxbrand.oci import console
            sock = console.connect(console_socket)  # init sends the pty master through it
        r, w = os.pipe2(os.O_CLOEXEC)
        if (namespaces.wanted(spec).get("user", False)) is None:
            maps_r, maps_w = os.pipe2(os.O_CLOEXEC)  # create -> supervisor: maps written
        state = {"ociVersion": "1.0.2", "id": cid, "bundle": c.data["bundle"],
                 "annotations": c.data["annotations"]}
        opts = {"policy": g.policy, "backend": g.backend, "no_pivot": no_pivot,
                "debug": g.debug, "preserve_fds": preserve_fds, "trace": g.trace,
                "no_new_keyring": no_new_keyring,
                "trace_dir": g.trace_dir}
        sup_pid = os.fork()
        if sup_pid == 0:
            os.close(r)
            supervisor.run_container(spec, rootfs, cg_paths, w, c.fifo, state, opts,
                                     console_sock=sock, maps_fd=maps_r)
            os._exit(1)  # not reached
        os.close(w)
        w = None
        if sock is not None:
            os.close(sock)
            sock = None
        def on_userns(pid):
            namespaces.write_id_maps(pid, spec)
            os.write(maps_w, b"1")

        if maps_r is not None:
            os.close(maps_r)
            maps_r = None
        init_pid = read_reports(r, on_userns=on_userns)
        if maps_w is not None:
            os.close(maps_w)
            maps_w = None
        os.close(r)
        r = None
        c.data.update(pid=sup_pid, status="created")
        c.data["lxbrand"].update(init_pid=init_pid, pid_start=proc_start_time(sup_pid)[0])
        c.save()
        c.save_fast()
        if pid_file:
            write_pid_file(pid_file, sup_pid)
        return c
    except BaseException:
        for fd in (sock, r, w, maps_r, maps_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if sup_pid:
            try:
                os.kill(sup_pid, signal.SIGKILL)
                os.waitpid(sup_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            cgroups.destroy(cg_paths)
        except OCIError:
            pass
        c.remove()
        raise


def run(args, g):
    create(g, args.id, args.bundle, args.pid_file, args.console_socket, args.no_pivot,
           args.preserve_fds, args.no_new_keyring)
    return 0
