"""lxbrand install [--config F] [--runtime-name N] [--path P] [--default] [--uninstall]
[-- RUNTIME ARGS...]: register lxbrand in Docker's daemon.json (see lxbrand.oci.install).

    lxbrand install                                   # runtime "lxbrand"
    lxbrand install --runtime-name lx-strict -- --policy strict
"""
import os
import shutil
import sys


def add_args(p):
    p.add_argument("--config", default="/etc/docker/daemon.json")
    p.add_argument("--runtime-name", default="lxbrand")
    p.add_argument("--path", default=None, help="runtime binary (default: this lxbrand)")
    p.add_argument("--default", action="store_true", help="also make it the default runtime")
    p.add_argument("--uninstall", action="store_true")
    p.add_argument("runtime_args", nargs="*", help="arguments Docker passes first (after --)")


def _self_path():
    me = os.path.abspath(sys.argv[0])
    if os.path.basename(me) == "lxbrand" and os.access(me, os.X_OK):
        return me
    return shutil.which("lxbrand") or me


def run(args, g):
    from lxbrand.oci.install import install, uninstall
    if args.uninstall:
        changed = uninstall(args.config, args.runtime_name)
        print(f"{args.config}: runtime {args.runtime_name!r} "
              f"{'removed' if changed else 'was not registered'}")
        return 0
    path = args.path or _self_path()
    changed = install(args.config, args.runtime_name, path, args.runtime_args, args.default)
    print(f"{args.config}: runtime {args.runtime_name!r} -> {path}"
          f"{' ' + ' '.join(args.runtime_args) if args.runtime_args else ''}"
          f" ({'updated' if changed else 'unchanged'}); reload dockerd (SIGHUP) to use it")
    return 0
