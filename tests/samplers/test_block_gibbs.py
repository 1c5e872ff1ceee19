"""The block Gibbs sampler: its blocks, its exact kernel, its samples against fg.exact, and its
reproducibility."""

import pickle

import numpy as np
import pytest
from scipy.stats import chisquare

import factorgraph as fg
import samplers
from factorgraph._openmp import have_openmp
from samplers.block_gibbs import BlockSpecError, automatic_blocks

from . import test_exact_distribution
from ._checks import assert_within_mcse, exact_values, state_index, time_averages
from ._models import MODELS


def _user_blocks(n):
    """Blocks for a model of n variables: the first with the last (listed out of order), then 1 and 2."""
    return [[n - 1, 0], [1, 2]] if n >= 4 else [[2, 0]]


def _options(kind, n):
    return {
        "user": {"blocks": _user_blocks(n)},
        "small": {"max_joint_states": 9},
        "auto": {},
        "singletons": {"max_joint_states": 1},
    }[kind]


OPTION_KINDS = ["user", "small", "auto", "singletons"]


def ladder(length=5, coupling=3.0):
    """A ferromagnetic 2 x length ladder of spins with a weak field: two modes far apart."""
    g = fg.FactorGraph()
    s = g.add_variables(2 * length, values=[-1, 1]).reshape(2, length)
    rungs = np.stack([s[0], s[1]], axis=1)
    rails = np.concatenate([np.stack([s[r, :-1], s[r, 1:]], axis=1) for r in range(2)])
    g.add_features(fg.features.Product(np.concatenate([rungs, rails])))
    g.add_features(fg.features.Product(s.ravel()))
    n_pairs = len(rungs) + len(rails)
    return g, np.concatenate([np.full(n_pairs, coupling), np.full(2 * length, 0.05)])


def potts_grid(side=6, q=3):
    """A side x side grid of q-state variables with random indexed pair maps and fields."""
    g = fg.FactorGraph()
    v = g.add_variables(side * side, n_states=q).reshape(side, side)
    pairs = np.concatenate(
        [np.stack([v[:, :-1].ravel(), v[:, 1:].ravel()], 1), np.stack([v[:-1].ravel(), v[1:].ravel()], 1)]
    )
    g.add_features(fg.features.Potential(v.ravel(), reference=0))
    g.add_features(fg.features.Potential(pairs))
    g.add_features(fg.features.Product(pairs[::3]))
    return g.compile(), np.random.default_rng(5).normal(0, 0.7, g.n_features)


# -- blocks ------------------------------------------------------------------------------------


def test_block_gibbs_takes_part_in_the_exact_distribution_suite():
    assert "block-gibbs" in samplers.available()
    assert "block-gibbs" in test_exact_distribution.SAMPLERS


@pytest.mark.parametrize("limit", [1, 2, 4, 9, 27, 1024])
def test_automatic_blocks_cover_every_variable_within_the_limit_and_are_properly_coloured(limit):
    cg, _ = potts_grid()
    sampler = samplers.create("block-gibbs", cg, 1, seed=0, max_joint_states=limit)
    flat = np.concatenate(sampler.blocks)
    assert sorted(flat.tolist()) == list(range(cg.n_variables))
    joint = [int(np.prod(cg.n_states[b])) for b in sampler.blocks]
    assert max(joint) <= max(limit, 3)
    assert np.all(np.diff(sampler.block_colors) >= 0)
    # blocks of one colour share no factor
    block_of = np.empty(cg.n_variables, dtype=np.int64)
    for i, b in enumerate(sampler.blocks):
        block_of[b] = i
    for f in range(cg.n_factors):
        touched = np.unique(block_of[cg.factor_vars[cg.factor_ptr[f] : cg.factor_ptr[f + 1]]])
        assert len(np.unique(sampler.block_colors[touched])) == len(touched)


def test_automatic_blocks_join_variables_that_share_factors_first():
    """Pair (0, 1) shares two factors, so it merges before (1, 2) would fill the limit."""
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1, 1])
    g.add_features(fg.features.Product([(1, 2), (0, 1), (2, 3)]))
    g.add_features(fg.features.Table([(0, 1)], table=[[0.0, 1.0], [1.0, 0.0]]))
    assert automatic_blocks(g.compile(), max_joint_states=4).tolist() == [0, 0, 2, 2]


def test_user_blocks_are_kept_and_unlisted_variables_are_single():
    g, _ = MODELS["five_state_chain"]()
    sampler = samplers.create("block-gibbs", g.compile(), 1, seed=0, blocks=[(3, 0)])
    assert sorted(b.tolist() for b in sampler.blocks) == [[0, 3], [1], [2]]


# -- the exact kernel --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OPTION_KINDS)
@pytest.mark.parametrize("model", MODELS)
def test_one_sweep_leaves_the_exact_distribution_invariant(model, kind):
    g, theta = MODELS[model]()
    cg = g.compile()
    sampler = samplers.create("block-gibbs", cg, 1, seed=0, **_options(kind, cg.n_variables))
    matrix = sampler.transition_matrix(theta)
    pi = fg.exact.probabilities(cg, theta).ravel()
    assert matrix.min() >= 0.0
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.abs(pi @ matrix - pi).max() < 1e-12


def test_a_block_of_the_whole_model_draws_from_the_exact_distribution_in_one_sweep():
    g, theta = MODELS["frustrated_ising"]()
    cg = g.compile()
    matrix = samplers.create("block-gibbs", cg, 1, seed=0, blocks=[range(4)]).transition_matrix(theta)
    pi = fg.exact.probabilities(cg, theta).ravel()
    np.testing.assert_allclose(matrix, np.tile(pi, (len(pi), 1)), rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", ["user", "small"])
def test_one_sweep_from_one_state_follows_the_reported_row(kind, seed):
    """20,000 chains at the least probable state of the mixed model make one sweep; the counts
    of the next states pass a chi-square test against the transition matrix's row."""
    g, theta = MODELS["mixed_kinds"]()
    cg = g.compile()
    n_chains = 20_000
    sampler = samplers.create("block-gibbs", cg, n_chains, seed=seed, **_options(kind, cg.n_variables))
    pi = fg.exact.probabilities(cg, theta).ravel()
    start = fg.exact.enumerate_states(cg)[int(np.argmin(pi))]
    states = np.tile(start, (n_chains, 1)).astype(np.int32)
    sums = np.array(
        [cg.feature_sums(states[i : i + sampler.block_size]) for i in range(0, n_chains, sampler.block_size)]
    )
    sampler.set_state(dict(sampler.get_state(), states=states, block_sums=sums))
    sampler.run(theta, 1)
    row = sampler.transition_matrix(theta)[int(np.argmin(pi))]
    counts = np.bincount(state_index(cg, sampler.states), minlength=len(pi))
    assert counts[row == 0].sum() == 0, f"reached a state the kernel cannot reach (seed {seed})"
    rare = n_chains * row < 5
    expected = np.append(n_chains * row[~rare], n_chains * row[rare].sum())
    observed = np.append(counts[~rare], counts[rare].sum())
    keep = expected > 0
    assert chisquare(observed[keep], expected[keep]).pvalue > 1e-6, f"seed {seed}"


# -- samples against fg.exact ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["user", "small"])
@pytest.mark.parametrize("model", MODELS)
def test_feature_means_and_pair_marginals_within_four_mcse(model, kind, seed):
    g, theta = MODELS[model]()
    cg = g.compile()
    sampler = samplers.create("block-gibbs", cg, 256, seed=seed, **_options(kind, cg.n_variables))
    pairs = [(0, 1), (cg.n_variables - 2, cg.n_variables - 1)]
    per_chain = time_averages(sampler, theta, pairs, 100, 400)
    exact, variance = exact_values(cg, theta, pairs)
    assert_within_mcse(per_chain, exact, variance, label=f"(block-gibbs {kind}, seed {seed})")


def _lag_one_correlation(name, seed, **options):
    """Lag-1 autocorrelation of the magnetisation of the strongly coupled ladder, pooled over
    4,000 chains and 20 sweeps after burn-in, centred on the exact mean."""
    g, theta = ladder()
    cg = g.compile()
    sampler = samplers.create(name, cg, 4000, seed=seed, **options)
    sampler.run(theta, 50)
    values = cg.values[cg.value_offset[0] + np.arange(2)]
    series = []
    for _ in range(21):
        sampler.run(theta, 1)
        series.append(values[sampler.states].sum(axis=1))
    m = np.array(series) - np.mean(series)
    return float((m[1:] * m[:-1]).mean() / (m * m).mean())


def test_whole_model_blocks_draw_independent_samples_each_sweep(seed):
    """On a ladder with couplings of 3 Gibbs barely moves between the two modes (lag-1
    autocorrelation near 1), while one block of all ten spins (1024 joint states, the default
    limit) draws an independent exact sample every sweep: correlation 0 within 5 standard
    errors (about 1 / sqrt(80,000))."""
    g, _ = ladder()
    block = samplers.create("block-gibbs", g.compile(), 1, seed=0)
    assert [b.tolist() for b in block.blocks] == [list(range(10))]
    assert abs(_lag_one_correlation("block-gibbs", seed)) < 5 / np.sqrt(80_000)
    assert _lag_one_correlation("gibbs", seed) > 0.9


# -- reproducibility and running sums ----------------------------------------------------------


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
@pytest.mark.parametrize("block_size", [8, 48])  # 12 blocks of chains: whole blocks per thread; 2: colours shared
def test_states_and_sums_are_identical_for_one_and_two_threads(block_size):
    cg, theta = potts_grid()
    runs = []
    for threads in (1, 2):
        sampler = samplers.create(
            "block-gibbs", cg, 96, seed=3, n_threads=threads, block_size=block_size, max_joint_states=27
        )
        info = sampler.run(theta, 30)
        runs.append((sampler.states, sampler.get_state()["block_sums"], info.n_changes))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2] > 0


def test_chains_do_not_depend_on_the_chain_count_or_the_block_of_chains():
    cg, theta = potts_grid()
    big = samplers.create("block-gibbs", cg, 40, seed=9, block_size=7, max_joint_states=9)
    small = samplers.create("block-gibbs", cg, 13, seed=9, block_size=13, max_joint_states=9)
    shifted = samplers.create("block-gibbs", cg, 20, seed=9, first_chain=20, max_joint_states=9)
    for sampler in (big, small, shifted):
        sampler.run(theta, 10)
    np.testing.assert_array_equal(big.states[:13], small.states)
    np.testing.assert_array_equal(big.states[20:], shifted.states)


@pytest.mark.parametrize("model", MODELS)
def test_running_sums_match_a_recomputation_after_many_sweeps(model):
    g, theta = MODELS[model]()
    cg = g.compile()
    sampler = samplers.create(
        "block-gibbs", cg, 50, seed=4, block_size=16, refresh_every=10**6, blocks=_user_blocks(cg.n_variables)
    )
    sampler.run(theta, 2000)
    recomputed = cg.feature_sums(sampler.states)
    running = sampler.get_state()["block_sums"].sum(axis=0)
    np.testing.assert_allclose(running, recomputed, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(recomputed).max()))


def test_running_sums_of_a_large_model_match_a_recomputation():
    cg, theta = potts_grid(side=10)
    sampler = samplers.create("block-gibbs", cg, 64, seed=2, refresh_every=10**6, max_joint_states=81)
    sampler.run(theta, 300)
    recomputed = cg.feature_sums(sampler.states)
    np.testing.assert_allclose(
        sampler.get_state()["block_sums"].sum(axis=0), recomputed, rtol=1e-9, atol=1e-9 * np.abs(recomputed).max()
    )


def test_get_state_and_set_state_continue_bit_for_bit():
    cg, theta = potts_grid()
    straight = samplers.create("block-gibbs", cg, 24, seed=6, block_size=8, refresh_every=7, max_joint_states=9)
    straight.run(theta, 25)
    halfway = samplers.create("block-gibbs", cg, 24, seed=6, block_size=8, refresh_every=7, max_joint_states=9)
    halfway.run(theta, 12)
    resumed = samplers.create("block-gibbs", cg, 24, seed=99, block_size=8, refresh_every=7, max_joint_states=9)
    resumed.set_state(halfway.get_state())
    resumed.run(theta, 13)
    np.testing.assert_array_equal(resumed.states, straight.states)
    np.testing.assert_array_equal(resumed.get_state()["block_sums"], straight.get_state()["block_sums"])
    assert resumed.sweep == straight.sweep == 25


def test_a_pickled_sampler_continues_bit_for_bit():
    cg, theta = potts_grid()
    sampler = samplers.create("block-gibbs", cg, 16, seed=8, max_joint_states=9)
    sampler.run(theta, 5)
    copy = pickle.loads(pickle.dumps(sampler))
    sampler.run(theta, 5)
    copy.run(theta, 5)
    np.testing.assert_array_equal(copy.states, sampler.states)
    np.testing.assert_array_equal(copy.get_state()["block_sums"], sampler.get_state()["block_sums"])


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"blocks": [[0, 1], [1, 2]]}, ["Variable 1", "blocks[0] and blocks[1]", "one block only"]),
        ({"blocks": [[2, 2]]}, ["Variable 2", "blocks[0] twice"]),
        ({"blocks": [[0, 7]]}, ["blocks[0]", "Variable 7 does not exist", "4 variables"]),
        ({"blocks": [[-1]]}, ["blocks[0]", "Variable -1 does not exist"]),
        ({"blocks": [[]]}, ["blocks[0]", "non-empty"]),
        ({"blocks": [[0.5, 1]]}, ["blocks[0]", "whole numbers"]),
        ({"blocks": "0123"}, ["'blocks' argument of BlockGibbs"]),
        (
            {"blocks": [[0, 1, 2, 3]], "max_joint_states": 100},
            ["blocks[0] has 625 joint states", "max_joint_states=100", "Split the block"],
        ),
        ({"max_joint_states": 0}, ["'max_joint_states'"]),
        ({"max_joint_states": 2**30}, ["'max_joint_states'"]),
    ],
)
def test_invalid_blocks_are_refused_with_a_clear_message(options, words):
    g, _ = MODELS["five_state_chain"]()
    with pytest.raises(BlockSpecError) as raised:
        samplers.create("block-gibbs", g.compile(), 1, seed=0, **options)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, fg.FactorGraphError)
    for word in words:
        assert word in str(raised.value)


def test_a_single_variable_may_exceed_the_limit():
    g = fg.FactorGraph()
    g.add_variables(2, n_states=40)
    g.add_features(fg.features.Potential([(0, 1)]))
    sampler = samplers.create("block-gibbs", g.compile(), 1, seed=0, blocks=[[0]], max_joint_states=10)
    assert [b.tolist() for b in sampler.blocks] == [[0], [1]]
