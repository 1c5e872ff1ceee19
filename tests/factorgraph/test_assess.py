"""Quality at the returned θ on fresh chains (RELIABILITY.md (h)): fg.assess and its helpers.

Statistical assertions follow recipe (a) A2: the exact engine is the reference, |z| is bounded
by 5 (α = 1e-6 per feature), each test's seed comes from its node id (the ``seed`` fixture),
and every calibration test has a mutation twin (θ off by a known amount) that must fail by a
wide margin. Calibration measured over 400 seeds per model while writing these tests: E[z²]
0.92 (Ising), 0.99 (Potts), 1.08 (mixed chain), largest |z| 3.9 in 20,400 z-scores.
"""

import numpy as np
import pytest
import scipy.stats

import factorgraph as fg
import samplers
from factorgraph._monitor import _effective_draws, standard_errors
from factorgraph.assessment import Equilibrium, equilibrate, rms_z_bound, summarise

Z = 5.0  # |z| bound per feature: two-sided α of about 6e-7


def ising_chord():
    """4-cycle with a chord: frustrated, non-bipartite, random J and h."""
    g = fg.FactorGraph()
    s = g.add_variables(4, values=[-1, 1])
    g.add_features(fg.features.Product(s), name="fields")
    g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]), name="couplings")
    rng = np.random.default_rng(1)
    return g, np.concatenate([rng.normal(0, 0.3, 4), rng.normal(0, 0.6, 5)]), 6


def potts_triangle():
    """3-state Potts triangle with full one-hot field and pair tables (Potential)."""
    g = fg.FactorGraph()
    v = g.add_variables(3, n_states=3)
    g.add_features(fg.features.Potential(v), name="fields")
    g.add_features(fg.features.Potential([(0, 1), (1, 2), (0, 2)]), name="pairs")
    return g, np.random.default_rng(1).normal(0, 0.5, g.n_features), 12


def mixed_chain():
    """binary – ternary – discretised continuous (bin-centre values), with a square term."""
    g = fg.FactorGraph()
    a = g.add_variables(1, values=[-1, 1])[0]
    b = g.add_variables(1, values=[0, 1, 2])[0]
    c = g.add_variables(1, values=np.linspace(-1.5, 1.5, 6))[0]
    g.add_features(fg.features.Product([a, b, c]), name="fields")
    g.add_features(fg.features.Polynomial([c], power=2), name="square")
    g.add_features(fg.features.Product([(a, b), (b, c)]), name="pairs")
    return g, np.array([0.2, -0.3, 0.1, -0.4, 0.5, -0.4]), 4


MODELS = {"ising-chord": ising_chord, "potts-triangle": potts_triangle, "mixed-chain": mixed_chain}
# the mutation: θ of one feature (the third item of each model) moved by this much
SHIFT = {"ising-chord": 0.3, "potts-triangle": 1.0, "mixed-chain": 0.3}


def _assess(g, theta, target, seed, **options):
    options.setdefault("n_threads", 1)
    return fg.assess(g, theta, target, seed=seed % 2**32, progress=False, **options)


# -- calibration at the exact θ, and its mutation twin ---------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_exact_theta_matches_its_exact_means(name, seed):
    g, theta, _ = MODELS[name]()
    target = fg.exact.expectations(g, theta)
    found = _assess(g, theta, target, seed)
    sd = np.sqrt(np.diag(fg.exact.covariance(g, theta)))
    assert found.equilibrated, f"seed {seed}: {found.message}"
    assert np.all(found.stderr < 0.02 * sd + 1e-12), f"seed {seed}: underpowered, stderr {found.stderr}"
    assert np.all(np.abs(found.z) <= Z), f"seed {seed}: z {found.z.round(2)}"
    # the z of one model are correlated (a Potts model's one-hot tables have half the degrees of
    # freedom), so the RMS bound is the χ² one at α = 1e-6 for K/2 degrees of freedom: about 3
    assert found.rms < 3.0 and found.ok(rms_tol=3.0), f"seed {seed}: {found!r}"
    np.testing.assert_array_equal(found.z, (target - found.mean) / found.stderr)
    assert np.all(found.stderr > 1e-6)  # the floors do not bind for features that vary
    assert found.burn_in >= 16 and found.n_sweeps >= 100 and found.n_chains == 256
    # 256 chains: either rule may end the burn-in (R-hat, or the chains forgetting their starts)
    assert (found.rhat <= 1.01 or "forgot their starts" in found.message) and found.ess >= 100
    assert "equilibrated after" in found.message


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_theta_off_by_a_known_amount_is_flagged(name, seed):
    """The twin of the test above: one parameter moved; every figure must say so."""
    g, theta, k = MODELS[name]()
    target = fg.exact.expectations(g, theta)
    moved = theta.copy()
    moved[k] += SHIFT[name]
    found = _assess(g, moved, target, seed)
    assert found.equilibrated
    assert not found.ok(), f"seed {seed}: {found!r}"
    # the exact z of the shift, from the exact means and the measured errors, is far out
    exact_z = (target - fg.exact.expectations(g, moved)) / found.stderr
    assert np.abs(exact_z).max() > found.max_bound + 2 * Z, f"seed {seed}: underpowered twin"
    assert found.max > found.max_bound and found.rms > 1.5


@pytest.mark.parametrize("sampler", ["mh", "block-gibbs", "swendsen-wang"])
def test_other_samplers_measure_the_same_model(sampler, seed):
    g, theta, _ = ising_chord()
    found = _assess(g, theta, fg.exact.expectations(g, theta), seed, sampler=sampler)
    assert found.equilibrated and found.sampler == sampler
    assert np.all(np.abs(found.z) <= Z), f"seed {seed}: z {found.z.round(2)}"


def test_a_fixed_group_and_a_constant_feature_are_reported():
    g = fg.FactorGraph()
    s = g.add_variables(3, values=[-1, 1])
    one = g.add_variables(1, values=[2.0])[0]  # a single state: its feature is constant
    g.add_features(fg.features.Product(s), name="fields")
    g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="base", trainable=False, theta_init=0.4)
    g.add_features(fg.features.Product([one]), name="constant")
    theta = np.array([0.1, -0.2, 0.3, 0.4, 0.4, 0.0])
    target = fg.exact.expectations(g, theta)
    found = _assess(g, theta, target, 11)
    assert found.z.shape == (6,) and found.z[5] == 0.0 and found.mean[5] == pytest.approx(2.0, rel=1e-12)
    assert found.max <= found.max_bound and np.all(np.abs(found.z[3:5]) <= Z)
    target[3] += 0.2  # the fixed feature's target is compared too
    assert abs(_assess(g, theta, target, 11).z[3]) > 10


def test_a_constant_feature_away_from_its_target_is_flagged():
    g = fg.FactorGraph()
    one = g.add_variables(1, values=[2.0])[0]
    g.add_variables(1, values=[-1, 1])
    g.add_features(fg.features.Product([one, 1]), name="fields")
    found = _assess(g, np.zeros(2), [2.5, 0.0], 3)
    assert found.z[0] == pytest.approx(0.5 / 2e-9) and not found.ok()  # 0.5 over the rounding floor


# -- burn-in ------------------------------------------------------------------------------------------


def _ferromagnet(side=6, coupling=2.0):
    g = fg.FactorGraph()
    s = g.add_variables(side * side, values=[-1, 1]).reshape(side, side)
    pairs = np.concatenate(
        [np.stack([s[:, :-1].ravel(), s[:, 1:].ravel()], 1), np.stack([s[:-1].ravel(), s[1:].ravel()], 1)]
    )
    g.add_features(fg.features.Product(pairs), name="bonds")
    return g, np.full(len(pairs), coupling)


def test_chains_that_cannot_equilibrate_are_reported():
    """J = 2 on a 6x6 grid, no field: each chain magnetises one way and stays (R-hat >> 1)."""
    g, theta = _ferromagnet()
    found = _assess(g, theta, np.zeros(g.n_features), 5, max_sweeps=64, n_chains=64)
    assert not found.equilibrated and found.burn_in == 64
    assert "NOT equilibrated within 64 sweeps" in found.message and "max_sweeps=64" in found.message
    assert found.rhat > 1.1 and found.n_sweeps >= 1


def test_many_chains_that_stay_in_their_modes_never_count_as_forgotten():
    """The many-chains rule must not pass chains magnetised one way each, however long they run."""
    g, theta = _ferromagnet()
    found = _assess(g, theta, np.zeros(g.n_features), 6, max_sweeps=2048, n_chains=256)
    assert not found.equilibrated and "forgot" not in found.message


def test_a_glassy_model_equilibrates_by_many_chains_and_matches_its_exact_means():
    """The 12-spin ±0.6 spin glass: R-hat <= 1.01 would ask each Gibbs chain for ~100 flips of
    the glass's slow modes; 512 chains forget their starts long before, and the means agree."""
    from tests.factorgraph._hard_models import spin_glass

    g, terms, exact = spin_glass()
    target = fg.exact.expectations(g, exact.theta)
    found = _assess(g, exact.theta, target, 7, n_chains=512, max_sweeps=8192)
    assert found.equilibrated and "forgot their starts" in found.message, found.message
    assert found.ok() and np.all(np.abs(found.z) <= 5), found
    # the mutation twin: the forgetting rule is off when there are too few chains to see it
    few = _assess(g, exact.theta, target, 7, n_chains=32, max_sweeps=1024)
    assert not few.equilibrated


def test_the_time_budget_stops_the_burn_in():
    g, theta = _ferromagnet()
    found = _assess(g, theta, np.zeros(g.n_features), 5, time_budget=1e-4, n_chains=16)
    assert not found.equilibrated and found.burn_in == 16 and "time_budget" in found.message
    assert found.n_sweeps == 16  # the measurement is shortened to its floor, not skipped


def test_a_flat_energy_is_still_checked_through_the_projections():
    """θ = 0: the energy is 0 in every state, yet the chains' mixing is still tested."""
    g, theta = _ferromagnet(side=3)
    eq = equilibrate(g, np.zeros(g.n_features), n_chains=64, seed=2, n_threads=1)
    assert eq.equilibrated and np.isfinite(eq.rhat) and eq.burn_in >= 16


def test_a_model_that_cannot_move_is_equilibrated_at_once():
    g = fg.FactorGraph()
    g.add_variables(2, values=[1.0])
    g.add_features(fg.features.Product([0, 1]))
    eq = equilibrate(g, np.zeros(2), n_chains=8, seed=0, n_threads=1)
    assert eq.equilibrated and eq.burn_in == 16 and np.isnan(eq.rhat)
    assert "no traced statistic varies" in eq.reason


def test_equilibrate_returns_the_measured_sampler(seed):
    g, theta, _ = ising_chord()
    eq = equilibrate(g, theta, n_chains=64, seed=seed % 2**32, n_threads=1, measure_sweeps=40)
    assert isinstance(eq, Equilibrium) and eq.averaged and eq.n_sweeps == 40
    stats = eq.sampler.stats()
    assert stats.n_averaged == 40 and stats.batch_means.shape == (8, 40, g.n_features)
    assert eq.sampler.sweep == eq.burn_in + 40 and eq.sampler.states.shape == (64, 4)
    assert "Equilibrium" in repr(eq)


def test_a_sampler_without_averaging_is_measured_on_its_final_states():
    g, theta, _ = ising_chord()
    found = _assess(
        g, theta, fg.exact.expectations(g, theta), 4, sampler="loopback", n_chains=16, max_sweeps=16, n_threads=None
    )
    assert found.n_sweeps == 0 and found.burn_in == 16
    final_states = np.sqrt(np.maximum(0.0, 1 - found.mean**2) / 16)  # ±1 features: σ² = 1 − m², ESS = chains
    assert np.all(found.stderr >= final_states - 1e-12)


# -- the monitor's standard error, shared ---------------------------------------------------------------


def test_standard_errors_is_the_monitors_formula():
    g, theta, _ = mixed_chain()
    compiled = g.compile()
    sampler = samplers.create("gibbs", compiled, 128, seed=0, n_threads=1, average_sweeps=True, block_size=16)
    sampler.run(theta, 50)
    stats, states = sampler.stats(), sampler.states
    se, floor = standard_errors(compiled, stats, states)
    n = len(states)
    second = compiled.feature_sums(states, squared=True) / n
    mean = compiled.feature_sums(states) / n
    np.testing.assert_array_equal(se, np.sqrt(np.maximum(second - mean**2, 0.0) / _effective_draws(stats, n)))
    low, high = compiled.feature_bounds()
    np.testing.assert_array_equal(floor, np.maximum(high - low, np.finfo(float).tiny) / (n * 50))
    given = np.full(g.n_features, np.nan)
    given[0] = 4.0
    se2, _ = standard_errors(compiled, stats, states, variance=given)
    assert se2[0] == np.sqrt(4.0 / _effective_draws(stats, n)[0]) and np.array_equal(se2[1:], se[1:])


# -- Pearson of connected correlations ----------------------------------------------------------------


def _bench_connected(mean, n, q):
    """benchmarks/bench_pf00014.py's C_ij(a, b) for full field and pair Potential groups."""
    f1 = mean[: n * q].reshape(n, q)
    f2 = mean[n * q :].reshape(-1, q, q)
    i, j = np.triu_indices(n, k=1)
    return (f2 - f1[i][:, :, None] * f1[j][:, None, :]).ravel()


def _potts(n, q, rng):
    g = fg.FactorGraph()
    v = g.add_variables(n, n_states=q)
    i, j = np.triu_indices(n, k=1)
    g.add_features(fg.features.Potential(v), name="fields")
    g.add_features(fg.features.Potential(np.stack([i, j], 1)), name="couplings")
    return g, rng.normal(0, 0.5, g.n_features)


def test_connected_correlations_agree_with_the_pf00014_benchmark():
    rng = np.random.default_rng(0)
    g, theta = _potts(4, 3, rng)
    model, target = fg.exact.expectations(g, theta), fg.exact.expectations(g, theta + rng.normal(0, 0.3, len(theta)))
    np.testing.assert_allclose(fg.connected_correlations(g, model), _bench_connected(model, 4, 3), atol=1e-15)
    expected = np.corrcoef(_bench_connected(model, 4, 3), _bench_connected(target, 4, 3))[0, 1]
    assert fg.pearson_connected(g, model, target) == pytest.approx(expected, abs=1e-12)


def test_pearson_is_one_for_equal_means():
    g, theta = _potts(3, 3, np.random.default_rng(1))
    m = fg.exact.expectations(g, theta)
    assert fg.pearson_connected(g, m, m) == pytest.approx(1.0, abs=1e-12)
    assert fg.pearson_connected(g.compile(), m, m) == pytest.approx(1.0, abs=1e-12)


def test_pearson_is_nan_without_spread():
    g, theta = _potts(3, 2, np.random.default_rng(2))
    flat = np.full(g.n_features, 0.25)  # every connected correlation 0.25 − 0.25², up to rounding
    m = fg.exact.expectations(g, theta)
    assert np.isnan(fg.pearson_connected(g, flat, m)) and np.isnan(fg.pearson_connected(g, m, np.zeros_like(m)))


def test_product_pairs_by_hand():
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([0, 1, 2]), name="fields")
    g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="pairs")
    g.add_features(fg.features.Product([(0, 1, 2)]), name="triple")  # not a pair: ignored
    a = np.array([0.1, -0.2, 0.3, 0.5, -0.4, 0.05])
    b = np.array([0.0, 0.2, 0.1, 0.3, -0.1, 0.9])
    ca = [0.5 - 0.1 * -0.2, -0.4 - -0.2 * 0.3]
    cb = [0.3 - 0.0, -0.1 - 0.2 * 0.1]
    np.testing.assert_allclose(fg.connected_correlations(g, a), ca, rtol=0, atol=1e-15)
    # two entries: the Pearson correlation of two points is ±1
    assert fg.pearson_connected(g, a, b) == pytest.approx(np.corrcoef(ca, cb)[0, 1], abs=1e-12)


def test_potts_gauges_by_hand():
    """Pair tables with reference=0 take f_i(a) from the unary tables (also with reference=0);
    full pair tables without unary tables marginalise themselves."""
    rng = np.random.default_rng(3)
    g = fg.FactorGraph()
    v = g.add_variables(3, n_states=3)
    g.add_features(fg.features.Potential(v, reference=0), name="fields")  # states 1, 2
    g.add_features(fg.features.Potential([(0, 1)], reference=0), name="gauged")  # (1..2, 1..2)
    g.add_features(fg.features.Potential([(1, 2)]), name="full")  # 3 x 3
    m = fg.exact.expectations(g, rng.normal(0, 0.5, g.n_features))
    f1 = {0: m[0:2], 1: m[2:4], 2: m[4:6]}  # P(x_i = 1), P(x_i = 2)
    gauged = m[6:10].reshape(2, 2) - np.outer(f1[0], f1[1])
    full = m[10:19].reshape(3, 3)
    p1, p2 = full.sum(axis=1), full.sum(axis=0)  # marginalised where a unary feature is missing
    p1[1:], p2[1:] = f1[1], f1[2]  # the unary features win where they exist
    expected = np.concatenate([gauged.ravel(), (full - np.outer(p1, p2)).ravel()])
    np.testing.assert_allclose(fg.connected_correlations(g, m), expected, rtol=0, atol=1e-15)


def test_no_pair_features_means_no_pearson(seed):
    g = fg.FactorGraph()
    v = g.add_variables(3, n_states=3)
    g.add_features(fg.features.Potential(v), name="fields")
    g.add_features(fg.features.Histogram([(0, 1)], edges=[0, 1.5, 2]), name="bins")  # cells of several states
    g.add_features(fg.features.Potential([(1, 2)], reference=0), name="gauged")  # no unary for state 0, ...
    m = fg.exact.expectations(g, np.zeros(g.n_features))
    assert fg.connected_correlations(g, m) is not None  # ... but the unary tables cover states 1, 2
    g2 = fg.FactorGraph()
    g2.add_variables(2, n_states=3)
    g2.add_features(fg.features.Histogram([(0, 1)], edges=[0, 1.5, 2]))
    g2.add_features(fg.features.Potential([(0, 1)], reference=0))  # not full, and no unary tables
    m2 = fg.exact.expectations(g2, np.zeros(g2.n_features))
    assert fg.connected_correlations(g2, m2) is None and fg.pearson_connected(g2, m2, m2) is None
    fields_only = fg.FactorGraph()
    fields_only.add_variables(2, values=[-1, 1])
    fields_only.add_features(fg.features.Product([0, 1]))
    target = fg.exact.expectations(fields_only, [0.1, 0.2])
    assert _assess(fields_only, [0.1, 0.2], target, seed).pearson is None


def test_assessment_pearson_compares_target_and_fresh_means(seed):
    g, theta, _ = potts_triangle()
    target = fg.exact.expectations(g, theta)
    found = _assess(g, theta, target, seed)
    assert found.pearson == pytest.approx(fg.pearson_connected(g, target, found.mean), abs=1e-15)
    assert found.pearson > 0.99 and "Pearson" in found.message


# -- reproducibility -----------------------------------------------------------------------------------


def _same(a, b):
    for name in ("z", "mean", "stderr", "target"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in ("rms", "max", "pearson", "rhat", "ess", "burn_in", "n_sweeps", "equilibrated"):
        assert getattr(a, name) == getattr(b, name), name


def test_the_same_seed_gives_the_same_bits():
    g, theta, _ = potts_triangle()
    target = fg.exact.expectations(g, theta)
    _same(_assess(g, theta, target, 7), _assess(g, theta, target, 7))
    assert not np.array_equal(_assess(g, theta, target, 8).mean, _assess(g, theta, target, 7).mean)


def test_the_thread_count_does_not_change_the_bits():
    g, theta, _ = ising_chord()
    target = fg.exact.expectations(g, theta)
    short = dict(max_sweeps=32, measure_sweeps=20, n_chains=128)
    _same(_assess(g, theta, target, 9, **short), _assess(g, theta, target, 9, **dict(short, n_threads=2)))


# -- the result and bad input --------------------------------------------------------------------------


def test_the_assessment_reads_well():
    g, theta, _ = ising_chord()
    target = fg.exact.expectations(g, theta)
    found = _assess(g, theta, target, 1)
    assert repr(found).startswith("<Assessment (ok): rms z ") and "features" in repr(found)
    assert found.max_bound == pytest.approx(np.sqrt(2 * np.log(18)) + 3)
    assert found.rms_bound == rms_z_bound(9) == pytest.approx(np.sqrt(scipy.stats.chi2.isf(1e-6, 9) / 9))
    assert np.isnan(found.residual) and np.isnan(found.residual_max) and found.failures == ()
    assert found.ok(rms_tol=0.0) is False and found.ok(max_tol=0.0) is False
    worst = found.worst(3)
    assert np.abs(found.z[worst[0]]) == found.max and len(worst) == 3
    lines = found.describe(g, 2)
    assert len(lines) == 2 and "group '" in lines[0] and "scope (" in lines[0]
    with pytest.raises(AttributeError):
        found.rms = 0.0
    with pytest.raises(ValueError):
        found.z[0] = 1.0


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(theta=np.zeros(3)), fg.DataError, r"'theta' argument of assess must be an array of shape \(9,\)"),
        (dict(theta=np.full(9, np.nan)), fg.DataError, "'theta' argument of assess must be finite"),
        (dict(target=np.zeros(8)), fg.DataError, r"'target' argument of assess must be an array of shape \(9,\)"),
        (dict(target=np.r_[np.nan, np.zeros(8)]), fg.DataError, r"target of feature 0 \(group 'fields'.*is nan"),
        (dict(n_chains=1), fg.ModelSpecError, "'n_chains'.*>= 2.*R-hat compares independent chains"),
        (dict(n_chains=2.5), fg.ModelSpecError, "'n_chains'.*an int"),
        (dict(sampler="no-such"), fg.PluginError, "No plugin named 'no-such'"),
        (dict(sampler=None), fg.ModelSpecError, "'sampler'.*a sampler name"),
        (dict(max_sweeps=8), fg.ModelSpecError, "'max_sweeps'.*>= 16"),
        (dict(measure_sweeps=0), fg.ModelSpecError, "'measure_sweeps'.*>= 1"),
        (dict(rhat_tol=1.0), fg.ModelSpecError, "'rhat_tol'.*> 1"),
        (dict(time_budget=0), fg.ModelSpecError, "'time_budget'.*seconds > 0"),
        (dict(time_budget=float("nan")), fg.ModelSpecError, "'time_budget'"),
        (dict(no_such_option=1), fg.ModelSpecError, "does not take these arguments"),
    ],
)
def test_bad_input_is_refused(change, error, match):
    g, theta, _ = ising_chord()
    arguments = dict(theta=theta, target=np.zeros(9))
    arguments.update(change)
    with pytest.raises(error, match=match):
        fg.assess(g, arguments.pop("theta"), arguments.pop("target"), progress=False, **arguments)


@pytest.mark.parametrize("helper", [fg.connected_correlations, lambda g, m: fg.pearson_connected(g, m, m)])
def test_helpers_refuse_bad_means(helper):
    g, theta, _ = ising_chord()
    with pytest.raises(fg.DataError, match=r"must be an array of shape \(9,\)"):
        helper(g, np.zeros(4))
    with pytest.raises(fg.DataError, match="must be finite"):
        helper(g, np.full(9, np.inf))


def test_the_module_and_the_function_do_not_shadow_each_other():
    import importlib

    import factorgraph.assessment as module

    assert callable(fg.assess) and fg.assess is module.assess and fg.Assessment is module.Assessment
    assert importlib.import_module("factorgraph.assessment") is module


def test_the_rms_bound_widens_for_few_features_only():
    assert rms_z_bound(1) == pytest.approx(scipy.stats.norm.isf(0.5e-6))  # one z: the two-sided 1e-6 bound
    assert rms_z_bound(60) == 1.5 and rms_z_bound(2080) == 1.5 and rms_z_bound(10, rms_tol=3.0) == 3.0
    assert 1.5 < rms_z_bound(30) < rms_z_bound(9) < rms_z_bound(2)


def test_summarise_assesses_chains_that_equilibrate_ran():
    """The training loop's path: equilibrate, read the chains, then summarise against targets."""
    g, theta, _ = potts_triangle()
    target = fg.exact.expectations(g, theta)
    eq = equilibrate(g, theta, n_chains=256, seed=4, n_threads=1)
    found = summarise(g, eq, target)
    _same(found, _assess(g, theta, target, 4))
    assert found.sampler == "gibbs" and found.seconds == eq.seconds


def test_a_progress_bar_changes_nothing(capsys, monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0")
    g, theta, _ = potts_triangle()
    target = fg.exact.expectations(g, theta)
    with_bar = fg.assess(g, theta, target, seed=2, n_threads=1, progress=True)
    assert "assess:" in capsys.readouterr().err
    _same(with_bar, _assess(g, theta, target, 2))
