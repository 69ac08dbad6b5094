"""[[path]] rules: allow or deny read, write, create, stat and exec by path prefix
or glob, as the program sees paths.

    path_default = "allow"           # top level: allow | deny (default allow)
    [[path]]
    action = "deny"                  # allow | deny
    ops = ["read", "write"]          # read | write | create | stat | exec (default: all)
    paths = ["/etc/shadow", "/home"] # a prefix (the path itself and everything under it) or a glob (* ? [)
    errno = "ENOENT"                 # deny only (default EACCES); ENOENT hides
    comment = "why"

Rules are tried in order, the first that matches decides, `path_default` when
none does.  This module validates them and compiles them for the engine, which
decides and performs every call they judge, on both backends, without Python
(csrc/paths.h, csrc/pathopen.c, csrc/pathcalls.c):

1. a path argument is read once and resolved as the program sees it -- its
   root, its cwd or dirfd, symlinks and "..", /proc/self naming it -- with
   openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (csrc/resolve.c), and the
   rules are matched on the path of the file actually reached, never on the
   string the program gave;
2. the call is performed by the supervisor on that same file (an allowed open
   is installed as the call's result with SECCOMP_IOCTL_NOTIF_ADDFD +
   ADDFD_FLAG_SEND, or csrc/inject.c's hand-over on ptrace; results of stat,
   readlink, ... are written into the program's memory): the program's memory
   is never read again and the original call never runs;
3. with the program's credentials: a supervisor thread takes its fsuid, fsgid,
   groups, effective capabilities and (for creating calls) umask, kept per
   program thread and forgotten when they may change (csrc/view.h,
   csrc/creds.c).

What each call is judged as, the listing filter and the exec checks:
csrc/pathcalls.c and csrc/pathopen.c.  The calls that would go around the
rules are refused (REFUSED); chdir is decided, then performed by the kernel (no
call sets another process's cwd).  Limits: SECURITY.md, DIVERGENCE.md.
"""
import errno
import os

from lxbrand.errors import PolicyError
from lxbrand.rules.common import check_rule_table, rule_errno_and_comment, stderr_log
from lxbrand.rules.patterns import compile_pattern, match

OPS = ("read", "write", "create", "stat", "exec")   # bit i of the engine's ops is OPS[i] (csrc/paths.h)
ACTIONS = ("allow", "deny")
_RULE_KEYS = {"action", "ops", "paths", "errno", "comment"}
OWNER = __name__.removeprefix("lxbrand.")  # of the rules it installs (lxbrand.policy.Rule.owner)

# The syscalls the engine decides and performs under path rules.
OPENS = ("open", "openat", "openat2", "creat")
EXECS = ("execve", "execveat")
# calls with paths: names made, removed and renamed, the stat family, times, modes,
# owners, xattrs, ... (what each is judged as: csrc/pathcalls.c)
PATH_CALLS = ("mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir", "rename", "renameat",
              "renameat2", "link", "linkat", "symlink", "symlinkat", "truncate", "access", "faccessat",
              "faccessat2", "readlink", "readlinkat", "chmod", "fchmodat", "fchmodat2", "chown", "lchown",
              "fchownat", "utimensat", "utimes", "utime", "futimesat", "setxattr", "lsetxattr", "removexattr",
              "lremovexattr", "getxattr", "lgetxattr", "listxattr", "llistxattr", "stat", "lstat", "newfstatat",
              "statx", "statfs", "chdir", "inotify_add_watch", "name_to_handle_at")
# calls on a file the program holds open that change it: judged "write" on the file's path
FD_WRITE = ("fchmod", "fchown", "fsetxattr", "fremovexattr")
# directory listings: names a rule hides (deny stat with ENOENT) are left out
DIR_LIST = ("getdents", "getdents64")
CALLS = OPENS + EXECS + PATH_CALLS + FD_WRITE + DIR_LIST

# What each call may do, as the engine judges it (csrc/pathcalls.c, pathopen.c): a call
# whose operations no rule denies need not trap at all (PathPolicy.native).  The open
# family is told apart by its flags; openat2's are in memory, so it asks for everything.
_STAT = {"stat"}
_JUDGED_AS = {
    **dict.fromkeys(("stat", "lstat", "newfstatat", "statx", "statfs", "readlink", "readlinkat", "getxattr",
                     "lgetxattr", "listxattr", "llistxattr", "name_to_handle_at", "chdir"), _STAT),
    **dict.fromkeys(("access", "faccessat", "faccessat2"), {"stat", "read", "write", "exec"}),
    "inotify_add_watch": {"read"},
    **dict.fromkeys(("chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "utimensat", "utimes", "utime",
                     "futimesat", "setxattr", "lsetxattr", "removexattr", "lremovexattr", "truncate", "unlink",
                     "unlinkat", "rmdir") + FD_WRITE, {"write"}),
    **dict.fromkeys(("mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat"), {"create"}),
    **dict.fromkeys(("rename", "renameat", "renameat2"), {"write", "create"}),
    **dict.fromkeys(("link", "linkat"), {"read", "write", "create"}),
    "creat": {"write", "create"},
    "openat2": {"read", "write", "create", "stat"},
    **dict.fromkeys(EXECS, {"exec"}),
}
# the open flags that ask for a write, or a creation (asm-generic/fcntl.h)
_O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_TRUNC
_O_CREATE = os.O_CREAT | 0o20000000  # __O_TMPFILE without O_DIRECTORY

# calls that would go around the rules, refused under path rules (unless the policy
# already denies or kills them): name -> why
REFUSED = {
    "open_by_handle_at": "opens a file by handle, without a path the rules could judge",
    "open_tree": "an O_PATH fd of a path (or a detached copy of a mount), outside the rules' opens",
    "io_uring_setup": "IORING_OP_OPENAT and friends open files without a trap",
    "io_uring_enter": "IORING_OP_OPENAT and friends open files without a trap",
    "io_uring_register": "IORING_OP_OPENAT and friends open files without a trap",
    # The rules are matched on paths as the program sees them, from its root and in
    # its mount namespace: a program that may chroot or mount (root, or anyone after
    # unshare(CLONE_NEWUSER)) would move a denied tree under an allowed name.
    "chroot": "moves the program's root: rules would match inside the new root",
    "pivot_root": "moves the program's root: rules would match inside the new root",
    "mount": "a bind mount puts a denied tree under an allowed path",
    "umount2": "uncovers what a mount hid",
    "move_mount": "a bind mount puts a denied tree under an allowed path",
    "fsopen": "new mounts (with fsmount/move_mount)",
    "fsconfig": "new mounts (with fsmount/move_mount)",
    "fsmount": "new mounts (with move_mount)",
    "fspick": "reconfigures a mount found by path",
    "mount_setattr": "changes a mount found by path (e.g. makes it writable)",
    "fanotify_mark": "watches a path, a mount or a filesystem; its events carry fds of the files others open",
    # files reached by path that only privileged programs may use (and root
    # without namespaces is not defended against, SECURITY.md): not judged, refused
    "uselib": "maps a library file by path",
    "acct": "writes process accounting to a file by path",
    "swapon": "turns a file found by path into swap",
    "swapoff": "finds a swap file by path",
    "quotactl": "finds a filesystem by a device path",
}


class PathRule:
    __slots__ = ("action", "ops", "paths", "errno", "comment")

    def __init__(self, action, ops, paths, errno_=errno.EACCES, comment=""):
        self.action, self.ops, self.paths, self.errno, self.comment = action, frozenset(ops), tuple(paths), errno_, comment

    def __repr__(self):
        return f"PathRule({self.action}, {sorted(self.ops)}, {self.paths})"

    def matches(self, op, path):
        return op in self.ops and any(match(p, path) for p in self.paths)


def rule_from_dict(r, source, key):
    action = check_rule_table(r, source, key, _RULE_KEYS, ACTIONS)
    ops = r.get("ops", list(OPS))
    if isinstance(ops, str):
        ops = [ops]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o in OPS for o in ops):
        raise PolicyError(source, f"{key}.ops", f"expected a list of operations ({', '.join(OPS)}), got {ops!r}")
    paths = r.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise PolicyError(source, f"{key}.paths", f"expected a list of absolute paths or globs, got {paths!r}")
    for p in paths:
        if not p.startswith("/") or "\0" in p:
            raise PolicyError(source, f"{key}.paths", f"{p!r} must be an absolute path (as the program sees it)")
        try:
            compile_pattern(p)
        except (ValueError, IndexError) as e:  # fnmatch cannot translate it (e.g. "[b-a-c]")
            raise PolicyError(source, f"{key}.paths", f"{p!r} is not a glob fnmatch can use: {e}") from None
    err, comment = rule_errno_and_comment(r, action, source, key)
    return PathRule(action, ops, paths, err, comment)


class PathPolicy:
    """The [[path]] rules of one policy: what they say (decide, for the network
    rules' UNIX socket paths and for tests) and their compiled form (compile)."""

    def __init__(self, rules=(), default="allow", log=None):
        self.rules = list(rules)
        self.default = default
        self.log = log

    def add(self, rule):
        self.rules.append(rule)

    def hides(self):
        """Does any rule hide paths (deny "stat" with ENOENT)?"""
        return any(r.action == "deny" and "stat" in r.ops and r.errno == errno.ENOENT for r in self.rules)

    def decide(self, op, path):
        """None if allowed, else the errno."""
        for r in self.rules:
            if r.matches(op, path):
                return None if r.action == "allow" else r.errno
        return None if self.default == "allow" else errno.EACCES

    def check(self, ops, path, pid):
        """Raise OSError(errno) if any of `ops` on `path` is denied (logged)."""
        import os
        sup = f"/proc/{os.getpid()}"
        if path == sup or path.startswith(sup + "/"):
            # /proc lets a process into its own entries whatever its credentials, and
            # the supervisor acts for the program: never on its behalf
            raise OSError(errno.EACCES, "the supervisor's /proc entries")
        for op in ops:
            err = self.decide(op, path)
            if err is not None:
                if self.log:
                    self.log(f"lxbrand: path policy: {op} {path} by pid {pid} denied ({errno.errorcode.get(err, err)})")
                raise OSError(err, os.strerror(err))

    def denied_ops(self):
        """The operations some rule (or the default) may deny."""
        if self.default == "deny":
            return set(OPS)
        return set().union(*(r.ops for r in self.rules if r.action == "deny"))

    def native(self, name):
        """How the engine may let syscall `name` run untrapped, the rules denying
        nothing it could do: "all" (never trapped), ("args", index, mask) (runs in the
        kernel when args[index] & mask == 0: an open whose flags ask for no operation a
        rule denies), "watch" (exec, when no rule judges it: trapped only so the
        engine forgets what it kept of the caller), or None (every call judged)."""
        d = self.denied_ops()
        needs = _JUDGED_AS.get(name)
        if name in ("open", "openat"):
            if "read" in d:
                return None  # a read-only open has no flag bit to tell it by
            mask = (_O_WRITE if "write" in d else 0) | (_O_CREATE if "create" in d else 0) | \
                (os.O_PATH if "stat" in d else 0)
            return ("args", 1 if name == "open" else 2, mask) if mask else "all"
        if name in ("getdents", "getdents64"):
            return None if self.hides() else "all"
        if needs is None or needs & d:
            return None
        return "watch" if name in EXECS else "all"

    def compile(self, sup):
        """Hand the rules to the engine (lxbrand._core.Supervisor.set_path_rules)."""
        bits = {op: 1 << i for i, op in enumerate(OPS)}
        sup.set_path_rules(self.default == "allow",
                           [(r.action == "allow", sum(bits[o] for o in r.ops), r.errno,
                             [compile_pattern(p) for p in r.paths]) for r in self.rules],
                           log=self.log is not None)


def install(policy):
    """The path rule family's entry point into a policy (as lxbrand.personality's
    modules apply themselves): the calls the rules judge go to the engine, the
    calls that would go around them are refused, and the calls that change what
    the engine keeps to act for a thread trap.  Returns the (empty) PathPolicy."""
    pp = PathPolicy(log=stderr_log)
    policy.claim_engine(CALLS, "path", "path rules, decided and performed in C (csrc/paths.h)", OWNER)
    for name, why in REFUSED.items():
        policy.refuse(name, errno.EPERM, f"path rules: {why}", owner=OWNER)
    policy.watch_engine()
    return pp
