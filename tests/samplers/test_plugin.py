"""The third-party sampler of tests/plugins/toy_sampler: a separate package, installed by
tests/samplers/conftest.py and found by its entry point, used by name with no change to the library.

Its samples and its exact one-sweep matrix are checked with every other sampler in
test_exact_distribution.py.
"""

import doctest
import importlib.metadata
import inspect
from pathlib import Path

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers

from ._models import frustrated_ising, potts_triangle

NAME = "random-scan-metropolis"


def test_the_installed_package_registers_the_sampler():
    assert NAME in samplers.available()
    cls = samplers.get(NAME)
    installed = importlib.metadata.distribution("factorgraph-toy-sampler").locate_file("fg_toy_sampler.py")
    assert Path(inspect.getfile(cls)).resolve() == Path(installed).resolve()  # the installed copy, not the source
    assert issubclass(cls, samplers.Sampler) and cls.name == NAME


def test_the_plugin_passes_the_conformance_checks():
    """The shipped plugin meets the sampler contract, checkpoint and resume included."""
    fg.testing.check_sampler(samplers.get(NAME))


def test_the_plugin_docstring_examples_run():
    module = inspect.getmodule(samplers.get(NAME))
    assert doctest.testmod(module).failed == 0


def test_trainer_fits_a_model_with_the_plugin_by_name():
    g, planted = frustrated_ising()
    target = fg.exact.expectations(g, planted)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target)],
        sampler=NAME,
        n_chains=500,
        seed=0,
        optimizer=fg.optim.SGD(lr=0.1),
        average_from=300,
    )
    result = trainer.fit(max_steps=600, tol=0.0, progress=False)
    assert type(trainer.sampler) is samplers.get(NAME)
    assert np.abs(fg.exact.expectations(g, result.theta) - target).max() < 0.03


def test_state_round_trip_continues_exactly():
    g, theta = potts_triangle()
    cg = g.compile()
    straight = samplers.create(NAME, cg, 50, seed=3)
    straight.run(theta, 20)
    first = samplers.create(NAME, cg, 50, seed=3)
    first.run(theta, 8)
    resumed = samplers.create(NAME, cg, 50, seed=99)
    resumed.set_state(first.get_state())
    resumed.run(theta, 12)
    np.testing.assert_array_equal(resumed.states, straight.states)
    np.testing.assert_array_equal(resumed.stats().mean, straight.stats().mean)
    assert resumed.stats().sweep == straight.stats().sweep == 20


def test_set_state_refuses_a_foreign_state():
    g, theta = potts_triangle()
    cg = g.compile()
    sampler = samplers.create(NAME, cg, 4, seed=1)
    with pytest.raises(fg.DataError, match="gibbs"):
        sampler.set_state(samplers.create("gibbs", cg, 4, seed=1).get_state())
    with pytest.raises(fg.DataError, match="shape"):
        sampler.set_state(dict(sampler.get_state(), states=np.zeros((3, cg.n_variables))))
    with pytest.raises(fg.ModelSpecError, match="n_sweeps"):
        sampler.run(theta, -1)


@pytest.mark.slow
def test_the_docstring_example_sampler_passes_the_conformance_checks():
    """The pure-Python sampler in samplers.Sampler's docstring meets the contract it shows,
    checkpoint and resume included (about 40 s: it loops over chains in Python)."""
    namespace: dict = {}
    for example in doctest.DocTestFinder().find(samplers.Sampler)[0].examples:
        exec(example.source, namespace)
    fg.testing.check_sampler(namespace["ToyMetropolis"])
