"""Potts conveniences: parameters, the zero-sum gauge, contact scores, energies and mutations."""

from __future__ import annotations

import numpy as np
import pytest

import factorgraph as fg
from factorgraph import potts


def _energy(params: potts.PottsParameters, x: np.ndarray) -> np.ndarray:
    """Σ h_i(x_i) + Σ_e J_e(x_i, x_j) for each row: θ·f from the parameters."""
    sites = np.arange(params.fields.shape[0])
    total = params.fields[sites, x].sum(axis=1)
    for e, (i, j) in enumerate(params.pairs):
        total = total + params.couplings[e, x[:, i], x[:, j]]
    return total


def _mixed_model() -> fg.CompiledGraph:
    """A Potts model plus asymmetric tables on pairs given high site first, a pair met twice and a
    scaled unary feature: every factor must land in the right block, the right way round."""
    g = potts.potts_model(6, 4)
    table = np.arange(16.0).reshape(4, 4) ** 1.5
    g.add_features(fg.features.Table(np.array([[4, 1], [5, 0]]), table), name="extra")
    g.add_features(fg.features.Table(np.array([[1, 4]]), table), name="again")
    g.add_features(fg.features.Product(np.array([[2]])), name="unary")
    return g.compile()


def test_parameters_give_the_model_energy_and_the_gauge_keeps_its_differences():
    cg = _mixed_model()
    rng = np.random.default_rng(0)
    theta = rng.normal(0, 1, cg.n_features)
    x = rng.integers(0, 4, (200, 6))
    params = potts.potts_parameters(cg, theta)
    assert params.pairs.tolist() == [[i, j] for i in range(6) for j in range(i + 1, 6)]
    np.testing.assert_allclose(_energy(params, x), cg.energy(x, theta), atol=1e-12)
    gauged = params.zero_sum()
    shift = _energy(gauged, x) - cg.energy(x, theta)
    assert np.ptp(shift) < 1e-12  # a constant: the same distribution
    np.testing.assert_allclose(gauged.couplings.sum(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(gauged.couplings.sum(axis=2), 0.0, atol=1e-12)
    np.testing.assert_allclose(gauged.fields.sum(axis=1), 0.0, atol=1e-12)


def test_planted_contacts_rank_first():
    """Sample a sparse Potts model (four coupled pairs among 28), fit every pair exactly to the
    sample, and the planted pairs take the top four contact scores."""
    length, q = 8, 3
    planted = {(0, 5), (1, 7), (2, 3), (4, 6)}
    cg = potts.potts_model(length, q).compile()
    rng = np.random.default_rng(1)
    theta = np.zeros(cg.n_features)
    theta[: length * q] = rng.normal(0, 0.3, length * q)
    for e, (i, j) in enumerate(zip(*np.triu_indices(length, 1))):
        if (i, j) in planted:
            start = length * q + e * q * q
            theta[start : start + q * q] = np.eye(q).ravel()
    data = fg.sample(cg, theta, 3000, seed=2, progress=False)
    fitted = fg.exact.fit(cg, fg.moments(cg, data), l2=1e-3)
    contacts = potts.contact_scores(cg, fitted.theta, gap=None)
    assert {tuple(p) for p in contacts.top(4).pairs.tolist()} == planted
    assert contacts.scores[3] > 0.5 > 0.1 > contacts.scores[4]
    assert len(contacts) == 28 and np.all(np.diff(contacts.scores) <= 0)


def test_contact_scores_follow_their_definition():
    """Frobenius norms of the zero-sum blocks without the gap state, minus the average product."""
    cg = potts.potts_model(5, 3).compile()
    theta = np.random.default_rng(3).normal(0, 1, cg.n_features)
    J = potts.potts_parameters(cg, theta).zero_sum().couplings[:, 1:, 1:]
    norms = np.sqrt((J**2).sum(axis=(1, 2)))
    F = np.zeros((5, 5))
    F[np.triu_indices(5, 1)] = norms
    F = F + F.T
    mean_site = F.sum(axis=1) / 4
    expected = F - np.outer(mean_site, mean_site) / norms.mean()
    contacts = potts.contact_scores(cg, theta)
    np.testing.assert_allclose(contacts.matrix()[np.triu_indices(5, 1)], expected[np.triu_indices(5, 1)])
    raw = potts.contact_scores(cg, theta, apc=False)
    np.testing.assert_allclose(np.sort(raw.scores), np.sort(norms))


def test_contacts_top_matrix_and_file(tmp_path):
    cg = potts.potts_model(7, 3).compile()
    theta = np.random.default_rng(4).normal(0, 1, cg.n_features)
    contacts = potts.contact_scores(cg, theta)
    far = contacts.top(5, min_separation=3)
    assert len(far) == 5 and np.all(far.pairs[:, 1] - far.pairs[:, 0] >= 3)
    matrix = contacts.matrix()
    np.testing.assert_array_equal(matrix, matrix.T)
    assert np.all(np.diag(matrix) == 0)
    contacts.write(tmp_path / "contacts.csv")
    lines = (tmp_path / "contacts.csv").read_text().splitlines()
    assert lines[0] == "i,j,score" and len(lines) == 22
    i, j, score = lines[1].split(",")
    assert (int(i), int(j)) == tuple(contacts.pairs[0]) and float(score) == contacts.scores[0]


def test_energies_and_mutation_effects_agree_with_the_model():
    cg = _mixed_model()
    rng = np.random.default_rng(5)
    theta = rng.normal(0, 1, cg.n_features)
    x = rng.integers(0, 4, 6)
    np.testing.assert_array_equal(potts.statistical_energies(cg, theta, x[None, :]), -cg.energy(x[None, :], theta))
    effects = potts.mutation_effects(cg, theta, x)
    for i in range(6):
        for a in range(4):
            mutant = x.copy()
            mutant[i] = a
            expected = cg.energy(x[None, :], theta)[0] - cg.energy(mutant[None, :], theta)[0]
            assert effects[i, a] == pytest.approx(expected, abs=1e-12)
    assert np.all(effects[np.arange(6), x] == 0.0)


def test_the_model_of_an_alignment():
    alignment = fg.datasets.load_pf00014(identity=None)
    g = potts.potts_model(alignment)
    assert (g.n_variables, g.n_features) == (53, 53 * 21 + 1378 * 441)
    assert potts.potts_model(4, 2, pairs=[[0, 1], [2, 3]]).n_features == 4 * 2 + 2 * 4
    spec = fg.parse_spec(potts.potts_model_file(7, 4, pseudocount=0.1))
    assert spec.graph.compile().fingerprint() == potts.potts_model(7, 4).compile().fingerprint()
    assert spec.needs_data


def test_models_outside_the_potts_form_are_refused():
    g = fg.FactorGraph()
    v = g.add_variables(3, n_states=2)
    g.add_features(fg.features.Product(np.array([[0, 1, 2]])))
    with pytest.raises(fg.ModelSpecError, match="at most two variables"):
        potts.potts_parameters(g, np.zeros(1))
    g = fg.FactorGraph()
    g.add_variables(1, n_states=2)
    g.add_variables(1, n_states=3)
    g.add_features(fg.features.Potential(np.array([0, 1])))
    with pytest.raises(fg.ModelSpecError, match="same number of states"):
        potts.contact_scores(g, np.zeros(g.n_features))
    with pytest.raises(fg.ModelSpecError, match="n_states="):
        potts.potts_model(5)
    with pytest.raises(fg.DataError, match="gap must be"):
        potts.contact_scores(potts.potts_model(3, 2), np.zeros(3 * 2 + 3 * 4), gap=5)
    del v
