# cython: language_level=3
"""Python access to the kernels' counter-based generator, for tests and reference samplers."""

from libc.stdint cimport int64_t, uint64_t

import numpy as np

from samplers._rng cimport philox4x64_10, uniforms4

#: Streams of the counter's fourth word: one per purpose, so draws never collide.
STREAM_UPDATE = 0
STREAM_INIT = 1


def philox(counter, key):
    """Philox4x64-10 of a 4-word counter and 2-word key (uint64 arrays); returns 4 words."""
    cdef uint64_t[::1] c = np.ascontiguousarray(counter, dtype=np.uint64)
    cdef uint64_t[::1] k = np.ascontiguousarray(key, dtype=np.uint64)
    out = np.empty(4, dtype=np.uint64)
    cdef uint64_t[::1] o = out
    philox4x64_10(&c[0], &k[0], &o[0])
    return out


def uniforms(key, uint64_t variable, int64_t first_chain, int64_t n_chains, uint64_t sweep, uint64_t stream=0):
    """The uniforms the kernels draw for chains first_chain .. first_chain+n_chains-1."""
    cdef uint64_t[::1] k = np.ascontiguousarray(key, dtype=np.uint64)
    out = np.empty(n_chains)
    cdef double[::1] o = out
    cdef double four[4]
    cdef int64_t c
    for c in range(first_chain, first_chain + n_chains):
        if c == first_chain or c % 4 == 0:
            uniforms4(&k[0], variable, <uint64_t>(c // 4), sweep, stream, four)
        o[c - first_chain] = four[c % 4]
    return out
