"""Property tests: compiled feature evaluation against a direct reference.

Hypothesis draws small random factor graphs (1..6 variables, 1..4 states each,
real state values from a small pool so that bin bounds, thresholds and
histogram edges often coincide with a value) and random feature groups of
every kind in ``fg.features``.  For each graph the compiled evaluator
``CompiledGraph.feature_values`` is compared with a pure-Python evaluation of
each feature's definition, written here from the API spec.  The same graphs
check the returned feature ids, energies, weighted sums, single-variable
deltas, conditional energies, the colouring, pickling and save/load.

Plain tests check the colouring on periodic lattices (exactly 2 colours) and
on seeded random graphs (at most ``max_degree + 1`` colours).
"""

import itertools
import math
import os
import pickle
import tempfile

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import factorgraph as fg

VALUE_POOL = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0)
CUT_POOL = VALUE_POOL + (-1.5, 0.25, 1.5)
TABLE_POOL = (-1.5, 0.0, 0.5, 2.0, 3.25)
KINDS = ("Product", "Indicator", "Bin", "Polynomial", "Threshold", "Table", "Function", "Potential", "Histogram")
UNARY_ONLY = ("Polynomial", "Threshold")
INDEXED = ("Potential", "Histogram")


def _fn1(x):
    return x * x - 0.5 * x + 1.0


def _fn2(x, y):
    return x * y + 0.25 * x - y


def _fn3(x, y, z):
    return x * y * z + x - 2.0 * z


FUNCTIONS = {1: _fn1, 2: _fn2, 3: _fn3}


# ----------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------
@st.composite
def domains(draw):
    """List of (values, use_n_states) per variable."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        k = draw(st.integers(1, 4))
        if draw(st.booleans()):
            out.append((np.arange(k, dtype=float), True))
        else:
            vals = draw(st.lists(st.sampled_from(VALUE_POOL), min_size=k, max_size=k, unique=True))
            out.append((np.array(vals, dtype=float), False))
    return out


def _cut_pair(draw):
    return sorted(draw(st.lists(st.sampled_from(CUT_POOL), min_size=2, max_size=2, unique=True)))


def _edges(draw):
    return np.array(sorted(draw(st.lists(st.sampled_from(CUT_POOL), min_size=2, max_size=4, unique=True))))


@st.composite
def group_specs(draw, ks, kinds):
    """One feature group: kind, scopes (E, arity), constructor params."""
    n = len(ks)
    kind = draw(st.sampled_from(kinds))
    arity = draw(st.integers(1, 1 if kind in UNARY_ONLY else min(3, n)))
    rows, seen = [], set()
    for _ in range(draw(st.integers(1, 3))):
        row = tuple(draw(st.permutations(range(n)))[:arity])
        if frozenset(row) not in seen:  # no duplicate scopes in a group
            seen.add(frozenset(row))
            rows.append(row)
    if kind in ("Table", "Potential"):  # rows must share their domain shape
        rows = [r for r in rows if [ks[v] for v in r] == [ks[v] for v in rows[0]]]
    scopes = np.array(rows, dtype=np.int64).reshape(len(rows), arity)
    n_rows = len(rows)
    dom = np.array([[ks[v] for v in r] for r in rows]).reshape(n_rows, arity)
    p = {}
    if kind == "Indicator":
        if draw(st.booleans()):
            p["states"] = np.array([draw(st.integers(0, dom[:, j].min() - 1)) for j in range(arity)])
        else:
            p["states"] = np.array([[draw(st.integers(0, dom[e, j] - 1)) for j in range(arity)] for e in range(n_rows)])
    elif kind == "Bin":
        shape = (arity,) if draw(st.booleans()) else (n_rows, arity)
        pairs = np.array([_cut_pair(draw) for _ in range(int(np.prod(shape)))])
        p["lower"] = pairs[:, 0].reshape(shape)
        p["upper"] = pairs[:, 1].reshape(shape)
    elif kind == "Polynomial":
        powers = [draw(st.integers(0, 3)) for _ in range(n_rows)]
        p["power"] = powers[0] if draw(st.booleans()) else np.array(powers)
    elif kind == "Threshold":
        cuts = [draw(st.sampled_from(CUT_POOL)) for _ in range(n_rows)]
        p["threshold"] = cuts[0] if draw(st.booleans()) else np.array(cuts)
    elif kind == "Table":
        shape = tuple(dom[0]) if draw(st.booleans()) else (n_rows,) + tuple(dom[0])
        entries = [draw(st.sampled_from(TABLE_POOL)) for _ in range(int(np.prod(shape)))]
        p["table"] = np.array(entries).reshape(shape)
    elif kind == "Function":
        p["fn"] = FUNCTIONS[arity]
    elif kind == "Potential":
        if dom[0].min() >= 2 and draw(st.booleans()):
            p["reference"] = draw(st.integers(0, int(dom[0].min()) - 1))
    elif kind == "Histogram":
        if draw(st.booleans()):
            p["edges"] = _edges(draw)
        else:
            p["edges"] = [_edges(draw) for _ in range(arity)]
    scopes_arg = scopes if draw(st.booleans()) else [tuple(map(int, r)) for r in rows]
    return {"kind": kind, "scopes": scopes, "scopes_arg": scopes_arg, "params": p, "trainable": draw(st.booleans())}


@st.composite
def graphs(draw, kinds=KINDS):
    dom = draw(domains())
    ks = [len(v) for v, _ in dom]
    groups = [draw(group_specs(ks, kinds)) for _ in range(draw(st.integers(1, 4)))]
    return dom, groups, draw(st.integers(0, 2**32 - 1))


# ----------------------------------------------------------------------------
# construction and direct reference evaluation
# ----------------------------------------------------------------------------
def build(dom, groups):
    g = fg.FactorGraph()
    for i, (vals, plain) in enumerate(dom):
        if plain:
            ids = g.add_variables(1, n_states=len(vals))
        else:
            ids = g.add_variables(1, values=vals)
        assert ids.dtype == np.int32 and ids.tolist() == [i]
    group_ids = []
    for spec in groups:
        feature = getattr(fg.features, spec["kind"])(spec["scopes_arg"], **spec["params"])
        group_ids.append(np.asarray(g.add_features(feature, trainable=spec["trainable"])))
    return g, group_ids


def _hist_cell(v, edges):
    """numpy.histogram bin of v: half-open, last bin closed; None if outside."""
    for i in range(len(edges) - 1):
        if edges[i] <= v < edges[i + 1]:
            return i
    return len(edges) - 2 if v == edges[-1] else None


def _per_row(param, e, row_ndim):
    a = np.asarray(param)
    return a if a.ndim == row_ndim else a[e]


def direct_group(spec, values, state):
    """Feature values of one group at one joint state, shape (E, m)."""
    kind, p, out = spec["kind"], spec["params"], []
    for e, row in enumerate(spec["scopes"]):
        xs = [int(state[v]) for v in row]
        vs = [float(values[v][x]) for v, x in zip(row, xs)]
        if kind == "Product":
            f = [math.prod(vs)]
        elif kind == "Indicator":
            f = [float(xs == list(_per_row(p["states"], e, 1)))]
        elif kind == "Bin":
            lo, hi = _per_row(p["lower"], e, 1), _per_row(p["upper"], e, 1)
            f = [float(all(low <= v < high for v, low, high in zip(vs, lo, hi)))]
        elif kind == "Polynomial":
            f = [vs[0] ** int(_per_row(p["power"], e, 0))]
        elif kind == "Threshold":
            f = [float(vs[0] >= float(_per_row(p["threshold"], e, 0)))]
        elif kind == "Table":
            f = [float(_per_row(p["table"], e, len(row))[tuple(xs)])]
        elif kind == "Function":
            f = [float(p["fn"](*vs))]
        elif kind == "Potential":
            r = p.get("reference")
            joint = itertools.product(*(range(len(values[v])) for v in row))
            f = [float(tuple(xs) == a) for a in joint if r is None or r not in a]
        elif kind == "Histogram":
            edges = p["edges"]
            per = [edges] * len(row) if isinstance(edges, np.ndarray) else edges
            cell = tuple(_hist_cell(v, ed) for v, ed in zip(vs, per))
            grid = itertools.product(*(range(len(ed) - 1) for ed in per))
            f = [float(cell == c) for c in grid]
        out.append(f)
    return np.array(out, dtype=float)


def direct_features(groups, values, states):
    return np.array([np.concatenate([direct_group(s, values, x).ravel() for s in groups]) for x in states])


def random_states(rng, ks, n_rows, dtype=np.int32):
    return np.column_stack([rng.integers(0, k, n_rows) for k in ks]).astype(dtype)


def assert_valid_coloring(cg, scope_rows, n):
    colors = np.asarray(cg.colors)
    assert colors.shape == (n,) and colors.dtype == np.int32
    assert colors.min() == 0 and cg.n_colors == colors.max() + 1
    assert len(cg.color_classes) == cg.n_colors
    for c, members in enumerate(cg.color_classes):
        np.testing.assert_array_equal(np.sort(members), np.flatnonzero(colors == c))
    for row in scope_rows:
        row = [int(v) for v in row]
        assert len(set(colors[row].tolist())) == len(row), f"scope {row} has colours {colors[row]}"


# ----------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------
@given(graphs(), st.sampled_from([np.int32, np.int64]))
def test_feature_values_match_direct_evaluation(case, dtype):
    dom, groups, seed = case
    values = [v for v, _ in dom]
    g, group_ids = build(dom, groups)
    rng = np.random.default_rng(seed)
    states = random_states(rng, [len(v) for v in values], 5, dtype)
    expected = direct_features(groups, values, states)
    n_features = expected.shape[1]
    assert g.n_variables == len(values)
    assert g.n_factors == sum(len(s["scopes"]) for s in groups)
    assert g.n_features == n_features

    got = g.compile().feature_values(states)
    assert got.dtype == np.float64 and got.shape == (5, n_features)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)

    offset = 0
    for spec, ids in zip(groups, group_ids):
        block = np.array([direct_group(spec, values, x) for x in states])  # (B, E, m)
        shape = block.shape[1:] if spec["kind"] in INDEXED else block.shape[1:2]
        np.testing.assert_array_equal(ids, offset + np.arange(block[0].size).reshape(shape))
        np.testing.assert_allclose(got[:, ids.ravel()], block.reshape(5, -1), atol=1e-12)
        assert np.all(g.trainable[ids] == spec["trainable"])
        np.testing.assert_array_equal(g.theta_init()[ids], 0.0 if spec["trainable"] else 1.0)
        offset += block[0].size


@given(graphs())
def test_energy_sums_deltas_and_conditionals(case):
    dom, groups, seed = case
    values = [v for v, _ in dom]
    ks = [len(v) for v in values]
    g, group_ids = build(dom, groups)
    cg = g.compile()
    rng = np.random.default_rng(seed)
    states = random_states(rng, ks, 4)
    feats = cg.feature_values(states)
    theta = rng.normal(size=feats.shape[1])
    weights = rng.uniform(0.1, 2.0, size=4)

    np.testing.assert_allclose(cg.energy(states, theta), feats @ theta, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cg.feature_sums(states, weights), weights @ feats, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cg.feature_sums(states), feats.sum(axis=0), atol=1e-10)

    state = states[0]
    v = int(rng.integers(len(ks)))
    new = int((state[v] + rng.integers(1, ks[v])) % ks[v]) if ks[v] > 1 else int(state[v])
    moved = state.copy()
    moved[v] = new
    ids, deltas = cg.feature_deltas(state, v, new)
    accumulated = np.zeros(feats.shape[1])
    np.add.at(accumulated, np.asarray(ids), np.asarray(deltas))
    diff = cg.feature_values(moved[None])[0] - feats[0]
    np.testing.assert_allclose(accumulated, diff, atol=1e-12)
    # only features whose scope contains v may be listed (unchanged ones may be left out)
    touching = {
        int(k)
        for spec, gid in zip(groups, group_ids)
        for row, rid in zip(spec["scopes"], gid)
        if v in row
        for k in np.atleast_1d(rid)
    }
    assert set(np.asarray(ids).tolist()) <= touching
    assert len(set(np.asarray(ids).tolist())) == len(ids)

    cond = np.asarray(cg.conditional_energies(state, v, theta))
    assert cond.shape == (ks[v],)
    variants = np.repeat(state[None], ks[v], axis=0)
    variants[:, v] = np.arange(ks[v])
    full = cg.feature_values(variants) @ theta
    np.testing.assert_allclose(cond - cond[0], full - full[0], atol=1e-10)


@given(graphs())
def test_coloring_and_pickle_round_trip(case):
    dom, groups, seed = case
    g, _ = build(dom, groups)
    cg = g.compile()
    assert_valid_coloring(cg, [r for s in groups for r in s["scopes"]], len(dom))

    clone = pickle.loads(pickle.dumps(cg))
    states = random_states(np.random.default_rng(seed), [len(v) for v, _ in dom], 6)
    theta = np.random.default_rng(seed + 1).normal(size=g.n_features)
    np.testing.assert_array_equal(clone.feature_values(states), cg.feature_values(states))
    np.testing.assert_array_equal(clone.energy(states, theta), cg.energy(states, theta))
    np.testing.assert_array_equal(clone.colors, cg.colors)
    assert clone.n_colors == cg.n_colors


@given(graphs(kinds=tuple(k for k in KINDS if k != "Function")))
def test_save_load_round_trip(case):
    dom, groups, seed = case
    g, _ = build(dom, groups)
    rng = np.random.default_rng(seed)
    states = random_states(rng, [len(v) for v, _ in dom], 6)
    theta = rng.normal(size=g.n_features)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.npz")
        g.save(path, theta=theta)
        g2, theta2 = fg.load(path)
    np.testing.assert_array_equal(theta2, theta)
    assert (g2.n_variables, g2.n_features, g2.n_factors) == (g.n_variables, g.n_features, g.n_factors)
    np.testing.assert_array_equal(g2.compile().feature_values(states), g.compile().feature_values(states))
    np.testing.assert_array_equal(g2.trainable, g.trainable)
    np.testing.assert_array_equal(g2.theta_init(), g.theta_init())


def test_save_without_theta_loads_none(tmp_path):
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    g.save(str(tmp_path / "model.npz"))
    g2, theta = fg.load(str(tmp_path / "model.npz"))
    assert theta is None
    assert g2.n_features == 2


# ----------------------------------------------------------------------------
# colouring on fixed structures
# ----------------------------------------------------------------------------
def _graph_with_edges(n, edges, unary=True):
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    if unary:
        g.add_features(fg.features.Product(np.arange(n)[:, None]))
    g.add_features(fg.features.Product(np.asarray(edges, dtype=np.int64).reshape(-1, 2)))
    return g


@pytest.mark.parametrize("size", [4, 6, 10])
def test_periodic_lattice_gets_two_colours(size):
    idx = np.arange(size * size).reshape(size, size)
    right = np.column_stack([idx.ravel(), np.roll(idx, -1, axis=1).ravel()])
    down = np.column_stack([idx.ravel(), np.roll(idx, -1, axis=0).ravel()])
    edges = np.vstack([right, down])
    cg = _graph_with_edges(size * size, edges).compile()
    assert cg.n_colors == 2
    assert_valid_coloring(cg, edges, size * size)
    colors = np.asarray(cg.colors).reshape(size, size)
    parity = np.add.outer(np.arange(size), np.arange(size)) % 2
    # the only proper 2-colouring of a connected bipartite graph is the checkerboard
    assert len(np.unique(colors[parity == 0])) == 1
    assert len(np.unique(colors[parity == 1])) == 1


@pytest.mark.parametrize(
    "graph",
    [
        nx.random_regular_graph(3, 20, seed=0),
        nx.random_regular_graph(4, 30, seed=1),
        nx.random_regular_graph(6, 50, seed=2),
        nx.gnm_random_graph(15, 30, seed=0),
        nx.gnm_random_graph(40, 120, seed=3),
        nx.gnm_random_graph(60, 400, seed=4),
    ],
    ids=["reg3", "reg4", "reg6", "gnm15", "gnm40", "gnm60"],
)
def test_random_graph_coloring_within_greedy_bound(graph):
    edges = np.array(sorted(graph.edges()), dtype=np.int64)
    n = graph.number_of_nodes()
    cg = _graph_with_edges(n, edges).compile()
    max_degree = max(d for _, d in graph.degree())
    assert cg.n_colors <= max_degree + 1
    assert_valid_coloring(cg, edges, n)


def test_triangle_needs_three_colours():
    cg = _graph_with_edges(3, [(0, 1), (1, 2), (0, 2)]).compile()
    assert cg.n_colors == 3
