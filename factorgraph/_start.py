"""The independent-site start: θ of the unary features that match the targets' single-site
frequencies when every other feature is zero."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph

__all__ = ["independent_site_theta"]

_FLOOR = 1e-6  # frequencies are clipped to [_FLOOR, 1 - _FLOOR]: a finite start even at a range's edge


def independent_site_theta(
    graph: CompiledGraph, theta: np.ndarray, target: np.ndarray, matched: np.ndarray
) -> np.ndarray:
    """``theta`` with the unary features of each variable set to the independent-site solution.

    A variable qualifies when exactly one factor of arity 1 covers it, that factor's features
    are all trainable, matched to targets and zero in ``theta``, and it is either a one-hot map
    (a unary ``Potential`` or indicator: θ_a = log f_a − log f_reference) or a scaled table of
    a two-state variable with symmetric values, such as spins ±1 (a unary ``Product``: the
    log-odds divided by the values' difference).
    Other features are left as they are.
    """
    theta = theta.copy()
    arity = np.diff(graph.factor_ptr)
    unary = np.flatnonzero(arity == 1)
    variables = graph.factor_vars[graph.factor_ptr[unary]]
    once = np.bincount(variables, minlength=graph.n_variables) == 1
    for f, v in zip(unary[once[variables]].tolist(), variables[once[variables]].tolist()):
        n_states = int(graph.n_states[v])
        first = int(graph.factor_theta[f])
        if graph.factor_form[f] == 1:
            local = graph.maps[graph.factor_table[f] : graph.factor_table[f] + n_states]
            classes, sizes = np.unique(local[local >= 0], return_counts=True)  # a class may hold several states
            ids = first + classes
        else:
            ids = np.array([first])
        if not (graph.trainable[ids].all() and matched[ids].all() and (theta[ids] == 0).all()):
            continue
        if graph.factor_form[f] == 1:
            theta[ids] = _one_hot(target[ids], sizes, int(np.sum(local < 0)))
        elif n_states == 2:
            table = graph.tables[graph.factor_table[f] : graph.factor_table[f] + 2]
            # symmetric values (spins ±1) only: from this start, the fit of the bundled digits
            # (0/1 pixels, all pairs) ended far from its targets (see docs/training.rst)
            if table[1] != table[0] and table[1] == -table[0]:
                p1 = np.clip((target[ids[0]] - table[0]) / (table[1] - table[0]), _FLOOR, 1 - _FLOOR)
                theta[ids[0]] = np.log(p1 / (1 - p1)) / (table[1] - table[0])
    return theta


def _one_hot(freq: np.ndarray, sizes: np.ndarray, n_reference: int) -> np.ndarray:
    """θ of one-hot features with frequencies ``freq``, each over ``sizes`` states; the remaining
    mass is spread over the ``n_reference`` states without a feature (the zero of θ), or, with
    none, θ sums to zero."""
    freq = np.clip(freq, _FLOOR, 1 - _FLOOR)
    logs = np.log(freq / sizes)
    if n_reference:
        return logs - np.log(max(1.0 - float(freq.sum()), _FLOOR) / n_reference)
    return logs - logs.mean()
