"""When a stochastic-approximation fit stops its fast start, and how its step decays after.

A constant step leaves θ in a noise band around the optimum, widest along sloppy directions, so
more steps do not bring it closer. The landing watches the standardised residual: once it is at
the noise floor (or stops improving), the rate decays about as 1/t and the iterates are
averaged from that step on (Polyak–Ruppert), which removes the band.
"""

from __future__ import annotations

import math
from typing import Any

from factorgraph._errors import ModelSpecError
from factorgraph._validation import check_int, message

__all__ = ["Landing"]


class Landing:
    """The switch from the fast start to a decaying rate with iterate averaging.

    Parameters
    ----------
    threshold : float, default 1.5
        Land once the RMS standardised residual (``FitResult.history["residual"]``) is at most
        this and its maximum within the monitor's bound: the gradient is at the noise floor of
        its chain estimate. (The maximum matters for models with very many features, most of
        them rare states at the noise floor from the start, whose RMS says little.)
    patience : int, default 200
        Also land when the residual has not fallen 1% below its best for this many steps (a
        constant step's noise band can hold it above ``threshold``).
    decay_steps : float, default 300.0
        After landing at step t₀ the learning rate is multiplied by
        (1 + (t − t₀) / decay_steps) ** −power.
    power : float, default 1.0
        The decay's exponent, in (0.5, 1] for stochastic approximation to converge.

    Attributes
    ----------
    step : int or None
        The step at which the fit landed; None before.

    Examples
    --------
    >>> landing = Landing(threshold=1.5, decay_steps=10)
    >>> landing.observe(5, 3.0), landing.observe(6, 1.2, 9.0, 6.0), landing.observe(7, 1.2), landing.step
    (False, False, True, 7)
    >>> landing.factor(27)
    0.3333333333333333
    """

    def __init__(
        self, threshold: float = 1.5, patience: int = 200, decay_steps: float = 300.0, power: float = 1.0
    ) -> None:
        owner = "optim.Landing"
        self.threshold = _positive("threshold", threshold, owner)
        self.patience = check_int("patience", patience, owner, minimum=1)
        self.decay_steps = _positive("decay_steps", decay_steps, owner)
        self.power = _positive("power", power, owner)
        if not 0.5 < self.power <= 1.0:
            raise ModelSpecError(message("power", owner, "a number in (0.5, 1]", power))
        self.step: int | None = None
        self._best = math.inf
        self._since_best = 0

    def observe(self, step: int, residual: float, residual_max: float = math.nan, max_bound: float = math.inf) -> bool:
        """Take the residual after ``step`` (its RMS, and its maximum with the bound that
        maximum should stay under); returns True at the step where the fit lands.

        A NaN residual (no term reads the chains) lands at once.
        """
        if self.step is not None:
            return False
        if residual < self._best * 0.99:
            self._best, self._since_best = residual, 0
        else:
            self._since_best += 1
        at_floor = residual <= self.threshold and not residual_max > max_bound
        if residual != residual or at_floor or self._since_best >= self.patience:
            self.step = step
            return True
        return False

    def factor(self, step: int) -> float:
        """The learning-rate factor at ``step``: 1 before landing, then the decay."""
        if self.step is None or step <= self.step:
            return 1.0
        return (1.0 + (step - self.step) / self.decay_steps) ** -self.power

    def config(self) -> dict[str, Any]:
        """The settings, for checkpoints and model files."""
        return {
            "threshold": self.threshold,
            "patience": self.patience,
            "decay_steps": self.decay_steps,
            "power": self.power,
        }

    def get_state(self) -> dict[str, Any]:
        best = None if math.isinf(self._best) else self._best  # JSON has no infinity
        return {"step": self.step, "best": best, "since_best": self._since_best}

    def set_state(self, state: dict[str, Any]) -> None:
        self.step = None if state["step"] is None else int(state["step"])
        self._best = math.inf if state["best"] is None else float(state["best"])
        self._since_best = int(state["since_best"])

    def __repr__(self) -> str:
        return "Landing(" + ", ".join(f"{k}={v!r}" for k, v in self.config().items()) + ")"


def _positive(name: str, value: object, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ModelSpecError(message(name, owner, "a finite number > 0", value))
    return float(value)
