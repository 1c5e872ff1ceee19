"""The sampler registry: names to classes, built-ins and third-party plugins alike.

It sits below every sampler module, so that a sampler that builds others by name
(:class:`~samplers.ShardedChains`) can reach it; the package registers the built-ins.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from factorgraph._errors import ModelSpecError
from factorgraph._registry import Registry
from factorgraph.contracts import SAMPLER_MEMBERS

if TYPE_CHECKING:
    from factorgraph._validation import SeedLike
    from factorgraph.compiled import CompiledGraph
    from samplers._protocol import Sampler

__all__ = ["REGISTRY", "create"]

# test-only samplers register under "factorgraph.samplers.testing": loadable by name, not listed
REGISTRY = Registry("factorgraph.samplers", required=SAMPLER_MEMBERS, unlisted_group="factorgraph.samplers.testing")


def create(name: str, compiled: CompiledGraph, n_chains: int, seed: SeedLike = None, **options: Any) -> Sampler:
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
    cls = REGISTRY.get(name)
    try:
        inspect.signature(cls).bind(compiled, n_chains, seed=seed, **options)
    except TypeError as exc:
        raise ModelSpecError(
            f"Sampler '{name}' does not take these arguments: {exc}. See help({cls.__name__})."
        ) from None
    return cls(compiled, n_chains, seed=seed, **options)
