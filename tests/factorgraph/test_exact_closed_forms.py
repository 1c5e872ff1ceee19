"""The exact enumeration engine ``fg.exact`` against independently derived closed forms.

Nothing here compares the library with itself: every expected value is computed in this
file from the definition of the features.

* Independent variables (unary Product, Polynomial, Indicator, Threshold, Table, Bin,
  Function, Potential and Histogram on binary, spin, 3- and 5-state domains, with
  thresholds, bin bounds and histogram edges placed on state values to pin down the
  closed/open rules): the distribution factorises, so with
  ``F_v[s]`` the feature vector of variable ``v`` in state ``s``,
  ``log Z = sum_v log sum_s exp(theta . F_v[s])``, the single-site marginals are softmaxes,
  moments and the covariance are sums of per-variable terms (zero across variables) and
  the entropy is the sum of single-site entropies.
* 1D Ising chains (open and periodic) with spins in {-1, +1}: ``Z`` is a product of 2 x 2
  transfer matrices (a trace for the ring); every spin moment ``<prod_{i in A} s_i>`` is
  obtained exactly by inserting ``diag(-1, +1)`` at the sites in ``A``, and a pair marginal
  by inserting the projectors ``diag(e_a)``. Because ``s_i ** 2 = 1``, the covariance of
  two spin-product features is ``<s_{A xor B}> - <s_A><s_B>``: no finite differences.
* Every pairwise kind on one 3 x 5 pair of variables: Z is a sum of 15 terms.
* A q = 3 Potts chain with one ``Potential`` group on consecutive pairs: q x q transfer
  matrices, with left/right vectors for the pair marginals.
* ``marginal`` orders its axes like the scope: a reversed scope gives the transpose.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import factorgraph as fg
from factorgraph import features as ff

ATOL = 1e-10

DOMAINS = {
    "binary": (dict(n_states=2), np.array([0.0, 1.0])),
    "spin": (dict(values=[-1.0, 1.0]), np.array([-1.0, 1.0])),
    "three": (dict(values=[-0.7, 0.3, 2.1]), np.array([-0.7, 0.3, 2.1])),
    "five": (dict(values=[-1.5, -0.2, 0.4, 1.1, 3.0]), np.array([-1.5, -0.2, 0.4, 1.1, 3.0])),
}
UNARY_KINDS = [
    "product",
    "polynomial",
    "indicator",
    "threshold",
    "table_shared",
    "table_rows",
    "bin",
    "function",
    "potential",
    "histogram",
]


# --------------------------------------------------------------------------- independent
def _unary_group(kind, var_ids, values, rng):
    """A unary feature group on ``var_ids`` and its values, shape (k states, rows, per row)."""
    scopes = np.asarray(var_ids)[:, None]
    n_rows, k = len(var_ids), len(values)
    cycle = np.arange(n_rows)
    mid = 0.5 * (values[0] + values[1])
    if kind == "product":
        return ff.Product(scopes), np.tile(values[:, None], (1, n_rows))
    if kind == "polynomial":
        powers = np.array([2, 3, 1, 4])[cycle % 4]
        return ff.Polynomial(scopes, powers), values[:, None] ** powers[None, :]
    if kind == "polynomial_scalar":
        return ff.Polynomial(scopes, 2), np.tile(values[:, None] ** 2, (1, n_rows))
    if kind == "indicator":
        states = np.array([k - 1, 0, 1 % k, k // 2])[cycle % 4]
        table = (np.arange(k)[:, None] == states[None, :]).astype(float)
        return ff.Indicator(scopes, states[:, None]), table
    if kind == "threshold":
        # exactly a state value (tests ">="), between the two lowest values, the top value
        thresholds = np.array([values[1], mid, values[-1]])[cycle % 3]
        return ff.Threshold(scopes, thresholds), (values[:, None] >= thresholds[None, :]) * 1.0
    if kind == "table_shared":
        table = rng.normal(size=k)
        return ff.Table(scopes, table), np.tile(table[:, None], (1, n_rows))
    if kind == "table_rows":
        tables = rng.normal(size=(n_rows, k))
        return ff.Table(scopes, tables), tables.T.copy()
    if kind == "bin":
        # half-open [lower, upper): bounds equal to state values test both ends
        lower = np.array([values[0], mid, values[1]])[cycle % 3]
        upper = np.array([values[1], values[-1], values[-1] + 1.0])[cycle % 3]
        table = (values[:, None] >= lower) & (values[:, None] < upper)
        return ff.Bin(scopes, lower[:, None], upper[:, None]), table * 1.0
    if kind == "function":
        fn = lambda x: np.sin(2.0 * x) + 0.1 * x**3  # noqa: E731
        return ff.Function(scopes, fn), np.tile(fn(values)[:, None], (1, n_rows))
    if kind == "potential":  # one feature per state
        return ff.Potential(scopes), np.tile(np.eye(k)[:, None, :], (1, n_rows, 1))
    if kind == "potential_ref":  # states 1..k-1
        return ff.Potential(scopes, reference=0), np.tile(np.eye(k)[:, None, 1:], (1, n_rows, 1))
    if kind == "histogram":
        # bins [v0, mid) -> state 0, [mid, top] closed -> states 1 .. top; above top: no cell
        top = values[max(k - 2, 1)]
        cells = np.zeros((k, 2))
        cells[0, 0] = 1.0
        cells[1:, 1] = values[1:] <= top
        edges = np.array([values[0], mid, top])
        return ff.Histogram(scopes, edges), np.tile(cells[:, None, :], (1, n_rows, 1))
    raise AssertionError(kind)


def _independent_model(spec, seed):
    """Build a model with unary features only.

    ``spec`` is a list of (domain name, n variables, list of unary kinds applied to them).
    Returns the graph, theta, and per-variable matrices ``F[v]`` of shape (k_v, K).
    """
    rng = np.random.default_rng(seed)
    g = fg.FactorGraph()
    blocks = []  # (variable ids, values)
    for domain, n, _ in spec:
        kwargs, values = DOMAINS[domain]
        blocks.append((g.add_variables(n, **kwargs), values))
    F = [np.zeros((len(values), 0)) for var_ids, values in blocks for _ in var_ids]
    for (_, n, kinds), (var_ids, values) in zip(spec, blocks):
        for kind in kinds:
            group, table = _unary_group(kind, var_ids, values, rng)
            table = table.reshape(len(values), n, -1)  # (states, rows, features per row)
            n_features = F[0].shape[1]
            ids = g.add_features(group)
            expected = np.arange(n_features, n_features + table[0].size).reshape(table.shape[1:])
            np.testing.assert_array_equal(np.asarray(ids).reshape(expected.shape), expected)
            # theta order: row by row, within a row in cell order
            for v in range(len(F)):
                block = np.zeros((F[v].shape[0], table[0].size))
                if v in var_ids:
                    row = int(np.flatnonzero(var_ids == v)[0])
                    block[:, expected[row] - n_features] = table[:, row, :]
                F[v] = np.hstack([F[v], block])
    assert g.n_features == F[0].shape[1]
    theta = rng.normal(size=g.n_features)
    return g, theta, F


def _independent_closed_forms(F, theta):
    log_z, moments, cov, entropy, probs = 0.0, 0.0, 0.0, 0.0, []
    for Fv in F:
        e = Fv @ theta
        lse = e.max() + np.log(np.exp(e - e.max()).sum())
        p = np.exp(e - lse)
        mean = p @ Fv
        log_z += lse
        moments = moments + mean
        cov = cov + Fv.T @ (p[:, None] * Fv) - np.outer(mean, mean)
        entropy -= p @ np.log(p)
        probs.append(p)
    return log_z, moments, cov, entropy, probs


INDEPENDENT_CASES = {f"{domain}-{kind}": [(domain, 3, [kind])] for domain in DOMAINS for kind in UNARY_KINDS}
INDEPENDENT_CASES["mixed"] = [
    ("binary", 2, ["product", "table_rows", "indicator"]),
    ("spin", 2, ["product", "polynomial", "threshold", "bin", "potential_ref"]),
    ("three", 2, ["product", "polynomial_scalar", "threshold", "indicator", "table_shared", "histogram", "potential"]),
    (
        "five",
        3,
        [
            "product",
            "polynomial",
            "polynomial_scalar",
            "threshold",
            "indicator",
            "table_shared",
            "table_rows",
            "bin",
            "function",
            "potential_ref",
            "histogram",
        ],
    ),
]


@pytest.mark.parametrize("case", sorted(INDEPENDENT_CASES))
def test_independent_variables(case):
    g, theta, F = _independent_model(INDEPENDENT_CASES[case], seed=1234)
    log_z, moments, cov, entropy, probs = _independent_closed_forms(F, theta)

    assert fg.exact.log_partition(g, theta) == pytest.approx(log_z, abs=ATOL, rel=0)
    np.testing.assert_allclose(fg.exact.expectations(g, theta), moments, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fg.exact.covariance(g, theta), cov, rtol=0, atol=ATOL)
    assert fg.exact.entropy(g, theta) == pytest.approx(entropy, abs=ATOL, rel=0)
    for v, p in enumerate(probs):
        np.testing.assert_allclose(fg.exact.marginal(g, theta, [v]), p, rtol=0, atol=ATOL)
    # joint marginal of two (independent) variables: the outer product
    last = len(probs) - 1
    np.testing.assert_allclose(
        fg.exact.marginal(g, theta, [0, last]), np.outer(probs[0], probs[last]), rtol=0, atol=ATOL
    )


def test_independent_covariance_zero_across_variables():
    """Cross-variable blocks vanish (checked on its own so a failure names the cause)."""
    g, theta, F = _independent_model(INDEPENDENT_CASES["mixed"], seed=99)
    owner = [np.flatnonzero(np.any(Fv != 0, axis=0)) for Fv in F]  # feature ids of each variable
    cov = fg.exact.covariance(g, theta)
    for v, u in itertools.combinations(range(len(F)), 2):
        np.testing.assert_allclose(cov[np.ix_(owner[v], owner[u])], 0.0, rtol=0, atol=ATOL)


# --------------------------------------------------------------------------- one pair
def test_pair_kinds_on_two_variables():
    """Every pairwise kind on x (3 states) and y (5 states): Z is a 3 x 5 sum.

    Scopes (x, y) and (y, x) with asymmetric Function/Table check argument order.
    """
    rng = np.random.default_rng(42)
    vx, vy = DOMAINS["three"][1], DOMAINS["five"][1]
    g = fg.FactorGraph()
    g.add_variables(1, values=vx)
    g.add_variables(1, values=vy)
    A, B = np.meshgrid(vx, vy, indexing="ij")  # values, shape (3, 5)
    ia, ib = np.meshgrid(np.arange(3), np.arange(5), indexing="ij")  # state indices
    fn = lambda a, b: a - 0.5 * b**2 + a * b**3  # noqa: E731
    table = rng.normal(size=(3, 5))
    table_yx = rng.normal(size=(5, 3))
    hist = np.zeros((3, 5, 4))  # x bins [-0.7, 0.3), [0.3, 2.1]; y bins [-1.5, 0.4), [0.4, 3]
    hist[ia, ib, 2 * (A >= 0.3) + (B >= 0.4)] = 1.0
    ref = (ia >= 1) & (ib >= 1)
    pot = np.zeros((3, 5, 8))  # Potential(reference=0): joint states (1..2) x (1..4)
    pot[ref, np.arange(8)] = 1.0
    groups = [
        (ff.Product([(0, 1)]), (A * B)[..., None]),
        (ff.Function([(0, 1)], fn), fn(A, B)[..., None]),
        (ff.Function([(1, 0)], fn), fn(B, A)[..., None]),
        (ff.Table([(0, 1)], table), table[..., None]),
        (ff.Table([(1, 0)], table_yx), table_yx.T[..., None]),
        (ff.Indicator([(0, 1)], [2, 1]), ((ia == 2) & (ib == 1))[..., None] * 1.0),
        (ff.Indicator([(1, 0)], [1, 2]), ((ib == 1) & (ia == 2))[..., None] * 1.0),
        (
            ff.Bin([(0, 1)], [0.3, -0.2], [2.1, 3.0]),
            ((A >= 0.3) & (A < 2.1) & (B >= -0.2) & (B < 3.0))[..., None] * 1.0,
        ),
        (ff.Histogram([(0, 1)], [np.array([-0.7, 0.3, 2.1]), np.array([-1.5, 0.4, 3.0])]), hist),
        (ff.Potential([(0, 1)], reference=0), pot),
    ]
    for group, _ in groups:
        g.add_features(group)
    F = np.concatenate([f for _, f in groups], axis=-1)  # (3, 5, K)
    assert g.n_features == F.shape[-1]
    theta = rng.normal(0.0, 0.7, size=g.n_features)
    energy = F @ theta
    p = np.exp(energy - energy.max())
    log_z = energy.max() + np.log(p.sum())
    p /= p.sum()
    mean = np.einsum("ab,abk->k", p, F)
    cov = np.einsum("ab,abk,abl->kl", p, F, F) - np.outer(mean, mean)

    assert fg.exact.log_partition(g, theta) == pytest.approx(log_z, abs=ATOL, rel=0)
    np.testing.assert_allclose(fg.exact.expectations(g, theta), mean, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fg.exact.covariance(g, theta), cov, rtol=0, atol=ATOL)
    assert fg.exact.entropy(g, theta) == pytest.approx(-(p * np.log(p)).sum(), abs=ATOL, rel=0)
    np.testing.assert_allclose(fg.exact.marginal(g, theta, [0, 1]), p, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fg.exact.marginal(g, theta, [1, 0]), p.T, rtol=0, atol=ATOL)


# --------------------------------------------------------------------------- Ising chain
SPIN = np.array([-1.0, 1.0])
S_OP = np.diag(SPIN)


def _ising_chain(n, periodic, seed):
    rng = np.random.default_rng(seed)
    bonds = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if periodic else [])
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    g.add_features(ff.Product(bonds), name="couplings")
    g.add_features(ff.Product(np.arange(n)[:, None]), name="fields")
    J = rng.normal(0.0, 0.8, size=len(bonds))
    h = rng.normal(0.0, 0.6, size=n)
    # each feature is a spin product s_A; record A as a frozenset of sites
    sites = [frozenset(b) for b in bonds] + [frozenset([i]) for i in range(n)]
    return g, np.concatenate([J, h]), J, h, sites


def _transfer_weight(J, h, periodic, inserts=None):
    """sum_s exp(sum_b J_b s_i s_j + sum_i h_i s_i) * prod_i inserts[i][s_i, s_i]."""
    inserts = inserts or {}
    n = len(h)
    M = np.eye(2)
    for i in range(n):
        M = M @ np.diag(np.exp(h[i] * SPIN)) @ inserts.get(i, np.eye(2))
        if i < n - 1 or periodic:
            M = M @ np.exp(J[i] * np.outer(SPIN, SPIN))
    return np.trace(M) if periodic else M.sum()


def _spin_moment(J, h, periodic, A):
    """<prod_{i in A} s_i> by inserting diag(-1, 1) at the sites of A."""
    return _transfer_weight(J, h, periodic, {i: S_OP for i in A}) / _transfer_weight(J, h, periodic)


def _pair_marginal(J, h, periodic, i, j):
    """p(x_i = a, x_j = b) (state indices) by inserting projectors at i and j."""
    z = _transfer_weight(J, h, periodic)
    P = [np.diag([1.0, 0.0]), np.diag([0.0, 1.0])]
    return np.array([[_transfer_weight(J, h, periodic, {i: P[a], j: P[b]}) / z for b in range(2)] for a in range(2)])


ISING_CASES = [(n, periodic) for n in range(6, 11) for periodic in (False, True)]
ISING_IDS = [f"n{n}-{'ring' if p else 'open'}" for n, p in ISING_CASES]


@pytest.mark.parametrize(("n", "periodic"), ISING_CASES, ids=ISING_IDS)
def test_transfer_matrix_oracle_matches_brute_force(n, periodic):
    """Self-check of this file's oracle (does not touch fg.exact)."""
    _, _, J, h, sites = _ising_chain(n, periodic, seed=n)
    s = np.array(list(itertools.product(SPIN, repeat=n)))
    bonds = [sorted(a) for a in sites[: len(J)]]
    energy = sum(J[b] * s[:, i] * s[:, j] for b, (i, j) in enumerate(bonds)) + s @ h
    w = np.exp(energy)
    assert np.log(w.sum()) == pytest.approx(np.log(_transfer_weight(J, h, periodic)), abs=1e-12)
    for A in sites:
        brute = (w * np.prod(s[:, sorted(A)], axis=1)).sum() / w.sum()
        assert _spin_moment(J, h, periodic, A) == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize(("n", "periodic"), ISING_CASES, ids=ISING_IDS)
def test_ising_chain(n, periodic):
    g, theta, J, h, sites = _ising_chain(n, periodic, seed=n)
    log_z = np.log(_transfer_weight(J, h, periodic))
    mean = np.array([_spin_moment(J, h, periodic, A) for A in sites])
    cov = np.array(
        [
            [
                _spin_moment(J, h, periodic, A ^ B) - _spin_moment(J, h, periodic, A) * _spin_moment(J, h, periodic, B)
                for B in sites
            ]
            for A in sites
        ]
    )

    assert fg.exact.log_partition(g, theta) == pytest.approx(log_z, abs=ATOL, rel=0)
    # expectations: couplings <s_i s_{i+1}> first, then fields <s_i>
    np.testing.assert_allclose(fg.exact.expectations(g, theta), mean, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fg.exact.covariance(g, theta), cov, rtol=0, atol=ATOL)
    assert fg.exact.entropy(g, theta) == pytest.approx(log_z - theta @ mean, abs=ATOL, rel=0)
    np.testing.assert_allclose(
        fg.exact.marginal(g, theta, [0, 1]), _pair_marginal(J, h, periodic, 0, 1), rtol=0, atol=ATOL
    )
    m2 = mean[len(J) + 2]
    np.testing.assert_allclose(fg.exact.marginal(g, theta, [2]), [(1 - m2) / 2, (1 + m2) / 2], rtol=0, atol=ATOL)


@pytest.mark.parametrize("periodic", [False, True], ids=["open", "ring"])
def test_ising_log_partition_gradient_by_finite_differences(periodic):
    """d log Z / d theta from central differences of the transfer-matrix log Z."""
    g, theta, J, h, sites = _ising_chain(8, periodic, seed=2024)
    n_bonds, step = len(J), 1e-5

    def log_z(t):
        return np.log(_transfer_weight(t[:n_bonds], t[n_bonds:], periodic))

    basis = np.eye(theta.size)
    fd = np.array([(log_z(theta + step * e) - log_z(theta - step * e)) / (2 * step) for e in basis])
    np.testing.assert_allclose(fg.exact.expectations(g, theta), fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("scope", [(1, 4), (0, 6), (3, 2)])
def test_marginal_reversed_scope_is_transpose(scope):
    i, j = scope
    g, theta, J, h, _ = _ising_chain(7, False, seed=7)
    forward = fg.exact.marginal(g, theta, [i, j])
    backward = fg.exact.marginal(g, theta, [j, i])
    np.testing.assert_allclose(forward, _pair_marginal(J, h, False, i, j), rtol=0, atol=ATOL)
    np.testing.assert_allclose(backward, _pair_marginal(J, h, False, i, j).T, rtol=0, atol=ATOL)
    assert forward.sum() == pytest.approx(1.0, abs=1e-12)


def test_marginal_axes_follow_scope_order_for_unequal_domains():
    """Variables with 3 and 5 states: shapes (3, 5) and (5, 3)."""
    spec = [("three", 1, ["product", "indicator"]), ("five", 1, ["polynomial", "table_rows"])]
    g, theta, F = _independent_model(spec, seed=5)
    _, _, _, _, (p3, p5) = _independent_closed_forms(F, theta)
    forward = fg.exact.marginal(g, theta, [0, 1])
    backward = fg.exact.marginal(g, theta, [1, 0])
    assert forward.shape == (3, 5) and backward.shape == (5, 3)
    np.testing.assert_allclose(forward, np.outer(p3, p5), rtol=0, atol=ATOL)
    np.testing.assert_allclose(backward, np.outer(p5, p3), rtol=0, atol=ATOL)


# --------------------------------------------------------------------------- Potts chain
@pytest.mark.parametrize("reference", [None, 0], ids=["full", "reference0"])
@pytest.mark.parametrize("n", [5, 7])
def test_potts_chain(n, reference):
    q = 3
    rng = np.random.default_rng(300 + n)
    g = fg.FactorGraph()
    g.add_variables(n, n_states=q)
    bonds = np.column_stack([np.arange(n - 1), np.arange(1, n)])
    ids = g.add_features(ff.Potential(bonds, reference=reference))
    kept = np.ones((q, q), dtype=bool)  # joint states that carry a feature
    if reference is not None:
        kept[reference, :] = kept[:, reference] = False
    assert ids.shape == (n - 1, kept.sum())
    theta = rng.normal(0.0, 1.0, size=g.n_features)

    # log-potential of bond b as a q x q table (row-major over the kept joint states)
    logpot = np.zeros((n - 1, q, q))
    for b in range(n - 1):
        logpot[b][kept] = theta[ids[b]]
    W = np.exp(logpot)
    left = [np.ones(q)]
    for b in range(n - 1):
        left.append(left[-1] @ W[b])
    right = [np.ones(q)]
    for b in reversed(range(n - 1)):
        right.insert(0, W[b] @ right[0])
    z = left[-1].sum()
    pair = np.array([left[b][:, None] * W[b] * right[b + 1][None, :] / z for b in range(n - 1)])
    mean = np.zeros(g.n_features)
    for b in range(n - 1):
        mean[ids[b]] = pair[b][kept]

    assert fg.exact.log_partition(g, theta) == pytest.approx(np.log(z), abs=ATOL, rel=0)
    np.testing.assert_allclose(fg.exact.expectations(g, theta), mean, rtol=0, atol=ATOL)
    assert fg.exact.entropy(g, theta) == pytest.approx(np.log(z) - theta @ mean, abs=ATOL, rel=0)
    b = n // 2
    forward, backward = (fg.exact.marginal(g, theta, s) for s in ([b, b + 1], [b + 1, b]))
    np.testing.assert_allclose(forward, pair[b], rtol=0, atol=ATOL)
    np.testing.assert_allclose(backward, pair[b].T, rtol=0, atol=ATOL)
