"""Moment matching: the maximum-entropy gradient m_target − E_θ[f]."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph import enumeration
from factorgraph._errors import DataError, ModelSpecError
from factorgraph._validation import as_finite_array, message
from factorgraph.contracts import MatchingTerm
from objectives._protocol import Needs, Objective

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph
    from samplers import ChainStats


__all__ = ["MomentMatching", "combined_targets"]


class MomentMatching(Objective):
    """The log-likelihood term θ·m − log Z(θ), whose gradient is m − E_θ[f].

    Parameters
    ----------
    target : array_like of shape (n_features,)
        Target feature means in θ order (e.g. ``fg.moments(g, data)``); entries of fixed
        features are ignored.

    Examples
    --------
    >>> import numpy as np, objectives, samplers
    >>> term = objectives.MomentMatching([0.5, -0.2])
    >>> stats = samplers.ChainStats(mean=np.array([0.3, 0.1]), n_chains=10, sweep=1)
    >>> value, grad = term.value_and_grad(stats, np.zeros(2))
    >>> value is None, grad.round(12).tolist()
    (True, [0.2, -0.3])
    """

    def __init__(self, target: ArrayLike) -> None:
        self.target = as_finite_array("target", target, "MomentMatching", error=DataError)
        if self.target.ndim != 1:
            raise DataError(message("target", "MomentMatching", "a 1-D array in θ order", f"shape {self.target.shape}"))

    def needs(self) -> Needs:
        """The chains' feature means."""
        return Needs(mean=True)

    def check(self, graph: CompiledGraph) -> None:
        """Refuse a target of another length than θ."""
        if self.target.shape != (graph.n_features,):
            raise DataError(
                message(
                    "target",
                    "MomentMatching",
                    f"shape ({graph.n_features},), one per feature",
                    f"shape {self.target.shape}",
                )
            )

    def config(self) -> tuple[str, dict[str, Any]]:
        """``("moment-matching", {"target": ...})``; see :meth:`Objective.config`."""
        return "moment-matching", {"target": self.target}

    def matched_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The θ indices this term matches (all) and their target moments (for the trainer's monitor)."""
        return np.arange(len(self.target)), self.target

    def value_and_grad(self, stats: ChainStats, theta: np.ndarray) -> tuple[None, np.ndarray]:
        """m − μ̂ (the log-likelihood's value needs log Z, so it is None)."""
        return None, self.target - stats.mean

    def exact_value_and_grad(self, graph: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """θ·m − log Z(θ) and m − E_θ[f], by enumeration (see :mod:`factorgraph.exact`)."""
        log_z, mean = enumeration.log_partition_and_means(graph, theta)
        return float(theta @ self.target - log_z), self.target - mean


def combined_targets(terms: Any, n_features: int, trainable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The features some matching term covers (mask) and their one target.

    A matching term is one with ``matched_moments()`` (``MomentMatching``, ``ExactMarginal``):
    its gradient is m_k − E_θ[f_k] on those features. Both engines (the trainer and
    :func:`factorgraph.exact.fit`) count that gradient once per feature however many terms
    cover it, so the terms must agree: two different targets for one feature would make the fit
    settle on a silent compromise, and are refused.

    Parameters
    ----------
    terms : sequence of Objective
    n_features : int
    trainable : ndarray of bool, shape (n_features,), optional
        Features whose targets matter; clashes elsewhere (fixed features) are let pass.

    Returns
    -------
    matched : ndarray of bool, shape (n_features,)
    target : ndarray of shape (n_features,)
        The targets, 0 where nothing is matched.

    Raises
    ------
    ModelSpecError
        When two terms give one feature different targets (beyond 1e-9 relative).
    """
    first = np.full(n_features, np.nan)
    for term in terms:
        if not isinstance(term, MatchingTerm):
            continue
        ids, target = term.matched_moments()
        ids, target = np.asarray(ids), np.asarray(target, dtype=np.float64)
        seen = ~np.isnan(first[ids])
        clash = seen & (np.abs(first[ids] - target) > 1e-9 * np.maximum(1.0, np.abs(target)))
        if trainable is not None:
            clash &= trainable[ids]
        if clash.any():
            names = ", ".join(f"{k} ({first[k]:.6g} vs {t:.6g})" for k, t in zip(ids[clash][:5], target[clash][:5]))
            raise ModelSpecError(
                f"Two objectives match features {names}{' ...' if clash.sum() > 5 else ''} to different "
                "targets. Give them the same targets, or leave those features out of one term (e.g. "
                "compute MomentMatching's target before ExactMarginal.add_to)."
            )
        first[ids[~seen]] = target[~seen]
    matched = ~np.isnan(first)
    return matched, np.where(matched, first, 0.0)
