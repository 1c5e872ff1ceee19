"""The stored parts of a model: feature groups and the graph's storage, shared by the builder,
the model file and the compiler, and the checks of a group's tables as it is built."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import DuplicateScopeWarning, FeatureSpecError
from factorgraph._pool import TablePool
from factorgraph.features import FeatureKind
from factorgraph.variables import Domain

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


__all__ = ["FeatureGroup", "GraphParts", "checked_tables", "checked_index_map", "warn_duplicate_rows"]


@dataclass(frozen=True, eq=False)
class FeatureGroup:
    """A group of features of one kind, in its tabulated form.

    Attributes
    ----------
    name : str
        The group's unique name.
    kind : str
        The feature kind ("Product", "Potential", ...).
    form : {"scaled", "indexed"}
        The lookup form it compiles to.
    trainable : bool
        False for a fixed group (a base measure held at ``theta_init``).
    scopes : ndarray of shape (E, arity)
        The variables of each row.
    table_offset : ndarray of shape (E,)
        Each row's table (scaled) or index map (indexed) in the graph's pools.
    n_per_row : ndarray of shape (E,)
        The number of features of each row (1 for scaled groups).
    theta_start : int
        The position of the group's first feature in theta.
    theta_init : float or ndarray of shape (n_features,)
        The group's initial (for fixed groups: permanent) parameter values.
    params : dict
        The kind's parameters, for descriptions.
    """

    name: str
    kind: str
    form: str
    trainable: bool
    scopes: np.ndarray
    table_offset: np.ndarray
    n_per_row: np.ndarray
    theta_start: int
    theta_init: float | np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for array in (self.scopes, self.table_offset, self.n_per_row, self.theta_init):
            if isinstance(array, np.ndarray):
                array.flags.writeable = False  # the graph's compiled cache relies on it

    @property
    def n_features(self) -> int:
        """The number of features (entries of theta) in the group."""
        return int(self.n_per_row.sum())

    @property
    def theta_slice(self) -> slice:
        """The group's slice of theta."""
        return slice(self.theta_start, self.theta_start + self.n_features)

    def feature_ids(self) -> np.ndarray:
        """The group's theta indices: (E,) for scaled, (E, m) for indexed with m per row, else flat."""
        ids = np.arange(self.theta_start, self.theta_start + self.n_features, dtype=np.int64)
        if self.form == "indexed" and len(np.unique(self.n_per_row)) == 1:
            return ids.reshape(len(self.scopes), -1)
        return ids


@dataclass(frozen=True, eq=False)
class GraphParts:
    """Everything a :class:`~factorgraph.FactorGraph` stores, as one read-only record.

    The model file (:mod:`factorgraph.io`) writes and reads it, and the compiler
    (:func:`factorgraph.compiled.build_compiled`) flattens it; neither reaches into the graph.

    Attributes
    ----------
    domains : tuple of Domain
        The distinct domains, in order of first use.
    var_domain : ndarray of shape (n_variables,), int32
        Each variable's index into ``domains``.
    names : tuple of (str or None)
        Each variable's name.
    tables, maps : TablePool
        The deduplicated scaled tables (float64) and index maps (int32) the groups point into.
    groups : tuple of FeatureGroup
        The feature groups, in θ order.
    """

    domains: tuple[Domain, ...]
    var_domain: np.ndarray
    names: tuple[str | None, ...]
    tables: TablePool
    maps: TablePool
    groups: tuple[FeatureGroup, ...]

    @property
    def n_variables(self) -> int:
        return len(self.var_domain)

    @property
    def n_features(self) -> int:
        return sum(grp.n_features for grp in self.groups)


def checked_tables(group: FeatureKind, tables: ArrayLike, n_rows: int, size: int) -> np.ndarray:
    """A kind's scaled tables must be finite floats of shape (1 or n_rows, size)."""
    tables = np.asarray(tables)
    if tables.dtype.kind not in "biuf" or tables.shape not in ((1, size), (n_rows, size)):
        raise FeatureSpecError(
            f"{group.kind} produced tables of shape {tables.shape} and dtype {tables.dtype}; "
            f"expected real tables of shape (1, {size}) or ({n_rows}, {size})."
        )
    if not np.all(np.isfinite(tables)):
        raise FeatureSpecError(f"{group.kind} is not finite at some joint state; features must be finite.")
    return tables.astype(np.float64, copy=False)


def checked_index_map(group: FeatureKind, index_map: Any, count: Any, size: int) -> tuple[np.ndarray, int]:
    """A kind's index map must give each joint state a local feature in [0, count) or -1."""
    index_map = np.asarray(index_map)
    count = int(count)
    if index_map.shape != (size,) or index_map.dtype.kind not in "iu" or count < 0:
        raise FeatureSpecError(
            f"{group.kind} produced an index map of shape {index_map.shape} and dtype {index_map.dtype} "
            f"with {count} features; expected integers of shape ({size},) and a count >= 0."
        )
    if np.any((index_map < -1) | (index_map >= count)):
        raise FeatureSpecError(
            f"{group.kind}'s index map has entries outside -1..{count - 1} (its declared feature count)."
        )
    return index_map.astype(np.int32), count


def warn_duplicate_rows(scopes: np.ndarray, n_variables: int, name: str) -> None:
    """Warn when a group lists the same scope row twice: its features would be exact copies."""
    if len(scopes) < 2:
        return
    bits = max(int(n_variables - 1).bit_length(), 1)
    if bits * scopes.shape[1] <= 62:  # one int64 key per row: a sort, not a row-wise unique
        keys = np.zeros(len(scopes), dtype=np.int64)
        for column in scopes.T:
            keys = (keys << bits) | column.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
        pairs = [(int(order[i]), int(order[i + 1])) for i in same[:1]]
    else:
        _, first, counts = np.unique(scopes, axis=0, return_index=True, return_counts=True)
        dup = first[counts > 1]
        pairs = [(int(r), int(np.flatnonzero((scopes == scopes[r]).all(axis=1))[1])) for r in dup[:1]]
    if pairs:
        a, b = pairs[0]
        warnings.warn(
            f"Feature group '{name}': scope rows {a} and {b} are both {scopes[a].tolist()}, so their features "
            "are exact copies and only their sum is identifiable. Remove the repeated rows (e.g. "
            "np.unique(scopes, axis=0)).",
            DuplicateScopeWarning,
            stacklevel=4,
        )
