"""Small models on which stochastic-approximation fits are hard, each with its exact solution.

Each builder returns ``(graph, terms, exact)``: the model, the objectives a fit is given, and
the exact maximiser of the same objective (:func:`factorgraph.exact.fit`). They cover what
makes persistent-chain fits wander: frustration and degenerate ground states, glassy
couplings, maximum-likelihood targets from finite data with no penalty, multi-state and
higher-order features, a marginal prior and an L1 penalty.
"""

import itertools

import numpy as np

import factorgraph as fg
import objectives
from factorgraph import features as F


def _spins(n):
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    return g


def _exact(g, terms):
    matching = [t for t in terms if isinstance(t, objectives.MomentMatching)]
    target = matching[0].target if matching else None
    others = [t for t in terms if not isinstance(t, objectives.MomentMatching)]
    result = fg.exact.fit(g, target, objectives=others or None)
    assert result.success, result.message
    return result


def _planted(g, theta, rng=None, n_samples=None):
    """Targets: the exact moments at ``theta``, or those of ``n_samples`` exact samples."""
    if n_samples is None:
        return fg.exact.expectations(g, theta)
    return fg.moments(g, fg.exact.sample(g, theta, n_samples, seed=rng))


def triangular_antiferromagnet():
    """A 4x4 periodic triangular lattice with antiferromagnetic bonds near −1: frustrated, with
    a highly degenerate ground state."""
    g = _spins(16)
    site = lambda r, c: (r % 4) * 4 + c % 4  # noqa: E731
    bonds = sorted(
        {
            tuple(sorted((site(r, c), site(r + dr, c + dc))))
            for r in range(4)
            for c in range(4)
            for dr, dc in ((0, 1), (1, 0), (1, 1))
        }
    )
    g.add_features(F.Product(np.arange(16)))
    g.add_features(F.Product(bonds))
    rng = np.random.default_rng(401)
    theta = np.concatenate([rng.normal(0, 0.05, 16), -1 + rng.normal(0, 0.05, len(bonds))])
    terms = [objectives.MomentMatching(_planted(g, theta))]
    return g, terms, _exact(g, terms)


def spin_ladder():
    """A 2x7 ladder with three long bonds; maximum-likelihood targets from 4,000 samples and no
    penalty (the exact fit of those moments is the reference, not the planted θ)."""
    g = _spins(14)
    rails = [(i, i + 1) for i in range(6)] + [(7 + i, 8 + i) for i in range(6)]
    rungs = [(i, i + 7) for i in range(7)]
    long = [(0, 13), (3, 11), (2, 12)]
    g.add_features(F.Product(np.arange(14)))
    g.add_features(F.Product(rails + rungs + long))
    rng = np.random.default_rng(402)
    theta = np.concatenate([rng.normal(0, 0.2, 14), rng.normal(0, 0.6, len(rails + rungs + long))])
    terms = [objectives.MomentMatching(_planted(g, theta, rng=403, n_samples=4000))]
    return g, terms, _exact(g, terms)


def _all_pairs(n):
    """n spins with fields and every pair coupled; returns the graph and the number of pairs."""
    g = _spins(n)
    pairs = list(itertools.combinations(range(n), 2))
    g.add_features(F.Product(np.arange(n)))
    g.add_features(F.Product(pairs))
    return g, len(pairs)


def spin_glass():
    """12 spins, all pairs coupled by ±0.6, weak fields: deep in the glassy regime."""
    g, n_pairs = _all_pairs(12)
    rng = np.random.default_rng(404)
    theta = np.concatenate([rng.normal(0, 0.1, 12), 0.6 * rng.choice([-1.0, 1.0], n_pairs)])
    terms = [objectives.MomentMatching(_planted(g, theta))]
    return g, terms, _exact(g, terms)


def potts_ring():
    """Six 3-state variables on a ring with two chords: Potential fields and pair tables
    (reference state 0, identifiable)."""
    g = fg.FactorGraph()
    g.add_variables(6, n_states=3)
    g.add_features(F.Potential(np.arange(6), reference=0))
    g.add_features(F.Potential([(i, (i + 1) % 6) for i in range(6)] + [(0, 3), (1, 4)], reference=0))
    theta = np.random.default_rng(405).normal(0, 0.8, g.n_features)
    terms = [objectives.MomentMatching(_planted(g, theta))]
    return g, terms, _exact(g, terms)


def three_body():
    """Eight spins with fields, a ring of pairs and four three-spin products."""
    g = _spins(8)
    g.add_features(F.Product(np.arange(8)))
    g.add_features(F.Product([(i, (i + 1) % 8) for i in range(8)]))
    g.add_features(F.Product([(0, 1, 2), (2, 3, 5), (4, 6, 7), (1, 5, 6)]))
    theta = np.random.default_rng(406).normal(0, 0.6, g.n_features)
    terms = [objectives.MomentMatching(_planted(g, theta))]
    return g, terms, _exact(g, terms)


def marginal_prior():
    """A frustrated 6-spin model whose pair marginal on (0, 3) is pulled by a KL prior towards a
    table the moments disagree with."""
    g = _spins(6)
    g.add_features(F.Product(np.arange(6)))
    g.add_features(F.Product([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3), (1, 4)]))
    theta = np.random.default_rng(407).normal(0, 0.6, g.n_features)
    terms = [
        objectives.MomentMatching(_planted(g, theta)),
        objectives.MarginalPrior((0, 3), [[0.4, 0.1], [0.1, 0.4]], kind="kl", strength=0.5),
    ]
    return g, terms, _exact(g, terms)


def lasso():
    """The spin-glass couplings on 8 spins, with an L1 penalty that zeroes some of them."""
    g, n_pairs = _all_pairs(8)
    rng = np.random.default_rng(408)
    theta = np.concatenate([rng.normal(0, 0.2, 8), rng.normal(0, 0.4, n_pairs)])
    terms = [objectives.MomentMatching(_planted(g, theta)), objectives.L1(0.02)]
    return g, terms, _exact(g, terms)


HARD_MODELS = [triangular_antiferromagnet, spin_ladder, spin_glass, potts_ring, three_body, marginal_prior, lasso]


def kl_to_exact(g, exact_theta, theta):
    """KL(p_exact ‖ p_θ), by enumeration."""
    p = fg.exact.probabilities(g, exact_theta)
    log_p = np.log(np.maximum(p, 1e-300))
    log_q = np.log(np.maximum(fg.exact.probabilities(g, theta), 1e-300))
    return float(np.sum(p * (log_p - log_q)))
