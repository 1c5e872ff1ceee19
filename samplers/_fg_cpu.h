/* What every sampler kernel header shares: the multi-versioning and inlining macros, exact bit
 * moves between doubles and integers, and which vector code the machine can run.
 *
 * Every floating-point result of the kernels is reproducible bit for bit: the modules are
 * compiled with -ffp-contract=off (no fused multiply-adds that the compiler may or may not
 * form), sums over chains use fixed partial sums, and e^x is our own polynomial rather than the
 * C library's, so scalar and vector code, every multi-versioned clone and every thread count
 * agree. The vector level a kernel may use is passed in by its caller (``simd``: 0 portable
 * only, 1 up to AVX2, 2 up to AVX-512), from the one switch in samplers/_random.pyx.
 */
#ifndef FG_CPU_H
#define FG_CPU_H

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
static inline float fg_from_bits_f(uint32_t b) { float f; memcpy(&f, &b, sizeof f); return f; }
static inline uint32_t fg_to_bits_f(float f) { uint32_t b; memcpy(&b, &f, sizeof b); return b; }

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define FG_HAVE_AVX2_PATH 1
/* The machine's widest vector code on the scale of ``simd`` (AVX2 needs FMA too, AVX-512 needs
 * F and VL), looked up once; one store, so a thread sees either -1 or the answer. */
static int fg_cpu_widest = -1;

static inline int fg_cpu_level(void)
{
    if (fg_cpu_widest < 0) {
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        fg_cpu_widest = avx2 + (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"));
    }
    return fg_cpu_widest;
}

/* The instruction sets of the vector paths, as fg_cpu_level checks them. */
#define FG_AVX2 __attribute__((target("avx2,fma")))
#define FG_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl")))

static inline int fg_use_avx2(int simd) { return simd >= 1 && fg_cpu_level() >= 1; }
static inline int fg_use_avx512(int simd) { return simd >= 2 && fg_cpu_level() >= 2; }
#endif

/* The widest vector code this build can run on this machine, on the scale of ``simd``. */
static int __attribute__((unused)) fg_simd_machine(void)
{
#ifdef FG_HAVE_AVX2_PATH
    return fg_cpu_level();
#else
    return 0;
#endif
}

#endif
