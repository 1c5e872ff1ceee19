# cython: language_level=3
"""Feature evaluation on a compiled graph: energies, feature sums, local changes.

Every function reads the flat arrays of a CompiledGraph through a GraphView. A factor f covers
the variables factor_vars[factor_ptr[f]:factor_ptr[f+1]]; its joint state is
sum_j state[var_j] * factor_strides[j]. A scaled factor (form 0) has one feature, theta index
factor_theta[f], valued tables[factor_table[f] + joint]. An indexed factor (form 1) switches
on feature factor_theta[f] + maps[factor_table[f] + joint] when that map entry is >= 0.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

import numpy as np


cdef class GraphView:
    """Typed views of a CompiledGraph's arrays, built once and shared by the kernels."""

    def __init__(self, compiled):
        self.n_variables = compiled.n_variables
        self.n_features = compiled.n_features
        self.n_factors = compiled.n_factors
        self.n_states = compiled.n_states
        self.factor_ptr = compiled.factor_ptr
        self.factor_vars = compiled.factor_vars
        self.factor_strides = compiled.factor_strides
        self.factor_form = compiled.factor_form
        self.factor_theta = compiled.factor_theta
        self.factor_table = compiled.factor_table
        self.tables = compiled.tables
        self.maps = compiled.maps
        self.var_ptr = compiled.var_ptr
        self.var_factors = compiled.var_factors
        self.var_pos = compiled.var_pos
        self.color_ptr = compiled.color_ptr
        self.color_vars = compiled.color_vars


def energies(GraphView g, const int32_t[:, ::1] states, const double[::1] theta, int n_threads=1):
    """Return sum_k theta_k f_k(x) for every row x of ``states``."""
    cdef Py_ssize_t b, n_rows = states.shape[0]
    cdef int64_t f
    cdef double total
    out_arr = np.empty(n_rows)
    cdef double[::1] out = out_arr
    for b in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
        total = 0.0
        for f in range(g.n_factors):
            total = total + factor_energy(g, theta, f, joint_index(g, &states[b, 0], f))
        out[b] = total
    return out_arr


cdef inline void add_state_features(GraphView g, const int32_t* state, double* out, double w,
                                    bint squared) noexcept nogil:
    """out += w * f(state) (or w * f(state) squared), factor by factor."""
    cdef int64_t f, j
    cdef int32_t m
    cdef double t
    for f in range(g.n_factors):
        j = joint_index(g, state, f)
        if g.factor_form[f] == 0:
            t = g.tables[g.factor_table[f] + j]
            out[g.factor_theta[f]] += w * (t * t if squared else t)
        else:
            m = g.maps[g.factor_table[f] + j]
            if m >= 0:
                out[g.factor_theta[f] + m] += w


def add_feature_sums(GraphView g, const int32_t[:, ::1] states, const double[::1] weights,
                     double[::1] out, bint squared=False):
    """Add sum_b weights[b] * f(states[b]) (or f squared) into ``out``, in row order."""
    cdef Py_ssize_t b, n_rows = states.shape[0]
    with nogil:
        for b in range(n_rows):
            if weights[b] != 0.0:
                add_state_features(g, &states[b, 0], &out[0], weights[b], squared)
    return None


def add_grouped_feature_sums(GraphView g, const int32_t[:, ::1] states, const int64_t[::1] rows,
                             double[:, ::1] out):
    """Add f(states[b]) into row ``rows[b]`` of ``out`` (shape (n_groups, n_features)), in row
    order: the feature sums of many groups of states in one pass."""
    cdef Py_ssize_t b, n_rows = states.shape[0]
    if rows.shape[0] != n_rows:
        raise ValueError("rows must have one entry per state")
    for b in range(n_rows):
        if not 0 <= rows[b] < out.shape[0]:
            raise IndexError(f"rows[{b}] = {rows[b]} is outside 0..{out.shape[0] - 1}")
    with nogil:
        for b in range(n_rows):
            add_state_features(g, &states[b, 0], &out[rows[b], 0], 1.0, False)
    return None


def feature_matrix(GraphView g, const int32_t[:, ::1] states, int n_threads=1):
    """Return the dense (n_rows, n_features) matrix of feature values."""
    cdef Py_ssize_t b, n_rows = states.shape[0]
    cdef int64_t f, j
    cdef int32_t m
    out_arr = np.zeros((n_rows, g.n_features))
    cdef double[:, ::1] out = out_arr
    for b in prange(n_rows, nogil=True, num_threads=n_threads, schedule="static"):
        for f in range(g.n_factors):
            j = joint_index(g, &states[b, 0], f)
            if g.factor_form[f] == 0:
                out[b, g.factor_theta[f]] += g.tables[g.factor_table[f] + j]
            else:
                m = g.maps[g.factor_table[f] + j]
                if m >= 0:
                    out[b, g.factor_theta[f] + m] += 1.0
    return out_arr


def conditional_energies(GraphView g, const int32_t[::1] state, int32_t v, const double[::1] theta):
    """Energy contribution of every state of variable v, the other variables held fixed.

    Only the factors touching v contribute; entry s is sum over those factors of theta.f with
    x_v = s. Differences between entries equal differences of the full energy.
    """
    cdef int32_t k = g.n_states[v]
    cdef int64_t e, f, base, stride
    cdef int32_t s
    out_arr = np.zeros(k)
    cdef double[::1] out = out_arr
    with nogil:
        for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
            f = g.var_factors[e]
            stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
            base = joint_index(g, &state[0], f) - state[v] * stride
            for s in range(k):
                out[s] += factor_energy(g, theta, f, base + s * stride)
    return out_arr


def local_energies(GraphView g, const int32_t[::1] state, int32_t v, const double[::1] theta):
    """Energy of each factor touching v (rows, in var_factors order) for each state of v (columns)."""
    cdef int32_t k = g.n_states[v]
    cdef int64_t e, f, base, stride, first = g.var_ptr[v]
    cdef int32_t s
    out_arr = np.zeros((g.var_ptr[v + 1] - first, k))
    cdef double[:, ::1] out = out_arr
    with nogil:
        for e in range(first, g.var_ptr[v + 1]):
            f = g.var_factors[e]
            stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
            base = joint_index(g, &state[0], f) - state[v] * stride
            for s in range(k):
                out[e - first, s] = factor_energy(g, theta, f, base + s * stride)
    return out_arr


def feature_deltas(GraphView g, const int32_t[::1] state, int32_t v, int32_t new_state):
    """The change of every feature touching v when v moves to ``new_state``.

    Returns (feature ids, deltas); a feature appears once per factor that carries it, and
    features whose value does not change are left out.
    """
    cdef int64_t e, f, old_j, new_j, stride
    cdef int32_t m_old, m_new
    cdef double d
    ids, deltas = [], []
    for e in range(g.var_ptr[v], g.var_ptr[v + 1]):
        f = g.var_factors[e]
        stride = g.factor_strides[g.factor_ptr[f] + g.var_pos[e]]
        old_j = joint_index(g, &state[0], f)
        new_j = old_j + (new_state - state[v]) * stride
        if g.factor_form[f] == 0:
            d = g.tables[g.factor_table[f] + new_j] - g.tables[g.factor_table[f] + old_j]
            if d != 0.0:
                ids.append(g.factor_theta[f])
                deltas.append(d)
        else:
            m_old = g.maps[g.factor_table[f] + old_j]
            m_new = g.maps[g.factor_table[f] + new_j]
            if m_old != m_new:
                if m_old >= 0:
                    ids.append(g.factor_theta[f] + m_old)
                    deltas.append(-1.0)
                if m_new >= 0:
                    ids.append(g.factor_theta[f] + m_new)
                    deltas.append(1.0)
    return np.array(ids, dtype=np.int64), np.array(deltas, dtype=np.float64)
