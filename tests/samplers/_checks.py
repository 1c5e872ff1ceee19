"""Checks of samplers against the exact engine, shared by the sampler tests.

Tolerances come from Monte Carlo standard errors: MCSE = sd / sqrt(ESS), with the effective
sample size taken from the spread of the time averages of independent chains.
"""

import numpy as np

import factorgraph as fg
import samplers


def state_index(compiled, states):
    """The row of each joint state in ``fg.exact.enumerate_states`` (row-major, last variable fastest)."""
    sizes = compiled.n_states.astype(np.int64)
    place = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    return np.asarray(states, dtype=np.int64) @ place


def time_averages(sampler, theta, pairs, n_burn, n_sweeps):
    """Per-chain averages over ``n_sweeps`` sweeps (after ``n_burn``) of every feature and of the
    indicator of every joint state of each pair of variables; shape (n_chains, K + Σ pair sizes)."""
    cg = sampler.graph
    sizes = [int(cg.n_states[a] * cg.n_states[b]) for a, b in pairs]
    sampler.run(theta, n_burn)
    total = np.zeros((sampler.n_chains, cg.n_features + sum(sizes)))
    for _ in range(n_sweeps):
        sampler.run(theta, 1)
        x = sampler.states
        blocks = [cg.feature_values(x, n_threads=1)]
        for (a, b), size in zip(pairs, sizes):
            blocks.append(np.eye(size)[x[:, a] * cg.n_states[b] + x[:, b]])
        total += np.concatenate(blocks, axis=1)
    return total / n_sweeps


def exact_values(compiled, theta, pairs):
    """The exact means and variances of the statistics of :func:`time_averages`."""
    marginals = [fg.exact.marginal(compiled, theta, list(p)).ravel() for p in pairs]
    mean = np.concatenate([fg.exact.expectations(compiled, theta), *marginals])
    variance = np.concatenate([np.diag(fg.exact.covariance(compiled, theta)), *(m * (1 - m) for m in marginals)])
    return mean, variance


def assert_within_mcse(per_chain, exact, variance, z_max=4.0, min_ess=500, label=""):
    """Each statistic's average over chains lies within ``z_max`` MCSE of its exact value.

    The ESS of a statistic is its exact variance over the squared standard error of the mean of
    the chains' time averages (independent chains). Statistics with zero variance must match to
    1e-12. Fails as underpowered when an ESS is below ``min_ess`` or a varying statistic never
    varied between chains.
    """
    n_chains = per_chain.shape[0]
    estimate = per_chain.mean(axis=0)
    varying = variance > 1e-12
    mcse = np.sqrt(per_chain[:, varying].var(axis=0, ddof=1) / n_chains)
    assert (mcse > 0).all(), f"underpowered: a statistic never varied between chains {label}"
    ess = variance[varying] / np.maximum(mcse**2, 1e-300)
    assert ess.min() > min_ess, f"underpowered: ESS {ess.min():.0f} < {min_ess} {label}"
    z = np.abs(estimate[varying] - exact[varying]) / mcse
    worst = int(np.argmax(z))
    assert z.max() < z_max, (
        f"statistic {np.flatnonzero(varying)[worst]} is {z.max():.2f} MCSE from exact (ESS {ess[worst]:.0f}) {label}"
    )
    np.testing.assert_allclose(estimate[~varying], exact[~varying], atol=1e-12, err_msg=label)


def assert_sweep_average_matches_states(name, compiled, theta, n_chains=12, n_sweeps=5, seed=6, **options):
    """With ``average_sweeps``, ``stats().mean`` is the mean of the feature sums of the states
    after each sweep of the run, recorded one sweep at a time by a twin sampler."""
    sampler = samplers.create(name, compiled, n_chains, seed=seed, average_sweeps=True, **options)
    reference = samplers.create(name, compiled, n_chains, seed=seed, **options)
    total = np.zeros(compiled.n_features)
    for _ in range(n_sweeps):
        reference.run(theta, 1)
        total += compiled.feature_sums(reference.states)
    sampler.run(theta, n_sweeps)
    np.testing.assert_allclose(sampler.stats().mean, total / (n_chains * n_sweeps), rtol=1e-12, atol=1e-12)


def assert_batch_means_of_sweep_average(name, compiled, theta, **options):
    """12 chains in blocks of 4 averaged over 5 sweeps: three full blocks' per-sweep means, whose
    mean is the averaged mean; a one-sweep run reports no batch means."""
    sampler = samplers.create(name, compiled, 12, seed=6, average_sweeps=True, block_size=4, **options)
    sampler.run(theta, 5)
    stats = sampler.stats()
    assert stats.n_averaged == 5 and stats.batch_means.shape == (3, 5, compiled.n_features)
    np.testing.assert_allclose(stats.batch_means.mean(axis=(0, 1)), stats.mean, rtol=1e-12, atol=1e-12)
    sampler.run(theta, 1)
    assert sampler.stats().n_averaged == 1 and sampler.stats().batch_means is None
