"""The training loop: advance chains, gather statistics, sum objective gradients, step θ.

One loop serves every sampler and every objective; it knows only their protocols.
"""

from __future__ import annotations

import logging
import numbers
import os
import sys
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factorgraph._errors import DataError, ModelSpecError, NumericalError, PluginError, UnreachableTargetError
from factorgraph._validation import check_int, check_theta, message

__all__ = ["Trainer", "FitResult", "fit"]

logger = logging.getLogger("factorgraph")

_HISTORY = ("mismatch", "mismatch_max", "grad_norm", "step_norm", "change_rate", "time", "lr_scale", "values")


def _norm(x: np.ndarray) -> float:
    """The Euclidean norm without BLAS, whose spinning worker threads would steal the cores
    from the sampler's threads between steps."""
    return float(np.sqrt(np.einsum("i,i->", x, x)))


@dataclass(frozen=True)
class FitResult:
    """The outcome of :meth:`Trainer.fit`.

    Attributes
    ----------
    theta : ndarray of shape (n_features,)
        The fitted parameters (the Polyak average of the iterates when averaging is on).
    converged : bool
        True when the monitor's criteria were met before ``max_steps``.
    message : str
    n_steps : int
        Steps taken in this call.
    history : dict of str to ndarray
        Per step: ``mismatch`` (root mean square of the standardised moment mismatch
        ``|m − μ̂|`` / MCSE over the matched features; about 1 at the optimum), ``mismatch_max``
        (its maximum), ``grad_norm``, ``step_norm`` (max ``|Δθ|``), ``change_rate`` (fraction of
        updates that changed a state), ``time`` (seconds since the start), ``lr_scale`` (the
        optimizer's learning-rate factor, lowered on plateaus) and ``values`` (shape
        (n_steps, n_objectives): each objective's value, e.g. each penalty, NaN where a term
        has none).
    states : ndarray of shape (n_chains, n_variables)
        The chains' final states.
    sampler_state, optimizer_state : dict
        For continuing exactly where this call stopped.
    """

    theta: np.ndarray
    converged: bool
    message: str
    n_steps: int
    history: dict[str, np.ndarray]
    states: np.ndarray
    sampler_state: dict[str, Any] = field(repr=False)
    optimizer_state: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        last = {k: float(v[-1]) for k, v in self.history.items() if len(v)}
        return (
            f"FitResult(converged={self.converged}, n_steps={self.n_steps}, message={self.message!r}, "
            f"mismatch={last.get('mismatch', float('nan')):.3g}, n_features={len(self.theta)})"
        )


def _auto_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Trainer:
    """Fit θ by stochastic gradient ascent with persistent chains.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    objectives : sequence of Objective
        The terms of L(θ); their gradients are summed. Terms with ``matched_moments()``
        (``MomentMatching``, ``ExactMarginal``) give the monitor its mismatch; after each
        optimizer step, every term with ``proximal(theta, step)`` (``L1``) maps θ through it.
    sampler : str or Sampler, default "gibbs"
        A registered name, or a ready sampler on the same compiled graph.
    n_chains : int, default 256
        Persistent chains (only with a sampler given by name, like ``seed``, ``n_threads`` and
        the sampler options).
    sweeps_per_step : int, default 1
        Sweeps of every chain between two parameter updates.
    optimizer : Optimizer, optional
        From :mod:`factorgraph.optim`; default ``Adam(lr=0.02)``.
    seed : int, SeedSequence or None
        Seeds the sampler. The same seed gives the same θ trajectory bit for bit, for any
        thread count.
    theta0 : array_like of shape (n_features,), optional
        Starting θ (default: the graph's ``theta_init``); fixed features stay at these values.
    average_from : int or None, default None
        Polyak-average the iterates from this step on and report the average as ``theta``.
    n_threads : int, optional
        Sampler threads (None: every usable core).
    **sampler_options
        Passed to the sampler.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, objectives
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> trainer = fg.Trainer(g, [objectives.MomentMatching([0.5, -0.3])], n_chains=512, seed=0,
    ...                      optimizer=fg.optim.SGD(lr=0.2))
    >>> result = trainer.fit(max_steps=300, tol=0.0, progress=False)
    >>> np.abs(fg.exact.expectations(g, result.theta) - [0.5, -0.3]).max() < 0.1
    np.True_
    """

    def __init__(
        self,
        graph: Any,
        objectives: Sequence[Any],
        sampler: Any = "gibbs",
        n_chains: int | None = None,
        sweeps_per_step: int = 1,
        optimizer: Any = None,
        seed: int | np.random.SeedSequence | None = None,
        theta0: Any = None,
        average_from: int | None = None,
        n_threads: int | None = None,
        **sampler_options: Any,
    ) -> None:
        import samplers
        from factorgraph import optim
        from objectives import Needs

        owner = "Trainer"
        self.graph = graph if hasattr(graph, "factor_ptr") else graph.compile()
        self.objectives = list(objectives)
        if not self.objectives:
            raise ModelSpecError(message("objectives", owner, "at least one objective", objectives,
                                         "Pass [objectives.MomentMatching(target)]."))
        for term in self.objectives:
            if not hasattr(term, "value_and_grad"):
                raise ModelSpecError(message("objectives", owner, "objects with value_and_grad", term))
            if hasattr(term, "check"):
                term.check(self.graph)
        self._proximal = [t for t in self.objectives if hasattr(t, "proximal")]
        self.needs = Needs()
        for term in self.objectives:
            self.needs = self.needs | (term.needs() if hasattr(term, "needs") else Needs(mean=True))
        self.sweeps_per_step = check_int("sweeps_per_step", sweeps_per_step, owner, minimum=1)
        self.n_threads = n_threads
        if isinstance(sampler, str):
            options = dict(sampler_options)
            if n_threads is not None:
                options["n_threads"] = n_threads
            sampler = samplers.create(sampler, self.graph, 256 if n_chains is None else n_chains, seed=seed, **options)
        else:
            missing = [m for m in ("run", "stats", "states", "get_state", "set_state") if not hasattr(sampler, m)]
            if missing:
                raise ModelSpecError(message("sampler", owner, "a registered name or a Sampler", sampler))
            given = [k for k, v in (("n_chains", n_chains), ("seed", seed), ("n_threads", n_threads)) if v is not None]
            if given or sampler_options:
                raise ModelSpecError(
                    f"Trainer got a ready sampler and also {given + sorted(sampler_options)}; those options "
                    "only apply when the sampler is given by name. Set them on the sampler instead."
                )
            if getattr(sampler, "graph", None) is not self.graph:
                raise ModelSpecError("The sampler was built on another compiled graph; build it on trainer.graph.")
        wanted = (["marginal_counts"] if self.needs.marginals else []) + (["weighted_sums"] if self.needs.weighted else [])
        lacking = [m for m in wanted if not callable(getattr(sampler, m, None))]
        if lacking:
            raise PluginError(
                f"The objectives need the sampler's method(s) {lacking}, which {sampler!r} lacks. Subclass "
                "samplers.Sampler (its defaults read `states`) or implement them; see docs/samplers.rst."
            )
        self.sampler = sampler
        self.optimizer = optimizer if optimizer is not None else optim.Adam(lr=0.02)
        self.theta = (self.graph.theta_init.copy() if theta0 is None
                      else check_theta(theta0, self.graph.n_features, owner, name="theta0").copy())
        self._trainable = self.graph.trainable
        low, high = self.graph.feature_bounds()
        self._spread = np.maximum(high - low, np.finfo(float).tiny)
        # the largest of K standard normal z-scores stays below this with overwhelming probability
        self._max_z = float(np.sqrt(2 * np.log(2 * max(self.graph.n_features, 1))) + 3)
        self._matched, self._target = self._matched_targets()
        self._check_reachable(low, high)
        self.average = None if average_from is None else optim.PolyakAverage(
            start=check_int("average_from", average_from, owner, minimum=0))
        self.step_count = 0

    # -- one step ------------------------------------------------------------------------------

    def _statistics(self) -> Any:
        """The sampler's statistics, with the marginal counts and weighted sums the objectives
        declared (and nothing they did not)."""
        stats = self.sampler.stats()
        if self.needs.mean and getattr(stats, "mean", None) is None:
            raise ModelSpecError(f"The sampler {self.sampler!r} gives no feature means, which the objectives need.")
        if not (self.needs.marginals or self.needs.weighted):
            return stats
        return dataclasses.replace(
            stats,
            marginal_counts={scope: self.sampler.marginal_counts(scope) for scope in self.needs.marginals},
            weighted_sums=self.sampler.weighted_sums if self.needs.weighted else None,
        )

    def _gradient(self, stats: Any) -> tuple[np.ndarray, list[float | None]]:
        grad = np.zeros(self.graph.n_features)
        values = []
        for term in self.objectives:
            value, term_grad = term.value_and_grad(stats, self.theta)
            grad += term_grad
            values.append(value)
        grad[~self._trainable] = 0.0
        if not np.all(np.isfinite(grad)):
            k = int(np.flatnonzero(~np.isfinite(grad))[0])
            raise NumericalError(f"The gradient of feature {k} is {grad[k]}; check targets and θ.")
        return grad, values

    def _matched_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """The trained features some term matches (mask) and their target.

        Two terms that match one trained feature (e.g. ``MomentMatching`` over every feature
        and an ``ExactMarginal``) must agree on its target: otherwise the fit would settle on a
        silent compromise between them, so that is refused.
        """
        first = np.full(self.graph.n_features, np.nan)
        for term in self.objectives:
            if hasattr(term, "matched_moments"):
                ids, target = term.matched_moments()
                ids, target = np.asarray(ids), np.asarray(target, dtype=np.float64)
                seen = ~np.isnan(first[ids])
                clash = seen & (np.abs(first[ids] - target) > 1e-9 * np.maximum(1.0, np.abs(target)))
                clash &= self._trainable[ids]
                if clash.any():
                    names = ", ".join(f"{k} ({first[k]:.6g} vs {t:.6g})" for k, t in
                                      zip(ids[clash][:5], target[clash][:5]))
                    raise ModelSpecError(
                        f"Two objectives match features {names}{' ...' if clash.sum() > 5 else ''} to "
                        "different targets. Give them the same targets, or leave those features out of "
                        "one term (e.g. compute MomentMatching's target before ExactMarginal.add_to)."
                    )
                first[ids[~seen]] = target[~seen]
        matched = ~np.isnan(first)
        return matched & self._trainable, np.where(matched, first, 0.0)

    def _check_reachable(self, low: np.ndarray, high: np.ndarray) -> None:
        """Refuse targets no finite θ reaches: outside a feature's range, or on its edge.

        A target at the edge of its feature's range (a binary mean of exactly 0 or 1) is only
        reached as θ_k → ±∞, unless a term's ``keeps_finite`` (a positive L1 or L2 penalty)
        holds θ_k finite.
        """
        target = self._target
        slack = 1e-12 * np.maximum(1.0, np.abs(target))
        outside = self._matched & ((target < low - slack) | (target > high + slack))
        if outside.any():
            ids = np.flatnonzero(outside)
            raise UnreachableTargetError(
                f"Targets lie outside the range their feature can take, so no model reaches them: "
                f"{self._describe(ids)}. Check the targets' θ order.", ids)
        held = np.zeros(self.graph.n_features, dtype=bool)
        for term in self.objectives:
            if hasattr(term, "keeps_finite"):
                held |= term.keeps_finite(self.graph.n_features)
        edge = self._matched & ~held & (high > low) & ((np.abs(target - low) <= slack) | (np.abs(target - high) <= slack))
        if edge.any():
            ids = np.flatnonzero(edge)
            raise UnreachableTargetError(
                f"Targets sit at the edge of their feature's range, reached only as θ → ±∞: "
                f"{self._describe(ids)}. Move them inside (e.g. a pseudocount on the data), add "
                "objectives.L2 or L1, or make those features fixed.", ids)

    def _describe(self, ids: np.ndarray, extra: Callable[[int], str] = lambda k: "", limit: int = 5) -> str:
        """Name features by θ index and group, with their targets (and ``extra(k)``), for errors."""
        groups = np.searchsorted(self.graph.group_theta, ids, side="right") - 1
        parts = [f"feature {k} (group '{self.graph.group_names[grp]}', target {self._target[k]:.6g}{extra(k)})"
                 for k, grp in zip(ids[:limit].tolist(), groups[:limit].tolist())]
        more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
        return ", ".join(parts) + more

    def _check_theta(self, stats: Any, max_theta: float) -> None:
        """Stop on non-finite θ, or on θ so large that the targets must be out of reach."""
        bad = ~np.isfinite(self.theta)
        if bad.any():
            ids = np.flatnonzero(bad)
            raise NumericalError(f"θ became non-finite at features {ids[:5].tolist()} after step {self.step_count}; "
                                 "lower the learning rate or check the objectives' gradients.")
        runaway = self._trainable & (np.abs(self.theta) * self._spread > max_theta)
        if runaway.any():
            ids = np.flatnonzero(runaway)
            mean = stats.mean if getattr(stats, "mean", None) is not None else np.full(len(self.theta), np.nan)
            detail = self._describe(ids, lambda k: f", chains {mean[k]:.6g}, θ {self.theta[k]:.3g}")
            raise UnreachableTargetError(
                f"θ grew without bound (|θ_k| · range > {max_theta:g}) after {self.step_count} steps at "
                f"{detail}. The targets are likely out of the model's reach: jointly "
                "inconsistent (e.g. a pair moment impossible given the means) or at the edge of what "
                "the features can take. Check them, or add objectives.L2.", ids)

    def _mismatch(self, stats: Any) -> tuple[float, float]:
        """RMS and max of ``|m − μ̂|`` / MCSE over the matched, trained features.

        MCSE = σ / sqrt(ESS), with σ² the per-chain variance of each feature (from the final
        states) and ESS the effective number of independent draws behind μ̂ (see
        :func:`_effective_draws`).
        """
        if not self._matched.any():
            return float("nan"), float("nan")
        states = self.sampler.states
        n = len(states)
        second = self.graph.feature_sums(states, squared=True) / n
        mean = self.graph.feature_sums(states) / n
        size = _effective_draws(stats, n)
        se = np.sqrt(np.maximum(second - mean**2, 0.0) / size)
        # a feature constant over the draws is resolved to its range over the number of draws
        floor = self._spread / (n * getattr(stats, "n_averaged", 1))
        z = np.abs(self._target - stats.mean)[self._matched] / np.maximum(se, floor)[self._matched]
        return float(np.sqrt(np.mean(z**2))), float(z.max())

    def fit(
        self,
        max_steps: int = 1000,
        tol: float = 1e-3,
        callback: Callable[[dict[str, Any]], Any] | None = None,
        progress: bool | None = None,
        mismatch_tol: float = 1.5,
        check_every: int = 10,
        window: int = 50,
        max_theta: float = 30.0,
        decay_on_plateau: float | None = None,
        patience: int = 100,
    ) -> FitResult:
        """Run up to ``max_steps`` steps; stop early once converged.

        The Monte Carlo standard error is MCSE = σ / sqrt(ESS), σ² being each feature's
        variance over the chains. ESS = n_chains when μ̂ comes from the chains' final states;
        when the sampler averages S correlated sweeps (``average_sweeps=True``),
        ESS = n_chains · S / τ_S, with τ_S estimated from the sampler's per-sweep batch means
        (τ_S = S, a conservative choice, when it reports none). See docs/training.rst.

        Converged means: the standardised mismatch z = ``|m − μ̂|`` / MCSE has an RMS of at most
        ``mismatch_tol`` and a maximum of at most sqrt(2 ln 2K) + 3 (K features), and θ is
        stable — its mean over a window of ``window`` steps moved by at most ``tol`` (max abs)
        against the mean of the window before (checked at the end of each window). Without a matching term
        (``MomentMatching``, ``ExactMarginal``) only θ stability counts. ``tol=0.0`` turns the
        convergence stop off.

        Divergence stops the fit with an error that names the offending features: targets outside
        their features' range or on its edge (a binary mean of exactly 0 or 1) are refused before
        the first step (:class:`~factorgraph.UnreachableTargetError`), unless a penalty keeps θ
        finite; a trained ``|θ_k|`` times its feature's range above ``max_theta`` (log-odds no chain
        can resolve: the targets are out of the model's reach, e.g. pair moments impossible given
        the means) raises the same error; NaN or infinity in the gradient or θ raises
        :class:`~factorgraph.NumericalError`.

        ``decay_on_plateau`` (a factor in (0, 1), off by default) multiplies the optimizer's
        ``lr_scale`` by that factor whenever the RMS standardised mismatch has not fallen by 1%
        below its best for ``patience`` steps (a plateau: the noise of a too-large step), and
        starts counting again; ``history["lr_scale"]`` records the factor in force at each
        step. ``callback(info)`` is called after every step with a dict of the
        step's figures; raising StopIteration in it stops cleanly.
        """
        owner = "Trainer.fit"
        max_steps = check_int("max_steps", max_steps, owner, minimum=0)
        check_every = check_int("check_every", check_every, owner, minimum=1)
        window = check_int("window", window, owner, minimum=1)
        if not (np.isfinite(tol) and tol >= 0):
            raise ModelSpecError(message("tol", owner, "a finite number >= 0", tol))
        patience = check_int("patience", patience, owner, minimum=1)
        if decay_on_plateau is not None and not (isinstance(decay_on_plateau, numbers.Real)
                                                 and 0 < decay_on_plateau < 1):
            raise ModelSpecError(message("decay_on_plateau", owner, "None or a number in (0, 1)", decay_on_plateau))
        best, since_best = np.inf, 0
        if not (np.isfinite(max_theta) and max_theta > 0):
            raise ModelSpecError(message("max_theta", owner, "a finite number > 0", max_theta))
        history: dict[str, list[float]] = {k: [] for k in _HISTORY}
        # θ summed over the current window, and the mean of the window before: O(K) memory
        window_sum, previous_mean, in_window = np.zeros_like(self.theta), None, 0
        start = time.perf_counter()
        converged, text = False, "reached max_steps"
        bar = _progress_bar(max_steps, progress)
        mismatch = mismatch_max = float("nan")
        try:
            for _ in range(max_steps):
                info = self.sampler.run(self.theta, self.sweeps_per_step)
                stats = self._statistics()
                grad, values = self._gradient(stats)
                with np.errstate(over="ignore", invalid="ignore"):  # _check_theta reports these
                    new_theta = self.optimizer.step(self.theta, grad)
                    for term in self._proximal:
                        new_theta = term.proximal(new_theta, self.optimizer.step_size)
                new_theta[~self._trainable] = self.theta[~self._trainable]
                step_norm = float(np.abs(new_theta - self.theta).max(initial=0.0))
                self.theta = new_theta
                self.step_count += 1
                self._check_theta(stats, max_theta)
                if self.average is not None:
                    self.average.update(self.theta)
                if self.step_count % check_every == 0 or mismatch != mismatch:
                    mismatch, mismatch_max = self._mismatch(stats)
                if decay_on_plateau is not None and mismatch == mismatch:
                    since_best += 1
                    if mismatch < 0.99 * best:
                        best, since_best = mismatch, 0
                    elif since_best >= patience:
                        self.optimizer.lr_scale *= decay_on_plateau
                        logger.info("fit: plateau at mismatch %.3g; learning rate scaled to %.3g",
                                    mismatch, self.optimizer.lr_scale)
                        best, since_best = mismatch, 0
                record = dict(mismatch=mismatch, mismatch_max=mismatch_max, grad_norm=_norm(grad),
                              step_norm=step_norm, change_rate=info.change_rate, time=time.perf_counter() - start,
                              lr_scale=self.optimizer.lr_scale,
                              values=[np.nan if v is None else v for v in values])
                for key, value in record.items():
                    history[key].append(value)
                if tol > 0:
                    window_sum += self.theta
                    in_window += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(mismatch=f"{mismatch:.3g}", step=f"{step_norm:.2g}", refresh=False)
                if callback is not None:
                    try:
                        callback({"step": self.step_count, "theta": self.theta, "values": values, **record})
                    except StopIteration:
                        text = "stopped by callback"
                        break
                if tol > 0 and in_window == window:
                    mean = window_sum / window
                    window_sum[:] = 0.0
                    in_window = 0
                    matched = not self._matched.any() or (mismatch <= mismatch_tol and mismatch_max <= self._max_z)
                    drift = np.abs(mean - previous_mean).max(initial=0.0) if previous_mean is not None else np.inf
                    previous_mean = mean
                    if matched and drift <= tol:
                        converged, text = True, f"converged: mismatch {mismatch:.3g}, θ drift {drift:.2g} <= {tol}"
                        break
        finally:
            if bar is not None:
                bar.close()
        logger.info("fit: %s after %d steps", text, len(history["time"]))
        theta = self.average.mean.copy() if self.average is not None and self.average.count else self.theta.copy()
        return FitResult(
            theta=theta, converged=converged, message=text, n_steps=len(history["time"]),
            history={k: np.array(v) for k, v in history.items()}, states=self.sampler.states,
            sampler_state=self.sampler.get_state(), optimizer_state=self.optimizer.get_state(),
        )


MIN_BATCHES = 4  # fewer groups of chains than this say too little about the sweeps' correlation


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


def _progress_bar(total: int, progress: bool | None) -> Any:
    if progress is None:
        progress = _auto_progress()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fit", unit="step", leave=False)


def fit(
    graph: Any,
    data: Any = None,
    target: Any = None,
    weights: Any = None,
    l2: float = 0.0,
    l1: float = 0.0,
    max_steps: int = 1000,
    tol: float = 1e-3,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    progress: bool | None = None,
    **options: Any,
) -> FitResult:
    """Fit a maximum-entropy model to data (or to target moments) with persistent chains.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables), optional
        State indices; the targets are their (weighted) feature means.
    target : array_like of shape (n_features,), optional
        Target feature means, instead of ``data``.
    weights : array_like of shape (N,), optional
        Sample weights for ``data``.
    l2 : float, default 0.0
        Strength of an L2 penalty on θ.
    l1 : float, default 0.0
        Strength of an L1 penalty on θ (a proximal step: small θ become exactly 0).
    max_steps, tol, callback, progress
        As in :meth:`Trainer.fit`.
    **options
        Passed to :class:`Trainer` (sampler, n_chains, sweeps_per_step, optimizer, seed, ...).
        Unless given, the optimizer is Adam with a decaying rate,
        ``Adam(lr=inverse_time(0.05, 300, 0.6))``, and θ is averaged over the second half of the
        steps (``average_from=max_steps // 2``): persistent chains follow a moving θ, and the
        average of the iterates is the better estimate.

    Returns
    -------
    FitResult
    """
    from factorgraph import optim
    from factorgraph.data import moments
    from objectives import L1, L2, MomentMatching

    if (data is None) == (target is None):
        raise DataError("fit needs exactly one of data= (samples) and target= (feature means).")
    if target is not None and weights is not None:
        raise DataError("fit got weights= with target=; weights apply to data= only.")
    compiled = graph if hasattr(graph, "factor_ptr") else graph.compile()
    if target is None:
        target = moments(compiled, data, weights)
    terms = [MomentMatching(target)]
    if np.any(np.asarray(l2) != 0):
        terms.append(L2(l2))
    if np.any(np.asarray(l1) != 0):
        terms.append(L1(l1))
    options.setdefault("optimizer", optim.Adam(lr=optim.inverse_time(0.05, 300, 0.6)))
    options.setdefault("average_from", max_steps // 2 if isinstance(max_steps, int) and max_steps > 0 else None)
    trainer = Trainer(compiled, terms, **options)
    return trainer.fit(max_steps=max_steps, tol=tol, callback=callback, progress=progress)
