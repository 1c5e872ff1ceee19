"""Chain diagnostics against exact answers: AR(1) processes, independent draws, chains that
disagree, and a real Gibbs chain.

Tolerances come from the estimators' known errors, at z = 5 (RELIABILITY.md): Sokal's window
estimate has var(τ̂) ≈ 2(2M + 1) τ² / N for N draws and window M ≈ c·τ.
"""

import numpy as np
import pytest
import scipy.signal

import factorgraph as fg
import samplers
from samplers import diagnostics

from .test_ising_kaufman import torus

Z = 5.0


def ar1(phi, n_chains, n_draws, rng):
    """Stationary AR(1) chains x_t = φ x_{t-1} + sqrt(1 - φ²) ε_t, with τ = (1 + φ) / (1 - φ)."""
    start = rng.normal(size=(n_chains, 1))  # drawn from the stationary N(0, 1): no burn-in bias
    noise = rng.normal(size=(n_chains, n_draws))
    x, _ = scipy.signal.lfilter([np.sqrt(1 - phi**2)], [1, -phi], noise, axis=1, zi=phi * start)
    return x


def tau_tolerance(tau, n_draws_total, c=5.0):
    """Z standard errors of Sokal's estimate with window M = ceil(c τ), plus the window's
    truncation bias (about 2 Σ_{t > M} ρ_t, under τ e^{-c} for exponential decay)."""
    window = np.ceil(c * tau)
    return Z * tau * np.sqrt(2 * (2 * window + 1) / n_draws_total) + tau * np.exp(-c)


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_pooled_tau_of_ar1_matches_the_exact_value(phi, seed):
    x = ar1(phi, 8, 50_000, np.random.default_rng(seed))
    exact = (1 + phi) / (1 - phi)
    tau = diagnostics.integrated_time(x)
    assert abs(tau - exact) <= tau_tolerance(exact, x.size), f"seed={seed}: τ̂={tau}, τ={exact}"


def test_per_chain_tau_of_ar1_matches_the_exact_value(seed):
    x = ar1(0.5, 4, 50_000, np.random.default_rng(seed))
    tau = diagnostics.integrated_time(x, per_chain=True)
    assert tau.shape == (4,)
    assert np.all(np.abs(tau - 3.0) <= tau_tolerance(3.0, x.shape[1])), f"seed={seed}: τ̂={tau}"


def test_autocorrelation_of_ar1_is_geometric(seed):
    x = ar1(0.7, 8, 50_000, np.random.default_rng(seed))
    rho = diagnostics.autocorrelation(x)
    # ρ̂_t has standard error about sqrt(τ / N) (Bartlett) for small t
    tolerance = Z * np.sqrt((1.7 / 0.3) / x.size)
    np.testing.assert_allclose(rho[:6], 0.7 ** np.arange(6), atol=tolerance, err_msg=f"seed={seed}")


def test_independent_draws_have_tau_one_and_ess_n(seed):
    x = np.random.default_rng(seed).normal(size=(4, 25_000))
    tolerance = tau_tolerance(1.0, x.size)
    assert abs(diagnostics.integrated_time(x) - 1) <= tolerance, f"seed={seed}"
    assert abs(diagnostics.ess(x) / x.size - 1) <= 1.1 * tolerance, f"seed={seed}"


def test_several_statistics_at_once_match_one_at_a_time(seed):
    rng = np.random.default_rng(seed)
    x = np.stack([ar1(0.5, 4, 5000, rng), rng.normal(size=(4, 5000))], axis=2)
    together = diagnostics.integrated_time(x)
    alone = [diagnostics.integrated_time(x[:, :, k]) for k in range(2)]
    np.testing.assert_allclose(together, alone, rtol=1e-12)
    assert diagnostics.ess(x).shape == (2,) and diagnostics.split_rhat(x).shape == (2,)
    assert diagnostics.autocorrelation(x).shape == (5000, 2)


def test_mcse_is_honest_over_many_replicas(seed):
    """The error of the mean, divided by its estimated MCSE, has sd 1 over independent
    replicas; the sample sd of R z-scores has standard error 1 / sqrt(2R)."""
    rng = np.random.default_rng(seed)
    replicas = 400
    z = []
    for _ in range(replicas):
        x = ar1(0.9, 4, 5000, rng)
        z.append(x.mean() / diagnostics.mcse(x))
    spread = np.std(z, ddof=1)
    # plus 0.05 for the estimate's own error: τ̂ is biased low by about 2 % at 250 τ per
    # chain and scatters by 14 %, which together move sd(z) by about 1.5 %
    tolerance = Z / np.sqrt(2 * replicas) + 0.05
    assert abs(spread - 1) <= tolerance, f"seed={seed}: sd(z)={spread}"


def test_mcse_of_independent_draws_is_sd_over_root_n(seed):
    x = 3.0 * np.random.default_rng(seed).normal(size=(4, 10_000))
    assert abs(diagnostics.mcse(x) / (3.0 / np.sqrt(x.size)) - 1) <= tau_tolerance(1.0, x.size), f"seed={seed}"


def test_split_rhat_is_one_for_mixed_chains(seed):
    rng = np.random.default_rng(seed)
    # R̂ − 1 ≈ τ (χ²_7 / 7 − 1) / (2 n_half): below 0.005 here even at the 1e-6 tail
    assert diagnostics.split_rhat(rng.normal(size=(4, 2000))) < 1.005, f"seed={seed}"
    assert diagnostics.split_rhat(ar1(0.5, 4, 20_000, rng)) < 1.005, f"seed={seed}"
    assert diagnostics.split_rhat(rng.normal(size=(4, 2000)), rank_normalize=True) < 1.005, f"seed={seed}"


def test_split_rhat_flags_chains_with_different_means(seed):
    x = np.random.default_rng(seed).normal(size=(4, 1000))
    x[:2] += 2.0
    assert diagnostics.split_rhat(x) > 1.1 and diagnostics.split_rhat(x, rank_normalize=True) > 1.1


def test_split_rhat_flags_a_trend_even_in_one_chain(seed):
    x = np.random.default_rng(seed).normal(size=1000) + np.linspace(0, 3, 1000)
    assert diagnostics.split_rhat(x) > 1.1


def test_rank_normalised_rhat_flags_chains_that_differ_in_spread_only(seed):
    x = np.random.default_rng(seed).normal(size=(4, 2000))
    x[:2] *= 4.0
    assert diagnostics.split_rhat(x) < 1.01  # the classic form sees the means only
    assert diagnostics.split_rhat(x, rank_normalize=True) > 1.1


def magnetisation_trace(beta, n_chains, n_sweeps, seed):
    """|magnetisation| per site of a 4 x 4 Ising torus after each Gibbs sweep: (chains, sweeps)."""
    compiled = torus(4, 4).compile()
    sampler = samplers.create("gibbs", compiled, n_chains, seed=seed, n_threads=1)
    theta = np.full(compiled.n_features, beta)
    sampler.run(theta, 200)  # burn-in, far beyond the relaxation time of 16 spins
    trace = np.empty((n_chains, n_sweeps))
    for t in range(n_sweeps):
        sampler.run(theta, 1)
        spins = 2 * sampler.states - 1
        trace[:, t] = np.abs(spins.mean(axis=1))
    return trace


def test_gibbs_chain_is_correlated_at_strong_coupling(seed):
    strong = magnetisation_trace(0.6, 16, 4000, seed)
    weak = magnetisation_trace(0.1, 16, 4000, seed)
    tau_strong, tau_weak = diagnostics.integrated_time(strong), diagnostics.integrated_time(weak)
    # at β = 0.1 the spins are nearly independent (τ close to 1); at β = 0.6, deep in the
    # ordered phase, |m| relaxes over several sweeps; 5-sigma margins are below 0.5 for both
    assert tau_strong > 2.0 and tau_strong > tau_weak + tau_tolerance(tau_strong, strong.size), (
        f"seed={seed}: τ(0.6)={tau_strong}, τ(0.1)={tau_weak}"
    )
    assert diagnostics.ess(strong) < strong.size / 2
    assert diagnostics.split_rhat(strong) < 1.05, f"seed={seed}"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: diagnostics.integrated_time(np.zeros((2, 3, 4, 5))), "4 dimensions"),
        (lambda: diagnostics.integrated_time([1.0, 2.0, 3.0]), "at least 4 draws"),
        (lambda: diagnostics.ess([[1.0, np.nan, 0.0, 1.0, 2.0]]), r"non-finite draw \(nan\) at chain 0, draw 1"),
        (lambda: diagnostics.autocorrelation(np.ones(10)), "constant"),
        (lambda: diagnostics.split_rhat(np.ones((2, 10))), "constant"),
        (lambda: diagnostics.integrated_time(np.arange(60.0).reshape(2, 30) // 30), "self-consistent window"),
        (lambda: diagnostics.integrated_time(ar1(0.95, 1, 500, np.random.default_rng(0))), "min_draws_per_tau"),
        (lambda: diagnostics.integrated_time(np.arange(10.0), c=-1), "'c' argument"),
        (lambda: diagnostics.mcse("abc"), "real numbers"),
        (lambda: diagnostics.acceptance_rates([]), "no SweepInfo"),
        (
            lambda: diagnostics.acceptance_rates([samplers.SweepInfo(1, 4, 2, {"n_clusters": 3})]),
            r"no 'acceptance_rate'.*\['n_clusters'\].*change_rate",
        ),
        (lambda: diagnostics.acceptance_rates([samplers.SweepInfo(1, 4, 2, {"acceptance_rate": 1.5})]), r"\[0, 1\]"),
    ],
)
def test_bad_input_is_refused_with_a_helpful_error(call, match):
    with pytest.raises(fg.DiagnosticsError, match=match):
        call()


def test_diagnostics_errors_are_value_errors():
    with pytest.raises(ValueError):
        diagnostics.ess(np.ones((1, 2)))


def test_acceptance_rates_weight_runs_by_their_sweeps():
    infos = [
        samplers.SweepInfo(1, 10, 3, {"acceptance_rate": 0.5}),
        samplers.SweepInfo(3, 30, 9, {"acceptance_rate": 0.1}),
    ]
    assert diagnostics.acceptance_rates(infos) == pytest.approx(0.2, rel=1e-15)


def test_average_ranks_match_scipy_with_ties():
    """The rank normalisation's ranks equal scipy.stats.rankdata's (ties averaged), without
    importing scipy.stats at run time."""
    import scipy.stats

    from samplers.diagnostics import _average_ranks

    rng = np.random.default_rng(0)
    for x in (
        rng.integers(0, 4, size=(50, 7)).astype(float),
        rng.normal(size=(33, 3)),
        np.zeros((5, 2)),
        np.array([[1.0, -np.inf], [1.0, 2.0], [0.0, -np.inf]]),
    ):
        np.testing.assert_array_equal(_average_ranks(x), scipy.stats.rankdata(x, axis=0))
