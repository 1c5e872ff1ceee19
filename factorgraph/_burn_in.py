"""The burn-in test on one round's draws of fresh chains (see :mod:`factorgraph._equilibrate`).

Every traced statistic that varies must have rank-normalised split R-hat at most the bound
and an integrated autocorrelation time τ̂ short enough that each chain holds at least
``MIN_DRAWS_PER_TAU`` independent draws of it, and at least ``MIN_ESS`` in all. With
``MANY_CHAINS`` chains or more, the chains' forgetting their start may stand in for the R-hat
and per-chain tests (:func:`forgotten`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from factorgraph._errors import DiagnosticsError

__all__ = ["Verdict", "forgotten", "MIN_DRAWS_PER_TAU", "MIN_ESS", "MANY_CHAINS", "FORGET_Z", "FORGET_TAUS"]

MIN_DRAWS_PER_TAU = 10  # each chain's window must hold this many independent draws of every statistic
MIN_ESS = 100  # and all chains together at least this many
MANY_CHAINS = 64  # from this many chains on, the chains forgetting their start may stand in for R-hat
FORGET_Z = 3.0  # the forgetting and drift tests' bound, in standard errors
FORGET_TAUS = 4  # ... and the round (as long as the burn-in before it) spans this many τ̂


@dataclass(frozen=True)
class Verdict:
    """The burn-in test on one round's draws."""

    passed: bool
    rhat: float
    ess: float
    tau: float
    why: str
    forgot: bool = False  # passed by the many-chains rule (the chains forgot their starts), not R-hat

    @classmethod
    def of(cls, draws: np.ndarray, rhat_tol: float, thin: int) -> Verdict:
        """Test (n_chains, n_draws, n_stats) draws; statistics constant over every draw say
        nothing and are left out (when none varies, nothing can move: equilibrated)."""
        n_chains, n_draws, _ = draws.shape
        varying = np.ptp(draws, axis=(0, 1)) > 0 if n_draws else np.zeros(draws.shape[2], bool)
        if not varying.any():
            return cls(True, math.nan, math.nan, 1.0, "no traced statistic varies")
        y = draws[:, :, varying]
        rhat = _per_statistic(y, _rhat)
        tau = _per_statistic(y, _tau)
        ess = n_chains * n_draws / tau
        if np.any(rhat > rhat_tol):
            why = f"R-hat {rhat.max():.4g} > {rhat_tol:g}"
        elif np.any(n_draws < MIN_DRAWS_PER_TAU * tau):
            why = (
                f"the chains hold fewer than {MIN_DRAWS_PER_TAU} independent draws each of some statistic "
                f"(τ̂ {tau.max() * thin:.3g} sweeps)"
            )
        elif np.any(ess < MIN_ESS):
            why = f"ESS {ess.min():.3g} < {MIN_ESS}"
        else:
            why = ""
        # many chains: each need not be long, only past its start (see forgotten)
        forgot = bool(why) and (
            n_chains >= MANY_CHAINS
            and np.all(np.isfinite(tau))
            and np.all(ess >= MIN_ESS)
            and np.all(n_draws >= FORGET_TAUS * tau)
            and forgotten(y)
        )
        return cls(
            bool(not why or forgot),
            float(rhat.max()),
            float(ess.min()),
            float(tau.max() * thin),
            "" if forgot else why,
            bool(forgot),
        )

    def describe(self, sweeps: int, stop: str = "") -> str:
        figures = f"R-hat {self.rhat:.4g}, ESS {self.ess:.0f}" if math.isfinite(self.rhat) else self.why
        if self.forgot:
            figures = f"the chains forgot their starts; {figures}"
        if self.passed:
            return f"equilibrated after {sweeps} sweeps ({figures})"
        return f"NOT equilibrated within {sweeps} sweeps ({stop}; {self.why})"


def forgotten(y: np.ndarray) -> bool:
    """Whether many independent chains have forgotten where they started, for every statistic.

    Split R-hat at 1.01 asks each chain for about 100 independent draws; with hundreds of
    chains that is far more than burn-in needs. What burn-in needs is that the chains no
    longer remember their starting states, which many chains show directly:

    * across chains, a chain's first and last draw of the round (half the sweeps so far) are
      uncorrelated: |r| ≤ FORGET_Z / sqrt(C);
    * the pooled mean does not drift between the round's halves: the mean over chains of each
      chain's second-half minus first-half mean is within FORGET_Z standard errors of 0 (the
      chains are independent, so that standard error is exact).

    Chains stuck in separate modes fail the first; chains still relaxing fail the second.
    """
    n_chains, n_draws, _ = y.shape
    if n_draws < 4:
        return False
    first, last = y[:, 0] - y[:, 0].mean(axis=0), y[:, -1] - y[:, -1].mean(axis=0)
    scale = np.sqrt(np.sum(first**2, axis=0) * np.sum(last**2, axis=0))
    r = np.divide(np.sum(first * last, axis=0), scale, out=np.zeros_like(scale), where=scale > 0)
    half = n_draws // 2
    drift = y[:, half:].mean(axis=1) - y[:, :half].mean(axis=1)
    se = drift.std(axis=0, ddof=1) / math.sqrt(n_chains)
    z = np.divide(np.abs(drift.mean(axis=0)), se, out=np.zeros_like(se), where=se > 0)
    return bool(np.all(np.abs(r) <= FORGET_Z / math.sqrt(n_chains)) and np.all(z <= FORGET_Z))


def _per_statistic(y: np.ndarray, figure: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``figure`` of every statistic at once, or one at a time where one of them fails."""
    try:
        return np.atleast_1d(figure(y)).astype(np.float64)
    except DiagnosticsError:
        return np.array([np.atleast_1d(figure(y[:, :, [k]]))[0] for k in range(y.shape[2])], dtype=np.float64)


def _rhat(y: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat; the plain one where ranks tie into a constant fold; inf
    for a statistic constant within every half-chain but not across chains (stuck chains)."""
    from samplers import diagnostics

    try:
        return diagnostics.split_rhat(y, rank_normalize=True)
    except DiagnosticsError:
        if y.shape[2] > 1:
            raise
    try:
        return diagnostics.split_rhat(y)
    except DiagnosticsError:
        return np.array([math.inf])


def _tau(y: np.ndarray) -> np.ndarray:
    """Integrated autocorrelation time in draws, pooled over chains; inf when no
    self-consistent window exists (the correlations have not decayed within the round)."""
    from samplers import diagnostics

    try:
        return diagnostics.integrated_time(y, min_draws_per_tau=0)
    except DiagnosticsError:
        if y.shape[2] > 1:
            raise
        return np.array([math.inf])
