"""The small jobs a fit does after each step, one hook each.

:meth:`Trainer.fit` is a loop over :meth:`Trainer.step`; every step's record goes through the
hooks in order: the history, the progress bar, the user's callback, the convergence test,
checkpointing and Ctrl-C. A hook may ask the fit to stop with a :class:`Stop`: at once (the
callback), or once the remaining hooks of the step have run (the convergence test, Ctrl-C), so
that a converged or interrupted fit still writes its checkpoint.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from factorgraph._fit_result import HISTORY
from factorgraph._progress import progress_bar
from factorgraph._progress import rate as _rate

if TYPE_CHECKING:
    from factorgraph.training import Trainer

__all__ = ["Stop", "FitHook", "History", "ProgressBar", "Callback", "ConvergenceTest", "Checkpoints", "Interrupt"]

logger = logging.getLogger("factorgraph")


class Stop(NamedTuple):
    """A hook's request to end the fit."""

    message: str
    at_once: bool = False  # skip the step's remaining hooks
    converged: bool = False


class FitHook(Protocol):
    """Called with each step's record (see :meth:`Trainer.step`); may return a :class:`Stop`."""

    def after_step(self, record: dict[str, Any]) -> Stop | None: ...


class History:
    """Appends each step's figures to the trainer's history."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def after_step(self, record: dict[str, Any]) -> None:
        history = self.trainer.history
        for key in HISTORY:
            history[key].append(record[key])


class ProgressBar:
    """A tqdm bar over the call's steps, with the latest mismatch, residual, step and speed."""

    def __init__(self, total: int, progress: bool | None) -> None:
        self.bar = progress_bar(total, progress, desc="fit", unit="step")

    def after_step(self, record: dict[str, Any]) -> None:
        bar = self.bar
        if bar is None:
            return
        bar.update(1)
        bar.set_postfix(
            mismatch=f"{record['mismatch']:.3g}",
            residual=f"{record['residual']:.3g}",
            dtheta=f"{record['step_norm']:.2g}",
            updates=_rate(record["n_updates"] * bar.n, record["time"]),
            refresh=False,
        )

    def rewind(self, steps_done: int) -> None:
        """After a rollback: the bar shows the steps the call has really kept."""
        if self.bar is not None:
            self.bar.n = steps_done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Callback:
    """The user's ``callback(info)``; raising StopIteration in it stops the fit at once."""

    def __init__(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        self.callback = callback

    def after_step(self, record: dict[str, Any]) -> Stop | None:
        info = {key: value for key, value in record.items() if key != "n_updates"}
        try:
            self.callback(info)
        except StopIteration:
            return Stop("stopped by callback", at_once=True)
        return None


class ConvergenceTest:
    """At each window end: the training-side criteria, then (when they hold) the fresh-chain
    check of the θ the fit would return; a pass ends the fit."""

    def __init__(self, trainer: Trainer, tol: float, mismatch_tol: float, assess: bool, budget: float) -> None:
        self.trainer, self.tol, self.mismatch_tol = trainer, tol, mismatch_tol
        self.assess, self.budget = assess, budget

    def after_step(self, record: dict[str, Any]) -> Stop | None:
        trainer = self.trainer
        state = trainer.convergence
        if self.tol <= 0 or state.stability is None:
            return None
        drift = state.stability.add(trainer.reported_theta())
        if drift is None:
            return None
        state.drift = drift
        failed = state.training_criteria(
            self.mismatch_tol, trainer.max_residual, self.tol, trainer.landing, trainer.relaxation
        )
        if not failed and self.assess:  # between fresh-chain checks, the last one stands
            last = state.assessment
            if last is None or trainer.step_count >= state.next_assessment:
                failed = trainer.assess_result(self.mismatch_tol, self.budget)
            else:
                failed = list(last.failures)
        if failed:
            return None
        text = f"converged: residual {record['residual']:.3g}, θ drift {drift:.2g} <= {self.tol}"
        if state.assessment is not None:
            text += f"; {state.assessment.message}"
        return Stop(text, converged=True)


class Checkpoints:
    """Every ``checkpoint_every`` steps: a checkpoint on disk, or, for a sharded run that can
    roll back, a snapshot in memory."""

    def __init__(self, trainer: Trainer, recoverable: bool) -> None:
        self.trainer, self.recoverable = trainer, recoverable

    def after_step(self, record: dict[str, Any]) -> None:
        trainer = self.trainer
        every = trainer.checkpoint_every
        if trainer.checkpoint_dir is not None and every is not None and trainer.step_count % every == 0:
            trainer.save_checkpoint()
        elif self.recoverable and trainer.step_count % (trainer.checkpoint_every or 100) == 0:
            trainer.recovery_point = trainer.state_dict()  # in memory only


class Interrupt:
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

    def after_step(self, record: dict[str, Any]) -> Stop | None:
        return Stop("interrupted") if self.requested else None

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.SIG_DFL)
            self._installed = False
