# cython: language_level=3
"""The block Gibbs sweep: exact joint updates of blocks of variables, colour by colour.

A block B is a set of variables updated together: for each chain, the energy θ·f of every
joint state of B (the rest of the chain held fixed) is summed over the factors that touch B,
one joint state is drawn from exp(energy) exactly, and the running feature sums move by the
table differences of those factors, each factor once however many of B's variables it holds.
Blocks of one colour share no factor, so their updates are independent; the sweep visits the
colour classes in order and, within a class, runs its (block, block of chains) items in
parallel.

The layout is that of the Gibbs sweep (samplers/_gibbs.pyx): states chain-innermost,
x[v * n_chains + c], and running sums per fixed block of chains. Each item is the same
computation whichever thread runs it, and the features of one colour's blocks are disjoint,
so states and sums are bit-identical for any thread count.

Random numbers: one uniform per (chain, sweep, block) from the generator's stream 8, counted
under the block's first variable (blocks are disjoint, so no two share a counter). Gibbs uses
stream 0, the initial states 1, Metropolis-Hastings 2 and 3, Swendsen-Wang 4 to 7; stream 9
is kept for block moves to come.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

import numpy as np

from factorgraph._kernels cimport GraphView, factor_energy
from samplers._core cimport add_factor, chain_joint
from samplers._driver cimport SweepKernel, run_sweeps
from samplers._unionfind cimport find, link
from samplers._random cimport simd_level
from samplers._rng cimport fg_categorical_draws, fg_uniforms

#: The generator's stream for the block draws.
STREAM_BLOCK = 8
cdef uint32_t BLOCK_STREAM = STREAM_BLOCK


cdef class Blocks:
    """The blocks of a sweep, in update order, with the factors that touch each.

    Parameters
    ----------
    g : GraphView
        The compiled graph.
    block_ptr : ndarray of shape (n_blocks + 1,), int64
        CSR pointers: block b holds ``block_vars[block_ptr[b]:block_ptr[b + 1]]``. Blocks are
        listed colour class by colour class.
    block_vars : ndarray, int32
        The variables of every block, each variable at most once. A block's joint states are
        numbered row-major over its variables in this order (the last variable fastest).
    color_ptr : ndarray of shape (n_colors + 1,), int64
        CSR of the colour classes over the blocks: colour c holds blocks
        ``color_ptr[c]:color_ptr[c + 1]``. Blocks of one colour must share no factor.

    Notes
    -----
    Built here for each block: the distinct factors that touch it, grouped by *level*, the
    position within the block of the last of the block's variables that the factor holds
    (``factors[level_ptr[p]:level_ptr[p + 1]]`` for the variable at position p of
    ``block_vars``, increasing factor ids within a level); and for each block variable the
    entries (``entry_ptr`` over ``block_vars``) naming the local index of each of its factors
    in the block's list and the variable's stride in the factor's joint-state index.
    """

    cdef readonly object block_ptr_arr, block_vars_arr, color_ptr_arr, n_joint_arr
    cdef readonly int64_t max_joint, max_factors, max_vars
    cdef const int64_t[::1] block_ptr
    cdef const int32_t[::1] block_vars
    cdef const int64_t[::1] color_ptr
    cdef const int64_t[::1] n_joint
    cdef const int64_t[::1] level_ptr
    cdef const int64_t[::1] factors
    cdef const int64_t[::1] entry_ptr
    cdef const int32_t[::1] entry_local
    cdef const int64_t[::1] entry_stride

    def __init__(self, GraphView g, block_ptr, block_vars, color_ptr):
        block_ptr = np.ascontiguousarray(block_ptr, dtype=np.int64)
        block_vars = np.ascontiguousarray(block_vars, dtype=np.int32)
        color_ptr = np.ascontiguousarray(color_ptr, dtype=np.int64)
        n_blocks = len(block_ptr) - 1
        if (n_blocks < 0 or block_ptr[0] != 0 or block_ptr[n_blocks] != len(block_vars)
                or (np.diff(block_ptr) < 1).any()
                or color_ptr[0] != 0 or color_ptr[len(color_ptr) - 1] != n_blocks or (np.diff(color_ptr) < 0).any()
                or (len(block_vars) and (block_vars.min() < 0 or block_vars.max() >= g.n_variables))
                or len(np.unique(block_vars)) != len(block_vars)):
            raise ValueError("Blocks needs non-empty blocks of distinct variables of the graph, listed by colour")
        var_ptr = np.asarray(g.var_ptr)
        n_states = np.asarray(g.n_states).astype(np.int64)
        n_factors = max(g.n_factors, 1)
        block_of = np.repeat(np.arange(n_blocks, dtype=np.int64), np.diff(block_ptr))
        # every (variable, factor) entry of every block variable, in block order
        degree = np.diff(var_ptr)[block_vars]
        entry_ptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
        entries = np.repeat(var_ptr[block_vars] - entry_ptr[:len(block_vars)], degree) + np.arange(degree.sum())
        entry_factor = np.asarray(g.var_factors)[entries]
        position = np.repeat(np.arange(len(block_vars), dtype=np.int64), degree)
        # the distinct (block, factor) pairs, each at the level of its last block variable
        unique, inverse = np.unique(block_of[position] * n_factors + entry_factor, return_inverse=True)
        inverse = inverse.ravel()
        level = np.zeros(len(unique), dtype=np.int64)
        np.maximum.at(level, inverse, position)
        order = np.lexsort((unique % n_factors, level))  # levels increase with the block
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        level_ptr = np.concatenate([[0], np.cumsum(np.bincount(level, minlength=len(block_vars)))]).astype(np.int64)
        first_factor = level_ptr[block_ptr[:n_blocks]]
        self.factors = (unique % n_factors)[order].astype(np.int64)
        self.level_ptr = level_ptr
        self.entry_ptr = entry_ptr
        self.entry_local = (rank[inverse] - first_factor[block_of[position]]).astype(np.int32)
        strides_at = np.asarray(g.factor_ptr)[entry_factor] + np.asarray(g.var_pos)[entries]
        self.entry_stride = np.asarray(g.factor_strides)[strides_at].astype(np.int64)
        n_joint = (np.multiply.reduceat(n_states[block_vars], block_ptr[:n_blocks]) if n_blocks
                   else np.zeros(0, np.int64))
        self.block_ptr_arr, self.block_vars_arr, self.color_ptr_arr = block_ptr, block_vars, color_ptr
        self.n_joint_arr = n_joint.astype(np.int64)
        self.block_ptr, self.block_vars = block_ptr, block_vars
        self.color_ptr, self.n_joint = color_ptr, self.n_joint_arr
        self.max_joint = int(n_joint.max(initial=1))
        self.max_factors = int(np.diff(level_ptr[block_ptr]).max(initial=1))
        self.max_vars = int(np.diff(block_ptr).max(initial=1))


cdef void block_offsets(Blocks bl, const int32_t* x, int64_t n_chains, int64_t c, int64_t b,
                        int64_t* offset) noexcept nogil:
    """offset[q] = the part of local factor q's joint-state index due to block b's variables,
    at their states in chain c."""
    cdef int64_t i, e
    cdef int32_t s
    for i in range(bl.level_ptr[bl.block_ptr[b + 1]] - bl.level_ptr[bl.block_ptr[b]]):
        offset[i] = 0
    for i in range(bl.block_ptr[b], bl.block_ptr[b + 1]):
        s = x[bl.block_vars[i] * n_chains + c]
        for e in range(bl.entry_ptr[i], bl.entry_ptr[i + 1]):
            offset[bl.entry_local[e]] += s * bl.entry_stride[e]


cdef int64_t update_item(GraphView g, Blocks bl, int32_t* x, const double[::1] theta, double* sums,
                         const uint32_t* key, int64_t n_chains, int64_t first_chain, int64_t c0, int64_t c1,
                         int64_t b, uint64_t sweep, double* energy, double* u, double* partial, int64_t* base,
                         int64_t* old, int64_t* inner, int32_t* digit) noexcept nogil:
    """Redraw block b jointly in chains c0..c1-1; returns how many variables changed state.

    Scratch: ``energy`` holds the block's joint-state count of doubles, ``u`` one double per
    chain of the item, ``partial`` one double per variable of the block, ``base``, ``old``
    and ``inner`` one int64 per factor of the block and ``digit`` one int32 per variable.

    The joint states J are enumerated row-major (the last variable fastest) by an odometer
    that moves the block's part of each factor's index as a digit turns. The energy is summed
    level by level: ``partial[i]`` is the energy of the factors whose last block variable is at
    position <= i, which stays valid while only later digits turn, so a step that turns digits
    i.. recomputes levels i.. only (most steps: the factors of the last variable alone). Every
    energy is thus a fresh sum of factor energies, never a running difference.
    """
    cdef int64_t lo = bl.block_ptr[b], nv = bl.block_ptr[b + 1] - lo
    cdef int64_t flo = bl.level_ptr[lo], nf = bl.level_ptr[lo + nv] - flo, K = bl.n_joint[b]
    cdef int64_t c, q, i, e, J, start, changed = 0, moved
    cdef int32_t v, k, drawn
    cdef double total
    fg_uniforms(key, <uint32_t>bl.block_vars[lo], sweep, BLOCK_STREAM, first_chain + c0, c1 - c0, u, simd_level())
    for c in range(c0, c1):
        # each factor's joint index = base (its variables outside the block) + the block's part
        block_offsets(bl, x, n_chains, c, b, old)
        for q in range(nf):
            base[q] = chain_joint(g, x, n_chains, c, bl.factors[flo + q]) - old[q]
            inner[q] = 0
        for i in range(nv):
            digit[i] = 0
        start = 0
        for J in range(K):
            for i in range(start, nv):
                total = partial[i - 1] if i > 0 else 0.0
                for q in range(bl.level_ptr[lo + i] - flo, bl.level_ptr[lo + i + 1] - flo):
                    total += factor_energy(g, theta, bl.factors[flo + q], base[q] + inner[q])
                partial[i] = total
            energy[J] = partial[nv - 1]
            # turn the odometer: the last digit up, carrying into earlier ones
            i = nv - 1
            while i >= 0 and J + 1 < K:
                v = bl.block_vars[lo + i]
                digit[i] += 1
                if digit[i] < g.n_states[v]:
                    for e in range(bl.entry_ptr[lo + i], bl.entry_ptr[lo + i + 1]):
                        inner[bl.entry_local[e]] += bl.entry_stride[e]
                    break
                for e in range(bl.entry_ptr[lo + i], bl.entry_ptr[lo + i + 1]):
                    inner[bl.entry_local[e]] -= (g.n_states[v] - 1) * bl.entry_stride[e]
                digit[i] = 0
                i -= 1
            start = i
        fg_categorical_draws(1, <int32_t>K, energy, &u[c - c0], &drawn)
        # write the drawn joint state, last variable first
        moved = 0
        J = drawn
        for i in range(nv - 1, -1, -1):
            v = bl.block_vars[lo + i]
            k = g.n_states[v]
            if x[v * n_chains + c] != <int32_t>(J % k):
                x[v * n_chains + c] = <int32_t>(J % k)
                moved += 1
            J //= k
        if moved:
            # each factor of the block once: out with its old joint state, in with the new
            changed += moved
            block_offsets(bl, x, n_chains, c, b, inner)
            for q in range(nf):
                if inner[q] != old[q]:
                    add_factor(g, sums, bl.factors[flo + q], base[q] + old[q], -1.0)
                    add_factor(g, sums, bl.factors[flo + q], base[q] + inner[q], 1.0)
    return changed


cdef class BlockSweep(SweepKernel):
    """The joint redraw of one block of variables in one block of chains, for the shared driver."""

    cdef Blocks blocks
    cdef double[:, ::1] energy
    cdef int64_t[:, ::1] ints
    cdef int32_t[:, ::1] digits
    cdef int64_t bs, nf, nk

    cdef int64_t update(self, int64_t b, int64_t c0, int64_t c1, int64_t item, int64_t colour,
                        uint64_t sweep, int tid) noexcept nogil:
        cdef int64_t nk = self.nk, nf = self.nf
        return update_item(self.g, self.blocks, self.x, self.theta, &self.block_sums[b, 0], self.key,
                           self.n_chains, self.first_chain, c0, c1, item, sweep, &self.energy[tid, 0],
                           &self.energy[tid, nk], &self.energy[tid, nk + self.bs], &self.ints[tid, 0],
                           &self.ints[tid, nf], &self.ints[tid, 2 * nf], &self.digits[tid, 0])


def sweep(GraphView g, Blocks blocks, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const uint32_t[::1] key, int64_t n_chains, int64_t first_chain, int64_t block_size,
          uint64_t first_sweep, int64_t n_sweeps, int n_threads):
    """Run ``n_sweeps`` block Gibbs sweeps in place; returns the number of variables that changed.

    The items are the blocks of variables, listed colour by colour; the schedule is the shared
    driver's (samplers/_driver.pyx), so every item is the same computation whichever thread
    runs it and the schedule changes no result.
    """
    cdef int64_t n_blocks = blocks.block_ptr.shape[0] - 1
    cdef int threads = max(n_threads, 1)
    cdef int64_t bs = max(min(block_size, n_chains), 1)
    if n_sweeps <= 0 or n_chains <= 0 or n_blocks == 0:
        return 0
    cdef BlockSweep kernel = BlockSweep.__new__(BlockSweep)
    kernel.bind(g, x, theta, block_sums, key, n_chains, first_chain)
    kernel.blocks, kernel.bs = blocks, bs
    kernel.nf, kernel.nk = blocks.max_factors, blocks.max_joint
    kernel.energy = np.zeros((threads, kernel.nk + bs + blocks.max_vars))  # energies, uniforms, partial sums
    kernel.ints = np.zeros((threads, 3 * kernel.nf), dtype=np.int64)
    kernel.digits = np.zeros((threads, blocks.max_vars), dtype=np.int32)
    return run_sweeps(kernel, blocks.color_ptr, block_sums.shape[0], block_size, n_chains, first_sweep, n_sweeps,
                      threads)


def greedy_blocks(const int32_t[::1] n_states, const int32_t[::1] first, const int32_t[::1] second,
                  int64_t max_joint_states):
    """Merge variables into blocks along the given pairs, in the given order.

    Each pair (first[i], second[i]) joins the blocks of its two variables when they differ and
    the product of their joint-state counts is at most ``max_joint_states`` (union-find).
    Returns each variable's block label: the smallest variable of its block.
    """
    cdef Py_ssize_t n = n_states.shape[0], i
    parent_arr = np.arange(n, dtype=np.int64)
    joint_arr = np.asarray(n_states).astype(np.int64)
    cdef int64_t[::1] parent = parent_arr
    cdef int64_t[::1] joint = joint_arr
    cdef int64_t a, r, s
    if n == 0:
        return parent_arr
    with nogil:
        for i in range(first.shape[0]):
            r = find(&parent[0], <int64_t>first[i])
            s = find(&parent[0], <int64_t>second[i])
            if r == s or joint[r] * joint[s] > max_joint_states:
                continue
            link(&parent[0], r, s)  # the smaller root stays, so a root is its block's smallest variable
            joint[min(r, s)] *= joint[max(r, s)]
        for a in range(n):
            parent[a] = find(&parent[0], a)
    return parent_arr
