"""Pseudocounts: targets mixed with the uniform model, whose moments come from the tables alone."""

import numpy as np
import pytest

import factorgraph as fg
from factorgraph.data import uniform_moments


def _mixed_graph():
    g = fg.FactorGraph()
    g.add_variables(3, n_states=3)
    g.add_variables(2, values=[-1.0, 2.0])
    g.add_features(fg.features.Potential([(0, 1), (1, 2)], reference=0))
    g.add_features(fg.features.Product([(3, 4), (0, 3)]))
    g.add_features(fg.features.Histogram([(0, 1)], edges=[0.0, 1.5, 2.0]))
    g.add_features(fg.features.Function([(2, 4)], fn=lambda a, b: a * b**2))
    return g


def test_uniform_moments_equal_the_exact_means_at_theta_zero():
    g = _mixed_graph()
    np.testing.assert_allclose(uniform_moments(g), fg.exact.expectations(g, np.zeros(g.n_features)), atol=1e-15)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5])
def test_pseudocount_mixes_data_with_uniform(alpha):
    g = _mixed_graph()
    data = np.random.default_rng(0).integers(0, [3, 3, 3, 2, 2], size=(50, 5))
    expected = (1 - alpha) * fg.moments(g, data) + alpha * uniform_moments(g)
    np.testing.assert_allclose(fg.moments(g, data, pseudocount=alpha), expected, rtol=1e-15)


@pytest.mark.parametrize("alpha", [-0.1, 1.0, float("nan")])
def test_bad_pseudocount(alpha):
    g = _mixed_graph()
    with pytest.raises(fg.DataError, match="pseudocount"):
        fg.moments(g, np.zeros((2, 5), dtype=int), pseudocount=alpha)
