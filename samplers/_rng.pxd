# cython: language_level=3
"""The sampler kernels' C primitives (samplers/_fg_*.h): the counter-based generator
Philox4x32-10 (Salmon et al., SC'11), our reproducible e^x, and the binary update.

A draw is a pure function of (key, counter): no state is shared between threads, so chains
come out bit-identical for any thread count and any split of chains between workers. The
counter of chain c is (variable, c // 4, sweep low word, sweep high word * 16 + stream) and
the chain takes word c % 4 of the call's output, so its number depends on nothing else.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t


cdef extern from "_fg_cpu.h" nogil:
    int fg_simd_machine()


cdef extern from "_fg_philox.h" nogil:
    void fg_philox4x32_10(const uint32_t* counter, const uint32_t* key, uint32_t* out)
    void fg_uniforms(const uint32_t* key, uint32_t variable, uint64_t sweep, uint32_t stream,
                     int64_t first, int64_t n, double* out, int simd)


cdef extern from "_fg_draws.h" nogil:
    double fg_exp_neg(double x)
    void fg_categorical_draws(int64_t n, int32_t k, double* energy, const double* u, int32_t* out)
    float fg_exp_neg_f(float x)
    int32_t fg_logistic_draw_f(float d, double u)
    void fg_categorical_draws_f(int64_t n, int32_t k, float* energy, const double* u, int32_t* out)


cdef extern from "_fg_gibbs_paths.h" nogil:
    void fg_tabulated_draws(int64_t nb, int32_t k, int64_t degree, const int32_t* other, const int32_t* k_rows,
                            const int64_t* offset, const float* ftab, const int32_t* x, int64_t n_chains,
                            float* rows, const double* u, int32_t* out, int simd)
    int64_t fg_binary_update(int64_t nb, int32_t* xv, const int32_t* x, int64_t n_chains,
                             int64_t degree, const int32_t* other, const int32_t* k_other, const float* etab,
                             const double* ctab, const int64_t* offset, const int8_t* scaled, const int64_t* feature,
                             double* sums, const double* u, float* d, double* flip, int simd)
