"""Compile the harness's C programs with gcc, statically, into a cache dir.

Static binaries start without the dynamic loader (so a trapped loop measures the loop, not
ld.so's openat/mmap calls) and run unchanged inside a container that bind-mounts the cache.
The cache key is a hash of the sources and the compiler's version: an edit or a new gcc
rebuilds, anything else reuses."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (source relative to bench/, extra include dirs relative to bench/)
PROGRAMS = {
    "loop": ("programs/loop.c", ()),
    "threads": ("programs/threads.c", ()),
    "forkexec": ("programs/forkexec.c", ()),
    "true": ("programs/true.c", ()),
    "floor-unotify": ("floor/unotify.c", ("floor",)),
    "floor-ptrace": ("floor/ptrace.c", ("floor",)),
}
CFLAGS = ["-O2", "-Wall", "-Wextra", "-static", "-pthread"]


class BuildError(RuntimeError):
    """gcc is missing or a program failed to compile; the message says which and why."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lxbrand-bench"


@dataclass
class Binaries:
    dir: Path

    def __getitem__(self, name: str) -> str:
        return str(self.dir / name)


def _key(cc: str) -> str:
    h = hashlib.sha256()
    for name, (src, _inc) in sorted(PROGRAMS.items()):
        h.update(name.encode())
        h.update((HERE / src).read_bytes())
    h.update((HERE / "floor" / "filter.h").read_bytes())
    h.update(" ".join(CFLAGS).encode())
    try:
        h.update(subprocess.run([cc, "--version"], capture_output=True, check=False).stdout)
    except OSError as e:
        raise BuildError(f"bench: C compiler {cc!r} not found ({e}); "
                         "install it with: apt-get install -y gcc libc6-dev") from e
    return h.hexdigest()[:16]


def build_all(cache_dir: Path | None = None, cc: str | None = None) -> Binaries:
    """Build every program once per source/compiler version; return where they are."""
    cc = cc or os.environ.get("CC") or shutil.which("gcc") or "gcc"
    cache_dir = Path(cache_dir or default_cache_dir())
    out = cache_dir / _key(cc)
    if all((out / name).exists() for name in PROGRAMS):
        return Binaries(out)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, (src, incs) in PROGRAMS.items():
        cmd = [cc, *CFLAGS, *(f"-I{HERE / i}" for i in incs), "-o", str(tmp / name), str(HERE / src)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise BuildError(f"bench: building {src} failed:\n{r.stderr.strip()}\n"
                             "(static linking needs libc6-dev's libc.a)")
    try:
        tmp.rename(out)
    except OSError:  # built meanwhile by a concurrent run: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return Binaries(out)
