"""The exact engine at its size limit: 2^22 joint states in chunks, with bounded memory."""

import tracemalloc

import numpy as np
import pytest

import factorgraph as fg


def _ring_log_partition(coupling: np.ndarray, field: np.ndarray) -> float:
    """log Z of a periodic spin chain by 2x2 transfer matrices (fields split onto bonds)."""
    s = np.array([-1.0, 1.0])
    n = len(field)
    log_z, product = 0.0, np.eye(2)
    for i in range(n):
        j = (i + 1) % n
        t = np.exp(coupling[i] * np.outer(s, s) + 0.5 * field[i] * s[:, None] + 0.5 * field[j] * s[None, :])
        product = product @ t
        scale = np.abs(product).max()
        product /= scale
        log_z += np.log(scale)
    return log_z + np.log(np.trace(product))


@pytest.mark.slow
def test_22_spin_ring_matches_transfer_matrix_in_bounded_memory():
    n = 22
    rng = np.random.default_rng(22)
    coupling, field = rng.normal(0, 0.6, n), rng.normal(0, 0.4, n)
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(n)))
    g.add_features(fg.features.Product(np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)))
    theta = np.concatenate([field, coupling])
    tracemalloc.start()
    log_z = fg.exact.log_partition(g, theta)
    means = fg.exact.expectations(g, theta)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert log_z == pytest.approx(_ring_log_partition(coupling, field), abs=1e-10)
    h = 1e-5
    for k in (0, n - 1, n, 2 * n - 1):  # a field and a coupling at each end
        step = np.zeros(2 * n)
        step[k] = h
        derivative = (
            _ring_log_partition(coupling + step[n:], field + step[:n])
            - _ring_log_partition(coupling - step[n:], field - step[:n])
        ) / (2 * h)
        assert means[k] == pytest.approx(derivative, abs=1e-8)
    assert peak < 2**30


def test_one_more_state_than_the_limit_is_refused():
    g = fg.FactorGraph()
    g.add_variables(22)
    g.add_variables(1, n_states=3)
    with pytest.raises(fg.ModelTooLargeError, match="2\\*\\*22"):
        fg.exact.log_partition(g, np.zeros(0))


def test_exact_samples_follow_the_distribution():
    """Counts of 200,000 exact draws on 8 joint states pass a chi-square test at p > 1e-6."""
    from scipy.stats import chisquare

    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 1), (1, 2), (0, 2)]))
    theta = np.array([0.8, -0.5, 0.3])
    draws = fg.exact.sample(g, theta, 200_000, seed=7)
    counts = np.bincount(draws @ np.array([4, 2, 1]), minlength=8)
    expected = fg.exact.probabilities(g, theta).ravel() * len(draws)
    assert chisquare(counts, expected).pvalue > 1e-6
    np.testing.assert_array_equal(draws, fg.exact.sample(g, theta, 200_000, seed=7))
