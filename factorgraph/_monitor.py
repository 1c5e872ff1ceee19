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
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats

from factorgraph._exact_l1 import l1_residual
from objectives import L1, Needs
from objectives.moments import combined_targets

MIN_BATCHES = 4  # fewer groups of chains than this say too little about the sweeps' correlation
JACKKNIFE_GROUPS = 16  # groups of chains for the jackknife: 15 degrees of freedom per feature

Gradient = Callable[[Any, np.ndarray], np.ndarray]


def _reads_chains(term: Any) -> bool:
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

    def __init__(self, graph: Any, objectives: Any, trainable: np.ndarray, gradient: Gradient) -> None:
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
        self.linear = all(hasattr(t, "matched_moments") or not _reads_chains(t) for t in objectives)
        self.reads_chains = any(_reads_chains(t) for t in objectives)
        # L1 strengths per feature, summed over the L1 terms (the exact engine does the same)
        self.l1 = sum((np.broadcast_to(t.strength, (graph.n_features,)) for t in objectives if isinstance(t, L1)),
                      np.zeros(graph.n_features))
        n = max(graph.n_features, 1)
        # the largest of K standard normal z-scores stays below this with overwhelming probability
        self.max_z = float(np.sqrt(2 * np.log(2 * n)) + 3)
        self._tail = scipy.stats.norm.isf(1 / (4 * n))

    def max_residual(self, n_chains: int) -> float:
        """The bound on the largest standardised residual: :attr:`max_z`, widened for the
        jackknife's Student-t tails (G − 1 degrees of freedom) when it is used."""
        if self.linear:
            return self.max_z
        dof = _groups(n_chains) - 1
        return float((self.max_z - 3) * scipy.stats.t.isf(1 / (4 * max(self.graph.n_features, 1)), dof)
                     / self._tail + 3)

    def check(self, stats: Any, states: np.ndarray, grad: np.ndarray, theta: np.ndarray) -> dict[str, float]:
        """The figures at one step: ``mismatch``, ``mismatch_max``, ``residual``, ``residual_max``.

        ``stats`` and ``grad`` are the step's statistics and ascent direction, ``states`` the
        chains' current states. NaN where a figure is undefined (no matching term; no term
        reading the chains).
        """
        n = len(states)
        n_averaged = getattr(stats, "n_averaged", 1)
        # a feature constant over the draws is resolved to its range over the number of draws
        floor = self.spread / (n * n_averaged)
        second = self.graph.feature_sums(states, squared=True) / n
        mean = self.graph.feature_sums(states) / n
        se = np.sqrt(np.maximum(second - mean**2, 0.0) / _effective_draws(stats, n))
        out = dict(mismatch=np.nan, mismatch_max=np.nan, residual=np.nan, residual_max=np.nan)
        if self.matched.any():
            z = np.abs(self.target - stats.mean)[self.matched] / np.maximum(se, floor)[self.matched]
            out.update(mismatch=float(np.sqrt(np.mean(z**2))), mismatch_max=float(z.max()))
        if self.reads_chains:
            noise = np.where(self.matched, se, 0.0) if self.linear else self._jackknife(stats, states, theta)
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

    def _jackknife(self, stats: Any, states: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The delete-a-group jackknife standard error of the objective's chain gradient.

        The chains are cut into G contiguous groups; the gradient is recomputed from every group
        but one, G times, and var = (G − 1)/G Σ_g (grad_(−g) − mean)². It sees the noise of
        every term at once, with the correlation between terms (a KL prior's gradient shares
        E[f] with moment matching) and the noise of a term's own estimate of p_S. The means a
        replicate sees are the step's means less the left-out group's share: averaged over the
        step's sweeps where the sampler reports per-group batch means, else from final states.
        """
        from samplers import ChainStats
        from samplers._protocol import state_marginal_counts, state_weighted_sums

        n = len(states)
        ranges, sums = self._groups(stats, states)
        total = stats.mean * n if sums is not None else self.graph.feature_sums(states)
        replicates = []
        for g, (lo, hi) in enumerate(ranges):
            kept = np.delete(states, np.s_[lo:hi], axis=0)
            left_out = sums[g] if sums is not None else self.graph.feature_sums(states[lo:hi])
            replicate = ChainStats(
                mean=(total - left_out) / len(kept), n_chains=len(kept), sweep=getattr(stats, "sweep", 0),
                marginal_counts={s: state_marginal_counts(self.graph, kept, s) for s in self.scopes},
                weighted_sums=functools.partial(state_weighted_sums, self.graph, kept),
            )
            replicates.append(self.gradient(replicate, theta))
        replicates = np.array(replicates)
        groups = len(replicates)
        return np.sqrt((groups - 1) / groups * np.sum((replicates - replicates.mean(axis=0)) ** 2, axis=0))

    @staticmethod
    def _groups(stats: Any, states: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray | None]:
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


class StabilityWindow:
    """θ's mean over consecutive windows of ``size`` steps, in O(K) memory.

    :meth:`add` returns, at the end of each window, the largest absolute change of the mean
    against the window before (infinity after the first window), and None otherwise.
    """

    def __init__(self, size: int, n_features: int) -> None:
        self.size = size
        self._sum = np.zeros(n_features)
        self._count = 0
        self._previous: np.ndarray | None = None

    def add(self, theta: np.ndarray) -> float | None:
        self._sum += theta
        self._count += 1
        if self._count < self.size:
            return None
        mean = self._sum / self.size
        self._sum[:] = 0.0
        self._count = 0
        drift = np.inf if self._previous is None else float(np.abs(mean - self._previous).max(initial=0.0))
        self._previous = mean
        return drift


class Plateau:
    """Detects a plateau: a figure that has not fallen 1% below its best for ``patience`` updates."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self._best = np.inf
        self._since = 0

    def update(self, value: float) -> bool:
        """Record ``value``; True when a plateau is reached (the count then starts again)."""
        self._since += 1
        if value < 0.99 * self._best:
            self._best, self._since = value, 0
        elif self._since >= self.patience:
            self._best, self._since = value, 0
            return True
        return False


def _effective_draws(stats: Any, n_chains: int) -> float | np.ndarray:
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
