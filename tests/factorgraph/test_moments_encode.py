"""Empirical moments and value encoding against hand-computed answers.

``fg.moments`` must return the (weighted) mean of every feature over the rows
of a data matrix of state indices; ``g.encode`` must map raw values to state
indices: exact matches for value domains (spins, unsorted real values, plain
``n_states``) and numpy.digitize-style binning with a closed last bin for
variables defined by ``edges``.  Every expected number below was worked out
by hand from the tiny data set in the comments.
"""

import numpy as np
import pytest

import factorgraph as fg

F = fg.features

# Three variables: x0, x1 spins (values [-1, 1]); x2 with values [0.5, 2.0, -3.0].
#
#   row  states     values            weight
#   r0   (0, 0, 0)  (-1, -1,  0.5)    1.0
#   r1   (1, 0, 1)  ( 1, -1,  2.0)    2.0
#   r2   (1, 1, 2)  ( 1,  1, -3.0)    0.5
#   r3   (1, 1, 0)  ( 1,  1,  0.5)    0.5      (weights sum to 4)
DATA = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 2], [1, 1, 0]], dtype=np.int32)
WEIGHTS = np.array([1.0, 2.0, 0.5, 0.5])


def _graph():
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    g.add_variables(1, values=[0.5, 2.0, -3.0])
    return g


def _moments_of(feature, weights=None):
    """Moments of one group, or of a list of groups (concatenated)."""
    g = _graph()
    if isinstance(feature, list):
        for f in feature:
            g.add_features(f)
        return np.asarray(fg.moments(g, DATA, weights=weights))
    ids = g.add_features(feature)
    assert g.n_features == np.asarray(ids).size
    return np.asarray(fg.moments(g, DATA, weights=weights)).reshape(np.shape(ids))


@pytest.mark.parametrize(
    "weights, expected",
    [
        # x0: (-1+1+1+1)/4; x2: (0.5+2-3+0.5)/4; x0*x1: (1-1+1+1)/4; x1*x2: (-0.5-2-3+0.5)/4
        (None, [0.5, 0.0, 0.5, -1.25]),
        # x0: (-1+2+0.5+0.5)/4; x2: (0.5+4-1.5+0.25)/4; x0*x1: (1-2+0.5+0.5)/4;
        # x1*x2: (-0.5-4-1.5+0.25)/4
        (WEIGHTS, [0.5, 0.8125, 0.0, -1.4375]),
    ],
    ids=["unweighted", "weighted"],
)
def test_product_moments(weights, expected):
    got = _moments_of([F.Product([(0,), (2,)]), F.Product([(0, 1), (1, 2)])], weights)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "feature, unweighted, weighted",
    [
        # x2 == 0: rows r0, r3
        (lambda: F.Indicator([(2,)], states=[0]), [0.5], [(1.0 + 0.5) / 4]),
        # shared states (1, 0): row (0,1) -> x0=1, x1=0: r1;  row (1,0) -> x1=1, x0=0: never
        (lambda: F.Indicator([(0, 1), (1, 0)], states=[1, 0]), [0.25, 0.0], [2.0 / 4, 0.0]),
        # per-row states: (x0, x2) == (1, 0): r3;  (x1, x2) == (1, 2): r2
        (lambda: F.Indicator([(0, 2), (1, 2)], states=[[1, 0], [1, 2]]), [0.25, 0.25], [0.5 / 4, 0.5 / 4]),
    ],
    ids=["unary", "pair-shared-states", "pair-per-row-states"],
)
def test_indicator_moments(feature, unweighted, weighted):
    np.testing.assert_allclose(_moments_of(feature()), unweighted, atol=1e-12)
    np.testing.assert_allclose(_moments_of(feature(), WEIGHTS), weighted, atol=1e-12)


@pytest.mark.parametrize(
    "feature, unweighted, weighted",
    [
        # (x0, x1) over joint states 00, 01, 10, 11: r0 -> 00, r1 -> 10, r2, r3 -> 11
        (lambda: F.Potential([(0, 1)]), [[0.25, 0.0, 0.25, 0.5]], [[0.25, 0.0, 0.5, 0.25]]),
        # (x0, x2) over 00, 01, 02, 10, 11, 12: r0 -> 00, r1 -> 11, r2 -> 12, r3 -> 10
        (lambda: F.Potential([(0, 2)]), [[0.25, 0.0, 0.0, 0.25, 0.25, 0.25]], [[0.25, 0.0, 0.0, 0.125, 0.5, 0.125]]),
        # reference 0 keeps only 11, 12
        (lambda: F.Potential([(0, 2)], reference=0), [[0.25, 0.25]], [[0.5, 0.125]]),
        # scope order matters: (x2, x0) over 00, 01, 10, 11, 20, 21
        (lambda: F.Potential([(2, 0)]), [[0.25, 0.25, 0.0, 0.25, 0.0, 0.25]], [[0.25, 0.125, 0.0, 0.5, 0.0, 0.125]]),
    ],
    ids=["spins", "mixed-domain", "reference", "reversed-scope"],
)
def test_potential_moments(feature, unweighted, weighted):
    np.testing.assert_allclose(_moments_of(feature()), unweighted, atol=1e-12)
    np.testing.assert_allclose(_moments_of(feature(), WEIGHTS), weighted, atol=1e-12)


def test_weights_are_normalised():
    feature = F.Potential([(1, 2)])
    np.testing.assert_allclose(_moments_of(feature, 3.0 * WEIGHTS), _moments_of(feature, WEIGHTS), rtol=1e-12)
    np.testing.assert_allclose(_moments_of(feature, np.full(4, 0.7)), _moments_of(feature), rtol=1e-12)


def test_moments_of_several_groups_follow_theta_order():
    g = _graph()
    g.add_features(F.Product([(0, 1)]))  # id 0
    g.add_features(F.Potential([(1, 2)], reference=0))  # ids 1, 2: (x1, x2) = 11, 12
    g.add_features(F.Indicator([(2,)], states=[1]))  # id 3
    # (x1, x2): r0 (0,0), r1 (0,1), r2 (1,2), r3 (1,0)
    np.testing.assert_allclose(fg.moments(g, DATA), [0.5, 0.0, 0.25, 0.25], atol=1e-12)


# ----------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------
def test_encode_spins():
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    got = g.encode(np.array([[-1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]]))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [[0, 1], [1, 1], [0, 0]])


def test_encode_unsorted_values_and_plain_states():
    g = _graph()
    g.add_variables(1, n_states=3)  # values 0, 1, 2
    raw = np.array([[1, -1, 2.0, 0], [-1, 1, -3.0, 2], [1, 1, 0.5, 1]])
    np.testing.assert_array_equal(g.encode(raw), [[1, 0, 1, 0], [0, 1, 2, 2], [1, 1, 0, 1]])


def test_encode_tolerates_tiny_relative_error_only():
    g = _graph()
    near = np.array([[1.0, -1.0 * (1 + 1e-12), 2.0 * (1 - 1e-12)]])
    np.testing.assert_array_equal(g.encode(near), [[1, 0, 1]])
    with pytest.raises(fg.DataError):
        g.encode(np.array([[1.0, -1.0, 2.0 * (1 + 1e-6)]]))


# edges [0, 1, 2, 4]: bins [0,1), [1,2), [2,4]; default values = centres 0.5, 1.5, 3.0
EDGES = [0.0, 1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "raw, state",
    [
        (0.0, 0),
        (0.5, 0),
        (0.999, 0),
        (1.0, 1),
        (1.5, 1),
        (2.0, 2),
        (3.9, 2),
        (4.0, 2),
    ],
)
def test_encode_bins_by_edges(raw, state):
    g = fg.FactorGraph()
    g.add_variables(1, edges=EDGES)
    np.testing.assert_array_equal(g.encode(np.array([[raw]])), [[state]])


def test_edges_variable_values_are_bin_centres():
    g = fg.FactorGraph()
    g.add_variables(1, edges=EDGES)
    g.add_features(F.Product([(0,)]))
    got = g.compile().feature_values(np.array([[0], [1], [2]], dtype=np.int32))
    np.testing.assert_allclose(got[:, 0], [0.5, 1.5, 3.0])


def test_encode_mixed_columns_then_moments():
    g = fg.FactorGraph()
    g.add_variables(1, values=[-1, 1])
    g.add_variables(1, edges=EDGES)
    g.add_features(F.Product([(0,), (1,)]))
    g.add_features(F.Product([(0, 1)]))
    raw = np.array([[-1, 0.2], [1, 1.0], [1, 3.9], [-1, 4.0]])
    states = g.encode(raw)
    np.testing.assert_array_equal(states, [[0, 0], [1, 1], [1, 2], [0, 2]])
    # x0: (-1+1+1-1)/4 = 0; x1 centres (0.5+1.5+3+3)/4 = 2; x0*x1: (-0.5+1.5+3-3)/4 = 0.25
    np.testing.assert_allclose(fg.moments(g, states), [0.0, 2.0, 0.25], atol=1e-12)


# -- data in the variables' own values -----------------------------------------------------------


def _survey():
    """Two spins and one answer on a 1..5 scale: the units a user's data comes in."""
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    g.add_variables(1, values=[1, 2, 3, 4, 5])
    g.add_features(F.Product([(0, 1)]), name="pair")
    g.add_features(F.Potential([2]), name="answer")
    return g


def test_data_in_values_give_the_moments_of_their_states():
    g = _survey()
    states = np.array([[0, 0, 0], [1, 1, 4], [0, 1, 2]])
    values = np.array([[-1, -1, 1], [1, 1, 5], [-1, 1, 3]])  # the same rows, in values
    expected = fg.moments(g, states)
    for graph in (g, g.compile()):
        np.testing.assert_array_equal(fg.moments(graph, values), expected)
        np.testing.assert_array_equal(fg.moments(graph, values, units="values"), expected)
        np.testing.assert_array_equal(fg.moments(graph, states, units="states"), expected)
    np.testing.assert_array_equal(fg.data.as_states(g, values, "test"), states)


def test_data_that_read_both_ways_are_refused_until_told():
    g = _survey()
    both = np.array([[1, 1, 1], [1, 1, 2]])  # states 1, 1, 1 / 1, 1, 2 or values 1, 1, 1 / 1, 1, 2
    with pytest.raises(fg.DataError, match=r"reads both as state indices and as the variables' values.*units="):
        fg.moments(g, both)
    as_states = fg.moments(g, both, units="states")
    as_values = fg.moments(g, both, units="values")
    assert not np.array_equal(as_states, as_values)
    np.testing.assert_array_equal(as_values, fg.moments(g, g.encode(both)))
    with pytest.raises(fg.DataError, match="units"):
        fg.moments(g, both, units="spins")


def test_spins_need_no_encoding_and_agree_where_the_readings_agree():
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(F.Product([(0, 1), (1, 2)]))
    np.testing.assert_array_equal(fg.moments(g, [[1, 1, 1]]), fg.moments(g, [[1, 1, 1]], units="states"))
    np.testing.assert_array_equal(fg.moments(g, [[-1, 1, -1]]), fg.moments(g, [[0, 1, 0]]))
    with pytest.raises(fg.DataError, match="state 2 at row 0 for variable 0"):
        fg.moments(g, [[2, 1, 1]])  # neither a state nor a value: the state check's message


def test_raw_values_are_binned_by_edges_with_the_graph():
    g = fg.FactorGraph()
    g.add_variables(1, edges=[0.0, 1.0, 2.0, 4.0])
    g.add_features(F.Potential([0]))
    raw = np.array([[0.3], [1.7], [3.9], [2.5]])
    np.testing.assert_array_equal(fg.moments(g, raw), fg.moments(g, [[0], [1], [2], [2]]))
    with pytest.raises(fg.DataError):
        fg.moments(g.compile(), raw)  # the compiled graph keeps the bin centres, not the edges
