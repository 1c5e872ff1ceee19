"""Conformance checks for plugin authors: test a sampler or an objective in one call.

:func:`check_sampler` and :func:`check_objective` run a plugin through what the library will ask
of it (the contracts of :mod:`factorgraph.contracts`) on small models whose exact answers are
known, and raise an ``AssertionError`` that names the first check that fails and what the
contract wants instead. Put one call in your plugin's test suite::

    def test_my_sampler_meets_the_contract():
        factorgraph.testing.check_sampler(MySampler)

Every check uses fixed seeds, so a sampler that passes once passes every time.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

import factorgraph.features as features
import samplers
from factorgraph import contracts, enumeration, optim
from factorgraph._errors import FactorGraphError
from factorgraph.compiled import CompiledGraph
from factorgraph.graph import FactorGraph
from factorgraph.training import Trainer
from objectives import MomentMatching, Needs
from objectives import get as get_objective

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import GraphLike
    from factorgraph.contracts import ExactTerm, Objective
    from samplers import ChainStats

__all__ = ["check_sampler", "check_objective", "small_models"]

_SWEEPS = 200  # sweeps before the distribution check: enough for any sampler that mixes at all
_CHAINS = 500
_Z_LIMIT = 5.0  # standard errors: a correct sampler fails this about once in a million models


def small_models() -> dict[str, tuple[CompiledGraph, np.ndarray]]:
    """The models the checks run on, with a θ each: a frustrated triangle of ±1 spins with
    fields, and a chain of a spin, a three-state and a two-state variable with a pair table."""
    triangle = FactorGraph()
    triangle.add_variables(3, values=[-1, 1])
    triangle.add_features(features.Product([0, 1, 2]), name="fields")
    triangle.add_features(features.Product([(0, 1), (1, 2), (0, 2)]), name="couplings")
    mixed = FactorGraph()
    mixed.add_variables(1, values=[-1, 1])
    mixed.add_variables(1, n_states=3)
    mixed.add_variables(1, n_states=2)
    mixed.add_features(features.Potential([(1,)]), name="field")
    mixed.add_features(features.Product([(0, 1)]), name="product")
    mixed.add_features(features.Potential([(1, 2)]), name="pair")
    return {
        "frustrated triangle": (triangle.compile(), np.array([0.2, -0.1, 0.3, -0.6, -0.5, -0.4])),
        "mixed chain": (mixed.compile(), np.array([0.3, -0.2, 0.1, 0.4, 0.5, -0.3, 0.2, 0.0, -0.4, 0.6])),
    }


def _fail(check: str, detail: str) -> None:
    raise AssertionError(f"{check}: {detail}")


def _build(cls: type, graph: CompiledGraph, n_chains: int, seed: int, options: dict[str, Any]) -> Any:
    try:
        return cls(graph, n_chains, seed=seed, **options)
    except TypeError as exc:
        _fail("construction", f"{cls.__name__}(graph, n_chains, seed=..., **options) failed: {exc}")


def check_sampler(sampler: str | type, *, checkpoint: bool = True, **options: Any) -> None:
    """Check a sampler against the :class:`~factorgraph.contracts.Sampler` contract and the
    capabilities it claims.

    The checks, on the models of :func:`small_models`:

    1. the contract's members, ``SweepInfo`` from ``run`` and ``ChainStats`` from ``stats``;
       states of the right shape and within every variable's domain;
    2. the same seed gives the same chains, another seed other chains;
    3. ``set_state(get_state())`` on a fresh sampler continues exactly as the original does;
    4. the distribution: after 200 sweeps of 500 chains, every feature mean is within 5
       standard errors of the exact expectation; with ``transition_matrix`` (an
       :class:`~factorgraph.contracts.ExactKernel`), it is stochastic and leaves the exact
       distribution invariant to 1e-12;
    5. with ``marginal_counts`` and ``weighted_sums``, that they agree with the states;
    6. with ``checkpoint``: the state holds the generator's position (``"key"`` and
       ``"sweep"``), and a :class:`~factorgraph.Trainer` using the sampler by name, resumed from
       a checkpoint in a temporary folder, gives the uninterrupted fit's θ bit for bit.

    Parameters
    ----------
    sampler : str or type
        A registered name, or the class (registered under its ``name`` for the checks if it is
        not already).
    checkpoint : bool, default True
        Check the checkpoint contract too.
    **options
        Passed to the sampler's constructor.

    Raises
    ------
    AssertionError
        Naming the check that failed and what the contract wants.

    Examples
    --------
    >>> import factorgraph as fg
    >>> fg.testing.check_sampler("gibbs", n_threads=1)
    """
    cls = samplers.get(sampler) if isinstance(sampler, str) else sampler
    missing = [m for m in contracts.SAMPLER_MEMBERS if not hasattr(cls, m)]
    if missing:
        _fail("contract", f"{cls.__name__} lacks {missing} (see factorgraph.contracts.Sampler)")
    checked = 0
    for label, (graph, theta) in small_models().items():
        try:
            cls(graph, 2, seed=0, **options)
        except FactorGraphError:
            continue  # a sampler may refuse a kind of model (e.g. one for binary models only)
        _check_basics(cls, graph, theta, options, label)
        _check_distribution(cls, graph, theta, options, label)
        checked += 1
    if not checked:
        _fail("construction", f"{cls.__name__} refused every model of factorgraph.testing.small_models()")
    if checkpoint:
        with samplers.registered(cls) as name:
            _check_checkpoint(cls, name, options)


def _check_basics(cls: type, graph: CompiledGraph, theta: np.ndarray, options: dict[str, Any], label: str) -> None:
    a = _build(cls, graph, 8, 1, options)
    if not isinstance(a, contracts.Sampler):
        _fail(
            "contract",
            f"a {cls.__name__} has not every member of factorgraph.contracts.Sampler "
            "(graph, run, stats, states, get_state, set_state)",
        )
    info = a.run(theta, 3)
    if not isinstance(info, samplers.SweepInfo) or info.n_sweeps != 3:
        _fail("run", f"run(theta, 3) must return a samplers.SweepInfo with n_sweeps == 3; got {info!r}")
    stats = a.stats()
    if not isinstance(stats, samplers.ChainStats) or np.shape(stats.mean) != (graph.n_features,):
        _fail("stats", f"stats() must return a samplers.ChainStats with mean of shape ({graph.n_features},)")
    states = a.states
    if states.shape != (8, graph.n_variables) or (states < 0).any() or (states >= graph.n_states).any():
        _fail("states", f"states must be (n_chains, n_variables) state indices within the domains ({label})")
    if not np.allclose(stats.mean, graph.feature_sums(states) / 8):
        _fail("stats", f"stats().mean is not the chains' feature mean after a run ({label})")
    same, other = _build(cls, graph, 8, 1, options), _build(cls, graph, 8, 2, options)
    same.run(theta, 3)
    other.run(theta, 3)
    if not np.array_equal(same.states, states):
        _fail("seeding", f"two samplers with seed=1 gave different chains ({label}); seed every random number")
    if np.array_equal(other.states, states) and graph.n_variables > 1:
        _fail("seeding", f"seed=1 and seed=2 gave the same chains ({label}); the seed must reach the generator")
    saved = a.get_state()
    a.run(theta, 4)
    restored = _build(cls, graph, 8, 99, options)
    restored.set_state(saved)
    restored.run(theta, 4)
    if not np.array_equal(restored.states, a.states):
        _fail(
            "state round trip",
            f"set_state(get_state()) then run(4) differs from running on ({label}): "
            "get_state must hold everything the next sweeps depend on",
        )
    states = a.states
    if isinstance(a, contracts.MarginalStats):
        scope = (0, 1)
        counts = np.asarray(a.marginal_counts(scope))
        joint = states[:, 0] * graph.n_states[1] + states[:, 1]
        if counts.sum() != 8 or not np.array_equal(counts.ravel(), np.bincount(joint, minlength=counts.size)):
            _fail("marginal_counts", f"marginal_counts((0, 1)) does not count the chains' joint states ({label})")
        table = np.arange(counts.size, dtype=np.float64).reshape(counts.shape)
        expected = graph.feature_sums(states, weights=table.ravel()[joint])
        if not np.allclose(a.weighted_sums(scope, table), expected):
            _fail("weighted_sums", f"weighted_sums((0, 1), table) is not Σ_c table[x_S^c] f(x^c) ({label})")


def _check_distribution(
    cls: type, graph: CompiledGraph, theta: np.ndarray, options: dict[str, Any], label: str
) -> None:
    exact = enumeration.expectations(graph, theta)
    sampler = _build(cls, graph, _CHAINS, 7, options)
    sampler.run(theta, _SWEEPS)
    states = sampler.states
    mean = graph.feature_sums(states) / _CHAINS
    square = graph.feature_sums(states, squared=True) / _CHAINS
    se = np.sqrt(np.maximum(square - mean**2, 1e-12) / _CHAINS)
    z = np.abs(mean - exact) / se
    if z.max() > _Z_LIMIT:
        k = int(np.argmax(z))
        _fail(
            "distribution",
            f"after {_SWEEPS} sweeps of {_CHAINS} chains, feature {k}'s mean is {mean[k]:.4f}, "
            f"the exact expectation {exact[k]:.4f} ({z[k]:.1f} standard errors; {label})",
        )
    if isinstance(sampler, contracts.ExactKernel):
        matrix = sampler.transition_matrix(theta)
        dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
        pi = enumeration.probabilities(graph, theta).ravel()
        if np.abs(dense.sum(axis=1) - 1).max() > 1e-12 or (dense < 0).any():
            _fail("transition_matrix", f"its rows are not probability distributions ({label})")
        if np.abs(pi @ dense - pi).max() > 1e-12:
            _fail("transition_matrix", f"it does not leave the exact distribution invariant ({label})")


def _check_checkpoint(cls: type, name: str, options: dict[str, Any]) -> None:
    graph, theta = small_models()["frustrated triangle"]
    probe = _build(cls, graph, 4, 0, options)
    state = probe.get_state()
    missing = [key for key in contracts.STATE_KEYS if key not in state]
    if missing:
        _fail(
            "checkpoint",
            f"get_state() lacks {missing}: a checkpointable sampler's state holds its generator "
            "key and sweep counter (see factorgraph.contracts.Checkpointable)",
        )
    target = enumeration.expectations(graph, theta)

    def trainer(folder: str) -> Trainer:
        return Trainer(
            graph,
            [MomentMatching(target)],
            sampler=name,
            n_chains=16,
            seed=5,
            sweeps_per_step=1,
            optimizer=optim.SGD(lr=0.1),
            checkpoint_dir=folder,
            checkpoint_every=3,
            **options,
        )

    with tempfile.TemporaryDirectory() as straight_dir, tempfile.TemporaryDirectory() as resumed_dir:
        straight = trainer(straight_dir)
        straight.fit(max_steps=6, tol=0.0, progress=False, assess=False)
        first = trainer(resumed_dir)
        first.fit(max_steps=3, tol=0.0, progress=False, assess=False)
        resumed = Trainer.resume(resumed_dir)
        resumed.fit(max_steps=3, tol=0.0, progress=False, assess=False)
        if not np.array_equal(resumed.theta, straight.theta) or not np.array_equal(
            resumed.sampler.states, straight.sampler.states
        ):
            _fail(
                "checkpoint",
                "a fit resumed from a checkpoint differs from the uninterrupted fit: "
                "set_state must restore the generator's position exactly",
            )


def check_objective(term: contracts.Objective, graph: GraphLike | None = None, theta: ArrayLike | None = None) -> None:
    """Check an objective term against the :class:`~factorgraph.contracts.Objective` contract and
    the capabilities it claims.

    The checks: ``value_and_grad`` on chain statistics gives a finite gradient of shape
    (n_features,); ``needs()`` (if any) is a :class:`objectives.Needs`, and the statistics the
    check passes hold what it declares; ``check(graph)`` accepts the graph; ``config()`` names a
    registered objective whose ``from_config`` rebuilds an equal term; an
    :class:`~factorgraph.contracts.ExactTerm`'s gradient is the derivative of its value (central
    differences) and agrees with the chain estimate from exact samples; a
    :class:`~factorgraph.contracts.MatchingTerm`'s gradient is m − E[f] on its features; a
    :class:`~factorgraph.contracts.ProximalTerm`'s map with step 0 is the identity.

    Parameters
    ----------
    term : Objective
    graph : FactorGraph or CompiledGraph, optional
        A small model the term applies to (at most a few thousand joint states); default the
        frustrated triangle of :func:`small_models`.
    theta : array_like of shape (n_features,), optional
        Where to check; default a fixed point.

    Raises
    ------
    AssertionError
        Naming the check that failed.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, objectives
    >>> fg.testing.check_objective(objectives.L2(0.5))
    """
    if graph is None:
        graph, default_theta = small_models()["frustrated triangle"]
    else:
        graph = graph if isinstance(graph, CompiledGraph) else graph.compile()
        default_theta = np.linspace(-0.5, 0.5, graph.n_features)
    theta = default_theta if theta is None else np.asarray(theta, dtype=np.float64)
    if not isinstance(term, contracts.Objective):
        _fail("contract", f"{type(term).__name__} has no value_and_grad(stats, theta)")
    if hasattr(term, "check"):
        term.check(graph)
    needs = term.needs() if hasattr(term, "needs") else Needs(mean=True)
    if not isinstance(needs, Needs):
        _fail("needs", f"needs() must return an objectives.Needs; got {needs!r}")
    states = enumeration.sample(graph, theta, 20_000, seed=0)
    stats = samplers.ChainStats.from_states(graph, states, scopes=needs.marginals)
    value, grad = term.value_and_grad(stats, theta)
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != (graph.n_features,) or not np.all(np.isfinite(grad)):
        _fail("value_and_grad", f"the gradient must be finite with shape ({graph.n_features},); got {grad!r}")
    if value is not None and not np.isfinite(value):
        _fail("value_and_grad", f"the value must be a finite number or None; got {value!r}")
    _check_config(term, stats, theta, grad)
    if isinstance(term, contracts.MatchingTerm):
        ids, target = (np.asarray(a) for a in term.matched_moments())
        if not np.allclose(grad[ids], target - stats.mean[ids]):
            _fail("matched_moments", "the gradient on the matched features is not target − chain mean")
    if isinstance(term, contracts.ProximalTerm) and not np.array_equal(term.proximal(theta, 0.0), theta):
        _fail("proximal", "proximal(theta, 0) must return theta unchanged")
    if isinstance(term, contracts.ExactTerm):
        _check_exact(term, graph, theta, grad)


def _check_config(term: Objective, stats: ChainStats, theta: np.ndarray, grad: np.ndarray) -> None:
    config = getattr(term, "config", None)
    if config is None:
        return  # not checkpointable: allowed, Trainer.save_checkpoint says so
    try:
        name, params = config()
    except (AttributeError, NotImplementedError):
        return  # not checkpointable: allowed, Trainer.save_checkpoint says so
    try:
        cls: Any = get_objective(name)
    except FactorGraphError as exc:
        _fail("config", f"config() names {name!r}, which is not a registered objective ({exc})")
    if not isinstance(term, cls):
        _fail("config", f"config() names {name!r}, registered to {cls.__name__}, not {type(term).__name__}")
    again = cls.from_config(params)
    if not np.array_equal(np.asarray(again.value_and_grad(stats, theta)[1]), grad):
        _fail("config", f"{name!r}.from_config(config()) does not rebuild a term with the same gradient")


def _check_exact(term: ExactTerm, graph: CompiledGraph, theta: np.ndarray, chain_grad: np.ndarray) -> None:
    value, grad = term.exact_value_and_grad(graph, theta)
    grad = np.asarray(grad, dtype=np.float64)
    h = 1e-5
    for k in range(graph.n_features):
        step = np.zeros_like(theta)
        step[k] = h
        slope = (
            term.exact_value_and_grad(graph, theta + step)[0] - term.exact_value_and_grad(graph, theta - step)[0]
        ) / (2 * h)
        if abs(slope - grad[k]) > 1e-6 * max(1.0, abs(grad[k])):
            _fail(
                "exact_value_and_grad",
                f"the gradient's entry {k} ({grad[k]:.8g}) is not the derivative of the value ({slope:.8g})",
            )
    if np.abs(chain_grad - grad).max() > 0.05 * max(1.0, np.abs(grad).max()):
        _fail(
            "value_and_grad",
            "the chain estimate from 20,000 exact samples differs from the exact gradient "
            "by more than 5%: the two methods do not compute the same term",
        )
