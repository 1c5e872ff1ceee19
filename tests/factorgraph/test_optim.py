"""Optimizers, learning-rate schedules and Polyak averaging (factorgraph.optim)."""

import dataclasses
import math

import numpy as np
import pytest

from factorgraph import optim
from factorgraph._errors import ModelSpecError, NumericalError

# A concave quadratic L(theta) = -1/2 sum_i a_i (theta_i - c_i)^2 with gradient a * (c - theta).
A = [1.0, 0.5, 2.0, 0.1]
C = [1.0, -2.0, 0.25, 3.0]
THETA0 = [0.0, 0.3, -1.0, 7.5]


def quad_grad(theta):
    return np.array(A) * (np.array(C) - theta)


def run(opt, steps, theta=None):
    theta = np.array(THETA0) if theta is None else theta
    path = []
    for _ in range(steps):
        theta = opt.step(theta, quad_grad(theta))
        path.append(theta)
    return np.array(path)


# Hand-computed references: plain Python floats, one coordinate at a time.


def ref_sgd(lr_at, steps):
    columns = []
    for a, c, x in zip(A, C, THETA0):
        xs = []
        for t in range(steps):
            x = x + lr_at(t) * (a * (c - x))
            xs.append(x)
        columns.append(xs)
    return np.array(columns).T


def ref_momentum(lr, mu, nesterov, steps):
    columns = []
    for a, c, x in zip(A, C, THETA0):
        v, xs = 0.0, []
        for _ in range(steps):
            g = a * (c - x)
            v = mu * v + g
            x = x + lr * (g + mu * v) if nesterov else x + lr * v
            xs.append(x)
        columns.append(xs)
    return np.array(columns).T


def ref_adam(lr, b1, b2, eps, steps):
    columns = []
    for a, c, x in zip(A, C, THETA0):
        m = v = 0.0
        xs = []
        for t in range(1, steps + 1):
            g = a * (c - x)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * (g * g)
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            x = x + lr * m_hat / (math.sqrt(v_hat) + eps)
            xs.append(x)
        columns.append(xs)
    return np.array(columns).T


def ref_group_adam(lr, groups, b1, b2, eps, steps):
    """GroupAdam by hand: Adam's moments per coordinate, one denominator per group (its largest)."""
    x, m, v, path = list(THETA0), [0.0] * 4, [0.0] * 4, []
    for t in range(1, steps + 1):
        g = [a * (c - xi) for a, c, xi in zip(A, C, x)]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * (gi * gi) for vi, gi in zip(v, g)]
        for lo, hi in zip(groups[:-1], groups[1:]):
            if lo == hi:  # an empty group
                continue
            scale = math.sqrt(max(v[lo:hi]) / (1 - b2**t)) + eps
            for k in range(lo, hi):
                x[k] = x[k] + lr / scale * (m[k] / (1 - b1**t))
        path.append(list(x))
    return np.array(path)


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-15)


# -- trajectories ----------------------------------------------------------------------------


def test_plain_sgd_matches_hand_computation():
    close(run(optim.SGD(lr=0.3), 8), ref_sgd(lambda t: 0.3, 8))


def test_sgd_follows_its_schedule():
    expected = ref_sgd(lambda t: 0.8 / (1 + t / 3), 8)
    close(run(optim.SGD(lr=optim.inverse_time(0.8, decay_steps=3)), 8), expected)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_hand_computation(nesterov):
    expected = ref_momentum(0.2, 0.7, nesterov, 10)
    close(run(optim.SGD(lr=0.2, momentum=0.7, nesterov=nesterov), 10), expected)


def test_nesterov_differs_from_heavy_ball():
    assert not np.allclose(ref_momentum(0.2, 0.7, True, 5), ref_momentum(0.2, 0.7, False, 5))


@pytest.mark.parametrize("lr, b1, b2, eps", [(0.01, 0.9, 0.999, 1e-8), (0.3, 0.5, 0.8, 0.1), (0.05, 0.0, 0.0, 1e-8)])
def test_adam_matches_hand_computation(lr, b1, b2, eps):
    close(run(optim.Adam(lr=lr, beta1=b1, beta2=b2, eps=eps), 10), ref_adam(lr, b1, b2, eps, 10))


@pytest.mark.parametrize(
    "groups, b1, b2, eps",
    [([0, 2, 3, 4], 0.0, 0.999, 1e-8), ([0, 4], 0.5, 0.8, 0.1), ([0, 0, 1, 1, 4], 0.0, 0.0, 1e-8)],
)
def test_group_adam_matches_hand_computation(groups, b1, b2, eps):
    opt = optim.GroupAdam(lr=0.05, groups=groups, beta1=b1, beta2=b2, eps=eps)
    close(run(opt, 10), ref_group_adam(0.05, groups, b1, b2, eps, 10))


def test_group_adam_steps_follow_the_gradient_within_a_group():
    """Within a group the step is proportional to the gradient (no per-feature noise
    amplification); the group's largest gradient moves by lr; unbound, one group."""
    grad = np.array([2.0, -0.02, 0.5, 0.01])
    step = optim.GroupAdam(lr=0.1, groups=[0, 3, 4]).step(np.zeros(4), grad)
    np.testing.assert_allclose(step, [0.1, -0.001, 0.025, 0.1], rtol=1e-6)
    np.testing.assert_allclose(optim.GroupAdam(lr=0.1).step(np.zeros(4), grad), 0.1 * grad / 2.0)


def test_group_adam_binds_to_the_graph_groups_once():
    import factorgraph as fg

    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([0, 1, 2]))
    g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    opt = optim.GroupAdam()
    opt.bind(g.compile())
    assert opt.groups == [0, 3, 5]
    opt.bind(type("Other", (), {"group_theta": np.array([0, 5])})())  # given groups stay
    assert opt.groups == [0, 3, 5]
    assert optim.Optimizer.from_config(opt.config()).groups == [0, 3, 5]
    with pytest.raises(ModelSpecError, match="groups"):
        opt.step(np.zeros(4), np.ones(4))
    state = opt.get_state()  # the refused step changed nothing (the buffers stay at zero)
    assert opt.t == 0 and not state["m"].any() and not state["v"].any()
    assert optim.GroupAdam(groups=[0]).step(np.zeros(0), np.zeros(0)).shape == (0,)  # no features


def test_ascent_converges_to_the_maximum():
    for opt in (
        optim.SGD(lr=0.5),
        optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
        optim.Adam(lr=optim.cosine(0.5, 3000)),
        optim.GroupAdam(lr=optim.cosine(0.5, 3000), groups=[0, 1, 2, 3, 4]),
    ):
        np.testing.assert_allclose(run(opt, 3000)[-1], C, atol=1e-6)


def test_adam_never_moves_entries_whose_gradient_is_always_zero():
    rng = np.random.default_rng(0)
    frozen = np.zeros(50, dtype=bool)
    frozen[rng.choice(50, 20, replace=False)] = True
    theta0 = rng.normal(size=50) * np.where(frozen, np.logspace(-300, 300, 50), 1.0)
    theta, opt = theta0.copy(), optim.Adam(lr=0.1)
    for _ in range(100):
        theta = opt.step(theta, np.where(frozen, 0.0, rng.normal(size=50)))
    np.testing.assert_array_equal(theta[frozen], theta0[frozen])
    assert np.all(theta[~frozen] != theta0[~frozen])


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.SGD(0.1),
        lambda: optim.SGD(0.1, momentum=0.5),
        lambda: optim.SGD(0.1, 0.5, nesterov=True),
        lambda: optim.Adam(0.1),
        lambda: optim.GroupAdam(0.1, groups=[0, 2, 4]),
    ],
)
def test_step_leaves_its_inputs_alone(make):
    theta, grad = np.array(THETA0), quad_grad(np.array(THETA0))
    theta_copy, grad_copy = theta.copy(), grad.copy()
    opt = make()
    for _ in range(3):
        new = opt.step(theta, grad)
    np.testing.assert_array_equal(theta, theta_copy)
    np.testing.assert_array_equal(grad, grad_copy)
    assert not np.shares_memory(new, theta) and not np.shares_memory(new, grad)
    assert not any(np.shares_memory(new, b) for b in opt.get_state().values() if isinstance(b, np.ndarray))


def test_t_lr_reset_and_repr():
    opt = optim.SGD(lr=optim.warmup(0.1, steps=4), momentum=0.5)
    assert (opt.t, opt.lr) == (0, 0.0)
    first = run(opt, 6)
    assert opt.t == 6 and opt.lr == 0.1
    opt.reset()
    assert opt.t == 0 and opt.get_state() == {"t": 0}
    np.testing.assert_array_equal(run(opt, 6), first)
    assert repr(optim.Adam()) == "Adam(lr=constant(lr=0.01), beta1=0.9, beta2=0.999, eps=1e-08)"
    assert repr(opt) == "SGD(lr=warmup(schedule=constant(lr=0.1), steps=4), momentum=0.5, nesterov=False)"


# -- checkpoints -----------------------------------------------------------------------------

MAKERS = [
    lambda: optim.SGD(lr=0.1),
    lambda: optim.SGD(lr=0.1, momentum=0.9),
    lambda: optim.SGD(lr=optim.exponential(0.2, 0.5, 3), momentum=0.6, nesterov=True),
    lambda: optim.Adam(lr=0.05),
    lambda: optim.Adam(lr=optim.warmup(optim.cosine(0.1, 10), 3), beta1=0.5, beta2=0.9),
    lambda: optim.GroupAdam(lr=0.05, groups=[0, 1, 4], beta1=0.3),
]


@pytest.mark.parametrize("make", MAKERS)
def test_state_round_trip_continues_bit_identically(make, tmp_path):
    n = 7
    straight = run(make(), 2 * n)
    first = make()
    half = run(first, n)
    for value in first.get_state().values():  # the state is a copy: scribbling on it changes nothing
        if isinstance(value, np.ndarray):
            value += 1.0
    state = first.get_state()
    np.savez(tmp_path / "opt.npz", **state)
    for restored in (state, dict(np.load(tmp_path / "opt.npz"))):
        second = make()
        second.set_state(restored)
        for value in restored.values():  # set_state copied the arrays
            if isinstance(value, np.ndarray) and value.ndim:
                value *= 3.0
        np.testing.assert_array_equal(np.vstack([half, run(second, n, theta=half[-1])]), straight)
        assert second.t == 2 * n
    np.testing.assert_array_equal(run(first, n, theta=half[-1]), straight[n:])


def test_state_holds_the_buffers():
    opt = optim.Adam()
    assert opt.get_state() == {"t": 0}
    run(opt, 3)
    state = opt.get_state()
    assert sorted(state) == ["m", "t", "v"] and state["t"] == 3 and state["m"].shape == (4,)
    assert sorted(optim.SGD(momentum=0.5).get_state()) == ["t"]


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"m": np.zeros(4), "v": np.zeros(4)},
        {"t": 1, "m": np.zeros(4)},
        {"t": 1, "m": np.zeros(4), "v": np.zeros(3)},
        {"t": 1, "m": np.zeros(4), "v": np.zeros(4), "x": 1},
        {"t": -1},
        {"t": 1.5},
        {"t": 1, "m": np.full(4, np.nan), "v": np.zeros(4)},
        [("t", 1)],
    ],
)
def test_bad_states_are_refused(state):
    opt = optim.Adam()
    with pytest.raises(ModelSpecError, match="state"):
        opt.set_state(state)
    assert opt.get_state() == {"t": 0}


# -- schedules -------------------------------------------------------------------------------

TIMES = [0, 1, 2, 5, 10, 37, 100, 1000]


@pytest.mark.parametrize(
    "schedule, closed_form",
    [
        (optim.constant(0.3), lambda t: 0.3),
        (optim.inverse_time(0.5, 20), lambda t: 10.0 / (20 + t)),
        (optim.inverse_time(0.5, 20, power=0.5), lambda t: 0.5 * math.sqrt(20 / (20 + t))),
        (optim.exponential(0.2, 0.5, 10), lambda t: 0.2 * math.exp(-t * math.log(2) / 10)),
        (optim.cosine(1.0, 100, final=0.1), lambda t: 0.1 + 0.9 * math.cos(math.pi * min(t, 100) / 200) ** 2),
        (optim.warmup(optim.constant(0.4), 10), lambda t: 0.04 * t if t < 10 else 0.4),
        (optim.warmup(optim.inverse_time(0.5, 20), 5), lambda t: 0.1 * t if t < 5 else 10.0 / (15 + t)),
        (optim.warmup(0.2, 0), lambda t: 0.2),
    ],
)
def test_schedules_match_closed_forms(schedule, closed_form):
    for t in TIMES:
        assert schedule(t) == pytest.approx(closed_form(t), rel=1e-13, abs=1e-16)
        assert type(schedule(t)) is float


def test_schedule_spot_values():
    assert optim.inverse_time(0.1, 10)(10) == pytest.approx(0.05)
    assert optim.exponential(0.1, 0.5, 10)(5) == pytest.approx(0.1 / math.sqrt(2))
    assert optim.cosine(1.0, 100)(50) == pytest.approx(0.5) and optim.cosine(1.0, 100)(25) == pytest.approx(
        0.5 + 0.5**1.5
    )
    assert [optim.warmup(1.0, 4)(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_schedules_are_frozen_with_readable_reprs():
    s = optim.inverse_time(0.1, 100)
    assert repr(s) == "inverse_time(lr=0.1, decay_steps=100.0, power=1.0)"
    assert repr(optim.cosine(1, 10)) == "cosine(lr=1.0, total_steps=10, final=0.0)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 1.0
    assert s == optim.inverse_time(0.1, 100.0)


@pytest.mark.parametrize("t", [-1, 1.5, "3", True])
def test_schedules_refuse_bad_steps(t):
    with pytest.raises(ModelSpecError, match="'t' argument"):
        optim.constant(0.1)(t)


# -- Polyak averaging ------------------------------------------------------------------------


@pytest.mark.parametrize("start", [0, 3, 9])
def test_polyak_average_is_the_mean_of_the_iterates(start):
    iterates = np.random.default_rng(1).normal(size=(10, 6)) * 100
    avg = optim.PolyakAverage(start=start)
    for i, theta in enumerate(iterates):
        assert (avg.mean is None) == (i <= start)
        avg.update(theta)
    np.testing.assert_allclose(avg.mean, np.mean(iterates[start:], axis=0), rtol=1e-13)
    assert avg.count == 10 - start and avg.t == 10
    avg.mean[:] = 0.0  # a copy
    np.testing.assert_allclose(avg.mean, np.mean(iterates[start:], axis=0), rtol=1e-13)


def test_polyak_state_round_trip_and_reset():
    iterates = np.random.default_rng(2).normal(size=(8, 5))
    whole, first = optim.PolyakAverage(2), optim.PolyakAverage(2)
    for theta in iterates:
        whole.update(theta)
    for theta in iterates[:4]:
        first.update(theta)
    second = optim.PolyakAverage(2)
    second.set_state(first.get_state())
    for theta in iterates[4:]:
        second.update(theta)
    np.testing.assert_array_equal(second.mean, whole.mean)
    second.reset()
    assert second.mean is None and second.get_state() == {"t": 0}
    with pytest.raises(ModelSpecError):
        second.set_state({"t": 5})  # past start but no mean
    with pytest.raises(ModelSpecError):
        second.set_state({"t": 1, "mean": np.zeros(5)})  # before start but a mean


def test_polyak_refuses_bad_iterates():
    avg = optim.PolyakAverage()
    avg.update(np.zeros(3))
    with pytest.raises(ModelSpecError):
        avg.update(np.zeros(4))
    with pytest.raises(NumericalError, match=r"entry \(1,\)"):
        avg.update(np.array([0.0, np.inf, 0.0]))
    assert avg.t == 1


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: optim.constant(0), "lr"),
        (lambda: optim.constant(-1.0), "lr"),
        (lambda: optim.constant(np.nan), "lr"),
        (lambda: optim.constant(True), "lr"),
        (lambda: optim.constant("0.1"), "lr"),
        (lambda: optim.inverse_time(0.1, 0), "decay_steps"),
        (lambda: optim.inverse_time(0.1, 10, power=-1), "power"),
        (lambda: optim.exponential(0.1, 0.0, 10), "rate"),
        (lambda: optim.exponential(0.1, 1.5, 10), "rate"),
        (lambda: optim.exponential(0.1, 0.5, -2), "decay_steps"),
        (lambda: optim.cosine(0.1, 0), "total_steps"),
        (lambda: optim.cosine(0.1, 10.0), "total_steps"),
        (lambda: optim.cosine(0.1, 10, final=0.2), "final"),
        (lambda: optim.cosine(0.1, 10, final=-0.1), "final"),
        (lambda: optim.warmup(0.1, -1), "steps"),
        (lambda: optim.warmup("fast", 3), "schedule"),
        (lambda: optim.SGD(lr=0), "lr"),
        (lambda: optim.SGD(lr=-0.1), "lr"),
        (lambda: optim.SGD(lr=np.inf), "lr"),
        (lambda: optim.SGD(lr=None), "lr"),
        (lambda: optim.SGD(momentum=-0.1), "momentum"),
        (lambda: optim.SGD(momentum=1.0), "momentum"),
        (lambda: optim.SGD(nesterov="yes"), "nesterov"),
        (lambda: optim.Adam(lr=0.0), "lr"),
        (lambda: optim.Adam(beta1=1.0), "beta1"),
        (lambda: optim.Adam(beta1=-0.1), "beta1"),
        (lambda: optim.Adam(beta2=1.0), "beta2"),
        (lambda: optim.Adam(beta2=-1e-3), "beta2"),
        (lambda: optim.Adam(eps=0.0), "eps"),
        (lambda: optim.Adam(eps=-1e-8), "eps"),
        (lambda: optim.GroupAdam(groups=[1, 4]), "groups"),
        (lambda: optim.GroupAdam(groups=[0, 3, 2]), "groups"),
        (lambda: optim.GroupAdam(groups=[0.0, 4.0]), "groups"),
        (lambda: optim.GroupAdam(groups=[]), "groups"),
        (lambda: optim.GroupAdam(groups="all"), "groups"),
        (lambda: optim.GroupAdam(beta2=1.0), "beta2"),
        (lambda: optim.PolyakAverage(-1), "start"),
        (lambda: optim.PolyakAverage(1.5), "start"),
    ],
)
def test_bad_arguments_raise_model_spec_errors(build, name):
    with pytest.raises(ModelSpecError, match=rf"^The '{name}' argument of optim\.\w+ must be .*; got "):
        build()


@pytest.mark.parametrize(
    "make", [lambda: optim.SGD(0.1, momentum=0.5), lambda: optim.Adam(), lambda: optim.GroupAdam()]
)
def test_bad_gradients_are_refused_without_a_step(make):
    opt = make()
    theta = np.zeros(6)
    for bad, index in ((np.nan, 2), (np.inf, 4), (-np.inf, 0)):
        grad = np.ones(6)
        grad[index] = bad
        with pytest.raises(NumericalError, match=rf"'grad'.*entry \({index},\)"):
            opt.step(theta, grad)
    with pytest.raises(ModelSpecError, match="'grad'"):
        opt.step(theta, np.ones(5))
    with pytest.raises(ModelSpecError, match="'grad'"):
        opt.step(theta, ["a"] * 6)
    assert opt.t == 0 and not np.any(opt.get_state().get("m", 0.0)) and not np.any(opt.get_state().get("velocity", 0.0))
    np.testing.assert_array_equal(opt.step(theta, np.ones(6)), make().step(theta, np.ones(6)))
    with pytest.raises(ModelSpecError, match="reset"):
        opt.step(np.zeros(3), np.ones(3))


def test_schedules_giving_bad_rates_are_refused():
    opt = optim.SGD(lr=lambda t: 0.1 - 0.1 * t)
    opt.step(np.zeros(2), np.ones(2))
    opt.step(np.zeros(2), np.ones(2))  # rate 0 is allowed
    with pytest.raises(ModelSpecError, match="at step 2"):
        opt.step(np.zeros(2), np.ones(2))
    assert opt.t == 2


def test_lr_scale_multiplies_the_schedule_and_is_saved():
    opt = optim.SGD(lr=0.2)
    opt.lr_scale = 0.25
    assert opt.lr == 0.05
    state = opt.get_state()
    assert state["lr_scale"] == 0.25
    other = optim.SGD(lr=0.2)
    other.set_state(state)
    assert other.lr == 0.05
    other.reset()
    assert other.lr == 0.2 and "lr_scale" not in other.get_state()
    with pytest.raises(ModelSpecError, match="lr_scale"):
        other.set_state({"t": 0, "lr_scale": 0.0})
