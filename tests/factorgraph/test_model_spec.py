"""Text model files: a full example equals the same model built in Python and trains; every kind
of mistake is refused with the file, the key path, what was expected and what was found."""

import re
import textwrap

import numpy as np
import pytest

import factorgraph as fg
import objectives
from factorgraph import features as F

PAIRS = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0]], dtype=np.int64)

MODEL = """\
format = "factorgraph-model"
version = 1
description = "six spins in a ring and a three-state pair"

[[variables]]
n = 6
values = [-1, 1]

[[variables]]
names = ["colour", "shade"]
n_states = 3

[[features]]
kind = "Product"
name = "fields"
scopes = { file = "fields.csv" }

[[features]]
kind = "Product"
name = "ring"
scopes = { file = "pairs.npy" }

[[features]]
kind = "Potential"
name = "colours"
scopes = [[6, 7]]
reference = 0

[[features]]
kind = "Indicator"
name = "red-up"
scopes = [[6, 0]]
states = [2, 1]
trainable = false
theta_init = 0.5

[[objectives]]
name = "moment-matching"
target = { from = "data", pseudocount = 0.05 }

[[objectives]]
name = "marginal-prior"
scope = [0, 1]
target = [[0.4, 0.1], [0.1, 0.4]]
kind = "l2"
strength = 0.5

[[objectives]]
name = "l2"
strength = 0.01

[sampler]
name = "gibbs"
n_chains = 64
sweeps_per_step = 2
seed = 3
n_threads = 1

[optimizer]
name = "sgd"
momentum = 0.5
lr = { name = "inverse_time", lr = 0.1, decay_steps = 50 }

[fit]
max_steps = 7
tol = 0.0
average_from = 3
"""


def _write_model(folder, text=MODEL):
    np.save(folder / "pairs.npy", PAIRS)
    (folder / "fields.csv").write_text("# one variable per scope\n0\n1\n2\n3\n4\n5\n")
    (folder / "model.toml").write_text(text)
    return folder / "model.toml"


def _python_model():
    g = fg.FactorGraph()
    g.add_variables(6, values=[-1, 1])
    g.add_variables(2, n_states=3, names=["colour", "shade"])
    g.add_features(F.Product(np.arange(6)), name="fields")
    g.add_features(F.Product(PAIRS), name="ring")
    g.add_features(F.Potential([(6, 7)], reference=0), name="colours")
    g.add_features(F.Indicator([(6, 0)], states=[2, 1]), name="red-up", trainable=False, theta_init=0.5)
    return g


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.integers(0, 2, (n, 6)), rng.integers(0, 3, (n, 2))], axis=1)


@pytest.fixture
def spec(tmp_path):
    return fg.load_spec(_write_model(tmp_path))


# -- the full example ----------------------------------------------------------------------------


def test_full_example_builds_the_same_graph_as_python(spec):
    expected = _python_model()
    got, want = spec.graph.compile(), expected.compile()
    assert got.fingerprint() == want.fingerprint()
    for name in ("n_states", "values", "factor_vars", "factor_theta", "tables", "maps", "trainable", "theta_init"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.group_names == want.group_names and got.group_kinds == want.group_kinds
    assert spec.graph.variable_names == expected.variable_names
    theta = np.random.default_rng(1).normal(0, 0.5, expected.n_features)
    np.testing.assert_allclose(fg.exact.expectations(spec.graph, theta), fg.exact.expectations(expected, theta))


def test_full_example_settings(spec):
    assert spec.description.startswith("six spins")
    assert (spec.sampler, spec.n_chains, spec.sweeps_per_step, spec.seed, spec.n_threads) == ("gibbs", 64, 2, 3, 1)
    assert isinstance(spec.optimizer, fg.optim.SGD) and spec.optimizer.momentum == 0.5
    assert spec.optimizer.lr == pytest.approx(0.1)
    assert spec.fit_options["max_steps"] == 7 and spec.fit_options["tol"] == 0.0
    assert spec.fit_options["window"] == 50  # defaults filled in from Trainer.fit
    assert spec.average_from == 3 and spec.needs_data
    prior, l2 = spec.objectives[1:]
    assert isinstance(prior, objectives.MarginalPrior) and prior.kind == "l2" and prior.strength == 0.5
    assert isinstance(l2, objectives.L2) and l2.strength == 0.01


def test_full_example_trains_through_its_trainer(spec):
    data = _data()
    trainer = spec.trainer(data)
    terms = trainer.objectives
    assert isinstance(terms[0], objectives.MomentMatching)
    np.testing.assert_allclose(terms[0].target, fg.moments(spec.graph, data, pseudocount=0.05))
    assert trainer.sampler.n_chains == 64 and trainer.sweeps_per_step == 2
    assert trainer.optimizer is not spec.optimizer  # each trainer gets a fresh optimizer
    result = trainer.fit(**spec.fit_options, progress=False)
    assert result.n_steps == 7 and np.all(np.isfinite(result.theta))
    assert spec.optimizer.t == 0
    again = spec.fit(data, progress=False)
    np.testing.assert_array_equal(again.theta, result.theta)  # same seed, fresh state: same trajectory
    shorter = spec.fit(data, max_steps=2, n_chains=16, progress=False)
    assert shorter.n_steps == 2 and shorter.states.shape == (16, 8)


def test_data_target_needs_data(spec):
    with pytest.raises(fg.DataError, match=r"model\.toml: objectives\[0\] takes its target from data"):
        spec.trainer()


def test_exact_marginal_adds_its_group_and_sets_the_data_target(tmp_path):
    text = MODEL.replace(
        '[[objectives]]\nname = "l2"',
        textwrap.dedent("""\
        [[objectives]]
        name = "exact-marginal"
        scope = [6]
        target = [0.2, 0.3, 0.5]
        group = "colour-marginal"

        [[objectives]]
        name = "l2\""""),
    )
    spec = fg.load_spec(_write_model(tmp_path, text))
    group = spec.graph.group("colour-marginal")
    assert group.n_features == 2 and group.theta_start == _python_model().n_features
    target = spec.trainer(_data()).objectives[0].target
    np.testing.assert_allclose(target[group.theta_slice], [0.2, 0.3])


def test_parse_spec_text_and_dict_agree(tmp_path):
    _write_model(tmp_path)
    import tomllib

    from_text = fg.parse_spec(MODEL, base_dir=tmp_path)
    from_dict = fg.ModelSpec.from_dict(tomllib.loads(MODEL), base_dir=tmp_path)
    assert from_text.graph.compile().fingerprint() == from_dict.graph.compile().fingerprint()
    assert from_text.source == "<string>"


def test_inline_targets_and_files(tmp_path):
    np.save(tmp_path / "target.npy", np.array([0.1, -0.2]))
    (tmp_path / "table.csv").write_text("0.5, 1.5\n-1, 2\n")
    text = textwrap.dedent("""\
        format = "factorgraph-model"
        version = 1
        [[variables]]
        n = 3
        values = [-1, 1]
        [[features]]
        kind = "Product"
        scopes = [[0, 1], [1, 2]]
        [[features]]
        kind = "Table"
        scopes = [[0, 2]]
        table = { file = "table.csv" }
        trainable = false
        [[objectives]]
        name = "moment-matching"
        target = { file = "target.npy" }
        """)
    (tmp_path / "m.toml").write_text(text.replace('{ file = "target.npy" }', "[0.1, -0.2, 0.0]"))
    spec = fg.load_spec(tmp_path / "m.toml")
    np.testing.assert_array_equal(spec.objectives[0].target, [0.1, -0.2, 0.0])
    assert spec.graph.compile().tables.tolist()[-4:] == [0.5, 1.5, -1.0, 2.0]
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(fg.DataError, match=r"m\.toml: objectives\[0\]: .*shape \(3,\)"):
        fg.load_spec(tmp_path / "m.toml")


def test_the_digits_example_loads():
    spec = fg.spec.example("digits-ising")
    n = 64
    assert spec.graph.n_variables == n and spec.graph.n_features == n + n * (n - 1) // 2
    pairs = spec.graph.group("pairs").scopes
    i, j = np.triu_indices(n, k=1)
    np.testing.assert_array_equal(pairs, np.stack([i, j], axis=1))
    assert spec.objectives == (fg.spec.DataTarget(0.01),)
    assert (spec.n_chains, spec.sweeps_per_step, spec.seed) == (1000, 5, 0)
    assert spec.optimizer.lr == pytest.approx(0.05)
    trainer = spec.trainer(fg.datasets.load_digits(), n_chains=32)
    assert trainer.fit(max_steps=2, tol=0.0, progress=False).n_steps == 2


def test_error_class_is_value_and_os_error():
    assert issubclass(fg.ModelSpecFileError, fg.ModelSpecError)
    assert issubclass(fg.ModelSpecFileError, fg.ModelFileError)
    assert issubclass(fg.ModelSpecFileError, ValueError) and issubclass(fg.ModelSpecFileError, OSError)


# -- one test per kind of mistake ----------------------------------------------------------------


def _edit(old, new):
    assert old in MODEL, old
    return MODEL.replace(old, new, 1)


ERRORS = [
    (
        "syntax",
        _edit("n = 6\n", "n = = 6\n"),
        fg.ModelSpecFileError,
        [r"model\.toml: line 6, column \d+: TOML syntax error"],
    ),
    (
        "unknown-key",
        _edit('name = "ring"\nscopes', 'name = "ring"\nscope'),
        fg.ModelSpecFileError,
        [r"features\[1\]\.scope: unknown key", r"Did you mean 'scopes'\?"],
    ),
    (
        "unknown-top-level-key",
        MODEL + '\n[sampeler]\nname = "gibbs"\n',
        fg.ModelSpecFileError,
        [r"model\.toml: sampeler: unknown key", r"Did you mean 'sampler'\?"],
    ),
    (
        "wrong-type",
        _edit("n_chains = 64", 'n_chains = "many"'),
        fg.ModelSpecFileError,
        [r"sampler\.n_chains: expected an integer >= 1; found the string 'many'"],
    ),
    (
        "wrong-type-array",
        _edit("values = [-1, 1]", 'values = [-1, "up"]'),
        fg.ModelSpecFileError,
        [r"variables\[0\]\.values\[1\]: expected a number; found the string 'up'"],
    ),
    (
        "ragged-array",
        _edit("scopes = [[6, 7]]", "scopes = [[6, 7], [5]]"),
        fg.ModelSpecFileError,
        [r"features\[2\]\.scopes: expected a rectangular array"],
    ),
    (
        "missing-file",
        _edit('"pairs.npy"', '"nowhere.npy"'),
        fg.ModelSpecFileError,
        [r"features\[1\]\.scopes\.file: file 'nowhere\.npy' not found"],
    ),
    (
        "bad-version",
        _edit("version = 1", "version = 2"),
        fg.ModelSpecFileError,
        [r"model\.toml: version: format version 2 is not supported", r"versions \[1\]"],
    ),
    (
        "bad-format",
        _edit('format = "factorgraph-model"', 'format = "something-else"'),
        fg.ModelSpecFileError,
        [r"model\.toml: format: expected \"factorgraph-model\"; found the string 'something-else'"],
    ),
    (
        "bad-feature-kind",
        _edit('kind = "Potential"', 'kind = "Potental"'),
        fg.ModelSpecFileError,
        [r"features\[2\]\.kind: expected one of \[", r"Did you mean 'Potential'\?"],
    ),
    (
        "lower-case-kind",
        _edit('kind = "Potential"', 'kind = "potential"'),
        fg.ModelSpecFileError,
        [r"features\[2\]\.kind", r"Did you mean 'Potential'\?"],
    ),
    (
        "function-kind",
        _edit('kind = "Potential"', 'kind = "Function"'),
        fg.ModelSpecFileError,
        [r"features\[2\]\.kind: a Function feature needs Python code"],
    ),
    (
        "scope-out-of-range",
        _edit("scopes = [[6, 7]]", "scopes = [[6, 99]]"),
        fg.ModelSpecFileError,
        [r"features\[2\]\.scopes: expected variable ids in 0\.\.7", r"found 99 at index \[0, 1\]"],
    ),
    (
        "scope-generator-out-of-range",
        _edit('{ file = "fields.csv" }', "{ range = [0, 9] }"),
        fg.ModelSpecFileError,
        [r"features\[0\]\.scopes\.range: expected \[start, stop\] with 0 <= start < stop <= 8"],
    ),
    (
        "missing-kind-parameter",
        _edit("states = [2, 1]\n", ""),
        fg.ModelSpecFileError,
        [r"features\[3\]: missing key 'states'"],
    ),
    (
        "library-error-keeps-its-class",
        _edit("states = [2, 1]", "states = [3, 1]"),
        fg.FeatureSpecError,
        [r"model\.toml: features\[3\]: Feature group 'red-up': Indicator state 3"],
    ),
    (
        "repeated-variable",
        _edit("scopes = [[6, 7]]", "scopes = [[6, 6]]"),
        fg.FeatureSpecError,
        [r"features\[2\]: Feature group 'colours': scope row 0 \[6, 6\] repeats a variable"],
    ),
    (
        "bad-objective",
        _edit('name = "marginal-prior"', 'name = "marginal-priors"'),
        fg.ModelSpecFileError,
        [r"objectives\[1\]\.name: expected one of", r"Did you mean 'marginal-prior'\?"],
    ),
    (
        "objective-value",
        _edit('kind = "l2"', 'kind = "l3"'),
        fg.ModelSpecError,
        [r"objectives\[1\]: The 'kind' argument of MarginalPrior must be 'kl' or 'l2'"],
    ),
    (
        "data-target-elsewhere",
        _edit("target = [[0.4, 0.1], [0.1, 0.4]]", 'target = { from = "data" }'),
        fg.ModelSpecFileError,
        [r"objectives\[1\]\.target: a target from data is only available"],
    ),
    (
        "pseudocount",
        _edit("pseudocount = 0.05", "pseudocount = 1.5"),
        fg.ModelSpecFileError,
        [r"objectives\[0\]\.target\.pseudocount: expected a number in \[0, 1\); found the float 1\.5"],
    ),
    (
        "unknown-sampler",
        _edit('name = "gibbs"', 'name = "gibs"'),
        fg.ModelSpecFileError,
        [r"sampler\.name: expected one of", r"Did you mean 'gibbs'\?"],
    ),
    (
        "unknown-sampler-option",
        MODEL.replace("n_threads = 1\n", "n_threads = 1\noptions = { refresh_evry = 10 }\n"),
        fg.ModelSpecFileError,
        [r"sampler\.options\.refresh_evry: unknown key", r"Did you mean 'refresh_every'\?"],
    ),
    (
        "sampler-option-value",
        MODEL.replace("n_threads = 1\n", "n_threads = 1\noptions = { refresh_every = -4 }\n"),
        fg.ModelSpecError,
        [r"model\.toml: sampler: "],
    ),
    (
        "optimizer-option",
        _edit("momentum = 0.5", "beta1 = 0.5"),
        fg.ModelSpecFileError,
        [r"optimizer\.beta1: unknown key", r"'sgd'"],
    ),
    (
        "optimizer-value",
        _edit("momentum = 0.5", "momentum = 1.5"),
        fg.ModelSpecError,
        [r"optimizer: The 'momentum' argument of optim\.SGD must be a number in \[0, 1\)"],
    ),
    (
        "schedule-name",
        _edit('name = "inverse_time"', 'name = "inverse-time"'),
        fg.ModelSpecFileError,
        [r"optimizer\.lr\.name: expected one of", r"Did you mean 'inverse_time'\?"],
    ),
    (
        "fit-value",
        _edit("max_steps = 7", "max_steps = -7"),
        fg.ModelSpecFileError,
        [r"fit\.max_steps: expected an integer >= 0; found the integer -7"],
    ),
    (
        "theta0-shape",
        _edit("average_from = 3", "theta0 = [0.0, 1.0]"),
        fg.ModelSpecFileError,
        [r"fit\.theta0: expected 17 values, one per feature"],
    ),
]


@pytest.mark.parametrize("text, error, patterns", [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_each_mistake_names_its_key_path(tmp_path, text, error, patterns):
    with pytest.raises(error) as info:
        fg.load_spec(_write_model(tmp_path, text))
    message = str(info.value)
    assert message.startswith(str(tmp_path / "model.toml") + ": ")
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)


def test_wrong_dtype_in_a_file_names_the_file(tmp_path):
    path = _write_model(tmp_path)
    np.save(tmp_path / "pairs.npy", PAIRS.astype(float) + 0.5)
    with pytest.raises(
        fg.ModelSpecFileError,
        match=r"features\[1\]\.scopes\.file: expected integers in "
        r"'pairs\.npy'; found dtype float64",
    ):
        fg.load_spec(path)


def test_unreadable_csv_names_the_file(tmp_path):
    path = _write_model(tmp_path)
    (tmp_path / "fields.csv").write_text("variable\n0\n1\n")
    with pytest.raises(fg.ModelSpecFileError, match=r"features\[0\]\.scopes\.file: cannot read 'fields\.csv'"):
        fg.load_spec(path)


def test_file_of_the_wrong_shape_names_the_file(tmp_path):
    path = _write_model(tmp_path)
    np.save(tmp_path / "pairs.npy", np.array([[[0, 1]]]))
    with pytest.raises(fg.FeatureSpecError, match=r"features\[1\]: .*shape \(1, 1, 2\)"):
        fg.load_spec(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(fg.ModelSpecFileError, match=r"nothere\.toml: cannot read the model file") as info:
        fg.load_spec(tmp_path / "nothere.toml")
    assert isinstance(info.value, OSError)


def test_missing_header_and_not_utf8(tmp_path):
    with pytest.raises(fg.ModelSpecFileError, match=r"<string>: missing key 'format'"):
        fg.parse_spec("[[variables]]\nn = 2\n")
    (tmp_path / "latin.toml").write_bytes(b'format = "factorgraph-model"\n# caf\xe9\n')
    with pytest.raises(fg.ModelSpecFileError, match=r"latin\.toml: not UTF-8 text"):
        fg.load_spec(tmp_path / "latin.toml")


def test_a_spec_without_objectives_loads_but_does_not_train():
    spec = fg.parse_spec('format = "factorgraph-model"\nversion = 1\n[[variables]]\nn = 2\n')
    assert spec.graph.n_variables == 2 and spec.objectives == ()
    with pytest.raises(fg.ModelSpecFileError, match=r"<string>: objectives: the file has no \[\[objectives\]\]"):
        spec.trainer()


def test_groupadam_takes_the_model_feature_groups(tmp_path):
    """[optimizer] name = "groupadam" is bound to the model's groups; groups are not a file key."""
    _write_model(tmp_path, MODEL.replace('name = "sgd"\nmomentum = 0.5', 'name = "groupadam"\nbeta2 = 0.99'))
    spec = fg.load_spec(tmp_path / "model.toml")
    assert isinstance(spec.optimizer, fg.optim.GroupAdam) and spec.optimizer.groups is None
    trainer = spec.trainer(np.random.default_rng(0).integers(0, 2, size=(40, 8)))
    assert trainer.optimizer.groups == [int(b) for b in trainer.graph.group_theta]
    assert trainer.optimizer.beta2 == 0.99 and spec.optimizer.groups is None  # the trainer's own copy
    _write_model(tmp_path, MODEL.replace('name = "sgd"\nmomentum = 0.5', 'name = "groupadam"\ngroups = [0, 6]'))
    with pytest.raises(fg.ModelSpecFileError, match=r"optimizer\.groups: unknown key"):
        fg.load_spec(tmp_path / "model.toml")
