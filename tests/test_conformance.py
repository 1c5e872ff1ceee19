"""Every built-in sampler and objective passes the conformance checks offered to plugin authors
(factorgraph.testing), and the checks catch a plugin that breaks its contract."""

from __future__ import annotations

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers

BUILT_IN = ["gibbs", "mh", "block-gibbs", "swendsen-wang", "loopback"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_built_in_samplers_pass(name):
    fg.testing.check_sampler(name, **({} if name == "loopback" else {"n_threads": 1}))


def _triangle_terms():
    graph, theta = fg.testing.small_models()["frustrated triangle"]
    target = fg.exact.expectations(graph, theta)
    table = np.array([[0.4, 0.1], [0.2, 0.3]])
    return graph, {
        "moment-matching": objectives.MomentMatching(target),
        "l2": objectives.L2(0.3),
        "l1": objectives.L1(np.linspace(0.1, 0.6, graph.n_features)),
        "marginal-prior-kl": objectives.MarginalPrior((0, 1), table, strength=2.0),
        "marginal-prior-l2": objectives.MarginalPrior((1, 2), table, kind="l2"),
    }


@pytest.mark.parametrize("label", list(_triangle_terms()[1]))
def test_built_in_objectives_pass(label):
    graph, terms = _triangle_terms()
    fg.testing.check_objective(terms[label], graph)


def test_exact_marginal_passes():
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 2)]))
    term = objectives.ExactMarginal([0, 1], [[0.1, 0.2], [0.3, 0.4]])
    term.add_to(g)
    fg.testing.check_objective(term, g)


class _Forgetful(samplers.Gibbs):
    """Gibbs chains whose state keeps the generator key under another name than the contract's."""

    name = "forgetful-gibbs"

    def get_state(self):
        state = super().get_state()
        state["words"] = state.pop("key")
        return state

    def set_state(self, state):
        state = dict(state)
        state["key"] = state.pop("words")
        super().set_state(state)


class _Biased(samplers.Gibbs):
    """Gibbs chains at twice the given θ: the wrong distribution."""

    name = "biased-gibbs"

    def run(self, theta, n_sweeps):
        return super().run(2 * np.asarray(theta), n_sweeps)


class _Careless(samplers.Gibbs):
    """Gibbs chains whose set_state ignores the saved chains."""

    name = "careless-gibbs"

    def set_state(self, state):
        pass


@pytest.mark.parametrize(
    ("cls", "check"), [(_Forgetful, "checkpoint"), (_Biased, "distribution"), (_Careless, "state round trip")]
)
def test_a_sampler_that_breaks_its_contract_is_named(cls, check):
    with pytest.raises(AssertionError, match=f"^{check}:"):
        fg.testing.check_sampler(cls, n_threads=1)
    assert cls.name not in samplers.available()  # the check registered it only while it ran


def test_an_objective_whose_gradient_is_not_its_derivative_is_named():
    class Wrong(objectives.Objective):
        def value_and_grad(self, stats, theta):
            return -0.5 * theta @ theta, -theta

        def exact_value_and_grad(self, graph, theta):
            return -0.5 * theta @ theta, -2 * theta

    with pytest.raises(AssertionError, match="^exact_value_and_grad:"):
        fg.testing.check_objective(Wrong())
