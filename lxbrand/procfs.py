"""Reading another task's /proc entries: the few lookups the handlers share."""
import errno


def tgid(tid):
    """The thread group (process) of thread `tid`, from /proc/TID/status."""
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                return int(line.split()[1])
    raise OSError(errno.ESRCH, "no such task")


def status(pid):
    """/proc/PID/status as {field: [words]}."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out
