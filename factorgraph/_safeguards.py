"""The trainer's safeguards: the last good state, rollback on divergence, stuck chains, empty fits.

:class:`Safeguards` is created at the start of each :meth:`Trainer.fit`. It keeps in memory the
last state at which the fit showed no sign of divergence (θ, the optimizer's state, the
sampler's state, the Polyak average and the step count), taken when the fit starts and at every
check that is not part of a rising streak. When :class:`~factorgraph._detectors.Divergence` sees
a sign, it restores that state and raises :class:`~factorgraph.TrainingDivergedError`, whose
message suggests a learning rate ten times smaller. It also warns once per fit when the chains
are stuck (:class:`~factorgraph._detectors.StuckChains`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._detectors import Divergence, StuckChains
from factorgraph._errors import DegenerateModelWarning, StuckChainsWarning, TrainingDivergedError
from factorgraph._memory import check_estimate, trainer_bytes
from factorgraph._trainer_setup import describe_features

if TYPE_CHECKING:
    from factorgraph.training import Trainer
    from samplers import SweepInfo

__all__ = ["Safeguards", "check_trainer_memory"]


def check_trainer_memory(trainer: Trainer) -> None:
    """Warn when the trainer's own vectors and its copy of the chains exceed the threshold."""
    graph, sampler = trainer.graph, trainer.sampler
    n_chains = int(getattr(sampler, "n_chains", 0))
    check_estimate(
        f"Trainer (n_features={graph.n_features}, n_chains={n_chains}, n_variables={graph.n_variables})",
        trainer_bytes(graph.n_features, n_chains, graph.n_variables),
        "Use fewer features or chains.",
        stacklevel=4,
    )


class Safeguards:
    """Divergence rollback and stuck-chain warnings for one call of :meth:`Trainer.fit`.

    Parameters
    ----------
    trainer : Trainer
    max_theta : float
        The fit's bound on ``|θ_k|`` times the feature's range; one step that alone moves a
        feature's log-odds by more than that is a divergence (a learning rate far too large),
        not a target out of reach.
    """

    def __init__(self, trainer: Trainer, max_theta: float) -> None:
        self.trainer = trainer
        monitor = trainer.monitor
        self.divergence = Divergence(monitor.spread, trainer.graph.trainable, max_step=max_theta)
        name = getattr(trainer.sampler, "name", "") or type(trainer.sampler).__name__
        self.stuck = StuckChains(name, np.asarray(trainer.graph.n_states))
        self._good: dict[str, Any] | None = None
        self.keep()

    # -- the last good state ---------------------------------------------------------------------

    def keep(self) -> None:
        """Remember the trainer's current state as the last good one."""
        t = self.trainer
        self._good = {
            "step": t.step_count,
            "theta": t.theta.copy(),
            "optimizer": t.optimizer.get_state(),
            "sampler": t.sampler.get_state(),
            "schedule": t.schedule_state(),
        }

    def restore(self) -> int:
        """Put the trainer back in the last good state; returns its step."""
        t, good = self.trainer, self._good
        assert good is not None, "keep() runs when the safeguards are made"
        t.theta = good["theta"].copy()
        t.optimizer.set_state(good["optimizer"])
        t.sampler.set_state(good["sampler"])
        t.set_schedule_state(good["schedule"])
        t.step_count = good["step"]
        return good["step"]

    def _diverged(self, reason: str, ids: np.ndarray, step: int) -> None:
        t = self.trainer
        lr = float(t.optimizer.lr)
        where = (
            describe_features(t.graph, t.monitor.target, np.asarray(ids, dtype=np.int64))
            if len(ids)
            else "no single feature"
        )
        restored = self.restore()
        raise TrainingDivergedError(
            f"Training diverged at step {step}: {reason} ({where}). θ, the optimizer, the chains and "
            f"the average were rolled back to step {restored}, the last good state. The learning rate is "
            f"likely too large: try one ten times smaller, lr={lr / 10:.3g} (the rate in force was {lr:.3g}; "
            "with a schedule, scale it down, e.g. optimizer.lr_scale *= 0.1), then call fit again to continue.",
            step=step,
            restored_step=restored,
            suggested_lr=lr / 10,
        )

    # -- hooks in the fit loop ---------------------------------------------------------------------

    def after_step(self, new_theta: np.ndarray) -> None:
        """Before θ is replaced: roll back and raise when the step diverges."""
        sign = self.divergence.after_step(self.trainer.theta, new_theta)
        if sign is not None:  # the step is not counted yet
            self._diverged(*sign, step=self.trainer.step_count + 1)

    def at_check(self, grad: np.ndarray, figures: dict[str, float]) -> None:
        """At a check: roll back and raise on a rising gradient; else keep the state if good."""
        reason, good = self.divergence.at_check(grad, figures.get("residual", float("nan")))
        if reason is not None:
            self._diverged(reason, np.array([], dtype=np.int64), step=self.trainer.step_count)
        if good:
            self.keep()

    def after_run(self, info: SweepInfo) -> None:
        """After the sampler's run: warn once when the chains are stuck."""
        text = self.stuck.update(info, lambda: self.trainer.sampler.states)
        if text is not None:
            warnings.warn(text, StuckChainsWarning, stacklevel=6)

    # -- nothing to fit ----------------------------------------------------------------------------

    def nothing_to_fit(self, result_type: Any, history_keys: tuple[str, ...]) -> Any:
        """The result of a fit with no trainable feature: no step, θ as it is, and a warning."""
        t = self.trainer
        graph = t.graph
        why = (
            "the model has no variables"
            if graph.n_variables == 0
            else "the model has no features"
            if graph.n_features == 0
            else "every feature is fixed"
        )
        warnings.warn(
            f"Trainer.fit has nothing to fit: {why} (n_variables={graph.n_variables}, "
            f"n_features={graph.n_features}, trainable 0). Returning θ unchanged after 0 steps.",
            DegenerateModelWarning,
            stacklevel=3,
        )
        history = {k: np.zeros((0, len(t.objectives)) if k == "values" else 0) for k in history_keys}
        return result_type(
            theta=t.theta.copy(),
            converged=True,
            message=f"nothing to fit: {why}",
            n_steps=0,
            history=history,
            states=t.sampler.states,
            sampler_state=t.sampler.get_state(),
            optimizer_state=t.optimizer.get_state(),
        )
