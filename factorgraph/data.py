"""From data to targets: empirical feature means, optionally mixed with the uniform model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from factorgraph._errors import DataError
from factorgraph._validation import check_states, check_weights, message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import GraphLike


def moments(
    graph: GraphLike, data: ArrayLike, weights: ArrayLike | None = None, pseudocount: float = 0.0
) -> np.ndarray:
    """The empirical means of every feature over a data set.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables)
        State indices, one row per sample (see :meth:`FactorGraph.encode` for raw values).
    weights : array_like of shape (N,), optional
        Non-negative sample weights (e.g. sequence reweighting); uniform by default.
    pseudocount : float in [0, 1), default 0.0
        Mix the data's distribution with the uniform one: (1 − α) m_data + α E_uniform[f].
        Keeps targets off the boundary (a state never seen would need θ → −∞).

    Returns
    -------
    ndarray of shape (n_features,)
        Σ_b w_b f(x_b) / Σ_b w_b, in θ order: the targets of moment matching.

    Examples
    --------
    >>> import factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> fg.moments(g, [[0, 0], [1, 1], [0, 1]]).round(4).tolist()
    [0.3333]
    >>> fg.moments(g, [[0, 0], [1, 1]], pseudocount=0.5).tolist()
    [0.5]
    """
    compiled = as_compiled(graph)
    states = check_states(data, compiled.n_states, "moments")
    w = check_weights(weights, states.shape[0], "moments")
    mean = compiled.feature_sums(states, w) / w.sum()
    if not (0.0 <= pseudocount < 1.0):
        raise DataError(message("pseudocount", "moments", "a number in [0, 1)", pseudocount))
    return (1.0 - pseudocount) * mean + pseudocount * uniform_moments(compiled) if pseudocount else mean


def uniform_moments(graph: GraphLike) -> np.ndarray:
    """E[f] under the uniform distribution over all joint states, shape (n_features,).

    Each feature depends on its scope only, and the uniform distribution is uniform on every
    scope, so a scaled feature's mean is its table's mean and an indexed feature's mean is the
    fraction of its scope's joint states that switch it on.
    """
    cg = as_compiled(graph)
    out = np.zeros(cg.n_features)
    for table, factors in cg.distinct_tables(0):
        out[cg.factor_theta[factors]] = table.mean()
    for index_map, factors in cg.distinct_tables(1):
        share = np.bincount(index_map[index_map >= 0], minlength=int(index_map.max(initial=-1)) + 1)
        out[cg.factor_theta[factors][:, None] + np.arange(len(share))] = share / len(index_map)
    return out
