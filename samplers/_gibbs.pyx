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
from libc.stdint cimport int8_t, int32_t, int64_t, uint64_t

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


cdef inline int32_t logistic_draw(double d, double u) noexcept nogil:
    """1 with probability 1 / (1 + exp(-d)), else 0, without overflow."""
    cdef double z
    if d >= 0.0:
        return 1 if u * (1.0 + exp(-d)) < 1.0 else 0
    z = exp(d)
    return 1 if u * (1.0 + z) < z else 0


cdef class PairTables:
    """Per-run tables of the binary fast path, for binary variables whose factors have at most
    two variables: for each (variable, factor) entry, the energy change d_e[s] = E_f(x_v = 1) -
    E_f(x_v = 0) and the feature change for each state s of the other variable (one entry when
    the factor is unary). They are computed with the same operations as the general path, so
    both give the same bits.
    """

    cdef readonly object eligible_arr
    cdef const int8_t[::1] eligible
    cdef const int32_t[::1] other
    cdef const int64_t[::1] offset
    cdef const double[::1] dtab
    cdef const double[::1] vtab

    def __init__(self, GraphView g, const double[::1] theta):
        cdef Py_ssize_t n = g.n_variables, nnz = g.var_factors.shape[0]
        eligible = np.zeros(n, dtype=np.int8)
        other = np.full(nnz, -1, dtype=np.int32)
        offset = np.zeros(nnz, dtype=np.int64)
        arity = np.diff(np.asarray(g.factor_ptr))
        n_states = np.asarray(g.n_states)
        var_ptr = np.asarray(g.var_ptr)
        var_factors = np.asarray(g.var_factors)
        per_entry = arity[var_factors]
        degree = np.diff(var_ptr)
        owner = np.repeat(np.arange(n), degree)
        ok = np.bincount(owner, weights=(per_entry <= 2), minlength=n)
        eligible[:] = ((n_states == 2) & (ok == degree)).astype(np.int8)
        cdef int8_t[::1] el = eligible
        cdef int32_t[::1] oth = other
        cdef int64_t[::1] off = offset
        cdef Py_ssize_t v, e, f, p, total = 0
        cdef int64_t s, k_u, stride_v, stride_u
        for v in range(n):
            if not el[v]:
                continue
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                off[e] = total
                if g.factor_ptr[f + 1] - g.factor_ptr[f] == 2:
                    p = g.factor_ptr[f] + 1 - g.var_pos[e]
                    oth[e] = g.factor_vars[p]
                    total += g.n_states[oth[e]]
                else:
                    total += 1
        dtab = np.zeros(total)
        vtab = np.zeros(total)
        cdef double[::1] dt = dtab, vt = vtab
        cdef int32_t m0, m1
        with nogil:
            for v in range(n):
                if not el[v]:
                    continue
                for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                    f = g.var_factors[e]
                    stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                    k_u = 1
                    stride_u = 0
                    if oth[e] >= 0:
                        k_u = g.n_states[oth[e]]
                        stride_u = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]]
                    for s in range(k_u):
                        dt[off[e] + s] = (factor_energy(g, theta, f, s * stride_u + stride_v)
                                          - factor_energy(g, theta, f, s * stride_u))
                        if g.factor_form[f] == 0:
                            vt[off[e] + s] = (g.tables[g.factor_table[f] + s * stride_u + stride_v]
                                              - g.tables[g.factor_table[f] + s * stride_u])
        self.eligible_arr = eligible
        self.eligible = eligible
        self.other = other
        self.offset = offset
        self.dtab = dtab
        self.vtab = vtab


cdef int64_t update_pairwise_binary(GraphView g, PairTables t, int32_t* x, double* sums,
                                    const uint64_t* key, int64_t n_chains, int64_t first_chain,
                                    int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                                    double* d) noexcept nogil:
    """The binary fast path: fields gathered across the block's chains, then one draw each."""
    cdef int64_t c, e, f, off, gc, changed = 0, j_old, j_new, stride_v, stride_u
    cdef int32_t u, old, new, m
    cdef const int32_t* xu
    cdef int32_t* xv = x + v * n_chains
    cdef double four[4], acc, delta
    cdef double* flip = d + (c1 - c0)
    for c in range(c1 - c0):
        d[c] = 0.0
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        off = t.offset[e]
        u = t.other[e]
        if u < 0:
            for c in range(c1 - c0):
                d[c] += t.dtab[off]
        else:
            xu = x + u * n_chains + c0
            for c in range(c1 - c0):
                d[c] += t.dtab[off + xu[c]]
    for c in range(c0, c1):
        gc = first_chain + c
        if c == c0 or gc % 4 == 0:
            uniforms4(key, <uint64_t>v, <uint64_t>(gc // 4), sweep, 0, four)
        old = xv[c]
        new = logistic_draw(d[c - c0], four[gc % 4])
        flip[c - c0] = new - old
        if new != old:
            xv[c] = new
            changed += 1
    if changed == 0:
        return 0
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        f = g.var_factors[e]
        off = t.offset[e]
        u = t.other[e]
        if g.factor_form[f] == 0:  # scaled: one feature, summed over the block's changes
            acc = 0.0
            if u < 0:
                for c in range(c1 - c0):
                    acc += flip[c] * t.vtab[off]
            else:
                xu = x + u * n_chains + c0
                for c in range(c1 - c0):
                    acc += flip[c] * t.vtab[off + xu[c]]
            sums[g.factor_theta[f]] += acc
        else:  # indexed: the one-hot feature moves, chain by chain
            stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
            stride_u = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]] if u >= 0 else 0
            for c in range(c1 - c0):
                if flip[c] != 0.0:
                    j_new = (x[u * n_chains + c0 + c] * stride_u if u >= 0 else 0) + xv[c0 + c] * stride_v
                    j_old = j_new - <int64_t>flip[c] * stride_v
                    m = g.maps[g.factor_table[f] + j_old]
                    if m >= 0:
                        sums[g.factor_theta[f] + m] -= 1.0
                    m = g.maps[g.factor_table[f] + j_new]
                    if m >= 0:
                        sums[g.factor_theta[f] + m] += 1.0
    return changed


cdef int64_t update_block(GraphView g, int32_t* x, const double[::1] theta, double* sums,
                          const uint64_t* key, int64_t n_chains, int64_t first_chain,
                          int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                          double* energy) noexcept nogil:
    """Heat-bath update of variable v in chains c0..c1-1; returns how many changed state."""
    cdef int32_t k = g.n_states[v], old, new, s
    cdef int64_t c, e, f, stride, base, changed = 0, gc
    cdef double u, d, top, total, four[4]
    for c in range(c0, c1):
        gc = first_chain + c
        if c == c0 or gc % 4 == 0:
            uniforms4(key, <uint64_t>v, <uint64_t>(gc // 4), sweep, 0, four)
        u = four[gc % 4]
        old = x[v * n_chains + c]
        if k == 2:  # one logistic in d = E(1) - E(0), summed factor by factor
            d = 0.0
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - old * stride
                d += factor_energy(g, theta, f, base + stride) - factor_energy(g, theta, f, base)
            new = logistic_draw(d, u)
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
          uint64_t first_sweep, int64_t n_sweeps, int n_threads, bint fast=True):
    """Run ``n_sweeps`` Gibbs sweeps in place; returns the number of state changes.

    With ``fast``, binary variables whose factors have at most two variables take the
    precomputed-table path; the states are the same bits either way.
    """
    cdef int64_t n_blocks = block_sums.shape[0]
    cdef int max_k = max(int(np.max(g.n_states, initial=1)), 1)
    cdef PairTables tables = PairTables(g, theta)
    cdef const int8_t[::1] eligible = tables.eligible if fast else np.zeros(g.n_variables, np.int8)
    scratch_arr = np.zeros((max(n_threads, 1), max(max_k, 2 * min(block_size, n_chains))))
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
                    if eligible[v]:
                        changed += update_pairwise_binary(g, tables, &x[0], &block_sums[b, 0], &key[0],
                                                          n_chains, first_chain, c0, c1, v, first_sweep + t,
                                                          &scratch[threadid(), 0])
                    else:
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
