"""Generated scopes: lattices, networkx graphs and edge lists, in Python and in model files."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

import factorgraph as fg
from factorgraph.scopes import from_networkx, grid, read_edges


def _by_hand(shape, periodic, moore):
    """Every pair of sites whose offsets are within one step (along one axis unless Moore),
    by brute force over all pairs of sites."""
    sites = list(itertools.product(*(range(s) for s in shape)))
    pairs = set()
    for a, b in itertools.combinations(range(len(sites)), 2):
        steps = []
        for axis, side in enumerate(shape):
            d = (sites[b][axis] - sites[a][axis]) % side if periodic else sites[b][axis] - sites[a][axis]
            d = min(d, side - d) if periodic else abs(d)
            steps.append(d)
        if max(steps) == 1 and (moore or sum(steps) == 1):
            pairs.add((a, b))
    return sorted(pairs)


@pytest.mark.parametrize("shape", [(5,), (2, 3), (4, 4), (3, 1), (2, 2), (3, 4, 2)])
@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("neighbours", ["von Neumann", "Moore"])
def test_grid_equals_the_brute_force_lattice(shape, periodic, neighbours):
    found = grid(shape, periodic=periodic, neighbours=neighbours)
    assert found.dtype == np.int64 and found.shape[1] == 2
    assert [tuple(p) for p in found.tolist()] == _by_hand(shape, periodic, neighbours == "Moore")


def test_grid_counts_offsets_and_per_axis_wrapping():
    assert len(grid((64, 64), periodic=True)) == 2 * 64 * 64
    assert len(grid((8, 8), periodic=True, neighbours="Moore")) == 4 * 64
    cylinder = grid((3, 4), periodic=[False, True])
    assert len(cylinder) == 3 * 4 + 2 * 4  # rings of 4, and 2 x 4 rungs
    np.testing.assert_array_equal(grid((2, 2), first=10), grid((2, 2)) + 10)
    for bad in [
        dict(shape=()),
        dict(shape=(0, 3)),
        dict(shape=(2, 2), periodic=[True]),
        dict(shape=3, neighbours="hex"),
    ]:
        with pytest.raises(fg.ModelSpecError, match="grid"):
            grid(**bad)


def test_from_networkx_gives_scopes_in_node_order_and_weights_as_theta():
    G = nx.Graph()
    G.add_nodes_from(["x", "y", "z", "w"])
    G.add_edge("z", "x", weight=-0.5)
    G.add_edge("y", "w")
    G.add_edge("x", "y", weight=2.0)
    edges = from_networkx(G)
    assert edges.nodes == ["x", "y", "z", "w"]
    assert edges.scopes.tolist() == [[0, 1], [0, 2], [1, 3]]
    assert edges.theta_init.tolist() == [2.0, -0.5, 0.0]
    assert from_networkx(G, weight=None).theta_init is None
    assert from_networkx(nx.path_graph(3)).theta_init is None
    ordered = from_networkx(G, nodes=["w", "z", "y", "x"])
    assert ordered.scopes.tolist() == [[0, 2], [1, 3], [2, 3]]
    lattice = from_networkx(nx.grid_2d_graph(4, 5), nodes=list(itertools.product(range(4), range(5))))
    np.testing.assert_array_equal(lattice.scopes, grid((4, 5)))


def test_from_networkx_builds_the_model_it_describes():
    G = nx.cycle_graph(5)
    nx.set_edge_attributes(G, 0.3, "weight")
    edges = from_networkx(G)
    g = fg.FactorGraph()
    g.add_variables(len(edges.nodes), values=[-1, 1])
    g.add_features(fg.features.Product(edges.scopes), name="couplings", theta_init=edges.theta_init)
    assert g.n_features == 5
    np.testing.assert_array_equal(g.theta_init(), np.full(5, 0.3))


def test_from_networkx_refuses_what_is_not_a_set_of_pairs():
    with pytest.raises(fg.ModelSpecError, match="self-loop on node 1"):
        from_networkx(nx.Graph([(0, 1), (1, 1)]))
    with pytest.raises(fg.ModelSpecError, match="the pair 0, 1 is given twice"):
        from_networkx(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(fg.ModelSpecError, match="the pair 'a', 'b' is given twice"):
        from_networkx(nx.MultiGraph([("a", "b"), ("a", "b")]))
    with pytest.raises(fg.ModelSpecError, match="every node"):
        from_networkx(nx.path_graph(3), nodes=[0, 1])


def test_read_edges_takes_ids_or_names_headers_and_theta(tmp_path):
    path = tmp_path / "edges.csv"
    path.write_text("i,j,weight\n# a comment\n2,0,0.5\n\n1,2,-1\n")
    edges = read_edges(path)
    assert edges.scopes.tolist() == [[0, 2], [1, 2]] and edges.theta_init.tolist() == [0.5, -1.0]
    path.write_text("b,c\nc,a\n")
    named = read_edges(path, names=["a", "b", "c"])
    assert named.scopes.tolist() == [[0, 2], [1, 2]] and named.theta_init is None
    for text, match in [
        ("0,1\n1,2,3\n", "line 2: expected 2 columns"),
        ("0,1\n1,q\n", "line 2: 'q' is neither a variable id nor a variable name"),
        ("0,0\n", "line 1: an edge from variable 0 to itself"),
        ("0,1,x\n", "line 1: theta 'x' is not a number"),
        ("0,1\n1,0\n", "the pair 0, 1 is given twice"),
        ("i,j\n", "no edges"),
    ]:
        path.write_text(text)
        with pytest.raises(fg.ModelSpecError, match=match):
            read_edges(path)


MODEL = """format = "factorgraph-model"
version = 1

[[variables]]
n = 14
names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"]

[[features]]
kind = "Product"
name = "lattice"
scopes = {{ {lattice} }}

[[features]]
kind = "Product"
name = "extra"
scopes = {{ edges = "extra.csv" }}
"""


def test_model_files_generate_the_same_graph(tmp_path):
    (tmp_path / "extra.csv").write_text("m,n,0.25\n0,13,-0.5\n")
    text = MODEL.format(lattice='grid = [3, 4], periodic = [true, false], neighbours = "Moore", first = 2')
    (tmp_path / "model.toml").write_text(text)
    spec = fg.load_spec(tmp_path / "model.toml")
    g = spec.graph
    by_hand = fg.FactorGraph()
    by_hand.add_variables(14, names=list("abcdefghijklmn"))
    by_hand.add_features(
        fg.features.Product(grid((3, 4), periodic=[True, False], neighbours="Moore", first=2)), name="lattice"
    )
    by_hand.add_features(fg.features.Product(np.array([[0, 13], [12, 13]])), name="extra", theta_init=[-0.5, 0.25])
    for ours, theirs in zip(g.groups, by_hand.groups):
        np.testing.assert_array_equal(ours.scopes, theirs.scopes)
    np.testing.assert_array_equal(g.theta_init(), by_hand.theta_init())
    assert g.compile().fingerprint() == by_hand.compile().fingerprint()


@pytest.mark.parametrize(
    ("lattice", "match"),
    [
        ("grid = [4, 4]", r"a lattice of 16 sites from variable 0 needs 16 variables; \[\[variables\]\] declares 14"),
        ("grid = [3, 0]", "the lattice's sides"),
        ('grid = [3, 3], neighbours = "hex"', "neighbours"),
        ("grid = [3, 3], size = 2", "size"),
        ("grid = [3, 3], range = [0, 3]", "exactly one of"),
        ('edges = "missing.csv"', "file 'missing.csv' not found"),
    ],
)
def test_model_file_scope_errors_name_the_key(tmp_path, lattice, match):
    (tmp_path / "extra.csv").write_text("0,1\n")
    (tmp_path / "model.toml").write_text(MODEL.format(lattice=lattice))
    with pytest.raises(fg.ModelSpecFileError, match=match) as info:
        fg.load_spec(tmp_path / "model.toml")
    assert "features[0].scopes" in str(info.value)
