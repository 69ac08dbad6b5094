"""File remap (--file, [personality.files]) and syscall remap (ptrace)."""
import os

import pytest

from lxp_helpers import BACKENDS, lxrun, native, progs, sh


@pytest.fixture
def osr(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('NAME="LX zone"\n')
    return f


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_remap_as_the_guest_names_it(backend, osr):
    p = progs()
    if p is None:
        pytest.skip("no C compiler")
    args = ["--backend", backend, "--file", f"/etc/os-release={osr}"]
    out = sh(args, "cat /etc/os-release; cd /etc && cat os-release ../etc/os-release ./os-release")
    assert out == 'NAME="LX zone"\n' * 4
    assert lxrun(args, [p["pcat"], "-d", "/etc", "os-release"]).stdout == 'NAME="LX zone"\n'
    assert lxrun(args, [p["pcat"], "-2", "/etc/os-release"]).stdout == 'NAME="LX zone"\n'
    # other paths, even the symlink's target, are untouched (lexical match)
    assert sh(args, "cat /etc/hostname") == native(["cat", "/etc/hostname"]).stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_remap_inside_a_chroot(backend, osr, tmp_path):
    """The guest path is resolved against the guest's root (/proc/PID/root)."""
    p = progs()
    if p is None:
        pytest.skip("no C compiler")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("inside\n")
    (root / "pcat").write_bytes(open(p["pcat"], "rb").read())
    os.chmod(root / "pcat", 0o755)
    args = ["--backend", backend, "--file", f"/etc/os-release={osr}"]
    # served as an fd on both backends: the chroot needs no view of the supervisor
    want = 'NAME="LX zone"\n'
    r = lxrun(args, ["chroot", str(root), "/pcat", "/etc/os-release"])
    assert r.stdout == want, r.stderr
    r = lxrun(args, ["chroot", str(root), "/pcat", "-d", "/etc", "os-release"])
    assert r.stdout == want, r.stderr
    # the host path /etc/os-release of the chroot's files is not the guest's /etc/os-release
    r = lxrun(["--backend", backend, "--file", f"{root}/etc/os-release={osr}"],
              ["chroot", str(root), "/pcat", "/etc/os-release"])
    assert r.stdout == "inside\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_go_to_the_real_file(backend, osr, tmp_path):
    target = tmp_path / "t"
    target.write_text("real\n")
    args = ["--backend", backend, "--file", f"{target}={osr}"]
    assert sh(args, f"cat {target}; echo more >> {target}") == 'NAME="LX zone"\n'
    assert target.read_text() == "real\nmore\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_toml_files_with_content_and_relative_host_path(backend, tmp_path, osr):
    pol = tmp_path / "p.toml"
    pol.write_text('[personality]\nmemory = "1G"\n'
                   '[personality.files]\n"/etc/os-release" = "os-release"\n'
                   '"/etc/motd" = { content = "welcome to the zone\\n" }\n')
    out = sh(["--backend", backend, "--policy", str(pol)],
             "cat /etc/os-release /etc/motd; grep MemTotal /proc/meminfo", cwd="/")
    assert out.splitlines() == ['NAME="LX zone"', "welcome to the zone", f"MemTotal:{1 << 20:>15} kB"]


@pytest.mark.parametrize("toml,key,problem", [
    ('[personality]\nmemory = "lots"\n', "personality.memory", "size"),
    ('[personality]\ncpus = 0\n', "personality.cpus", "out of range"),
    ('[personality]\nfake_root = "yes"\n', "personality.fake_root", "true or false"),
    ('[personality]\nbogus = 1\n', "personality.bogus", "unknown key"),
    ('[personality.files]\n"/etc/x" = "/nonexistent/file"\n', "personality.files", "does not exist"),
    ('[personality.files]\n"etc/x" = { content = "a" }\n', "personality.files", "absolute"),
    ('[[personality.remap]]\nsyscall = "getppid"\nto = "nosuch"\n', "personality.remap[1].to", "unknown syscall"),
    ('[[personality.remap]]\nsyscall = "getppid"\nto = "getpid"\nargs = ["arg9"]\n',
     "personality.remap[1].args[0]", "arg0"),
])
def test_bad_personality_table_names_file_key_problem(tmp_path, toml, key, problem):
    pol = tmp_path / "p.toml"
    pol.write_text(toml)
    r = lxrun(["--policy", str(pol)], ["true"])
    assert r.returncode == 2
    assert str(pol) in r.stderr and key in r.stderr and problem in r.stderr, r.stderr


def test_bad_cli_options_name_the_flag():
    for args, flag in ((["--memory", "x"], "--memory"), (["--cpus", "-1"], "--cpus"),
                       (["--file", "nohost"], "--file"), (["--file", "/a=/no/such"], "--files")):
        r = lxrun(args, ["true"])
        assert r.returncode == 2 and "command line" in r.stderr, r.stderr
        assert flag.rstrip("s") in r.stderr, r.stderr


def test_syscall_remap_gives_the_replacements_result(tmp_path):
    p = progs()
    if p is None:
        pytest.skip("no C compiler")
    pol = tmp_path / "p.toml"
    pol.write_text('[[personality.remap]]\nsyscall = "getppid"\nto = "getpid"\nargs = []\n')
    nat = native([p["ids"]]).stdout.split()
    assert nat[0] != nat[1].replace("getpid", "getppid")
    out = lxrun(["--backend", "ptrace", "--policy", str(pol)], [p["ids"]]).stdout.split()
    ppid, pid = (int(x.split("=")[1]) for x in out)
    assert ppid == pid   # getppid answered by getpid


def test_syscall_remap_with_rewritten_arguments(tmp_path):
    """faccessat2(dirfd, path, mode, flags) served by faccessat(dirfd, path, mode):
    an older equivalent, as when the host lacks the newer call."""
    pol = tmp_path / "p.toml"
    pol.write_text('[[personality.remap]]\nsyscall = "faccessat2"\nto = "faccessat"\n'
                   'args = ["arg0", "arg1", "arg2"]\n'
                   '[[rule]]\nsyscalls = ["faccessat"]\naction = "trace"\n')
    cmd = f"test -r /etc/passwd && echo readable; test -e {tmp_path}/none || echo absent"
    r = lxrun(["--backend", "ptrace", "--policy", str(pol), "--trace"], ["sh", "-c", cmd])
    assert r.stdout == "readable\nabsent\n"


def test_syscall_remap_refused_on_unotify(tmp_path):
    pol = tmp_path / "p.toml"
    pol.write_text('[[personality.remap]]\nsyscall = "getppid"\nto = "getpid"\n')
    r = lxrun(["--policy", str(pol)], ["true"])
    assert r.returncode == 2 and "ptrace" in r.stderr
