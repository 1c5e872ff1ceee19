/* e^x and the draws of the heat-bath updates: logistic (binary) and categorical (multi-state),
 * in plain C loops over the chains of a block so that the compiler vectorises them. */
#ifndef FG_DRAWS_H
#define FG_DRAWS_H

#include "_fg_cpu.h"

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
    /* e^r = 1 + r (1 + r s(r)): s, of degree 11, by Estrin's scheme (a shallow tree, so short
     * dependency chains), the last two steps by Horner's (they set the rounding of the result) */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double b01 = fma(r, 1.0 / 6.0, 0.5), b23 = fma(r, 1.0 / 120.0, 1.0 / 24.0);
    double b45 = fma(r, 1.0 / 5040.0, 1.0 / 720.0), b67 = fma(r, 1.0 / 362880.0, 1.0 / 40320.0);
    double b89 = fma(r, 1.0 / 39916800.0, 1.0 / 3628800.0), b1011 = fma(r, 1.0 / 6227020800.0, 1.0 / 479001600.0);
    double b03 = fma(r2, b23, b01), b47 = fma(r2, b67, b45), b811 = fma(r2, b1011, b89);
    double p = fma(r8, b811, fma(r4, b47, b03));
    p = fma(fma(p, r, 1.0), r, 1.0);
    int64_t k = (int64_t)(fg_to_bits(t) - fg_to_bits(shifter));
    return p * fg_from_bits((uint64_t)(k + 1023) << 52);
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

/* e^x for x <= 0 in single precision, within a few units in the last place; x below -87
 * counts as -87 (e^x is then below 2e-38). The same scheme as fg_exp_neg: x = n ln2 + r with
 * |r| <= ln2 / 2 (ln2 in two parts, the first exact in 16 bits), the Taylor polynomial of
 * degree 7 by Horner's rule with fused multiply-adds, 2^n put into the exponent bits. The
 * vector versions (fg_exp_neg8f) do the same operations: the same bits. */
FG_INLINE float fg_exp_neg_f(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.0f ? -87.0f : x;
    float t = fmaf(x, 1.44269504f, shifter);
    float n = t - shifter;
    float r = fmaf(-n, 1.42860677e-06f, fmaf(-n, 0.693145752f, x));
    float p = fmaf(r, 1.0f / 5040.0f, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t k = (int32_t)(fg_to_bits_f(t) - fg_to_bits_f(shifter));
    return p * fg_from_bits_f((uint32_t)(k + 127) << 23);
}

/* The uniform u in [0, 1) cut to 24 bits: exact in a float, and below 1. */
FG_INLINE float fg_uniform_f(double u)
{
    return (float)(int32_t)(u * 16777216.0) * (1.0f / 16777216.0f);
}

/* 1 with probability 1 / (1 + e^-d), else 0, in single precision (the Gibbs paths' precision
 * contract, docs/samplers.rst), without overflow and without a branch: v < 1 / (1 + e^-d) for
 * d >= 0, and v < e^d / (1 + e^d) otherwise, both as float products, with z = e^-|d| by
 * fg_exp_neg_f and v the uniform cut to 24 bits. */
FG_INLINE int32_t fg_logistic_draw_f(float d, double u)
{
    float z = fg_exp_neg_f(d < 0.0f ? d : -d);
    float bound = d >= 0.0f ? 1.0f : z;
    return fg_uniform_f(u) * (1.0f + z) < bound;
}

/* fg_categorical_draw in single precision (the multi-state Gibbs paths' precision contract,
 * docs/samplers.rst): the weights e^(e[s] - top) in floats, their cumulative sums in floats
 * in state order, and the uniform cut to 24 bits; overwrites e with the cumulative weights. */
FG_INLINE int32_t fg_categorical_draw_f(int32_t k, float *e, double u)
{
    float top = e[0], total = 0.0f;
    int32_t s;
    for (s = 1; s < k; s++)
        top = e[s] > top ? e[s] : top;
    for (s = 0; s < k; s++) {
        total += fg_exp_neg_f(e[s] - top);
        e[s] = total;
    }
    float v = fg_uniform_f(u) * total;
    for (s = 0; s < k - 1 && !(v < e[s]); s++)
        ;
    return s;
}

/* fg_categorical_draw_f for n chains: chain c's k energies are energy[c * k .. c * k + k - 1]. */
FG_CLONES static void fg_categorical_draws_f(int64_t n, int32_t k, float *energy, const double *u, int32_t *out)
{
    for (int64_t c = 0; c < n; c++)
        out[c] = fg_categorical_draw_f(k, energy + c * k, u[c]);
}

#endif
