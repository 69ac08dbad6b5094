"""lxbrand: run unmodified x86_64 Linux programs under a syscall personality.

    from lxbrand import Policy, Sandbox, load_policy
"""
__version__ = "0.1.0"

from lxbrand.errors import LxError, PolicyError, LaunchError  # noqa: F401


def __getattr__(name):
    # Import the engine lazily: `lxbrand --version` and the OCI CLI must start fast.
    if name in ("Policy", "load_policy"):
        from lxbrand import policy
        return getattr(policy, name)
    if name in ("Sandbox", "ExitStatus"):
        from lxbrand import engine
        return getattr(engine, name)
    raise AttributeError(name)
