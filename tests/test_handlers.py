"""What a Python handler can do with a trapped call: write the caller's memory,
inject a descriptor (both backends), rewrite the call (ptrace)."""
import os
import subprocess
import sys
import textwrap

import pytest


def _run(code, timeout=60):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


def test_write_into_caller_memory(backend, tmp_path):
    # uname answered by a handler that writes the struct itself
    r = _run(f"""
        from lxbrand import Sandbox, load_policy
        p = load_policy("default")
        @p.handler("uname")
        def uname(call):
            fields = [b"Linux", b"handled", b"1.2.3-handler", b"#1", b"x86_64", b"(none)"]
            call.write(call.args[0], b"".join(f.ljust(65, b"\\0") for f in fields))
            return 0
        Sandbox(p, backend="{backend}").run(["uname", "-rn"]).exit()
    """)
    assert r.stdout == "handled 1.2.3-handler\n", r.stderr


def test_addfd_serves_another_file(backend, tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("served by the supervisor\n")
    r = _run(f"""
        import os
        from lxbrand import Sandbox, load_policy
        from lxbrand._core import CONTINUE
        p = load_policy("default")
        @p.handler("openat")
        def openat(call):
            if call.read_str(call.args[1]) == b"/virtual/file":
                fd = os.open("{real}", os.O_RDONLY)
                try:
                    return call.addfd(fd, send=True, cloexec=bool(call.args[2] & os.O_CLOEXEC))
                finally:
                    os.close(fd)
            return CONTINUE
        Sandbox(p, backend="{backend}").run(["cat", "/virtual/file"]).exit()
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "served by the supervisor\n"


def test_addfd_on_ptrace_is_the_result():
    # ptrace installs an fd only as the call's answer (the tracee runs recvmsg for it)
    r = _run("""
        import errno
        from lxbrand import Sandbox, load_policy
        p = load_policy("default")
        seen = []
        @p.handler("getppid")
        def h(call):
            try:
                call.addfd(0)
            except OSError as e:
                seen.append(e.errno)
                return -e.errno
        Sandbox(p, backend="ptrace").run(["sh", "-c", "exit 0"]).exit()
        assert seen == [errno.EINVAL], seen
    """)
    assert r.returncode == 0, r.stderr


def test_rewrite_runs_another_syscall_under_ptrace(progs):
    # getppid rewritten into getpid: the program gets its own pid back
    r = _run(f"""
        import os
        from lxbrand import Sandbox, load_policy
        from lxbrand import syscalls
        p = load_policy("default")
        seen = []
        @p.handler("getppid")
        def h(call):
            seen.append(call.pid)
            return call.rewrite(syscalls.nr_of("getpid"))
        st = Sandbox(p, backend="ptrace").run(["{progs['getppid_loop']}", "1"])
        print("pid", seen[0])
    """)
    lines = r.stdout.split()
    assert lines[0] == lines[2], r.stdout + r.stderr  # printed result == the caller's pid


def test_rewritten_call_is_filtered_again(progs):
    # rewriting into a syscall the filter kills must not bypass the filter (Linux >= 4.8 re-checks)
    r = _run(f"""
        from lxbrand import Sandbox, load_policy, syscalls
        p = load_policy("default")
        p.kill("getpid", comment="test")
        @p.handler("getppid")
        def h(call):
            return call.rewrite(syscalls.nr_of("getpid"))
        st = Sandbox(p, backend="ptrace").run(["{progs['getppid_loop']}", "1"])
        print("signal", st.signal)
    """)
    assert r.stdout.strip() == "signal 31", r.stdout + r.stderr  # SIGSYS


def test_open_pipeline_precheck_in_c(backend, tmp_path):
    """Opens whose basename no cosmetic hook serves are continued by the engine in C:
    only the served one reaches Python."""
    r = _run(f"""
        from lxbrand import Sandbox, load_policy
        from lxbrand.handlers import files

        class Counting(files.FilePipeline):
            seen = []
            def __call__(self, call):
                Counting.seen.append(call.nr)
                return super().__call__(call)

        p = load_policy("default")
        pipe = Counting()
        p.emulate(["open", "openat", "openat2"], handler=pipe)
        p.file_pipeline = pipe
        pipe.add(lambda req: files.Serve(b"served\\n"), names=["x-served"])
        st = Sandbox(p, backend="{backend}").run(
            ["sh", "-c", "cat /etc/hostname /etc/passwd >/dev/null; cat {tmp_path}/x-served"])
        print("python saw", len(Counting.seen), "code", st.code)
    """)
    assert r.stdout.splitlines() == ["served", "python saw 1 code 0"], r.stdout + r.stderr
