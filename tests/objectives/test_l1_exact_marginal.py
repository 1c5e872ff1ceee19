"""L1 by a proximal step and ExactMarginal, against their exact solutions."""

import numpy as np
import pytest

import factorgraph as fg
import objectives
from factorgraph._exact_l1 import l1_residual
from tests.samplers._models import base_measure, frustrated_ising


def _trainer(g, terms, **options):
    options.setdefault("optimizer", fg.optim.SGD(lr=fg.optim.inverse_time(2.0, 200, 0.6)))
    return fg.Trainer(g, terms, n_chains=2000, seed=1, average_from=500, **options)


def _exact_l1_fit(g, target, l1):
    return fg.exact.fit(g, target, objectives=[objectives.L1(l1)])


def _sparse_problem():
    g, theta_star = frustrated_ising()
    return g, fg.exact.expectations(g, 0.5 * theta_star), 0.15


def test_exact_l1_solution_meets_the_subgradient_conditions():
    g, target, l1 = _sparse_problem()
    result = _exact_l1_fit(g, target, l1)
    theta = result.theta
    h = 1e-5
    grad = (
        np.array(
            [
                (fg.exact.log_partition(g, theta + h * e) - fg.exact.log_partition(g, theta - h * e)) / (2 * h)
                for e in np.eye(len(theta))
            ]
        )
        - target
    )
    assert result.success and l1_residual(grad, theta, l1).max() < 1e-6
    assert np.sum(theta == 0) >= 2 and np.sum(theta != 0) >= 4


def test_trainer_with_l1_reaches_the_exact_sparse_solution():
    g, target, l1 = _sparse_problem()
    exact = _exact_l1_fit(g, target, l1).theta
    result = _trainer(g, [objectives.MomentMatching(target), objectives.L1(l1)]).fit(
        max_steps=1500, tol=0.0, progress=False
    )
    zero = exact == 0
    assert np.abs(result.theta[zero]).max() <= 0.02
    assert np.abs(result.theta - exact)[~zero].max() < 0.05


def test_l1_with_adam_thresholds_in_its_metric():
    g, target, l1 = _sparse_problem()
    exact = _exact_l1_fit(g, target, l1).theta
    result = _trainer(
        g,
        [objectives.MomentMatching(target), objectives.L1(l1)],
        optimizer=fg.optim.Adam(lr=fg.optim.inverse_time(0.05, 200, 0.6)),
    ).fit(max_steps=1500, tol=0.0, progress=False)
    assert np.abs(result.theta[exact == 0]).max() <= 0.02
    assert np.abs(result.theta - exact).max() < 0.05


def test_l1_proximal_step_leaves_fixed_features_alone():
    g, theta_star = base_measure()
    target = fg.exact.expectations(g, theta_star)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target), objectives.L1(100.0)],
        n_chains=16,
        seed=0,
        optimizer=fg.optim.Adam(lr=0.1),
    )
    result = trainer.fit(max_steps=5, tol=0.0, progress=False)
    np.testing.assert_array_equal(result.theta[~g.trainable], g.theta_init()[~g.trainable])
    np.testing.assert_array_equal(result.theta[g.trainable], 0.0)


def _marginal_problem():
    """Four binary variables; fixed couplings; the marginal of (0, 1) is the only thing trained."""
    g = fg.FactorGraph()
    g.add_variables(4)
    g.add_features(fg.features.Product([(1, 2), (2, 3), (0, 3)]), trainable=False, theta_init=[1.2, -0.8, 0.6])
    q = np.array([[0.1, 0.25], [0.4, 0.25]])
    term = objectives.ExactMarginal([0, 1], q)
    ids = term.add_to(g)
    return g, term, ids, q


def test_exact_marginal_matches_the_target_and_the_exact_fit():
    g, term, ids, q = _marginal_problem()
    target = np.zeros(g.n_features)
    target[ids] = term.moments
    exact = fg.exact.fit(g, target)
    assert exact.success
    np.testing.assert_allclose(fg.exact.marginal(g, exact.theta, [0, 1]), q, atol=1e-8)
    result = _trainer(g, [term]).fit(max_steps=1500, tol=0.0, progress=False)
    assert np.abs(result.theta - exact.theta).max() < 0.05
    fitted = fg.exact.marginal(g, result.theta, [0, 1])
    mcse = np.sqrt(q * (1 - q) / 2000)
    assert np.all(np.abs(fitted - q) <= 3 * mcse)


@pytest.mark.parametrize(
    ("scope", "target", "match"),
    [
        ([0, 1], [[0.5, 0.5], [0.0, 0.0]], r"is 0 at joint state\(s\) \[\(1, 0\), \(1, 1\)\].*Smooth"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], "summing to 1"),
        ([0, 1], [0.5, 0.5], "2 axes"),
    ],
)
def test_exact_marginal_refuses_unreachable_or_malformed_targets(scope, target, match):
    with pytest.raises(fg.DataError, match=match):
        objectives.ExactMarginal(scope, target)


def test_exact_marginal_must_be_added_before_training():
    g = fg.FactorGraph()
    g.add_variables(2)
    g.add_features(fg.features.Product([0]))
    with pytest.raises(fg.ModelSpecError, match="add_to"):
        fg.Trainer(g, [objectives.ExactMarginal([0, 1], np.full((2, 2), 0.25))])


def test_two_terms_matching_a_feature_must_agree_on_its_target():
    g, term, ids, q = _marginal_problem()
    agreeing = np.zeros(g.n_features)
    agreeing[ids] = term.moments
    fg.Trainer(g, [objectives.MomentMatching(agreeing), term], n_chains=4, seed=0)
    clashing = agreeing.copy()
    clashing[ids[0]] += 0.1
    with pytest.raises(fg.ModelSpecError, match=rf"features {ids[0]} \(.*different targets"):
        fg.Trainer(g, [objectives.MomentMatching(clashing), term], n_chains=4, seed=0)
