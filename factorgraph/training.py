"""The training loop: advance chains, gather statistics, sum objective gradients, step θ.

One loop serves every sampler and every objective; it knows only their protocols.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import numbers
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factorgraph import checkpoint
from factorgraph._errors import (
    DataError, ModelSpecError, NumericalError, PluginError, ShardLostError, UnreachableTargetError,
)
from factorgraph._landing import Landing
from factorgraph._monitor import Monitor, Plateau, StabilityWindow
from factorgraph._relaxation import Relaxation
from factorgraph._progress import rate as _rate
from factorgraph._safeguards import Safeguards, check_trainer_memory
from factorgraph._start import independent_site_theta
from factorgraph._validation import check_int, check_targets, check_theta, message
from factorgraph.compiled import as_compiled

__all__ = ["Trainer", "FitResult", "fit"]

logger = logging.getLogger("factorgraph")

_HISTORY = ("mismatch", "mismatch_max", "residual", "residual_max", "grad_norm", "step_norm", "change_rate", "time",
            "lr_scale", "sweeps", "tau", "values")


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
        True when every convergence criterion held before ``max_steps`` (see
        :meth:`Trainer.fit`), the last of them the model at ``theta`` measured on fresh chains.
    message : str
        How the fit ended; when not converged, the criteria that failed, by how much, and what
        to change.
    n_steps : int
        Steps taken in this call.
    history : dict of str to ndarray
        Per step: ``mismatch`` (root mean square of the standardised moment mismatch
        ``|m − μ̂|`` / MCSE over the matched features; about 1 at the plain maximum-entropy
        optimum), ``mismatch_max`` (its maximum), ``residual`` and ``residual_max`` (the same for
        the whole objective's standardised ascent direction, about 1 at the optimum of any mix
        of objectives; see :meth:`Trainer.fit`), ``grad_norm``, ``step_norm`` (max ``|Δθ|``), ``change_rate`` (fraction of
        updates that changed a state), ``time`` (seconds of fitting since the trainer's first step, over all calls and resumes), ``lr_scale`` (the
        optimizer's learning-rate factor, lowered on plateaus and after the landing),
        ``sweeps`` (the sweeps run in the step), ``tau`` (the sweeps the chains last needed
        to forget their states; NaN before the first such observation) and ``values`` (shape
        (n_steps, n_objectives): each objective's value, e.g. each penalty, NaN where a term
        has none).
    states : ndarray of shape (n_chains, n_variables)
        The chains' final states.
    sampler_state, optimizer_state : dict
        For continuing exactly where this call stopped.
    assessment : Assessment or None
        The model at ``theta`` measured on fresh chains run to equilibrium
        (:func:`factorgraph.assess`): the quality figures of the fit. None when the fit was
        called with ``assess=False`` or ended before any step.
    theta_stderr : ndarray of shape (n_features,) or None
        A standard error of ``theta`` from batch means of the averaged iterates (see
        :class:`~factorgraph.optim.PolyakAverage`); None without averaging or with too few
        averaged steps.
    failures : tuple of str
        When the fit reached ``max_steps`` unconverged: each criterion that failed, by how
        much, and what to change (the same text as ``message``). Empty otherwise.
    """

    theta: np.ndarray
    converged: bool
    message: str
    n_steps: int
    history: dict[str, np.ndarray]
    states: np.ndarray
    sampler_state: dict[str, Any] = field(repr=False)
    optimizer_state: dict[str, Any] = field(repr=False)
    assessment: Any = field(default=None, repr=False)
    theta_stderr: np.ndarray | None = field(default=None, repr=False)
    failures: tuple[str, ...] = ()

    def __repr__(self) -> str:
        last = {k: float(v[-1]) for k, v in self.history.items() if len(v) and np.ndim(v) == 1}
        return (
            f"FitResult(converged={self.converged}, n_steps={self.n_steps}, message={self.message!r}, "
            f"mismatch={last.get('mismatch', float('nan')):.3g}, n_features={len(self.theta)})"
        )


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
        graph: Any,
        objectives: Sequence[Any],
        sampler: Any = "gibbs",
        n_chains: int | None = None,
        sweeps_per_step: int | str = "auto",
        optimizer: Any = None,
        seed: int | np.random.SeedSequence | None = None,
        theta0: Any = None,
        average_from: int | None = None,
        n_threads: int | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        cluster: Any = None,
        landing: Any = "auto",
        max_sweeps_per_step: int = 64,
        relax_within: int = 50,
        **sampler_options: Any,
    ) -> None:
        import samplers
        from factorgraph import optim
        from objectives import Needs
        from objectives.consistency import check_consistent_marginals, check_indicator_sums

        owner = "Trainer"
        self.graph = as_compiled(graph)
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
        if sweeps_per_step != "auto":
            sweeps_per_step = check_int("sweeps_per_step", sweeps_per_step, owner, minimum=1)
        self.sweeps_per_step = sweeps_per_step
        self.relaxation = Relaxation(
            1 if sweeps_per_step == "auto" else sweeps_per_step, adapt=sweeps_per_step == "auto",
            max_sweeps=check_int("max_sweeps_per_step", max_sweeps_per_step, owner, minimum=1),
            horizon=check_int("relax_within", relax_within, owner, minimum=1))
        self.n_threads = n_threads
        self._sampler_config: dict[str, Any] | None = None
        if cluster is not None and not isinstance(sampler, str):
            raise ModelSpecError("Trainer got cluster= with a ready sampler; give the sampler by name "
                                 "(sampler='gibbs', cluster=client), or pass samplers.ShardedChains(...) alone.")
        if isinstance(sampler, str) and cluster is not None:  # the named sampler, sharded over the cluster
            sampler = samplers.ShardedChains(inner=sampler, client=cluster)
        if isinstance(sampler, samplers.ShardedChains) and not sampler.bound:
            sampler = sampler.bind(self.graph, 256 if n_chains is None else n_chains, seed=seed,
                                   n_threads=n_threads, **sampler_options)
            self._sampler_config = sampler.config()  # checkpoints as of one process: resumable anywhere
        elif isinstance(sampler, str):
            options = dict(sampler_options)
            if n_threads is not None:
                options["n_threads"] = n_threads
            n_chains = 256 if n_chains is None else n_chains
            self._sampler_config = {"name": sampler, "n_chains": n_chains, "options": dict(sampler_options)}
            sampler = samplers.create(sampler, self.graph, n_chains, seed=seed, **options)
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
        if landing == "auto":
            landing = Landing() if optimizer is None else None
        if landing is not None and not isinstance(landing, Landing):
            raise ModelSpecError(message("landing", owner, "an optim.Landing, None or 'auto'", landing))
        self.landing = landing
        self.optimizer = optimizer if optimizer is not None else optim.default_optimizer()
        bind = getattr(self.optimizer, "bind", None)
        if callable(bind):  # an optimizer that reads the graph (GroupAdam's feature groups)
            bind(self.graph)
        self.theta = (self.graph.theta_init.copy() if theta0 is None
                      else check_theta(theta0, self.graph.n_features, owner, name="theta0").copy())
        self._trainable = self.graph.trainable
        self.monitor = Monitor(self.graph, self.objectives, self._trainable, lambda st, th: self._gradient(st, th)[0])
        self._matched, self._target = self.monitor.matched, self.monitor.target
        if theta0 is None:
            self.theta = independent_site_theta(self.graph, self.theta, self._target, self._matched)
        self._check_reachable(self.monitor.low, self.monitor.high)
        check_consistent_marginals(self.objectives)
        check_indicator_sums(self.graph, self._matched, self._target)
        check_trainer_memory(self)
        self.average_from = average_from
        self.average = None if average_from is None else optim.PolyakAverage(
            start=check_int("average_from", average_from, owner, minimum=0))
        self.step_count = 0
        self.history: dict[str, list[Any]] = {k: [] for k in _HISTORY}
        self.reset_convergence()
        self._elapsed = 0.0  # seconds spent in fit, over every call (and across resumes)
        self._call: dict[str, Any] = {}  # the arguments and first step of the latest fit call
        self._run_id = uuid.uuid4().hex
        self.checkpoint_every = None if checkpoint_every is None else check_int(
            "checkpoint_every", checkpoint_every, owner, minimum=1)
        self.checkpoint_dir: str | None = None
        self._last_checkpoint = -1
        self._recovery_point: dict[str, Any] | None = None  # the last checkpoint, for a sharded rollback
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
        self._stability: StabilityWindow | None = None
        self._plateau: Plateau | None = None
        self._figures = dict(mismatch=np.nan, mismatch_max=np.nan, residual=np.nan, residual_max=np.nan)
        self._checked = False
        self._drift = np.inf
        self._failed: list[str] = []
        self._training_failed: list[str] | None = None  # at the latest window end; None: none seen
        self._assessment: Any = None
        self._assessed_at = -1  # the step of the latest fresh-chain assessment
        self._next_assessment = 0

    def save_checkpoint(self, directory: str | os.PathLike | None = None) -> str:
        """Write a checkpoint of the whole trainer now; returns its folder.

        Parameters
        ----------
        directory : str or path-like, optional
            Where; default :attr:`checkpoint_dir`. See :mod:`factorgraph.checkpoint` for the
            layout and the atomic protocol.

        Raises
        ------
        CheckpointError
            When a part of the trainer cannot be described (a custom objective without
            ``config()``, a plain-callable learning rate, a ready sampler without ``config()``).
        """
        directory = self.checkpoint_dir if directory is None else os.fspath(directory)
        if directory is None:
            raise ModelSpecError("save_checkpoint needs a folder: pass one, or set Trainer(checkpoint_dir=...).")
        path = checkpoint.save(self, directory)
        self._last_checkpoint = self.step_count
        return path

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        *,
        graph: Any = None,
        n_threads: int | None = None,
        checkpoint_every: int | None = None,
        cluster: Any = None,
    ) -> Trainer:
        """Rebuild a trainer from a checkpoint, in this or a new process.

        Parameters
        ----------
        path : str or path-like
            A checkpoint folder (the newest intact checkpoint in it is used, falling back to the
            previous one with a :class:`~factorgraph.CheckpointFallbackWarning` when the newest
            is damaged) or one checkpoint inside it (``.../ckpt-000123``).
        graph : FactorGraph or CompiledGraph, optional
            When given, the checkpoint must be of this model (same fingerprint), else
            :class:`~factorgraph.CheckpointMismatchError`.
        n_threads : int, optional
            Sampler threads for the continuation (the results do not depend on it).
        checkpoint_every : int, optional
            A new checkpoint interval; by default the saved one.
        cluster : distributed.Client, optional
            Continue with the chains sharded over this Dask cluster (one shard per worker). A
            checkpoint does not say where its chains ran: one written on a cluster resumes in
            one process, and the reverse, with the same bits.

        Returns
        -------
        Trainer
            Its θ, chains, optimizer, averaging, convergence state and :attr:`history` are those
            at the checkpoint, and it keeps writing checkpoints to the same folder.
            ``trainer.fit(**trainer.resume_args)`` finishes the interrupted ``fit`` call:
            the result equals the uninterrupted run's bit for bit.

        Raises
        ------
        CheckpointCorruptedError, CheckpointMismatchError
            When no checkpoint there is intact, or of this model and format version.
        """
        return checkpoint.restore(path, graph=graph, n_threads=n_threads, checkpoint_every=checkpoint_every,
                                  cluster=cluster)

    @property
    def resume_args(self) -> dict[str, Any]:
        """The arguments of the latest :meth:`fit` call with ``max_steps`` reduced to the steps it
        had left; after :meth:`resume`, ``trainer.fit(**trainer.resume_args)`` completes the
        interrupted call. Empty before the first call."""
        if not self._call:
            return {}
        args = dict(self._call["args"])
        args["max_steps"] = max(0, self._call["start"] + args["max_steps"] - self.step_count)
        return args

    # -- one step ------------------------------------------------------------------------------

    def _statistics(self, sampler: Any = None) -> Any:
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

    def _gradient(self, stats: Any, theta: np.ndarray) -> tuple[np.ndarray, list[float | None]]:
        """The summed ascent direction and each term's value (None for matching terms).

        Matching terms (those with ``matched_moments``) are combined: each matched feature's
        m_k − μ̂_k counts once, however many of them cover it, as in :func:`factorgraph.exact.fit`.
        """
        grad = np.where(self._matched, self._target - stats.mean, 0.0) if self._matched.any() else np.zeros(len(theta))
        values = []
        for term in self.objectives:
            if hasattr(term, "matched_moments"):
                values.append(None)
                continue
            value, term_grad = term.value_and_grad(stats, theta)
            grad += term_grad
            values.append(value)
        grad[~self._trainable] = 0.0
        if not np.all(np.isfinite(grad)):
            k = int(np.flatnonzero(~np.isfinite(grad))[0])
            raise NumericalError(f"The gradient of feature {k} is {grad[k]}; check targets and θ.")
        return grad, values

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
        runaway = self._trainable & (np.abs(self.theta) * self.monitor.spread > max_theta)
        if runaway.any():
            ids = np.flatnonzero(runaway)
            mean = stats.mean if getattr(stats, "mean", None) is not None else np.full(len(self.theta), np.nan)
            detail = self._describe(ids, lambda k: f", chains {mean[k]:.6g}, θ {self.theta[k]:.3g}")
            raise UnreachableTargetError(
                f"θ grew without bound (|θ_k| · range > {max_theta:g}) after {self.step_count} steps at "
                f"{detail}. The targets are likely out of the model's reach: jointly "
                "inconsistent (e.g. a pair moment impossible given the means) or at the edge of what "
                "the features can take. Check them, or add objectives.L2.", ids)

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
        if not (np.isfinite(max_theta) and max_theta > 0):
            raise ModelSpecError(message("max_theta", owner, "a finite number > 0", max_theta))
        self._call = {"start": self.step_count, "args": dict(
            max_steps=max_steps, tol=float(tol), mismatch_tol=float(mismatch_tol), check_every=check_every,
            window=window, max_theta=float(max_theta), patience=patience,
            decay_on_plateau=None if decay_on_plateau is None else float(decay_on_plateau))}
        if decay_on_plateau is None:
            self._plateau = None
        elif self._plateau is None or self._plateau.patience != patience:
            self._plateau = Plateau(patience)
        plateau = self._plateau
        if tol > 0 and (self._stability is None or self._stability.size != window):
            self._stability = StabilityWindow(window, len(self.theta))
        stability = self._stability if tol > 0 else None
        max_residual = self.monitor.max_residual(self.sampler.n_chains) if hasattr(self.sampler, "n_chains") else None
        history = self.history
        first = len(history["time"])
        start = time.perf_counter() - self._elapsed
        converged, text = False, "reached max_steps"
        guard = Safeguards(self, max_theta)  # last good state, divergence rollback, stuck chains
        if not self._trainable.any():
            return guard.nothing_to_fit(FitResult, _HISTORY)
        recoverable = getattr(self.sampler, "recovery", None) == "rollback"
        if recoverable:  # where a lost shard rolls back to, until the next checkpoint
            try:
                self._recovery_point = checkpoint.snapshot(self)
            except checkpoint.CheckpointError as exc:
                recoverable, self._recovery_point = False, None
                logger.warning("fit: a lost shard cannot be rolled back in this fit: %s", exc)
        bar = _progress_bar(max_steps, progress)
        interrupt = _Interrupt()
        try:
            interrupt.install()
            end = self.step_count + max_steps
            while True:  # until the steps, the last checkpoint and the final states are through
                try:
                    while self.step_count < end:
                        sweeps = self.relaxation.sweeps
                        info = self.sampler.run(self.theta, sweeps)
                        guard.after_run(info)
                        stats = self._statistics()
                        grad, values = self._gradient(stats, self.theta)
                        with np.errstate(over="ignore", invalid="ignore"):  # _check_theta reports these
                            new_theta = self.optimizer.step(self.theta, grad)
                            for term in self._proximal:
                                new_theta = term.proximal(new_theta, self.optimizer.step_size)
                        new_theta[~self._trainable] = self.theta[~self._trainable]
                        guard.after_step(new_theta)
                        step_norm = float(np.abs(new_theta - self.theta).max(initial=0.0))
                        theta_at_stats, self.theta = self.theta, new_theta
                        self.step_count += 1
                        self._check_theta(stats, max_theta)
                        if self.average is not None:
                            self.average.update(self.theta)
                        at_check = self.step_count % check_every == 0 or not self._checked
                        if at_check:
                            states = self.sampler.states
                            self._figures, self._checked = self.monitor.check(stats, states, grad, theta_at_stats), True
                            guard.at_check(grad, self._figures)
                            if max_residual is None:
                                max_residual = self.monitor.max_residual(len(states))
                        figures = self._figures
                        mismatch, residual = figures["mismatch"], figures["residual"]
                        if plateau is not None and residual == residual and plateau.update(residual):
                            self.optimizer.lr_scale *= decay_on_plateau
                            logger.info("fit: plateau at residual %.3g; learning rate scaled to %.3g",
                                        residual, self.optimizer.lr_scale)
                        self._land(residual, figures["residual_max"], max_residual)
                        self.relaxation.after_step(lambda: self.sampler.states, at_check)
                        record = dict(**figures, grad_norm=_norm(grad), step_norm=step_norm,
                                      change_rate=info.change_rate,
                                      time=time.perf_counter() - start, lr_scale=self.optimizer.lr_scale,
                                      sweeps=sweeps, tau=self.relaxation.tau,
                                      values=[np.nan if v is None else v for v in values])
                        for key, value in record.items():
                            history[key].append(value)
                        if bar is not None:
                            bar.update(1)
                            bar.set_postfix(mismatch=f"{mismatch:.3g}", residual=f"{residual:.3g}",
                                            dtheta=f"{step_norm:.2g}",
                                            updates=_rate(info.n_updates * bar.n, record["time"]), refresh=False)
                        if callback is not None:
                            try:
                                callback({"step": self.step_count, "theta": self.theta, "values": values, **record})
                            except StopIteration:
                                text = "stopped by callback"
                                break
                        # the θ that would be returned: with averaging, the average
                        drift = stability.add(self._reported_theta()) if stability is not None else None
                        if drift is not None:
                            self._drift = drift
                            failed = self._criteria(mismatch_tol, max_residual, tol)
                            if not failed and assess:  # between fresh-chain checks, the last one stands
                                failed = (self._assess_at_result(mismatch_tol, assess_budget)
                                          if self.step_count >= self._next_assessment
                                          else list(self._assessment.failures))
                            if not failed:
                                converged = True
                                text = (f"converged: residual {residual:.3g}, θ drift {drift:.2g} <= {tol}"
                                        + (f"; {self._assessment.message}" if self._assessment is not None else ""))
                        if self.checkpoint_dir is not None and self.step_count % self.checkpoint_every == 0:
                            self._elapsed = time.perf_counter() - start
                            self.save_checkpoint()
                        elif recoverable and self.step_count % (self.checkpoint_every or 100) == 0:
                            self._elapsed = time.perf_counter() - start
                            self._recovery_point = checkpoint.snapshot(self)  # in memory only
                        if converged:
                            break
                        if interrupt.requested:
                            text = "interrupted"
                            break
                    self._elapsed = time.perf_counter() - start
                    if self.checkpoint_dir is not None and self._last_checkpoint != self.step_count:
                        self.save_checkpoint()
                    states, sampler_state = self.sampler.states, self.sampler.get_state()
                    break
                except ShardLostError as lost:
                    # every shard, θ and the optimizer back to the last checkpoint, and replay
                    guard = self._roll_back(lost, max_theta)
                    history = self.history
                    plateau = self._plateau if decay_on_plateau is not None else None
                    stability = self._stability if tol > 0 else None
                    converged, text = False, "reached max_steps"
                    if bar is not None:
                        bar.n = self.step_count - self._call["start"]
        finally:
            interrupt.restore()
            if bar is not None:
                bar.close()
        if text == "interrupted":
            text = self._interrupted_message()
        n_steps = len(history["time"]) - first
        if not converged and assess and n_steps and text == "reached max_steps":
            if self._assessed_at != self.step_count:
                self._assess_at_result(mismatch_tol, assess_budget)
            # the training side held at the last window and fresh chains at the returned θ agree
            # now: converged, though the steps ran out before one window end could see both
            if tol > 0 and self._training_failed == [] and not self._failed:
                converged = True
                text = (f"converged at max_steps: residual {self._figures['residual']:.3g}, θ drift "
                        f"{self._drift:.2g} <= {tol}; {self._assessment.message}")
        failures: tuple[str, ...] = ()
        if text == "reached max_steps":
            text, failures = self._not_converged_message(n_steps, tol)
        logger.info("fit: %s after %d steps", text, n_steps)
        return FitResult(
            theta=self.result_theta(), converged=converged, message=text, n_steps=n_steps,
            history={k: np.array(v[first:]) for k, v in history.items()}, states=states,
            sampler_state=sampler_state, optimizer_state=self.optimizer.get_state(),
            assessment=self._assessment if assess else None,
            theta_stderr=None if self.average is None else self.average.stderr, failures=failures,
        )

    def schedule_state(self) -> dict[str, Any]:
        """Copies of the step-by-step state beside θ, the optimizer and the chains: the
        averaging, the landing and the chains' relaxation (for rollbacks and checkpoints)."""
        average = self.average
        return copy.deepcopy({
            "average": None if average is None else {"start": average.start, "weighting": average.weighting,
                                                     "state": average.get_state()},
            "landing": None if self.landing is None else self.landing.get_state(),
            "relaxation": self.relaxation.get_state(),
        })

    def set_schedule_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`schedule_state`."""
        from factorgraph.optim import PolyakAverage

        state = copy.deepcopy(state)
        average = state["average"]
        self.average = None
        if average is not None:
            self.average = PolyakAverage(start=average["start"], weighting=average["weighting"])
            self.average.set_state(average["state"])
        if self.landing is not None and state["landing"] is not None:
            self.landing.set_state(state["landing"])
        self.relaxation.set_state(state["relaxation"])

    def result_theta(self) -> np.ndarray:
        """The θ a fit reports now: the average of the iterates when averaging has begun, else
        the current iterate (a copy)."""
        return self._reported_theta().copy()

    def _reported_theta(self) -> np.ndarray:
        # the averager's own array (read only here): no copy per step
        if self.average is not None and self.average.count:
            return self.average._mean
        return self.theta

    # -- the parts of a fit: landing, the convergence criteria, the assessment at the result ---

    def _land(self, residual: float, residual_max: float, max_residual: float | None) -> None:
        """Let the landing see this step's residual; from the step it lands on, average the
        iterates (unless ``average_from`` was given) and decay the learning rate."""
        landing = self.landing
        if landing is None:
            return
        # a residual from chains not yet seen to relax says little about the gradient
        bound = np.inf if max_residual is None else max_residual
        if self.relaxation.relaxed and landing.observe(self.step_count, residual, residual_max, bound):
            logger.info("fit: landed at step %d (residual %.3g): the rate decays and θ is averaged from here",
                        self.step_count, residual)
            if self.average is None:
                from factorgraph.optim import PolyakAverage

                self.average = PolyakAverage(weighting="linear")
        if landing.step is not None and self.step_count > landing.step:
            self.optimizer.lr_scale *= landing.factor(self.step_count) / landing.factor(self.step_count - 1)

    def _criteria(self, mismatch_tol: float, max_residual: float | None, tol: float) -> list[str]:
        """The training-side convergence criteria that fail now, each with what to change."""
        figures, failed = self._figures, []
        residual, residual_max = figures["residual"], figures["residual_max"]
        bound = np.inf if max_residual is None else max_residual
        if residual == residual and (residual > mismatch_tol or residual_max > bound):
            failed.append(f"the standardised residual (RMS {residual:.3g}, max {residual_max:.3g}) is above the "
                          f"noise (RMS <= {mismatch_tol:g}, max <= {bound:.3g}): run more steps, or use more chains")
        if self._drift > tol:
            failed.append(f"θ still drifts {self._drift:.2g} per window (tol {tol:g}): run more steps")
        if self.landing is not None and self.landing.step is None:
            failed.append("the fit has not landed (its residual is neither at the noise floor nor on a plateau): "
                          "run more steps")
        relax = self.relaxation
        if not relax.relaxed:
            more = ("the trainer is raising the sweeps per step" if relax.adapt and relax.sweeps < relax.max_sweeps
                    else "raise sweeps_per_step (or max_sweeps_per_step), or use a faster-mixing sampler")
            failed.append(f"the chains have not been seen to forget their states within {relax.horizon} steps at "
                          f"{relax.sweeps} sweeps a step: {more}")
        self._failed, self._training_failed = failed, list(failed)
        return failed

    def _assess_at_result(self, mismatch_tol: float, budget: float) -> list[str]:
        """Measure the model at the θ the fit would return on fresh chains run to equilibrium;
        returns the criteria it fails (empty when it matches within the noise)."""
        from factorgraph._fit_check import assess_result

        theta = self.result_theta()
        self._assessment = assess_result(self, theta, mismatch_tol=mismatch_tol, time_budget=budget)
        self._assessed_at = self.step_count
        # the next check after a quarter as many steps as this call has taken: each costs a
        # burn-in, so they thin out geometrically (a handful per fit), and a check that just
        # failed is retried before the fit has run twice as long
        self._next_assessment = self.step_count + max((self.step_count - self._call.get("start", 0)) // 4, 1)
        failed = list(self._assessment.failures)
        self._failed = list(self._training_failed or []) + failed  # with the training side's at the last window
        return failed

    def _not_converged_message(self, n_steps: int, tol: float) -> tuple[str, tuple[str, ...]]:
        if tol == 0:
            return "reached max_steps (the convergence test is off: tol=0)", ()
        failed = tuple(self._failed) or ("too few steps for the convergence test (it needs two windows of θ): "
                                         "run more steps",)
        return f"not converged after {n_steps} steps: " + "; ".join(failed), failed

    def _roll_back(self, lost: ShardLostError, max_theta: float) -> Safeguards:
        """After a lost shard: put the trainer back to its last checkpoint (kept in memory), or
        re-raise when there is none to go back to; returns the safeguards for the replay."""
        point = self._recovery_point
        if point is None or getattr(self.sampler, "recovery", None) != "rollback":
            raise lost
        for attempt in range(3):  # a worker lost again while restoring: try once more
            try:
                checkpoint.apply(self, point, "in memory")
                break
            except ShardLostError:
                if attempt == 2:
                    raise
        logger.warning("fit: %s; rolled back to step %d and continuing (the result is unchanged)", lost,
                       self.step_count)
        return Safeguards(self, max_theta)

    def _interrupted_message(self) -> str:
        where = f"interrupted by Ctrl-C after step {self.step_count}"
        if self.checkpoint_dir is None:
            return (f"{where}; no checkpoint_dir was set, so nothing was saved. Call fit again on this trainer "
                    "to continue, or set Trainer(checkpoint_dir=...) to be able to resume in a new process.")
        return (f"{where}; checkpoint written to {self.checkpoint_dir!r}. To finish the run: "
                f"trainer = fg.Trainer.resume({self.checkpoint_dir!r}); trainer.fit(**trainer.resume_args) "
                "(on the command line: factorgraph fit ... --resume).")


class _Interrupt:
    """Turns the first Ctrl-C (SIGINT) during a fit into a request to stop at the end of the step.

    Installed only in the main thread (signal handlers live there); the previous handler is put
    back afterwards. A second Ctrl-C raises KeyboardInterrupt at once.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._handle)
        self._installed = True

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("fit: Ctrl-C: stopping at the end of this step (press it again to abort at once)")

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.SIG_DFL)
            self._installed = False


def _progress_bar(total: int, progress: bool | None) -> Any:
    from factorgraph._progress import progress_bar

    return progress_bar(total, progress, desc="fit", unit="step")


def fit(
    graph: Any,
    data: Any = None,
    target: Any = None,
    weights: Any = None,
    l2: float = 0.0,
    l1: float = 0.0,
    max_steps: int = 10_000,
    tol: float = 1e-3,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    progress: bool | None = None,
    assess: bool = True,
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
    max_steps, tol, callback, progress, assess
        As in :meth:`Trainer.fit`.
    **options
        Passed to :class:`Trainer` (sampler, n_chains, sweeps_per_step, optimizer, seed, ...),
        whose defaults are this function's: the default optimizer with a landing (a fast start,
        then a decaying rate and averaged iterates once the gradient is at its noise floor),
        sweeps per step raised while the chains lag, and the result checked on fresh chains.

    Returns
    -------
    FitResult
    """
    from factorgraph.data import moments
    from objectives import L1, L2, MomentMatching

    if (data is None) == (target is None):
        raise DataError("fit needs exactly one of data= (samples) and target= (feature means).")
    if target is not None and weights is not None:
        raise DataError("fit got weights= with target=; weights apply to data= only.")
    compiled = as_compiled(graph)
    if target is None:
        target = moments(compiled, data, weights)
    else:
        target = check_targets(compiled, target, "fit")
    terms = [MomentMatching(target)]
    if np.any(np.asarray(l2) != 0):
        terms.append(L2(l2))
    if np.any(np.asarray(l1) != 0):
        terms.append(L1(l1))
    trainer = Trainer(compiled, terms, **options)
    return trainer.fit(max_steps=max_steps, tol=tol, callback=callback, progress=progress, assess=assess)
