"""lxrun's C front end (csrc/launcher/lxrun.c) against the Python reference
(lxbrand.engine.Sandbox.run, lxbrand/cli/lxrun.py): the same command line gives the
same exit status, output and messages through both -- program lookup in PATH, the
ELF check, exec failures and how the program ended.

Each case runs three ways: the Python implementation; the C front end with a warm
cache; and the C front end with the Python fallback made to fail loudly, which
shows whether C decided the case itself (most) or handed it to Python (it may
always do that: Python is the reference)."""
import os
import shutil
import signal
import subprocess

import pytest

from conftest import lxrun_c, lxrun_cmd

pytestmark = pytest.mark.skipif(lxrun_c() is None, reason="the C front end is not installed (pip install -e .)")

FALLBACK = 99  # what the poisoned Python implementation exits with


@pytest.fixture(scope="module")
def env(tmp_path_factory, progs):
    """An environment whose cache holds the default policy's compiled table (so the C
    front end answers by itself), and a poisoned copy of it for C-only runs."""
    base = tmp_path_factory.mktemp("frontend")
    e = {k: v for k, v in os.environ.items() if k != "LXRUN_PYTHON"}
    e.update(XDG_CACHE_HOME=str(base / "cache"), LC_ALL="C")
    r = subprocess.run(lxrun_cmd("--", "true", frontend="c"), env=e, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert list((base / "cache" / "lxbrand").glob("*.pol")), "the Python run wrote no compiled table"
    poison = base / "poison" / "lxbrand"
    poison.mkdir(parents=True)
    (poison / "__init__.py").write_text("import sys\nsys.stderr.write('FALLBACK\\n')\nsys.exit(%d)\n" % FALLBACK)
    c_only = dict(e, PYTHONPATH=str(poison.parent))
    # the runs' default cwd: a directory of no Python package (`python3 -m` looks in its
    # cwd first, and the cache's lxbrand/ folder there would shadow an editable install's
    # finder as a namespace package)
    (base / "empty").mkdir()
    e["LXTEST_CWD"] = c_only["LXTEST_CWD"] = str(base / "empty")
    return e, c_only


KEEP = object()


def three_ways(env, argv, path=KEEP, cwd=None):
    """(python, c, c_only) CompletedProcesses of `lxrun -- argv` with PATH=path (None: unset)."""
    e, c_only = (dict(x) for x in env)
    for x in (e, c_only):
        if path is None:
            x.pop("PATH", None)
        elif path is not KEEP:
            x["PATH"] = path
    kw = dict(capture_output=True, text=True, timeout=60, cwd=cwd or e["LXTEST_CWD"])
    py = subprocess.run(lxrun_cmd("--", *argv), env=e, **kw)
    c = subprocess.run(lxrun_cmd("--", *argv, frontend="c"), env=e, **kw)
    c_alone = subprocess.run(lxrun_cmd("--", *argv, frontend="c"), env=c_only, **kw)
    return py, c, c_alone


def same(py, c):
    assert (c.returncode, c.stdout, c.stderr) == (py.returncode, py.stdout, py.stderr), (py, c)


def decided_by_c(c_alone):
    return not (c_alone.returncode == FALLBACK and "FALLBACK" in c_alone.stderr)


def elf_with(src, out, e_ident_class=None, e_machine=None, size=None):
    data = bytearray(open(src, "rb").read())
    if e_ident_class is not None:
        data[4] = e_ident_class
    if e_machine is not None:
        data[18:20] = e_machine.to_bytes(2, "little")
    out.write_bytes(bytes(data[:size] if size else data))
    out.chmod(0o755)
    return str(out)


def script(path, text, mode=0o755):
    path.write_text(text)
    path.chmod(mode)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory, progs):
    """The programs and directories the cases run."""
    d = tmp_path_factory.mktemp("files")
    for sub in ("noexec", "isdir", "good", "cwd"):
        (d / sub).mkdir()
    sig = progs["sigself"]
    f = {
        "dir": str(d),
        "sigself": sig,
        "i386": elf_with(sig, d / "i386", e_machine=3),
        "x32": elf_with(sig, d / "x32", e_ident_class=1),
        "short_elf": elf_with(sig, d / "short_elf", size=12),
        "aarch64": elf_with(sig, d / "aarch64", e_machine=183),
        "script": script(d / "script.sh", "#!/bin/sh\necho script $# \"$1\"\nexit 7\n"),
        "script_i386": script(d / "script_i386", f"#!{d / 'i386'}\n"),
        "script_missing": script(d / "script_missing", "#!/no/such/interpreter\n"),
        "script_relative": script(d / "script_relative", "#!sh\necho relative\n"),
        "script_crlf": script(d / "script_crlf", "#!/bin/sh\r\necho crlf\r\n"),
        "empty": script(d / "empty", ""),
        "garbage": script(d / "garbage", "\x01\x02\x03 not a program at all\n"),
        "not_executable": script(d / "not_executable", "#!/bin/sh\necho never\n", mode=0o644),
    }
    # lookup: the first executable regular file in PATH wins, as execvp(3) picks it
    script(d / "noexec" / "prog", "#!/bin/sh\necho wrong: not executable\n", mode=0o644)
    (d / "isdir" / "prog").mkdir()
    script(d / "good" / "prog", "#!/bin/sh\necho good prog\n")
    script(d / "cwd" / "prog", "#!/bin/sh\necho prog from the cwd\n")
    return f


EXITS = [("exit 0", ["0", "0"]), ("exit 1", ["0", "1"]), ("exit 42", ["0", "42"]), ("exit 255", ["0", "255"])]
SIGNALS = [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGPIPE, signal.SIGUSR1]


@pytest.mark.parametrize("args", [a for _, a in EXITS], ids=[i for i, _ in EXITS])
def test_exit_codes(env, files, args):
    py, c, c_alone = three_ways(env, [files["sigself"], *args])
    same(py, c)
    assert c.returncode == int(args[1]) and decided_by_c(c_alone)


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_death_by_signal(env, files, sig):
    py, c, c_alone = three_ways(env, [files["sigself"], str(int(sig))])
    same(py, c)
    assert c.returncode == -sig and decided_by_c(c_alone)


# (case, argv builder, PATH builder, does C decide it itself?[, cwd: a directory of files])
LOOKUP = [
    ("found in PATH", lambda f: ["prog"], lambda f: f"{f['dir']}/noexec:{f['dir']}/isdir:{f['dir']}/good", True),
    ("empty PATH entry is the cwd", lambda f: ["prog"], lambda f: f"{f['dir']}/none::/usr/bin", True),
    ("trailing empty PATH entry", lambda f: ["prog"], lambda f: f"{f['dir']}/none:", True),
    ("relative path", lambda f: ["./prog"], lambda f: "/usr/bin:/bin", True),
    ("PATH unset: confstr(_CS_PATH)", lambda f: ["sh", "-c", "echo default path"], lambda f: None, True),
    ("not found", lambda f: ["no-such-program-lx"], lambda f: f"{f['dir']}/good:/usr/bin", False),
    ("only a non-executable file", lambda f: ["prog"], lambda f: f"{f['dir']}/noexec", False),
    ("only a directory", lambda f: ["prog"], lambda f: f"{f['dir']}/isdir", False),
    ("empty PATH is the cwd", lambda f: ["prog"], lambda f: "", True),
    ("empty PATH, no program in the cwd", lambda f: ["prog"], lambda f: "", False, "noexec"),
    ("absolute path missing", lambda f: [f"{f['dir']}/missing"], lambda f: "/usr/bin", False),
    ("a directory by path", lambda f: [f"{f['dir']}/good"], lambda f: "/usr/bin", False),
]


@pytest.mark.parametrize("case", LOOKUP, ids=[c[0] for c in LOOKUP])
def test_program_lookup(env, files, case):
    _, argv, path, by_c, *cwd = case
    py, c, c_alone = three_ways(env, argv(files), path(files), cwd=f"{files['dir']}/{(cwd or ['cwd'])[0]}")
    same(py, c)
    assert decided_by_c(c_alone) == by_c, c_alone


def test_path_unset_searches_confstr(env, files):
    """Without PATH both search confstr(_CS_PATH) (/bin:/usr/bin), not a list of their own:
    a program only in /usr/local/bin is not found by either."""
    if not os.access("/usr/local/bin", os.W_OK):
        pytest.skip("needs a writable /usr/local/bin (root)")
    name = f"lxrun-test-only-here-{os.getpid()}"
    prog = f"/usr/local/bin/{name}"
    script_path = files["script"]
    shutil.copy(script_path, prog)
    try:
        py, c, c_alone = three_ways(env, [name], None)
        same(py, c)
        assert py.returncode == 127 and "command not found" in py.stderr
        py, c, c_alone = three_ways(env, [name], "/usr/local/bin")
        same(py, c)
        assert c.returncode == 7 and decided_by_c(c_alone)
    finally:
        os.unlink(prog)


# (case, program key, args, does C decide it itself?, expected exit status)
EXEC = [
    ("x86_64 ELF", "sigself", ["0", "3"], True, 3),
    ("script", "script", ["a b"], True, 7),
    ("script with an i386 interpreter", "script_i386", [], False, 126),
    ("i386 ELF", "i386", [], False, 126),
    ("aarch64 ELF", "aarch64", [], False, 126),
    ("32-bit class ELF", "x32", [], False, 126),
    ("truncated ELF", "short_elf", [], False, 126),
    ("missing interpreter", "script_missing", [], False, 127),
    ("relative interpreter", "script_relative", [], True, 127),
    ("interpreter line ending in CR", "script_crlf", [], False, 127),
    ("empty file", "empty", [], True, 126),
    ("garbage", "garbage", [], True, 126),
    ("no execute permission", "not_executable", [], True, 126),
]


@pytest.mark.parametrize("case", EXEC, ids=[c[0] for c in EXEC])
def test_elf_check_and_exec_failures(env, files, case):
    _, key, args, by_c, status = case
    py, c, c_alone = three_ways(env, [files[key], *args])
    same(py, c)
    assert c.returncode == status, c
    assert decided_by_c(c_alone) == by_c, c_alone
    if status == 126 and not by_c:
        assert "x86_64 programs only" in c.stderr or "malformed ELF" in c.stderr, c.stderr

