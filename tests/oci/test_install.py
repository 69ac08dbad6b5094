"""`lxbrand install`: daemon.json keeps every other key, is idempotent, takes a runtime
name and runtime args (no root: it writes a temp file)."""
import json
import os

import pytest

from lxbrand.oci.errors import OCIError
from lxbrand.oci.install import install, uninstall, write_launcher


def test_install_keeps_other_keys(tmp_path):
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"log-driver": "json-file",
                               "runtimes": {"runsc": {"path": "/usr/bin/runsc"}}}))
    assert install(str(cfg), "lxbrand", "/opt/lx") is True
    data = json.loads(cfg.read_text())
    assert data["log-driver"] == "json-file"
    assert data["runtimes"]["runsc"] == {"path": "/usr/bin/runsc"}
    assert data["runtimes"]["lxbrand"] == {"path": "/opt/lx"}
    before = cfg.stat().st_mtime_ns
    assert install(str(cfg), "lxbrand", "/opt/lx") is False  # idempotent: not rewritten
    assert cfg.stat().st_mtime_ns == before


def test_install_name_args_default(tmp_path):
    cfg = tmp_path / "sub" / "daemon.json"
    install(str(cfg), "lx-strict", "/opt/lx", ["--policy", "strict"], default=True)
    data = json.loads(cfg.read_text())
    assert data["runtimes"]["lx-strict"] == {"path": "/opt/lx",
                                             "runtimeArgs": ["--policy", "strict"]}
    assert data["default-runtime"] == "lx-strict"
    assert uninstall(str(cfg), "lx-strict") is True
    assert json.loads(cfg.read_text()) == {}


def test_install_refuses_broken_json(tmp_path):
    cfg = tmp_path / "daemon.json"
    cfg.write_text("{broken")
    with pytest.raises(OCIError, match="not valid JSON"):
        install(str(cfg), "lxbrand", "/opt/lx")
    assert cfg.read_text() == "{broken"


def test_launcher(tmp_path):
    dest = str(tmp_path / "lxbrand-runtime")
    p = write_launcher(dest, compile_c=False)
    text = open(p).read()
    assert p == dest and text.startswith("#!") and text.splitlines()[0].endswith(" -IS")
    assert os.access(p, os.X_OK)
    assert open(dest + ".py").read() == text
    assert write_launcher(dest, compile_c=False) == p  # unchanged content: not rewritten


PODMAN_CONF = '''# my podman settings
[containers]
default_ulimits = []   # this VM: no CAP_SYS_RESOURCE

[engine]
events_logger = "file"

[engine.runtimes]
runc = ["/usr/sbin/runc"]
'''


def test_install_podman_keeps_everything_else(tmp_path):
    import tomllib
    from lxbrand.oci.install import install_podman, uninstall_podman
    cfg = tmp_path / "containers.conf"
    cfg.write_text(PODMAN_CONF)
    assert install_podman(str(cfg), "lxbrand", "/opt/lx/lxbrand-runtime") is True
    text = cfg.read_text()
    assert text.startswith(PODMAN_CONF.rstrip("\n"))      # comments and layout kept
    data = tomllib.loads(text)
    assert data["engine"]["runtimes"] == {"runc": ["/usr/sbin/runc"],
                                          "lxbrand": ["/opt/lx/lxbrand-runtime"]}
    assert data["engine"]["events_logger"] == "file" and data["containers"]["default_ulimits"] == []
    before = cfg.stat().st_mtime_ns
    assert install_podman(str(cfg), "lxbrand", "/opt/lx/lxbrand-runtime") is False
    assert cfg.stat().st_mtime_ns == before
    assert uninstall_podman(str(cfg), "lxbrand") is True
    assert cfg.read_text() == PODMAN_CONF


def test_install_podman_args_make_a_wrapper(tmp_path):
    import subprocess
    import tomllib
    from lxbrand.oci.install import install_podman
    runtime = tmp_path / "lxbrand-runtime"
    runtime.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    runtime.chmod(0o755)
    cfg = tmp_path / "new" / "containers.conf"          # absent: made with only the table
    install_podman(str(cfg), "lx-strict", str(runtime), ["--policy", "my policy.toml"],
                   default=True)
    data = tomllib.loads(cfg.read_text())
    wrapper = data["engine"]["runtimes"]["lx-strict"][0]
    assert data["engine"]["runtime"] == "lx-strict"
    assert wrapper == str(tmp_path / "runtime-lx-strict")
    out = subprocess.run([wrapper, "create", "--bundle", "b c", "id"], capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines() == ["--policy", "my policy.toml", "create", "--bundle", "b c", "id"]


def test_install_containerd_handler(tmp_path):
    import tomllib
    from lxbrand.oci.install import install_containerd, uninstall_containerd
    cfg = tmp_path / "config.toml"
    cfg.write_text('version = 2\n# the node\'s\n[plugins."io.containerd.grpc.v1.cri"]\n'
                   '  sandbox_image = "pause:3.9"\n')
    assert install_containerd(str(cfg), "lxbrand", "/opt/lx") is True
    assert install_containerd(str(cfg), "lxbrand", "/opt/lx") is False
    data = tomllib.loads(cfg.read_text())
    cri = data["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "pause:3.9"
    assert cri["containerd"]["runtimes"]["lxbrand"] == {
        "runtime_type": "io.containerd.runc.v2", "pod_annotations": ["org.lxbrand.*"],
        "container_annotations": ["org.lxbrand.*"], "options": {"BinaryName": "/opt/lx"}}
    assert "# the node's" in cfg.read_text()
    assert uninstall_containerd(str(cfg), "lxbrand") is True
    assert "lxbrand" not in tomllib.loads(cfg.read_text())["plugins"][
        "io.containerd.grpc.v1.cri"].get("containerd", {}).get("runtimes", {})


@pytest.mark.parametrize("text, words", [
    ("[plugins.cri]\n", "config version 1"),                    # containerd 1.x's old format
    ("version = 2\nplugins = 3\n", "plugins must be a table"),
    ("version = 2\n[broken\n", "not valid TOML"),
])
def test_install_containerd_refuses(tmp_path, text, words):
    from lxbrand.oci.install import install_containerd
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    with pytest.raises(OCIError, match=words):
        install_containerd(str(cfg), "lxbrand", "/opt/lx")
    assert cfg.read_text() == text


def test_install_bad_name(tmp_path):
    from lxbrand.oci.install import install_podman
    with pytest.raises(OCIError, match="runtime name"):
        install_podman(str(tmp_path / "c.conf"), "../evil", "/opt/lx", ["--policy", "strict"])
    assert not (tmp_path / "c.conf").exists()
