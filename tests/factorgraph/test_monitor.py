"""The monitor: unreachable targets and runaway θ stop the fit with errors naming the features."""

import numpy as np
import pytest

import factorgraph as fg
import objectives


def _binary(n, pairs=()):
    g = fg.FactorGraph()
    g.add_variables(n)
    g.add_features(fg.features.Product(np.arange(n)), name="means")
    if pairs:
        g.add_features(fg.features.Product(list(pairs)), name="pairs")
    return g


def test_a_binary_mean_of_exactly_zero_or_one_is_refused_before_the_first_step():
    g = _binary(3)
    with pytest.raises(fg.UnreachableTargetError, match=r"feature 1 \(group 'means', target 1\).*feature 2") as info:
        fg.Trainer(g, [objectives.MomentMatching([0.3, 1.0, 0.0])])
    np.testing.assert_array_equal(info.value.features, [1, 2])


def test_an_edge_target_is_allowed_when_a_penalty_keeps_theta_finite():
    g = _binary(3)
    result = fg.Trainer(g, [objectives.MomentMatching([0.3, 1.0, 0.0]), objectives.L2(0.5)], n_chains=64, seed=0).fit(
        max_steps=20, tol=0.0, progress=False
    )
    assert np.all(np.isfinite(result.theta))


def test_a_target_outside_the_feature_range_is_refused():
    g = _binary(2)
    with pytest.raises(fg.UnreachableTargetError, match="outside the range.*feature 0"):
        fg.Trainer(g, [objectives.MomentMatching([-0.2, 0.5])])


# the runaway θ makes the model multimodal; the chains are rightly reported stuck before the error
@pytest.mark.filterwarnings("ignore::factorgraph.StuckChainsWarning")
@pytest.mark.parametrize(
    ("pairs", "target", "offending"),
    [
        # <x0 x1> = 0.6 while <x0> = <x1> = 0.5: a pair moment above both means
        ([(0, 1)], [0.5, 0.5, 0.6], 2),
        # spins: <s0 s1> = <s1 s2> = 0.9 force <s0 s2> >= 0.6, but the target is -0.9
        ([(0, 1), (1, 2), (0, 2)], [0.0, 0.0, 0.0, 0.9, 0.9, -0.9], None),
    ],
)
def test_jointly_inconsistent_moments_stop_when_theta_runs_away(pairs, target, offending):
    g = fg.FactorGraph()
    values = [0, 1] if offending is not None else [-1, 1]
    g.add_variables(3 if offending is None else 2, values=values)
    g.add_features(fg.features.Product(np.arange(g.n_variables)), name="means")
    g.add_features(fg.features.Product(pairs), name="pairs")
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=128, seed=0, optimizer=fg.optim.SGD(lr=0.5))
    with pytest.raises(fg.UnreachableTargetError, match="grew without bound.*group 'pairs'") as info:
        trainer.fit(max_steps=2000, tol=0.0, progress=False)
    assert trainer.step_count < 2000
    if offending is not None:
        assert offending in info.value.features


def test_nan_gradient_stops_with_a_numerical_error_naming_the_feature():
    class Broken(objectives.Objective):
        def value_and_grad(self, stats, theta):
            grad = np.zeros_like(theta)
            grad[1] = np.nan
            return None, grad

    g = _binary(3)
    trainer = fg.Trainer(g, [objectives.MomentMatching([0.3, 0.5, 0.5]), Broken()], n_chains=8, seed=0)
    with pytest.raises(fg.NumericalError, match="feature 1"):
        trainer.fit(max_steps=10, tol=0.0, progress=False)


def test_overflowing_theta_stops_with_a_numerical_error():
    class Huge(objectives.Objective):
        def value_and_grad(self, stats, theta):
            return None, np.full_like(theta, 1e308)

    g = _binary(2)
    trainer = fg.Trainer(g, [Huge()], n_chains=8, seed=0, optimizer=fg.optim.SGD(lr=10.0))
    with pytest.raises(fg.NumericalError, match="non-finite at features \\[0, 1\\]"):
        trainer.fit(max_steps=10, tol=0.0, progress=False)


def test_history_records_each_objectives_value_and_the_message_says_why():
    g = _binary(3)
    terms = [objectives.MomentMatching([0.3, 0.5, 0.6]), objectives.L2(0.1), objectives.L1(0.01)]
    result = fg.Trainer(g, terms, n_chains=32, seed=0).fit(max_steps=15, tol=0.0, progress=False)
    values = result.history["values"]
    assert values.shape == (15, 3) and np.isnan(values[:, 0]).all() and np.all(values[:, 1:] <= 0)
    assert result.message == "reached max_steps (the convergence test is off: tol=0)" and not result.converged
