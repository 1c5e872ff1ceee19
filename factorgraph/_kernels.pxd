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
