"""The L1 part of the exact fit (``fg.exact.fit`` with an ``objectives.L1`` term).

The problem is min_θ F(θ) + Σ_k λ_k |θ_k| over the trainable features, with F smooth and
convex (for maximum entropy F = log Z(θ) − θ·m + (l2/2)|θ|²). Writing θ = u − v with u, v ≥ 0
turns it into the smooth bound-constrained problem min F(u − v) + λ·(u + v), which L-BFGS-B
solves to high accuracy; at its solution u_k v_k = 0, and a coordinate with u_k = v_k = 0 is an
exact zero of θ. :func:`l1_residual` checks the result against the subgradient optimality
conditions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.optimize

__all__ = ["minimize_l1", "l1_residual"]

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
        split,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * (2 * n),
        options={"maxiter": max_iter, "gtol": tol / 10, "ftol": 0.0, "maxcor": 30},
    )
    return found.x[:n] - found.x[n:], int(found.nit)
