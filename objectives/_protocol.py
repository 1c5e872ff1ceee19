"""The objective contract: a gradient term for the one shared training loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Objective", "Needs"]


@dataclass(frozen=True)
class Needs:
    """What an objective needs from the chains, declared up front.

    The trainer takes the union over its objectives and checks that the sampler's statistics
    supply it; as samplers learn to compute extra statistics (marginal counts, weighted sums),
    this is how an objective asks for them.

    Attributes
    ----------
    mean : bool
        The feature means over the chains (``ChainStats.mean``).
    """

    mean: bool = False

    def __or__(self, other: Needs) -> Needs:
        return Needs(mean=self.mean or other.mean)


class Objective:
    """Base class of objective terms.

    The training loop maximises L(θ) = Σ_terms; each term returns its value (or None where it
    cannot be computed from samples, like −log Z) and its gradient, the ascent direction.

    Examples
    --------
    A custom term that pulls θ towards a prior mean μ with strength λ:

    >>> import numpy as np, objectives
    >>> class GaussianPrior(objectives.Objective):
    ...     def __init__(self, mu, strength):
    ...         self.mu, self.strength = np.asarray(mu, float), float(strength)
    ...     def value_and_grad(self, stats, theta):
    ...         diff = theta - self.mu
    ...         return -0.5 * self.strength * diff @ diff, -self.strength * diff
    >>> value, grad = GaussianPrior([1.0, 0.0], 2.0).value_and_grad(None, np.array([0.0, 0.0]))
    >>> float(value), grad.tolist()
    (-1.0, [2.0, -0.0])
    """

    def needs(self) -> Needs:
        """What this term reads from the chains' statistics."""
        return Needs()

    def value_and_grad(self, stats: Any, theta: np.ndarray) -> tuple[float | None, np.ndarray]:
        """The term's value (None if unknown) and gradient at θ, given the chains' statistics."""
        raise NotImplementedError

    def check(self, graph: Any) -> None:
        """Validate the term against a compiled graph before training (shapes, finiteness)."""
