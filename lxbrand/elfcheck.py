"""Refuse executables lxbrand cannot supervise faithfully, before exec.

The filter kills foreign-architecture syscalls anyway; this check turns that
into a clear message instead of a mysterious SIGSYS.  Scripts are checked
through their interpreter (one level, as the kernel's binfmt_script does).
"""
import os
import struct

from lxbrand.errors import ExecFormatError

EM_X86_64 = 62
ELFCLASS64 = 2

_MACHINES = {"EM_386": "i386", "EM_ARM": "arm", "EM_AARCH64": "aarch64", "EM_RISCV": "riscv",
             "EM_PPC64": "ppc64", "EM_S390": "s390x", "EM_MIPS": "mips"}


def check_executable(path, _depth=0):
    """Raise ExecFormatError unless path is an x86_64 64-bit ELF or a script whose
    interpreter is one.  Unreadable or unknown formats are left to the kernel
    (execve reports them as natively)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            if head.startswith(b"#!") and _depth < 4:
                line = head[2:].split(b"\n", 1)[0].strip()
                interp = line.split(None, 1)[0] if line else b""
                if interp.startswith(b"/"):
                    check_executable(os.fsdecode(interp), _depth + 1)
                return
            if not head.startswith(b"\x7fELF"):
                return
            # Fast path, no imports: a 64-bit x86_64 ELF passes on its header alone
            # (e_ident[EI_CLASS] and e_machine).  pyelftools (30 ms to import) reads
            # everything else, to say exactly what is wrong.
            if len(head) >= 20 and head[4] == ELFCLASS64 and struct.unpack_from("<H", head, 18)[0] == EM_X86_64:
                return
            from elftools.elf.elffile import ELFFile
            from elftools.common.exceptions import ELFError
            f.seek(0)
            try:
                elf = ELFFile(f)
                machine, klass = elf["e_machine"], elf.elfclass
            except ELFError as e:
                raise ExecFormatError(f"{path}: malformed ELF file ({e})") from None
    except OSError:
        return
    if machine != "EM_X86_64":
        arch = _MACHINES.get(machine, machine)
        raise ExecFormatError(f"{path}: cannot execute: ELF for {arch}; lxbrand runs x86_64 programs only")
    if klass != 64:
        raise ExecFormatError(f"{path}: cannot execute: 32-bit ELF (x32 ABI); lxbrand runs 64-bit x86_64 programs only")
