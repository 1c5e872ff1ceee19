/* The counter-based generator: Philox4x32-10 and the uniforms of a block of chains, portable
 * and in AVX2 / AVX-512 registers, the same bits every way. */
#ifndef FG_PHILOX_H
#define FG_PHILOX_H

#include "_fg_cpu.h"

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

/* A uniform double in [0, 1) from one 32-bit word: word / 2^32, exact. Draws compare it with
 * probabilities, so a probability is resolved to 2^-32 (2.3e-10), far below any Monte Carlo error. */
FG_INLINE double fg_unit(uint32_t word) { return (double)word * 0x1p-32; }

#define FG_QUADS 16

/* Four uniforms per Philox call, for the chain quads quad0 .. quad0 + m - 1 (m <= FG_QUADS):
 * counter (variable, quad, sweep low word, sweep high word * 16 + stream). */
FG_INLINE void fg_philox_quads(uint32_t key0, uint32_t key1, uint32_t variable, uint32_t quad0,
                               uint32_t sweep_lo, uint32_t sweep_hi, int m, double *out)
{
    for (size_t i = 0; i < (size_t)m; i++) { /* unsigned: vectorises even under -fwrapv */
        uint32_t c0 = variable, c1 = quad0 + (uint32_t)i, c2 = sweep_lo, c3 = sweep_hi;
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
        out[4 * i] = fg_unit(c0);
        out[4 * i + 1] = fg_unit(c1);
        out[4 * i + 2] = fg_unit(c2);
        out[4 * i + 3] = fg_unit(c3);
    }
}

#ifdef FG_HAVE_AVX2_PATH
/* AVX2: two vectors side by side hide the multiply latency; four spill the 16 registers. */
#define FG_PX_ATTRIBUTE FG_AVX2
#define FG_PX_VECTORS 2
#define FG_PX_VECTORS_FN fg_philox_vectors_avx2
#define FG_PX_QUADS_FN fg_philox_quads_avx2
#define FG_PX_XOR3(a, b, c) _mm256_xor_si256(_mm256_xor_si256(a, b), c)
#define FG_PX_OR_AND(c, mask, bits) _mm256_or_si256(_mm256_and_si256(c, mask), bits)
#include "_philox_simd.h"

/* AVX-512VL on 256-bit vectors: 32 registers hold four vectors, and one three-input logic
 * instruction does each double xor and each and-or (0x96: a ^ b ^ c; 0xEA: (a & b) | c). */
#define FG_PX_ATTRIBUTE FG_AVX512
#define FG_PX_VECTORS 4
#define FG_PX_VECTORS_FN fg_philox_vectors_avx512
#define FG_PX_QUADS_FN fg_philox_quads_avx512
#define FG_PX_XOR3(a, b, c) _mm256_ternarylogic_epi64(a, b, c, 0x96)
#define FG_PX_OR_AND(c, mask, bits) _mm256_ternarylogic_epi64(c, mask, bits, 0xEA)
#include "_philox_simd.h"
#endif

/* The uniforms of global chains first .. first + n - 1 for one (variable, sweep, stream):
 * chain c takes word c % 4 of the call for quad c / 4, so a chain's number depends on nothing
 * but its own (key, chain, sweep, variable, stream). Computed with the widest Philox the
 * machine has; the same bits either way. */
static void __attribute__((unused)) fg_uniforms(const uint32_t *key, uint32_t variable, uint64_t sweep,
                                                uint32_t stream, int64_t first, int64_t n, double *out, int simd)
{
    double buf[4 * FG_QUADS];
    uint32_t sweep_lo = (uint32_t)sweep, sweep_hi = ((uint32_t)(sweep >> 32) << 4) | stream;
    int64_t quad = first >> 2, end = (first + n + 3) >> 2, skip = first & 3, done = 0;
#ifdef FG_HAVE_AVX2_PATH
    int avx2 = fg_use_avx2(simd), avx512 = fg_use_avx512(simd);
#endif
    while (quad < end) {
        int m = end - quad < FG_QUADS ? (int)(end - quad) : FG_QUADS;
        double *dst = skip == 0 && 4 * m <= n - done ? out + done : buf; /* whole quads go straight out */
#ifdef FG_HAVE_AVX2_PATH
        if (avx512)
            fg_philox_quads_avx512(key[0], key[1], variable, (uint32_t)quad, sweep_lo, sweep_hi, m, dst);
        else if (avx2)
            fg_philox_quads_avx2(key[0], key[1], variable, (uint32_t)quad, sweep_lo, sweep_hi, m, dst);
        else
#endif
            fg_philox_quads(key[0], key[1], variable, (uint32_t)quad, sweep_lo, sweep_hi, m, dst);
        int64_t take = 4 * m - skip < n - done ? 4 * m - skip : n - done;
        if (dst == buf)
            memcpy(out + done, buf + skip, (size_t)take * sizeof(double));
        done += take;
        skip = 0;
        quad += m;
    }
}

#endif
