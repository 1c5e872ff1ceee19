"""The robustness table: every failure is loud, early and actionable.

One section per row of the robustness list (docs/robustness.rst): each case asserts the
specific FactorGraphError subclass or warning class, and that the message names the offending
item (feature and group, scope, variable, sampler) and the fix. Rows partly covered elsewhere
say where; the cases here add what those tests leave out.
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers

F = fg.features
NAN, INF = float("nan"), float("inf")


def _binary(n=3, pairs=((0, 1), (1, 2))):
    """n binary (0/1) variables: a 'means' group, then a 'pairs' group."""
    g = fg.FactorGraph()
    g.add_variables(n)
    g.add_features(F.Product(np.arange(n)), name="means")
    if pairs:
        g.add_features(F.Product(list(pairs)), name="pairs")
    return g


def _target(g):
    """Reachable targets: the exact moments at a small θ."""
    return fg.exact.expectations(g, np.linspace(-0.3, 0.3, g.n_features))


def _sums_match_states(sampler):
    """The running sums behind stats() equal a recomputation from the chains' states."""
    state = sampler.get_state()
    recomputed = sampler.graph.feature_sums(state["states"])
    np.testing.assert_allclose(state["block_sums"].sum(axis=0), recomputed, rtol=1e-12, atol=1e-9)
    stats = sampler.stats()
    if getattr(stats, "n_averaged", 1) == 1:  # else the mean of the last run's sweeps
        np.testing.assert_allclose(stats.mean, recomputed / sampler.n_chains, rtol=1e-12, atol=1e-12)
    sampler.set_state(state)  # set_state re-checks the sums against the states


# ---------------------------------------------------------------------------------------------
# Row 1. NaN/inf in data, targets, tables, θ₀, λ, weights.
# Also: tests/factorgraph/test_errors.py (tables, values, bins, functions, data for fg.moments,
# exact θ) and test_monitor.py (NaN gradient). Here: every remaining entry point.
# ---------------------------------------------------------------------------------------------
def _fit_nan_target():
    g = _binary()
    target = _target(g)
    target[4] = NAN
    fg.fit(g, target=target, max_steps=1, progress=False)


def _exact_fit_inf_target():
    g = _binary()
    target = _target(g)
    target[3] = INF
    fg.exact.fit(g, target)


class _NanTables(F.FeatureKind):
    """A scaled kind whose tables are NaN at one joint state: only the graph's check sees it."""

    def _tables(self, values, rows):
        return np.array([[0.0, 1.0, NAN, 1.0]])


NON_FINITE = [
    (
        "fit-target",
        _fit_nan_target,
        fg.DataError,
        r"target of feature 4 \(group 'pairs', scope \(1, 2\)\) is nan.*Targets must be finite",
    ),
    (
        "exact-fit-target",
        _exact_fit_inf_target,
        fg.DataError,
        r"target of feature 3 \(group 'pairs', scope \(0, 1\)\) is inf",
    ),
    (
        "fit-data",
        lambda: fg.fit(_binary(), data=[[0, 1, 1], [1, NAN, 0]], max_steps=1, progress=False),
        fg.DataError,
        r"non-finite entry at row 1, variable 1.*impute",
    ),
    (
        "fit-weights",
        lambda: fg.fit(_binary(), data=[[0, 1, 1], [1, 0, 0]], weights=[1.0, NAN], max_steps=1, progress=False),
        fg.DataError,
        r"'weights'.*must be finite and non-negative.*non-finite values",
    ),
    (
        "moment-matching-target",
        lambda: objectives.MomentMatching([0.5, NAN, 0.2]),
        fg.DataError,
        r"'target' argument of MomentMatching must be finite; entry \(1,\) is nan",
    ),
    (
        "trainer-theta0",
        lambda: fg.Trainer(_binary(), [objectives.MomentMatching(_target(_binary()))], theta0=[0.0, NAN, 0, 0, 0]),
        fg.DataError,
        r"'theta0' argument of Trainer must be finite; entry \(1,\) is nan",
    ),
    (
        "exact-fit-theta0",
        lambda: fg.exact.fit(_binary(), _target(_binary()), theta0=[0, 0, 0, INF, 0]),
        (fg.DataError, fg.NumericalError),
        r"theta.*finite.*\(3,\) is inf",
    ),
    ("l2-strength", lambda: objectives.L2(NAN), fg.ModelSpecError, r"'strength' argument of L2 must be finite"),
    (
        "l1-strength-per-feature",
        lambda: objectives.L1([0.1, INF]),
        fg.ModelSpecError,
        r"'strength' argument of L1 must be finite; entry \(1,\) is inf",
    ),
    (
        "fit-l2",
        lambda: fg.fit(_binary(), target=_target(_binary()), l2=NAN, max_steps=1, progress=False),
        fg.ModelSpecError,
        r"'strength' argument of L2 must be finite",
    ),
    (
        "exact-fit-l2",
        lambda: fg.exact.fit(_binary(), _target(_binary()), l2=INF),
        fg.ModelSpecError,
        r"'l2' argument of exact.fit must be a finite number",
    ),
    (
        "marginal-prior-table",
        lambda: objectives.MarginalPrior((0, 1), [[0.5, NAN], [0.25, 0.25]]),
        fg.DataError,
        r"'target' argument of MarginalPrior must be finite; entry \(0, 1\) is nan",
    ),
    (
        "marginal-prior-strength",
        lambda: objectives.MarginalPrior((0, 1), np.full((2, 2), 0.25), strength=NAN),
        fg.ModelSpecError,
        r"'strength' argument of MarginalPrior must be a finite number",
    ),
    (
        "exact-marginal-table",
        lambda: objectives.ExactMarginal((0, 1), [[0.5, 0.2], [INF, 0.1]]),
        fg.DataError,
        r"'target' argument of ExactMarginal must be finite; entry \(1, 0\) is inf",
    ),
    (
        "feature-table",
        lambda: _binary().add_features(F.Table([(0, 1)], table=[[0.0, NAN], [1.0, 2.0]])),
        fg.FeatureSpecError,
        r"'table' argument of Table must be finite; entry \(0, 1\) is nan",
    ),
    (
        "kind-tables",
        lambda: _binary().add_features(_NanTables([(0, 1)]), name="nan"),
        fg.FeatureSpecError,
        r"_NanTables is not finite at some joint state",
    ),
    (
        "theta-init",
        lambda: _binary().add_features(F.Product([(0, 2)]), theta_init=NAN),
        fg.FeatureSpecError,
        r"'theta_init'.*finite",
    ),
    (
        "sampler-theta",
        lambda: samplers.create("gibbs", _binary().compile(), 4, seed=0).run([0, 0, NAN, 0, 0], 1),
        fg.DataError,
        r"'theta' argument of Gibbs.run must be finite; entry \(2,\) is nan",
    ),
]


@pytest.mark.parametrize("call, error, match", [c[1:] for c in NON_FINITE], ids=[c[0] for c in NON_FINITE])
def test_row_non_finite_inputs(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, fg.FactorGraphError)


# ---------------------------------------------------------------------------------------------
# Row 2. A target outside its feature's range: refused before the first step, naming the
# feature, its group and the achievable range. Also: test_monitor.py (Trainer).
# ---------------------------------------------------------------------------------------------
def test_row_target_outside_range_trainer():
    g = _binary()
    target = _target(g)
    target[3] = 1.2
    with pytest.raises(fg.UnreachableTargetError, match=r"outside the range.*feature 3 \(group 'pairs', target 1.2\)"):
        fg.Trainer(g, [objectives.MomentMatching(target)])


def test_row_target_outside_range_exact():
    g = _binary()
    target = _target(g)
    target[0] = -0.2
    with pytest.raises(
        fg.DataError,
        match=r"Target -0.2 of feature 0 \(group 'means', scope \(0,\)\) lies outside the range \[0.0, 1.0\]",
    ):
        fg.exact.fit(g, target)


def test_row_target_of_a_constant_variable_must_equal_its_value():
    g = fg.FactorGraph()
    g.add_variables(1, values=[2.0])  # n_states = 1
    g.add_variables(1)
    g.add_features(F.Product([(0,), (1,)]), name="means")
    with pytest.raises(fg.UnreachableTargetError, match=r"feature 0 \(group 'means', target 1\)"):
        fg.Trainer(g, [objectives.MomentMatching([1.0, 0.5])])


# ---------------------------------------------------------------------------------------------
# Row 3. Inconsistent marginal targets: overlapping tables that disagree on the shared
# variables, and one-hot indicator targets that do not sum to 1.
# ---------------------------------------------------------------------------------------------
PAIR_01 = np.array([[0.4, 0.1], [0.1, 0.4]])  # x1 marginal (0.5, 0.5)
PAIR_12 = np.array([[0.3, 0.3], [0.2, 0.2]])  # x1 marginal (0.6, 0.4): disagrees by 0.1


def _disagreeing_terms(g, kinds):
    """The two terms, and matching targets for every feature (0.5, or the ExactMarginal's own)."""
    terms = []
    for kind, scope, table in zip(kinds, [(0, 1), (1, 2)], [PAIR_01, PAIR_12]):
        if kind == "prior":
            terms.append(objectives.MarginalPrior(scope, table, strength=1.0))
        else:
            term = objectives.ExactMarginal(scope, table)
            term.add_to(g)
            terms.append(term)
    target = np.full(g.n_features, 0.5)
    for term in terms:
        if isinstance(term, objectives.ExactMarginal):
            target[term.feature_ids] = term.moments
    return terms, target


@pytest.mark.parametrize("engine", ["trainer", "exact"])
def test_row_inconsistent_marginal_targets(engine):
    g = _binary(pairs=())
    terms, target = _disagreeing_terms(g, ("exact", "exact"))
    match = r"scope \(0, 1\) and .* scope \(1, 2\) disagree on variable\(s\) \[1\] by up to 0.1\b.*same data"
    with pytest.raises(fg.InconsistentTargetError, match=match) as info:
        if engine == "trainer":
            fg.Trainer(g, [objectives.MomentMatching(target)] + terms, n_chains=8)
        else:
            fg.exact.fit(g, target, objectives=terms)
    assert info.value.scopes == ((0, 1), (1, 2))
    assert info.value.disagreement == pytest.approx(0.1)
    assert isinstance(info.value, ValueError)


def test_row_disagreeing_priors_are_checked_on_request():
    """Priors are penalties: disagreeing ones have a compromise, which the engines allow
    (tests/objectives/test_mixed_objectives.py fits one); the helper compares them on request."""
    from objectives.consistency import check_consistent_marginals

    g = _binary(pairs=())
    terms, target = _disagreeing_terms(g, ("prior", "exact"))
    fg.Trainer(g, [objectives.MomentMatching(target)] + terms, n_chains=8)
    with pytest.raises(
        fg.InconsistentTargetError,
        match=r"MarginalPrior \(term 0\) on scope \(0, 1\) and "
        r"ExactMarginal \(term 1\) on scope \(1, 2\) disagree on variable\(s\) \[1\] by up to 0.1",
    ):
        check_consistent_marginals(terms, include_priors=True)


def test_row_consistent_marginal_targets_pass():
    """Control: tables that agree on the shared variable (within 1e-9) are accepted."""
    g = _binary(pairs=())
    agree = np.array([[0.3, 0.2], [0.3, 0.2]]) + np.array([[1e-11, 0], [0, -1e-11]])  # x1 marginal (0.5, 0.5)
    terms = [objectives.ExactMarginal((0, 1), PAIR_01), objectives.ExactMarginal((1, 2), agree)]
    for term in terms:
        term.add_to(g)
    target = np.concatenate([np.full(3, 0.5), terms[0].moments, terms[1].moments])
    fg.Trainer(g, [objectives.MomentMatching(target)] + terms, n_chains=8)
    fg.exact.fit(g, target, objectives=terms)


@pytest.mark.parametrize("engine", ["trainer", "exact"])
def test_row_one_hot_targets_must_sum_to_one(engine):
    g = fg.FactorGraph()
    g.add_variables(2, n_states=3)
    g.add_features(F.Potential([(0,), (1,)]), name="onehot")  # 3 indicators per variable
    target = np.array([0.2, 0.3, 0.5, 0.2, 0.3, 0.4])  # the second scope sums to 0.9
    match = r"features 3..5 \(group 'onehot', scope \(1,\)\).*sum to 0.9\b.*Normalise"
    with pytest.raises(fg.InconsistentTargetError, match=match):
        if engine == "trainer":
            fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=8)
        else:
            fg.exact.fit(g, target)


# ---------------------------------------------------------------------------------------------
# Row 4. Unreachable targets: on the edge of a feature's range (refused before the first step)
# or jointly infeasible (θ runs away). Also: test_monitor.py, with more cases.
# ---------------------------------------------------------------------------------------------
def test_row_unreachable_target_on_the_edge():
    g = _binary()
    target = _target(g)
    target[1] = 1.0
    with pytest.raises(fg.UnreachableTargetError, match=r"edge.*feature 1 \(group 'means', target 1\).*L2") as info:
        fg.Trainer(g, [objectives.MomentMatching(target)])
    assert info.value.features.tolist() == [1]


# θ_pair runs away towards a bimodal model (x0 = x1), between whose modes single-site chains
# cannot move: the stuck-chains warning is right, before the error
@pytest.mark.filterwarnings("ignore::factorgraph.StuckChainsWarning")
def test_row_unreachable_jointly_infeasible_targets():
    g = _binary(2, pairs=[(0, 1)])
    trainer = fg.Trainer(
        g, [objectives.MomentMatching([0.5, 0.5, 0.6])], n_chains=128, seed=0, optimizer=fg.optim.SGD(lr=0.5)
    )
    with pytest.raises(fg.UnreachableTargetError, match=r"grew without bound.*group 'pairs'.*objectives.L2"):
        trainer.fit(max_steps=2000, tol=0.0, progress=False)


# ---------------------------------------------------------------------------------------------
# Row 5. Learning-rate divergence: stop within a bounded number of steps, roll back to the last
# good state (θ, optimizer, chains, average), suggest a rate ten times smaller.
# ---------------------------------------------------------------------------------------------
def test_row_divergence_huge_learning_rate_rolls_back_to_the_start():
    g = _binary()
    trainer = fg.Trainer(
        g, [objectives.MomentMatching(_target(g))], n_chains=64, seed=0, optimizer=fg.optim.SGD(lr=1e4), average_from=0
    )
    theta0, before = trainer.theta.copy(), trainer.sampler.get_state()
    with pytest.raises(
        fg.TrainingDivergedError,
        match=r"diverged at step 1: one step changed the log-odds.*"
        r"group .*rolled back to step 0.*ten times smaller, lr=1e\+03 \(the rate in force was 1e\+04",
    ) as info:
        trainer.fit(max_steps=100, tol=0.0, progress=False)
    assert isinstance(info.value, fg.NumericalError)
    assert (info.value.step, info.value.restored_step, info.value.suggested_lr) == (1, 0, 1000.0)
    np.testing.assert_array_equal(trainer.theta, theta0)
    after = trainer.sampler.get_state()
    np.testing.assert_array_equal(after["states"], before["states"])
    assert after["sweep"] == before["sweep"] and trainer.step_count == 0 and trainer.optimizer.t == 0
    assert trainer.average.count == 0
    _sums_match_states(trainer.sampler)
    trainer.optimizer = fg.optim.SGD(lr=0.1)  # the suggested fix: the fit continues
    assert trainer.fit(max_steps=5, tol=0.0, progress=False).n_steps == 5


def test_row_divergence_mid_fit_restores_the_last_good_check():
    g = _binary()
    trainer = fg.Trainer(
        g, [objectives.MomentMatching(_target(g))], n_chains=64, seed=1, optimizer=fg.optim.Adam(lr=0.05)
    )
    seen = {}

    def callback(info):
        seen[info["step"]] = (trainer.theta.copy(), trainer.sampler.get_state(), trainer.optimizer.get_state())
        if info["step"] == 20:
            trainer.optimizer.lr_scale = 1e4  # a learning rate gone wild from step 21 on

    with pytest.raises(fg.TrainingDivergedError, match=r"step 21.*ten times smaller, lr=50\b") as info:
        trainer.fit(max_steps=100, tol=0.0, check_every=5, progress=False, callback=callback)
    restored = info.value.restored_step
    assert 5 <= restored <= 20 and trainer.step_count == restored
    theta, state, optimizer = seen[restored]
    np.testing.assert_array_equal(trainer.theta, theta)
    np.testing.assert_array_equal(trainer.sampler.states, state["states"])
    assert trainer.sampler.sweep == state["sweep"]
    assert trainer.optimizer.lr_scale == 1.0 and trainer.optimizer.t == optimizer["t"]
    _sums_match_states(trainer.sampler)


def test_row_divergence_step_norm_growing_geometrically():
    """SGD on an L2 penalty with lr·λ = 3: θ ← −2θ, so every step doubles."""
    g = _binary()
    trainer = fg.Trainer(
        g, [objectives.L2(1.0)], n_chains=8, seed=0, theta0=np.full(5, 0.01), optimizer=fg.optim.SGD(lr=3.0)
    )
    with pytest.raises(fg.TrainingDivergedError, match=r"step size grew geometrically.*lr=0.3\b"):
        trainer.fit(max_steps=50, tol=0.0, progress=False)
    assert np.abs(trainer.theta).max() < 1.0


def test_row_divergence_gradient_rising_at_each_check():
    """SGD on an L2 penalty with lr·λ = 2.3: θ ← −1.3θ. The step grows 1.3-fold (under the 1.5 of
    the step-size sign) and stays far below max_theta until step 29; the gradient's RMS rises 30%
    at every check, which stops the fit at the fifth rising check (step 25)."""
    g = _binary()
    trainer = fg.Trainer(
        g, [objectives.L2(1.0)], n_chains=8, seed=0, theta0=np.full(5, 0.01), optimizer=fg.optim.SGD(lr=2.3)
    )
    with pytest.raises(
        fg.TrainingDivergedError,
        match=r"step 25: the gradient's RMS rose by more than 20% at each of "
        r"5 consecutive checks.*rolled back to step 1\b.*lr=0.23\b",
    ) as info:
        trainer.fit(max_steps=50, tol=0.0, check_every=5, progress=False)
    assert (info.value.step, info.value.restored_step) == (25, 1) and trainer.step_count == 1
    np.testing.assert_allclose(trainer.theta, np.full(5, -0.013), rtol=1e-12)  # θ after one step


def test_row_divergence_non_finite_theta():
    """Also test_monitor.py::test_overflowing_theta_stops_with_a_numerical_error."""

    class Huge(objectives.Objective):
        def value_and_grad(self, stats, theta):
            return None, np.full_like(theta, 1e308)

    g = _binary(2, pairs=())
    trainer = fg.Trainer(g, [Huge()], n_chains=8, seed=0, optimizer=fg.optim.SGD(lr=10.0))
    with pytest.raises(fg.TrainingDivergedError, match=r"non-finite at features \[0, 1\].*rolled back to step 0"):
        trainer.fit(max_steps=10, tol=0.0, progress=False)
    np.testing.assert_array_equal(trainer.theta, [0.0, 0.0])


# ---------------------------------------------------------------------------------------------
# Row 6. Stuck chains: a warning naming the sampler, the rate and the variables, suggesting
# another sampler.
# ---------------------------------------------------------------------------------------------
def _frozen_ferromagnet(n=6, coupling=3.0):
    """Spins on a complete graph with fixed strong couplings: one flip costs 2·J·(n-1) = 30."""
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    g.add_features(F.Product(np.arange(n)), name="fields")
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    g.add_features(F.Product(pairs), name="couplings", trainable=False, theta_init=coupling)
    return g


@pytest.mark.parametrize("sampler", ["gibbs", "mh"])
def test_row_stuck_chains_warn(sampler):
    g = _frozen_ferromagnet()
    compiled = g.compile()
    chains = samplers.create(sampler, compiled, 32, seed=0)
    chains.run(compiled.theta_init, 20)  # every chain has settled into one of the two aligned states
    trainer = fg.Trainer(compiled, [objectives.MomentMatching(np.zeros(g.n_features))], sampler=chains)
    match = (
        rf"'{sampler}' sampler changed a state in 0% of its updates \(0 of \d+\) over the last 50 steps, "
        r"below 0.1%.*stuck.*"
        r"Variables no chain changed: \[0, 1, 2, 3, 4, 5\].*swendsen-wang"
    )
    with pytest.warns(fg.StuckChainsWarning, match=match):
        trainer.fit(max_steps=100, tol=0.0, progress=False)


def test_row_moving_chains_do_not_warn():
    """Control: weak couplings; pytest turns any stray warning into an error."""
    g = _frozen_ferromagnet(coupling=0.1)
    fg.Trainer(g, [objectives.MomentMatching(np.zeros(g.n_features))], n_chains=32, seed=0).fit(
        max_steps=120, tol=0.0, progress=False
    )


def test_row_chains_that_all_agree_do_not_warn():
    """Control: strong fixed fields hold every chain in the same state, so no update changes a
    state; that is a concentrated distribution, not stuck chains."""
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1, 1])
    g.add_features(F.Product(np.arange(4)), name="fields")
    g.add_features(F.Product(np.arange(4)), name="bias", trainable=False, theta_init=20.0)
    trainer = fg.Trainer(g, [objectives.MomentMatching(np.r_[np.full(4, 0.5), np.zeros(4)])], n_chains=32, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fg.StuckChainsWarning)
        trainer.fit(max_steps=120, tol=0.0, progress=False)
    assert np.all(trainer.sampler.states == 1) and trainer.history["change_rate"][-1] == 0.0


# ---------------------------------------------------------------------------------------------
# Row 7. Bad feature specs: a FeatureSpecError naming the group, the row and expected vs
# actual; a warning for a repeated scope. Also: test_errors.py::test_bad_model_spec and the
# fuzzing in test_fuzz_spec.py.
# ---------------------------------------------------------------------------------------------
class _BadOneHot(F.FeatureKind):
    """A one-hot kind whose map sends a joint state to local feature 5 of a group of 3."""

    form = "indexed"

    def _index_map(self, values):
        return np.array([0, 1, 2, 5]), 3


BAD_SPECS = [
    (
        "variable-out-of-range",
        lambda g: g.add_features(F.Product([(0, 1), (1, 5)]), name="pairs"),
        r"group 'pairs': scope row 1 refers to variable 5, but the graph has variables 0..2",
    ),
    (
        "repeated-variable",
        lambda g: g.add_features(F.Product([(0, 1), (2, 2)]), name="pairs"),
        r"group 'pairs': scope row 1 \[2, 2\] repeats a variable",
    ),
    (
        "table-shape",
        lambda g: g.add_features(F.Table([(0, 1)], table=np.zeros((2, 3))), name="tab"),
        r"group 'tab': Table has shape \(2, 3\) but its scope \[0, 1\] has joint domain shape \(2, 2\)",
    ),
    (
        "arity-vs-table-rank",
        lambda g: g.add_features(F.Table([(0, 1)], table=np.zeros(2)), name="tab"),
        r"arity 2 needs a table with 2 axes.*got shape \(2,\)",
    ),
    (
        "one-hot-map-beyond-group",
        lambda g: g.add_features(_BadOneHot([(0, 1)]), name="onehot"),
        r"group 'onehot': _BadOneHot's index map has entries outside -1..2",
    ),
    (
        "theta-init-shape",
        lambda g: g.add_features(F.Product([(0, 1)]), name="pairs", theta_init=[0.0, 1.0]),
        r"group 'pairs': theta_init has shape \(2,\) but the group has 1 features",
    ),
]


@pytest.mark.parametrize("call, match", [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_row_bad_feature_spec(call, match):
    with pytest.raises(fg.FeatureSpecError, match=match):
        call(_binary(pairs=()))


def test_row_domain_mismatch():
    with pytest.raises(fg.ModelSpecError, match=r"'n_states'.*len\(values\) = 2; got 3"):
        fg.FactorGraph().add_variables(2, n_states=3, values=[0, 1])


def test_row_duplicate_scope_warns():
    g = _binary(4, pairs=())
    with pytest.warns(fg.DuplicateScopeWarning, match=r"group 'pairs': scope rows 0 and 2 are both \[0, 3\]"):
        g.add_features(F.Product([(0, 3), (1, 2), (0, 3)]), name="pairs")


# ---------------------------------------------------------------------------------------------
# Row 8. Memory: an estimate before large allocations (MemoryEstimateWarning) and an
# OutOfMemoryError with the estimate when the allocation fails.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gibbs", "mh", "block-gibbs", "swendsen-wang"])
def test_row_memory_estimate_warns_before_allocating(monkeypatch, name):
    g = fg.FactorGraph()
    g.add_variables(10, values=[-1, 1])
    g.add_features(F.Product([(i, i + 1) for i in range(9)]), name="pairs")
    monkeypatch.setattr(fg, "MEMORY_WARNING_BYTES", 10_000)
    # 1000 chains x 10 variables x 4 bytes + 16 blocks x 9 sums x 8 bytes = 41,152 bytes
    with pytest.warns(
        fg.MemoryEstimateWarning,
        match=rf"the {name} sampler's chains \(n_chains=1000.*"
        r"about 40.2 KiB, more than the 9.77 KiB threshold.*fewer chains",
    ):
        samplers.create(name, g.compile(), 1000, seed=0)


def test_row_memory_estimate_of_the_trainer(monkeypatch):
    g = _binary()
    monkeypatch.setattr(fg, "MEMORY_WARNING_BYTES", 1000)  # the trainer needs 16 x 5 x 8 + 64 x 3 x 4 bytes
    with pytest.warns(fg.MemoryEstimateWarning) as record:
        fg.Trainer(g, [objectives.MomentMatching(_target(g))], n_chains=64, seed=0)
    assert any("Trainer (n_features=5, n_chains=64" in str(w.message) for w in record)


def test_row_failed_allocation_gives_the_estimate(monkeypatch):
    import samplers._chains

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(samplers._chains, "np", types.SimpleNamespace(**{**vars(np), "zeros": no_memory}))
    with pytest.raises(
        fg.OutOfMemoryError,
        match=r"Could not allocate the gibbs sampler's chains \(n_chains=1000, "
        r"n_variables=3, n_features=5\): about 12.3 KiB were needed. Use fewer chains",
    ) as info:
        samplers.create("gibbs", _binary().compile(), 1000, seed=0)
    assert isinstance(info.value, MemoryError) and isinstance(info.value, fg.ModelTooLargeError)
    assert info.value.nbytes == 4 * 1000 * 3 + 8 * 16 * 5


# ---------------------------------------------------------------------------------------------
# Row 9. Empty and degenerate graphs: defined behaviour.
# ---------------------------------------------------------------------------------------------
def _no_variables():
    return fg.FactorGraph()


def _no_features():
    g = fg.FactorGraph()
    g.add_variables(3)
    return g


def _all_fixed():
    g = fg.FactorGraph()
    g.add_variables(3)
    g.add_features(F.Product(np.arange(3)), name="means", trainable=False, theta_init=0.5)
    return g


@pytest.mark.parametrize(
    "make, why",
    [(_no_variables, "no variables"), (_no_features, "no features"), (_all_fixed, "every feature is fixed")],
    ids=["n=0", "K=0", "all-fixed"],
)
def test_row_nothing_to_fit_returns_at_once_with_a_warning(make, why):
    g = make()
    with pytest.warns(fg.DegenerateModelWarning, match=f"nothing to fit: the model has {why}|nothing to fit: {why}"):
        result = fg.fit(g, target=np.full(g.n_features, 0.5), max_steps=100, progress=False)
    assert (
        result.n_steps == 0
        and result.converged
        and result.message == "nothing to fit: " + (why if why.startswith("every") else f"the model has {why}")
    )
    np.testing.assert_array_equal(result.theta, g.compile().theta_init)
    assert result.states.shape[1] == g.n_variables and all(len(v) == 0 for v in result.history.values())
    repr(result)


def test_row_isolated_variable_samples_uniformly():
    g = fg.FactorGraph()
    g.add_variables(3, n_states=3)
    g.add_features(F.Product([(0, 1)]), name="pair")  # variable 2 has no feature
    theta = np.array([0.8])
    np.testing.assert_allclose(fg.exact.marginal(g, theta, [2]), np.full(3, 1 / 3), rtol=1e-14)
    sampler = samplers.create("gibbs", g.compile(), 6000, seed=0)
    sampler.run(theta, 5)
    counts = np.bincount(sampler.states[:, 2], minlength=3)
    # each count is binomial(6000, 1/3): sd 36.5; 5 sd
    assert np.all(np.abs(counts - 2000) < 5 * np.sqrt(6000 * 2 / 9)), counts


@pytest.mark.parametrize("name", ["gibbs", "mh", "block-gibbs", "swendsen-wang"])
def test_row_single_state_variable_is_constant(name):
    g = fg.FactorGraph()
    g.add_variables(1, values=[3.0])
    g.add_variables(2, values=[-1, 1])
    g.add_features(F.Product([(1, 2)]), name="pair")
    g.add_features(F.Product([(0,), (1,)]), name="fields")
    theta = np.array([0.5, 0.7, -0.2])
    assert fg.exact.marginal(g, theta, [0]).tolist() == [1.0]
    sampler = samplers.create(name, g.compile(), 64, seed=0)
    sampler.run(theta, 10)
    assert np.all(sampler.states[:, 0] == 0)
    assert np.all(sampler.stats().mean[1] == 3.0)
    _sums_match_states(sampler)


def test_row_single_state_feature_trains_to_itself():
    g = fg.FactorGraph()
    g.add_variables(1, values=[3.0])
    g.add_variables(1)
    g.add_features(F.Product([(0,), (1,)]), name="means")
    result = fg.Trainer(g, [objectives.MomentMatching([3.0, 0.4])], n_chains=64, seed=0).fit(
        max_steps=30, tol=0.0, progress=False
    )
    assert result.theta[0] == 0.0 and result.history["mismatch"][-1] == result.history["mismatch"][-1]


# ---------------------------------------------------------------------------------------------
# Row 10. Interruption inside a sweep (KeyboardInterrupt, MemoryError): the chains, their
# running sums and the sweep counter stay consistent, and the fit continues.
# ---------------------------------------------------------------------------------------------
def test_row_keyboard_interrupt_from_a_callback():
    g = _binary()
    trainer = fg.Trainer(g, [objectives.MomentMatching(_target(g))], n_chains=64, seed=0, sweeps_per_step=3)

    def callback(info):
        if info["step"] == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(max_steps=50, tol=0.0, progress=False, callback=callback)
    assert trainer.step_count == 7 and trainer.sampler.sweep == 21
    _sums_match_states(trainer.sampler)
    result = trainer.fit(max_steps=5, tol=0.0, progress=False)
    assert result.n_steps == 5 and trainer.step_count == 12
    _sums_match_states(trainer.sampler)


KERNELS = {
    "gibbs": "samplers.gibbs._gibbs",
    "mh": "samplers.mh._mh",
    "block-gibbs": "samplers.block_gibbs._block",
    "swendsen-wang": "samplers.swendsen_wang._sw",
}


def _failing_kernel(monkeypatch, name, fail_on, error):
    """Patch the sampler's sweep kernel to raise ``error`` as its ``fail_on``-th call returns,
    after the kernel has done its work (where an interrupt during a long sweep surfaces)."""
    import importlib

    module_name, attr = KERNELS[name].rsplit(".", 1)
    kernel_module = getattr(importlib.import_module(module_name), attr)
    real = kernel_module.sweep
    calls = []

    def sweep(*args):
        out = real(*args)
        calls.append(out)
        if len(calls) == fail_on:
            raise error
        return out

    monkeypatch.setattr(kernel_module, "sweep", sweep)
    return lambda: monkeypatch.setattr(kernel_module, "sweep", real)


# (sampler, options, the kernel call that fails, sweeps done by then): kernel calls run to the
# next refresh of the sums (every 3 sweeps), one sweep when averaging, all 10 when the sums
# are recomputed at the end of the run
INTERRUPTED = [
    ("gibbs", {"sums": "incremental"}, 2, 6),
    ("gibbs", {"sums": "recompute"}, 1, 10),
    ("gibbs", {"average_sweeps": True}, 2, 2),
    ("mh", {}, 2, 6),
    ("block-gibbs", {}, 2, 6),
    ("swendsen-wang", {}, 2, 6),
]


@pytest.mark.parametrize(
    "name, options, fail_on, done",
    INTERRUPTED,
    ids=["gibbs", "gibbs-recompute", "gibbs-averaging", "mh", "block-gibbs", "swendsen-wang"],
)
@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt])
def test_row_interrupted_sweep_keeps_chains_sums_and_counter_consistent(
    monkeypatch, name, options, fail_on, done, error
):
    g = fg.FactorGraph()
    g.add_variables(5, values=[-1, 1])
    g.add_features(F.Product(np.arange(5)), name="fields")
    g.add_features(F.Product([(i, (i + 1) % 5) for i in range(5)]), name="ring")
    theta = np.linspace(-0.4, 0.6, g.n_features)
    compiled = g.compile()
    reference = samplers.create(name, compiled, 48, seed=3, refresh_every=3, **options)
    reference.run(theta, 10)
    sampler = samplers.create(name, compiled, 48, seed=3, refresh_every=3, **options)
    restore = _failing_kernel(monkeypatch, name, fail_on=fail_on, error=error)
    with pytest.raises(error):
        sampler.run(theta, 10)
    restore()
    assert sampler.sweep == done  # the counter is never behind the states
    _sums_match_states(sampler)
    sampler.run(theta, 10 - done)  # continuing gives the uninterrupted run's chains
    np.testing.assert_array_equal(sampler.states, reference.states)
    _sums_match_states(sampler)


@pytest.mark.parametrize("error", [MemoryError, KeyboardInterrupt])
def test_row_interrupted_run_leaves_no_stale_average(monkeypatch, error):
    """A run that averages over sweeps, then one interrupted: stats() must not return the first
    run's average, but read the running sums of the chains as they are now."""
    g = _binary()
    sampler = samplers.create("gibbs", g.compile(), 48, seed=3, average_sweeps=True)
    theta = np.linspace(-0.4, 0.6, g.n_features)
    sampler.run(theta, 4)
    assert sampler.stats().n_averaged == 4
    restore = _failing_kernel(monkeypatch, "gibbs", fail_on=2, error=error)
    with pytest.raises(error):
        sampler.run(theta, 4)
    restore()
    stats = sampler.stats()
    assert sampler.sweep == 6 and getattr(stats, "n_averaged", 1) == 1
    np.testing.assert_allclose(stats.mean, g.compile().feature_sums(sampler.states) / 48, rtol=1e-12, atol=1e-12)
    _sums_match_states(sampler)


def test_row_memory_error_in_the_kernel_during_fit(monkeypatch):
    g = _binary()
    trainer = fg.Trainer(
        g, [objectives.MomentMatching(_target(g))], n_chains=64, seed=0, sweeps_per_step=2, refresh_every=1
    )
    restore = _failing_kernel(monkeypatch, "gibbs", fail_on=9, error=MemoryError)
    with pytest.raises(MemoryError):
        trainer.fit(max_steps=50, tol=0.0, progress=False)
    restore()
    assert trainer.step_count == 4 and trainer.sampler.sweep == 9
    _sums_match_states(trainer.sampler)
    assert trainer.fit(max_steps=5, tol=0.0, progress=False).n_steps == 5
    _sums_match_states(trainer.sampler)


# ---------------------------------------------------------------------------------------------
# Fuzzing (RELIABILITY.md (g)): tests/factorgraph/test_fuzz_spec.py (graph construction, n in
# [0, 6], n_states in [1, 4], arity 1..3, bad scopes, tables, one-hot maps, NaN; compile, pickle,
# exact normalisation, networkx, sampler invariance) and test_model_spec_fuzz.py (the model-file
# loader): only FactorGraphError subclasses escape.
# ---------------------------------------------------------------------------------------------
