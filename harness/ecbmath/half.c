/*
 * The one IEEE 754 binary16 ("half") conversion of ecbench: the float16
 * method's codes and .npy float16 files (datasets/vecs.c) both go through
 * it, so a vector read from a float16 file and the same vector cast by the
 * method are the same floats.
 *
 * Narrowing rounds to nearest, ties to even, with gradual underflow
 * (subnormal halves down to 2^-24) and IEEE overflow: |x| >= 65520 becomes
 * +-infinity (65504 is the largest finite half). NaN stays NaN (quiet, top
 * payload bits kept). It is done in software on the float bits, so codes do
 * not depend on the CPU (a test checks it against F16C's vcvtps2ph).
 * Widening is exact; ecb_half_decode uses F16C when ecb_cpu() has it, and
 * the software path makes NaNs quiet as vcvtph2ps does, so both paths give
 * the same bits for every code.
 */
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define ECB_HALF_X86 1
#else
#define ECB_HALF_X86 0
#endif

#include "ecbench/ecbmath.h"

uint16_t ecb_half_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    /* 65520 = 65504 + half an ulp: the tie rounds to the even 65536, i.e. inf. */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        /* Below 2^-14 the half is subnormal with ulp 2^-24; adding 0.5f (whose
         * ulp is 2^-24) lets the FPU do the round-to-nearest-even. */
        float af, s;
        memcpy(&af, &a, sizeof af);
        s = af + 0.5f;
        uint32_t sb;
        memcpy(&sb, &s, sizeof sb);
        return (uint16_t)(sign | (sb - 0x3f000000u));
    }
    /* Normal: re-bias the exponent (127 -> 15) and round the 13 dropped
     * mantissa bits to nearest even; a carry into the exponent is right. */
    uint32_t r = a - (112u << 23);
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

float ecb_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (e == 0) {
        float v = (float)mant * 0x1p-24f; /* exact: mant < 2^10 */
        memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    } else if (e == 31) {
        /* A NaN comes out quiet, as F16C's vcvtph2ps makes it. */
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
    } else {
        bits = sign | ((e + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void ecb_half_encode(const float *x, size_t n, uint8_t *out)
{
    for (size_t t = 0; t < n; t++) {
        uint16_t h = ecb_half_from_float(x[t]);
        out[2 * t] = (uint8_t)h;
        out[2 * t + 1] = (uint8_t)(h >> 8);
    }
}

static void decode_soft(const uint8_t *h, size_t n, float *x)
{
    for (size_t t = 0; t < n; t++)
        x[t] = ecb_half_to_float((uint16_t)(h[2 * t] | h[2 * t + 1] << 8));
}

#if ECB_HALF_X86
__attribute__((target("avx,f16c"))) static void decode_f16c(const uint8_t *h, size_t n, float *x)
{
    size_t t = 0;
    for (; t + 8 <= n; t += 8)
        _mm256_storeu_ps(x + t, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 2 * t))));
    decode_soft(h + 2 * t, n - t, x + t);
}
#endif

void ecb_half_decode(const uint8_t *h, size_t n, float *x)
{
#if ECB_HALF_X86
    if (ecb_cpu()->f16c) {
        decode_f16c(h, n, x);
        return;
    }
#endif
    decode_soft(h, n, x);
}
