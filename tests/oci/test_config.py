"""config.json validation: a bad file is refused before anything is built, and the message
names the key (no root needed)."""
import json

import pytest

from lxbrand.oci.config import ConfigError, load_bundle, validate
from lxbrand.oci.commands.spec import template


def spec(**over):
    s = template()
    s["process"]["terminal"] = False
    for k, v in over.items():
        s[k] = v
    return s


def test_template_is_valid():
    assert validate(spec())


@pytest.mark.parametrize("mutate, key", [
    (lambda s: s.pop("ociVersion"), "ociVersion"),
    (lambda s: s.update(ociVersion="2.0.0"), "ociVersion"),
    (lambda s: s["process"].update(args=[]), "process.args"),
    (lambda s: s["process"].update(args="sh"), "process.args"),
    (lambda s: s["process"].update(cwd="relative"), "process.cwd"),
    (lambda s: s["process"].update(env=["NOEQUALS"]), "process.env[0]"),
    (lambda s: s["process"]["user"].update(uid="0"), "process.user.uid"),
    (lambda s: s["process"]["user"].update(uid=True), "process.user.uid"),
    (lambda s: s["process"]["capabilities"]["bounding"].append("CAP_BOGUS"),
     "process.capabilities.bounding[3]"),
    (lambda s: s["process"]["rlimits"][0].update(type="RLIMIT_NOPE"), "process.rlimits[0].type"),
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[5].type"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[5].type"),
    (lambda s: s["mounts"][0].update(destination="proc"), "mounts[0].destination"),
    (lambda s: s.update(hooks={"prestart": [{"path": "relative"}]}), "hooks.prestart[0].path"),
    (lambda s: s["linux"].update(sysctl={"net.x": 1}), "linux.sysctl.net.x"),
    (lambda s: s["linux"].update(devices=[{"path": "/dev/x", "type": "z"}]),
     "linux.devices[0].type"),
    (lambda s: s["linux"].update(rootfsPropagation="sideways"), "linux.rootfsPropagation"),
    (lambda s: s.pop("root"), "root"),
])
def test_errors_name_the_key(mutate, key):
    s = spec()
    mutate(s)
    with pytest.raises(ConfigError) as ei:
        validate(s, "config.json")
    assert f"config.json: {key}:" in str(ei.value)


def test_load_bundle_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_bundle(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_bundle(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(spec()))
    with pytest.raises(ConfigError, match="root.path: .*no such directory"):
        load_bundle(tmp_path)
    (tmp_path / "rootfs").mkdir()
    s, rootfs = load_bundle(tmp_path)
    assert rootfs == str(tmp_path / "rootfs")


@pytest.mark.parametrize("ann, words", [
    ({"org.lxbrand.policy": "no-such-policy"}, "no built-in profile 'no-such-policy'"),
    ({"org.lxbrand.policy": "relative/strict.toml"}, "absolute path"),
    ({"org.lxbrand.policy": "/nonexistent/p.toml"}, "no such policy file"),
    ({"org.lxbrand.backend": "bogus"}, "not one of unotify, ptrace"),
    ({"org.lxbrand.trace": "maybe"}, "not one of"),
    ({"org.lxbrand.personality": "sometimes"}, "not one of"),
    ({"org.lxbrand.fake-root": "TRUE"}, "not one of"),     # from_oci compares exactly
    ({"org.lxbrand.kernel-release": "4.4 lx"}, "kernel release"),
    ({"org.lxbrand.polcy": "strict"}, "unknown lxbrand annotation"),
    ({"org.lxbrand.policy": 1}, "must be a string"),
])
def test_bad_lxbrand_annotation_names_the_key(ann, words):
    """What a pod spec passes through containerd's pod_annotations: a typo is an error naming
    the key, never a policy silently not applied."""
    key = next(iter(ann))
    with pytest.raises(ConfigError) as e:
        validate(spec(annotations=ann))
    assert f"annotations[{key!r}]" in str(e.value) and words in str(e.value), str(e.value)


def test_good_lxbrand_annotations(tmp_path):
    policy = tmp_path / "mine.toml"
    policy.write_text('default = "allow"\n')
    validate(spec(annotations={"org.lxbrand.policy": "strict", "org.lxbrand.backend": "ptrace",
                               "org.lxbrand.trace": "ON", "org.lxbrand.personality": "false",
                               "org.lxbrand.fake-root": "yes",
                               "org.lxbrand.kernel-release": "4.4.0-lx",
                               "io.kubernetes.cri.sandbox-id": "x", "other.key": ""}))
    validate(spec(annotations={"org.lxbrand.policy": str(policy)}))
