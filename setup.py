"""Build the Cython extensions, with OpenMP when the compiler supports it.

All metadata lives in pyproject.toml; this file only describes the compiled modules.
Set FACTORGRAPH_NO_OPENMP=1 to build without OpenMP, FACTORGRAPH_CYTHON_DEBUG=1 to turn
bounds and wrap-around checks back on.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

EXTENSIONS = [
    "factorgraph._kernels",
    "factorgraph._coloring",
    "factorgraph._alignment",
    "factorgraph._openmp",
    "samplers._random",
    "samplers._core",
    "samplers._driver",
    "samplers._gibbs",
    "samplers._mh",
    "samplers._block",
    "samplers._sw",
]

DEBUG = os.environ.get("FACTORGRAPH_CYTHON_DEBUG") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}

_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }
    """
)


def _compiler_has_openmp(compiler) -> bool:
    """Compile and link a tiny OpenMP program; True when both succeed."""
    if os.environ.get("FACTORGRAPH_NO_OPENMP") == "1":
        return False
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(_PROBE)
        with open(os.devnull, "w") as devnull:
            old = os.dup(2)
            os.dup2(devnull.fileno(), 2)  # keep the probe's compiler noise out of the log
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
                compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=["-fopenmp"])
            finally:
                os.dup2(old, 2)
                os.close(old)
        return subprocess.call([os.path.join(tmp, "probe")]) == 0
    except Exception:
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that adds -fopenmp where it works and warns once where it does not."""

    def build_extensions(self):
        openmp = _compiler_has_openmp(self.compiler)
        if not openmp and os.environ.get("FACTORGRAPH_NO_OPENMP") != "1":
            print(
                "warning: OpenMP is not available with this compiler; samplers will run on one "
                "thread. Install libgomp or use gcc, or set FACTORGRAPH_NO_OPENMP=1 to silence this.",
                file=sys.stderr,
            )
        flags = ["-fopenmp"] if openmp else []
        for ext in self.extensions:
            # no fused multiply-adds formed behind our back: the kernels' bits must not depend
            # on the machine or on which multi-versioned clone runs (samplers/_fg_*.h); no
            # floating-point traps, so that comparisons can become vector blends
            ext.extra_compile_args = ["-O3", "-ffp-contract=off", "-fno-trapping-math", *flags]
            ext.extra_link_args = list(flags)
        super().build_extensions()


def _extension(name: str) -> Extension:
    package = name.split(".")[0]
    libraries = ["m"] if os.name == "posix" else []  # fma() in samplers/_fg_draws.h
    return Extension(name, [name.replace(".", os.sep) + ".pyx"], include_dirs=[package], libraries=libraries)


setup(
    ext_modules=cythonize(
        [_extension(name) for name in EXTENSIONS],
        compiler_directives=DIRECTIVES,
        nthreads=0,
    ),
    cmdclass={"build_ext": BuildExt},
)
