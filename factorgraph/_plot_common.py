"""What the plots share: matplotlib on demand, θ and chain states from a fit, exact values with a
hint when the model is too large."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from factorgraph._errors import MissingDependencyError, ModelTooLargeError
from factorgraph._validation import check_states, check_theta

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph


__all__ = ["pyplot", "Fitted", "theta_and_states", "exact_or_explain"]


def pyplot() -> Any:
    """matplotlib.pyplot, or an error that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "factorgraph.plot needs matplotlib, which is not installed. Install it with "
            'pip install "factorgraph-maxent[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


@runtime_checkable
class Fitted(Protocol):
    """A fit's result (:class:`~factorgraph.FitResult`, an exact fit's result): the fitted
    ``theta``, and perhaps the chains' final ``states``."""

    theta: np.ndarray


def theta_and_states(
    graph: CompiledGraph, theta: Fitted | ArrayLike, states: ArrayLike | None, owner: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """θ and chain states from a fit's result (a FitResult's final states unless others are
    given; an exact fit has none) or from an array."""
    if isinstance(theta, Fitted):
        states = getattr(theta, "states", None) if states is None else states
        theta = theta.theta
    values = check_theta(theta, graph.n_features, owner)
    return values, None if states is None else check_states(states, graph.n_states, owner, name="states")


def exact_or_explain(owner: str, compute: Any) -> Any:
    try:
        return compute()
    except ModelTooLargeError as exc:
        raise ModelTooLargeError(f"{owner}: {exc} Pass states= (e.g. result.states) to use the chains.") from None
