"""lxbrand's OCI runtime: a runc-compatible command line that builds containers from an OCI
bundle (config.json + rootfs) and runs every container process under the lxbrand engine.

Layout (one file per concern):
  config.py       load + validate config.json
  state.py        per-container state directory under --root
  supervisor.py   the long-lived process the pid-file names: runs init under the engine
  init.py         the in-container setup run in the forked child (preexec_fn)
  namespaces.py, rootfs.py, cgroups.py, devices.py, capabilities.py, rlimits.py,
  seccomp.py, hooks.py, console.py, syscalls.py (ctypes bindings), log.py, install.py
  commands/       one module per CLI verb; lxbrand.cli.runtime holds the command table
"""
