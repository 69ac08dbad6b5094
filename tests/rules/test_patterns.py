"""Rule patterns compiled for the engine (lxbrand/rules/patterns.py, csrc/match.c) mean
what Python means by them: a glob what fnmatch.fnmatchcase says on the decoded path
(or on bytes, for abstract socket names), a prefix the path and everything under it.
The reference is Python's fnmatch itself, on random patterns and texts."""
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxbrand import _core
from lxbrand.rules import patterns

SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# the characters that make fnmatch's translation interesting, and a few beyond ASCII
ALPHABET = "ab/-!^]\\[*?.zé€"
pattern_text = st.text(alphabet=ALPHABET, max_size=10)
path_text = st.text(alphabet=ALPHABET, max_size=12)


def c_match(pattern, path_bytes):
    glob, data = patterns.compile_pattern(pattern)
    assert glob
    return _core.glob_match(data, path_bytes)


@SETTINGS
@given(pattern_text.filter(patterns.is_glob), path_text)
def test_globs_match_as_fnmatch(pattern, path):
    try:
        want = patterns.match(pattern, path)
    except Exception:  # noqa: BLE001 - a pattern fnmatch cannot use is refused when rules load
        return
    assert c_match(pattern, path.encode()) == want, (pattern, path)


@SETTINGS
@given(pattern_text.filter(patterns.is_glob), st.binary(max_size=12))
def test_undecodable_paths_match_as_os_fsdecode_gives_them(pattern, raw):
    """A path that is not UTF-8 is matched on what os.fsdecode makes of it (surrogateescape)."""
    try:
        want = patterns.match(pattern, os.fsdecode(raw))
    except Exception:  # noqa: BLE001
        return
    assert c_match(pattern, raw) == want, (pattern, raw)


@SETTINGS
@given(st.lists(st.sampled_from(b"ab*?[]!-^\\\x80\xff"), max_size=8).map(bytes).filter(lambda b: bool(set(b"*?[") & set(b))),
       st.binary(max_size=10))
def test_abstract_name_globs_match_as_fnmatch_on_bytes(pattern, name):
    import fnmatch
    try:
        want = fnmatch.fnmatchcase(name, pattern)
    except Exception:  # noqa: BLE001
        return
    glob, data = patterns.compile_pattern(pattern, text=False)
    assert _core.glob_match(data, name, 1) == want, (pattern, name)


def test_known_corners():
    for pat, path, want in [("/tmp/*", "/tmp/a/b", True), ("/tmp/?", "/tmp/é", True), ("[!a]", "é", True),
                            ("[z-a]x", "zx", False), ("[]a]", "]", True), ("[", "[", True), ("*.lock", ".lock", True),
                            ("[a-c-e]", "-", True), ("[a-c-e]", "d", False), ("[!]", "!", False)]:
        assert c_match(pat, path.encode()) == want, (pat, path)


def test_prefixes():
    assert patterns.compile_pattern("/etc/") == (False, b"/etc")
    assert patterns.compile_pattern("/") == (False, b"")
    assert patterns.compile_pattern("/") == patterns.compile_pattern("//")


OPS = ("read", "write", "create", "stat", "exec")
rules = st.lists(st.tuples(st.sampled_from(["allow", "deny"]), st.sets(st.sampled_from(OPS), min_size=1),
                           st.lists(st.sampled_from(["/", "/a", "/a/", "/a/b", "/ab", "/a/*", "*b", "/a/?",
                                                     "/[ab]/x", "/é"]), min_size=1, max_size=3),
                           st.sampled_from([1, 2, 13])), max_size=5)


@settings(max_examples=300, deadline=None)
@given(rules, st.sampled_from(["allow", "deny"]),
       st.lists(st.sampled_from(["/", "/a", "/a/b", "/ab", "/a/b/c", "/b/x", "/x", "/é", "/éx", "/a/bb"]),
                min_size=1, max_size=5))
def test_engine_decides_as_the_rules_say(rs, default, paths):
    """The compiled table decides every op on every path as the Python rules do."""
    from lxbrand.rules.paths import PathPolicy, PathRule
    pp = PathPolicy([PathRule(a, ops, pats, err) for a, ops, pats, err in rs], default)
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    pp.compile(sup)
    for path in paths:
        for i, op in enumerate(OPS):
            want = pp.decide(op, path)
            assert sup.path_decide(1 << i, path.encode()) == (want or 0), (rs, default, op, path)
