"""The exact engine: enumerate every joint state of a small model.

Everything here sums over all ``prod(n_states)`` joint states, in chunks so memory stays small,
with a running maximum so that no exponential overflows. It is the ground truth of the test
suite and a tool for users with small models: log partition function, expectations, marginals,
covariances, entropy and the exact maximum-entropy fit.

Joint states are enumerated in row-major order: variable 0 changes slowest.

Examples
--------
>>> import numpy as np, factorgraph as fg
>>> g = fg.FactorGraph()
>>> _ = g.add_variables(2, values=[-1, 1])
>>> _ = g.add_features(fg.features.Product([(0, 1)]))
>>> theta = np.array([0.5])
>>> bool(np.isclose(fg.exact.log_partition(g, theta), np.log(2 * np.exp(0.5) + 2 * np.exp(-0.5))))
True
>>> fg.exact.fit(g, np.array([0.2])).theta.round(6).tolist()
[0.202733]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize

from factorgraph import _kernels
from factorgraph._openmp import effective_n_threads
from factorgraph._errors import DataError, ModelSpecError, ModelTooLargeError, NumericalError
from factorgraph._validation import check_int, check_scope, check_scope_table, check_theta, check_targets, describe_feature, message
from factorgraph.compiled import CompiledGraph

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
    "fit",
    "ExactFitResult",
]

#: The largest number of joint states the engine will enumerate.
MAX_STATES = 2**22
_CHUNK = 2**16
_MAX_DENSE_FEATURES = 8192  # covariance: a 512 MiB matrix at most
_DENSE_CHUNK_VALUES = 2**23  # dense feature rows per chunk: 64 MiB at most
_MAX_NEWTON_FEATURES = 2048  # Newton polish: a few dense K x K matrices
_MAX_DIFFERENCE_FEATURES = 128  # Newton polish by differences of the gradient: 2K evaluations a step


def _compiled(graph: Any) -> CompiledGraph:
    return graph if isinstance(graph, CompiledGraph) else graph.compile()


def _n_joint(compiled: CompiledGraph) -> int:
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
    total = _n_joint(compiled)
    sizes = compiled.n_states.astype(np.int64)
    place = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total), dtype=np.int64)
        yield ((index[:, None] // place[None, :]) % sizes[None, :]).astype(np.int32)


def enumerate_states(graph: Any) -> np.ndarray:
    """Every joint state as a row of state indices, shape (prod(n_states), n_variables)."""
    compiled = _compiled(graph)
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


def _theta(compiled: CompiledGraph, theta: Any, owner: str) -> np.ndarray:
    return check_theta(theta, compiled.n_features, owner)


def _energies(compiled: CompiledGraph, states: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return _kernels.energies(compiled._view, states, theta, effective_n_threads(None))


def log_partition(graph: Any, theta: Any) -> float:
    """log Z(θ) = log Σ_x exp(θ·f(x)).

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)

    Returns
    -------
    float
    """
    compiled = _compiled(graph)
    theta = _theta(compiled, theta, "exact.log_partition")
    acc = _Accumulator()
    for states in _chunks(compiled):
        acc.weights(_energies(compiled, states, theta))
    return acc.log_total


def _log_partition_and_means(compiled: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
    sums = np.zeros(compiled.n_features)
    acc = _Accumulator()
    acc.extra.append(sums)
    for states in _chunks(compiled):
        w = acc.weights(_energies(compiled, states, theta))
        _kernels.add_feature_sums(compiled._view, states, w, sums)
    return acc.log_total, sums / acc.total


def probabilities(graph: Any, theta: Any) -> np.ndarray:
    """The whole joint distribution, an array with one axis per variable (shape n_states)."""
    compiled = _compiled(graph)
    theta = _theta(compiled, theta, "exact.probabilities")
    log_z = log_partition(compiled, theta)
    p = np.concatenate([np.exp(_energies(compiled, s, theta) - log_z) for s in _chunks(compiled)])
    return p.reshape(tuple(compiled.n_states.tolist()))


def sample(graph: Any, theta: Any, n_samples: int, seed: int | np.random.SeedSequence | None = None) -> np.ndarray:
    """Independent exact draws from p_θ, shape (n_samples, n_variables) of state indices.

    ``seed`` seeds the draws (an int or a :class:`numpy.random.SeedSequence`); the same seed
    gives the same samples.
    """
    compiled = _compiled(graph)
    n_samples = check_int("n_samples", n_samples, "exact.sample", minimum=1)
    p = probabilities(compiled, theta).ravel()
    index = np.random.default_rng(seed).choice(len(p), size=n_samples, p=p / p.sum())
    sizes = compiled.n_states.astype(np.int64)
    return np.stack(np.unravel_index(index, tuple(sizes.tolist())), axis=1).astype(np.int32)


def expectations(graph: Any, theta: Any, scope: Any = None, table: Any = None) -> np.ndarray:
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
    compiled = _compiled(graph)
    theta = _theta(compiled, theta, "exact.expectations")
    if (scope is None) != (table is None):
        raise ModelSpecError("exact.expectations needs both scope= and table=, or neither.")
    if scope is None:
        return _log_partition_and_means(compiled, theta)[1]
    ids, places = check_scope(compiled, scope, "exact.expectations")
    weights = check_scope_table(compiled, ids, table, "exact.expectations")
    sums = np.zeros(compiled.n_features)
    acc = _Accumulator()
    acc.extra.append(sums)
    for states in _chunks(compiled):
        w = acc.weights(_energies(compiled, states, theta))
        _kernels.add_feature_sums(compiled._view, states, w * weights[states[:, ids] @ places], sums)
    return sums / acc.total


def marginal(graph: Any, theta: Any, scope: Any) -> np.ndarray:
    """The joint marginal distribution of the variables in ``scope``.

    Returns
    -------
    ndarray
        One axis per scope variable, in scope order; entry ``[a, b, ...]`` is
        P(x_scope[0] = a, x_scope[1] = b, ...).
    """
    compiled = _compiled(graph)
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


def covariance(graph: Any, theta: Any) -> np.ndarray:
    """Cov_θ[f], shape (n_features, n_features): the Hessian of log Z."""
    compiled = _compiled(graph)
    theta = _theta(compiled, theta, "exact.covariance")
    if compiled.n_features > _MAX_DENSE_FEATURES:
        raise ModelTooLargeError(
            f"covariance of {compiled.n_features} features would be a dense "
            f"{compiled.n_features}^2 matrix; the limit is {_MAX_DENSE_FEATURES} features."
        )
    log_z, mean = _log_partition_and_means(compiled, theta)
    cov = np.zeros((compiled.n_features, compiled.n_features))
    rows = max(1, min(_CHUNK, _DENSE_CHUNK_VALUES // max(compiled.n_features, 1)))
    for states in _chunks(compiled, rows):
        p = np.exp(_energies(compiled, states, theta) - log_z)
        centred = _kernels.feature_matrix(compiled._view, states, 1) - mean
        cov += centred.T @ (centred * p[:, None])
    return cov


def entropy(graph: Any, theta: Any) -> float:
    """The Shannon entropy of p_θ in nats, −Σ_x p(x) log p(x)."""
    compiled = _compiled(graph)
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


@dataclass(frozen=True)
class ExactFitResult:
    """The exact maximum-entropy fit.

    Attributes
    ----------
    theta : ndarray of shape (n_features,)
        The maximiser; fixed features keep their given values.
    grad_norm : float
        Euclidean norm of the gradient over the trained features at ``theta``.
    success : bool
        True when ``grad_norm`` fell below the tolerance.
    n_iter : int
        Iterations (L-BFGS plus Newton refinement).
    log_partition : float
        log Z at ``theta``.
    message : str
    """

    theta: np.ndarray
    grad_norm: float
    success: bool
    n_iter: int
    log_partition: float
    message: str


def _combine_matching(compiled: Any, terms: list[Any], owner: str) -> list[Any]:
    """The terms with every matching term (``matched_moments``) merged into one MomentMatching.

    Each matched feature's m_k − E[f_k] counts once, as in the trainer. The log-likelihood
    θ·m − log Z(θ) needs a target for every trainable feature, so one left without is refused.
    """
    from objectives import MomentMatching
    from objectives.moments import combined_targets

    matching = [t for t in terms if hasattr(t, "matched_moments")]
    if not matching:
        return terms
    matched, target = combined_targets(matching, compiled.n_features, compiled.trainable)
    missing = np.flatnonzero(compiled.trainable & ~matched)
    if len(missing):
        raise ModelSpecError(
            f"{owner}: the matching terms give no target for trainable features "
            f"{missing[:8].tolist()}{' ...' if len(missing) > 8 else ''}, and log Z(θ) needs one for "
            "each. Add MomentMatching(target) over all features, or make those features fixed."
        )
    return [MomentMatching(target)] + [t for t in terms if not hasattr(t, "matched_moments")]


def fit(
    graph: Any,
    target: Any = None,
    l2: float = 0.0,
    objectives: Sequence[Any] | None = None,
    theta0: Any = None,
    tol: float = 1e-8,
    max_iter: int = 10_000,
) -> ExactFitResult:
    """The exact maximiser of L(θ) = θ·m − log Z(θ) − Σ_S λ_S Φ_S(p_S) − R(θ).

    Solves the objective the :class:`~factorgraph.Trainer` follows with chains, exactly: the
    terms are ``MomentMatching(target)`` (when ``target`` is given), ``L2(l2)`` (when ``l2`` > 0)
    and ``objectives``, each evaluated by enumeration through its
    ``exact_value_and_grad(graph, theta)``. Matching terms (``MomentMatching``,
    ``ExactMarginal``) are merged into one log-likelihood θ·m − log Z(θ), each feature's target
    counted once, as the trainer does; it needs a target for every trainable feature. L-BFGS runs on the exact gradient over the
    trainable features; Newton steps then polish the optimum, with the exact covariance as the
    Hessian when the terms are only moment matching and L2 (a concave problem), or else with
    central differences of the exact gradient (up to 128 trainable features). With an ``L1`` term the
    smooth part is minimised with θ split as u − v, u, v >= 0 (L-BFGS-B), so the zeros of the
    solution come out exactly zero, and ``grad_norm`` is the distance of zero from the
    subdifferential.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    target : array_like of shape (n_features,), optional
        Target feature means m in θ order (entries of fixed features are ignored).
    l2 : float, default 0.0
        Strength of the L2 penalty on the trained θ.
    objectives : sequence of Objective, optional
        Further terms, e.g. :class:`objectives.MarginalPrior` or :class:`objectives.L2`; the same
        objects a Trainer takes.
    theta0 : array_like of shape (n_features,), optional
        Starting point; fixed features stay at these values. Default: the graph's ``theta_init``.
    tol : float, default 1e-8
        Stop when the gradient's Euclidean norm is below this.
    max_iter : int, default 10000

    Returns
    -------
    ExactFitResult

    Raises
    ------
    DataError
        When a target lies outside the range its feature can take (no solution exists).
    ModelSpecError
        When there is no term, or an objective has no exact form (no ``exact_value_and_grad``).

    Examples
    --------
    A KL prior pulling the pair marginal of two spins towards agreement:

    >>> import numpy as np, factorgraph as fg, objectives
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> prior = objectives.MarginalPrior((0, 1), [[0.45, 0.05], [0.05, 0.45]], strength=1.0)
    >>> result = fg.exact.fit(g, target=[0.0], objectives=[prior])
    >>> bool(result.success and 0 < result.theta[0] < np.arctanh(0.8))
    True
    """
    from factorgraph._exact_l1 import l1_residual, minimize_l1
    from objectives import L1, L2, MomentMatching
    from objectives.consistency import check_consistent_marginals, check_indicator_sums

    owner = "exact.fit"
    compiled = _compiled(graph)
    theta = compiled.theta_init.copy() if theta0 is None else _theta(compiled, theta0, owner).copy()
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not (np.isfinite(l2) and l2 >= 0):
        raise ModelSpecError(message("l2", owner, "a finite number >= 0", l2))
    max_iter = check_int("max_iter", max_iter, owner, minimum=0)
    free = np.flatnonzero(compiled.trainable)
    terms = [] if target is None else [MomentMatching(check_targets(compiled, target, owner))]
    terms += [L2(l2)] if l2 > 0 else []
    terms += list(objectives or ())
    if not terms:
        raise ModelSpecError(f"{owner} got no objective: pass target= (feature means) and/or objectives=[...].")
    # L1 is not differentiable: its terms go to a bound-constrained split (θ = u − v) below
    l1 = sum((np.broadcast_to(t.strength, theta.shape)[free] for t in terms if isinstance(t, L1)),
             np.zeros(len(free)))
    terms = [t for t in terms if not isinstance(t, L1)]
    for term in terms:
        if hasattr(term, "check"):
            term.check(compiled)
    check_consistent_marginals(terms)
    terms = _combine_matching(compiled, terms, owner)
    for term in terms:
        if isinstance(term, MomentMatching):
            check_indicator_sums(compiled, compiled.trainable, term.target)
    for term in terms:
        if not hasattr(term, "exact_value_and_grad"):
            raise ModelSpecError(
                f"{owner} cannot solve the objective {type(term).__name__} yet: it has no "
                "exact_value_and_grad(graph, theta). The exact engine solves MomentMatching, L2, L1, "
                "MarginalPrior and any objective that defines that method."
            )
        if isinstance(term, MomentMatching):
            _check_target_range(compiled, term.target, free)

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        """−L and −∇L over the trainable features: scipy minimises."""
        theta[free] = x
        value, grad = 0.0, np.zeros(compiled.n_features)
        for term in terms:
            term_value, term_grad = term.exact_value_and_grad(compiled, theta)
            value += term_value
            grad += term_grad
        return -value, -grad[free]

    x = theta[free].copy()
    n_iter = 0
    concave = all(isinstance(term, MomentMatching | L2) for term in terms)
    ridge = sum((np.broadcast_to(t.strength, theta.shape)[free] for t in terms if isinstance(t, L2)),
                np.zeros(len(free)))

    def polish(func: Any, y: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Newton steps on ``func`` over the free features ``on``: L-BFGS stalls a little above
        tight tolerances. The exact Hessian Cov[f] + L2 when the problem is only moment matching
        and L2, else central differences of the exact gradient (few features only)."""
        nonlocal n_iter
        if concave:
            def hessian(z: np.ndarray) -> np.ndarray:
                point = x.copy()
                point[on] = z
                return covariance(compiled, _full(theta, free, point))[np.ix_(free[on], free[on])] + np.diag(ridge[on])
        elif len(y) <= _MAX_DIFFERENCE_FEATURES:
            def hessian(z: np.ndarray) -> np.ndarray:
                return _difference_hessian(func, z)
        else:
            return y
        y, extra = _newton_polish(func, hessian, y, tol, min(30, max_iter - n_iter))
        n_iter += extra
        return y

    if len(free) and max_iter > 0 and l1.any():
        x, n_iter = minimize_l1(negative, x, l1, tol, max_iter)
        # on the support, with the signs held, the L1 term is linear: polish there, and keep the
        # result only if no sign flipped
        support = x != 0
        signs = np.sign(x[support])

        def on_support(y: np.ndarray) -> tuple[float, np.ndarray]:
            point = x.copy()
            point[support] = y
            value, grad = negative(point)
            return value + l1[support] @ (signs * y), grad[support] + l1[support] * signs

        if support.any():
            y = polish(on_support, x[support], support)
            if np.all(np.sign(y) == signs):
                x[support] = y
    elif len(free) and max_iter > 0:
        found = scipy.optimize.minimize(
            negative, x, jac=True, method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": tol / 10, "ftol": 0.0, "maxcor": 30},
        )
        x, n_iter = found.x, int(found.nit)
        x = polish(negative, x, np.ones(len(free), dtype=bool))
    _, grad = negative(x)
    theta[free] = x
    # with L1, the distance of zero from the subdifferential, coordinate by coordinate
    grad_norm = float(np.linalg.norm(l1_residual(grad, x, l1) if l1.any() else grad))
    success = grad_norm < tol
    msg = "converged" if success else (
        f"gradient norm {grad_norm:.3g} is above tol {tol:g}: a target may lie on the boundary "
        "of what the features can reach (θ diverges); add l2 > 0 or move the target inside."
    )
    return ExactFitResult(theta, grad_norm, success, n_iter, log_partition(compiled, theta), msg)


def _newton_polish(objective, hessian, x, tol, max_steps):
    """Newton steps on ``objective`` (value, gradient) with ``hessian(x)``, a min-norm step where
    it is singular; L-BFGS alone stalls a little above tight tolerances."""
    if len(x) > _MAX_NEWTON_FEATURES or max_steps <= 0:
        return x, 0
    value, grad = objective(x)
    for steps in range(1, max_steps + 1):
        if np.linalg.norm(grad) < tol / 100:
            return x, steps - 1
        h = hessian(x)
        step = np.linalg.lstsq(h, -grad, rcond=1e-12)[0]
        t = 1.0
        while t > 1e-8:
            new_value, new_grad = objective(x + t * step)
            if new_value <= value + 1e-4 * t * (grad @ step) or np.linalg.norm(new_grad) < np.linalg.norm(grad):
                break
            t /= 2
        else:
            return x, steps
        x, value, grad = x + t * step, new_value, new_grad
    return x, max_steps


def _difference_hessian(objective, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The Hessian by central differences of the exact gradient (symmetrised), for objectives
    whose second derivatives have no closed form; its O(h²) error only slows the last steps."""
    columns = [(objective(x + h * e)[1] - objective(x - h * e)[1]) / (2 * h) for e in np.eye(len(x))]
    matrix = np.array(columns).T
    return (matrix + matrix.T) / 2


def _full(theta: np.ndarray, free: np.ndarray, x: np.ndarray) -> np.ndarray:
    out = theta.copy()
    out[free] = x
    return out


def _check_target_range(compiled: CompiledGraph, target: np.ndarray, free: np.ndarray) -> None:
    """Refuse targets outside the range of a single feature: no θ can reach them."""
    low, high = compiled.feature_bounds()
    slack = 1e-12 * np.maximum(1.0, np.abs(target))
    bad = free[(target[free] < low[free] - slack[free]) | (target[free] > high[free] + slack[free])]
    if len(bad):
        k = int(bad[0])
        raise DataError(
            f"Target {float(target[k])!r} of {describe_feature(compiled, k)} lies outside the range "
            f"[{float(low[k])}, {float(high[k])}] that the feature can take, so no model reaches it. Check the "
            "targets' θ order."
        )
