"""Fuzzing model specifications: any input either builds a valid model or raises FactorGraphError.

The strategies generate scopes, parameters and tables that are often invalid (out of range,
repeated variables, wrong arity or shape, NaN, negative sizes). No other exception may escape,
and every model that builds compiles, pickles with a stable fingerprint and normalises exactly.
"""

import pickle

import numpy as np
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
    lambda arity: st.lists(st.lists(st.integers(0, 5), min_size=arity, max_size=arity, unique=True),
                           min_size=1, max_size=4)
)


@st.composite
def specs(draw):
    """A sequence of (kind, arguments) pairs, valid or not."""
    kind = draw(st.sampled_from(
        ["Product", "Indicator", "Bin", "Polynomial", "Threshold", "Table", "Function", "Potential",
         "Histogram", "junk"]
    ))
    scopes = draw(st.one_of(VALID_SCOPES, VALID_SCOPES, VALID_SCOPES, SCOPES,
                            st.lists(st.integers(-1, 6), max_size=4)))
    arity = len(scopes[0]) if scopes and isinstance(scopes[0], list) and scopes[0] else 1
    vector = st.one_of(st.lists(NUMBERS, min_size=0, max_size=4),
                       st.lists(st.sampled_from([0, 1, 2]), min_size=arity, max_size=arity))
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
        shape = draw(st.one_of(st.lists(st.integers(0, 3), min_size=arity - 1, max_size=arity + 1),
                               st.just([2] * arity)))
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


@given(
    domains=st.lists(
        st.one_of(
            st.builds(dict, n_states=st.integers(-1, 3)),
            st.builds(dict, values=st.lists(NUMBERS, min_size=0, max_size=3)),
        ),
        min_size=1, max_size=3,
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
