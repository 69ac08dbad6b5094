"""lxbrand run [create flags] [--detach] [--keep] ID: create + start; in the foreground
wait for the container and exit as its init did (code, or 128+signal), then delete it."""
import os

from . import create as create_cmd


def add_args(p):
    create_cmd.add_args(p)
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--keep", action="store_true", help="do not delete the container after it exits")


def run(args, g):
    from lxbrand.oci import syscalls as sc

    from .delete import delete
    from .start import start
    if not args.detach:
        # init's parent exits once it is forked: as a subreaper we become its parent (as the
        # shim does for `create`), so we can wait for it
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    c = create_cmd.create(g, args.id, args.bundle, args.pid_file, args.console_socket,
                          args.no_pivot, args.preserve_fds, args.no_new_keyring)
    try:
        start(g, args.id)
    except BaseException:
        delete(g, args.id, force=True)
        raise
    if args.detach:
        return 0
    while True:
        try:
            _, st = os.waitpid(c.pid, 0)
            break
        except InterruptedError:
            continue
    if not args.keep:
        delete(g, args.id, force=True)
    if os.WIFSIGNALED(st):
        return 128 + os.WTERMSIG(st)
    return os.WEXITSTATUS(st)
