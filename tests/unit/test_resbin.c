/*
 * Unit tests of resbin: greedy residual binarization on a 4-d case computed
 * by hand (codes, scales, symmetric popcount scores, asymmetric scores),
 * per-level scale training by hand, and scores against brute force on the
 * decoded vectors (odd dimension, both similarities, both modes).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka: its fail() macro would rewrite host->fail(...). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/resbin.c"

#include "testutil.h"

static ecb_host g_host;

static rb_state *make_full(size_t dim, ecb_similarity sim, size_t levels, int scale, int center,
                           int rotate, int refit)
{
    ecb_host_init(&g_host, 1, 1);
    struct resbin_params p = {.levels = levels, .scale = scale, .center = center,
                              .rotate = rotate, .refit = refit};
    ecb_method *m = NULL;
    assert_int_equal(rb_create(&g_host, &p, dim, sim, &m), 0);
    return (rb_state *)m;
}

/* The greedy algorithm alone, in the input frame. */
static rb_state *make(size_t dim, ecb_similarity sim, size_t levels, int scale, int center)
{
    return make_full(dim, sim, levels, scale, center, 0, 0);
}

static float score1(rb_state *s, ecb_mode mode, const float *q, const uint8_t *code)
{
    size_t qs = rb_query_size(&s->base, mode);
    void *pq = calloc(1, qs);
    float v = NAN;
    assert_int_equal(rb_prepare(&s->base, mode, q, 1, pq), 0);
    assert_int_equal(rb_score(&s->base, mode, pq, 1, code, 1, &v), 0);
    free(pq);
    return v;
}

/* center = 0, 2 levels, per-vector scales.
 * x = (3,-1,1,-3): b1 = (+,-,+,-), alpha1 = 8/4 = 2, r1 = (1,1,-1,-1),
 *   b2 = (+,+,-,-), alpha2 = 1, r2 = 0: exact. Planes 0b0101, 0b0011.
 * y = (2,0,1,1): b1 = (+,+,+,+), beta1 = 1, r1 = (1,-1,0,0), b2 = (+,-,+,+)
 *   (zero goes up), beta2 = 0.5; y^ = (1.5, 0.5, 1.5, 1.5).
 * Symmetric: sum alpha_l beta_m (4 - 2 ham): ham(b1,c1) = 2 -> 0;
 *   ham(b1,c2) = 1 -> 2*0.5*2 = 2; ham(b2,c1) = 2 -> 0; ham(b2,c2) = 3 ->
 *   1*0.5*(-2) = -1; <x^,y^> = 1 = 4.5 - 0.5 + 1.5 - 4.5.
 *   L2: -||x^ - y^||^2 = -(1.5^2 + 1.5^2 + 0.5^2 + 4.5^2) = -25.
 * Asymmetric with the float q = y: <q, x^> = 6 + 0 + 1 - 3 = 4, and
 *   -||q - x^||^2 = -(1 + 1 + 0 + 16) = -18. */
static void test_hand(void **state)
{
    (void)state;
    const float x[4] = {3, -1, 1, -3}, y[4] = {2, 0, 1, 1};
    for (int l2 = 0; l2 <= 1; l2++) {
        rb_state *s = make(4, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, 2, RB_SCALE_VECTOR, 0);
        assert_int_equal(rb_train(&s->base, x, 1), 0);
        assert_int_equal(rb_code_size(&s->base), 3 * 4 + 2);
        uint8_t code[14];
        assert_int_equal(rb_encode(&s->base, x, 1, code), 0);
        float f[3];
        memcpy(f, code, sizeof f);
        assert_float_equal(f[0], 2.0, 0);
        assert_float_equal(f[1], 1.0, 0);
        assert_float_equal(f[2], l2 ? 20.0 : 0.0, 1e-6); /* ||x^||^2 ; <mu,x^> with mu = 0 */
        assert_int_equal(code[12], 0x5);
        assert_int_equal(code[13], 0x3);
        float xr[4];
        assert_int_equal(rb_decode(&s->base, code, 1, xr), 0);
        for (int t = 0; t < 4; t++) assert_float_equal(xr[t], x[t], 0);
        assert_float_equal(score1(s, ECB_MODE_SYMMETRIC, y, code), l2 ? -25.0 : 1.0, 1e-5);
        assert_float_equal(score1(s, ECB_MODE_ASYMMETRIC, y, code), l2 ? -18.0 : 4.0, 1e-5);
        rb_destroy(&s->base);
    }
}

/* refit: y = (2,0,1,1) has greedy signs b1 = (+,+,+,+), b2 = (+,-,+,+);
 * B^T B = [[4,2],[2,4]], B^T y = (4, 4), so alpha = (2/3, 2/3) and
 * y^ = (4/3, 0, 4/3, 4/3) (squared error 1 against the greedy 1.5). */
static void test_refit_hand(void **state)
{
    (void)state;
    const float y[4] = {2, 0, 1, 1};
    rb_state *s = make_full(4, ECB_SIM_DOT, 2, RB_SCALE_VECTOR, 0, 0, 1);
    assert_int_equal(rb_train(&s->base, y, 1), 0);
    uint8_t code[14];
    assert_int_equal(rb_encode(&s->base, y, 1, code), 0);
    float f[2], yr[4];
    memcpy(f, code, sizeof f);
    assert_float_equal(f[0], 2.0 / 3.0, 1e-6);
    assert_float_equal(f[1], 2.0 / 3.0, 1e-6);
    assert_int_equal(code[12], 0xf);
    assert_int_equal(code[13], 0xd);
    assert_int_equal(rb_decode(&s->base, code, 1, yr), 0);
    const float want[4] = {4.0f / 3, 0, 4.0f / 3, 4.0f / 3};
    for (int t = 0; t < 4; t++) assert_float_equal(yr[t], want[t], 1e-6);
    rb_destroy(&s->base);
}

/* per_level scales, center = 0, sample {(1,-1), (3,-3)}:
 * level 1: alpha = (1+1+3+3)/4 = 2, residuals (-1,1), (1,-1);
 * level 2: alpha = 1, residuals 0. Codes hold one float (aux) and no scale. */
static void test_per_level_training(void **state)
{
    (void)state;
    const float smp[4] = {1, -1, 3, -3};
    rb_state *s = make(2, ECB_SIM_L2, 2, RB_SCALE_LEVEL, 0);
    assert_int_equal(rb_train(&s->base, smp, 2), 0);
    assert_float_equal(s->alpha[0], 2.0, 0);
    assert_float_equal(s->alpha[1], 1.0, 0);
    assert_int_equal(rb_code_size(&s->base), 4 + 2);
    uint8_t codes[12];
    float xr[4];
    assert_int_equal(rb_encode(&s->base, smp, 2, codes), 0);
    assert_int_equal(rb_decode(&s->base, codes, 2, xr), 0);
    for (int t = 0; t < 4; t++) assert_float_equal(xr[t], smp[t], 0);
    /* with center = 1 the mean (2,-2) is subtracted first */
    rb_state *c = make(2, ECB_SIM_L2, 1, RB_SCALE_LEVEL, 1);
    assert_int_equal(rb_train(&c->base, smp, 2), 0);
    assert_float_equal(c->mu[0], 2.0, 0);
    assert_float_equal(c->mu[1], -2.0, 0);
    assert_float_equal(c->alpha[0], 1.0, 0);
    assert_int_equal(rb_encode(&c->base, smp, 2, codes), 0);
    assert_int_equal(rb_decode(&c->base, codes, 2, xr), 0);
    for (int t = 0; t < 4; t++) assert_float_equal(xr[t], smp[t], 0);
    rb_destroy(&s->base);
    rb_destroy(&c->base);
}

/* Scores equal brute force on the reconstructions: symmetric against
 * decode(q), asymmetric against the float q, with and without the rotation
 * and the least-squares refit. d = 37 leaves padding bits. */
static void test_against_decode(void **state)
{
    (void)state;
    const size_t d = 37, n = 50, nq = 4;
    ecb_rng r;
    ecb_rng_seed(&r, 3);
    float *x = malloc(n * d * sizeof(float)), *q = malloc(nq * d * sizeof(float));
    for (size_t i = 0; i < n * d; i++) x[i] = (float)(0.5 + ecb_rng_normal(&r));
    for (size_t i = 0; i < nq * d; i++) q[i] = (float)(0.5 + ecb_rng_normal(&r));
    for (int l2 = 0; l2 <= 1; l2++)
        for (int variant = 0; variant < 4; variant++) {
            int scale = variant & 1, rot = variant >> 1;
            rb_state *s = make_full(d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, 3, scale, 1, rot, rot);
            assert_int_equal(rb_train(&s->base, x, n), 0);
            size_t cs = rb_code_size(&s->base);
            assert_int_equal(cs, 3 * 5 + 4 * (scale == RB_SCALE_VECTOR ? 4 : 1));
            uint8_t *codes = malloc(n * cs), *qc = malloc(nq * cs);
            float *xr = malloc(n * d * sizeof(float)), *qr = malloc(nq * d * sizeof(float));
            float *sc = malloc(nq * n * sizeof(float));
            assert_int_equal(rb_encode(&s->base, x, n, codes), 0);
            assert_int_equal(rb_decode(&s->base, codes, n, xr), 0);
            assert_int_equal(rb_encode(&s->base, q, nq, qc), 0);
            assert_int_equal(rb_decode(&s->base, qc, nq, qr), 0);
            double err0 = 0, err3 = 0;
            for (size_t i = 0; i < n * d; i++) {
                err0 += ((double)x[i] - s->mu[i % d]) * ((double)x[i] - s->mu[i % d]);
                err3 += ((double)x[i] - xr[i]) * ((double)x[i] - xr[i]);
            }
            if (!rot) /* (in the rotated frame mu and x differ by the rotation) */
                assert_true(err3 < 0.1 * err0); /* three levels remove >90% of the energy */
            for (int mode = 0; mode <= 1; mode++) {
                size_t qs = rb_query_size(&s->base, (ecb_mode)mode);
                void *pq = malloc(nq * qs);
                assert_int_equal(rb_prepare(&s->base, (ecb_mode)mode, q, nq, pq), 0);
                assert_int_equal(rb_score(&s->base, (ecb_mode)mode, pq, nq, codes, n, sc), 0);
                const float *qq = mode == ECB_MODE_SYMMETRIC ? qr : q;
                for (size_t i = 0; i < nq; i++)
                    for (size_t j = 0; j < n; j++) {
                        double e = 0;
                        for (size_t t = 0; t < d; t++) {
                            double a = qq[i * d + t], b = xr[j * d + t];
                            e += l2 ? -(a - b) * (a - b) : a * b;
                        }
                        assert_float_equal(sc[i * n + j], e, 1e-4 * (1 + fabs(e)));
                    }
                free(pq);
            }
            free(codes); free(qc); free(xr); free(qr); free(sc);
            rb_destroy(&s->base);
        }
    free(x); free(q);
}

static void test_rejects(void **state)
{
    (void)state;
    ecb_host_init(&g_host, 1, 1);
    ecb_method *m = NULL;
    struct resbin_params p = {.levels = 17, .scale = 0, .center = 1};
    assert_int_equal(rb_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    p.levels = 2;
    p.scale = 5;
    assert_int_equal(rb_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    rb_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand),
        cmocka_unit_test(test_refit_hand),
        cmocka_unit_test(test_per_level_training),
        cmocka_unit_test(test_against_decode),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
