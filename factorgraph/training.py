"""The training loop: advance chains, gather statistics, sum objective gradients, step θ.

One loop serves every sampler and every objective; it knows only their contracts
(:mod:`factorgraph.contracts`). :meth:`Trainer.step` takes one step and returns its record;
:meth:`Trainer.fit` is a loop over steps that hands each record to small hooks
(:mod:`factorgraph._fit_hooks`: history, progress bar, callback, convergence test,
checkpoints, Ctrl-C), with the replay after a lost shard around it. The trainer owns its state
(:meth:`Trainer.state_dict`); :mod:`factorgraph.checkpoint` only stores it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from factorgraph import _fit_check, checkpoint, contracts, optim
from factorgraph._convergence import Convergence
from factorgraph._errors import DataError, ModelSpecError, NumericalError, ShardLostError
from factorgraph._fit_hooks import Callback, Checkpoints, ConvergenceTest, FitHook, History, Interrupt, ProgressBar
from factorgraph._fit_result import HISTORY, FitArgs, FitResult, interrupted_message
from factorgraph._landing import Landing
from factorgraph._monitor import Monitor
from factorgraph._relaxation import Relaxation
from factorgraph._safeguards import Safeguards, check_trainer_memory
from factorgraph._start import independent_site_theta
from factorgraph._trainer_setup import build_sampler, check_objectives, check_reachable, check_theta_finite
from factorgraph._trainer_state import TrainerState
from factorgraph._validation import check_int, check_targets, check_theta, message
from factorgraph.compiled import as_compiled
from factorgraph.contracts import MatchingTerm
from factorgraph.data import moments
from objectives import L1, L2, MomentMatching, Objective
from objectives.consistency import check_consistent_marginals, check_indicator_sums

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._fit_hooks import Stop
    from factorgraph._validation import SeedLike
    from factorgraph.compiled import GraphLike
    from factorgraph.data import Units
    from factorgraph.optim import Optimizer
    from samplers import ChainStats

__all__ = ["Trainer", "FitResult", "fit"]

logger = logging.getLogger("factorgraph")


def _norm(x: np.ndarray) -> float:
    """The Euclidean norm without BLAS, whose spinning worker threads would steal the cores
    from the sampler's threads between steps."""
    return float(np.sqrt(np.einsum("i,i->", x, x)))


class Trainer(TrainerState):
    """Fit θ by stochastic gradient ascent with persistent chains.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    objectives : sequence of Objective
        The terms of L(θ); their gradients are summed. Terms with ``matched_moments()``
        (``MomentMatching``, ``ExactMarginal``) give the monitor its mismatch; after each
        optimizer step, every term with ``proximal(theta, step)`` (``L1``) maps θ through it.
    sampler : str or Sampler, default "gibbs"
        A registered name, or a ready sampler on the same compiled graph, or a
        :class:`samplers.ShardedChains` description without a graph (built here, with
        ``n_chains``, ``seed`` and the sampler options).
    n_chains : int, default 256
        Persistent chains (only with a sampler given by name, like ``seed``, ``n_threads`` and
        the sampler options).
    sweeps_per_step : int or "auto", default "auto"
        Sweeps of every chain between two parameter updates. "auto" starts at 1 and doubles
        them (up to ``max_sweeps_per_step``) whenever the chains do not forget their states
        within ``relax_within`` steps; an int keeps them fixed (the relaxation is still
        measured, and a fit whose chains never relax is not converged).
    optimizer : Optimizer, optional
        From :mod:`factorgraph.optim`; default :func:`~factorgraph.optim.default_optimizer`
        (``GroupAdam(lr=0.05)``, bound to the graph's feature groups) with a
        :class:`~factorgraph.optim.Landing`.
    seed : int, SeedSequence or None
        Seeds the sampler. The same seed gives the same θ trajectory bit for bit, for any
        thread count.
    theta0 : array_like of shape (n_features,), optional
        Starting θ; fixed features stay at these values. Default: the graph's ``theta_init``,
        with the unary features (a ``Potential``, or a ``Product`` of one spin with values ±1)
        whose ``theta_init`` is zero set to the independent-site solution of their targets.
    average_from : int or None, default None
        Polyak-average the iterates from this step on and report the average as ``theta``.
        None: average from the step where the fit lands (see ``landing``), if it does.
    n_threads : int, optional
        Sampler threads (None: every usable core).
    checkpoint_dir : str or path-like, optional
        A folder for checkpoints (:mod:`factorgraph.checkpoint`): :meth:`fit` writes one every
        ``checkpoint_every`` steps, at the end of each call and when stopped by Ctrl-C, keeping
        the last two. :meth:`resume` rebuilds the trainer from it in a new process. The folder
        must not already hold another run's checkpoints (resume that run instead).
    checkpoint_every : int, optional
        Steps between checkpoints (default 100 when ``checkpoint_dir`` is set). A sharded run
        without ``checkpoint_dir`` keeps one in memory this often (default 100), for rollback.
    cluster : distributed.Client, optional
        Shard the chains of the named sampler over this Dask cluster
        (:class:`samplers.ShardedChains`, one shard per worker): the same θ trajectory bit for
        bit as in one process. A worker lost during a step rolls every shard, θ and the
        optimizer back to the last checkpoint (on disk or in memory) and the fit replays from
        there, to the same result. For more control pass
        ``sampler=samplers.ShardedChains(inner=..., client=..., n_shards=..., recovery=...)``.
    landing : Landing, None or "auto", default "auto"
        When to stop the fast start: from then on the learning rate decays about as 1/t and
        the iterates are averaged (weighted linearly; the average is the reported ``theta``).
        "auto" is ``Landing()`` with the default optimizer and None (no landing: the
        optimizer's own schedule) with an optimizer given here.
    max_sweeps_per_step : int, default 64
        The most sweeps per step that ``sweeps_per_step="auto"`` may reach.
    relax_within : int, default 50
        Steps within which the chains must forget their states (compared with their own states
        that many steps earlier and with each other; see docs/training.rst).
    **sampler_options
        Passed to the sampler.

    Attributes
    ----------
    landing : Landing or None
        ``landing.step`` is the step at which the fit landed (None before).
    relaxation : Relaxation
        The chains' relaxation check: ``sweeps`` (sweeps per step now), ``tau`` (the sweeps the
        chains last needed to forget their states) and ``relaxed``.
    average : PolyakAverage or None
        The iterate average (from ``average_from``, or from the landing).
    history : dict of str to list
        Every step's figures over all :meth:`fit` calls (the keys of ``FitResult.history``);
        each result holds its own call's share.
    step_count : int
        Steps taken so far, over all calls.

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
        graph: GraphLike,
        objectives: Sequence[Any],
        sampler: str | contracts.Sampler | contracts.Bindable = "gibbs",
        n_chains: int | None = None,
        sweeps_per_step: int | str = "auto",
        optimizer: Optimizer | None = None,
        seed: SeedLike = None,
        theta0: ArrayLike | None = None,
        average_from: int | None = None,
        n_threads: int | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        cluster: Any = None,
        landing: Landing | Literal["auto"] | None = "auto",
        max_sweeps_per_step: int = 64,
        relax_within: int = 50,
        **sampler_options: Any,
    ) -> None:
        owner = "Trainer"
        self.graph = as_compiled(graph)
        self.objectives, self._proximal, self.needs = check_objectives(self.graph, objectives)
        if sweeps_per_step != "auto":
            sweeps_per_step = check_int("sweeps_per_step", sweeps_per_step, owner, minimum=1)
        self.sweeps_per_step = sweeps_per_step
        self.relaxation = Relaxation(
            1 if isinstance(sweeps_per_step, str) else sweeps_per_step,
            adapt=sweeps_per_step == "auto",
            max_sweeps=check_int("max_sweeps_per_step", max_sweeps_per_step, owner, minimum=1),
            horizon=check_int("relax_within", relax_within, owner, minimum=1),
        )
        self.n_threads = n_threads
        self.sampler, self._sampler_config = build_sampler(
            self.graph, sampler, n_chains, seed, n_threads, cluster, sampler_options, self.needs
        )
        if landing == "auto":
            landing = Landing() if optimizer is None else None
        if landing is not None and not isinstance(landing, Landing):
            raise ModelSpecError(message("landing", owner, "an optim.Landing, None or 'auto'", landing))
        self.landing = landing
        self.optimizer = optimizer if optimizer is not None else optim.default_optimizer()
        bind = getattr(self.optimizer, "bind", None)
        if callable(bind):  # an optimizer that reads the graph (GroupAdam's feature groups)
            bind(self.graph)
        self.theta = (
            self.graph.theta_init.copy()
            if theta0 is None
            else check_theta(theta0, self.graph.n_features, owner, name="theta0").copy()
        )
        self._trainable = self.graph.trainable
        self._frozen = np.flatnonzero(~self._trainable)  # index lists: a mask costs a pass a step
        self.monitor = Monitor(self.graph, self.objectives, self._trainable, lambda st, th: self.gradient(st, th)[0])
        self._matched, self._target = self.monitor.matched, self.monitor.target
        if theta0 is None:
            self.theta = independent_site_theta(self.graph, self.theta, self._target, self._matched)
        check_reachable(self.graph, self.objectives, self._matched, self._target, self.monitor.low, self.monitor.high)
        check_consistent_marginals(self.objectives)
        check_indicator_sums(self.graph, self._matched, self._target)
        check_trainer_memory(self)
        self.average_from = average_from
        self.average = (
            None
            if average_from is None
            else optim.PolyakAverage(start=check_int("average_from", average_from, owner, minimum=0))
        )
        self.step_count = 0
        self.history: dict[str, list[Any]] = {k: [] for k in HISTORY}
        self.convergence = Convergence()
        self.max_residual: float | None = None  # the bound on the residual's maximum, once the chains are known
        self._settings = FitArgs()
        self._guard: Safeguards | None = None
        self._elapsed = 0.0  # seconds spent in steps, over every call (and across resumes)
        self._clock: float | None = None  # perf_counter() minus the elapsed time, while a call runs
        self._call: dict[str, Any] = {}  # the arguments and first step of the latest fit call
        self.run_id = uuid.uuid4().hex
        self.checkpoint_every = (
            None if checkpoint_every is None else check_int("checkpoint_every", checkpoint_every, owner, minimum=1)
        )
        self.checkpoint_dir: str | None = None
        self._last_checkpoint = -1
        #: The latest checkpoint's state, kept in memory, for a sharded run's rollback.
        self.recovery_point: dict[str, Any] | None = None
        if checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(checkpoint_dir)
            self.checkpoint_every = self.checkpoint_every or 100
            checkpoint.check_empty(self.checkpoint_dir)

    # -- persistent state and checkpoints --------------------------------------------------------

    def reset_convergence(self) -> None:
        """Forget the convergence test's progress: the θ stability windows, the plateau counter
        and the monitor's latest figures.

        They otherwise persist from one :meth:`fit` call to the next (like θ, the chains, the
        optimizer and :attr:`history`), so that ``fit(N); fit(N)`` is exactly ``fit(2N)``. A
        call with another ``window`` or ``patience`` starts that detector afresh.
        """
        self.convergence.reset()

    # -- one step ------------------------------------------------------------------------------

    def statistics(self, sampler: Any = None) -> ChainStats:
        """The statistics of ``sampler`` (default: the training chains), with the marginal counts
        and weighted sums the objectives declared (and nothing they did not)."""
        sampler = self.sampler if sampler is None else sampler
        stats = sampler.stats()
        if self.needs.mean and getattr(stats, "mean", None) is None:
            raise ModelSpecError(f"The sampler {sampler!r} gives no feature means, which the objectives need.")
        if not (self.needs.marginals or self.needs.weighted):
            return stats
        return dataclasses.replace(
            stats,
            marginal_counts={scope: sampler.marginal_counts(scope) for scope in self.needs.marginals},
            weighted_sums=sampler.weighted_sums if self.needs.weighted else None,
        )

    def gradient(self, stats: ChainStats, theta: np.ndarray) -> tuple[np.ndarray, list[float | None]]:
        """The summed ascent direction and each term's value (None for matching terms).

        Matching terms (those with ``matched_moments``) are combined: each matched feature's
        m_k − μ̂_k counts once, however many of them cover it, as in :func:`factorgraph.exact.fit`.
        """
        if self._matched.all():
            grad = self._target - stats.mean
        elif self._matched.any():
            grad = np.where(self._matched, self._target - stats.mean, 0.0)
        else:
            grad = np.zeros(len(theta))
        values: list[float | None] = []
        for term in self.objectives:
            if isinstance(term, MatchingTerm):
                values.append(None)
                continue
            value, term_grad = term.value_and_grad(stats, theta)
            grad += term_grad
            values.append(value)
        grad[self._frozen] = 0.0
        # a finite sum needs finite terms (one pass); an infinite one may be overflow alone
        with np.errstate(over="ignore", invalid="ignore"):
            total = grad.sum()
        if not np.isfinite(total) and not np.all(np.isfinite(grad)):
            k = int(np.flatnonzero(~np.isfinite(grad))[0])
            raise NumericalError(f"The gradient of feature {k} is {grad[k]}; check targets and θ.")
        return grad, values

    def step(self) -> dict[str, Any]:
        """Take one step: run the chains, estimate the gradient, step θ; return the step's record.

        The chains advance ``relaxation.sweeps`` sweeps at θ; the objectives' gradient from their
        statistics goes to the optimizer (then each proximal term); every ``check_every`` steps
        the monitor measures the mismatch and residual. The rate's plateau decay, the landing and
        the chains' relaxation check follow, in that order. The settings are those of the latest
        :meth:`fit` call (its defaults before any). :meth:`fit` hands each record to its hooks
        (history, progress bar, callback, convergence, checkpoints); a step taken directly is not
        added to :attr:`history`.

        Returns
        -------
        dict
            ``step`` (the step count after it), ``theta`` (the new iterate), ``n_updates`` (site
            updates the sampler made) and the history's figures (see ``FitResult.history``).

        Raises
        ------
        TrainingDivergedError, UnreachableTargetError, NumericalError
            As :meth:`fit` describes; a divergence rolls the trainer back first.
        """
        settings = self._settings
        if self._guard is None:
            self._guard = Safeguards(self, settings.max_theta)
        if self._clock is None:
            self._clock = time.perf_counter() - self._elapsed
        if self.max_residual is None and hasattr(self.sampler, "n_chains"):
            self.max_residual = self.monitor.max_residual(self.sampler.n_chains)
        guard, state = self._guard, self.convergence
        sweeps = self.relaxation.sweeps
        info = self.sampler.run(self.theta, sweeps)
        guard.after_run(info)
        stats = self.statistics()
        grad, values = self.gradient(stats, self.theta)
        with np.errstate(over="ignore", invalid="ignore"):  # check_theta_finite reports these
            new_theta = self.optimizer.step(self.theta, grad)
            for term in self._proximal:
                new_theta = term.proximal(new_theta, self.optimizer.step_size)
        new_theta[self._frozen] = self.theta[self._frozen]
        guard.after_step(new_theta)
        change = np.subtract(new_theta, self.theta)
        step_norm = float(np.abs(change, out=change).max(initial=0.0))
        theta_at_stats, self.theta = self.theta, new_theta
        self.step_count += 1
        check_theta_finite(
            self.graph,
            self.theta,
            self._target,
            self.monitor.spread,
            getattr(stats, "mean", None),
            self.step_count,
            settings.max_theta,
        )
        if self.average is not None:
            self.average.update(self.theta)
        at_check = self.step_count % settings.check_every == 0 or not state.checked
        if at_check:
            states = self.sampler.states
            state.figures, state.checked = self.monitor.check(stats, states, grad, theta_at_stats), True
            guard.at_check(grad, state.figures)
            if self.max_residual is None:
                self.max_residual = self.monitor.max_residual(len(states))
        figures = state.figures
        residual = figures["residual"]
        decay = settings.decay_on_plateau
        if state.plateau is not None and decay is not None and residual == residual and state.plateau.update(residual):
            self.optimizer.lr_scale *= decay
            logger.info(
                "fit: plateau at residual %.3g; learning rate scaled to %.3g", residual, self.optimizer.lr_scale
            )
        self._land(residual, figures["residual_max"])
        self.relaxation.after_step(lambda: self.sampler.states, at_check)
        self._elapsed = time.perf_counter() - self._clock
        return dict(
            step=self.step_count,
            theta=self.theta,
            **figures,
            grad_norm=_norm(grad),
            step_norm=step_norm,
            change_rate=info.change_rate,
            time=self._elapsed,
            lr_scale=self.optimizer.lr_scale,
            sweeps=sweeps,
            tau=self.relaxation.tau,
            values=[np.nan if v is None else v for v in values],
            n_updates=info.n_updates,
        )

    def fit(
        self,
        max_steps: int = 10_000,
        tol: float = 1e-3,
        callback: Callable[[dict[str, Any]], Any] | None = None,
        progress: bool | None = None,
        mismatch_tol: float = 1.5,
        check_every: int = 10,
        window: int = 50,
        max_theta: float = 30.0,
        decay_on_plateau: float | None = None,
        patience: int = 100,
        assess: bool = True,
        assess_budget: float = 60.0,
    ) -> FitResult:
        """Run up to ``max_steps`` steps; stop early once converged.

        The Monte Carlo standard error is MCSE = σ / sqrt(ESS), σ² being each feature's
        variance over the chains. ESS = n_chains when μ̂ comes from the chains' final states;
        when the sampler averages S correlated sweeps (``average_sweeps=True``),
        ESS = n_chains · S / τ_S, with τ_S estimated from the sampler's per-sweep batch means
        (τ_S = S, a conservative choice, when it reports none). See docs/training.rst.

        Two figures are recorded every ``check_every`` steps: the standardised **mismatch**
        z = ``|m − μ̂|`` / MCSE over the matched features (``MomentMatching``, ``ExactMarginal``),
        and the standardised **residual**: the whole objective's ascent direction (with L1, the
        distance of zero from its subdifferential) over the Monte Carlo noise of its estimate.
        With matching terms only the two are equal. With a marginal prior or a penalty the
        mismatch stays above the noise at the optimum (the prior pulls the moments away from
        their targets) while the residual falls to it; the residual's noise then comes from a
        jackknife over 16 groups of chains (see docs/training.rst).

        Converged means, checked at the end of each window of ``window`` steps:

        * the residual has an RMS of at most ``mismatch_tol`` and a maximum of at most
          sqrt(2 ln 2K) + 3 (K features; wider for the jackknife's Student-t tails);
        * the reported θ (the average of the iterates, once averaging has begun) is stable: its
          mean over the window moved by at most ``tol`` (max abs) against the window before;
        * with a landing, the fit has landed (its rate decays and θ is averaged);
        * the chains have been seen to forget their states within ``relax_within`` steps at the
          current sweeps per step (see ``Trainer(sweeps_per_step=...)``);
        * with ``assess`` (the default), fresh chains started at the reported θ and run to
          equilibrium (:func:`factorgraph.assessment.equilibrate`, within ``assess_budget``
          seconds) give a residual within the same bounds. This check runs when the others
          first hold, then again after a quarter as many steps as the call had taken, and so
          on; the last one's :class:`~factorgraph.Assessment` is ``FitResult.assessment``. A
          fit that reaches ``max_steps`` is assessed at its end; it is converged when that
          check agrees and the other criteria held at the last window.

        When no term reads the chains (penalties only), θ stability alone decides.
        ``tol=0.0`` turns the convergence stop off. When the fit does not converge, its
        message names each criterion that failed, by how much, and what to change.

        Divergence stops the fit with an error that names the offending features: targets outside
        their features' range or on its edge (a binary mean of exactly 0 or 1) are refused before
        the first step (:class:`~factorgraph.UnreachableTargetError`), unless a penalty keeps θ
        finite; a trained ``|θ_k|`` times its feature's range above ``max_theta`` (log-odds no chain
        can resolve: the targets are out of the model's reach, e.g. pair moments impossible given
        the means) raises the same error; NaN or infinity in the gradient or θ raises
        :class:`~factorgraph.NumericalError`.

        ``decay_on_plateau`` (a factor in (0, 1), off by default) multiplies the optimizer's
        ``lr_scale`` by that factor whenever the RMS standardised residual has not fallen by 1%
        below its best for ``patience`` steps (a plateau: the noise of a too-large step), and
        starts counting again; ``history["lr_scale"]`` records the factor in force at each
        step. ``callback(info)`` is called after every step with a dict of the
        step's figures; raising StopIteration in it stops cleanly.

        Everything persists from one call to the next: θ, the chains, the optimizer, the
        averaging, the convergence windows and plateau counter (see :meth:`reset_convergence`)
        and :attr:`history`, so ``fit(N); fit(N)`` equals ``fit(2N)`` bit for bit. ``max_steps``
        counts the steps of this call.

        Ctrl-C (SIGINT, in the main thread) stops at the end of the current step: with a
        ``checkpoint_dir`` a checkpoint is written, and the result (``converged=False``) says how
        to resume. A second Ctrl-C raises KeyboardInterrupt at once.
        """
        args = FitArgs.checked(max_steps, tol, mismatch_tol, check_every, window, max_theta, patience, decay_on_plateau)
        self._call = {"start": self.step_count, "args": args.as_dict()}
        self._settings = args
        self.convergence.configure(args.tol, args.window, args.decay_on_plateau, args.patience, len(self.theta))
        self.max_residual = None
        first = len(self.history["time"])
        self._guard = Safeguards(self, args.max_theta)  # last good state, divergence rollback, stuck chains
        if not self._trainable.any():
            return self._guard.nothing_to_fit(FitResult, HISTORY)
        recoverable = getattr(self.sampler, "recovery", None) == "rollback"
        if recoverable:  # where a lost shard rolls back to, until the next checkpoint
            try:
                self.recovery_point = self.state_dict()
            except checkpoint.CheckpointError as exc:
                recoverable, self.recovery_point = False, None
                logger.warning("fit: a lost shard cannot be rolled back in this fit: %s", exc)
        bar, interrupt = ProgressBar(args.max_steps, progress), Interrupt()
        hooks: list[FitHook] = [History(self), bar]
        hooks += [Callback(callback)] if callback is not None else []
        hooks += [
            ConvergenceTest(self, args.tol, args.mismatch_tol, assess, assess_budget),
            Checkpoints(self, recoverable),
            interrupt,
        ]
        self._clock = time.perf_counter() - self._elapsed
        try:
            interrupt.install()
            stop = self._run_steps(self.step_count + args.max_steps, hooks, bar)
        finally:
            self._clock = None
            interrupt.restore()
            bar.close()
        return self._result(stop, first, args.tol, args.mismatch_tol, assess, assess_budget)

    def _run_steps(self, end: int, hooks: list[FitHook], bar: ProgressBar) -> Stop | None:
        """Steps until ``end`` or a hook's stop; a lost shard rolls back to the recovery point
        and replays from there, to the same result. Returns the stop (None at ``end``)."""
        while True:
            try:
                stop = None
                while self.step_count < end and stop is None:
                    record = self.step()
                    for hook in hooks:
                        asked = hook.after_step(record)
                        if asked is not None and (asked.at_once or stop is None):
                            stop = asked
                        if stop is not None and stop.at_once:
                            break
                if self.checkpoint_dir is not None and self._last_checkpoint != self.step_count:
                    self.save_checkpoint()
                self._final = (self.sampler.states, self.sampler.get_state())
                return stop
            except ShardLostError as lost:
                self.roll_back(lost)
                self._guard = Safeguards(self, self._settings.max_theta)
                bar.rewind(self.step_count - self._call["start"])

    def _result(
        self, stop: Stop | None, first: int, tol: float, mismatch_tol: float, assess: bool, budget: float
    ) -> FitResult:
        """The call's result: the final assessment at ``max_steps`` and the message."""
        state = self.convergence
        converged = stop is not None and stop.converged
        text = "reached max_steps" if stop is None else stop.message
        if text == "interrupted":
            text = interrupted_message(self.step_count, self.checkpoint_dir)
        n_steps = len(self.history["time"]) - first
        if stop is None and assess and n_steps:
            if state.assessed_at != self.step_count:
                self.assess_result(mismatch_tol, budget)
            # the training side held at the last window and fresh chains at the returned θ agree
            # now: converged, though the steps ran out before one window end could see both
            last = state.assessment
            if tol > 0 and state.training_failed == [] and not state.failed and last is not None:
                converged = True
                text = (
                    f"converged at max_steps: residual {state.figures['residual']:.3g}, θ drift "
                    f"{state.drift:.2g} <= {tol}; {last.message}"
                )
        failures: tuple[str, ...] = ()
        if text == "reached max_steps":
            text, failures = state.not_converged_message(n_steps, tol)
        logger.info("fit: %s after %d steps", text, n_steps)
        states, sampler_state = self._final
        return FitResult(
            theta=self.result_theta(),
            converged=converged,
            message=text,
            n_steps=n_steps,
            history={k: np.array(v[first:]) for k, v in self.history.items()},
            states=states,
            sampler_state=sampler_state,
            optimizer_state=self.optimizer.get_state(),
            assessment=state.assessment if assess else None,
            theta_stderr=None if self.average is None else self.average.stderr,
            failures=failures,
        )

    def result_theta(self) -> np.ndarray:
        """The θ a fit reports now: the average of the iterates when averaging has begun, else
        the current iterate (a copy)."""
        return self.reported_theta().copy()

    def reported_theta(self) -> np.ndarray:
        """:meth:`result_theta` without the copy (read only): what the convergence test watches."""
        mean = None if self.average is None else self.average.mean_view
        return mean if mean is not None else self.theta

    def assess_result(self, mismatch_tol: float, budget: float) -> list[str]:
        """Measure the model at the θ the fit would return on fresh chains run to equilibrium;
        returns the criteria it fails (empty when it matches within the noise)."""
        assessment = _fit_check.assess_result(self, self.result_theta(), mismatch_tol=mismatch_tol, time_budget=budget)
        return self.convergence.record_assessment(assessment, self.step_count, self._call.get("start", 0))

    def _land(self, residual: float, residual_max: float) -> None:
        """Let the landing see this step's residual; from the step it lands on, average the
        iterates (unless ``average_from`` was given) and decay the learning rate."""
        landing = self.landing
        if landing is None:
            return
        # a residual from chains not yet seen to relax says little about the gradient
        bound = np.inf if self.max_residual is None else self.max_residual
        if self.relaxation.relaxed and landing.observe(self.step_count, residual, residual_max, bound):
            logger.info(
                "fit: landed at step %d (residual %.3g): the rate decays and θ is averaged from here",
                self.step_count,
                residual,
            )
            if self.average is None:
                self.average = optim.PolyakAverage(weighting="linear")
        if landing.step is not None and self.step_count > landing.step:
            self.optimizer.lr_scale *= landing.factor(self.step_count) / landing.factor(self.step_count - 1)


def fit(
    graph: GraphLike,
    data: ArrayLike | None = None,
    target: ArrayLike | None = None,
    weights: ArrayLike | None = None,
    l2: float = 0.0,
    l1: float = 0.0,
    max_steps: int = 10_000,
    tol: float = 1e-3,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    progress: bool | None = None,
    assess: bool = True,
    units: Units = "auto",
    **options: Any,
) -> FitResult:
    """Fit a maximum-entropy model to data (or to target moments) with persistent chains.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables), optional
        State indices or the variables' values (see ``units``); the targets are their
        (weighted) feature means.
    target : array_like of shape (n_features,), optional
        Target feature means, instead of ``data``.
    weights : array_like of shape (N,), optional
        Sample weights for ``data``.
    l2 : float, default 0.0
        Strength of an L2 penalty on θ.
    l1 : float, default 0.0
        Strength of an L1 penalty on θ (a proximal step: small θ become exactly 0).
    max_steps, tol, callback, progress, assess
        As in :meth:`Trainer.fit`.
    units : {"auto", "states", "values"}
        What the entries of ``data`` are (:func:`factorgraph.data.as_states`): by default
        whichever reading is valid, and an error when both are with different meanings.
    **options
        Passed to :class:`Trainer` (sampler, n_chains, sweeps_per_step, optimizer, seed, ...),
        whose defaults are this function's: the default optimizer with a landing (a fast start,
        then a decaying rate and averaged iterates once the gradient is at its noise floor),
        sweeps per step raised while the chains lag, and the result checked on fresh chains.

    Returns
    -------
    FitResult
    """
    if target is not None and weights is not None:
        raise DataError("fit got weights= with target=; weights apply to data= only.")
    compiled = as_compiled(graph)
    if data is not None and target is None:
        means = moments(graph, data, weights, units=units)
    elif target is not None and data is None:
        means = check_targets(compiled, target, "fit")
    else:
        raise DataError("fit needs exactly one of data= (samples) and target= (feature means).")
    terms: list[Objective] = [MomentMatching(means)]
    if np.any(np.asarray(l2) != 0):
        terms.append(L2(l2))
    if np.any(np.asarray(l1) != 0):
        terms.append(L1(l1))
    trainer = Trainer(compiled, terms, **options)
    return trainer.fit(max_steps=max_steps, tol=tol, callback=callback, progress=progress, assess=assess)
