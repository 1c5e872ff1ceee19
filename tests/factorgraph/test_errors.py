"""Bad input must fail loudly, early and with an actionable message.

One parametrised case per bad input (RELIABILITY.md (e), STYLE.md 2.4).  Each
case asserts the specific ``FactorGraphError`` subclass, that the message names
the problem (``match=``), and that the error is also the builtin exception the
spec pairs it with (``ValueError``, ``OSError``, ...), so that plain
``except ValueError`` keeps working.

The callables build the feature *and* add it *and* compile, so a library may
validate at construction, at ``add_features`` or at ``compile()``; it must
validate somewhere before evaluation.
"""

import numpy as np
import pytest

import factorgraph as fg

F = fg.features
NAN, INF = float("nan"), float("inf")


def _graph(n=3, **domain):
    g = fg.FactorGraph()
    g.add_variables(n, **(domain or {"n_states": 2}))
    return g


def _add(feature_factory, n=3, **domain):
    """Return a callable that builds, adds and compiles one feature group."""

    def run():
        g = _graph(n, **domain)
        g.add_features(feature_factory())
        g.compile()

    return run


def _ising(n=3):
    g = _graph(n, values=[-1, 1])
    g.add_features(F.Product(np.arange(n)[:, None]))
    g.add_features(F.Product([(i, i + 1) for i in range(n - 1)]))
    return g


def _nonfinite_fn(x):
    return np.where(x > 0, np.inf, 0.0)


# (id, callable, FactorGraphError subclass, builtin, match)
SPEC_CASES = [
    (
        "scope-negative",
        _add(lambda: F.Product([(0, -1)])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)range|bound|variable -1\b",
    ),
    (
        "scope-too-large",
        _add(lambda: F.Product([(0, 3)])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)range|bound|variable 3\b",
    ),
    (
        "scope-repeated-variable",
        _add(lambda: F.Product([(1, 1)])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)repeat|duplicate|twice|distinct|unique",
    ),
    (
        "polynomial-arity-2",
        _add(lambda: F.Polynomial([(0, 1)], power=2)),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)arity",
    ),
    (
        "threshold-arity-2",
        _add(lambda: F.Threshold([(0, 1)], threshold=0.5)),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)arity",
    ),
    (
        "table-wrong-shape",
        _add(lambda: F.Table([(0, 1)], table=np.zeros((2, 3)))),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)shape",
    ),
    (
        "table-wrong-rank",
        _add(lambda: F.Table([(0, 1)], table=np.zeros(2))),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)shape|rank|dim|arity",
    ),
    (
        "table-nan",
        _add(lambda: F.Table([(0, 1)], table=[[0.0, NAN], [1.0, 2.0]])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)nan|finite",
    ),
    ("table-inf", _add(lambda: F.Table([(0,)], table=[INF, 1.0])), fg.FeatureSpecError, ValueError, r"(?i)inf|finite"),
    ("values-nan", lambda: _graph(2, values=[0.0, NAN]), fg.ModelSpecError, ValueError, r"(?i)nan|finite"),
    ("values-inf", lambda: _graph(2, values=[-INF, 1.0]), fg.ModelSpecError, ValueError, r"(?i)inf|finite"),
    (
        "bin-lower-nan",
        _add(lambda: F.Bin([(0,)], lower=[NAN], upper=[1.0])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)nan|finite",
    ),
    (
        "bin-upper-inf",
        _add(lambda: F.Bin([(0,)], lower=[0.0], upper=[INF])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)inf|finite",
    ),
    (
        "function-nonfinite",
        _add(lambda: F.Function([(0,)], fn=_nonfinite_fn)),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)finite|inf|nan",
    ),
    (
        "indicator-state-too-large",
        _add(lambda: F.Indicator([(0, 1)], states=[0, 2])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)state",
    ),
    (
        "indicator-state-negative",
        _add(lambda: F.Indicator([(0,)], states=[-1])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)state",
    ),
    (
        "empty-scopes-array",
        _add(lambda: F.Product(np.zeros((0, 2), dtype=np.int64))),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)empty|no scope|zero|at least",
    ),
    (
        "empty-scopes-list",
        _add(lambda: F.Product([])),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)empty|no scope|zero|at least",
    ),
    (
        "scopes-fractional-float",
        _add(lambda: F.Product(np.array([[0.5, 1.0]]))),
        fg.FeatureSpecError,
        ValueError,
        r"(?i)integer|int",
    ),
    ("n-states-zero", lambda: _graph(2, n_states=0), fg.ModelSpecError, ValueError, r"(?i)n_states"),
    ("n-states-negative", lambda: _graph(2, n_states=-3), fg.ModelSpecError, ValueError, r"(?i)n_states"),
]


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda: "Product", "string"),
        (lambda: {"kind": "Product", "scopes": [(0, 1)]}, "dict"),
        (lambda: np.array([[0, 1]]), "array"),
    ],
    ids=["string", "dict", "array"],
)
def test_unknown_feature_kind(make, kind):
    g = _graph()
    with pytest.raises(fg.FeatureSpecError, match=r"(?i)kind|feature") as info:
        g.add_features(make())
    assert isinstance(info.value, ValueError), kind


@pytest.mark.parametrize("run, error, builtin, match", [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_bad_model_spec(run, error, builtin, match):
    with pytest.raises(error, match=match) as info:
        run()
    assert isinstance(info.value, fg.FactorGraphError)
    assert isinstance(info.value, builtin)


# ----------------------------------------------------------------------------
# data: fg.moments and g.encode
# ----------------------------------------------------------------------------
GOOD = np.array([[0, 1, 1], [1, 0, 1]])

MOMENT_CASES = [
    ("state-too-large", np.array([[0, 2, 1]]), None, r"(?i)state|range|domain"),
    ("state-negative", np.array([[0, -1, 1]]), None, r"(?i)state|range|domain"),
    ("nan", np.array([[0.0, NAN, 1.0]]), None, r"(?i)nan|finite"),
    ("fractional", np.array([[0.0, 0.5, 1.0]]), None, r"(?i)integer|int"),
    ("too-many-columns", np.zeros((2, 4), dtype=int), None, r"(?i)shape|column|variables"),
    ("too-few-columns", np.zeros((2, 2), dtype=int), None, r"(?i)shape|column|variables"),
    ("one-dimensional", np.array([0, 1, 1]), None, r"(?i)shape|2-?d|dim"),
    ("empty", np.zeros((0, 3), dtype=int), None, r"(?i)empty|no (rows|data|samples)|zero"),
    ("negative-weight", GOOD, np.array([1.0, -0.5]), r"(?i)weight"),
    ("nan-weight", GOOD, np.array([1.0, NAN]), r"(?i)weight"),
    ("weights-wrong-length", GOOD, np.ones(3), r"(?i)weight"),
    ("weights-all-zero", GOOD, np.zeros(2), r"(?i)weight"),
]


@pytest.mark.parametrize("data, weights, match", [c[1:] for c in MOMENT_CASES], ids=[c[0] for c in MOMENT_CASES])
def test_moments_bad_data(data, weights, match):
    g = _ising()
    with pytest.raises(fg.DataError, match=match) as info:
        fg.moments(g, data, weights=weights)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "raw, match",
    [
        (np.array([[-1.0, 0.5]]), r"(?i)domain|value|state"),
        (np.array([[-1.0, NAN]]), r"(?i)nan|finite"),
        (np.array([[-1.0, 1.0, 1.0]]), r"(?i)shape|column|variables"),
    ],
    ids=["not-in-domain", "nan", "wrong-columns"],
)
def test_encode_bad_values(raw, match):
    g = _graph(2, values=[-1, 1])
    with pytest.raises(fg.DataError, match=match) as info:
        g.encode(raw)
    assert isinstance(info.value, ValueError)


# ----------------------------------------------------------------------------
# model files
# ----------------------------------------------------------------------------
def _saved_model_bytes(tmp_path):
    path = tmp_path / "good.npz"
    _ising(4).save(str(path), theta=np.linspace(-1.0, 1.0, 7))
    return path.read_bytes()


def _corrupt(tmp_path, how):
    path = tmp_path / "bad.npz"
    if how == "missing":
        return str(tmp_path / "does-not-exist.npz")
    if how == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(2048))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        blob = bytearray(_saved_model_bytes(tmp_path))
        if how == "truncated":
            blob = blob[: len(blob) // 2]
        elif how == "byte-flipped":
            blob[len(blob) // 2] ^= 0xFF
        path.write_bytes(bytes(blob))
    return str(path)


@pytest.mark.parametrize(
    "how, match",
    [
        ("missing", r"(?i)exist|not found|no such"),
        ("random-bytes", r"(?i)corrupt|invalid|not a|read|format"),
        ("empty", r"(?i)corrupt|invalid|empty|truncat|read|format"),
        ("truncated", r"(?i)corrupt|truncat|invalid|read"),
        ("byte-flipped", r"(?i)corrupt|checksum|hash|invalid|read|crc"),
    ],
)
def test_load_bad_file(tmp_path, how, match):
    path = _corrupt(tmp_path, how)
    with pytest.raises(fg.ModelFileError, match=match) as info:
        fg.load(path)
    assert isinstance(info.value, OSError)
    assert isinstance(info.value, fg.FactorGraphError)


def test_load_good_file_still_works(tmp_path):
    """Control for test_load_bad_file: the untouched bytes load fine."""
    path = tmp_path / "copy.npz"
    path.write_bytes(_saved_model_bytes(tmp_path))
    g, theta = fg.load(str(path))
    assert g.n_variables == 4
    np.testing.assert_allclose(theta, np.linspace(-1.0, 1.0, 7))


# ----------------------------------------------------------------------------
# exact engine
# ----------------------------------------------------------------------------
EXACT_CALLS = {
    "log_partition": lambda g, t: fg.exact.log_partition(g, t),
    "expectations": lambda g, t: fg.exact.expectations(g, t),
    "marginal": lambda g, t: fg.exact.marginal(g, t, [0, 1]),
    "covariance": lambda g, t: fg.exact.covariance(g, t),
    "entropy": lambda g, t: fg.exact.entropy(g, t),
}


@pytest.mark.parametrize("name", sorted(EXACT_CALLS))
def test_exact_refuses_huge_model(name):
    g = _ising(40)
    with pytest.raises(fg.ModelTooLargeError, match=r"(?i)large|enumerat|states|2\*\*40|2\^40") as info:
        EXACT_CALLS[name](g, np.zeros(g.n_features))
    assert isinstance(info.value, ValueError)


# The spec does not say whether a non-finite theta is bad input (DataError) or a
# numerical problem (NumericalError); either is acceptable, nothing else is.
BAD_THETA_VALUE = (fg.DataError, fg.NumericalError)


@pytest.mark.parametrize("name", sorted(EXACT_CALLS))
@pytest.mark.parametrize(
    "theta, match, error",
    [
        (np.zeros(4), r"(?i)theta.*(length|shape)", fg.DataError),
        (np.zeros(6), r"(?i)theta.*(length|shape)", fg.DataError),
        (np.array([0.0, 0.1, NAN, 0.0, 0.0]), r"(?i)nan|finite", BAD_THETA_VALUE),
        (np.array([0.0, 0.1, INF, 0.0, 0.0]), r"(?i)inf|finite", BAD_THETA_VALUE),
    ],
    ids=["short", "long", "nan", "inf"],
)
def test_exact_bad_theta(name, theta, match, error):
    g = _ising(3)
    assert g.n_features == 5
    with pytest.raises(error, match=match) as info:
        EXACT_CALLS[name](g, theta)
    # DataError is a ValueError; NumericalError a FloatingPointError
    assert isinstance(info.value, (ValueError, FloatingPointError))
    assert isinstance(info.value, fg.FactorGraphError)


def test_exact_fit_bad_target():
    g = _ising(3)
    with pytest.raises(fg.DataError, match=r"(?i)target.*(length|shape)") as info:
        fg.exact.fit(g, np.zeros(4))
    assert isinstance(info.value, ValueError)


# ----------------------------------------------------------------------------
# adding features after compile()
# ----------------------------------------------------------------------------
def test_add_features_after_compile_is_transparent():
    g = _ising(4)
    states = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=np.int32)
    first = g.compile()
    before = first.feature_values(states).copy()
    colors_before = np.asarray(first.colors).copy()
    assert before.shape == (3, 7)

    new_ids = g.add_features(F.Product([(0, 3)]))
    np.testing.assert_array_equal(new_ids, [7])
    g.add_features(F.Indicator([(1, 2)], states=[1, 0]))
    second = g.compile()

    after = second.feature_values(states)
    assert after.shape == (3, 9)
    np.testing.assert_array_equal(after[:, :7], before)
    spins = np.where(states == 1, 1.0, -1.0)
    np.testing.assert_array_equal(after[:, 7], spins[:, 0] * spins[:, 3])
    np.testing.assert_array_equal(after[:, 8], [0.0, 1.0, 0.0])  # (x1, x2) == (1, 0)
    # the earlier compiled graph is a snapshot
    np.testing.assert_array_equal(first.feature_values(states), before)
    np.testing.assert_array_equal(first.colors, colors_before)
    assert first.energy(states, np.ones(7)).shape == (3,)
    # the ring 0-1-2-3-0 is still validly coloured
    colors = np.asarray(second.colors)
    for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]:
        assert colors[a] != colors[b]
