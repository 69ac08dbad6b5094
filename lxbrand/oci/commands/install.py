"""lxbrand install [--config F] [--runtime-name N] [--path P] [--default] [--uninstall]
[-- RUNTIME ARGS...]: register lxbrand in Docker's daemon.json (see lxbrand.oci.install).

    lxbrand install                                   # runtime "lxbrand"
    lxbrand install --runtime-name lx-strict -- --policy strict
"""

def add_args(p):
    p.add_argument("--config", default="/etc/docker/daemon.json")
    p.add_argument("--runtime-name", default="lxbrand")
    p.add_argument("--path", default=None,
                   help="runtime binary (default: a fast launcher of this lxbrand, written to "
                        "/usr/local/lib/lxbrand/lxbrand-runtime)")
    p.add_argument("--default", action="store_true", help="also make it the default runtime")
    p.add_argument("--uninstall", action="store_true")
    p.add_argument("runtime_args", nargs="*", help="arguments Docker passes first (after --)")


def run(args, g):
    from lxbrand.oci.install import install, uninstall
    if args.uninstall:
        changed = uninstall(args.config, args.runtime_name)
        print(f"{args.config}: runtime {args.runtime_name!r} "
              f"{'removed' if changed else 'was not registered'}")
        return 0
    if args.path:
        path = args.path
    else:
        from lxbrand.oci.install import write_launcher
        path = write_launcher()
    changed = install(args.config, args.runtime_name, path, args.runtime_args, args.default)
    print(f"{args.config}: runtime {args.runtime_name!r} -> {path}"
          f"{' ' + ' '.join(args.runtime_args) if args.runtime_args else ''}"
          f" ({'updated' if changed else 'unchanged'}); reload dockerd (SIGHUP) to use it")
    return 0
