"""The container's filesystem: config.json mounts, /dev, pivot_root, masked/readonly paths.

Runs in the forked child, inside its new mount namespace, before init is exec'd.  Every
mount destination is resolved inside the rootfs as the container would see it (symlinks
followed but clamped to the rootfs), so a malicious image cannot point a mount outside.
"""
import os
import stat

from . import syscalls as sc
from .errors import OCIError

# option -> (clear, set) for mount(2) flags; propagation options are applied separately
_FLAGS = {
    "ro": (0, sc.MS_RDONLY), "rw": (sc.MS_RDONLY, 0),
    "nosuid": (0, sc.MS_NOSUID), "suid": (sc.MS_NOSUID, 0),
    "nodev": (0, sc.MS_NODEV), "dev": (sc.MS_NODEV, 0),
    "noexec": (0, sc.MS_NOEXEC), "exec": (sc.MS_NOEXEC, 0),
    "sync": (0, sc.MS_SYNCHRONOUS), "async": (sc.MS_SYNCHRONOUS, 0),
    "dirsync": (0, sc.MS_DIRSYNC), "remount": (0, sc.MS_REMOUNT),
    "mand": (0, sc.MS_MANDLOCK), "nomand": (sc.MS_MANDLOCK, 0),
    "atime": (sc.MS_NOATIME, 0), "noatime": (0, sc.MS_NOATIME),
    "diratime": (sc.MS_NODIRATIME, 0), "nodiratime": (0, sc.MS_NODIRATIME),
    "relatime": (0, sc.MS_RELATIME), "norelatime": (sc.MS_RELATIME, 0),
    "strictatime": (0, sc.MS_STRICTATIME), "nostrictatime": (sc.MS_STRICTATIME, 0),
    "lazytime": (0, sc.MS_LAZYTIME), "nolazytime": (sc.MS_LAZYTIME, 0),
    "nosymfollow": (0, sc.MS_NOSYMFOLLOW), "symfollow": (sc.MS_NOSYMFOLLOW, 0),
    "bind": (0, sc.MS_BIND), "rbind": (0, sc.MS_BIND | sc.MS_REC),
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# options that are ours to interpret, never passed to the filesystem
_IGNORED = {"defaults", "tmpcopyup", "idmap", "ridmap", "rro", "rrw", "recursive"}

# The devices every container has (runtime-spec config-linux.md "Default Devices")
DEFAULT_DEVICES = [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)]
_DEV_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
              ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]


def parse_options(options):
    """(flags, propagation flags list, data string) from a mount's option list."""
    flags, prop, data = 0, [], []
    for o in options or ():
        if o in _FLAGS:
            clear, set_ = _FLAGS[o]
            flags = (flags & ~clear) | set_
        elif o in _PROPAGATION:
            prop.append(_PROPAGATION[o])
        elif o in _IGNORED:
            continue
        else:
            data.append(o)
    return flags, prop, ",".join(data)


def secure_join(root, path):
    """`path` resolved inside `root` as if root were /: symlinks are followed, but '..' and
    absolute link targets can never leave root.  The result need not exist.
    `root` is not canonicalized: /proc/PID/root (exec's view of a running container) is a
    magic link whose realpath is the host's /."""
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p and p != "."]
    resolved = []
    links = 0
    while parts:
        p = parts.pop(0)
        if p == "..":
            if resolved:
                resolved.pop()
            continue
        cand = os.path.join(root, *resolved, p)
        try:
            st = os.lstat(cand)
        except OSError:
            resolved.append(p)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise OCIError(f"{path}: too many levels of symbolic links inside the rootfs")
            target = os.readlink(cand)
            if target.startswith("/"):
                resolved = []
            parts = [x for x in target.split("/") if x and x != "."] + parts
            continue
        resolved.append(p)
    return os.path.join(root, *resolved)


def _make_target(dest, is_dir):
    if os.path.lexists(dest):
        return
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if is_dir:
        os.makedirs(dest, exist_ok=True)
    else:
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _mount_error(m, e):
    return OCIError(f"mount {m.get('source', '')} on {m['destination']} "
                    f"(type {m.get('type') or 'bind'}): {e.strerror or e}")


def do_mount(rootfs, m, cgroup_paths=None):
    """One entry of config.json's mounts, inside rootfs (before pivot_root)."""
    typ = m.get("type") or ""
    opts = m.get("options") or []
    flags, prop, data = parse_options(opts)
    src = m.get("source") or typ or "none"
    is_bind = bool(flags & sc.MS_BIND) or typ == "bind"
    dest = secure_join(rootfs, m["destination"])
    try:
        if typ == "cgroup":
            return _mount_cgroup(dest, flags, cgroup_paths or {})
        if is_bind:
            if not os.path.exists(src):
                raise OCIError(f"mount {m['destination']}: bind source {src} does not exist")
            _make_target(dest, os.path.isdir(src))
            sc.mount(src, dest, None, sc.MS_BIND | (flags & sc.MS_REC))
            # a bind mount ignores other flags at first: remount to apply ro/nosuid/...
            extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra:
                sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | extra |
                         _locked_flags(dest))
        else:
            _make_target(dest, True)
            if typ == "mqueue" or typ == "sysfs":
                data = data or None
            try:
                sc.mount(src, dest, typ, flags, data or None)
            except OSError as e:
                # sysfs cannot be mounted in a netns we do not own (rootless, or joined
                # netns): bind the host's, as runc does
                if typ == "sysfs" and e.errno == 1:
                    sc.mount("/sys", dest, None, sc.MS_BIND | sc.MS_REC)
                    sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
                else:
                    raise
        for p in prop:
            sc.mount(None, dest, None, p)
    except OSError as e:
        raise _mount_error(m, e) from None


def _locked_flags(path):
    """Flags of the mount at `path` that a bind remount must keep (nosuid/nodev/noexec)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    out = 0
    # in a user namespace these are locked: a remount that drops one fails with EPERM
    for bit, flag in ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV),
                      (os.ST_NOEXEC, sc.MS_NOEXEC), (os.ST_NOATIME, sc.MS_NOATIME),
                      (os.ST_NODIRATIME, sc.MS_NODIRATIME), (os.ST_RELATIME, sc.MS_RELATIME)):
        if st.f_flag & bit:
            out |= flag
    return out


def _mount_cgroup(dest, flags, cgroup_paths):
    """A cgroup mount as runc does it without a cgroup namespace: a tmpfs with, for each
    hierarchy, a bind of the container's own cgroup directory (so it sees its limits)."""
    from .cgroups import hierarchies
    _make_target(dest, True)
    hier = hierarchies()
    if "unified" in hier and len(hier) == 1:  # pure v2: one bind of our cgroup dir
        src = cgroup_paths.get("unified") or hier["unified"]
        sc.mount(src, dest, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
        return
    sc.mount("tmpfs", dest, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    for key, mnt in hier.items():
        name = os.path.basename(mnt)
        sub = os.path.join(dest, name)
        os.makedirs(sub, exist_ok=True)
        src = cgroup_paths.get(key) or mnt
        sc.mount(src, sub, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | (flags & ~sc.MS_REC)
                 | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        # co-mounted controllers get a link per name (cpu -> cpu,cpuacct) as on a host
        if "," in key and "," in name:
            for c in key.split(","):
                link = os.path.join(dest, c)
                if not os.path.lexists(link):
                    os.symlink(name, link)
    if flags & sc.MS_RDONLY:
        sc.mount(None, dest, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
                 | sc.MS_NOEXEC)


def prepare(rootfs, spec, cgroup_paths, own_ns=True):
    """Everything before pivot_root: propagation, rootfs bind, mounts, /dev contents.
    own_ns=False: we are in the runtime's mount namespace (the config has none): nothing
    outside the rootfs is touched, and every mount goes under one private bind of it."""
    linux = spec.get("linux") or {}
    if own_ns:
        # Stop our mounts from leaking to the host: everything becomes a slave (or private)
        # of the host's mounts before we mount anything.  A requested shared/unbindable root
        # is applied after pivot_root (finish()), to the container's own root only: making
        # the copied "/" shared here would put the container's mounts in the host's peer
        # group.
        private = linux.get("rootfsPropagation") in ("private", "rprivate")
        sc.mount(None, "/", None, (sc.MS_PRIVATE if private else sc.MS_SLAVE) | sc.MS_REC)
    # pivot_root needs rootfs to be a mount point; in the runtime's namespace, this bind is
    # what `delete` detaches (host_mount_depth)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    if not own_ns:
        sc.mount(None, rootfs, None, sc.MS_PRIVATE | sc.MS_REC)
    mounts = spec.get("mounts") or []
    dev_is_tmpfs = False
    for m in mounts:
        do_mount(rootfs, m, cgroup_paths)
        if m["destination"].rstrip("/") == "/dev" and m.get("type") != "bind":
            dev_is_tmpfs = True
    if dev_is_tmpfs:
        create_devices(rootfs, linux.get("devices") or [], defaults=True)
        dev_links(rootfs)
    else:
        create_devices(rootfs, linux.get("devices") or [], defaults=False)


def bind_console(pty_path):
    """After pivot_root: the container's terminal is also /dev/console (as with runc)."""
    try:
        _make_target("/dev/console", False)
        sc.mount(pty_path, "/dev/console", None, sc.MS_BIND)
    except OSError as e:
        raise OCIError(f"/dev/console: binding {pty_path}: {e.strerror or e}") from None


def create_devices(rootfs, devices, defaults=True):
    listed = {d["path"] for d in devices}
    todo = [dict(path=p, type="c", major=ma, minor=mi, fileMode=0o666, uid=0, gid=0)
            for p, ma, mi in DEFAULT_DEVICES if defaults and p not in listed] + list(devices)
    for d in todo:
        dest = secure_join(rootfs, d["path"])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK,
                "p": stat.S_IFIFO}[d["type"]]
        mode = d.get("fileMode")
        if mode is None:
            mode = 0o666
        try:
            if os.path.lexists(dest):
                os.unlink(dest)
            os.mknod(dest, kind | (mode & 0o7777),
                     os.makedev(d.get("major", 0), d.get("minor", 0)))
        except PermissionError:
            # no CAP_MKNOD (user namespace): bind the host's node instead
            _make_target(dest, False)
            sc.mount(d["path"], dest, None, sc.MS_BIND)
            continue
        except OSError as e:
            raise OCIError(f"device {d['path']}: {e.strerror}") from None
        os.chmod(dest, mode & 0o7777)  # mknod obeys the umask
        try:
            os.chown(dest, d.get("uid") or 0, d.get("gid") or 0)
        except PermissionError:
            pass  # an id not mapped in the user namespace: the node keeps its owner


def dev_links(rootfs):
    for src, dst in _DEV_LINKS:
        p = secure_join(rootfs, dst)
        if not os.path.lexists(p):
            os.symlink(src, p)
    ptmx = secure_join(rootfs, "/dev/ptmx")
    if os.path.exists(secure_join(rootfs, "/dev/pts")):
        if os.path.lexists(ptmx):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def pivot(rootfs):
    """pivot_root into rootfs and detach the old root (the "pivot_root(., .)" idiom: no
    temporary directory needed inside a possibly read-only rootfs)."""
    oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(newroot)
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        # the old root may be shared with the host: make it a slave before unmounting
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    except OSError as e:
        raise OCIError(f"pivot_root into {rootfs}: {e.strerror or e}") from None
    finally:
        os.close(oldroot)
        os.close(newroot)


def chroot_into(rootfs):
    """Without a mount namespace of our own: pivot_root would move the runtime's root."""
    os.chdir(rootfs)
    os.chroot(".")
    os.chdir("/")


def host_mount_depth(path):
    """How many mounts are stacked on `path` in our mount namespace (mountinfo(5))."""
    path = os.path.realpath(path)
    n = 0
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                mp = line.split(b" ", 5)[4].decode("unicode_escape", "replace")
                if mp == path:
                    n += 1
    except OSError:
        pass
    return n


def detach_host_mounts(path, base):
    """Detach what a container without a mount namespace stacked on `path` (its rootfs)
    above the `base` mounts that were there before it was created."""
    for _ in range(64):
        if host_mount_depth(path) <= base:
            return
        try:
            sc.umount2(os.path.realpath(path), sc.MNT_DETACH)
        except OSError:
            return


def no_pivot(rootfs):
    """--no-pivot: move the rootfs over / and chroot (for ramdisk roots where pivot_root fails)."""
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def finish(spec):
    """After pivot_root: masked and readonly paths, then a read-only root if asked."""
    linux = spec.get("linux") or {}
    for p in linux.get("readonlyPaths") or ():
        if not os.path.exists(p):
            continue
        try:
            sc.mount(p, p, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC
                     | _locked_flags(p))
        except OSError as e:
            raise OCIError(f"readonlyPaths {p}: {e.strerror}") from None
    for p in linux.get("maskedPaths") or ():
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                sc.mount("tmpfs", p, "tmpfs", sc.MS_RDONLY, None)
            elif os.path.lexists(p):
                sc.mount("/dev/null", p, None, sc.MS_BIND)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise OCIError(f"maskedPaths {p}: {e.strerror}") from None
    prop = linux.get("rootfsPropagation")
    if prop in ("shared", "rshared", "unbindable", "runbindable"):
        try:
            sc.mount(None, "/", None, _PROPAGATION[prop])
        except OSError as e:
            raise OCIError(f"linux.rootfsPropagation {prop}: {e.strerror}") from None
    if (spec.get("root") or {}).get("readonly"):
        try:
            sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY
                     | _locked_flags("/"))
        except OSError as e:
            raise OCIError(f"root.readonly: remount / read-only: {e.strerror}") from None
