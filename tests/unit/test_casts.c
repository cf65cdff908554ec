/*
 * Unit tests of the cast plugins float16, bfloat16 and float8 (E4M3FN and
 * E5M2): hand-derived edge cases of the conversions (rounding ties to even,
 * subnormals, overflow, signed zero, NaN), exhaustive round trips of every
 * code, exact code sizes, and scores on a hand-made example in both modes
 * and both similarities. The float16 conversion itself is the toolkit's
 * (tests/unit/test_half.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin sources come before cmocka, whose fail() macro would clash
 * with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/bfloat16.c"
#include "methods/float16.c"
#include "methods/float8.c"

#include "testutil.h"

static float fbits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bitsf(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- bfloat16 ----------------------------------------------------------------- */

static void test_bf16_values(void **state)
{
    (void)state;
    assert_int_equal(bf16_from_float(1.0f), 0x3f80);
    assert_int_equal(bf16_from_float(-0.0f), 0x8000);
    /* Ties to even at 1.0 (ulp 2^-7). */
    assert_int_equal(bf16_from_float(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(bf16_from_float(1.0f + 3 * 0x1p-8f), 0x3f82);
    assert_int_equal(bf16_from_float(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_int_equal(bf16_from_float(-(1.0f + 3 * 0x1p-8f)), 0xbf82);
    /* 3.14159274 = 0x40490fdb -> 0x4049 (0x0fdb < 0x8000). */
    assert_int_equal(bf16_from_float(3.14159274f), 0x4049);
    /* Subnormals (same exponent range as float32). */
    assert_int_equal(bf16_from_float(fbits(0x00010000u)), 0x0001);
    assert_int_equal(bf16_from_float(fbits(0x00008000u)), 0x0000); /* tie -> 0 */
    assert_int_equal(bf16_from_float(fbits(0x00018000u)), 0x0002); /* tie -> 2 */
    assert_int_equal(bf16_from_float(fbits(0x007fffffu)), 0x0080); /* carry to min normal */
    /* Overflow: FLT_MAX is past the last tie, IEEE gives infinity. */
    assert_int_equal(bf16_from_float(fbits(0x7f7fffffu)), 0x7f80);
    assert_int_equal(bf16_from_float(fbits(0x7f7f7fffu)), 0x7f7f);
    assert_int_equal(bf16_from_float(-INFINITY), 0xff80);
    uint16_t h = bf16_from_float(NAN);
    assert_true((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0);
    h = bf16_from_float(fbits(0x7f800001u)); /* NaN whose payload is only in the low bits */
    assert_true((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0);
    assert_true(bf16_to_float(0x3f80) == 1.0f);
    assert_true(bf16_to_float(0x4049) == 3.140625f);
    for (uint32_t c = 0; c < 65536; c++) {
        float f = bf16_to_float((uint16_t)c);
        if (isnan(f)) continue;
        assert_int_equal(bf16_from_float(f), c);
    }
}

/* ---- float8 ------------------------------------------------------------------------ */

static const f8_format *E4 = &f8_fmt[F8_E4M3], *E5 = &f8_fmt[F8_E5M2];

static void test_f8_e4m3(void **state)
{
    (void)state;
    assert_int_equal(f8_from_float(1.0f, E4), 0x38);
    assert_int_equal(f8_from_float(-1.0f, E4), 0xb8);
    assert_int_equal(f8_from_float(448.0f, E4), 0x7e);
    assert_int_equal(f8_from_float(416.0f, E4), 0x7d);
    assert_int_equal(f8_from_float(432.0f, E4), 0x7e);  /* tie 416|448 -> even 448 */
    assert_int_equal(f8_from_float(449.0f, E4), 0x7e);  /* saturation */
    assert_int_equal(f8_from_float(464.0f, E4), 0x7e);
    assert_int_equal(f8_from_float(1e30f, E4), 0x7e);
    assert_int_equal(f8_from_float(INFINITY, E4), 0x7e);
    assert_int_equal(f8_from_float(-INFINITY, E4), 0xfe);
    assert_int_equal(f8_from_float(-1000.0f, E4), 0xfe);
    /* Ties to even at 1.0 (ulp 1/8). */
    assert_int_equal(f8_from_float(1.0625f, E4), 0x38);
    assert_int_equal(f8_from_float(1.1875f, E4), 0x3a);
    assert_int_equal(f8_from_float(1.07f, E4), 0x39);
    /* Subnormals: step 2^-9, smallest normal 2^-6. */
    assert_int_equal(f8_from_float(0x1p-9f, E4), 0x01);
    assert_int_equal(f8_from_float(0x1p-10f, E4), 0x00);        /* tie -> 0 */
    assert_int_equal(f8_from_float(0x1.01p-10f, E4), 0x01);
    assert_int_equal(f8_from_float(1.5f * 0x1p-9f, E4), 0x02);  /* tie -> 2 */
    assert_int_equal(f8_from_float(7.0f * 0x1p-9f, E4), 0x07);
    assert_int_equal(f8_from_float(7.5f * 0x1p-9f, E4), 0x08);  /* carry to min normal */
    assert_int_equal(f8_from_float(0x1p-6f, E4), 0x08);
    assert_int_equal(f8_from_float(-0x1p-9f, E4), 0x81);
    assert_int_equal(f8_from_float(1e-20f, E4), 0x00);
    assert_int_equal(f8_from_float(-0.0f, E4), 0x80);
    assert_int_equal(f8_from_float(NAN, E4), 0x7f);
    assert_int_equal(f8_from_float(-NAN, E4), 0xff);
    /* Decoding: every code, hand-checked anchors. */
    float t[256];
    for (unsigned c = 0; c < 256; c++) t[c] = f8_value(c, E4, 1);
    assert_true(t[0x7e] == 448.0f && t[0xfe] == -448.0f);
    assert_true(t[0x01] == 0x1p-9f && t[0x08] == 0x1p-6f && t[0x38] == 1.0f);
    assert_true(bitsf(t[0x80]) == 0x80000000u);
    assert_true(isnan(t[0x7f]) && isnan(t[0xff]));
    int nans = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (isnan(t[c])) { nans++; continue; }
        assert_false(isinf(t[c])); /* FN: no infinities */
        assert_int_equal(f8_from_float(t[c], E4), c);
    }
    assert_int_equal(nans, 2);
}

static void test_f8_e5m2(void **state)
{
    (void)state;
    assert_int_equal(f8_from_float(1.0f, E5), 0x3c);
    assert_int_equal(f8_from_float(57344.0f, E5), 0x7b);
    assert_int_equal(f8_from_float(61440.0f, E5), 0x7b); /* tie with 65536 -> saturate */
    assert_int_equal(f8_from_float(1e9f, E5), 0x7b);
    assert_int_equal(f8_from_float(INFINITY, E5), 0x7b);
    assert_int_equal(f8_from_float(-INFINITY, E5), 0xfb);
    assert_int_equal(f8_from_float(1.125f, E5), 0x3c); /* tie -> even (1.0) */
    assert_int_equal(f8_from_float(1.375f, E5), 0x3e); /* tie -> even (1.5) */
    assert_int_equal(f8_from_float(0x1p-16f, E5), 0x01);
    assert_int_equal(f8_from_float(0x1p-17f, E5), 0x00);
    assert_int_equal(f8_from_float(3.0f * 0x1p-17f, E5), 0x02);
    assert_int_equal(f8_from_float(3.5f * 0x1p-16f, E5), 0x04); /* carry to min normal */
    assert_int_equal(f8_from_float(0x1p-14f, E5), 0x04);
    assert_int_equal(f8_from_float(-0.0f, E5), 0x80);
    assert_int_equal(f8_from_float(NAN, E5), 0x7e);
    float t[256];
    for (unsigned c = 0; c < 256; c++) t[c] = f8_value(c, E5, 0);
    assert_true(t[0x7b] == 57344.0f && t[0x01] == 0x1p-16f && t[0x3c] == 1.0f);
    assert_true(isinf(t[0x7c]) && isinf(t[0xfc]) && isnan(t[0x7d]));
    for (unsigned c = 0; c < 256; c++) {
        if (isnan(t[c]) || isinf(t[c])) continue;
        assert_int_equal(f8_from_float(t[c], E5), c);
    }
}

static void test_f8_never_nan(void **state)
{
    (void)state;
    /* No finite input, nor infinity, gives a NaN or infinite code. */
    ecb_rng r;
    ecb_rng_seed(&r, 3);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)ecb_rng_next(&r);
        float f = fbits(u);
        if (isnan(f)) continue;
        uint8_t a = f8_from_float(f, E4), b = f8_from_float(f, E5);
        assert_true((a & 0x7f) != 0x7f);
        assert_true((b & 0x7f) < 0x7c);
        /* Round to nearest: no representable value is closer. */
        if (fabsf(f) <= 448.0f) {
            float got = f8_value(a, E4, 1);
            float err = fabsf(got - f);
            float lo = f8_value((a & 0x7f) ? a - 1u : a, E4, 1);
            if ((a & 0x7f) != 0) assert_true(fabsf(lo - f) >= err);
        }
    }
}

/* ---- plugin level -------------------------------------------------------------- */

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 1, 1);
    return 0;
}

static void run_plugin(const ecb_method_vtable *vt, const void *params, size_t code_per_dim)
{
    const size_t dims[] = {1, 7, 8, 13, 768};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        size_t d = dims[di];
        for (int sim = 0; sim < 2; sim++) {
            ecb_method *m = NULL;
            assert_int_equal(vt->create(&H, params, d, (ecb_similarity)sim, &m), 0);
            assert_int_equal(vt->code_size(m), code_per_dim * d);
            assert_int_equal(vt->aux_bytes(m), 0);
            assert_true(vt->flags & ECB_METHOD_SYMMETRIC);
            assert_true(vt->flags & ECB_METHOD_ASYMMETRIC);
            /* n = 0 everywhere is a no-op. */
            assert_int_equal(vt->encode(m, NULL, 0, NULL), 0);
            assert_int_equal(vt->score(m, ECB_MODE_ASYMMETRIC, NULL, 0, NULL, 0, NULL), 0);
            vt->destroy(m);
        }
    }
    /* Hand example, dim 3, values exact in every format. */
    const float x[6] = {1, 2, 3, -0.5f, 0.25f, 4};
    const float q[3] = {1, -1, 0.5f};
    float qs[3], sc[2], back[6];
    uint8_t codes[2 * 3 * 2];
    for (int sim = 0; sim < 2; sim++) {
        ecb_method *m = NULL;
        assert_int_equal(vt->create(&H, params, 3, (ecb_similarity)sim, &m), 0);
        assert_int_equal(vt->encode(m, x, 2, codes), 0);
        assert_int_equal(vt->decode(m, codes, 2, back), 0);
        for (int t = 0; t < 6; t++) assert_true(back[t] == x[t]);
        for (int mode = 0; mode < 2; mode++) {
            assert_int_equal(vt->query_size(m, (ecb_mode)mode), 3 * sizeof(float));
            assert_int_equal(vt->prepare(m, (ecb_mode)mode, q, 1, qs), 0);
            assert_int_equal(vt->score(m, (ecb_mode)mode, qs, 1, codes, 2, sc), 0);
            if (sim == ECB_SIM_DOT) {
                assert_float_equal(sc[0], 1 - 2 + 1.5, 1e-6); /* 0.5 */
                assert_float_equal(sc[1], -0.5 - 0.25 + 2, 1e-6); /* 1.25 */
            } else {
                assert_float_equal(sc[0], -(0 + 9 + 6.25), 1e-5);
                assert_float_equal(sc[1], -(2.25 + 1.5625 + 12.25), 1e-5);
            }
        }
        vt->destroy(m);
    }
}

static void test_plugins(void **state)
{
    (void)state;
    run_plugin(ecb_method_float16(), NULL, 2);
    run_plugin(ecb_method_bfloat16(), NULL, 2);
    struct f8_params p4 = {F8_E4M3}, p5 = {F8_E5M2};
    run_plugin(ecb_method_float8(), &p4, 1);
    run_plugin(ecb_method_float8(), &p5, 1);
    struct f8_params bad = {7};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_float8()->create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "format"));
}

static void test_symmetric_rounds_query(void **state)
{
    (void)state;
    /* The symmetric query goes through the cast, the asymmetric one not. */
    const float q[2] = {1.0f + 0x1p-12f, 300.0f};
    float a[2], s[2];
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_float16()->create(&H, NULL, 2, ECB_SIM_DOT, &m), 0);
    ecb_method_float16()->prepare(m, ECB_MODE_ASYMMETRIC, q, 1, a);
    ecb_method_float16()->prepare(m, ECB_MODE_SYMMETRIC, q, 1, s);
    assert_true(a[0] == q[0] && s[0] == 1.0f && s[1] == 300.0f);
    ecb_method_float16()->destroy(m);
    struct f8_params p4 = {F8_E4M3};
    assert_int_equal(ecb_method_float8()->create(&H, &p4, 2, ECB_SIM_DOT, &m), 0);
    ecb_method_float8()->prepare(m, ECB_MODE_SYMMETRIC, q, 1, s);
    assert_true(s[0] == 1.0f && s[1] == 288.0f); /* 300 -> 288 (ulp 32 above 256) */
    ecb_method_float8()->destroy(m);
}

/* Decoding every code, by F16C (when the CPU has it) and by the table,
 * gives f8_value's bits, NaNs and signed zeros included: 3 x 256 + 5 codes
 * (the SIMD path's groups of 8 and a tail), at an odd dim. */
static void test_f8_decode_paths(void **state)
{
    (void)state;
    enum { DIM = 7, N = (3 * 256 + 5) / DIM + 1 };
    uint8_t codes[N * DIM];
    float x[N * DIM];
    for (size_t i = 0; i < N * DIM; i++) codes[i] = (uint8_t)(i * 37 + i / 256);
    for (int f = F8_E4M3; f <= F8_E5M2; f++) {
        struct f8_params p = {f};
        ecb_method *m = NULL;
        assert_int_equal(ecb_method_float8()->create(&H, &p, DIM, ECB_SIM_DOT, &m), 0);
        f8_state *st = (f8_state *)m;
        for (int simd = 1; simd >= 0; simd--) {
            if (!simd) st->f16c = 0;
            memset(x, 0xA5, sizeof x);
            assert_int_equal(ecb_method_float8()->decode(m, codes, N, x), 0);
            for (size_t i = 0; i < N * DIM; i++) {
                uint32_t want = bitsf(f8_value(codes[i], &f8_fmt[f], f == F8_E4M3));
                if (bitsf(x[i]) != want)
                    fail_msg("format %d simd %d code 0x%02x: 0x%08x, expected 0x%08x", f, simd,
                             codes[i], bitsf(x[i]), want);
            }
        }
        ecb_method_float8()->destroy(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_values),
        cmocka_unit_test(test_f8_e4m3),
        cmocka_unit_test(test_f8_e5m2),
        cmocka_unit_test(test_f8_never_nan),
        cmocka_unit_test_setup(test_f8_decode_paths, setup),
        cmocka_unit_test_setup(test_plugins, setup),
        cmocka_unit_test_setup(test_symmetric_rounds_query, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
