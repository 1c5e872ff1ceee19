/* fg_exp_neg on vector lanes, written once and compiled once per vector width
 * (samplers/_fg_gibbs_paths.h includes this file for each). The same operations as fg_exp_neg, so the
 * same bits. The includer defines:
 *   FG_EX_ATTRIBUTE  the function attribute with its target
 *   FG_EX_NAME       the name of the function made here
 *   FG_EX_PD         the vector of doubles; FG_EX_SI the vector of 64-bit integers
 *   FG_EX(op)        the intrinsic for op at this width (add_pd, sub_epi64, ...)
 *   FG_EX_TO_SI(v)   FG_EX_TO_PD(v)  the casts between the two, FG_EX_SET1_SI(n) a broadcast
 *   FG_EX_NEG(v)     -v, by the sign bit */

FG_EX_ATTRIBUTE static inline FG_EX_PD FG_EX_NAME(FG_EX_PD x)
{
    const FG_EX_PD shifter = FG_EX(set1_pd)(6755399441055744.0);
    x = FG_EX(max_pd)(x, FG_EX(set1_pd)(-708.0)); /* x < -708 ? -708 : x, for x not NaN */
    FG_EX_PD t = FG_EX(fmadd_pd)(x, FG_EX(set1_pd)(1.4426950408889634), shifter);
    FG_EX_PD n = FG_EX(sub_pd)(t, shifter);
    FG_EX_PD minus_n = FG_EX_NEG(n);
    FG_EX_PD r = FG_EX(fmadd_pd)(minus_n, FG_EX(set1_pd)(1.90821492927058770002e-10),
                                 FG_EX(fmadd_pd)(minus_n, FG_EX(set1_pd)(6.93147180369123816490e-01), x));
#define FG_FMA(a, b, c) FG_EX(fmadd_pd)(a, b, c)
#define FG_C(x) FG_EX(set1_pd)(x)
    FG_EX_PD r2 = FG_EX(mul_pd)(r, r), r4 = FG_EX(mul_pd)(r2, r2), r8 = FG_EX(mul_pd)(r4, r4);
    FG_EX_PD b01 = FG_FMA(r, FG_C(1.0 / 6.0), FG_C(0.5)), b23 = FG_FMA(r, FG_C(1.0 / 120.0), FG_C(1.0 / 24.0));
    FG_EX_PD b45 = FG_FMA(r, FG_C(1.0 / 5040.0), FG_C(1.0 / 720.0));
    FG_EX_PD b67 = FG_FMA(r, FG_C(1.0 / 362880.0), FG_C(1.0 / 40320.0));
    FG_EX_PD b89 = FG_FMA(r, FG_C(1.0 / 39916800.0), FG_C(1.0 / 3628800.0));
    FG_EX_PD b1011 = FG_FMA(r, FG_C(1.0 / 6227020800.0), FG_C(1.0 / 479001600.0));
    FG_EX_PD b03 = FG_FMA(r2, b23, b01), b47 = FG_FMA(r2, b67, b45), b811 = FG_FMA(r2, b1011, b89);
    FG_EX_PD p = FG_FMA(r8, b811, FG_FMA(r4, b47, b03));
    p = FG_FMA(FG_FMA(p, r, FG_C(1.0)), r, FG_C(1.0));
#undef FG_FMA
#undef FG_C
    FG_EX_SI k = FG_EX(sub_epi64)(FG_EX_TO_SI(t), FG_EX_TO_SI(shifter));
    FG_EX_SI two_k = FG_EX(slli_epi64)(FG_EX(add_epi64)(k, FG_EX_SET1_SI(1023)), 52);
    return FG_EX(mul_pd)(p, FG_EX_TO_PD(two_k));
}

#undef FG_EX_ATTRIBUTE
#undef FG_EX_NAME
#undef FG_EX_PD
#undef FG_EX_SI
#undef FG_EX
#undef FG_EX_TO_SI
#undef FG_EX_TO_PD
#undef FG_EX_SET1_SI
#undef FG_EX_NEG
