"""strace and gdb inside a container: `docker run --runtime=lxbrand` gives what
`docker run --runtime=runc` gives (the supervisor hands each target over to the
container's debugger: csrc/debuggee.c); lxbrand-strict still denies ptrace.

Needs the lxbrand-test/debug image (Debian with strace and gdb: .ci/setup-docker.sh)."""
import os
import re
import subprocess
import uuid

import pytest

from debugger_output import gdb_argv, gdb_lines, norm, strace_c_rows
from test_docker import RUNTIME, _docker_ready, docker

IMAGE = os.environ.get("LXBRAND_DEBUG_IMAGE", "lxbrand-test/debug")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _why():
    why = _docker_ready()
    if why:
        return why
    if docker("image", "inspect", IMAGE).returncode != 0:
        return f"image {IMAGE} is missing (bash .ci/setup-docker.sh builds it)"
    return None


_reason = _why()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


def _run(runtime, *argv, mount=None):
    vol = ["-v", f"{mount}:{mount}"] if mount else []
    return docker("run", f"--runtime={runtime}", "--rm", "--name", "lxt-dbg-" + uuid.uuid4().hex[:8], *vol, IMAGE,
                  *argv, timeout=120)


def _both(*argv, mount=None):
    return _run("runc", *argv, mount=mount), _run(RUNTIME, *argv, mount=mount)


def test_strace_f_true_exits_0():
    # issue 12: 'strace: detach: waitpid(5): No child processes' and 1 before
    runc, lx = _both("strace", "-f", "-o", "/dev/null", "true")
    assert runc.returncode == 0, runc.stderr
    assert (lx.returncode, lx.stderr) == (0, "")


def test_strace_f_and_c_as_under_runc():
    script = "strace -f -qq -e trace=execve,write,exit_group sh -c 'echo hi; /bin/echo there; exit 3'"
    runc, lx = _both("sh", "-c", script + " 2>&1")
    assert runc.returncode == lx.returncode == 3
    assert norm(lx.stdout) == norm(runc.stdout)
    assert 'execve("/bin/echo"' in lx.stdout

    runc, lx = _both("sh", "-c", "strace -c -o /dev/stdout /bin/true")
    assert lx.returncode == 0, lx.stderr
    rows = strace_c_rows(lx.stdout)
    assert rows == strace_c_rows(runc.stdout) and any(r[0] == "execve" for r in rows)


def test_strace_p_of_a_sibling_in_a_container():
    script = ('sh -c "sleep 0.6; echo child-out; sleep 2" & p=$!; '
              'timeout -s INT 1.5 strace -qq -o /tmp/p -e trace=write -p $p; '
              'cat /tmp/p; kill $p; wait')
    runc, lx = _both("sh", "-c", script)
    assert lx.returncode == runc.returncode, lx.stderr
    assert 'write(1, "child-out\\n", 10)' in lx.stdout, (lx.stdout, lx.stderr)
    assert norm(lx.stdout) == norm(runc.stdout)


def test_gdb_batch_threads_as_under_runc(tmp_path):
    d = str(tmp_path)
    exe = os.path.join(d, "threads")
    subprocess.run(["gcc", "-g", "-O0", "-pthread", "-o", exe, os.path.join(HERE, "progs", "threads.c")], check=True)
    argv = gdb_argv(exe)
    runc, lx = _both(*argv, mount=d)
    assert runc.returncode == lx.returncode == 0, lx.stderr
    assert gdb_lines(lx.stdout) == gdb_lines(runc.stdout), (lx.stdout, lx.stderr)
    assert any("hit Breakpoint 2, work" in ln for ln in gdb_lines(lx.stdout))
    # the program's own line (32000, or 48000 where its parent, gdb, is pid 1), as under runc
    assert re.findall(r"total \d+", lx.stdout) == re.findall(r"total \d+", runc.stdout) != []


def test_strict_runtime_still_denies_ptrace():
    if docker("info", "--format", "{{json .Runtimes}}").stdout.find('"lxbrand-strict"') < 0:
        pytest.skip("runtime lxbrand-strict is not registered (.ci/setup-docker.sh)")
    r = _run("lxbrand-strict", "strace", "-o", "/dev/null", "true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr


def test_docker_exec_debugger_cannot_take_inits_tree(tmp_path):
    # DIVERGENCE.md: each tree has its own supervisor; a target is handed over only by its own
    n = "lxt-dbgx-" + uuid.uuid4().hex[:8]
    try:
        docker("run", f"--runtime={RUNTIME}", "-d", "--name", n, IMAGE, "sleep", "30", check=True)
        r = docker("exec", n, "strace", "-o", "/dev/null", "-p", "1")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr
        r = docker("exec", n, "sh", "-c", "sleep 5 & p=$!; timeout -s INT 0.5 strace -qq -o /dev/null -p $p; "
                                          "echo $?; kill $p")
        assert r.stdout.split() == ["124"], r.stderr     # within its own tree it works
    finally:
        docker("rm", "-f", n)
