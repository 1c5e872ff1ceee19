# cython: language_level=3
"""Graph colouring kernels on a CSR adjacency (int64 indptr, int32 indices)."""

from libc.stdint cimport int32_t, int64_t

import numpy as np


def greedy(const int64_t[::1] indptr, const int32_t[::1] indices, const int64_t[::1] order):
    """Colour vertices in ``order``, each with the smallest colour no coloured neighbour has.

    Uses at most max_degree + 1 colours. Returns an int32 array of colours.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1
    colors_arr = np.full(n, -1, dtype=np.int32)
    stamp_arr = np.full(n + 1, -1, dtype=np.int64)
    cdef int32_t[::1] colors = colors_arr
    cdef int64_t[::1] stamp = stamp_arr
    cdef Py_ssize_t i, v, e
    cdef int32_t c
    with nogil:
        for i in range(n):
            v = order[i]
            for e in range(indptr[v], indptr[v + 1]):
                c = colors[indices[e]]
                if c >= 0:
                    stamp[c] = i
            c = 0
            while stamp[c] == i:
                c += 1
            colors[v] = c
    return colors_arr


def two_color(const int64_t[::1] indptr, const int32_t[::1] indices):
    """Colour a bipartite graph with colours 0 and 1 by breadth-first search.

    Returns the int32 colours, or None when the graph has an odd cycle.
    """
    cdef Py_ssize_t n = indptr.shape[0] - 1
    colors_arr = np.full(n, -1, dtype=np.int32)
    queue_arr = np.empty(max(n, 1), dtype=np.int64)
    cdef int32_t[::1] colors = colors_arr
    cdef int64_t[::1] queue = queue_arr
    cdef Py_ssize_t root, head, tail, v, u, e
    cdef bint ok = True
    with nogil:
        for root in range(n):
            if colors[root] >= 0:
                continue
            colors[root] = 0
            head = 0
            tail = 1
            queue[0] = root
            while head < tail and ok:
                v = queue[head]
                head += 1
                for e in range(indptr[v], indptr[v + 1]):
                    u = indices[e]
                    if colors[u] < 0:
                        colors[u] = 1 - colors[v]
                        queue[tail] = u
                        tail += 1
                    elif colors[u] == colors[v]:
                        ok = False
                        break
            if not ok:
                break
    return colors_arr if ok else None
