"""The 2D Ising model on a torus: Kaufman's exact solution, checked against enumeration, and
the Gibbs sampler's energy per site on a 16 x 16 torus against it."""

import numpy as np
import pytest

import factorgraph as fg
import samplers

from .kaufman import energy_per_site, log_partition


def torus(m: int, n: int) -> fg.FactorGraph:
    g = fg.FactorGraph()
    s = g.add_variables(m * n, values=[-1, 1]).reshape(m, n)
    right = np.stack([s.ravel(), np.roll(s, -1, axis=1).ravel()], axis=1)
    down = np.stack([s.ravel(), np.roll(s, -1, axis=0).ravel()], axis=1)
    g.add_features(fg.features.Product(np.concatenate([right, down])), name="bonds")
    return g


@pytest.mark.parametrize(("m", "n"), [(3, 3), (4, 4), (3, 5), (4, 5)])
@pytest.mark.parametrize("beta", [0.1, 0.3, 0.44, 1.2])
def test_kaufman_formula_matches_enumeration(m, n, beta):
    g = torus(m, n)
    assert log_partition(beta, m, n) == pytest.approx(fg.exact.log_partition(g, np.full(2 * m * n, beta)), abs=1e-11)


@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.3, 0.4, 0.44])
def test_gibbs_energy_per_site_on_a_16x16_torus(beta):
    """Per-chain time averages of independent chains give the MCSE without autocorrelation bias."""
    side, n_chains, burn_in, n_sweeps = 16, 128, 500, 2000
    g = torus(side, side)
    cg = g.compile()
    assert cg.n_colors == 2
    theta = np.full(cg.n_features, beta)
    unit = np.ones(cg.n_features)
    sampler = samplers.create("gibbs", cg, n_chains, seed=int(beta * 1000))
    sampler.run(theta, burn_in)
    per_chain = np.zeros(n_chains)
    for _ in range(n_sweeps):
        sampler.run(theta, 1)
        per_chain -= cg.energy(sampler.states, unit, n_threads=1)  # -Σ s_i s_j, per chain
    per_chain /= n_sweeps * side * side
    estimate = per_chain.mean()
    mcse = per_chain.std(ddof=1) / np.sqrt(n_chains)
    exact = energy_per_site(beta, side, side)
    assert mcse < 0.004, f"underpowered: MCSE {mcse:.4g}"
    assert abs(estimate - exact) < 4 * mcse, f"estimate {estimate:.5f} exact {exact:.5f} MCSE {mcse:.2g}"
