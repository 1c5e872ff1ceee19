"""Marginal priors (KL and L2 on p_θ(x_S)): exact gradients, chain estimates, fits, the sampler side.

* The exact gradient of each prior term (``exact_value_and_grad``) matches central finite
  differences of its exact value to 1e-6.
* The chains' estimate (marginal counts plus one weighted feature sum) agrees with the exact
  gradient within 4 Monte Carlo standard errors, the MCSE taken from 16 independent samplers.
* Trainer with Gibbs reaches ``fg.exact.fit``'s optimum: θ within 0.05, p_S within 0.01.
* The compiled weighted-sum pass equals a numpy reference to 1e-12 and gives the same bits
  for one and two threads.
"""

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers
from factorgraph._openmp import have_openmp
from tests.samplers._models import frustrated_ising, potts_triangle

PAIR_TARGET = np.array([[0.1, 0.2], [0.3, 0.4]])


def _potts_target():
    return np.arange(1.0, 10.0).reshape(3, 3) / 45.0


CASES = {  # model, scope, target
    "ising-pair": (frustrated_ising, (0, 1), PAIR_TARGET),
    "ising-reversed-pair": (frustrated_ising, (2, 0), PAIR_TARGET.T),
    "potts-pair": (potts_triangle, (1, 2), _potts_target()),
    "ising-triple": (frustrated_ising, (0, 1, 3), np.full((2, 2, 2), 1 / 8)),
}


@pytest.mark.parametrize("kind", ["kl", "l2"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_gradient_matches_finite_differences(case, kind):
    model, scope, target = CASES[case]
    g, theta = model()
    cg = g.compile()
    prior = objectives.MarginalPrior(scope, target, kind=kind, strength=1.7)
    _, grad = prior.exact_value_and_grad(cg, theta)
    h = 1e-5
    numeric = np.array(
        [
            (prior.exact_value_and_grad(cg, theta + h * e)[0] - prior.exact_value_and_grad(cg, theta - h * e)[0])
            / (2 * h)
            for e in np.eye(len(theta))
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6)


def _chain_gradient(cg, theta, prior, seed, n_chains=1000, burn_in=100):
    sampler = samplers.create("gibbs", cg, n_chains, seed=seed, n_threads=1)
    sampler.run(theta, burn_in)
    stats = sampler.stats()
    stats = samplers.ChainStats(
        stats.mean,
        stats.n_chains,
        stats.sweep,
        marginal_counts={prior.scope: sampler.marginal_counts(prior.scope)},
        weighted_sums=sampler.weighted_sums,
    )
    return prior.value_and_grad(stats, theta)


@pytest.mark.parametrize("kind", ["kl", "l2"])
@pytest.mark.parametrize("case", ["ising-pair", "potts-pair"])
def test_chain_gradient_agrees_with_exact_within_4_mcse(case, kind):
    model, scope, target = CASES[case]
    g, theta = model()
    cg = g.compile()
    prior = objectives.MarginalPrior(scope, target, kind=kind, strength=1.0)
    value, exact = prior.exact_value_and_grad(cg, theta)
    runs = [_chain_gradient(cg, theta, prior, seed) for seed in range(16)]
    grads = np.array([grad for _, grad in runs])
    mcse = grads.std(axis=0, ddof=1) / np.sqrt(len(grads))
    assert np.all(np.abs(grads.mean(axis=0) - exact) <= 4 * mcse + 1e-12)
    values = np.array([v for v, _ in runs])
    assert abs(values.mean() - value) <= 4 * values.std(ddof=1) / 4 + 0.01  # plug-in bias is O(|S|/C)


# ------------------------------------------------------------------ Trainer against exact.fit
# kind: (strength, initial step). An L2 penalty on probabilities is small, so a larger λ, which
# makes the problem stiffer, so a smaller step.
FIT_CASES = {"kl": (1.0, 1.0), "l2": (8.0, 0.5)}


@pytest.mark.parametrize("kind", sorted(FIT_CASES))
def test_trainer_reaches_the_exact_solution(kind):
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    strength, step = FIT_CASES[kind]
    prior = objectives.MarginalPrior((0, 1), PAIR_TARGET, kind=kind, strength=strength)
    exact = fg.exact.fit(g, target, objectives=[prior])
    assert exact.success, exact.message
    p_exact = fg.exact.marginal(g, exact.theta, (0, 1))
    # the prior moves the solution visibly away from the plain MaxEnt one
    assert np.abs(p_exact - fg.exact.marginal(g, theta_star, (0, 1))).max() > 0.02
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target), prior],
        n_chains=2000,
        seed=3,
        n_threads=1,
        optimizer=fg.optim.SGD(lr=fg.optim.inverse_time(step, 200, 0.6)),
        average_from=500,
    )
    result = trainer.fit(max_steps=1500, tol=0.0, progress=False)
    assert np.abs(result.theta - exact.theta).max() < 0.05
    assert np.abs(fg.exact.marginal(g, result.theta, (0, 1)) - p_exact).max() < 0.01


def test_exact_fit_without_prior_is_unchanged_and_prior_strength_zero_is_neutral():
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    neutral = objectives.MarginalPrior((0, 1), PAIR_TARGET, strength=0.0)
    np.testing.assert_allclose(fg.exact.fit(g, target, objectives=[neutral]).theta, theta_star, atol=1e-6)


def test_exact_fit_l2_objective_equals_l2_argument():
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    np.testing.assert_allclose(
        fg.exact.fit(g, target, objectives=[objectives.L2(0.3)]).theta, fg.exact.fit(g, target, l2=0.3).theta, atol=1e-8
    )


# ------------------------------------------------------------------ the sampler side
@pytest.mark.parametrize("name", ["gibbs", "mh", "loopback"])
def test_weighted_sums_and_counts_match_numpy(name):
    g, theta = potts_triangle()
    cg = g.compile()
    sampler = samplers.create(name, cg, 300, seed=5)
    sampler.run(theta, 3)
    states = sampler.states
    table = np.random.default_rng(0).normal(size=(3, 3))
    weights = table[states[:, 2], states[:, 0]]
    reference = cg.feature_values(states).T @ weights
    np.testing.assert_allclose(sampler.weighted_sums((2, 0), table), reference, rtol=1e-12, atol=1e-12)
    counts = sampler.marginal_counts((2, 0))
    np.testing.assert_array_equal(counts, np.histogram2d(states[:, 2], states[:, 0], bins=[np.arange(4)] * 2)[0])


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
def test_weighted_sums_are_identical_for_one_and_two_threads():
    g, theta = frustrated_ising()
    sampler = samplers.create("gibbs", g.compile(), 1000, seed=2, block_size=64)
    sampler.run(theta, 5)
    table = np.random.default_rng(1).normal(size=(2, 2)) / 3.0
    one, two = (sampler.weighted_sums((3, 1), table, n_threads=n) for n in (1, 2))
    assert one.tobytes() == two.tobytes()


class _NoMarginals:
    """A duck-typed sampler with only the required methods."""

    def __init__(self, graph):
        self.graph = graph

    def run(self, theta, n_sweeps): ...
    def stats(self): ...
    def states(self): ...
    def get_state(self): ...
    def set_state(self, state): ...


def test_trainer_names_the_missing_sampler_method():
    g, _ = frustrated_ising()
    cg = g.compile()
    prior = objectives.MarginalPrior((0, 1), PAIR_TARGET)
    with pytest.raises(fg.PluginError, match="marginal_counts.*weighted_sums"):
        fg.Trainer(cg, [prior], sampler=_NoMarginals(cg))


def test_exact_fit_refuses_an_objective_without_an_exact_form():
    class Opaque(objectives.Objective):
        def value_and_grad(self, stats, theta):
            return None, np.zeros_like(theta)

    g, _ = frustrated_ising()
    with pytest.raises(fg.ModelSpecError, match="cannot solve the objective Opaque.*exact_value_and_grad"):
        fg.exact.fit(g, np.zeros(g.n_features), objectives=[Opaque()])


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(scope=(0, 0)), fg.ModelSpecError, "scope.*distinct"),
        (dict(scope=(-1, 0)), fg.ModelSpecError, "scope.*non-negative"),
        (dict(scope=()), fg.ModelSpecError, "scope"),
        (dict(scope=(0.5, 1)), fg.ModelSpecError, "scope"),
        (dict(kind="js"), fg.ModelSpecError, "kind.*'kl' or 'l2'"),
        (dict(strength=-1.0), fg.ModelSpecError, "strength.*>= 0"),
        (dict(strength=float("nan")), fg.ModelSpecError, "strength.*finite"),
        (dict(strength="1"), fg.ModelSpecError, "strength"),
        (dict(target=[0.5, 0.5]), fg.DataError, "target.*one axis per scope variable"),
        (dict(target=[[0.6, -0.1], [0.25, 0.25]]), fg.DataError, "target.*non-negative"),
        (dict(target=[[0.5, 0.5], [0.5, 0.5]]), fg.DataError, "target.*summing to 1.*Divide"),
        (dict(target=[[np.nan, 0.5], [0.25, 0.25]]), fg.DataError, "target.*finite"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, error, match):
    arguments = dict(scope=(0, 1), target=PAIR_TARGET, kind="kl", strength=1.0) | kwargs
    with pytest.raises(error, match=match):
        objectives.MarginalPrior(**arguments)


@pytest.mark.parametrize(
    "scope, target, error, match",
    [
        ((0, 9), PAIR_TARGET, fg.ModelSpecError, r"scope.*0\.\.3"),
        ((0, 1), np.full((2, 3), 1 / 6), fg.DataError, r"target.*shape \(2, 2\)"),
    ],
)
def test_checks_against_the_graph(scope, target, error, match):
    g, _ = frustrated_ising()
    prior = objectives.MarginalPrior(scope, target)
    with pytest.raises(error, match=match):
        fg.exact.fit(g, np.zeros(g.n_features), objectives=[prior])
    with pytest.raises(error, match=match):
        fg.Trainer(g, [prior])


def test_target_total_within_tolerance_is_rescaled():
    prior = objectives.MarginalPrior((0, 1), PAIR_TARGET * (1 + 5e-7))
    assert prior.target.sum() == pytest.approx(1.0, abs=1e-15)
