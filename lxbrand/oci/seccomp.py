"""config.json's linux.seccomp (e.g. Docker's default profile), compiled with libseccomp.

The filter is loaded in the container's child before the engine installs its own: seccomp
filters stack and the kernel applies the most restrictive verdict (seccomp(2): KILL > TRAP >
ERRNO > USER_NOTIF > TRACE > LOG > ALLOW), so what Docker's profile denies stays denied
while the engine still traps what its policy needs.

libseccomp is reached with ctypes: five plain C calls do not need a compiled binding.
"""
import ctypes
import os
import errno as _errno

from .errors import OCIError

ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000

ARCHES = {  # libseccomp's SCMP_ARCH_* tokens (AUDIT_ARCH_* values)
    "SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_X86": 0x40000003, "SCMP_ARCH_X32": 0x4000003E,
}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_FLTATR_CTL_NNP = 3


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib = None


def _libseccomp():
    global _lib
    if _lib is None:
        try:  # the soname, not find_library (which forks ldconfig)
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as e:
            raise OCIError(f"linux.seccomp: cannot load libseccomp ({e}); "
                           "install libseccomp2") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _lib = lib
    return _lib


def action(name, errno_ret=None, where="linux.seccomp"):
    if name == "SCMP_ACT_ALLOW":
        return ACT_ALLOW
    if name == "SCMP_ACT_ERRNO":
        return ACT_ERRNO | ((_errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return ACT_TRAP
    if name == "SCMP_ACT_TRACE":
        return ACT_TRACE | ((_errno.EPERM if errno_ret is None else errno_ret) & 0xFFFF)
    if name == "SCMP_ACT_LOG":
        return ACT_LOG
    raise OCIError(f"{where}: unsupported action {name!r}")


class Filter:
    """A compiled (not yet loaded) libseccomp filter."""

    def __init__(self, profile):
        lib = _libseccomp()
        self.lib = lib
        default = action(profile["defaultAction"], profile.get("defaultErrnoRet"),
                         "linux.seccomp.defaultAction")
        self.ctx = lib.seccomp_init(default)
        if not self.ctx:
            raise OCIError("linux.seccomp: seccomp_init failed")
        # no_new_privs is decided by process.noNewPrivileges, not by libseccomp's default
        lib.seccomp_attr_set(self.ctx, _FLTATR_CTL_NNP, 0)
        for i, a in enumerate(profile.get("architectures") or ()):
            tok = ARCHES.get(a)
            if tok is None:
                continue  # an architecture this host cannot run: irrelevant here
            rc = lib.seccomp_arch_add(self.ctx, tok)
            if rc < 0 and rc != -_errno.EEXIST:
                raise OCIError(f"linux.seccomp.architectures[{i}]: {a}: error {-rc}")
        for i, rule in enumerate(profile.get("syscalls") or ()):
            act = action(rule["action"], rule.get("errnoRet"), f"linux.seccomp.syscalls[{i}]")
            if act == default:
                continue  # libseccomp refuses rules that repeat the default action
            for groups in _arg_groups(rule.get("args") or []):
                arr = (_ArgCmp * len(groups))()
                for j, a in enumerate(groups):
                    op = OPS.get(a.get("op"))
                    if op is None:
                        raise OCIError(f"linux.seccomp.syscalls[{i}].args: unknown op "
                                       f"{a.get('op')!r}")
                    arr[j] = _ArgCmp(a["index"], op, a.get("value", 0),
                                     a.get("valueTwo", 0))
                for name in rule["names"]:
                    nr = lib.seccomp_syscall_resolve_name(name.encode())
                    if nr == -1:
                        continue  # unknown to this libseccomp/kernel: runc skips it too
                    rc = lib.seccomp_rule_add_array(self.ctx, act, nr, len(groups), arr)
                    if rc < 0:
                        raise OCIError(f"linux.seccomp.syscalls[{i}]: {name}: "
                                       f"seccomp_rule_add failed: {_errno.errorcode.get(-rc, rc)}")

    def load(self):
        rc = self.lib.seccomp_load(self.ctx)
        if rc < 0:
            raise OCIError(f"linux.seccomp: loading the filter failed: "
                           f"{_errno.errorcode.get(-rc, rc)}")

    def export_bpf(self):
        """The compiled program as raw struct sock_filter bytes, what seccomp_load() would
        install (the runtime's C exec loads them with seccomp(2), csrc/runtime/exec.c)."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            rc = self.lib.seccomp_export_bpf(self.ctx, fd)
            if rc < 0:
                raise OCIError(f"linux.seccomp: exporting the filter failed: "
                               f"{_errno.errorcode.get(-rc, rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            out = b""
            while chunk := os.read(fd, 65536):
                out += chunk
            return out
        finally:
            os.close(fd)

    def release(self):
        if self.ctx:
            self.lib.seccomp_release(self.ctx)
            self.ctx = None


def _arg_groups(args):
    """Conditions on one argument index are alternatives (OR), as runc reads them: split
    them into separate rules; conditions on distinct indexes stay in one rule (AND)."""
    by_index = {}
    for a in args:
        by_index.setdefault(a["index"], []).append(a)
    if all(len(v) == 1 for v in by_index.values()):
        return [args]
    groups = [[]]
    for idx in sorted(by_index):
        groups = [g + [a] for g in groups for a in by_index[idx]]
    return groups
