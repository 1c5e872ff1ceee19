"""The objective contract: a gradient term for the one shared training loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph
    from samplers import ChainStats


__all__ = ["Objective", "Needs"]


@dataclass(frozen=True)
class Needs:
    """What an objective needs from the chains, declared up front.

    The trainer takes the union over its objectives and asks the sampler for exactly that, so
    nothing unrequested is computed.

    Attributes
    ----------
    mean : bool
        The feature means over the chains (``ChainStats.mean``).
    marginals : tuple of tuple of int
        Scopes whose marginal counts the objective reads (``ChainStats.marginal_counts[scope]``,
        from the sampler's ``marginal_counts(scope)``).
    weighted : bool
        Chain-weighted feature sums Σ_c table[x_S^c] f(x^c), with a table over a scope's joint
        states that the objective computes (``ChainStats.weighted_sums(scope, table)``, the
        sampler's ``weighted_sums``): the covariances E[g(x_S) f] behind marginal gradients.

    Examples
    --------
    >>> from objectives import Needs
    >>> Needs(mean=True) | Needs(marginals=((0, 1),), weighted=True)
    Needs(mean=True, marginals=((0, 1),), weighted=True)
    """

    mean: bool = False
    marginals: tuple[tuple[int, ...], ...] = ()
    weighted: bool = False

    def __or__(self, other: Needs) -> Needs:
        scopes = self.marginals + tuple(s for s in other.marginals if s not in self.marginals)
        return Needs(mean=self.mean or other.mean, marginals=scopes, weighted=self.weighted or other.weighted)


class Objective:
    """Base class of objective terms.

    The training loop maximises L(θ) = Σ_terms; each term returns its value (or None where it
    cannot be computed from samples, like −log Z) and its gradient, the ascent direction.
    A term declares what it reads from the chains with :meth:`needs`. To be solvable by
    :func:`factorgraph.exact.fit` it also defines ``exact_value_and_grad(graph, theta)``, the
    same term and gradient computed by enumeration.

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

    def value_and_grad(self, stats: ChainStats, theta: np.ndarray) -> tuple[float | None, np.ndarray]:
        """The term's value (None if unknown) and gradient at θ, given the chains' statistics."""
        raise NotImplementedError

    def check(self, graph: CompiledGraph) -> None:
        """Validate the term against a compiled graph before training (shapes, finiteness)."""

    def config(self) -> tuple[str, dict[str, Any]]:
        """How to rebuild this term in another process: its registered name and parameters.

        Checkpoints (:mod:`factorgraph.checkpoint`) store the parameters, which must be JSON
        scalars, lists of them, or numpy arrays of numbers, and rebuild the term with
        ``objectives.get(name).from_config(params)``. A custom term registered under a name
        (``objectives.register``) overrides this to be checkpointed; without it, writing a
        checkpoint raises :class:`~factorgraph.CheckpointError` naming the term.

        Returns
        -------
        name : str
            The name the class is registered under, e.g. ``"moment-matching"``.
        params : dict of str
            The keyword arguments of :meth:`from_config`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not describe itself (no config()).")

    @classmethod
    def from_config(cls, params: dict[str, Any]) -> Objective:
        """Rebuild a term from the parameters of :meth:`config`; by default ``cls(**params)``."""
        return cls(**params)
