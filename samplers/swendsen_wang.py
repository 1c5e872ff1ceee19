"""Swendsen-Wang cluster moves for any model, with running feature sums.

The construction
----------------
Write E(x) = θ·f(x) for the log of the unnormalised probability, p(x) ∝ exp(E(x)). A **bond**
is a factor with two distinct variables a, b that have the same number of states k ≥ 2 (a
Product on two spins, a Potential, Table or Function on two Potts variables, ...). With w(s, t)
its energy table at θ, the bond gets the strength

    J = max(0, ½ min over s ≠ t of K(s, t)),    K(s, t) = w(s, s) + w(t, t) − w(s, t) − w(t, s),

and the model splits as E(x) = Σ_i J_i 1[x_a = x_b] + R(x): R, the **residual**, is everything
else (fields, the off-diagonal and anti-ferromagnetic parts of pair tables, higher-order
features, tables, functions, base measures).

K(s, t) is the interaction of the two-state sub-table on states {s, t}: adding terms u(s) + v(t)
(fields, or another gauge of a Potential) does not change it, so neither does the choice of
gauge change J. For ±1 spins, θ x_a x_b gives J = 2θ when θ > 0, the textbook bond probability
1 − e^(−2θ); for Potts, θ 1[x_a = x_b] gives J = θ. For two-state variables the residual of a
bond is then exactly a pair of fields. For k > 2, J is the largest strength that leaves the
residual table with K ≥ 0 for every pair of states: no pair of states in which the residual
still prefers disagreement, which would push apart variables the bonds had glued together. Any
J ≥ 0 would be correct; this choice only decides how large the clusters are.

One sweep of a chain is one move:

1. each bond i whose variables agree opens with probability p_i = 1 − e^(−J_i), independently;
2. open bonds join variables into clusters (union-find; a variable in no open bond is a cluster
   of its own);
3. each cluster in turn, in the order of its smallest variable, takes a new common state s with
   probability proportional to exp(R(x with the cluster in state s)), given the states the
   other clusters hold at that moment (heat-bath on the cluster's label).

Why it samples p exactly
------------------------
Add a variable ω_i ∈ {0, 1} per bond and take the joint distribution

    q(x, ω) ∝ exp(R(x)) Π_i [(1 − p_i)(1 − ω_i) + p_i ω_i 1[x_a = x_b]].

Summing out ω_i gives e^(−J_i) + (1 − e^(−J_i)) 1[x_a = x_b] = e^(−J_i) exp(J_i 1[x_a = x_b]), so
the x-marginal of q is p. Step 1 draws ω from q(ω | x) exactly (the bonds are independent given
x, and a bond between disagreeing variables is closed). Given ω, q(x | ω) ∝ exp(R(x)) on the
states that are constant on every cluster; a cluster's label given everything else is
distributed ∝ exp(R) over its k common states (the constraints of the open bonds inside the
cluster hold for each of them, and no open bond leaves a cluster), which is what step 3 draws.
Each such heat-bath update leaves q(x | ω) invariant, so their composition does too. Hence if
x ~ p, then (x, ω) ~ q after step 1 and still after step 3, and the new x ~ p: the move leaves
p invariant for every model, whatever R contains. With no fields and only ferromagnetic pairs
R is constant on the clusters' labels and step 3 is the plain Swendsen-Wang relabel (a spin
cluster flips with probability ½, a Potts cluster takes a uniform new colour).

The chain is irreducible and aperiodic: with probability Π_i e^(−J_i) > 0 every bond stays
closed, and the move is then a Gibbs sweep of single variables in index order, in which every
state of every variable has positive probability. Variables in no bond are single-variable
heat-bath updates in every sweep, so nothing needs a separate fallback.

Which models gain
-----------------
Clusters grow along ferromagnetic bonds, so the big gain is for ferromagnetic Ising and Potts
models near and below their critical point, where single-site updates slow down by orders of
magnitude (critical slowing down) and cluster moves barely do. Frustrated models, strong fields
and anti-ferromagnetic couplings gain little or nothing: there J is zero or the residual rejects
most relabels of large clusters, and a sweep costs more than a Gibbs sweep.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from factorgraph._errors import ModelTooLargeError
from factorgraph._validation import check_theta
from samplers import _sw
from samplers._chains import BlockChains
from samplers._protocol import Sampler, SweepInfo, enumerated_states

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph

__all__ = ["SwendsenWang"]

#: The most joint states :meth:`SwendsenWang.transition_matrix` builds a matrix for.
#: The most bonds with J > 0 whose open/closed patterns the exact matrix enumerates.
MAX_TRANSITION_BONDS = 12


class SwendsenWang(BlockChains, Sampler):
    """Swendsen-Wang (Edwards-Sokal) cluster moves, exact for every model the library expresses.

    Pairwise factors whose variables have equal numbers of states carry bonds whose strength
    is the ferromagnetic part of their table; clusters of variables joined by open bonds are
    relabelled by heat-bath on everything else in the model. The construction, the choice of
    the bond strengths and the proof that the chains sample θ's distribution exactly are in the
    module documentation (``help(samplers.swendsen_wang)``). A sweep is one cluster move of
    every chain; chains are moved in parallel, block by block.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
        The number of persistent chains.
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number drawn by the sampler (a
        counter-based Philox generator keyed by seed, chain, sweep and bond or variable). The
        same seed gives bit-identical chains, sums and counts for any thread count, and chains
        0..C-1 of a larger run equal a C-chain run.
    n_threads : int, optional
        Threads for the sweeps: None uses every usable core (honouring OMP_NUM_THREADS).
        Threads share out blocks of chains, so at most ``ceil(n_chains / block_size)`` work.
    block_size : int, optional
        Chains per block of running sums and the unit of parallel work, as for
        :class:`~samplers.Gibbs`.
    refresh_every : int, default 1000
        Re-derive the running sums exactly from the states every this many sweeps.
    average_sweeps : bool, default False
        When True, ``stats().mean`` averages the chains over every sweep of the last ``run``.
    first_chain : int, default 0
        The global index of the first chain (its random numbers), for runs split over workers.

    Attributes
    ----------
    bond_factors : ndarray of int64
        The factors that can carry a bond (two distinct variables with equal numbers of
        states); at a given θ only those of strength > 0 do (see :meth:`bond_strengths`).

    Notes
    -----
    ``run`` returns a :class:`~samplers.SweepInfo` with ``n_updates`` = variables × chains ×
    sweeps (each variable is updated once per sweep, with its cluster), ``n_changes`` the
    variables that changed, and in ``extra``: ``"clusters"`` (the number of clusters formed),
    ``"mean_cluster_size"`` (variables per cluster), ``"open_bonds"`` (bonds opened) and
    ``"relabel_rate"`` (the fraction of clusters that changed state). Bonds draw from the
    generator's stream 4 and cluster labels from stream 5.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> sampler = samplers.create("swendsen-wang", g.compile(), n_chains=4000, seed=1)
    >>> info = sampler.run(np.array([0.5, 0.5]), 20)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(0.5)) < 0.05)
    True
    >>> sampler.bond_strengths(np.array([0.5, -0.5])).tolist()  # 2θ for a ferromagnetic pair
    [1.0, 0.0]
    """

    name = "swendsen-wang"

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
    ) -> None:
        super().__init__(graph, n_chains, seed=seed)
        self.bond_factors = _bond_factors(graph)
        first = graph.factor_ptr[self.bond_factors]
        self._bond_a = np.ascontiguousarray(graph.factor_vars[first], dtype=np.int32)
        self._bond_b = np.ascontiguousarray(graph.factor_vars[first + 1], dtype=np.int32)
        self._setup_chains(n_threads, block_size, refresh_every, average_sweeps, first_chain)

    def bond_strengths(self, theta: ArrayLike) -> np.ndarray:
        """The strength J ≥ 0 of each factor of :attr:`bond_factors` at ``theta``.

        Returns
        -------
        ndarray of shape (len(bond_factors),)
            J = max(0, ½ min over s ≠ t of w(s, s) + w(t, t) − w(s, t) − w(t, s)) for the
            factor's energy table w; a bond opens between agreeing variables with probability
            1 − e^(−J).
        """
        theta = check_theta(theta, self.graph.n_features, "SwendsenWang.bond_strengths")
        strengths = np.zeros(len(self.bond_factors))
        _sw.bond_strengths(self.graph._view, theta, self.bond_factors, strengths)
        return strengths

    def _bonds(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The opening probability of each bond and the strength of each factor (0 off bonds)."""
        strengths = self.bond_strengths(theta)
        per_factor = np.zeros(self.graph.n_factors)
        per_factor[self.bond_factors] = strengths
        return -np.expm1(-strengths), per_factor

    def run(self, theta: ArrayLike, n_sweeps: int, n_threads: int | None = None) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` cluster moves at ``theta``.

        Returns
        -------
        SweepInfo
            With ``extra`` holding ``"clusters"``, ``"mean_cluster_size"``, ``"open_bonds"``
            and ``"relabel_rate"`` for this run.
        """
        theta, n_sweeps = self._check_run(theta, n_sweeps)
        p_open, strength = self._bonds(theta)
        counts = np.zeros(4, dtype=np.int64)  # open bonds, clusters, relabelled clusters, changes

        def kernel(first_sweep: int, step: int, threads: int) -> int:
            return _sw.sweep(
                self.graph._view,
                self._x,
                theta,
                self._sums,
                self._bond_a,
                self._bond_b,
                p_open,
                strength,
                self.key,
                self.n_chains,
                self.first_chain,
                self.block_size,
                first_sweep,
                step,
                threads,
                counts,
            )

        changes = self._advance(n_sweeps, self._run_threads(n_threads), kernel)
        updates = self.graph.n_variables * self.n_chains * n_sweeps
        clusters = int(counts[1])
        extra = {
            "clusters": clusters,
            "mean_cluster_size": updates / clusters if clusters else float("nan"),
            "open_bonds": int(counts[0]),
            "relabel_rate": int(counts[2]) / clusters if clusters else float("nan"),
        }
        return SweepInfo(n_sweeps, updates, changes, extra)

    def transition_matrix(self, theta: ArrayLike) -> np.ndarray:
        """The exact transition matrix of one sweep, for models with few states and bonds.

        Built independently of the compiled kernel, from the construction in the module
        documentation: for each joint state, every open/closed pattern of its agreeing bonds
        with its probability, then the cluster relabels in order, each a heat-bath over the
        residual energy. Joint states are indexed as by
        :func:`factorgraph.exact.enumerate_states` (row-major, the last variable fastest).

        Parameters
        ----------
        theta : array_like of shape (n_features,)

        Returns
        -------
        ndarray of shape (S, S)
            Row x is the distribution of the state after one sweep from x.

        Raises
        ------
        ModelTooLargeError
            When the model has more than 4096 joint states or more than 12 bonds of strength > 0.
        """
        owner = "SwendsenWang.transition_matrix"
        theta = check_theta(theta, self.graph.n_features, owner)
        p_open, _ = self._bonds(theta)
        active = np.flatnonzero(p_open > 0)
        if len(active) > MAX_TRANSITION_BONDS:
            raise ModelTooLargeError(
                f"{owner} needs at most {MAX_TRANSITION_BONDS} bonds of strength > 0 (2^bonds patterns); the "
                f"model has {len(active)}. Use it on models of a few small variables."
            )
        states, place = enumerated_states(self.graph, owner)
        states = states.astype(np.int64)
        sizes = self.graph.n_states
        total = len(states)
        strengths = self.bond_strengths(theta)
        a, b = self._bond_a.astype(np.int64), self._bond_b.astype(np.int64)
        agree = states[:, a] == states[:, b]
        residual = self.graph.energy(states, theta, n_threads=1) - agree.astype(np.float64) @ strengths
        matrix = np.zeros((total, total))
        for start in range(total):
            closed_bonds = [i for i in active.tolist() if agree[start, i]]
            for pattern in itertools.product((False, True), repeat=len(closed_bonds)):
                weight = float(np.prod([p_open[i] if o else 1.0 - p_open[i] for i, o in zip(closed_bonds, pattern)]))
                if weight == 0.0:
                    continue
                opened = [i for i, o in zip(closed_bonds, pattern) if o]
                dist = {start: weight}
                for cluster in _clusters(len(sizes), a[opened], b[opened]):
                    k = sizes[cluster[0]]
                    if k < 2:
                        continue
                    moved: dict[int, float] = {}
                    for y, q in dist.items():
                        base = y - int(states[y, cluster] @ place[cluster])
                        targets = base + np.arange(k) * int(place[cluster].sum())
                        e = residual[targets]
                        prob = np.exp(e - e.max())
                        prob /= prob.sum()
                        for t, pr in zip(targets.tolist(), prob.tolist()):
                            moved[t] = moved.get(t, 0.0) + q * pr
                    dist = moved
                for t, q in dist.items():
                    matrix[start, t] += q
        return matrix


def _bond_factors(graph: CompiledGraph) -> np.ndarray:
    """The factors of two distinct variables with the same number (≥ 2) of states."""
    arity = np.diff(graph.factor_ptr)
    pair = np.flatnonzero(arity == 2)
    first = graph.factor_ptr[pair]
    a, b = graph.factor_vars[first], graph.factor_vars[first + 1]
    keep = (a != b) & (graph.n_states[a] == graph.n_states[b]) & (graph.n_states[a] >= 2)
    return np.ascontiguousarray(pair[keep], dtype=np.int64)


def _clusters(n: int, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The connected components of variables 0..n-1 under the edges (a, b), each sorted, in
    the order of their smallest variable (by the sweep's own union-find)."""
    roots = _sw.components(n, np.ascontiguousarray(a, dtype=np.int32), np.ascontiguousarray(b, dtype=np.int32))
    return [np.flatnonzero(roots == r) for r in range(n) if roots[r] == r]
