"""Path rules over the rest of the path syscalls (performed by the engine: csrc/pathcalls.c):
statfs, inotify_add_watch, chdir, access/faccessat2, readlink(at), chmod/fchmodat2,
chown/lchown/fchownat, utimes/utimensat, the xattr calls, name_to_handle_at,
execveat(fd, ""), linkat(fd, ""), and the fd calls that change a file the program
holds (fchmod, fchown, futimens, fsetxattr, fremovexattr); chroot and mounts refused.

Each call: an allowed path gives what the same program prints natively (the
supervisor performs the call on what it resolved, as the program), a denied one
the rule's errno.  Races: a second thread flips the path between an allowed and a
denied one while the main thread calls, thousands of times: nothing reaches the
denied file.  Both backends.  tests/security/progs/pathcall.c is the program."""
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import BACKENDS, run_lxrun
from sec import secprogs  # noqa: F401 - a fixture

RULES = """
path_default = "allow"
[[path]]
action = "deny"
paths = ["{b}/hid", "/dev/shm", "{b}/many/h*"]
errno = "ENOENT"
comment = "hidden"
[[path]]
action = "deny"
ops = ["create", "write"]
paths = ["{b}/rox"]
comment = "read-only tree"
[[path]]
action = "deny"
ops = ["read"]
paths = ["{b}/nor"]
comment = "may be listed by stat, not read or watched"
[[path]]
action = "deny"
ops = ["exec"]
paths = ["{b}/bin"]
comment = "no programs from here"
"""


@pytest.fixture(scope="module")
def tree():
    b = tempfile.mkdtemp(prefix="lxbrand-pathcalls-", dir="/tmp")
    os.chmod(b, 0o755)
    for d in ("pub", "hid", "rox", "nor", "bin"):
        os.makedirs(f"{b}/{d}")
        os.chmod(f"{b}/{d}", 0o777)
    for f, text in (("pub/data", "fine\n"), ("hid/data", "SECRET\n"), ("rox/data", "ro\n"), ("nor/data", "nor\n")):
        with open(f"{b}/{f}", "w") as fh:
            fh.write(text)
    os.symlink("data", f"{b}/pub/link")
    os.symlink("data", f"{b}/hid/link")
    os.symlink(f"{b}/hid/data", f"{b}/pub/tohid")
    yield b
    shutil.rmtree(b, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def pol(tree, tmp_path):
    p = tmp_path / "paths.toml"
    p.write_text(RULES.format(b=tree))
    return str(p)


def fresh(path, mode=0o644, text="x\n"):
    """A file in a known state (the calls under test change it)."""
    if os.path.lexists(path):
        os.unlink(path)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


def lx(backend, pol, argv, **kw):
    return run_lxrun(["--backend", backend, "--policy", pol], argv, **kw)


def native(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def same(backend, pol, argv, setup=None):
    """The output natively and under the rules, each after `setup()`; asserted equal."""
    if setup:
        setup()
    n = native(argv)
    if setup:
        setup()
    s = lx(backend, pol, argv)
    assert (s.returncode, s.stdout) == (n.returncode, n.stdout), (argv, n.stdout, s.stdout, s.stderr[-500:])
    return n.stdout


def denied(backend, pol, argv, want, setup=None):
    if setup:
        setup()
    s = lx(backend, pol, argv)
    assert s.stdout.splitlines() == want, (argv, s.stdout, s.stderr[-500:])


EACCES, ENOENT = "Permission denied", "No such file or directory"


def test_statfs(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    for p in (f"{tree}/pub/data", "/proc", "/dev", f"{tree}/pub/link"):
        assert same(backend, pol, [pc, "statfs", p]).startswith("statfs type=")
    denied(backend, pol, [pc, "statfs", f"{tree}/hid/data"], [f"statfs -1 {ENOENT}"])
    denied(backend, pol, [pc, "statfs", f"{tree}/pub/tohid"], [f"statfs -1 {ENOENT}"])  # where the link leads
    denied(backend, pol, [pc, "statfs", "/dev/shm"], [f"statfs -1 {ENOENT}"])


def test_access_and_faccessat2(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    for p in (f"{b}/pub/data", f"{b}/pub/link", f"{b}/rox/data", f"{b}/pub", "/nonexistent"):
        for mode in ("f", "r", "rw", "x"):
            if "rox" in p and "w" in mode:
                continue
            same(backend, pol, [pc, "access", p, mode])
    for e in ("0", "1"):
        same(backend, pol, [pc, "faccessat2", f"{b}/pub/data", "rw", e])
        denied(backend, pol, [pc, "faccessat2", f"{b}/rox/data", "rw", e], [f"faccessat2 -1 {EACCES}"])
    denied(backend, pol, [pc, "faccessat2", f"{b}/hid/data", "f", "0"], [f"faccessat2 -1 {ENOENT}"])
    denied(backend, pol, [pc, "access", f"{b}/hid/data", "f"], [f"access -1 {ENOENT}"])
    # the answer is the rules' too: "could I write it?" -- not in a read-only tree
    denied(backend, pol, [pc, "access", f"{b}/rox/data", "w"], [f"access -1 {EACCES}"])
    denied(backend, pol, [pc, "access", f"{b}/nor/data", "r"], [f"access -1 {EACCES}"])
    same(backend, pol, [pc, "access", f"{b}/nor/data", "f"])


def test_readlink(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    assert same(backend, pol, [pc, "readlink", f"{b}/pub/link"]) == "readlink data\nreadlink-short 2 da\n"
    same(backend, pol, [pc, "readlink", f"{b}/pub/data"])  # EINVAL: not a link
    denied(backend, pol, [pc, "readlink", f"{b}/hid/link"], [f"readlink -1 {ENOENT}"])


def test_readlinkat_on_an_fd(backend, pol, tree, secprogs):
    """readlinkat(fd, "") of an O_PATH fd of the link itself."""
    pc = secprogs["pathcall"]
    r = lx(backend, pol, [pc, "readlinkfd", f"{tree}/pub/link"])
    if r.stdout == f"open -1 {EACCES}\n":
        pytest.xfail("under path rules an O_PATH open of a symlink itself fails with EACCES (DIVERGENCE.md, "
                     "[[path]] opens: ADDFD cannot install O_PATH files)")
    assert r.stdout == "readlinkfd data\nreadlinkfd-short 2 da\n", r.stderr


def test_chmod_and_fchmod(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    for m in ("chmod", "fchmod", "fchmodat2e"):
        assert same(backend, pol, [pc, m, f"{b}/pub/c", "600"], lambda: fresh(f"{b}/pub/c")) == f"{m} 0\nmode 600\n"
        fresh(f"{b}/rox/c")
        denied(backend, pol, [pc, m, f"{b}/rox/c", "600"], [f"{m} -1 {EACCES}"])
        assert os.stat(f"{b}/rox/c").st_mode & 0o777 == 0o644
    denied(backend, pol, [pc, "chmod", f"{b}/hid/data", "600"], [f"chmod -1 {ENOENT}"])


def test_chown_and_fchown(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    for m in ("chown", "lchown", "fchown", "fchownate"):
        out = same(backend, pol, [pc, m, f"{b}/pub/c", "65534", "65534"], lambda: fresh(f"{b}/pub/c"))
        assert out == f"{m} 0 owner 65534 65534\n"
        fresh(f"{b}/rox/c")
        denied(backend, pol, [pc, m, f"{b}/rox/c", "65534", "65534"], [f"{m} -1 {EACCES}"])
        assert os.stat(f"{b}/rox/c").st_uid == 0


def test_utimes_and_futimens(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    for m in ("utimes", "futimens", "utimensate"):
        assert same(backend, pol, [pc, m, f"{b}/pub/c"], lambda: fresh(f"{b}/pub/c")) == f"{m} 0\ntimes 1000 2000\n"
        fresh(f"{b}/rox/c")
        denied(backend, pol, [pc, m, f"{b}/rox/c"], [f"{m} -1 {EACCES}"])
        assert os.stat(f"{b}/rox/c").st_mtime != 2000


def test_xattrs_by_path_and_by_fd(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    n = native([pc, "xattr", fresh(f"{b}/pub/c")])
    if "Operation not supported" in n.stdout:
        pytest.skip("no user xattrs on this filesystem")
    for m in ("xattr", "fxattr"):
        out = same(backend, pol, [pc, m, f"{b}/pub/c"], lambda: fresh(f"{b}/pub/c"))
        assert out == "setxattr 0\ngetxattr v1\ngetxattr-size 2\nlistxattr user.t\nremovexattr 0\n"
        fresh(f"{b}/rox/c")
        denied(backend, pol, [pc, m, f"{b}/rox/c"],
               [f"setxattr -1 {EACCES}", "getxattr -1 No data available", "getxattr-size -1",
                f"removexattr -1 {EACCES}"])
        assert os.listxattr(f"{b}/rox/c") == []
    denied(backend, pol, [pc, "xattr", f"{b}/hid/data"],
           [f"setxattr -1 {ENOENT}", f"getxattr -1 {ENOENT}", "getxattr-size -1", f"listxattr -1 {ENOENT}",
            f"removexattr -1 {ENOENT}"])


def test_inotify_add_watch(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    out = same(backend, pol, [pc, "inotify", f"{b}/pub"])
    assert out == "inotify_add_watch 1\nevent create .n\nevent delete .n\n"  # the watch is the program's
    same(backend, pol, [pc, "inotify", f"{b}/pub/data"])
    same(backend, pol, [pc, "inotifynf", f"{b}/pub/link"])
    denied(backend, pol, [pc, "inotify", f"{b}/nor"], [f"inotify_add_watch -1 {EACCES}"])
    denied(backend, pol, [pc, "inotify", f"{b}/hid"], [f"inotify_add_watch -1 {ENOENT}"])
    denied(backend, pol, [pc, "inotify", f"{b}/pub/tohid"], [f"inotify_add_watch -1 {ENOENT}"])


def test_chdir(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    assert same(backend, pol, [pc, "chdir", f"{b}/pub"]) == f"chdir 0 cwd={b}/pub\ndata fine\n"
    same(backend, pol, [pc, "chdir", f"{b}/pub/data"])  # ENOTDIR
    same(backend, pol, [pc, "chdir", f"{b}/nope"])
    denied(backend, pol, [pc, "chdir", f"{b}/hid"], [f"chdir -1 {ENOENT}"])


def test_name_to_handle_at(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    out = same(backend, pol, [pc, "handle", f"{b}/pub/data"])
    if "not supported" in out:
        pytest.skip(f"no file handles here: {out}")
    assert out.startswith("name_to_handle_at bytes=")
    same(backend, pol, [pc, "handle", f"{b}/pub/link", "0x400"])  # AT_SYMLINK_FOLLOW
    same(backend, pol, [pc, "handle", f"{b}/pub/link", "0"])
    assert "Value too large" in same(backend, pol, [pc, "handle0", f"{b}/pub/data"])  # EOVERFLOW + the size
    denied(backend, pol, [pc, "handle", f"{b}/hid/data"], [f"name_to_handle_at -1 {ENOENT} need=128"])


def test_execveat_and_linkat_on_an_fd(backend, pol, tree, secprogs):
    pc = secprogs["pathcall"]
    b = tree
    ok = shutil.copy(pc, f"{b}/pub/pc")
    no = shutil.copy(pc, f"{b}/bin/pc")
    assert same(backend, pol, [pc, "execfd", ok]) == "ran\n"
    denied(backend, pol, [pc, "execfd", no], [f"execveat -1 {EACCES}"])
    for f in (f"{b}/pub/hl", f"{b}/rox/hl"):
        if os.path.exists(f):
            os.unlink(f)
    if os.geteuid() == 0:  # linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH
        r = lx(backend, pol, [pc, "linkfd", f"{b}/pub/data", f"{b}/pub/hl"])
        assert r.stdout == "linkat 0\n" and os.path.samefile(f"{b}/pub/hl", f"{b}/pub/data"), r.stderr
        denied(backend, pol, [pc, "linkfd", f"{b}/rox/data", f"{b}/pub/hl2"], [f"linkat -1 {EACCES}"])
        denied(backend, pol, [pc, "linkfd", f"{b}/pub/data", f"{b}/rox/hl"], [f"linkat -1 {EACCES}"])
        assert not os.path.exists(f"{b}/pub/hl2") and not os.path.exists(f"{b}/rox/hl")


def test_chroot_and_mounts_refused(backend, pol, tree, secprogs):
    """Rules match paths as the program sees them, from its root and in its mount
    namespace: a chroot or a bind mount (root, or anyone after unshare(CLONE_NEWUSER))
    would put the denied tree under an allowed name.  Refused under path rules."""
    pc = secprogs["pathcall"]
    b = tree
    r = native([pc, "chroot", f"{b}/hid", "/data"])
    if r.stdout.startswith("unshare -1"):
        pytest.skip(f"no user namespaces here: {r.stdout}")
    assert r.stdout == "read SECRET\n"  # natively it works: this is what the rules stop
    denied(backend, pol, [pc, "chroot", f"{b}/hid", "/data"], ["chroot -1 Operation not permitted"])
    argv = [pc, "bindmount", f"{b}/hid", f"{b}/pub", "data"]
    assert native(argv).stdout == "read SECRET\n"
    # (the program first makes its mounts private, so nothing propagates out: refused already)
    denied(backend, pol, argv, ["mount-private -1 Operation not permitted"])


def test_unix_socket_paths(backend, pol, tree, secprogs):
    """A UNIX socket's path is a file: connect and send to it are judged "write", bind
    "create" (without [[network]] rules too), on the resolved path."""
    import socket
    pc = secprogs["pathcall"]
    b = tree
    socks = []
    for d, kind in (("pub", socket.SOCK_STREAM), ("hid", socket.SOCK_STREAM), ("pub", socket.SOCK_DGRAM),
                    ("hid", socket.SOCK_DGRAM)):
        name = f"{b}/{d}/{'s' if kind == socket.SOCK_STREAM else 'd'}"
        if os.path.exists(name):
            os.unlink(name)
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(name)
        if kind == socket.SOCK_STREAM:
            s.listen(8)
        socks.append(s)
    os.symlink(f"{b}/hid/s", f"{b}/pub/tos")
    try:
        assert same(backend, pol, [pc, "uconnect", f"{b}/pub/s"]) == "uconnect 0\n"
        assert same(backend, pol, [pc, "usend", f"{b}/pub/d"]) == "usend 2\n"
        denied(backend, pol, [pc, "uconnect", f"{b}/hid/s"], [f"uconnect -1 {ENOENT}"])
        denied(backend, pol, [pc, "uconnect", f"{b}/pub/tos"], [f"uconnect -1 {ENOENT}"])  # where the link leads
        denied(backend, pol, [pc, "usend", f"{b}/hid/d"], [f"usend -1 {ENOENT}"])
        socks[3].setblocking(False)
        with pytest.raises(BlockingIOError):
            socks[3].recv(16)  # nothing reached the hidden socket
        denied(backend, pol, [pc, "ubind", f"{b}/rox/b"], [f"ubind -1 {EACCES}"])
        assert not os.path.exists(f"{b}/rox/b")
        r = lx(backend, pol, [pc, "ubind", f"{b}/pub/b"])
        assert r.stdout == "ubind 0\n" and os.path.exists(f"{b}/pub/b"), r.stderr
    finally:
        for s in socks:
            s.close()
        for f in ("pub/s", "hid/s", "pub/d", "hid/d", "pub/tos", "pub/b"):
            if os.path.lexists(f"{b}/{f}"):
                os.unlink(f"{b}/{f}")


def test_path_rules_do_not_open_what_strict_denies(backend, tree, tmp_path, secprogs):
    """strict denies by default; path rules take over the path calls it allows, and
    leave the ones it never allowed (here fchmodat2) denied."""
    import lxbrand
    base = open(os.path.join(os.path.dirname(lxbrand.__file__), "profiles", "strict.toml")).read()
    pol = tmp_path / "strict-paths.toml"
    pol.write_text(base.replace('default_errno = "EPERM"', 'default_errno = "EPERM"\n' + RULES.format(b=tree), 1))
    pc = secprogs["pathcall"]
    fresh(f"{tree}/pub/c")
    denied(backend, str(pol), [pc, "fchmodat2e", f"{tree}/pub/c", "600"], ["fchmodat2e -1 Operation not permitted"])
    assert same(backend, str(pol), [pc, "chmod", f"{tree}/pub/c", "600"], lambda: fresh(f"{tree}/pub/c")) == \
        "chmod 0\nmode 600\n"


def test_listings_leave_out_hidden_names(backend, pol, tree, secprogs):
    """A name a rule hides (deny stat, ENOENT) is not in its directory's listing
    (getdents64 and the old getdents, small buffers, a directory where most names
    are hidden); names denied with EACCES are listed, as natively."""
    pc = secprogs["pathcall"]
    b = tree
    many = f"{b}/many"
    if not os.path.isdir(many):
        os.makedirs(many)
        for i in range(600):
            open(f"{many}/{'h' if i % 5 else 'v'}{i:04d}", "w").close()
    for d, hidden in ((b, {"hid"}), (many, {n for n in os.listdir(many) if n.startswith("h")})):
        for size, old in (("65536", "0"), ("200", "0"), ("4096", "1")):
            n = native([pc, "list", d, size, old])
            s = lx(backend, pol, [pc, "list", d, size, old])
            assert n.returncode == 0 and s.returncode == 0, s.stdout + s.stderr[-300:]
            want = [x for x in n.stdout.splitlines() if x not in hidden]
            assert s.stdout.splitlines() == want, (d, size, old)
    assert "nor" in lx(backend, pol, [pc, "list", b, "4096", "0"]).stdout.split()


def test_calls_use_the_programs_credentials(backend, pol, tree, secprogs):
    """The supervisor (root here) performs the calls with the program's credentials
    (nobody): the kernel's answers are the ones nobody gets natively."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the program must run as another user than the supervisor")
    b = tree
    att, pc = shutil.copy(secprogs["attack"], f"{b}/pub/att"), shutil.copy(secprogs["pathcall"], f"{b}/pub/pc2")
    os.makedirs(f"{b}/pub/rootdir", exist_ok=True)
    os.chmod(f"{b}/pub/rootdir", 0o700)

    def setup():
        fresh(f"{b}/pub/rootfile", 0o600)
        fresh(f"{b}/pub/nobodys", 0o644)
        os.chown(f"{b}/pub/nobodys", 65534, 65534)

    cases = [["chmod", f"{b}/pub/rootfile", "644"], ["fchmod", f"{b}/pub/nobodys", "600"],
             ["chmod", f"{b}/pub/nobodys", "640"], ["access", f"{b}/pub/rootfile", "r"],
             ["access", f"{b}/pub/nobodys", "rw"], ["utimes", f"{b}/pub/rootfile"], ["utimes", f"{b}/pub/nobodys"],
             ["inotify", f"{b}/pub/rootdir"], ["statfs", f"{b}/pub/rootdir/x"], ["list", f"{b}/pub/rootdir", "4096", "0"],
             ["chown", f"{b}/pub/nobodys", "0", "0"], ["xattr", f"{b}/pub/rootfile"]]
    for c in cases:
        argv = [att, "asuser", "65534", pc, *c]
        out = same(backend, pol, argv, setup)
        assert "Permission denied" in out or "Operation not permitted" in out or " 0" in out, (c, out)


def test_calls_around_the_rules_are_refused():
    """Every call in paths.REFUSED is denied (EPERM) by a policy with path rules,
    whatever the profile allowed, and the filter knows each name."""
    from lxbrand import syscalls
    from lxbrand.rules.paths import REFUSED
    from lxbrand.policy import from_dict
    p = from_dict({"path": [{"action": "deny", "paths": ["/x"]}]}, "t.toml")
    for name in REFUSED:
        assert syscalls.nr_of(name) is not None, name
        r = p.action_of(name)
        assert (r.action, r.errno) == ("deny", 1), (name, r)


def test_syscalls_newer_than_the_table_cannot_go_around_the_rules(backend, pol, tree, secprogs):
    """setxattrat(2) (Linux 6.13) writes an xattr by path.  libseccomp here names
    syscalls up to 456 only; under path rules the filter gives the numbers above its
    table ENOSYS (the program falls back to setxattr, which is judged).  Before that,
    the default profile let it write an xattr into the read-only tree."""
    pc = secprogs["pathcall"]
    b = tree
    n = native([pc, "setxattrat", fresh(f"{b}/pub/c")])
    if n.stdout != "setxattrat 0\n":
        pytest.skip(f"no setxattrat here: {n.stdout}")
    fresh(f"{b}/rox/c")
    denied(backend, pol, [pc, "setxattrat", f"{b}/rox/c"], ["setxattrat -1 Function not implemented"])
    assert os.listxattr(f"{b}/rox/c") == []


RACES = [  # op, good, bad: same length; the tree below makes each outcome tell what was used
    ("access", "pub/f", "hid/f"),
    ("chmod", "pub/g", "rox/g"),
    ("xattr", "pub/x", "rox/x"),
    ("chdir", "pub", "hid"),
    ("inotify", "pub", "nor"),
    ("uconnect", "pub/L", "hid/L"),
]


class _Accepting:
    """A UNIX stream listener that accepts and drops every connection (the race connects thousands of times)."""

    def __init__(self, path):
        import socket
        import threading
        if os.path.lexists(path):
            os.unlink(path)
        self.path, self.s = path, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.bind(path)
        self.s.listen(128)
        self.s.settimeout(0.2)
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import socket
        while not self.stop:
            try:
                self.s.accept()[0].close()
            except (socket.timeout, OSError):
                continue

    def close(self):
        self.stop = True
        self.t.join(5)
        self.s.close()
        os.unlink(self.path)


@pytest.mark.parametrize("op,good,bad", RACES, ids=[r[0] for r in RACES])
def test_path_flipped_between_check_and_use_never_reaches_the_denied_file(backend, pol, tree, secprogs, op, good,
                                                                           bad):
    """A thread flips the path between an allowed and a denied file while the main
    thread calls, 3000 times: the supervisor judges and performs on what it read once,
    so the denied file is never reached (chdir: the kernel re-reads the path, but the
    directory it lands in gives nothing: ./data is judged where it is; uconnect: the
    sockaddr's path, a UNIX socket in the hidden directory never accepts us)."""
    b = tree
    fresh(f"{b}/pub/f", 0o644)
    fresh(f"{b}/hid/f", 0o755)
    fresh(f"{b}/pub/g")
    fresh(f"{b}/rox/g")
    fresh(f"{b}/pub/x")
    fresh(f"{b}/rox/x")
    if op == "xattr":
        try:
            os.setxattr(f"{b}/pub/x", "user.probe", b"1")
        except OSError:
            pytest.skip("no user xattrs on this filesystem")
    n = 3000
    listeners = [_Accepting(f"{b}/{good}"), _Accepting(f"{b}/{bad}")] if op == "uconnect" else []
    try:
        r = lx(backend, pol, [secprogs["pathcall"], "race", op, f"{b}/{good}", f"{b}/{bad}", str(n)], timeout=170)
    finally:
        for listener in listeners:
            listener.close()
    assert r.stdout.startswith(f"race {op} "), r.stderr[-500:]
    print(backend, r.stdout.strip())  # the counts, for the record (pytest -s)
    got = dict(kv.split("=") for kv in r.stdout.split()[2:])
    assert got["leaked"] == "0", r.stdout
    assert got["other"] == "0", r.stdout
    assert int(got["ok"]) + int(got["denied"]) == int(got["n"]) >= n
    assert int(got["ok"]) > 0 and int(got["denied"]) > 0, "the race did not race: " + r.stdout
    if op == "chmod":
        assert os.stat(f"{b}/rox/g").st_mode & 0o777 == 0o644
    if op == "xattr":
        assert os.listxattr(f"{b}/rox/x") == []
