"""Exact marginal matching: indicator features of a scope's joint states, matched to a table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._validation import as_finite_array, as_int_array, message
from factorgraph.features import FeatureKind, _state_grid
from objectives._protocol import Needs, Objective

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph
    from factorgraph.graph import FactorGraph
    from samplers import ChainStats


__all__ = ["ExactMarginal"]


class JointStates(FeatureKind):
    """One indicator per joint state of each scope, except one reference joint state.

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    reference : int
        The flat (row-major) index of the joint state that gets no feature.
    """

    form = "indexed"

    def __init__(self, scopes: object, reference: int) -> None:
        super().__init__(scopes)
        self.reference = int(reference)

    def params(self) -> dict[str, Any]:
        return {"reference": self.reference}

    def _index_map(self, values: list[np.ndarray]) -> tuple[np.ndarray, int]:
        size = _state_grid(values).shape[1]
        index = np.arange(size, dtype=np.int32)
        index[self.reference] = -1
        index[self.reference + 1 :] -= 1
        return index, size - 1


class ExactMarginal(Objective):
    """Match the model's joint marginal on ``scope`` to ``target`` exactly.

    :meth:`add_to` adds to the graph one indicator feature 1(x_S = s) per joint state s of the
    scope except a reference state s₀ (the indicators sum to one, so one of them is redundant);
    their target moments are q(s). The term's gradient on those features is q(s) − p̂_θ(s), so at
    the optimum p_θ(x_S) = q exactly, whatever the rest of the model.

    Parameters
    ----------
    scope : array_like of int
        The variables of the marginal, in the order of ``target``'s axes.
    target : array_like
        The target table q, one axis per scope variable (shape ``n_states[scope]``),
        non-negative and summing to 1.
    reference : int, optional
        The flat (row-major) index of the reference state s₀; default: the most probable
        state of q, which keeps θ best conditioned.

    Attributes
    ----------
    feature_ids : ndarray of shape (n_joint - 1,) or None
        The θ indices of the indicators, once added.
    moments : ndarray of shape (n_joint - 1,)
        Their target moments, q(s) for every s ≠ s₀ in row-major order.

    Raises
    ------
    DataError
        When q is not a distribution, or is zero at some joint state: p_θ(x_S = s) > 0 for
        every finite θ, so a zero is only reached as θ → −∞. Smooth the table instead, e.g.
        (1 − ε) q + ε / n_joint, or use ``MarginalPrior``.

    Notes
    -----
    The indicators span every function of x_S, so other features that are functions of the
    scope's variables alone (fields on them, a pair feature on the same pair) make θ
    non-identifiable: p_θ is still matched, but θ is not unique. This term covers only its own
    features; give a ``MomentMatching`` term targets for the others (``fg.exact.fit`` needs a
    target for every trainable feature). A ``MomentMatching`` term that also covers this term's
    features must give them the same targets (a clash is refused); the trainer and the exact
    engine then count each feature's gradient m_k − E[f_k] once.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, objectives
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2)
    >>> term = objectives.ExactMarginal([0, 1], [[0.1, 0.2], [0.3, 0.4]])
    >>> term.add_to(g).tolist()
    [0, 1, 2]
    >>> fit = fg.exact.fit(g, term.moments)
    >>> fg.exact.marginal(g, fit.theta, [0, 1]).round(6).tolist()
    [[0.1, 0.2], [0.3, 0.4]]
    """

    def __init__(self, scope: ScopeLike, target: ArrayLike, reference: int | None = None) -> None:
        owner = "ExactMarginal"
        self.scope = as_int_array("scope", scope, owner, error=ModelSpecError).ravel()
        self.target = as_finite_array("target", target, owner, error=DataError)
        if self.target.ndim != len(self.scope):
            raise DataError(
                message(
                    "target",
                    owner,
                    f"an array with {len(self.scope)} axes, one per scope variable",
                    f"shape {self.target.shape}",
                )
            )
        if np.any(self.target < 0) or not np.isclose(self.target.sum(), 1.0, rtol=0, atol=1e-9):
            raise DataError(
                message(
                    "target",
                    owner,
                    "a non-negative table summing to 1",
                    f"sum {self.target.sum()!r}, min {self.target.min()!r}",
                    "Normalise it.",
                )
            )
        zeros = np.argwhere(self.target == 0)
        if len(zeros):
            raise DataError(
                f"The ExactMarginal target on scope {self.scope.tolist()} is 0 at joint state(s) "
                f"{[tuple(z) for z in zeros.tolist()][:5]}: p_θ(x_S = s) > 0 for every finite θ, so no "
                "model reaches a zero. Smooth the table, e.g. (1 - eps) * q + eps / q.size, or use "
                "MarginalPrior."
            )
        flat = self.target.ravel()
        self.reference = int(np.argmax(flat)) if reference is None else int(reference)
        if not 0 <= self.reference < flat.size:
            raise ModelSpecError(message("reference", owner, f"a joint state index in 0..{flat.size - 1}", reference))
        self.moments = np.delete(flat, self.reference)
        self.feature_ids: np.ndarray | None = None

    def add_to(self, graph: FactorGraph, name: str | None = None) -> np.ndarray:
        """Add the indicator features to ``graph``; returns their θ indices.

        Parameters
        ----------
        graph : FactorGraph
        name : str, optional
            The feature group's name.

        Returns
        -------
        ndarray of shape (n_joint - 1,)
        """
        shape = tuple(graph.n_states[self.scope].tolist())
        if shape != self.target.shape:
            raise DataError(
                message(
                    "target",
                    "ExactMarginal",
                    f"shape {shape}, the joint domain of scope {self.scope.tolist()}",
                    f"shape {self.target.shape}",
                )
            )
        self.feature_ids = graph.add_features(JointStates([self.scope], self.reference), name=name).ravel()
        return self.feature_ids

    def needs(self) -> Needs:
        """The chains' feature means."""
        return Needs(mean=True)

    def config(self) -> tuple[str, dict[str, Any]]:
        """``("exact-marginal", {scope, target, reference, feature_ids})``; see
        :meth:`Objective.config`. ``feature_ids`` (None before :meth:`add_to`) is restored by
        :meth:`from_config`, so the rebuilt term matches the same features."""
        return "exact-marginal", {
            "scope": self.scope,
            "target": self.target,
            "reference": self.reference,
            "feature_ids": self.feature_ids,
        }

    @classmethod
    def from_config(cls, params: dict[str, Any]) -> ExactMarginal:
        """Rebuild the term and its ``feature_ids`` without a graph to add them to."""
        params = dict(params)
        ids = params.pop("feature_ids", None)
        term = cls(**params)
        term.feature_ids = None if ids is None else np.asarray(ids, dtype=np.int64).ravel()
        return term

    def check(self, graph: CompiledGraph) -> None:
        """Refuse a graph the indicators were not added to, or of another size."""
        if self.feature_ids is None:
            raise ModelSpecError(
                "ExactMarginal was not added to the graph; call term.add_to(graph) before compiling or training."
            )
        if self.feature_ids.max() >= graph.n_features or not graph.trainable[self.feature_ids].all():
            raise ModelSpecError(
                "ExactMarginal's features are not trainable features of this graph; train the graph it was added to."
            )

    def matched_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The θ indices this term matches and their target moments (for the trainer's monitor)."""
        if self.feature_ids is None:
            raise ModelSpecError("ExactMarginal has no features yet: call term.add_to(graph) before training.")
        return self.feature_ids, self.moments

    def value_and_grad(self, stats: ChainStats, theta: np.ndarray) -> tuple[None, np.ndarray]:
        """q(s) − p̂(s) on the indicators: the matching gradient (its value is not estimated)."""
        grad = np.zeros_like(theta)
        grad[self.feature_ids] = self.moments - stats.mean[self.feature_ids]
        return None, grad
