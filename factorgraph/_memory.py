"""Memory estimates before large allocations: warn above a threshold, explain a failure.

Samplers and the trainer call :func:`check_estimate` with the bytes they are about to allocate
(computed from the chain count C, the variable count n and the feature count K) before they
allocate, and wrap the allocation in :func:`allocating`, which turns a ``MemoryError`` into an
:class:`~factorgraph.OutOfMemoryError` that gives the estimate and what to shrink.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

from factorgraph._errors import MemoryEstimateWarning, OutOfMemoryError

__all__ = ["MEMORY_WARNING_BYTES", "check_estimate", "allocating", "format_bytes", "trainer_bytes", "chain_bytes"]

#: Allocations estimated above this many bytes give a MemoryEstimateWarning (default 4 GiB;
#: the environment variable FACTORGRAPH_MEMORY_WARNING_BYTES overrides it).
MEMORY_WARNING_BYTES = int(os.environ.get("FACTORGRAPH_MEMORY_WARNING_BYTES", 4 * 2**30))

#: Vectors of n_features float64 the trainer holds: θ, the gradient, the new θ, the statistics'
#: mean, two optimizer buffers (Adam's m and v), its step size, the Polyak average, the last good
#: θ and optimizer buffers kept for a rollback (four), the monitor's sums (three) and targets.
TRAINER_VECTORS = 16


def format_bytes(nbytes: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.3g} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.3g} PiB"  # pragma: no cover


def chain_bytes(n_chains: int, n_variables: int, n_features: int, n_blocks: int) -> int:
    """Bytes of persistent chains: C·n int32 states and one float64 row of K sums per block."""
    return 4 * n_chains * n_variables + 8 * n_blocks * n_features


def trainer_bytes(n_features: int, n_chains: int = 0, n_variables: int = 0) -> int:
    """Bytes the trainer adds to its sampler: TRAINER_VECTORS vectors of K float64, and one copy
    of the C·n chain states for the last good state (a rollback after divergence)."""
    return 8 * TRAINER_VECTORS * n_features + 4 * n_chains * n_variables


def _threshold() -> int:
    # users tune the threshold on the package (fg.MEMORY_WARNING_BYTES = ...); read the
    # setting from the package object, which is loaded whenever this module is
    package = sys.modules.get("factorgraph")
    return int(getattr(package, "MEMORY_WARNING_BYTES", MEMORY_WARNING_BYTES))


def check_estimate(what: str, nbytes: int, shrink: str, stacklevel: int = 3) -> None:
    """Warn with a MemoryEstimateWarning when ``nbytes`` exceeds the threshold.

    ``what`` names the allocation ("Gibbs chains (C=256, n=1000, K=5000)"), ``shrink`` says
    what to make smaller.
    """
    threshold = _threshold()
    if nbytes > threshold:
        warnings.warn(
            f"{what} will take about {format_bytes(nbytes)}, more than the "
            f"{format_bytes(threshold)} threshold (factorgraph.MEMORY_WARNING_BYTES). {shrink}",
            MemoryEstimateWarning,
            stacklevel=stacklevel,
        )


@contextlib.contextmanager
def allocating(what: str, nbytes: int, shrink: str) -> Iterator[None]:
    """Turn a MemoryError inside the block into an OutOfMemoryError with the estimate."""
    try:
        yield
    except OutOfMemoryError:
        raise
    except MemoryError as exc:
        raise OutOfMemoryError(
            f"Could not allocate {what}: about {format_bytes(nbytes)} were needed. {shrink}", nbytes
        ) from exc
