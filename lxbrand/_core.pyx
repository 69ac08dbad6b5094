# cython: language_level=3
"""Binding of the C engine (csrc/).  Only mechanics live here: the policy layer
(lxbrand.policy) decides, lxbrand.engine drives.  C errors (-errno) become
OSError; nothing else is translated at this layer."""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport errno
from libc.stdlib cimport free, malloc, calloc
from libc.string cimport memset, strncpy
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from posix.types cimport pid_t

cimport lxbrand._engine as E

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    ctypedef int PyGILState_STATE
    PyGILState_STATE PyGILState_Ensure() nogil
    void PyGILState_Release(PyGILState_STATE) nogil
    PyThreadState *PyEval_SaveThread() nogil
    void PyEval_RestoreThread(PyThreadState *) nogil

import errno as _errno
import os

ALLOW = E.LX_ACT_ALLOW
DENY = E.LX_ACT_DENY
KILL = E.LX_ACT_KILL
TRACE = E.LX_ACT_TRACE
RETURN = E.LX_ACT_RETURN
UNAME = E.LX_ACT_UNAME
PYTHON = E.LX_ACT_PYTHON
PATH = E.LX_ACT_PATH
NET = E.LX_ACT_NET
WATCH = E.LX_ACT_WATCH
#: LX_ACT_PATH/NET `value` bit: the Python handler sees every such call the rules allow
UPCALL_ALL = E.LX_PATH_UPCALL_ALL
PERSONA = E.LX_ACT_PERSONA
DEBUG = E.LX_ACT_DEBUG  # ptrace handed over to the program's debugger (csrc/debuggee.c)
# what the personality's view in C shows (csrc/persona.h, Supervisor.set_persona)
PV_IDENTITY = E.LX_PV_IDENTITY
PV_MEMORY = E.LX_PV_MEMORY
PV_CPUS = E.LX_PV_CPUS
PV_CGROUPS = E.LX_PV_CGROUPS
PV_USAGE_CGROUP = E.LX_PV_USAGE_CGROUP
# what a sandbox started with events reports (csrc/events.h)
EVS_EXEC = E.LX_EVS_EXEC
EVS_NET = E.LX_EVS_NET
EVS_DENY = E.LX_EVS_DENY
BACKEND_UNOTIFY = E.LX_BACKEND_UNOTIFY
BACKEND_PTRACE = E.LX_BACKEND_PTRACE
NR_MAX = E.LX_NR_MAX

cdef extern from *:
    # setup.py's binding_digest() of the sources this module was built from
    const char *LX_BINDING_DIGEST
BUILT_FROM = (<bytes>LX_BINDING_DIGEST).decode()


def _binding_digest(srcdir):
    """setup.py's binding_digest() of the sources in srcdir, or None where they are
    not installed (a wheel without them)."""
    import hashlib
    h = hashlib.sha256()
    for name in ("_core.pyx", "_engine.pxd"):
        try:
            with open(os.path.join(srcdir, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
        except FileNotFoundError:
            return None
    return h.hexdigest()


def _refuse_stale_build():
    """A module built from other binding sources than those beside it is stale: Python
    code written for the new ones would meet missing functions and wrong constants at
    run time, so it is refused here, with what to do (psutil refuses a mismatched
    build at import the same way)."""
    here = os.path.dirname(os.path.abspath(__file__))
    now = _binding_digest(here)
    if now is not None and now != BUILT_FROM:
        raise ImportError(f"lxbrand._core ({__file__}) was built from other versions of _core.pyx and "
                          f"_engine.pxd than those in {here}: rebuild it "
                          f"(python3 setup.py build_ext --inplace, or pip install -e .)")


_refuse_stale_build()

#: returned by a handler to let the call run natively
CONTINUE = object()


cdef _oserror(long rc, what=None):
    e = -rc
    if what:
        return OSError(e, os.strerror(e), what)
    return OSError(e, os.strerror(e))


def syscall_nr(name):
    """x86_64 number of a syscall name according to libseccomp, or -1."""
    cdef bytes b = name.encode()
    cdef int nr = E.seccomp_syscall_resolve_name_arch(E.SCMP_ARCH_X86_64, b)
    return nr if nr >= 0 else -1


def watched(int nr):
    """Is nr a call that may change what the engine keeps about its caller (its
    credentials, its root: csrc/view.h)?  Policies whose rules C performs trap them."""
    return bool(E.lx_views_watched(nr))


#: the engine's protections under every policy (csrc/filter.c, lx_filter_protections)
PROT_TTY = E.LX_PROT_TTY
PROT_SUPERVISOR = E.LX_PROT_SUPERVISOR
PROT_LISTENER = E.LX_PROT_LISTENER


def protections(int nr):
    """Which of the engine's own protections (PROT_* bits) apply to syscall nr."""
    return E.lx_filter_protections(nr)


def glob_match(bytes tokens, bytes text, int mode=0):
    """Does text match a compiled glob (csrc/match.h tokens, as uint32 bytes)?  mode 0:
    text is a path (UTF-8, surrogateescape), 1: bytes (Latin-1).  For tests."""
    cdef size_t ntok = len(tokens) // 4, n = len(text)
    cdef uint32_t *cps = <uint32_t *>malloc((n + 1) * sizeof(uint32_t))
    if cps == NULL:
        raise MemoryError()
    try:
        if len(tokens) % 4 or E.lx_tokens_valid(<const uint32_t *><const char *>tokens, ntok) < 0:
            raise ValueError("not a token array")
        n = E.lx_decode(text, n, cps, mode)
        return bool(E.lx_glob(<const uint32_t *><const char *>tokens, ntok, cps, n))
    finally:
        free(cps)


def syscall_name(int nr):
    """libseccomp's name for an x86_64 syscall number, or None."""
    cdef char *p = E.seccomp_syscall_resolve_num_arch(E.SCMP_ARCH_X86_64, nr)
    if p == NULL:
        return None
    try:
        return (<bytes>p).decode()
    finally:
        free(p)


cdef class Deferred:
    """A call's answer, to be sent once (Call.defer)."""
    cdef object owner
    cdef uint64_t id
    cdef bint done

    def send(self, int64_t result):
        """Answer: result >= 0 is the call's value, -errno its error.  ENOENT if the
        caller is gone (killed meanwhile)."""
        cdef Supervisor sup = <Supervisor>self.owner
        if self.done:
            raise RuntimeError("this call was already answered")
        self.done = True
        rc = E.lx_notify_send(sup.s, self.id, result)
        if rc < 0:
            raise _oserror(rc)


cdef class Call:
    """One trapped syscall, valid only while its handler runs."""
    cdef E.lx_call *_c
    cdef object _owner

    cdef _check(self):
        if self._c == NULL:
            raise RuntimeError("this Call is no longer valid: its handler has returned")

    @property
    def nr(self):
        self._check()
        return self._c.nr

    @property
    def pid(self):
        self._check()
        return self._c.pid

    @property
    def tid(self):
        self._check()
        return self._c.tid

    @property
    def id(self):
        self._check()
        return self._c.id

    @property
    def backend(self):
        self._check()
        return "unotify" if self._c.backend == E.LX_BACKEND_UNOTIFY else "ptrace"

    @property
    def args(self):
        self._check()
        return tuple(self._c.args[i] for i in range(6))

    @property
    def path(self):
        """The call's path argument as the engine already read it (bytes), or None.
        A handler must decide on this copy: the engine's own decision was made on it,
        and the caller's memory may have changed since."""
        self._check()
        if self._c.path == NULL:
            return None
        return <bytes>self._c.path

    def _still_valid(self):
        if not E.lx_id_valid(self._c.sup, self._c.id):
            raise OSError(3, "the calling task died while its call was handled")  # ESRCH

    cdef bytes _read(self, uint64_t addr, size_t cap, bint as_str):
        """The caller's memory into a fresh buffer, checked still theirs afterwards."""
        self._check()
        cdef char *buf = <char *>malloc(cap if cap else 1)
        cdef ssize_t rc
        if buf == NULL:
            raise MemoryError()
        try:
            if as_str:
                rc = E.lx_mem_read_str(self._c.pid, addr, buf, cap)
            else:
                rc = E.lx_mem_read(self._c.pid, addr, buf, cap)
            if rc < 0:
                raise _oserror(rc)
            self._still_valid()
            return PyBytes_FromStringAndSize(buf, rc)
        finally:
            free(buf)

    def read(self, uint64_t addr, size_t n):
        """Read n bytes of the caller's memory (once: act on the copy, never re-read)."""
        return self._read(addr, n, False)

    def read_str(self, uint64_t addr, size_t maxlen=4096):
        """Read a NUL-terminated string (bytes, without the NUL)."""
        return self._read(addr, maxlen + 1, True)

    def write(self, uint64_t addr, bytes data):
        """Write data into the caller's memory."""
        self._check()
        self._still_valid()
        rc = E.lx_mem_write(self._c.pid, addr, <const char *>data, len(data))
        if rc < 0:
            raise _oserror(rc)
        return rc

    def addfd(self, int fd, bint send=False, bint cloexec=False):
        """Install a supervisor fd in the caller.  With send=True the new fd
        number is also the call's result (the handler's return value is then
        ignored): atomically on unotify (SECCOMP_ADDFD_FLAG_SEND); on ptrace the
        caller runs socketpair/recvmsg/close with register-only decisive
        arguments (csrc/inject.c), so it can be asked once per call, with send."""
        self._check()
        if send:
            rc = E.lx_install_fd(self._c.sup, self._c, fd, cloexec)  # per backend, in C
        elif self._c.backend == E.LX_BACKEND_PTRACE:
            raise OSError(_errno.EINVAL, "on ptrace an installed fd is the call's result: addfd(send=True)")
        else:
            rc = E.lx_addfd(self._c.sup, self._c.id, fd, 0, os.O_CLOEXEC if cloexec else 0)
        if rc < 0:
            raise _oserror(rc)
        if send:
            self._c.sent = 1
            self._c.ret = rc
        return rc

    def persona_serve(self, bytes path, int dirfd, uint64_t flags, uint64_t resolve=0):
        """Let the personality's view in C answer this open if it serves the file:
        `path`, `dirfd`, `flags` (and openat2's `resolve`) as the handler read them
        (once).  Returns the caller's new fd (the call is answered), or None when
        the view does not serve this file; a failure to serve it raises OSError."""
        self._check()
        if b"\0" in path:
            return None
        rc = E.lx_persona_open(self._c.sup, self._c, path, dirfd, flags, resolve)
        if rc == 0:
            return None
        if self._c.ret < 0:
            raise _oserror(self._c.ret)
        return self._c.ret

    def defer(self):
        """Answer this call later, from another thread (unotify): returns a Deferred
        whose send(result) -- an int, or -errno -- answers it.  The notify thread
        goes on with other calls meanwhile.  The handler's return value is ignored."""
        self._check()
        if self._c.backend != E.LX_BACKEND_UNOTIFY:
            raise OSError(_errno.EOPNOTSUPP, "deferring an answer needs the unotify backend")
        cdef Deferred d = Deferred.__new__(Deferred)
        d.owner = self._owner
        d.id = self._c.id
        self._c.sent = 1
        return d

    def rewrite(self, int nr, args=None):
        """Run another syscall (or other arguments) instead (ptrace backend).
        The kernel checks the rewritten call against the filter again."""
        self._check()
        if self._c.backend != E.LX_BACKEND_PTRACE:
            raise OSError(_errno.EOPNOTSUPP, "rewriting a call needs the ptrace backend")
        self._c.nr = nr
        if args is not None:
            for i, a in enumerate(args):
                self._c.args[i] = a
        self._c.rewrite = 1
        return CONTINUE


cdef int _handler_tramp(void *ctx, E.lx_call *c) noexcept with gil:
    cdef Supervisor sup = <Supervisor>ctx
    cdef Call call = Call.__new__(Call)
    call._c = c
    call._owner = sup
    try:
        r = sup.handler(call)
        if r is CONTINUE:
            c.cont = 1
        elif c.sent:
            pass
        elif r is None:
            c.ret = 0
        else:
            c.ret = int(r)
        return 0
    except OSError as e:
        if e.errno:
            c.ret = -e.errno
            return 0
        sup._report(e)
        return -1
    except BaseException as e:
        sup._report(e)
        return -1
    finally:
        call._c = NULL


cdef int _exec_tramp(void *ctx, pid_t tid) noexcept with gil:
    """After an execve, before the new image runs: the exec checker's verdict.
    False or an exception kills the task (fail closed)."""
    cdef Supervisor sup = <Supervisor>ctx
    try:
        return 0 if sup.exec_checker(tid) else -1
    except BaseException as e:
        sup._report(e)
        return -1


cdef void _flush_tramp(void *ctx, const uint8_t *frames, size_t n) noexcept with gil:
    cdef Supervisor sup = <Supervisor>ctx
    try:
        sup.recorder(PyBytes_FromStringAndSize(<const char *>frames, n))
    except BaseException as e:
        sup._report(e)


cdef _set_field(char *dst, str val):
    b = val.encode()
    if len(b) > 64:
        raise ValueError("uname field %r is longer than 64 bytes" % val)
    memset(dst, 0, 65)
    strncpy(dst, b, 64)


# The notify thread is not a Python thread: give it one thread state for its
# whole life, so each upcall only takes the GIL instead of creating and
# destroying a thread state (PyGILState_Ensure on a thread without one).
cdef void _thread_enter(E.lx_sup *s) noexcept nogil:
    s.py_gs = PyGILState_Ensure()
    s.py_ts = <void *>PyEval_SaveThread()


cdef void _thread_exit(E.lx_sup *s) noexcept nogil:
    PyEval_RestoreThread(<PyThreadState *>s.py_ts)
    PyGILState_Release(<PyGILState_STATE>s.py_gs)


cdef class Supervisor:
    """One sandbox's supervisor: action table, filter, and the supervision loop."""
    cdef E.lx_sup *s
    cdef public object handler      # callable(Call) -> int | CONTINUE
    cdef public object recorder     # callable(list of record tuples)
    cdef public object errors       # exceptions raised by handlers/recorder
    cdef public object exec_checker # callable(tid) -> bool after each execve, or None

    def __cinit__(self, backend):
        self.s = <E.lx_sup *>calloc(1, sizeof(E.lx_sup))
        if self.s == NULL:
            raise MemoryError()
        if backend not in (E.LX_BACKEND_UNOTIFY, E.LX_BACKEND_PTRACE):
            raise ValueError("unknown backend %r" % (backend,))
        E.lx_sup_init(self.s, backend)
        self.s.ctx = <void *>self
        self.errors = []

    def __dealloc__(self):
        if self.s != NULL:
            E.lx_sup_free(self.s)
            free(self.s)

    def _report(self, e):
        self.errors.append(e)

    def set_action(self, int nr, int kind, int err=0, int64_t value=0):
        if nr < 0 or nr >= E.LX_NR_MAX:
            raise ValueError("syscall number %d out of range" % nr)
        self.s.table[nr].kind = kind
        self.s.table[nr].err = err
        self.s.table[nr].value = value

    def set_default(self, int kind, int err=0):
        self.s.dflt.kind = kind
        self.s.dflt.err = err
        for nr in range(E.LX_NR_MAX):
            self.s.table[nr].kind = kind
            self.s.table[nr].err = err

    def set_gate(self, int nr, int path_arg, names):
        """Let the Python handler of `nr` see only calls whose path argument
        (index path_arg) has one of `names` (bytes) as its basename; the others
        continue natively, decided in C.  names is shared by every gated call."""
        cdef Py_ssize_t n = len(names), i
        cdef char **arr = <char **>calloc(n + 1, sizeof(char *))
        if arr == NULL:
            raise MemoryError()
        keep = [bytes(x) for x in names]
        try:
            for i in range(n):
                arr[i] = keep[i]
            rc = E.lx_gate_set(self.s, arr, n)
            if rc < 0:
                raise _oserror(rc)
        finally:
            free(arr)
        self.s.table[nr].gate_arg = path_arg + 1

    def set_path_rules(self, bint default_allow, rules, bint log=True):
        """The compiled [[path]] rules (lxbrand.rules.paths): rules is a list of
        (allow, ops, errno, patterns), patterns a list of (glob, bytes) -- a glob's
        bytes are its csrc/match.h tokens, a prefix's the path without trailing '/'."""
        rc = E.lx_paths_new(self.s, default_allow, log)
        if rc < 0:
            raise _oserror(rc, "path rules")
        cdef uint32_t npat
        cdef uint8_t *globs
        cdef const void **data
        cdef size_t *lens
        for allow, ops, err, pats in rules:
            npat = len(pats)
            globs = <uint8_t *>calloc(npat + 1, 1)
            data = <const void **>calloc(npat + 1, sizeof(void *))
            lens = <size_t *>calloc(npat + 1, sizeof(size_t))
            keep = [bytes(b) for _, b in pats]
            try:
                if globs == NULL or data == NULL or lens == NULL:
                    raise MemoryError()
                for i in range(npat):
                    globs[i] = 1 if pats[i][0] else 0
                    data[i] = <const char *>keep[i]
                    lens[i] = len(keep[i])
                rc = E.lx_paths_add(self.s, allow, ops, err, npat, globs, data, lens)
                if rc < 0:
                    raise _oserror(rc, "path rule")
            finally:
                free(globs)
                free(data)
                free(lens)

    def set_net_rules(self, bint default_allow, rules, bint log=True, bint refuse_sctp=False):
        """The compiled [[network]] rules (lxbrand.rules.net): rules is a list of
        (allow, ops, errno, family, cidrs, ports, path_globs, abstract_globs): cidrs
        as (is_v6, prefix length, 16 address bytes), ports as (lo, hi), globs as
        csrc/match.h token bytes.  refuse_sctp: the policy has [[network]] rules of
        its own (the filter then refuses SCTP sockets)."""
        rc = E.lx_net_new(self.s, default_allow, log, refuse_sctp)
        if rc < 0:
            raise _oserror(rc, "network rules")
        cdef E.lx_cidr *cidr
        cdef uint16_t *ports
        cdef const void **pd
        cdef const void **ad
        cdef size_t *pl
        cdef size_t *al
        for allow, ops, err, family, nets, prts, paths, abstracts in rules:
            cidr = <E.lx_cidr *>calloc(len(nets) + 1, sizeof(E.lx_cidr))
            ports = <uint16_t *>calloc(2 * len(prts) + 1, sizeof(uint16_t))
            pd = <const void **>calloc(len(paths) + 1, sizeof(void *))
            ad = <const void **>calloc(len(abstracts) + 1, sizeof(void *))
            pl = <size_t *>calloc(len(paths) + 1, sizeof(size_t))
            al = <size_t *>calloc(len(abstracts) + 1, sizeof(size_t))
            keep = [bytes(x) for x in paths] + [bytes(x) for x in abstracts]
            try:
                if not (cidr and ports and pd and ad and pl and al):
                    raise MemoryError()
                for i, (v6, plen, addr) in enumerate(nets):
                    cidr[i].v6 = 1 if v6 else 0
                    cidr[i].plen = plen
                    for k in range(16):
                        cidr[i].addr[k] = addr[k]
                for i, (lo, hi) in enumerate(prts):
                    ports[2 * i] = lo
                    ports[2 * i + 1] = hi
                for i in range(len(paths)):
                    pd[i] = <const char *>keep[i]
                    pl[i] = len(keep[i])
                for i in range(len(abstracts)):
                    ad[i] = <const char *>keep[len(paths) + i]
                    al[i] = len(keep[len(paths) + i])
                rc = E.lx_net_add(self.s, allow, ops, err, family, len(nets), cidr, len(prts), ports,
                                  len(paths), pd, pl, len(abstracts), ad, al)
                if rc < 0:
                    raise _oserror(rc, "network rule")
            finally:
                free(cidr)
                free(ports)
                free(pd)
                free(ad)
                free(pl)
                free(al)

    def net_decide(self, int op, int family, bytes ip=b"", int port=0, path=None, abstract=None):
        """The compiled rules' verdict for op on an address: 0 (allowed) or the errno.
        family as the engine parses addresses (AF_INET also for v4-mapped IPv6).  For tests."""
        if self.s.net == NULL:
            raise ValueError("no network rules")
        cdef E.lx_sockaddr a
        memset(&a, 0, sizeof(a))
        a.family = family
        for k in range(min(len(ip), 16)):
            a.ip[k] = ip[k]
        a.port = port
        cdef bytes p = path if path is not None else b""
        cdef bytes ab = abstract if abstract is not None else b""
        if path is not None:
            a.path = <const char *>p
            a.plen = len(p)
        if abstract is not None:
            a.abstract = <const uint8_t *><const char *>ab
            a.alen = len(ab)
        return E.lx_net_decide(self.s.net, op, &a)

    def path_decide(self, int op, bytes path):
        """The compiled rules' verdict for op on path: 0 (allowed) or the errno.  For tests."""
        if self.s.paths == NULL:
            raise ValueError("no path rules")
        return E.lx_paths_decide(self.s.paths, op, path, len(path))

    def set_trace(self, plans, unsigned strsize=32, bint results=True, bint from_exec=True):
        """How this run's own trace records calls (csrc/trace.h): plans {nr: ((what,)*6,
        (param,)*6)}, what memory each record captures (lxbrand.traceshapes); strsize, the
        bytes of a buffer or string kept; results: traced calls are stopped at their exit
        for their result (on unotify they then trap as RET_TRACE: set before compile());
        from_exec: nothing is recorded before the first process's first execve."""
        if strsize < 1 or strsize > E.LX_CAP_STRSIZE_MAX:
            raise ValueError("string size %d out of range (1..%d)" % (strsize, E.LX_CAP_STRSIZE_MAX))
        if self.s.plan == NULL:
            self.s.plan = <E.lx_capplan *>calloc(E.LX_NR_MAX, sizeof(E.lx_capplan))
            if self.s.plan == NULL:
                raise MemoryError()
        memset(self.s.plan, 0, E.LX_NR_MAX * sizeof(E.lx_capplan))
        for nr, (what, param) in plans.items():
            if nr < 0 or nr >= E.LX_NR_MAX:
                continue
            for i in range(6):
                self.s.plan[nr].what[i] = what[i]
                self.s.plan[nr].param[i] = param[i]
        self.s.strsize = strsize
        self.s.trace_exit = results
        self.s.rec_from_exec = from_exec

    def set_uname(self, sysname, nodename, release, version, machine, domainname):
        _set_field(self.s.uts.sysname, sysname)
        _set_field(self.s.uts.nodename, nodename)
        _set_field(self.s.uts.release, release)
        _set_field(self.s.uts.version, version)
        _set_field(self.s.uts.machine, machine)
        _set_field(self.s.uts.domainname, domainname)

    def compile(self):
        """The BPF program for the current table, as raw struct sock_filter bytes."""
        cdef void *buf = NULL
        cdef size_t n = 0
        rc = E.lx_filter_compile(self.s, &buf, &n)
        if rc < 0:
            raise _oserror(rc, "compiling the seccomp filter")
        try:
            return PyBytes_FromStringAndSize(<char *>buf, n)
        finally:
            free(buf)

    cdef _upcalls(self, int pid, bint recording):
        """Point the engine's upcalls at this object's Python callables."""
        self.s.recording = recording
        if self.handler is not None:
            self.s.handler = _handler_tramp
            self.s.thread_enter = _thread_enter
            self.s.thread_exit = _thread_exit
        if self.recorder is not None:
            self.s.flush = _flush_tramp
        if self.exec_checker is not None:
            self.s.exec_check = _exec_tramp
        self.s.child = pid

    def supervise(self, int pid, int ready_fd, int go_fd, bint recording=False, bint wait_first=False):
        """Seize pid, let it run, supervise its tree until no task is left (with
        wait_first, what pid leaves behind is killed when it ends: csrc/tasks.c).
        Returns the first process's wait status (or None if unknown)."""
        cdef int rc
        self._upcalls(pid, recording)
        self.s.wait_first = wait_first
        E.lx_signals_install(self.s)
        try:
            with nogil:
                rc = E.lx_supervise(self.s, pid, ready_fd, go_fd)
        finally:
            E.lx_signals_restore()
        status = self.s.main_status if self.s.main_status_valid else None
        return rc, status

    def supervise_attached(self, int pid, int ready_fd, int go_fd, int ctl_fd=-1, bint recording=False):
        """Supervise pid, a process that is not our child (an OCI container's init or
        exec process): seized at once, armed when it writes to ready_fd, killed if
        ctl_fd closes before carrying b"c" (see lx_supervise_attached).  Signals sent
        to us are not forwarded.  Returns (rc, wait status or None)."""
        cdef int rc
        self._upcalls(pid, recording)
        with nogil:
            rc = E.lx_supervise_attached(self.s, pid, ready_fd, go_fd, ctl_fd)
        status = self.s.main_status if self.s.main_status_valid else None
        return rc, status

    def export_blob(self, unsigned int uts_mask=0):
        """The compiled policy as the bytes C consumers load (blob.c): the action table,
        the uname fields and every section of compiled state."""
        cdef void *buf = NULL
        cdef ssize_t n = E.lx_blob_export(self.s, uts_mask, &buf)
        if n < 0:
            raise _oserror(<int>n, "exporting the compiled policy")
        try:
            return PyBytes_FromStringAndSize(<char *>buf, n)
        finally:
            free(buf)

    def import_blob(self, bytes data):
        """Load a blob written by export_blob (the round trip C consumers make)."""
        rc = E.lx_blob_import(self.s, <const char *>data, len(data))
        if rc < 0:
            raise _oserror(rc, "loading the compiled policy")

    def set_persona(self, unsigned int flags, uint64_t memory=0, double cpus=0.0, double start=0.0,
                    bytes usage_dir=b"", bytes host_root=b""):
        """Configure the personality's view in C (csrc/persona.h): flags PV_*, the
        memory limit in bytes, the CPU count, the CLOCK_BOOTTIME second the sandbox
        started (0: now), the memory cgroup to read usage from (PV_USAGE_CGROUP; b"":
        the first process's).  host_root stands for "/" in every host file the view
        reads (tests); it is not exported in the blob."""
        cdef E.lx_persona_conf conf
        memset(&conf, 0, sizeof(conf))
        if len(usage_dir) >= sizeof(conf.usage_dir) or b"\0" in usage_dir or b"\0" in host_root:
            raise ValueError("usage_dir or host_root is not a path")
        conf.flags = flags
        conf.memory = memory
        conf.cpus = cpus
        conf.start = start
        strncpy(conf.usage_dir, usage_dir, sizeof(conf.usage_dir) - 1)
        rc = E.lx_persona_set(self.s, &conf, host_root)
        if rc < 0:
            raise _oserror(rc, "configuring the personality's view")

    def persona_read(self, bytes path):
        """What an open of guest path `path` is served by the view, or None."""
        cdef E.lx_buf b
        memset(&b, 0, sizeof(b))
        rc = E.lx_persona_content(self.s, path, &b)
        try:
            if rc < 0:
                raise _oserror(rc, path.decode(errors="replace"))
            return PyBytes_FromStringAndSize(<char *>b.data, b.len) if rc else None
        finally:
            E.lx_buf_free(&b)

    def persona_cgroup_dirs(self):
        """[(version, frozenset(controllers), directory)] of the supervisor's cgroups
        as a reader finds them (under the view's host_root)."""
        cdef E.lx_buf b
        memset(&b, 0, sizeof(b))
        rc = E.lx_persona_cgroup_dirs(self.s, &b)
        try:
            if rc < 0:
                raise _oserror(rc, "cgroup directories")
            text = PyBytes_FromStringAndSize(<char *>b.data, b.len).decode()
        finally:
            E.lx_buf_free(&b)
        out = []
        for line in text.splitlines():
            version, ctrls, d = line.split(" ", 2)
            out.append((int(version), frozenset(c for c in ctrls.split(",") if c), d))
        return out

    @property
    def child_backend(self):
        """The backend the child installs its filter for (no listener when nothing traps)."""
        return E.lx_child_backend(self.s)

    def set_events(self, unsigned flags, default_note=None, syscall_notes=None, path_notes=(), net_notes=()):
        """What this sandbox reports as events (csrc/events.h): flags EVS_*, and the
        comments of its rules -- the policy default's, each syscall's deciding rule's
        {nr: text}, the [[path]] and [[network]] rules' in order -- that denial events
        carry.  Set before compile(): with EVS_DENY, denied syscalls trap."""
        rc = E.lx_events_set(self.s, flags)
        if rc < 0:
            raise _oserror(rc, "events")
        notes = [(0, 0, default_note)] + [(E.LX_EVSRC_SYSCALL, nr, t) for nr, t in (syscall_notes or {}).items()]
        notes += [(E.LX_EVSRC_PATH, i, t) for i, t in enumerate(path_notes)]
        notes += [(E.LX_EVSRC_NET, i, t) for i, t in enumerate(net_notes)]
        cdef bytes b
        for family, index, text in notes:
            if not text:
                continue
            b = text.encode("utf-8", "replace").replace(b"\0", b" ")
            rc = E.lx_events_note(self.s, family, index, b)
            if rc < 0:
                raise _oserror(rc, "an event note")

    @property
    def trace_exit(self):
        """Do traced calls stop at their exit (for their result)?  (set_trace)"""
        return bool(self.s.trace_exit)

    @property
    def sync_wakeup(self):
        return bool(self.s.sync_wakeup)

    @property
    def traps(self):
        return self.s.traps

    def stats(self):
        """[(nr, count, errors, ns)] for every syscall that trapped."""
        return [(nr, self.s.count[nr], self.s.errors[nr], self.s.ns[nr])
                for nr in range(E.LX_NR_MAX) if self.s.count[nr]]


def persona_basenames(unsigned int flags):
    """The basenames of the files a view with `flags` may serve."""
    cdef const char *names[64]
    cdef size_t n = E.lx_persona_basenames(flags, names, 64), i
    return [(<bytes>names[i]).decode() for i in range(min(n, 64))]


def child_exec(bytes prog, int backend, int ready_fd, int go_fd, bytes path, argv, envp):
    """In the forked child: wait to be seized, install the filter, execve.
    Returns only on failure (raises OSError)."""
    cdef Py_ssize_t na = len(argv), ne = len(envp), i
    cdef char **cargv = <char **>calloc(na + 1, sizeof(char *))
    cdef char **cenvp = <char **>calloc(ne + 1, sizeof(char *))
    keep = [bytes(a) for a in argv] + [bytes(e) for e in envp]
    for i in range(na):
        cargv[i] = keep[i]
    for i in range(ne):
        cenvp[i] = keep[na + i]
    rc = E.lx_child_exec(<const char *>prog, len(prog), backend, ready_fd, go_fd, path, cargv, cenvp)
    free(cargv)
    free(cenvp)
    raise _oserror(rc, path.decode(errors="replace"))


def child_filter(bytes prog, int backend, int ready_fd, int go_fd, bint no_new_privs=True,
                 bint pdeathsig=True):
    """In the forked child: wait to be seized, install the filter, return (the
    caller finishes its setup under the filter, then execs).  With
    no_new_privs=False it stays off if the filter can be installed without it;
    pdeathsig=False when the supervisor is not our parent (OCI containers)."""
    rc = E.lx_child_filter(<const char *>prog, len(prog), backend, ready_fd, go_fd, no_new_privs,
                           pdeathsig)
    if rc < 0:
        raise _oserror(rc, "installing the seccomp filter")
