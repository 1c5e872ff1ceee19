"""Feature kinds: each describes a vectorised group of features over many scopes.

A kind holds an (E, arity) array of scopes and a rule that turns the joint states of one scope
into feature values. Every kind compiles to one of two lookup forms:

* **scaled table** (``form = "scaled"``): one feature per scope whose value at each joint state
  is read from a fixed table. Product, Indicator, Bin, Polynomial, Threshold, Table, Function.
* **indexed map** (``form = "indexed"``): several one-hot features per scope; each joint state
  maps to the local index of the one feature it switches on, or to none (-1). Potential and
  Histogram. An update reads ``theta[offset + map[joint]]`` directly.

Joint states of a scope ``(v_1, ..., v_a)`` are numbered in row-major (C) order of the state
indices ``(x_1, ..., x_a)``, so ``table[x_1, ..., x_a]`` has flat index
``x_1 * k_2 * ... * k_a + ... + x_a``.

Examples
--------
>>> import factorgraph as fg
>>> g = fg.FactorGraph()
>>> spins = g.add_variables(3, values=[-1, 1])
>>> g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="couplings")
array([0, 1])
>>> g.add_features(fg.features.Potential([(0, 2)]), name="pair").shape
(1, 4)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from factorgraph._errors import FeatureSpecError
from factorgraph._validation import as_finite_array, as_int_array, check_int, message

__all__ = [
    "FeatureKind",
    "Product",
    "Indicator",
    "Bin",
    "Polynomial",
    "Threshold",
    "Table",
    "Function",
    "Potential",
    "Histogram",
]


def _as_scopes(scopes: object, kind: str) -> np.ndarray:
    """Read scopes as an (E, arity) int64 array; a 1-D array means E scopes of one variable."""
    owner = f"{kind}"
    if isinstance(scopes, list | tuple) and scopes and all(isinstance(s, tuple | list) for s in scopes):
        lengths = {len(s) for s in scopes}
        if len(lengths) != 1:
            raise FeatureSpecError(
                f"The scopes of a {kind} group must all have the same number of variables; got "
                f"lengths {sorted(lengths)}. Put scopes of different arity in separate groups."
            )
    array = as_int_array("scopes", scopes, owner)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise FeatureSpecError(
            message("scopes", owner, "an (E, arity) array or a list of scope tuples", f"shape {array.shape}")
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise FeatureSpecError(
            f"A {kind} group needs at least one scope of at least one variable; got scopes of shape {array.shape}."
        )
    return array


def _row_param(name: str, value: np.ndarray, n_rows: int, row_shape: tuple, kind: str) -> bool:
    """Check a parameter given either once for all rows or once per row; True if per row."""
    if value.shape == row_shape:
        return False
    if value.shape == (n_rows, *row_shape):
        return True
    raise FeatureSpecError(
        message(
            name,
            kind,
            f"of shape {row_shape} (shared) or {(n_rows, *row_shape)} (one per scope)",
            f"shape {value.shape}",
        )
    )


class FeatureKind:
    """Base class of the feature kinds.

    Subclasses set ``form`` and implement ``_tables`` (scaled) or ``_index_map`` (indexed),
    which the graph calls once per distinct combination of variable domains.
    """

    form: ClassVar[str] = "scaled"
    arity_required: ClassVar[int | None] = None

    def __init__(self, scopes: object) -> None:
        self.scopes = _as_scopes(scopes, type(self).__name__)
        if self.arity_required is not None and self.arity != self.arity_required:
            raise FeatureSpecError(
                f"{type(self).__name__} is a feature of {self.arity_required} variable(s) but its "
                f"scopes have arity {self.arity} (shape {self.scopes.shape}). Pass scopes of shape "
                f"(E, {self.arity_required}) or a 1-D array of variable ids."
            )

    @property
    def kind(self) -> str:
        """The kind's name."""
        return type(self).__name__

    @property
    def n_rows(self) -> int:
        """The number of scopes E."""
        return self.scopes.shape[0]

    @property
    def arity(self) -> int:
        """The number of variables in each scope."""
        return self.scopes.shape[1]

    def params(self) -> dict[str, Any]:
        """The kind's parameters (besides scopes), for descriptions and model files."""
        return {}

    def _tables(self, values: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
        """Feature tables for ``rows``, whose scope variables have domain ``values``.

        Returns an array of shape (1, size) when all rows share one table, else (len(rows), size),
        where size is the number of joint states.
        """
        raise NotImplementedError

    def _index_map(self, values: list[np.ndarray]) -> tuple[np.ndarray, int]:
        """Map from joint state to local feature index (-1 for none), and the features per row."""
        raise NotImplementedError

    def __repr__(self) -> str:
        extra = "".join(f", {k}=..." for k in self.params())
        return f"{self.kind}(<{self.n_rows} scopes of {self.arity}>{extra})"


def _grids(values: list[np.ndarray]) -> list[np.ndarray]:
    """The value of each scope position at every joint state, flattened in row-major order."""
    return [g.ravel() for g in np.meshgrid(*values, indexing="ij")]


def _state_grid(values: list[np.ndarray]) -> np.ndarray:
    """The state index of each scope position at every joint state: shape (arity, size)."""
    return np.indices([len(v) for v in values]).reshape(len(values), -1)


class Product(FeatureKind):
    """The product of the scope variables' values: x_i (arity 1), x_i x_j (arity 2), ...

    Parameters
    ----------
    scopes : array_like of shape (E, arity) or list of tuples
        The variables of each feature.
    """

    def _tables(self, values, rows):
        return np.prod(_grids(values), axis=0)[None, :]


class Indicator(FeatureKind):
    """1 if every scope variable is in the given state, else 0.

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    states : array_like of shape (arity,) or (E, arity)
        The state index of each scope variable, shared by all scopes or one row per scope.
    """

    def __init__(self, scopes: object, states: object) -> None:
        super().__init__(scopes)
        self.states = as_int_array("states", states, "Indicator")
        self._per_row = _row_param("states", self.states, self.n_rows, (self.arity,), "Indicator")

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {"states": self.states}

    def _tables(self, values, rows):
        sizes = np.array([len(v) for v in values])
        states = self.states[rows] if self._per_row else self.states[None, :]
        bad = (states < 0) | (states >= sizes)
        if bad.any():
            r, j = np.argwhere(bad)[0]
            raise FeatureSpecError(
                f"Indicator state {states[r, j]} at scope position {j} is out of range: that "
                f"variable has states 0..{sizes[j] - 1}."
            )
        flat = np.ravel_multi_index(tuple(states.T), tuple(sizes))
        tables = np.zeros((len(states), int(np.prod(sizes))))
        tables[np.arange(len(states)), flat] = 1.0
        return tables


class Bin(FeatureKind):
    """1 if each scope variable's value lies in [lower_j, upper_j), else 0.

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    lower, upper : array_like of shape (arity,) or (E, arity)
        The bin bounds per scope position, shared or one row per scope.
    """

    def __init__(self, scopes: object, lower: object, upper: object) -> None:
        super().__init__(scopes)
        self.lower = as_finite_array("lower", lower, "Bin")
        self.upper = as_finite_array("upper", upper, "Bin")
        per_lo = _row_param("lower", self.lower, self.n_rows, (self.arity,), "Bin")
        per_hi = _row_param("upper", self.upper, self.n_rows, (self.arity,), "Bin")
        if np.any(self.lower >= self.upper):  # shapes broadcast: (arity,) against (E, arity)
            raise FeatureSpecError("Bin needs lower < upper for every scope position; some bin is empty.")
        self._per_row = per_lo or per_hi

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {"lower": self.lower, "upper": self.upper}

    def _tables(self, values, rows):
        grids = np.array(_grids(values))  # (arity, size)
        lo = np.broadcast_to(self.lower, (self.n_rows, self.arity))[rows] if self._per_row else self.lower[None]
        hi = np.broadcast_to(self.upper, (self.n_rows, self.arity))[rows] if self._per_row else self.upper[None]
        inside = (grids[None] >= lo[:, :, None]) & (grids[None] < hi[:, :, None])
        return inside.all(axis=1).astype(np.float64)


class _UnaryWithScalar(FeatureKind):
    """A function of one variable's value with one scalar parameter, shared or per scope."""

    arity_required = 1
    _param: ClassVar[str]

    def __init__(self, scopes: object, value: object) -> None:
        super().__init__(scopes)
        self._value = as_finite_array(self._param, value, self.kind)
        self._per_row = _row_param(self._param, self._value, self.n_rows, (), self.kind)

    def params(self):
        return {self._param: self._value}

    def _tables(self, values, rows):
        param = self._value[rows][:, None] if self._per_row else self._value[None, None]
        return self._apply(values[0][None, :], param)

    @staticmethod
    def _apply(x: np.ndarray, param: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Polynomial(_UnaryWithScalar):
    """A power of one variable's value: x_i ** power.

    Parameters
    ----------
    scopes : array_like of shape (E,) or (E, 1)
    power : float or array_like of shape (E,)
    """

    _param = "power"

    def __init__(self, scopes: object, power: object) -> None:
        super().__init__(scopes, power)

    @property
    def power(self) -> np.ndarray:
        """The exponent(s)."""
        return self._value

    @staticmethod
    def _apply(x, param):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return x**param  # 0 ** -1 and the like become inf and are refused by the graph


class Threshold(_UnaryWithScalar):
    """1 if one variable's value is at least the threshold, else 0.

    Parameters
    ----------
    scopes : array_like of shape (E,) or (E, 1)
    threshold : float or array_like of shape (E,)
    """

    _param = "threshold"

    def __init__(self, scopes: object, threshold: object) -> None:
        super().__init__(scopes, threshold)

    @property
    def threshold(self) -> np.ndarray:
        """The threshold(s)."""
        return self._value

    @staticmethod
    def _apply(x, param):
        return (x >= param).astype(np.float64)


class Table(FeatureKind):
    """An arbitrary table over the joint states of the scope: table[x_1, ..., x_a].

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    table : array_like of shape (k_1, ..., k_a) or (E, k_1, ..., k_a)
        Indexed by state indices; shared by all scopes or one per scope.
    """

    def __init__(self, scopes: object, table: object) -> None:
        super().__init__(scopes)
        self.table = as_finite_array("table", table, "Table")
        if self.table.ndim == self.arity:
            self._per_row = False
        elif self.table.ndim == self.arity + 1 and self.table.shape[0] == self.n_rows:
            self._per_row = True
        else:
            raise FeatureSpecError(
                f"Table over scopes of arity {self.arity} needs a table with {self.arity} axes "
                f"(shared) or {self.arity + 1} axes with {self.n_rows} first (one per scope); got "
                f"shape {self.table.shape}."
            )

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {"table": self.table}

    def _tables(self, values, rows):
        shape = tuple(len(v) for v in values)
        got = self.table.shape[1:] if self._per_row else self.table.shape
        if got != shape:
            raise FeatureSpecError(
                f"Table has shape {got} but its scope {self.scopes[rows[0]].tolist()} has joint "
                f"domain shape {shape}. Give one entry per joint state."
            )
        if self._per_row:
            return self.table[rows].reshape(len(rows), -1)
        return self.table.reshape(1, -1)


class Function(FeatureKind):
    """Any real function of the scope variables' values, tabulated once per domain combination.

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    fn : callable
        Called as ``fn(v_1, ..., v_a)``. It is first given numpy arrays (the values at every joint
        state) and should return an array of that shape; a function that only handles scalars is
        called once per joint state instead.

    Notes
    -----
    Model files store the tabulated values, not the function, so a saved model needs no code.
    """

    def __init__(self, scopes: object, fn: Callable[..., Any]) -> None:
        super().__init__(scopes)
        if not callable(fn):
            raise FeatureSpecError(message("fn", "Function", "a callable", fn))
        self.fn = fn

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {"fn": getattr(self.fn, "__qualname__", repr(self.fn))}

    def _tables(self, values, rows):
        grids = _grids(values)
        out = self._vectorised(grids)
        if out is None:
            out = self._pointwise(grids, self.scopes[rows[0]].tolist())
        if not np.all(np.isfinite(out)):
            point = [g[np.argmax(~np.isfinite(out))] for g in grids]
            raise FeatureSpecError(
                f"Function feature {self.params()['fn']!r} returned a non-finite value at values "
                f"{point}. Features must be finite at every joint state."
            )
        return out[None, :]

    def _vectorised(self, grids: list[np.ndarray]) -> np.ndarray | None:
        """Call fn once on whole arrays; None unless it returns one real value per joint state."""
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self.fn(*grids))
        except Exception:
            return None
        if out.shape != grids[0].shape or out.dtype.kind not in "biuf":
            return None  # e.g. a scalar from np.prod over all arrays: call point by point
        return out.astype(np.float64)

    def _pointwise(self, grids: list[np.ndarray], scope: list[int]) -> np.ndarray:
        """Call fn once per joint state with Python floats."""
        out = []
        for point in zip(*[g.tolist() for g in grids]):
            try:
                with np.errstate(all="ignore"):
                    value = np.asarray(self.fn(*point))
            except Exception as exc:
                raise FeatureSpecError(
                    f"Function feature {self.params()['fn']!r} failed on values {list(point)} of "
                    f"scope {scope}: {exc!r}. It must accept the scope's values and return a real number."
                ) from exc
            if value.shape != () or value.dtype.kind not in "biuf":
                raise FeatureSpecError(
                    f"Function feature {self.params()['fn']!r} returned {value!r:.60} at values "
                    f"{list(point)} of scope {scope}; it must return one real number."
                )
            out.append(float(value))
        return np.array(out)


class Potential(FeatureKind):
    """One indicator feature per joint state of each scope: a full log-potential table.

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    reference : int, optional
        When given, joint states in which any scope variable is in this state get no feature
        (a gauge choice that makes fields plus pair potentials identifiable).
    """

    form = "indexed"

    def __init__(self, scopes: object, reference: int | None = None) -> None:
        super().__init__(scopes)
        if reference is not None:
            reference = check_int("reference", reference, "Potential", allow_negative=True, error=FeatureSpecError)
        self.reference = reference

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {} if self.reference is None else {"reference": self.reference}

    def _index_map(self, values):
        states = _state_grid(values)
        keep = np.ones(states.shape[1], dtype=bool)
        if self.reference is not None:
            sizes = [len(v) for v in values]
            if not all(0 <= self.reference < k for k in sizes):
                raise FeatureSpecError(
                    f"Potential reference state {self.reference} is outside a scope variable's "
                    f"states (domain sizes {sizes})."
                )
            keep = np.all(states != self.reference, axis=0)
        index = np.full(states.shape[1], -1, dtype=np.int32)
        index[keep] = np.arange(int(keep.sum()), dtype=np.int32)
        return index, int(keep.sum())


class Histogram(FeatureKind):
    """One indicator per cell of a grid of value bins: 1(x_1 in B_i, x_2 in B_j, ...).

    Parameters
    ----------
    scopes : array_like of shape (E, arity)
    edges : array_like or sequence of array_like
        Bin edges shared by every scope position, or one array per position. Bins follow
        :func:`numpy.histogram`: half-open ``[e_i, e_{i+1})`` except the last, which is closed.
        Values outside every bin fall in no cell.
    """

    form = "indexed"

    def __init__(self, scopes: object, edges: object) -> None:
        super().__init__(scopes)
        if isinstance(edges, Sequence | np.ndarray) and len(edges) and np.ndim(edges[0]) == 1:
            edge_list = list(edges)
        else:
            edge_list = [edges] * self.arity
        if len(edge_list) != self.arity:
            raise FeatureSpecError(
                f"Histogram over scopes of arity {self.arity} needs one edge array or {self.arity}; "
                f"got {len(edge_list)}."
            )
        self.edges = [as_finite_array("edges", e, "Histogram") for e in edge_list]
        for e in self.edges:
            if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
                raise FeatureSpecError(
                    message("edges", "Histogram", "strictly increasing 1-D arrays of >= 2 edges", e.tolist())
                )

    def params(self):
        """The kind's parameters, for descriptions and model files."""
        return {f"edges{j}": e for j, e in enumerate(self.edges)}

    def _index_map(self, values):
        grids = _grids(values)
        n_bins = [len(e) - 1 for e in self.edges]
        cell = np.zeros(len(grids[0]), dtype=np.int64)
        outside = np.zeros(len(grids[0]), dtype=bool)
        for x, e, nb in zip(grids, self.edges, n_bins):
            b = np.searchsorted(e, x, side="right") - 1
            b[x == e[-1]] = nb - 1
            outside |= (b < 0) | (b >= nb)
            cell = cell * nb + np.clip(b, 0, nb - 1)
        cell[outside] = -1
        return cell.astype(np.int32), int(np.prod(n_bins))
