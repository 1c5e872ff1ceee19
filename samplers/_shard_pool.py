"""The driver's side of the shards of :class:`~samplers.ShardedChains`: building their actors,
calling every shard at once, and the recovery policies for a lost worker.

``rollback`` recreates the lost shards and raises :class:`~factorgraph.ShardLostError`, so that
the caller restores every shard from a saved state (the run stays exact); ``reseed`` recreates
them from the last saved chain states and repeats the call (the run goes on, no longer
bit-reproducible).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import ClusterError, ShardLostError, ShardReseededWarning
from samplers._shards import Shard, actor_gone

if TYPE_CHECKING:
    from factorgraph._validation import SeedLike
    from factorgraph.compiled import CompiledGraph

__all__ = ["ShardPool"]


class ShardPool:
    """The shards' actors and the workers they live on, for the sampler that holds them."""

    client: Any
    graph: CompiledGraph
    inner: str
    recovery: str
    options: dict[str, Any]
    block_size: int
    n_threads: int | None
    wait: float
    _seed: SeedLike
    _lost: tuple[type[BaseException], ...]
    _graph_future: Any
    _chains: list[tuple[int, int]]
    _actors: list[Any]
    _workers: list[str]
    _sweep: int
    _saved: dict[str, Any] | None
    _restore_needed: bool
    _blocks_now: list[dict[str, Any]] | None

    def _create(self, i: int, worker: str, reseed: tuple[np.ndarray | None, int] | None = None) -> tuple[Any, str]:
        """Build shard ``i``'s actor on ``worker`` (from ``reseed``'s states and sweep when given);
        returns the actor and the worker it really lives on."""
        c0, c1 = self._chains[i]
        for attempt in range(3):
            future = self.client.submit(
                Shard,
                self._graph_future,
                self.inner,
                c1 - c0,
                self._seed,
                c0,
                self.block_size,
                self.n_threads,
                self.options,
                reseed,
                actor=True,
                workers=[worker],
                allow_other_workers=True,
                pure=False,
            )
            try:
                with self.client.as_current():  # the actor binds to the client current as it is unpacked
                    actor = future.result(timeout=self.wait)
                break
            except self._lost:
                # the scattered graph went down with the lost worker before its copies were
                # registered elsewhere ("lost dependencies"): scatter it again and retry
                if attempt == 2:
                    raise
                self._graph_future = self.client.scatter(self.graph, broadcast=True, hash=False)
        address, _ = actor.where().result(timeout=self.wait)
        return actor, address

    # -- calls to every shard ---------------------------------------------------------------------

    def _call(self, method: str, *args: Any, shards: Sequence[int] | None = None) -> list[Any]:
        """Call ``method`` on every shard (or on ``shards``) at once; the results in shard order.

        A lost worker is handled by the recovery policy: the lost shards are recreated, and
        then either ShardLostError is raised (rollback) or the call is repeated on them (reseed).
        """
        if self._restore_needed and method not in ("set_state", "where"):
            raise ClusterError(
                "ShardedChains: shards were recreated after a worker was lost and hold no valid chains yet; "
                "call set_state with a saved state (the Trainer does so from its last checkpoint)."
            )
        if any(actor is None for actor in self._actors):
            raise ClusterError("ShardedChains: the sampler was closed; its chains are gone. Build a new one.")
        shards = list(range(len(self._actors))) if shards is None else list(shards)
        futures = {}
        lost = []
        for i in shards:
            try:
                futures[i] = getattr(self._actors[i], method)(*args)
            except self._lost:
                lost.append(i)
            except RuntimeError as exc:
                if not actor_gone(exc):
                    raise
                lost.append(i)
        results: dict[int, Any] = {}
        for i, future in futures.items():
            try:
                results[i] = future.result()
            except self._lost:
                lost.append(i)
        if lost:
            self._recover(sorted(lost), method)
            if self.recovery == "reseed":
                results.update(zip(sorted(lost), self._call(method, *args, shards=sorted(lost))))
        return [results[i] for i in shards]

    def _live_worker(self, avoid: set[str]) -> str:
        """A live worker, preferring those that hold the fewest shards; waits for one if needed."""
        deadline = time.monotonic() + self.wait
        while True:
            alive = [w for w in self.client.scheduler_info(n_workers=-1)["workers"] if w not in avoid]
            if alive:
                load = {w: self._workers.count(w) for w in alive}
                return min(sorted(alive), key=load.__getitem__)
            if time.monotonic() > deadline:
                raise ClusterError(f"ShardedChains: no live worker to recreate lost shards on within {self.wait:g} s.")
            time.sleep(0.1)

    def _recover(self, lost: list[int], method: str) -> None:
        avoid = {self._workers[i] for i in lost}
        where = ", ".join(
            f"shard {i} (chains {self._chains[i][0]}..{self._chains[i][1] - 1} on {self._workers[i]})" for i in lost
        )
        for i in lost:
            worker = self._live_worker(avoid)
            if self.recovery == "reseed":
                self._actors[i], self._workers[i] = self._create(i, worker, reseed=self._reseed_state(i))
            else:
                self._actors[i], self._workers[i] = self._create(i, worker)
        self._blocks_now = None
        if self.recovery == "reseed":
            warnings.warn(
                f"ShardedChains: lost {where} during {method}; recreated on live workers from "
                f"{'the chain states of the last checkpoint' if self._saved is not None else 'fresh initial states'} "
                f"at sweep {self._sweep}. The run goes on but is no longer bit-reproducible "
                "(recovery='rollback' keeps it exact).",
                ShardReseededWarning,
                stacklevel=4,
            )
            return
        self._restore_needed = True
        raise ShardLostError(
            f"ShardedChains: lost {where} during {method}. The shards were recreated on live workers; restore "
            "every shard from a saved state with set_state (the Trainer rolls back to its last checkpoint).",
            shards=tuple(lost),
        )

    def _reseed_state(self, i: int) -> tuple[np.ndarray | None, int]:
        if self._saved is None:
            return None, self._sweep
        c0, c1 = self._chains[i]
        # the sweep the other shards stand at before the failed call, so the counters stay in step
        return np.asarray(self._saved["states"])[c0:c1], self._sweep

    def _recover_quietly(self) -> None:
        """Recreate every shard whose worker is gone (used while restoring, where nothing is lost)."""
        alive = set(self.client.scheduler_info(n_workers=-1)["workers"])
        dead = [i for i, w in enumerate(self._workers) if w not in alive]
        avoid = {self._workers[i] for i in dead}
        for i in dead:
            self._actors[i], self._workers[i] = self._create(i, self._live_worker(avoid))
