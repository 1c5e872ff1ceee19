"""Regression tests for defects found in review: each once gave a wrong answer or a raw error."""

import dataclasses
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import factorgraph as fg
from factorgraph import features as F
from factorgraph._openmp import effective_n_threads
from factorgraph.features import FeatureKind


@pytest.fixture
def two():
    g = fg.FactorGraph()
    g.add_variables(2, values=[1.0, 2.0])
    return g


@pytest.mark.parametrize("fn", [lambda *v: np.prod(v), lambda a, b: np.linalg.norm([a, b])])
def test_function_returning_one_number_for_arrays_is_called_per_state(two, fn):
    two.add_features(F.Function([(0, 1)], fn=fn))
    values = two.compile().feature_values([[0, 0], [0, 1], [1, 0], [1, 1]])[:, 0]
    expected = [fn(a, b) for a in (1.0, 2.0) for b in (1.0, 2.0)]
    np.testing.assert_allclose(values, expected, rtol=1e-15)


def test_function_with_complex_output_is_refused(two):
    with pytest.raises(fg.FeatureSpecError, match="real number"):
        two.add_features(F.Function([(0, 1)], fn=lambda a, b: complex(a, b)))


class _BadMap(FeatureKind):
    form = "indexed"

    def _index_map(self, values):
        a, b = np.indices([len(v) for v in values]).reshape(2, -1)
        return np.minimum(a * 3 + b, 4), 4  # entry 4 would switch on the next group's feature


def test_custom_index_map_beyond_its_feature_count_is_refused(two):
    with pytest.raises(fg.FeatureSpecError, match="outside -1..3"):
        two.add_features(_BadMap([(0, 1)]))


@pytest.mark.filterwarnings("ignore::factorgraph.DuplicateScopeWarning")  # 600 random pairs of 16 repeat
def test_covariance_memory_stays_bounded():
    g = fg.FactorGraph()
    g.add_variables(16, values=[-1, 1])
    rng = np.random.default_rng(3)
    scopes = np.array([rng.choice(16, size=2, replace=False) for _ in range(600)])
    g.add_features(F.Product(scopes))
    tracemalloc.start()
    cov = fg.exact.covariance(g, rng.normal(0, 0.1, 600))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert cov.shape == (600, 600) and np.allclose(cov, cov.T)
    assert peak < 200 * 2**20  # one full chunk of 65,536 dense rows would be 315 MiB


@pytest.mark.parametrize("field", ["var_pos", "var_factors"])
def test_negative_indices_in_a_compiled_graph_are_refused(two, field):
    two.add_features(F.Product([(0, 1)]))
    cg = two.compile()
    with pytest.raises(fg.ModelSpecError, match="variable CSR"):
        dataclasses.replace(cg, **{field: -np.ones_like(getattr(cg, field))})


def test_loading_an_npy_file_is_a_model_file_error(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3))
    with pytest.raises(fg.ModelFileError, match="not a readable"):
        fg.load(tmp_path / "x.npy")


def test_a_tampered_header_is_detected(two, tmp_path):
    two.add_features(F.Product([(0, 1)]))
    path = tmp_path / "model.npz"
    two.save(path)
    with np.load(path) as npz:
        arrays = dict(npz)
    header = json.loads(arrays["header"].tobytes())
    header["groups"][0]["trainable"] = False
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(fg.ModelFileError, match="header fails its checksum"):
        fg.load(tmp_path / "tampered.npz")
    assert zipfile.is_zipfile(tmp_path / "tampered.npz")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda g: F.Potential([(0, 1)], reference=[0, 1]), fg.FeatureSpecError, "reference"),
        (lambda g: fg.moments(g, [[0, 0], [1, 1]], weights=["a", "b"]), fg.DataError, "weights"),
        (lambda g: fg.moments(g, [[0, 0], [1, 1]], weights=[1e308, 1e308]), fg.DataError, "overflow"),
        (lambda g: g.compile().conditional_energies(0, 0, np.zeros(1)), fg.DataError, "state"),
        (lambda g: g.compile().variable_values(-1), fg.ModelSpecError, "variable"),
        (lambda g: g.compile().variable_values(2), fg.ModelSpecError, "variable"),
        (lambda g: effective_n_threads(10**10), fg.ModelSpecError, "n_threads"),
        (lambda g: fg.exact.fit(g, np.zeros(1), l2="x"), fg.ModelSpecError, "l2"),
        (lambda g: fg.exact.fit(g, np.zeros(1), l2=None), fg.ModelSpecError, "l2"),
        (lambda g: g.add_variables(10**12), fg.ModelSpecError, "'n'"),
        (lambda g: g.add_variables(1, n_states=10**12), fg.ModelSpecError, "n_states"),
        (lambda g: g.add_variables(3, names="abc"), fg.ModelSpecError, "names"),
        (lambda g: g.feature_index("nope"), fg.UnknownGroupError, "nope"),
        (lambda g: fg.moments(g, [[0, 1e30]]), fg.DataError, "1e\\+30"),
        (lambda g: fg.exact.log_partition(g, [1e308]), fg.NumericalError, "overflowed"),
    ],
)
def test_bad_input_gets_a_library_error(two, call, error, match):
    two.add_features(F.Product([(0, 1)]))
    with pytest.raises(error, match=match):
        call(two)


def test_unknown_group_is_also_a_key_error(two):
    with pytest.raises(KeyError):
        two.group("missing")


def test_entropy_has_no_cancellation_at_huge_coupling():
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    g.add_features(F.Product([(0, 1)]))
    # Two ground states share all the mass; the rest is exp(-2e5), far below double precision.
    assert fg.exact.entropy(g, [1e5]) == pytest.approx(np.log(2), abs=1e-15)


def test_fit_respects_max_iter(two):
    two.add_features(F.Product([(0, 1)]))
    result = fg.exact.fit(two, np.array([2.5]), max_iter=0)
    assert result.n_iter == 0 and not result.success


def test_boolean_data_are_states(two):
    two.add_features(F.Product([0, 1]))
    np.testing.assert_array_equal(fg.moments(two, np.array([[True, False]])), [2.0, 1.0])
