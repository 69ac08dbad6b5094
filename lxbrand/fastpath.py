"""Compiled policies for lxrun's C front end (csrc/launcher/lxrun.c).

The C front end runs a plain `lxrun [--backend B] [--policy P] -- PROG` without
starting Python, from a blob of the compiled action table.  When it has no
blob for a policy it runs the Python implementation with LXRUN_CACHE_FILE set
to the path it wants; the Python side writes the blob there — only for a
policy that the table and the compiled state in C describe completely (no
Python handlers, no personality beyond identity, era and the resource view,
which the engine serves itself; nothing else that needs code), so the fast path
can never do less than the policy asks.
"""
import os
import stat

from lxbrand import engine

ENV = "LXRUN_CACHE_FILE"
# Policy attributes that, when set, mean the policy needs the Python layer at run
# time.  A feature that attaches anything to a Policy outside its rules table
# must be listed here (or give the policy a handler, or compile itself into a
# section of the blob), or lxrun's C front end would run without it.  The
# personality says itself (needs_python); [[path]] and [[network]] rules are
# compiled into the blob (csrc/paths.h, csrc/net.h: LX_SEC_PATHS, LX_SEC_NET).
NEEDS_PYTHON_ATTRS = ()


def table_only(policy):
    """True if the action table, the uname fields and the compiled state the blob
    carries (the personality's view) say everything the policy does."""
    if not all(engine.answered_in_c(h) for h in policy.handlers().values()):
        return False
    personality = getattr(policy, "personality", None)
    if personality is not None and personality.needs_python():
        return False
    return not any(getattr(policy, a, None) for a in NEEDS_PYTHON_ATTRS)


def _safe_dir(path):
    # Create at most the cache dir and its parent (~/.cache/lxbrand), never a
    # missing home: HOME=/nonexistent must stay nonexistent.
    if not os.path.isdir(os.path.dirname(os.path.dirname(path))):
        return False
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def write_blob(policy, path, backend="unotify"):
    """Write the blob the C front end asked for; silently skip what cannot be cached.
    Returns True if written."""
    if not table_only(policy) or not os.path.isabs(path):
        return False
    d = os.path.dirname(path)
    try:
        if not _safe_dir(d):
            return False
        sup = engine._core.Supervisor(engine.BACKENDS[backend])
        engine.apply_policy(policy, sup)
        data = sup.export_blob(engine.uts_mask(policy))
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        return True
    except OSError:
        return False
