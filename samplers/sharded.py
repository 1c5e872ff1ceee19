"""Persistent chains sharded over a Dask cluster, behind the ordinary sampler contract.

:class:`ShardedChains` splits the global chain range into contiguous shards of whole blocks of
chains. Each shard is a Dask actor (:class:`Shard`) that holds an ordinary sampler (Gibbs, MH,
...) built with ``first_chain`` set to the shard's first global chain, so the counter-based
generator draws the same numbers for a chain wherever it lives. One call per shard advances
the chains and returns the shard's per-block sums; the driver concatenates the blocks in global
block order and adds them exactly as the single-process sampler adds its own. The results are
therefore the same bits for any number of shards, workers and threads.

Dask is an optional dependency: ``pip install "factorgraph-maxent[distributed]"``.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph import _version
from factorgraph._errors import (
    ClusterError,
    ModelSpecError,
    PluginError,
    ShardingOverheadWarning,
)
from factorgraph._validation import check_int, check_theta, message
from factorgraph.contracts import Shardable
from samplers._chains import batches_fit, default_block_size
from samplers._protocol import ChainStats, Sampler, SweepInfo
from samplers._registry import REGISTRY, create
from samplers._shard_pool import ShardPool
from samplers._shards import (
    actor_gone,
    combine_extra,
    distributed_module,
    equal,
    is_counter,
    lost_errors,
    worker_version,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike, SeedLike
    from factorgraph.compiled import CompiledGraph

__all__ = ["ShardedChains", "RECOVERY_POLICIES", "OVERHEAD_WARNING"]

RECOVERY_POLICIES = ("rollback", "reseed")
#: Warn when communication takes more than this share of a step (median of recent steps).
OVERHEAD_WARNING = 0.2
_OVERHEAD_STEPS = 10  # steps measured before the overhead is judged
_STANDARD_KEYS = ("sampler", "states", "sweep", "key", "first_chain", "block_sums")


class ShardedChains(ShardPool, Sampler):
    """Persistent chains split over the workers of a Dask cluster; the same bits as one process.

    A sampler like any other: the training loop, the objectives and checkpoints see the
    ordinary contract. The global chain range is cut into ``n_shards`` contiguous shards of
    whole blocks of chains, one Dask actor per shard, each pinned to a worker and holding its
    chain states there. The compiled graph is sent to every worker once. Each ``run`` is one
    call per shard: θ goes out, and each shard sends back its per-block feature sums (and,
    when averaging, their sums over the sweeps), which the driver adds in global block order.
    Because the generator is keyed by the global chain index, states, sums, statistics and so
    a whole training run are bit-identical to the inner sampler in one process, for any
    number of shards and threads.

    Parameters
    ----------
    graph : CompiledGraph, optional
        Leave out (with ``n_chains``) to describe the sharding for a :class:`~factorgraph.Trainer`,
        which builds it on its own graph: ``Trainer(g, ..., sampler=ShardedChains(inner="gibbs",
        client=client), n_chains=4096)``.
    n_chains : int, optional
    seed : int, SeedSequence or None
        As for the inner sampler: the same seed gives the same chains as the inner sampler.
    inner : str, default "gibbs"
        A registered sampler built on the chain-block machinery (``gibbs``, ``mh``,
        ``block-gibbs``, ``swendsen-wang``): one that takes ``first_chain`` and ``block_size``
        and reports ``block_stats``.
    client : distributed.Client, optional
        The cluster; by default the current Dask client (``distributed.get_client()``).
    n_shards : int, optional
        Default: one per worker. At most the number of blocks of chains.
    recovery : {"rollback", "reseed"}, default "rollback"
        What happens when a worker is lost during a call. ``"rollback"`` (exact): the lost
        shards are recreated on live workers and :class:`~factorgraph.ShardLostError` is
        raised; the :class:`~factorgraph.Trainer` then puts every shard, θ and the optimizer
        back to its last checkpoint and carries on, so the run ends with the uninterrupted
        run's bits. ``"reseed"`` (cheap): only the lost shards are recreated, from the chain
        states of the last :meth:`get_state` (a checkpoint) at the current sweep, the call is
        repeated for them and the run goes on with the current θ, with a
        :class:`~factorgraph.ShardReseededWarning`: statistically sound for persistent chains,
        but no longer bit-reproducible. No policy ever continues with fewer chains.
    n_threads : int, optional
        Threads per shard; by default the worker's ``nthreads``.
    block_size : int, optional
        Chains per block, as for the inner sampler; by default the inner sampler's default for
        the *global* chain count, so that the blocks are those of a single-process run.
    wait : float, default 60.0
        Seconds to wait for a live worker when recreating a lost shard.
    **options
        Passed to every shard's inner sampler (``average_sweeps``, ``refresh_every``, ...).

    Raises
    ------
    ClusterError
        When the cluster has no worker, or a worker runs another version of the library.
    MissingDependencyError
        When Dask's distributed scheduler is not installed.

    Notes
    -----
    A step costs the inner sampler's sweeps on the largest shard plus one round trip of θ and
    of the shard's block sums (n_blocks × n_features float64). Dask actors take a few
    milliseconds per round trip at 10^4 features and tens of milliseconds at 10^6; sharding
    pays off when a step sweeps for much longer. A :class:`~factorgraph.ShardingOverheadWarning`
    says when communication takes more than 20% of the steps; :attr:`overhead` gives the
    share. See docs/distributed.rst.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, samplers
    >>> from distributed import Client, LocalCluster
    >>> cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    >>> client = Client(cluster)
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> cg = g.compile()
    >>> sharded = samplers.ShardedChains(cg, 256, seed=1, inner="gibbs", client=client, n_shards=2)
    >>> local = samplers.create("gibbs", cg, 256, seed=1)
    >>> _ = sharded.run(np.array([0.5, -0.5]), 20); _ = local.run(np.array([0.5, -0.5]), 20)
    >>> bool(np.array_equal(sharded.states, local.states))
    True
    >>> bool(np.array_equal(sharded.stats().mean, local.stats().mean))
    True
    >>> sharded.close(); client.close(); cluster.close()
    """

    name = "sharded"

    def __init__(
        self,
        graph: CompiledGraph | None = None,
        n_chains: int | None = None,
        *,
        seed: int | np.random.SeedSequence | None = None,
        inner: str = "gibbs",
        client: Any = None,
        n_shards: int | None = None,
        recovery: str = "rollback",
        n_threads: int | None = None,
        block_size: int | None = None,
        wait: float = 60.0,
        **options: Any,
    ) -> None:
        owner = "ShardedChains"
        if recovery not in RECOVERY_POLICIES:
            raise ModelSpecError(message("recovery", owner, f"one of {RECOVERY_POLICIES}", recovery))
        self.inner, self.recovery, self.options = inner, recovery, dict(options)
        self._settings = dict(
            inner=inner,
            client=client,
            n_shards=n_shards,
            recovery=recovery,
            block_size=block_size,
            wait=wait,
            **options,
        )
        self.bound = graph is not None
        if not self.bound:
            if n_chains is not None or seed is not None:
                raise ModelSpecError(
                    f"{owner} got n_chains or seed without a graph; give the graph too, or let "
                    "the Trainer build it (Trainer(..., sampler=ShardedChains(...), n_chains=...))."
                )
            self.n_threads = n_threads
            return
        if n_chains is None:
            raise ModelSpecError(message("n_chains", owner, "an int >= 1", None))
        if seed is None:  # one entropy for every shard, so that they draw from one generator
            seed = np.random.SeedSequence()
        assert graph is not None  # bound: the graph was given
        super().__init__(graph, n_chains, seed=seed)
        self._seed = seed
        self.wait = float(wait)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, owner, minimum=1)
        self._check_inner(inner)
        distributed = distributed_module()
        if client is None:
            try:
                client = distributed.get_client()
            except ValueError:
                raise ModelSpecError(
                    f"{owner} needs a Dask client: pass client=distributed.Client(...), or create "
                    "one first (it becomes the default)."
                ) from None
        self.client = client
        self._lost: tuple[type[BaseException], ...] = lost_errors()
        workers = self._check_workers()
        self.block_size = (
            check_int("block_size", block_size, owner, minimum=1)
            if block_size is not None
            else default_block_size(self.n_chains, graph.n_features)
        )
        self.block_size = min(self.block_size, self.n_chains)
        n_blocks = -(-self.n_chains // self.block_size)
        n_shards = len(workers) if n_shards is None else check_int("n_shards", n_shards, owner, minimum=1)
        if n_shards > n_blocks:
            raise ModelSpecError(
                f"{owner}: {n_shards} shards for {n_blocks} block(s) of {self.block_size} chains; a shard holds "
                f"whole blocks. Use at most {n_blocks} shards, more chains, or a smaller block_size."
            )
        # contiguous runs of whole blocks, as even as possible
        edges = np.linspace(0, n_blocks, n_shards + 1).round().astype(np.int64)
        self._blocks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        self._chains = [(a * self.block_size, min(b * self.block_size, self.n_chains)) for a, b in self._blocks]
        self._graph_future = client.scatter(graph, broadcast=True, hash=False)
        self._actors: list[Any] = [None] * n_shards
        self._workers: list[str] = [""] * n_shards
        for i in range(n_shards):
            self._actors[i], self._workers[i] = self._create(i, workers[i % len(workers)])
        self._sweep = 0
        self._blocks_now: list[dict[str, Any]] | None = None  # the latest per-shard block figures
        self._batches_wanted = False
        self._saved: dict[str, Any] | None = None  # the latest get_state, for recovery="reseed"
        self._restore_needed = False
        self._overheads: list[float] = []
        self._warned = False

    # -- construction --------------------------------------------------------------------------

    def bind(
        self, graph: CompiledGraph, n_chains: int, seed: SeedLike = None, n_threads: int | None = None, **options: Any
    ) -> ShardedChains:
        """This description built on ``graph`` with ``n_chains`` chains (what the Trainer calls)."""
        if self.bound:
            raise ModelSpecError("ShardedChains.bind: this sampler is already built on a graph.")
        settings = {**self._settings, **options}
        return ShardedChains(
            graph, n_chains, seed=seed, n_threads=self.n_threads if n_threads is None else n_threads, **settings
        )

    def config(self) -> dict[str, Any]:
        """How to rebuild these chains on one machine: the inner sampler's name, the chain count
        and options, so checkpoints look exactly like single-process ones."""
        options = dict(self.options)
        if self._settings.get("block_size") is not None:
            options["block_size"] = self._settings["block_size"]
        return {"name": self.inner, "n_chains": self.n_chains, "options": options}

    @staticmethod
    def _check_inner(inner: str) -> None:
        import inspect

        cls = REGISTRY.get(inner)
        if cls is ShardedChains:
            raise ModelSpecError("ShardedChains cannot wrap itself; name the sampler to shard, e.g. inner='gibbs'.")
        parameters = inspect.signature(cls).parameters
        lacking = [p for p in ("first_chain", "block_size") if p not in parameters]
        if not issubclass(cls, Shardable):
            lacking += [m for m in ("block_stats", "weighted_block_sums") if not callable(getattr(cls, m, None))]
        if lacking:
            raise PluginError(
                f"ShardedChains cannot shard the sampler {inner!r}: it lacks {lacking}. A shardable sampler takes "
                "first_chain= (its chains' global indices) and block_size=, and reports per-block sums; samplers "
                "built on samplers._chains.BlockChains (gibbs, mh, block-gibbs, swendsen-wang) do."
            )

    def _check_workers(self) -> list[str]:
        """The workers' addresses, after checking that each runs this library's version."""
        try:
            versions = self.client.run(worker_version)
        except self._lost as exc:
            raise ClusterError(f"ShardedChains cannot reach the cluster's workers: {exc}") from exc
        if not versions:
            raise ClusterError(
                "ShardedChains: the Dask cluster has no worker; start some "
                "(e.g. LocalCluster(n_workers=2)) before building the sampler."
            )
        other = {addr: v for addr, v in versions.items() if v != _version.__version__}
        if other:
            raise ClusterError(
                f"ShardedChains refuses workers that run another factorgraph-maxent version than this process "
                f"({_version.__version__}): {other}. Install the same version on every worker."
            )
        return sorted(versions)

    # -- the sampler contract -----------------------------------------------------------------------

    def run(self, theta: ArrayLike, n_sweeps: int) -> SweepInfo:
        """Advance every shard's chains by ``n_sweeps`` sweeps at ``theta`` (one call per shard)."""
        owner = "ShardedChains.run"
        theta = check_theta(theta, self.graph.n_features, owner)
        n_sweeps = check_int("n_sweeps", n_sweeps, owner, minimum=0)
        self._batches_wanted = bool(self.options.get("average_sweeps")) and batches_fit(
            self.n_chains // self.block_size, n_sweeps, self.graph.n_features
        )
        start = time.perf_counter()
        self._blocks_now = None  # an interrupted call leaves no stale figures behind
        results = self._call("run", theta, n_sweeps, self._batches_wanted)
        wall = time.perf_counter() - start
        self._blocks_now = results
        self._sweep = int(results[0]["sweep"])
        self._note_overhead(wall, max(r["seconds"] for r in results))
        infos = [r["info"] for r in results]
        extra = combine_extra([i.extra for i in infos])
        return SweepInfo(n_sweeps, sum(i.n_updates for i in infos), sum(i.n_changes for i in infos), extra)

    def _note_overhead(self, wall: float, compute: float) -> None:
        if wall <= 0:
            return
        self._overheads = (self._overheads + [max(0.0, wall - compute) / wall])[-50:]
        share = self.overhead
        if not self._warned and len(self._overheads) >= _OVERHEAD_STEPS and share > OVERHEAD_WARNING:
            self._warned = True
            warnings.warn(
                f"ShardedChains: communication takes {share:.0%} of each step (over {OVERHEAD_WARNING:.0%}): the model "
                f"is too small to shard ({self.graph.n_variables} variables x {self.n_chains} chains, {wall * 1e3:.1f} "
                "ms a step). Use one machine's threads instead, or more sweeps per step.",
                ShardingOverheadWarning,
                stacklevel=3,
            )

    @property
    def overhead(self) -> float:
        """The median share of recent runs' wall time spent outside the shards' sweeps
        (communication and scheduling); NaN before the first run."""
        return float(np.median(self._overheads)) if self._overheads else float("nan")

    def _figures(self) -> list[dict[str, Any]]:
        if self._blocks_now is None:
            self._blocks_now = self._call("block_stats")
        return self._blocks_now

    def stats(self) -> ChainStats:
        """Feature means over all chains, from the shards' block sums added in global block order."""
        parts = self._figures()
        n_averaged = int(parts[0]["n_averaged"])
        if parts[0]["accumulated"] is None:
            total = np.concatenate([p["block_sums"] for p in parts]).sum(axis=0)
            return ChainStats(mean=total / self.n_chains, n_chains=self.n_chains, sweep=self._sweep)
        accumulated = np.concatenate([p["accumulated"] for p in parts]).sum(axis=0)
        batches = None
        if self._batches_wanted and all(p.get("batches") is not None for p in parts):
            batches = np.concatenate([p["batches"] for p in parts])
        return ChainStats(
            mean=accumulated / (n_averaged * self.n_chains),
            n_chains=self.n_chains,
            sweep=self._sweep,
            n_averaged=n_averaged,
            batch_means=batches,
            batch_size=self.block_size if batches is not None else None,
        )

    @property
    def states(self) -> np.ndarray:
        """The chains' states gathered from every shard, shape (n_chains, n_variables)."""
        return np.concatenate(self._call("states"))

    @property
    def sweep(self) -> int:
        """Sweeps done so far."""
        return self._sweep

    @property
    def workers(self) -> list[str]:
        """The address of the worker holding each shard."""
        return list(self._workers)

    @property
    def shard_chains(self) -> list[tuple[int, int]]:
        """Each shard's global chain range, as (first, past the last)."""
        return list(self._chains)

    def marginal_counts(self, scope: ScopeLike) -> np.ndarray:
        """How many chains are in each joint state of ``scope`` now (exact integer sums)."""
        return np.sum(self._call("marginal_counts", scope), axis=0)

    def weighted_sums(self, scope: ScopeLike, table: ArrayLike) -> np.ndarray:
        """Σ_c table[x_S^c] f(x^c) over all chains: the shards' block rows added in block order."""
        return np.concatenate(self._call("weighted_block_sums", scope, table)).sum(axis=0)

    def get_state(self) -> dict[str, Any]:
        """The shards' states joined in chain order: the inner sampler's own state format, so a
        checkpoint written with any number of shards resumes with any other, or in one process.

        Integer arrays that the inner sampler keeps beyond the chains (MH's acceptance counts)
        are added over the shards."""
        parts = self._call("get_state")
        sweeps = {int(p["sweep"]) for p in parts}
        if len(sweeps) != 1:
            raise ClusterError(
                f"ShardedChains: the shards stand at different sweeps {sorted(sweeps)}; the state is "
                "inconsistent. Restore them from a checkpoint with set_state."
            )
        state = {key: value for key, value in parts[0].items() if key not in _STANDARD_KEYS}
        for key in state:
            values = [p[key] for p in parts]
            if is_counter(values[0]):
                state[key] = np.sum(values, axis=0)
            elif not all(equal(values[0], v) for v in values[1:]):
                raise ClusterError(f"ShardedChains: the shards disagree on {key!r}; it cannot be joined.")
        state.update(
            sampler=self.inner,
            states=np.concatenate([p["states"] for p in parts]),
            sweep=sweeps.pop(),
            key=self.key.copy(),
            first_chain=int(parts[0]["first_chain"]),
            block_sums=np.concatenate([p["block_sums"] for p in parts]),
        )
        self._saved = state
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state` (or from the inner sampler's ``get_state`` in
        one process): split it over the shards. Continuing gives the uninterrupted run's bits."""
        from factorgraph._errors import DataError

        owner = "ShardedChains.set_state"
        if not isinstance(state, dict) or set(_STANDARD_KEYS) - set(state):
            raise DataError(f"{owner} needs a dict from get_state with keys {sorted(_STANDARD_KEYS)}.")
        if state["sampler"] != self.inner:
            raise DataError(f"{owner} got the state of a {state['sampler']!r} sampler, not of {self.inner!r}.")
        states = np.asarray(state["states"])
        sums = np.asarray(state["block_sums"])
        n_blocks = -(-self.n_chains // self.block_size)
        if states.shape != (self.n_chains, self.graph.n_variables):
            raise DataError(message("states", owner, f"shape {(self.n_chains, self.graph.n_variables)}", states.shape))
        if sums.shape != (n_blocks, self.graph.n_features):
            raise DataError(
                message(
                    "block_sums",
                    owner,
                    f"shape {(n_blocks, self.graph.n_features)} (blocks of {self.block_size} chains)",
                    sums.shape,
                )
            )
        base = int(state["first_chain"])
        extras = {key: value for key, value in state.items() if key not in _STANDARD_KEYS}
        pieces = []
        for i, ((c0, c1), (b0, b1)) in enumerate(zip(self._chains, self._blocks)):
            piece = {
                key: (value if i == 0 or not is_counter(value) else np.zeros_like(value))
                for key, value in extras.items()
            }  # counters: the first shard holds the totals
            piece.update(
                sampler=self.inner,
                states=states[c0:c1],
                sweep=state["sweep"],
                key=state["key"],
                first_chain=base + c0,
                block_sums=sums[b0:b1],
            )
            pieces.append(piece)
        self._restore_needed = False
        self._blocks_now = None
        try:
            futures = [actor.set_state(piece) for actor, piece in zip(self._actors, pieces)]
            for future in futures:
                future.result()
        except (*self._lost, RuntimeError) as exc:  # type: ignore[misc]  # a tuple of exception classes
            if isinstance(exc, RuntimeError) and not isinstance(exc, self._lost) and not actor_gone(exc):
                raise
            # try again on recreated shards: a loss while restoring loses nothing
            self._recover_quietly()
            return self.set_state(state)
        self.key = np.asarray(state["key"]).astype(np.uint32)
        self._sweep = int(state["sweep"])
        self._saved = dict(state)

    def transition_matrix(self, theta: ArrayLike) -> np.ndarray:
        """The inner sampler's exact one-sweep matrix: the shards run its kernel unchanged.

        Raises
        ------
        AttributeError
            When the inner sampler reports no transition matrix.
        """
        local: Any = create(self.inner, self.graph, 1, seed=0, **self.options)
        return local.transition_matrix(theta)

    def close(self) -> None:
        """Release the shards' actors (their chains are gone afterwards)."""
        self._actors = [None] * len(self._actors)
        self._blocks_now = None

    def __repr__(self) -> str:
        if not self.bound:
            return f"<ShardedChains of {self.inner!r} (not built on a graph yet)>"
        return (
            f"<ShardedChains of {self.inner!r}: {self.n_chains} chains in {len(self._actors)} shards on "
            f"{len(set(self._workers))} worker(s), {self.graph!r}>"
        )
