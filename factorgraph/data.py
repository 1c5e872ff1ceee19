"""From data to targets: empirical feature means, optionally mixed with the uniform model.

Data may come as state indices or in the units people have, the values of each variable's
domain (±1 spins, answers 1..5, raw values binned by a variable's ``edges``): :func:`as_states`
decides which, and refuses data that read both ways with different meanings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from factorgraph._errors import DataError
from factorgraph._validation import check_states, check_weights, message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph, GraphLike

Units = Literal["auto", "states", "values"]


def moments(
    graph: GraphLike,
    data: ArrayLike,
    weights: ArrayLike | None = None,
    pseudocount: float = 0.0,
    *,
    units: Units = "auto",
) -> np.ndarray:
    """The empirical means of every feature over a data set.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables)
        One row per sample: state indices, or the variables' values (see ``units``).
    weights : array_like of shape (N,), optional
        Non-negative sample weights (e.g. sequence reweighting); uniform by default.
    pseudocount : float in [0, 1), default 0.0
        Mix the data's distribution with the uniform one: (1 − α) m_data + α E_uniform[f].
        Keeps targets off the boundary (a state never seen would need θ → −∞).
    units : {"auto", "states", "values"}
        What the entries of ``data`` are (:func:`as_states`): by default whichever reading is
        valid, and an error when both are with different meanings.

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
    >>> fg.moments(g, [[-1, -1], [1, 1], [-1, 1]]).round(4).tolist()  # the same rows, as spins
    [0.3333]
    """
    compiled = as_compiled(graph)
    states = as_states(graph, data, "moments", units=units)
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


def as_states(
    graph: GraphLike, data: ArrayLike, owner: str, name: str = "data", *, units: Units = "auto"
) -> np.ndarray:
    """The state indices of ``data``, given as state indices or as the variables' values.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    data : array_like of shape (N, n_variables)
    owner, name : str
        The function and argument that messages name.
    units : {"auto", "states", "values"}
        ``"states"``: state indices (0 .. k − 1 per variable). ``"values"``: each entry one of
        its variable's state values (to 1e-9 relative), or for a variable declared with
        ``edges`` a raw value that is binned (this needs the FactorGraph, which keeps the
        edges). ``"auto"``: whichever of the two readings is valid; where both are and they
        differ (values 1..5 and data that never hold a 0 or a 5), an error asks to say which.

    Returns
    -------
    ndarray of int32, shape (N, n_variables)

    Raises
    ------
    DataError
        Data valid in neither reading (the message of the state-index check), or in both with
        different meanings under ``units="auto"``.
    """
    if units not in ("auto", "states", "values"):
        raise DataError(message("units", owner, "'auto', 'states' or 'values'", units))
    compiled = as_compiled(graph)
    if units == "values":
        return _encode(graph, data, owner, name)
    try:
        states = check_states(data, compiled.n_states, owner, name)
    except DataError:
        if units == "states":
            raise
        try:
            return _encode(graph, data, owner, name)
        except DataError:
            pass
        raise  # the state-index check's message, which names the first bad entry
    if units == "states" or _values_are_indices(compiled):
        return states
    try:
        values = _encode(graph, data, owner, name)
    except DataError:
        return states
    if not np.array_equal(values, states):
        row, col = (int(i) for i in np.argwhere(values != states)[0])
        raise DataError(
            f"The '{name}' argument of {owner} reads both as state indices and as the variables' values, "
            f"with different meanings: row {row}, variable {col} (counted from 0) holds {states[row, col]}, "
            f"which is state {states[row, col]} or the value of state {values[row, col]}. "
            "Say which with units='states' or units='values'."
        )
    return states


def _values_are_indices(compiled: CompiledGraph) -> bool:
    """Every variable's state values are its state indices: the two readings are one."""
    _, first = np.unique(compiled.value_offset, return_index=True)  # a variable of each domain
    return all(np.array_equal(compiled.variable_values(int(v)), np.arange(compiled.n_states[v])) for v in first)


def _encode(graph: GraphLike, data: ArrayLike, owner: str, name: str) -> np.ndarray:
    """The states whose values ``data`` holds; the FactorGraph bins by edges, a CompiledGraph
    (which keeps only the values) matches them."""
    from factorgraph.graph import FactorGraph
    from factorgraph.variables import make_domain

    if isinstance(graph, FactorGraph):
        return graph.encode(data)
    compiled = as_compiled(graph)
    raw = np.asarray(data, dtype=np.float64) if np.asarray(data).dtype.kind in "iubf" else None
    if raw is None or raw.ndim != 2 or raw.shape[1] != compiled.n_variables or not np.all(np.isfinite(raw)):
        raise DataError(message(name, owner, f"an (N, {compiled.n_variables}) array of state values", "something else"))
    states = np.empty(raw.shape, dtype=np.int32)
    for offset in np.unique(compiled.value_offset):  # one domain at a time
        cols = np.flatnonzero(compiled.value_offset == offset)
        domain = make_domain(None, compiled.variable_values(int(cols[0])), None)
        states[:, cols] = domain.encode(raw[:, cols], cols)
    return states
