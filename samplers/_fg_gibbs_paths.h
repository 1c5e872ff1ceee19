/* The Gibbs update paths over a block of chains: the multi-state table path and the binary
 * fast path, portable and in AVX2 registers, the same bits every way (see samplers/_gibbs.pyx
 * for when each is taken). Both work in single precision (the precision contract, in
 * docs/samplers.rst). */
#ifndef FG_GIBBS_PATHS_H
#define FG_GIBBS_PATHS_H

#include "_fg_cpu.h"
#include "_fg_draws.h"

/* The multi-state table path works in single precision (the precision contract, in
 * docs/samplers.rst): each factor's energy is rounded to a float once, when the tables are
 * filled, and a chain's energies are summed in floats, table by table in the entries' order
 * from 0; the draw is made in floats too (fg_categorical_draw_f). Half the bytes of double
 * tables, and twice the states per vector; every path below gives the same bits. */

/* A table row of k states padded to whole 8-float vectors (padding entries hold 0). */
#define FG_ROW_FLOATS(k) (((int64_t)(k) + 7) & ~(int64_t)7)

/* The multi-state table path for one variable v with k states over a block of nb chains: the
 * energies of every state summed factor by factor (entry e adds the row of its table at
 * ftab + offset[e] for the other variable's state; a unary entry has one row), then one
 * categorical draw per chain into out. x points at all states shifted to the block's first
 * chain; rows holds nb rows of FG_ROW_FLOATS(k) floats (the draws overwrite them). */
FG_CLONES static void fg_tabulated_draws_portable(int64_t nb, int32_t k, int64_t degree, const int32_t *other,
                                                  const int32_t *k_rows, const int64_t *offset, const float *ftab,
                                                  const int32_t *x, int64_t n_chains, float *rows, const double *u,
                                                  int32_t *out)
{
    const int64_t kp = FG_ROW_FLOATS(k);
    int64_t c, e, s;
    for (c = 0; c < nb * kp; c++)
        rows[c] = 0.0f;
    for (e = 0; e < degree; e++) {
        const float *table = ftab + offset[e];
        const int32_t *xw = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        if (e + 1 < degree) { /* the chains read rows of the next table at random: fetch it all now */
            const char *next = (const char *)(ftab + offset[e + 1]);
            int64_t bytes = (other[e + 1] < 0 ? 1 : (int64_t)k_rows[e + 1]) * kp * (int64_t)sizeof(float);
            for (int64_t at = 0; at < bytes; at += 64)
                __builtin_prefetch(next + at);
        }
        for (c = 0; c < nb; c++) {
            const float *src = table + (other[e] < 0 ? 0 : (int64_t)xw[c] * kp);
            float *dst = rows + c * kp;
            for (s = 0; s < kp; s++) /* a contiguous row: vectorised */
                dst[s] += src[s];
        }
    }
    for (c = 0; c < nb; c++)
        out[c] = fg_categorical_draw_f(k, rows + c * kp, u[c]);
}

/* The binary fast path for one variable v over a block of nb chains, in single precision (the
 * precision contract): the energy change of each factor is rounded to a float once, when the
 * tables are filled, the changes are summed in floats factor by factor from 0, and the draw
 * is fg_logistic_draw_f.
 *
 * For each (v, factor) entry e of v's factors: other[e] is the factor's other variable (-1 when
 * unary) and k_other[e] its number of states (1 when unary); etab + offset[e] holds the energy
 * changes and ctab + offset[e] the feature changes when v goes 0 -> 1, one per state of the
 * other variable. scaled[e] is 1 when the factor has one scaled feature, whose running sum
 * sums[feature[e]] is moved here (indexed factors are left to the caller, which reads flip).
 * xv points at v's states of the block, x at all states shifted to the block's first chain
 * (x + other * n_chains is the other's block). u holds the block's uniforms; d and flip
 * receive the energy changes and new - old per chain. Returns how many chains changed. */
FG_CLONES static int64_t fg_binary_update_portable(int64_t nb, int32_t *xv, const int32_t *x, int64_t n_chains,
                                                   int64_t degree, const int32_t *other, const int32_t *k_other,
                                                   const float *etab, const double *ctab, const int64_t *offset,
                                                   const int8_t *scaled, const int64_t *feature, double *sums,
                                                   const double *u, float *d, double *flip)
{
    int64_t c, e, changed = 0;
    for (c = 0; c < nb; c++)
        d[c] = 0.0f;
    for (e = 0; e < degree; e++) {
        const float *row = etab + offset[e];
        const int32_t *xu = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        if (k_other[e] == 1) {
            for (c = 0; c < nb; c++)
                d[c] += row[0];
        } else if (k_other[e] == 2) { /* a select, not a gather: vectorises */
            float r0 = row[0], r1 = row[1];
            for (c = 0; c < nb; c++)
                d[c] += xu[c] ? r1 : r0;
        } else {
            for (c = 0; c < nb; c++)
                d[c] += row[xu[c]];
        }
    }
    double moved = 0.0; /* the sum of new - old over the chains: an integer, exact */
    for (c = 0; c < nb; c++) {
        int32_t old = xv[c], new = fg_logistic_draw_f(d[c], u[c]);
        flip[c] = (double)(new - old);
        moved += flip[c];
        xv[c] = new;
        changed += new != old;
    }
    if (changed == 0)
        return 0;
    for (e = 0; e < degree; e++) {
        if (!scaled[e])
            continue;
        const double *row = ctab + offset[e];
        const int32_t *xu = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        if (k_other[e] <= 2) {
            /* a feature change per state of the other variable (one when unary): the sum is
             * the changes times the numbers of moves made with the other in each state,
             * integers counted exactly, so every path and order gives these bits */
            double moved1 = 0.0;
            if (k_other[e] == 2)
                for (c = 0; c < nb; c++)
                    moved1 += xu[c] ? flip[c] : 0.0;
            sums[feature[e]] += k_other[e] == 1 ? row[0] * moved : row[0] * (moved - moved1) + row[1] * moved1;
            continue;
        }
        /* four fixed partial sums (vector lanes): the same bits on every machine */
        double acc[4] = {0.0, 0.0, 0.0, 0.0};
        int64_t l, full = nb & ~(int64_t)3;
        for (c = 0; c < full; c += 4)
            for (l = 0; l < 4; l++)
                acc[l] += flip[c + l] * row[xu[c + l]];
        for (c = full; c < nb; c++)
            acc[0] += flip[c] * row[xu[c]];
        sums[feature[e]] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    return changed;
}

#ifdef FG_HAVE_AVX2_PATH
/* The energies of rows (the sums of fg_tabulated_draws) for rows of NV 8-float vectors: the
 * tables in groups of FG_TABLE_GROUP, each group's rows added to a chain's row held in
 * registers, so a chain's energies go through memory once a group, not once a table.
 * Each state's energy is still added table by table, from 0, in the entries' order: the
 * portable loop's bits. */
#define FG_TABLE_GROUP 8
FG_AVX2 FG_INLINE void fg_table_rows(const int NV, int64_t nb, int64_t degree, const int32_t *other,
                                     const int32_t *k_rows, const int64_t *offset, const float *ftab,
                                     const int32_t *x, int64_t n_chains, float *rows)
{
    const int64_t kp = 8 * NV;
    for (int64_t e0 = 0; e0 < degree; e0 += FG_TABLE_GROUP) {
        const float *tables[FG_TABLE_GROUP];
        const int32_t *xs[FG_TABLE_GROUP];
        int64_t stride[FG_TABLE_GROUP];
        int m = degree - e0 < FG_TABLE_GROUP ? (int)(degree - e0) : FG_TABLE_GROUP, i, j;
        for (i = 0; i < m; i++) { /* a unary entry has one row: stride 0, any valid states */
            tables[i] = ftab + offset[e0 + i];
            xs[i] = x + (int64_t)(other[e0 + i] < 0 ? 0 : other[e0 + i]) * n_chains;
            stride[i] = other[e0 + i] < 0 ? 0 : kp;
        }
        { /* The chains read the group's rows at random, which no prefetcher follows: read the
           * tables through first, in order (they lie side by side), so the hardware streams
           * them in with many loads in flight; measured 2x faster on a model whose tables
           * exceed the cache, and software prefetches did not help. */
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            int64_t last_rows = other[e0 + m - 1] < 0 ? 1 : (int64_t)k_rows[e0 + m - 1];
            const float *t = tables[0], *end = tables[m - 1] + last_rows * kp;
            for (; t + 64 <= end; t += 64) {
                s0 = _mm256_add_ps(s0, _mm256_loadu_ps(t));
                s1 = _mm256_add_ps(s1, _mm256_loadu_ps(t + 16));
                s2 = _mm256_add_ps(s2, _mm256_loadu_ps(t + 32));
                s3 = _mm256_add_ps(s3, _mm256_loadu_ps(t + 48));
            }
            for (; t + 8 <= end; t += 16)
                s0 = _mm256_add_ps(s0, _mm256_loadu_ps(t));
            __asm__ volatile("" : : "x"(s0), "x"(s1), "x"(s2), "x"(s3)); /* keep the loads */
        }
        for (int64_t c = 0; c < nb; c++) {
            float *row = rows + c * kp;
            __m256 acc[4];
            for (j = 0; j < NV; j++)
                acc[j] = e0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(row + 8 * j);
            for (i = 0; i < m; i++) {
                const float *src = tables[i] + (int64_t)xs[i][c] * stride[i];
                for (j = 0; j < NV; j++)
                    acc[j] = _mm256_add_ps(acc[j], _mm256_loadu_ps(src + 8 * j));
            }
            for (j = 0; j < NV; j++)
                _mm256_storeu_ps(row + 8 * j, acc[j]);
        }
    }
}

#define FG_MAX_TABLE_STATES 32 /* the AVX2 table path holds a chain's energies in 4 registers */

/* fg_exp_neg_f on eight lanes: the same operations, the same bits. */
FG_AVX2 static inline __m256 fg_exp_neg8f(__m256 x)
{
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f)); /* x < -87 ? -87 : x, for x not NaN */
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), shifter);
    __m256 n = _mm256_sub_ps(t, shifter);
    __m256 minus_n = _mm256_xor_ps(n, _mm256_set1_ps(-0.0f));
    __m256 r = _mm256_fmadd_ps(minus_n, _mm256_set1_ps(1.42860677e-06f),
                               _mm256_fmadd_ps(minus_n, _mm256_set1_ps(0.693145752f), x));
    __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(1.0f / 5040.0f), _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i k = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(shifter));
    __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(two_k));
}

/* The weights e^(e[s] - top) of fg_categorical_draw_f on a padded row of k energies, in place:
 * the same maximum (exact in any order) and the same exponentials, eight states at a time. */
FG_AVX2 static inline void fg_categorical_weights_avx2(int32_t k, float *row)
{
    int nv = (k + 7) >> 3, j;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(k - 8 * (nv - 1)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    /* padding lanes take a real energy's place: they never win */
    __m256 top = _mm256_blendv_ps(_mm256_set1_ps(row[0]), _mm256_loadu_ps(row + 8 * (nv - 1)), _mm256_castsi256_ps(tail));
    for (j = 0; j < nv - 1; j++)
        top = _mm256_max_ps(top, _mm256_loadu_ps(row + 8 * j));
    __m128 half = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
    half = _mm_max_ps(half, _mm_movehl_ps(half, half));
    half = _mm_max_ss(half, _mm_shuffle_ps(half, half, 1));
    __m256 peak = _mm256_set1_ps(_mm_cvtss_f32(half));
    for (j = 0; j < nv; j++)
        _mm256_storeu_ps(row + 8 * j, fg_exp_neg8f(_mm256_sub_ps(_mm256_loadu_ps(row + 8 * j), peak)));
}

/* fg_categorical_draw_f's search without a branch: its loop stops at the first s < k - 1 with
 * v < cumulative[s], and as the cumulative weights never decrease that s is the number of
 * s < k - 1 with !(v < cumulative[s]). */
FG_AVX2 static inline int32_t fg_categorical_search_avx2(int32_t k, const float *cumulative, float v)
{
    const __m256 vv = _mm256_set1_ps(v);
    int32_t n = 0, s = 0;
    for (; s + 8 <= k - 1; s += 8)
        n += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(cumulative + s), vv, _CMP_NGT_UQ)));
    for (; s < k - 1; s++)
        n += !(v < cumulative[s]);
    return n;
}

/* fg_categorical_draw_f for the float rows of four chains (rows kp floats apart, overwritten)
 * at once: the weights chain by chain, then the four cumulative sums interleaved, which are
 * four independent chains of additions (one would wait on each addition in turn), then the
 * four searches. Each chain's operations are fg_categorical_draw_f's: the same bits. */
FG_AVX2 static inline void fg_categorical_draws4_avx2(int32_t k, int64_t kp, float *rows, const double *u,
                                                       int32_t *out)
{
    float *w0 = rows, *w1 = rows + kp, *w2 = rows + 2 * kp, *w3 = rows + 3 * kp;
    float t0 = 0.0f, t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
    for (int i = 0; i < 4; i++)
        fg_categorical_weights_avx2(k, rows + i * kp);
    for (int32_t s = 0; s < k; s++) {
        t0 += w0[s];
        w0[s] = t0;
        t1 += w1[s];
        w1[s] = t1;
        t2 += w2[s];
        w2[s] = t2;
        t3 += w3[s];
        w3[s] = t3;
    }
    out[0] = fg_categorical_search_avx2(k, w0, fg_uniform_f(u[0]) * t0);
    out[1] = fg_categorical_search_avx2(k, w1, fg_uniform_f(u[1]) * t1);
    out[2] = fg_categorical_search_avx2(k, w2, fg_uniform_f(u[2]) * t2);
    out[3] = fg_categorical_search_avx2(k, w3, fg_uniform_f(u[3]) * t3);
}

/* fg_categorical_draws4_avx2 for one chain. */
FG_AVX2 static inline int32_t fg_categorical_draw_avx2(int32_t k, float *row, double u)
{
    float total = 0.0f;
    fg_categorical_weights_avx2(k, row);
    for (int32_t s = 0; s < k; s++) {
        total += row[s];
        row[s] = total;
    }
    return fg_categorical_search_avx2(k, row, fg_uniform_f(u) * total);
}

/* fg_tabulated_draws in AVX2 registers, for k <= FG_MAX_TABLE_STATES. The same bits. */
FG_AVX2 static void fg_tabulated_draws_avx2(int64_t nb, int32_t k, int64_t degree, const int32_t *other,
                                            const int32_t *k_rows, const int64_t *offset, const float *ftab,
                                            const int32_t *x, int64_t n_chains, float *rows, const double *u,
                                            int32_t *out)
{
    const int64_t kp = FG_ROW_FLOATS(k);
    switch (kp >> 3) { /* a constant row width per case: the rows stay in registers */
#define FG_ROWS_CASE(NV) case NV: fg_table_rows(NV, nb, degree, other, k_rows, offset, ftab, x, n_chains, rows); break;
    FG_ROWS_CASE(1) FG_ROWS_CASE(2) FG_ROWS_CASE(3) FG_ROWS_CASE(4)
#undef FG_ROWS_CASE
    }
    if (degree == 0)
        for (int64_t c = 0; c < nb * kp; c++)
            rows[c] = 0.0f;
    int64_t c = 0;
    for (; c + 4 <= nb; c += 4)
        fg_categorical_draws4_avx2(k, kp, rows + c * kp, u + c, out + c);
    for (; c < nb; c++)
        out[c] = fg_categorical_draw_avx2(k, rows + c * kp, u[c]);
}


/* Per (variable, factor) entry of the vector binary path: how the other variable enters. */
enum { FG_UNARY = 0, FG_BINARY_OTHER = 1, FG_MULTI_OTHER = 2 };
#define FG_MAX_FAST_DEGREE 64

/* The energy changes row[x_u] of the eight chains whose other states are at xu. */
FG_AVX2 static inline __m256 fg_energy_changes8(int kind, const float *row, const int32_t *xu)
{
    if (kind == FG_UNARY)
        return _mm256_broadcast_ss(row);
    __m256i states = _mm256_loadu_si256((const __m256i *)xu);
    if (kind == FG_BINARY_OTHER) /* a blend on x_u == 0, not a gather */
        return _mm256_blendv_ps(_mm256_broadcast_ss(row + 1), _mm256_broadcast_ss(row),
                                _mm256_castsi256_ps(_mm256_cmpeq_epi32(states, _mm256_setzero_si256())));
    return _mm256_i32gather_ps(row, states, 4);
}

/* The uniforms of eight chains cut to 24 bits, as fg_uniform_f cuts them (u 2^24 is exact). */
FG_AVX2 static inline __m256 fg_uniforms8f(const double *u)
{
    const __m256d scale = _mm256_set1_pd(16777216.0);
    __m128i lo = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_loadu_pd(u), scale));
    __m128i hi = _mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_loadu_pd(u + 4), scale));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_set_m128i(hi, lo)), _mm256_set1_ps(1.0f / 16777216.0f));
}

/* Field, draw, new state and scaled-sum terms for the 8 G chains from c: G independent vectors
 * side by side, so the long dependency chain of e^x of one vector overlaps the other's. The
 * moves are counted in moves (all chains) and counts[e] (chains whose other variable of a
 * binary entry e is in state 1), eight int32 lanes each; the feature changes of multi-state
 * entries sum in acc[e], four double lanes that take the chains c = l mod 4 in chain order. */
FG_AVX2 FG_INLINE int64_t fg_binary_vectors(const int G, int64_t c, int32_t *xv, int64_t degree,
                                            const float *const *erows, const double *const *crows,
                                            const int32_t *const *xus, const int *kinds, const int8_t *scaled,
                                            const double *u, double *flip, __m256d *acc, __m256i *counts,
                                            __m256i *moves)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    __m256 field[2];
    __m256i moved[2];
    int64_t e, changed = 0;
    int g;
    for (g = 0; g < G; g++)
        field[g] = zero;
    for (e = 0; e < degree; e++)
        for (g = 0; g < G; g++)
            field[g] = _mm256_add_ps(field[g], fg_energy_changes8(kinds[e], erows[e], xus[e] + c + 8 * g));
    for (g = 0; g < G; g++) {
        /* fg_logistic_draw_f: v (1 + z) < bound with z = e^-|d|, bound 1 for d >= 0, else z */
        __m256 negative = _mm256_cmp_ps(field[g], zero, _CMP_LT_OQ);
        __m256 z = fg_exp_neg8f(_mm256_or_ps(field[g], sign)); /* -|d| */
        __m256 bound = _mm256_blendv_ps(one, z, negative);
        __m256 accept = _mm256_cmp_ps(_mm256_mul_ps(fg_uniforms8f(u + c + 8 * g), _mm256_add_ps(one, z)), bound,
                                      _CMP_LT_OQ);
        __m256i drawn = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_castps_si256(accept)); /* 1 or 0 */
        moved[g] = _mm256_sub_epi32(drawn, _mm256_loadu_si256((const __m256i *)(xv + c + 8 * g)));
        _mm256_storeu_si256((__m256i *)(xv + c + 8 * g), drawn);
        _mm256_storeu_pd(flip + c + 8 * g, _mm256_cvtepi32_pd(_mm256_castsi256_si128(moved[g])));
        _mm256_storeu_pd(flip + c + 8 * g + 4, _mm256_cvtepi32_pd(_mm256_extracti128_si256(moved[g], 1)));
        changed += 8 - __builtin_popcount(
                           _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(moved[g], _mm256_setzero_si256()))));
        *moves = _mm256_add_epi32(*moves, moved[g]);
    }
    for (e = 0; e < degree; e++) {
        if (!scaled[e] || kinds[e] == FG_UNARY)
            continue;
        if (kinds[e] == FG_BINARY_OTHER) {
            /* the move where the other is in state 1, else 0: sign(x_u, move) = x_u * move */
            __m256i n = counts[e];
            for (g = 0; g < G; g++)
                n = _mm256_add_epi32(n, _mm256_sign_epi32(_mm256_loadu_si256((const __m256i *)(xus[e] + c + 8 * g)),
                                                          moved[g]));
            counts[e] = n;
            continue;
        }
        /* step is -1, 0 or 1, so step * value is exact and the fused multiply-add rounds as
         * the add alone does */
        __m256d a = acc[e];
        for (g = 0; g < G; g++) {
            __m256i states = _mm256_loadu_si256((const __m256i *)(xus[e] + c + 8 * g));
            a = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(moved[g])),
                                _mm256_i32gather_pd(crows[e], _mm256_castsi256_si128(states), 8), a);
            a = _mm256_fmadd_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(moved[g], 1)),
                                _mm256_i32gather_pd(crows[e], _mm256_extracti128_si256(states, 1), 8), a);
        }
        acc[e] = a;
    }
    return changed;
}

/* The sum of the eight int32 lanes. */
FG_AVX2 static inline int64_t fg_lane_total(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* fg_binary_update_portable in AVX2 registers, eight chains a vector: field, draw, new state
 * and scaled sums in one pass over the chains, with no buffer between the steps. Every value
 * is computed by the same operations in the same order (moves counted exactly; multi-state
 * sums: lane l takes the chains c = l mod 4 of the full quads, the rest go to lane 0), so the
 * bits are the portable path's. AVX-512 machines run it too: eight float lanes do the work
 * of the eight double lanes they would have. Needs degree <= FG_MAX_FAST_DEGREE. */
FG_AVX2 static int64_t fg_binary_update_avx2(int64_t nb, int32_t *xv, const int32_t *x, int64_t n_chains,
                                             int64_t degree, const int32_t *other, const int32_t *k_other,
                                             const float *etab, const double *ctab, const int64_t *offset,
                                             const int8_t *scaled, const int64_t *feature, double *sums,
                                             const double *u, double *flip)
{
    const float *erows[FG_MAX_FAST_DEGREE];
    const double *crows[FG_MAX_FAST_DEGREE];
    const int32_t *xus[FG_MAX_FAST_DEGREE];
    int kinds[FG_MAX_FAST_DEGREE];
    __m256d acc[FG_MAX_FAST_DEGREE];
    __m256i counts[FG_MAX_FAST_DEGREE], moves = _mm256_setzero_si256();
    int64_t c = 0, e, changed = 0;
    for (e = 0; e < degree; e++) {
        erows[e] = etab + offset[e];
        crows[e] = ctab + offset[e];
        xus[e] = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        kinds[e] = k_other[e] == 1 ? FG_UNARY : k_other[e] == 2 ? FG_BINARY_OTHER : FG_MULTI_OTHER;
        acc[e] = _mm256_setzero_pd();
        counts[e] = _mm256_setzero_si256();
    }
    for (; c + 16 <= nb; c += 16)
        changed += fg_binary_vectors(2, c, xv, degree, erows, crows, xus, kinds, scaled, u, flip, acc, counts, &moves);
    for (; c + 8 <= nb; c += 8)
        changed += fg_binary_vectors(1, c, xv, degree, erows, crows, xus, kinds, scaled, u, flip, acc, counts, &moves);
    /* the last nb mod 8 chains, as the portable path does them */
    int64_t tail = c, full = nb & ~(int64_t)3, moved = fg_lane_total(moves);
    for (; c < nb; c++) {
        float field = 0.0f;
        for (e = 0; e < degree; e++)
            field += erows[e][kinds[e] == FG_UNARY ? 0 : xus[e][c]];
        int32_t old = xv[c], new = fg_logistic_draw_f(field, u[c]);
        flip[c] = (double)(new - old);
        xv[c] = new;
        changed += new != old;
        moved += new - old;
    }
    if (changed == 0)
        return 0;
    for (e = 0; e < degree; e++) {
        if (!scaled[e])
            continue;
        if (kinds[e] == FG_UNARY) {
            sums[feature[e]] += crows[e][0] * (double)moved;
            continue;
        }
        if (kinds[e] == FG_BINARY_OTHER) {
            int64_t moved1 = fg_lane_total(counts[e]);
            for (c = tail; c < nb; c++)
                moved1 += xus[e][c] ? (int64_t)flip[c] : 0;
            sums[feature[e]] += crows[e][0] * (double)(moved - moved1) + crows[e][1] * (double)moved1;
            continue;
        }
        double lane[4];
        _mm256_storeu_pd(lane, acc[e]);
        for (c = tail; c < nb; c++) /* tail is a multiple of 8: a full quad's chain keeps its lane */
            lane[c < full ? c & 3 : 0] += flip[c] * crows[e][xus[e][c]];
        sums[feature[e]] += (lane[0] + lane[1]) + (lane[2] + lane[3]);
    }
    return changed;
}

/* The multi-state table path (see fg_tabulated_draws_portable): in AVX2 registers where the
 * machine has them and k <= FG_MAX_TABLE_STATES, the same bits either way. */
#endif

static void __attribute__((unused)) fg_tabulated_draws(int64_t nb, int32_t k, int64_t degree, const int32_t *other,
                                                       const int32_t *k_rows, const int64_t *offset,
                                                       const float *ftab, const int32_t *x, int64_t n_chains,
                                                       float *rows, const double *u, int32_t *out, int simd)
{
#ifdef FG_HAVE_AVX2_PATH
    if (k <= FG_MAX_TABLE_STATES && fg_use_avx2(simd)) {
        fg_tabulated_draws_avx2(nb, k, degree, other, k_rows, offset, ftab, x, n_chains, rows, u, out);
        return;
    }
#endif
    fg_tabulated_draws_portable(nb, k, degree, other, k_rows, offset, ftab, x, n_chains, rows, u, out);
}

/* The binary fast path (see fg_binary_update_portable): in AVX2 registers where the machine
 * has them, the same bits either way. */
static int64_t __attribute__((unused)) fg_binary_update(int64_t nb, int32_t *xv, const int32_t *x, int64_t n_chains,
                                                        int64_t degree, const int32_t *other, const int32_t *k_other,
                                                        const float *etab, const double *ctab, const int64_t *offset,
                                                        const int8_t *scaled, const int64_t *feature, double *sums,
                                                        const double *u, float *d, double *flip, int simd)
{
#ifdef FG_HAVE_AVX2_PATH
    if (degree <= FG_MAX_FAST_DEGREE && fg_use_avx2(simd))
        return fg_binary_update_avx2(nb, xv, x, n_chains, degree, other, k_other, etab, ctab, offset, scaled, feature,
                                     sums, u, flip);
#endif
    return fg_binary_update_portable(nb, xv, x, n_chains, degree, other, k_other, etab, ctab, offset, scaled,
                                     feature, sums, u, d, flip);
}

#endif
