"""/proc/meminfo rendering and the sandbox's memory usage, without a sandbox: the
plan keeps every line the kernel's except the values that change, and the tree
walk finds every descendant (children of every thread)."""
import os
import subprocess
import sys
import time

from lxbrand.personality import resources
from lxbrand.personality.resources import ResourceView

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


def _view(text, memory=256 << 20, used_kb=1000):
    v = ResourceView(memory=memory, cpus=None)
    v._host_meminfo = lambda: text
    v.usage_kb = lambda: used_kb
    return v


def test_only_changed_values_are_rewritten():
    out = _view(HOST).meminfo().split(b"\n")
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


def test_a_limit_above_the_host_shows_the_host_and_wide_values_push_right():
    v = _view(HOST, memory=1 << 50, used_kb=5)
    out = v.meminfo().split(b"\n")
    assert out[0] == b"MemTotal:       24684092 kB"
    big = HOST.replace(b"MemTotal:       24684092 kB", b"MemTotal:       224684092 kB")
    out = _view(big, memory=1 << 50, used_kb=5).meminfo().split(b"\n")
    assert out[0] == b"MemTotal:       224684092 kB"       # %8lu grows, as the kernel's does
    assert out[1] == b"MemFree:        224684087 kB"


def test_the_plan_is_rebuilt_when_the_layout_changes():
    v = _view(HOST)
    v.meminfo()
    text = [HOST]
    v._host_meminfo = lambda: text[0]
    text[0] = HOST.replace(b"Buffers:", b"Zswap:         3 kB\nBuffers:")
    out = v.meminfo().split(b"\n")
    assert out[3] == b"Zswap:                 0 kB" and out[4] == b"Buffers:               0 kB"
    assert out[1] == b"MemFree:          261144 kB"


def test_the_hosts_own_meminfo_round_trips():
    """With a limit as large as the host's memory nothing but the computed and zeroed
    values differs from the host's file, byte for byte."""
    host = open("/proc/meminfo", "rb").read()
    out = _view(host, memory=1 << 60, used_kb=0).meminfo()
    zero = resources._MEMINFO_ZERO | resources._MEMINFO_SET
    for h, o in zip(host.split(b"\n"), out.split(b"\n")):
        if h.split(b":")[0].decode() not in zero:
            assert h == o
    assert len(out.split(b"\n")) == len(host.split(b"\n"))


def test_tree_walk_counts_children_of_every_thread():
    """A child forked by a second thread of a descendant is found, and the walk agrees
    with the full /proc scan."""
    prog = ("import subprocess, sys, threading, time\n"
            "t = threading.Thread(target=lambda: subprocess.run([sys.executable, '-c', "
            "'import time; x = b\"\\\\1\" * (64 << 20); time.sleep(3)']))\n"
            "t.start(); time.sleep(3)\n")
    p = subprocess.Popen([sys.executable, "-c", prog])
    try:
        time.sleep(1.5)
        me = os.getpid()
        tree, scan = resources._tree_rss_pages(me), resources._scan_rss_pages(me)
        kb = tree * resources.PAGE_KB
        assert kb >= 64 << 10, kb
        assert abs(tree - scan) * resources.PAGE_KB < 4096, (tree, scan)
    finally:
        p.wait()
