"""lxbrand install [--podman | --containerd] [--config F] [--runtime-name N] [--path P]
[--default] [--uninstall] [-- RUNTIME ARGS...]: register lxbrand with Docker (daemon.json, the
default), Podman (containers.conf) or containerd's CRI plugin (config.toml, a RuntimeClass
handler); see lxbrand.oci.install.

    lxbrand install                                   # Docker: runtime "lxbrand"
    lxbrand install --runtime-name lx-strict -- --policy strict
    lxbrand install --podman                          # podman --runtime lxbrand
    lxbrand install --containerd --runtime-name lxbrand-strict -- --policy strict
"""

TARGETS = {
    # flag: (default config, what reloads it)
    "docker": ("/etc/docker/daemon.json", "reload dockerd (SIGHUP) to use it"),
    "podman": ("/etc/containers/containers.conf", "podman reads it on its next run"),
    "containerd": ("/etc/containerd/config.toml", "restart containerd to use it"),
}


def add_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--podman", dest="target", action="store_const", const="podman",
                   help="Podman's containers.conf [engine.runtimes]")
    g.add_argument("--containerd", dest="target", action="store_const", const="containerd",
                   help="a CRI runtime handler in containerd's config.toml")
    p.add_argument("--config", default=None,
                   help="the file to edit (default: " + ", ".join(
                       f"{t}: {c}" for t, (c, _) in TARGETS.items()) + ")")
    p.add_argument("--runtime-name", default="lxbrand")
    p.add_argument("--path", default=None,
                   help="runtime binary (default: a fast launcher of this lxbrand, written to "
                        "/usr/local/lib/lxbrand/lxbrand-runtime)")
    p.add_argument("--default", action="store_true", help="also make it the default runtime")
    p.add_argument("--uninstall", action="store_true")
    p.add_argument("runtime_args", nargs="*", help="global options the runtime gets first "
                   "(after --); for Podman and containerd through a wrapper script")


def run(args, g):
    from lxbrand.oci import install as inst
    target = args.target or "docker"
    config = args.config or TARGETS[target][0]
    if args.uninstall:
        fn = {"docker": inst.uninstall, "podman": inst.uninstall_podman,
              "containerd": inst.uninstall_containerd}[target]
        changed = fn(config, args.runtime_name)
        print(f"{config}: runtime {args.runtime_name!r} "
              f"{'removed' if changed else 'was not registered'}")
        return 0
    inst.check_name(args.runtime_name)
    path = args.path or inst.write_launcher()
    fn = {"docker": inst.install, "podman": inst.install_podman,
          "containerd": inst.install_containerd}[target]
    changed = fn(config, args.runtime_name, path, args.runtime_args, args.default)
    print(f"{config}: runtime {args.runtime_name!r} -> {path}"
          f"{' ' + ' '.join(args.runtime_args) if args.runtime_args else ''}"
          f" ({'updated' if changed else 'unchanged'}); {TARGETS[target][1]}")
    return 0
