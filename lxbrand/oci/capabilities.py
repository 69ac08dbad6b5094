"""Capabilities: names to numbers, and applying the five sets of process.capabilities.

Order (as capabilities(7) requires): drop the bounding set while CAP_SETPCAP is still
effective, then set effective/permitted/inheritable with capset(2), then raise ambient
(each ambient cap must be in permitted and inheritable).
"""
from . import syscalls as sc

# <linux/capability.h>, numbers are ABI
NAMES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
         "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
         "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
         "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
         "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
         "CHECKPOINT_RESTORE").split()
NUMBERS = {"CAP_" + n: i for i, n in enumerate(NAMES)}
ALL_CAPS = list(NUMBERS)


def last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def cap_number(name):
    return NUMBERS.get(name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper())


def permitted_now():
    """This thread's permitted set (a host's root may lack some, e.g. in a sandboxed VM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return 0


def mask(names):
    m = 0
    for n in names or ():
        m |= 1 << cap_number(n)
    return m


def drop_bounding(keep):
    """Drop every capability not named in `keep` from the bounding set."""
    keep_mask = mask(keep)
    for i in range(last_cap() + 1):
        if not keep_mask & (1 << i):
            sc.prctl(sc.PR_CAPBSET_DROP, i)


def apply(caps):
    """Set effective/permitted/inheritable, then ambient, from process.capabilities.

    Capabilities the runtime itself does not hold are left out rather than failing the
    container (runc fails with EPERM): a runtime cannot grant more than it has, e.g. a
    host root without CAP_SYS_RESOURCE running `docker run --privileged`."""
    have = permitted_now()
    sc.capset(mask(caps.get("effective")) & have, mask(caps.get("permitted")) & have,
              mask(caps.get("inheritable")) & have)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for n in caps.get("ambient") or ():
        if have & (1 << cap_number(n)):
            sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap_number(n))
