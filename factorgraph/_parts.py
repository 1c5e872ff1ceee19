"""The stored parts of a model: feature groups and the graph's storage, shared by the builder,
the model file and the compiler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factorgraph._pool import TablePool
from factorgraph.variables import Domain

__all__ = ["FeatureGroup", "GraphParts"]


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
