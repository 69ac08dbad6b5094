"""Era emulation and the `since` column of the syscall table.

The column comes from lxbrand/data/syscall_since.txt (kernel history); it is
checked here against an independent source, the VERSIONS sections of the
man-pages project (package manpages-dev, /usr/share/man/man2)."""
import gzip
import os
import re

import pytest

from lxbrand import syscalls
from lxbrand.personality import era
from lxp_helpers import BACKENDS, lxrun, native, progs, sh

MAN2 = "/usr/share/man/man2"
_VER = re.compile(r"(?:Linux|kernel)\s+(\d+\.\d+(?:\.\d+)?)|(\d+\.\d+(?:\.\d+)?)\s+Linux\s+kernel")
_WHEN = re.compile(r"\b(added|appeared|introduced|available|enabled|merged)\b", re.I)
# Syscall names whose man pages use the library name.
_MAN_NAME = {"pselect6": "pselect", "newfstatat": "fstatat", "prlimit64": "prlimit"}


def _page(name, depth=0):
    path = os.path.join(MAN2, name + ".2.gz")
    if not os.path.exists(path):
        return None
    text = gzip.open(path, "rt", errors="replace").read()
    m = re.match(r"\.so\s+man2/(\S+)\.2", text.strip())
    if m and depth < 3:
        return _page(m[1], depth + 1)
    return text


def _sentences(text, section):
    m = re.search(r"^\.SH\s+%s\s*$(.*?)(?=^\.SH\s)" % section, text, re.M | re.S)
    if not m:
        return []
    body = re.sub(r"^\.\w+\s*", "", m[1], flags=re.M)
    body = " ".join(re.sub(r"\\f[BIPR]", "", body).replace('"', "").split())
    return re.split(r"(?<=[.;])\s+", body)


def _versions(s):
    return [syscalls.parse_release(a or b) for a, b in _VER.findall(s)]


def man_claim(name):
    """The releases the man page gives for `name`, or None: from a sentence of its
    VERSIONS (or NOTES) section that names it ("X was added in Linux 2.6.16", "X and Y
    first appeared in Linux 4.6"), else, on the syscall's own page, from the section's
    "These system calls were added in Linux 3.2"."""
    word = _MAN_NAME.get(name, name)
    text = _page(word)
    if not text:
        return None
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith('.\\"'))
    for section in ("VERSIONS", "NOTES"):
        for sentence in _sentences(text, section):
            if not _WHEN.search(sentence):
                continue
            for occ in re.finditer(r"(?<![\w-])%s(?![\w-])" % re.escape(word), sentence):
                found = _versions(sentence[occ.end():])
                if found:
                    return found
    own = re.search(r"^\.SH\s+NAME\s*$(.*?)^\.SH", text, re.M | re.S)
    if own and re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), own[1].replace("\\", "")):
        for sentence in _sentences(text, "VERSIONS"):
            names = set(re.findall(r"(\w+) ?\(\)", sentence)) - {word}
            if names:
                continue  # about another function of a shared page (accept4 on accept.2)
            if _WHEN.search(sentence) and re.match(r"(This|These|The)\b", sentence) or "Linux kernel" in sentence:
                found = _versions(sentence)
                if found:
                    return found
    return None


@pytest.mark.skipif(not os.path.isdir(MAN2), reason="man-pages not installed (apt-get install manpages-dev)")
def test_since_column_agrees_with_man_pages():
    checked, wrong = 0, []
    for name, sc in syscalls.table().items():
        claim = man_claim(name)
        if not claim:
            continue
        checked += 1
        # Syscalls of the 2.6.0 baseline: the man page may name any older release.
        if sc.since == (2, 6, 0) and min(claim) <= (2, 6, 0):
            continue
        if sc.since not in claim:
            wrong.append((name, sc.since, claim))
    assert not wrong, f"since column disagrees with man-pages: {wrong}"
    assert checked >= 140, f"only {checked} syscalls had a man-page VERSIONS claim: is the parser broken?"


def test_every_syscall_has_a_since():
    missing = [n for n, s in syscalls.table().items() if not s.since]
    assert not missing
    # numbers 424+ are the shared table, started in 5.1
    assert all(s.since >= (5, 1, 0) for s in syscalls.table().values() if s.nr >= 424)


def test_hidden_for_4_4_matches_the_issue():
    hidden = set(era.hidden("4.4.0-lx"))
    for name in ("statx", "io_uring_setup", "io_uring_enter", "pidfd_open", "clone3", "openat2",
                 "faccessat2", "copy_file_range", "rseq"):
        assert name in hidden
    for name in ("openat", "mlock2", "memfd_create", "getrandom", "read"):
        assert name not in hidden
    assert era.hidden("not-a-release") == []
    assert set(era.hidden("5.6")) & {"openat2", "pidfd_getfd"} == set()
    assert "faccessat2" in era.hidden("5.6")


@pytest.mark.parametrize("backend", BACKENDS)
def test_newer_syscalls_fail_with_enosys(backend):
    p = progs()
    if p is None:
        pytest.skip("no C compiler")
    nat = native([p["era"]]).stdout
    assert "ENOSYS" not in nat, nat   # the host (6.x) has them all
    out = lxrun(["--backend", backend, "--kernel-release", "4.4.0-lx"], [p["era"]]).stdout
    got = dict(ln.split() for ln in out.splitlines())
    assert got.pop("openat") == "exists"
    assert set(got.values()) == {"ENOSYS"}, out
    out = lxrun(["--backend", backend, "--kernel-release", "4.4.0-lx", "--no-era"], [p["era"]]).stdout
    assert out == nat


@pytest.mark.parametrize("backend", BACKENDS)
def test_programs_take_their_fallbacks(backend, tmp_path):
    """coreutils fall back from statx, Python and glibc from clone3/pidfd: same output."""
    (tmp_path / "f").write_text("x")
    cmd = f"ls -ln --time-style=+%s {tmp_path}; stat -c '%s %h %F' {tmp_path}/f; " \
          "python3 -c 'import subprocess; print(subprocess.run([\"true\"]).returncode)'"
    assert sh(["--backend", backend, "--kernel-release", "4.4.0-lx"], cmd) == native(["sh", "-c", cmd]).stdout


# A second independent source for the newest syscalls, which man-pages 6.03 lacks:
# glibc's "Update syscall lists for Linux X.Y" commits (sysdeps/unix/sysv/linux/
# syscall-names.list), whose messages name each release's new syscalls.
GLIBC_SYSCALL_LIST_COMMITS = {
    "e788beaf093b": ((5, 6, 0), ("openat2", "pidfd_getfd")),
    "1cfb47152888": ((5, 8, 0), ("faccessat2",)),
    "bcf47eb0fba4": ((5, 10, 0), ("process_madvise",)),
    "89dc0372a905": ((5, 14, 0), ("memfd_secret", "quotactl_fd")),
    "3387c40a8bba": ((5, 15, 0), ("process_mrelease",)),
    "8ef9196b2679": ((5, 17, 0), ("set_mempolicy_home_node",)),
}


def test_since_column_agrees_with_glibc_syscall_list_updates():
    table = syscalls.table()
    for commit, (release, names) in GLIBC_SYSCALL_LIST_COMMITS.items():
        for n in names:
            if n in table:
                assert table[n].since == release, (n, commit)
