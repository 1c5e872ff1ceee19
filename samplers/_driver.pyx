# cython: language_level=3
"""The one sweep driver: every sampler's (item, block of chains) updates, on one thread schedule.

An item is what one update changes: a variable (Gibbs, Metropolis-Hastings) or a block of
variables (block Gibbs). Items are listed colour by colour (``color_ptr``): items of one colour
share no factor, so their updates may run at once. Chains are cut into fixed blocks of ``unit``
chains; the update of one item in one block of chains is the same computation whichever thread
runs it, so the schedule is free and changes no bit:

* with at least two blocks of chains per thread, each thread takes whole blocks through every
  sweep (no barrier; a block's states stay in its core's cache);
* otherwise the (item, block) pairs of one colour are shared out, with a barrier between
  colours (threads then read the same tables at the same time, which suits dense models with
  few chains).

The varying part is :meth:`SweepKernel.update`: a sampler subclasses the kernel, keeps what its
update needs (the graph, the states, θ, its scratch space per thread) and returns the number of
states the update changed.
"""

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from factorgraph._kernels cimport GraphView

from samplers._core import thread_counts


cdef class SweepKernel:
    """Base class of the per-item updates that :func:`run_sweeps` drives: it holds what every
    update reads (the graph, the chain-innermost states, θ, the block sums, the generator key)."""

    cdef void bind(self, GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
                   const uint32_t[::1] key, int64_t n_chains, int64_t first_chain):
        """Point the kernel at one sweep call's arrays (non-empty; the caller keeps them alive)."""
        self.g, self.theta, self.block_sums = g, theta, block_sums
        self.x, self.key = &x[0], &key[0]
        self.n_chains, self.first_chain = n_chains, first_chain

    cdef int64_t update(self, int64_t b, int64_t c0, int64_t c1, int64_t item, int64_t colour,
                        uint64_t sweep, int tid) noexcept nogil:
        """Update ``item`` (of colour ``colour``) in chains ``c0 .. c1 - 1`` (block ``b``) at sweep
        ``sweep``, on thread ``tid``; returns the number of states that changed."""
        return 0


cdef int64_t run_sweeps(SweepKernel kernel, const int64_t[::1] color_ptr, int64_t n_blocks, int64_t unit,
                        int64_t n_chains, uint64_t first_sweep, int64_t n_sweeps, int threads) except -1:
    """Run ``n_sweeps`` sweeps of ``kernel`` over the items of ``color_ptr`` and ``n_blocks``
    blocks of ``unit`` chains; returns the states changed (counted per thread, then added)."""
    cdef int n_colors = color_ptr.shape[0] - 1
    cdef int64_t t, colour, lo, hi, item, b, c0, c1, i
    cdef int tid
    changes_arr = thread_counts(threads, (1,))
    cdef int64_t[:, :] changes = changes_arr  # strided: the threads' rows are apart
    if n_sweeps <= 0 or n_chains <= 0 or n_colors <= 0:
        return 0
    if n_blocks >= 2 * threads:
        for b in prange(n_blocks, nogil=True, num_threads=threads, schedule="dynamic"):
            tid = threadid()
            c0 = b * unit
            c1 = min(c0 + unit, n_chains)
            for t in range(n_sweeps):
                for colour in range(n_colors):
                    for i in range(color_ptr[colour], color_ptr[colour + 1]):
                        changes[tid, 0] += kernel.update(b, c0, c1, i, colour, first_sweep + t, tid)
    else:
        t = colour = lo = hi = 0
        tid = 0
        with nogil, parallel(num_threads=threads):
            tid = threadid()
            for t in range(n_sweeps):
                for colour in range(n_colors):
                    lo = color_ptr[colour]
                    hi = color_ptr[colour + 1]
                    for item in prange((hi - lo) * n_blocks, schedule="static"):
                        b = item % n_blocks
                        c0 = b * unit
                        c1 = min(c0 + unit, n_chains)
                        changes[tid, 0] += kernel.update(b, c0, c1, lo + item // n_blocks, colour,
                                                         first_sweep + t, tid)
    return int(changes_arr.sum())
