"""Small models for sampler tests, each exercising a different part of the library."""

import numpy as np

import factorgraph as fg
from factorgraph import features as F


def frustrated_ising():
    """Spins on a 4-cycle with a chord: frustrated, not bipartite; random couplings and fields."""
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1, 1])
    g.add_features(F.Product(np.arange(4)))
    g.add_features(F.Product([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]))
    return g, np.array([0.2, -0.3, 0.1, 0.4, 0.9, -0.7, 0.8, -0.6, 1.1])


def potts_triangle():
    """A 3-state Potts triangle with an indexed pair map and fields."""
    g = fg.FactorGraph()
    g.add_variables(3, n_states=3)
    g.add_features(F.Potential(np.arange(3), reference=0))
    g.add_features(F.Potential([(0, 1), (1, 2), (0, 2)]))
    return g, np.random.default_rng(11).normal(0, 0.8, g.n_features)


def five_state_chain():
    """Four 5-state variables with real values: moments and a squared term."""
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1.0, -0.3, 0.2, 0.9, 1.5])
    g.add_features(F.Product([(0, 1), (1, 2), (2, 3)]))
    g.add_features(F.Polynomial(np.arange(4), power=2))
    return g, np.array([0.8, -0.5, 0.6, -0.4, 0.3, 0.2, -0.1])


def mixed_kinds():
    """Binary, ternary and binned variables with Bin, Threshold, Table, Function and Histogram."""
    g = fg.FactorGraph()
    g.add_variables(2)
    g.add_variables(1, n_states=3)
    g.add_variables(2, edges=[0.0, 0.5, 1.0, 2.0])
    g.add_features(F.Bin([(3, 0)], lower=[0.4, 0.5], upper=[1.5, 2.0]))
    g.add_features(F.Threshold([4], threshold=0.7))
    g.add_features(F.Table([(2, 1)], table=[[0.3, -0.2], [1.0, 0.1], [-0.5, 0.7]]))
    g.add_features(F.Function([(0, 2, 4)], fn=lambda a, b, c: np.sin(a + b * c)))
    g.add_features(F.Histogram([(3, 4)], edges=[0.0, 0.6, 2.0]))
    return g, np.random.default_rng(12).normal(0, 0.9, g.n_features)


def base_measure():
    """A fixed (untrained) base-measure table beside trained moments."""
    g = fg.FactorGraph()
    g.add_variables(4, n_states=3)
    g.add_features(
        F.Table([(0, 1), (2, 3)], table=[[0.0, 1.0, -2.0], [0.5, 0.0, 0.3], [-1.0, 0.2, 0.0]]), trainable=False
    )
    g.add_features(F.Product([(1, 2), (3, 0)]))
    return g, np.array([1.0, 1.0, 0.4, -0.3])


def disconnected():
    """Two components and an isolated variable, which must be uniform."""
    g = fg.FactorGraph()
    g.add_variables(5, values=[-1, 1])
    g.add_features(F.Product([(0, 1), (2, 3)]))
    g.add_features(F.Product([0, 2]))
    return g, np.array([1.2, -0.8, 0.5, -0.5])


MODELS = {
    f.__name__: f for f in (frustrated_ising, potts_triangle, five_state_chain, mixed_kinds, base_measure, disconnected)
}
