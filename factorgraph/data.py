"""From data to targets: empirical feature means."""

from __future__ import annotations

from typing import Any

import numpy as np

from factorgraph._validation import check_states, check_weights


def moments(graph: Any, data: Any, weights: Any = None) -> np.ndarray:
    """The empirical means of every feature over a data set.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables)
        State indices, one row per sample (see :meth:`FactorGraph.encode` for raw values).
    weights : array_like of shape (N,), optional
        Non-negative sample weights (e.g. sequence reweighting); uniform by default.

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
    """
    compiled = graph.compile() if hasattr(graph, "add_features") else graph
    states = check_states(data, compiled.n_states, "moments")
    w = check_weights(weights, states.shape[0], "moments")
    return compiled.feature_sums(states, w) / w.sum()
