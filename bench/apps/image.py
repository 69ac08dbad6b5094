"""The apps suite's one image, built here from Debian packages and cached by content.

    debootstrap --variant=minbase bookworm TREE          (a Debian tree, no registry)
    chroot TREE apt-get install redis-server nginx-light postgresql-15 gunicorn gcc make ...
    chroot TREE apt-get source --download-only lua5.4    (the `build` row compiles it)
    + bench/apps/files/* (server configs, the WSGI app, the entry script), the nginx files,
      an initdb'd database directory
    tar -C TREE -c . | docker import - lxbench-apps:KEY

KEY is a hash of this recipe (the constants and script below, bench/apps/files/*): an edit rebuilds, anything else
reuses the image already in Docker. `python -m bench --suite apps --rebuild-image` rebuilds it
from scratch; a build takes ~5 minutes here and needs root, debootstrap and Debian's archive.
The chroot runs in its own mount namespace (`unshare --mount`), so the /proc and /dev mounts it
needs vanish with it whatever happens.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
REPOSITORY = "lxbench-apps"
SUITE = "bookworm"
MIRROR = os.environ.get("LXBENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("redis-server", "nginx-light", "postgresql-15", "gunicorn", "python3",
            "gcc", "make", "libc6-dev", "procps", "ca-certificates")
# Lua 5.4's upstream source (Debian's orig tarball): ~35 C files, a real make -j2 build.
BUILD_SOURCE = "lua5.4"
LOG = Path("/var/log/lxbench-apps-image.log")

# The files nginx serves: deterministic bytes, so the harness knows what each response must be.
WWW = {"4k.bin": 4096, "1m.bin": 1 << 20}


def www_bytes(name: str) -> bytes:
    """The content of /srv/www/NAME: SHA-256 blocks of a counter, cut to size (incompressible,
    reproducible)."""
    size = WWW[name]
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{name}:{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


# Bump when _add_files or _import change what goes into the image.
LAYOUT = 1


def recipe_key() -> str:
    """Hash of everything the image is made from (not of this file's comments)."""
    h = hashlib.sha256()
    h.update(repr((LAYOUT, SUITE, MIRROR, PACKAGES, BUILD_SOURCE, CHROOT_SCRIPT, WWW)).encode())
    for p in sorted(FILES.iterdir()):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def tag() -> str:
    return f"{REPOSITORY}:{recipe_key()}"


class ImageError(RuntimeError):
    """The image could not be built; the message says which step and where its log is."""


def _run(argv: list[str], timeout: float = 1800, input: bytes | None = None,
         log: Path | None = None) -> subprocess.CompletedProcess:
    if log is not None:
        with open(log, "ab") as f:
            f.write(("\n$ " + " ".join(argv) + "\n").encode())
            f.flush()
            return subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                  input=input, check=False)
    return subprocess.run(argv, capture_output=True, timeout=timeout, input=input, check=False)


@dataclass
class Builder:
    """What building asks of the machine; tests pass fakes."""
    docker: str = "docker"
    run: Callable[..., subprocess.CompletedProcess] = _run
    which: Callable[[str], str | None] = shutil.which
    log: Path = LOG
    say: Callable[[str], None] = field(default=lambda s: None)

    def exists(self, ref: str) -> bool:
        return self.run([self.docker, "image", "inspect", ref], timeout=60).returncode == 0


# The script run inside the tree, as root, in the chroot. policy-rc.d stops every package from
# starting its service (Debian policy 9.3.3.1 / invoke-rc.d(8)); postgresql-common is told not to
# create a cluster (ours is made below, owned by postgres, with trust for 127.0.0.1 only).
CHROOT_SCRIPT = r"""
set -eux
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
mkdir -p /etc/postgresql-common
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
cat >/etc/apt/sources.list <<EOS
deb {mirror} {suite} main
deb-src {mirror} {suite} main
deb {mirror} {suite}-updates main
EOS
apt-get update -q
apt-get install -y -q --no-install-recommends {packages}
mkdir -p /usr/src/lxbench && cd /usr/src/lxbench
apt-get source --download-only -q {source}
tar xf {source}_*.orig.tar.*
rm -f {source}_*
mv lua-* lua
mkdir -p /var/lib/lxbench
chown postgres:postgres /var/lib/lxbench
setpriv --reuid=postgres --regid=postgres --init-groups \
    /usr/lib/postgresql/15/bin/initdb -D /var/lib/lxbench/pgdata -U postgres \
    --auth-local=trust --auth-host=trust -E UTF8 --locale=C.UTF-8
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
"""


def build(builder: Builder | None = None, rebuild: bool = False) -> str:
    """The image's tag, building it unless Docker already has it (or REBUILD)."""
    b = builder or Builder()
    ref = tag()
    if not rebuild and b.exists(ref):
        return ref
    for tool in ("debootstrap", "unshare", "chroot"):
        if not b.which(tool):
            raise ImageError(f"building {ref} needs {tool}: apt-get install -y debootstrap "
                             "util-linux coreutils")
    if os.geteuid() != 0:
        raise ImageError(f"building {ref} needs root (debootstrap, chroot)")
    b.say(f"building image {ref} from Debian packages (a few minutes; log: {b.log})")
    b.log.parent.mkdir(parents=True, exist_ok=True)
    b.log.write_text(f"lxbench apps image {ref}\n")
    tree = Path(tempfile.mkdtemp(prefix="lxbench-image-", dir="/var/tmp"))
    try:
        tree.chmod(0o755)           # it becomes the image's /: mkdtemp made it 0700
        _step(b, "debootstrap", ["debootstrap", "--variant=minbase", SUITE, str(tree), MIRROR])
        script = CHROOT_SCRIPT.format(mirror=MIRROR, suite=SUITE, packages=" ".join(PACKAGES),
                                      source=BUILD_SOURCE)
        (tree / "lxbench-setup.sh").write_text(script)
        _step(b, "apt-get in the chroot", [
            "unshare", "--mount", "--fork", "sh", "-euc",
            'mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"; '
            'mount -t tmpfs tmpfs "$1/tmp"; exec chroot "$1" sh /lxbench-setup.sh',
            "sh", str(tree)])
        (tree / "lxbench-setup.sh").unlink()
        _add_files(tree)
        _import(b, tree, ref)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    b.say(f"built {ref}")
    _prune(b, ref)
    return ref


def _prune(b: Builder, keep: str) -> None:
    """Remove the images of older recipes (~750 MB each); only our repository's tags."""
    r = b.run([b.docker, "image", "ls", REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}"],
              timeout=60)
    old = [t for t in (r.stdout or b"").decode().split() if t.startswith(REPOSITORY + ":")
           and t != keep] if r.returncode == 0 else []
    if old:
        b.run([b.docker, "rmi", *old], timeout=300)


def _step(b: Builder, what: str, argv: list[str]) -> None:
    r = b.run(argv, log=b.log)
    if r.returncode != 0:
        raise ImageError(f"building the apps image: {what} failed (exit {r.returncode}); "
                         f"see {b.log}")


def _add_files(tree: Path) -> None:
    www = tree / "srv" / "www"
    www.mkdir(parents=True, exist_ok=True)
    for name in WWW:
        (www / name).write_bytes(www_bytes(name))
    (tree / "srv" / "pyweb").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FILES / "pyweb.py", tree / "srv" / "pyweb" / "pyweb.py")
    shutil.copyfile(FILES / "nginx.conf", tree / "etc" / "nginx" / "lxbench.conf.in")
    start = tree / "usr" / "local" / "bin" / "lxbench-start"
    shutil.copyfile(FILES / "start", start)
    start.chmod(0o755)
    for p in (www, *www.iterdir(), tree / "srv" / "pyweb", tree / "srv" / "pyweb" / "pyweb.py"):
        p.chmod(0o755 if p.is_dir() else 0o644)


def _import(b: Builder, tree: Path, ref: str) -> None:
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(tree), "-c", "."],
                           stdout=subprocess.PIPE)
    try:
        r = subprocess.run([b.docker, "import",
                            "-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                  "/sbin:/bin",
                            "-c", f"LABEL lxbench.recipe={recipe_key()}",
                            "-", ref], stdin=tar.stdout, capture_output=True, check=False,
                           timeout=1800)
    finally:
        tar.stdout.close()
        tar.wait()
    if r.returncode != 0 or tar.returncode != 0:
        raise ImageError(f"docker import of {ref} failed: "
                         f"{r.stderr.decode(errors='replace').strip()[-300:]}")


def main(argv: list[str] | None = None) -> int:
    """python -m bench.apps.image [--rebuild]: build (or rebuild) the image and print its tag."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m bench.apps.image", description=main.__doc__)
    ap.add_argument("--rebuild", action="store_true", help="build even if the image exists")
    ns = ap.parse_args(argv)
    try:
        print(build(Builder(say=lambda s: print(f"bench: {s}", file=sys.stderr)), ns.rebuild))
    except (ImageError, OSError, subprocess.TimeoutExpired) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
