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
