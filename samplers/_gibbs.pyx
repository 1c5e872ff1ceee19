# cython: language_level=3
"""The Gibbs (heat-bath) sweep: colour by colour, all (variable, block of chains) pairs of a
colour in parallel.

Chain states are stored chain-innermost: x[v * n_chains + c], so one variable's chains sit
side by side. Variables of one colour share no factor, so the features they touch are disjoint:
running feature sums kept per fixed block of chains are written by one (variable, block) item
at a time, in chain order, whatever the thread count — the sums, like the states, are
bit-identical for any number of threads.
"""

from cython.parallel cimport prange, threadid
from libc.math cimport exp
from libc.stdint cimport int32_t, int64_t, uint64_t

import numpy as np

from factorgraph._kernels cimport GraphView, factor_energy
from samplers._rng cimport to_unit, uniforms4


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


cdef int64_t update_block(GraphView g, int32_t* x, const double[::1] theta, double* sums,
                          const uint64_t* key, int64_t n_chains, int64_t first_chain,
                          int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                          double* energy) noexcept nogil:
    """Heat-bath update of variable v in chains c0..c1-1; returns how many changed state."""
    cdef int32_t k = g.n_states[v], old, new, s
    cdef int64_t c, e, f, stride, base, changed = 0, gc
    cdef double u, d, e0, e1, top, total, four[4]
    for c in range(c0, c1):
        gc = first_chain + c
        if c == c0 or gc % 4 == 0:
            uniforms4(key, <uint64_t>v, <uint64_t>(gc // 4), sweep, 0, four)
        u = four[gc % 4]
        old = x[v * n_chains + c]
        if k == 2:  # one logistic in d = E(1) - E(0)
            e0 = 0.0
            e1 = 0.0
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - old * stride
                e0 += factor_energy(g, theta, f, base)
                e1 += factor_energy(g, theta, f, base + stride)
            d = e1 - e0
            if d >= 0.0:
                new = 1 if u * (1.0 + exp(-d)) < 1.0 else 0
            else:
                new = 1 if u * (1.0 + exp(d)) < exp(d) else 0
        else:
            for s in range(k):
                energy[s] = 0.0
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - old * stride
                for s in range(k):
                    energy[s] += factor_energy(g, theta, f, base + s * stride)
            top = energy[0]
            for s in range(1, k):
                if energy[s] > top:
                    top = energy[s]
            total = 0.0
            for s in range(k):
                total += exp(energy[s] - top)
                energy[s] = total  # cumulative weights
            u *= total
            new = k - 1
            for s in range(k - 1):
                if u < energy[s]:
                    new = s
                    break
        if new != old:
            x[v * n_chains + c] = new
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - new * stride
                add_factor(g, sums, f, base + old * stride, -1.0)
                add_factor(g, sums, f, base + new * stride, 1.0)
            changed += 1
    return changed


def sweep(GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const uint64_t[::1] key, int64_t n_chains, int64_t first_chain, int64_t block_size,
          uint64_t first_sweep, int64_t n_sweeps, int n_threads):
    """Run ``n_sweeps`` Gibbs sweeps in place; returns the number of state changes."""
    cdef int64_t n_blocks = block_sums.shape[0]
    cdef int max_k = max(int(np.max(g.n_states, initial=1)), 1)
    scratch_arr = np.zeros((max(n_threads, 1), max_k))
    cdef double[:, ::1] scratch = scratch_arr
    cdef int64_t t, colour, lo, hi, item, b, c0, c1, changed = 0
    cdef int32_t v
    cdef int n_colors = g.color_ptr.shape[0] - 1
    with nogil:
        for t in range(n_sweeps):
            for colour in range(n_colors):
                lo = g.color_ptr[colour]
                hi = g.color_ptr[colour + 1]
                for item in prange((hi - lo) * n_blocks, num_threads=n_threads, schedule="static"):
                    v = g.color_vars[lo + item // n_blocks]
                    b = item % n_blocks
                    c0 = b * block_size
                    c1 = min(c0 + block_size, n_chains)
                    changed += update_block(g, &x[0], theta, &block_sums[b, 0], &key[0], n_chains,
                                            first_chain, c0, c1, v, first_sweep + t,
                                            &scratch[threadid(), 0])
    return changed


def recompute_sums(GraphView g, const int32_t[::1] x, double[:, ::1] block_sums, int64_t n_chains,
                   int64_t block_size, int n_threads):
    """Set each block's feature sums exactly from the chain states."""
    cdef int64_t n_blocks = block_sums.shape[0], b, c, f
    block_sums[:, :] = 0.0
    for b in prange(n_blocks, nogil=True, num_threads=n_threads, schedule="static"):
        for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
            for f in range(g.n_factors):
                add_factor(g, &block_sums[b, 0], f, chain_joint(g, &x[0], n_chains, c, f), 1.0)
    return None


def init_states(GraphView g, int32_t[::1] x, const uint64_t[::1] key, int64_t n_chains,
                int64_t first_chain):
    """Uniformly random initial states from the generator's init stream (chain-count invariant)."""
    cdef int64_t c, gc
    cdef int32_t v
    cdef double four[4]
    with nogil:
        for v in range(g.n_variables):
            for c in range(n_chains):
                gc = first_chain + c
                if c == 0 or gc % 4 == 0:
                    uniforms4(&key[0], <uint64_t>v, <uint64_t>(gc // 4), 0, 1, four)
                x[v * n_chains + c] = <int32_t>(four[gc % 4] * g.n_states[v])
    return None
