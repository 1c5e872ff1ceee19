# cython: language_level=3
"""Counter-based random numbers for sampler kernels: Philox4x64-10 (Salmon et al., SC'11).

A draw is a pure function of (key, counter): no state is shared between threads, so chains
come out bit-identical for any thread count and any split of chains between workers. Kernels
use the counter (variable, chain // 4, sweep, stream) and take output word chain % 4, so the
random number of a (chain, sweep, variable, stream) depends on nothing else.
"""

from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    static inline void fg_mulhilo64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
        __uint128_t p = (__uint128_t)a * (__uint128_t)b;
        *hi = (uint64_t)(p >> 64);
        *lo = (uint64_t)p;
    }
    """
    void fg_mulhilo64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) noexcept nogil


cdef inline void philox4x64_10(const uint64_t* counter, const uint64_t* key, uint64_t* out) noexcept nogil:
    """Ten Philox rounds on a 4-word counter with a 2-word key; writes 4 random words."""
    cdef uint64_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3]
    cdef uint64_t k0 = key[0], k1 = key[1]
    cdef uint64_t hi0, lo0, hi1, lo1
    cdef int r
    for r in range(10):
        if r > 0:
            k0 += 0x9E3779B97F4A7C15ULL
            k1 += 0xBB67AE8584CAA73BULL
        fg_mulhilo64(0xD2E7470EE14C6C93ULL, c0, &hi0, &lo0)
        fg_mulhilo64(0xCA5A826395121157ULL, c2, &hi1, &lo1)
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
    out[0] = c0
    out[1] = c1
    out[2] = c2
    out[3] = c3


cdef inline double to_unit(uint64_t word) noexcept nogil:
    """The top 53 bits of a word as a double in [0, 1)."""
    return <double>(word >> 11) * (1.0 / 9007199254740992.0)


cdef inline void uniforms4(const uint64_t* key, uint64_t variable, uint64_t chain_group,
                           uint64_t sweep, uint64_t stream, double* out) noexcept nogil:
    """Four uniforms, for chains 4*chain_group .. 4*chain_group+3 of one (variable, sweep, stream)."""
    cdef uint64_t counter[4]
    cdef uint64_t words[4]
    counter[0] = variable
    counter[1] = chain_group
    counter[2] = sweep
    counter[3] = stream
    philox4x64_10(counter, key, words)
    out[0] = to_unit(words[0])
    out[1] = to_unit(words[1])
    out[2] = to_unit(words[2])
    out[3] = to_unit(words[3])
