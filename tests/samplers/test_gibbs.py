"""The Gibbs sampler: its random numbers, its kernel against the reference, its chains.

Its feature means and marginals, and the invariance of its exact one-sweep matrix, are checked
with every other sampler in test_exact_distribution.py.
"""

import functools
import warnings

import numpy as np
import pytest
from scipy.stats import chisquare

import factorgraph as fg
import samplers
from factorgraph._openmp import have_openmp
from samplers import _chains, _core, _random

from ._checks import assert_batch_means_of_sweep_average, assert_sweep_average_matches_states, state_index
from ._models import MODELS

# Known-answer vectors of Philox4x32-10 from the Random123 distribution (tests/kat_vectors):
# counter, key, expected output.
PHILOX_KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_matches_the_reference_known_answers(counter, key, expected):
    np.testing.assert_array_equal(_random.philox(counter, key), np.array(expected, dtype=np.uint32))


def test_uniforms_are_the_documented_philox_words():
    """Chain c takes word c % 4 of the call for quad c // 4, as word / 2^32."""
    key = np.array([7, 11], dtype=np.uint32)
    sweep, variable = 2**32 + 5, 3
    u = _random.uniforms(key, variable, 5, 6, sweep)  # chains 5 .. 10
    for i, chain in enumerate(range(5, 11)):
        words = _random.philox([variable, chain // 4, 5, (1 << 4) | 0], key)
        assert u[i] == int(words[chain % 4]) / 2.0**32


def _require(widest):
    if widest not in _random.simd_available():
        pytest.skip(f"this machine has no {widest} (it has {_random.simd_available()})")


VECTOR_LEVELS = _random.SIMD_LEVELS[1:]


def _with_simd(widest, make):
    """make() with vector code up to ``widest``, then the default restored."""
    _random.allow_simd(widest)
    try:
        return make()
    finally:
        _random.allow_simd()


@pytest.mark.parametrize("widest", VECTOR_LEVELS)
@pytest.mark.parametrize(("first", "n"), [(0, 64), (5, 37), (2**31 + 3, 9), (7, 1), (3, 200)])
def test_vector_and_portable_philox_give_the_same_uniforms(widest, first, n):
    _require(widest)
    key = np.array([0xDEADBEEF, 12345], dtype=np.uint32)
    fast = _with_simd(widest, lambda: _random.uniforms(key, 17, first, n, 2**33 + 9))
    portable = _with_simd("portable", lambda: _random.uniforms(key, 17, first, n, 2**33 + 9))
    np.testing.assert_array_equal(fast, portable)


@pytest.mark.parametrize("k", [3, 8, 9, 21, 24, 25, 32])
def test_categorical_draws_in_floats_are_the_same_bits_on_every_path_and_in_the_reference(k):
    """The multi-state draws of the precision contract (docs/samplers.rst) on the portable and
    vector paths and in the Python reference, at uniforms on both sides of every boundary
    between states (where one unit in the last place of a weight or a sum decides the state),
    with energies far apart (weights that underflow) and equal (ties)."""
    from samplers._loopback import LoopbackGibbs

    rng = np.random.default_rng(k)
    for energies in (rng.normal(0, 3, k), np.linspace(0, -120, k), np.zeros(k), rng.integers(-2, 2, k) * 0.5):
        row = energies.astype(np.float32)
        weights = _random.exp_neg_f(row - row.max())
        cumulative = np.cumsum(weights, dtype=np.float32)  # in state order, as the draws add them
        cuts = np.floor(cumulative / cumulative[-1] * 2.0**24)
        near = (cuts[:, None] + np.arange(-3, 4)[None, :]).ravel() / 2.0**24
        u = np.clip(np.concatenate([near, rng.random(500), [0.0, 1 - 2.0**-53]]), 0.0, 1 - 2.0**-53)
        draws = functools.partial(_random.categorical_draws_f, row, u)
        portable = _with_simd("portable", draws)
        reference = [LoopbackGibbs._draw(row[None, :].astype(np.float64), x) for x in u]
        np.testing.assert_array_equal(portable, reference)
        for widest in _random.simd_available()[1:]:
            np.testing.assert_array_equal(_with_simd(widest, draws), portable)
        assert set(portable) <= set(np.flatnonzero(weights > 0))  # a state of zero weight is never drawn


def test_logistic_draws_in_floats_are_the_same_bits_on_every_path_and_in_the_reference():
    """The binary draws of the precision contract (docs/samplers.rst) on the portable and vector
    paths and in the Python reference, at uniforms on both sides of each field's decision point
    (where one unit in the last place of e^-|d| or of the product decides the state), for
    fields of both signs, zero, and beyond the range of e^x; 45 chains cover the vector path's
    groups of 16 and 8 and its tail."""
    from samplers._loopback import LoopbackGibbs

    rng = np.random.default_rng(3)
    fields = np.concatenate([rng.normal(0, 4, 39), [0.0, -0.0, 90.0, -90.0, 1e-30, -1e-30]]).astype(np.float32)
    z = _random.exp_neg_f(-np.abs(fields))
    p = np.where(fields >= 0, 1 / (1 + z.astype(np.float64)), z / (1 + z.astype(np.float64)))
    for shift in range(-3, 4):
        for u in (np.floor(p * 2.0**24) + shift) / 2.0**24, rng.random(fields.size):
            u = np.clip(u, 0.0, 1 - 2.0**-53)
            draws = functools.partial(_random.logistic_draws_f, fields, u)
            portable = _with_simd("portable", draws)
            reference = [LoopbackGibbs._draw(np.array([[0.0, d]]), x) for d, x in zip(fields.tolist(), u)]
            np.testing.assert_array_equal(portable, reference)
            for widest in _random.simd_available()[1:]:
                np.testing.assert_array_equal(_with_simd(widest, draws), portable)
    assert _random.logistic_draws_f([90.0, -90.0], [1 - 2.0**-24, 2.0**-24]).tolist() == [1, 0]


def test_single_precision_exp_is_within_two_units_in_the_last_place():
    x = -np.linspace(0.0, 86.0, 100_001).astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(_random.exp_neg_f(x) - exact) / exact) < 2 * 2.0**-24
    assert _random.exp_neg_f(np.float32(0.0)) == 1.0


def test_allow_simd_names_the_levels():
    with pytest.raises(ValueError, match="portable"):
        _random.allow_simd("sse")
    assert _random.simd_available()[0] == "portable"


def test_exp_is_within_one_ulp_and_exact_at_zero():
    x = -np.concatenate([np.linspace(0, 20, 200_001), np.geomspace(1e-300, 707, 20_000)])
    ours, reference = _random.exp_neg(x), np.exp(x)
    assert np.all(np.abs(ours - reference) <= np.spacing(reference))
    assert _random.exp_neg(0.0) == 1.0
    assert 0.0 < _random.exp_neg(-1e6) < 1e-307  # clamped, never zero, inf or NaN


def test_uniforms_are_uniform_and_uncorrelated():
    key = np.array([1, 2], dtype=np.uint32)
    u = np.concatenate([_random.uniforms(key, v, 0, 10_000, 3) for v in range(100)])
    counts = np.histogram(u, bins=100, range=(0, 1))[0]
    assert chisquare(counts).pvalue > 1e-6
    r = np.corrcoef(u[:-1], u[1:])[0, 1]
    assert abs(r) < 5 / np.sqrt(len(u))
    assert u.min() >= 0.0 and u.max() < 1.0


@pytest.mark.parametrize("model", MODELS)
def test_compiled_sampler_equals_the_python_reference_bit_for_bit(model):
    g, theta = MODELS[model]()
    cg = g.compile()
    fast = samplers.create("gibbs", cg, 13, seed=99, block_size=4, first_chain=6)
    slow = samplers.create("loopback", cg, 13, seed=99, first_chain=6)
    fast.run(theta, 30)
    slow.run(theta, 30)
    np.testing.assert_array_equal(fast.states, slow.states)


def _binary_model():
    """Spins with fields, couplings to spins and to a 3-state variable, and an indexed pair."""
    g = fg.FactorGraph()
    g.add_variables(40, values=[-1, 1])
    g.add_variables(1, n_states=3)
    rng = np.random.default_rng(5)
    g.add_features(fg.features.Product(np.arange(40)))
    with warnings.catch_warnings():  # random pairs may repeat; harmless for a test of the kernels' bits
        warnings.simplefilter("ignore", fg.DuplicateScopeWarning)
        g.add_features(fg.features.Product(np.array([rng.choice(40, 2, replace=False) for _ in range(90)])))
    g.add_features(fg.features.Table([(0, 40), (7, 40)], table=[[0.3, -0.2, 0.5], [1.0, 0.1, -0.4]]))
    g.add_features(fg.features.Potential([(3, 4)]))
    return g, rng.normal(0, 0.6, g.n_features)


def _dense_potts_model():
    """Every pair of 14 variables coupled (degree 13 plus a field: more than one group of tables
    for the vector table path), with 3, 12, 21, 30 and 33 states (rows of 1, 2, 3 and 4 vectors
    of 8 floats, and beyond the vector path's 32 states, which falls back to the portable loop)."""
    g = fg.FactorGraph()
    v = np.concatenate([g.add_variables(3, n_states=q) for q in (3, 12, 21, 30)] + [g.add_variables(2, n_states=33)])
    i, j = np.triu_indices(len(v), k=1)
    g.add_features(fg.features.Potential(v))
    g.add_features(fg.features.Potential(np.stack([v[i], v[j]], axis=1)))
    return g, np.random.default_rng(8).normal(0, 0.7, g.n_features)


EXTRA_MODELS = {"binary": _binary_model, "dense_potts": _dense_potts_model}


def test_compiled_sampler_equals_the_python_reference_on_a_dense_potts_model():
    cg = _dense_potts_model()[0].compile()
    theta = _dense_potts_model()[1]
    fast = samplers.create("gibbs", cg, 9, seed=5, block_size=4, first_chain=2)
    slow = samplers.create("loopback", cg, 9, seed=5, first_chain=2)
    fast.run(theta, 6)
    slow.run(theta, 6)
    np.testing.assert_array_equal(fast.states, slow.states)


@pytest.mark.parametrize("model", [*MODELS, *EXTRA_MODELS])
@pytest.mark.parametrize(("n_chains", "block_size"), [(13, 13), (29, 8), (64, 32), (45, 45)])
def test_vector_and_portable_kernels_give_the_same_bits(model, n_chains, block_size):
    g, theta = EXTRA_MODELS[model]() if model in EXTRA_MODELS else MODELS[model]()
    cg = g.compile()

    def run():
        sampler = samplers.create("gibbs", cg, n_chains, seed=4, block_size=block_size, first_chain=3)
        sampler.run(theta, 25)
        return sampler.get_state()

    portable = _with_simd("portable", run)
    for widest in _random.simd_available()[1:]:
        vector = _with_simd(widest, run)
        np.testing.assert_array_equal(vector["states"], portable["states"], err_msg=widest)
        np.testing.assert_array_equal(vector["block_sums"], portable["block_sums"], err_msg=widest)


@pytest.mark.parametrize("model", MODELS)
def test_joint_states_of_independent_chains_follow_the_exact_distribution(model):
    """Recipe A1: 20,000 chains, burn-in from the exact kernel (TV < 1e-6), chi-square p > 1e-6."""
    g, theta = MODELS[model]()
    cg = g.compile()
    pi = fg.exact.probabilities(cg, theta).ravel()
    p = samplers.create("gibbs", cg, 1, seed=0).transition_matrix(theta)
    mu = np.full(len(pi), 1.0 / len(pi))  # initial states are uniform
    sweeps = 0
    while 0.5 * np.abs(mu - pi).sum() >= 1e-6:
        mu, sweeps = mu @ p, sweeps + 1
        assert sweeps < 500
    n_chains = 20_000
    sampler = samplers.create("gibbs", cg, n_chains, seed=sum(map(ord, model)))
    sampler.run(theta, sweeps)
    counts = np.bincount(state_index(cg, sampler.states), minlength=len(pi))
    expected = pi * n_chains
    small = expected < 5  # merge rare states into one bin
    assert counts[pi == 0].sum() == 0
    observed = np.append(counts[~small], counts[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    if observed[-1] == 0 and expected[-1] == 0:
        observed, expected = observed[:-1], expected[:-1]
    assert expected.min() >= 5 or expected[-1] < 5 and expected[:-1].min() >= 5
    assert chisquare(observed, expected).pvalue > 1e-6, f"{sweeps} sweeps"


def _big_model():
    g = fg.FactorGraph()
    g.add_variables(30, n_states=3)
    g.add_variables(30, values=[-1, 1])
    rng = np.random.default_rng(4)
    g.add_features(fg.features.Potential(np.stack([np.arange(30), (np.arange(30) + 1) % 30], 1)))
    pairs = np.array([rng.choice(60, 2, replace=False) for _ in range(80)])
    g.add_features(fg.features.Function(pairs, fn=lambda a, b: np.cos(0.3 + a * b)))
    return g.compile(), rng.normal(0, 0.5, g.n_features)


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
@pytest.mark.parametrize("sums", ["incremental", "recompute"])
# 6 blocks: whole blocks per thread; 2: colours shared out; 1: the refresh shares out the factors too
@pytest.mark.parametrize("block_size", [16, 48, 96])
def test_states_and_sums_are_identical_for_one_and_two_threads(block_size, sums):
    cg, theta = _big_model()
    runs = []
    for threads in (1, 2):
        sampler = samplers.create("gibbs", cg, 96, seed=3, n_threads=threads, block_size=block_size, sums=sums)
        sampler.run(theta, 40)
        runs.append(sampler.get_state())
    np.testing.assert_array_equal(runs[0]["states"], runs[1]["states"])
    np.testing.assert_array_equal(runs[0]["block_sums"], runs[1]["block_sums"])


@pytest.mark.parametrize("model", [*MODELS, *EXTRA_MODELS, "big"])
def test_exact_sums_by_factor_equal_the_sums_by_block(model):
    """Every feature is owned by one factor (owned_widths), so the refresh may clear and add
    factor by factor, over threads: the same bits as clearing everything and adding by block."""
    if model == "big":
        cg, _ = _big_model()
    else:
        cg = (EXTRA_MODELS[model]() if model in EXTRA_MODELS else MODELS[model]())[0].compile()
    widths = _core.owned_widths(cg._view)
    assert widths is not None and widths.sum() == cg.n_features
    sampler = samplers.create("gibbs", cg, 37, seed=2, block_size=37)
    x = sampler._x
    for n_blocks, block in ((1, 37), (3, 13)):
        reference = np.full((n_blocks, cg.n_features), np.nan)
        _core.recompute_sums(cg._view, x, reference, 37, block, 1)
        for threads in (1, 2):
            by_factor = np.full((n_blocks, cg.n_features), np.nan)  # every entry must be written
            _core.recompute_sums(cg._view, x, by_factor, 37, block, threads, widths)
            np.testing.assert_array_equal(by_factor, reference)


def test_chains_do_not_depend_on_how_many_there_are():
    cg, theta = _big_model()
    small = samplers.create("gibbs", cg, 10, seed=8)
    large = samplers.create("gibbs", cg, 77, seed=8, block_size=8)
    small.run(theta, 25)
    large.run(theta, 25)
    np.testing.assert_array_equal(large.states[:10], small.states)


def test_state_round_trip_continues_bit_for_bit():
    cg, theta = _big_model()
    straight = samplers.create("gibbs", cg, 40, seed=2, refresh_every=7)
    straight.run(theta, 30)
    first = samplers.create("gibbs", cg, 40, seed=2, refresh_every=7)
    first.run(theta, 13)
    resumed = samplers.create("gibbs", cg, 40, seed=123, refresh_every=7)
    resumed.set_state(first.get_state())
    resumed.run(theta, 17)
    np.testing.assert_array_equal(resumed.states, straight.states)
    np.testing.assert_array_equal(resumed.stats().mean, straight.stats().mean)


def test_running_sums_stay_exact_over_ten_thousand_sweeps():
    cg, theta = _big_model()
    sampler = samplers.create("gibbs", cg, 8, seed=5, refresh_every=10**9)
    sampler.run(theta, 10_000)
    exact = cg.feature_sums(sampler.states) / 8
    scale = np.maximum(np.abs(exact), 1.0)
    assert np.abs(sampler.stats().mean - exact).max() / scale.max() < 1e-9
    assert sampler.run(theta, 1).n_changes > 0


@pytest.mark.parametrize("average_sweeps", [False, True])
def test_recomputed_sums_give_the_same_chains_and_exact_statistics(average_sweeps):
    """sums="recompute" leaves the sums alone during sweeps and re-derives them from the states:
    the chains are the same bits, and the statistics agree with the running sums to 1e-12."""
    cg, theta = _big_model()
    runs = {}
    for mode in ("incremental", "recompute"):
        sampler = samplers.create("gibbs", cg, 40, seed=7, block_size=16, sums=mode, average_sweeps=average_sweeps)
        sampler.run(theta, 3)
        sampler.run(theta, 4)
        runs[mode] = sampler
    np.testing.assert_array_equal(runs["recompute"].states, runs["incremental"].states)
    exact = cg.feature_sums(runs["recompute"].states)
    np.testing.assert_allclose(runs["recompute"].get_state()["block_sums"].sum(axis=0), exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs["recompute"].stats().mean, runs["incremental"].stats().mean, rtol=0, atol=1e-12)


def test_sums_mode_is_chosen_by_size_and_checked():
    small, _ = _big_model()
    assert samplers.create("gibbs", small, 4, seed=0).sums == "incremental"
    g = fg.FactorGraph()
    g.add_variables(40, n_states=21)
    g.add_features(fg.features.Potential(np.stack(np.triu_indices(40, k=1), axis=1)))
    assert g.n_features * 8 > _chains.RECOMPUTE_ABOVE_BYTES
    assert samplers.create("gibbs", g.compile(), 4, seed=0).sums == "recompute"
    with pytest.raises(fg.ModelSpecError, match="sums"):
        samplers.create("gibbs", small, 4, seed=0, sums="lazy")


def test_same_seed_same_chains_other_seed_other_chains():
    cg, theta = _big_model()
    a, b, c = (samplers.create("gibbs", cg, 16, seed=s) for s in (1, 1, 2))
    for s in (a, b, c):
        s.run(theta, 5)
    assert np.array_equal(a.states, b.states) and not np.array_equal(a.states, c.states)


def test_sweep_averaged_means_match_the_recorded_states():
    assert_sweep_average_matches_states("gibbs", *_big_model())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_chains": 0}, "n_chains"),
        ({"seed": -1}, "seed"),
        ({"n_threads": 0}, "n_threads"),
        ({"block_size": 0}, "block_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    cg, _ = _big_model()
    args = {"n_chains": 4, **kwargs}
    with pytest.raises(fg.ModelSpecError, match=match):
        samplers.create("gibbs", cg, **args)


def test_registry_lists_and_refuses():
    """Built-ins are listed; the test-only reference sampler loads by name through its entry
    point but is not offered to users."""
    assert {"gibbs", "mh", "block-gibbs", "swendsen-wang"} <= set(samplers.available())
    assert "loopback" not in samplers.available()
    assert samplers.get("loopback").__name__ == "LoopbackGibbs"
    with pytest.raises(samplers.PluginError, match="no-such"):
        samplers.create("no-such", None, 1)


def test_set_state_refuses_damaged_or_foreign_states():
    cg, theta = _big_model()
    sampler = samplers.create("gibbs", cg, 8, seed=1)
    sampler.run(theta, 3)
    state = sampler.get_state()
    edited = dict(state, states=np.zeros_like(state["states"]))
    with pytest.raises(fg.DataError, match="do not match"):
        sampler.set_state(edited)
    with pytest.raises(fg.DataError, match="keys"):
        sampler.set_state({"states": state["states"]})
    with pytest.raises(fg.DataError, match="loopback"):
        sampler.set_state(dict(state, sampler="loopback"))


def test_a_huge_block_size_is_one_block():
    cg, theta = _big_model()
    huge = samplers.create("gibbs", cg, 5, seed=2, block_size=10**12)
    small = samplers.create("gibbs", cg, 5, seed=2, block_size=5)
    huge.run(theta, 3)
    small.run(theta, 3)
    np.testing.assert_array_equal(huge.get_state()["block_sums"], small.get_state()["block_sums"])


def test_sweep_averaging_records_the_batch_means_it_averages():
    assert_batch_means_of_sweep_average("gibbs", *_big_model())


def _indexed_features(cg):
    """The θ indices of the features of indexed (one-hot) factors."""
    owned = np.zeros(cg.n_features, bool)
    widths = _core.owned_widths(cg._view)
    for f in np.flatnonzero(cg.factor_form == 1):
        owned[cg.factor_theta[f] : cg.factor_theta[f] + widths[f]] = True
    return owned


def _potts_model():
    """A pure Potts model (every factor indexed): the counted averages need one row."""
    g = fg.FactorGraph()
    g.add_variables(9, n_states=3)
    g.add_features(fg.features.Potential(np.arange(9)))
    g.add_features(fg.features.Potential(np.stack(np.triu_indices(9, k=1), axis=1)))
    return g.compile(), np.random.default_rng(5).normal(0, 0.4, g.n_features)


@pytest.mark.parametrize("model", ["mixed", "potts"])
@pytest.mark.parametrize("sums", ["incremental", "recompute"])
def test_sweep_averages_counted_from_recorded_states_equal_the_per_sweep_rows(model, sums, monkeypatch):
    """Averaging without per-sweep batch means records the sweeps' states and counts them
    factor by factor: indexed factors' averages are the same bits as the rows summed sweep by
    sweep, scaled factors' agree to rounding; the result is the same bits for 1 and 2 threads,
    however the sweeps are batched, and however the chains are split into shards."""
    cg, theta = _big_model() if model == "mixed" else _potts_model()
    indexed = _indexed_features(cg)
    assert indexed.any() and (model == "potts") == indexed.all()
    options = dict(block_size=2, sums=sums, average_sweeps=True)

    def averaged(threads, n_chains=40, **more):
        sampler = samplers.create("gibbs", cg, n_chains, seed=11, n_threads=threads, **options, **more)
        sampler.run(theta, 9)
        return sampler

    by_rows = averaged(1)
    assert by_rows.stats().batch_means is not None  # the per-sweep rows: the reference path
    monkeypatch.setattr(_chains, "BATCH_BYTES", 0)  # no batch means: the counted path
    assert sums == "recompute" or by_rows._count_averages  # 2-chain blocks: counting pays
    counted = [averaged(threads) for threads in (1, 2)]
    monkeypatch.setattr(_chains, "RECORD_BYTES", 3 * cg.n_variables * 40 * 4)  # batches of 3 sweeps
    counted.append(averaged(2))
    rows = counted[0].block_stats()["accumulated"]
    assert rows.shape == ((1, cg.n_features) if model == "potts" else (20, cg.n_features))
    for run in counted:
        np.testing.assert_array_equal(run.states, by_rows.states)
        assert run.stats().batch_means is None and run.stats().n_averaged == 9
        np.testing.assert_array_equal(run.stats().mean[indexed], by_rows.stats().mean[indexed])
        np.testing.assert_allclose(run.stats().mean, by_rows.stats().mean, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(run.get_state()["block_sums"], by_rows.get_state()["block_sums"])
        np.testing.assert_array_equal(run.block_stats()["accumulated"], rows)
    # two shards of whole blocks, added in block order as ShardedChains adds them
    shards = [averaged(1, n_chains=24), averaged(1, n_chains=16, first_chain=24)]
    joined = np.concatenate([shard.block_stats()["accumulated"] for shard in shards]).sum(axis=0)
    np.testing.assert_array_equal(joined, rows.sum(axis=0))


@pytest.mark.parametrize("threads", [1, 2])
def test_untracked_sums_of_indexed_factors_are_counted_and_their_rows_derived_when_read(threads):
    """With untracked sums and indexed factors alone, a run counts the chains' total in one row
    and leaves the per-block rows until something reads them: the means are the same bits as
    the rows' total, and the rows (read through get_state or block_stats, derived into the
    copy) are those of a tracked run; a state put back is not stale, and the next run goes on to the same bits."""
    cg, theta = _potts_model()

    def sampler(sums):
        return samplers.create("gibbs", cg, 37, seed=3, block_size=4, sums=sums, n_threads=threads)

    lazy, tracked = sampler("recompute"), sampler("incremental")
    for run in (lazy, tracked):
        run.run(theta, 7)
    assert lazy._lazy_rows and lazy._rows_stale and not tracked._lazy_rows
    mean = lazy.stats().mean
    assert lazy._rows_stale  # the mean was counted, the rows still wait
    np.testing.assert_array_equal(mean, tracked.stats().mean)
    rows = lazy.block_stats()["block_sums"]
    assert lazy._rows_stale  # a reader's copy is derived straight from the states
    np.testing.assert_array_equal(rows, tracked.get_state()["block_sums"])
    np.testing.assert_array_equal(lazy.stats().mean, mean)  # now from the rows: the same bits
    lazy.run(theta, 5)
    state = lazy.get_state()
    again = sampler("recompute")
    again.set_state(state)
    lazy.run(theta, 3)
    again.run(theta, 3)
    np.testing.assert_array_equal(again.stats().mean, lazy.stats().mean)
    np.testing.assert_array_equal(again.get_state()["block_sums"], lazy.get_state()["block_sums"])


def test_threads_run_only_where_the_work_between_barriers_pays(monkeypatch):
    """n_threads is the most threads a run uses: a small model's sweeps (the README's 9 spins)
    run on one thread, whose share of the work between two barriers would be too small; the
    200-site Potts model uses both. Either way the chains are the same bits."""
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 2**17)
    assert _chains.paying_threads(2, 500, 64, 90.0, 2) == 1  # 9 spins: 45,000 entries a run
    assert _chains.paying_threads(2, 64, 64, 200 * 199 * 21, 200) == 2  # Potts: 279,000 a colour
    assert _chains.paying_threads(2, 64, 64, 64 * 8, 2) == 1  # 64 spins of a 4-regular graph, a colour
    assert _chains.paying_threads(2, 1000, 64, 64 * 8, 2) == 2  # 16 blocks: 512,000 entries a run
    assert _chains.paying_threads(2, 100, 64, 64 * 8, 2) == 1  # 2 blocks: 25,600 a colour
    assert _chains.paying_threads(4, 1000, 64, 4096 * 8, 2) == 4  # blocks apart, 8M entries a run
    if not have_openmp():
        return
    g, theta = MODELS["five_state_chain"]()
    small = g.compile()
    runs = []
    for threads, limit in ((1, 2**17), (2, 2**17), (2, 0)):
        monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", limit)
        sampler = samplers.create("gibbs", small, 64, seed=4, n_threads=threads)
        runs.append((sampler._threads(None), sampler))
        sampler.run(theta, 30)
    assert [used for used, _ in runs] == [1, 1, _chains.effective_n_threads(2)]
    for _, sampler in runs[1:]:
        np.testing.assert_array_equal(sampler.states, runs[0][1].states)


def _choices(choice, cost, runs, most=2):
    """The thread counts ``choice`` picks over ``runs`` runs of one unit of work each, where a
    run on t threads takes ``cost(run, t)`` seconds."""
    picked = []
    for run in range(runs):
        threads = choice.choose(most)
        choice.record(threads, 1.0, cost(run, threads))
        picked.append(threads)
    return np.array(picked)


def test_thread_choice_keeps_the_cheaper_count_and_tries_the_other_ever_less_often(monkeypatch):
    """Two threads twice as fast: after the first few runs, TRY_RUNS runs on one thread now and
    then, each try further from the last (doubling to PROBE_MOST)."""
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 2**17)
    choice = _chains.ThreadChoice()
    picked = _choices(choice, lambda run, t: 1.0 / t, 3000)
    tries = np.flatnonzero(np.diff(np.concatenate([[2], picked])) == -1)  # where a try of one thread starts
    assert picked[: choice.PROBE_FIRST].tolist() == [2] * choice.PROBE_FIRST
    assert all((picked[t : t + choice.TRY_RUNS] == 1).all() for t in tries)
    assert (picked == 1).sum() == choice.TRY_RUNS * len(tries)
    gaps = np.diff(tries)
    assert (np.diff(gaps) >= 0).all() and gaps[-1] == choice.PROBE_MOST + choice.TRY_RUNS
    assert (picked[choice.PROBE_MOST :] == 1).mean() < 2 * choice.TRY_RUNS / choice.PROBE_MOST


def test_thread_choice_follows_a_change_of_load(monkeypatch):
    """One thread faster (another process holds a core) from run 600 to run 1800: within
    PROBE_MOST + TRY_RUNS runs of each change the runs use the cheaper count, and the runs
    on a shared core that are fast and slow by turns do not mislead it."""
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 2**17)

    def cost(run, threads):
        if threads == 1:
            return 1.0
        busy = 600 <= run < 1800
        return (0.6 if run % 2 else 3.0) if busy else 0.55  # busy: fast and slow by turns, 1.8 on average

    picked = _choices(_chains.ThreadChoice(), cost, 3000)
    late = _chains.ThreadChoice.PROBE_MOST + _chains.ThreadChoice.TRY_RUNS
    assert (picked[600 + late : 1800] == 2).mean() < 0.05
    assert (picked[1800 + late :] == 1).mean() < 0.05


def test_thread_choice_gives_every_requested_thread_where_the_threshold_is_zero(monkeypatch):
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 0)
    assert set(_choices(_chains.ThreadChoice(), lambda run, t: float(t), 100)) == {2}
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 2**17)
    assert set(_choices(_chains.ThreadChoice(), lambda run, t: 1.0, 100, most=1)) == {1}


def test_runs_on_the_thread_count_the_choice_measures_give_the_same_bits(monkeypatch):
    """A sampler whose runs are timed and whose thread count changes from run to run (one
    thread made to look cheaper for a while) gives the chains of a one-thread sampler."""
    if not have_openmp():
        return
    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 1)
    g, theta = MODELS["five_state_chain"]()
    compiled = g.compile()
    one = samplers.create("gibbs", compiled, 200, seed=5, n_threads=1)
    varying = samplers.create("gibbs", compiled, 200, seed=5, n_threads=2)
    used = []
    record = varying._thread_choice.record

    def slow_on_two_threads(threads, work, seconds):
        used.append(threads)
        record(threads, work, seconds * (50.0 if threads > 1 and 10 <= len(used) < 40 else 1.0))

    varying._thread_choice.record = slow_on_two_threads
    for _ in range(60):
        one.run(theta, 2)
        varying.run(theta, 2)
    assert {1, _chains.effective_n_threads(2)} <= set(used)
    np.testing.assert_array_equal(varying.states, one.states)
    np.testing.assert_array_equal(varying.stats().mean, one.stats().mean)


@pytest.mark.parametrize(
    ("text", "expected", "warned"), [("0", 0, False), ("4096", 4096, False), ("-1", 2**17, True), ("many", 2**17, True)]
)
def test_the_thread_work_threshold_is_read_from_the_environment(monkeypatch, text, expected, warned):
    monkeypatch.setenv("FACTORGRAPH_MIN_THREAD_WORK", text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _chains._min_work_from_environment(2**17) == expected
    assert bool(caught) == warned
    if warned:
        assert "FACTORGRAPH_MIN_THREAD_WORK" in str(caught[0].message) and "using 131072" in str(caught[0].message)
