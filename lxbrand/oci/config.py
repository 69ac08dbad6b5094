"""Load and validate an OCI bundle's config.json (runtime-spec 1.0+).

The spec is kept as the plain dict json gives (the rest of the runtime reads it by key);
validation checks types and the values we act on, and every error names the key, e.g.
``config.json: linux.namespaces[2].type: unknown namespace type "foo"``.
"""
import json
import os

from .errors import OCIError

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
# The annotations lxbrand reads (a pod's, through containerd's pod_annotations, or
# `docker run --annotation`), with the values each accepts.  A misspelt org.lxbrand.* key or
# value is an error, never ignored: a policy that silently did not apply would fail open.
_ON_OFF = ("1", "true", "yes", "on", "0", "false", "no", "off")
LXBRAND_ANNOTATIONS = {
    "org.lxbrand.policy": "a built-in profile name or the path of a policy .toml file",
    "org.lxbrand.backend": ("unotify", "ptrace"),
    "org.lxbrand.trace": _ON_OFF,          # compared lower-cased (supervisor.engine_options)
    "org.lxbrand.events": _ON_OFF,         # lower-cased (supervisor.events_on)
    "org.lxbrand.personality": _ON_OFF,    # lower-cased (supervisor.container_personality)
    "org.lxbrand.fake-root": ("true", "1", "yes", "false", "0", "no"),  # exact (Personality.from_oci)
    "org.lxbrand.kernel-release": "a kernel release string such as 4.4.0-lx",
}
_PROFILE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "profiles")
HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


class ConfigError(OCIError):
    pass


def _type_name(t):
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {str: "a string", int: "an integer", list: "a list", dict: "an object",
            bool: "a boolean"}.get(t, t.__name__)


class _V:
    """Validator bound to one file name, building key paths as it descends."""

    def __init__(self, name):
        self.name = name

    def fail(self, key, problem):
        raise ConfigError(f"{self.name}: {key}: {problem}")

    def get(self, obj, key, path, typ, required=False, default=None):
        if key not in obj or obj[key] is None:
            if required:
                self.fail(path, "required key is missing")
            return default
        val = obj[key]
        # bool is an int subclass: refuse true/false where a number is wanted
        if typ is int and isinstance(val, bool) or not isinstance(val, typ):
            self.fail(path, f"must be {_type_name(typ)}, not {type(val).__name__}")
        return val


def validate_process(v, proc, path="process", need_args=True):
    v.get(proc, "terminal", f"{path}.terminal", bool)
    args = v.get(proc, "args", f"{path}.args", list, required=need_args)
    if need_args and not args:
        v.fail(f"{path}.args", "must name the program to run (empty list)")
    for i, a in enumerate(args or ()):
        if not isinstance(a, str):
            v.fail(f"{path}.args[{i}]", "must be a string")
    for i, e in enumerate(v.get(proc, "env", f"{path}.env", list, default=[])):
        if not isinstance(e, str) or "=" not in e:
            v.fail(f"{path}.env[{i}]", f"must be a string KEY=VALUE, not {e!r}")
    cwd = v.get(proc, "cwd", f"{path}.cwd", str, default="/")
    if not cwd.startswith("/"):
        v.fail(f"{path}.cwd", f"must be an absolute path, not {cwd!r}")
    user = v.get(proc, "user", f"{path}.user", dict, default={})
    v.get(user, "uid", f"{path}.user.uid", int)
    v.get(user, "gid", f"{path}.user.gid", int)
    v.get(user, "umask", f"{path}.user.umask", int)
    for i, g in enumerate(v.get(user, "additionalGids", f"{path}.user.additionalGids", list,
                                default=[])):
        if not isinstance(g, int) or isinstance(g, bool):
            v.fail(f"{path}.user.additionalGids[{i}]", "must be an integer")
    caps = v.get(proc, "capabilities", f"{path}.capabilities", dict, default={})
    from .capabilities import cap_number
    for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        for i, name in enumerate(v.get(caps, kind, f"{path}.capabilities.{kind}", list,
                                       default=[])):
            if not isinstance(name, str) or cap_number(name) is None:
                v.fail(f"{path}.capabilities.{kind}[{i}]", f"unknown capability {name!r}")
    from .rlimits import RLIMITS
    for i, rl in enumerate(v.get(proc, "rlimits", f"{path}.rlimits", list, default=[])):
        p = f"{path}.rlimits[{i}]"
        if not isinstance(rl, dict):
            v.fail(p, "must be an object")
        t = v.get(rl, "type", f"{p}.type", str, required=True)
        if t not in RLIMITS:
            v.fail(f"{p}.type", f"unknown rlimit {t!r}")
        v.get(rl, "soft", f"{p}.soft", int, required=True)
        v.get(rl, "hard", f"{p}.hard", int, required=True)
    v.get(proc, "noNewPrivileges", f"{path}.noNewPrivileges", bool)
    v.get(proc, "oomScoreAdj", f"{path}.oomScoreAdj", int)
    cs = v.get(proc, "consoleSize", f"{path}.consoleSize", dict)
    if cs:
        v.get(cs, "height", f"{path}.consoleSize.height", int, required=True)
        v.get(cs, "width", f"{path}.consoleSize.width", int, required=True)
    return proc


def validate_annotations(v, ann):
    """annotations: an object of strings; every org.lxbrand.* key known, with a value it takes.
    Checked before anything is made, so a bad pod spec fails its create with the key named and
    leaves nothing behind.  A policy file's own content is checked when it is loaded."""
    for k, val in ann.items():
        p = f"annotations[{k!r}]"
        if not isinstance(val, str):
            v.fail(p, f"must be a string, not {type(val).__name__}")
        if not k.startswith("org.lxbrand."):
            continue
        want = LXBRAND_ANNOTATIONS.get(k)
        if want is None:
            v.fail(p, "unknown lxbrand annotation (known: "
                      f"{', '.join(sorted(LXBRAND_ANNOTATIONS))})")
        low = val.lower() if k in ("org.lxbrand.trace", "org.lxbrand.personality", "org.lxbrand.events") else val
        if isinstance(want, tuple) and low not in want:
            v.fail(p, f"{val!r} is not one of {', '.join(want)}")
        if k == "org.lxbrand.policy":
            if os.sep not in val and not val.endswith(".toml"):
                names = sorted(f[:-5] for f in os.listdir(_PROFILE_DIR) if f.endswith(".toml"))
                if val not in names:
                    v.fail(p, f"no built-in profile {val!r} (built-in: {', '.join(names)}; or "
                              "the absolute path of a .toml file)")
            elif not os.path.isabs(val):
                v.fail(p, f"{val!r}: a policy file must be given by absolute path")
            elif not os.path.isfile(val):
                v.fail(p, f"{val}: no such policy file")
        if k == "org.lxbrand.kernel-release" and not (
                0 < len(val) < 65 and all(c.isalnum() or c in ".-_+~" for c in val)):
            # utsname's release field holds 64 characters and a NUL
            v.fail(p, f"{val!r}: a kernel release is 1-64 letters, digits and .-_+~")


def validate(spec, name="config.json"):
    """Check `spec` (a dict parsed from config.json); return it, or raise ConfigError."""
    v = _V(name)
    if not isinstance(spec, dict):
        v.fail("(top level)", "must be a JSON object")
    ver = v.get(spec, "ociVersion", "ociVersion", str, required=True)
    if not ver.startswith("1."):
        v.fail("ociVersion", f"unsupported version {ver!r} (lxbrand implements 1.x)")
    root = v.get(spec, "root", "root", dict, required=True)
    v.get(root, "path", "root.path", str, required=True)
    v.get(root, "readonly", "root.readonly", bool)
    validate_process(v, v.get(spec, "process", "process", dict, required=True))
    v.get(spec, "hostname", "hostname", str)
    v.get(spec, "domainname", "domainname", str)
    validate_annotations(v, v.get(spec, "annotations", "annotations", dict, default={}))
    for i, m in enumerate(v.get(spec, "mounts", "mounts", list, default=[])):
        p = f"mounts[{i}]"
        if not isinstance(m, dict):
            v.fail(p, "must be an object")
        dest = v.get(m, "destination", f"{p}.destination", str, required=True)
        if not dest.startswith("/"):
            v.fail(f"{p}.destination", f"must be an absolute path, not {dest!r}")
        v.get(m, "type", f"{p}.type", str)
        v.get(m, "source", f"{p}.source", str)
        for j, o in enumerate(v.get(m, "options", f"{p}.options", list, default=[])):
            if not isinstance(o, str):
                v.fail(f"{p}.options[{j}]", "must be a string")
    hooks = v.get(spec, "hooks", "hooks", dict, default={})
    for kind, lst in hooks.items():
        if kind not in HOOK_KINDS:
            continue  # unknown hook kinds are ignored, as runc does
        if not isinstance(lst, list):
            v.fail(f"hooks.{kind}", "must be a list")
        for i, h in enumerate(lst):
            p = f"hooks.{kind}[{i}]"
            if not isinstance(h, dict):
                v.fail(p, "must be an object")
            hp = v.get(h, "path", f"{p}.path", str, required=True)
            if not hp.startswith("/"):
                v.fail(f"{p}.path", f"must be an absolute path, not {hp!r}")
            v.get(h, "args", f"{p}.args", list)
            v.get(h, "env", f"{p}.env", list)
            v.get(h, "timeout", f"{p}.timeout", int)
    linux = v.get(spec, "linux", "linux", dict, default={})
    seen = set()
    for i, ns in enumerate(v.get(linux, "namespaces", "linux.namespaces", list, default=[])):
        p = f"linux.namespaces[{i}]"
        if not isinstance(ns, dict):
            v.fail(p, "must be an object")
        t = v.get(ns, "type", f"{p}.type", str, required=True)
        if t not in NAMESPACE_TYPES:
            v.fail(f"{p}.type", f"unknown namespace type {t!r}")
        if t in seen:
            v.fail(f"{p}.type", f"namespace {t!r} listed twice")
        seen.add(t)
        path = v.get(ns, "path", f"{p}.path", str)
        if path and not os.path.exists(path):
            v.fail(f"{p}.path", f"{path}: no such namespace file")
    for key in ("uidMappings", "gidMappings"):
        v.get(linux, key, f"linux.{key}", list)
    v.get(linux, "cgroupsPath", "linux.cgroupsPath", str)
    v.get(linux, "resources", "linux.resources", dict)
    sysctl = v.get(linux, "sysctl", "linux.sysctl", dict, default={})
    for k, val in sysctl.items():
        if not isinstance(val, str):
            v.fail(f"linux.sysctl.{k}", "must be a string")
    for key in ("maskedPaths", "readonlyPaths"):
        for i, pth in enumerate(v.get(linux, key, f"linux.{key}", list, default=[])):
            if not isinstance(pth, str) or not pth.startswith("/"):
                v.fail(f"linux.{key}[{i}]", f"must be an absolute path, not {pth!r}")
    for i, d in enumerate(v.get(linux, "devices", "linux.devices", list, default=[])):
        p = f"linux.devices[{i}]"
        if not isinstance(d, dict):
            v.fail(p, "must be an object")
        v.get(d, "path", f"{p}.path", str, required=True)
        t = v.get(d, "type", f"{p}.type", str, required=True)
        if t not in ("c", "b", "u", "p"):
            v.fail(f"{p}.type", f"must be one of c, b, u, p, not {t!r}")
        if t != "p":
            v.get(d, "major", f"{p}.major", int, required=True)
            v.get(d, "minor", f"{p}.minor", int, required=True)
    sc = v.get(linux, "seccomp", "linux.seccomp", dict)
    if sc:
        v.get(sc, "defaultAction", "linux.seccomp.defaultAction", str, required=True)
        for i, r in enumerate(v.get(sc, "syscalls", "linux.seccomp.syscalls", list, default=[])):
            p = f"linux.seccomp.syscalls[{i}]"
            if not isinstance(r, dict):
                v.fail(p, "must be an object")
            v.get(r, "names", f"{p}.names", list, required=True)
            v.get(r, "action", f"{p}.action", str, required=True)
    prop = v.get(linux, "rootfsPropagation", "linux.rootfsPropagation", str)
    if prop and prop not in ("private", "rprivate", "slave", "rslave", "shared", "rshared",
                             "unbindable", "runbindable"):
        v.fail("linux.rootfsPropagation", f"unknown propagation {prop!r}")
    return spec


def load_bundle(bundle):
    """Read `bundle`/config.json; return (spec, absolute rootfs path)."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            spec = json.loads(f.read())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is {bundle} an OCI bundle?)") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot parse: {e}") from None
    validate(spec, path)
    rootfs = spec["root"]["path"]
    if not rootfs.startswith("/"):
        rootfs = os.path.join(bundle, rootfs)
    if not os.path.isdir(rootfs):
        raise ConfigError(f"{path}: root.path: {rootfs}: no such directory")
    return spec, rootfs


def load_process(path):
    """Read an exec --process file (a config.json `process` object)."""
    try:
        with open(path, "rb") as f:
            proc = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read process spec: {e}") from None
    v = _V(path)
    if not isinstance(proc, dict):
        v.fail("(top level)", "must be a JSON object")
    return validate_process(v, proc, path="process")
