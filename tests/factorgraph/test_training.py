"""The training loop against the exact maximum-entropy solution, and its bookkeeping."""

import re

import numpy as np
import pytest
from scipy.stats import chisquare

import factorgraph as fg
import objectives
from factorgraph._openmp import have_openmp
from tests.samplers._models import base_measure, five_state_chain, frustrated_ising


def potts_gauge_fixed():
    """3-state Potts triangle, fields and pairs both without the reference state 0: identifiable."""
    g = fg.FactorGraph()
    g.add_variables(3, n_states=3)
    g.add_features(fg.features.Potential(np.arange(3), reference=0))
    g.add_features(fg.features.Potential([(0, 1), (1, 2), (0, 2)], reference=0))
    return g, np.random.default_rng(21).normal(0, 0.5, g.n_features)


def _trainer(g, terms, seed=1, **options):
    # a decaying step and iterate averaging remove the noise floor of the stochastic gradient
    options.setdefault("optimizer", fg.optim.SGD(lr=fg.optim.inverse_time(2.0, 200, 0.6)))
    return fg.Trainer(g, terms, n_chains=2000, seed=seed, average_from=500, **options)


@pytest.mark.parametrize("model", [frustrated_ising, five_state_chain, potts_gauge_fixed, base_measure])
def test_trainer_reaches_the_exact_maxent_solution(model):
    g, theta_star = model()
    target = fg.exact.expectations(g, theta_star)
    exact = fg.exact.fit(g, target, theta0=theta_star * ~g.trainable + g.theta_init() * g.trainable)
    assert exact.success
    result = _trainer(g, [objectives.MomentMatching(target)]).fit(max_steps=1500, tol=0.0, progress=False)
    trained = g.trainable
    assert np.abs(result.theta - exact.theta)[trained].max() < 0.05
    np.testing.assert_array_equal(result.theta[~trained], g.theta_init()[~trained])
    # moments at the fitted θ, computed exactly, within 3 Monte Carlo standard errors of one step
    mcse = np.sqrt(np.diag(fg.exact.covariance(g, exact.theta)) / 2000)
    moments = fg.exact.expectations(g, result.theta)
    assert np.all(np.abs(moments - target)[trained] <= 3 * mcse[trained] + 1e-12)


def test_l2_reaches_the_exact_regularised_solution():
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    exact = fg.exact.fit(g, target, l2=0.5)
    result = _trainer(g, [objectives.MomentMatching(target), objectives.L2(0.5)]).fit(
        max_steps=1500, tol=0.0, progress=False
    )
    assert np.abs(result.theta - exact.theta).max() < 0.05


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
def test_theta_trajectory_is_identical_for_one_and_two_threads():
    g, theta_star = five_state_chain()
    target = fg.exact.expectations(g, theta_star)
    runs = []
    for threads in (1, 2):
        trainer = fg.Trainer(
            g,
            [objectives.MomentMatching(target)],
            n_chains=300,
            seed=4,
            n_threads=threads,
            optimizer=fg.optim.Adam(lr=0.05),
        )
        seen: list[np.ndarray] = []

        def record(info, seen=seen):
            seen.append(info["theta"].copy())

        result = trainer.fit(max_steps=60, tol=0.0, progress=False, callback=record)
        runs.append((np.array(seen), result))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1].states, runs[1][1].states)
    for key in ("mismatch", "grad_norm", "step_norm"):
        np.testing.assert_array_equal(runs[0][1].history[key], runs[1][1].history[key])


def test_fit_from_data_matches_fit_from_its_moments():
    g, theta_star = frustrated_ising()
    data = fg.exact.sample(g, theta_star, 3000, seed=2)
    a = fg.fit(g, data=data, n_chains=100, seed=3, max_steps=20, tol=0.0, progress=False)
    b = fg.fit(g, target=fg.moments(g, data), n_chains=100, seed=3, max_steps=20, tol=0.0, progress=False)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.n_steps == 20 and set(a.history) >= {"mismatch", "grad_norm", "step_norm", "time"}
    assert all(len(v) == 20 for v in a.history.values())


def test_fit_converges_and_says_so():
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    result = _trainer(g, [objectives.MomentMatching(target)]).fit(max_steps=5000, tol=0.01, progress=False)
    assert result.converged and result.n_steps < 5000 and "converged" in result.message
    assert result.history["mismatch"][-1] <= 1.5


def test_callback_can_stop_the_loop():
    g, theta_star = frustrated_ising()
    trainer = fg.Trainer(g, [objectives.MomentMatching(fg.exact.expectations(g, theta_star))], n_chains=50, seed=0)

    def stop(info):
        if info["step"] == 7:
            raise StopIteration

    result = trainer.fit(max_steps=100, callback=stop, progress=False)
    assert result.n_steps == 7 and result.message == "stopped by callback" and not result.converged


def test_fit_continues_where_it_stopped():
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    straight = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=64, seed=5)
    straight.fit(max_steps=30, tol=0.0, progress=False)
    split = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=64, seed=5)
    split.fit(max_steps=12, tol=0.0, progress=False)
    split.fit(max_steps=18, tol=0.0, progress=False)
    np.testing.assert_array_equal(split.theta, straight.theta)


def test_sample_follows_the_exact_distribution():
    g, theta = frustrated_ising()
    x = fg.sample(g, theta, 20_000, n_chains=2000, burn_in=50, thin=20, seed=9)
    counts = np.bincount(x @ (2 ** np.arange(3, -1, -1)), minlength=16)
    expected = fg.exact.probabilities(g, theta).ravel() * len(x)
    assert chisquare(counts, expected).pvalue > 1e-6


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda g: fg.Trainer(g, []), fg.ModelSpecError, "objectives"),
        (lambda g: fg.Trainer(g, [objectives.MomentMatching([0.1])]), fg.DataError, "target"),
        (lambda g: fg.fit(g), fg.DataError, "exactly one"),
        (lambda g: fg.fit(g, target=np.zeros(9), max_steps=-1), fg.ModelSpecError, "max_steps"),
        (lambda g: fg.fit(g, target=np.full(9, np.nan)), fg.DataError, "finite"),
    ],
)
def test_bad_input(call, error, match):
    g, _ = frustrated_ising()
    with pytest.raises(error, match=match):
        call(g)


def test_a_constant_mismatch_far_below_one_unit_is_not_converged():
    """Tiny feature values must not hide a wrong model behind a floor of 1/C."""
    g = fg.FactorGraph()
    g.add_variables(20, values=[-0.001, 0.001])
    g.add_features(fg.features.Product(np.arange(20)))
    target = np.full(20, 0.0005)  # P(up) = 0.75
    # from θ = 0 (the independent-site start would already be the answer)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target)],
        n_chains=256,
        seed=0,
        optimizer=fg.optim.SGD(lr=0.05),
        theta0=np.zeros(20),
    )
    result = trainer.fit(max_steps=200, tol=0.01, progress=False, window=20)
    assert not result.converged and result.history["mismatch"][-1] > 3


def test_one_badly_matched_feature_blocks_convergence():
    g = fg.FactorGraph()
    g.add_variables(200, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(200)))
    theta0 = np.zeros(200)
    theta0[0] = 1.0
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(np.zeros(200))],
        n_chains=256,
        seed=0,
        theta0=theta0,
        optimizer=fg.optim.SGD(lr=1e-6),
    )
    result = trainer.fit(max_steps=200, tol=0.01, progress=False, window=20)
    assert not result.converged and result.history["mismatch_max"][-1] > 6


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda g, cg: fg.Trainer(cg, [objectives.MomentMatching(np.zeros(9)), objectives.L2(np.ones(3))]), "strength"),
        (lambda g, cg: fg.Trainer(cg, [objectives.MomentMatching(np.zeros(9))], sampler=123), "sampler"),
        (
            lambda g, cg: fg.Trainer(
                cg,
                [objectives.MomentMatching(np.zeros(9))],
                sampler=__import__("samplers").create("gibbs", cg, 4),
                seed=3,
            ),
            "ready sampler",
        ),
        (lambda g, cg: fg.Trainer(cg, [objectives.MomentMatching(np.zeros(9))], blocksize=4), "blocksize"),
        (lambda g, cg: fg.fit(g, target=np.zeros(9), weights=[1, 2]), "weights"),
    ],
)
def test_bad_trainer_arguments(make, match):
    g, _ = frustrated_ising()
    with pytest.raises(fg.FactorGraphError, match=match):
        make(g, g.compile())


def test_without_moment_matching_theta_stability_decides():
    g, _ = frustrated_ising()
    trainer = fg.Trainer(g, [objectives.L2(1.0)], n_chains=8, seed=0, theta0=np.ones(9), optimizer=fg.optim.SGD(lr=0.5))
    result = trainer.fit(max_steps=500, tol=1e-6, progress=False, window=10)
    assert result.converged and np.abs(result.theta).max() < 1e-5


@pytest.mark.parametrize("average_sweeps", [False, True])
def test_standardised_mismatch_is_honest_at_the_exact_solution(average_sweeps):
    """With θ held at the exact solution, z = |m − μ̂| / MCSE has E[z²] = 1 when the MCSE is
    right, whether μ̂ is the chains' final states or an average over 10 correlated sweeps (where
    sd / sqrt(n_chains) would give E[z²] ≈ 0.2 here). Checks 50 sweeps apart are nearly
    independent; with the 9 features at worst fully correlated, the mean of z² over 200 checks
    has a standard error of at most sqrt(2 / 200) = 0.1, so 5 of them is the tolerance."""
    g, theta_star = frustrated_ising()
    theta = 2 * theta_star  # stronger couplings: consecutive sweeps clearly correlated
    target = fg.exact.expectations(g, theta)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target)],
        n_chains=512,
        seed=3,
        theta0=theta,
        optimizer=fg.optim.SGD(lr=1e-300),
        sweeps_per_step=10,
        average_sweeps=average_sweeps,
    )
    result = trainer.fit(max_steps=1000, tol=0.0, check_every=5, progress=False)
    np.testing.assert_array_equal(result.theta, theta)  # the step is too small to move θ
    z_squared = result.history["mismatch"][4::5] ** 2
    assert abs(z_squared.mean() - 1) <= 5 * np.sqrt(2 / len(z_squared)), z_squared.mean()


def test_learning_rate_decays_on_a_plateau():
    """A constant step stalls at its noise floor; halving it on each plateau brings θ to the
    exact solution without iterate averaging."""
    g, theta_star = frustrated_ising()
    target = fg.exact.expectations(g, theta_star)
    exact = fg.exact.fit(g, target)
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=2000, seed=3, optimizer=fg.optim.SGD(lr=1.0))
    result = trainer.fit(max_steps=800, tol=0.0, progress=False, decay_on_plateau=0.5, patience=40)
    scale = result.history["lr_scale"]
    assert np.all(np.diff(scale) <= 0) and scale[0] == 1.0 and scale[-1] <= 0.125
    assert np.all(np.isclose(np.log2(np.unique(scale)), np.round(np.log2(np.unique(scale)))))
    assert np.flatnonzero(scale < 1)[0] >= 40  # no decay before `patience` steps
    assert np.abs(result.theta - exact.theta).max() < 0.05
    with pytest.raises(fg.ModelSpecError, match="decay_on_plateau"):
        trainer.fit(max_steps=1, decay_on_plateau=1.5, progress=False)


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("max_steps", -1, "an int >= 0"),
        ("tol", -1e-3, "a finite number >= 0"),
        ("tol", float("nan"), "a finite number >= 0"),
        ("mismatch_tol", 0.0, "a finite number > 0"),
        ("mismatch_tol", "1.5", "a finite number > 0"),
        ("max_theta", float("inf"), "a finite number > 0"),
        ("check_every", 0, "an int >= 1"),
        ("window", 0, "an int >= 1"),
        ("patience", 2.5, "an int"),
        ("decay_on_plateau", 1.0, "None or a number in (0, 1)"),
    ],
)
def test_fit_refuses_bad_arguments_before_any_step(argument, value, expected):
    g, theta = frustrated_ising()
    trainer = fg.Trainer(g, [objectives.MomentMatching(fg.exact.expectations(g, theta))], n_chains=8, seed=0)
    with pytest.raises(fg.ModelSpecError, match=f"'{argument}' argument of Trainer.fit must be {re.escape(expected)}"):
        trainer.fit(progress=False, **{argument: value})
    assert trainer.step_count == 0 and trainer.history["time"] == []
