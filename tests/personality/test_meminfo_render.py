"""/proc/meminfo as the engine's view renders it (csrc/persona_text.c), on an injected
host (the view's host_root): every line stays the kernel's except the values that
change; and the sandbox's memory usage, from a memory cgroup (containers) or the
walk of the supervisor's descendants (lxrun)."""
import os
import subprocess
import sys
import time

from lxbrand import _core

HOST = (b"MemTotal:       24684092 kB\n"
        b"MemFree:        20131176 kB\n"
        b"MemAvailable:   24250512 kB\n"
        b"Buffers:          373908 kB\n"
        b"Active:          1847768 kB\n"
        b"Active(anon):       1544 kB\n"
        b"AnonPages:        109644 kB\n"
        b"Committed_AS:     167148 kB\n"
        b"CommitLimit:    12342044 kB\n"
        b"HardwareCorrupted:     0 kB\n"
        b"VmallocTotal:   34359738367 kB\n"
        b"HugePages_Total:       0\n"
        b"Hugepagesize:       2048 kB\n")

ZERO = {"Buffers", "Cached", "SwapCached", "SwapTotal", "SwapFree", "Inactive", "Inactive(anon)",
        "Active(file)", "Inactive(file)", "Mapped", "Shmem", "Zswap", "Zswapped", "Dirty", "Writeback",
        "Slab", "SReclaimable", "SUnreclaim", "KReclaimable"}
SET = {"MemTotal", "MemFree", "MemAvailable", "Active", "Active(anon)", "AnonPages"}


def host_root(tmp_path, meminfo, current, stat=b"anon 1\nfile 0\n"):
    """A host whose /proc/meminfo is `meminfo`, and a v2 memory cgroup /cg using
    `current` bytes (memory.stat as given)."""
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "proc" / "meminfo").write_bytes(meminfo)
    (tmp_path / "cg").mkdir(exist_ok=True)
    (tmp_path / "cg" / "memory.current").write_text(f"{current}\n")
    (tmp_path / "cg" / "memory.stat").write_bytes(stat)
    (tmp_path / "cg" / "cgroup.threads").write_text("11\n12\n13\n")
    return str(tmp_path).encode()


def view(tmp_path, meminfo=HOST, memory=256 << 20, used_kb=1000, stat=b"anon 1\nfile 0\n", cache=0):
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    sup.set_persona(_core.PV_MEMORY | _core.PV_USAGE_CGROUP, memory=memory, usage_dir=b"/cg",
                    host_root=host_root(tmp_path, meminfo, used_kb * 1024 + cache, stat))
    return sup


def test_only_changed_values_are_rewritten(tmp_path):
    out = view(tmp_path).persona_read(b"/proc/meminfo").split(b"\n")
    assert out == [
        b"MemTotal:         262144 kB",
        b"MemFree:          261144 kB",
        b"MemAvailable:     261144 kB",
        b"Buffers:               0 kB",           # not the sandbox's
        b"Active:             1000 kB",
        b"Active(anon):       1000 kB",
        b"AnonPages:          1000 kB",
        b"Committed_AS:     167148 kB",           # under the limit: the host's line as is
        b"CommitLimit:      262144 kB",           # over it: capped
        b"HardwareCorrupted:     0 kB",           # a long label keeps the value in column 24
        b"VmallocTotal:   34359738367 kB",        # address space: the host's
        b"HugePages_Total:       0",
        b"Hugepagesize:       2048 kB",
        b""]


def test_a_cgroups_page_cache_counts_as_available(tmp_path):
    """Usage minus the page cache (memory.stat "file"), as LXCFS counts what is available."""
    out = view(tmp_path, used_kb=1000, cache=50 << 20, stat=b"anon 1024000\nfile 52428800\n")
    lines = out.persona_read(b"/proc/meminfo").split(b"\n")
    assert lines[1] == b"MemFree:          261144 kB" and lines[4] == b"Active:             1000 kB"


def test_a_limit_above_the_host_shows_the_host_and_wide_values_push_right(tmp_path):
    out = view(tmp_path, memory=1 << 50, used_kb=5).persona_read(b"/proc/meminfo").split(b"\n")
    assert out[0] == b"MemTotal:       24684092 kB"
    big = HOST.replace(b"MemTotal:       24684092 kB", b"MemTotal:       224684092 kB")
    out = view(tmp_path, big, memory=1 << 50, used_kb=5).persona_read(b"/proc/meminfo").split(b"\n")
    assert out[0] == b"MemTotal:       224684092 kB"       # %8lu grows, as the kernel's does
    assert out[1] == b"MemFree:        224684087 kB"


def test_a_new_kernel_key_is_handled_by_its_shape(tmp_path):
    text = HOST.replace(b"Buffers:", b"Zswap:         3 kB\nBuffers:")
    out = view(tmp_path, text).persona_read(b"/proc/meminfo").split(b"\n")
    assert out[3] == b"Zswap:                 0 kB" and out[4] == b"Buffers:               0 kB"
    assert out[1] == b"MemFree:          261144 kB"


def test_the_hosts_own_meminfo_round_trips(tmp_path):
    """With a limit as large as the host's memory nothing but the computed and zeroed
    values differs from the host's file, byte for byte."""
    host = open("/proc/meminfo", "rb").read()
    out = view(tmp_path, host, memory=1 << 60, used_kb=0).persona_read(b"/proc/meminfo")
    for h, o in zip(host.split(b"\n"), out.split(b"\n")):
        if h.split(b":")[0].decode() not in ZERO | SET:
            assert h == o
    assert len(out.split(b"\n")) == len(host.split(b"\n"))


def test_threads_come_from_the_cgroup(tmp_path):
    """loadavg's running/total and sysinfo's procs count the cgroup's threads."""
    sup = view(tmp_path)
    (tmp_path / "proc" / "loadavg").write_text("9.50 1.15 0.66 7/131 8630\n")
    sup.set_persona(_core.PV_MEMORY | _core.PV_CPUS | _core.PV_USAGE_CGROUP, memory=256 << 20, cpus=1,
                    usage_dir=b"/cg", host_root=str(tmp_path).encode())
    assert sup.persona_read(b"/proc/loadavg") == b"1.00 1.00 0.66 3/3 8630\n"


def test_usage_cgroup_found_from_the_first_process(tmp_path):
    """Without a directory given, the memory cgroup is the sandbox's first process's:
    its /proc/PID/cgroup placed by mountinfo (v1 memory on a hybrid host, else v2)."""
    me = os.getpid()     # no run: the view looks at the supervisor itself
    (tmp_path / "proc" / str(me)).mkdir(parents=True)
    (tmp_path / "proc" / "self").mkdir()
    (tmp_path / "proc" / "meminfo").write_bytes(HOST)
    mi = ("30 23 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
          "31 23 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "proc" / "self" / "mountinfo").write_text(mi)
    (tmp_path / "proc" / str(me) / "cgroup").write_text("4:memory:/docker/c1\n0::/docker/c1\n")
    v1 = tmp_path / "sys/fs/cgroup/memory/docker/c1"
    v1.mkdir(parents=True)
    (v1 / "memory.usage_in_bytes").write_text(f"{(3000 << 10) + (1 << 20)}\n")
    (v1 / "memory.stat").write_text("cache 5\ntotal_cache 1048576\n")
    (v1 / "tasks").write_text("1\n")
    v2 = tmp_path / "sys/fs/cgroup/unified/docker/c1"
    v2.mkdir(parents=True)
    (v2 / "memory.current").write_text("0\n")
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    sup.set_persona(_core.PV_MEMORY | _core.PV_USAGE_CGROUP, memory=256 << 20, host_root=str(tmp_path).encode())
    assert sup.persona_read(b"/proc/meminfo").split(b"\n")[4] == b"Active:             3000 kB"
    # a pure v2 host
    (tmp_path / "proc" / "self" / "mountinfo").write_text("31 23 0:29 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    (tmp_path / "proc" / str(me) / "cgroup").write_text("0::/docker/c1\n")
    v2 = tmp_path / "sys/fs/cgroup/docker/c1"
    v2.mkdir(parents=True)
    (v2 / "memory.current").write_text(f"{2000 << 10}\n")
    (v2 / "memory.stat").write_text("anon 2048000\nfile 0\n")
    sup.set_persona(_core.PV_MEMORY | _core.PV_USAGE_CGROUP, memory=256 << 20, host_root=str(tmp_path).encode())
    assert sup.persona_read(b"/proc/meminfo").split(b"\n")[4] == b"Active:             2000 kB"


def test_usage_is_the_resident_memory_of_the_supervisors_tree():
    """lxrun's view: the RSS of the supervisor's descendants, children of every thread
    included (a child forked by a second thread of a descendant is found), walked
    through /proc/PID/task/TID/children."""
    prog = ("import subprocess, sys, threading, time\n"
            "t = threading.Thread(target=lambda: subprocess.run([sys.executable, '-c', "
            "'import time; x = b\"\\\\1\" * (64 << 20); time.sleep(3)']))\n"
            "t.start(); time.sleep(3)\n")
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    sup.set_persona(_core.PV_MEMORY, memory=1 << 40)
    p = subprocess.Popen([sys.executable, "-c", prog])
    try:
        time.sleep(1.5)
        active = next(int(ln.split()[1]) for ln in sup.persona_read(b"/proc/meminfo").split(b"\n")
                      if ln.startswith(b"Active:"))
        assert active >= 64 << 10, active
    finally:
        p.wait()


def _stat(pid, ppid, threads, rss):
    # proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize rss
    return f"{pid} (a b) S {ppid} " + "0 " * 15 + f"{threads} 0 0 0 {rss} 0 0\n"


def _fake_tree(tmp_path, children_files):
    """me -> 100 (10 pages) -> 101 (20 pages, threads 101..103; 102 forked 200) -> 200 (5 pages)
    -> 5 (2 pages, a pid below ours: pid numbers wrapped); 300 (ppid 1) is not ours."""
    me = os.getpid()
    proc = tmp_path / "proc"
    tree = {100: (me, 1, 10, {100: [101]}), 101: (100, 3, 20, {101: [], 102: [200], 103: []}),
            200: (101, 1, 5, {200: [5]}), 5: (200, 1, 2, {5: []}), 300: (1, 1, 999, {300: []})}
    for pid, (ppid, threads, rss, tasks) in tree.items():
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "stat").write_text(_stat(pid, ppid, threads, rss))
        for tid, kids in tasks.items():
            (proc / str(pid) / "task" / str(tid)).mkdir(parents=True)
            if children_files:
                (proc / str(pid) / "task" / str(tid) / "children").write_text("".join(f"{k} " for k in kids))
    (proc / str(me) / "task" / str(me)).mkdir(parents=True)
    if children_files:
        (proc / str(me) / "task" / str(me) / "children").write_text("100 ")
        (proc / "self" / "task" / str(me)).mkdir(parents=True)
        (proc / "self" / "task" / str(me) / "children").write_text("100 ")
    (proc / "meminfo").write_bytes(HOST)
    (proc / "loadavg").write_text("0.50 0.40 0.30 1/99 4242\n")
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    return str(tmp_path).encode(), 37 * page_kb, 6


def test_tree_walk_and_scan_agree_on_an_injected_proc(tmp_path):
    """The walk down the children files (every thread's) and the scan of every pid's
    parent chain (without CONFIG_PROC_CHILDREN) count the same processes."""
    for children_files in (True, False):
        root, kb, tasks = _fake_tree(tmp_path / str(children_files), children_files)
        sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
        sup.set_persona(_core.PV_MEMORY | _core.PV_CPUS, memory=256 << 20, cpus=2, host_root=root)
        lines = sup.persona_read(b"/proc/meminfo").split(b"\n")
        assert lines[4] == b"Active:         %8d kB" % kb, (children_files, lines[4])
        assert sup.persona_read(b"/proc/loadavg").split()[3] == b"1/%d" % tasks
