"""Penalties on θ: L2 through its gradient, L1 through a proximal (soft-threshold) step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import ModelSpecError
from factorgraph._validation import as_finite_array, message
from objectives._protocol import Objective

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph
    from samplers import ChainStats


__all__ = ["L2", "L1"]


def _strength(value: Any, owner: str) -> float | np.ndarray:
    strength = as_finite_array("strength", value, owner, error=ModelSpecError)
    if np.any(strength < 0):
        raise ModelSpecError(message("strength", owner, "non-negative", value))
    if strength.ndim > 1:
        raise ModelSpecError(
            message("strength", owner, "a number or a 1-D array (n_features,)", f"shape {strength.shape}")
        )
    return float(strength) if strength.ndim == 0 else strength


class _Penalty(Objective):
    """A penalty whose strength is one number or one per feature."""

    def __init__(self, strength: Any) -> None:
        self.strength = _strength(strength, type(self).__name__)

    def check(self, graph: CompiledGraph) -> None:
        if isinstance(self.strength, np.ndarray) and self.strength.shape != (graph.n_features,):
            raise ModelSpecError(
                message(
                    "strength",
                    type(self).__name__,
                    f"a number or shape ({graph.n_features},)",
                    f"shape {self.strength.shape}",
                )
            )

    def config(self) -> tuple[str, dict[str, Any]]:
        """``("l2" or "l1", {"strength": ...})``; see :meth:`Objective.config`."""
        return type(self).__name__.lower(), {"strength": self.strength}

    def keeps_finite(self, n_features: int) -> np.ndarray:
        """Mask of shape (n_features,): True where the penalty keeps the optimal θ finite.

        A positive strength bounds θ even for a target at the edge of its feature's range,
        which the trainer would otherwise refuse as unreachable.
        """
        return np.broadcast_to(np.asarray(self.strength) > 0, (n_features,))


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

    def value_and_grad(self, stats: ChainStats | None, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """−(λ/2)|θ|² and −λθ."""
        grad = -self.strength * theta
        return float(0.5 * theta @ grad), grad

    def exact_value_and_grad(self, graph: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The same value and gradient: the penalty needs no expectations."""
        return self.value_and_grad(None, theta)

    def ridge(self, n_features: int) -> np.ndarray:
        """λ per feature: the penalty's curvature (:class:`~factorgraph.contracts.RidgeTerm`)."""
        return np.broadcast_to(self.strength, (n_features,))


class L1(_Penalty):
    """The penalty −λ|θ|₁, applied by a proximal (soft-threshold) step: sparse θ.

    Its gradient term is zero; after each optimizer step the trainer calls
    :meth:`proximal`, which sets θ_k to ``sign(θ_k)·max(|θ_k| − s_k·λ_k, 0)`` with s_k the step
    size of that step (:attr:`factorgraph.optim.Optimizer.step_size`). Small couplings so
    become exactly zero. With Adam, s_k is its per-coordinate step lr / (sqrt(v̂_k) + eps): the
    threshold in the metric Adam steps in.

    Parameters
    ----------
    strength : float or array_like of shape (n_features,)
        λ, shared or per feature.

    Examples
    --------
    >>> import numpy as np, objectives
    >>> term = objectives.L1(0.5)
    >>> float(term.value_and_grad(None, np.array([2.0, -1.0]))[0])
    -1.5
    >>> term.proximal(np.array([2.0, -0.3, 0.1]), 1.0).tolist()
    [1.5, -0.0, 0.0]
    """

    def value_and_grad(self, stats: ChainStats | None, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """−λ|θ|₁, and a zero gradient: the penalty acts through :meth:`proximal`."""
        return float(-np.sum(self.strength * np.abs(theta))), np.zeros_like(theta)

    def proximal(self, theta: np.ndarray, step: float | np.ndarray) -> np.ndarray:
        """The proximal map of step·λ|θ|₁: soft-thresholding of θ by step·λ.

        Parameters
        ----------
        theta : ndarray of shape (n_features,)
        step : float or ndarray of shape (n_features,)
            The optimizer's step size, shared or per coordinate.

        Returns
        -------
        ndarray of shape (n_features,)
        """
        return np.sign(theta) * np.maximum(np.abs(theta) - step * self.strength, 0.0)
