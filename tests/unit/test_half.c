/*
 * The toolkit's one float16 conversion (harness/ecbmath/half.c), used by the
 * float16 method and by .npy float16 files: hand-derived edge cases
 * (rounding ties to even, subnormals, overflow, signed zero, NaN), the
 * exhaustive round trip of every code against an independent formula, the
 * array functions (F16C or not: the same bits), the narrowing against F16C's
 * vcvtps2ph, and the float16 method and a float16 .npy file agreeing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HALF_X86 1
#else
#define HALF_X86 0
#endif

#include "testutil.h"

#include "datasets/dataset.h"
#include "ecbench/ecbmath.h"

/* float <-> its bits */
typedef union {
    float f;
    uint32_t u;
} fpun;
#define fbits(x) ((fpun){.u = (x)}.f)
#define bitsf(x) ((fpun){.f = (x)}.u)

static void test_half_values(void **state)
{
    (void)state;
    assert_int_equal(ecb_half_from_float(1.0f), 0x3c00);
    assert_int_equal(ecb_half_from_float(-2.0f), 0xc000);
    assert_int_equal(ecb_half_from_float(0.0f), 0x0000);
    assert_int_equal(ecb_half_from_float(-0.0f), 0x8000);
    assert_int_equal(ecb_half_from_float(65504.0f), 0x7bff);         /* max finite */
    assert_int_equal(ecb_half_from_float(65519.99f), 0x7bff);        /* below half an ulp */
    assert_int_equal(ecb_half_from_float(65520.0f), 0x7c00);         /* tie -> even = inf */
    assert_int_equal(ecb_half_from_float(1e10f), 0x7c00);            /* IEEE overflow */
    assert_int_equal(ecb_half_from_float(-INFINITY), 0xfc00);
    assert_int_equal(ecb_half_from_float(INFINITY), 0x7c00);
    /* Ties to even at 1.0 (ulp 2^-10). */
    assert_int_equal(ecb_half_from_float(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(ecb_half_from_float(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(ecb_half_from_float(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    assert_int_equal(ecb_half_from_float(1.0f + 0x1p-11f - 0x1p-20f), 0x3c00);
    /* Subnormals: step 2^-24. */
    assert_int_equal(ecb_half_from_float(0x1p-24f), 0x0001);
    assert_int_equal(ecb_half_from_float(0x1p-25f), 0x0000);         /* tie -> 0 (even) */
    assert_int_equal(ecb_half_from_float(0x1p-25f + 0x1p-40f), 0x0001);
    assert_int_equal(ecb_half_from_float(1.5f * 0x1p-24f), 0x0002);  /* tie -> 2 */
    assert_int_equal(ecb_half_from_float(2.5f * 0x1p-24f), 0x0002);  /* tie -> 2 */
    assert_int_equal(ecb_half_from_float(1023.0f * 0x1p-24f), 0x03ff);
    assert_int_equal(ecb_half_from_float(1023.5f * 0x1p-24f), 0x0400); /* carry to min normal */
    assert_int_equal(ecb_half_from_float(0x1p-14f), 0x0400);
    assert_int_equal(ecb_half_from_float(-0x1p-24f), 0x8001);
    assert_int_equal(ecb_half_from_float(1e-30f), 0x0000);
    assert_int_equal(ecb_half_from_float(-1e-30f), 0x8000);
    /* NaN stays NaN, never infinity. */
    uint16_t h = ecb_half_from_float(NAN);
    assert_true((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0);
    h = ecb_half_from_float(fbits(0x7f800001u)); /* signalling NaN, payload in low bits */
    assert_true((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0);
    /* Decoding. */
    assert_true(ecb_half_to_float(0x0001) == 0x1p-24f);
    assert_true(ecb_half_to_float(0x03ff) == 1023.0f * 0x1p-24f);
    assert_true(ecb_half_to_float(0x7bff) == 65504.0f);
    assert_true(ecb_half_to_float(0x3555) == 0x1.554p-2f);
    assert_true(bitsf(ecb_half_to_float(0x8000)) == 0x80000000u);
    assert_true(isinf(ecb_half_to_float(0x7c00)) && ecb_half_to_float(0xfc00) < 0);
    assert_true(isnan(ecb_half_to_float(0x7e00)));
}

/* Every code: the float is the textbook value (computed here with ldexp,
 * independently of half.c), narrowing it gives the code back, NaN codes stay
 * NaN with their sign, and the array functions agree with the scalar ones
 * bit for bit at every length and alignment. */
static void test_half_exhaustive(void **state)
{
    (void)state;
    static uint8_t all[65536 * 2 + 1];
    static float wide[65536];
    for (uint32_t c = 0; c < 65536; c++) {
        float f = ecb_half_to_float((uint16_t)c);
        unsigned e = c >> 10 & 31, man = c & 1023;
        double sign = c & 0x8000 ? -1.0 : 1.0;
        if (e == 31) {
            if (man) {
                assert_true(isnan(f));
                assert_true((bitsf(f) >> 31) == (c >> 15));
                uint16_t back = ecb_half_from_float(f);
                assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff) && (back >> 15) == (c >> 15));
            } else {
                assert_true(isinf(f) && (f < 0) == (c >> 15));
            }
        } else {
            double want = sign * (e ? ldexp(1024 + man, (int)e - 25) : ldexp(man, -24));
            assert_true((double)f == want);
            assert_true(!signbit(f) == !signbit(sign));
        }
        if (!isnan(f)) assert_int_equal(ecb_half_from_float(f), c);
        all[1 + 2 * c] = (uint8_t)c;
        all[2 + 2 * c] = (uint8_t)(c >> 8);
    }
    /* decode of every code, from an odd address (unaligned) */
    volatile size_t cnt = 65536; /* keeps GCC from specialising the tail loop */
    ecb_half_decode(all + 1, cnt, wide);
    for (uint32_t c = 0; c < 65536; c++)
        if (bitsf(wide[c]) != bitsf(ecb_half_to_float((uint16_t)c)))
            fail_msg("decode of 0x%04x: 0x%08x, scalar 0x%08x", c, bitsf(wide[c]),
                     bitsf(ecb_half_to_float((uint16_t)c)));
    /* short lengths (the tails of the 8-wide path) and encode */
    for (size_t n = 0; n <= 19; n++) {
        float x[19], y[20];
        uint8_t h[2 * 19 + 1];
        for (size_t t = 0; t < n; t++) x[t] = (float)t * 0.37f - 3.1f + (t == 5 ? 1e-6f : 0);
        y[n] = 42.0f;
        ecb_half_encode(x, n, h + 1);
        ecb_half_decode(h + 1, n, y);
        for (size_t t = 0; t < n; t++) {
            uint16_t code = (uint16_t)(h[1 + 2 * t] | h[2 + 2 * t] << 8);
            assert_int_equal(code, ecb_half_from_float(x[t]));
            assert_true(bitsf(y[t]) == bitsf(ecb_half_to_float(code)));
        }
        assert_true(y[n] == 42.0f); /* nothing written past n */
    }
}

#if HALF_X86
__attribute__((target("avx,f16c"))) static uint16_t hw_f16(float f)
{
    __m128i r = _mm_cvtps_ph(_mm_set1_ps(f), _MM_FROUND_TO_NEAREST_INT);
    return (uint16_t)_mm_extract_epi16(r, 0);
}
#endif

static void test_half_vs_f16c(void **state)
{
    (void)state;
#if HALF_X86
    if (!ecb_cpu()->f16c) TU_SKIP("CPU without F16C (or ECBENCH_CPU below avx2)");
    /* Random float bit patterns (every exponent, NaN, inf, subnormal)
     * convert exactly as the hardware instruction does. */
    ecb_rng r;
    ecb_rng_seed(&r, 7);
    for (int i = 0; i < 2000000; i++) {
        uint32_t u = (uint32_t)ecb_rng_next(&r);
        if (i % 2) u = (u & 0x8fffffffu) | 0x30000000u; /* concentrate near half's range */
        float f = fbits(u);
        uint16_t sw = ecb_half_from_float(f), hw = hw_f16(f);
        if (sw != hw) fail_msg("float bits 0x%08x: software 0x%04x, F16C 0x%04x", u, sw, hw);
    }
#else
    TU_SKIP("not x86-64");
#endif
}


/* A float16 .npy file reads as the float16 method decodes its codes. */
static void test_half_npy(void **state)
{
    (void)state;
    enum { N = 3, D = 8 };
    const float x[N * D] = {1.0f, -2.5f, 65504.0f, 0x1p-24f, 0.1f, -0.0f, 3.14159f, 1e-5f,
                            100.0f, 0.333f, -7.75f, 0x1p-14f, 1024.5f, 2.0f, -1e-3f, 0.5f,
                            5e-8f, 6e-8f, 1.5f * 0x1p-24f, 12345.0f, -0.2f, 0.7f, 9.0f, -1.0f};
    uint8_t codes[N * D * 2];
    ecb_half_encode(x, N * D, codes);
    char *dir = tu_tmpdir(), path[600];
    snprintf(path, sizeof path, "%s/h.npy", dir);
    /* NPY v1.0: magic, version, header length, header padded to 128 bytes */
    char hdr[128];
    const char *dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 8), }";
    size_t hl = sizeof hdr - 10;
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)hl;
    hdr[9] = 0;
    memcpy(hdr + 10, dict, strlen(dict));
    hdr[sizeof hdr - 1] = '\n';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(hdr, 1, sizeof hdr, f);
    fwrite(codes, 1, sizeof codes, f);
    fclose(f);
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_open(path, &v), 0);
    assert_int_equal(ecb_vecs_count(v), N);
    assert_int_equal(ecb_vecs_dim(v), D);
    float got[N * D], want[N * D];
    assert_int_equal(ecb_vecs_read(v, 0, N, got), 0);
    ecb_half_decode(codes, N * D, want);
    assert_memory_equal(got, want, sizeof got);
    ecb_vecs_free(v);
    remove(path);
    rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_values),
        cmocka_unit_test(test_half_exhaustive),
        cmocka_unit_test(test_half_vs_f16c),
        cmocka_unit_test(test_half_npy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
