/*
 * float4 (E2M1, optional MXFP4 block scales): the cast's ties-to-even and
 * saturation by hand, every code's round trip, no representable value
 * closer than the chosen one, hand-packed codes and block scales, exact
 * code sizes, and scores in both modes and both similarities.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/float4.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 1, 1);
    return 0;
}

static ecb_method *make(int scaling, size_t dim, ecb_similarity sim)
{
    struct f4_params p = {scaling};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_float4()->create(&H, &p, dim, sim, &m), 0);
    return m;
}

static void test_cast_by_hand(void **state)
{
    (void)state;
    /* Exact values. */
    assert_int_equal(f4_from_float(0.0f), 0x0);
    assert_int_equal(f4_from_float(-0.0f), 0x8);
    assert_int_equal(f4_from_float(0.5f), 0x1);
    assert_int_equal(f4_from_float(1.0f), 0x2);
    assert_int_equal(f4_from_float(-1.5f), 0xb);
    assert_int_equal(f4_from_float(3.0f), 0x5);
    assert_int_equal(f4_from_float(6.0f), 0x7);
    /* Midpoints go to the even code. */
    assert_int_equal(f4_from_float(0.25f), 0x0);  /* 0 | 0.5  -> 0 */
    assert_int_equal(f4_from_float(0.75f), 0x2);  /* 0.5 | 1  -> 1 */
    assert_int_equal(f4_from_float(1.25f), 0x2);  /* 1 | 1.5  -> 1 */
    assert_int_equal(f4_from_float(1.75f), 0x4);  /* 1.5 | 2  -> 2 */
    assert_int_equal(f4_from_float(2.5f), 0x4);   /* 2 | 3    -> 2 */
    assert_int_equal(f4_from_float(3.5f), 0x6);   /* 3 | 4    -> 4 */
    assert_int_equal(f4_from_float(5.0f), 0x6);   /* 4 | 6    -> 4 */
    assert_int_equal(f4_from_float(-5.0f), 0xe);
    /* Just off a midpoint. */
    assert_int_equal(f4_from_float(nextafterf(0.25f, 1.0f)), 0x1);
    assert_int_equal(f4_from_float(nextafterf(0.75f, 0.0f)), 0x1);
    assert_int_equal(f4_from_float(nextafterf(5.0f, 9.0f)), 0x7);
    /* Saturation, no NaN code exists. */
    assert_int_equal(f4_from_float(6.5f), 0x7);
    assert_int_equal(f4_from_float(1e30f), 0x7);
    assert_int_equal(f4_from_float(INFINITY), 0x7);
    assert_int_equal(f4_from_float(-INFINITY), 0xf);
    assert_int_equal(f4_from_float(NAN), 0x0);
    /* Every code survives a round trip (-0 included). */
    for (unsigned c = 0; c < 16; c++) assert_int_equal(f4_from_float(f4_value(c)), c);
}

static void test_cast_is_nearest(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 5);
    for (int i = 0; i < 200000; i++) {
        float f = (float)((ecb_rng_uniform(&r) - 0.5) * 16.0);
        float got = f4_value(f4_from_float(f));
        float clamped = f > 6 ? 6 : f < -6 ? -6 : f;
        for (unsigned c = 0; c < 16; c++) assert_true(fabsf(f4_value(c) - clamped) >= fabsf(got - clamped));
    }
}

static void test_codes_by_hand(void **state)
{
    (void)state;
    ecb_method *m = make(F4_NONE, 3, ECB_SIM_DOT);
    assert_int_equal(f4_code_size(m), 2);
    assert_int_equal(f4_aux_bytes(m), 0);
    const float x[3] = {1.0f, -0.5f, 6.0f};
    uint8_t c[2];
    assert_int_equal(f4_encode(m, x, 1, c), 0);
    assert_int_equal(c[0], 0x92); /* element 0 (1.0 -> 0x2) low nibble, -0.5 -> 0x9 high */
    assert_int_equal(c[1], 0x07); /* 6.0 -> 0x7, high nibble padding 0 */
    float back[3];
    assert_int_equal(f4_decode(m, c, 1, back), 0);
    for (int t = 0; t < 3; t++) assert_true(back[t] == x[t]);
    f4_destroy(m);
}

static void test_mx_by_hand(void **state)
{
    (void)state;
    /* dim 33: one full block and a block of one element. */
    ecb_method *m = make(F4_MX, 33, ECB_SIM_DOT);
    assert_int_equal(f4_code_size(m), 17 + 2);
    float x[33] = {0};
    x[0] = 12.0f;  /* block max: floor(log2 12) = 3, e = 3 - 2 = 1, X = 2 -> 6 (0x7) */
    x[1] = 3.0f;   /* 1.5 -> 0x3 */
    x[2] = -1.0f;  /* -0.5 -> 0x9 */
    x[3] = 0.2f;   /* 0.1 -> 0 */
    x[4] = 7.0f;   /* 3.5 -> tie -> 4 (0x6), decodes to 8 */
    x[32] = 0.375f; /* alone: floor(log2 .375) = -2, e = -4, X = 1/16: 6 -> 0x7 */
    uint8_t c[19];
    assert_int_equal(f4_encode(m, x, 1, c), 0);
    assert_int_equal(c[0], 0x37);
    assert_int_equal(c[1], 0x09);
    assert_int_equal(c[2], 0x06);
    for (int b = 3; b < 16; b++) assert_int_equal(c[b], 0);
    assert_int_equal(c[16], 0x07);
    assert_int_equal(c[17], 1 + 127);  /* E8M0 of 2^1 */
    assert_int_equal(c[18], 127 - 4);  /* 2^-4 */
    float back[33];
    assert_int_equal(f4_decode(m, c, 1, back), 0);
    assert_true(back[0] == 12.0f && back[1] == 3.0f && back[2] == -1.0f && back[3] == 0.0f);
    assert_true(back[4] == 8.0f && back[32] == 0.375f);
    /* Saturation inside a block: max 7 -> e = 0, 7 -> 6. */
    float y[33] = {7.0f};
    assert_int_equal(f4_encode(m, y, 1, c), 0);
    assert_int_equal(c[17], 127);
    assert_int_equal(c[0] & 0xf, 0x7);
    /* An all-zero block gets the smallest scale, 2^-127. */
    assert_int_equal(c[18], 0);
    assert_int_equal(f4_decode(m, c, 1, back), 0);
    assert_true(back[0] == 6.0f && back[32] == 0.0f);
    f4_destroy(m);
}

static void test_sizes(void **state)
{
    (void)state;
    const size_t dims[] = {1, 2, 31, 32, 33, 128, 768};
    const size_t none[] = {1, 1, 16, 16, 17, 64, 384};
    const size_t mx[] = {2, 2, 17, 17, 19, 68, 408};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        ecb_method *a = make(F4_NONE, dims[i], ECB_SIM_L2), *b = make(F4_MX, dims[i], ECB_SIM_L2);
        assert_int_equal(f4_code_size(a), none[i]);
        assert_int_equal(f4_code_size(b), mx[i]);
        f4_destroy(a);
        f4_destroy(b);
    }
    struct f4_params bad = {2};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_float4()->create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "scaling"));
}

static void test_scores(void **state)
{
    (void)state;
    const float x[8] = {1.0f, 2.0f, -3.0f, 0.5f, 6.0f, -6.0f, 0.0f, 1.5f};
    const float q[4] = {0.4f, 1.0f, -1.0f, 2.0f};
    const float qs4[4] = {0.5f, 1.0f, -1.0f, 2.0f}; /* q cast to E2M1 */
    for (int sim = 0; sim < 2; sim++) {
        ecb_method *m = make(F4_NONE, 4, (ecb_similarity)sim);
        uint8_t c[4];
        float pq[4], sc[2];
        assert_int_equal(f4_encode(m, x, 2, c), 0);
        for (int mode = 0; mode < 2; mode++) {
            const float *qq = mode == ECB_MODE_SYMMETRIC ? qs4 : q;
            assert_int_equal(f4_query_size(m, (ecb_mode)mode), 4 * sizeof(float));
            assert_int_equal(f4_prepare(m, (ecb_mode)mode, q, 1, pq), 0);
            for (int t = 0; t < 4; t++) assert_true(pq[t] == qq[t]);
            assert_int_equal(f4_score(m, (ecb_mode)mode, pq, 1, c, 2, sc), 0);
            for (int j = 0; j < 2; j++) {
                double e = 0;
                for (int t = 0; t < 4; t++)
                    e += sim == ECB_SIM_DOT ? qq[t] * x[j * 4 + t]
                                            : -(qq[t] - x[j * 4 + t]) * (qq[t] - x[j * 4 + t]);
                assert_float_equal(sc[j], e, 1e-5);
            }
        }
        f4_destroy(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cast_by_hand),
        cmocka_unit_test(test_cast_is_nearest),
        cmocka_unit_test_setup(test_codes_by_hand, setup),
        cmocka_unit_test_setup(test_mx_by_hand, setup),
        cmocka_unit_test_setup(test_sizes, setup),
        cmocka_unit_test_setup(test_scores, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
