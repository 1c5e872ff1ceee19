"""Scopes made for you: lattices, networkx graphs and edge-list files, as arrays of variable pairs.

Every function returns scopes in the form :meth:`FactorGraph.add_features` takes: an
``(E, 2)`` int64 array of variable ids, each row (i, j) with i < j, rows in increasing order.

* :func:`grid`: the pairs of neighbouring sites of a lattice of any dimension (von Neumann or
  Moore neighbourhood, open or periodic boundaries), sites numbered in row-major order;
* :func:`from_networkx`: the edges of a networkx graph, its nodes numbered in the graph's
  order, with an edge attribute (``"weight"`` by default) as the initial θ where given;
* :func:`read_edges`: an edge list in a CSV file (two columns of variable ids or names, and
  optionally a third of initial θ), the file form that model files name as
  ``scopes = { edges = "file.csv" }``.

Model files also generate lattices: ``scopes = { grid = [8, 8], periodic = true }``.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from factorgraph._errors import ModelSpecError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Edges", "from_networkx", "grid", "read_edges"]

Neighbours = Literal["von Neumann", "Moore"]


class Edges(NamedTuple):
    """Pairs of variables with optional initial θ, from :func:`from_networkx` or :func:`read_edges`.

    Attributes
    ----------
    scopes : ndarray of int64, shape (E, 2)
        Variable ids (i, j), i < j, rows in increasing order.
    theta_init : ndarray of float64, shape (E,), or None
        The initial θ of each pair (0 where the source gave none), or None where none gave any.
    nodes : list
        The node (or name) of each variable id, for :func:`from_networkx` and named edge lists.
    """

    scopes: np.ndarray
    theta_init: np.ndarray | None
    nodes: list[Any]


def grid(
    shape: int | Sequence[int],
    *,
    periodic: bool | Sequence[bool] = False,
    neighbours: Neighbours = "von Neumann",
    first: int = 0,
) -> np.ndarray:
    """The pairs of neighbouring sites of a lattice.

    Parameters
    ----------
    shape : int or sequence of int
        The lattice's sides, e.g. ``(L, M)``; sites are numbered in row-major (C) order.
    periodic : bool or sequence of bool
        Wrap around the boundaries (all axes, or per axis).
    neighbours : {"von Neumann", "Moore"}
        Sites one step apart along one axis, or also diagonally (every site within one step
        along every axis: 8 neighbours in 2-D, 26 in 3-D).
    first : int
        The id of site (0, ..., 0); the lattice takes ids ``first .. first + prod(shape) - 1``.

    Returns
    -------
    ndarray of int64, shape (E, 2)
        Each pair once, (i, j) with i < j, in increasing order. A periodic side of 2 has one
        pair per neighbouring site, not two; a side of 1 has none.

    Examples
    --------
    >>> from factorgraph.scopes import grid
    >>> grid((2, 3)).tolist()
    [[0, 1], [0, 3], [1, 2], [1, 4], [2, 5], [3, 4], [4, 5]]
    >>> len(grid((4, 4), periodic=True)), len(grid((4, 4), neighbours="Moore"))
    (32, 42)
    """
    sides = [shape] if isinstance(shape, (int, np.integer)) else list(shape)
    if not sides or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sides):
        raise ModelSpecError(f"grid: shape must be one or more positive integers; got {shape!r}")
    wrap = [bool(periodic)] * len(sides) if isinstance(periodic, (bool, np.bool_)) else [bool(p) for p in periodic]
    if len(wrap) != len(sides):
        raise ModelSpecError(f"grid: periodic has {len(wrap)} entries for {len(sides)} axes")
    if neighbours not in ("von Neumann", "Moore"):
        raise ModelSpecError(f"grid: neighbours must be 'von Neumann' or 'Moore'; got {neighbours!r}")
    if not isinstance(first, (int, np.integer)) or first < 0:
        raise ModelSpecError(f"grid: first must be a non-negative integer; got {first!r}")
    dims = len(sides)
    if neighbours == "Moore":
        steps = [s for s in itertools.product((-1, 0, 1), repeat=dims) if any(s)]
    else:
        steps = [tuple(int(a == b) for b in range(dims)) for a in range(dims)]
    coords = np.indices(sides).reshape(dims, -1)
    ids = np.arange(coords.shape[1])
    found = []
    for step in steps:
        moved = coords + np.array(step)[:, None]
        inside = np.ones(ids.size, dtype=bool)
        for axis in range(dims):
            if wrap[axis]:
                moved[axis] %= sides[axis]
            else:
                inside &= (moved[axis] >= 0) & (moved[axis] < sides[axis])
        other = np.ravel_multi_index(tuple(moved[:, inside]), sides)
        found.append(np.stack([ids[inside], other], axis=1))
    pairs = np.sort(np.concatenate(found), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # a periodic side of 1 meets itself
    return np.unique(pairs, axis=0).astype(np.int64).reshape(-1, 2) + first


def from_networkx(graph: nx.Graph, *, weight: str | None = "weight", nodes: Sequence[Hashable] | None = None) -> Edges:
    """The edges of a networkx graph as scopes over its nodes.

    Parameters
    ----------
    graph : networkx.Graph
        Nodes are variables, edges pairs; a directed graph's edges count as pairs. Self-loops and
        an edge given both ways (or twice, in a multigraph) are refused.
    weight : str or None
        The edge attribute to read as initial θ (None: none read).
    nodes : sequence, optional
        The node of each variable id (default: the graph's node order); it must list every node.

    Returns
    -------
    Edges
        ``scopes`` (E, 2), ``theta_init`` (E,) or None, and ``nodes``.

    Examples
    --------
    >>> import networkx as nx
    >>> from factorgraph.scopes import from_networkx
    >>> edges = from_networkx(nx.Graph([("a", "b", {"weight": 0.5}), ("b", "c")]))
    >>> edges.scopes.tolist(), edges.theta_init.tolist(), edges.nodes
    ([[0, 1], [1, 2]], [0.5, 0.0], ['a', 'b', 'c'])
    """
    order = list(graph.nodes) if nodes is None else list(nodes)
    index = {node: i for i, node in enumerate(order)}
    if len(index) != len(order) or set(index) != set(graph.nodes):
        raise ModelSpecError("from_networkx: nodes must list every node of the graph once")
    rows, values, given = [], [], False
    for u, v, data in graph.edges(data=True):
        if u == v:
            raise ModelSpecError(
                f"from_networkx: a self-loop on node {u!r} is not a pair; remove it (or give the node a field)"
            )
        rows.append(sorted((index[u], index[v])))
        value = data.get(weight) if weight is not None else None
        given |= value is not None
        values.append(0.0 if value is None else float(value))
    return _edges(rows, values if given else None, order, "from_networkx", lambda i: repr(order[i]))


def read_edges(path: str | os.PathLike[str], names: Sequence[str | None] | None = None) -> Edges:
    """An edge list from a CSV file: ``i,j`` or ``i,j,theta`` per line.

    Parameters
    ----------
    path : str or path-like
        The file; a first line that is not an edge (e.g. ``i,j,weight``) is a header. Blank
        lines and lines starting with ``#`` are skipped.
    names : sequence of str, optional
        The variables' names: a column entry that is not an integer is looked up here.

    Returns
    -------
    Edges
        ``scopes`` (variable ids), ``theta_init`` from a third column (None without one), and
        ``nodes``, the names given (or ``[]``).
    """
    path = Path(path)
    lookup = {name: i for i, name in enumerate(names or []) if name is not None}

    def variable(token: str, number: int) -> int:
        token = token.strip()
        if token.lstrip("-").isdigit():
            return int(token)
        if token in lookup:
            return lookup[token]
        raise ModelSpecError(f"{path}, line {number}: {token!r} is neither a variable id nor a variable name")

    rows: list[list[int]] = []
    values: list[float] = []
    width = None
    with open(path, newline="") as fh:
        for number, line in enumerate(csv.reader(fh), 1):
            if not line or not "".join(line).strip() or line[0].lstrip().startswith("#"):
                continue
            if width is None and not rows and not _is_edge(line, lookup):
                continue  # a header
            if len(line) not in (2, 3) or (width is not None and len(line) != width):
                raise ModelSpecError(
                    f"{path}, line {number}: expected {width or '2 or 3'} columns (i, j[, theta]); found {len(line)}"
                )
            width = len(line)
            i, j = variable(line[0], number), variable(line[1], number)
            if i == j:
                raise ModelSpecError(f"{path}, line {number}: an edge from variable {i} to itself is not a pair")
            rows.append(sorted((i, j)))
            if width == 3:
                try:
                    values.append(float(line[2]))
                except ValueError:
                    raise ModelSpecError(f"{path}, line {number}: theta {line[2]!r} is not a number") from None
    if not rows:
        raise ModelSpecError(f"{path}: no edges")
    return _edges(rows, values if width == 3 else None, list(names or []), str(path), str)


def _is_edge(line: list[str], lookup: dict[str, int]) -> bool:
    return len(line) >= 2 and all(t.strip().lstrip("-").isdigit() or t.strip() in lookup for t in line[:2])


def _edges(rows: list[list[int]], values: list[float] | None, nodes: list[Any], owner: str, label: Any) -> Edges:
    """Rows sorted, duplicates refused, initial θ carried along."""
    scopes = np.array(rows, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((scopes[:, 1], scopes[:, 0]))
    scopes = scopes[order]
    same = np.flatnonzero((scopes[1:] == scopes[:-1]).all(axis=1))
    if same.size:
        i, j = scopes[same[0]]
        raise ModelSpecError(f"{owner}: the pair {label(i)}, {label(j)} is given twice; keep one edge per pair")
    theta = None if values is None else np.asarray(values, dtype=np.float64)[order]
    return Edges(scopes, theta, nodes)
