/* The innermost pieces of the Gibbs kernels, in plain C loops over the chains of a block so that
 * the compiler vectorises them across chains (states are stored chain-innermost).
 *
 * Every floating-point result here is reproducible bit for bit: the module is compiled with
 * -ffp-contract=off (no fused multiply-adds that the compiler may or may not form), sums over
 * chains use four fixed partial sums, and e^x is our own polynomial rather than the C library's,
 * so scalar and vector code, every multi-versioned clone and every thread count agree.
 */
#ifndef FG_KERNEL_H
#define FG_KERNEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* One clone for x86-64-v3 machines (AVX2 and FMA: Haswell, Zen and later) and one for any
 * x86-64, picked at load time. fma() is exactly rounded everywhere (an instruction in the first,
 * the C library's exact routine in the second), so both give the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FG_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), unused))
#elif defined(__GNUC__)
#define FG_CLONES __attribute__((unused))
#else
#define FG_CLONES
#endif

/* Inlined into each clone, so that it is compiled for that clone's instruction set. */
#if defined(__GNUC__)
#define FG_INLINE static inline __attribute__((always_inline))
#else
#define FG_INLINE static inline
#endif

static inline double fg_from_bits(uint64_t b) { double d; memcpy(&d, &b, sizeof d); return d; }
static inline uint64_t fg_to_bits(double d) { uint64_t b; memcpy(&b, &d, sizeof b); return b; }

/* e^x for x <= 0, within one unit in the last place; x below -708 counts as -708 (e^x is then
 * below 1e-307, a difference no draw can see). Cody-Waite reduction x = n ln2 + r with
 * |r| <= ln2 / 2, the Taylor polynomial of degree 13 (truncation error below 1e-17) by fused
 * multiply-adds, and 2^n put into the exponent bits. Only arithmetic and bit moves: it
 * vectorises. */
FG_INLINE double fg_exp_neg(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    x = x < -708.0 ? -708.0 : x;
    double t = fma(x, 1.4426950408889634, shifter);
    double n = t - shifter;
    double r = fma(-n, 1.90821492927058770002e-10, fma(-n, 6.93147180369123816490e-01, x));
    double p = 1.0 / 6227020800.0;
    p = fma(p, r, 1.0 / 479001600.0);
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    int64_t k = (int64_t)(fg_to_bits(t) - fg_to_bits(shifter));
    return p * fg_from_bits((uint64_t)(k + 1023) << 52);
}

/* Philox4x32-10 (Salmon et al., SC'11): ten rounds on a 4-word counter with a 2-word key. */
#define FG_PHILOX_ROUND                                                             \
    do {                                                                            \
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2; \
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;                               \
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;                               \
        c1 = (uint32_t)p1;                                                          \
        c3 = (uint32_t)p0;                                                          \
        c0 = n0;                                                                    \
        c2 = n2;                                                                    \
    } while (0)
#define FG_PHILOX_BUMP do { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; } while (0)

static inline void fg_philox4x32_10(const uint32_t *counter, const uint32_t *key, uint32_t *out)
{
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    FG_PHILOX_ROUND;
    for (int r = 1; r < 10; r++) {
        FG_PHILOX_BUMP;
        FG_PHILOX_ROUND;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* A uniform double in [0, 1) from 52 random bits: 1.x with those bits as mantissa, minus 1. */
FG_INLINE double fg_unit(uint32_t hi, uint32_t lo)
{
    return fg_from_bits(0x3FF0000000000000ull | ((uint64_t)hi << 20) | (lo >> 12)) - 1.0;
}

#define FG_PAIRS 32

/* Tests turn this off to check that the vector Philox gives the portable one's bits. */
static int fg_simd_allowed = 1;

/* Two uniforms per Philox call, for the chain pairs pair0 .. pair0 + m - 1 (m <= FG_PAIRS):
 * counter (variable, pair, sweep low word, sweep high word * 16 + stream). */
FG_INLINE void fg_philox_pairs(uint32_t key0, uint32_t key1, uint32_t variable, uint32_t pair0,
                                   uint32_t sweep_lo, uint32_t sweep_hi, int m, double *out)
{
    for (size_t i = 0; i < (size_t)m; i++) { /* unsigned: vectorises even under -fwrapv */
        uint32_t c0 = variable, c1 = pair0 + (uint32_t)i, c2 = sweep_lo, c3 = sweep_hi;
        uint32_t k0 = key0, k1 = key1;
        FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        FG_PHILOX_BUMP; FG_PHILOX_ROUND;
        out[2 * i] = fg_unit(c0, c1);
        out[2 * i + 1] = fg_unit(c2, c3);
    }
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define FG_HAVE_AVX2_PATH 1
static int fg_avx2 = -1; /* whether the machine has AVX2, looked up once */

/* fg_philox_pairs with AVX2: four calls side by side, one per 64-bit lane. The multiplier reads
 * only the low 32 bits of each lane, so the high halves may hold anything until the end. */
__attribute__((target("avx2"))) static void fg_philox_pairs_avx2(uint32_t key0, uint32_t key1, uint32_t variable,
                                                                 uint32_t pair0, uint32_t sweep_lo,
                                                                 uint32_t sweep_hi, int m, double *out)
{
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
    const __m256i one = _mm256_set1_epi64x(0x3FF0000000000000ll), lo32 = _mm256_set1_epi64x(0xFFFFFFFFll);
    __m256i k0[10], k1[10];
    uint32_t a = key0, b = key1;
    for (int r = 0; r < 10; r++, a += 0x9E3779B9u, b += 0xBB67AE85u) {
        k0[r] = _mm256_set1_epi64x(a);
        k1[r] = _mm256_set1_epi64x(b);
    }
    for (int i = 0; i + 4 <= m; i += 4) {
        __m256i c0 = _mm256_set1_epi64x(variable), c2 = _mm256_set1_epi64x(sweep_lo);
        __m256i c3 = _mm256_set1_epi64x(sweep_hi);
        __m256i c1 = _mm256_set_epi64x(pair0 + (uint32_t)i + 3, pair0 + (uint32_t)i + 2,
                                       pair0 + (uint32_t)i + 1, pair0 + (uint32_t)i);
        for (int r = 0; r < 10; r++) {
            __m256i p0 = _mm256_mul_epu32(m0, c0), p1 = _mm256_mul_epu32(m1, c2);
            __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1), k0[r]);
            __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3), k1[r]);
            c1 = p1;
            c3 = p0;
            c0 = n0;
            c2 = n2;
        }
        /* 52 bits (hi << 20 | lo >> 12) as the mantissa of 1.x, minus 1 */
        __m256i w01 = _mm256_or_si256(_mm256_slli_epi64(_mm256_and_si256(c0, lo32), 20),
                                      _mm256_srli_epi64(_mm256_and_si256(c1, lo32), 12));
        __m256i w23 = _mm256_or_si256(_mm256_slli_epi64(_mm256_and_si256(c2, lo32), 20),
                                      _mm256_srli_epi64(_mm256_and_si256(c3, lo32), 12));
        __m256d u01 = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(w01, one)), _mm256_set1_pd(1.0));
        __m256d u23 = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(w23, one)), _mm256_set1_pd(1.0));
        /* interleave: out[2j] from the first half of pair j, out[2j + 1] from the second */
        __m256d lo = _mm256_unpacklo_pd(u01, u23), hi = _mm256_unpackhi_pd(u01, u23);
        _mm256_storeu_pd(out + 2 * i, _mm256_permute2f128_pd(lo, hi, 0x20));
        _mm256_storeu_pd(out + 2 * i + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
    }
    int done = m & ~3;
    if (done < m)
        fg_philox_pairs(key0, key1, variable, pair0 + (uint32_t)done, sweep_lo, sweep_hi, m - done, out + 2 * done);
}
#endif

/* The uniforms of global chains first .. first + n - 1 for one (variable, sweep, stream):
 * chain c takes the first half of the call for pair c / 2 when c is even, the second when odd,
 * so a chain's number depends on nothing but its own (key, chain, sweep, variable, stream).
 * Computed with the widest Philox the machine has; the same bits either way. */
static void __attribute__((unused)) fg_uniforms(const uint32_t *key, uint32_t variable, uint64_t sweep,
                                                      uint32_t stream, int64_t first, int64_t n, double *out)
{
    double buf[2 * FG_PAIRS];
    uint32_t sweep_lo = (uint32_t)sweep, sweep_hi = ((uint32_t)(sweep >> 32) << 4) | stream;
    int64_t pair = first >> 1, end = (first + n + 1) >> 1, skip = first & 1, done = 0;
#ifdef FG_HAVE_AVX2_PATH
    if (fg_avx2 < 0)
        fg_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    int avx2 = fg_avx2 && fg_simd_allowed;
#endif
    while (pair < end) {
        int m = end - pair < FG_PAIRS ? (int)(end - pair) : FG_PAIRS;
        double *dst = skip == 0 && 2 * m <= n - done ? out + done : buf; /* whole pairs go straight out */
#ifdef FG_HAVE_AVX2_PATH
        if (avx2)
            fg_philox_pairs_avx2(key[0], key[1], variable, (uint32_t)pair, sweep_lo, sweep_hi, m, dst);
        else
#endif
            fg_philox_pairs(key[0], key[1], variable, (uint32_t)pair, sweep_lo, sweep_hi, m, dst);
        int64_t take = 2 * m - skip < n - done ? 2 * m - skip : n - done;
        if (dst == buf)
            memcpy(out + done, buf + skip, (size_t)take * sizeof(double));
        done += take;
        skip = 0;
        pair += m;
    }
}

/* 1 with probability 1 / (1 + e^-d), else 0, without overflow and without a branch:
 * u < 1 / (1 + e^-d) for d >= 0, and u < e^d / (1 + e^d) otherwise, both as products. */
FG_INLINE int32_t fg_logistic_draw(double d, double u)
{
    double z = fg_exp_neg(d < 0.0 ? d : -d);
    double bound = d >= 0.0 ? 1.0 : z;
    return u * (1.0 + z) < bound;
}

/* fg_logistic_draw for n chains: out[c] = 1 with probability 1 / (1 + e^-d[c]). */
FG_CLONES static void fg_logistic_draws(int64_t n, const double *d, const double *u, int32_t *out)
{
    for (int64_t c = 0; c < n; c++)
        out[c] = fg_logistic_draw(d[c], u[c]);
}

/* A state drawn with probability proportional to exp(e[s]), s < k, for the uniform u;
 * overwrites e with the cumulative weights. */
FG_INLINE int32_t fg_categorical_draw(int32_t k, double *e, double u)
{
    double top = e[0], total = 0.0;
    int32_t s;
    for (s = 1; s < k; s++)
        top = e[s] > top ? e[s] : top;
    for (s = 0; s < k; s++) {
        total += fg_exp_neg(e[s] - top);
        e[s] = total;
    }
    u *= total;
    for (s = 0; s < k - 1 && !(u < e[s]); s++)
        ;
    return s;
}

/* fg_categorical_draw for n chains: chain c's k energies are energy[c * k .. c * k + k - 1]. */
FG_CLONES static void fg_categorical_draws(int64_t n, int32_t k, double *energy, const double *u, int32_t *out)
{
    for (int64_t c = 0; c < n; c++)
        out[c] = fg_categorical_draw(k, energy + c * k, u[c]);
}

/* The multi-state table path for one variable v with k states over a block of nb chains: the
 * energies of every state summed factor by factor (entry e adds the row of its table at
 * dtab + offset[e] for the other variable's state; a unary entry has one row), then one
 * categorical draw per chain into out. x points at all states shifted to the block's first
 * chain; energy holds nb * k doubles. */
FG_CLONES static void fg_tabulated_draws(int64_t nb, int32_t k, int64_t degree, const int32_t *other,
                                         const int64_t *offset, const double *dtab, const int32_t *x,
                                         int64_t n_chains, double *energy, const double *u, int32_t *out)
{
    int64_t c, e;
    int32_t s;
    for (c = 0; c < nb * k; c++)
        energy[c] = 0.0;
    for (e = 0; e < degree; e++) {
        const double *table = dtab + offset[e];
        const int32_t *xw = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        for (c = 0; c < nb; c++) {
            const double *src = table + (other[e] < 0 ? 0 : (int64_t)xw[c] * k);
            double *dst = energy + c * k;
            for (s = 0; s < k; s++) /* a contiguous row: vectorised */
                dst[s] += src[s];
        }
    }
    for (c = 0; c < nb; c++)
        out[c] = fg_categorical_draw(k, energy + c * k, u[c]);
}

/* The binary fast path for one variable v over a block of nb chains.
 *
 * For each (v, factor) entry e of v's factors: other[e] is the factor's other variable (-1 when
 * unary) and k_other[e] its number of states (1 when unary); vtab + offset[e] points at the
 * pairs (feature change, energy change) when v goes 0 -> 1, one pair per state of the other
 * variable. scaled[e] is 1 when the factor has one scaled feature, whose running sum
 * sums[feature[e]] is moved here (indexed factors are left to the caller, which reads flip).
 * xv points at v's states of the block, x at all states shifted to the block's first chain
 * (x + other * n_chains is the other's block). u holds the block's uniforms; d and flip
 * receive the energy changes and new - old per chain. Returns how many chains changed. */
FG_CLONES static int64_t fg_binary_update(int64_t nb, int32_t *xv, const int32_t *x, int64_t n_chains,
                                          int64_t degree, const int32_t *other, const int32_t *k_other,
                                          const double *vtab, const int64_t *offset, const int8_t *scaled,
                                          const int64_t *feature, double *sums, const double *u, double *d,
                                          double *flip)
{
    int64_t c, e, changed = 0;
    for (c = 0; c < nb; c++)
        d[c] = 0.0;
    for (e = 0; e < degree; e++) {
        const double *row = vtab + offset[e];
        const int32_t *xu = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        if (k_other[e] == 1) {
            for (c = 0; c < nb; c++)
                d[c] += row[1];
        } else if (k_other[e] == 2) { /* a select, not a gather: vectorises */
            double r0 = row[1], r1 = row[3];
            for (c = 0; c < nb; c++)
                d[c] += xu[c] ? r1 : r0;
        } else {
            for (c = 0; c < nb; c++)
                d[c] += row[2 * xu[c] + 1];
        }
    }
    for (c = 0; c < nb; c++) {
        int32_t old = xv[c], new = fg_logistic_draw(d[c], u[c]);
        flip[c] = (double)(new - old);
        xv[c] = new;
        changed += new != old;
    }
    if (changed == 0)
        return 0;
    for (e = 0; e < degree; e++) {
        if (!scaled[e])
            continue;
        const double *row = vtab + offset[e];
        const int32_t *xu = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        /* four fixed partial sums (vector lanes): the same bits on every machine */
        double acc[4] = {0.0, 0.0, 0.0, 0.0}, f0 = row[0];
        int64_t l, full = nb & ~(int64_t)3;
        if (k_other[e] == 1) {
            for (c = 0; c < full; c += 4)
                for (l = 0; l < 4; l++)
                    acc[l] += flip[c + l] * f0;
        } else if (k_other[e] == 2) {
            double f1 = row[2];
            for (c = 0; c < full; c += 4)
                for (l = 0; l < 4; l++)
                    acc[l] += flip[c + l] * (xu[c + l] ? f1 : f0);
        } else {
            for (c = 0; c < full; c += 4)
                for (l = 0; l < 4; l++)
                    acc[l] += flip[c + l] * row[2 * xu[c + l]];
        }
        for (c = full; c < nb; c++)
            acc[0] += flip[c] * (k_other[e] == 1 ? f0 : row[2 * xu[c]]);
        sums[feature[e]] += (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
    return changed;
}

#endif
