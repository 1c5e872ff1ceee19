"""Chain diagnostics: autocorrelation, integrated autocorrelation time, ESS, split R-hat, MCSE.

Every function takes the draws of a scalar statistic (a feature sum, the energy, the
magnetisation, ...) recorded along persistent chains, in one layout:

* shape ``(n_draws,)``: one chain;
* shape ``(n_chains, n_draws)``: several chains, chains first;
* shape ``(n_chains, n_draws, n_stats)``: several statistics at once, each treated on its own;
  the results then have a trailing axis of length ``n_stats``.

A draw is whatever was recorded after each ``run`` (usually one sweep). The chains must be
independent copies of the same Markov chain (as a sampler's chains are), so that pooling them
is legitimate.

Examples
--------
>>> import numpy as np, samplers
>>> rng = np.random.default_rng(0)
>>> draws = rng.normal(size=(4, 2000))        # four chains of independent draws
>>> bool(abs(samplers.diagnostics.integrated_time(draws) - 1) < 0.1)
True
>>> bool(samplers.diagnostics.split_rhat(draws) < 1.01)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import fft, special

from factorgraph._errors import DiagnosticsError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from samplers._protocol import SweepInfo

__all__ = [
    "autocorrelation",
    "integrated_time",
    "effective_sample_size",
    "ess",
    "split_rhat",
    "mcse",
    "acceptance_rates",
]

_SHAPES = "an array of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)"


def _as_chains(x: ArrayLike, owner: str, min_draws: int) -> tuple[np.ndarray, bool]:
    """Return the draws as float64 of shape (n_chains, n_draws, n_stats), and whether the
    caller passed a single statistic (so the results are returned as scalars)."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DiagnosticsError(f"{owner} needs {_SHAPES} of real numbers; got {type(x).__name__}.") from exc
    if not 1 <= array.ndim <= 3:
        raise DiagnosticsError(
            f"{owner} needs {_SHAPES}; got an array with {array.ndim} dimensions. "
            "Put the chains on the first axis and the draws on the second."
        )
    scalar = array.ndim < 3
    array = array.reshape((1,) * (2 - min(array.ndim, 2)) + array.shape)
    if scalar:
        array = array[:, :, None]
    if array.shape[1] < min_draws:
        raise DiagnosticsError(
            f"{owner} needs at least {min_draws} draws per chain; got {array.shape[1]}. "
            "Record the statistic over more sweeps."
        )
    if array.shape[0] == 0 or array.shape[2] == 0:
        raise DiagnosticsError(f"{owner} got no chains or no statistics (shape {np.shape(x)}).")
    bad = ~np.isfinite(array)
    if bad.any():
        chain, draw, stat = (int(i) for i in np.argwhere(bad)[0])
        where = f"chain {chain}, draw {draw}" + ("" if scalar else f", statistic {stat}")
        raise DiagnosticsError(
            f"{owner} got a non-finite draw ({array[chain, draw, stat]}) at {where}. "
            "Remove the chains or draws that diverged."
        )
    return array, scalar


def _out(values: np.ndarray, scalar: bool) -> float | np.ndarray:
    """A float when the caller passed one statistic, else the (n_stats,) array."""
    return float(values[0]) if scalar else values


def _autocovariance(y: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag of (n_chains, n_draws, n_stats) draws, averaged over chains.

    The draws are centred at the mean over all chains, not at each chain's own mean: chains
    stuck in different places then show up as correlation that does not decay, which lowers
    the effective sample size as it should. The biased (1/n) estimator is used because it is
    positive semi-definite, and it is computed with zero-padded FFTs in O(n log n).
    """
    n = y.shape[1]
    centred = y - y.mean(axis=(0, 1))
    size = fft.next_fast_len(2 * n, real=True)  # padding to 2n keeps the circular products linear
    spectrum = fft.rfft(centred, n=size, axis=1)
    products = fft.irfft(spectrum * spectrum.conj(), n=size, axis=1)[:, :n]
    return products.mean(axis=0) / n


def _check_not_constant(gamma0: np.ndarray, owner: str, scalar: bool) -> None:
    if np.any(gamma0 <= 0):
        which = "" if scalar else f" (statistic {int(np.flatnonzero(gamma0 <= 0)[0])})"
        raise DiagnosticsError(
            f"{owner}: the statistic{which} is constant over every draw, so its autocorrelation "
            "is undefined. Leave constant statistics out."
        )


def autocorrelation(x: ArrayLike) -> Any:
    """Normalised autocorrelation function of one statistic along the chains.

    Parameters
    ----------
    x : array_like of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)
        Draws of a statistic, chains first (see the module docstring).

    Returns
    -------
    rho : ndarray of shape (n_draws,) or (n_draws, n_stats)
        ρ_t for lags t = 0 … n_draws − 1; ρ_0 = 1.

    Raises
    ------
    DiagnosticsError
        For a wrong shape, fewer than 2 draws, a non-finite draw or a constant statistic.

    Notes
    -----
    With μ̂ the mean over all chains and draws, γ̂_t = (1/n) Σ_s (x_s − μ̂)(x_{s+t} − μ̂) is
    computed for each chain by FFT and averaged over the chains; ρ̂_t = γ̂_t / γ̂_0.

    Examples
    --------
    >>> import numpy as np, samplers
    >>> x = np.sin(np.arange(400) / 10.0)          # a slowly varying series
    >>> rho = samplers.diagnostics.autocorrelation(x)
    >>> float(rho[0]), bool(rho[1] > 0.9)
    (1.0, True)
    """
    owner = "autocorrelation"
    y, scalar = _as_chains(x, owner, min_draws=2)
    gamma = _autocovariance(y)
    _check_not_constant(gamma[0], owner, scalar)
    rho = gamma / gamma[0]
    return rho[:, 0] if scalar else rho


def _sokal(rho: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """τ̂ and its window for each column of ρ̂ (n_draws, n_stats), by Sokal's rule: the
    smallest window M with M ≥ c·τ̂(M), where τ̂(M) = 1 + 2 Σ_{t=1..M} ρ̂_t. Where no window
    qualifies, the window is -1 and τ̂ the full sum (the caller reports the chain as too short)."""
    partial = 1.0 + 2.0 * np.cumsum(rho[1:], axis=0)  # row M-1 holds τ̂(M)
    lags = np.arange(1, rho.shape[0])[:, None]
    ok = lags >= c * partial
    first = np.argmax(ok, axis=0)
    found = ok[first, np.arange(ok.shape[1])]
    columns = np.arange(partial.shape[1])
    tau = np.where(found, partial[first, columns], partial[-1, columns])
    return tau, np.where(found, first + 1, -1)


def integrated_time(x: ArrayLike, c: float = 5.0, per_chain: bool = False, min_draws_per_tau: float = 50.0) -> Any:
    """Integrated autocorrelation time τ = 1 + 2 Σ_{t≥1} ρ_t, with Sokal's automatic window.

    The variance of a mean of n correlated draws is about τ σ² / n: a chain of n draws is
    worth n / τ independent ones.

    Parameters
    ----------
    x : array_like of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)
        Draws of a statistic, chains first.
    c : float, default 5.0
        Sokal's window constant: the sum stops at the smallest lag M with M ≥ c·τ̂(M).
    per_chain : bool, default False
        False pools the chains (one autocorrelation function averaged over them); True gives
        one τ̂ per chain, each from that chain alone.
    min_draws_per_tau : float, default 50.0
        Refuse estimates from chains shorter than this many τ̂ (the window is then too short
        and τ̂ biased low). 0 accepts any estimate for which a window exists.

    Returns
    -------
    tau : float or ndarray
        A float for one statistic pooled; shape (n_chains,) per chain; a trailing axis of
        length n_stats for several statistics.

    Raises
    ------
    DiagnosticsError
        For bad draws (see :func:`autocorrelation`), fewer than 4 draws, or chains too short
        for a self-consistent window or for ``min_draws_per_tau``.

    Notes
    -----
    Sokal's window is used rather than Geyer's initial monotone sequence because it has a
    known error, var(τ̂) ≈ 2(2M + 1) τ² / N for N draws in all (Sokal 1997; Madras and Sokal
    1988), which lets tests set tolerances from first principles, and because it vectorises
    over many statistics at once. With c = 5 the bias from the truncated tail is about
    e^{-5} for exponentially decaying correlations. Geyer's sequence is safer for chains with
    strongly negative or oscillating correlation, which heat-bath and Metropolis samplers
    of these models rarely show.

    References
    ----------
    A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and new
    algorithms", in Functional Integration, Springer (1997).
    N. Madras and A. D. Sokal, J. Stat. Phys. 50, 109 (1988).

    Examples
    --------
    An AR(1) series with coefficient φ = 0.8 has τ = (1 + φ) / (1 − φ) = 9:

    >>> import numpy as np, scipy.signal, samplers
    >>> noise = np.random.default_rng(1).normal(size=(8, 20_000))
    >>> x = scipy.signal.lfilter([0.6], [1, -0.8], noise, axis=1)
    >>> tau = samplers.diagnostics.integrated_time(x)   # sd of the estimate: about 0.3
    >>> bool(abs(tau - 9) < 1.5)
    True
    """
    owner = "integrated_time"
    if not (isinstance(c, int | float) and np.isfinite(c) and c > 0):
        raise DiagnosticsError(f"The 'c' argument of {owner} must be a finite number > 0; got {c!r}.")
    y, scalar = _as_chains(x, owner, min_draws=4)
    n_chains, n_draws, n_stats = y.shape
    if per_chain:  # each chain becomes its own statistic of a single-chain array
        y = y.transpose(1, 0, 2).reshape(1, n_draws, n_chains * n_stats)
    gamma = _autocovariance(y)
    _check_not_constant(gamma[0], owner, scalar and not per_chain)
    tau, window = _sokal(gamma / gamma[0], c)
    _check_length(tau, window, n_draws, min_draws_per_tau, owner)
    if per_chain:
        tau = tau.reshape(n_chains, n_stats)
        return tau[:, 0] if scalar else tau
    return _out(tau, scalar)


def _check_length(tau: np.ndarray, window: np.ndarray, n_draws: int, per_tau: float, owner: str) -> None:
    if np.any(window < 0):
        raise DiagnosticsError(
            f"{owner}: {n_draws} draws per chain are too few for a self-consistent window (the "
            "correlations have not decayed within the chain). Record many more draws."
        )
    worst = float(tau.max())
    if n_draws < per_tau * worst:
        raise DiagnosticsError(
            f"{owner}: {n_draws} draws per chain are fewer than {per_tau:g} × τ̂ = "
            f"{per_tau * worst:.0f}, so τ̂ = {worst:.3g} is unreliable. Record at least "
            f"{int(np.ceil(per_tau * worst))} draws per chain, or pass min_draws_per_tau=0 to "
            "accept a rough estimate."
        )


def effective_sample_size(x: ArrayLike, c: float = 5.0, min_draws_per_tau: float = 50.0) -> Any:
    """Effective sample size n_chains · n_draws / τ̂ of the pooled chains.

    Parameters
    ----------
    x : array_like of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)
        Draws of a statistic, chains first.
    c, min_draws_per_tau : float
        As in :func:`integrated_time`.

    Returns
    -------
    ess : float or ndarray of shape (n_stats,)

    Raises
    ------
    DiagnosticsError
        As :func:`integrated_time`.

    See Also
    --------
    integrated_time, mcse

    Examples
    --------
    >>> import numpy as np, samplers
    >>> draws = np.random.default_rng(2).normal(size=(4, 5000))
    >>> bool(abs(samplers.diagnostics.ess(draws) / 20_000 - 1) < 0.1)
    True
    """
    y, scalar = _as_chains(x, "effective_sample_size", min_draws=4)
    tau = integrated_time(y, c=c, min_draws_per_tau=min_draws_per_tau)
    return _out(y.shape[0] * y.shape[1] / tau, scalar)


ess = effective_sample_size


def mcse(x: ArrayLike, c: float = 5.0, min_draws_per_tau: float = 50.0) -> Any:
    """Monte Carlo standard error of the mean over all draws: sd / sqrt(ESS).

    Parameters
    ----------
    x : array_like of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)
        Draws of a statistic, chains first.
    c, min_draws_per_tau : float
        As in :func:`integrated_time`.

    Returns
    -------
    mcse : float or ndarray of shape (n_stats,)

    Raises
    ------
    DiagnosticsError
        As :func:`integrated_time`.

    Examples
    --------
    >>> import numpy as np, samplers
    >>> draws = np.random.default_rng(3).normal(size=(4, 2500))
    >>> bool(abs(samplers.diagnostics.mcse(draws) - 0.01) < 0.001)    # 1 / sqrt(10 000)
    True
    """
    y, scalar = _as_chains(x, "mcse", min_draws=4)
    size = effective_sample_size(y, c=c, min_draws_per_tau=min_draws_per_tau)
    sd = y.reshape(-1, y.shape[2]).std(axis=0, ddof=1)
    return _out(sd / np.sqrt(size), scalar)


def _rhat(y: np.ndarray) -> np.ndarray:
    """Split R-hat of (n_chains, n_draws, n_stats) draws (Gelman et al., BDA3 §11.4)."""
    half = y.shape[1] // 2
    # the middle draw of an odd-length chain is dropped so that both halves are equal
    split = np.concatenate([y[:, :half], y[:, y.shape[1] - half :]], axis=0)
    within = split.var(axis=1, ddof=1).mean(axis=0)
    between = split.mean(axis=1).var(axis=0, ddof=1)  # B / n in BDA3's notation
    if np.any(within <= 0):
        raise DiagnosticsError(
            "split_rhat: a statistic is constant within every half-chain, so R-hat is undefined. "
            "Leave constant statistics out."
        )
    return np.sqrt(((half - 1) / half * within + between) / within)


def _normal_scores(y: np.ndarray) -> np.ndarray:
    """Rank-normalise over all chains and draws (Blom's offsets, as Vehtari et al. 2021)."""
    flat = y.reshape(-1, y.shape[2])
    ranks = _average_ranks(flat)
    return special.ndtri((ranks - 0.375) / (flat.shape[0] + 0.25)).reshape(y.shape)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks (from 1) of each column of ``x``, ties given the mean of their ranks (as
    ``scipy.stats.rankdata``, whose module costs a second to import)."""
    n = x.shape[0]
    order = np.argsort(x, axis=0, kind="stable")
    ordered = np.take_along_axis(x, order, axis=0)
    place = np.broadcast_to(np.arange(n)[:, None], x.shape)
    starts = np.ones(x.shape, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]  # where a run of equal values begins
    ends = np.ones(x.shape, dtype=bool)
    ends[:-1] = starts[1:]
    first = np.maximum.accumulate(np.where(starts, place, 0), axis=0)
    last = np.minimum.accumulate(np.where(ends, place, n - 1)[::-1], axis=0)[::-1]
    ranks = np.empty(x.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=0)
    return ranks


def split_rhat(x: ArrayLike, rank_normalize: bool = False) -> Any:
    """Split R-hat: do the chains, each cut in two halves, agree with one another?

    Parameters
    ----------
    x : array_like of shape (n_draws,), (n_chains, n_draws) or (n_chains, n_draws, n_stats)
        Draws of a statistic, chains first. One chain is allowed: its two halves are compared.
    rank_normalize : bool, default False
        Use the rank-normalised form of Vehtari et al. (2021): the larger of the split R-hat of
        the normal scores of the ranks and that of the folded draws ``|x − median|``. It is
        robust to heavy tails and also detects chains that differ in spread only.

    Returns
    -------
    rhat : float or ndarray of shape (n_stats,)
        About 1 for chains sampling the same distribution; values above 1.01 (Vehtari et al.)
        or, more leniently, 1.1 (Gelman et al.) mean the chains have not mixed.

    Raises
    ------
    DiagnosticsError
        For bad draws, fewer than 4 draws per chain, or a statistic constant within every
        half-chain.

    Notes
    -----
    With 2m half-chains of n draws, W the mean within-half variance and B/n the variance of
    the half means, R̂ = sqrt(((n − 1)/n · W + B/n) / W). Splitting catches a trend within
    each chain as well as disagreement between chains.

    References
    ----------
    A. Gelman et al., Bayesian Data Analysis, 3rd ed., §11.4 (2013).
    A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner, "Rank-normalization,
    folding, and localization: an improved R-hat", Bayesian Analysis 16, 667 (2021).

    Examples
    --------
    >>> import numpy as np, samplers
    >>> draws = np.random.default_rng(4).normal(size=(4, 1000))
    >>> bool(samplers.diagnostics.split_rhat(draws) < 1.01)
    True
    >>> draws[0] += 2.0                                  # one chain elsewhere
    >>> bool(samplers.diagnostics.split_rhat(draws) > 1.1)
    True
    """
    y, scalar = _as_chains(x, "split_rhat", min_draws=4)
    if rank_normalize:
        folded = np.abs(y - np.median(y.reshape(-1, y.shape[2]), axis=0))
        rhat = np.maximum(_rhat(_normal_scores(y)), _rhat(_normal_scores(folded)))
    else:
        rhat = _rhat(y)
    return _out(rhat, scalar)


def acceptance_rates(infos: Sequence[SweepInfo], key: str = "acceptance_rate") -> np.ndarray:
    """Acceptance rates a sampler reported in ``SweepInfo.extra``, averaged over runs.

    Parameters
    ----------
    infos : sequence of SweepInfo
        What successive ``run`` calls returned.
    key : str, default "acceptance_rate"
        The entry of ``extra`` that holds the rate of each run: a number, or one number per
        colour (or per move type) in a fixed order.

    Returns
    -------
    rates : ndarray
        The mean rate, each run weighted by its number of sweeps; shape () for a scalar rate,
        otherwise the shape of the reported entries.

    Raises
    ------
    DiagnosticsError
        When ``infos`` is empty, a run lacks ``key`` (the message lists the keys it has), the
        entries differ in shape, or a rate is outside [0, 1].

    Examples
    --------
    >>> import samplers
    >>> infos = [samplers.SweepInfo(1, 10, 4, {"acceptance_rate": [0.4, 0.6]}),
    ...          samplers.SweepInfo(3, 30, 9, {"acceptance_rate": [0.2, 0.2]})]
    >>> samplers.diagnostics.acceptance_rates(infos).round(2).tolist()
    [0.25, 0.3]
    """
    owner = "acceptance_rates"
    infos = list(infos)
    if not infos:
        raise DiagnosticsError(f"{owner} got no SweepInfo records. Pass what sampler.run returned.")
    missing = next((i for i, info in enumerate(infos) if key not in getattr(info, "extra", {})), None)
    if missing is not None:
        have = sorted(getattr(infos[missing], "extra", {}))
        raise DiagnosticsError(
            f"{owner}: run {missing} reported no '{key}' in SweepInfo.extra (it has {have}). "
            "Pass the key this sampler uses, or use SweepInfo.change_rate for samplers without one."
        )
    try:
        rates = np.array([np.asarray(info.extra[key], dtype=np.float64) for info in infos])
    except ValueError as exc:
        raise DiagnosticsError(f"{owner}: the '{key}' entries differ in shape from run to run.") from exc
    if not np.all((rates >= 0) & (rates <= 1)):
        raise DiagnosticsError(f"{owner}: some '{key}' entries are not rates in [0, 1] (NaN included).")
    weights = np.array([info.n_sweeps for info in infos], dtype=np.float64)
    if weights.sum() <= 0:
        raise DiagnosticsError(f"{owner}: every run had 0 sweeps; there is nothing to average.")
    return np.tensordot(weights, rates, axes=1) / weights.sum()
