"""Quality at the returned θ: fresh chains, run to equilibrium, measured against the targets.

Persistent training chains follow θ and lag behind it, so a figure read from them describes
where the chains are, not the model at the θ a fit returns. Every quality figure is therefore
measured here on **fresh** chains, started from scratch at that θ and run until independent
chains agree (the burn-in test lives in :mod:`factorgraph._equilibrate`, the connected
correlations in :mod:`factorgraph._connected`; both are offered here):

* :func:`equilibrate` runs ``n_chains`` new chains in doubling rounds (16, 32, 64, ... sweeps
  in all). During each round it records, after every sweep (thinned to at most
  ``MAX_DRAWS`` draws per chain in long rounds), the energy θ·f(x) of every chain and
  ``N_PROJECTIONS`` fixed random ±1 projections of the chains' state values (so that a model
  whose energy is flat, θ = 0 included, is still checked). Burn-in ends when, on that round
  (the second half of the sweeps so far), every recorded statistic that varies has
  rank-normalised split R-hat ≤ ``rhat_tol`` over the chains, and an integrated
  autocorrelation time τ̂ short enough that each chain holds at least
  ``MIN_DRAWS_PER_TAU`` (10) independent draws of it, and at least ``MIN_ESS`` (100) in
  all. With ``MANY_CHAINS`` (64) chains or more, the chains' forgetting their start may stand
  in for the R-hat and per-chain tests (R-hat at 1.01 asks each chain for about 100
  independent draws, far more than burn-in needs when hundreds of chains share the work):
  across chains, each chain's first and last draw of the round are uncorrelated, and the
  pooled mean does not drift between the round's halves, both within ``FORGET_Z`` (3)
  standard errors; the round (as long as the discarded sweeps before it) must span
  ``FORGET_TAUS`` (4) τ̂, and the total ESS must still reach ``MIN_ESS``. Then one measurement run
  averages the feature means over every sweep.
* :func:`assess` adds the comparison with the targets: z-scores in units of the Monte Carlo
  standard error (the training monitor's formula, :func:`factorgraph._monitor.standard_errors`,
  which credits the averaged sweeps by their measured correlation) and the Pearson
  correlation of connected two-site correlations (:func:`pearson_connected`).

Examples
--------
>>> import numpy as np, factorgraph as fg
>>> g = fg.FactorGraph()
>>> s = g.add_variables(4, values=[-1, 1])
>>> _ = g.add_features(fg.features.Product(s), name="fields")
>>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3)]), name="couplings")
>>> theta = np.array([0.1, -0.2, 0.0, 0.3, 0.5, -0.4, 0.6])
>>> found = fg.assess(g, theta, fg.exact.expectations(g, theta), seed=0)
>>> found.equilibrated, found.ok()
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._connected import PairStructure, connected_correlations, pearson_connected, pearson_of
from factorgraph._equilibrate import ROUNDING, Equilibrium, equilibrate, equilibrate_checked
from factorgraph._monitor import TwoValued, group_standard_errors, max_z_bound, standard_errors
from factorgraph._validation import check_int, check_targets, check_theta, describe_feature
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import GraphLike

__all__ = [
    "assess",
    "Assessment",
    "equilibrate",
    "Equilibrium",
    "summarise",
    "rms_z_bound",
    "connected_correlations",
    "pearson_connected",
]


@dataclass(frozen=True, repr=False, eq=False)
class Assessment:
    """How well the model at one θ matches its targets, measured on fresh chains (:func:`assess`).

    Attributes
    ----------
    z : ndarray of shape (n_features,)
        (target − mean) / stderr per feature, signed; 0 where the two are equal (to the
        rounding of the running sums).
    rms : float
        The root mean square of ``z`` over the features: about 1 when the model matches.
    max : float
        The largest ``|z|``.
    pearson : float or None
        The Pearson correlation of the target's and the model's connected two-site
        correlations (:func:`pearson_connected`); None when the model has no pair features
        it applies to, NaN when either side has no spread.
    mean : ndarray of shape (n_features,)
        The feature means of the fresh chains, averaged over the measurement sweeps.
    stderr : ndarray of shape (n_features,)
        Their Monte Carlo standard errors, the denominators of ``z``: never below the feature's
        range over the number of draws, nor below ``1e-9 * max(1, |mean|)``, the rounding of the
        sampler's running sums (a feature constant over the draws is resolved to that).
    target : ndarray of shape (n_features,)
    rhat, ess : float
        The largest split R-hat and the smallest ESS of the traced statistics at the end of the
        burn-in (see :class:`Equilibrium`).
    burn_in, n_sweeps, n_chains : int
        Burn-in sweeps, measurement sweeps and chains.
    equilibrated : bool
        False when a budget ran out before the chains agreed: the figures are then unreliable.
    seconds : float
        Wall-clock time.
    message : str
        One line saying what was found.
    max_bound : float
        sqrt(2 ln 2K) + 3 for K features: the largest of K standard normal ``|z|`` stays below it
        with overwhelming probability, however they are correlated (the default ``max_tol``
        of :meth:`ok`, and the training monitor's bound).
    sampler : str
        The sampler's name.
    rms_bound : float
        The default ``rms_tol`` of :meth:`ok` (:func:`rms_z_bound`): 1.5, raised for fewer than
        about 50 features, where the RMS of K standard normal z often exceeds 1.5.
    residual, residual_max : float
        The standardised residual of a whole training objective at this θ (RMS and maximum),
        filled in by the training loop's check of its result; NaN from :func:`assess`.
    failures : tuple of str
        The criteria a training result failed at this θ, each with what to change (filled in by
        the training loop); empty from :func:`assess`.
    """

    z: np.ndarray
    rms: float
    max: float
    pearson: float | None
    mean: np.ndarray
    stderr: np.ndarray
    target: np.ndarray
    rhat: float
    ess: float
    burn_in: int
    n_sweeps: int
    n_chains: int
    equilibrated: bool
    seconds: float
    message: str
    max_bound: float
    sampler: str = "gibbs"
    rms_bound: float = math.nan  # NaN: rms_z_bound(K), filled in after construction
    residual: float = math.nan
    residual_max: float = math.nan
    failures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if math.isnan(self.rms_bound):
            object.__setattr__(self, "rms_bound", rms_z_bound(len(self.z)))

    def ok(self, rms_tol: float | None = None, max_tol: float | None = None) -> bool:
        """Whether the model matches its targets within the Monte Carlo noise.

        Parameters
        ----------
        rms_tol : float, optional
            The largest acceptable :attr:`rms` (default :attr:`rms_bound`: 1.5 for 50 features
            or more; the training loop's ``mismatch_tol`` is 1.5 too).
        max_tol : float, optional
            The largest acceptable :attr:`max` (default :attr:`max_bound`).

        Returns
        -------
        bool
            ``rms <= rms_tol and max <= max_tol``. It does not look at :attr:`equilibrated`;
            check that too (the command ``factorgraph check`` requires both).
        """
        rms_bound = self.rms_bound if rms_tol is None else rms_tol
        max_bound = self.max_bound if max_tol is None else max_tol
        return bool(self.rms <= rms_bound and self.max <= max_bound)

    def worst(self, n: int = 5) -> np.ndarray:
        """The θ indices of the ``n`` features with the largest ``|z|``, largest first."""
        n = check_int("n", n, "Assessment.worst", minimum=0)
        return np.argsort(-np.abs(self.z), kind="stable")[:n]

    def describe(self, graph: GraphLike, n: int = 5) -> list[str]:
        """Lines naming the ``n`` features with the largest ``|z|``, largest first: each feature's
        group and scope, its z, target, fresh mean and standard error.

        Parameters
        ----------
        graph : FactorGraph or CompiledGraph
            The model assessed (for the names of the groups and scopes).
        n : int, default 5

        Returns
        -------
        list of str
        """
        compiled = as_compiled(graph)
        return [
            f"{describe_feature(compiled, int(k))}: z {self.z[k]:+.3g} (target {self.target[k]:.6g}, "
            f"model {self.mean[k]:.6g} ± {self.stderr[k]:.2g})"
            for k in self.worst(n)
        ]

    def __repr__(self) -> str:
        verdict = "ok" if self.ok() else "MISMATCH"
        return f"<Assessment ({verdict}): {self.message}; {self.n_chains} chains, {self.seconds:.3g} s>"


def rms_z_bound(n_features: int, rms_tol: float = 1.5, alpha: float = 1e-6) -> float:
    """The default bound on the RMS of K z-scores: ``rms_tol``, or, when that is smaller,
    sqrt(q / K) with q the 1 − ``alpha`` quantile of χ² with K degrees of freedom.

    The RMS of K independent standard normal z exceeds 1.5 with probability P(χ²_K > 2.25 K):
    about 2% for K = 9 and below 1e-6 from K ≈ 50 on, so few features need a wider bound.
    Correlated z (a Potts model's one-hot tables) have fewer degrees of freedom and a heavier
    tail; the maximum's bound (:attr:`Assessment.max_bound`) holds however they correlate.

    Examples
    --------
    >>> from factorgraph.assessment import rms_z_bound
    >>> round(rms_z_bound(9), 2), rms_z_bound(2080)
    (2.23, 1.5)
    """
    from scipy.stats import chi2

    k = max(int(n_features), 1)
    return float(max(rms_tol, math.sqrt(chi2.isf(alpha, k) / k)))


def assess(
    graph: GraphLike,
    theta: ArrayLike,
    target: ArrayLike,
    *,
    n_chains: int = 256,
    sampler: str = "gibbs",
    seed: int | np.random.SeedSequence | None = None,
    n_threads: int | None = None,
    max_sweeps: int = 20_000,
    time_budget: float | None = None,
    measure_sweeps: int | None = None,
    rhat_tol: float = 1.01,
    progress: bool | None = None,
    **sampler_options: Any,
) -> Assessment:
    """Does the model at ``theta`` match ``target``? Measured on fresh chains run to equilibrium.

    The chains are new, started from the sampler's initial states, burnt in until split R-hat
    and the effective sample size say that independent chains agree (:func:`equilibrate`), then
    averaged over a measurement run. Each feature mean is compared with its target in units of
    its Monte Carlo standard error (MCSE), which accounts for the correlation between the
    averaged sweeps: se_k = sqrt(σ²_k / ESS_k), the training monitor's formula. σ²_k is exact
    for features that take two values (one-hot and ±1 or 0/1 products: (m − lo)(hi − m), the
    larger of its values at the fresh mean and at the target, so that rare states are not
    over-flagged), else the variance over the chains' final states. Fixed features are compared
    too.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)
        The parameters to assess (e.g. ``FitResult.theta``).
    target : array_like of shape (n_features,)
        The target feature means (e.g. ``fg.moments(g, data)``).
    n_chains : int, default 256
        Fresh chains, at least 2.
    sampler : str, default "gibbs"
    seed : int, SeedSequence or None
        The same seed gives a bit-identical assessment for any thread count (the timings and a
        ``time_budget`` cut aside).
    n_threads : int, optional
    max_sweeps : int, default 20000
    time_budget : float, optional
    measure_sweeps : int, optional
    rhat_tol : float, default 1.01
    progress : bool or None, default None
        See :func:`equilibrate`.
    **sampler_options
        Passed to the sampler.

    Returns
    -------
    Assessment
        ``ok()`` says whether the model matches within noise; ``equilibrated`` whether the
        figures can be trusted. :func:`summarise` builds it from an :class:`Equilibrium`.

    Raises
    ------
    DataError
        For θ or targets of the wrong shape or not finite.
    ModelSpecError
        For fewer than 2 chains or bad budgets (see :func:`equilibrate`).
    PluginError
        For an unknown sampler.

    See Also
    --------
    equilibrate, pearson_connected

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> s = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product(s), name="fields")
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="pairs")
    >>> theta = np.array([0.2, 0.0, -0.1, 0.5, 0.5])
    >>> target = fg.exact.expectations(g, theta)
    >>> fg.assess(g, theta, target, seed=0).ok()
    True
    >>> theta[3] += 0.5                              # one coupling off
    >>> fg.assess(g, theta, target, seed=0).ok()
    False
    """
    owner = "assess"
    compiled = as_compiled(graph)
    theta = check_theta(theta, compiled.n_features, owner)
    target = check_targets(compiled, target, owner)
    found = equilibrate_checked(
        compiled,
        theta,
        sampler,
        n_chains,
        seed,
        n_threads,
        max_sweeps,
        time_budget,
        measure_sweeps,
        rhat_tol,
        progress,
        sampler_options,
        owner,
    )
    return summarise(compiled, found, target, sampler=sampler)


def summarise(
    graph: GraphLike,
    found: Equilibrium,
    target: ArrayLike,
    sampler: str | None = None,
    compared: np.ndarray | None = None,
) -> Assessment:
    """The :class:`Assessment` of chains that :func:`equilibrate` ran: their means against
    ``target`` (what :func:`assess` returns).

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    found : Equilibrium
    target : array_like of shape (n_features,)
    sampler : str, optional
        The sampler's name, for the report (default: ``found.sampler.name``).
    compared : ndarray of bool, shape (n_features,), optional
        The features that have a target (default: all). The others get z = 0 and are left
        out of ``rms`` and ``max``; the Pearson needs every feature compared.

    Returns
    -------
    Assessment
    """
    compiled = as_compiled(graph)
    compared = np.ones(compiled.n_features, dtype=bool) if compared is None else np.asarray(compared, dtype=bool)
    target = np.array(check_targets(compiled, target, "summarise"), dtype=np.float64)  # a copy: frozen below
    stats = found.sampler.stats()
    mean = np.array(stats.mean, dtype=np.float64)
    se, floor = standard_errors(
        compiled, stats, found.sampler.states, variance=TwoValued(compiled).variance(mean, target)
    )
    # the running sums round (1e-9 relative at most): a constant feature equal to its target is z = 0
    rounding = ROUNDING * np.maximum(1.0, np.abs(mean))
    stderr = np.maximum(np.maximum(se, floor), rounding)
    spread = group_standard_errors(stats)  # independent groups of chains: no correlation time needed
    if spread is not None:
        stderr = np.maximum(stderr, spread)
    difference = target - mean
    with np.errstate(over="ignore"):
        z = np.where((np.abs(difference) <= rounding) | ~compared, 0.0, difference / stderr)
        rms = float(np.sqrt(np.mean(z[compared] ** 2))) if compared.any() else 0.0
    largest = float(np.abs(z).max(initial=0.0))
    pairs = PairStructure.of(compiled)
    pearson = None if pairs is None else pearson_of(pairs.connected(target), pairs.connected(mean))
    if not compared.all():
        pearson = None
    text = f"rms z {rms:.3g}, max |z| {largest:.3g} over {int(compared.sum())} features"
    if pearson is not None:
        text += f", Pearson of connected correlations {pearson:.4g}"
    text += f"; {found.message}"
    for array in (z, mean, stderr, target):
        array.flags.writeable = False
    name = sampler if sampler is not None else str(getattr(found.sampler, "name", "?"))
    return Assessment(
        z=z,
        rms=rms,
        max=largest,
        pearson=pearson,
        mean=mean,
        stderr=stderr,
        target=target,
        rhat=found.rhat,
        ess=found.ess,
        burn_in=found.burn_in,
        n_sweeps=found.n_sweeps,
        n_chains=found.sampler.n_chains,
        equilibrated=found.equilibrated,
        seconds=found.seconds,
        message=text,
        max_bound=max_z_bound(compiled.n_features),
        sampler=name,
    )
