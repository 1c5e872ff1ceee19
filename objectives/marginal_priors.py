"""Marginal priors: penalties −λ Φ(p_S, q_S) on the model's joint marginal of a scope."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph import enumeration
from factorgraph._errors import DataError, ModelSpecError
from factorgraph._validation import as_finite_array, as_int_array, check_scope, message
from objectives._protocol import Needs, Objective

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph
    from samplers import ChainStats


__all__ = ["MarginalPrior"]

_KINDS = ("kl", "l2")
#: How far a target's total may be from 1 before it is refused (it is then rescaled to 1 exactly).
SUM_TOLERANCE = 1e-6


class MarginalPrior(Objective):
    """The penalty −λ Φ(p_S, q_S) pulling the model's marginal p_S on a scope towards q_S.

    With p_S(s) = p_θ(x_S = s) and the target table q_S:

    * ``kind="kl"``: Φ = Σ_s q_S(s) log(q_S(s) / p_S(s)), gradient
      ∂Φ/∂θ_k = E[f_k] − E[(q_S/p_S)(x_S) f_k];
    * ``kind="l2"``: Φ = Σ_s (p_S(s) − q_S(s))², gradient
      ∂Φ/∂θ_k = 2 (E[r(x_S) f_k] − E[r(x_S)] E[f_k]) with r = p_S − q_S.

    Both gradients are E[g(x_S) f_k] for a table g over the scope's joint states whose mean
    under p_S is zero (g = 1 − q_S/p_S, and g = 2(r − E[r])), so the chains estimate each with
    one weighted feature sum, Σ_c g(x_S^c) f(x^c) / C, and p_S from their marginal counts.

    Parameters
    ----------
    scope : sequence of int
        The variables S (distinct ids), in the order of the target's axes.
    target : array_like
        q_S: one axis per scope variable, of length that variable's number of states;
        non-negative and summing to 1 (a total off by at most 1e-6 is rescaled to 1).
    kind : {"kl", "l2"}, default "kl"
    strength : float, default 1.0
        λ >= 0.

    Notes
    -----
    **Zero counts (KL).** From C chains, p̂_S(s) = n(s) / C, and a state no chain visits has
    p̂_S(s) = 0, where q/p is infinite. The estimates therefore treat the unvisited states U
    (with target mass Q_U = Σ_{s∈U} q_S(s)) as follows:

    * gradient: g(s) = 1 − Q_U − q_S(s)/p̂_S(s) on the visited states, so the estimate is
      mean(f) − Σ_{s∉U} q_S(s) mean(f | x_S = s) − Q_U mean(f): an unvisited state's
      conditional mean E[f | x_S = s] is replaced by the overall mean (its pull is dropped, and
      g keeps mean zero under p̂_S, so a constant feature gets no gradient). Since independent
      chains in state s are draws from p_θ(x | x_S = s), the visited terms are unbiased; the
      bias is Σ_{s∈U} q_S(s) (E[f | s] − E[f]), which has expectation at most
      Σ_s q_S(s) (1 − p_S(s))^C max|E[f | s] − E[f]|: negligible once C p_S(s) ≫ 1 wherever
      q_S(s) > 0.
    * value: the plug-in Σ q log(q / p̃) with the zero counts smoothed by the pseudo-count
      α = ``PSEUDOCOUNT`` = 1/2, ``p̃(s) = max(n(s), α) / (C + α |U|)``. It is biased by O(#S / C)
      (#S joint states) and only reported, never differentiated.

    The L2 prior needs no smoothing; its plug-in value Σ (p̂ − q)² is biased upwards by
    Σ_s p_S(s)(1 − p_S(s)) / C. Its gradient weights chain c by r = p̂ − q with chain c's own
    count left out, p̂_{−c}(s) = (n(s) − 1)/(C − 1) for s = x_S^c, so that the product
    p̂(s) · mean(1(x_S = s) f) is not biased by the chain's correlation with itself; what
    remains, through the centring E[r], is O(1/C).
    The exact engine (:func:`factorgraph.exact.fit`) uses the exact p_S, which is positive.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, objectives
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> prior = objectives.MarginalPrior((0, 1), [[0.4, 0.1], [0.1, 0.4]], kind="kl", strength=2.0)
    >>> result = fg.exact.fit(g, target=[0.0], objectives=[prior])
    >>> p = fg.exact.marginal(g, result.theta, (0, 1))
    >>> bool(0.25 < p[0, 0] < 0.4 and result.success)
    True
    """

    PSEUDOCOUNT = 0.5

    scope: tuple[int, ...]
    target: np.ndarray
    kind: str
    strength: float

    def __init__(self, scope: ScopeLike, target: ArrayLike, kind: str = "kl", strength: float = 1.0) -> None:
        owner = "MarginalPrior"
        ids = as_int_array("scope", np.atleast_1d(np.asarray(scope)), owner, error=ModelSpecError)
        if ids.ndim != 1 or len(ids) == 0 or np.any(ids < 0) or len(np.unique(ids)) != len(ids):
            raise ModelSpecError(
                message(
                    "scope",
                    owner,
                    "distinct non-negative variable ids",
                    scope,
                    "Pass a tuple of variable ids, each at most once.",
                )
            )
        self.scope = tuple(ids.tolist())
        if kind not in _KINDS:
            raise ModelSpecError(message("kind", owner, "'kl' or 'l2'", kind))
        self.kind = kind
        if (
            isinstance(strength, bool)
            or not isinstance(strength, numbers.Real)
            or not (np.isfinite(strength) and strength >= 0)
        ):
            raise ModelSpecError(message("strength", owner, "a finite number >= 0", strength))
        self.strength = float(strength)
        q = as_finite_array("target", target, owner, error=DataError)
        if q.ndim != len(self.scope):
            raise DataError(
                message(
                    "target",
                    owner,
                    f"an array with one axis per scope variable ({len(self.scope)})",
                    f"shape {q.shape}",
                )
            )
        if np.any(q < 0):
            index = tuple(int(i) for i in np.argwhere(q < 0)[0])
            raise DataError(message("target", owner, "non-negative probabilities", f"{q[index]} at {index}"))
        total = float(q.sum())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise DataError(
                message(
                    "target",
                    owner,
                    f"a table summing to 1 (within {SUM_TOLERANCE:g})",
                    f"a total of {total!r}",
                    "Divide the table by its sum.",
                )
            )
        self.target = q / total

    def needs(self) -> Needs:
        """The scope's marginal counts and one chain-weighted feature sum."""
        return Needs(marginals=(self.scope,), weighted=True)

    def config(self) -> tuple[str, dict[str, Any]]:
        """``("marginal-prior", {scope, target, kind, strength})``; see :meth:`Objective.config`."""
        return "marginal-prior", {
            "scope": list(self.scope),
            "target": self.target,
            "kind": self.kind,
            "strength": self.strength,
        }

    @classmethod
    def from_config(cls, params: dict[str, Any]) -> MarginalPrior:
        """Rebuild the term with exactly the saved (already normalised) target table."""
        term = cls(**params)
        term.target = np.array(params["target"], dtype=np.float64)
        return term

    def check(self, graph: CompiledGraph) -> None:
        """Refuse a scope outside the graph or a table of another shape."""
        check_scope(graph, self.scope, "MarginalPrior")
        shape = tuple(graph.n_states[list(self.scope)].tolist())
        if self.target.shape != shape:
            raise DataError(
                message(
                    "target",
                    "MarginalPrior",
                    f"shape {shape}, the scope variables' numbers of states",
                    f"shape {self.target.shape}",
                )
            )

    def _penalty(self, p: np.ndarray, smoothed: np.ndarray, own: np.ndarray) -> tuple[float, np.ndarray]:
        """Φ and the table g, of mean zero under ``p``, with ∂Φ/∂θ = E[g(x_S) f].

        ``smoothed`` is the marginal with no zeros, for the KL value; ``own`` is the marginal
        each chain sees without itself, for the L2 weights (see Notes). Exactly, all three are p.
        """
        q = self.target
        if self.kind == "kl":
            support, seen = q > 0, p > 0
            phi = float(np.sum(q[support] * np.log(q[support] / smoothed[support])))
            unseen_mass = float(q[~seen].sum())
            return phi, np.where(seen, 1.0 - unseen_mass - q / np.where(seen, p, 1.0), 0.0)
        r = own - q
        return float(np.sum((p - q) ** 2)), 2.0 * (r - np.sum(p * r))

    def value_and_grad(self, stats: ChainStats, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """−λ Φ̂ and −λ ∂Φ/∂θ estimated from the chains' marginal counts and one weighted sum."""
        counts = np.asarray(stats.marginal_counts[self.scope], dtype=np.float64)
        n = float(counts.sum())
        # zero counts get the pseudo-count, for the reported KL value only (see Notes)
        smoothed = np.maximum(counts, self.PSEUDOCOUNT)
        own = (counts - 1.0) / max(n - 1.0, 1.0)
        phi, table = self._penalty(counts / n, smoothed / smoothed.sum(), own)
        if stats.weighted_sums is None:  # the trainer fills it, as needs() asks
            raise ModelSpecError("MarginalPrior needs ChainStats.weighted_sums (Needs(weighted=True)).")
        return -self.strength * phi, -self.strength * stats.weighted_sums(self.scope, table) / n

    def exact_value_and_grad(self, graph: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """−λ Φ and −λ ∂Φ/∂θ computed by enumeration (see :mod:`factorgraph.exact`)."""
        p = enumeration.marginal(graph, theta, self.scope)
        phi, table = self._penalty(p, p, p)
        return -self.strength * phi, -self.strength * enumeration.expectations(graph, theta, self.scope, table)
