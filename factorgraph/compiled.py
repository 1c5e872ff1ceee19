"""CompiledGraph: the frozen, flat-array form of a FactorGraph that samplers and objectives see."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from factorgraph import _kernels
from factorgraph._errors import DataError, ModelSpecError, ModelTooLargeError
from factorgraph._openmp import effective_n_threads
from factorgraph._validation import check_int, check_states, check_theta, check_weights, message
from factorgraph.coloring import color, validate_coloring

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.graph import FactorGraph

__all__ = ["CompiledGraph", "build_compiled", "as_compiled"]

_FORMS = {"scaled": 0, "indexed": 1}


@dataclass(frozen=True, eq=False)
class CompiledGraph:
    """The frozen flat-array form of a factor graph.

    Every array is read-only. Factors are the scope rows of all groups in θ order.

    Attributes
    ----------
    n_states : ndarray of shape (n_variables,), int32
        The number of states of each variable.
    value_offset : ndarray of shape (n_variables,), int64
        Where each variable's state values start in ``values``.
    values : ndarray, float64
        The state values of all distinct domains.
    factor_ptr : ndarray of shape (n_factors + 1,), int64
        CSR pointers: factor f covers ``factor_vars[factor_ptr[f]:factor_ptr[f + 1]]``.
    factor_vars : ndarray, int32
        The scope variables of every factor, in scope order.
    factor_strides : ndarray, int64
        The stride of each scope variable in its factor's row-major joint-state index.
    factor_form : ndarray of shape (n_factors,), int8
        0 for a scaled table, 1 for an indexed (one-hot) map.
    factor_theta : ndarray of shape (n_factors,), int64
        The factor's feature (scaled) or its first feature (indexed) in θ.
    factor_table : ndarray of shape (n_factors,), int64
        The factor's table in ``tables`` (scaled) or map in ``maps`` (indexed).
    tables : ndarray, float64
        Pool of distinct scaled tables.
    maps : ndarray, int32
        Pool of distinct index maps (-1 where a joint state has no feature).
    var_ptr, var_factors, var_pos : ndarray
        CSR from each variable to the factors that contain it (int64 ids) and its position in
        each of their scopes (int32).
    colors : ndarray of shape (n_variables,), int32
        A colouring: variables of one colour share no factor.
    color_ptr, color_vars : ndarray
        CSR of the colour classes: the variables of colour c are
        ``color_vars[color_ptr[c]:color_ptr[c + 1]]``, in increasing order.
    trainable : ndarray of shape (n_features,), bool
    theta_init : ndarray of shape (n_features,), float64
    group_names, group_kinds : tuple of str
    group_theta, group_factors : ndarray of shape (n_groups + 1,), int64
        Each group's range of θ indices and of factors.
    """

    n_states: np.ndarray
    value_offset: np.ndarray
    values: np.ndarray
    factor_ptr: np.ndarray
    factor_vars: np.ndarray
    factor_strides: np.ndarray
    factor_form: np.ndarray
    factor_theta: np.ndarray
    factor_table: np.ndarray
    tables: np.ndarray
    maps: np.ndarray
    var_ptr: np.ndarray
    var_factors: np.ndarray
    var_pos: np.ndarray
    colors: np.ndarray
    color_ptr: np.ndarray
    color_vars: np.ndarray
    trainable: np.ndarray
    theta_init: np.ndarray
    group_names: tuple[str, ...]
    group_kinds: tuple[str, ...]
    group_theta: np.ndarray
    group_factors: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                if value.flags.writeable or not value.flags.c_contiguous:
                    value = np.array(value, order="C")  # a private, frozen copy
                    value.flags.writeable = False
                object.__setattr__(self, f.name, value)
        _check_arrays(self)

    def __getstate__(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    # -- sizes -------------------------------------------------------------------------------

    @property
    def n_variables(self) -> int:
        """The number of variables."""
        return len(self.n_states)

    @property
    def n_features(self) -> int:
        """The number of features, the length of θ."""
        return len(self.trainable)

    @property
    def n_factors(self) -> int:
        """The number of factors (scope rows)."""
        return len(self.factor_form)

    @property
    def n_colors(self) -> int:
        """The number of colour classes."""
        return len(self.color_ptr) - 1

    @property
    def color_classes(self) -> list[np.ndarray]:
        """The variables of each colour, as a list of int32 arrays."""
        return [self.color_vars[a:b] for a, b in zip(self.color_ptr[:-1], self.color_ptr[1:])]

    @property
    def nbytes(self) -> int:
        """The total size of the arrays in bytes."""
        return sum(getattr(self, f.name).nbytes for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray))

    @property
    def factor_sizes(self) -> np.ndarray:
        """The number of joint states of each factor's scope, shape (n_factors,)."""
        first = self.factor_ptr[:-1]
        return self.factor_strides[first] * self.n_states[self.factor_vars[first]]

    def distinct_tables(self, form: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The factors of one form (0 scaled, 1 indexed) grouped by the table or map they use.

        Returns a list of (table, factors): the flat table (from ``tables`` or ``maps``) and the
        ids of the factors that read it. Identical tables are stored once, so the list is short.
        """
        chosen = np.flatnonzero(self.factor_form == form)
        if not len(chosen):
            return []
        pool = self.tables if form == 0 else self.maps
        keys = np.stack([self.factor_table[chosen], self.factor_sizes[chosen]])
        (offsets, sizes), inverse = np.unique(keys, axis=1, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        groups = np.split(chosen[order], np.cumsum(np.bincount(inverse.ravel()))[:-1])
        return [(pool[o : o + n], factors) for o, n, factors in zip(offsets.tolist(), sizes.tolist(), groups)]

    def feature_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The smallest and largest value each feature takes over its scope's joint states."""
        low, high = np.zeros(self.n_features), np.ones(self.n_features)
        for table, factors in self.distinct_tables(0):
            low[self.factor_theta[factors]] = table.min()
            high[self.factor_theta[factors]] = table.max()
        return low, high

    def variable_values(self, variable: int) -> np.ndarray:
        """The state values of one variable."""
        variable = check_int("variable", variable, "CompiledGraph.variable_values", maximum=self.n_variables - 1)
        start = self.value_offset[variable]
        return self.values[start : start + self.n_states[variable]]

    def fingerprint(self) -> str:
        """A SHA-256 of every array and name: equal for equal models, for checkpoint checks."""
        digest = hashlib.sha256()
        for f in fields(self):
            value = getattr(self, f.name)
            digest.update(f.name.encode())
            digest.update(value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return (
            f"<CompiledGraph: {self.n_variables} variables, {self.n_factors} factors, "
            f"{self.n_features} features, {self.n_colors} colours, {self.nbytes / 2**20:.1f} MiB>"
        )

    # -- evaluation --------------------------------------------------------------------------

    @property
    def _view(self) -> _kernels.GraphView:
        view = self.__dict__.get("_graph_view")
        if view is None:
            view = _kernels.GraphView(self)
            object.__setattr__(self, "_graph_view", view)
        return view

    def _states(self, states: ArrayLike, owner: str) -> np.ndarray:
        return check_states(states, self.n_states, owner, name="states")

    def energy(self, states: ArrayLike, theta: ArrayLike, n_threads: int | None = None) -> np.ndarray:
        """θ·f(x) for each row x: the log of the unnormalised probability.

        Parameters
        ----------
        states : array_like of shape (B, n_variables)
            State indices.
        theta : array_like of shape (n_features,)
        n_threads : int, optional
            Threads to use (None: all usable cores).

        Returns
        -------
        ndarray of shape (B,)
        """
        states = self._states(states, "CompiledGraph.energy")
        theta = check_theta(theta, self.n_features, "CompiledGraph.energy")
        return _kernels.energies(self._view, states, theta, effective_n_threads(n_threads))

    def feature_values(self, states: ArrayLike, n_threads: int | None = None) -> np.ndarray:
        """The dense matrix of feature values, shape (B, n_features).

        Meant for small models; use :meth:`feature_sums` for means over many states.
        """
        states = self._states(states, "CompiledGraph.feature_values")
        if states.shape[0] * self.n_features > 2**28:
            raise ModelTooLargeError(
                f"feature_values would hold {states.shape[0]} x {self.n_features} values (over 2 GiB). "
                "Use feature_sums, or pass fewer states."
            )
        return _kernels.feature_matrix(self._view, states, effective_n_threads(n_threads))

    def feature_sums(self, states: ArrayLike, weights: ArrayLike | None = None, squared: bool = False) -> np.ndarray:
        """Σ_b w_b f(x_b), shape (n_features,); unit weights by default.

        With ``squared=True``, Σ_b w_b f(x_b)² instead (for variances).
        """
        states = self._states(states, "CompiledGraph.feature_sums")
        w = check_weights(weights, states.shape[0], "CompiledGraph.feature_sums")
        out = np.zeros(self.n_features)
        _kernels.add_feature_sums(self._view, states, w, out, bool(squared))
        return out

    def _one_state(self, state: Any, variable: Any, owner: str) -> tuple[np.ndarray, int]:
        state = np.asarray(state)
        if state.shape != (self.n_variables,):
            raise DataError(
                message("state", owner, f"one state per variable, shape ({self.n_variables},)", f"shape {state.shape}")
            )
        state = check_states(state[None, :], self.n_states, owner, name="state")[0]
        variable = check_int("v", variable, owner)
        if variable >= self.n_variables:
            raise ModelSpecError(message("v", owner, f"a variable id < {self.n_variables}", variable))
        return state, variable

    def conditional_energies(self, state: Any, v: int, theta: ArrayLike) -> np.ndarray:
        """The energy terms that depend on variable ``v``, for each of its states.

        Differences between entries equal differences of :meth:`energy` when only ``v`` moves,
        so ``softmax`` of the result is the conditional distribution of ``v`` given the rest.
        """
        owner = "CompiledGraph.conditional_energies"
        state, v = self._one_state(state, v, owner)
        theta = check_theta(theta, self.n_features, owner)
        return _kernels.conditional_energies(self._view, state, v, theta)

    def local_energies(self, state: Any, v: int, theta: ArrayLike) -> np.ndarray:
        """The energy of each factor touching ``v`` for each state of ``v``, the rest held fixed.

        Returns an array of shape (number of factors of v, n_states[v]), rows in the order of
        ``var_factors``; its column sums are :meth:`conditional_energies`. Reference samplers use
        it to add energy differences factor by factor, as the compiled kernels do.
        """
        owner = "CompiledGraph.local_energies"
        state, v = self._one_state(state, v, owner)
        theta = check_theta(theta, self.n_features, owner)
        return _kernels.local_energies(self._view, state, v, theta)

    def feature_deltas(self, state: Any, v: int, new_state: int) -> tuple[np.ndarray, np.ndarray]:
        """The features that change when variable ``v`` moves to ``new_state``, and by how much.

        Returns
        -------
        ids : ndarray of int64
        deltas : ndarray of float64
            ``f(x') - f(x)`` for each listed feature; unchanged features are left out.
        """
        owner = "CompiledGraph.feature_deltas"
        state, v = self._one_state(state, v, owner)
        new_state = check_int("new_state", new_state, owner)
        if new_state >= self.n_states[v]:
            raise ModelSpecError(
                message("new_state", owner, f"a state of variable {v} (< {self.n_states[v]})", new_state)
            )
        return _kernels.feature_deltas(self._view, state, v, new_state)


_DTYPES = {
    "n_states": np.int32,
    "value_offset": np.int64,
    "values": np.float64,
    "factor_ptr": np.int64,
    "factor_vars": np.int32,
    "factor_strides": np.int64,
    "factor_form": np.int8,
    "factor_theta": np.int64,
    "factor_table": np.int64,
    "tables": np.float64,
    "maps": np.int32,
    "var_ptr": np.int64,
    "var_factors": np.int64,
    "var_pos": np.int32,
    "colors": np.int32,
    "color_ptr": np.int64,
    "color_vars": np.int32,
    "trainable": np.bool_,
    "theta_init": np.float64,
    "group_theta": np.int64,
    "group_factors": np.int64,
}


#: What functions that accept either form of a model take (see :func:`as_compiled`).
GraphLike = Union["FactorGraph", CompiledGraph]


def as_compiled(graph: GraphLike) -> CompiledGraph:
    """``graph`` if it is already compiled (a :class:`CompiledGraph`, or anything with its flat
    arrays), else ``graph.compile()``: what functions that accept either form call first."""
    if hasattr(graph, "factor_ptr"):
        return graph  # type: ignore[return-value]  # a CompiledGraph, or an object with its arrays
    return graph.compile()


def _check_arrays(cg: CompiledGraph) -> None:
    """Validate a compiled graph once, so that the unchecked kernels can never read out of bounds.

    Raises ModelSpecError naming the first inconsistency (a graph built by FactorGraph.compile
    always passes; this guards hand-built or damaged ones).
    """

    def require(ok: Any, what: str) -> None:
        if not bool(np.all(ok)):
            raise ModelSpecError(f"Inconsistent CompiledGraph: {what}. Build it with FactorGraph.compile().")

    for name, dtype in _DTYPES.items():
        array = getattr(cg, name)
        require(array.dtype == dtype and array.ndim == 1, f"'{name}' must be a 1-D {np.dtype(dtype)} array")
    n, k, f = cg.n_variables, cg.n_features, cg.n_factors
    require(cg.n_states >= 1, "every variable needs at least one state")
    require(cg.value_offset >= 0, "value offsets are negative")
    require(cg.value_offset + cg.n_states <= len(cg.values), "value offsets run past 'values'")
    require(np.isfinite(cg.values), "state values are not finite")
    for ptr, items, what in (
        (cg.factor_ptr, cg.factor_vars, "factor"),
        (cg.var_ptr, cg.var_factors, "variable"),
        (cg.color_ptr, cg.color_vars, "colour"),
    ):
        require(len(ptr) >= 1 and ptr[0] == 0 and ptr[-1] == len(items), f"{what} pointers do not span their items")
        require(np.diff(ptr) >= 0, f"{what} pointers decrease")
    require(
        len(cg.factor_ptr) == f + 1 and len(cg.factor_theta) == f and len(cg.factor_table) == f,
        "factor arrays differ in length",
    )
    require(len(cg.factor_strides) == len(cg.factor_vars), "one stride per scope entry is needed")
    require((cg.factor_vars >= 0) & (cg.factor_vars < n), "a scope refers to a missing variable")
    require(np.isin(cg.factor_form, (0, 1)), "factor forms must be 0 (scaled) or 1 (indexed)")
    require(np.isfinite(cg.tables), "tables are not finite")
    require(len(cg.var_ptr) == n + 1 and len(cg.var_pos) == len(cg.var_factors), "variable CSR has wrong length")
    require(len(cg.colors) == n and len(cg.color_vars) == n, "colour arrays have wrong length")
    require(len(cg.theta_init) == k and np.isfinite(cg.theta_init), "theta_init is not a finite (n_features,) array")
    if f:
        first = cg.factor_ptr[:-1]
        require(np.diff(cg.factor_ptr) >= 1, "a factor has an empty scope")
        size = cg.factor_strides[first] * cg.n_states[cg.factor_vars[first]]
        # strides must be row-major over the scope's domain sizes
        last = cg.factor_ptr[1:] - 1
        require(cg.factor_strides[last] == 1, "the last stride of a scope must be 1")
        is_last = np.zeros(len(cg.factor_vars), dtype=bool)
        is_last[last] = True
        nxt = np.flatnonzero(~is_last)
        require(
            cg.factor_strides[nxt] == cg.factor_strides[nxt + 1] * cg.n_states[cg.factor_vars[nxt + 1]],
            "strides are not row-major over the domain sizes",
        )
        scaled, indexed = cg.factor_form == 0, cg.factor_form == 1
        require(cg.factor_table >= 0, "table offsets are negative")
        require(cg.factor_table[scaled] + size[scaled] <= len(cg.tables), "a scaled table runs past 'tables'")
        require(cg.factor_table[indexed] + size[indexed] <= len(cg.maps), "an index map runs past 'maps'")
        require((cg.factor_theta >= 0) & (cg.factor_theta[scaled] < k).all(), "a feature index is out of range")
        for offset, length in set(zip(cg.factor_table[indexed].tolist(), size[indexed].tolist())):
            top = int(cg.maps[offset : offset + length].max(initial=-1))
            require(cg.factor_theta[indexed & (cg.factor_table == offset)] + top < k, "an index map points past theta")
        ids = np.repeat(np.arange(f), np.diff(cg.factor_ptr))
        require((cg.var_factors >= 0) & (cg.var_factors < f), "the variable CSR refers to a missing factor")
        require(
            (cg.var_pos >= 0) & (cg.var_pos < np.diff(cg.factor_ptr)[cg.var_factors]),
            "the variable CSR has a position outside its factor's scope",
        )
        require(
            cg.factor_vars[cg.factor_ptr[cg.var_factors] + cg.var_pos] == np.repeat(np.arange(n), np.diff(cg.var_ptr)),
            "the variable CSR disagrees with the scopes",
        )
        keys = np.sort(ids * max(cg.n_colors, 1) + cg.colors[cg.factor_vars])
        require(np.diff(keys) != 0, "two variables of one factor share a colour or a variable repeats")
    if n:
        require((cg.color_vars >= 0) & (cg.color_vars < n), "colour classes refer to missing variables")
        require(np.bincount(cg.color_vars, minlength=n) == 1, "colour classes do not partition the variables")
        require(
            cg.colors[cg.color_vars] == np.repeat(np.arange(cg.n_colors), np.diff(cg.color_ptr)),
            "colour classes disagree with the colours",
        )


def build_compiled(graph: FactorGraph, coloring: str | Any = "auto") -> CompiledGraph:
    """Compile a FactorGraph into flat arrays (see :meth:`FactorGraph.compile`)."""
    parts = graph.parts()
    groups = parts.groups
    domains = parts.domains
    domain_sizes = np.array([d.n_states for d in domains], dtype=np.int64)
    domain_offsets = np.concatenate([[0], np.cumsum(domain_sizes)[:-1]]).astype(np.int64)
    values = np.concatenate([d.values for d in domains]) if domains else np.zeros(0)
    var_domain = parts.var_domain
    n_states = domain_sizes[var_domain].astype(np.int32) if len(var_domain) else np.zeros(0, np.int32)
    n = len(n_states)

    arities, scopes, strides, forms, thetas, offsets = [], [], [], [], [], []
    group_theta, group_factors = [0], [0]
    for grp in groups:
        e, arity = grp.scopes.shape
        sizes = n_states[grp.scopes].astype(np.int64)
        stride = np.ones_like(sizes)
        for j in range(arity - 2, -1, -1):
            stride[:, j] = stride[:, j + 1] * sizes[:, j + 1]
        arities.append(np.full(e, arity, dtype=np.int64))
        scopes.append(grp.scopes.ravel())
        strides.append(stride.ravel())
        forms.append(np.full(e, _FORMS[grp.form], dtype=np.int8))
        thetas.append(grp.theta_start + np.concatenate([[0], np.cumsum(grp.n_per_row)[:-1]]))
        offsets.append(grp.table_offset)
        group_theta.append(grp.theta_start + grp.n_features)
        group_factors.append(group_factors[-1] + e)

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    arity = cat(arities, np.int64)
    factor_ptr = np.concatenate([[0], np.cumsum(arity)]).astype(np.int64)
    factor_vars = cat(scopes, np.int32)
    factor_ids = np.repeat(np.arange(len(arity), dtype=np.int64), arity)
    positions = (np.arange(len(factor_vars), dtype=np.int64) - factor_ptr[factor_ids]).astype(np.int32)
    order = np.argsort(factor_vars, kind="stable")
    var_ptr = np.concatenate([[0], np.cumsum(np.bincount(factor_vars, minlength=n))]).astype(np.int64)

    colors = _coloring_for(graph, coloring, n)
    color_order = np.argsort(colors, kind="stable").astype(np.int32)
    n_colors = int(colors.max()) + 1 if n else 0
    color_ptr = np.concatenate([[0], np.cumsum(np.bincount(colors, minlength=n_colors))]).astype(np.int64)

    arrays: dict[str, Any] = dict(
        n_states=n_states,
        value_offset=domain_offsets[var_domain] if n else np.zeros(0, np.int64),
        values=values,
        factor_ptr=factor_ptr,
        factor_vars=factor_vars,
        factor_strides=cat(strides, np.int64),
        factor_form=cat(forms, np.int8),
        factor_theta=cat(thetas, np.int64),
        factor_table=cat(offsets, np.int64),
        tables=parts.tables.joined(),
        maps=parts.maps.joined(),
        var_ptr=var_ptr,
        var_factors=factor_ids[order],
        var_pos=positions[order],
        colors=colors,
        color_ptr=color_ptr,
        color_vars=color_order,
        trainable=graph.trainable,
        theta_init=graph.theta_init(),
        group_names=tuple(g.name for g in groups),
        group_kinds=tuple(g.kind for g in groups),
        group_theta=np.array(group_theta, dtype=np.int64),
        group_factors=np.array(group_factors, dtype=np.int64),
    )
    for value in arrays.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False  # all fresh or pool-owned: freeze instead of copying
    return CompiledGraph(**arrays)


def _coloring_for(graph: FactorGraph, coloring: str | Any, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    adjacency = graph.interaction_graph()
    if isinstance(coloring, str) or callable(coloring):
        return color(adjacency, coloring)
    return validate_coloring(adjacency, coloring)
