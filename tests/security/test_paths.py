"""Path policy ([[path]], lxbrand.rules.paths; csrc/pathopen.c) and the attacks on it: symlinks,
"..", /proc/PID/root and other magic links, a second thread rewriting the path
between check and use, a file swapped for a symlink between check and use,
open_by_handle_at, creat(2), exec, and credentials (DAC, owner, umask).
Under `strict` + the rules and under the default profile + the rules, on both
backends (on ptrace the opened fd reaches the program through csrc/inject.c)."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import run_lxrun
from sec import secprogs  # noqa: F401 - a fixture

RULES = """
path_default = "allow"
[[path]]
action = "deny"
paths = ["{b}/sec"]
ops = ["read", "write", "stat"]
comment = "secrets"
[[path]]
action = "deny"
paths = ["{b}/hidden"]
errno = "ENOENT"
comment = "hidden"
[[path]]
action = "deny"
ops = ["create", "write"]
paths = ["{b}/ro", "{b}/pub/*.lock"]
comment = "read-only tree, and a glob"
[[path]]
action = "deny"
ops = ["exec"]
paths = ["{b}/bin"]
comment = "no programs from here"
"""


@pytest.fixture(scope="module")
def tree():
    b = tempfile.mkdtemp(prefix="lxbrand-paths-", dir="/tmp")
    os.chmod(b, 0o755)
    for d in ("pub", "sec", "hidden", "ro", "bin", "pub/race"):
        os.makedirs(f"{b}/{d}")
    os.chmod(f"{b}/pub", 0o777)
    os.chmod(f"{b}/ro", 0o777)
    for f, text in (("pub/data", "fine"), ("sec/data", "SECRET"), ("hidden/x", "h"), ("ro/f", "ro"),
                    ("pub/race/x", "fine")):
        with open(f"{b}/{f}", "w") as fh:
            fh.write(text)
    os.symlink(f"{b}/sec/data", f"{b}/pub/link")
    os.symlink("../ro/f", f"{b}/pub/up")
    os.symlink(f"{b}/sec/data", f"{b}/pub/race/y")
    with open(f"{b}/pub/rootonly", "w") as fh:
        fh.write("mine")
    os.chmod(f"{b}/pub/rootonly", 0o600)
    shutil.copy("/bin/true", f"{b}/bin/true")
    yield b
    shutil.rmtree(b, ignore_errors=True)


class Pol(str):
    """A policy file's path, with the lxrun options that run it on one backend."""

    def __new__(cls, path, backend):
        self = super().__new__(cls, path)
        self.backend = backend
        self.args = ["--backend", backend, "--policy", path]
        return self


@pytest.fixture(params=["default", "strict"])
def pol(request, tree, tmp_path, backend):
    base = ""
    if request.param == "strict":
        import lxbrand
        base = open(os.path.join(os.path.dirname(lxbrand.__file__), "profiles", "strict.toml")).read()
        base = base.replace('default_errno = "EPERM"', 'default_errno = "EPERM"\n' + RULES.format(b=tree), 1)
    else:
        base = RULES.format(b=tree)
    p = tmp_path / "paths.toml"
    p.write_text(base)
    return Pol(str(p), backend)


def sh(pol, script, **kw):
    return run_lxrun(pol.args, ["sh", "-c", script], **kw)


def test_rules_follow_the_resolved_path(pol, tree):
    b = tree
    r = sh(pol, f"cat {b}/pub/data; echo; cat {b}/sec/data; cat {b}/pub/link; cat {b}/pub/../sec/data; "
                f"cd {b}/pub && cat ../sec/data; cat {b}/hidden/x; cat {b}/pub/race/../../sec//data")
    assert r.stdout == "fine\n", r.stderr
    errs = [l for l in r.stderr.splitlines() if not l.startswith("lxbrand:")]
    assert errs == [f"cat: {b}/sec/data: Permission denied", f"cat: {b}/pub/link: Permission denied",
                    f"cat: {b}/pub/../sec/data: Permission denied", "cat: ../sec/data: Permission denied",
                    f"cat: {b}/hidden/x: No such file or directory",
                    f"cat: {b}/pub/race/../../sec//data: Permission denied"]


def test_magic_links_are_refused(pol, tree):
    """/proc/self/root, /proc/<supervisor>/root and /proc/self/fd/N would reach a
    file without a path the rules see: refused (ELOOP, RESOLVE_NO_MAGICLINKS)."""
    b = tree
    r = sh(pol, f"cat /proc/self/root{b}/sec/data; cat /proc/$PPID/root{b}/sec/data; cat /proc/self/cwd/data; "
                f"exec 7<{b}/pub/data; cat /proc/self/fd/7", cwd=f"{b}/sec")
    assert r.stdout == ""
    errs = [l for l in r.stderr.splitlines() if not l.startswith("lxbrand:")]
    assert errs == [f"cat: /proc/self/root{b}/sec/data: Too many levels of symbolic links",
                    f"cat: /proc/{errs[1].split('/')[2]}/root{b}/sec/data: Too many levels of symbolic links",
                    "cat: /proc/self/cwd/data: Too many levels of symbolic links",
                    "cat: /proc/self/fd/7: Too many levels of symbolic links"], r.stderr


def test_proc_self_is_the_program_not_the_supervisor(pol):
    """The supervisor resolves paths: /proc/self and /proc/thread-self must still
    name the program (the attack suite once SIGSTOPped the test runner through this)."""
    r = sh(pol, "grep ^PPid: /proc/self/status; grep ^PPid: /proc/thread-self/status; echo $$")
    a, b, me = r.stdout.split("\n")[:3]
    assert a.split() == ["PPid:", me] and b.split() == ["PPid:", me], r.stdout + r.stderr


def test_supervisor_proc_entries_are_not_opened_for_the_program(pol):
    """/proc lets a process into its own entries whatever its credentials; the
    supervisor opens on the program's behalf, so it must refuse its own."""
    r = sh(pol, "ls /proc/$PPID/fd; cat /proc/$PPID/environ; cat /proc/$PPID/task/$PPID/status")
    assert r.stdout == ""
    errs = [l for l in r.stderr.splitlines() if not l.startswith("lxbrand:")]
    assert len(errs) == 3 and all("Permission denied" in e for e in errs), r.stderr


def test_path_rewritten_between_check_and_use_never_leaks(pol, tree, secprogs):
    n = 3000
    r = run_lxrun(pol.args, [secprogs["attack"], "pathrace", f"{tree}/pub/data", f"{tree}/sec/data", str(n)],
                  timeout=170)
    got = dict(kv.split("=") for kv in r.stdout.split()[1:])
    assert r.stdout.startswith("pathrace"), r.stderr[-300:]
    assert got["leaked"] == "0", r.stdout
    assert got["other"] == "0", r.stdout
    assert int(got["ok"]) + int(got["denied"]) == int(got["n"]) >= n
    assert int(got["ok"]) > 0 and int(got["denied"]) > 0, "the race did not race"


def test_file_swapped_for_a_symlink_never_leaks(pol, tree, secprogs):
    n = 3000
    r = run_lxrun(pol.args, [secprogs["attack"], "symrace", f"{tree}/pub/race", str(n)], timeout=170)
    got = dict(kv.split("=") for kv in r.stdout.split()[1:])
    assert r.stdout.startswith("symrace"), r.stderr[-300:]
    assert got["leaked"] == "0", r.stdout
    assert int(got["ok"]) > 0 and int(got["denied"]) > 0, r.stdout
    assert int(got["ok"]) + int(got["denied"]) + int(got["other"]) == int(got["n"]) >= n


def test_create_write_and_globs(pol, tree, secprogs):
    b = tree
    r = sh(pol, f"cat {b}/ro/f; echo x > {b}/ro/new; echo x >> {b}/ro/f; echo y > {b}/pub/new.txt && cat {b}/pub/new.txt;"
                f" echo z > {b}/pub/x.lock")
    assert r.stdout == "roy\n", r.stderr
    errs = [l for l in r.stderr.splitlines() if not l.startswith("lxbrand:")]
    assert errs == [f"sh: 1: cannot create {b}/ro/new: Permission denied",
                    f"sh: 1: cannot create {b}/ro/f: Permission denied",
                    f"sh: 1: cannot create {b}/pub/x.lock: Permission denied"]
    assert not os.path.exists(f"{b}/ro/new") and not os.path.exists(f"{b}/pub/x.lock")
    r = run_lxrun(pol.args, [secprogs["attack"], "creat", f"{b}/ro/c"])
    assert r.stdout == "creat -1 Permission denied\n"
    r = run_lxrun(pol.args, [secprogs["attack"], "creat", f"{b}/pub/c"])
    assert r.stdout.startswith("creat ") and not r.stdout.startswith("creat -1"), r.stderr
    os.unlink(f"{b}/pub/new.txt")
    os.unlink(f"{b}/pub/c")


def test_names_made_removed_renamed_and_stat(pol, tree):
    """mkdir, rename, link, unlink, truncate and the stat family are judged too
    (performed by the supervisor on the resolved directory, as the program)."""
    b = tree
    script = "; ".join([
        f"mkdir {b}/ro/d", f"mkdir {b}/pub/d && rmdir {b}/pub/d",
        f"mv {b}/pub/data {b}/ro/data", f"mv {b}/ro/f {b}/pub/f", f"rm {b}/ro/f",
        f"ln {b}/sec/data {b}/pub/hl", f"truncate -s 0 {b}/ro/f", f"stat -c %s {b}/sec/data",
        f"test -e {b}/hidden/x", f"stat -c %s {b}/pub/data",
        f"touch {b}/pub/t && mv {b}/pub/t {b}/pub/t2 && ln {b}/pub/t2 {b}/pub/t3 && rm {b}/pub/t2 {b}/pub/t3",
    ]).replace("; ", "; echo $?; ") + "; echo $?"
    r = sh(pol, script)
    assert r.stdout.split() == ["1", "0", "1", "1", "1", "1", "1", "1", "1", "4", "0", "0"], r.stdout + r.stderr
    assert sorted(os.listdir(f"{b}/ro")) == ["f"] and open(f"{b}/ro/f").read() == "ro"
    assert sorted(os.listdir(f"{b}/pub")) in (["attack", "data", "link", "race", "rootonly", "up"],
                                              ["data", "link", "race", "rootonly", "up"])


def test_access_readlink_chmod_chown_and_symlinks_out_of_the_directory(pol, tree):
    b = tree
    script = "; ".join([
        f"stat -L -c %s {b}/pub/up", f"readlink {b}/pub/up", f"test -r {b}/pub/data", f"test -r {b}/sec/data",
        f"readlink {b}/hidden/x", f"chmod 600 {b}/ro/f", f"chown 0 {b}/ro/f", f"touch {b}/pub/m && chmod 600 {b}/pub/m",
        f"stat -c %a {b}/pub/m", f"rm {b}/pub/m", f"stat -c %a {b}/pub/.. {b}/pub/race/../.",
    ]).replace("; ", "; echo $?; ") + "; echo $?"
    r = sh(pol, script)
    assert r.stdout.split() == ["2", "0", "../ro/f", "0", "0", "1", "1", "1", "1", "0", "600", "0", "0",
                                "755", "777", "0"], r.stdout + r.stderr
    assert oct(os.stat(f"{b}/ro/f").st_mode & 0o777) != "0o600"


XATTR = r"""
import os, sys
b = sys.argv[1]
def t(f):
    try:
        print("ok", f())
    except OSError as e:
        print("err", e.errno)
t(lambda: os.utime(f"{b}/pub/data", (1, 2)) or os.stat(f"{b}/pub/data").st_mtime)
t(lambda: os.utime(f"{b}/ro/f", (1, 2)))
t(lambda: os.setxattr(f"{b}/pub/data", "user.k", b"v") or os.getxattr(f"{b}/pub/data", "user.k"))
t(lambda: os.listxattr(f"{b}/pub/data"))
t(lambda: os.setxattr(f"{b}/ro/f", "user.k", b"v"))
t(lambda: os.getxattr(f"{b}/sec/data", "user.k"))
t(lambda: os.removexattr(f"{b}/pub/data", "user.k") or os.listxattr(f"{b}/pub/data"))
"""


def test_times_and_xattrs(pol, tree):
    r = run_lxrun(pol.args, ["python3", "-c", XATTR, tree])
    if "err 95" in r.stdout:
        pytest.skip("no user xattrs on this filesystem")
    assert r.stdout.splitlines() == ["ok 2.0", "err 13", "ok b'v'", "ok ['user.k']", "err 13", "err 13", "ok []"], \
        r.stdout + r.stderr


def test_exec_path_raced_never_runs_the_denied_program(pol, tree, secprogs):
    """vfork children exec a path that a thread keeps flipping between an allowed
    and a denied copy of the same program: the denied copy never runs (refused
    with EACCES before execve, or killed after it, before its first instruction)."""
    good = shutil.copy(secprogs["attack"], f"{tree}/pub/attack-ok")
    bad = shutil.copy(secprogs["attack"], f"{tree}/bin/attack-no")  # same length: pub/bin
    try:
        r = run_lxrun(pol.args, [secprogs["attack"], "execrace", good, bad, "300"], timeout=170)
    finally:
        os.unlink(good)
        os.unlink(bad)
    lines = r.stdout.splitlines()
    summary = dict(kv.split("=") for kv in lines[-1].split()[1:])
    ran = [l for l in lines[:-1] if l.startswith("exe ")]
    assert all(l == f"exe {good}" for l in ran), [l for l in ran if l != f"exe {good}"][:3]
    assert int(summary["ran"]) == len(ran) > 0
    assert int(summary["refused"]) + int(summary["killed"]) > 0, r.stdout[-300:]


def test_openat2_resolve_flags_of_the_program_are_kept(pol, tree, secprogs):
    """A program's own RESOLVE_* flags (its defence against its own inputs) still apply."""
    b = tree
    cases = [(f"{b}/pub", "link", "0x4"),         # RESOLVE_NO_SYMLINKS: ELOOP
             (f"{b}/pub", "../ro/f", "0x8"),      # RESOLVE_BENEATH: EXDEV
             (f"{b}/pub", "/data", "0x10"),       # RESOLVE_IN_ROOT: pub/data
             (f"{b}/pub", "race/../data", "0x8"),  # beneath and fine
             (f"{b}/pub", "link", "0x8")]         # beneath, then the rule: sec is denied
    for d, path, res in cases:
        native = subprocess.run([secprogs["attack"], "openat2", d, path, res], capture_output=True, text=True)
        r = run_lxrun(pol.args, [secprogs["attack"], "openat2", d, path, res])
        want = native.stdout
        if path == "link" and res == "0x8":
            assert native.stdout.startswith("openat2 -1 Invalid cross-device link") or native.stdout == "openat2 SECRET\n"
            want = native.stdout if "cross-device" in native.stdout else "openat2 -1 Permission denied\n"
        assert r.stdout == want, (d, path, res, r.stdout, r.stderr)


def test_exec_rule(pol, tree):
    r = sh(pol, f"{tree}/bin/true; echo $?")
    assert r.stdout == "126\n"
    assert "Permission denied" in r.stderr


def test_handles_and_io_uring_refused(pol, tree, secprogs, progs):
    r = run_lxrun(pol.args, [secprogs["attack"], "handle", f"{tree}/pub/data"])
    # name_to_handle_at is judged like stat (a handle opens nothing by itself; strict denies it anyway)
    strict = 'name = "strict"' in open(pol).read()
    assert r.stdout.splitlines() == ["name_to_handle_at " + ("-1 Operation not permitted" if strict else "0"),
                                     "open_by_handle_at -1 Operation not permitted"]
    r = run_lxrun(pol.args, [progs["io_uring"]])
    assert r.stdout.strip() == "io_uring_setup -1 Operation not permitted"


def test_operations_use_the_programs_credentials(pol, tree, secprogs):
    """The supervisor opens as the program: DAC is checked for it, new files are
    its own, with its umask (here root's supervisor, a program running as nobody)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the program must run as another user than the supervisor")
    b = tree
    prog = shutil.copy(secprogs["attack"], f"{b}/pub/attack")
    os.chmod(prog, 0o755)
    r = run_lxrun(pol.args, [prog, "asuser", "65534", "/bin/sh", "-c",
                                      f"cat {b}/pub/rootonly; umask 027; echo n > {b}/pub/bynobody; cat {b}/pub/data"])
    assert r.stdout == "fine", r.stderr
    assert f"cat: {b}/pub/rootonly: Permission denied" in r.stderr
    st = os.stat(f"{b}/pub/bynobody")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o640)
    os.unlink(f"{b}/pub/bynobody")


def test_python_api_and_validation(tree, progs):
    from lxbrand.errors import PolicyError
    from lxbrand.policy import Policy, from_dict
    for bad, key in ((dict(path=[{"action": "deny", "paths": ["relative"]}]), "path[1].paths"),
                     (dict(path=[{"action": "deny", "paths": ["/x"], "ops": ["fly"]}]), "path[1].ops"),
                     (dict(path=[{"action": "maybe", "paths": ["/x"]}]), "path[1].action"),
                     (dict(path=[{"action": "allow", "paths": ["/x"], "errno": "EPERM"}]), "path[1].errno"),
                     (dict(path_default="sometimes"), "path_default"), (dict(path={}), "path")):
        with pytest.raises(PolicyError) as e:
            from_dict(bad, "t.toml")
        assert e.value.key == key, (bad, str(e.value))
    code = textwrap.dedent(f"""
        from lxbrand import Sandbox, load_policy
        p = load_policy("default")
        p.path("deny", ["{tree}/sec"], ops=["read"], errno="EPERM", comment="api")
        st = Sandbox(p).run(["cat", "{tree}/sec/data"])
        print("exit", st.code)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout == "exit 1\n" and "Operation not permitted" in r.stderr, r.stderr


WORKLOAD = r"""
set -e
cd "$1"
mkdir -p w/a/b && printf 'x\ny\n' > w/a/b/f && ln -s b/f w/a/l && ln w/a/b/f w/a/h
ls -la w/a | awk '{print $1, $NF}' | sort
cp -a w w2 && mv w2 w3 && chmod 640 w3/a/b/f && stat -c '%a %s %h' w3/a/b/f w3/a/l
tar -cf t.tar w3 && tar -tf t.tar | sort && rm -rf w3 t.tar
python3 -c 'import os, json; print(json.dumps(sorted(os.listdir("w/a"))), os.access("w/a/b/f", os.W_OK), os.readlink("w/a/l"))'
python3 -c 'import os; d = os.open("w/a", os.O_PATH); f = os.open("w/a/b/f", os.O_PATH); print(os.stat("b/f", dir_fd=d).st_size, os.fstat(f).st_size)'
test -e w/a/nope || echo absent
rm -rf w
"""


def test_programs_work_the_same_under_path_rules(tree, tmp_path, backend):
    """A mix of coreutils, tar and python3 gives the same output natively and
    under path rules that allow everything they touch (the performed calls are faithful)."""
    pol = tmp_path / "allow.toml"
    pol.write_text('path_default = "allow"\n[[path]]\naction = "deny"\npaths = ["/etc/shadow"]\n')
    d1, d2 = tmp_path / "native", tmp_path / "sandboxed"
    d1.mkdir()
    d2.mkdir()
    native = subprocess.run(["sh", "-c", WORKLOAD, "sh", str(d1)], capture_output=True, text=True, timeout=60)
    r = run_lxrun(["--backend", backend, "--policy", str(pol)], ["sh", "-c", WORKLOAD, "sh", str(d2)])
    assert native.returncode == 0, native.stderr
    assert (r.returncode, r.stdout) == (0, native.stdout), r.stderr


O_PATH_PROBE = """
import os, sys
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_PATH | os.O_NOFOLLOW)
    except OSError as e:
        print(p, "error", e.errno)
        continue
    flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
    print(p, "O_PATH" if flags & os.O_PATH else "read-only", os.readlink(f"/proc/self/fd/{fd}"))
"""


def test_o_path_opens(pol, tree):
    """An allowed O_PATH open: on ptrace the program gets a real O_PATH fd (SCM_RIGHTS
    carries one), also of a symlink itself; on unotify ADDFD cannot install O_PATH
    files, so the same inode is opened read-only and a symlink itself fails with
    EACCES (DIVERGENCE.md).  A denied one fails either way."""
    b = tree
    r = run_lxrun(pol.args, ["python3", "-c", O_PATH_PROBE, f"{b}/pub", f"{b}/pub/link", f"{b}/sec/data"])
    assert r.returncode == 0, r.stderr
    if pol.backend == "ptrace":
        want = [f"{b}/pub O_PATH {b}/pub", f"{b}/pub/link O_PATH {b}/pub/link"]
    else:
        want = [f"{b}/pub read-only {b}/pub", f"{b}/pub/link error 13"]
    assert r.stdout.splitlines() == want + [f"{b}/sec/data error 13"]


DROP_THEN_OPEN = r"""
import os, sys
b = sys.argv[1]
print(open(f"{b}/pub/data").read())        # a first judged call: the engine keeps root's credentials
os.setgroups([])
os.setgid(65534)
os.setuid(65534)                            # no exec: the same thread, now nobody
for p in (f"{b}/pub/rootonly", f"{b}/pub/data"):
    try:
        print(open(p).read())
    except OSError as e:
        print("refused", e.errno)
"""


def _strict(pol):
    return 'name = "strict"' in open(pol).read()


def test_credentials_kept_for_a_thread_are_forgotten_when_it_changes_them(pol, tree):
    """The engine keeps each thread's credentials between its calls (csrc/view.c): a
    program that drops to nobody after a first open (no exec in between) must get
    nobody's answers from then on, not root's kept ones."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the program must drop to another user")
    r = run_lxrun(pol.args, ["python3", "-c", DROP_THEN_OPEN, tree])
    assert r.stdout.splitlines() == ["fine", "refused 13", "fine"], r.stdout + r.stderr


USERNS_OPEN = r"""
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) < 0:  # CLONE_NEWUSER: every capability there
    sys.exit("unshare: " + os.strerror(ctypes.get_errno()))
try:
    print(open(sys.argv[1]).read())
except OSError as e:
    print("refused", e.errno)
"""


def test_capabilities_in_a_user_namespace_of_its_own_lend_nothing(pol, tree, secprogs):
    """A program that unshares a user namespace holds every capability there, which
    do not reach a file of the host's root (its owner is not mapped).  The
    supervisor opening for it must not lend its own (csrc/view.c: no capabilities
    for a thread in another user namespace)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the supervisor must hold the capabilities the program lacks")
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs the system's /usr/bin/python3 (one nobody may run)")
    prog = shutil.copy(secprogs["attack"], f"{tree}/pub/attack")
    os.chmod(prog, 0o755)
    native = subprocess.run([prog, "asuser", "65534", "/usr/bin/python3", "-c", USERNS_OPEN, f"{tree}/pub/rootonly"],
                            capture_output=True, text=True)
    if "refused" not in native.stdout:
        pytest.skip(f"no unprivileged user namespaces here: {native.stdout} {native.stderr[-200:]}")
    r = run_lxrun(pol.args, [prog, "asuser", "65534", "/usr/bin/python3", "-c", USERNS_OPEN, f"{tree}/pub/rootonly"])
    if _strict(pol):
        # strict refuses unshare: no namespace, no capabilities, nothing read
        assert (r.stdout, r.stderr.strip()) == ("", "unshare: Operation not permitted"), r.stdout + r.stderr
        return
    assert r.stdout == native.stdout == "refused 13\n", r.stdout + r.stderr


def test_a_root_program_without_some_capabilities_is_held_to_that(pol, tree):
    """A root program that lost CAP_DAC_OVERRIDE (a container's root usually has fewer
    capabilities than the supervisor) cannot read a file of mode 000 natively; the
    supervisor opening for it takes its capabilities (only those differ) and gets the
    same answer."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv")
    locked = os.path.join(tree, "pub", "locked")
    with open(locked, "w") as f:
        f.write("locked")
    os.chmod(locked, 0)
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", "cat", locked]
    try:
        native = subprocess.run(drop, capture_output=True, text=True)
        r = run_lxrun(pol.args, drop)
        plain = run_lxrun(pol.args, ["cat", locked])
    finally:
        os.unlink(locked)
    assert native.returncode == 1 and "Permission denied" in native.stderr
    assert (r.returncode, r.stdout) == (1, ""), r.stdout + r.stderr
    assert "Permission denied" in r.stderr, r.stderr
    assert plain.stdout == "locked", plain.stderr  # with them, root reads it


def _groups_of_threads(pid):
    """{tid: the Groups: line} of every thread of process pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                out[int(tid)] = next(l for l in f if l.startswith("Groups:")).split()[1:]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def test_the_supervisor_takes_its_own_groups_back(pol, tree):
    """After acting for a program with other supplementary groups and no capabilities,
    every supervisor thread holds its own groups again: restoring them needs
    CAP_SETGID, so the capabilities come back first (a thread left with the program's
    groups would lend them to the next program thread whose groups equal ours)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv: the program must run with other groups")
    from conftest import lxrun_cmd
    mine = sorted(str(g) for g in os.getgroups())
    prog = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=4242,4343", "--",
            "sh", "-c", f"cat {tree}/pub/data >/dev/null; cat {tree}/pub/data >/dev/null; sleep 30"]
    p = subprocess.Popen(lxrun_cmd(*pol.args, "--", *prog), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # wait for the sleep: both judged opens are done by then (up to 30 s on a loaded machine)
        deadline = 300
        while deadline:
            kids = subprocess.run(["pgrep", "-P", str(p.pid), "-x", "sh"], capture_output=True, text=True).stdout
            sleeping = kids and subprocess.run(["pgrep", "-P", kids.split()[0], "-x", "sleep"],
                                               capture_output=True).returncode == 0
            if sleeping:
                break
            deadline -= 1
            import time
            time.sleep(0.1)
        assert deadline, "the program never reached its sleep"
        threads = _groups_of_threads(p.pid)
        assert threads and all(sorted(g) == mine for g in threads.values()), (mine, threads)
    finally:
        p.kill()
        p.wait()
