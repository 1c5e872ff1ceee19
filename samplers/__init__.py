"""Sampler plugins for factorgraph-maxent.

Samplers advance persistent Markov chains on a :class:`factorgraph.CompiledGraph`. The
registry, the protocol and the Gibbs kernel arrive with the training loop; Cython samplers
can already ``cimport factorgraph._kernels`` for a typed view of a compiled graph.
"""

__all__: list[str] = []
