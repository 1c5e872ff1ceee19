"""The exact L1-penalised maximum-entropy fit: the reference for ``objectives.L1``.

The problem is min_θ F(θ) + Σ_k λ_k |θ_k| over the trainable features, with F smooth and
convex (for maximum entropy F = log Z(θ) − θ·m + (l2/2)|θ|²). Writing θ = u − v with u, v ≥ 0
turns it into the smooth bound-constrained problem min F(u − v) + λ·(u + v), which L-BFGS-B
solves to high accuracy; at its solution u_k v_k = 0, and a coordinate with u_k = v_k = 0 is an
exact zero of θ. :func:`l1_residual` checks the result against the subgradient optimality
conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize

from factorgraph._errors import ModelSpecError
from factorgraph._validation import check_int, check_theta, message

__all__ = ["minimize_l1", "l1_residual", "fit_l1"]

Smooth = Callable[[np.ndarray], tuple[float, np.ndarray]]


def l1_residual(grad: np.ndarray, x: np.ndarray, l1: float | np.ndarray) -> np.ndarray:
    """How far x is from optimal for F + λ|x|₁, per coordinate, given grad = ∇F(x).

    Zero exactly at the optimum: |∇F_k + λ_k sign(x_k)| where x_k ≠ 0 and
    max(|∇F_k| − λ_k, 0) where x_k = 0 (0 must lie in the subdifferential).
    """
    l1 = np.broadcast_to(l1, x.shape)
    return np.where(x != 0, np.abs(grad + l1 * np.sign(x)), np.maximum(np.abs(grad) - l1, 0.0))


def minimize_l1(
    smooth: Smooth, x0: np.ndarray, l1: float | np.ndarray, tol: float = 1e-8, max_iter: int = 10_000
) -> tuple[np.ndarray, int]:
    """Minimise smooth(x) + Σ_k l1_k |x_k| for a convex, differentiable ``smooth``.

    Parameters
    ----------
    smooth : callable
        ``smooth(x) -> (value, gradient)`` of the smooth part F, to be minimised.
    x0 : ndarray of shape (n,)
        Starting point.
    l1 : float or ndarray of shape (n,)
        The penalty strengths, >= 0.
    tol : float, default 1e-8
        Target for the largest optimality residual (:func:`l1_residual`).
    max_iter : int, default 10000

    Returns
    -------
    x : ndarray of shape (n,)
        The minimiser; coordinates the penalty holds at zero are exactly 0.
    n_iter : int
    """
    n = len(x0)
    l1 = np.broadcast_to(np.asarray(l1, dtype=float), (n,))

    def split(z: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = smooth(z[:n] - z[n:])
        return value + l1 @ (z[:n] + z[n:]), np.concatenate([grad + l1, l1 - grad])

    start = np.concatenate([np.maximum(x0, 0.0), np.maximum(-x0, 0.0)])
    found = scipy.optimize.minimize(
        split, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * (2 * n),
        options={"maxiter": max_iter, "gtol": tol / 10, "ftol": 0.0, "maxcor": 30},
    )
    return found.x[:n] - found.x[n:], int(found.nit)


def fit_l1(
    graph: Any, target: Any, l1: float | Any, l2: float = 0.0, theta0: Any = None,
    tol: float = 1e-8, max_iter: int = 10_000,
) -> Any:
    """The exact maximiser of θ·m − log Z(θ) − (l2/2)|θ|² − Σ_k l1_k |θ_k| over trainable θ.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    target : array_like of shape (n_features,)
        Target feature means m in θ order (entries of fixed features are ignored).
    l1 : float or array_like of shape (n_features,)
        L1 strengths, >= 0.
    l2 : float, default 0.0
        L2 strength, >= 0.
    theta0 : array_like of shape (n_features,), optional
        Starting point; fixed features keep these values (default: the graph's ``theta_init``).
    tol : float, default 1e-8
        Success means the largest optimality residual (:func:`l1_residual`) is below this.
    max_iter : int, default 10000

    Returns
    -------
    factorgraph.exact.ExactFitResult
        ``grad_norm`` holds the Euclidean norm of the optimality residual.
    """
    from factorgraph import exact

    owner = "exact.fit"
    compiled = exact._compiled(graph)
    target = check_theta(target, compiled.n_features, owner, name="target")
    theta = compiled.theta_init.copy() if theta0 is None else check_theta(theta0, compiled.n_features, owner).copy()
    strength = np.broadcast_to(np.asarray(l1, dtype=float), (compiled.n_features,))
    if not np.all(np.isfinite(strength) & (strength >= 0)) or not (np.isfinite(l2) and l2 >= 0):
        raise ModelSpecError(message("l1", owner, "finite strengths >= 0 (and l2 >= 0)", (l1, l2)))
    max_iter = check_int("max_iter", max_iter, owner, minimum=0)
    free = np.flatnonzero(compiled.trainable)
    exact._check_target_range(compiled, target, free)

    def smooth(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta[free] = x
        log_z, mean = exact._log_partition_and_means(compiled, theta)
        return log_z - x @ target[free] + 0.5 * l2 * (x @ x), mean[free] - target[free] + l2 * x

    x, n_iter = minimize_l1(smooth, theta[free].copy(), strength[free], tol, max_iter)
    value, grad = smooth(x)
    residual = float(np.linalg.norm(l1_residual(grad, x, strength[free])))
    log_z = value - 0.5 * l2 * (x @ x) + x @ target[free]
    success = residual < tol
    text = "converged" if success else f"optimality residual {residual:.3g} is above tol {tol:g}"
    return exact.ExactFitResult(theta.copy(), residual, success, n_iter, float(log_z), text)
