# cython: language_level=3
"""Inline helpers shared by the single-site sweeps on chain-innermost states.

States are stored x[v * n_chains + c]. Running feature sums are one float64 buffer of
n_features per block of chains. These helpers read the compiled graph only, so any kernel that
keeps that layout (and third-party Cython samplers) can cimport them. samplers/_core.pyx adds
the initial states and the exact block sums (``init_states``, ``recompute_sums``,
``add_recorded_sums``).
"""

from libc.stdint cimport int32_t, int64_t

from factorgraph._kernels cimport GraphView


cdef inline int64_t chain_joint(GraphView g, const int32_t* x, int64_t n_chains, int64_t c,
                                int64_t f) noexcept nogil:
    """Joint-state index of factor f in chain c (chain-innermost states)."""
    cdef int64_t e, j = 0
    for e in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
        j += x[g.factor_vars[e] * n_chains + c] * g.factor_strides[e]
    return j


cdef inline void add_factor(GraphView g, double* sums, int64_t f, int64_t j, double weight) noexcept nogil:
    """sums += weight * (the features of factor f at joint state j)."""
    cdef int32_t m
    if g.factor_form[f] == 0:
        sums[g.factor_theta[f]] += weight * g.tables[g.factor_table[f] + j]
    else:
        m = g.maps[g.factor_table[f] + j]
        if m >= 0:
            sums[g.factor_theta[f] + m] += weight


cdef inline void commit_changes(GraphView g, const int32_t* x, double* sums, int64_t n_chains, int64_t c0,
                                int64_t c1, int32_t v, const int32_t* previous) noexcept nogil:
    """Move a block's running sums for the chains whose variable v changed.

    ``previous[c - c0]`` is v's state in chain c before the update, x holds the new states.
    Factor by factor, so that each factor's table stays in cache across the block's chains;
    the order of the additions is fixed, so the sums are the same bits for any thread count.
    """
    cdef int64_t e, f, c, stride, base
    cdef int32_t old, new
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        f = g.var_factors[e]
        stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
        for c in range(c0, c1):
            old = previous[c - c0]
            new = x[v * n_chains + c]
            if new != old:
                base = chain_joint(g, x, n_chains, c, f) - new * stride
                add_factor(g, sums, f, base + old * stride, -1.0)
                add_factor(g, sums, f, base + new * stride, 1.0)
