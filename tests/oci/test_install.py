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
