/* One Philox vector path, written once and compiled once per instruction set (samplers/_fg_philox.h
 * includes this file for each). The includer defines:
 *   FG_PX_ATTRIBUTE   the function attribute with its target
 *   FG_PX_VECTORS     how many 4-lane vectors run side by side
 *   FG_PX_VECTORS_FN  FG_PX_QUADS_FN  the names of the two functions made here
 *   FG_PX_XOR3(a, b, c)         a ^ b ^ c on 64-bit lanes
 *   FG_PX_OR_AND(c, mask, bits) (c & mask) | bits on 64-bit lanes
 * Every instance gives fg_philox_quads's bits. */

/* V <= FG_PX_VECTORS vectors of FG_PX_QUADS_FN (4 quads each, from quad) side by side: a round's
 * multiply takes several cycles, and V independent vectors keep the pipes busy meanwhile. */
FG_PX_ATTRIBUTE FG_INLINE void FG_PX_VECTORS_FN(const int V, const __m256i *k0, const __m256i *k1,
                                                uint32_t variable, uint32_t quad, uint32_t sweep_lo,
                                                uint32_t sweep_hi, double *out)
{
    const __m256i m0 = _mm256_set1_epi64x(0xD2511F53), m1 = _mm256_set1_epi64x(0xCD9E8D57);
    const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFFll);
    const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000ll);
    const __m256d two52 = _mm256_set1_pd(0x1p52), scale = _mm256_set1_pd(0x1p-32);
    __m256i c0[FG_PX_VECTORS], c1[FG_PX_VECTORS], c2[FG_PX_VECTORS], c3[FG_PX_VECTORS];
    int v, r;
    for (v = 0; v < V; v++) {
        uint32_t q = quad + 4 * (uint32_t)v;
        c0[v] = _mm256_set1_epi64x(variable);
        c2[v] = _mm256_set1_epi64x(sweep_lo);
        c3[v] = _mm256_set1_epi64x(sweep_hi);
        c1[v] = _mm256_set_epi64x(q + 3, q + 2, q + 1, q);
    }
    for (r = 0; r < 10; r++)
        for (v = 0; v < V; v++) {
            __m256i p0 = _mm256_mul_epu32(m0, c0[v]), p1 = _mm256_mul_epu32(m1, c2[v]);
            c0[v] = FG_PX_XOR3(_mm256_srli_epi64(p1, 32), c1[v], k0[r]);
            c2[v] = FG_PX_XOR3(_mm256_srli_epi64(p0, 32), c3[v], k1[r]);
            c1[v] = p1;
            c3[v] = p0;
        }
    for (v = 0; v < V; v++) {
        /* each word as a double: 2^52 + word has the word as its low mantissa bits; times 2^-32 */
#define FG_WORD_UNIT(c) \
    _mm256_mul_pd(_mm256_sub_pd(_mm256_castsi256_pd(FG_PX_OR_AND(c, lo32, two52_bits)), two52), scale)
        __m256d w0 = FG_WORD_UNIT(c0[v]), w1 = FG_WORD_UNIT(c1[v]), w2 = FG_WORD_UNIT(c2[v]);
        __m256d w3 = FG_WORD_UNIT(c3[v]);
#undef FG_WORD_UNIT
        /* transpose: lane j of word w belongs to chain 4 (quad + j) + w */
        __m256d t0 = _mm256_unpacklo_pd(w0, w1), t1 = _mm256_unpackhi_pd(w0, w1);
        __m256d t2 = _mm256_unpacklo_pd(w2, w3), t3 = _mm256_unpackhi_pd(w2, w3);
        double *o = out + 16 * v;
        _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(o + 4, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(o + 8, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm256_storeu_pd(o + 12, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
}

/* fg_philox_quads with vectors: four calls side by side, one per 64-bit lane. The multiplier reads
 * only the low 32 bits of each lane, so the high halves may hold anything until the end. */
FG_PX_ATTRIBUTE static void FG_PX_QUADS_FN(uint32_t key0, uint32_t key1, uint32_t variable, uint32_t quad0,
                                           uint32_t sweep_lo, uint32_t sweep_hi, int m, double *out)
{
    __m256i k0[10], k1[10];
    uint32_t a = key0, b = key1;
    int i = 0;
    for (int r = 0; r < 10; r++, a += 0x9E3779B9u, b += 0xBB67AE85u) {
        k0[r] = _mm256_set1_epi64x(a);
        k1[r] = _mm256_set1_epi64x(b);
    }
    for (; i + 4 * FG_PX_VECTORS <= m; i += 4 * FG_PX_VECTORS)
        FG_PX_VECTORS_FN(FG_PX_VECTORS, k0, k1, variable, quad0 + (uint32_t)i, sweep_lo, sweep_hi, out + 4 * i);
    for (; i + 4 <= m; i += 4)
        FG_PX_VECTORS_FN(1, k0, k1, variable, quad0 + (uint32_t)i, sweep_lo, sweep_hi, out + 4 * i);
    if (i < m)
        fg_philox_quads(key0, key1, variable, quad0 + (uint32_t)i, sweep_lo, sweep_hi, m - i, out + 4 * i);
}

#undef FG_PX_ATTRIBUTE
#undef FG_PX_VECTORS
#undef FG_PX_VECTORS_FN
#undef FG_PX_QUADS_FN
#undef FG_PX_XOR3
#undef FG_PX_OR_AND
