# cython: language_level=3
"""The kernels' vector-level switch, for the sweeps to cimport (see samplers/_random.pyx)."""


cdef int simd_level() noexcept nogil
