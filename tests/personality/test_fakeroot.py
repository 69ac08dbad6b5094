"""--fake-root against Debian's fakeroot(1) on the same commands.

Expected differences (DIVERGENCE.md): fakeroot cannot change /proc/self/status
(ours shows 0), and as real root fakeroot really performs the chown (ours never does)."""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lxp_helpers import BACKENDS, lxrun, native, sh

SCRIPT = """
touch a; mkdir d; ln -s a l
stat -c '%u %g %n' a d
chown 123:45 a; chown 7 d; chgrp 8 d; chown -h 9:9 l
stat -c '%u %g %n' a d; stat -L -c '%u %g %n' l; stat -c '%u %g %n' l
id; id -u; id -g; id -G
python3 -c 'import os; print(os.getuid(), os.geteuid(), os.getresuid(), os.getresgid(), os.getgroups()); print(os.stat("a").st_uid, os.lstat("l").st_uid)'
ls -ln a | cut -d' ' -f1-4
chown 1:1 missing 2>&1 | sed 's/^[^:]*: //'
umask 022; mknod c c 1 3; mknod -m 640 b b 259 70000; mkfifo p
stat -c '%F %t %T %u %g %a %s %n' c b p; chown 5:6 c; stat -c '%F %u %g %n' c
"""


@pytest.fixture
def fakeroot():
    f = shutil.which("fakeroot")
    if f is None:
        pytest.skip("fakeroot not installed (apt-get install fakeroot)")
    return f


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_answers_as_fakeroot(backend, fakeroot, tmp_path):
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref = native([fakeroot, "sh", "-c", SCRIPT], cwd=ref_dir)
    ours = lxrun(["--backend", backend, "--fake-root"], ["sh", "-c", SCRIPT], cwd=our_dir)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    assert "123 45 a" in ours.stdout and "uid=0(root)" in ours.stdout
    assert "character special file 1 3 0 0 644 0 c\n" in ours.stdout   # a faked device
    assert (our_dir / "c").is_file()                                  # really an empty file


@pytest.mark.parametrize("backend", BACKENDS)
def test_chown_is_recorded_not_performed(backend, tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    before = os.stat(f)
    sh(["--backend", backend, "--fake-root"], f"chown 4242:4343 {f}")
    after = os.stat(f)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_proc_self_status_shows_root(backend):
    out = sh(["--backend", backend, "--fake-root"],
             "grep -E '^(Uid|Gid|Groups):' /proc/self/status; grep ^Uid: /proc/$$/status; "
             "grep ^Uid: /proc/thread-self/status")
    assert out.splitlines() == ["Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "Groups:\t0 ",
                                "Uid:\t0\t0\t0\t0", "Uid:\t0\t0\t0\t0"]
    # the other lines are the kernel's
    keys = lambda t: [ln.split(":")[0] for ln in t.splitlines()]  # noqa: E731
    assert keys(sh(["--backend", backend, "--fake-root"], "cat /proc/self/status")) == \
        keys(native(["cat", "/proc/self/status"]).stdout)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tar_extract_as_root_keeps_owners(backend, fakeroot, tmp_path):
    """dpkg-style: unpack an archive whose members belong to other users."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "bin").write_text("#!/bin/sh\n")
    subprocess.run(["tar", "-C", str(src), "--owner=101", "--group=202", "-cf", str(tmp_path / "t.tar"), "bin"],
                   check=True)
    script = f"tar -xpf {tmp_path}/t.tar --same-owner && stat -c '%u %g %n' bin"
    (tmp_path / "ref").mkdir()
    (tmp_path / "ours").mkdir()
    ref = native([fakeroot, "sh", "-c", script], cwd=tmp_path / "ref").stdout
    ours = lxrun(["--backend", backend, "--fake-root"], ["sh", "-c", script], cwd=tmp_path / "ours")
    assert ours.stdout == ref == "101 202 bin\n", ours.stderr


def test_without_fake_root_ids_are_real():
    assert sh([], "id -u; stat -c %u /proc/self") == native(["sh", "-c", "id -u; stat -c %u /proc/self"]).stdout


def _as_nobody_python():
    """A python3 the user `nobody` can run that imports this checkout's lxbrand, or None."""
    root = str(Path(__file__).resolve().parents[2])
    if os.geteuid() != 0 or shutil.which("su") is None:
        return None
    for py in (sys.executable, "/usr/bin/python3"):
        r = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{py} -c 'import lxbrand._core'"],
                           env={**os.environ, "PYTHONPATH": root}, capture_output=True, timeout=30)
        if r.returncode == 0:
            return py, root
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_answers_as_fakeroot_for_an_unprivileged_user(backend, fakeroot, tmp_path):
    """fakeroot's real use: a normal user.  Files it creates show as root's."""
    who = _as_nobody_python()
    if who is None:
        pytest.skip("needs root, su, and a python3 that `nobody` can run with lxbrand importable")
    py, root = who
    # pytest's tmp_path lives under a root-only directory: nobody needs its own.
    tmp = tempfile.TemporaryDirectory(prefix="lxp-fakeroot-", dir="/tmp")
    tmp_path = Path(tmp.name)
    tmp_path.chmod(0o777)
    for d in ("ref", "ours"):
        (tmp_path / d).mkdir()
        (tmp_path / d).chmod(0o777)
    script = SCRIPT.replace("python3 -c", f"{py} -c")
    env = {**os.environ, "PYTHONPATH": root}
    q = shlex.quote
    ref = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c",
                          f"cd {tmp_path}/ref && {fakeroot} sh -c {q(script)}"],
                         env=env, capture_output=True, text=True, timeout=60)
    ours = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c",
                           f"cd {tmp_path}/ours && {py} -m lxbrand.cli.lxrun --backend {backend} --fake-root "
                           f"-- sh -c {q(script)}"], env=env, capture_output=True, text=True, timeout=60)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    assert ours.stdout.startswith("0 0 a\n0 0 d\n")      # created by nobody, shown as root's
    real = os.stat(tmp_path / "ours" / "a")
    assert real.st_uid != 0 and real.st_uid != 123        # nothing was chowned for real
    tmp.cleanup()


ACCESS_CHECK = """
import os, sys
for p in sys.argv[1:]:
    print(p.rsplit("/", 1)[-1], "".join("1" if os.access(p, m) else "0" for m in (os.F_OK, os.R_OK, os.W_OK, os.X_OK)))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_access_answers_as_root_for_an_unprivileged_user(backend):
    """access(2) under --fake-root as nobody gives root's answers (the kernel's, as root,
    on the same files): read/write granted, execute only with an x bit or for a
    directory, write refused on a read-only mount."""
    who = _as_nobody_python()
    if who is None:
        pytest.skip("needs root, su, and a python3 that `nobody` can run with lxbrand importable")
    if shutil.which("unshare") is None:
        pytest.skip("unshare not installed (util-linux)")
    py, root = who
    tmp = tempfile.TemporaryDirectory(prefix="lxp-access-", dir="/tmp")
    d = Path(tmp.name)
    d.chmod(0o755)
    for name, mode in (("f600", 0o600), ("f000", 0o000), ("x700", 0o700), ("x755", 0o755)):
        (d / name).write_text("x")
        (d / name).chmod(mode)
    (d / "d000").mkdir()
    (d / "d000").chmod(0o000)
    (d / "ro").mkdir()
    paths = [str(d / n) for n in ("f600", "f000", "x700", "x755", "d000", "ro", "missing")] + \
        ["/etc/shadow", str(d / "d000" / "inside")]
    q = shlex.quote
    check = f"{py} -c {q(ACCESS_CHECK)} " + " ".join(q(p) for p in paths)
    env = {**os.environ, "PYTHONPATH": root}

    def in_ro_ns(cmd):
        r = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {q(str(d / 'ro'))} && {cmd}"],
                           env=env, capture_output=True, text=True, timeout=60)
        return r
    ref = in_ro_ns(check)                                             # root, natively
    if ref.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {ref.stderr.strip()}")
    nobody = in_ro_ns(f"su nobody -s /bin/sh -c {q(check)}")          # nobody, natively
    ours = in_ro_ns("su nobody -s /bin/sh -c " +
                    q(f"cd /tmp && {py} -m lxbrand.cli.lxrun --backend {backend} --fake-root -- {check}"))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout, (ours.stdout, ref.stdout)
    assert ours.stdout != nobody.stdout
    assert "ro 1101\n" in ours.stdout and "f000 1110\n" in ours.stdout and "shadow 1110\n" in ours.stdout
    (d / "d000").chmod(0o755)
    tmp.cleanup()


def _as_nobody_under_fake_root(backend, script):
    who = _as_nobody_python()
    if who is None:
        pytest.skip("needs root, su, and a python3 that `nobody` can run with lxbrand importable")
    py, root = who
    q = shlex.quote
    return subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c",
                           f"cd /tmp && {py} -m lxbrand.cli.lxrun --backend {backend} --fake-root -- sh -c "
                           + q(script.replace("PY ", f"{py} "))],
                          env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True, timeout=60)


def _bounding():
    """The bounding set nobody's processes get here (inherited from this one)."""
    return next(ln.split()[1] for ln in Path("/proc/self/status").read_text().splitlines()
                if ln.startswith("CapBnd:"))


CAPGET = ("import ctypes, os\n"
          "libc = ctypes.CDLL(None, use_errno=True)\n"
          "for pid in (0, os.getppid()):\n"
          "    h = (ctypes.c_uint32 * 2)(0x20080522, pid); d = (ctypes.c_uint32 * 6)()\n"
          "    assert libc.capget(h, d) == 0\n"
          "    print('capget', '%08x%08x' % (d[4], d[1]), '%08x%08x' % (d[3], d[0]))\n"
          "h = (ctypes.c_uint32 * 2)(0x1234, 0)\n"
          "print('probe', libc.capget(h, None), hex(h[0]))\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_capget_gives_roots_capabilities_to_an_unprivileged_user(backend):
    """capget(2) of the program's own processes: permitted = effective = the bounding
    set (what execve gives uid 0); an unknown version gets the kernel's written back."""
    r = _as_nobody_under_fake_root(backend, f"PY -c {shlex.quote(CAPGET)}")
    assert r.returncode == 0, r.stderr
    bnd = _bounding()
    assert int(bnd, 16) != 0
    assert r.stdout.splitlines() == [f"capget {bnd} {bnd}"] * 2 + ["probe 0 0x20080522"]
    nat = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", "grep ^CapEff /proc/self/status"],
                         capture_output=True, text=True, timeout=60).stdout
    assert nat.split()[1] == "0000000000000000"


@pytest.mark.parametrize("backend", BACKENDS)
def test_proc_status_shows_roots_capabilities_to_an_unprivileged_user(backend):
    r = _as_nobody_under_fake_root(backend, "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status")
    assert r.returncode == 0, r.stderr
    bnd = _bounding()
    assert r.stdout.splitlines() == [f"CapPrm:\t{bnd}", f"CapEff:\t{bnd}", f"CapBnd:\t{bnd}"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_mknod_of_an_existing_name_fails_as_the_kernels(backend, tmp_path):
    """EEXIST, as mknod(2) says (fakeroot run as root replaces the node instead)."""
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    out = sh(["--backend", backend, "--fake-root"],
             f"cd {tmp_path} && mknod c c 1 3 && mknod c c 1 4 2>&1; mknod dangling c 1 3 2>&1; "
             "stat -c '%t %T' c; test -e nowhere || echo no-target")
    assert out.splitlines() == ["mknod: c: File exists", "mknod: dangling: File exists", "1 3", "no-target"]


IDS_SCRIPT = """
import ctypes, os
libc = ctypes.CDLL(None)        # loaded while still root: /root may hold this python
def show(tag):
    print(tag, os.getresuid(), os.getresgid(), os.getuid(), os.geteuid(), os.getgroups())
def tryit(tag, f, *a):
    try:
        f(*a); print(tag, "ok")
    except OSError as e:
        print(tag, "err", e.errno)
os.setgroups([0])           # where the real root's run starts from: groups [0], as faked
show("start")
tryit("setgroups", os.setgroups, [6, 5])
tryit("setresgid", os.setresgid, 100, 100, 100)
tryit("setreuid", os.setreuid, 1000, 1001)
show("after setreuid")
tryit("setuid0", os.setuid, 0)
tryit("seteuid1000", os.seteuid, 1000)
show("after seteuid")
tryit("setuid1001", os.setuid, 1001)
print("setfsuid", libc.setfsuid(1000), libc.setfsuid(7), libc.setfsuid(-1), libc.setfsuid(1001))
show("after setuid1001")
tryit("setuid0 again", os.setuid, 0)
tryit("setgroups again", os.setgroups, [7])
print(open("/proc/self/status").read().split("Uid:")[1].split("NStgid")[0].split("FDSize")[0])
pid = os.fork()
if pid == 0:
    show("child")
    os._exit(0)
os.waitpid(pid, 0)
"""

SETPRIV_SCRIPT = """
setpriv --reuid 1000 --regid 100 --clear-groups sh -c 'id -u; id -G; grep -E "^(Uid|Gid|Groups|CapPrm|CapEff)" /proc/self/status'
setpriv --euid 1000 sh -c 'grep -E "^Cap(Prm|Eff)" /proc/self/status; id -u'
PY -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(8, 1, 0, 0, 0); print("keepcaps", libc.prctl(7, 0, 0, 0, 0))
os.setresuid(1000, 1000, 1000)
h = (ctypes.c_uint32 * 2)(0x20080522, 0); d = (ctypes.c_uint32 * 6)()
libc.capget(h, d); print("kept", [hex(x) for x in d])
d[0], d[3] = d[1], d[4]; print("raise", libc.capset(h, d))
os.setresgid(5, 5, 5); print("gid", os.getresgid())
d[0] = d[1] = d[3] = d[4] = 0; print("drop", libc.capset(h, d))
try:
    os.setresgid(6, 6, 6)
except OSError as e:
    print("setresgid", e.errno)
d[1] = 1; print("raise again", libc.capset(h, d), ctypes.get_errno())
'
PY -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
h = (ctypes.c_uint32 * 2)(0x20080522, 0); d = (ctypes.c_uint32 * 6)()
print("root drops all", libc.capset(h, d))
os.execv("/bin/sh", ["sh", "-c", "grep -E \\"^Cap(Prm|Eff)\\" /proc/self/status"])
'
PY -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(8, 1, 0, 0, 0)
os.setresuid(1000, 1000, 1000)
h = (ctypes.c_uint32 * 2)(0x20080522, 0); d = (ctypes.c_uint32 * 6)()
libc.capget(h, d); d[0], d[3] = d[1], d[4]; libc.capset(h, d)
os.execv("/bin/sh", ["sh", "-c", "grep -E \\"^Cap(Prm|Eff)\\" /proc/self/status"])
'
"""


def _as_real_root(script):
    """The kernel's answers for real root: the reference for the faked ids."""
    if os.geteuid() != 0:
        pytest.skip("the reference is the kernel's answers as real root")
    r = native(["sh", "-c", script])
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_set_ids_follow_the_kernels_rules(backend, user):
    """set*id/setgroups/setfsuid under --fake-root give what they give real root
    (EPERM included), in this process, /proc/self/status and a child; nothing real."""
    script = f"python3 -c {shlex.quote(IDS_SCRIPT)}"
    ref = _as_real_root(script)
    if user == "root":
        ours = lxrun(["--backend", backend, "--fake-root"], ["sh", "-c", script])
    else:
        ours = _as_nobody_under_fake_root(backend, script.replace("python3 ", "PY ", 1))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref
    assert "setuid0 err 1" in ours.stdout and "child (1000, 1001, 1001)" in ours.stdout


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", ["root", "nobody"])
def test_setpriv_drops_privileges_as_on_real_root(backend, user):
    """setpriv's keep-caps dance (prctl, setresuid, capset, setresgid, capset), then
    exec: the same ids and capabilities as when real root runs it."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed (util-linux)")
    ref = _as_real_root(SETPRIV_SCRIPT.replace("PY ", "python3 "))
    if user == "root":
        ours = lxrun(["--backend", backend, "--fake-root"], ["sh", "-c", SETPRIV_SCRIPT.replace("PY ", "python3 ")])
    else:
        ours = _as_nobody_under_fake_root(backend, SETPRIV_SCRIPT)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref
    assert "CapEff:\t0000000000000000" in ours.stdout and "setresgid 1" in ours.stdout


# -- in an OCI container -----------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oci"))
from ocitest import busybox_rootfs, bundle, cid, need_busybox, need_engine, run_cli, state_root  # noqa: E402,F401


@need_busybox
@need_engine
@pytest.mark.parametrize("backend", BACKENDS)
def test_container_fake_root_keeps_the_runtimes_privilege_drop(bundle, state_root, cid, backend):
    """org.lxbrand.fake-root with process.user 1000: the program is shown uid 0, but the
    runtime's own setresuid/capset (run under the engine's filter) really happened: it
    cannot write where uid 1000 may not (a faked set*id would leave it real root)."""
    def mutate(s):
        s["annotations"] = {"org.lxbrand.fake-root": "true"}
        s["process"]["user"] = {"uid": 1000, "gid": 1000}
        s["root"]["readonly"] = False
    b = bundle(["sh", "-c", "id -u; touch /lxp-owner-check 2>&1 | sed 's/.*: //'"], mutate=mutate)
    r = run_cli(state_root, "--backend", backend, "run", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["0", "Permission denied"]


@need_busybox
@need_engine
@pytest.mark.parametrize("backend", BACKENDS)
def test_container_fake_root_leaves_the_runtimes_capability_reads_real(bundle, state_root, cid, backend):
    """The runtime reads its permitted set from /proc/self/status under the engine's
    filter (lxbrand/oci/capabilities.py) and capsets it back, so the capability lines
    stay the kernel's in a container (its root's real sets), as capget does."""
    def mutate(s):
        s["annotations"] = {"org.lxbrand.fake-root": "true"}
        s["process"]["user"] = {"uid": 1000, "gid": 1000}
        caps = s["process"]["capabilities"]
        for k in ("effective", "permitted"):
            caps[k] = ["CAP_KILL"]
        caps["inheritable"] = caps["ambient"] = []
    b = bundle(["sh", "-c", "id -u; grep ^CapEff /proc/self/status"], mutate=mutate)
    r = run_cli(state_root, "--backend", backend, "run", "--bundle", str(b), cid)
    assert r.returncode == 0, r.stderr
    # uid 1000 without ambient capabilities: exec leaves it none, as under runc (a faked
    # line would show the bounding set, 0000000020000420 with this spec's defaults)
    assert r.stdout.splitlines() == ["0", "CapEff:\t0000000000000000"]


def test_fake_id_records_of_dead_processes_are_forgotten():
    from lxbrand.personality import fakeids
    f = fakeids.FakeIds()
    f.records = {(4_000_000 + i, 1): (fakeids.ROOT, None) for i in range(2000)}   # above pid_max
    me = (os.getpid(), fakeids._stat(os.getpid())[1])
    f.records[me] = (fakeids.ROOT, None)
    f._prune()
    assert list(f.records) == [me]
