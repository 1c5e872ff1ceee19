"""Every objective at once, and the monitor that decides when such a fit has converged.

* ``fg.exact.fit`` solves ExactMarginal (merged with MomentMatching into one log-likelihood)
  and refuses a mix that leaves a trainable feature without a target.
* Trainer with Gibbs reaches the exact optimum of MomentMatching + ExactMarginal + a KL prior +
  an L2 prior + L1 + L2: θ within 0.05, every p_S within 0.01, the L1 zeros zero or within 0.02.
* The standardised residual is honest at the exact optimum (E[z²] about 1), while the moment
  mismatch is far above the noise there;
  a fit with priors therefore converges on the residual and stops.
"""

import numpy as np
import pytest

import factorgraph as fg
import objectives
from tests.samplers._models import frustrated_ising

Q_EXACT = np.array([[0.4, 0.1], [0.2, 0.3]])
SCOPES = ((0, 1), (1, 2), (4, 5))
N_PENALISED = 10  # the frustrated Ising model's 9 features and the link; not the indicators


def mixed_problem():
    """The frustrated Ising model on 0..3, variable 4 linked to 3, an exact marginal on (4, 5),
    a KL prior on (0, 1), an L2 prior on (1, 2), and L1 and L2 penalties on all but the
    indicators (so that nothing but the priors pulls p(x_4, x_5) off its target)."""
    g, theta4 = frustrated_ising()
    g.add_variables(2, values=[-1, 1])
    g.add_features(fg.features.Product([(3, 4)]), name="link")
    target = fg.exact.expectations(g, np.concatenate([0.5 * theta4, [0.7]]))
    exact_marginal = objectives.ExactMarginal([4, 5], Q_EXACT)
    exact_marginal.add_to(g)
    penalised = np.arange(g.n_features) < N_PENALISED
    terms = [
        objectives.MomentMatching(np.concatenate([target, exact_marginal.moments])),
        exact_marginal,
        objectives.MarginalPrior((0, 1), [[0.1, 0.2], [0.3, 0.4]], kind="kl", strength=1.0),
        objectives.MarginalPrior((1, 2), [[0.4, 0.1], [0.1, 0.4]], kind="l2", strength=4.0),
        objectives.L1(np.where(penalised, 0.05, 0.0)),
        objectives.L2(np.where(penalised, 0.1, 0.0)),
    ]
    return g, terms


def test_exact_fit_solves_an_exact_marginal_on_its_own():
    g = fg.FactorGraph()
    g.add_variables(2)
    term = objectives.ExactMarginal([0, 1], Q_EXACT)
    term.add_to(g)
    result = fg.exact.fit(g, objectives=[term])
    assert result.success
    np.testing.assert_allclose(fg.exact.marginal(g, result.theta, [0, 1]), Q_EXACT, atol=1e-9)


def test_exact_fit_refuses_features_no_matching_term_covers():
    g = fg.FactorGraph()
    g.add_variables(3)
    g.add_features(fg.features.Product([(1, 2)]))
    term = objectives.ExactMarginal([0, 1], Q_EXACT)
    term.add_to(g)
    with pytest.raises(fg.ModelSpecError, match=r"no target for trainable features \[0\].*MomentMatching"):
        fg.exact.fit(g, objectives=[term])


def test_trainer_reaches_the_exact_solution_of_every_objective_mixed():
    g, terms = mixed_problem()
    exact = fg.exact.fit(g, objectives=terms)
    assert exact.success, exact.message
    zeros = exact.theta == 0
    assert zeros.sum() >= 1  # the L1 term makes some coupling exactly zero
    # the priors move the indicators' marginal off its target: the mix is not separable
    assert np.abs(fg.exact.marginal(g, exact.theta, (4, 5)) - Q_EXACT).max() > 0.005
    trainer = fg.Trainer(
        g,
        terms,
        n_chains=2000,
        seed=1,
        average_from=500,
        optimizer=fg.optim.SGD(lr=fg.optim.inverse_time(1.0, 200, 0.6)),
    )
    result = trainer.fit(max_steps=1500, tol=0.0, progress=False)
    assert np.abs(result.theta - exact.theta).max() < 0.05
    assert np.abs(result.theta[zeros]).max() <= 0.02
    for scope in SCOPES:
        gap = fg.exact.marginal(g, result.theta, scope) - fg.exact.marginal(g, exact.theta, scope)
        assert np.abs(gap).max() < 0.01, scope
    values = result.history["values"][-1]
    assert np.isnan(values[:2]).all() and np.all(values[2:] <= 0)  # matching terms report no value


@pytest.mark.parametrize("average_sweeps", [False, True])
def test_residual_is_honest_at_the_exact_optimum(average_sweeps):
    """θ held at the exact optimum of the mix. The residual's noise is the matching part's
    closed-form MCSE plus the priors' share from a jackknife over 16 groups of chains, so z²
    should average between 1 (closed form) and (G − 1)/(G − 3) = 15/13 (a Student t with 15
    degrees of freedom, variance of z² at most 3.4); checks 50 sweeps apart are nearly
    independent, so the mean of 200 checks has a standard error of at most 1.84 / sqrt(200) =
    0.13 even with every feature fully correlated: 5 of those is the tolerance. (The O(1/C) bias
    of the priors' ratio estimates adds about 0.1 at 1024 chains.) Noise from the matching part
    alone would give a mean z² of 5 to 23 here. The moment mismatch, meanwhile, is far above the
    noise: the priors pull the moments off their targets."""
    g, terms = mixed_problem()
    exact = fg.exact.fit(g, objectives=terms)
    trainer = fg.Trainer(
        g,
        terms,
        n_chains=1024,
        seed=3,
        theta0=exact.theta,
        sweeps_per_step=10,
        n_threads=1,
        average_sweeps=average_sweeps,
        optimizer=fg.optim.SGD(lr=1e-300),
    )
    result = trainer.fit(max_steps=1000, tol=0.0, check_every=5, progress=False)
    np.testing.assert_allclose(result.theta, exact.theta, rtol=1e-250, atol=1e-250)  # the step is ~1e-300
    z_squared = result.history["residual"][4::5] ** 2
    assert 1 - 5 * 0.13 <= z_squared.mean() <= 15 / 13 + 5 * 0.13, z_squared.mean()
    assert np.median(result.history["mismatch"][4::5]) > 3


def test_a_fit_with_priors_converges_on_the_residual_and_stops():
    g, terms = mixed_problem()
    exact = fg.exact.fit(g, objectives=terms)
    trainer = fg.Trainer(
        g,
        terms,
        n_chains=2000,
        seed=5,
        average_from=200,
        n_threads=1,
        optimizer=fg.optim.SGD(lr=fg.optim.inverse_time(1.0, 100, 0.6)),
    )
    result = trainer.fit(max_steps=3000, tol=0.01, window=50, progress=False)
    assert result.converged and result.n_steps < 3000, result.message
    assert "residual" in result.message
    assert result.history["residual"][-1] <= 1.5 and result.history["mismatch"][-1] > 3
    assert np.abs(result.theta - exact.theta).max() < 0.05


def test_residual_equals_mismatch_with_matching_terms_only():
    g, theta = frustrated_ising()
    target = fg.exact.expectations(g, theta)
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=256, seed=0, optimizer=fg.optim.SGD(lr=0.1))
    history = trainer.fit(max_steps=30, tol=0.0, check_every=3, progress=False).history
    np.testing.assert_allclose(history["residual"], history["mismatch"], rtol=1e-12)
    np.testing.assert_allclose(history["residual_max"], history["mismatch_max"], rtol=1e-12)


def test_residual_with_l1_is_the_distance_from_the_subdifferential():
    g, terms = mixed_problem()
    trainer = fg.Trainer(g, terms, n_chains=64, seed=0)
    strength = terms[4].strength
    theta = np.zeros(g.n_features)
    theta[0], theta[1] = 0.5, -0.5
    grad = np.linspace(-0.2, 0.2, g.n_features)
    residual = trainer.monitor.stationarity(grad, theta)
    expected = np.where(theta != 0, np.abs(grad - strength * np.sign(theta)), np.maximum(np.abs(grad) - strength, 0.0))
    np.testing.assert_allclose(residual, expected, rtol=0, atol=1e-15)
