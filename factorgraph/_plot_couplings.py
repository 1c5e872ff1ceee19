"""Plots of learned couplings: the matrix of a pairwise group, and the couplings drawn as a graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from factorgraph._errors import ModelSpecError, ModelTooLargeError, UnknownGroupError
from factorgraph._validation import message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph
    from factorgraph.graph import FactorGraph

from factorgraph._plot_common import Fitted, pyplot, theta_and_states

__all__ = ["coupling_matrix", "couplings"]

_MAX_MATRIX = 4096  # variables in a coupling matrix: 128 MiB of float64


def _pairwise_group(graph: CompiledGraph, group: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    """The name, (E, 2) scopes and θ indices of a group with one feature per pair of variables."""
    owner = "plot.couplings"
    names = list(graph.group_names)
    arity = np.diff(graph.factor_ptr)

    def pairwise(j: int) -> bool:
        rows = slice(graph.group_factors[j], graph.group_factors[j + 1])
        return bool(len(arity[rows]) and np.all(arity[rows] == 2) and np.all(graph.factor_form[rows] == 0))

    if group is None:
        candidates = [j for j in range(len(names)) if pairwise(j)]
        if len(candidates) != 1:
            found = [names[j] for j in candidates]
            raise ModelSpecError(
                f"{owner} needs group= when the model does not have exactly one pairwise group "
                f"(one feature per pair of variables); found {found} among the groups {names}."
            )
        j = candidates[0]
    elif group in names:
        j = names.index(group)
        if not pairwise(j):
            span = slice(graph.group_factors[j], graph.group_factors[j + 1])
            what = (
                "several features per pair (an indexed group)"
                if np.any(graph.factor_form[span] == 1)
                else f"scopes of {sorted(set(arity[span].tolist()))} variables"
            )
            raise ModelSpecError(
                f"{owner}: group {group!r} ({graph.group_kinds[j]}) has {what}; couplings need one "
                "feature per pair of variables, as fg.features.Product over pairs gives."
            )
    else:
        raise UnknownGroupError(f"{owner}: no feature group is named {group!r}; the groups are {names}.")
    rows = np.arange(graph.group_factors[j], graph.group_factors[j + 1])
    scopes = graph.factor_vars[graph.factor_ptr[rows][:, None] + np.arange(2)]
    return names[j], scopes, graph.factor_theta[rows]


def coupling_matrix(
    graph: FactorGraph | CompiledGraph, theta: Fitted | ArrayLike, group: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The learned θ of a pairwise group as a symmetric matrix.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
    group : str, optional
        A group with one feature per pair of variables (default: the only such group).

    Returns
    -------
    variables : ndarray of shape (m,)
        The variables the group touches, in increasing order.
    matrix : ndarray of shape (m, m)
        ``matrix[a, b]`` is the summed θ of the pair (variables[a], variables[b]); NaN for a
        pair without a feature and on the diagonal.

    Raises
    ------
    ModelSpecError
        As :func:`couplings`.
    ModelTooLargeError
        If the group touches more than 4096 variables.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> fg.plot.coupling_matrix(g, np.array([0.5, -0.2]))[1]
    array([[ nan,  0.5,  nan],
           [ 0.5,  nan, -0.2],
           [ nan, -0.2,  nan]])
    """
    compiled = as_compiled(graph)
    theta, _ = theta_and_states(compiled, theta, None, "plot.coupling_matrix")
    _, scopes, ids = _pairwise_group(compiled, group)
    variables, local = np.unique(scopes, return_inverse=True)
    if len(variables) > _MAX_MATRIX:
        raise ModelTooLargeError(
            f"plot.coupling_matrix: the group touches {len(variables)} variables, more than the "
            f"{_MAX_MATRIX} a dense matrix is drawn for. Use layout='graph', or a group over fewer variables."
        )
    local = local.reshape(scopes.shape)
    matrix = np.zeros((len(variables), len(variables)))
    seen = np.zeros_like(matrix, dtype=bool)
    for a, b in ((0, 1), (1, 0)):
        np.add.at(matrix, (local[:, a], local[:, b]), theta[ids])
        seen[local[:, a], local[:, b]] = True
    matrix[~seen] = np.nan
    return variables, matrix


def couplings(
    graph: FactorGraph | CompiledGraph,
    theta: Fitted | ArrayLike,
    group: str | None = None,
    layout: Literal["matrix", "graph"] = "matrix",
    pos: Mapping[int, Any] | None = None,
    cmap: str | Any = "RdBu_r",
    ax: Axes | None = None,
) -> Axes:
    """The learned θ of a pairwise group, as a matrix or on the interaction graph.

    ``layout="matrix"`` shows :func:`coupling_matrix` as an image over the variables the group
    touches (grey where a pair has no feature). ``layout="graph"`` draws each pair as an edge
    of a networkx layout, coloured by its θ and wider for larger ``|θ|``. Both use a diverging
    colour map centred at 0, with a colour bar.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
    group : str, optional
        A group with one feature per pair of variables, e.g. ``fg.features.Product`` over pairs
        (default: the only such group).
    layout : {"matrix", "graph"}, default "matrix"
    pos : dict of int to (x, y), optional
        Node positions for ``layout="graph"`` (default: ``networkx.spring_layout`` with seed 0).
    cmap : str or matplotlib Colormap, default "RdBu_r"
        A diverging colour map.
    ax : matplotlib Axes, optional
        Where to draw; new axes by default.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ModelSpecError
        If the group is not pairwise (scopes of another size, or several features per pair),
        or no group is given and the model does not have exactly one pairwise group.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="pairs")
    >>> ax = fg.plot.couplings(g, np.array([0.5, -0.2]), layout="graph")
    >>> ax.get_title()
    "Couplings of group 'pairs'"
    """
    owner = "plot.couplings"
    plt = pyplot()
    if layout not in ("matrix", "graph"):
        raise ModelSpecError(message("layout", owner, "'matrix' or 'graph'", layout))
    compiled = as_compiled(graph)
    theta, _ = theta_and_states(compiled, theta, None, owner)
    name, scopes, ids = _pairwise_group(compiled, group)
    import matplotlib
    from matplotlib.colors import Normalize

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    span = float(np.abs(theta[ids]).max(initial=0.0)) or 1.0
    norm = Normalize(-span, span)
    colours = matplotlib.colormaps.get_cmap(cmap).with_extremes(bad="0.85")
    if layout == "matrix":
        variables, matrix = coupling_matrix(compiled, theta, name)
        mappable = ax.imshow(matrix, cmap=colours, norm=norm, interpolation="nearest")
        if len(variables) <= 30:
            ax.set_xticks(np.arange(len(variables)), [str(v) for v in variables.tolist()])
            ax.set_yticks(np.arange(len(variables)), [str(v) for v in variables.tolist()])
        ax.set_xlabel("variable")
        ax.set_ylabel("variable")
    else:
        mappable = _draw_edges(ax, scopes, theta[ids], pos, colours, norm, span)
    ax.figure.colorbar(mappable, ax=ax, label="θ")
    ax.set_title(f"Couplings of group {name!r}")
    return ax


def _draw_edges(
    ax: Axes,
    scopes: np.ndarray,
    weights: np.ndarray,
    pos: Mapping[int, Any] | None,
    colours: Any,
    norm: Any,
    span: float,
) -> Any:
    import networkx as nx
    from matplotlib.collections import LineCollection

    nodes = np.unique(scopes).tolist()
    if pos is None:
        interaction = nx.Graph()
        interaction.add_nodes_from(nodes)
        interaction.add_edges_from(scopes.tolist())
        pos = nx.spring_layout(interaction, seed=0)
    missing = [v for v in nodes if v not in pos]
    if missing:
        raise ModelSpecError(
            message(
                "pos",
                "plot.couplings",
                "a position for every variable of the group",
                f"none for variables {missing[:5]}",
            )
        )
    xy = {v: np.asarray(pos[v], dtype=np.float64) for v in nodes}
    segments = np.array([[xy[a], xy[b]] for a, b in scopes.tolist()]).reshape(len(scopes), 2, 2)
    edges = LineCollection(
        list(segments), cmap=colours, norm=norm, linewidths=0.5 + 3.0 * np.abs(weights) / span, zorder=1
    )
    edges.set_array(weights)
    ax.add_collection(edges)
    points = np.array([xy[v] for v in nodes]).reshape(len(nodes), 2)
    ax.scatter(points[:, 0], points[:, 1], s=180, color="white", edgecolors="0.2", zorder=2)
    if len(nodes) <= 50:
        for v, (px, py) in zip(nodes, points.tolist()):
            ax.annotate(str(v), (px, py), ha="center", va="center", fontsize="small", zorder=3)
    ax.margins(0.08)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    return edges
