/*
 * Unit tests of lloydmax: the Gaussian Lloyd-Max levels against Max's
 * published table, a 2-d case computed by hand (identity rotation),
 * score/decode consistency (both modes, odd dimension, 3-bit packing),
 * unbiasedness of the residual_bits = 1 (QJL) inner-product estimator over
 * random rotations and sketches, and the per-dimension fit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka: its fail() macro would rewrite host->fail(...). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/lloydmax.c"

#include "testutil.h"

static ecb_host g_host;

static lm_state *make(size_t dim, ecb_similarity sim, size_t bits, size_t res, int fit,
                      uint64_t seed)
{
    ecb_host_init(&g_host, seed, 1);
    struct lloydmax_params p = {.bits = bits, .residual_bits = res, .fit = fit};
    ecb_method *m = NULL;
    assert_int_equal(lm_create(&g_host, &p, dim, sim, &m), 0);
    return (lm_state *)m;
}

static float score1(lm_state *s, ecb_mode mode, const float *q, const uint8_t *code)
{
    size_t qs = lm_query_size(&s->base, mode);
    void *pq = malloc(qs);
    float v = NAN;
    assert_int_equal(lm_prepare(&s->base, mode, q, 1, pq), 0);
    assert_int_equal(lm_score(&s->base, mode, pq, 1, code, 1, &v), 0);
    free(pq);
    return v;
}

/* J. Max, "Quantizing for minimum distortion", IRE Trans. IT-6 (1960),
 * Table I (unit-variance Gaussian, 4 decimals). */
static void test_gauss_levels(void **state)
{
    (void)state;
    double lev[256], thr[255];
    assert_int_equal(lm_gauss_levels(2, lev, thr), 0);
    assert_float_equal(lev[1], 0.7979, 1e-4);
    assert_float_equal(thr[0], 0.0, 1e-12);
    assert_int_equal(lm_gauss_levels(4, lev, thr), 0);
    assert_float_equal(lev[2], 0.4528, 1e-4);
    assert_float_equal(lev[3], 1.5104, 1e-4);
    assert_float_equal(thr[2], 0.9816, 1e-4);
    assert_int_equal(lm_gauss_levels(8, lev, thr), 0);
    const double max8[4] = {0.2451, 0.7560, 1.3440, 2.1520};
    for (int c = 0; c < 4; c++) {
        assert_float_equal(lev[4 + c], max8[c], 1e-4);
        assert_float_equal(lev[3 - c], -max8[c], 1e-4);
    }
    assert_int_equal(lm_gauss_levels(16, lev, thr), 0);
    assert_float_equal(lev[8], 0.1284, 1e-4);
    assert_float_equal(lev[15], 2.7326, 1e-4);
    for (size_t B = 5; B <= 8; B++) {
        size_t L = (size_t)1 << B;
        assert_int_equal(lm_gauss_levels(L, lev, thr), 0);
        for (size_t c = 0; c + 1 < L; c++) assert_true(lev[c] < lev[c + 1]);
        for (size_t c = 0; c < L; c++) assert_float_equal(lev[c], -lev[L - 1 - c], 1e-8);
    }
}

/* d = 2, bits = 1, fit = gaussian: levels +-0.797885/sqrt(2) = +-0.564190.
 * x = (3,4): ||x|| = 5, u = (0.6, 0.8), both indices 1 -> byte 0b11;
 * x~ = 5 (0.564190, 0.564190) = (2.820948, 2.820948), ||x~||^2 = 15.915494.
 * q = (1,1): DOT asym 5.641896; L2 asym 2*5.641896 - 15.915494 - 2 = -6.631702.
 * Symmetric: q~ = sqrt(2) (0.564190, 0.564190) = (0.797885, 0.797885),
 * DOT <x~,q~> = 4.501582. */
static void test_hand(void **state)
{
    (void)state;
    const float x[2] = {3, 4}, q[2] = {1, 1};
    for (int l2 = 0; l2 <= 1; l2++) {
        lm_state *s = make(2, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, 1, 0, LM_FIT_GAUSSIAN, 1);
        assert_int_equal(lm_train(&s->base, x, 1), 0);
        s->rot[0] = 1; s->rot[1] = 0; s->rot[2] = 0; s->rot[3] = 1;
        assert_int_equal(lm_code_size(&s->base), (l2 ? 8 : 4) + 1);
        uint8_t code[9];
        assert_int_equal(lm_encode(&s->base, x, 1, code), 0);
        float f[2];
        memcpy(f, code, sizeof f);
        assert_float_equal(f[0], 5.0, 1e-6);
        size_t off = l2 ? 8 : 4;
        if (l2) assert_float_equal(f[1], -15.915494, 1e-4);
        assert_int_equal(code[off], 3);
        float xr[2];
        assert_int_equal(lm_decode(&s->base, code, 1, xr), 0);
        assert_float_equal(xr[0], 2.820948, 1e-5);
        assert_float_equal(xr[1], 2.820948, 1e-5);
        assert_float_equal(score1(s, ECB_MODE_ASYMMETRIC, q, code), l2 ? -6.631702 : 5.641896, 1e-4);
        if (!l2) assert_float_equal(score1(s, ECB_MODE_SYMMETRIC, q, code), 4.501582, 1e-4);
        lm_destroy(&s->base);
    }
}

static float *randn(size_t n, double scale, double shift, uint64_t seed)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(shift + scale * ecb_rng_normal(&r));
    return x;
}

/* Asymmetric scores equal <q, decode(x)> (DOT) and -||q - decode(x)||^2 (L2,
 * MSE stage only); symmetric scores equal <decode(q), decode(x)>. d = 50
 * with 3 bits exercises indices that straddle bytes. */
static void test_decode_consistency(void **state)
{
    (void)state;
    const size_t d = 50, n = 40, nq = 3;
    float *x = randn(n * d, 1.0, 0.3, 21), *q = randn(nq * d, 1.0, 0.0, 22);
    for (int l2 = 0; l2 <= 1; l2++)
        for (size_t res = 0; res <= 1; res++) {
            if (l2 && res) continue; /* L2 + sketch uses -||x||^2, not the reconstruction */
            lm_state *s = make(d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, 3, res, LM_FIT_PERDIM, 5);
            assert_int_equal(lm_train(&s->base, x, n), 0);
            size_t cs = lm_code_size(&s->base);
            assert_int_equal(cs, 4 * (1 + res + (size_t)l2) + (3 * d + 7) / 8 + res * 7);
            uint8_t *codes = malloc(n * cs), *qc = malloc(nq * cs);
            float *xr = malloc(n * d * sizeof(float)), *qr = malloc(nq * d * sizeof(float));
            float *sc = malloc(nq * n * sizeof(float));
            assert_int_equal(lm_encode(&s->base, x, n, codes), 0);
            assert_int_equal(lm_decode(&s->base, codes, n, xr), 0);
            assert_int_equal(lm_encode(&s->base, q, nq, qc), 0);
            assert_int_equal(lm_decode(&s->base, qc, nq, qr), 0);
            for (int mode = 0; mode <= 1; mode++) {
                if (l2 && mode == ECB_MODE_SYMMETRIC) continue;
                size_t qs = lm_query_size(&s->base, (ecb_mode)mode);
                void *pq = malloc(nq * qs);
                assert_int_equal(lm_prepare(&s->base, (ecb_mode)mode, q, nq, pq), 0);
                assert_int_equal(lm_score(&s->base, (ecb_mode)mode, pq, nq, codes, n, sc), 0);
                const float *qq = mode == ECB_MODE_SYMMETRIC ? qr : q;
                for (size_t i = 0; i < nq; i++)
                    for (size_t j = 0; j < n; j++) {
                        double e = 0;
                        for (size_t t = 0; t < d; t++) {
                            double a = qq[i * d + t], b = xr[j * d + t];
                            e += l2 ? -(a - b) * (a - b) : a * b;
                        }
                        assert_float_equal(sc[i * n + j], e, 1e-3 * (1 + fabs(e)));
                    }
                free(pq);
            }
            free(codes); free(qc); free(xr); free(qr); free(sc);
            lm_destroy(&s->base);
        }
    free(x); free(q);
}

/* Fixed x (||x|| = 2) and unit q with <x,q> = 1.6; over independent
 * rotations and sketches the residual_bits = 1 estimate must average to 1.6
 * (within 4 standard errors). The 1-bit MSE stage alone is biased (it
 * shrinks inner products, TurboQuant's motivation for the sketch), and the
 * same criterion must reject it. */
static void test_unbiased_residual(void **state)
{
    (void)state;
    const size_t d = 64, trials = 1500;
    float x[64], q[64];
    {
        float *z = randn(2 * d, 1.0, 0.0, 31);
        double nx = 0, dot = 0, nz = 0;
        for (size_t t = 0; t < d; t++) nx += (double)z[t] * z[t];
        for (size_t t = 0; t < d; t++) x[t] = (float)(z[t] / sqrt(nx));
        for (size_t t = 0; t < d; t++) dot += (double)z[d + t] * x[t];
        for (size_t t = 0; t < d; t++) { z[d + t] = (float)(z[d + t] - dot * x[t]); nz += (double)z[d + t] * z[d + t]; }
        for (size_t t = 0; t < d; t++) {
            q[t] = (float)(0.8 * x[t] + 0.6 * z[d + t] / sqrt(nz));
            x[t] *= 2.0f;
        }
        free(z);
    }
    double exact = 0;
    for (size_t t = 0; t < d; t++) exact += (double)x[t] * q[t];
    for (size_t res = 0; res <= 1; res++) {
        double sum = 0, sum2 = 0;
        for (size_t k = 0; k < trials; k++) {
            lm_state *s = make(d, ECB_SIM_DOT, 1, res, LM_FIT_GAUSSIAN, 5000 + k);
            assert_int_equal(lm_train(&s->base, x, 1), 0);
            uint8_t code[64];
            assert_true(lm_code_size(&s->base) <= sizeof code);
            assert_int_equal(lm_encode(&s->base, x, 1, code), 0);
            double e = score1(s, ECB_MODE_ASYMMETRIC, q, code);
            sum += e;
            sum2 += e * e;
            lm_destroy(&s->base);
        }
        double mean = sum / trials, se = sqrt((sum2 / trials - mean * mean) / trials);
        fprintf(stderr, "lloydmax bits=1 residual_bits=%zu: mean estimate %.5f (exact %.5f, se %.5f)\n",
                res, mean, exact, se);
        if (res) assert_true(fabs(mean - exact) < 4 * se + 1e-4);
        else assert_true(fabs(mean - exact) > 10 * se);
    }
}

/* On data with a common offset (like real embeddings), fitting the rotated
 * coordinates' mean and scale lowers the reconstruction error. */
static void test_perdim_fit(void **state)
{
    (void)state;
    const size_t d = 32, n = 500;
    float *x = randn(n * d, 0.3, 1.0, 41);
    double mse[2];
    for (int fit = 0; fit <= 1; fit++) {
        lm_state *s = make(d, ECB_SIM_DOT, 2, 0, fit, 3);
        assert_int_equal(lm_train(&s->base, x, n), 0);
        if (fit == LM_FIT_GAUSSIAN)
            for (size_t t = 0; t < d; t++) {
                assert_float_equal(s->mu[t], 0.0, 0);
                assert_float_equal(s->sigma[t], 1.0 / sqrt((double)d), 1e-7);
            }
        size_t cs = lm_code_size(&s->base);
        uint8_t *codes = malloc(n * cs);
        float *xr = malloc(n * d * sizeof(float));
        assert_int_equal(lm_encode(&s->base, x, n, codes), 0);
        assert_int_equal(lm_decode(&s->base, codes, n, xr), 0);
        double e = 0;
        for (size_t i = 0; i < n * d; i++) e += ((double)x[i] - xr[i]) * ((double)x[i] - xr[i]);
        mse[fit] = e / (double)(n * d);
        free(codes); free(xr);
        lm_destroy(&s->base);
    }
    fprintf(stderr, "lloydmax 2-bit reconstruction MSE: gaussian %.5f perdim %.5f\n", mse[0], mse[1]);
    assert_true(mse[1] < mse[0]);
    free(x);
}

static void test_rejects(void **state)
{
    (void)state;
    ecb_host_init(&g_host, 1, 1);
    ecb_method *m = NULL;
    struct lloydmax_params p = {.bits = 0, .residual_bits = 0, .fit = 0};
    assert_int_equal(lm_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    p.bits = 4;
    p.residual_bits = 2;
    assert_int_equal(lm_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    lm_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gauss_levels),
        cmocka_unit_test(test_hand),
        cmocka_unit_test(test_decode_consistency),
        cmocka_unit_test(test_unbiased_residual),
        cmocka_unit_test(test_perdim_fit),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
