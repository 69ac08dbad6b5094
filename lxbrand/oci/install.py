"""`lxbrand install`: register the runtime in Docker's daemon.json, like `runsc install`.

Adds or updates runtimes.<name> = {"path": ..., "runtimeArgs": [...]}, keeping every other
key and runtime as it was; writes nothing if nothing changes (idempotent); the file is
replaced atomically.  dockerd picks the change up on SIGHUP or restart."""
import json
import os

from .errors import OCIError
from .state import write_atomic

DEFAULT_CONFIG = "/etc/docker/daemon.json"


def load(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise OCIError(f"{path}: {e.strerror}") from None
    if not data.strip():
        return {}
    try:
        cfg = json.loads(data)
    except ValueError as e:
        raise OCIError(f"{path}: not valid JSON ({e}); fix or remove it first") from None
    if not isinstance(cfg, dict):
        raise OCIError(f"{path}: top level must be a JSON object")
    return cfg


def install(path, runtime_name, runtime_path, runtime_args=(), default=False):
    """Returns True if the file changed."""
    cfg = load(path)
    runtimes = cfg.get("runtimes")
    if runtimes is None:
        runtimes = cfg["runtimes"] = {}
    if not isinstance(runtimes, dict):
        raise OCIError(f"{path}: runtimes must be a JSON object")
    entry = {"path": runtime_path}
    if runtime_args:
        entry["runtimeArgs"] = list(runtime_args)
    changed = runtimes.get(runtime_name) != entry
    runtimes[runtime_name] = entry
    if default and cfg.get("default-runtime") != runtime_name:
        cfg["default-runtime"] = runtime_name
        changed = True
    if changed:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, json.dumps(cfg, indent=4) + "\n", mode=0o644)
    return changed


def uninstall(path, runtime_name):
    cfg = load(path)
    if runtime_name not in (cfg.get("runtimes") or {}):
        return False
    del cfg["runtimes"][runtime_name]
    if not cfg["runtimes"]:
        del cfg["runtimes"]
    if cfg.get("default-runtime") == runtime_name:
        del cfg["default-runtime"]
    write_atomic(path, json.dumps(cfg, indent=4) + "\n", mode=0o644)
    return True
