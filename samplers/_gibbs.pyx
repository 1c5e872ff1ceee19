# cython: language_level=3
"""The Gibbs (heat-bath) sweep: colour by colour, in (variable, block of chains) items.

Chain states are stored chain-innermost: x[v * n_chains + c], so one variable's chains sit
side by side and the innermost loops (samplers/_fg_gibbs_paths.h) run across a block's chains.
Variables of one colour share no factor, so the features they touch are disjoint: running
feature sums kept per fixed block of chains are written by one item at a time, in chain order,
whatever the thread count — the sums, like the states, are bit-identical for any number of
threads. The thread schedule is the shared driver's (samplers/_driver.pyx).
"""

from cython.parallel cimport prange
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t

import numpy as np

from factorgraph._kernels cimport GraphView, factor_energy
from samplers._core cimport chain_joint, commit_changes
from samplers._driver cimport SweepKernel, run_sweeps
from samplers._random cimport simd_level
from samplers._rng cimport (
    fg_binary_update, fg_categorical_draws_f, fg_logistic_draw_f, fg_tabulated_draws, fg_uniforms,
)


# Above this many table entries (128 MiB of floats) multi-state variables keep the general path.
cdef int64_t MAX_TABLE_ENTRIES = 2**25


cdef class PairTables:
    """Per-run energy tables for variables whose factors have at most two variables.

    For each (variable v, factor) entry: the factor's energy for every state s of v and every
    state of the other scope variable u. For binary v (the binary fast path): the energy
    change when v goes from 0 to 1 as a float, ``etab[offset + x_u]``, and the feature change
    (of a scaled feature) ``ctab[offset + x_u]``. For multi-state v (the table path): float rows
    ``ftab[offset + x_u * kp + s]``, each padded with zeros to kp, k_v rounded up to a
    multiple of 8 (samplers/_fg_gibbs_paths.h).
    A unary factor has one row. The entries are the very values the general path computes
    (rounded to floats where it sums floats), added in the same order, so every path gives
    the same bits. ``mode[v]`` is 1 for the binary fast path, 2 for the multi-state table
    path and 0 for the general path.
    """

    cdef readonly object mode_arr
    cdef const int8_t[::1] mode
    cdef const int32_t[::1] other
    cdef const int64_t[::1] offset
    cdef const int8_t[::1] scaled
    cdef const int8_t[::1] untracked
    cdef const int64_t[::1] feature
    cdef const int8_t[::1] indexed
    cdef const int8_t[::1] identity
    cdef const int32_t[::1] k_other
    cdef float[::1] etab
    cdef double[::1] ctab
    cdef float[::1] ftab
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
        entries = np.bincount(owner, weights=k_other * ((n_states[owner] + 7) & ~7), minlength=n)
        mode = np.where(pairwise & (n_states == 2), 1, np.where(pairwise & (n_states > 2), 2, 0)).astype(np.int8)
        if entries[mode == 2].sum() > MAX_TABLE_ENTRIES:
            mode[mode == 2] = 0
        cdef int8_t[::1] md = mode
        cdef int32_t[::1] oth = other
        cdef int64_t[::1] off = offset
        cdef Py_ssize_t v, e, f, p, total = 0, total_f = 0
        cdef int64_t k_u, kp
        for v in range(n):
            if md[v] == 0:
                continue
            kp = (g.n_states[v] + 7) & ~7
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                k_u = 1
                if g.factor_ptr[f + 1] - g.factor_ptr[f] == 2:
                    p = g.factor_ptr[f] + 1 - g.var_pos[e]
                    oth[e] = g.factor_vars[p]
                    k_u = g.n_states[oth[e]]
                if md[v] == 1:
                    off[e] = total
                    total += k_u
                else:
                    off[e] = total_f
                    total_f += k_u * kp
        # an indexed factor whose map is the identity (a Potential) reads θ straight, no map
        identity_factor = np.zeros(g.n_factors, dtype=np.int8)
        cdef int8_t[::1] ident_f = identity_factor
        cdef int64_t j, size
        for f in range(g.n_factors):
            if g.factor_form[f] == 0 or g.factor_ptr[f + 1] - g.factor_ptr[f] > 2:
                continue
            size = 1
            for p in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
                size *= g.n_states[g.factor_vars[p]]
            ident_f[f] = 1
            for j in range(size):
                if g.maps[g.factor_table[f] + j] != j:
                    ident_f[f] = 0
                    break
        self.identity = identity_factor[var_factors]
        form = np.asarray(g.factor_form)[var_factors]
        self.scaled = (form == 0).astype(np.int8)
        self.untracked = np.zeros(nnz, dtype=np.int8)  # for sweeps that leave the sums alone
        self.feature = np.asarray(g.factor_theta)[var_factors].astype(np.int64)
        # variables with an indexed factor: their one-hot sums move chain by chain
        self.indexed = (np.bincount(owner, weights=(form != 0), minlength=n) > 0).astype(np.int8)
        n_states32 = np.asarray(g.n_states, dtype=np.int32)
        self.k_other = np.where(other >= 0, n_states32[np.maximum(other, 0)], 1).astype(np.int32)
        self.g = g
        self.mode_arr = mode
        self.mode = mode
        self.other = other
        self.offset = offset
        self.etab = np.zeros(total, dtype=np.float32)
        self.ctab = np.zeros(total)
        self.ftab = np.zeros(total_f, dtype=np.float32)  # fill() writes all but the zero padding
        if theta is not None:
            self.fill(theta)

    def fill(self, const double[::1] theta, int n_threads=1):
        """Compute the tables' values for parameters ``theta`` (in place, no allocation); each
        variable's entries are its own, so variables are shared out between threads."""
        cdef GraphView g = self.g
        cdef const int8_t[::1] md = self.mode
        cdef const int32_t[::1] oth = self.other
        cdef const int64_t[::1] off = self.offset
        cdef const int8_t[::1] ident = self.identity
        cdef float[::1] et = self.etab
        cdef double[::1] ct = self.ctab
        cdef float[::1] ft = self.ftab
        cdef Py_ssize_t v, e, f, n = g.n_variables
        cdef int64_t s, a, k_u, k_v, kp, stride_v, stride_u, j
        for v in prange(n, nogil=True, num_threads=max(n_threads, 1), schedule="dynamic"):
            if md[v] == 0:
                continue
            k_v = g.n_states[v]
            kp = (k_v + 7) & ~7
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                k_u = 1
                stride_u = 0
                if oth[e] >= 0:
                    k_u = g.n_states[oth[e]]
                    stride_u = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]]
                for a in range(k_u):
                    j = a * stride_u
                    if md[v] == 1:
                        et[off[e] + a] = <float>(entry_energy(g, theta, f, ident[e], j + stride_v)
                                                 - entry_energy(g, theta, f, ident[e], j))
                        if g.factor_form[f] == 0:
                            ct[off[e] + a] = (g.tables[g.factor_table[f] + j + stride_v]
                                              - g.tables[g.factor_table[f] + j])
                    else:
                        for s in range(k_v):
                            ft[off[e] + a * kp + s] = <float>entry_energy(g, theta, f, ident[e], j + s * stride_v)


cdef inline double entry_energy(GraphView g, const double[::1] theta, int64_t f, bint identity,
                                int64_t j) noexcept nogil:
    """factor_energy of joint state j; for a factor whose map is the identity (a Potential),
    the same value read straight from θ."""
    if identity:
        return theta[g.factor_theta[f] + j]
    return factor_energy(g, theta, f, j)


cdef int64_t update_pairwise_binary(GraphView g, PairTables t, int32_t* x, double* sums,
                                    const uint32_t* key, int64_t n_chains, int64_t first_chain,
                                    int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                                    double* d, double* u, double* flip) noexcept nogil:
    """The binary fast path: fields, draws and scaled sums vectorised across the block's chains
    (samplers/_fg_gibbs_paths.h); the one-hot sums of indexed factors move here, chain by chain."""
    cdef int64_t nb = c1 - c0, lo = g.var_ptr[v], e, f, c, j_new, j_old, stride_v, stride_u, changed
    cdef int32_t w, m
    cdef int32_t* xv = x + v * n_chains + c0
    fg_uniforms(key, <uint32_t>v, sweep, 0, first_chain + c0, nb, u, simd_level())
    # pointer arithmetic, not &a[lo]: a variable with no factors at the end has lo == len(a)
    changed = fg_binary_update(nb, xv, x + c0, n_chains, g.var_ptr[v + 1] - lo, &t.other[0] + lo, &t.k_other[0] + lo,
                               &t.etab[0] if t.etab.shape[0] else NULL, &t.ctab[0] if t.ctab.shape[0] else NULL,
                               &t.offset[0] + lo,
                               (&t.scaled[0] + lo) if sums != NULL else (&t.untracked[0] + lo), &t.feature[0] + lo,
                               sums, u, <float*>d, flip, simd_level())
    if changed == 0 or not t.indexed[v] or sums == NULL:
        return changed
    for e in range(lo, g.var_ptr[v + 1]):
        if t.scaled[e]:
            continue
        f = g.var_factors[e]
        w = t.other[e]
        stride_v = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
        stride_u = g.factor_strides[g.factor_ptr[f] + 1 - g.var_pos[e]] if w >= 0 else 0
        for c in range(nb):
            if flip[c] != 0.0:
                j_new = (x[w * n_chains + c0 + c] * stride_u if w >= 0 else 0) + xv[c] * stride_v
                j_old = j_new - <int64_t>flip[c] * stride_v
                m = g.maps[g.factor_table[f] + j_old]
                if m >= 0:
                    sums[g.factor_theta[f] + m] -= 1.0
                m = g.maps[g.factor_table[f] + j_new]
                if m >= 0:
                    sums[g.factor_theta[f] + m] += 1.0
    return changed


cdef int64_t update_tabulated(GraphView g, PairTables t, int32_t* x, double* sums, const uint32_t* key,
                              int64_t n_chains, int64_t first_chain, int64_t c0, int64_t c1, int32_t v,
                              uint64_t sweep, double* energy, double* u, int32_t* previous) noexcept nogil:
    """Multi-state update from the per-run tables (samplers/_fg_gibbs_paths.h), factor by factor across
    the block's chains so that each factor's table stays in cache. ``energy`` holds at least
    (n_states[v] + 8) * (c1 - c0) floats, the block's rows, which the draws overwrite;
    ``previous`` holds two ints per chain of the block."""
    cdef int64_t c, nb = c1 - c0, lo = g.var_ptr[v], changed = 0
    cdef int32_t* drawn = previous + nb
    cdef int32_t* xv = x + v * n_chains + c0
    fg_uniforms(key, <uint32_t>v, sweep, 0, first_chain + c0, nb, u, simd_level())
    fg_tabulated_draws(nb, g.n_states[v], g.var_ptr[v + 1] - lo, &t.other[0] + lo, &t.k_other[0] + lo,
                       &t.offset[0] + lo, &t.ftab[0] if t.ftab.shape[0] else NULL, x + c0, n_chains,
                       <float*>energy, u, drawn, simd_level())
    for c in range(nb):
        previous[c] = xv[c]
        if drawn[c] != xv[c]:
            xv[c] = drawn[c]
            changed += 1
    if changed and sums != NULL:
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
                          const uint32_t* key, int64_t n_chains, int64_t first_chain,
                          int64_t c0, int64_t c1, int32_t v, uint64_t sweep,
                          double* energy, double* uniform, int32_t* previous) noexcept nogil:
    """Heat-bath update of variable v in chains c0..c1-1; returns how many changed state.

    ``energy`` has room for n_states[v] doubles (a multi-state variable's energies are summed
    there in floats), ``uniform`` and ``previous`` one per chain of the block.
    """
    cdef int32_t k = g.n_states[v], old, new, s
    cdef int64_t c, e, f, stride, base, changed = 0
    cdef float d
    cdef float* floats = <float*>energy  # the energies of a multi-state variable, in floats
    fg_uniforms(key, <uint32_t>v, sweep, 0, first_chain + c0, c1 - c0, uniform, simd_level())
    for c in range(c0, c1):
        old = x[v * n_chains + c]
        if k == 2:  # one logistic in d = E(1) - E(0), summed factor by factor in floats
            d = 0.0
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - old * stride
                d = d + <float>(factor_energy(g, theta, f, base + stride) - factor_energy(g, theta, f, base))
            new = fg_logistic_draw_f(d, uniform[c - c0])
        else:
            for s in range(k):
                floats[s] = 0.0
            for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
                f = g.var_factors[e]
                stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
                base = chain_joint(g, x, n_chains, c, f) - old * stride
                for s in range(k):  # summed in floats: the table path's precision contract
                    floats[s] = floats[s] + <float>factor_energy(g, theta, f, base + s * stride)
            fg_categorical_draws_f(1, k, floats, &uniform[c - c0], &new)
        previous[c - c0] = old
        if new != old:
            x[v * n_chains + c] = new
            changed += 1
    if changed and sums != NULL:
        commit_changes(g, x, sums, n_chains, c0, c1, v, previous)
    return changed


cdef inline int64_t update_item(GraphView g, PairTables tables, int32_t* x, const double[::1] theta,
                                double* sums, const uint32_t* key, int64_t n_chains, int64_t first_chain,
                                int64_t c0, int64_t c1, int32_t v, uint64_t sweep, double* scratch,
                                int64_t bs, int64_t width, int32_t* ints) noexcept nogil:
    """Update variable v in chains c0..c1-1 by its path; ``scratch`` and ``ints`` are the thread's."""
    if tables.mode[v] == 1:
        return update_pairwise_binary(g, tables, x, sums, key, n_chains, first_chain, c0, c1, v, sweep,
                                      scratch, scratch + width - 2 * bs, scratch + width - bs)
    if tables.mode[v] == 2:
        return update_tabulated(g, tables, x, sums, key, n_chains, first_chain, c0, c1, v, sweep,
                                scratch, scratch + width - 2 * bs, ints)
    return update_block(g, x, theta, sums, key, n_chains, first_chain, c0, c1, v, sweep,
                        scratch, scratch + width - 2 * bs, ints)


cdef class GibbsSweep(SweepKernel):
    """The Gibbs update of one variable in one block of chains, for the shared driver."""

    cdef PairTables tables
    cdef double[:, ::1] scratch
    cdef int32_t[:, ::1] ints
    cdef int64_t bs, width
    cdef bint track

    cdef int64_t update(self, int64_t b, int64_t c0, int64_t c1, int64_t item, int64_t colour,
                        uint64_t sweep, int tid) noexcept nogil:
        return update_item(self.g, self.tables, self.x, self.theta,
                           &self.block_sums[b, 0] if self.track else NULL, self.key, self.n_chains,
                           self.first_chain, c0, c1, self.g.color_vars[item], sweep, &self.scratch[tid, 0],
                           self.bs, self.width, &self.ints[tid, 0])


def sweep(GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const uint32_t[::1] key, int64_t n_chains, int64_t first_chain, int64_t block_size,
          uint64_t first_sweep, int64_t n_sweeps, int n_threads, PairTables tables=None, bint track=True):
    """Run ``n_sweeps`` Gibbs sweeps in place; returns the number of state changes.

    ``tables``, laid out for this graph and filled for ``theta``, sends pairwise variables down
    the table paths; without it every variable takes the general path. The states are the
    same bits either way. With ``track`` false the running sums are left alone (the caller
    re-derives them from the states afterwards). The schedule is the shared driver's
    (samplers/_driver.pyx).
    """
    cdef int64_t n_blocks = block_sums.shape[0], unit = block_size
    cdef int max_k = max(int(np.max(g.n_states, initial=1)), 1)
    if tables is None:
        tables = PairTables.__new__(PairTables)
        tables.mode = np.zeros(g.n_variables, np.int8)
    # energies (float rows padded to whole 8-wide vectors, samplers/_fg_gibbs_paths.h: half
    # this room), then uniforms and flips
    cdef int64_t bs = max(min(block_size, n_chains), 1), width = (max_k + 8) * bs + 2 * bs
    cdef int threads = max(n_threads, 1)
    if not track:
        # the sums are not touched, so the work may be cut finer than the blocks (each chain's
        # update depends on nothing but the chain: this changes no bit): one share per thread,
        # whose items of a colour then read the same tables at the same time
        unit = min(block_size, max(4, (n_chains + threads - 1) // threads + 3 & ~3))
        n_blocks = (n_chains + unit - 1) // unit
    if n_sweeps <= 0 or n_chains <= 0 or g.n_variables == 0:
        return 0
    cdef GibbsSweep kernel = GibbsSweep.__new__(GibbsSweep)
    kernel.bind(g, x, theta, block_sums, key, n_chains, first_chain)
    kernel.tables, kernel.track, kernel.bs, kernel.width = tables, track, bs, width
    kernel.scratch = np.zeros((threads, width))
    kernel.ints = np.zeros((threads, 2 * bs), dtype=np.int32)
    return run_sweeps(kernel, g.color_ptr, n_blocks, unit, n_chains, first_sweep, n_sweeps, threads)
