# cython: language_level=3
"""Chain set-up and exact running sums shared by the single-site samplers (Gibbs, MH).

The inline helpers of ``_core.pxd`` (``chain_joint``, ``add_factor``, ``commit_changes``) are
included here and cimported by the sweeps; this module adds the Python entry points that
:class:`samplers._chains.BlockChains` calls: the initial states, the exact block sums and the
chain-weighted feature sums that objectives such as marginal priors ask for.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.string cimport memset

import numpy as np

from factorgraph._kernels cimport GraphView
from samplers._random cimport simd_level
from samplers._rng cimport fg_uniforms


def thread_counts(int threads, tuple shape):
    """Zeroed int64 counters of shape (threads, *shape) for a sweep's threads to bump.

    Each thread's slice lies at least 64 bytes from the next: counters that two threads write
    side by side share a cache line, which then moves between their cores at every write.
    """
    inner = int(np.prod(shape[1:], dtype=np.int64))
    pad = -(-8 // max(inner, 1))  # rows of the first axis that span 64 bytes
    return np.zeros((threads, shape[0] + pad, *shape[1:]), dtype=np.int64)[:, : shape[0]]


def owned_widths(GraphView g):
    """How many features each factor owns, when every feature is owned by exactly one factor;
    else None.

    A scaled factor owns its feature; an indexed one the features its table maps to, from its
    first up to its largest map entry. When every feature has one owner, the exact sums can be
    set factor by factor, in parallel, with the same bits (see ``recompute_sums``).
    """
    cdef int64_t f, e, j, size, top
    cdef int64_t n = g.n_factors
    start = np.asarray(g.factor_theta, dtype=np.int64)
    width = np.ones(n, dtype=np.int64)
    cdef int64_t[::1] w = width
    for f in range(n):
        if g.factor_form[f] == 0:
            continue
        size = 1
        for e in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
            size *= g.n_states[g.factor_vars[e]]
        top = -1
        for j in range(size):
            top = max(top, g.maps[g.factor_table[f] + j])
        w[f] = top + 1
    order = np.argsort(start, kind="stable")
    stop = (start + width)[order]
    exclusive = bool(np.all(stop[: n - 1] <= start[order][1:]))
    return width if exclusive and int(width.sum()) == g.n_features else None


cdef void block_sums_pass(GraphView g, const int32_t* x, double[:, ::1] block_sums, int64_t n_chains,
                          int64_t block_size, int n_threads, const int64_t* widths) noexcept nogil:
    """Set each block's row to Σ_{c in block} f(x^c).

    Every feature's sum is added chain by chain in a fixed order, so the rows (and their sum
    in block order) are the same bits for any thread count. Threads take blocks. Given the
    features each factor owns (``owned_widths``), each factor clears its own features just
    before adding to them, while they are in cache, and with fewer blocks than threads the
    threads share out each block's factors instead.
    """
    cdef int64_t n_blocks = block_sums.shape[0], b, c, f
    if widths != NULL and n_blocks < n_threads:
        for b in range(n_blocks):
            for f in prange(g.n_factors, num_threads=n_threads, schedule="dynamic", chunksize=64):
                memset(&block_sums[b, g.factor_theta[f]], 0, widths[f] * sizeof(double))
                for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                    add_factor(g, &block_sums[b, 0], f, chain_joint(g, x, n_chains, c, f), 1.0)
        return
    for b in prange(n_blocks, num_threads=n_threads, schedule="static"):
        for f in range(g.n_factors):  # factor-major: a factor's features stay in cache across chains
            if widths != NULL:
                memset(&block_sums[b, g.factor_theta[f]], 0, widths[f] * sizeof(double))
            for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                add_factor(g, &block_sums[b, 0], f, chain_joint(g, x, n_chains, c, f), 1.0)


def recompute_sums(GraphView g, const int32_t[::1] x, double[:, ::1] block_sums, int64_t n_chains,
                   int64_t block_size, int n_threads, const int64_t[::1] widths=None):
    """Set each block's feature sums exactly from the chain states; ``widths`` from
    ``owned_widths`` (when not None) lets the threads share a block."""
    cdef const int64_t* owned = NULL
    if widths is not None and widths.shape[0] > 0:
        owned = &widths[0]
    else:
        block_sums[:, :] = 0.0
    with nogil:
        block_sums_pass(g, &x[0], block_sums, n_chains, block_size, n_threads, owned)
    return None


cdef void count_factor(GraphView g, const int32_t[:, ::1] recorded, int64_t f, int64_t n_chains,
                       int32_t* hist, double* out) noexcept nogil:
    """out[m] += the sweeps and chains in which indexed factor f is at a joint state of feature m.

    The joint states are counted first in ``hist`` (the factor's joint states, zeroed, in the
    thread's cache), then mapped to features once: the inner loop is a load, a multiply-add
    and an integer increment. Pairs, the common case, read their two variables' rows through
    local pointers.
    """
    cdef int64_t s, c, j, size = 1, e = g.factor_ptr[f]
    cdef const int32_t* mp = &g.maps[g.factor_table[f]]
    cdef const int32_t* xa
    cdef const int32_t* xb
    cdef int32_t sa32, sb32, m
    cdef int32_t joint[64]
    cdef int64_t k, n
    for e in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
        size *= g.n_states[g.factor_vars[e]]
    memset(hist, 0, size * sizeof(int32_t))
    e = g.factor_ptr[f]
    if g.factor_ptr[f + 1] - e == 2:
        sa32 = <int32_t>g.factor_strides[e]
        sb32 = <int32_t>g.factor_strides[e + 1]
        for s in range(recorded.shape[0]):
            xa = &recorded[s, g.factor_vars[e] * n_chains]
            xb = &recorded[s, g.factor_vars[e + 1] * n_chains]
            c = 0
            while c < n_chains:  # the joint states of 64 chains at once (a vector loop), then counted
                n = min(64, n_chains - c)
                for k in range(n):
                    joint[k] = xa[c + k] * sa32 + xb[c + k] * sb32
                for k in range(n):
                    hist[joint[k]] += 1
                c = c + n
    else:
        for s in range(recorded.shape[0]):
            for c in range(n_chains):
                hist[chain_joint(g, &recorded[s, 0], n_chains, c, f)] += 1
    for j in range(size):
        m = mp[j]
        if m >= 0 and hist[j]:
            out[m] += hist[j]


def add_recorded_sums(GraphView g, const int32_t[:, ::1] recorded, double[:, ::1] sums, int64_t n_chains,
                      int64_t block_size, int n_threads):
    """Add the feature sums of recorded chain states (one row of ``recorded`` per sweep, each
    chain-innermost like the live states): what averaging over sweeps needs from those sweeps.

    Factors of indexed form (one feature per joint state: Potential, Histogram, indicator
    tables) add whole counts to ``sums[0]``: counts are exact in any order, so one row serves
    every chain, and each factor counts every recorded sweep of every chain at once instead of
    adding to a row of every feature per block and sweep. Scaled factors add their values to
    their block's row of ``sums`` (which then has a row per block), sweep by sweep and chain by
    chain: the same bits however the sweeps were recorded and the chains split into
    processes. Every feature must have one owning factor (``owned_widths``): threads take
    factors. The counts of one call must stay below 2**31 per joint state.
    """
    cdef int64_t n_records = recorded.shape[0], n_rows = sums.shape[0], f, s, b, c, theta, table, e, size
    cdef int64_t largest = 1
    cdef const int32_t* x
    cdef int tid
    if n_records == 0 or n_chains == 0:
        return None
    for f in range(g.n_factors):
        if g.factor_form[f] != 0:
            size = 1
            for e in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
                size *= g.n_states[g.factor_vars[e]]
            largest = max(largest, size)
    scratch = np.empty((max(n_threads, 1), largest + 16), dtype=np.int32)  # rows 64 bytes apart
    cdef int32_t[:, ::1] hist = scratch
    with nogil:
        for f in prange(g.n_factors, num_threads=n_threads, schedule="dynamic", chunksize=16):
            tid = threadid()
            theta = g.factor_theta[f]
            table = g.factor_table[f]
            if g.factor_form[f] != 0:
                count_factor(g, recorded, f, n_chains, &hist[tid, 0], &sums[0, theta])
            else:
                for b in range(min((n_chains + block_size - 1) // block_size, n_rows)):
                    for s in range(n_records):
                        x = &recorded[s, 0]
                        for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                            sums[b, theta] += g.tables[table + chain_joint(g, x, n_chains, c, f)]
    return None


cdef void weighted_block_pass(GraphView g, const int32_t* x, const double* weights, double[:, ::1] block_sums,
                              int64_t n_chains, int64_t block_size, int n_threads) noexcept nogil:
    """Set each block's row to Σ_{c in block} w_c f(x^c).

    A scaled factor's sum over a block's chains goes through four partial sums in a fixed
    order (chain c into partial c mod 4), which breaks the chain of dependent additions; the
    rows are still the same bits for any thread count.
    """
    cdef int64_t n_blocks = block_sums.shape[0], b, c, f, c0, c1, theta, table, e, sa, sb
    cdef const int32_t* xa
    cdef const int32_t* xb
    cdef double a0, a1, a2, a3
    for b in prange(n_blocks, num_threads=n_threads, schedule="static"):
        c0 = b * block_size
        c1 = min(c0 + block_size, n_chains)
        for f in range(g.n_factors):
            if g.factor_form[f] != 0:
                for c in range(c0, c1):
                    add_factor(g, &block_sums[b, 0], f, chain_joint(g, x, n_chains, c, f), weights[c])
                continue
            table = g.factor_table[f]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            e = g.factor_ptr[f]
            if g.factor_ptr[f + 1] - e == 2:  # pairs, the common case: the joint index without a loop
                xa = x + g.factor_vars[e] * n_chains
                xb = x + g.factor_vars[e + 1] * n_chains
                sa = g.factor_strides[e]
                sb = g.factor_strides[e + 1]
                c = c0
                while c + 4 <= c1:
                    a0 = a0 + weights[c] * g.tables[table + xa[c] * sa + xb[c] * sb]
                    a1 = a1 + weights[c + 1] * g.tables[table + xa[c + 1] * sa + xb[c + 1] * sb]
                    a2 = a2 + weights[c + 2] * g.tables[table + xa[c + 2] * sa + xb[c + 2] * sb]
                    a3 = a3 + weights[c + 3] * g.tables[table + xa[c + 3] * sa + xb[c + 3] * sb]
                    c = c + 4
                while c < c1:
                    a0 = a0 + weights[c] * g.tables[table + xa[c] * sa + xb[c] * sb]
                    c = c + 1
            else:
                c = c0
                while c + 4 <= c1:
                    a0 = a0 + weights[c] * g.tables[table + chain_joint(g, x, n_chains, c, f)]
                    a1 = a1 + weights[c + 1] * g.tables[table + chain_joint(g, x, n_chains, c + 1, f)]
                    a2 = a2 + weights[c + 2] * g.tables[table + chain_joint(g, x, n_chains, c + 2, f)]
                    a3 = a3 + weights[c + 3] * g.tables[table + chain_joint(g, x, n_chains, c + 3, f)]
                    c = c + 4
                while c < c1:
                    a0 = a0 + weights[c] * g.tables[table + chain_joint(g, x, n_chains, c, f)]
                    c = c + 1
            theta = g.factor_theta[f]
            block_sums[b, theta] = block_sums[b, theta] + ((a0 + a1) + (a2 + a3))


def weighted_block_sums(GraphView g, const int32_t[::1] x, const double[::1] weights, int64_t n_chains,
                        int64_t block_size, int n_threads):
    """Σ_c weights[c] f(x^c) over each block of ``block_size`` chains, shape (n_blocks, n_features),
    in one pass over the states.

    Each block has its own row of sums; adding the rows in block order gives the same bits for
    any thread count. No (chains x features) matrix is formed.
    """
    cdef int64_t n_blocks = max((n_chains + block_size - 1) // block_size, 1)
    sums = np.zeros((n_blocks, g.n_features))
    cdef double[:, ::1] view = sums
    with nogil:
        weighted_block_pass(g, &x[0], &weights[0], view, n_chains, block_size, n_threads)
    return sums


def init_states(GraphView g, int32_t[::1] x, const uint32_t[::1] key, int64_t n_chains,
                int64_t first_chain):
    """Uniformly random initial states from the generator's init stream (chain-count invariant)."""
    cdef int64_t c
    cdef int32_t v
    cdef double[::1] u = np.empty(max(n_chains, 1))
    with nogil:
        for v in range(g.n_variables):
            fg_uniforms(&key[0], <uint32_t>v, 0, 1, first_chain, n_chains, &u[0], simd_level())
            for c in range(n_chains):
                x[v * n_chains + c] = <int32_t>(u[c] * g.n_states[v])
    return None
