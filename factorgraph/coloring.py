"""Colourings of the variable interaction graph into independent classes.

Variables of one colour share no factor, so a sampler may update all of them at once.

Examples
--------
>>> import factorgraph as fg
>>> g = fg.FactorGraph()
>>> _ = g.add_variables(3)
>>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 0)]))
>>> fg.coloring.color(g.interaction_graph(), "greedy").tolist()
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from factorgraph import _coloring
from factorgraph._errors import ColoringError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["STRATEGIES", "color", "validate_coloring"]

#: A symmetric variable interaction graph: a scipy sparse matrix or array, or a dense array.
Adjacency: TypeAlias = "sp.sparray | sp.spmatrix | ArrayLike"


def _csr(adjacency: Adjacency) -> tuple[np.ndarray, np.ndarray]:
    a = sp.csr_array(adjacency)
    return a.indptr.astype(np.int64), a.indices.astype(np.int32)


def _greedy(adjacency: Adjacency) -> np.ndarray:
    """Largest-degree-first greedy colouring (at most max degree + 1 colours)."""
    indptr, indices = _csr(adjacency)
    order = np.argsort(-np.diff(indptr), kind="stable").astype(np.int64)
    return _coloring.greedy(indptr, indices, order)


def _bipartite(adjacency: Adjacency) -> np.ndarray:
    """Two colours; raises ColoringError when the graph has an odd cycle."""
    colors = _coloring.two_color(*_csr(adjacency))
    if colors is None:
        raise ColoringError("The interaction graph has an odd cycle, so it cannot be 2-coloured.")
    return colors


def _dsatur(adjacency: Adjacency) -> np.ndarray:
    """networkx's saturation-degree colouring: often fewer colours, slower on large graphs."""
    import networkx as nx

    graph = nx.from_scipy_sparse_array(sp.csr_array(adjacency))
    found = nx.greedy_color(graph, strategy="saturation_largest_first")
    return np.array([found[v] for v in range(graph.number_of_nodes())], dtype=np.int32)


def _auto(adjacency: Adjacency) -> np.ndarray:
    """Two colours when the graph is bipartite, else largest-first greedy."""
    colors = _coloring.two_color(*_csr(adjacency))
    return colors if colors is not None else _greedy(adjacency)


#: Colouring strategies by name; each maps a sparse adjacency matrix to int32 colours.
STRATEGIES: dict[str, Callable[[Any], np.ndarray]] = {
    "auto": _auto,
    "greedy": _greedy,
    "bipartite": _bipartite,
    "dsatur": _dsatur,
}


def color(adjacency: Adjacency, strategy: str | Callable[[Any], Any] = "auto") -> np.ndarray:
    """Colour the vertices of a graph so that adjacent vertices differ.

    Parameters
    ----------
    adjacency : sparse matrix of shape (n, n)
        Symmetric adjacency without diagonal, e.g. ``FactorGraph.interaction_graph()``.
    strategy : str or callable, default "auto"
        A key of :data:`STRATEGIES` or a function of the adjacency returning colours.

    Returns
    -------
    colors : ndarray of shape (n,), int32
        Colours numbered 0, 1, ... (validated before return).
    """
    if callable(strategy):
        colors = np.asarray(strategy(adjacency))
    elif strategy in STRATEGIES:
        colors = STRATEGIES[strategy](adjacency)
    else:
        raise ColoringError(f"Unknown colouring strategy {strategy!r}; choose one of {sorted(STRATEGIES)}.")
    return validate_coloring(adjacency, colors)


def validate_coloring(adjacency: Adjacency, colors: ArrayLike) -> np.ndarray:
    """Check that no two adjacent vertices share a colour; return colours renumbered 0..c-1.

    Raises
    ------
    ColoringError
        Naming the first pair of adjacent vertices with the same colour.
    """
    a = sp.coo_array(adjacency)
    colors = np.asarray(colors)
    if colors.shape != (a.shape[0],) or colors.dtype.kind not in "iu":
        raise ColoringError(
            f"A colouring needs one integer colour per variable, shape ({a.shape[0]},); got "
            f"{colors.dtype} of shape {colors.shape}."
        )
    clash = (colors[a.row] == colors[a.col]) & (a.row != a.col)
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        raise ColoringError(
            f"Variables {a.row[i]} and {a.col[i]} share a factor but both have colour "
            f"{colors[a.row[i]]}. Give variables that share a factor different colours."
        )
    _, renumbered = np.unique(colors, return_inverse=True)
    return renumbered.astype(np.int32).ravel()
