"""Quality at the returned θ: fresh chains, run to equilibrium, measured against the targets.

Persistent training chains follow θ and lag behind it, so a figure read from them describes
where the chains are, not the model at the θ a fit returns. Every quality figure is therefore
measured here on **fresh** chains, started from scratch at that θ and run until independent
chains agree:

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

import inspect
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from factorgraph._errors import DiagnosticsError, ModelSpecError
from factorgraph._monitor import TwoValued, group_standard_errors, max_z_bound, standard_errors
from factorgraph._progress import progress_bar
from factorgraph._validation import check_int, check_targets, check_theta, describe_feature, message
from factorgraph.compiled import as_compiled

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

FIRST_ROUND = 16  # sweeps in all at the first check; each round doubles them
MAX_DRAWS = 64  # draws per chain recorded in one round; longer rounds are thinned (each draw costs a run)
MIN_DRAWS_PER_TAU = 10  # each chain's window must hold this many independent draws of every statistic
MIN_ESS = 100  # and all chains together at least this many
MANY_CHAINS = 64  # from this many chains on, the chains forgetting their start may stand in for R-hat
FORGET_Z = 3.0  # the forgetting and drift tests' bound, in standard errors
FORGET_TAUS = 4  # ... and the round (as long as the burn-in before it) spans this many τ̂
N_PROJECTIONS = 2  # random ±1 projections of the state values traced besides the energy
MIN_MEASURE = 100  # the default measurement run: at least this many sweeps ...
MEASURE_PER_TAU = 10  # ... and this many integrated times of the slowest traced statistic
MIN_TIMED_MEASURE = 16  # the fewest measurement sweeps when the time budget is spent
BATCHES = 8  # groups of chains whose per-sweep means measure the correlation of averaged sweeps
ROUNDING = 1e-9  # the relative rounding of a sampler's running sums (a floor of the standard error)
SERIAL_ENERGY_BELOW = 2**16  # chains x factors below which the recorded energies take one thread
_PROJECTION_SEED = 0x5EED_A55E  # fixed: the projections are statistics, not randomness of the run


# -- equilibration ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class Equilibrium:
    """Fresh chains run to equilibrium at one θ, then measured (see :func:`equilibrate`).

    Attributes
    ----------
    sampler : Sampler
        The chains after the measurement run: ``sampler.stats()`` holds the feature means
        averaged over the measurement sweeps (with the per-sweep batch means the standard
        error needs) when ``averaged``, else over the final states; ``sampler.states`` the
        final states.
    burn_in : int
        Sweeps run before the measurement.
    n_sweeps : int
        Sweeps of the measurement run (0 when the sampler cannot average over sweeps: then the
        final states of the burn-in are the sample).
    rhat : float
        The largest rank-normalised split R-hat of the traced statistics in the last round of
        the burn-in (NaN when none of them varies).
    ess : float
        The smallest effective sample size of the traced statistics in that round, all chains
        together (NaN when none varies; 0 when a correlation time could not be estimated).
    tau : float
        The largest integrated autocorrelation time of the traced statistics, in sweeps (an
        upper estimate when the round was thinned; inf when it could not be estimated).
    equilibrated : bool
        Whether the burn-in ended by the R-hat and ESS test rather than by a budget.
    averaged : bool
        Whether ``sampler.stats()`` averages the measurement sweeps.
    seconds : float
        Wall-clock time of the burn-in and the measurement.
    reason : str
        Why the burn-in ended, in words.
    """

    sampler: Any
    burn_in: int
    n_sweeps: int
    rhat: float
    ess: float
    tau: float
    equilibrated: bool
    averaged: bool
    seconds: float
    reason: str

    @property
    def message(self) -> str:
        """One line: how the burn-in ended."""
        return self.reason

    def __repr__(self) -> str:
        return (
            f"<Equilibrium: {self.reason}; {self.n_sweeps} measurement sweeps of "
            f"{self.sampler.n_chains} chains, {self.seconds:.3g} s>"
        )


def equilibrate(
    graph: Any,
    theta: Any,
    *,
    sampler: str = "gibbs",
    n_chains: int = 256,
    seed: int | np.random.SeedSequence | None = None,
    n_threads: int | None = None,
    max_sweeps: int = 20_000,
    time_budget: float | None = None,
    measure_sweeps: int | None = None,
    rhat_tol: float = 1.01,
    progress: bool | None = None,
    **options: Any,
) -> Equilibrium:
    """Run fresh chains at ``theta`` until they agree, then measure the feature means.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)
    sampler : str, default "gibbs"
        A name from ``samplers.available()``. Samplers that take ``average_sweeps`` (gibbs,
        mh, block-gibbs, swendsen-wang) average the measurement over every sweep; others are
        measured on their final states.
    n_chains : int, default 256
        Independent chains, at least 2 (R-hat compares chains).
    seed : int, SeedSequence or None
        Seeds the chains. The same seed gives the same bits for any thread count (unless
        ``time_budget`` cuts the run, which depends on the machine's speed).
    n_threads : int, optional
        Sampler threads (None: the sampler's default).
    max_sweeps : int, default 20000
        The most burn-in sweeps (at least 16); the default measurement run is at most
        max(max_sweeps, 100) sweeps.
    time_budget : float, optional
        Seconds of wall-clock time for the burn-in and the measurement: no burn-in round starts
        that would end past it, and the default measurement run is shortened to fit (to no
        fewer than 16 sweeps).
    measure_sweeps : int, optional
        Sweeps of the measurement run. Default: max(100, 10 τ̂), τ̂ the largest integrated
        autocorrelation time (in sweeps) of the traced statistics, within the budgets.
    rhat_tol : float, default 1.01
        Burn-in ends when the rank-normalised split R-hat of every traced statistic is at most
        this (Vehtari et al. 2021) and the effective sample size is large enough, or, with 64
        chains or more, when the chains have forgotten their starting states (see the module
        documentation).
    progress : bool or None, default None
        A progress bar of sweeps (None: when standard error is a terminal, not under CI).
    **options
        Passed to the sampler (e.g. ``block_size``). ``average_sweeps`` and ``block_size``
        are chosen here unless given.

    Returns
    -------
    Equilibrium

    Raises
    ------
    DataError
        For a θ of the wrong shape or with NaN or infinite entries.
    ModelSpecError
        For fewer than 2 chains, a bad budget or tolerance, or sampler options the sampler
        does not take.
    PluginError
        For an unknown sampler name.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> from factorgraph.assessment import equilibrate
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> eq = equilibrate(g, np.array([0.4, -0.3]), n_chains=64, seed=1)
    >>> eq.equilibrated, eq.sampler.stats().n_averaged == eq.n_sweeps
    (True, True)
    """
    compiled = as_compiled(graph)
    theta = check_theta(theta, compiled.n_features, "equilibrate")
    return _equilibrate(
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
        options,
        "equilibrate",
    )


def _equilibrate(
    compiled: Any,
    theta: np.ndarray,
    sampler: Any,
    n_chains: Any,
    seed: Any,
    n_threads: Any,
    max_sweeps: Any,
    time_budget: Any,
    measure_sweeps: Any,
    rhat_tol: Any,
    progress: bool | None,
    options: dict[str, Any],
    owner: str,
) -> Equilibrium:
    settings = _Settings.check(owner, n_chains, max_sweeps, time_budget, measure_sweeps, rhat_tol)
    chains, averaged = _create(sampler, compiled, settings.n_chains, seed, n_threads, options, owner)
    return _Run(compiled, theta, chains, averaged, settings, n_threads, progress).go()


@dataclass(frozen=True)
class _Settings:
    n_chains: int
    max_sweeps: int
    time_budget: float | None
    measure_sweeps: int | None
    rhat_tol: float

    @classmethod
    def check(
        cls, owner: str, n_chains: Any, max_sweeps: Any, time_budget: Any, measure_sweeps: Any, rhat_tol: Any
    ) -> _Settings:
        if isinstance(n_chains, int | np.integer) and not isinstance(n_chains, bool) and n_chains < 2:
            raise ModelSpecError(
                message(
                    "n_chains",
                    owner,
                    "an int >= 2",
                    n_chains,
                    "Split R-hat compares independent chains, so it needs at least 2; use the default 256 or more.",
                )
            )
        n_chains = check_int("n_chains", n_chains, owner, minimum=2)
        max_sweeps = check_int("max_sweeps", max_sweeps, owner, minimum=FIRST_ROUND)
        if measure_sweeps is not None:
            measure_sweeps = check_int("measure_sweeps", measure_sweeps, owner, minimum=1)
        if time_budget is not None and not (_is_real(time_budget) and 0 < time_budget < math.inf):
            raise ModelSpecError(message("time_budget", owner, "a finite number of seconds > 0 or None", time_budget))
        if not (_is_real(rhat_tol) and 1 < rhat_tol < math.inf):
            raise ModelSpecError(
                message(
                    "rhat_tol",
                    owner,
                    "a finite number > 1",
                    rhat_tol,
                    "1.01 is the usual strict bound, 1.1 a lenient one.",
                )
            )
        return cls(
            n_chains, max_sweeps, None if time_budget is None else float(time_budget), measure_sweeps, float(rhat_tol)
        )


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _create(
    name: Any, compiled: Any, n_chains: int, seed: Any, n_threads: Any, options: dict[str, Any], owner: str
) -> tuple[Any, bool]:
    """The sampler, asked to average over sweeps (in at least BATCHES groups of chains, so
    that the correlation of the averaged sweeps can be measured) when it can."""
    import samplers
    from samplers._chains import MAX_SUMS_BYTES, default_block_size

    if not isinstance(name, str):
        raise ModelSpecError(message("sampler", owner, "a sampler name from samplers.available()", name))
    accepted = inspect.signature(samplers.get(name)).parameters
    options = dict(options)
    if n_threads is not None:
        options["n_threads"] = n_threads
    if "average_sweeps" in accepted:
        options.setdefault("average_sweeps", True)
    if options.get("average_sweeps") and "block_size" in accepted and "block_size" not in options:
        block = max(1, n_chains // BATCHES)
        n_blocks = -(-n_chains // block)
        if (
            block < default_block_size(n_chains, compiled.n_features)
            and n_blocks * compiled.n_features * 8 <= MAX_SUMS_BYTES
        ):
            options["block_size"] = block
    chains = samplers.create(name, compiled, n_chains, seed=seed, **options)
    return chains, bool(options.get("average_sweeps"))


class _Run:
    """One equilibration: the burn-in rounds, then the measurement run."""

    def __init__(
        self,
        compiled: Any,
        theta: np.ndarray,
        chains: Any,
        averaged: bool,
        settings: _Settings,
        n_threads: int | None,
        progress: bool | None,
    ) -> None:
        self.compiled, self.theta, self.chains, self.averaged = compiled, theta, chains, averaged
        self.settings = settings
        self.done = 0
        self.bar = progress_bar(settings.max_sweeps, progress, desc="assess", unit="sweep")
        self.signs = np.random.default_rng(_PROJECTION_SEED).choice(
            [-1.0, 1.0], size=(compiled.n_variables, N_PROJECTIONS)
        )
        # a parallel region per recorded sweep costs more than it saves on small models
        small = settings.n_chains * max(compiled.n_factors, 1) < SERIAL_ENERGY_BELOW
        self.energy_threads = 1 if small else n_threads
        self.start = time.perf_counter()

    def go(self) -> Equilibrium:
        # the burn-in's statistics are never read: averaging them (for huge models a pass over
        # the states each sweep) would only slow it down; the states are the same either way
        averaging = getattr(self.chains, "average_sweeps", None)
        try:
            if averaging:
                self.chains.average_sweeps = False
            verdict, reason = self._burn_in()
            if averaging:
                self.chains.average_sweeps = True
            burn_in = self.done
            n_sweeps = self._measure(verdict.tau)
        finally:
            if self.bar is not None:
                self.bar.close()
        return Equilibrium(
            self.chains,
            burn_in,
            n_sweeps,
            verdict.rhat,
            verdict.ess,
            verdict.tau,
            verdict.passed,
            self.averaged,
            time.perf_counter() - self.start,
            reason,
        )

    def _advance(self, n_sweeps: int) -> None:
        if n_sweeps <= 0:
            return
        self.chains.run(self.theta, n_sweeps)
        self.done += n_sweeps
        if self.bar is not None:
            self.bar.update(n_sweeps)

    def _record(self) -> np.ndarray:
        """The traced statistics of every chain now, shape (n_chains, 1 + N_PROJECTIONS)."""
        states = self.chains.states
        energy = self.compiled.energy(states, self.theta, self.energy_threads)
        values = self.compiled.values[self.compiled.value_offset + states]
        return np.column_stack([energy, values @ self.signs])

    def _burn_in(self) -> tuple[_Verdict, str]:
        settings = self.settings
        total = min(FIRST_ROUND, settings.max_sweeps)
        while True:
            self._advance(max(total // 2 - self.done, 0))  # the first round's first half: not traced
            length = total - self.done
            thin = max(1, -(-length // MAX_DRAWS))
            n_draws = length // thin
            self._advance(length - n_draws * thin)
            draws = np.empty((settings.n_chains, n_draws, 1 + N_PROJECTIONS))
            for d in range(n_draws):
                self._advance(thin)
                draws[:, d] = self._record()
            verdict = _Verdict.of(draws, settings.rhat_tol, thin)
            if self.bar is not None:
                self.bar.set_postfix(rhat=f"{verdict.rhat:.4f}", refresh=False)
            if verdict.passed:
                return verdict, verdict.describe(self.done)
            if total >= settings.max_sweeps:
                return verdict, verdict.describe(self.done, f"max_sweeps={settings.max_sweeps} reached")
            following = min(2 * total, settings.max_sweeps)
            if settings.time_budget is not None:
                elapsed = time.perf_counter() - self.start
                if elapsed + elapsed / self.done * (following - self.done) > settings.time_budget:
                    why = f"time_budget={settings.time_budget:g} s would be exceeded by the next round"
                    return verdict, verdict.describe(self.done, why)
            total = following

    def _measure(self, tau: float) -> int:
        """Run the measurement: one averaged run (its statistics are what ``stats()`` gives)."""
        if not self.averaged:
            return 0
        settings = self.settings
        n_sweeps = settings.measure_sweeps
        if n_sweeps is None:
            wanted = MEASURE_PER_TAU * tau if math.isfinite(tau) else self.done
            n_sweeps = min(max(MIN_MEASURE, math.ceil(wanted)), max(settings.max_sweeps, MIN_MEASURE))
            if settings.time_budget is not None:
                elapsed = time.perf_counter() - self.start
                fits = int((settings.time_budget - elapsed) / (elapsed / self.done))
                n_sweeps = max(MIN_TIMED_MEASURE, min(n_sweeps, fits))
        if self.bar is not None:
            self.bar.total = self.done + n_sweeps
            self.bar.refresh()
        self._advance(n_sweeps)
        return n_sweeps


@dataclass(frozen=True)
class _Verdict:
    """The burn-in test on one round's draws."""

    passed: bool
    rhat: float
    ess: float
    tau: float
    why: str
    forgot: bool = False  # passed by the many-chains rule (the chains forgot their starts), not R-hat

    @classmethod
    def of(cls, draws: np.ndarray, rhat_tol: float, thin: int) -> _Verdict:
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
        # many chains: each need not be long, only past its start (see _forgotten)
        forgot = bool(why) and (
            n_chains >= MANY_CHAINS
            and np.all(np.isfinite(tau))
            and np.all(ess >= MIN_ESS)
            and np.all(n_draws >= FORGET_TAUS * tau)
            and _forgotten(y)
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


def _forgotten(y: np.ndarray) -> bool:
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


def _per_statistic(y: np.ndarray, figure: Any) -> np.ndarray:
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


# -- assessment ---------------------------------------------------------------------------------


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

    def describe(self, graph: Any, n: int = 5) -> list[str]:
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
    graph: Any,
    theta: Any,
    target: Any,
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
    found = _equilibrate(
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
    graph: Any, found: Equilibrium, target: Any, sampler: str | None = None, compared: np.ndarray | None = None
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
    pairs = _PairStructure.of(compiled)
    pearson = None if pairs is None else _pearson(pairs.connected(target), pairs.connected(mean))
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


# -- connected correlations ---------------------------------------------------------------------


@dataclass(frozen=True)
class _PairStructure:
    """Where every connected two-site correlation comes from: c_e = m[pair_e] − (L m)_e (R m)_e.

    ``pair`` holds the pair feature of each entry (sorted), ``left`` and ``right`` the sparse
    rows that give the two single-site means from the feature means (one unit entry for a
    single-site feature, or the sum of the pair's features over the other variable's states).
    """

    pair: np.ndarray
    left: scipy.sparse.csr_matrix
    right: scipy.sparse.csr_matrix

    def connected(self, means: np.ndarray) -> np.ndarray:
        return means[self.pair] - (self.left @ means) * (self.right @ means)

    @classmethod
    def of(cls, compiled: Any) -> _PairStructure | None:
        """The entries of ``compiled``'s pair groups, or None when it has none."""
        found: list[Any] = [_product_pairs(compiled)] + _indexed_pairs(compiled)
        parts = [p for p in found if p is not None and len(p[0])]
        if not parts:
            return None
        n = compiled.n_features
        pair = np.concatenate([p[0] for p in parts])
        offsets = np.cumsum([0] + [len(p[0]) for p in parts])
        sides = []
        for side in (1, 2):
            rows = np.concatenate([p[side][0] + o for p, o in zip(parts, offsets)])
            cols = np.concatenate([p[side][1] for p in parts])
            sides.append(scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(pair), n)))
        order = np.argsort(pair, kind="stable")
        return cls(pair[order], sides[0][order], sides[1][order])


Side = tuple[np.ndarray, np.ndarray]  # (entry rows, feature columns) of a sparse 0/1 matrix


def _factor_groups(compiled: Any) -> np.ndarray:
    """The kind of each factor's group, shape (n_factors,)."""
    counts = np.diff(compiled.group_factors)
    return np.repeat(np.array(compiled.group_kinds, dtype=object), counts)


def _product_pairs(compiled: Any) -> tuple[np.ndarray, Side, Side] | None:
    """Arity-2 Product features x_i x_j whose variables both have an arity-1 Product feature:
    c_ij = m_ij − m_i m_j."""
    first = compiled.factor_ptr[:-1]
    arity = np.diff(compiled.factor_ptr)
    product = (_factor_groups(compiled) == "Product") & (compiled.factor_form == 0)
    single = np.flatnonzero(product & (arity == 1))
    pairs = np.flatnonzero(product & (arity == 2))
    if not len(single) or not len(pairs):
        return None
    unary = np.full(compiled.n_variables, -1, dtype=np.int64)
    unary[compiled.factor_vars[first[single]][::-1]] = compiled.factor_theta[single][::-1]  # the first wins
    i = unary[compiled.factor_vars[first[pairs]]]
    j = unary[compiled.factor_vars[first[pairs] + 1]]
    keep = (i >= 0) & (j >= 0)
    rows = np.arange(int(keep.sum()))
    return compiled.factor_theta[pairs][keep], (rows, i[keep]), (rows, j[keep])


def _injective(local: np.ndarray) -> bool:
    """Each feature of a one-hot map is one joint state (not a bin of several)."""
    switched = local[local >= 0]
    return len(np.unique(switched)) == len(switched)


def _indexed_pairs(compiled: Any) -> list[tuple[np.ndarray, Side, Side]]:
    """One-hot pair maps whose features are single joint states (a, b): c = f_ij(a, b) −
    f_i(a) f_j(b), with f_i(a) from a one-hot single-site feature of the variable, or else by
    summing f_ij(a, ·) when every joint state of the pair has a feature (entries with neither
    are left out)."""
    first = compiled.factor_ptr[:-1]
    arity = np.diff(compiled.factor_ptr)
    sizes = compiled.n_states.astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(sizes)])
    unary = np.full(int(offset[-1]), -1, dtype=np.int64)  # the single-site feature of (variable, state)
    tables = compiled.distinct_tables(1)
    for table, factors in tables:
        factors = factors[arity[factors] == 1]
        if not len(factors) or not _injective(table):
            continue
        states = np.flatnonzero(table >= 0)
        slots = offset[compiled.factor_vars[first[factors]]][:, None] + states[None, :]
        ids = compiled.factor_theta[factors][:, None] + table[states][None, :]
        slots, where = np.unique(slots.ravel(), return_index=True)  # the first feature of a state wins ...
        free = unary[slots] < 0  # ... and so does the first table
        unary[slots[free]] = ids.ravel()[where[free]]
    out = []
    for table, factors in tables:
        factors = factors[arity[factors] == 2]
        if not len(factors) or not _injective(table):
            continue
        a_size = sizes[compiled.factor_vars[first[factors]]]
        b_size = sizes[compiled.factor_vars[first[factors] + 1]]
        for ka, kb in sorted(set(zip(a_size.tolist(), b_size.tolist()))):
            chosen = factors[(a_size == ka) & (b_size == kb)]
            out.append(_pair_entries(compiled, table, chosen, ka, kb, unary, offset))
    return out


def _pair_entries(
    compiled: Any, table: np.ndarray, factors: np.ndarray, ka: int, kb: int, unary: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, Side, Side]:
    """The entries of pair factors that share one map of shape (ka, kb)."""
    first = compiled.factor_ptr[:-1]
    grid = table.reshape(ka, kb).astype(np.int64)
    full = bool(np.all(grid >= 0))
    a, b = np.nonzero(grid >= 0)
    base = compiled.factor_theta[factors].astype(np.int64)[:, None]
    pair = base + grid[a, b][None, :]  # (factors, entries)
    ui = unary[offset[compiled.factor_vars[first[factors]]][:, None] + a[None, :]]
    uj = unary[offset[compiled.factor_vars[first[factors] + 1]][:, None] + b[None, :]]
    keep = ((ui >= 0) | full) & ((uj >= 0) | full)
    rows = np.full(keep.shape, -1, dtype=np.int64)
    rows[keep] = np.arange(int(keep.sum()))
    # the marginal of the first variable in state a: the pair's features (a, b') for every b'
    left = _side(rows, ui, keep, base[:, :, None] + grid[a][None, :, :])
    right = _side(rows, uj, keep, base[:, :, None] + grid[:, b].T[None, :, :])
    return pair[keep], left, right


def _side(rows: np.ndarray, unary: np.ndarray, keep: np.ndarray, summed: np.ndarray) -> Side:
    """Sparse rows: the single-site feature where there is one, else the sum over ``summed``."""
    direct = keep & (unary >= 0)
    marginal = keep & (unary < 0)
    width = summed.shape[2]
    entry_rows = np.concatenate([rows[direct], np.repeat(rows[marginal], width)])
    columns = np.concatenate([unary[direct], summed[marginal].ravel()])
    return entry_rows, columns


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """The Pearson correlation of two vectors; NaN when either has one entry or no spread
    beyond rounding (e.g. targets of independent variables: every connected correlation 0)."""
    if len(x) < 2:
        return math.nan
    cx, cy = x - x.mean(), y - y.mean()
    nx, ny = float(np.linalg.norm(cx)), float(np.linalg.norm(cy))
    if nx <= 1e-12 * float(np.linalg.norm(x)) or ny <= 1e-12 * float(np.linalg.norm(y)):
        return math.nan
    return float(np.clip(float(cx @ cy) / (nx * ny), -1.0, 1.0))


def connected_correlations(graph: Any, means: Any) -> np.ndarray | None:
    """The connected two-site correlations implied by a vector of feature means.

    Two kinds of pair features are read:

    * an arity-2 ``Product`` feature x_i x_j whose variables both have an arity-1 ``Product``
      feature: c_ij = m_ij − m_i m_j (a covariance of the values);
    * a one-hot pair map (``Potential``, or any indexed map of arity 2 whose features are single
      joint states) with frequencies f_ij(a, b): c_ij(a, b) = f_ij(a, b) − f_i(a) f_j(b) for
      every (a, b) with a feature, f_i(a) taken from a one-hot single-site feature of the
      variable (a unary ``Potential``) or, when there is none, by summing f_ij(a, ·), which needs
      a feature for every joint state of the pair; entries with neither are left out.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    means : array_like of shape (n_features,)
        Feature means in θ order (targets, or a model's expectations).

    Returns
    -------
    ndarray or None
        One entry per (pair feature), in θ order of the pair features; None when the model has
        no such pair features. For a Potts model with full field and pair ``Potential`` groups,
        this is C_ij(a, b) of every pair and state pair, as in ``benchmarks/bench_pf00014.py``.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([0, 1]), name="fields")
    >>> _ = g.add_features(fg.features.Product([(0, 1)]), name="pair")
    >>> fg.connected_correlations(g, [0.5, 0.2, 0.3]).round(12).tolist()      # 0.3 − 0.5 · 0.2
    [0.2]
    """
    compiled = as_compiled(graph)
    means = check_theta(means, compiled.n_features, "connected_correlations", name="means")
    pairs = _PairStructure.of(compiled)
    return None if pairs is None else pairs.connected(means)


def pearson_connected(graph: Any, a: Any, b: Any) -> float | None:
    """The Pearson correlation between the connected correlations of two mean vectors.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    a, b : array_like of shape (n_features,)
        Feature means in θ order, e.g. the targets and a model's expectations.

    Returns
    -------
    float or None
        Over every entry of :func:`connected_correlations`; None when the model has no pair
        features it applies to, NaN when either side has no spread (or there is one entry).

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> v = g.add_variables(3, n_states=3)
    >>> _ = g.add_features(fg.features.Potential(v), name="fields")
    >>> _ = g.add_features(fg.features.Potential([(0, 1), (1, 2)]), name="pairs")
    >>> m = fg.exact.expectations(g, np.random.default_rng(0).normal(size=g.n_features))
    >>> round(fg.pearson_connected(g, m, m), 12)
    1.0
    """
    compiled = as_compiled(graph)
    owner = "pearson_connected"
    a = check_theta(a, compiled.n_features, owner, name="a")
    b = check_theta(b, compiled.n_features, owner, name="b")
    pairs = _PairStructure.of(compiled)
    return None if pairs is None else _pearson(pairs.connected(a), pairs.connected(b))
