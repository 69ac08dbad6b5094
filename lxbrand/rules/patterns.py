"""Rule patterns compiled for the engine (csrc/match.h).

A [[path]] or [[network]] pattern is a prefix (the path itself and everything
under it) or, when it holds any of ``* ? [``, a glob that means what
``fnmatch.fnmatchcase`` means.  So that C matches exactly what Python would, a
glob is translated by fnmatch itself and the regular expression it gives is
parsed by Python's own parser; the parse is handed to C as tokens over code
points: a literal, STAR (any run, ``/`` included), ANY (one character), SET
(negate, ranges) or FAIL (an empty set).
"""
import fnmatch
import os
import struct

try:
    import re._parser as _sre  # Python 3.11+
    import re._constants as _c
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre
    import sre_constants as _c

GLOB_CHARS = frozenset("*?[")
STAR, ANY, SET, FAIL = 0xfffffff0, 0xfffffff1, 0xfffffff2, 0xfffffff3
_MAXREPEAT = _c.MAXREPEAT


def is_glob(pattern):
    return bool(GLOB_CHARS & set(pattern))


def _star(av):
    lo, hi, sub = av
    return lo == 0 and hi == _MAXREPEAT and list(sub) == [(_c.ANY, None)]


def _tokens(items, out):
    for op, av in items:
        if op == _c.LITERAL:
            out.append(av)
        elif op == _c.ANY:
            out.append(ANY)
        elif op == _c.NOT_LITERAL:
            out += [SET, 1, 1, av, av]
        elif op == _c.IN:
            neg, ranges = 0, []
            for iop, iav in av:
                if iop == _c.NEGATE:
                    neg = 1
                elif iop == _c.LITERAL:
                    ranges.append((iav, iav))
                elif iop == _c.RANGE:
                    ranges.append(iav)
                else:
                    raise ValueError(f"unexpected {iop} in a set")
            out += [SET, neg, len(ranges)] + [x for r in ranges for x in r]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and _star(av):
            if not out or out[-1] != STAR:
                out.append(STAR)
        elif op == _c.ATOMIC_GROUP:
            _tokens(av, out)
        elif op == _c.SUBPATTERN:
            _tokens(av[3], out)
        elif op == _c.ASSERT_NOT and not list(av[1]):
            out.append(FAIL)  # (?!): an empty set, which matches nothing
        elif op == _c.AT and av == _c.AT_END_STRING:
            pass
        else:
            raise ValueError(f"unexpected {op} in fnmatch's translation")
    return out


def glob_tokens(pattern):
    """The tokens of a glob (a list of ints); ValueError if fnmatch cannot use it."""
    regex = fnmatch.translate(pattern)
    return _tokens(_sre.parse(regex), [])


def compile_pattern(pattern, text=True):
    """(glob, bytes) for the engine.  text: a file path pattern (str, matched on the
    path decoded as os.fsdecode does); otherwise bytes, matched as fnmatch matches
    bytes (Latin-1)."""
    if text:
        if not is_glob(pattern):
            p = pattern.rstrip("/") or "/"
            return False, b"" if p == "/" else os.fsencode(p)
        toks = glob_tokens(pattern)
    else:
        toks = glob_tokens(pattern.decode("latin-1"))
    return True, struct.pack(f"={len(toks)}I", *toks)


def match(pattern, path):
    """The reference meaning (what the engine must agree with): a glob matches the
    whole path (``*`` also crosses ``/``); a prefix matches the path itself and
    everything under it."""
    if is_glob(pattern):
        return fnmatch.fnmatchcase(path, pattern)
    pattern = pattern.rstrip("/") or "/"
    return pattern == "/" or path == pattern or path.startswith(pattern + "/")
