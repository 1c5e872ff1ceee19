# cython: language_level=3
"""The kernels' one vector-level switch, and Python access to their generator and e^x (for
tests and reference samplers).

Every kernel takes the widest vector code it may use as an argument; the sweeps read it from
here (:func:`simd_level`, cimported), so :func:`allow_simd` sets it for every module at once.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t

import numpy as np

from samplers cimport _rng
from samplers._rng cimport (
    fg_binary_update, fg_exp_neg, fg_exp_neg_f, fg_philox4x32_10, fg_tabulated_draws, fg_uniforms,
)

# The widest vector code the kernels may use: 0 portable only, 1 up to AVX2, 2 up to AVX-512.
cdef int _simd_level = 2


cdef int simd_level() noexcept nogil:
    """The vector level every kernel call passes on (see :func:`allow_simd`)."""
    return _simd_level


#: Streams of the counter's fourth word: one per purpose, so draws never collide.
STREAM_UPDATE = 0
STREAM_INIT = 1


def philox(counter, key):
    """Philox4x32-10 of a 4-word counter and 2-word key (uint32 arrays); returns 4 words."""
    cdef uint32_t[::1] c = np.ascontiguousarray(counter, dtype=np.uint32)
    cdef uint32_t[::1] k = np.ascontiguousarray(key, dtype=np.uint32)
    if c.shape[0] != 4 or k.shape[0] != 2:
        raise ValueError("philox needs a 4-word counter and a 2-word key")
    out = np.empty(4, dtype=np.uint32)
    cdef uint32_t[::1] o = out
    fg_philox4x32_10(&c[0], &k[0], &o[0])
    return out


def uniforms(key, uint32_t variable, int64_t first_chain, int64_t n_chains, uint64_t sweep,
             uint32_t stream=STREAM_UPDATE):
    """The uniforms the kernels draw for chains first_chain .. first_chain+n_chains-1."""
    cdef uint32_t[::1] k = np.ascontiguousarray(key, dtype=np.uint32)
    out = np.empty(n_chains)
    cdef double[::1] o = out
    if n_chains:
        fg_uniforms(&k[0], variable, sweep, stream, first_chain, n_chains, &o[0], _simd_level)
    return out


def exp_neg(x):
    """The kernels' e^x (for x <= 0), elementwise: the very bits the samplers use."""
    cdef double[::1] a = np.array(x, dtype=np.float64, ndmin=1).ravel()
    out = np.empty(a.shape[0])
    cdef double[::1] o = out
    cdef Py_ssize_t i
    for i in range(a.shape[0]):
        o[i] = fg_exp_neg(a[i])
    return out.reshape(np.shape(x))


def exp_neg_f(x):
    """The kernels' single-precision e^x (for x <= 0), elementwise, as float32: the very bits
    the Gibbs draws use."""
    cdef float[::1] a = np.array(x, dtype=np.float32, ndmin=1).ravel()
    out = np.empty(a.shape[0], dtype=np.float32)
    cdef float[::1] o = out
    cdef Py_ssize_t i
    for i in range(a.shape[0]):
        o[i] = fg_exp_neg_f(a[i])
    return out.reshape(np.shape(x))


def categorical_draws_f(energies, u):
    """The multi-state Gibbs draws of the table path (``fg_tabulated_draws``, at the SIMD level
    in force) for one row of float32 ``energies`` (3 states or more; at most 32 take the vector
    path) and
    each uniform in ``u``: the very states the kernels draw, for tests of the precision
    contract."""
    row = np.asarray(energies, dtype=np.float32).ravel()
    cdef int32_t k = row.shape[0]
    cdef int64_t kp = (k + 7) & ~7, n
    if k < 3:  # two states take the logistic draw
        raise ValueError("categorical_draws_f draws among three states or more")
    cdef float[::1] table = np.concatenate([row, np.zeros(kp - k, dtype=np.float32)])
    cdef double[::1] uniforms = np.ascontiguousarray(u, dtype=np.float64).ravel()
    n = uniforms.shape[0]
    out = np.zeros(n, dtype=np.int32)
    if n == 0:
        return out
    cdef int32_t[::1] drawn = out
    cdef float[::1] rows = np.zeros(n * kp, dtype=np.float32)
    cdef int32_t[::1] other = np.array([-1], dtype=np.int32)
    cdef int32_t[::1] k_rows = np.array([1], dtype=np.int32)
    cdef int64_t[::1] offset = np.array([0], dtype=np.int64)
    cdef int32_t[::1] states = np.zeros(n, dtype=np.int32)
    fg_tabulated_draws(n, k, 1, &other[0], &k_rows[0], &offset[0], &table[0], &states[0], n, &rows[0],
                       &uniforms[0], &drawn[0], _simd_level)
    return out


def logistic_draws_f(fields, u):
    """The binary Gibbs draws of the fast path (``fg_binary_update``, at the SIMD level in
    force): chain c takes the new state 1 with probability 1 / (1 + e^-d) for the float32 field
    ``fields[c]`` and the uniform ``u[c]``; the very states the kernels draw, for tests of the
    precision contract."""
    cdef float[::1] etab = np.ascontiguousarray(fields, dtype=np.float32).ravel()
    cdef double[::1] uniforms = np.ascontiguousarray(u, dtype=np.float64).ravel()
    cdef int64_t n = uniforms.shape[0]
    if etab.shape[0] != n:
        raise ValueError("logistic_draws_f takes one field per uniform")
    out = np.zeros(n, dtype=np.int32)
    if n == 0:
        return out
    # one factor whose other variable (chain c in state c) picks each chain's field from etab
    cdef int32_t[::1] states = np.concatenate([out, np.arange(n, dtype=np.int32)])
    cdef int32_t[::1] other = np.array([1], dtype=np.int32)
    cdef int32_t[::1] k_other = np.array([max(n, 3)], dtype=np.int32)
    cdef int64_t[::1] offset = np.zeros(1, dtype=np.int64)
    cdef int8_t[::1] scaled = np.zeros(1, dtype=np.int8)
    cdef int64_t[::1] feature = np.zeros(1, dtype=np.int64)
    cdef double[::1] flip = np.zeros(n)
    cdef float[::1] d = np.zeros(n, dtype=np.float32)
    fg_binary_update(n, &states[0], &states[0], n, 1, &other[0], &k_other[0], &etab[0], NULL, &offset[0],
                     &scaled[0], &feature[0], NULL, &uniforms[0], &d[0], &flip[0], _simd_level)
    return np.asarray(states[:n]).copy()


SIMD_LEVELS = ("portable", "avx2", "avx512")


def simd_available():
    """The levels of ``SIMD_LEVELS`` this build can run on this machine, narrowest first."""
    return SIMD_LEVELS[: _rng.fg_simd_machine() + 1]


def allow_simd(widest="avx512"):
    """Let the generator and every sampler kernel use vector code up to ``widest`` (one of
    ``SIMD_LEVELS``; the default allows all the machine has) or, with ``"portable"``, only the
    portable code. Every path gives the same bits, which the tests check."""
    global _simd_level
    if widest not in SIMD_LEVELS:
        raise ValueError(f"widest must be one of {SIMD_LEVELS}, not {widest!r}")
    _simd_level = SIMD_LEVELS.index(widest)
