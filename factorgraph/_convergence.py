"""The convergence test's progress, kept from one fit call to the next.

:class:`Convergence` holds what the test has seen: the windows of reported θ (their drift),
the plateau counter, the monitor's latest figures, the criteria that failed at the latest window
end and the latest fresh-chain check of the returned θ. The trainer's ``fit`` asks it at every
window end whether the fit has converged; checkpoints keep its state.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._detectors import Plateau, StabilityWindow

if TYPE_CHECKING:
    from factorgraph._landing import Landing
    from factorgraph._relaxation import Relaxation
    from factorgraph.assessment import Assessment

__all__ = ["Convergence"]

_NO_FIGURES = dict(mismatch=np.nan, mismatch_max=np.nan, residual=np.nan, residual_max=np.nan)


class Convergence:
    """What the convergence test has seen so far (see :meth:`Trainer.fit` for the criteria).

    Attributes
    ----------
    stability : StabilityWindow or None
        Windows of the reported θ; None until a fit with ``tol > 0``.
    plateau : Plateau or None
        The residual's plateau counter; None unless a fit decays its rate on plateaus.
    figures : dict of str to float
        The monitor's latest mismatch and residual (RMS and maximum).
    checked : bool
        Whether the monitor has measured since the last reset.
    drift : float
        The reported θ's latest drift between windows (inf before two windows).
    failed : list of str
        The criteria that failed last, training side and fresh-chain check together.
    training_failed : list of str or None
        The training-side criteria that failed at the latest window end; None before one.
    assessment : Assessment or None
        The latest fresh-chain check of the returned θ.
    assessed_at : int
        The step of that check (-1 before one).
    next_assessment : int
        The first step at which another check may run.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything (see :meth:`Trainer.reset_convergence`)."""
        self.stability: StabilityWindow | None = None
        self.plateau: Plateau | None = None
        self.figures = dict(_NO_FIGURES)
        self.checked = False
        self.drift = np.inf
        self.failed: list[str] = []
        self.training_failed: list[str] | None = None
        self.assessment: Assessment | None = None
        self.assessed_at = -1
        self.next_assessment = 0

    def configure(self, tol: float, window: int, decay_on_plateau: float | None, patience: int, n_theta: int) -> None:
        """Set up the detectors a fit call asks for; one with other settings starts afresh."""
        if decay_on_plateau is None:
            self.plateau = None
        elif self.plateau is None or self.plateau.patience != patience:
            self.plateau = Plateau(patience)
        if tol > 0 and (self.stability is None or self.stability.size != window):
            self.stability = StabilityWindow(window, n_theta)

    def training_criteria(
        self,
        mismatch_tol: float,
        max_residual: float | None,
        tol: float,
        landing: Landing | None,
        relaxation: Relaxation,
    ) -> list[str]:
        """The training-side criteria that fail now, each with what to change."""
        figures, failed = self.figures, []
        residual, residual_max = figures["residual"], figures["residual_max"]
        bound = np.inf if max_residual is None else max_residual
        if residual == residual and (residual > mismatch_tol or residual_max > bound):
            failed.append(
                f"the standardised residual (RMS {residual:.3g}, max {residual_max:.3g}) is above the "
                f"noise (RMS <= {mismatch_tol:g}, max <= {bound:.3g}): run more steps, or use more chains"
            )
        if self.drift > tol:
            failed.append(f"θ still drifts {self.drift:.2g} per window (tol {tol:g}): run more steps")
        if landing is not None and landing.step is None:
            failed.append(
                "the fit has not landed (its residual is neither at the noise floor nor on a plateau): run more steps"
            )
        if not relaxation.relaxed:
            more = (
                "the trainer is raising the sweeps per step"
                if relaxation.adapt and relaxation.sweeps < relaxation.max_sweeps
                else "raise sweeps_per_step (or max_sweeps_per_step), or use a faster-mixing sampler"
            )
            failed.append(
                f"the chains have not been seen to forget their states within {relaxation.horizon} steps "
                f"at {relaxation.sweeps} sweeps a step: {more}"
            )
        self.failed, self.training_failed = failed, list(failed)
        return failed

    def record_assessment(self, assessment: Assessment, step: int, call_start: int) -> list[str]:
        """Keep a fresh-chain check made at ``step``; returns the criteria it fails."""
        self.assessment = assessment
        self.assessed_at = step
        # the next check after a quarter as many steps as this call has taken: each costs a
        # burn-in, so they thin out geometrically (a handful per fit), and a check that just
        # failed is retried before the fit has run twice as long
        self.next_assessment = step + max((step - call_start) // 4, 1)
        failed = list(assessment.failures)
        self.failed = list(self.training_failed or []) + failed  # with the training side's at the last window
        return failed

    def not_converged_message(self, n_steps: int, tol: float) -> tuple[str, tuple[str, ...]]:
        """How an unconverged fit ended, and the criteria that failed."""
        if tol == 0:
            return "reached max_steps (the convergence test is off: tol=0)", ()
        failed = tuple(self.failed) or (
            "too few steps for the convergence test (it needs two windows of θ): run more steps",
        )
        return f"not converged after {n_steps} steps: " + "; ".join(failed), failed

    def get_state(self) -> dict[str, Any]:
        """The state a checkpoint keeps (the fresh-chain check itself is measured again)."""
        return {
            "stability": None if self.stability is None else self.stability.get_state(),
            "plateau": None if self.plateau is None else self.plateau.get_state(),
            "figures": self.figures,
            "checked": self.checked,
            "drift": self.drift,
            "failed": list(self.failed),
            "next_assessment": self.next_assessment,
        }

    def set_state(self, state: dict[str, Any], n_theta: int) -> None:
        """Restore :meth:`get_state`."""
        self.stability = self.plateau = None
        if state["stability"] is not None:
            self.stability = StabilityWindow(int(state["stability"]["size"]), n_theta)
            self.stability.set_state(copy.deepcopy(state["stability"]))
        if state["plateau"] is not None:
            self.plateau = Plateau(int(state["plateau"]["patience"]))
            self.plateau.set_state(copy.deepcopy(state["plateau"]))
        self.figures = {k: float(v) for k, v in state["figures"].items()}
        self.checked = bool(state["checked"])
        self.drift = float(state.get("drift", np.inf))
        self.failed = list(state.get("failed", []))
        self.next_assessment = int(state.get("next_assessment", 0))
