# cython: language_level=3
"""Typed view of a CompiledGraph, for Cython code (samplers included) that cimports it."""

from libc.stdint cimport int8_t, int32_t, int64_t


cdef class GraphView:
    cdef readonly Py_ssize_t n_variables, n_features, n_factors
    cdef const int32_t[::1] n_states
    cdef const int64_t[::1] factor_ptr
    cdef const int32_t[::1] factor_vars
    cdef const int64_t[::1] factor_strides
    cdef const int8_t[::1] factor_form
    cdef const int64_t[::1] factor_theta
    cdef const int64_t[::1] factor_table
    cdef const double[::1] tables
    cdef const int32_t[::1] maps
    cdef const int64_t[::1] var_ptr
    cdef const int64_t[::1] var_factors
    cdef const int32_t[::1] var_pos
    cdef const int64_t[::1] color_ptr
    cdef const int32_t[::1] color_vars


cdef inline int64_t joint_index(GraphView g, const int32_t* state, int64_t f) noexcept nogil:
    """Row-major index of factor f's joint state in the states ``state`` (one per variable)."""
    cdef int64_t e, j = 0
    for e in range(g.factor_ptr[f], g.factor_ptr[f + 1]):
        j += state[g.factor_vars[e]] * g.factor_strides[e]
    return j


cdef inline double factor_energy(GraphView g, const double[::1] theta, int64_t f, int64_t j) noexcept nogil:
    """theta . f for the features of factor f at joint state j."""
    cdef int32_t m
    if g.factor_form[f] == 0:
        return theta[g.factor_theta[f]] * g.tables[g.factor_table[f] + j]
    m = g.maps[g.factor_table[f] + j]
    if m >= 0:
        return theta[g.factor_theta[f] + m]
    return 0.0
