# cython: language_level=3
"""Counting the neighbours of each sequence of an alignment: the pairs within an identity threshold.

The M (M - 1) / 2 pairs are compared in tiles of TILE x TILE sequences, so that both tiles'
sequences stay in the cache while every pair between them is compared; threads take whole rows
of tiles, and each thread counts in its own row of counts (added at the end: integers, exact).
A pair's comparison stops once it has more mismatches than allowed, so that the many distant
pairs of a large family cost a fraction of their length. It is checked every 64 positions from
the 128th on: a check after the first 64 goes either way for unrelated pairs, and its
mispredicted branches cost more than comparing the second 64 (measured: twice the speed). The
bytes are compared 32 at a time in AVX2 registers where the machine has them, else 8 at a time
in a 64-bit word; the pair loops are in C, so the comparison is inlined into them.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>

    /* The differing bytes of two 8-byte words: a byte of x = a ^ b is zero where they agree;
     * the classic test sets the high bit of each zero byte (no carries cross bytes). */
    static inline int fg_differing8(uint64_t a, uint64_t b)
    {
        const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
        uint64_t x = a ^ b, zero = ~(((x & low7) + low7) | x | low7);
        return 8 - __builtin_popcountll(zero);
    }

    /* The mismatches of a and b over n bytes, stopping once above limit (checked per 64). */
    static inline int64_t fg_mismatches_portable(const uint8_t *a, const uint8_t *b, int64_t n, int64_t limit)
    {
        int64_t total = 0, p = 0;
        for (; p + 64 <= n; p += 64) {
            for (int i = 0; i < 64; i += 8) {
                uint64_t x, y;
                memcpy(&x, a + p + i, 8);
                memcpy(&y, b + p + i, 8);
                total += fg_differing8(x, y);
            }
            if (p > 0 && total > limit) /* from the second chunk on: a well predicted branch */
                return total;
        }
        for (; p < n; p++)
            total += a[p] != b[p];
        return total;
    }

    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    #include <immintrin.h>
    #define FG_HAVE_AVX2_MISMATCHES 1
    /* The same count, 32 bytes a comparison: the equal bytes' mask bits, counted. */
    __attribute__((target("avx2,popcnt"))) static inline int64_t fg_mismatches_avx2(const uint8_t *a,
                                                                                const uint8_t *b, int64_t n,
                                                                                int64_t limit)
    {
        int64_t total = 0, p = 0;
        for (; p + 64 <= n; p += 64) {
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + p));
            __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + p));
            __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + p + 32));
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + p + 32));
            uint64_t same = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a0, b0))
                            | (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a1, b1)) << 32;
            total += 64 - __builtin_popcountll(same);
            if (p > 0 && total > limit) /* from the second chunk on: a well predicted branch */
                return total;
        }
        for (; p < n; p++)
            total += a[p] != b[p];
        return total;
    }
    #endif

    /* The pairs (i, j) of rows i0 <= i < i1 and j0 <= j < j1 (j > i only, on the diagonal tile)
     * with at most limit mismatches: each such pair adds one to counts[i] and counts[j]. The
     * loops are here, in C, so that the comparison is inlined into them. */
    #define FG_TILE_COUNTS(NAME, ATTRIBUTE, MISMATCHES)                                                     \
        ATTRIBUTE static void NAME(const uint8_t *seqs, int64_t length, int64_t i0, int64_t i1, int64_t j0, \
                                   int64_t j1, int64_t limit, int64_t *counts)                             \
        {                                                                                                  \
            for (int64_t i = i0; i < i1; i++) {                                                            \
                const uint8_t *a = seqs + i * length;                                                      \
                for (int64_t j = j0 > i + 1 ? j0 : i + 1; j < j1; j++)                                     \
                    if (MISMATCHES(a, seqs + j * length, length, limit) <= limit) {                         \
                        counts[i]++;                                                                       \
                        counts[j]++;                                                                       \
                    }                                                                                      \
            }                                                                                              \
        }
    FG_TILE_COUNTS(fg_tile_counts_portable, , fg_mismatches_portable)
    #ifdef FG_HAVE_AVX2_MISMATCHES
    FG_TILE_COUNTS(fg_tile_counts_avx2, __attribute__((target("avx2,popcnt"))), fg_mismatches_avx2)
    #endif

    static int fg_identity_avx2 = -1;

    static void fg_tile_counts(const uint8_t *seqs, int64_t length, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                               int64_t limit, int64_t *counts)
    {
    #ifdef FG_HAVE_AVX2_MISMATCHES
        if (fg_identity_avx2 > 0) {
            fg_tile_counts_avx2(seqs, length, i0, i1, j0, j1, limit, counts);
            return;
        }
    #endif
        fg_tile_counts_portable(seqs, length, i0, i1, j0, j1, limit, counts);
    }

    /* Look the machine up once, before the threads start. */
    static void fg_identity_setup(int portable_only)
    {
    #ifdef FG_HAVE_AVX2_MISMATCHES
        fg_identity_avx2 = !portable_only && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    #else
        fg_identity_avx2 = 0;
    #endif
    }
    """
    void fg_identity_setup(int portable_only) noexcept nogil
    void fg_tile_counts(const uint8_t* seqs, int64_t length, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                        int64_t limit, int64_t* counts) noexcept nogil

cdef int64_t TILE = 64


def neighbour_counts(const uint8_t[:, ::1] seqs, int64_t max_mismatches, int n_threads=1, bint portable=False):
    """For each row of ``seqs``, the rows (itself included) with at most ``max_mismatches``
    positions that differ; int64, one per row. AVX2 compares 32 bytes at once where the machine
    has it (``portable`` asks for the plain code, which counts the same)."""
    cdef int64_t m = seqs.shape[0], length = seqs.shape[1], n_tiles = (m + TILE - 1) // TILE
    cdef int threads = max(1, min(n_threads, n_tiles))
    per_thread = np.zeros((threads, max(m, 1)), dtype=np.int64)
    cdef int64_t[:, ::1] counts = per_thread
    cdef int64_t ti, tj
    cdef int tid
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    fg_identity_setup(portable)
    for ti in prange(n_tiles, nogil=True, num_threads=threads, schedule="dynamic"):
        tid = threadid()
        for tj in range(ti, n_tiles):
            fg_tile_counts(&seqs[0, 0], length, ti * TILE, min((ti + 1) * TILE, m), tj * TILE,
                           min((tj + 1) * TILE, m), max_mismatches, &counts[tid, 0])
    return per_thread.sum(axis=0) + 1
