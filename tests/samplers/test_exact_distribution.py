"""Every registered sampler against the exact engine, on the small models of ``_models``.

The tests are parametrised over ``samplers.available()``, so built-in samplers, third-party
entry points (the plugin of tests/plugins included) and samplers added later all take part.

* Feature means and joint marginals of pairs lie within 4 MCSE of ``fg.exact``.
* Where a sampler reports its one-sweep transition matrix (the optional
  ``transition_matrix(theta)`` of the sampler contract), the matrix is stochastic, leaves the
  exact distribution invariant to 1e-12 and is primitive (irreducible and aperiodic); and one
  sweep of many chains started in one state follows the reported row, which ties the matrix to
  the code that runs. Samplers without the method are reported as skipped.
"""

import numpy as np
import pytest

import factorgraph as fg
import samplers

from ._checks import assert_within_mcse, exact_values, state_index, time_averages
from ._models import MODELS

pytestmark = pytest.mark.filterwarnings("ignore::factorgraph.ShardingOverheadWarning")

# Per sampler: constructor options and run lengths where the defaults do not suit (none now).
DEFAULTS = {"options": {}, "n_chains": 256, "n_burn": 200, "n_sweeps": 500}
SETTINGS: dict[str, dict] = {}

# every listed sampler; the test-only reference ("loopback", unlisted) is not among them: its
# chains equal those of "gibbs" bit for bit (test_gibbs.py)
SAMPLERS = samplers.available()


def _setting(name):
    return {**DEFAULTS, **SETTINGS.get(name, {})}


def _create(name, compiled, n_chains, seed):
    options = _setting(name)["options"]
    if name == "sharded":  # Gibbs chains split over the two worker processes of a local cluster
        from tests._cluster import shared_client

        options = {"inner": "gibbs", "client": shared_client(), "n_shards": 2 if n_chains >= 128 else 1}
    return samplers.create(name, compiled, n_chains, seed=seed, **options)


def _transition_matrix(name, compiled, theta):
    sampler = _create(name, compiled, 1, seed=0)
    if not callable(getattr(sampler, "transition_matrix", None)):
        pytest.skip(f"sampler {name!r} does not report its transition matrix (no transition_matrix(theta))")
    return sampler.transition_matrix(theta)


def _primitive(matrix):
    """Whether some power of the matrix is positive everywhere: (S - 1)^2 + 1 steps suffice."""
    reach = matrix > 0
    steps = 1
    while steps < (len(matrix) - 1) ** 2 + 1:
        reach = (reach.astype(np.float64) @ reach.astype(np.float64)) > 0
        steps *= 2
    return bool(reach.all())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", SAMPLERS)
def test_feature_means_and_pair_marginals_within_four_mcse(name, model, seed):
    """Recipe A2: after burn-in, the chains' averages of each feature and of each joint state of
    two pairs of variables lie within 4 MCSE of fg.exact."""
    setting = _setting(name)
    g, theta = MODELS[model]()
    cg = g.compile()
    sampler = _create(name, cg, setting["n_chains"], seed)
    pairs = [(0, 1), (cg.n_variables - 2, cg.n_variables - 1)]
    per_chain = time_averages(sampler, theta, pairs, setting["n_burn"], setting["n_sweeps"])
    exact, variance = exact_values(cg, theta, pairs)
    assert_within_mcse(per_chain, exact, variance, label=f"(sampler {name!r}, seed {seed})")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", SAMPLERS)
def test_one_sweep_leaves_the_exact_distribution_invariant(name, model):
    """Recipe (b): pi T = pi to 1e-12, rows are probabilities, and T is primitive."""
    g, theta = MODELS[model]()
    cg = g.compile()
    matrix = _transition_matrix(name, cg, theta)
    pi = fg.exact.probabilities(cg, theta).ravel()
    assert matrix.shape == (len(pi), len(pi))
    assert matrix.min() >= 0.0
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.abs(pi @ matrix - pi).max() < 1e-12
    assert _primitive(matrix)


def _all_chains_at(sampler, x):
    """The sampler's state from get_state() with every chain set to x."""
    state = sampler.get_state()
    state["states"] = np.tile(x, (sampler.n_chains, 1)).astype(np.int32)
    if "block_sums" in state:  # running feature sums per block of chains (Gibbs, MH)
        size = sampler.block_size
        state["block_sums"] = np.array(
            [sampler.graph.feature_sums(state["states"][i : i + size]) for i in range(0, sampler.n_chains, size)]
        )
    return state


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", SAMPLERS)
def test_one_sweep_from_one_state_follows_the_reported_row(name, model, seed):
    """20,000 chains set to the least probable state make one sweep; the count of each next state
    lies within 4 standard errors of 20,000 T[start] (states expected fewer than 5 times are
    pooled), and states T cannot reach are never reached."""
    g, theta = MODELS[model]()
    cg = g.compile()
    matrix = _transition_matrix(name, cg, theta)
    pi = fg.exact.probabilities(cg, theta).ravel()
    start = int(np.argmin(pi))
    n_chains = 20_000
    sampler = _create(name, cg, n_chains, seed)
    sampler.set_state(_all_chains_at(sampler, fg.exact.enumerate_states(cg)[start]))
    sampler.run(theta, 1)
    counts = np.bincount(state_index(cg, sampler.states), minlength=len(pi))
    row = matrix[start]
    assert counts[row == 0].sum() == 0, f"reached a state the reported kernel cannot reach (seed {seed})"
    rare = n_chains * row < 5
    p = np.append(row[~rare], row[rare].sum())
    observed = np.append(counts[~rare], counts[rare].sum())
    tested = n_chains * p >= 5
    z = np.abs(observed - n_chains * p)[tested] / np.sqrt(n_chains * p * (1 - p))[tested]
    assert z.max() < 4, f"a next state's count is {z.max():.2f} standard errors off (seed {seed})"
