"""lxbrand's OCI runtime: a runc-compatible command line that builds containers from an OCI
bundle (config.json + rootfs) and runs every container process under the lxbrand engine.

Layout (one file per concern):
  config.py       load + validate config.json
  state.py        per-container state directory under --root
  supervisor.py   the process model: the builder forks init (what the pid-file names), a
                  supervisor beside it (lxbrand-sup in C, or Python) seizes it
  init.py         the in-container setup run in init and in exec's process
  namespaces.py, rootfs.py, cgroups.py, devices.py, capabilities.py, rlimits.py,
  seccomp.py, hooks.py, console.py, syscalls.py (ctypes bindings), log.py, install.py
  commands/       one module per CLI verb; lxbrand.cli.runtime holds the command table

The runtime's C front end (csrc/runtime/, one file per verb) answers create, start, state,
kill, delete and exec itself when nothing needs Python; this package is the reference
implementation of every verb and what it hands everything else to.
"""
