# cython: language_level=3
"""The Metropolis-Hastings sweep: colour by colour, in (variable, block of chains) items.

Each item proposes a new state for variable v in every chain of a block, accepts it with
probability min(1, exp(E(new) - E(old))) (E = θ·f, the log of the unnormalised probability) and
moves the block's running feature sums for the accepted changes. The proposals are symmetric,
so no Hastings correction is needed (see ``propose``). The layout is that of the Gibbs sweep
(samplers/_gibbs.pyx) and the schedule the shared driver's (samplers/_driver.pyx): states
chain-innermost, sums per fixed block of chains, and every item the same computation
whichever thread runs it, so states, sums and acceptance counts are bit-identical for any
thread count.

Random numbers: one uniform per (chain, sweep, variable) from stream 2 picks the proposal and
one from stream 3 decides its acceptance; Gibbs uses stream 0 and the initial states stream 1.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t

import numpy as np

from samplers._core import thread_counts

from factorgraph._kernels cimport GraphView, factor_energy
from samplers._core cimport chain_joint, commit_changes
from samplers._driver cimport SweepKernel, run_sweeps
from samplers._random cimport simd_level
from samplers._rng cimport fg_exp_neg, fg_uniforms

#: The generator's streams for the proposals and the acceptance draws.
STREAM_PROPOSAL = 2
STREAM_ACCEPT = 3
cdef uint32_t PROPOSAL_STREAM = STREAM_PROPOSAL
cdef uint32_t ACCEPT_STREAM = STREAM_ACCEPT

# counts per colour (and per thread in a sweep): proposals, accepted proposals, state changes
cdef int N_COUNTS = 3


cdef class Moves:
    """What each variable proposes: uniform over its other states, or a reflected random walk.

    Parameters
    ----------
    walk : ndarray of shape (n_variables,), int8
        1 where the variable takes random-walk proposals, 0 for uniform ones. Variables with
        two states always propose their other state (see ``propose``).
    step : int
        The largest random-walk step w >= 1, in states.
    offset : ndarray of shape (n_variables,), int64
        Where each variable's domain starts in ``order`` (the compiled graph's value offsets).
    order : ndarray, int32
        Laid out like the compiled graph's ``values``: for the domain at offset o with k
        states, ``order[o:o + k]`` lists its states from the lowest value to the highest. The
        walk moves through this order.
    n_states : ndarray of shape (n_variables,), int32
    color_ptr : ndarray of shape (n_colors + 1,), int64
        The compiled graph's colour classes, whose acceptance counts are kept apart.
    """

    cdef readonly object walk_arr, offset_arr, order_arr, n_states_arr, color_ptr_arr
    cdef readonly int32_t step
    cdef const int8_t[::1] walk
    cdef const int64_t[::1] offset
    cdef const int32_t[::1] order
    cdef const int32_t[::1] rank

    def __init__(self, walk, int32_t step, offset, order, n_states, color_ptr):
        walk = np.ascontiguousarray(walk, dtype=np.int8)
        offset = np.ascontiguousarray(offset, dtype=np.int64)
        order = np.ascontiguousarray(order, dtype=np.int32)
        k = np.asarray(n_states, dtype=np.int64)
        color_ptr = np.asarray(color_ptr, dtype=np.int64)
        n = k.shape[0]
        if (walk.shape != (n,) or offset.shape != (n,) or step < 1 or color_ptr[len(color_ptr) - 1] != n
                or (n and (offset.min() < 0 or (offset + k).max() > order.shape[0]))):
            raise ValueError("Moves needs one walk flag and one offset per variable, an order covering "
                             "every domain, colour classes of every variable, and step >= 1")
        # rank[o + s]: the position of state s in its domain's order (the inverse permutation)
        rank = np.zeros_like(order)
        for o, size in np.unique(np.stack([offset, k], axis=1), axis=0).tolist():
            rank[o + order[o:o + size]] = np.arange(size, dtype=np.int32)
        self.walk_arr, self.offset_arr, self.order_arr = walk, offset, order
        self.n_states_arr, self.color_ptr_arr = k, color_ptr
        self.walk = walk
        self.offset = offset
        self.order = order
        self.rank = rank
        self.step = step

    def __reduce__(self):
        return (Moves, (self.walk_arr, self.step, self.offset_arr, self.order_arr, self.n_states_arr,
                        self.color_ptr_arr))


cdef inline int32_t propose(Moves m, int32_t v, int32_t k, int32_t old, double u) noexcept nogil:
    """The state that variable v (k >= 2 states, now in state ``old``) proposes for uniform u.

    Uniform: one of the k - 1 other states, each with probability 1 / (k - 1); symmetric.

    Random walk, on the ranks r = 0..k-1 of the states in value order: an offset d is drawn
    from D = {-w..-1, 1..w}, each with probability 1 / (2w), and r + d is folded back into
    0..k-1 by mirrors half a state beyond each end: fold(y) takes y modulo P = 2k and maps
    y >= k to P - 1 - y (so -1 -> 0, -2 -> 1, k -> k - 1, k + 1 -> k - 2, and so on for any w).

    Why this is symmetric, q(r -> t) = q(t -> r) for all ranks r, t: fold(y) = t exactly when
    y = t or y = -1 - t (mod P). These two residues differ, since their difference 2t + 1 is odd
    and P even, so q(r -> t) = (N(t - r) + N(-1 - t - r)) / (2w), where N(a) counts the
    d in D with d = a (mod P). D is closed under negation, so N(a) = N(-a), and
    q(t -> r) = (N(r - t) + N(-1 - r - t)) / (2w) = (N(t - r) + N(-1 - t - r)) / (2w). The
    mirror sitting on an end state (y < 0 -> -y) would not be symmetric: with k = 3, w = 1 it
    proposes 1 from 0 with probability 1 but 0 from 1 with probability 1/2.

    The price of the half-state mirrors is that a walk can propose staying put at the ends (for
    example from rank 0 with d = -1); such a proposal is accepted trivially and changes nothing.
    A two-state variable would waste half its proposals that way, so it always proposes its
    other state instead (the uniform proposal, also symmetric).
    """
    cdef int64_t j, y, period, base
    if m.walk[v] == 0 or k == 2:
        j = <int64_t>(u * (k - 1))
        if j > k - 2:  # u < 1 makes this impossible; the guard keeps the state in range regardless
            j = k - 2
        y = old + 1 + j
        return <int32_t>(y - k if y >= k else y)
    j = <int64_t>(u * (2 * m.step))
    if j > 2 * m.step - 1:
        j = 2 * m.step - 1
    base = m.offset[v]
    y = m.rank[base + old] + (j - m.step if j < m.step else j - m.step + 1)
    period = 2 * <int64_t>k
    y %= period
    if y < 0:
        y += period
    if y >= k:
        y = period - 1 - y
    return m.order[base + y]


cdef void update_item(GraphView g, Moves m, int32_t* x, const double[::1] theta, double* sums,
                      const uint32_t* key, int64_t n_chains, int64_t first_chain, int64_t c0, int64_t c1,
                      int32_t v, uint64_t sweep, double* scratch, int32_t* ints,
                      int64_t* counts) noexcept nogil:
    """One Metropolis-Hastings update of variable v in chains c0..c1-1.

    ``scratch`` holds three doubles per chain of the block (the proposal and acceptance
    uniforms, the energy changes), ``ints`` two ints per chain (the previous and the proposed
    states); ``counts`` (proposals, accepted, changed) of v's colour are incremented.
    The energy changes are summed factor by factor across the block's chains, so that the
    states of each factor's other variables are read contiguously and its table stays in
    cache; each chain still adds its factors' terms in the fixed order of v's factors.
    """
    cdef int32_t k = g.n_states[v], old, new
    cdef int64_t nb = c1 - c0, c, e, f, stride, base, accepted = 0, changed = 0
    cdef double* u_propose = scratch
    cdef double* u_accept = scratch + nb
    cdef double* d = scratch + 2 * nb
    cdef double half
    cdef int32_t* previous = ints
    cdef int32_t* proposed = ints + nb
    cdef int32_t* xv = x + v * n_chains + c0
    if k < 2:  # a one-state variable has nothing to propose
        return
    fg_uniforms(key, <uint32_t>v, sweep, PROPOSAL_STREAM, first_chain + c0, nb, u_propose, simd_level())
    fg_uniforms(key, <uint32_t>v, sweep, ACCEPT_STREAM, first_chain + c0, nb, u_accept, simd_level())
    for c in range(nb):
        previous[c] = xv[c]
        proposed[c] = propose(m, v, k, xv[c], u_propose[c])
        d[c] = 0.0
    # E(new) - E(old) for each chain
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        f = g.var_factors[e]
        stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
        for c in range(nb):
            old = previous[c]
            new = proposed[c]
            if new != old:
                base = chain_joint(g, x, n_chains, c0 + c, f) - old * stride
                d[c] += (factor_energy(g, theta, f, base + new * stride)
                         - factor_energy(g, theta, f, base + old * stride))
    for c in range(nb):
        # accept with probability min(1, e^d): always when d > 0, else when u < e^d; a walk
        # reflected onto its start (new == old) is accepted and moves nothing. A two-state
        # variable's flip with d == 0 is accepted with probability 1/2 (u < e^d / 2): with
        # probability 1 a variable whose energy never changes (no factors, or all its θ zero)
        # would flip every sweep in lockstep, a periodic chain. The ratio a(d) / a(-d) = e^d
        # that detailed balance needs holds either way.
        half = 0.5 if k == 2 and d[c] == 0.0 else 1.0
        if proposed[c] == previous[c] or d[c] > 0.0 or u_accept[c] < fg_exp_neg(d[c]) * half:
            accepted += 1
            if proposed[c] != previous[c]:
                xv[c] = proposed[c]
                changed += 1
    if changed:
        commit_changes(g, x, sums, n_chains, c0, c1, v, previous)
    counts[0] += nb
    counts[1] += accepted
    counts[2] += changed


cdef class MetropolisSweep(SweepKernel):
    """The Metropolis-Hastings update of one variable in one block of chains, for the shared driver."""

    cdef Moves moves
    cdef double[:, ::1] scratch
    cdef int32_t[:, ::1] ints
    cdef int64_t[:, :, :] per_thread  # strided: the threads' slices are apart

    cdef int64_t update(self, int64_t b, int64_t c0, int64_t c1, int64_t item, int64_t colour,
                        uint64_t sweep, int tid) noexcept nogil:
        update_item(self.g, self.moves, self.x, self.theta, &self.block_sums[b, 0], self.key, self.n_chains,
                    self.first_chain, c0, c1, self.g.color_vars[item], sweep, &self.scratch[tid, 0],
                    &self.ints[tid, 0], &self.per_thread[tid, colour, 0])
        return 0  # the changes are counted per colour in per_thread


def sweep(GraphView g, Moves moves, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const uint32_t[::1] key, int64_t n_chains, int64_t first_chain, int64_t block_size,
          uint64_t first_sweep, int64_t n_sweeps, int n_threads, int64_t[:, ::1] counts):
    """Run ``n_sweeps`` Metropolis-Hastings sweeps in place.

    ``counts``, shape (n_colors, 2), receives per colour the proposals and the accepted
    proposals (added to what it holds). Returns the number of state changes. The schedule is
    the shared driver's (samplers/_driver.pyx); the counts are integers summed per thread, so
    the schedule changes no result.
    """
    cdef int64_t n_blocks = block_sums.shape[0]
    cdef int n_colors = g.color_ptr.shape[0] - 1
    cdef int threads = max(n_threads, 1)
    cdef int64_t bs = max(min(block_size, n_chains), 1)
    if counts.shape[0] != n_colors or counts.shape[1] != 2:
        raise ValueError(f"counts must have shape ({n_colors}, 2)")
    if n_sweeps <= 0 or n_chains <= 0 or g.n_variables == 0:
        return 0
    per_thread_arr = thread_counts(threads, (n_colors, N_COUNTS))
    cdef MetropolisSweep kernel = MetropolisSweep.__new__(MetropolisSweep)
    kernel.bind(g, x, theta, block_sums, key, n_chains, first_chain)
    kernel.moves = moves
    kernel.scratch = np.zeros((threads, 3 * bs))
    kernel.ints = np.zeros((threads, 2 * bs), dtype=np.int32)
    kernel.per_thread = per_thread_arr
    run_sweeps(kernel, g.color_ptr, n_blocks, block_size, n_chains, first_sweep, n_sweeps, threads)
    total = per_thread_arr.sum(axis=0)  # integers: the same whatever thread counted what
    cdef int64_t[:, ::1] tot = total
    cdef int64_t colour
    for colour in range(n_colors):
        counts[colour, 0] += tot[colour, 0]
        counts[colour, 1] += tot[colour, 1]
    return int(total[:, 2].sum())


def _py_propose(Moves moves, int32_t v, int32_t k, int32_t old, double u):
    """``propose`` from Python, for tests: the state variable v (k states) proposes from ``old``."""
    if not 0 <= v < moves.walk.shape[0] or k < 2 or not 0 <= old < k or not 0.0 <= u < 1.0:
        raise ValueError("_py_propose needs a variable, its k >= 2 states, one of them, and 0 <= u < 1")
    return propose(moves, v, k, old, u)
