"""Sampler plugins: persistent Markov chains on a :class:`factorgraph.CompiledGraph`.

``samplers.create(name, compiled, n_chains, seed=..., **options)`` builds one by name;
``samplers.available()`` lists the names, including those third-party packages register under
the entry-point group ``factorgraph.samplers``. Every sampler implements the small
:class:`Sampler` contract: ``run(theta, n_sweeps)``, ``stats()``, ``states``, ``get_state()`` and
``set_state()``, and optionally ``transition_matrix(theta)`` (built with
:func:`single_site_matrix`) for the exact invariance check. :mod:`samplers.diagnostics`
measures how well chains mix (integrated autocorrelation time, effective sample size, split
R-hat, acceptance rates).
"""

from __future__ import annotations

from factorgraph._errors import PluginError
from samplers import diagnostics
from samplers._protocol import ChainStats, Sampler, SweepInfo, single_site_matrix
from samplers._registry import REGISTRY, create
from samplers.block_gibbs import BlockGibbs
from samplers.gibbs import Gibbs
from samplers.mh import MetropolisHastings
from samplers.sharded import ShardedChains
from samplers.swendsen_wang import SwendsenWang

__all__ = [
    "Sampler",
    "ChainStats",
    "SweepInfo",
    "PluginError",
    "Gibbs",
    "MetropolisHastings",
    "BlockGibbs",
    "SwendsenWang",
    "ShardedChains",
    "diagnostics",
    "create",
    "available",
    "register",
    "get",
    "refresh",
    "registered",
    "single_site_matrix",
]

for _builtin in (Gibbs, MetropolisHastings, BlockGibbs, SwendsenWang, ShardedChains):
    REGISTRY.register(_builtin)

register = REGISTRY.register
available = REGISTRY.available
get = REGISTRY.get
refresh = REGISTRY.refresh
registered = REGISTRY.registered
