# cython: language_level=3
"""The one sweep driver of the samplers on chain-innermost states (see samplers/_driver.pyx).

A sampler subclasses :class:`SweepKernel` with its per-item update; :func:`run_sweeps` runs it
over every (item, block of chains) of every sweep, colour by colour, on the thread schedule.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from factorgraph._kernels cimport GraphView


cdef class SweepKernel:
    cdef GraphView g
    cdef int32_t* x
    cdef const uint32_t* key
    cdef const double[::1] theta
    cdef double[:, ::1] block_sums
    cdef int64_t n_chains, first_chain

    cdef void bind(self, GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
                   const uint32_t[::1] key, int64_t n_chains, int64_t first_chain)
    cdef int64_t update(self, int64_t b, int64_t c0, int64_t c1, int64_t item, int64_t colour,
                        uint64_t sweep, int tid) noexcept nogil


cdef int64_t run_sweeps(SweepKernel kernel, const int64_t[::1] color_ptr, int64_t n_blocks, int64_t unit,
                        int64_t n_chains, uint64_t first_sweep, int64_t n_sweeps, int threads) except -1
