"""Heat-bath Gibbs sampling of persistent chains, one nogil Cython sweep per call."""

from __future__ import annotations

from typing import Any

import numpy as np

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._openmp import effective_n_threads
from factorgraph._validation import check_int, check_states, check_theta, message
from samplers import _core, _gibbs
from samplers._protocol import ChainStats, Sampler, SweepInfo, single_site_matrix

__all__ = ["Gibbs"]

DEFAULT_BLOCK = 64  # chains per block: sixteen 4-wide vectors, so the fixed cost of an item is shared widely
MAX_SUMS_BYTES = 256 * 2**20  # the default block grows rather than let the running sums exceed this
BATCH_BYTES = 64 * 2**20  # the most the per-sweep batch means of one averaging run may take


def _heat_bath(energies: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The conditional distribution of a variable: a softmax of its energies (``current`` unused)."""
    p = np.exp(energies - energies.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


class Gibbs(Sampler):
    """Single-site heat-bath Gibbs sampling, colour by colour, with running feature sums.

    Each sweep visits the colour classes of the compiled graph in order and redraws every
    variable of a class, in every chain, from its conditional distribution; within a class all
    (variable, block of chains) pairs run in parallel. Binary variables take one logistic draw.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
        The number of persistent chains.
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number drawn by the sampler (a
        counter-based Philox generator keyed by seed, chain, sweep and variable). The same
        seed gives bit-identical chains and sums for any thread count, and chains 0..C-1 of a
        larger run equal a C-chain run.
    n_threads : int, optional
        Threads for the sweeps: None uses every usable core (honouring OMP_NUM_THREADS).
    block_size : int, optional
        Chains per block of running sums (one float64 buffer of n_features per block) and the
        unit of parallel work. By default 64, raised where needed to keep the buffers within
        256 MiB; it depends on the chain and feature counts only, never on the thread count.
    refresh_every : int, default 1000
        Re-derive the running sums exactly from the states every this many sweeps, so that
        rounding drift stays far below 1e-9 relative.
    average_sweeps : bool, default False
        When True, ``stats().mean`` averages the chains over every sweep of the last ``run``
        instead of using the final states alone, and ``stats().batch_means`` holds the
        per-sweep means of each full block of chains (up to 64 MiB), from which the training
        monitor estimates the standard error of that average.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> sampler = samplers.create("gibbs", g.compile(), n_chains=4000, seed=1)
    >>> info = sampler.run(np.array([0.5]), 20)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(0.5)) < 0.05)
    True
    """

    name = "gibbs"

    def __init__(
        self,
        graph: Any,
        n_chains: int,
        *,
        seed: int | np.random.SeedSequence | None = None,
        n_threads: int | None = None,
        block_size: int | None = None,
        refresh_every: int = 1000,
        average_sweeps: bool = False,
        first_chain: int = 0,
    ) -> None:
        super().__init__(graph, n_chains, seed=seed)
        owner = "Gibbs"
        self.n_threads = n_threads
        effective_n_threads(n_threads)  # validate now, not at the first run
        if block_size is None:
            block_size = max(DEFAULT_BLOCK, -(-self.n_chains * graph.n_features * 8 // MAX_SUMS_BYTES))
        # one block can hold every chain; a larger block changes nothing
        self.block_size = max(min(check_int("block_size", block_size, owner, minimum=1), self.n_chains), 1)
        self.refresh_every = check_int("refresh_every", refresh_every, owner, minimum=1)
        self.average_sweeps = bool(average_sweeps)
        self.first_chain = check_int("first_chain", first_chain, owner, minimum=0)
        self._x = np.zeros(graph.n_variables * self.n_chains, dtype=np.int32)
        _core.init_states(graph._view, self._x, self.key, self.n_chains, self.first_chain)
        n_blocks = -(-self.n_chains // self.block_size)
        self._sums = np.zeros((n_blocks, graph.n_features))
        self._sweep = 0
        self._mean: np.ndarray | None = None
        self._batches: np.ndarray | None = None
        self._averaged = 1
        self._tables = _gibbs.PairTables(graph._view)  # refilled for each run's θ
        self._refresh()

    def _threads(self, n_threads: int | None) -> int:
        return effective_n_threads(self.n_threads if n_threads is None else n_threads)

    def _refresh(self, n_threads: int | None = None) -> None:
        _core.recompute_sums(self.graph._view, self._x, self._sums, self.n_chains, self.block_size,
                              self._threads(n_threads))

    def _total(self) -> np.ndarray:
        return self._sums.sum(axis=0)  # fixed block order: the same bits for any thread count

    def run(self, theta: Any, n_sweeps: int, n_threads: int | None = None) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``; returns a SweepInfo."""
        theta = check_theta(theta, self.graph.n_features, "Gibbs.run")
        n_sweeps = check_int("n_sweeps", n_sweeps, "Gibbs.run", minimum=0)
        threads = self._threads(n_threads)
        if n_sweeps:
            self._tables.fill(theta)
        changes = 0
        accumulated = np.zeros(self.graph.n_features) if self.average_sweeps and n_sweeps else None
        batches = self._batch_buffer(n_sweeps) if accumulated is not None else None
        done = 0
        while done < n_sweeps:
            # stop at the next refresh point, or after one sweep when averaging over sweeps
            until_refresh = self.refresh_every - self._sweep % self.refresh_every
            step = 1 if accumulated is not None else min(n_sweeps - done, until_refresh)
            changes += _gibbs.sweep(self.graph._view, self._x, theta, self._sums, self.key, self.n_chains,
                                    self.first_chain, self.block_size, self._sweep, step, threads, self._tables)
            self._sweep += step
            done += step
            if self._sweep % self.refresh_every == 0:
                self._refresh(threads)
            if accumulated is not None:
                accumulated += self._total()
            if batches is not None:
                batches[:, done - 1] = self._sums[: len(batches)] / self.block_size
        self._mean = accumulated / (n_sweeps * self.n_chains) if accumulated is not None else None
        self._batches = batches
        self._averaged = n_sweeps if accumulated is not None else 1
        return SweepInfo(n_sweeps, n_sweeps * self.n_chains * self.graph.n_variables, int(changes))

    def _batch_buffer(self, n_sweeps: int) -> np.ndarray | None:
        """Room for the per-sweep means of every full block of chains, which let the training
        monitor measure the correlation between the averaged sweeps; None when they would take
        more than BATCH_BYTES (the monitor then falls back to a conservative error)."""
        n_full = self.n_chains // self.block_size  # equal-sized batches only
        if n_sweeps < 2 or n_full * n_sweeps * self.graph.n_features * 8 > BATCH_BYTES:
            return None
        return np.empty((n_full, n_sweeps, self.graph.n_features))

    def stats(self) -> ChainStats:
        """Feature means over the chains, from the running sums (no pass over the states)."""
        if self._mean is None:
            return ChainStats(mean=self._total() / self.n_chains, n_chains=self.n_chains, sweep=self._sweep)
        return ChainStats(mean=self._mean, n_chains=self.n_chains, sweep=self._sweep,
                          n_averaged=self._averaged, batch_means=self._batches)

    @property
    def states(self) -> np.ndarray:
        """The chains' states, shape (n_chains, n_variables), a copy."""
        return self._x.reshape(self.graph.n_variables, self.n_chains).T.copy()

    @property
    def sweep(self) -> int:
        """Sweeps done so far."""
        return self._sweep

    def transition_matrix(self, theta: Any) -> np.ndarray:
        """The exact transition matrix of one sweep, over every joint state of a small model.

        The sweep redraws each variable from its conditional distribution, colour class by
        colour class in the order of ``graph.color_vars``, as the compiled kernel does (within
        a class the variables share no factor, so their order does not matter).

        Parameters
        ----------
        theta : array_like of shape (n_features,)

        Returns
        -------
        ndarray of shape (S, S)
            Entry (i, j) is the probability that one sweep takes joint state i to joint state j,
            states in the order of :func:`factorgraph.exact.enumerate_states`.

        Raises
        ------
        ModelTooLargeError
            If the model has more than 4096 joint states.

        See Also
        --------
        samplers.single_site_matrix : the matrix of one variable's update.

        Examples
        --------
        >>> import numpy as np, factorgraph as fg, samplers
        >>> g = fg.FactorGraph()
        >>> _ = g.add_variables(3, values=[-1, 1])
        >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
        >>> theta = np.array([0.5, -1.0])
        >>> sweep = samplers.create("gibbs", g.compile(), 1, seed=0).transition_matrix(theta)
        >>> pi = fg.exact.probabilities(g, theta).ravel()
        >>> bool(np.abs(pi @ sweep - pi).max() < 1e-15)
        True
        """
        theta = check_theta(theta, self.graph.n_features, "Gibbs.transition_matrix")
        sweep: np.ndarray | None = None
        for v in self.graph.color_vars.tolist():
            update = single_site_matrix(self.graph, theta, v, _heat_bath)
            sweep = update.toarray() if sweep is None else np.asarray(sweep @ update)
        return np.eye(1) if sweep is None else sweep

    def get_state(self) -> dict[str, Any]:
        """Chain states, sweep counter, generator key and running sums (all copies)."""
        return {
            "sampler": self.name,
            "states": self.states,
            "sweep": self._sweep,
            "key": self.key.copy(),
            "first_chain": self.first_chain,
            "block_sums": self._sums.copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; continuing gives the uninterrupted run's bits."""
        owner = "Gibbs.set_state"
        needed = {"sampler", "states", "sweep", "key", "first_chain", "block_sums"}
        if not isinstance(state, dict) or needed - set(state):
            raise DataError(
                f"{owner} needs a dict from Gibbs.get_state with keys {sorted(needed)}; "
                f"missing {sorted(needed - set(state)) if isinstance(state, dict) else 'all'}."
            )
        if state["sampler"] != self.name:
            raise DataError(f"{owner} got the state of a {state['sampler']!r} sampler, not of '{self.name}'.")
        states = check_states(state["states"], self.graph.n_states, owner, name="states")
        if states.shape[0] != self.n_chains:
            raise DataError(message("states", owner, f"{self.n_chains} chains", states.shape[0]))
        sums = np.asarray(state["block_sums"], dtype=np.float64)
        if sums.shape != self._sums.shape:
            raise DataError(message("block_sums", owner, f"shape {self._sums.shape}", f"shape {sums.shape}"))
        key = np.asarray(state["key"])
        if key.shape != (2,) or key.dtype.kind not in "ui" or (key < 0).any() or (key >= 2**32).any():
            raise ModelSpecError(message("key", owner, "two 32-bit unsigned words", key))
        key = key.astype(np.uint32)
        recomputed = self.graph.feature_sums(states) if self.n_chains else np.zeros(self.graph.n_features)
        scale = max(1.0, float(np.abs(recomputed).max(initial=0.0)))
        if not np.all(np.isfinite(sums)) or np.abs(sums.sum(axis=0) - recomputed).max(initial=0.0) > 1e-9 * scale:
            raise DataError(f"{owner}: the running sums do not match the chain states; the state is damaged.")
        self._x = np.ascontiguousarray(states.T).ravel()
        self._sweep = check_int("sweep", state["sweep"], owner)
        self.key = key.copy()
        self.first_chain = check_int("first_chain", state["first_chain"], owner)
        self._sums = sums.copy()
        self._mean = None
