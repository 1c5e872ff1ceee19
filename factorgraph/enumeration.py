"""The exact engine: enumerate every joint state of a small model.

Everything here sums over all ``prod(n_states)`` joint states, in chunks so memory stays small,
with a running maximum so that no exponential overflows. It is the ground truth of the test
suite and a tool for users with small models: log partition function, expectations, marginals,
covariances and entropy. Users reach it as :mod:`factorgraph.exact`, which adds the exact
maximum-entropy fit; samplers and objectives import this module, the model layer's engine, directly.

Joint states are enumerated in row-major order: variable 0 changes slowest.

Examples
--------
>>> import numpy as np, factorgraph as fg
>>> from factorgraph import enumeration
>>> g = fg.FactorGraph()
>>> _ = g.add_variables(2, values=[-1, 1])
>>> _ = g.add_features(fg.features.Product([(0, 1)]))
>>> theta = np.array([0.5])
>>> bool(np.isclose(enumeration.log_partition(g, theta), np.log(2 * np.exp(0.5) + 2 * np.exp(-0.5))))
True
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from factorgraph import _kernels
from factorgraph._errors import ModelSpecError, ModelTooLargeError, NumericalError
from factorgraph._joint import place_values
from factorgraph._openmp import effective_n_threads
from factorgraph._validation import check_int, check_scope, check_scope_table, check_theta
from factorgraph.compiled import CompiledGraph, GraphLike, as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike


__all__ = [
    "MAX_STATES",
    "enumerate_states",
    "log_partition",
    "probabilities",
    "sample",
    "expectations",
    "marginal",
    "covariance",
    "entropy",
    "log_partition_and_means",
    "n_joint_states",
]

#: The largest number of joint states the engine will enumerate.
MAX_STATES = 2**22
_CHUNK = 2**16
_MAX_DENSE_FEATURES = 8192  # covariance: a 512 MiB matrix at most
_DENSE_CHUNK_VALUES = 2**23  # dense feature rows per chunk: 64 MiB at most


def n_joint_states(compiled: CompiledGraph) -> int:
    """The number of joint states, refused (:class:`~factorgraph.ModelTooLargeError`) above :data:`MAX_STATES`."""
    total = 1
    for k in compiled.n_states.tolist():
        total *= k
    if total > MAX_STATES:
        raise ModelTooLargeError(
            f"The model has {total:.3g} joint states, more than the exact engine's limit of "
            f"{MAX_STATES} (2**22). Use a sampler for models this large."
        )
    return total


def _chunks(compiled: CompiledGraph, chunk: int = _CHUNK) -> Iterator[np.ndarray]:
    """All joint states, (B, n) int32 chunks of at most ``chunk`` rows in row-major order."""
    total = n_joint_states(compiled)
    sizes = compiled.n_states.astype(np.int64)
    place = place_values(sizes)
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total), dtype=np.int64)
        yield ((index[:, None] // place[None, :]) % sizes[None, :]).astype(np.int32)


def enumerate_states(graph: GraphLike) -> np.ndarray:
    """Every joint state as a row of state indices, shape (prod(n_states), n_variables)."""
    compiled = as_compiled(graph)
    parts = list(_chunks(compiled))
    return np.concatenate(parts) if parts else np.zeros((1, 0), dtype=np.int32)


class _Accumulator:
    """Streams Σ_x exp(E(x)) (and optional weighted sums) with a running maximum."""

    def __init__(self) -> None:
        self.shift = -np.inf
        self.total = 0.0
        self.extra: list[np.ndarray] = []

    def weights(self, energy: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(energy)):
            raise NumericalError(
                "θ·f(x) overflowed to a non-finite value for some joint state; θ is too large "
                "for double precision. Check θ (its order and scale)."
            )
        top = float(energy.max())
        if top > self.shift:
            scale = np.exp(self.shift - top) if np.isfinite(self.shift) else 0.0
            self.total *= scale
            for arr in self.extra:
                arr *= scale
            self.shift = top
        w = np.exp(energy - self.shift)
        self.total += float(w.sum())
        return w

    @property
    def log_total(self) -> float:
        return self.shift + float(np.log(self.total))


def _theta(compiled: CompiledGraph, theta: ArrayLike, owner: str) -> np.ndarray:
    return check_theta(theta, compiled.n_features, owner)


def _energies(compiled: CompiledGraph, states: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return _kernels.energies(compiled._view, states, theta, effective_n_threads(None))


def log_partition(graph: GraphLike, theta: ArrayLike) -> float:
    """log Z(θ) = log Σ_x exp(θ·f(x)).

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)

    Returns
    -------
    float
    """
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.log_partition")
    acc = _Accumulator()
    for states in _chunks(compiled):
        acc.weights(_energies(compiled, states, theta))
    return acc.log_total


def log_partition_and_means(compiled: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """log Z(θ) and E_θ[f] in one pass, for a compiled graph and a checked θ (no validation)."""
    sums = np.zeros(compiled.n_features)
    acc = _Accumulator()
    acc.extra.append(sums)
    for states in _chunks(compiled):
        w = acc.weights(_energies(compiled, states, theta))
        _kernels.add_feature_sums(compiled._view, states, w, sums)
    return acc.log_total, sums / acc.total


def probabilities(graph: GraphLike, theta: ArrayLike) -> np.ndarray:
    """The whole joint distribution, an array with one axis per variable (shape n_states)."""
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.probabilities")
    log_z = log_partition(compiled, theta)
    p = np.concatenate([np.exp(_energies(compiled, s, theta) - log_z) for s in _chunks(compiled)])
    return p.reshape(tuple(compiled.n_states.tolist()))


def sample(
    graph: GraphLike, theta: ArrayLike, n_samples: int, seed: int | np.random.SeedSequence | None = None
) -> np.ndarray:
    """Independent exact draws from p_θ, shape (n_samples, n_variables) of state indices.

    ``seed`` seeds the draws (an int or a :class:`numpy.random.SeedSequence`); the same seed
    gives the same samples.
    """
    compiled = as_compiled(graph)
    n_samples = check_int("n_samples", n_samples, "exact.sample", minimum=1)
    p = probabilities(compiled, theta).ravel()
    index = np.random.default_rng(seed).choice(len(p), size=n_samples, p=p / p.sum())
    sizes = compiled.n_states.astype(np.int64)
    return np.stack(np.unravel_index(index, tuple(sizes.tolist())), axis=1).astype(np.int32)


def expectations(
    graph: GraphLike, theta: ArrayLike, scope: ScopeLike | None = None, table: ArrayLike | None = None
) -> np.ndarray:
    """E_θ[f], shape (n_features,): the gradient of log Z; or E_θ[g(x_S) f] with weights.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)
    scope : sequence of int, optional
        Variables S whose joint state selects each state's weight (with ``table``).
    table : array_like, one axis per scope variable, optional
        g(s) for each joint state s of S. Then the result is E_θ[g(x_S) f(x)], the exact
        counterpart of a sampler's ``weighted_sums(scope, table) / n_chains``.

    Returns
    -------
    ndarray of shape (n_features,)
    """
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.expectations")
    if (scope is None) != (table is None):
        raise ModelSpecError("exact.expectations needs both scope= and table=, or neither.")
    if scope is None or table is None:
        return log_partition_and_means(compiled, theta)[1]
    ids, places = check_scope(compiled, scope, "exact.expectations")
    weights = check_scope_table(compiled, ids, table, "exact.expectations")
    sums = np.zeros(compiled.n_features)
    acc = _Accumulator()
    acc.extra.append(sums)
    for states in _chunks(compiled):
        w = acc.weights(_energies(compiled, states, theta))
        _kernels.add_feature_sums(compiled._view, states, w * weights[states[:, ids] @ places], sums)
    return sums / acc.total


def marginal(graph: GraphLike, theta: ArrayLike, scope: ScopeLike) -> np.ndarray:
    """The joint marginal distribution of the variables in ``scope``.

    Returns
    -------
    ndarray
        One axis per scope variable, in scope order; entry ``[a, b, ...]`` is
        P(x_scope[0] = a, x_scope[1] = b, ...).
    """
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.marginal")
    scope, stride = check_scope(compiled, scope, "exact.marginal")
    sizes = compiled.n_states[scope].astype(np.int64)
    table = np.zeros(int(np.prod(sizes)))
    acc = _Accumulator()
    acc.extra.append(table)
    for states in _chunks(compiled):
        w = acc.weights(_energies(compiled, states, theta))
        table += np.bincount(states[:, scope] @ stride, weights=w, minlength=len(table))
    return (table / acc.total).reshape(tuple(sizes.tolist()))


def covariance(graph: GraphLike, theta: ArrayLike) -> np.ndarray:
    """Cov_θ[f], shape (n_features, n_features): the Hessian of log Z."""
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.covariance")
    if compiled.n_features > _MAX_DENSE_FEATURES:
        raise ModelTooLargeError(
            f"covariance of {compiled.n_features} features would be a dense "
            f"{compiled.n_features}^2 matrix; the limit is {_MAX_DENSE_FEATURES} features."
        )
    log_z, mean = log_partition_and_means(compiled, theta)
    cov = np.zeros((compiled.n_features, compiled.n_features))
    rows = max(1, min(_CHUNK, _DENSE_CHUNK_VALUES // max(compiled.n_features, 1)))
    for states in _chunks(compiled, rows):
        p = np.exp(_energies(compiled, states, theta) - log_z)
        centred = _kernels.feature_matrix(compiled._view, states, 1) - mean
        cov += centred.T @ (centred * p[:, None])
    return cov


def entropy(graph: GraphLike, theta: ArrayLike) -> float:
    """The Shannon entropy of p_θ in nats, −Σ_x p(x) log p(x)."""
    compiled = as_compiled(graph)
    theta = _theta(compiled, theta, "exact.entropy")
    acc = _Accumulator()
    for states in _chunks(compiled):
        acc.weights(_energies(compiled, states, theta))
    log_rest = float(np.log(acc.total))  # log Z = shift + log_rest, kept apart for precision
    total = 0.0
    for states in _chunks(compiled):
        surprise = log_rest - (_energies(compiled, states, theta) - acc.shift)  # -log p(x) >= 0
        total += float(np.exp(-surprise) @ surprise)
    return total
