"""lxbrand features: what this runtime implements (runtime-spec features.md), as JSON."""
import json


def add_args(p):
    pass


def features():
    from lxbrand.oci import capabilities, cgroups, config, rootfs, seccomp
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": list(config.HOOK_KINDS),
        "mountOptions": sorted(set(rootfs._FLAGS) | set(rootfs._PROPAGATION)),
        "linux": {
            "namespaces": [t for t in config.NAMESPACE_TYPES if t != "user"],
            "capabilities": capabilities.ALL_CAPS,
            "cgroup": {"v1": not cgroups.is_v2_only(), "v2": True, "systemd": False,
                       "systemdUser": False},
            "seccomp": {"enabled": True,
                        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                        "operators": sorted(seccomp.OPS),
                        "archs": sorted(seccomp.ARCHES)},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.lxbrand.engine": "seccomp-unotify/ptrace supervisor",
                        "org.lxbrand.policy": "per-container engine policy (annotation)",
                        "org.lxbrand.backend": "per-container engine backend (annotation)"},
    }


def run(args, g):
    print(json.dumps(features(), indent=2))
    return 0
