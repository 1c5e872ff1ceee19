# cython: language_level=3
"""Chain set-up and exact running sums shared by the single-site samplers (Gibbs, MH).

The inline helpers of ``_core.pxd`` (``chain_joint``, ``add_factor``, ``commit_changes``) are
included here and cimported by the sweeps; this module adds the Python entry points that
:class:`samplers._chains.BlockChains` calls: the initial states, the exact block sums and the
chain-weighted feature sums that objectives such as marginal priors ask for.
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


cdef void block_sums_pass(GraphView g, const int32_t* x, const double* weights, double[:, ::1] block_sums,
                          int64_t n_chains, int64_t block_size, int n_threads) noexcept nogil:
    """Set each block's row to Σ_{c in block} w_c f(x^c), w_c = 1 when ``weights`` is NULL.

    Chains with zero weight are skipped; every row is written by one thread in a fixed order,
    so the rows (and their sum in block order) are the same bits for any thread count.
    """
    cdef int64_t n_blocks = block_sums.shape[0], b, c, f
    cdef double w
    for b in prange(n_blocks, num_threads=n_threads, schedule="static"):
        for f in range(g.n_factors):  # factor-major: a factor's features stay in cache across chains
            for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                w = 1.0 if weights == NULL else weights[c]
                if w != 0.0:
                    add_factor(g, &block_sums[b, 0], f, chain_joint(g, x, n_chains, c, f), w)


def recompute_sums(GraphView g, const int32_t[::1] x, double[:, ::1] block_sums, int64_t n_chains,
                   int64_t block_size, int n_threads):
    """Set each block's feature sums exactly from the chain states."""
    block_sums[:, :] = 0.0
    with nogil:
        block_sums_pass(g, &x[0], NULL, block_sums, n_chains, block_size, n_threads)
    return None


def weighted_sums(GraphView g, const int32_t[::1] x, const double[::1] weights, int64_t n_chains,
                  int64_t block_size, int n_threads):
    """Σ_c weights[c] f(x^c) over the chains, shape (n_features,), in one pass over the states.

    Each block of ``block_size`` chains has its own row of sums, added in block order: the
    result is the same bits for any thread count. No (chains x features) matrix is formed.
    """
    cdef int64_t n_blocks = max((n_chains + block_size - 1) // block_size, 1)
    sums = np.zeros((n_blocks, g.n_features))
    cdef double[:, ::1] view = sums
    with nogil:
        block_sums_pass(g, &x[0], &weights[0], view, n_chains, block_size, n_threads)
    return sums.sum(axis=0)


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
