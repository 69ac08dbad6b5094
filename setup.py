"""Build the C engine (csrc/) and its Cython binding (lxbrand._core).

The engine links libseccomp (Debian: libseccomp-dev) to compile filters and to name syscalls.
"""
from glob import glob

from Cython.Build import cythonize
from setuptools import Extension, setup

core = Extension(
    "lxbrand._core",
    sources=["lxbrand/_core.pyx"] + sorted(glob("csrc/*.c")),
    include_dirs=["csrc"],
    libraries=["seccomp", "pthread"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
)

setup(ext_modules=cythonize([core], language_level=3, compiler_directives={"embedsignature": True}))
