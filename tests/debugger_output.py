"""What tests compare of strace's and gdb's output, natively (or under runc) and under
lxbrand: everything but what differs between any two runs of the same program."""
import re

# gdb -batch on tests/progs/threads.c: a breakpoint, a step, a backtrace, a breakpoint a
# worker thread hits, its backtrace, and the rest of the run
GDB_COMMANDS = ("break main", "run", "next", "bt", "break work", "continue", "bt 1", "info threads", "delete",
                "continue")
# (not the program's own output: it shares gdb's stdout, and a thread-exit notice may cut its line)
_GDB_KEPT = re.compile(r"^(Breakpoint \d|Thread N .*hit|#\d|\d+\t|\[Inferior)")


def gdb_argv(exe):
    argv = ["gdb", "-batch", "-nx"]
    for c in GDB_COMMANDS:
        argv += ["-ex", c]
    return argv + ["--args", exe]


def norm(text):
    """Pids, addresses, the number of environment variables, timings and the padding that
    depends on a pid's width (strace aligns results to a column)."""
    text = re.sub(r"0x[0-9a-f]+", "0xX", text)
    text = re.sub(r"/\* \d+ vars \*/", "/* N vars */", text)
    text = re.sub(r"\b(pid|LWP|process|Process|si_pid=|Thread)( *)\d+", r"\1 N", text)
    text = re.sub(r"^\d+ +", "", text, flags=re.M)          # strace -o's pid column
    text = re.sub(r"si_[us]time=\d+", "si_time=T", text)
    return re.sub(r" {2,}", " ", text)


def gdb_lines(text):
    """The lines of gdb's output that say where the program stopped and what it printed
    (not the thread start and exit notices, whose order races natively too)."""
    return [ln for ln in norm(text).splitlines() if _GDB_KEPT.match(ln)]


def strace_c_rows(text):
    """(syscall, calls, errors) of each row of strace -c's table (its times differ)."""
    rows = []
    for ln in text.splitlines()[2:]:
        t = ln.split()
        if not t or ln.startswith("-") or t[-1] == "total":
            continue
        rows.append((t[-1], t[3], t[4] if len(t) == 6 else ""))
    return sorted(rows)
