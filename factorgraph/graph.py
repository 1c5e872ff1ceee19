"""FactorGraph: the editable model, variables with finite domains and groups of features."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from factorgraph._errors import (
    DataError,
    FeatureSpecError,
    ModelFileError,
    ModelSpecError,
    UnknownGroupError,
)
from factorgraph._parts import FeatureGroup, GraphParts, checked_index_map, checked_tables, warn_duplicate_rows
from factorgraph._pool import TablePool
from factorgraph._validation import as_finite_array, check_int, message
from factorgraph.compiled import CompiledGraph, build_compiled
from factorgraph.features import FeatureKind
from factorgraph.io import read_model, save_model
from factorgraph.variables import MAX_JOINT_STATES, Domain, make_domain

if TYPE_CHECKING:
    import networkx as nx
    from numpy.typing import ArrayLike

__all__ = ["FactorGraph", "FeatureGroup", "load"]


class FactorGraph:
    """A maximum-entropy model over discrete variables: p(x) ∝ exp(Σ_k θ_k f_k(x)).

    Variables are added in blocks with :meth:`add_variables`, features in vectorised groups with
    :meth:`add_features`. θ is one flat vector: groups in order of addition, rows in order within
    a group, and within a row of an indexed group the joint states in row-major order.

    Examples
    --------
    >>> import factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> g.add_variables(4, values=[-1, 1])
    array([0, 1, 2, 3], dtype=int32)
    >>> g.add_features(fg.features.Product([0, 1, 2, 3]), name="fields")
    array([0, 1, 2, 3])
    >>> g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3), (3, 0)]), name="couplings")
    array([4, 5, 6, 7])
    >>> g.n_variables, g.n_features
    (4, 8)
    >>> g.compile().n_colors
    2
    """

    def __init__(self) -> None:
        self._domains: list[Domain] = []
        self._domain_ids: dict[tuple, int] = {}
        self._var_domain = np.zeros(0, dtype=np.int32)
        self._names: list[str | None] = []
        self._groups: list[FeatureGroup] = []
        self._tables = TablePool(np.dtype(np.float64))
        self._maps = TablePool(np.dtype(np.int32))
        self._n_features = 0
        self._compiled: dict[str, CompiledGraph] = {}  # by colouring strategy, until a change

    # -- variables ---------------------------------------------------------------------------

    def add_variables(
        self,
        n: int,
        n_states: int | None = None,
        values: ArrayLike | None = None,
        edges: Any = None,
        names: Any = None,
    ) -> np.ndarray:
        """Add ``n`` variables that share one finite domain.

        Parameters
        ----------
        n : int
            How many variables to add.
        n_states : int, optional
            The number of states; values default to the state indices 0..n_states-1.
            Without ``n_states``, ``values`` and ``edges`` the variables are binary (0, 1).
        values : array_like of shape (n_states,), optional
            The numeric value of each state, e.g. ``[-1, 1]`` for spins.
        edges : array_like of shape (n_states + 1,), optional
            Bin edges of a discretised continuous quantity. Values default to the bin centres,
            and :meth:`encode` bins raw values by these edges.
        names : sequence of str, optional
            One name per new variable.

        Returns
        -------
        ids : ndarray of shape (n,), int32
            The new variables' ids.
        """
        n = check_int("n", n, "FactorGraph.add_variables", minimum=0, maximum=2**31 - 1 - self.n_variables)
        domain = make_domain(n_states, values, edges)
        if names is not None:
            if isinstance(names, str):
                raise ModelSpecError(message("names", "FactorGraph.add_variables", "a sequence of names", names))
            names = [str(s) for s in names]
            if len(names) != n:
                raise ModelSpecError(message("names", "FactorGraph.add_variables", f"{n} names", len(names)))
        key = domain.key()
        if key not in self._domain_ids:
            self._domain_ids[key] = len(self._domains)
            self._domains.append(domain)
        start = self.n_variables
        self._var_domain = np.concatenate([self._var_domain, np.full(n, self._domain_ids[key], dtype=np.int32)])
        self._names.extend(names if names is not None else [None] * n)
        self._changed()
        return np.arange(start, start + n, dtype=np.int32)

    @property
    def n_variables(self) -> int:
        """The number of variables."""
        return len(self._var_domain)

    @property
    def n_features(self) -> int:
        """The number of features, the length of θ."""
        return self._n_features

    @property
    def n_factors(self) -> int:
        """The number of scope rows over all groups."""
        return sum(len(grp.scopes) for grp in self._groups)

    @property
    def n_states(self) -> np.ndarray:
        """The number of states of each variable, shape (n_variables,)."""
        return np.array([d.n_states for d in self._domains], dtype=np.int32)[self._var_domain]

    @property
    def variable_names(self) -> list[str | None]:
        """The variables' names (None where none was given)."""
        return list(self._names)

    def domain(self, variable: int) -> Domain:
        """The domain (values, and edges if any) of one variable."""
        variable = check_int("variable", variable, "FactorGraph.domain")
        if variable >= self.n_variables:
            raise ModelSpecError(message("variable", "FactorGraph.domain", f"< {self.n_variables}", variable))
        return self._domains[self._var_domain[variable]]

    # -- features ----------------------------------------------------------------------------

    def add_features(
        self,
        group: FeatureKind,
        name: str | None = None,
        trainable: bool = True,
        theta_init: float | Any = None,
    ) -> np.ndarray:
        """Add a vectorised group of features of one kind.

        Parameters
        ----------
        group : FeatureKind
            A kind from :mod:`factorgraph.features` holding the scopes, e.g.
            ``fg.features.Product(pairs)``.
        name : str, optional
            A unique name for the group (default: the kind in lower case and a number).
        trainable : bool, default True
            False makes the group a fixed base measure whose θ entries stay at ``theta_init``.
        theta_init : float or array_like of shape (n_new_features,), optional
            The group's initial θ; default 0.0, or 1.0 for a fixed group (so that a fixed table
            enters the model as written).

        Returns
        -------
        ids : ndarray of int
            The new features' positions in θ: shape (E,) for one-feature-per-scope kinds,
            (E, m) for Potential and Histogram with m features per scope (flat when m differs
            between scopes).

        Raises
        ------
        FeatureSpecError
            On a scope out of range, a repeated variable, a table of the wrong shape, a
            non-finite value, or something that is not a feature kind.
        """
        if not isinstance(group, FeatureKind):
            raise FeatureSpecError(
                f"add_features needs a feature kind from factorgraph.features (Product, Indicator, "
                f"Bin, Polynomial, Threshold, Table, Function, Potential, Histogram); got "
                f"{type(group).__name__} {group!r:.60}."
            )
        if group.form not in ("scaled", "indexed"):
            raise FeatureSpecError(f"{group.kind}.form must be 'scaled' or 'indexed'; got {group.form!r}.")
        name = self._group_name(group, name)
        scopes = self._check_scopes(group, name)
        offsets = np.zeros(len(scopes), dtype=np.int64)
        n_per_row = np.ones(len(scopes), dtype=np.int64)
        try:
            for signature, rows in self._rows_by_domains(scopes):
                values = [self._domains[d].values for d in signature]
                size = int(np.prod([len(v) for v in values], dtype=object))
                if size > MAX_JOINT_STATES:
                    raise FeatureSpecError(
                        f"scope {scopes[rows[0]].tolist()} has {size:,} joint states, more than the "
                        f"{MAX_JOINT_STATES:,} a feature table may have. Use smaller domains or scopes."
                    )
                if group.form == "scaled":
                    tables = checked_tables(group, group._tables(values, rows), len(rows), size)
                    offsets[rows] = self._tables.add(tables)
                else:
                    index_map, count = checked_index_map(group, *group._index_map(values), size)
                    offsets[rows] = self._maps.add(index_map[None, :])[0]
                    n_per_row[rows] = count
        except FeatureSpecError as exc:
            raise FeatureSpecError(f"Feature group '{name}': {exc}") from None
        n_new = int(n_per_row.sum())
        init = self._theta_init(theta_init, trainable, n_new, name)
        grp = FeatureGroup(
            name=name,
            kind=group.kind,
            form=group.form,
            trainable=bool(trainable),
            scopes=scopes.astype(np.int32),
            table_offset=offsets,
            n_per_row=n_per_row,
            theta_start=self._n_features,
            theta_init=init,
            params=group.params(),
        )
        self._groups.append(grp)
        self._n_features += n_new
        self._changed()
        return grp.feature_ids()

    def _rows_by_domains(self, scopes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split scope rows by the domains of their variables: [(domain ids, rows), ...]."""
        domains = self._var_domain[scopes]
        if len(self._domains) == 1:  # the common case: no sorting of a million rows
            return [(domains[0], np.arange(len(scopes)))]
        signatures, inverse = np.unique(domains, axis=0, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        bounds = np.cumsum(np.bincount(inverse.ravel(), minlength=len(signatures)))[:-1]
        return list(zip(signatures, np.split(order, bounds)))

    def _group_name(self, group: FeatureKind, name: str | None) -> str:
        taken = {grp.name for grp in self._groups}
        if name is None:
            base = group.kind.lower()
            name = next(f"{base}{i}" for i in range(len(taken) + 1) if f"{base}{i}" not in taken)
        name = str(name)
        if name in taken:
            raise FeatureSpecError(f"A feature group named '{name}' already exists; choose another name.")
        return name

    def _check_scopes(self, group: FeatureKind, name: str) -> np.ndarray:
        scopes = group.scopes
        n = self.n_variables
        bad = (scopes < 0) | (scopes >= n)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise FeatureSpecError(
                f"Feature group '{name}': scope row {row} refers to variable {scopes[row, col]}, but "
                f"the graph has variables 0..{n - 1}. Add the variables first."
            )
        if scopes.shape[1] > 1:
            ordered = np.sort(scopes, axis=1)
            repeated = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
            if repeated.any():
                row = int(np.flatnonzero(repeated)[0])
                raise FeatureSpecError(
                    f"Feature group '{name}': scope row {row} {scopes[row].tolist()} repeats a "
                    "variable. Each variable may appear once per scope; use Polynomial or a Table "
                    "for functions of one variable."
                )
        warn_duplicate_rows(scopes, n, name)
        return scopes

    def _theta_init(self, theta_init: ArrayLike, trainable: bool, n_new: int, name: str) -> float | np.ndarray:
        if theta_init is None:
            return 0.0 if trainable else 1.0
        init = as_finite_array("theta_init", theta_init, "FactorGraph.add_features")
        if init.ndim == 0:
            return float(init)
        init = init.copy()  # the group freezes it; never freeze the caller's array
        if init.shape != (n_new,):
            raise FeatureSpecError(
                f"Feature group '{name}': theta_init has shape {init.shape} but the group has "
                f"{n_new} features. Pass a scalar or one value per feature."
            )
        return init

    @property
    def groups(self) -> tuple[FeatureGroup, ...]:
        """The feature groups in θ order."""
        return tuple(self._groups)

    def group(self, name: str) -> FeatureGroup:
        """The feature group called ``name``."""
        for grp in self._groups:
            if grp.name == name:
                return grp
        raise UnknownGroupError(f"No feature group is named {name!r}; the groups are {[g.name for g in self._groups]}.")

    def feature_index(self, name: str) -> slice:
        """The slice of θ that holds group ``name``."""
        return self.group(name).theta_slice

    @property
    def trainable(self) -> np.ndarray:
        """Boolean mask of shape (n_features,): True where θ is trained."""
        mask = np.ones(self.n_features, dtype=bool)
        for grp in self._groups:
            mask[grp.theta_slice] = grp.trainable
        return mask

    def theta_init(self) -> np.ndarray:
        """The initial θ, shape (n_features,): each group's ``theta_init``."""
        theta = np.zeros(self.n_features)
        for grp in self._groups:
            theta[grp.theta_slice] = grp.theta_init
        return theta

    # -- structure ---------------------------------------------------------------------------

    def factor_incidence(self) -> sp.csr_array:
        """Factors (scope rows, all groups in order) × variables, as a sparse 0/1 matrix."""
        if not self._groups:
            return sp.csr_array((0, self.n_variables), dtype=np.int8)
        arity = np.concatenate([np.full(len(g.scopes), g.scopes.shape[1]) for g in self._groups])
        indptr = np.concatenate([[0], np.cumsum(arity)])
        indices = np.concatenate([g.scopes.ravel() for g in self._groups])
        data = np.ones(len(indices), dtype=np.int8)
        return sp.csr_array((data, indices, indptr), shape=(len(arity), self.n_variables))

    def incidence(self) -> sp.csr_array:
        """Features × variables, as a sparse 0/1 matrix: row k marks the variables of f_k."""
        factors = self.factor_incidence()
        per_factor = np.concatenate([g.n_per_row for g in self._groups]) if self._groups else np.zeros(0, int)
        return factors[np.repeat(np.arange(factors.shape[0]), per_factor)].tocsr()

    def interaction_graph(self) -> sp.csr_array:
        """Variables × variables adjacency: 1 where two variables share a factor."""
        b = self.factor_incidence().astype(np.int32)
        adjacency = (b.T @ b).tocsr()
        adjacency.setdiag(0)
        adjacency.eliminate_zeros()
        adjacency.data[:] = 1
        return adjacency.astype(np.int8)

    def to_networkx(self) -> nx.Graph:
        """The bipartite factor graph as a networkx Graph.

        Variable nodes are ``("v", i)`` with ``bipartite=0``, ``n_states`` and ``name``; factor
        nodes are ``("f", r)`` (scope row r over all groups) with ``bipartite=1``, ``kind``,
        ``group`` and ``features`` (the θ indices the factor carries).
        """
        import networkx as nx

        graph = nx.Graph()
        n_states = self.n_states
        graph.add_nodes_from(
            (("v", i), {"bipartite": 0, "n_states": int(n_states[i]), "name": self._names[i]})
            for i in range(self.n_variables)
        )
        row = 0
        for grp in self._groups:
            starts = grp.theta_start + np.concatenate([[0], np.cumsum(grp.n_per_row)[:-1]])
            for scope, start, count in zip(grp.scopes.tolist(), starts.tolist(), grp.n_per_row.tolist()):
                graph.add_node(
                    ("f", row),
                    bipartite=1,
                    kind=grp.kind,
                    group=grp.name,
                    features=list(range(start, start + count)),
                )
                graph.add_edges_from((("f", row), ("v", v)) for v in scope)
                row += 1
        return graph

    # -- data --------------------------------------------------------------------------------

    def encode(self, values: ArrayLike) -> np.ndarray:
        """Map raw values, shape (N, n_variables), to state indices (int32).

        A value must equal one of its variable's state values (to 1e-9 relative), except for
        variables declared with ``edges``, whose raw values are binned.
        """
        owner = "FactorGraph.encode"
        raw = as_finite_array("values", values, owner, error=DataError)
        if raw.ndim != 2 or raw.shape[1] != self.n_variables:
            raise DataError(
                message("values", owner, f"an array of shape (N, {self.n_variables})", f"shape {raw.shape}")
            )
        states = np.empty(raw.shape, dtype=np.int32)
        for d, domain in enumerate(self._domains):
            cols = np.flatnonzero(self._var_domain == d)
            states[:, cols] = domain.encode(raw[:, cols], cols)
        return states

    # -- compile / save ----------------------------------------------------------------------

    def compile(self, coloring: str | Any = "auto") -> CompiledGraph:
        """Freeze the model into a :class:`~factorgraph.CompiledGraph` of flat arrays.

        Parameters
        ----------
        coloring : str or array_like of shape (n_variables,), default "auto"
            A strategy from :data:`factorgraph.coloring.STRATEGIES` or one colour per variable
            (checked: no two variables that share a factor may share a colour).

        Notes
        -----
        The result is cached until the graph changes; adding variables or features later is
        allowed and the next ``compile()`` includes them (earlier compiled graphs stay as they were).
        """
        if not isinstance(coloring, str):  # user colourings and callables are not cached
            return build_compiled(self, coloring)
        if coloring not in self._compiled:
            self._compiled[coloring] = build_compiled(self, coloring)
        return self._compiled[coloring]

    def _changed(self) -> None:
        self._compiled = {}

    def save(self, path: str | os.PathLike, theta: ArrayLike | None = None) -> None:
        """Write the model (and θ, if given) to a versioned ``.npz`` model file, atomically.

        See :func:`factorgraph.load`.
        """
        save_model(self.parts(), path, theta)

    def parts(self) -> GraphParts:
        """The graph's storage as one read-only record (what the model file and the compiler read)."""
        return GraphParts(
            domains=tuple(self._domains),
            var_domain=self._var_domain,
            names=tuple(self._names),
            tables=self._tables,
            maps=self._maps,
            groups=tuple(self._groups),
        )

    @classmethod
    def from_parts(cls, parts: GraphParts) -> FactorGraph:
        """The graph that stores ``parts`` (the inverse of :meth:`parts`; the parts are shared, not copied)."""
        graph = cls()
        for d, domain in enumerate(parts.domains):
            graph._domain_ids[domain.key()] = d
        graph._domains = list(parts.domains)
        graph._var_domain = parts.var_domain
        graph._names = list(parts.names)
        graph._tables, graph._maps = parts.tables, parts.maps
        graph._groups = list(parts.groups)
        graph._n_features = parts.n_features
        return graph

    def __repr__(self) -> str:
        return (
            f"<FactorGraph: {self.n_variables} variables, {len(self._groups)} groups, "
            f"{self.n_factors} factors, {self.n_features} features>"
        )


def load(path: str | os.PathLike) -> tuple[FactorGraph, np.ndarray | None]:
    """Read a model file written by :meth:`FactorGraph.save`.

    Returns
    -------
    graph : FactorGraph
        The model, identical to the saved one (Function groups as their tabulated values).
    theta : ndarray of shape (n_features,) or None
        The saved θ, or None if none was saved.

    Raises
    ------
    ModelFileError
        When the file is missing, not a model file, of an unsupported version, or damaged.

    Examples
    --------
    >>> import os, tempfile, numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, n_states=3)
    >>> _ = g.add_features(fg.features.Potential([(0, 1), (1, 2)]))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> g.save(path, theta=np.arange(18.0))
    >>> g2, theta = fg.load(path)
    >>> g2.n_features, theta[-1]
    (18, np.float64(17.0))
    """
    parts, theta = read_model(path)
    graph = FactorGraph.from_parts(parts)
    try:
        graph.compile()  # validates every array against the others
    except (KeyError, ValueError, TypeError, IndexError, ModelSpecError) as exc:
        raise ModelFileError(f"{os.fspath(path)!r} is not a consistent model file: {exc}.") from exc
    return graph, theta
