"""The worker side of :class:`samplers.ShardedChains`: the Dask shims and the shard actor.

Each shard is a Dask actor (:class:`Shard`) that holds an ordinary sampler built with
``first_chain`` set to the shard's first global chain, so the counter-based generator draws the
same numbers for a chain wherever it lives. The helpers here find Dask (an optional
dependency), recognise a lost worker, and join the shards' per-sweep figures.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph import _version
from factorgraph._errors import (
    MissingDependencyError,
)
from samplers._registry import create

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike, SeedLike
    from factorgraph.compiled import CompiledGraph

__all__ = [
    "distributed_module",
    "lost_errors",
    "actor_gone",
    "worker_version",
    "block_rows",
    "Shard",
    "is_counter",
    "equal",
    "combine_extra",
]


def distributed_module() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            "ShardedChains needs Dask's distributed scheduler, which is not installed. Install it with "
            'pip install "factorgraph-maxent[distributed]" (or pip install "dask[distributed]").'
        ) from None
    return distributed


def lost_errors() -> tuple[type[BaseException], ...]:
    """The exceptions by which Dask reports an actor whose worker is gone."""
    distributed = distributed_module()
    errors: list[type[BaseException]] = [OSError, distributed.comm.CommClosedError]
    for name in ("KilledWorker", "FutureCancelledError"):
        cls = getattr(distributed, name, None) or getattr(distributed.client, name, None)
        if isinstance(cls, type):
            errors.append(cls)
    from concurrent.futures import CancelledError

    errors.append(CancelledError)
    return tuple(errors)


def actor_gone(exc: RuntimeError) -> bool:
    """Whether Dask's RuntimeError says a call could not start because the actor's worker died
    (its actor handle raises it on attribute access, before any future exists)."""
    return "Worker holding Actor was lost" in str(exc)


def worker_version() -> str:
    return _version.__version__


def block_rows(states: np.ndarray, graph: CompiledGraph, block_size: int) -> np.ndarray:
    """Per-block feature sums of ``states`` (n_chains, n_variables), one row per block."""
    n_blocks = max(-(-len(states) // block_size), 1)
    rows = np.zeros((n_blocks, graph.n_features))
    for b in range(-(-len(states) // block_size)):
        rows[b] = graph.feature_sums(states[b * block_size : (b + 1) * block_size])
    return rows


class Shard:
    """One contiguous range of chains, living on a worker as a Dask actor.

    It builds the inner sampler with ``first_chain`` (its place in the global chain range) and
    the global block size, so its chains and block sums are exactly those of the same chains in
    a single-process run.
    """

    def __init__(
        self,
        graph: CompiledGraph,
        inner: str,
        n_chains: int,
        seed: SeedLike,
        first_chain: int,
        block_size: int,
        n_threads: int | None,
        options: dict[str, Any],
        reseed: tuple[np.ndarray | None, int] | None = None,
    ) -> None:
        if n_threads is None:  # the worker's own thread count, not every core of the machine
            from distributed import get_worker

            n_threads = int(get_worker().state.nthreads)
        self.sampler: Any = create(
            inner,
            graph,
            n_chains,
            seed=seed,
            first_chain=first_chain,
            block_size=block_size,
            n_threads=n_threads,
            **options,
        )
        if reseed is not None:  # a lost shard restarted from saved states at the current sweep
            states, sweep = reseed
            states = self.sampler.states if states is None else states  # nothing saved: its initial states
            saved = self.sampler.get_state()
            saved.update(states=states, sweep=sweep, block_sums=block_rows(states, graph, block_size))
            self.sampler.set_state(saved)

    def where(self) -> tuple[str, int]:
        """The worker's address and process id."""
        from distributed import get_worker

        return get_worker().address, os.getpid()

    def run(self, theta: np.ndarray, n_sweeps: int, batches: bool) -> dict[str, Any]:
        start = time.perf_counter()
        info = self.sampler.run(theta, n_sweeps)
        seconds = time.perf_counter() - start
        return {"info": info, "seconds": seconds, **self.sampler.block_stats(batches)}

    def block_stats(self) -> dict[str, Any]:
        return self.sampler.block_stats(False)

    def states(self) -> np.ndarray:
        return self.sampler.states

    def get_state(self) -> dict[str, Any]:
        return self.sampler.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self.sampler.set_state(state)

    def marginal_counts(self, scope: ScopeLike) -> np.ndarray:
        return self.sampler.marginal_counts(scope)

    def weighted_block_sums(self, scope: ScopeLike, table: ArrayLike) -> np.ndarray:
        return self.sampler.weighted_block_sums(scope, table)


def is_counter(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "ui"


def equal(a: Any, b: Any) -> bool:
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


def combine_extra(extras: list[dict[str, Any]]) -> dict[str, Any]:
    """Join the shards' ``SweepInfo.extra``: counts are added; other figures are listed per shard."""
    if not extras or not extras[0]:
        return {}
    joined: dict[str, Any] = {}
    for key in extras[0]:
        values: list[Any] = [e.get(key) for e in extras]
        joined[key] = np.sum(values, axis=0) if all(is_counter(v) for v in values) else values
    return joined
