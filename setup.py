"""Build the C engine (csrc/), its Cython binding (lxbrand._core), and lxrun's
C front end (csrc/launcher/, installed as the `lxrun` command).

The engine links libseccomp (Debian: libseccomp-dev) to compile filters and to
name syscalls.
"""
import hashlib
import os
import stat
import sys
from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup
try:
    from setuptools.command.build_scripts import build_scripts
except ImportError:  # setuptools < 69: distutils' command (setuptools' own copy, once setuptools is imported)
    from distutils.command.build_scripts import build_scripts

ENGINE_SOURCES = sorted(glob("csrc/*.c"))
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"]

# What the binding offers Python is written in these two files: the build records their
# digest, and lxbrand._core refuses to load beside other versions of them (a stale build:
# the sources changed since, e.g. after a pull, and the module must be rebuilt).
BINDING_SOURCES = ["lxbrand/_core.pyx", "lxbrand/_engine.pxd"]


def binding_digest():
    """sha256 over each file's name and bytes, as lxbrand._core._binding_digest computes it."""
    h = hashlib.sha256()
    for f in BINDING_SOURCES:
        with open(f, "rb") as fh:
            h.update(os.path.basename(f).encode() + b"\0" + fh.read())
    return h.hexdigest()


core = Extension(
    "lxbrand._core",
    sources=["lxbrand/_core.pyx"] + ENGINE_SOURCES,
    include_dirs=["csrc"],
    libraries=["seccomp", "pthread"],
    extra_compile_args=CFLAGS,
    define_macros=[("LX_BINDING_DIGEST", f'"{binding_digest()}"')],
)


def build_id():
    """Names this build in the C front end's cache keys: blobs written for
    another build are never loaded."""
    h = hashlib.sha256()
    for f in sorted(glob("csrc/**/*.[ch]", recursive=True) + glob("lxbrand/**/*.py", recursive=True)
                    + glob("lxbrand/profiles/*.toml") + ["lxbrand/_core.pyx"]):
        with open(f, "rb") as fh:
            h.update(f.encode() + b"\0" + fh.read())
    return h.hexdigest()[:16]


# The C programs linked with the engine: lxrun's front end, the OCI runtime's container
# supervisor (lxbrand/oci/supervisor.py runs it beside each container) and the runtime's
# C front end (`lxbrand install` puts the last two where containerd runs them).
EXECUTABLES = {
    "lxrun": (["csrc/launcher/lxrun.c"], []),
    "lxbrand-sup": (["csrc/launcher/lxsup.c", "csrc/runtime/log.c"], []),
    "lxbrand-runtime": (sorted(glob("csrc/runtime/*.c")), ["jansson"]),  # Debian: libjansson-dev
}


class build_lxrun(build_scripts):
    """Link csrc/launcher/*.c with the engine into the `lxrun` and `lxbrand-sup`
    executables.

    They go where scripts go, so pip installs them beside the console scripts
    (`lxrun-py`, `lxbrand`); distutils' script copying cannot take a binary,
    hence this command instead of a plain `scripts=` entry."""

    def run(self):
        from distutils.ccompiler import new_compiler
        from distutils.sysconfig import customize_compiler

        os.makedirs(self.build_dir, exist_ok=True)
        cc = new_compiler()
        customize_compiler(cc)
        objdir = os.path.join("build", "lxrun-obj")  # never inside build_dir: that is installed
        macros = [("LX_BUILD_ID", f'"{build_id()}"'),
                  ("LX_PROFILE_DIR", f'"{os.path.abspath("lxbrand/profiles")}"'),
                  # lxrun's fallback to the Python implementation: this interpreter, which
                  # has lxbrand's dependencies, not the first python3 on the program's PATH
                  ("LX_PYTHON", f'"{sys.executable}"')]
        engine = cc.compile(ENGINE_SOURCES, output_dir=objdir, include_dirs=["csrc"], macros=macros,
                            extra_preargs=CFLAGS)
        for name, (srcs, libs) in EXECUTABLES.items():
            objs = cc.compile(srcs, output_dir=objdir, include_dirs=["csrc"], macros=macros,
                              extra_preargs=CFLAGS)
            out = os.path.join(self.build_dir, name)
            cc.link_executable(objs + engine, out, libraries=["seccomp", "pthread", *libs])
            os.chmod(out, os.stat(out).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


setup(
    ext_modules=cythonize([core], language_level=3, compiler_directives={"embedsignature": True}),
    # markers: build_lxrun builds the executables instead of copying these
    scripts=[srcs[0] for srcs, _ in EXECUTABLES.values()],
    cmdclass={"build_scripts": build_lxrun},
)
