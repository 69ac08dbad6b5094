"""OCI lifecycle hooks: run each with the container state as JSON on stdin.

Who runs which (runtime-spec config.md#posix-platform-hooks):
  prestart, createRuntime  the supervisor, after the namespaces it owns exist (network hooks
                           such as Docker's libnetwork-setkey find the netns through the pid)
  createContainer          the child, in the container's mount namespace before pivot_root
  startContainer           the child, after `start`, just before init is exec'd
  poststart                the `start` command, after init was released
  poststop                 the `delete` command
A failing prestart, createRuntime, createContainer or startContainer hook fails the
operation (`run`); a failing poststart or poststop hook is logged as a warning and the
remaining hooks still run (`run_logged`; runtime-spec runtime.md#lifecycle: "the runtime MUST
log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded").
"""
import json
import subprocess

from . import log
from .errors import OCIError


def run(kind, hooks, state):
    """Run hooks[kind] in order; raise OCIError naming the first hook that failed."""
    data = json.dumps(state).encode()
    for i, h in enumerate((hooks or {}).get(kind) or []):
        _run_one(kind, i, h, data)


def run_logged(kind, hooks, state):
    """Run every hook of hooks[kind] in order; a failure is logged as a warning and the next
    hook runs "as if the hook had succeeded" (runtime-spec runtime.md#lifecycle, poststart
    and poststop).  Returns the failures' messages."""
    data = json.dumps(state).encode()
    failed = []
    for i, h in enumerate((hooks or {}).get(kind) or []):
        try:
            _run_one(kind, i, h, data)
        except OCIError as e:
            log.warning(str(e))
            failed.append(str(e))
    return failed


def _run_one(kind, i, h, data):
    args = h.get("args") or [h["path"]]
    env = dict(e.split("=", 1) for e in h.get("env") or [])
    try:
        p = subprocess.run(args, executable=h["path"], input=data, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=h.get("timeout") or None, close_fds=True)
    except subprocess.TimeoutExpired:
        raise OCIError(f"{kind} hook #{i} {h['path']}: timed out after "
                       f"{h['timeout']}s") from None
    except OSError as e:
        raise OCIError(f"{kind} hook #{i} {h['path']}: {e.strerror}") from None
    if p.returncode != 0:
        err = p.stderr.decode(errors="replace").strip()
        raise OCIError(f"{kind} hook #{i} {h['path']} exited with status "
                       f"{p.returncode}: {err}")


def state_for(cid, pid, bundle, status, annotations=None):
    st = {"ociVersion": "1.0.2", "id": cid, "pid": pid, "status": status,
          "bundle": bundle}
    if annotations:
        st["annotations"] = annotations
    return st
