"""Drive the C engine: compile a Policy into the supervisor's action table and
filter, fork the program, supervise it, and report how it ended.

    status = Sandbox(load_policy("default")).run(["ls", "-l"])
    status.exit()   # leave this process the way the program left
"""
import errno
import os
import signal
import sys

from lxbrand import _core, syscalls
from lxbrand.elfcheck import check_executable
from lxbrand.errors import LaunchError, LxError
from lxbrand.policy import Policy, load_policy

BACKENDS = {"unotify": _core.BACKEND_UNOTIFY, "ptrace": _core.BACKEND_PTRACE}
# When Sandbox.run returns: once every task of the tree has ended (as strace -f), or once
# the first process has, the rest killed then (as a container when its init exits): csrc/tasks.c
WAITS = ("all", "first")
_KINDS = {"allow": _core.ALLOW, "deny": _core.DENY, "kill": _core.KILL, "trace": _core.TRACE}
EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXEC = 126


class ExitStatus:
    """How the program's first process ended."""
    __slots__ = ("code", "signal", "core")

    def __init__(self, code=None, signal=None, core=False):
        self.code = code        # exit code, if it exited
        self.signal = signal    # signal number, if a signal killed it
        self.core = core

    def __repr__(self):
        return f"ExitStatus(code={self.code}, signal={self.signal})"

    def __eq__(self, other):
        return isinstance(other, ExitStatus) and (self.code, self.signal) == (other.code, other.signal)

    @classmethod
    def from_wait(cls, st):
        if os.WIFSIGNALED(st):
            return cls(signal=os.WTERMSIG(st), core=os.WCOREDUMP(st))
        return cls(code=os.WEXITSTATUS(st))

    @property
    def shell_code(self):
        """The code a shell shows ($?): the exit code, or 128 + signal."""
        return self.code if self.signal is None else 128 + self.signal

    def exit(self):
        """End this process the same way: same exit code, or death by the same
        signal (as strace does), without dumping a core of our own."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.signal is not None:
            import resource
            try:
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            except (ValueError, OSError):
                pass
            if self.signal not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(self.signal, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [self.signal])
            os.kill(os.getpid(), self.signal)
        os._exit(self.shell_code)


class SupervisorError(LxError):
    pass


def resolve_program(prog, env):
    """Find prog as execvp(3) would, using the program's PATH (without one, the
    search path of confstr(_CS_PATH), as execvp(3) and lxrun's C front end use)."""
    if "/" in prog:
        path = prog
    else:
        path = _which(prog, env["PATH"] if "PATH" in env else _default_path())
        if path is None:
            raise LaunchError(f"{prog}: command not found", EXIT_NOT_FOUND)
    if not os.path.exists(path):
        raise LaunchError(f"{prog}: No such file or directory", EXIT_NOT_FOUND)
    if os.path.isdir(path):
        raise LaunchError(f"{prog}: Is a directory", EXIT_CANNOT_EXEC)
    return path


def _default_path():
    try:
        return os.confstr("CS_PATH") or os.defpath
    except (ValueError, OSError):
        return os.defpath


def _which(prog, search):
    """execvp(3)'s search (shutil.which costs lxrun's start-up a few ms of imports)."""
    for d in search.split(os.pathsep):
        cand = os.path.join(d or ".", prog)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


# Path argument of the calls whose handler may declare the basenames it answers for
# (openat2 stays whole in Python: its open_how is checked there).
_GATED_PATH_ARG = {"open": 0, "openat": 1}
# Rule families the engine decides and performs (Rule.fast) -> action kind
_ENGINE_KINDS = {"path": _core.PATH, "net": _core.NET, "watch": _core.WATCH}


def _native(policy, rule, name):
    """How a call of a rule family the engine performs may run untrapped (the family's
    native(): "all", "watch", ("args", index, mask) or None).  Never with a handler
    that must see the calls (the open pipeline's hooks, the view's files)."""
    if rule.handler is not None:
        return None
    if rule.fast == "path" and policy.paths is not None:
        return policy.paths.native(name)
    if rule.fast == "net" and policy.net is not None:
        return policy.net.native(name, policy.paths)
    return None


def answered_in_c(handler):
    """An open pipeline whose every hook the engine answers itself (the view's files)."""
    return getattr(handler, "answered_in_c", lambda: False)()


class Planned:
    """What the engine does with one syscall under a policy (plan)."""
    __slots__ = ("nr", "name", "rule", "kind", "err", "value", "handler", "gate")

    def __init__(self, nr, name, rule, kind, err=0, value=0, handler=None, gate=None):
        self.nr, self.name, self.rule = nr, name, rule
        self.kind = kind            # the action kind (_core.ALLOW, ..., csrc/engine.h)
        self.err, self.value = err, value
        self.handler = handler      # the Python callable asked, or None
        self.gate = gate            # (path argument, basenames) of the C pre-check, or None


def plan(policy):
    """The engine's action for every x86_64 syscall under `policy`, by number: what
    apply_policy hands the supervisor and what lxrun --explain prints (one
    computation, so the two cannot disagree)."""
    from lxbrand.policy import ENGINE, Rule
    out = []
    for name, sc in sorted(syscalls.table().items(), key=lambda kv: kv[1].nr):
        r = policy.action_of(name)
        if name == "ptrace" and r.action not in ("deny", "kill"):
            # allowed (or traced): handed over to the program's debugger, or refused with a
            # reason, by the engine (syscalls.ENGINE_NOTES, csrc/debuggee.c)
            out.append(Planned(sc.nr, name, Rule((name,), r.action, comment=syscalls.ENGINE_NOTES[name],
                                                 owner=ENGINE), _core.DEBUG))
            continue
        if name == "restart_syscall" and r.action not in ("allow", "trace"):
            # allowed under every policy, a deny-by-default one's too (syscalls.ENGINE_NOTES)
            r = Rule((name,), "allow", comment=syscalls.ENGINE_NOTES[name], owner=ENGINE)
        p = Planned(sc.nr, name, r, _KINDS.get(r.action), r.errno)
        if r.action == "emulate":
            p.err = 0
            if r.fast == "uname":
                p.kind = _core.UNAME
            elif r.fast in _ENGINE_KINDS:
                # a rule family the engine performs; a handler sees what its rules allow
                # (an open pipeline of the view's files only is the engine's own: no handler)
                p.kind = _ENGINE_KINDS[r.fast]
                native = _native(policy, r, name)
                if native == "all":
                    p.kind = _core.ALLOW  # its rules deny nothing this call does: untrapped
                elif native == "watch":
                    p.kind = _core.WATCH
                elif native is not None:
                    _, index, mask = native
                    p.value |= (index + 1) << 8 | mask << 32  # engine.h LX_NATIVE_ARG/MASK
                if r.handler is not None and not answered_in_c(r.handler):
                    p.handler = r.handler
                    names = getattr(r.handler, "gate_names", lambda: None)()
                    if names is None:
                        p.value = _core.UPCALL_ALL
                    elif names:
                        p.gate = (0, sorted(names))
            elif r.fast == "persona" or answered_in_c(r.handler):
                # the personality's view in C (csrc/persona.c): its syscalls, and an open
                # pipeline that holds only the view's files
                p.kind = _core.PERSONA
            elif r.handler is not None:
                p.kind, p.handler = _core.PYTHON, r.handler
                names = getattr(r.handler, "gate_names", lambda: None)() if name in _GATED_PATH_ARG else None
                if names is not None:
                    # the open pipeline's basename pre-check, done in C (lxbrand/handlers/files.py)
                    p.gate = (_GATED_PATH_ARG[name], sorted(names))
            else:
                p.kind, p.value = _core.RETURN, r.value
        out.append(p)
    return out


def unnamed_denied(policy):
    """The numbers above libseccomp's table that fail with ENOSYS under this policy
    (range, or None): rules that judge arguments must not be gone around by a
    syscall this build cannot name (newer than its table, e.g. setxattrat on a
    newer kernel), so those fail as on an older kernel."""
    if policy.paths is None and policy.net is None:
        return None
    return range(syscalls.highest_named() + 1, _core.NR_MAX)


def apply_policy(policy, sup, recording=False):
    """Fill the supervisor's action table from the policy (plan). Returns {nr: handler}.
    (recording: kept for callers; what a trace captures is set by Sandbox.compile.)"""
    sup.set_default(_KINDS[policy.default], policy.default_errno)
    handlers = {}
    fast_uname = False
    for p in plan(policy):
        sup.set_action(p.nr, p.kind, p.err, p.value)
        if p.gate is not None:
            sup.set_gate(p.nr, *p.gate)
        if p.handler is not None:
            handlers[p.nr] = p.handler
        fast_uname |= p.kind == _core.UNAME
    if policy.paths is not None:
        policy.paths.compile(sup)
    if policy.net is not None:
        policy.net.compile(sup)
    for nr in unnamed_denied(policy) or ():
        sup.set_action(nr, _core.DENY, errno.ENOSYS, 0)
    if policy.identity or fast_uname:
        # the host's fields, with the policy's identity over them (a fast uname
        # rule without an identity answers the host's own values)
        host = os.uname()
        fields = dict(sysname=host.sysname, nodename=host.nodename, release=host.release,
                      version=host.version, machine=host.machine, domainname=_domainname())
        fields.update(policy.identity)
        sup.set_uname(**fields)
    personality = getattr(policy, "personality", None)
    if personality is not None:
        personality.configure(sup)   # the view the engine serves (its /proc files show the uname fields)
    return handlers


EVENTS_ALL = _core.EVS_EXEC | _core.EVS_NET | _core.EVS_DENY
_OBSERVED = ("connect", "bind")


def apply_events(policy, sup, on=False):
    """What the sandbox reports as events (csrc/events.h), and the comments of the rules
    its denial events name.  on: execs, connects/binds and syscall-rule denials too --
    those calls then trap (before compile(): the filter changes)."""
    sysnotes = {p.nr: p.rule.comment for p in plan(policy) if p.kind == _core.DENY and p.rule.comment}
    paths = [r.comment for r in policy.paths.rules] if policy.paths is not None else []
    nets = [r.comment for r in policy.net.rules] if policy.net is not None else []
    if not (on or sysnotes or paths or nets):
        return
    if on:
        for name in _OBSERVED:
            nr = syscalls.nr_of(name)
            if nr is not None and policy.action_of(name).action == "allow" and policy.net is None:
                sup.set_action(nr, _core.WATCH, 0, 0)  # trap, report, let it run (no rule decides it)
    sup.set_events(EVENTS_ALL if on else 0, f"the policy's default ({policy.default})", sysnotes, paths, nets)


def uts_mask(policy):
    """Which uname fields the policy itself sets (blob.h's LX_UTS_*): a C consumer of the
    blob fills the others from the uname it sees, as apply_policy does here."""
    from lxbrand.policy import IDENTITY_KEYS
    mask = 0
    for i, k in enumerate(IDENTITY_KEYS):
        if k in policy.identity:
            mask |= 1 << i
    return mask


def _domainname():
    try:
        with open("/proc/sys/kernel/domainname") as f:
            return f.read().strip()
    except OSError:
        return "(none)"


class Sandbox:
    """Runs programs under one policy and backend."""

    def __init__(self, policy=None, backend="unotify", tracer=None, on_handler_error=None, events=False,
                 wait="all"):
        if backend not in BACKENDS:
            raise LxError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
        if wait not in WAITS:
            raise LxError(f"unknown wait mode {wait!r} (one of {', '.join(WAITS)})")
        self.wait = wait              # "all": until every task has ended; "first": the rest is killed then
        self.policy = load_policy(policy or "default") if not isinstance(policy, Policy) else policy
        self.backend = backend
        self.tracer = tracer          # lxbrand.trace.Tracer or None
        self.events = events          # report execs, connects/binds and denials (csrc/events.h)
        self.stats = []               # [(nr, count, errors, ns)] after run()
        self.handler_errors = []
        self.sync_wakeup = None
        self.on_handler_error = on_handler_error or _print_handler_error

    def _dispatch(self, handlers):
        def dispatch(call):
            fn = handlers[call.nr]
            try:
                r = fn(call)
            except OSError as e:
                if e.errno:
                    raise  # a deliberate errno answer
                self.on_handler_error(fn, call, e)
                raise
            except BaseException as e:
                # the engine denies the call (EPERM): a broken handler never allows
                self.on_handler_error(fn, call, e)
                raise
            if r is not None and r is not _core.CONTINUE and \
                    (isinstance(r, bool) or not isinstance(r, int) or not -2**63 <= r < 2**63):
                e = TypeError(f"returned {r!r} (a handler returns an int, None or CONTINUE, or raises OSError)")
                self.on_handler_error(fn, call, e)
                raise e
            return r
        return dispatch

    def run(self, argv, env=None, cwd=None, preexec_fn=None, pass_fds=(), on_spawn=None, check_elf=True,
            executable=None, no_new_privs=True, post_filter_fn=None):
        """Run argv under the policy; returns its ExitStatus.  `executable` is the
        path to exec (argv[0] is then passed as given, as execve(2) allows);
        without it argv[0] is looked up in PATH, or, with a preexec_fn (which may
        change the root), taken as the path.

        no_new_privs=False (an OCI runtime honouring process.noNewPrivileges=false)
        leaves no_new_privs off when the child can install the filter without it
        (CAP_SYS_ADMIN): then post_filter_fn runs in the child after the filter,
        under it, to drop privileges before exec — runc's order."""
        if not argv:
            raise LaunchError("no program given", 2)
        env = dict(os.environ if env is None else env)
        if executable is not None:
            path = executable
        elif preexec_fn is None:
            path = resolve_program(argv[0], env)
        else:
            path = argv[0]  # resolved inside the container by the caller's setup
        if preexec_fn is None and check_elf:
            check_executable(path)
        eng = self.compile()
        ready_r, ready_w = os.pipe()
        go_r, go_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: no return from here
            os.close(ready_r)
            os.close(go_w)
            os.close(err_r)
            child_main(eng, argv, path, env, ready_w, go_r, err_w, preexec_fn=preexec_fn, cwd=cwd,
                       pass_fds=pass_fds, no_new_privs=no_new_privs, post_filter_fn=post_filter_fn)
        os.close(ready_w)
        os.close(go_r)
        os.close(err_w)
        try:
            if on_spawn is not None:
                on_spawn(pid)
            rc, st = eng.sup.supervise(pid, ready_r, go_w, recording=self.tracer is not None,
                                       wait_first=self.wait == "first")
        finally:
            os.close(ready_r)
            os.close(go_w)
        err = _read_all(err_r)
        os.close(err_r)
        self._collect(eng.sup)
        if err:
            status = ExitStatus.from_wait(st) if st is not None else ExitStatus(code=EXIT_CANNOT_EXEC)
            raise LaunchError(err.decode(errors="replace"), status.shell_code)
        if rc < 0 and rc != -errno.ECHILD:  # the child died before it was ready (reported through err)
            raise SupervisorError(f"supervisor failed: {os.strerror(-rc)}; the program was killed")
        if st is None:
            raise SupervisorError("the program's exit status is unknown")
        return ExitStatus.from_wait(st)

    def compile(self):
        """The policy compiled for one run: the supervisor's tables and upcalls, and the
        filter the child installs (a Compiled)."""
        sup = _core.Supervisor(BACKENDS[self.backend])
        handlers = apply_policy(self.policy, sup, recording=self.tracer is not None)
        apply_events(self.policy, sup, self.events)
        if handlers:
            sup.handler = self._dispatch(handlers)
        if self.tracer is not None:
            sup.recorder = self.tracer.records
            # before compile(): lines need results, and on unotify that changes the filter
            sup.set_trace(self.tracer.capture_table(), self.tracer.strsize,
                          results=self.tracer.wants_results)
        from lxbrand.fastpath import table_only
        return Compiled(sup, sup.compile(),
                        needs_python=self.tracer is not None or not table_only(self.policy),
                        uts_mask=uts_mask(self.policy))

    def supervise_attached(self, eng, pid, ready_r, go_w, ctl_r=-1):
        """Supervise `pid`, a process forked elsewhere from child_main (its parent has
        exited; see lxbrand/oci/supervisor.py).  Returns (rc, wait status or None)."""
        rc, st = eng.sup.supervise_attached(pid, ready_r, go_w, ctl_r,
                                            recording=self.tracer is not None)
        self._collect(eng.sup)
        return rc, st

    def _collect(self, sup):
        self.stats = sup.stats()
        self.handler_errors = list(sup.errors)
        self.sync_wakeup = sup.sync_wakeup
        if self.tracer is not None:
            self.tracer.finish(self.stats)


class Compiled:
    """A policy compiled for one run (Sandbox.compile): `sup`, the engine's supervisor
    object (tables, upcalls); `prog`, the filter the child installs; `needs_python`,
    whether supervising needs this Python process (handlers, recording, path rules)
    or a C supervisor can do it from `sup.export_blob()`."""
    __slots__ = ("sup", "prog", "needs_python", "uts_mask")

    def __init__(self, sup, prog, needs_python, uts_mask=0):
        self.sup = sup
        self.prog = prog
        self.needs_python = needs_python
        self.uts_mask = uts_mask  # the uname fields the policy emulates (csrc/blob.h)

    @property
    def child_backend(self):
        return self.sup.child_backend


def child_main(eng, argv, path, env, ready_w, go_r, err_w, preexec_fn=None, cwd=None, pass_fds=(),
               no_new_privs=True, post_filter_fn=None, err_prefix=b"", pdeathsig=True):
    """The forked child's side of a run; never returns.  Runs preexec_fn, tells the
    supervisor it is ready (ready_w), waits to be armed (go_r), installs the filter,
    runs post_filter_fn, execs.  pdeathsig=False when the supervisor is not the parent
    (the OCI process model: the child then dies with it through ptrace's EXITKILL).  A failure is written to err_w (after err_prefix) and
    the child exits 127 (not found) or 126."""
    code = EXIT_CANNOT_EXEC
    try:
        # Python ignores SIGPIPE and SIGXFSZ; a program must get the defaults
        # (subprocess's restore_signals does the same).
        for s in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        envp = [f"{k}={v}".encode() for k, v in env.items()]
        bargv = [os.fsencode(a) for a in argv]
        bpath = os.fsencode(path)
        if preexec_fn is not None:
            preexec_fn()
        if cwd is not None:
            os.chdir(cwd)
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        _close_others({0, 1, 2, ready_w, go_r, err_w, *pass_fds})
        if no_new_privs and post_filter_fn is None and pdeathsig:
            _core.child_exec(eng.prog, eng.child_backend, ready_w, go_r, bpath, bargv, envp)
        else:
            _core.child_filter(eng.prog, eng.child_backend, ready_w, go_r, no_new_privs, pdeathsig)
            if post_filter_fn is not None:
                post_filter_fn()
            os.execve(bpath, bargv, env)
    except OSError as e:
        code = EXIT_NOT_FOUND if e.errno == 2 else EXIT_CANNOT_EXEC
        msg = f"{argv[0]}: {e.strerror}"
        if e.errno == 8:  # ENOEXEC
            msg = f"{argv[0]}: cannot execute: Exec format error"
        _write_all(err_w, err_prefix + msg.encode())
    except BaseException as e:  # noqa: BLE001 - report anything, then die
        _write_all(err_w, err_prefix + f"setting up {argv[0]}: {e!r}".encode())
    finally:
        os._exit(code)


def _print_handler_error(fn, call, exc):
    name = getattr(fn, "__qualname__", repr(fn))
    print(f"lxbrand: handler {name} for {syscalls.name_of(call.nr)} (pid {call.pid}) raised "
          f"{type(exc).__name__}: {exc}; the call was denied (EPERM)", file=sys.stderr, flush=True)


def _close_others(keep):
    try:
        fds = [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _write_all(fd, data):
    while data:
        try:
            n = os.write(fd, data)
        except OSError:
            return
        data = data[n:]


def _read_all(fd):
    out = b""
    while True:
        try:
            b = os.read(fd, 4096)
        except OSError:
            return out
        if not b:
            return out
        out += b
