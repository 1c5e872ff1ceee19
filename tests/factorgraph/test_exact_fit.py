"""``fg.exact.fit`` (exact MaxEnt by L-BFGS) recovers planted parameters.

A planted theta* ~ N(0, 0.5^2) (fixed seed) gives exact targets m* = E_theta*[f]; the fit
must reach a gradient norm below 1e-8 and return theta within 1e-6 of theta*. The models
are chosen identifiable (no feature is an affine combination of the others over the joint
state space) and well conditioned, and together they use every feature kind. Further:

* fixed (``trainable=False``) groups keep their theta_init / theta0 entries exactly while
  the trainable entries are recovered;
* with ``l2 = 0.3`` the optimum satisfies target - E_theta[f] - l2 * theta = 0 on the
  trainable entries, and shrinks theta (|theta_l2| <= |theta*|);
* a non-identifiable parametrisation (pair ``Potential`` without reference plus fields)
  still converges, and its fitted moments match the targets (theta itself is not unique).
"""

from __future__ import annotations

import numpy as np
import pytest

import factorgraph as fg
from factorgraph import features as ff

GRAD_TOL = 1e-8
THETA_TOL = 1e-6


def _ring(n, chords=()):
    return [(i, (i + 1) % n) for i in range(n)] + list(chords)


# --------------------------------------------------------------------------- models
def _boltzmann():
    """Six 0/1 variables: Product couplings on a ring with a chord, Product fields."""
    g = fg.FactorGraph()
    g.add_variables(6)
    g.add_features(ff.Product(_ring(6, [(0, 3)])))
    g.add_features(ff.Product(np.arange(6)[:, None]))
    return g


def _polynomial_threshold():
    """Spins, a 3-state and 5-state domain: Product, Polynomial and Threshold.

    3-state: 1, v, v^2 span every function (Vandermonde), so only powers 1 and 2.
    5-state: 1, v, v^2, 1(v >= t) are linearly independent. Spins: v only (v^2 = 1).
    """
    g = fg.FactorGraph()
    spins = g.add_variables(2, values=[-1, 1])
    three = g.add_variables(2, values=[-1.0, 0.5, 2.0])
    five = g.add_variables(2, values=[-2.0, -1.0, 0.0, 1.0, 2.5])
    g.add_features(ff.Product(np.concatenate([spins, three, five])[:, None]))
    g.add_features(ff.Polynomial(np.concatenate([three, five])[:, None], 2))
    g.add_features(ff.Threshold(five[:, None], [0.0, 1.0]))  # 0.0 is a state value
    pairs = [
        (spins[0], spins[1]),
        (spins[1], three[0]),
        (three[0], five[0]),
        (five[0], three[1]),
        (three[1], five[1]),
        (five[1], spins[0]),
    ]
    g.add_features(ff.Product(pairs))
    return g


def _indicator_bin():
    """Five 3-state variables (values 0, 1, 2): Indicator and Bin, unary and pairwise.

    Unary: 1(x = 2) and the half-open bin [1, 2) = 1(x = 1) with the constant span every
    function of x.
    Pairwise: 1(x_i = 1, x_j = 2) and 1(x_i >= 1, x_j >= 1) are not additive.
    """
    g = fg.FactorGraph()
    g.add_variables(5, n_states=3)
    unary = np.arange(5)[:, None]
    g.add_features(ff.Indicator(unary, [2]))
    g.add_features(ff.Bin(unary, [1.0], [2.0]))
    edges = _ring(5)
    g.add_features(ff.Indicator(edges, [1, 2]))
    g.add_features(ff.Bin(edges[:3], [0.5, 0.5], [3.0, 3.0]))
    return g


def _table_function():
    """Four 4-state variables with real values: Table and Function, unary and pairwise."""
    rng = np.random.default_rng(11)
    g = fg.FactorGraph()
    g.add_variables(4, values=[0.0, 1.0, 2.5, 4.0])
    unary = np.arange(4)[:, None]
    g.add_features(ff.Table(unary, rng.normal(size=4)))
    g.add_features(ff.Function(unary, lambda x: np.sqrt(x) - 0.3 * x**2 / 4.0))
    edges = [(0, 1), (1, 2), (2, 3), (3, 0)]
    g.add_features(ff.Table(edges, rng.normal(size=(4, 4, 4))))
    g.add_features(ff.Function(edges[:2], lambda a, b: np.cos(a - b)))
    return g


def _potts_reference():
    """q = 3 Potts on a triangle with a tail: Potential(reference=0) on pairs and sites."""
    g = fg.FactorGraph()
    g.add_variables(5, n_states=3)
    g.add_features(ff.Potential([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4)], reference=0))
    g.add_features(ff.Potential(np.arange(5)[:, None], reference=0))
    return g


def _histogram():
    """Binned continuous variables (bin centres 0.5 .. 3.5) with 2D histograms.

    Centre 3.5 lies outside every bin, so the cells do not sum to a constant. Centres on
    bin edges test the bin rules: 2.5 is in the closed last bin [1, 2.5], 1.5 is in the
    left-closed bin [1.5, 2.5]. Fields are Potential(reference=0) on single variables.
    """
    g = fg.FactorGraph()
    g.add_variables(4, edges=[0.0, 1.0, 2.0, 3.0, 4.0])
    g.add_features(ff.Potential(np.arange(4)[:, None], reference=0))
    g.add_features(ff.Histogram([(0, 1), (1, 2)], [0.0, 1.0, 2.5]))
    g.add_features(ff.Histogram([(2, 3)], [np.array([0.0, 1.5, 2.5]), np.array([0.0, 1.0, 3.0])]))
    return g


MODELS = {
    "boltzmann": _boltzmann,
    "polynomial-threshold": _polynomial_threshold,
    "indicator-bin": _indicator_bin,
    "table-function": _table_function,
    "potts-reference": _potts_reference,
    "histogram": _histogram,
}


def _planted(g, seed, fixed_values=None):
    """theta* ~ N(0, 0.5^2) on trainable entries, ``fixed_values`` (or theta_init) elsewhere."""
    theta = np.random.default_rng(seed).normal(0.0, 0.5, size=g.n_features)
    fixed = ~np.asarray(g.trainable)
    theta[fixed] = g.theta_init()[fixed] if fixed_values is None else fixed_values
    return theta


def test_models_cover_every_feature_kind():
    kinds = {"Product", "Indicator", "Bin", "Polynomial", "Threshold", "Table", "Function", "Potential", "Histogram"}
    assert all(hasattr(ff, k) for k in kinds)
    assert all(MODELS[m]().n_variables <= 10 for m in MODELS)
    assert len(MODELS) >= 5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_recovers_planted_theta(name):
    g = MODELS[name]()
    theta_star = _planted(g, seed=20240)
    target = fg.exact.expectations(g, theta_star)

    result = fg.exact.fit(g, target)

    assert result.success
    assert result.grad_norm < GRAD_TOL
    np.testing.assert_allclose(result.theta, theta_star, rtol=0, atol=THETA_TOL)
    assert result.log_partition == pytest.approx(fg.exact.log_partition(g, result.theta), abs=1e-10)


@pytest.mark.parametrize("name", ["boltzmann", "potts-reference"])
def test_fit_from_theta0(name):
    """Starting elsewhere (theta0) still converges to the same, unique optimum."""
    g = MODELS[name]()
    theta_star = _planted(g, seed=7)
    theta0 = np.random.default_rng(8).normal(0.0, 1.0, size=g.n_features)
    result = fg.exact.fit(g, fg.exact.expectations(g, theta_star), theta0=theta0)
    assert result.grad_norm < GRAD_TOL
    np.testing.assert_allclose(result.theta, theta_star, rtol=0, atol=THETA_TOL)


# --------------------------------------------------------------------------- fixed groups
def _with_fixed_couplings(theta_init):
    """Spin ring: fixed couplings (base measure), trainable fields and 3-spin products."""
    g = fg.FactorGraph()
    g.add_variables(6, values=[-1, 1])
    g.add_features(ff.Product(np.arange(6)[:, None]))
    fixed_ids = g.add_features(ff.Product(_ring(6)), trainable=False, theta_init=theta_init)
    g.add_features(ff.Product([(0, 2, 4), (1, 3, 5)]))
    return g, np.asarray(fixed_ids)


FIXED_VALUES = np.array([0.4, -0.3, 0.8, 0.1, -0.6, 0.25])


@pytest.mark.parametrize("mode", ["default-init", "explicit-init", "theta0"])
def test_fit_keeps_fixed_group(mode):
    g, fixed_ids = _with_fixed_couplings(FIXED_VALUES if mode == "explicit-init" else None)
    expected_mask = np.ones(g.n_features, dtype=bool)
    expected_mask[fixed_ids] = False
    np.testing.assert_array_equal(g.trainable, expected_mask)
    if mode == "explicit-init":
        np.testing.assert_array_equal(g.theta_init()[fixed_ids], FIXED_VALUES)
    else:
        np.testing.assert_array_equal(g.theta_init()[fixed_ids], 1.0)  # fixed default is 1.0
    np.testing.assert_array_equal(g.theta_init()[expected_mask], 0.0)

    theta0 = None
    fixed_values = g.theta_init()[fixed_ids]
    if mode == "theta0":
        fixed_values = -FIXED_VALUES
        theta0 = np.zeros(g.n_features)
        theta0[fixed_ids] = fixed_values
    theta_star = _planted(g, seed=31, fixed_values=fixed_values)
    target = fg.exact.expectations(g, theta_star)

    result = fg.exact.fit(g, target, theta0=theta0)

    assert result.success
    assert result.grad_norm < GRAD_TOL
    np.testing.assert_array_equal(result.theta[fixed_ids], fixed_values)
    np.testing.assert_allclose(result.theta, theta_star, rtol=0, atol=THETA_TOL)


# --------------------------------------------------------------------------- L2
@pytest.mark.parametrize("name", ["boltzmann", "indicator-bin", "fixed-couplings"])
def test_fit_l2_stationarity(name):
    l2 = 0.3
    if name == "fixed-couplings":
        g, _ = _with_fixed_couplings(FIXED_VALUES)
    else:
        g = MODELS[name]()
    trainable = np.asarray(g.trainable)
    theta_star = _planted(g, seed=5)
    target = fg.exact.expectations(g, theta_star)

    result = fg.exact.fit(g, target, l2=l2)

    residual = target - fg.exact.expectations(g, result.theta) - l2 * result.theta
    np.testing.assert_allclose(residual[trainable], 0.0, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(result.theta[~trainable], theta_star[~trainable])
    assert result.grad_norm < GRAD_TOL
    # the penalised optimum is a genuine shrinkage, not theta* itself
    assert np.linalg.norm(result.theta[trainable]) < np.linalg.norm(theta_star[trainable])
    assert np.max(np.abs(result.theta - theta_star)) > 1e-3


# --------------------------------------------------------------------------- non-identifiable
def _potts_full(fields):
    """q = 3 Potts: Potential without reference on pairs (gauge freedom) plus fields."""
    g = fg.FactorGraph()
    g.add_variables(4, n_states=3)
    g.add_features(ff.Potential([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]))
    unary = np.arange(4)[:, None]
    if fields == "potential":
        g.add_features(ff.Potential(unary))
    else:
        g.add_features(ff.Indicator(unary, [1]))
        g.add_features(ff.Indicator(unary, [2]))
    return g


@pytest.mark.parametrize("fields", ["potential", "indicator"])
def test_fit_non_identifiable_matches_moments(fields):
    g = _potts_full(fields)
    theta_star = _planted(g, seed=123)
    target = fg.exact.expectations(g, theta_star)

    result = fg.exact.fit(g, target)

    assert result.grad_norm < GRAD_TOL
    assert np.all(np.isfinite(result.theta))
    np.testing.assert_allclose(fg.exact.expectations(g, result.theta), target, rtol=0, atol=1e-8)
