# cython: language_level=3
"""Union-find over an int32 or int64 parent array: the one implementation the samplers share.

Roots are each tree's smallest member (``link`` keeps the smaller root), so the label of a
component, its root, is its smallest member whatever order the edges came in.
"""

from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t


cdef inline index_t find(index_t* parent, index_t v) noexcept nogil:
    """The root of v's tree, halving the path on the way."""
    while parent[v] != v:
        parent[v] = parent[parent[v]]
        v = parent[v]
    return v


cdef inline void link(index_t* parent, index_t a, index_t b) noexcept nogil:
    """Join the trees of roots a and b: the smaller root becomes the root of both."""
    if a < b:
        parent[b] = a
    elif b < a:
        parent[a] = b


cdef inline void join(index_t* parent, index_t a, index_t b) noexcept nogil:
    """Merge the trees of a and b."""
    link(parent, find(parent, a), find(parent, b))
