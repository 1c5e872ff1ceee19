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
from libc.math cimport exp, fabs
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
    """1 with probability 1 / (1 + exp(-d)), else 0, without overflow and without a branch:
    u < 1 / (1 + e^-d) for d >= 0, and u < e^d / (1 + e^d) otherwise, both as products."""
    cdef double z = exp(-fabs(d))
    cdef double bound = 1.0 if d >= 0.0 else z
    return u * (1.0 + z) < bound


# Above this many table entries (256 MiB) multi-state variables keep the general path.
cdef int64_t MAX_TABLE_ENTRIES = 2**25


cdef class PairTables:
    """Per-run energy tables for variables whose factors have at most two variables.

    For each (variable v, factor) entry: the factor's energy for every state s of v and every
    state of the other scope variable u, as rows ``dtab[offset + x_u * k_v + s]`` (one row when
    the factor is unary), and for binary v the feature change and the energy change when v
    goes from 0 to 1 in ``vtab[offset + 2 * x_u]`` and ``vtab[offset + 2 * x_u + 1]``. The entries are the very values the general path computes, added
    in the same order, so every path gives the same bits. ``mode[v]`` is 1 for the binary fast
    path, 2 for the multi-state table path and 0 for the general path.
    """

    cdef readonly object mode_arr
    cdef const int8_t[::1] mode
    cdef const int32_t[::1] other
    cdef const int64_t[::1] offset
    cdef double[::1] dtab
    cdef double[::1] vtab
    cdef GraphView g

    def __init__(self, GraphView g, theta=None):
        """Lay out the tables for graph ``g``; fill them for ``theta`` when it is given."""
        cdef Py_ssize_t n = g.n_variables, nnz = g.var_factors.shape[0]
        other = np.full(nnz, -1, dtype=np.int32)
        offset = np.zeros(nnz, dtype=np.int64)
        arity = np.diff(np.asarray(g.factor_ptr))
        n_states = np.asarray(g.n_states).astype(np.int64)
        var_ptr = np.asarray(g.var_ptr)
        var_factors = np.asarray(g.var_factors)
        degree = np.diff(var_ptr)
        owner = np.repeat(np.arange(n), degree)
        pairwise = np.bincount(owner, weights=(arity[var_factors] <= 2), minlength=n) == degree
        # table entries per variable: k_v times the other variable's states, per factor
        first = np.asarray(g.factor_ptr)[var_factors]
        pos = np.asarray(g.var_pos)
        other_pos = np.where(arity[var_factors] == 2, first + 1 - pos, -1)
        k_other = np.where(other_pos >= 0, n_states[np.asarray(g.factor_vars)[np.maximum(other_pos, 0)]], 1)
        entries = np.bincount(owner, weights=k_other * n_states[owner], minlength=n)
        mode = np.where(pairwise & (n_states == 2), 1, np.where(pairwise & (n_states > 2), 2, 0)).astype(np.int8)
        if entries[mode == 2].sum() > MAX_TABLE_ENTRIES:
            mode[mode == 2] = 0
        cdef int8_t[::1] md = mode
        cdef int32_t[::1] oth = other
        cdef int64_t[::1] off = offset
        cdef Py_ssize_t v, e, f, p, total = 0
        cdef int64_t k_u
        for v in range(n):
            if md[v] == 0:
                continue
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                off[e] = total
                k_u = 1
                if g.factor_ptr[f + 1] - g.factor_ptr[f] == 2:
                    p = g.factor_ptr[f] + 1 - g.var_pos[e]
                    oth[e] = g.factor_vars[p]
                    k_u = g.n_states[oth[e]]
                total += k_u * g.n_states[v]
        self.g = g
        self.mode_arr = mode
        self.mode = mode
        self.other = other
        self.offset = offset
        self.dtab = np.empty(total)  # every entry is written by fill()
        self.vtab = np.zeros(total if (mode == 1).any() else 0)
        if theta is not None:
            self.fill(theta)

    def fill(self, const double[::1] theta):
        """Compute the tables' values for parameters ``theta`` (in place, no allocation)."""
        cdef GraphView g = self.g
        cdef const int8_t[::1] md = self.mode
        cdef const int32_t[::1] oth = self.other
        cdef const int64_t[::1] off = self.offset
        cdef double[::1] dt = self.dtab, vt = self.vtab
        cdef Py_ssize_t v, e, f, n = g.n_variables
        cdef int64_t s, a, k_u, k_v, stride_v, stride_u
        with nogil:
            for v in range(n):
                if md[v] == 0:
                    continue
                k_v = g.n_states[v]
                for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                    f = g.var_factors[e]
                    stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                    k_u = 1
                    stride_u = 0
                    if oth[e] >= 0:
                        k_u = g.n_states[oth[e]]
                        stride_u = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]]
                    for a in range(k_u):
                        for s in range(k_v):
                            dt[off[e] + a * k_v + s] = factor_energy(g, theta, f, a * stride_u + s * stride_v)
                        if k_v == 2:  # the binary path reads both from one cache line
                            vt[off[e] + a * 2 + 1] = dt[off[e] + a * 2 + 1] - dt[off[e] + a * 2]
                            if g.factor_form[f] == 0:
                                vt[off[e] + a * 2] = (g.tables[g.factor_table[f] + a * stride_u + stride_v]
                                                      - g.tables[g.factor_table[f] + a * stride_u])


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
    cdef const double* vt = &t.vtab[0]
    cdef const double* row
    cdef int64_t nb = c1 - c0
    for c in range(nb):
        d[c] = 0.0
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        row = vt + t.offset[e] + 1  # energy changes sit at odd slots
        u = t.other[e]
        if u < 0:
            for c in range(nb):
                d[c] += row[0]
        else:
            xu = x + u * n_chains + c0
            for c in range(nb):
                d[c] += row[2 * xu[c]]
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
            row = vt + off
            if u < 0:
                for c in range(nb):
                    acc += flip[c] * row[0]
            else:
                xu = x + u * n_chains + c0
                for c in range(nb):
                    acc += flip[c] * row[2 * xu[c]]
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


cdef inline int32_t categorical_draw(double* energy, int32_t k, double u) noexcept nogil:
    """A state drawn with probability proportional to exp(energy); overwrites ``energy``."""
    cdef int32_t s
    cdef double top = energy[0], total = 0.0
    for s in range(1, k):
        if energy[s] > top:
            top = energy[s]
    for s in range(k):
        total += exp(energy[s] - top)
        energy[s] = total  # cumulative weights
    u *= total
    for s in range(k - 1):
        if u < energy[s]:
            return s
    return k - 1


cdef void commit_changes(GraphView g, const int32_t* x, double* sums, int64_t n_chains, int64_t c0,
                         int64_t c1, int32_t v, const int32_t* previous) noexcept nogil:
    """Move the running sums of the block's changed chains, factor by factor (cache-friendly)."""
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


cdef int64_t update_tabulated(GraphView g, PairTables t, int32_t* x, double* sums, const uint64_t* key,
                              int64_t n_chains, int64_t first_chain, int64_t c0, int64_t c1, int32_t v,
                              uint64_t sweep, double* energy, int32_t* previous) noexcept nogil:
    """Multi-state update from the per-run tables, factor by factor across the block's chains,
    so that each factor's table and the block's energies stay in cache. ``energy`` holds
    (c1 - c0) * n_states[v] doubles."""
    cdef int32_t k = g.n_states[v], w, old, new, s
    cdef int64_t c, cc, e, off, row, gc, changed = 0, nb = c1 - c0
    cdef const int32_t* xw
    cdef double four[4]
    cdef const double* dtab = &t.dtab[0]
    cdef const double* src
    cdef double* dst
    for c in range(nb * k):
        energy[c] = 0.0
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        w = t.other[e]
        off = t.offset[e]
        xw = x + w * n_chains + c0 if w >= 0 else NULL
        for cc in range(nb):
            src = dtab + off + (xw[cc] * k if w >= 0 else 0)
            dst = energy + cc * k
            for s in range(k):  # a contiguous row: vectorised
                dst[s] += src[s]
    for c in range(c0, c1):
        gc = first_chain + c
        if c == c0 or gc % 4 == 0:
            uniforms4(key, <uint64_t>v, <uint64_t>(gc // 4), sweep, 0, four)
        old = x[v * n_chains + c]
        new = categorical_draw(energy + (c - c0) * k, k, four[gc % 4])
        previous[c - c0] = old
        if new != old:
            x[v * n_chains + c] = new
            changed += 1
    if changed:
        commit_pairwise(g, t, x, sums, n_chains, c0, c1, v, previous)
    return changed


cdef void commit_pairwise(GraphView g, PairTables t, const int32_t* x, double* sums, int64_t n_chains,
                          int64_t c0, int64_t c1, int32_t v, const int32_t* previous) noexcept nogil:
    """commit_changes for factors of at most two variables: joint states from the other
    variable alone, no scope walk."""
    cdef int64_t e, f, c, stride_v, stride_w, j, table, feature
    cdef int32_t old, new, w, m
    cdef const int32_t* xv = x + v * n_chains
    cdef const int32_t* xw
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        f = g.var_factors[e]
        w = t.other[e]
        stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
        stride_w = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]] if w >= 0 else 0
        xw = x + (w if w >= 0 else v) * n_chains
        table = g.factor_table[f]
        feature = g.factor_theta[f]
        for c in range(c0, c1):
            old = previous[c - c0]
            new = xv[c]
            if new == old:
                continue
            j = (xw[c] * stride_w) if w >= 0 else 0
            if g.factor_form[f] == 0:
                sums[feature] += g.tables[table + j + new * stride_v] - g.tables[table + j + old * stride_v]
            else:
                m = g.maps[table + j + old * stride_v]
                if m >= 0:
                    sums[feature + m] -= 1.0
                m = g.maps[table + j + new * stride_v]
                if m >= 0:
                    sums[feature + m] += 1.0


cdef int64_t update_block(GraphView g, int32_t* x, const double[::1] theta, double* sums,
                          const uint64_t* key, int64_t n_chains, int64_t first_chain,
                          int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                          double* energy, int32_t* previous) noexcept nogil:
    """Heat-bath update of variable v in chains c0..c1-1; returns how many changed state.

    ``energy`` holds n_states[v] doubles and ``previous`` one int per chain of the block.
    """
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
            new = categorical_draw(energy, k, u)
        previous[c - c0] = old
        if new != old:
            x[v * n_chains + c] = new
            changed += 1
    if changed:
        commit_changes(g, x, sums, n_chains, c0, c1, v, previous)
    return changed


def sweep(GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const uint64_t[::1] key, int64_t n_chains, int64_t first_chain, int64_t block_size,
          uint64_t first_sweep, int64_t n_sweeps, int n_threads, PairTables tables=None):
    """Run ``n_sweeps`` Gibbs sweeps in place; returns the number of state changes.

    ``tables``, laid out for this graph and filled for ``theta``, sends pairwise variables down
    the table paths; without it every variable takes the general path. The states are the
    same bits either way.
    """
    cdef int64_t n_blocks = block_sums.shape[0]
    cdef int max_k = max(int(np.max(g.n_states, initial=1)), 1)
    if tables is None:
        tables = PairTables.__new__(PairTables)
        tables.mode = np.zeros(g.n_variables, np.int8)
    cdef const int8_t[::1] mode = tables.mode
    scratch_arr = np.zeros((max(n_threads, 1), max(max_k, 2) * max(min(block_size, n_chains), 1)))
    previous_arr = np.zeros((max(n_threads, 1), max(min(block_size, n_chains), 1)), dtype=np.int32)
    cdef double[:, ::1] scratch = scratch_arr
    cdef int32_t[:, ::1] previous = previous_arr
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
                    if mode[v] == 1:
                        changed += update_pairwise_binary(g, tables, &x[0], &block_sums[b, 0], &key[0],
                                                          n_chains, first_chain, c0, c1, v, first_sweep + t,
                                                          &scratch[threadid(), 0])
                    elif mode[v] == 2:
                        changed += update_tabulated(g, tables, &x[0], &block_sums[b, 0], &key[0], n_chains,
                                                    first_chain, c0, c1, v, first_sweep + t,
                                                    &scratch[threadid(), 0], &previous[threadid(), 0])
                    else:
                        changed += update_block(g, &x[0], theta, &block_sums[b, 0], &key[0], n_chains,
                                                first_chain, c0, c1, v, first_sweep + t,
                                                &scratch[threadid(), 0], &previous[threadid(), 0])
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
