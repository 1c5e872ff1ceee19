"""show_config(): what this build of factorgraph-maxent is and what it will use."""

from __future__ import annotations

import platform
import sys


def config() -> dict[str, object]:
    """The build and runtime facts as a dict (versions, OpenMP, threads)."""
    import networkx
    import numpy
    import scipy

    import factorgraph
    from factorgraph._openmp import effective_n_threads, have_openmp

    return {
        "factorgraph-maxent": factorgraph.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "networkx": networkx.__version__,
        "openmp": have_openmp(),
        "threads": effective_n_threads(None),
    }


def show_config() -> None:
    """Print versions, whether the extensions have OpenMP, and the default thread count."""
    for key, value in config().items():
        print(f"{key:>20}: {value}")
