/*
 * intq (group-wise asymmetric integer quantization): hand-packed codes with
 * float32 and float16 scale/zero storage, groups with a short last group
 * and a constant group, round-half-away, the half-precision rounding of
 * the stored parameters (by hand and against the float16 plugin's
 * conversion), exact code sizes, and scores in both modes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugins before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/float16.c"
#include "methods/intq.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 1, 1);
    return 0;
}

static ecb_method *make(size_t bits, size_t group, int fmt, size_t dim, ecb_similarity sim)
{
    struct iq_params p = {.bits = bits, .group_size = group, .scale_format = fmt};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_intq()->create(&H, &p, dim, sim, &m), 0);
    return m;
}

static void test_per_vector_float32(void **state)
{
    (void)state;
    ecb_method *m = make(2, 0, IQ_F32, 4, ECB_SIM_DOT);
    assert_int_equal(iq_code_size(m), 1 + 8);
    assert_int_equal(iq_aux_bytes(m), 0);
    const float x[4] = {0.0f, 1.0f, 2.0f, 3.0f}; /* z = 0, s = 3/3 = 1 */
    uint8_t c[9];
    assert_int_equal(iq_encode(m, x, 1, c), 0);
    const uint8_t want[9] = {0xe4, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x00};
    assert_memory_equal(c, want, 9); /* codes 0,1,2,3 LSB first; 1.0f; 0.0f */
    float back[4];
    assert_int_equal(iq_decode(m, c, 1, back), 0);
    for (int t = 0; t < 4; t++) assert_true(back[t] == x[t]);
    /* 1.5 sits half-way between codes 1 and 2: rounds away from zero. */
    const float y[4] = {0.0f, 1.5f, 0.4f, 3.0f};
    assert_int_equal(iq_encode(m, y, 1, c), 0);
    assert_int_equal(c[0], 0 | 2 << 2 | 0 << 4 | 3 << 6);
    iq_destroy(m);
}

static void test_groups_float16(void **state)
{
    (void)state;
    /* dim 5, groups of 2: {0, 3}, {-1, 2}, {5} (constant). */
    ecb_method *m = make(2, 2, IQ_F16, 5, ECB_SIM_L2);
    assert_int_equal(iq_code_size(m), 2 + 3 * 4);
    const float x[5] = {0.0f, 3.0f, -1.0f, 2.0f, 5.0f};
    uint8_t c[14];
    assert_int_equal(iq_encode(m, x, 1, c), 0);
    const uint8_t want[14] = {
        0xcc, 0x00,             /* codes 0,3,0,3,0 */
        0x00, 0x3c, 0x00, 0x00, /* s = 1.0 (0x3c00), z = 0 */
        0x00, 0x3c, 0x00, 0xbc, /* s = 1.0, z = -1.0 (0xbc00) */
        0x00, 0x00, 0x00, 0x45, /* constant group: s = 0, z = 5.0 (0x4500) */
    };
    assert_memory_equal(c, want, 14);
    float back[5];
    assert_int_equal(iq_decode(m, c, 1, back), 0);
    for (int t = 0; t < 5; t++) assert_true(back[t] == x[t]);
    iq_destroy(m);
}

static void test_rounded_parameters_are_used(void **state)
{
    (void)state;
    /* One group {1, 2} at 3 bits: s = 1/7 is stored as the half 0x3092
     * (0.142822265625); the codes come from that value, so the top value
     * still gets code 7 and decodes to 1 + 7 * s16. */
    ecb_method *m = make(3, 0, IQ_F16, 2, ECB_SIM_DOT);
    const float x[2] = {1.0f, 2.0f};
    uint8_t c[5];
    assert_int_equal(iq_encode(m, x, 1, c), 0);
    assert_int_equal(c[0], 0 | 7 << 3);
    assert_int_equal(c[1] | c[2] << 8, 0x3092);
    assert_int_equal(c[3] | c[4] << 8, 0x3c00);
    float back[2];
    assert_int_equal(iq_decode(m, c, 1, back), 0);
    assert_true(back[0] == 1.0f);
    assert_true(back[1] == fmaf(7.0f, 0.142822265625f, 1.0f));
    iq_destroy(m);
}

static void test_half_rounding(void **state)
{
    (void)state;
    assert_int_equal(iq_half_bits(1.0f), 0x3c00);
    assert_int_equal(iq_half_bits(-2.0f), 0xc000);
    assert_int_equal(iq_half_bits(1.0f / 3.0f), 0x3555);
    assert_int_equal(iq_half_bits(1.0f + 0x1p-11f), 0x3c00);     /* tie -> even */
    assert_int_equal(iq_half_bits(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie -> even */
    assert_int_equal(iq_half_bits(0x1p-24f), 0x0001);
    assert_int_equal(iq_half_bits(0x1p-25f), 0x0000);            /* tie -> 0 */
    assert_int_equal(iq_half_bits(3 * 0x1p-25f), 0x0002);
    assert_int_equal(iq_half_bits(65504.0f), 0x7bff);
    assert_int_equal(iq_half_bits(1e9f), 0x7bff);                /* saturates */
    assert_int_equal(iq_half_bits(-INFINITY), 0xfbff);
    /* Below 65504 it is IEEE round-to-nearest-even: the float16 plugin's
     * conversion (tested against F16C) agrees on random values, and the
     * widening is exact. */
    ecb_rng r;
    ecb_rng_seed(&r, 9);
    for (int i = 0; i < 500000; i++) {
        uint32_t u = (uint32_t)ecb_rng_next(&r);
        u = (u & 0x80ffffffu) | ((uint32_t)(96 + ecb_rng_below(&r, 47)) << 23);
        float f;
        memcpy(&f, &u, sizeof f);
        if (!(fabsf(f) < 65504.0f)) continue;
        uint16_t a = iq_half_bits(f), b = ecb_half_from_float(f);
        if (a != b) fail_msg("0x%08x: intq 0x%04x, float16 0x%04x", u, a, b);
        assert_true(iq_half_value(a) == ecb_half_to_float(a));
    }
}

static void test_sizes(void **state)
{
    (void)state;
    /* ceil(bits*dim/8) + groups * 2 * (2|4) */
    struct { size_t bits, group, dim; int fmt; size_t bytes; } cases[] = {
        {4, 0, 768, IQ_F16, 384 + 4},
        {4, 0, 768, IQ_F32, 384 + 8},
        {4, 32, 768, IQ_F16, 384 + 24 * 4},
        {2, 128, 768, IQ_F16, 192 + 6 * 4},
        {8, 0, 128, IQ_F16, 128 + 4},
        {3, 5, 13, IQ_F32, 5 + 3 * 8},
        {2, 1000, 10, IQ_F16, 3 + 4}, /* group larger than the vector: one group */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ecb_method *m = make(cases[i].bits, cases[i].group, cases[i].fmt, cases[i].dim, ECB_SIM_DOT);
        assert_int_equal(iq_code_size(m), cases[i].bytes);
        iq_destroy(m);
    }
    struct iq_params bad = {.bits = 1, .group_size = 0, .scale_format = IQ_F16};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_intq()->create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "bits"));
}

static void test_scores(void **state)
{
    (void)state;
    const float x[8] = {0.0f, 1.0f, 2.0f, 3.0f, -1.0f, -1.0f, 5.0f, 2.0f};
    const float q[4] = {0.2f, 1.0f, -2.0f, 1.0f};
    /* symmetric: q quantized at 2 bits, z = -2, s = 1: {0, 1, -2, 1} */
    const float qs[4] = {0.0f, 1.0f, -2.0f, 1.0f};
    for (int sim = 0; sim < 2; sim++) {
        ecb_method *m = make(2, 0, IQ_F32, 4, (ecb_similarity)sim);
        uint8_t c[18];
        float pq[4], sc[2], xh[8];
        assert_int_equal(iq_encode(m, x, 2, c), 0);
        assert_int_equal(iq_decode(m, c, 2, xh), 0);
        /* second row: z = -1, s = 2: {-1, -1, 5, 1} (2 -> code 1.5 -> 2 -> 3) */
        assert_true(xh[4] == -1.0f && xh[6] == 5.0f && xh[7] == 3.0f);
        for (int mode = 0; mode < 2; mode++) {
            const float *qq = mode == ECB_MODE_SYMMETRIC ? qs : q;
            assert_int_equal(iq_prepare(m, (ecb_mode)mode, q, 1, pq), 0);
            for (int t = 0; t < 4; t++) assert_true(pq[t] == qq[t]);
            assert_int_equal(iq_score(m, (ecb_mode)mode, pq, 1, c, 2, sc), 0);
            for (int j = 0; j < 2; j++) {
                double e = 0;
                for (int t = 0; t < 4; t++)
                    e += sim == ECB_SIM_DOT ? qq[t] * xh[j * 4 + t]
                                            : -(qq[t] - xh[j * 4 + t]) * (qq[t] - xh[j * 4 + t]);
                assert_float_equal(sc[j], e, 1e-5);
            }
        }
        iq_destroy(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_per_vector_float32, setup),
        cmocka_unit_test_setup(test_groups_float16, setup),
        cmocka_unit_test_setup(test_rounded_parameters_are_used, setup),
        cmocka_unit_test(test_half_rounding),
        cmocka_unit_test_setup(test_sizes, setup),
        cmocka_unit_test_setup(test_scores, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
