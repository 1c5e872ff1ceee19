"""Fresh chains run to equilibrium at one θ: the burn-in test behind every quality figure.

:func:`equilibrate` runs ``n_chains`` new chains in doubling rounds (16, 32, 64, ... sweeps
in all). During each round it records, after every sweep (thinned to at most ``MAX_DRAWS``
draws per chain in long rounds), the energy θ·f(x) of every chain and ``N_PROJECTIONS`` fixed
random ±1 projections of the chains' state values (so that a model whose energy is flat, θ = 0
included, is still checked). Burn-in ends when, on that round (the second half of the sweeps so
far), every recorded statistic that varies has rank-normalised split R-hat ≤ ``rhat_tol`` over
the chains, and an integrated autocorrelation time τ̂ short enough that each chain holds at
least ``MIN_DRAWS_PER_TAU`` (10) independent draws of it, and at least ``MIN_ESS`` (100) in
all. With ``MANY_CHAINS`` (64) chains or more, the chains' forgetting their start may stand in
for the R-hat and per-chain tests (R-hat at 1.01 asks each chain for about 100 independent
draws, far more than burn-in needs when hundreds of chains share the work): across chains,
each chain's first and last draw of the round are uncorrelated, and the pooled mean does not
drift between the round's halves, both within ``FORGET_Z`` (3) standard errors; the round (as
long as the discarded sweeps before it) must span ``FORGET_TAUS`` (4) τ̂, and the total ESS
must still reach ``MIN_ESS``. Then one measurement run averages the feature means over every
sweep. :mod:`factorgraph.assessment` compares the result with targets.
"""

from __future__ import annotations

__all__ = ["Equilibrium", "equilibrate", "equilibrate_checked"]

import inspect
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._burn_in import Verdict
from factorgraph._errors import ModelSpecError
from factorgraph._progress import progress_bar
from factorgraph._validation import check_int, check_theta, message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import SeedLike
    from factorgraph.compiled import CompiledGraph, GraphLike

FIRST_ROUND = 16  # sweeps in all at the first check; each round doubles them
MAX_DRAWS = 64  # draws per chain recorded in one round; longer rounds are thinned (each draw costs a run)
N_PROJECTIONS = 2  # random ±1 projections of the state values traced besides the energy
MIN_MEASURE = 100  # the default measurement run: at least this many sweeps ...
MEASURE_PER_TAU = 10  # ... and this many integrated times of the slowest traced statistic
MIN_TIMED_MEASURE = 16  # the fewest measurement sweeps when the time budget is spent
BATCHES = 8  # groups of chains whose per-sweep means measure the correlation of averaged sweeps
ROUNDING = 1e-9  # the relative rounding of a sampler's running sums (a floor of the standard error)
SERIAL_ENERGY_BELOW = 2**16  # chains x factors below which the recorded energies take one thread
_PROJECTION_SEED = 0x5EED_A55E  # fixed: the projections are statistics, not randomness of the run


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
    graph: GraphLike,
    theta: ArrayLike,
    *,
    sampler: str = "gibbs",
    n_chains: int = 256,
    seed: SeedLike = None,
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
    return equilibrate_checked(
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


def equilibrate_checked(
    compiled: CompiledGraph,
    theta: np.ndarray,
    sampler: str,
    n_chains: int,
    seed: SeedLike,
    n_threads: int | None,
    max_sweeps: int,
    time_budget: float | None,
    measure_sweeps: int | None,
    rhat_tol: float,
    progress: bool | None,
    options: dict[str, Any],
    owner: str,
) -> Equilibrium:
    """:func:`equilibrate` on a compiled graph and a checked θ, for callers that have done the
    checks (``owner`` names the caller in errors)."""
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
        cls,
        owner: str,
        n_chains: int,
        max_sweeps: int,
        time_budget: float | None,
        measure_sweeps: int | None,
        rhat_tol: float,
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
    name: str,
    compiled: CompiledGraph,
    n_chains: int,
    seed: SeedLike,
    n_threads: Any,
    options: dict[str, Any],
    owner: str,
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
        compiled: CompiledGraph,
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

    def _burn_in(self) -> tuple[Verdict, str]:
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
            verdict = Verdict.of(draws, settings.rhat_tol, thin)
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
