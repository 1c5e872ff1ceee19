"""Fuzzing the model-file loader: any document, valid or not, either loads or raises a
FactorGraphError. Random documents, random mutations of a valid one (keys deleted, values
replaced by random values of any TOML type, keys added) and random edits of its text.

Every test is derandomised, so a run is the same on every machine and never flaky.
"""

import copy
import datetime
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import factorgraph as fg
from tests.factorgraph.test_model_spec import MODEL, PAIRS

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)
BASE = tomllib.loads(MODEL)

# the keys of the format, so that random tables often hit a real key with a wrong value
KEYS = [
    "format",
    "version",
    "variables",
    "features",
    "objectives",
    "sampler",
    "optimizer",
    "fit",
    "n",
    "n_states",
    "values",
    "edges",
    "names",
    "kind",
    "name",
    "scopes",
    "trainable",
    "theta_init",
    "states",
    "lower",
    "upper",
    "power",
    "threshold",
    "table",
    "reference",
    "file",
    "range",
    "all_pairs",
    "grid",
    "periodic",
    "neighbours",
    "first",
    "target",
    "from",
    "pseudocount",
    "scope",
    "strength",
    "group",
    "n_chains",
    "seed",
    "sweeps_per_step",
    "options",
    "lr",
    "momentum",
    "max_steps",
    "tol",
    "theta0",
    "total_steps",
    "schedule",
    "steps",
]
WORDS = [
    "factorgraph-model",
    "Product",
    "Potential",
    "Table",
    "Histogram",
    "Indicator",
    "Function",
    "gibbs",
    "mh",
    "adam",
    "sgd",
    "cosine",
    "warmup",
    "moment-matching",
    "marginal-prior",
    "exact-marginal",
    "l1",
    "l2",
    "kl",
    "data",
    "pairs.npy",
    "fields.csv",
    "missing.npy",
    "",
    ".",
    "x.txt",
]
SCALARS = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([0, 1, 2, 6, 8, 64, 2**31, 2**62 + 1, 2**63 - 1, -(2**63), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(WORDS),
    st.text(max_size=8),
    st.sampled_from([datetime.date(2024, 1, 2), datetime.time(3, 4), datetime.datetime(2024, 1, 2, 3, 4)]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner, max_size=3),
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz")
    np.save(path / "pairs.npy", PAIRS)
    (path / "fields.csv").write_text("0\n1\n2\n3\n4\n5\n")
    (path / "x.txt").write_text("not an array")
    return path


def _loads_or_refuses(load):
    """Run ``load``; only a FactorGraphError may escape. A spec that loads must compile."""
    try:
        spec = load()
    except fg.FactorGraphError:
        return
    spec.graph.compile()
    assert isinstance(spec, fg.ModelSpec)


def _slots(node, out):
    """Every (container, key) pair in a parsed document, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in list(items):
        out.append((node, key))
        if isinstance(child, dict | list):
            _slots(child, out)
    return out


@st.composite
def mutations(draw):
    """The valid document with one to three random edits."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(document, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(VALUES)
        elif isinstance(container, dict):
            container[draw(st.sampled_from(KEYS))] = draw(VALUES)
        else:
            container.append(draw(VALUES))
    return document


def test_the_base_document_loads(folder):
    spec = fg.ModelSpec.from_dict(BASE, base_dir=folder)
    assert spec.graph.n_features == 17


@FUZZ
@given(document=mutations())
def test_mutated_documents_load_or_raise_library_errors(folder, document):
    _loads_or_refuses(lambda: fg.ModelSpec.from_dict(document, base_dir=folder))


@FUZZ
@given(document=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6), header=st.booleans())
def test_random_documents_load_or_raise_library_errors(folder, document, header):
    if header:
        document = {"format": "factorgraph-model", "version": 1, **document}
    _loads_or_refuses(lambda: fg.ModelSpec.from_dict(document, base_dir=folder))


@st.composite
def edited_text(draw):
    """The valid file's text with random slices deleted, repeated or replaced by TOML-ish text."""
    text = MODEL
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        stop = draw(st.integers(start, min(len(text), start + 12)))
        insert = draw(
            st.one_of(
                st.just(""),
                st.just(text[start:stop] * 2),
                st.text(alphabet='[]{}=,."#\n 0123456789-+e_abcnfilrtuxy', max_size=8),
            )
        )
        text = text[:start] + insert + text[stop:]
    return text


@FUZZ
@given(text=edited_text())
def test_edited_text_loads_or_raises_library_errors(folder, text):
    _loads_or_refuses(lambda: fg.parse_spec(text, base_dir=folder))


@FUZZ
@given(text=st.text(max_size=60))
def test_any_text_raises_library_errors(folder, text):
    _loads_or_refuses(lambda: fg.parse_spec(text, base_dir=folder))
