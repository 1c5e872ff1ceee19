"""The Swendsen-Wang sampler: bond strengths, its generator, its samples against fg.exact and
Kaufman's exact Ising energy, and reproducibility (threads, running sums, checkpoints).

The exact one-sweep invariance check and the one-sweep row check run on every model of
``_models`` through test_exact_distribution.py, which covers every registered sampler.
"""

import numpy as np
import pytest

import factorgraph as fg
import samplers
from factorgraph import features as F
from factorgraph._openmp import have_openmp
from samplers import _random, _sw

from ._checks import assert_within_mcse, exact_values, time_averages
from .kaufman import energy_per_site
from .test_ising_kaufman import torus


def ising_with_fields_and_antiferromagnets():
    """A 3 x 4 open grid of spins: random-sign couplings (frustrated plaquettes) and fields."""
    g = fg.FactorGraph()
    s = g.add_variables(12, values=[-1, 1]).reshape(3, 4)
    pairs = [(s[i, j], s[i, j + 1]) for i in range(3) for j in range(3)]
    pairs += [(s[i, j], s[i + 1, j]) for i in range(2) for j in range(4)]
    g.add_features(F.Product(pairs))
    g.add_features(F.Product(np.arange(12)))
    rng = np.random.default_rng(21)
    return g, np.concatenate([rng.normal(0.2, 0.7, len(pairs)), rng.normal(0, 0.4, 12)])


def potts_grid_with_fields():
    """A 2 x 3 grid of 3-state Potts variables: ferromagnetic diagonals plus random pair tables
    (a Potential in the reference gauge) and fields."""
    g = fg.FactorGraph()
    v = g.add_variables(6, n_states=3).reshape(2, 3)
    pairs = [
        (v[0, 0], v[0, 1]),
        (v[0, 1], v[0, 2]),
        (v[1, 0], v[1, 1]),
        (v[1, 1], v[1, 2]),
        (v[0, 0], v[1, 0]),
        (v[0, 1], v[1, 1]),
        (v[0, 2], v[1, 2]),
    ]
    g.add_features(F.Indicator(pairs, states=[0, 0]))
    g.add_features(F.Table(pairs, table=np.eye(3)))
    g.add_features(F.Potential(pairs, reference=0))
    g.add_features(F.Potential(np.arange(6), reference=0))
    rng = np.random.default_rng(22)
    theta = np.concatenate([rng.normal(0, 0.3, 7), np.full(7, 0.9), rng.normal(0, 0.3, 28), rng.normal(0, 0.5, 12)])
    return g, theta


def _model_sampler(cg, n_chains, seed, **options):
    return samplers.create("swendsen-wang", cg, n_chains, seed=seed, **options)


# -- the pieces ---------------------------------------------------------------------------------


def test_the_scalar_draw_is_the_generators_number_for_the_chain():
    key = np.array([12345, 678], dtype=np.uint32)
    for stream in (4, 5):
        for sweep in (0, 3, 2**33 + 1):
            expected = _random.uniforms(key, 17, 5, 11, sweep, stream)
            got = [_sw._py_uniform_at(key, 17, sweep, stream, c) for c in range(5, 16)]
            np.testing.assert_array_equal(got, expected)


def test_bond_strengths_are_the_ferromagnetic_part_of_each_pair_table():
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1, 1])
    g.add_variables(2, values=[0, 1])
    g.add_variables(2, n_states=3)
    g.add_features(F.Product([(0, 1), (2, 3), (4, 5)]))  # spins, spins, 0/1 variables
    g.add_features(F.Potential([(6, 7)]))
    g.add_features(F.Product([(0, 6)]))  # different numbers of states: no bond
    sampler = _model_sampler(g.compile(), 1, 0)
    np.testing.assert_array_equal(sampler.bond_factors, [0, 1, 2, 3])
    # Potts: J on the diagonal, plus fields u(a) + v(b) in the table, which must not matter
    u, v, potts = np.array([0.3, -1.0, 2.0]), np.array([0.5, 0.1, -0.7]), 0.8
    table = potts * np.eye(3) + u[:, None] + v[None, :]
    theta = np.concatenate([[0.7, -0.4, 1.2], table.ravel(), [0.5]])
    np.testing.assert_allclose(sampler.bond_strengths(theta), [1.4, 0.0, 0.6, potts], rtol=1e-12)
    # an off-diagonal attraction between states 0 and 1 caps J at what keeps K(0, 1) >= 0
    table[0, 1] += 0.3
    table[1, 0] += 0.2
    theta[3:12] = table.ravel()
    np.testing.assert_allclose(sampler.bond_strengths(theta)[3], potts - 0.25, rtol=1e-12)


def test_without_bonds_a_sweep_is_a_gibbs_scan_in_variable_order():
    """With every θ of the pair tables anti-ferromagnetic no bond opens: the move is single-site
    heat-bath, one cluster per variable per chain."""
    g, theta = ising_with_fields_and_antiferromagnets()
    theta = -np.abs(theta)
    cg = g.compile()
    sampler = _model_sampler(cg, 10, 1)
    info = sampler.run(theta, 3)
    assert info.extra["open_bonds"] == 0
    assert info.extra["clusters"] == 3 * 10 * cg.n_variables
    assert info.extra["mean_cluster_size"] == 1.0


# -- samples against exact values ---------------------------------------------------------------


@pytest.mark.parametrize("model", [ising_with_fields_and_antiferromagnets, potts_grid_with_fields])
def test_feature_means_and_marginals_within_four_mcse(model, seed):
    g, theta = model()
    cg = g.compile()
    sampler = _model_sampler(cg, 400, seed)
    pairs = [(0, 1), (cg.n_variables - 2, cg.n_variables - 1)]
    per_chain = time_averages(sampler, theta, pairs, 100, 300)
    exact, variance = exact_values(cg, theta, pairs)
    assert_within_mcse(per_chain, exact, variance, label=f"(seed {seed})")


def _energy_per_site(side, beta, n_chains, burn_in, n_sweeps, seed):
    """Per-chain time averages of −Σ s_i s_j / sites, their mean and MCSE (independent chains)."""
    cg = torus(side, side).compile()
    theta = np.full(cg.n_features, beta)
    unit = np.ones(cg.n_features)
    sampler = _model_sampler(cg, n_chains, seed)
    sampler.run(theta, burn_in)
    per_chain = np.zeros(n_chains)
    for _ in range(n_sweeps):
        sampler.run(theta, 1)
        per_chain -= sampler.graph.energy(sampler.states, unit, n_threads=1)
    per_chain /= n_sweeps * side * side
    return per_chain.mean(), per_chain.std(ddof=1) / np.sqrt(n_chains)


@pytest.mark.parametrize("beta", [0.3, 0.4, 0.44])
def test_energy_per_site_on_a_16x16_torus_matches_kaufman(beta, seed):
    estimate, mcse = _energy_per_site(16, beta, 64, 100, 400, seed)
    exact = energy_per_site(beta, 16, 16)
    assert mcse < 0.004, f"underpowered: MCSE {mcse:.3g} (seed {seed})"
    assert abs(estimate - exact) < 4 * mcse, f"estimate {estimate:.5f} exact {exact:.5f} MCSE {mcse:.2g} (seed {seed})"


@pytest.mark.slow
def test_energy_per_site_on_a_64x64_torus_at_beta_044_matches_kaufman(seed):
    """The issue's check: at β = 0.44, near the critical point, on the 64 x 64 torus."""
    estimate, mcse = _energy_per_site(64, 0.44, 32, 100, 300, seed)
    exact = energy_per_site(0.44, 64, 64)
    assert mcse < 0.003, f"underpowered: MCSE {mcse:.3g} (seed {seed})"
    assert abs(estimate - exact) < 4 * mcse, f"estimate {estimate:.5f} exact {exact:.5f} MCSE {mcse:.2g} (seed {seed})"


# -- reproducibility, running sums, checkpoints -------------------------------------------------


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
@pytest.mark.parametrize("block_size", [5, 64])  # 7 blocks, or one block and an idle thread
def test_states_sums_and_counts_are_identical_for_one_and_two_threads(block_size):
    g, theta = potts_grid_with_fields()
    cg = g.compile()
    runs = []
    for threads in (1, 2):
        sampler = _model_sampler(cg, 33, 3, n_threads=threads, block_size=block_size)
        infos = [sampler.run(theta, 15), sampler.run(theta, 10)]
        runs.append((sampler.get_state(), infos))
    (one, infos_one), (two, infos_two) = runs
    np.testing.assert_array_equal(one["states"], two["states"])
    np.testing.assert_array_equal(one["block_sums"], two["block_sums"])
    assert infos_one == infos_two


def test_the_first_chains_of_a_larger_run_are_a_smaller_run():
    g, theta = ising_with_fields_and_antiferromagnets()
    cg = g.compile()
    small, large = _model_sampler(cg, 7, 4), _model_sampler(cg, 20, 4)
    small.run(theta, 12)
    large.run(theta, 12)
    np.testing.assert_array_equal(large.states[:7], small.states)


def test_running_sums_stay_within_1e9_of_a_recomputation():
    """Float tables (a Function and random θ) over 600 sweeps with no refresh."""
    g, theta = potts_grid_with_fields()
    g.add_features(F.Function([(0, 4), (2, 5)], fn=lambda a, b: np.sin(1.3 * a + 0.7 * b)))
    theta = np.append(theta, [0.4, -0.6])
    cg = g.compile()
    sampler = _model_sampler(cg, 50, 5, refresh_every=10**6)
    sampler.run(theta, 600)
    recomputed = cg.feature_sums(sampler.states)
    total = sampler.get_state()["block_sums"].sum(axis=0)
    assert np.abs(total - recomputed).max() <= 1e-9 * np.abs(recomputed).max()


def test_state_round_trip_continues_bit_for_bit():
    g, theta = potts_grid_with_fields()
    cg = g.compile()
    straight = _model_sampler(cg, 40, 2, refresh_every=7)
    straight.run(theta, 30)
    first = _model_sampler(cg, 40, 2, refresh_every=7)
    first.run(theta, 13)
    resumed = _model_sampler(cg, 40, 123, refresh_every=7)
    resumed.set_state(first.get_state())
    resumed.run(theta, 17)
    np.testing.assert_array_equal(resumed.states, straight.states)
    np.testing.assert_array_equal(resumed.stats().mean, straight.stats().mean)


def test_transition_matrix_refuses_models_with_many_bonds():
    cg = torus(4, 4).compile()
    with pytest.raises(fg.FactorGraphError, match="bonds of strength > 0"):
        _model_sampler(cg, 1, 0).transition_matrix(np.full(cg.n_features, 0.3))
