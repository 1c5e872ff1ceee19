"""Heat-bath Gibbs sampling of persistent chains, one nogil Cython sweep per call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from factorgraph._validation import check_theta
from samplers import _chains, _gibbs
from samplers._chains import BlockChains
from samplers._protocol import Sampler, SweepInfo, single_site_matrix

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph

__all__ = ["Gibbs"]


def _heat_bath(energies: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The conditional distribution of a variable: a softmax of its energies (``current`` unused)."""
    p = np.exp(energies - energies.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


class Gibbs(BlockChains, Sampler):
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
    sums : {"auto", "incremental", "recompute"}, default "auto"
        How the per-block feature sums behind ``stats()`` are kept. ``"incremental"`` moves them
        with every change of state (cost: changes x features per change, scattered over the
        sums). ``"recompute"`` leaves them alone during the sweeps and re-derives them from the
        states at the end of each ``run`` (and after each sweep when averaging), factor by
        factor (cost: chains x factors, in cache). ``"auto"`` recomputes when one block's sums
        exceed 2 MiB (over 262,144 features, e.g. large Potts models), where each scattered
        update would miss the cache. The chains are the same bits either way.
    average_sweeps : bool, default False
        When True, ``stats().mean`` averages the chains over every sweep of the last ``run``
        instead of using the final states alone, and ``stats().batch_means`` holds the
        per-sweep means of each full block of chains (up to 64 MiB), from which the training
        monitor estimates the standard error of that average.
    first_chain : int, default 0
        The global index of the first chain (its random numbers), for runs split over workers.

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
        graph: CompiledGraph,
        n_chains: int,
        *,
        seed: int | np.random.SeedSequence | None = None,
        n_threads: int | None = None,
        block_size: int | None = None,
        refresh_every: int = 1000,
        average_sweeps: bool = False,
        first_chain: int = 0,
        sums: str = "auto",
    ) -> None:
        super().__init__(graph, n_chains, seed=seed)
        self._setup_chains(n_threads, block_size, refresh_every, average_sweeps, first_chain, sums)
        self._tables = _gibbs.PairTables(graph._view)  # refilled for each run's θ

    def run(self, theta: ArrayLike, n_sweeps: int, n_threads: int | None = None) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``; returns a SweepInfo."""
        theta, n_sweeps = self._check_run(theta, n_sweeps)
        threads = self._run_threads(n_threads)
        if n_sweeps:  # one region: a thread more pays when its share of the tables is large enough
            self._tables.fill(theta, threads if self._sweep_work >= threads * _chains.MIN_WORK_PER_THREAD else 1)

        def kernel(first_sweep: int, step: int, threads: int) -> int:
            return _gibbs.sweep(
                self.graph._view,
                self._x,
                theta,
                self._sums,
                self.key,
                self.n_chains,
                self.first_chain,
                self.block_size,
                first_sweep,
                step,
                threads,
                self._tables,
                self.sums == "incremental",
            )

        changes = self._advance(n_sweeps, threads, kernel)
        return SweepInfo(n_sweeps, n_sweeps * self.n_chains * self.graph.n_variables, int(changes))

    def transition_matrix(self, theta: ArrayLike) -> np.ndarray:
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
