# cython: language_level=3
"""Counting the neighbours of each sequence of an alignment: the pairs within an identity threshold.

The M (M - 1) / 2 pairs are compared in tiles of TILE x TILE sequences, so that both tiles'
sequences stay in the cache while every pair between them is compared; threads take whole rows
of tiles, and each thread counts in its own row of counts (added at the end: integers, exact).
A pair's comparison stops once it has more mismatches than allowed, checked every 64 positions,
so that the many distant pairs of a large family cost a fraction of their length.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    /* The mismatches of a and b over n bytes, stopping once above limit (checked per 64). */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    __attribute__((target_clones("arch=x86-64-v3", "default")))
    #endif
    static int64_t fg_mismatches(const uint8_t *a, const uint8_t *b, int64_t n, int64_t limit)
    {
        int64_t total = 0, p = 0;
        for (; p + 64 <= n; p += 64) {
            int chunk = 0; /* a plain byte loop: vectorised */
            for (int i = 0; i < 64; i++)
                chunk += a[p + i] != b[p + i];
            total += chunk;
            if (total > limit)
                return total;
        }
        for (; p < n; p++)
            total += a[p] != b[p];
        return total;
    }
    """
    int64_t fg_mismatches(const uint8_t* a, const uint8_t* b, int64_t n, int64_t limit) noexcept nogil

cdef int64_t TILE = 64


def neighbour_counts(const uint8_t[:, ::1] seqs, int64_t max_mismatches, int n_threads=1):
    """For each row of ``seqs``, the rows (itself included) with at most ``max_mismatches``
    positions that differ; int64, one per row."""
    cdef int64_t m = seqs.shape[0], length = seqs.shape[1], n_tiles = (m + TILE - 1) // TILE
    cdef int threads = max(1, min(n_threads, n_tiles))
    per_thread = np.zeros((threads, max(m, 1)), dtype=np.int64)
    cdef int64_t[:, ::1] counts = per_thread
    cdef int64_t ti, tj, i, j, i_end, j_start, j_end
    cdef int tid
    if m == 0:
        return np.zeros(0, dtype=np.int64)
    for ti in prange(n_tiles, nogil=True, num_threads=threads, schedule="dynamic"):
        tid = threadid()
        i_end = min((ti + 1) * TILE, m)
        for tj in range(ti, n_tiles):
            j_end = min((tj + 1) * TILE, m)
            for i in range(ti * TILE, i_end):
                j_start = i + 1 if tj == ti else tj * TILE
                for j in range(j_start, j_end):
                    if fg_mismatches(&seqs[i, 0], &seqs[j, 0], length, max_mismatches) <= max_mismatches:
                        counts[tid, i] += 1
                        counts[tid, j] += 1
    return per_thread.sum(axis=0) + 1
