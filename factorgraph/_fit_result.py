"""What a fit returns, and the figures it records every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitResult", "HISTORY"]

#: The figures recorded every step, the keys of ``FitResult.history`` and ``Trainer.history``.
HISTORY = (
    "mismatch",
    "mismatch_max",
    "residual",
    "residual_max",
    "grad_norm",
    "step_norm",
    "change_rate",
    "time",
    "lr_scale",
    "sweeps",
    "tau",
    "values",
)


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
        of objectives; see :meth:`Trainer.fit`), ``grad_norm``, ``step_norm`` (max ``|Δθ|``),
        ``change_rate`` (fraction of updates that changed a state), ``time`` (seconds of fitting
        since the trainer's first step, over all calls and resumes), ``lr_scale`` (the
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
