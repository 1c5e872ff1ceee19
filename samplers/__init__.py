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

import inspect
from typing import Any

from factorgraph._errors import ModelSpecError, PluginError
from factorgraph._registry import Registry
from samplers import diagnostics
from samplers._protocol import ChainStats, Sampler, SweepInfo, single_site_matrix
from samplers.gibbs import Gibbs
from samplers.mh import MetropolisHastings
from samplers.block_gibbs import BlockGibbs
from samplers.swendsen_wang import SwendsenWang
from samplers.sharded import ShardedChains

__all__ = [
    "Sampler", "ChainStats", "SweepInfo", "PluginError", "Gibbs", "MetropolisHastings", "BlockGibbs", "SwendsenWang",
    "ShardedChains", "diagnostics", "create", "available", "register", "get", "refresh", "single_site_matrix",
]

_REGISTRY = Registry("factorgraph.samplers", required=("run", "stats", "states", "get_state", "set_state"))
_REGISTRY.register(Gibbs)
_REGISTRY.register(MetropolisHastings)
_REGISTRY.register(BlockGibbs)
_REGISTRY.register(SwendsenWang)
_REGISTRY.register(ShardedChains)

register = _REGISTRY.register
available = _REGISTRY.available
get = _REGISTRY.get
refresh = _REGISTRY.refresh


def create(name: str, compiled: Any, n_chains: int, seed: Any = None, **options: Any) -> Sampler:
    """Build the sampler registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`available`, e.g. ``"gibbs"``.
    compiled : CompiledGraph
    n_chains : int
    seed : int, SeedSequence or None
        Seeds every random number of the sampler (see the sampler's documentation).
    **options
        Passed to the sampler's constructor (e.g. ``n_threads``).
    """
    cls = get(name)
    try:
        inspect.signature(cls).bind(compiled, n_chains, seed=seed, **options)
    except TypeError as exc:
        raise ModelSpecError(f"Sampler '{name}' does not take these arguments: {exc}. See help({cls.__name__}).") from None
    return cls(compiled, n_chains, seed=seed, **options)
