"""The container's side of create/exec: the steps run in the forked child (the engine's
preexec_fn) before the engine installs its filter and execs the program.

    create:  [cgroups, net/uts/ipc/pid namespaces: done by the builder, supervisor.py]
             mount ns -> wait for the runtime's prestart/createRuntime hooks -> mounts, /dev
             -> createContainer hooks -> pivot_root -> masked and readonly paths ->
             oom_score_adj, rlimits -> report "ready" -> block on exec.fifo until `start`
             -> startContainer hooks -> user, capabilities, seccomp -> (engine)
    exec:    [pid namespace and cgroups: done by the runtime] setns into the container's
             other namespaces -> rlimits -> user, capabilities, seccomp -> (engine)

The process is not the runtime's child for long: its parent exits once it is forked, so
the shim (a subreaper) reaps it, as with runc.  Nothing here may rely on the parent: no
PR_SET_PDEATHSIG (it would fire when the builder exits); the supervisor's ptrace EXITKILL
is what kills the tree if the supervisor dies.

Errors are written to the report pipe as {"error": msg} (create/exec print them) and the
child exits 1; nothing here returns to the engine on failure.
"""
import errno
import json
import os
import signal
import stat

# Everything the child needs is imported here, in the supervisor: after pivot_root (or setns
# into the container's mount namespace) the host's Python library is out of reach.
from . import capabilities, console, hooks, namespaces, rlimits, rootfs, seccomp
from . import syscalls as sc
from .errors import OCIError


def report(fd, **msg):
    """One JSON line on the report pipe (< PIPE_BUF, so it is written atomically).  Once
    the pipe is closed (create/exec returned), errors go to the process's stderr, which is
    what `docker logs` and an attached terminal show."""
    if fd is None or fd < 0:
        if "error" in msg:
            try:
                os.write(2, f"lxbrand: {msg['error']}\n".encode())
            except OSError:
                pass
        return
    line = json.dumps(msg)
    if len(line) > 3500:
        line = json.dumps({k: (v[:3000] if isinstance(v, str) else v) for k, v in msg.items()})
    try:
        os.write(fd, line.encode() + b"\n")
    except OSError:
        report(None, **msg)  # nobody reads the pipe any more


def lookup(root, name, env, mounted=()):
    """Resolve process.args[0] as the container would (PATH from process.env), inside `root`.
    Returns the container path; raises OCIError worded like runc's (Docker maps
    'executable file not found' to exit 127 and 'permission denied' to 126).
    `mounted`: destinations that mounts will provide (e.g. Docker's /sbin/docker-init for
    --init), taken as present before they are mounted."""
    def ok(p):
        if p in mounted:
            return True
        try:
            st = os.stat(rootfs.secure_join(root, p))
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode)

    if "/" in name:
        p = name if name.startswith("/") else None
        if p is None or ok(p):
            return name
        raise OCIError(f'exec: "{name}": stat {name}: no such file or directory')
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env or ():
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = os.path.join(d or ".", name)
        if cand.startswith("/") and ok(cand):
            return cand
    raise OCIError(f'exec: "{name}": executable file not found in $PATH')


def check_executable(path, name):
    """In the container's final view (mounts made): what the engine will exec is there."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise OCIError(f'exec: "{name}": stat {path}: {e.strerror.lower()}') from None
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.X_OK):
        raise OCIError(f'exec: "{name}": {path}: permission denied')


def home_of(uid, root="/"):
    try:
        with open(rootfs.secure_join(root, "/etc/passwd")) as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def host_pid_of_self():
    """Our pid as the host sees it (what hooks get in the state, runtime-spec): /proc is
    still the runtime's procfs here, whose pid namespace is the host's."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def _reset_signals():
    # Python ignores SIGPIPE and SIGXFSZ; a container process must start with defaults
    for s in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
              signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _other_userns(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino
    except OSError:
        return False


def become_ns_root():
    """In a new user namespace: become its root.  The supervisor's host uid 0 is not mapped
    there, and files or mounts made by an unmapped id fail with EOVERFLOW."""
    try:
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    except OSError as e:
        raise OCIError(f"linux.uidMappings: container uid and gid 0 must be mapped "
                       f"({e.strerror})") from None


def become_user(proc, seccomp_filter=None):
    """setgroups/gid/uid, then capabilities, with the seccomp profile loaded in between
    (while CAP_SYS_ADMIN is still effective, so no_new_privs is not forced on the container;
    the profile allows capset/prctl, which is all that follows it)."""
    user = proc.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    caps = proc.get("capabilities")
    if caps is not None:
        capabilities.drop_bounding(caps.get("bounding") or [])
    try:
        os.setgroups(list(user.get("additionalGids") or []))
        os.setresgid(gid, gid, gid)
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
        os.setresuid(uid, uid, uid)
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    except OSError as e:
        raise OCIError(f"process.user uid={uid} gid={gid}: {e.strerror}") from None
    if seccomp_filter is not None:
        if uid != 0 and caps is not None:
            # setresuid cleared the effective set: bring back what permitted kept
            prm = capabilities.permitted_now()
            sc.capset(prm, prm, 0)
        seccomp_filter.load()
        seccomp_filter.release()
    if caps is not None:
        capabilities.apply(caps)
    if user.get("umask") is not None:
        os.umask(user["umask"])


def _post_filter(proc, seccomp_filter, report_fd, what):
    """The last steps before exec, run by the engine after it installed its own filter
    (runc's order when noNewPrivileges is false: the filter goes in while the process
    still holds CAP_SYS_ADMIN, so no_new_privs is not forced on the container; then
    the user, the container's seccomp profile and the capabilities)."""
    try:
        become_user(proc, seccomp_filter)
        if proc.get("noNewPrivileges"):
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    except BaseException as e:  # noqa: B902 -- nothing may escape into the engine's child
        msg = str(e) if isinstance(e, OCIError) else f"{what}: {type(e).__name__}: {e}"
        report(report_fd, error=msg)
        os._exit(1)


class ContainerInit:
    """preexec_fn for a container's init (create)."""

    def __init__(self, spec, rootfs_path, cg_paths, report_fd, fifo_path, console_sock=None,
                 no_pivot=False, state=None):
        self.spec = spec
        self.rootfs = rootfs_path
        self.cg_paths = cg_paths
        self.report_fd = report_fd
        self.fifo_path = fifo_path
        self.console_sock = console_sock
        self.exe = None  # the path the engine will exec (set by the supervisor)
        self.no_new_keyring = False  # create --no-new-keyring (set by the supervisor)
        self.no_pivot = no_pivot
        self.state = state or {}
        self.seccomp = None
        self.gate_fd = None      # the runtime's hooks ran once a byte arrives (None: no wait)
        self.pass_fds = ()       # --preserve-fds
        self.debug = False
        self.no_new_privs = bool(spec["process"].get("noNewPrivileges"))

    def __call__(self):
        try:
            self._setup()
        except BaseException as e:  # noqa: B902 -- nothing may escape into the engine's child
            msg = str(e) if isinstance(e, OCIError) else f"container init: {type(e).__name__}: {e}"
            report(self.report_fd, error=msg)
            os._exit(1)

    def _setup(self):
        spec, proc = self.spec, self.spec["process"]
        _reset_signals()
        host_pid = host_pid_of_self()
        if (spec.get("linux") or {}).get("seccomp"):
            # compiled (and libseccomp loaded) before pivot_root; errors show up at create
            self.seccomp = seccomp.Filter(spec["linux"]["seccomp"])
        namespaces.enter(spec, namespaces.CHILD_TYPES)
        # Without a mount namespace in linux.namespaces the container shares the runtime's
        # (runtime-spec; runc): its mounts are made under one private bind of the rootfs,
        # which `delete` detaches, and it is chroot'ed, not pivoted
        own_mnt = "mount" in namespaces.wanted(spec)
        if self.gate_fd is not None:
            # prestart/createRuntime hooks (run by `create` with our pid) come first
            if os.read(self.gate_fd, 1) != b"g":
                os._exit(1)  # create failed meanwhile; it reports why
            os.close(self.gate_fd)
            self.gate_fd = None
        rootfs.prepare(self.rootfs, spec, self.cg_paths, own_ns=own_mnt)
        hooks.run("createContainer", spec.get("hooks"),
                  dict(self.state, pid=host_pid, status="created"))
        fifo = os.open(self.fifo_path, os.O_PATH | os.O_CLOEXEC)
        if not own_mnt:
            rootfs.chroot_into(self.rootfs)
        elif self.no_pivot:
            rootfs.no_pivot(self.rootfs)
        else:
            rootfs.pivot(self.rootfs)
        rootfs.finish(spec)
        if self.console_sock is not None:
            slave, path = console.setup_in_container(
                self.console_sock, proc.get("consoleSize"),
                (proc.get("user") or {}).get("uid", 0))
            rootfs.bind_console(path)
            console.make_controlling(slave)
            if slave > 2:
                os.close(slave)
        if proc.get("oomScoreAdj") is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc["oomScoreAdj"]))
        rlimits.apply(proc.get("rlimits"))
        if not self.no_new_keyring:
            # as runc: the container does not share the caller's session keyring
            try:
                sc.join_session_keyring(f"_ses.{self.state.get('id', '')}"[:255])
            except OSError as e:
                if e.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                    raise OCIError(f"session keyring: {e.strerror}") from None
        cwd = proc.get("cwd") or "/"
        try:
            if not os.path.isdir(cwd):
                os.makedirs(cwd)  # runc creates a missing cwd too
        except OSError as e:
            raise OCIError(f"process.cwd {cwd!r}: cannot use it as the working directory: "
                           f"{e.strerror}") from None
        check_executable(self.exe or lookup("/", proc["args"][0], proc.get("env")),
                         proc["args"][0])
        if "user" in namespaces.wanted(spec):
            # built as the host's root; from here on, the user namespace's root
            namespaces.enter(spec, namespaces.USER_TYPES)
            become_ns_root()
        report(self.report_fd, ready=True)
        os.close(self.report_fd)
        self.report_fd = None
        # Block until `start` opens the fifo for reading (runc's exec.fifo handshake)
        try:
            w = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            os._exit(1 if e.errno else 1)
        os.write(w, b"0")
        os.close(w)
        os.close(fifo)
        hooks.run("startContainer", spec.get("hooks"),
                  dict(self.state, pid=host_pid, status="running"))
        os.chdir(cwd)
        # become_user: in post_filter, after the engine's filter (Sandbox.run post_filter_fn)

    def post_filter(self):
        _post_filter(self.spec["process"], self.seccomp, self.report_fd, "container init")


class ExecInit:
    """preexec_fn for `exec`: join the container (the supervisor joined its pid namespace
    and cgroups), then become the process's user."""

    def __init__(self, proc, spec, init_pid, report_fd, console_sock=None):
        self.proc = proc
        self.spec = spec
        self.init_pid = init_pid
        self.report_fd = report_fd
        self.console_sock = console_sock
        self.exe = None
        self.seccomp = None
        self.pass_fds = ()
        self.debug = False
        self.no_new_privs = bool(proc.get("noNewPrivileges"))

    def __call__(self):
        try:
            self._setup()
        except BaseException as e:  # noqa: B902
            msg = str(e) if isinstance(e, OCIError) else f"exec: {type(e).__name__}: {e}"
            report(self.report_fd, error=msg)
            os._exit(1)

    def _setup(self):
        proc = self.proc
        _reset_signals()
        if (self.spec.get("linux") or {}).get("seccomp"):
            self.seccomp = seccomp.Filter(self.spec["linux"]["seccomp"])
        # the user namespace last: joining the others (the mount one is the host's user
        # namespace's, see make_user_namespaces) needs the host's capabilities.  Opened
        # now: after joining the mount namespace, /proc is the container's.
        user_fd = None
        if _other_userns(self.init_pid):
            user_fd = os.open(f"/proc/{self.init_pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        namespaces.join_pid(self.init_pid, ("ipc", "uts", "network", "cgroup", "mount"))
        if self.console_sock is not None:
            slave, _ = console.setup_in_container(self.console_sock, proc.get("consoleSize"),
                                                  (proc.get("user") or {}).get("uid", 0))
            console.make_controlling(slave)
            if slave > 2:
                os.close(slave)
        else:
            os.setsid()
        rlimits.apply(proc.get("rlimits"))
        if proc.get("oomScoreAdj") is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc["oomScoreAdj"]))
        cwd = proc.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except OSError as e:
            raise OCIError(f"exec: chdir to cwd ({cwd!r}) set in config.json failed: "
                           f"{e.strerror}") from None
        check_executable(self.exe or lookup("/", proc["args"][0], proc.get("env")),
                         proc["args"][0])
        report(self.report_fd, ready=True)
        os.close(self.report_fd)
        self.report_fd = None
        if user_fd is not None:
            try:
                sc.setns(user_fd, sc.CLONE_NEWUSER)
            except OSError as e:
                raise OCIError(f"joining the container's user namespace: {e.strerror}") from None
            os.close(user_fd)
            become_ns_root()
        # become_user: in post_filter, after the engine's filter

    def post_filter(self):
        _post_filter(self.proc, self.seccomp, self.report_fd, "exec")
