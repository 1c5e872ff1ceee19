"""The training monitor: how far the chains' estimates are from a fixed point, in units of their noise.

Two figures are standardised by the Monte Carlo standard error (MCSE):

* the **moment mismatch** z_k = |m_k − μ̂_k| / MCSE_k over the matched features, about 1 at
  the plain maximum-entropy solution;
* the **stationarity residual**: the whole objective's ascent direction (every term's gradient,
  with an L1 term's subgradient taken at its best) over the noise of its chain estimate. It is
  about 1 at the optimum of any mix of objectives, so it is what the convergence test reads.
  With matching terms only, it equals the mismatch.

The noise of a gradient that is linear in the chains (matching terms) has a closed form,
σ_k / sqrt(ESS_k). Terms that are non-linear in the chains (marginal priors, custom terms) get
a delete-a-group jackknife instead: the objective's gradient recomputed with each of G groups of
chains left out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.stats

from factorgraph._exact_l1 import l1_residual
from factorgraph._joint import place_values
from factorgraph.contracts import MatchingTerm, ProximalTerm
from objectives import Needs
from objectives.moments import combined_targets

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph
    from factorgraph.contracts import Objective
    from samplers import ChainStats

MIN_BATCHES = 4  # fewer groups of chains than this say too little about the sweeps' correlation
JACKKNIFE_GROUPS = 16  # groups of chains for the jackknife: 15 degrees of freedom per feature
JACKKNIFE_BYTES = 256 * 2**20  # the most the jackknife's per-state feature sums of one scope may take

Gradient = Callable[[Any, np.ndarray], np.ndarray]


def _reads_chains(term: Objective) -> bool:
    return not hasattr(term, "needs") or term.needs() != Needs()


class Monitor:
    """The standardised mismatch and stationarity residual of one trainer's objective.

    Parameters
    ----------
    graph : CompiledGraph
    objectives : sequence of Objective
    trainable : ndarray of bool, shape (n_features,)
    gradient : callable
        ``gradient(stats, theta)``: the summed ascent direction of the objectives, as the trainer
        computes it (used for the jackknife's replicates).
    """

    def __init__(
        self, graph: CompiledGraph, objectives: Sequence[Objective], trainable: np.ndarray, gradient: Gradient
    ) -> None:
        self.graph = graph
        self.trainable = trainable
        self.gradient = gradient
        low, high = graph.feature_bounds()
        self.low, self.high = low, high
        self.spread = np.maximum(high - low, np.finfo(float).tiny)
        matched, self.target = combined_targets(objectives, graph.n_features, trainable)
        self.matched = matched & trainable
        self.scopes = sum((t.needs().marginals for t in objectives if hasattr(t, "needs")), ())
        # gradients linear in the chains (matching terms) have a closed-form noise
        self.linear = all(isinstance(t, MatchingTerm) or not _reads_chains(t) for t in objectives)
        self.reads_chains = any(_reads_chains(t) for t in objectives)
        # L1 strengths per feature, summed over the L1 terms (the exact engine does the same)
        self.l1 = sum(
            (np.broadcast_to(t.strength, (graph.n_features,)) for t in objectives if isinstance(t, ProximalTerm)),
            np.zeros(graph.n_features),
        )
        self.two_valued = TwoValued(graph)  # closed-form variances where a feature takes two values
        n = max(graph.n_features, 1)
        self.max_z = max_z_bound(graph.n_features)
        self._tail = scipy.stats.norm.isf(1 / (4 * n))

    def max_residual(self, n_chains: int) -> float:
        """The bound on the largest standardised residual: :attr:`max_z`, widened for the
        jackknife's Student-t tails (G − 1 degrees of freedom) when it is used."""
        if self.linear:
            return self.max_z
        dof = _groups(n_chains) - 1
        return float(
            (self.max_z - 3) * scipy.stats.t.isf(1 / (4 * max(self.graph.n_features, 1)), dof) / self._tail + 3
        )

    def check(
        self,
        stats: ChainStats,
        states: np.ndarray,
        grad: np.ndarray,
        theta: np.ndarray,
        min_se: np.ndarray | None = None,
        variance: np.ndarray | None = None,
    ) -> dict[str, float]:
        """The figures at one step: ``mismatch``, ``mismatch_max``, ``residual``, ``residual_max``.

        ``stats`` and ``grad`` are the step's statistics and ascent direction, ``states`` the
        chains' current states. NaN where a figure is undefined (no matching term; no term
        reading the chains). ``min_se`` (optional, per feature) raises the closed-form standard
        error to at least that (see :func:`group_standard_errors`). A two-valued feature's
        variance is its closed form, the larger at the chains' mean and at the target
        (:class:`TwoValued`); ``variance`` (NaN where unknown) replaces that.
        """
        if variance is None:
            variance = self.two_valued.variance(stats.mean, self.target)
        se, floor = standard_errors(self.graph, stats, states, spread=self.spread, variance=variance)
        if min_se is not None:
            se = np.maximum(se, min_se)
        out = dict(mismatch=np.nan, mismatch_max=np.nan, residual=np.nan, residual_max=np.nan)
        if self.matched.any():
            z = np.abs(self.target - stats.mean)[self.matched] / np.maximum(se, floor)[self.matched]
            out.update(mismatch=float(np.sqrt(np.mean(z**2))), mismatch_max=float(z.max()))
        if self.reads_chains:
            linear = np.where(self.matched, se, 0.0)
            noise = linear if self.linear else self._combined_noise(linear, *self._jackknife(stats, states, theta))
            residual = self.stationarity(grad, theta)
            active = self.trainable & (self.matched | (noise > 0) | (residual != 0))
            if active.any():
                z = np.abs(residual[active]) / np.maximum(noise, floor)[active]
                out.update(residual=float(np.sqrt(np.mean(z**2))), residual_max=float(z.max()))
        return out

    def stationarity(self, grad: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """How far θ is from the optimum's conditions, per feature: zero exactly at a fixed point.

        ``grad`` is the smooth terms' ascent direction; with ``L1`` terms, the distance of zero
        from the subdifferential: |grad_k − λ_k sign θ_k| where θ_k ≠ 0 and max(|grad_k| − λ_k, 0)
        where θ_k = 0.
        """
        residual = l1_residual(-grad, theta, self.l1) if self.l1.any() else np.abs(grad)
        return np.where(self.trainable, residual, 0.0)

    def _jackknife(self, stats: ChainStats, states: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Delete-a-group jackknife replicates of the objective's chain gradient, and of its
        matching part, each of shape (G, n_features).

        The chains are cut into G contiguous groups; the gradient is recomputed from every group
        but one, G times; var = (G − 1)/G Σ_g (grad_(−g) − mean)². That sees the noise of every
        term, the correlation between terms (a KL prior's gradient shares E[f] with moment
        matching) and the noise of a term's own estimate of p_S. The means a
        replicate sees are the step's means less the left-out group's share: averaged over the
        step's sweeps where the sampler reports per-group batch means, else from final states.

        A weighted sum is linear in its table, Σ_c t[x_S^c] f(x^c) = Σ_s t[s] F_S[s] with F_S[s]
        the feature sums of the chains in joint state s; one pass gives F_S per group, so each
        replicate's weighted sums and counts are differences of small arrays, whatever tables
        the objectives compute. Scopes too large for that (more than JACKKNIFE_BYTES of F_S)
        take a pass over the replicate's states instead.
        """
        from samplers import ChainStats

        n = len(states)
        ranges, sums = self._groups(stats, states)
        group_of = np.repeat(np.arange(len(ranges)), [hi - lo for lo, hi in ranges])
        kept_all = np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
        if sums is None:
            sums = self._grouped_sums(states[kept_all], group_of, len(ranges))
            outside = np.delete(states, kept_all, axis=0)  # chains in no group: always kept
            total = sums.sum(axis=0) + self._grouped_sums(outside, np.zeros(len(outside), np.int64), 1)[0]
        else:
            total = stats.mean * n
        by_state = {scope: self._by_state(states, scope, kept_all, group_of, len(ranges)) for scope in self.scopes}
        replicates, matching = [], []
        for g, (lo, hi) in enumerate(ranges):
            kept = n - (hi - lo)
            counts = {
                scope: (joint_all - joint[g]).reshape(shape)
                for scope, (shape, joint_all, joint, _, _) in by_state.items()
            }
            replicate = ChainStats(
                mean=(total - sums[g]) / kept,
                n_chains=kept,
                sweep=getattr(stats, "sweep", 0),
                marginal_counts=counts,
                weighted_sums=functools.partial(self._replicate_weighted_sums, by_state, g, states, (lo, hi)),
            )
            replicates.append(self.gradient(replicate, theta))
            matching.append(np.where(self.matched, self.target - replicate.mean, 0.0))
        return np.array(replicates), np.array(matching)

    def _combined_noise(self, linear: np.ndarray, replicates: np.ndarray, matching: np.ndarray) -> np.ndarray:
        """The noise of the whole gradient: the matching part's closed-form MCSE, the other terms'
        jackknife variance, and their jackknife correlation (clipped to [-1, 1]).

        The closed form is exact for the matching part however rare a feature is, where a
        jackknife over 16 groups is noisy; the other terms only add their share.
        """
        groups = len(replicates)
        other = replicates - matching
        other = other - other.mean(axis=0)
        matching = matching - matching.mean(axis=0)
        scale = (groups - 1) / groups
        var_other = scale * np.sum(other**2, axis=0)
        var_matching = scale * np.sum(matching**2, axis=0)
        cov = scale * np.sum(other * matching, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.clip(np.nan_to_num(cov / np.sqrt(var_other * var_matching)), -1.0, 1.0)
        sd_other = np.sqrt(var_other)
        return np.sqrt(np.maximum(linear**2 + var_other + 2 * rho * linear * sd_other, 0.0))

    def _grouped_sums(self, states: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
        """Feature sums of the states in each row group, shape (n_rows, n_features): one pass."""
        from factorgraph import _kernels

        out = np.zeros((n_rows, self.graph.n_features))
        _kernels.add_grouped_feature_sums(
            self.graph._view,
            np.ascontiguousarray(states, dtype=np.int32),
            np.ascontiguousarray(rows, dtype=np.int64),
            out,
        )
        return out

    def _by_state(
        self, states: np.ndarray, scope: tuple[int, ...], kept_all: np.ndarray, group_of: np.ndarray, n_groups: int
    ) -> tuple[Any, ...]:
        """For one scope: its shape, the joint-state counts (all chains, and per group), and the
        feature sums per joint state (all chains, and per group) when they fit in memory."""
        ids = np.asarray(scope)
        shape = tuple(self.graph.n_states[ids].tolist())
        size = int(np.prod(shape))
        places = place_values(np.asarray(shape))
        joint = states[:, ids].astype(np.int64) @ places
        counts_all = np.bincount(joint, minlength=size)
        counts = np.zeros((n_groups, size), dtype=np.int64)
        np.add.at(counts, (group_of, joint[kept_all]), 1)
        if n_groups * size * self.graph.n_features * 8 > JACKKNIFE_BYTES:
            return shape, counts_all, counts, None, None
        per_group = self._grouped_sums(states[kept_all], group_of * size + joint[kept_all], n_groups * size)
        per_group = per_group.reshape(n_groups, size, -1)
        outside = np.delete(np.arange(len(states)), kept_all)
        every = per_group.sum(axis=0) + self._grouped_sums(states[outside], joint[outside], size)
        return shape, counts_all, counts, every, per_group

    def _replicate_weighted_sums(
        self, by_state: dict, g: int, states: np.ndarray, left_out: tuple[int, int], scope: ScopeLike, table: ArrayLike
    ) -> np.ndarray:
        """Σ_c table[x_S^c] f(x^c) over the chains outside group g."""
        from samplers._protocol import state_weighted_sums

        entry = by_state.get(tuple(scope))
        if entry is None or entry[3] is None:
            return state_weighted_sums(
                self.graph, np.delete(states, np.s_[left_out[0] : left_out[1]], axis=0), scope, table
            )
        shape, _, _, every, per_group = entry
        values = np.asarray(table, dtype=np.float64)
        if values.shape != shape:
            raise ValueError(f"a table of shape {shape} was expected, not {values.shape}")
        return values.ravel() @ (every - per_group[g])

    @staticmethod
    def _groups(stats: ChainStats, states: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray | None]:
        """The jackknife's groups of chains, as index ranges, and each group's feature sums over
        the averaged sweeps (None: use the final states)."""
        batches = getattr(stats, "batch_means", None)
        size = getattr(stats, "batch_size", None)
        if getattr(stats, "n_averaged", 1) > 1 and batches is not None and size and len(batches) >= 2:
            parts = np.array_split(np.arange(len(batches)), min(JACKKNIFE_GROUPS, len(batches)))
            ranges = [(int(p[0]) * size, (int(p[-1]) + 1) * size) for p in parts]
            sums = np.array([batches[p].mean(axis=1).sum(axis=0) * size for p in parts])
            return ranges, sums
        edges = np.linspace(0, len(states), _groups(len(states)) + 1).astype(np.int64)
        return list(zip(edges[:-1].tolist(), edges[1:].tolist())), None


def _groups(n_chains: int) -> int:
    return max(2, min(JACKKNIFE_GROUPS, n_chains))


def max_z_bound(n_features: int) -> float:
    """The bound sqrt(2 ln 2K) + 3 that the largest of K standard normal |z| stays below with
    overwhelming probability (K counted as at least 1)."""
    n = max(int(n_features), 1)
    return float(np.sqrt(2 * np.log(2 * n)) + 3)


class TwoValued:
    """The features that take only two values, lo and hi (one factor owns the feature and its
    table has at most two distinct entries; one-hot features are 0/1), whose variance has a
    closed form.

    Attributes
    ----------
    low, high : ndarray of shape (n_features,)
        The two values; NaN for the other features.
    """

    def __init__(self, compiled: CompiledGraph) -> None:
        n = compiled.n_features
        low, high = np.full(n, np.nan), np.full(n, np.nan)
        owners = np.zeros(n, dtype=np.int64)
        for table, factors in compiled.distinct_tables(0):
            ids = compiled.factor_theta[factors]
            np.add.at(owners, ids, 1)
            values = np.unique(table)
            if len(values) <= 2:
                low[ids], high[ids] = values[0], values[-1]
        for table, factors in compiled.distinct_tables(1):
            local = np.unique(table[table >= 0])
            ids = (compiled.factor_theta[factors][:, None] + local[None, :]).ravel()
            np.add.at(owners, ids, 1)
            low[ids], high[ids] = 0.0, 1.0
        two = (owners == 1) & ~np.isnan(low)
        self.low, self.high = np.where(two, low, np.nan), np.where(two, high, np.nan)

    def variance(self, mean: np.ndarray, target: np.ndarray) -> np.ndarray:
        """σ² of each two-valued feature, (m − lo)(hi − m), the larger of it at ``mean`` and at
        ``target``: a rare state that the draws happen to miss is not resolved to the floor of
        one draw (nor over-flagged when the draws see it more often than the target). NaN
        for the other features."""
        at_mean = (mean - self.low) * (self.high - mean)
        at_target = (target - self.low) * (self.high - target)
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(self.low), np.nan, np.maximum(np.maximum(at_mean, at_target), 0.0))


def standard_errors(
    graph: CompiledGraph,
    stats: ChainStats,
    states: np.ndarray,
    spread: np.ndarray | None = None,
    variance: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo standard error of ``stats.mean`` per feature, and its floor.

    se_k = sqrt(σ²_k / ESS_k): σ²_k is the variance of feature k over the chains' current
    ``states`` (shape (n_chains, n_variables)), or ``variance[k]`` where that is given and not
    NaN; ESS_k comes from :func:`_effective_draws` (the chains are independent; averaged
    sweeps are credited by their measured correlation). The floor, the feature's range
    (``spread``, default from :meth:`CompiledGraph.feature_bounds`) over the number of draws,
    resolves a feature that is constant over the draws: divide by ``np.maximum(se, floor)``.

    Returns
    -------
    se, floor : ndarray of shape (n_features,)
    """
    n = len(states)
    if spread is None:
        low, high = graph.feature_bounds()
        spread = np.maximum(high - low, np.finfo(float).tiny)
    n_averaged = getattr(stats, "n_averaged", 1)
    # a feature constant over the draws is resolved to its range over the number of draws
    floor = spread / (n * n_averaged)
    known = np.zeros(graph.n_features, dtype=bool) if variance is None else ~np.isnan(variance)
    if variance is not None and known.all():  # the two passes over the chains' factors are spared
        sigma2 = variance
    else:
        second = graph.feature_sums(states, squared=True) / n
        mean = graph.feature_sums(states) / n
        sigma2 = np.maximum(second - mean**2, 0.0)
        if variance is not None:
            sigma2 = np.where(known, variance, sigma2)
    se = np.sqrt(sigma2 / _effective_draws(stats, n))
    return se, floor


def group_standard_errors(stats: ChainStats) -> np.ndarray | None:
    """The standard error of an averaged ``stats.mean`` from the spread of its independent
    groups of chains: each group's mean over the averaged sweeps (from ``batch_means``) is an
    independent estimate, whatever the correlation between sweeps. None without batch means
    of at least MIN_BATCHES groups.

    A check that does not rely on estimating that correlation: for slow, small-amplitude modes
    (glassy models) the autocorrelation sum of :func:`_effective_draws` can come out short.
    """
    batches = getattr(stats, "batch_means", None)
    if batches is None or len(batches) < MIN_BATCHES or getattr(stats, "n_averaged", 1) <= 1:
        return None
    means = batches.mean(axis=1)
    return np.sqrt(means.var(axis=0, ddof=1) / len(means))


def _effective_draws(stats: ChainStats, n_chains: int) -> float | np.ndarray:
    """The effective sample size behind ``stats.mean``, per feature.

    The chains are independent, so the mean of their final states has ESS = C exactly. When
    the sampler averages S consecutive sweeps of each chain, the sweeps are correlated and
    ESS = C·S / τ_S, where τ_S = 1 + 2 Σ_{t=1}^{S-1} (1 − t/S) ρ_t is at most S (an average
    of S sweeps is worth at least its chain's final state) and at least 1 for non-negative
    correlations. Without per-sweep batch means from at least MIN_BATCHES groups of chains to
    estimate ρ, τ_S = S is assumed, which never understates the error.
    """
    n_averaged = getattr(stats, "n_averaged", 1)
    batches = getattr(stats, "batch_means", None)
    if n_averaged <= 1:
        return float(n_chains)
    if batches is None or len(batches) < MIN_BATCHES:
        return float(n_chains)
    return n_chains * n_averaged / _averaging_time(batches)


def _averaging_time(batches: np.ndarray, c: float = 5.0) -> np.ndarray:
    """τ_S of the S-sweep average, per feature, from (n_batches, S, n_features) batch means.

    The lag-t autocorrelation from :func:`samplers.diagnostics.autocorrelation` uses the 1/S
    estimator, whose expectation is (1 − t/S) ρ_t: summing it gives the Bartlett weights of
    τ_S directly. The sum stops at Sokal's window (the first M with M ≥ c·τ̂(M)) or at S − 1.
    Centring at the mean over all batches biases the sum low by about a factor (B − 1)/B when
    it runs over every lag (it is then the batch-means variance); the share of that bias
    that the window's lags carry is added back. The result is clipped to [1, S]: negative
    correlation is not credited, and an average is never worth less than one draw per chain.
    """
    from samplers import diagnostics

    n_batches, n_sweeps, n_features = batches.shape
    tau = np.ones(n_features)
    varying = np.ptp(batches, axis=(0, 1)) > 0
    if varying.any():
        rho = diagnostics.autocorrelation(batches[:, :, varying])
        partial = 1.0 + 2.0 * np.cumsum(rho[1:], axis=0)  # row M-1 holds τ̂(M)
        lags = np.arange(1, n_sweeps)[:, None]
        ok = lags >= c * partial
        window = np.where(ok.any(axis=0), np.argmax(ok, axis=0), n_sweeps - 2)
        estimate = partial[window, np.arange(partial.shape[1])]
        share = (2 * window + 3) / (2 * n_sweeps - 1)  # lags -(M)..M of -(S-1)..S-1
        tau[varying] = estimate * (1 + share / (n_batches - 1))
    return np.clip(tau, 1.0, n_sweeps)
