"""Exact answers for small models: the enumeration engine and the exact maximum-entropy fit.

The functions that sum over every joint state (log partition function, expectations,
marginals, covariances, entropy, exact samples) live in :mod:`factorgraph.enumeration` and are
re-exported here; :func:`fit` adds the exact maximiser of the objective the
:class:`~factorgraph.Trainer` follows with chains. This is the fitting layer's module: it
imports objectives, which the engine below it must not.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.optimize

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._exact_l1 import l1_residual, minimize_l1
from factorgraph._validation import check_int, check_targets, check_theta, describe_feature, message
from factorgraph.compiled import CompiledGraph, as_compiled
from factorgraph.contracts import ExactTerm, MatchingTerm, ProximalTerm, RidgeTerm
from factorgraph.enumeration import (
    MAX_STATES,
    covariance,
    entropy,
    enumerate_states,
    expectations,
    log_partition,
    marginal,
    probabilities,
    sample,
)
from objectives import L2, MomentMatching
from objectives.consistency import check_consistent_marginals, check_indicator_sums
from objectives.moments import combined_targets

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import GraphLike

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

_MAX_NEWTON_FEATURES = 2048  # Newton polish: a few dense K x K matrices
_MAX_DIFFERENCE_FEATURES = 128  # Newton polish by differences of the gradient: 2K evaluations a step


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


def _combine_matching(compiled: CompiledGraph, terms: list[Any], owner: str) -> list[Any]:
    """The terms with every matching term (``matched_moments``) merged into one MomentMatching.

    Each matched feature's m_k − E[f_k] counts once, as in the trainer. The log-likelihood
    θ·m − log Z(θ) needs a target for every trainable feature, so one left without is refused.
    """
    matching = [t for t in terms if isinstance(t, MatchingTerm)]
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
    return [MomentMatching(target)] + [t for t in terms if not isinstance(t, MatchingTerm)]


def fit(
    graph: GraphLike,
    target: ArrayLike | None = None,
    l2: float = 0.0,
    objectives: Sequence[Any] | None = None,
    theta0: ArrayLike | None = None,
    tol: float = 1e-8,
    max_iter: int = 10_000,
) -> ExactFitResult:
    """The exact maximiser of L(θ) = θ·m − log Z(θ) − Σ_S λ_S Φ_S(p_S) − R(θ).

    Solves the objective the :class:`~factorgraph.Trainer` follows with chains, exactly: the
    terms are ``MomentMatching(target)`` (when ``target`` is given), ``L2(l2)`` (when ``l2`` > 0)
    and ``objectives``, each evaluated by enumeration through its
    ``exact_value_and_grad(graph, theta)``. Matching terms (``MomentMatching``,
    ``ExactMarginal``) are merged into one log-likelihood θ·m − log Z(θ), each feature's target
    counted once, as the trainer does; it needs a target for every trainable feature. L-BFGS
    runs on the exact gradient over the trainable features; Newton steps then polish the
    optimum, with the exact covariance as the Hessian when the terms are only moment matching
    and L2 (a concave problem), or else with central differences of the exact gradient (up to
    128 trainable features). With an ``L1`` term the
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
    owner = "exact.fit"
    compiled = as_compiled(graph)
    theta = compiled.theta_init.copy() if theta0 is None else check_theta(theta0, compiled.n_features, owner).copy()
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
    l1 = sum(
        (np.broadcast_to(t.strength, theta.shape)[free] for t in terms if isinstance(t, ProximalTerm)),
        np.zeros(len(free)),
    )
    terms = [t for t in terms if not isinstance(t, ProximalTerm)]
    for term in terms:
        if hasattr(term, "check"):
            term.check(compiled)
    check_consistent_marginals(terms)
    terms = _combine_matching(compiled, terms, owner)
    # after the merge, one matching term holds every target
    for term in terms:
        if isinstance(term, MatchingTerm):
            check_indicator_sums(compiled, compiled.trainable, term.matched_moments()[1])
    for term in terms:
        if not isinstance(term, ExactTerm):
            raise ModelSpecError(
                f"{owner} cannot solve the objective {type(term).__name__} yet: it has no "
                "exact_value_and_grad(graph, theta). The exact engine solves MomentMatching, L2, L1, "
                "MarginalPrior and any objective that defines that method."
            )
        if isinstance(term, MatchingTerm):
            _check_target_range(compiled, term.matched_moments()[1], free)

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
    concave = all(isinstance(term, MatchingTerm | RidgeTerm) for term in terms)
    ridge = sum((t.ridge(len(theta))[free] for t in terms if isinstance(t, RidgeTerm)), np.zeros(len(free)))

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
            negative,
            x,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": tol / 10, "ftol": 0.0, "maxcor": 30},
        )
        x, n_iter = found.x, int(found.nit)
        x = polish(negative, x, np.ones(len(free), dtype=bool))
    _, grad = negative(x)
    theta[free] = x
    # with L1, the distance of zero from the subdifferential, coordinate by coordinate
    grad_norm = float(np.linalg.norm(l1_residual(grad, x, l1) if l1.any() else grad))
    success = grad_norm < tol
    msg = (
        "converged"
        if success
        else (
            f"gradient norm {grad_norm:.3g} is above tol {tol:g}: a target may lie on the boundary "
            "of what the features can reach (θ diverges); add l2 > 0 or move the target inside."
        )
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
