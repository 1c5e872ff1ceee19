"""Fuzzing model specifications: any input either builds a valid model or raises FactorGraphError.

The strategies generate scopes, parameters and tables that are often invalid (out of range,
repeated variables, wrong arity or shape, NaN, negative sizes). No other exception may escape,
and every model that builds compiles, pickles with a stable fingerprint and normalises exactly.
"""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import factorgraph as fg
from factorgraph import features as F

NUMBERS = st.one_of(
    st.integers(-3, 5),
    st.sampled_from([0.5, -1.0, 2.0, float("nan"), float("inf")]),
)
SCOPES = st.lists(st.lists(st.integers(-1, 6), min_size=0, max_size=3), min_size=0, max_size=4)
VALID_SCOPES = st.integers(1, 3).flatmap(
    lambda arity: st.lists(
        st.lists(st.integers(0, 5), min_size=arity, max_size=arity, unique=True), min_size=1, max_size=4
    )
)


@st.composite
def specs(draw):
    """A sequence of (kind, arguments) pairs, valid or not."""
    kind = draw(
        st.sampled_from(
            [
                "Product",
                "Indicator",
                "Bin",
                "Polynomial",
                "Threshold",
                "Table",
                "Function",
                "Potential",
                "Histogram",
                "junk",
            ]
        )
    )
    scopes = draw(st.one_of(VALID_SCOPES, VALID_SCOPES, VALID_SCOPES, SCOPES, st.lists(st.integers(-1, 6), max_size=4)))
    arity = len(scopes[0]) if scopes and isinstance(scopes[0], list) and scopes[0] else 1
    vector = st.one_of(
        st.lists(NUMBERS, min_size=0, max_size=4), st.lists(st.sampled_from([0, 1, 2]), min_size=arity, max_size=arity)
    )
    if kind == "Indicator":
        return F.Indicator, (scopes,), {"states": draw(vector)}
    if kind == "Bin":
        lower = draw(vector)
        return F.Bin, (scopes,), {"lower": lower, "upper": draw(st.one_of(vector, st.just([x + 1.5 for x in lower])))}
    if kind == "Polynomial":
        return F.Polynomial, (scopes,), {"power": draw(NUMBERS)}
    if kind == "Threshold":
        return F.Threshold, (scopes,), {"threshold": draw(NUMBERS)}
    if kind == "Table":
        shape = draw(
            st.one_of(st.lists(st.integers(0, 3), min_size=arity - 1, max_size=arity + 1), st.just([2] * arity))
        )
        fill = draw(NUMBERS)
        return F.Table, (scopes,), {"table": np.full(shape, fill, dtype=float)}
    if kind == "Function":
        fn = draw(st.sampled_from([lambda *v: sum(v), lambda *v: np.log(v[0]), lambda *v: 1 / 0]))
        return F.Function, (scopes,), {"fn": fn}
    if kind == "Potential":
        return F.Potential, (scopes,), {"reference": draw(st.one_of(st.none(), st.integers(-1, 3)))}
    if kind == "Histogram":
        return F.Histogram, (scopes,), {"edges": draw(st.one_of(vector, st.just([-0.5, 0.5, 1.5, 3.0])))}
    if kind == "junk":
        return (lambda *a, **k: {"scopes": a}), (scopes,), {}
    return F.Product, (scopes,), {}


@pytest.mark.filterwarnings("ignore::factorgraph.DuplicateScopeWarning")
@given(
    domains=st.lists(
        st.one_of(
            st.builds(dict, n_states=st.integers(-1, 3)),
            st.builds(dict, values=st.lists(NUMBERS, min_size=0, max_size=3)),
        ),
        min_size=1,
        max_size=3,
    ),
    groups=st.lists(specs(), min_size=0, max_size=4),
)
def test_any_spec_builds_or_raises_a_library_error(domains, groups):
    g = fg.FactorGraph()
    g.add_variables(3)
    g.add_variables(2, values=[-1.0, 0.5, 2.0])
    for domain in domains:
        try:
            g.add_variables(1, **domain)
        except fg.FactorGraphError:
            pass
    for kind, args, kwargs in groups:
        try:
            g.add_features(kind(*args, **kwargs))
        except fg.FactorGraphError:
            pass
    compiled = g.compile()
    clone = pickle.loads(pickle.dumps(compiled))
    assert clone.fingerprint() == compiled.fingerprint() == g.compile().fingerprint()
    if g.n_variables:
        theta = np.linspace(-1.0, 1.0, g.n_features)
        p = fg.exact.probabilities(g, theta)
        assert np.isfinite(fg.exact.log_partition(g, theta))
        assert abs(p.sum() - 1.0) < 1e-12


# -- RELIABILITY.md (g): n in [0, 6] variables with n_states in [1, 4] and random values; groups of
# arity 1..3 with scopes, tables and one-hot maps that are sometimes invalid or NaN.


class _OneHot(F.FeatureKind):
    """A one-hot kind with a drawn index map (entries sometimes beyond ``count``)."""

    form = "indexed"

    def __init__(self, scopes, index, count):
        super().__init__(scopes)
        self.index, self.count = index, count

    def _index_map(self, values):
        size = int(np.prod([len(v) for v in values]))
        return np.resize(np.asarray(self.index, dtype=np.int64), size), self.count


@st.composite
def small_graphs(draw):
    """(domains, groups): each domain (n_states, values); each group (kind, args, kwargs)."""
    n = draw(st.integers(0, 6))
    domains = []
    for _ in range(n):
        k = draw(st.integers(1, 4))
        values = draw(
            st.one_of(st.none(), st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k, unique=True))
        )
        domains.append((k, values))
    groups = []
    for _ in range(draw(st.integers(0, 3))):
        arity = draw(st.integers(1, 3))
        ids = st.integers(-1, n) if draw(st.booleans()) and n else st.integers(0, max(n - 1, 0))
        scopes = draw(st.lists(st.lists(ids, min_size=arity, max_size=arity), min_size=1, max_size=4))
        kind = draw(st.sampled_from(["Product", "Table", "OneHot", "Potential"]))
        if kind == "Table":
            shape = draw(st.one_of(st.just(None), st.lists(st.integers(1, 4), min_size=arity - 1, max_size=arity + 1)))
            fill = draw(st.sampled_from([0.5, -1.0, float("nan"), float("inf")]))
            groups.append((F.Table, (scopes,), {"table": None if shape is None else np.full(shape, fill)}))
        elif kind == "OneHot":
            count = draw(st.integers(0, 4))
            index = draw(st.lists(st.integers(-1, count), min_size=1, max_size=8))
            groups.append((_OneHot, (scopes, index, count), {}))
        else:
            groups.append((getattr(F, kind), (scopes,), {}))
    return domains, groups


def _table_for(g, scopes):
    """A finite table of the right shape for the first scope's domains, when drawn as None."""
    shape = tuple(int(g.n_states[v]) for v in scopes[0]) if all(0 <= v < g.n_variables for v in scopes[0]) else (2,)
    return np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)


@pytest.mark.filterwarnings("ignore::factorgraph.DuplicateScopeWarning")
@given(spec=small_graphs())
def test_small_random_graphs_build_or_raise_a_library_error_and_behave(spec):
    """Only FactorGraphError subclasses escape; a graph that compiles pickles with a stable hash,
    normalises exactly, agrees with its networkx form, and every sampler with an exact kernel
    leaves the model's distribution invariant."""
    import samplers

    domains, groups = spec
    g = fg.FactorGraph()
    for k, values in domains:
        g.add_variables(1, values=values) if values is not None else g.add_variables(1, n_states=k)
    for kind, args, kwargs in groups:
        if kwargs.get("table", 0) is None:
            kwargs = {"table": _table_for(g, args[0])}
        try:
            g.add_features(kind(*args, **kwargs))
        except fg.FactorGraphError:
            pass
    compiled = g.compile()
    clone = pickle.loads(pickle.dumps(compiled))
    assert clone.fingerprint() == compiled.fingerprint() == g.compile().fingerprint()
    theta = np.linspace(-1.0, 1.0, g.n_features)
    p = fg.exact.probabilities(g, theta)
    assert np.isfinite(fg.exact.log_partition(g, theta)) and abs(p.sum() - 1.0) < 1e-12
    net = g.to_networkx()
    incidence = g.factor_incidence()
    edges = {(f, v) for f, v in zip(*incidence.nonzero())}
    assert edges == {(a[1], b[1]) if a[0] == "f" else (b[1], a[1]) for a, b in net.edges}
    if p.size > 256:
        return
    pi = p.ravel()
    for name in samplers.available():
        if name == "sharded":  # runs another sampler's kernel on a cluster (tests/samplers/test_sharded.py)
            continue
        try:
            sampler = samplers.create(name, compiled, 1, seed=0)
            matrix = sampler.transition_matrix(theta)
        except (fg.FactorGraphError, AttributeError):
            continue  # a sampler that does not take this model, or has no exact kernel
        np.testing.assert_allclose(pi @ matrix, pi, atol=1e-12, err_msg=name)
