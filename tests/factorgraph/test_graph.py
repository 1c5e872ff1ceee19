"""FactorGraph and CompiledGraph: variables, θ order, structure, compiled arrays, recompiling."""

import pickle

import networkx as nx
import numpy as np
import pytest

import factorgraph as fg
from factorgraph import features as F


@pytest.fixture
def mixed():
    """Binary, spin and 3-state variables with a scaled and an indexed group."""
    g = fg.FactorGraph()
    g.add_variables(2)
    g.add_variables(2, values=[-1, 1], names=["s0", "s1"])
    g.add_variables(1, n_states=3)
    g.add_features(F.Product([(0, 2), (1, 3)]), name="moments")
    g.add_features(F.Potential([(4, 2), (4, 0)]), name="pairs")
    return g


def test_add_variables_returns_new_ids_and_domains():
    g = fg.FactorGraph()
    assert g.add_variables(3).tolist() == [0, 1, 2]
    assert g.add_variables(2, values=[-1.0, 1.0]).tolist() == [3, 4]
    assert g.add_variables(1, edges=[0.0, 1.0, 3.0]).tolist() == [5]
    assert g.n_states.tolist() == [2, 2, 2, 2, 2, 2]
    assert g.domain(3).values.tolist() == [-1.0, 1.0]
    assert g.domain(5).values.tolist() == [0.5, 2.0]
    assert g.domain(0).values.tolist() == [0.0, 1.0]


def test_theta_order_is_group_by_group_row_by_row(mixed):
    assert mixed.n_features == 2 + 2 * 6
    assert mixed.feature_index("moments") == slice(0, 2)
    assert mixed.feature_index("pairs") == slice(2, 14)
    np.testing.assert_array_equal(mixed.group("pairs").feature_ids(), np.arange(2, 14).reshape(2, 6))
    cg = mixed.compile()
    # State (x4=2, x2=1) of row 0 switches on local feature 2*2+1 = 5, i.e. theta index 7.
    state = np.array([[0, 0, 1, 0, 2]])
    values = cg.feature_values(state)[0]
    assert values[7] == 1.0 and values[2:8].sum() == 1.0
    # Row 1 covers (x4, x0) = (2, 0): local feature 2*2+0 = 4, theta index 8+4 = 12.
    assert values[12] == 1.0 and values[8:14].sum() == 1.0
    assert values[:2].tolist() == [0.0 * -1.0, 0.0 * 1.0]


def test_default_group_names_and_duplicates():
    g = fg.FactorGraph()
    g.add_variables(2)
    g.add_features(F.Product([0, 1]))
    g.add_features(F.Product([0, 1]))
    assert [grp.name for grp in g.groups] == ["product0", "product1"]
    with pytest.raises(fg.FeatureSpecError, match="already exists"):
        g.add_features(F.Product([0]), name="product0")


def test_identical_tables_are_stored_once():
    g = fg.FactorGraph()
    g.add_variables(50, values=[-1, 1])
    pairs = np.stack([np.arange(49), np.arange(1, 50)], axis=1)
    g.add_features(F.Product(pairs))
    g.add_features(F.Table(pairs, table=[[1.0, -1.0], [-1.0, 1.0]]))  # equals the spin product
    g.add_features(F.Indicator(pairs, states=np.tile([1, 0], (49, 1))))
    g.add_features(F.Potential(pairs))
    g.add_features(F.Potential(pairs[::2]))
    cg = g.compile()
    assert len(cg.tables) == 4 + 4  # product table (shared with Table) + one indicator table
    assert len(cg.maps) == 4


def test_trainable_mask_and_theta_init():
    g = fg.FactorGraph()
    g.add_variables(3)
    g.add_features(F.Product([0, 1, 2]))
    g.add_features(F.Table([(0, 1)], table=[[0.0, 1.0], [2.0, 3.0]]), trainable=False)
    g.add_features(F.Product([(1, 2)]), theta_init=0.5)
    assert g.trainable.tolist() == [True, True, True, False, True]
    assert g.theta_init().tolist() == [0.0, 0.0, 0.0, 1.0, 0.5]
    assert g.compile().trainable.tolist() == g.trainable.tolist()


def test_incidence_matrices_and_networkx(mixed):
    factors = mixed.factor_incidence().toarray()
    assert factors.tolist() == [[1, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 1, 0, 1], [1, 0, 0, 0, 1]]
    incidence = mixed.incidence()
    assert incidence.shape == (14, 5)
    assert incidence.toarray()[2:8].tolist() == [[0, 0, 1, 0, 1]] * 6
    graph = mixed.to_networkx()
    assert nx.is_bipartite(graph)
    variables = {n for n, d in graph.nodes(data=True) if d["bipartite"] == 0}
    assert len(variables) == 5 and graph.number_of_nodes() == 9
    assert graph.nodes["f", 2]["kind"] == "Potential" and graph.nodes["f", 2]["features"] == list(range(2, 8))
    assert graph.nodes["v", 2]["name"] == "s0"
    assert sorted(graph.neighbors(("f", 3))) == [("v", 0), ("v", 4)]
    adjacency = mixed.interaction_graph().toarray()
    assert adjacency.tolist() == [[0, 0, 1, 0, 1], [0, 0, 0, 1, 0], [1, 0, 0, 0, 1], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0]]


def test_compiled_arrays_are_consistent_and_frozen(mixed):
    cg = mixed.compile()
    assert (cg.n_variables, cg.n_factors, cg.n_features) == (5, 4, 14)
    assert cg.factor_ptr.tolist() == [0, 2, 4, 6, 8]
    assert cg.factor_vars.tolist() == [0, 2, 1, 3, 4, 2, 4, 0]
    assert cg.factor_strides.tolist() == [2, 1, 2, 1, 2, 1, 2, 1]
    assert cg.factor_form.tolist() == [0, 0, 1, 1]
    assert cg.factor_theta.tolist() == [0, 1, 2, 8]
    # variable -> factor CSR with the variable's position in each scope
    for v in range(5):
        for e in range(cg.var_ptr[v], cg.var_ptr[v + 1]):
            f, pos = cg.var_factors[e], cg.var_pos[e]
            assert cg.factor_vars[cg.factor_ptr[f] + pos] == v
    assert cg.var_ptr[-1] == len(cg.factor_vars)
    for name in ("factor_vars", "tables", "colors", "trainable"):
        with pytest.raises(ValueError):
            getattr(cg, name)[0] = 0
    clone = pickle.loads(pickle.dumps(cg))
    assert clone.fingerprint() == cg.fingerprint()
    np.testing.assert_array_equal(
        clone.energy([[1, 0, 1, 1, 2]], np.arange(14.0)), cg.energy([[1, 0, 1, 1, 2]], np.arange(14.0))
    )


def test_colour_classes_partition_the_variables(mixed):
    cg = mixed.compile()
    joined = np.sort(np.concatenate(cg.color_classes))
    assert joined.tolist() == list(range(5))
    for cls in cg.color_classes:
        assert np.all(cg.colors[cls] == cg.colors[cls[0]])


def test_user_colouring_is_checked(mixed):
    with pytest.raises(fg.ColoringError, match="share a factor"):
        mixed.compile(coloring=[0, 0, 0, 1, 1])
    cg = mixed.compile(coloring=[0, 0, 1, 1, 2])
    assert cg.n_colors == 3


def test_adding_after_compile_recompiles_and_keeps_old_snapshot(mixed):
    first = mixed.compile()
    assert mixed.compile() is first  # cached while unchanged
    mixed.add_variables(1)
    mixed.add_features(F.Product([(5, 0)]))
    second = mixed.compile()
    assert (first.n_variables, first.n_features) == (5, 14)
    assert (second.n_variables, second.n_features) == (6, 15)


def test_energy_and_conditionals_on_a_hand_model():
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    g.add_variables(1, n_states=3)
    g.add_features(F.Product([(0, 1)]))
    g.add_features(F.Table([(1, 2)], table=[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))
    cg = g.compile()
    theta = np.array([0.7, -0.3])
    # x = (+1, -1, state 2): 0.7 * (1 * -1) + (-0.3) * table[0, 2]
    assert cg.energy([[1, 0, 2]], theta)[0] == pytest.approx(-0.7 - 0.6, abs=1e-15)
    np.testing.assert_allclose(cg.conditional_energies([1, 0, 2], 1, theta), [-0.7 - 0.6, 0.7 - 1.5])
    ids, deltas = cg.feature_deltas([1, 0, 2], 1, 1)
    assert dict(zip(ids.tolist(), deltas.tolist())) == {0: 2.0, 1: 3.0}


def test_empty_graph_compiles():
    cg = fg.FactorGraph().compile()
    assert (cg.n_variables, cg.n_features, cg.n_colors) == (0, 0, 0)


def test_isolated_variables_get_one_colour():
    g = fg.FactorGraph()
    g.add_variables(4)
    assert g.compile().n_colors == 1


@pytest.mark.parametrize(
    ("field", "corrupt", "match"),
    [
        ("factor_vars", lambda a: a + 4, "missing variable"),
        ("factor_table", lambda a: a + 1000, "runs past"),
        ("factor_theta", lambda a: a + 5, "theta|out of range"),
        ("factor_strides", lambda a: a * 3, "stride"),
        ("colors", lambda a: np.zeros_like(a), "colour"),
        ("var_pos", lambda a: a[::-1].copy(), "variable CSR"),
        ("tables", lambda a: a * np.nan, "not finite"),
        ("n_states", lambda a: a.astype(np.int64), "int32"),
    ],
)
def test_a_corrupted_compiled_graph_is_refused(mixed, field, corrupt, match):
    """Validation at construction keeps the unchecked kernels from reading out of bounds."""
    import dataclasses

    cg = mixed.compile()
    with pytest.raises(fg.ModelSpecError, match=match):
        dataclasses.replace(cg, **{field: corrupt(getattr(cg, field))})


def test_a_scope_with_too_many_joint_states_is_refused_before_allocating():
    g = fg.FactorGraph()
    g.add_variables(2, n_states=100_000)
    with pytest.raises(fg.FeatureSpecError, match="joint states"):
        g.add_features(F.Potential([(0, 1)]))
    assert g.n_features == 0 and not g.groups
