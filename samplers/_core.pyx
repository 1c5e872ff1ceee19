# cython: language_level=3
"""Chain set-up and exact running sums shared by the single-site samplers (Gibbs, MH).

The inline helpers of ``_core.pxd`` (``chain_joint``, ``add_factor``, ``commit_changes``) are
included here and cimported by the sweeps; this module adds the two Python entry points that
:class:`samplers._chains.BlockChains` calls: the initial states and the exact block sums.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint32_t

import numpy as np

from factorgraph._kernels cimport GraphView
from samplers cimport _rng
from samplers._rng cimport fg_uniforms


def allow_simd(bint allowed):
    """Let the generator here use the machine's vector code (see ``samplers._random.allow_simd``)."""
    _rng.fg_simd_allowed = allowed


def recompute_sums(GraphView g, const int32_t[::1] x, double[:, ::1] block_sums, int64_t n_chains,
                   int64_t block_size, int n_threads):
    """Set each block's feature sums exactly from the chain states."""
    cdef int64_t n_blocks = block_sums.shape[0], b, c, f
    block_sums[:, :] = 0.0
    for b in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="static"):
        for f in range(g.n_factors):  # factor-major: a factor's features stay in cache across chains
            for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                add_factor(g, &block_sums[b, 0], f, chain_joint(g, &x[0], n_chains, c, f), 1.0)
    return None


def init_states(GraphView g, int32_t[::1] x, const uint32_t[::1] key, int64_t n_chains,
                int64_t first_chain):
    """Uniformly random initial states from the generator's init stream (chain-count invariant)."""
    cdef int64_t c
    cdef int32_t v
    cdef double[::1] u = np.empty(max(n_chains, 1))
    with nogil:
        for v in range(g.n_variables):
            fg_uniforms(&key[0], <uint32_t>v, 0, 1, first_chain, n_chains, &u[0])
            for c in range(n_chains):
                x[v * n_chains + c] = <int32_t>(u[c] * g.n_states[v])
    return None
