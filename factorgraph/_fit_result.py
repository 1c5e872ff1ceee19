"""One call of :meth:`~factorgraph.Trainer.fit`: its checked arguments, the figures it records
every step, and what it returns."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import ModelSpecError
from factorgraph._validation import check_int, message

if TYPE_CHECKING:
    from factorgraph.assessment import Assessment

__all__ = ["FitArgs", "FitResult", "HISTORY", "interrupted_message"]

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
    assessment: Assessment | None = field(default=None, repr=False)
    theta_stderr: np.ndarray | None = field(default=None, repr=False)
    failures: tuple[str, ...] = ()

    def __repr__(self) -> str:
        last = {k: float(v[-1]) for k, v in self.history.items() if len(v) and np.ndim(v) == 1}
        return (
            f"FitResult(converged={self.converged}, n_steps={self.n_steps}, message={self.message!r}, "
            f"mismatch={last.get('mismatch', float('nan')):.3g}, n_features={len(self.theta)})"
        )


@dataclass(frozen=True)
class FitArgs:
    """The arguments of a :meth:`~factorgraph.Trainer.fit` call that outlive its start (the
    defaults are ``fit``'s): the steps read ``check_every``, ``max_theta`` and
    ``decay_on_plateau``, and a resumed run gets them all back."""

    max_steps: int = 10_000
    tol: float = 1e-3
    mismatch_tol: float = 1.5
    check_every: int = 10
    window: int = 50
    max_theta: float = 30.0
    patience: int = 100
    decay_on_plateau: float | None = None

    @classmethod
    def checked(
        cls,
        max_steps: int,
        tol: float,
        mismatch_tol: float,
        check_every: int,
        window: int,
        max_theta: float,
        patience: int,
        decay_on_plateau: float | None,
    ) -> FitArgs:
        """The arguments, checked; a bad one raises :class:`~factorgraph.ModelSpecError`."""
        owner = "Trainer.fit"
        bounds = (
            ("tol", tol, 0.0, ">= 0"),
            ("mismatch_tol", mismatch_tol, None, "> 0"),
            ("max_theta", max_theta, None, "> 0"),
        )
        for name, value, allowed_zero, wanted in bounds:
            if not (isinstance(value, numbers.Real) and np.isfinite(value) and (value > 0 or value == allowed_zero)):
                raise ModelSpecError(message(name, owner, f"a finite number {wanted}", value))
        if decay_on_plateau is not None and not (
            isinstance(decay_on_plateau, numbers.Real) and 0 < decay_on_plateau < 1
        ):
            raise ModelSpecError(message("decay_on_plateau", owner, "None or a number in (0, 1)", decay_on_plateau))
        return cls(
            max_steps=check_int("max_steps", max_steps, owner, minimum=0),
            tol=float(tol),
            mismatch_tol=float(mismatch_tol),
            check_every=check_int("check_every", check_every, owner, minimum=1),
            window=check_int("window", window, owner, minimum=1),
            max_theta=float(max_theta),
            patience=check_int("patience", patience, owner, minimum=1),
            decay_on_plateau=None if decay_on_plateau is None else float(decay_on_plateau),
        )

    def as_dict(self) -> dict[str, Any]:
        """The arguments by name, as ``fit`` takes them (and a checkpoint stores them)."""
        return asdict(self)


def interrupted_message(step: int, checkpoint_dir: str | None) -> str:
    """How a fit stopped by Ctrl-C after ``step`` ended, and how to go on from there."""
    where = f"interrupted by Ctrl-C after step {step}"
    if checkpoint_dir is None:
        return (
            f"{where}; no checkpoint_dir was set, so nothing was saved. Call fit again on this trainer "
            "to continue, or set Trainer(checkpoint_dir=...) to be able to resume in a new process."
        )
    return (
        f"{where}; checkpoint written to {checkpoint_dir!r}. To finish the run: "
        f"trainer = fg.Trainer.resume({checkpoint_dir!r}); trainer.fit(**trainer.resume_args) "
        "(on the command line: factorgraph fit ... --resume)."
    )
