"""Connected two-site correlations of a model's feature means, and their Pearson agreement.

For every pair feature (a ``Product`` of two variables, or a pair ``Potential`` entry) the
connected correlation is the pair's mean minus the product of the two single-site means that
the model's own features give; :func:`pearson_connected` compares two sets of means by the
Pearson correlation of these, the figure protein-family users quote.
"""

from __future__ import annotations

__all__ = ["PairStructure", "pearson_of", "connected_correlations", "pearson_connected"]

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from factorgraph._validation import check_theta
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph, GraphLike


@dataclass(frozen=True)
class PairStructure:
    """Where every connected two-site correlation comes from: c_e = m[pair_e] − (L m)_e (R m)_e.

    ``pair`` holds the pair feature of each entry (sorted), ``left`` and ``right`` the sparse
    rows that give the two single-site means from the feature means (one unit entry for a
    single-site feature, or the sum of the pair's features over the other variable's states).
    """

    pair: np.ndarray
    left: scipy.sparse.csr_matrix
    right: scipy.sparse.csr_matrix

    def connected(self, means: np.ndarray) -> np.ndarray:
        return means[self.pair] - (self.left @ means) * (self.right @ means)

    @classmethod
    def of(cls, compiled: CompiledGraph) -> PairStructure | None:
        """The entries of ``compiled``'s pair groups, or None when it has none."""
        found: list[Any] = [_product_pairs(compiled)] + _indexed_pairs(compiled)
        parts = [p for p in found if p is not None and len(p[0])]
        if not parts:
            return None
        n = compiled.n_features
        pair = np.concatenate([p[0] for p in parts])
        offsets = np.cumsum([0] + [len(p[0]) for p in parts])
        sides = []
        for side in (1, 2):
            rows = np.concatenate([p[side][0] + o for p, o in zip(parts, offsets)])
            cols = np.concatenate([p[side][1] for p in parts])
            sides.append(scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(pair), n)))
        order = np.argsort(pair, kind="stable")
        return cls(pair[order], sides[0][order], sides[1][order])


Side = tuple[np.ndarray, np.ndarray]  # (entry rows, feature columns) of a sparse 0/1 matrix


def _factor_groups(compiled: CompiledGraph) -> np.ndarray:
    """The kind of each factor's group, shape (n_factors,)."""
    counts = np.diff(compiled.group_factors)
    return np.repeat(np.array(compiled.group_kinds, dtype=object), counts)


def _product_pairs(compiled: CompiledGraph) -> tuple[np.ndarray, Side, Side] | None:
    """Arity-2 Product features x_i x_j whose variables both have an arity-1 Product feature:
    c_ij = m_ij − m_i m_j."""
    first = compiled.factor_ptr[:-1]
    arity = np.diff(compiled.factor_ptr)
    product = (_factor_groups(compiled) == "Product") & (compiled.factor_form == 0)
    single = np.flatnonzero(product & (arity == 1))
    pairs = np.flatnonzero(product & (arity == 2))
    if not len(single) or not len(pairs):
        return None
    unary = np.full(compiled.n_variables, -1, dtype=np.int64)
    unary[compiled.factor_vars[first[single]][::-1]] = compiled.factor_theta[single][::-1]  # the first wins
    i = unary[compiled.factor_vars[first[pairs]]]
    j = unary[compiled.factor_vars[first[pairs] + 1]]
    keep = (i >= 0) & (j >= 0)
    rows = np.arange(int(keep.sum()))
    return compiled.factor_theta[pairs][keep], (rows, i[keep]), (rows, j[keep])


def _injective(local: np.ndarray) -> bool:
    """Each feature of a one-hot map is one joint state (not a bin of several)."""
    switched = local[local >= 0]
    return len(np.unique(switched)) == len(switched)


def _indexed_pairs(compiled: CompiledGraph) -> list[tuple[np.ndarray, Side, Side]]:
    """One-hot pair maps whose features are single joint states (a, b): c = f_ij(a, b) −
    f_i(a) f_j(b), with f_i(a) from a one-hot single-site feature of the variable, or else by
    summing f_ij(a, ·) when every joint state of the pair has a feature (entries with neither
    are left out)."""
    first = compiled.factor_ptr[:-1]
    arity = np.diff(compiled.factor_ptr)
    sizes = compiled.n_states.astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(sizes)])
    unary = np.full(int(offset[-1]), -1, dtype=np.int64)  # the single-site feature of (variable, state)
    tables = compiled.distinct_tables(1)
    for table, factors in tables:
        factors = factors[arity[factors] == 1]
        if not len(factors) or not _injective(table):
            continue
        states = np.flatnonzero(table >= 0)
        slots = offset[compiled.factor_vars[first[factors]]][:, None] + states[None, :]
        ids = compiled.factor_theta[factors][:, None] + table[states][None, :]
        slots, where = np.unique(slots.ravel(), return_index=True)  # the first feature of a state wins ...
        free = unary[slots] < 0  # ... and so does the first table
        unary[slots[free]] = ids.ravel()[where[free]]
    out = []
    for table, factors in tables:
        factors = factors[arity[factors] == 2]
        if not len(factors) or not _injective(table):
            continue
        a_size = sizes[compiled.factor_vars[first[factors]]]
        b_size = sizes[compiled.factor_vars[first[factors] + 1]]
        for ka, kb in sorted(set(zip(a_size.tolist(), b_size.tolist()))):
            chosen = factors[(a_size == ka) & (b_size == kb)]
            out.append(_pair_entries(compiled, table, chosen, ka, kb, unary, offset))
    return out


def _pair_entries(
    compiled: CompiledGraph,
    table: np.ndarray,
    factors: np.ndarray,
    ka: int,
    kb: int,
    unary: np.ndarray,
    offset: np.ndarray,
) -> tuple[np.ndarray, Side, Side]:
    """The entries of pair factors that share one map of shape (ka, kb)."""
    first = compiled.factor_ptr[:-1]
    grid = table.reshape(ka, kb).astype(np.int64)
    full = bool(np.all(grid >= 0))
    a, b = np.nonzero(grid >= 0)
    base = compiled.factor_theta[factors].astype(np.int64)[:, None]
    pair = base + grid[a, b][None, :]  # (factors, entries)
    ui = unary[offset[compiled.factor_vars[first[factors]]][:, None] + a[None, :]]
    uj = unary[offset[compiled.factor_vars[first[factors] + 1]][:, None] + b[None, :]]
    keep = ((ui >= 0) | full) & ((uj >= 0) | full)
    rows = np.full(keep.shape, -1, dtype=np.int64)
    rows[keep] = np.arange(int(keep.sum()))
    # the marginal of the first variable in state a: the pair's features (a, b') for every b'
    left = _side(rows, ui, keep, base[:, :, None] + grid[a][None, :, :])
    right = _side(rows, uj, keep, base[:, :, None] + grid[:, b].T[None, :, :])
    return pair[keep], left, right


def _side(rows: np.ndarray, unary: np.ndarray, keep: np.ndarray, summed: np.ndarray) -> Side:
    """Sparse rows: the single-site feature where there is one, else the sum over ``summed``."""
    direct = keep & (unary >= 0)
    marginal = keep & (unary < 0)
    width = summed.shape[2]
    entry_rows = np.concatenate([rows[direct], np.repeat(rows[marginal], width)])
    columns = np.concatenate([unary[direct], summed[marginal].ravel()])
    return entry_rows, columns


def pearson_of(x: np.ndarray, y: np.ndarray) -> float:
    """The Pearson correlation of two vectors; NaN when either has one entry or no spread
    beyond rounding (e.g. targets of independent variables: every connected correlation 0)."""
    if len(x) < 2:
        return math.nan
    cx, cy = x - x.mean(), y - y.mean()
    nx, ny = float(np.linalg.norm(cx)), float(np.linalg.norm(cy))
    if nx <= 1e-12 * float(np.linalg.norm(x)) or ny <= 1e-12 * float(np.linalg.norm(y)):
        return math.nan
    return float(np.clip(float(cx @ cy) / (nx * ny), -1.0, 1.0))


def connected_correlations(graph: GraphLike, means: ArrayLike) -> np.ndarray | None:
    """The connected two-site correlations implied by a vector of feature means.

    Two kinds of pair features are read:

    * an arity-2 ``Product`` feature x_i x_j whose variables both have an arity-1 ``Product``
      feature: c_ij = m_ij − m_i m_j (a covariance of the values);
    * a one-hot pair map (``Potential``, or any indexed map of arity 2 whose features are single
      joint states) with frequencies f_ij(a, b): c_ij(a, b) = f_ij(a, b) − f_i(a) f_j(b) for
      every (a, b) with a feature, f_i(a) taken from a one-hot single-site feature of the
      variable (a unary ``Potential``) or, when there is none, by summing f_ij(a, ·), which needs
      a feature for every joint state of the pair; entries with neither are left out.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    means : array_like of shape (n_features,)
        Feature means in θ order (targets, or a model's expectations).

    Returns
    -------
    ndarray or None
        One entry per (pair feature), in θ order of the pair features; None when the model has
        no such pair features. For a Potts model with full field and pair ``Potential`` groups,
        this is C_ij(a, b) of every pair and state pair, as in ``benchmarks/bench_pf00014.py``.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([0, 1]), name="fields")
    >>> _ = g.add_features(fg.features.Product([(0, 1)]), name="pair")
    >>> fg.connected_correlations(g, [0.5, 0.2, 0.3]).round(12).tolist()      # 0.3 − 0.5 · 0.2
    [0.2]
    """
    compiled = as_compiled(graph)
    means = check_theta(means, compiled.n_features, "connected_correlations", name="means")
    pairs = PairStructure.of(compiled)
    return None if pairs is None else pairs.connected(means)


def pearson_connected(graph: GraphLike, a: Any, b: Any) -> float | None:
    """The Pearson correlation between the connected correlations of two mean vectors.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    a, b : array_like of shape (n_features,)
        Feature means in θ order, e.g. the targets and a model's expectations.

    Returns
    -------
    float or None
        Over every entry of :func:`connected_correlations`; None when the model has no pair
        features it applies to, NaN when either side has no spread (or there is one entry).

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> v = g.add_variables(3, n_states=3)
    >>> _ = g.add_features(fg.features.Potential(v), name="fields")
    >>> _ = g.add_features(fg.features.Potential([(0, 1), (1, 2)]), name="pairs")
    >>> m = fg.exact.expectations(g, np.random.default_rng(0).normal(size=g.n_features))
    >>> round(fg.pearson_connected(g, m, m), 12)
    1.0
    """
    compiled = as_compiled(graph)
    owner = "pearson_connected"
    a = check_theta(a, compiled.n_features, owner, name="a")
    b = check_theta(b, compiled.n_features, owner, name="b")
    pairs = PairStructure.of(compiled)
    return None if pairs is None else pearson_of(pairs.connected(a), pairs.connected(b))
