"""Argument checks with one message template: what was expected, what was given, how to fix."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from factorgraph._errors import DataError, FeatureSpecError, ModelSpecError
from factorgraph._joint import place_values

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph

#: A factor's scope as users give it: variable indices, in a sequence or an integer array.
ScopeLike: TypeAlias = "Sequence[int] | np.ndarray"
#: What seeds a sampler's counter-based generator: an int, a SeedSequence, or None (fresh entropy).
SeedLike: TypeAlias = "int | np.random.SeedSequence | None"


def message(name: str, owner: str, expected: str, got: object, fix: str = "") -> str:
    """Format the library's standard error message."""
    text = f"The '{name}' argument of {owner} must be {expected}; got {_short(got)}."
    return f"{text} {fix}" if fix else text


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(
    name: str,
    value: object,
    owner: str,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_negative: bool = False,
    error: type[Exception] = ModelSpecError,
) -> int:
    """Return ``value`` as an int, or raise ``error`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(message(name, owner, "an int", value))
    value = int(value)
    if minimum is not None and value < minimum:
        raise error(message(name, owner, f"an int >= {minimum}", value))
    if maximum is not None and value > maximum:
        raise error(message(name, owner, f"an int <= {maximum}", value))
    if not allow_negative and minimum is None and value < 0:
        raise error(message(name, owner, "a non-negative int", value))
    return value


def as_int_array(name: str, value: object, owner: str, error=FeatureSpecError) -> np.ndarray:
    """Convert to an int64 array; floats are accepted only when they hold whole numbers."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise error(message(name, owner, "an array of integers", value)) from exc
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise error(message(name, owner, "an array of integers", value))
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise error(message(name, owner, "an array of whole numbers", value, "Pass integer indices."))
    return array.astype(np.int64, copy=False)


def as_finite_array(name: str, value: object, owner: str, error=FeatureSpecError) -> np.ndarray:
    """Convert to a float64 array and refuse NaN and infinity, naming the first bad entry."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise error(message(name, owner, "an array of real numbers", value)) from exc
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise error(
            f"The '{name}' argument of {owner} must be finite; entry {index} is "
            f"{array[index]}. Replace NaN and infinite values."
        )
    return array


def check_states(data: object, n_states: np.ndarray, owner: str, name: str = "data") -> np.ndarray:
    """Validate an (N, n) array of state indices against the domains; return it as int32."""
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise DataError(message(name, owner, "an (N, n_variables) array of state indices", data)) from exc
    n = len(n_states)
    if array.ndim != 2 or array.shape[1] != n:
        raise DataError(
            message(
                name,
                owner,
                f"an array of shape (N, {n}) of state indices",
                f"shape {array.shape}",
                "Pass one row per sample and one column per variable.",
            )
        )
    if array.shape[0] == 0:
        raise DataError(f"The '{name}' argument of {owner} is empty (0 rows). Pass at least one sample.")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            row, col = np.argwhere(~np.isfinite(array))[0]
            raise DataError(
                f"The '{name}' argument of {owner} has a non-finite entry at row {row}, "
                f"variable {col} (counted from 0). Remove or impute missing values first."
            )
        if np.any(array != np.round(array)):
            raise DataError(
                message(
                    name,
                    owner,
                    "integer state indices",
                    "fractional values",
                    "Map raw values to state indices with FactorGraph.encode.",
                )
            )
    elif array.dtype.kind not in "iub":  # booleans are the states 0 and 1
        raise DataError(message(name, owner, "integer state indices", f"dtype {array.dtype}"))
    bad = (array < 0) | (array >= n_states[None, :])  # before any cast, so nothing wraps
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"The '{name}' argument of {owner} has state {array[row, col]} at row {row} for "
            f"variable {col} (counted from 0), whose states are 0..{n_states[col] - 1}. "
            "Map raw values to state indices with FactorGraph.encode."
        )
    return np.ascontiguousarray(array, dtype=np.int32)


def check_weights(weights: object, n_rows: int, owner: str) -> np.ndarray:
    """Validate sample weights: finite, non-negative, one per row, not all zero."""
    if weights is None:
        return np.ones(n_rows)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(message("weights", owner, "an array of real numbers", weights)) from exc
    if w.shape != (n_rows,):
        raise DataError(message("weights", owner, f"an array of shape ({n_rows},)", f"shape {w.shape}"))
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(message("weights", owner, "finite and non-negative", "negative or non-finite values"))
    with np.errstate(over="ignore"):
        total = w.sum()
    if total <= 0:
        raise DataError(message("weights", owner, "not all zero", "weights summing to 0"))
    if not np.isfinite(total):
        raise DataError(
            message("weights", owner, "of a finite sum", "weights whose sum overflows", "Rescale the weights.")
        )
    return np.ascontiguousarray(w)


def check_theta(theta: object, n_features: int, owner: str, name: str = "theta") -> np.ndarray:
    """Validate a flat parameter vector: float64 of shape (n_features,), finite."""
    array = as_finite_array(name, theta, owner, error=DataError)
    if array.shape != (n_features,):
        raise DataError(
            message(name, owner, f"an array of shape ({n_features},) in theta order", f"shape {array.shape}")
        )
    return np.ascontiguousarray(array)


def check_scope(graph: CompiledGraph, scope: ScopeLike, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Check a scope against a compiled graph; return it (int64) and each variable's place value
    in the scope's joint-state index (row-major: the last scope variable fastest).

    Raises
    ------
    ModelSpecError
        If the scope is empty or has repeated or out-of-range variable ids.
    """
    ids = np.atleast_1d(np.asarray(scope))
    if (
        ids.ndim != 1
        or len(ids) == 0
        or ids.dtype.kind not in "iu"
        or np.any((ids < 0) | (ids >= graph.n_variables))
        or len(np.unique(ids)) != len(ids)
    ):
        raise ModelSpecError(
            message(
                "scope",
                owner,
                f"distinct variable ids in 0..{graph.n_variables - 1}",
                scope,
                "Pass a tuple of variable ids, each at most once.",
            )
        )
    ids = ids.astype(np.int64)
    sizes = graph.n_states[ids].astype(np.int64)
    return ids, place_values(sizes)


def check_scope_table(
    graph: CompiledGraph, ids: np.ndarray, table: ArrayLike, owner: str, error=ModelSpecError
) -> np.ndarray:
    """A finite float table with one axis per scope variable, flattened in joint-state order."""
    shape = tuple(graph.n_states[ids].tolist())
    values = np.asarray(table, dtype=np.float64)
    if values.shape != shape or not np.all(np.isfinite(values)):
        raise error(
            message(
                "table",
                owner,
                f"finite values of shape {shape}, one per joint state",
                f"shape {values.shape}" if values.shape != shape else "non-finite values",
            )
        )
    return values.ravel()


def describe_feature(graph: CompiledGraph, k: int) -> str:
    """``"feature 12 (group 'pairs', scope (3, 17))"``: a θ index with its group and scope."""
    group = int(np.searchsorted(graph.group_theta, k, side="right") - 1)
    f = int(np.searchsorted(graph.factor_theta, k, side="right") - 1)
    scope = tuple(graph.factor_vars[graph.factor_ptr[f] : graph.factor_ptr[f + 1]].tolist()) if f >= 0 else ()
    return f"feature {k} (group '{graph.group_names[group]}', scope {scope})"


def check_targets(graph: CompiledGraph, target: ArrayLike, owner: str, limit: int = 3) -> np.ndarray:
    """Target feature means in θ order: real, of shape (n_features,) and finite, naming the first
    few non-finite entries by feature, group and scope."""
    try:
        array = np.asarray(target, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(message("target", owner, "an array of real numbers", target)) from exc
    if array.shape != (graph.n_features,):
        raise DataError(
            message("target", owner, f"an array of shape ({graph.n_features},) in θ order", f"shape {array.shape}")
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        listed = "; ".join(f"target of {describe_feature(graph, int(k))} is {array[k]}" for k in bad[:limit])
        more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
        raise DataError(
            f"{owner}: {listed}{more}. Targets must be finite: replace NaN and infinite values, "
            "e.g. compute them with fg.moments from complete data."
        )
    return array
