"""Consistency of marginal targets: tables on overlapping scopes must agree where they overlap.

Two target tables q_S and q_T of :class:`~objectives.ExactMarginal` terms on scopes sharing
variables V = S ∩ T describe one distribution only if they give the same marginal on V
(:class:`~objectives.MarginalPrior` tables are penalties, compared only on request). Indicator targets of a full one-hot
group (a ``Potential`` without reference state) are the joint marginal of their scope, so they
must sum to 1 per scope. Both engines (the trainer and :func:`factorgraph.exact.fit`) check this
before the first step: inconsistent tables have no common solution and the fit would settle on
a silent compromise (or diverge).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import InconsistentTargetError
from factorgraph.contracts import MarginalTerm, MatchingTerm

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph

__all__ = ["TOLERANCE", "marginal_tables", "check_consistent_marginals", "check_indicator_sums"]

#: The largest disagreement between two marginals (absolute, per joint state) that is let pass.
TOLERANCE = 1e-9


def marginal_tables(terms: Any, include_priors: bool = False) -> list[tuple[tuple[int, ...], np.ndarray, str]]:
    """(scope, table, label) of every term that fixes a joint marginal to a table (a
    :class:`~factorgraph.contracts.MarginalTerm` that is also a matching term: ``ExactMarginal``),
    and with ``include_priors`` of every other marginal term, which pulls one towards a table
    (``MarginalPrior``)."""
    out = []
    for i, term in enumerate(terms):
        if not isinstance(term, MarginalTerm) or not (include_priors or isinstance(term, MatchingTerm)):
            continue
        scope, table = term.scope, np.asarray(term.target, dtype=np.float64)
        scope = tuple(int(v) for v in np.ravel(scope))
        if table.ndim != len(scope):
            continue  # the term's own checks report this
        out.append((scope, table / table.sum(), f"{type(term).__name__} (term {i})"))
    return out


def _marginal(scope: tuple[int, ...], table: np.ndarray, keep: list[int]) -> np.ndarray:
    """The table summed over the variables outside ``keep``, axes in the order of ``keep``."""
    drop = tuple(a for a, v in enumerate(scope) if v not in keep)
    reduced = table.sum(axis=drop) if drop else table
    remaining = [v for v in scope if v in keep]
    return np.transpose(reduced, [remaining.index(v) for v in keep])


def check_consistent_marginals(terms: Any, tol: float = TOLERANCE, include_priors: bool = False) -> None:
    """Refuse marginal targets on overlapping scopes that disagree on their shared variables.

    By default only the hard constraints (``ExactMarginal``) are compared: two of them that
    disagree have no solution. Marginal priors are penalties, and priors that pull different
    ways have a well-defined compromise (which the trainer and ``exact.fit`` allow);
    ``include_priors=True`` compares them too, for a caller who wants them to agree.

    Parameters
    ----------
    terms : sequence of Objective
    tol : float, default 1e-9
        The largest absolute difference allowed between the two marginals, per joint state.
    include_priors : bool, default False
        Compare ``MarginalPrior`` tables as well.

    Raises
    ------
    InconsistentTargetError
        Naming both scopes, the shared variables and the size of the disagreement.

    Examples
    --------
    >>> import factorgraph as fg, objectives
    >>> from objectives.consistency import check_consistent_marginals
    >>> a = objectives.MarginalPrior((0, 1), [[0.4, 0.1], [0.1, 0.4]])
    >>> b = objectives.MarginalPrior((1, 2), [[0.3, 0.3], [0.2, 0.2]])
    >>> try:
    ...     check_consistent_marginals([a, b], include_priors=True)
    ... except fg.InconsistentTargetError as error:
    ...     print(error.scopes, round(error.disagreement, 6))
    ((0, 1), (1, 2)) 0.1
    """
    tables = marginal_tables(terms, include_priors)
    for (s, p, a), (t, q, b) in itertools.combinations(tables, 2):
        shared = sorted(set(s) & set(t))
        if not shared:
            continue
        left, right = _marginal(s, p, shared), _marginal(t, q, shared)
        if left.shape != right.shape:
            continue  # a shape mismatch with the graph is reported by the terms' own checks
        gap = float(np.abs(left - right).max(initial=0.0))
        if gap > tol:
            raise InconsistentTargetError(
                f"The marginal targets of {a} on scope {s} and {b} on scope {t} disagree on "
                f"variable(s) {shared} by up to {gap:.3g} (tolerance {tol:g}): no distribution has "
                f"both. Derive both tables from the same data, or drop one of the terms.",
                scopes=(s, t),
                disagreement=gap,
            )


def check_indicator_sums(graph: CompiledGraph, matched: np.ndarray, target: np.ndarray, tol: float = TOLERANCE) -> None:
    """Refuse targets of a full one-hot factor (one indicator per joint state of its scope, as
    ``Potential`` without a reference) that do not sum to 1: they are its scope's marginal.

    Raises
    ------
    InconsistentTargetError
        Naming the factor's group and scope and the sum.
    """
    for index_map, factors in graph.distinct_tables(1):
        if index_map.min(initial=0) < 0 or len(np.unique(index_map)) != len(index_map):
            continue  # some joint state has no indicator: the targets may sum to less than 1
        ids = graph.factor_theta[factors][:, None] + np.arange(len(index_map))[None, :]
        full = matched[ids].all(axis=1)
        if not full.any():
            continue
        sums = target[ids[full]].sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > tol)
        if len(bad):
            f = int(factors[full][bad[0]])
            scope = tuple(graph.factor_vars[graph.factor_ptr[f] : graph.factor_ptr[f + 1]].tolist())
            group = int(np.searchsorted(graph.group_factors, f, side="right") - 1)
            first = int(ids[full][bad[0]][0])
            raise InconsistentTargetError(
                f"The targets of features {first}..{first + len(index_map) - 1} (group "
                f"'{graph.group_names[group]}', scope {scope}) are the indicators of every joint state of "
                f"their scope, so they must sum to 1; they sum to {sums[bad[0]]:.12g} (off by "
                f"{abs(sums[bad[0]] - 1):.3g}). Normalise them, e.g. compute them with fg.moments.",
                scopes=(scope,),
                disagreement=abs(sums[bad[0]] - 1),
            )
