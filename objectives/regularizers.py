"""Penalties on θ: L2 (and L1 by its subgradient)."""

from __future__ import annotations

from typing import Any

import numpy as np

from factorgraph._errors import ModelSpecError
from factorgraph._validation import as_finite_array, message
from objectives._protocol import Objective

__all__ = ["L2", "L1"]


def _strength(value: Any, owner: str) -> float | np.ndarray:
    strength = as_finite_array("strength", value, owner, error=ModelSpecError)
    if np.any(strength < 0):
        raise ModelSpecError(message("strength", owner, "non-negative", value))
    if strength.ndim > 1:
        raise ModelSpecError(message("strength", owner, "a number or a 1-D array (n_features,)", f"shape {strength.shape}"))
    return float(strength) if strength.ndim == 0 else strength


class _Penalty(Objective):
    """A penalty whose strength is one number or one per feature."""

    def __init__(self, strength: Any) -> None:
        self.strength = _strength(strength, type(self).__name__)

    def check(self, graph: Any) -> None:
        if isinstance(self.strength, np.ndarray) and self.strength.shape != (graph.n_features,):
            raise ModelSpecError(
                message("strength", type(self).__name__, f"a number or shape ({graph.n_features},)",
                        f"shape {self.strength.shape}")
            )


class L2(_Penalty):
    """The penalty −(λ/2)|θ|², gradient −λθ (a Gaussian prior on θ).

    Parameters
    ----------
    strength : float or array_like of shape (n_features,)
        λ, shared or per feature.

    Examples
    --------
    >>> import numpy as np, objectives
    >>> value, grad = objectives.L2(0.5).value_and_grad(None, np.array([2.0, -1.0]))
    >>> float(value), grad.tolist()
    (-1.25, [-1.0, 0.5])
    """

    def value_and_grad(self, stats: Any, theta: np.ndarray) -> tuple[float, np.ndarray]:
        grad = -self.strength * theta
        return float(0.5 * theta @ grad), grad

    def exact_value_and_grad(self, graph: Any, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The same value and gradient: the penalty needs no expectations."""
        return self.value_and_grad(None, theta)


class L1(_Penalty):
    """The penalty −λ|θ|₁, with subgradient −λ·sign(θ) (zero at θ = 0).

    Parameters
    ----------
    strength : float or array_like of shape (n_features,)
    """

    def value_and_grad(self, stats: Any, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return float(-np.sum(self.strength * np.abs(theta))), -self.strength * np.sign(theta)
