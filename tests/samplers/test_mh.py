"""The Metropolis-Hastings sampler: its proposals, its exact kernel, and its samples against fg.exact."""

import pickle

import numpy as np
import pytest
from scipy.stats import chisquare

import factorgraph as fg
import samplers
from factorgraph._openmp import have_openmp
from samplers import _mh, _random
from samplers.mh import acceptance_probability

from ._checks import (
    assert_batch_means_of_sweep_average,
    assert_sweep_average_matches_states,
    assert_within_mcse,
    exact_values,
    state_index,
    time_averages,
)
from ._models import MODELS

PROPOSALS = [("uniform", 1), ("random-walk", 1), ("random-walk", 3)]
PROPOSAL_IDS = ["uniform", "walk1", "walk3"]


def unsorted_values():
    """A walk follows the order of the values, not of the state indices: values 2, -1, 0.5, 3, -2."""
    g = fg.FactorGraph()
    g.add_variables(3, values=[2.0, -1.0, 0.5, 3.0, -2.0])
    g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    g.add_features(fg.features.Polynomial(np.arange(3), power=2))
    return g, np.array([0.2, -0.2, -0.05, -0.05, -0.1])


ALL_MODELS = {**MODELS, "unsorted_values": unsorted_values}


def _walk_model():
    """60 variables: 7-state binned, 3-state Potts and binary, with pairwise and triple factors."""
    g = fg.FactorGraph()
    g.add_variables(20, edges=np.linspace(0.0, 1.0, 8))
    g.add_variables(20, n_states=3)
    g.add_variables(20, values=[-1, 1])
    rng = np.random.default_rng(4)
    g.add_features(fg.features.Product(np.stack([np.arange(20), (np.arange(20) + 1) % 20], 1)))
    g.add_features(fg.features.Potential(np.stack([20 + np.arange(20), 20 + (np.arange(20) + 1) % 20], 1)))
    triples = np.array([rng.choice(60, 3, replace=False) for _ in range(40)])
    g.add_features(fg.features.Function(triples, fn=lambda a, b, c: np.cos(0.3 + a * b - c)))
    g.add_features(fg.features.Polynomial(np.arange(20), power=2))
    return g.compile(), rng.normal(0, 0.6, g.n_features)


# -- proposals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [3, 4, 5, 8])
@pytest.mark.parametrize("step", [1, 2, 3, 7, 20])
def test_reflected_walk_is_symmetric_and_reaches_exactly_the_folded_offsets(k, step):
    g = fg.FactorGraph()
    g.add_variables(1, n_states=k)
    sampler = samplers.create("mh", g.compile(), 1, seed=0, proposal="random-walk", step=step)
    q = sampler.proposal_probabilities(0)
    np.testing.assert_allclose(q, q.T, atol=1e-15)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-15)
    # brute force: every offset d in ±1..w, folded by mirrors half a state beyond the ends
    expected = np.zeros((k, k))
    for r in range(k):
        for d in [*range(-step, 0), *range(1, step + 1)]:
            y = r + d
            while y < 0 or y >= k:
                y = -1 - y if y < 0 else 2 * k - 1 - y
            expected[r, y] += 1 / (2 * step)
    np.testing.assert_allclose(q, expected, atol=1e-15)


@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
def test_the_kernels_map_from_uniforms_gives_exactly_the_proposal_probabilities(proposal, step):
    """Uniforms at the midpoints of a grid fine enough for every cut: the kernel's proposals
    then fall into each state in exactly the documented proportions."""
    g, _ = unsorted_values()
    cg = g.compile()
    sampler = samplers.create("mh", cg, 1, seed=0, proposal=proposal, step=step)
    k = int(cg.n_states[1])
    grid = (np.arange(2 * step * (k - 1) * 3) + 0.5) / (2 * step * (k - 1) * 3)
    for old in range(k):
        counts = np.bincount([_mh._py_propose(sampler._moves, 1, k, old, u) for u in grid], minlength=k)
        np.testing.assert_allclose(counts / len(grid), sampler.proposal_probabilities(1)[old], atol=1e-15)


def test_a_mirror_on_the_end_state_would_not_be_symmetric():
    """Why the mirrors sit half a state beyond the ends (see samplers/_mh.pyx, propose)."""
    k = 3  # y < 0 -> -y: from 0 both offsets reach 1; from 1 only d = -1 reaches 0
    on_the_end = np.zeros((k, k))
    for r in range(k):
        for d in (-1, 1):
            y = abs(r + d)
            on_the_end[r, y if y < k else 2 * (k - 1) - y] += 0.5
    assert on_the_end[0, 1] != on_the_end[1, 0]
    g = fg.FactorGraph()
    g.add_variables(1, n_states=k)
    q = samplers.create("mh", g.compile(), 1, seed=0, proposal="random-walk").proposal_probabilities(0)
    np.testing.assert_array_equal(q, [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])


@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
@pytest.mark.parametrize("start", [0, 1, 3, 4])
def test_the_kernel_proposes_with_the_documented_probabilities(proposal, step, start):
    """At θ = 0 every proposal is accepted, so one sweep shows the proposal distribution itself;
    the values are unsorted, so a walk must follow the value order, not the state index."""
    g = fg.FactorGraph()
    g.add_variables(1, values=[2.0, -1.0, 0.5, 3.0, -2.0])
    cg = g.compile()
    n_chains = 20_000
    sampler = samplers.create("mh", cg, n_chains, seed=17 + start, proposal=proposal, step=step)
    state = sampler.get_state()
    states = np.full((n_chains, 1), start, dtype=np.int32)
    sampler.set_state(dict(state, states=states, block_sums=np.zeros_like(state["block_sums"])))
    info = sampler.run(np.zeros(0), 1)
    assert info.extra["acceptance"].tolist() == [1.0]
    q = sampler.proposal_probabilities(0)[start]
    counts = np.bincount(sampler.states[:, 0], minlength=5)
    assert counts[q == 0].sum() == 0
    assert chisquare(counts[q > 0], q[q > 0] * n_chains).pvalue > 1e-6
    if proposal == "random-walk":  # value order: state 4 (-2) < 1 (-1) < 2 (0.5) < 0 (2) < 3 (3)
        neighbours = {4: {4, 1}, 1: {4, 2}, 2: {1, 0}, 0: {2, 3}, 3: {0, 3}}
        if step == 1:
            assert set(np.flatnonzero(q)) == neighbours[start]


def test_two_state_variables_always_propose_the_other_state():
    g = fg.FactorGraph()
    g.add_variables(1, values=[-1, 1])
    sampler = samplers.create("mh", g.compile(), 1, seed=0, proposal="random-walk", step=4)
    np.testing.assert_array_equal(sampler.proposal_probabilities(0), [[0.0, 1.0], [1.0, 0.0]])


# -- the exact kernel ----------------------------------------------------------------------------


@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_one_sweep_leaves_the_exact_distribution_invariant(model, proposal, step):
    """Recipe (b): the exact sweep kernel T has pi T = pi to 1e-12 and is irreducible."""
    g, theta = ALL_MODELS[model]()
    cg = g.compile()
    t = samplers.create("mh", cg, 1, seed=0, proposal=proposal, step=step).transition_matrix(theta)
    pi = fg.exact.probabilities(cg, theta).ravel()
    assert t.min() >= 0.0
    np.testing.assert_allclose(t.sum(axis=1), 1.0, atol=1e-12)
    assert np.abs(pi @ t - pi).max() < 1e-12
    reach = np.linalg.matrix_power((t + np.eye(len(pi))) / 2, len(pi))
    assert (reach > 0).all()


def test_a_single_site_kernel_satisfies_detailed_balance():
    """A one-variable model's sweep is one MH update, which is reversible; only whole sweeps
    of several colours are checked for invariance alone (a fixed-order sweep is not reversible)."""
    g = fg.FactorGraph()
    g.add_variables(1, values=[2.0, -1.0, 0.5, 3.0, -2.0])
    g.add_features(fg.features.Polynomial([0], power=2))
    cg, theta = g.compile(), np.array([-0.4])
    t = samplers.create("mh", cg, 1, seed=0, proposal="random-walk", step=2).transition_matrix(theta)
    flow = fg.exact.probabilities(cg, theta).ravel()[:, None] * t
    np.testing.assert_allclose(flow, flow.T, atol=1e-15)


def test_transition_matrix_refuses_large_models():
    g = fg.FactorGraph()
    g.add_variables(13, values=[-1, 1])
    sampler = samplers.create("mh", g.compile(), 1, seed=0)
    with pytest.raises(fg.ModelTooLargeError, match="4096"):
        sampler.transition_matrix(np.zeros(0))


def _reference_chains(cg, theta, key, n_chains, n_sweeps, proposal, step):
    """A slow, obviously correct MH sweep in pure Python that reads the kernel's uniforms."""
    x = np.empty((n_chains, cg.n_variables), dtype=np.int32)
    for v in range(cg.n_variables):
        x[:, v] = (_random.uniforms(key, v, 0, n_chains, 0, _random.STREAM_INIT) * cg.n_states[v]).astype(np.int32)
    for sweep in range(n_sweeps):
        for variables in cg.color_classes:
            for v in variables.tolist():
                k = int(cg.n_states[v])
                order = np.argsort(cg.variable_values(v), kind="stable").tolist()
                u_propose = _random.uniforms(key, v, 0, n_chains, sweep, 2)
                u_accept = _random.uniforms(key, v, 0, n_chains, sweep, 3)
                for c in range(n_chains):
                    old = int(x[c, v])
                    if k == 1:
                        continue
                    if proposal == "uniform" or k == 2:
                        new = (old + 1 + min(int(u_propose[c] * (k - 1)), k - 2)) % k
                    else:
                        j = min(int(u_propose[c] * (2 * step)), 2 * step - 1)
                        y = (order.index(old) + (j - step if j < step else j - step + 1)) % (2 * k)
                        new = order[y if y < k else 2 * k - 1 - y]
                    if new == old:
                        continue
                    d = 0.0
                    for row in cg.local_energies(x[c], v, theta):  # factor by factor, like the kernel
                        d += row[new] - row[old]
                    if d > 0.0 or u_accept[c] < _random.exp_neg(d) * (0.5 if k == 2 and d == 0.0 else 1.0):
                        x[c, v] = new
    return x


@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_compiled_sampler_equals_the_python_reference_bit_for_bit(model, proposal, step):
    g, theta = ALL_MODELS[model]()
    cg = g.compile()
    fast = samplers.create("mh", cg, 9, seed=99, block_size=4, proposal=proposal, step=step)
    fast.run(theta, 20)
    np.testing.assert_array_equal(fast.states, _reference_chains(cg, theta, fast.key, 9, 20, proposal, step))


@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_joint_states_of_independent_chains_follow_the_exact_distribution(model, proposal, step):
    """Recipe A1: 20,000 chains, burn-in from the exact kernel (TV < 1e-6), chi-square p > 1e-6;
    then one more sweep, whose acceptance rate per colour must match its exact expectation."""
    g, theta = ALL_MODELS[model]()
    cg = g.compile()
    pi = fg.exact.probabilities(cg, theta).ravel()
    sampler = samplers.create("mh", cg, 20_000, seed=sum(map(ord, model)) + step, proposal=proposal, step=step)
    t = sampler.transition_matrix(theta)
    mu = np.full(len(pi), 1.0 / len(pi))  # initial states are uniform
    sweeps = 0
    while 0.5 * np.abs(mu - pi).sum() >= 1e-6:
        mu, sweeps = mu @ t, sweeps + 1
        assert sweeps < 2000
    sampler.run(theta, sweeps)
    counts = np.bincount(state_index(cg, sampler.states), minlength=len(pi))
    expected = pi * sampler.n_chains
    small = expected < 5  # merge rare states into one bin
    observed = np.append(counts[~small], counts[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    if expected[-1] < 5:
        observed, expected = observed[:-1], expected[:-1]
    assert chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-6, f"{sweeps} sweeps"
    info = sampler.run(theta, 1)
    np.testing.assert_allclose(
        info.extra["acceptance"], _exact_acceptance(sampler, theta, pi), atol=5 * 0.5 / np.sqrt(sampler.n_chains)
    )  # a chain's rate has sd <= 1/2


def _exact_acceptance(sampler, theta, pi):
    """Each colour's expected acceptance rate at stationarity (every update preserves pi)."""
    cg = sampler.graph
    states = fg.exact.enumerate_states(cg)
    energy = cg.energy(states, theta)
    place = np.concatenate([np.cumprod(cg.n_states[::-1])[::-1][1:], [1]])
    rates = []
    for variables in cg.color_classes:
        per_variable = []
        for v in variables.tolist():
            if cg.n_states[v] < 2:
                continue
            q = sampler.proposal_probabilities(v)
            accept = np.zeros(len(pi))
            for b in range(cg.n_states[v]):
                target = np.arange(len(pi)) + (b - states[:, v]) * place[v]
                moved = b != states[:, v]
                accept += np.where(
                    moved,
                    q[states[:, v], b] * acceptance_probability(energy[target] - energy, cg.n_states[v]),
                    q[states[:, v], b],
                )
            per_variable.append(pi @ accept)
        rates.append(np.mean(per_variable) if per_variable else np.nan)
    return np.array(rates)


@pytest.mark.slow
@pytest.mark.parametrize(("proposal", "step"), PROPOSALS, ids=PROPOSAL_IDS)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_feature_means_and_pair_marginals_within_four_mcse(model, proposal, step):
    """Recipe A2, as for Gibbs: 64 chains x 1,500 sweeps after burn-in; each feature mean and each
    joint state of two pairs lies within 4 MCSE of fg.exact, MCSE = sd / sqrt(ESS) with the ESS
    from the spread of the chains' time averages (independent chains)."""
    g, theta = ALL_MODELS[model]()
    cg = g.compile()
    sampler = samplers.create("mh", cg, 64, seed=len(model) + 7 * step, proposal=proposal, step=step)
    pairs = [(0, 1), (cg.n_variables - 2, cg.n_variables - 1)]
    per_chain = time_averages(sampler, theta, pairs, n_burn=300, n_sweeps=1500)
    exact, variance = exact_values(cg, theta, pairs)
    assert_within_mcse(per_chain, exact, variance, min_ess=300, label=f"({proposal}, step {step})")


# -- reproducibility, running sums, checkpoints -------------------------------------------------


@pytest.mark.skipif(not have_openmp(), reason="the build has no OpenMP: one thread only")
@pytest.mark.parametrize("block_size", [16, 48])  # 6 blocks: whole blocks per thread; 2: colours shared out
@pytest.mark.parametrize("proposal", ["uniform", "random-walk"])
def test_states_sums_and_counts_are_identical_for_one_and_two_threads(block_size, proposal):
    cg, theta = _walk_model()
    runs = []
    for threads in (1, 2):
        sampler = samplers.create(
            "mh", cg, 96, seed=3, n_threads=threads, block_size=block_size, proposal=proposal, step=2
        )
        infos = [sampler.run(theta, 15), sampler.run(theta, 10)]
        runs.append((sampler.get_state(), infos))
    (one, infos_one), (two, infos_two) = runs
    np.testing.assert_array_equal(one["states"], two["states"])
    np.testing.assert_array_equal(one["block_sums"], two["block_sums"])
    np.testing.assert_array_equal(one["acceptance_counts"], two["acceptance_counts"])
    for a, b in zip(infos_one, infos_two):
        assert a.n_changes == b.n_changes
        np.testing.assert_array_equal(a.extra["accepted"], b.extra["accepted"])


def test_chains_do_not_depend_on_how_many_there_are():
    cg, theta = _walk_model()
    small = samplers.create("mh", cg, 10, seed=8, proposal="random-walk", step=2)
    large = samplers.create("mh", cg, 77, seed=8, block_size=8, proposal="random-walk", step=2)
    small.run(theta, 25)
    large.run(theta, 25)
    np.testing.assert_array_equal(large.states[:10], small.states)


@pytest.mark.parametrize("proposal", ["uniform", "random-walk"])
def test_running_sums_stay_exact_over_ten_thousand_sweeps(proposal):
    cg, theta = _walk_model()
    sampler = samplers.create("mh", cg, 8, seed=5, refresh_every=10**9, proposal=proposal, step=3)
    info = sampler.run(theta, 10_000)
    assert info.n_changes > 10_000
    exact = cg.feature_sums(sampler.states) / 8
    scale = np.maximum(np.abs(exact), 1.0)
    assert np.abs(sampler.stats().mean - exact).max() / scale.max() < 1e-9


def test_state_round_trip_continues_bit_for_bit():
    cg, theta = _walk_model()
    options = {"refresh_every": 7, "proposal": "random-walk", "step": 2}
    straight = samplers.create("mh", cg, 40, seed=2, **options)
    straight.run(theta, 30)
    first = samplers.create("mh", cg, 40, seed=2, **options)
    first.run(theta, 13)
    resumed = samplers.create("mh", cg, 40, seed=123, **options)
    resumed.set_state(first.get_state())
    resumed.run(theta, 17)
    np.testing.assert_array_equal(resumed.states, straight.states)
    np.testing.assert_array_equal(resumed.stats().mean, straight.stats().mean)
    np.testing.assert_array_equal(resumed.acceptance_counts, straight.acceptance_counts)


def test_sweep_averaged_means_match_the_recorded_states():
    assert_sweep_average_matches_states("mh", *_walk_model())


def test_sweep_averaging_records_the_batch_means_it_averages():
    assert_batch_means_of_sweep_average("mh", *_walk_model())


# -- acceptance reporting -----------------------------------------------------------------------


def test_acceptance_is_counted_per_colour_per_run_and_cumulatively():
    cg, theta = _walk_model()
    sampler = samplers.create("mh", cg, 24, seed=4, proposal="random-walk", step=2)
    first, second = sampler.run(theta, 3), sampler.run(theta, 5)
    sizes = np.diff(cg.color_ptr)
    for info, sweeps in ((first, 3), (second, 5)):
        np.testing.assert_array_equal(info.extra["proposals"], sizes * 24 * sweeps)
        np.testing.assert_array_equal(info.extra["acceptance"], info.extra["accepted"] / info.extra["proposals"])
        assert info.n_updates == cg.n_variables * 24 * sweeps
        assert 0 < info.n_changes <= info.extra["accepted"].sum()
    counts = sampler.acceptance_counts
    np.testing.assert_array_equal(counts[:, 1], first.extra["accepted"] + second.extra["accepted"])
    np.testing.assert_array_equal(sampler.acceptance, counts[:, 1] / counts[:, 0])
    assert ((0 < sampler.acceptance) & (sampler.acceptance < 1)).all()
    sampler.reset_acceptance()
    assert np.isnan(sampler.acceptance).all()
    assert sampler.run(theta, 0).extra["proposals"].sum() == 0


def test_one_state_variables_make_no_proposals():
    g = fg.FactorGraph()
    g.add_variables(1, n_states=1)
    g.add_variables(1, values=[-1, 1])
    g.add_features(fg.features.Product([1]))
    cg = g.compile()
    sampler = samplers.create("mh", cg, 4, seed=1)
    info = sampler.run(np.array([0.3]), 2)
    assert info.n_updates == 8  # the binary variable's, in 4 chains x 2 sweeps
    assert info.extra["proposals"][cg.colors[1]] == 8
    assert (sampler.states[:, 0] == 0).all()
    if cg.colors[0] != cg.colors[1]:  # a colour of one-state variables only has no rate
        assert np.isnan(info.extra["acceptance"][cg.colors[0]])


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_chains": 0}, "n_chains"),
        ({"seed": -1}, "seed"),
        ({"n_threads": 0}, "n_threads"),
        ({"block_size": 0}, "block_size"),
        ({"step": 0}, "step"),
        ({"step": 1.5}, "step"),
        ({"proposal": "gibbs"}, "proposal"),
        ({"proposal": ["uniform"] * 3}, "proposal"),
        ({"proposal": ["uniform"] * 59 + ["walk"]}, "proposal"),
        ({"refresh_every": 0}, "refresh_every"),
    ],
)
def test_bad_arguments(kwargs, match):
    cg, _ = _walk_model()
    args = {"n_chains": 4, **kwargs}
    with pytest.raises(fg.ModelSpecError, match=match):
        samplers.create("mh", cg, **args)


def test_proposals_may_differ_per_variable():
    cg, theta = _walk_model()
    names = ["random-walk"] * 20 + ["uniform"] * 40  # walk the binned values, not the Potts colours
    sampler = samplers.create("mh", cg, 4, seed=1, proposal=names, step=2)
    assert sampler.proposal == tuple(names)
    assert sampler.proposal_probabilities(0)[0, 6] == 0.0  # a walk of at most 2 states
    np.testing.assert_allclose(sampler.proposal_probabilities(25), (1 - np.eye(3)) / 2)
    sampler.run(theta, 2)


def test_set_state_refuses_damaged_foreign_or_miscounted_states():
    cg, theta = _walk_model()
    sampler = samplers.create("mh", cg, 8, seed=1)
    sampler.run(theta, 3)
    state = sampler.get_state()
    with pytest.raises(fg.DataError, match="do not match"):
        sampler.set_state(dict(state, states=np.zeros_like(state["states"])))
    with pytest.raises(fg.DataError, match="gibbs"):
        sampler.set_state(dict(state, sampler="gibbs"))
    with pytest.raises(fg.ModelSpecError, match="acceptance_counts"):
        sampler.set_state(dict(state, acceptance_counts=-state["acceptance_counts"]))
    before = sampler.acceptance_counts
    sampler.set_state({k: v for k, v in state.items() if k != "acceptance_counts"})  # a state without counts
    assert sampler.acceptance_counts.sum() == 0 and before.sum() > 0


def test_registered_and_picklable():
    assert "mh" in samplers.available()
    assert samplers.get("mh") is samplers.MetropolisHastings
    cg, theta = _walk_model()
    sampler = samplers.create("mh", cg, 4, seed=1, proposal="random-walk", step=2)
    sampler.run(theta, 3)
    copy = pickle.loads(pickle.dumps(sampler))
    sampler.run(theta, 4)
    copy.run(theta, 4)
    np.testing.assert_array_equal(copy.states, sampler.states)
    np.testing.assert_array_equal(copy.acceptance_counts, sampler.acceptance_counts)
