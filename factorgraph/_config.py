"""show_config(): what this build of factorgraph-maxent is and what it will use."""

from __future__ import annotations

import platform
import sys
from typing import TextIO


def config() -> dict[str, object]:
    """The build and runtime facts as a dict (versions, OpenMP, threads)."""
    import networkx
    import numpy
    import scipy

    from factorgraph._openmp import effective_n_threads, have_openmp
    from factorgraph._version import __version__

    return {
        "factorgraph-maxent": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "networkx": networkx.__version__,
        "openmp": have_openmp(),
        "threads": effective_n_threads(None),
    }


def show_config(file: TextIO | None = None) -> None:
    """Print versions, whether the extensions have OpenMP, and the default thread count.

    This is a report for people, so it prints (to ``file``, default standard output); the rest
    of the library reports through the ``logging`` logger ``"factorgraph"`` and never prints.
    :func:`config` gives the same facts as a dict.

    Parameters
    ----------
    file : text stream, optional
        Where to write the report (default ``sys.stdout``).

    Examples
    --------
    >>> import io, factorgraph as fg
    >>> out = io.StringIO()
    >>> fg.show_config(file=out)
    >>> "openmp" in out.getvalue()
    True
    """
    stream = sys.stdout if file is None else file
    for key, value in config().items():
        print(f"{key:>20}: {value}", file=stream)
