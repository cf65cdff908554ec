/*
 * osq (Lucene's optimized scalar quantization): a 1-bit encoding worked by
 * hand (initial interval from the Gaussian grid, codes, corrective terms,
 * byte layout), the interval optimisation never raising the anisotropic
 * loss, the centroid (normalised on unit-norm data), exact code sizes, and
 * the scores: asymmetric = float query against the reconstruction with the
 * stored exact corrections, symmetric = Lucene's corrected integer formula,
 * which must equal the same expression written with both reconstructions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugin before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/osq.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 1, 1);
    return 0;
}

static ecb_method *make(size_t bits, size_t qbits, size_t iters, size_t dim, ecb_similarity sim)
{
    struct osq_params p = {.bits = bits, .query_bits = qbits, .lambda = 0.1, .iters = iters};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_osq()->create(&H, &p, dim, sim, &m), 0);
    return m;
}

static void test_one_bit_by_hand(void **state)
{
    (void)state;
    ecb_method *m = make(1, 0, 0, 4, ECB_SIM_DOT);
    /* Centroid 0: the mean of +-1 (norm 2, not unit: not normalised). */
    const float tr[8] = {1, 1, 1, 1, -1, -1, -1, -1};
    assert_int_equal(osq_train(m, tr, 2), 0);
    assert_int_equal(osq_code_size(m), 1 + 12 + 2);
    assert_int_equal(osq_aux_bytes(m), 4 * sizeof(float));
    /* x = (1,2,3,4): mean 2.5, sd sqrt(1.25); 1-bit grid +-0.798 sd gives
     * [1.607809, 3.392191]; codes round((x - a) / (b - a)) = 0,0,1,1. */
    const float x[4] = {1, 2, 3, 4};
    uint8_t c[15];
    assert_int_equal(osq_encode(m, x, 1, c), 0);
    double sd = sqrt(1.25), a = 2.5 - 0.798 * sd, b = 2.5 + 0.798 * sd;
    assert_int_equal(c[0], 0x0c);
    float lo, hi, add;
    uint16_t sum;
    memcpy(&lo, c + 1, 4);
    memcpy(&hi, c + 5, 4);
    memcpy(&add, c + 9, 4);
    memcpy(&sum, c + 13, 2);
    assert_true(lo == (float)a && hi == (float)b);
    assert_true(add == 0.0f); /* x.c */
    assert_int_equal(sum, 2);
    float back[4];
    assert_int_equal(osq_decode(m, c, 1, back), 0);
    assert_true(back[0] == lo && back[1] == lo && back[2] == hi && back[3] == hi);
    /* Asymmetric, float query: q.x^ here (c = 0). */
    const float q[4] = {1, 0, 0, 2};
    float pq[8], sc;
    assert_int_equal(osq_query_size(m, ECB_MODE_ASYMMETRIC), 8 * sizeof(float));
    assert_int_equal(osq_prepare(m, ECB_MODE_ASYMMETRIC, q, 1, pq), 0);
    assert_int_equal(osq_score(m, ECB_MODE_ASYMMETRIC, pq, 1, c, 1, &sc), 0);
    assert_float_equal(sc, lo + 2 * hi, 1e-5);
    osq_destroy(m);

    /* L2: the stored correction is |x - c|^2 = 30, and the score
     * -(|q|^2 + 30 - 2 q.x^) uses it rather than |x^|^2. */
    m = make(1, 0, 0, 4, ECB_SIM_L2);
    assert_int_equal(osq_train(m, tr, 2), 0);
    assert_int_equal(osq_encode(m, x, 1, c), 0);
    memcpy(&add, c + 9, 4);
    assert_true(add == 30.0f);
    assert_int_equal(osq_prepare(m, ECB_MODE_ASYMMETRIC, q, 1, pq), 0);
    assert_int_equal(osq_score(m, ECB_MODE_ASYMMETRIC, pq, 1, c, 1, &sc), 0);
    assert_float_equal(sc, -(5.0 + 30.0 - 2.0 * (lo + 2.0 * hi)), 1e-4);
    osq_destroy(m);
}

/* The anisotropic loss of one vector under an interval. */
static double loss_of(const float *r, size_t d, double a, double b, size_t bits)
{
    double norm2 = 0;
    for (size_t j = 0; j < d; j++) norm2 += (double)r[j] * r[j];
    return osq_loss(r, d, a, b, (double)((1u << bits) - 1), norm2, 0.1);
}

static void test_optimisation_lowers_loss(void **state)
{
    (void)state;
    const size_t d = 64, n = 200;
    float *x = malloc(n * d * sizeof *x), *r = malloc(d * sizeof *r);
    uint32_t *k = malloc(d * sizeof *k);
    ecb_rng g;
    ecb_rng_seed(&g, 11);
    for (size_t t = 0; t < n * d; t++) x[t] = (float)(ecb_rng_normal(&g) * (1 + (t % d) * 0.05));
    for (size_t bits = 1; bits <= 8; bits++) {
        ecb_method *m0 = make(bits, 0, 0, d, ECB_SIM_DOT), *m5 = make(bits, 0, 5, d, ECB_SIM_DOT);
        assert_int_equal(osq_train(m0, x, n), 0);
        assert_int_equal(osq_train(m5, x, n), 0);
        int improved = 0;
        for (size_t i = 0; i < 50; i++) {
            osq_terms t0, t5;
            osq_quantize((osq_state *)m0, x + i * d, bits, r, k, &t0);
            osq_quantize((osq_state *)m5, x + i * d, bits, r, k, &t5);
            double l0 = loss_of(r, d, t0.lo, t0.hi, bits), l5 = loss_of(r, d, t5.lo, t5.hi, bits);
            assert_true(l5 <= l0 * (1 + 1e-6));
            improved += l5 < l0 * (1 - 1e-6);
            /* codes are those of the stored interval, and their sum is stored */
            uint32_t s = 0;
            for (size_t j = 0; j < d; j++) {
                assert_int_equal(k[j], osq_code(r[j], t5.lo, t5.hi, (double)((1u << bits) - 1)));
                s += k[j];
            }
            assert_int_equal(s, t5.sum);
        }
        assert_true(improved > 0);
        osq_destroy(m0);
        osq_destroy(m5);
    }
    free(x);
    free(r);
    free(k);
}

static void test_centroid(void **state)
{
    (void)state;
    /* Unit vectors under dot (cosine data): the mean (0.5, 0.5) is
     * normalised, as Lucene does for COSINE. */
    const float u[4] = {1, 0, 0, 1};
    ecb_method *m = make(4, 0, 5, 2, ECB_SIM_DOT);
    assert_int_equal(osq_train(m, u, 2), 0);
    const osq_state *s = (const osq_state *)m;
    assert_float_equal(s->c[0], (float)sqrt(0.5), 1e-7);
    assert_float_equal(s->c[1], (float)sqrt(0.5), 1e-7);
    assert_float_equal(s->cdp, 1.0, 1e-6);
    osq_destroy(m);
    /* Under L2, or with non-unit vectors, the plain mean. */
    m = make(4, 0, 5, 2, ECB_SIM_L2);
    assert_int_equal(osq_train(m, u, 2), 0);
    assert_true(((const osq_state *)m)->c[0] == 0.5f);
    osq_destroy(m);
}

static void test_sizes(void **state)
{
    (void)state;
    /* ceil(bits*dim/8) + 12 + (2 if (2^bits - 1) * dim <= 65535 else 4) */
    struct { size_t bits, dim, bytes; } cases[] = {
        {1, 768, 96 + 14}, {4, 768, 384 + 14}, {7, 768, 672 + 16}, {8, 768, 768 + 16},
        {1, 128, 16 + 14}, {4, 128, 64 + 14},  {7, 128, 112 + 14}, {2, 5, 2 + 14},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ecb_method *m = make(cases[i].bits, 0, 5, cases[i].dim, ECB_SIM_DOT);
        assert_int_equal(osq_code_size(m), cases[i].bytes);
        assert_int_equal(osq_aux_bytes(m), cases[i].dim * 4);
        osq_destroy(m);
    }
    struct osq_params bad = {.bits = 9, .lambda = 0.1, .iters = 5};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_osq()->create(&H, &bad, 4, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "bits"));
}

/* Symmetric and quantized-query scores equal (q^-c).(x^-c) + q.c + x.c - c.c
 * (dot) or -(|q-c|^2 + |x-c|^2 - 2 (q^-c).(x^-c)) (L2), with q^ and x^ the
 * reconstructions and the other terms exact. */
static void check_formula(size_t bits, size_t qbits, ecb_mode mode, ecb_similarity sim)
{
    const size_t d = 48, n = 300, nq = 3;
    float *x = malloc(n * d * sizeof *x);
    ecb_rng g;
    ecb_rng_seed(&g, 21);
    for (size_t t = 0; t < n * d; t++) x[t] = (float)(ecb_rng_normal(&g) + 0.3);
    ecb_method *m = make(bits, qbits, 5, d, sim);
    ecb_method *mq = make(mode == ECB_MODE_SYMMETRIC ? bits : qbits, 0, 5, d, sim);
    assert_int_equal(osq_train(m, x, n), 0);
    assert_int_equal(osq_train(mq, x, n), 0);
    const osq_state *s = (const osq_state *)m;
    size_t cs = osq_code_size(m), qcs = osq_code_size(mq);
    uint8_t *c = malloc(n * cs), *qc = malloc(nq * qcs);
    float *xh = malloc(n * d * sizeof *xh), *qh = malloc(nq * d * sizeof *qh);
    float *pq = malloc(nq * osq_query_size(m, mode)), *sc = malloc(nq * n * sizeof *sc);
    const float *q = x + (n - nq) * d;
    assert_int_equal(osq_encode(m, x, n, c), 0);
    assert_int_equal(osq_decode(m, c, n, xh), 0);
    assert_int_equal(osq_encode(mq, q, nq, qc), 0);
    assert_int_equal(osq_decode(mq, qc, nq, qh), 0);
    assert_int_equal(osq_prepare(m, mode, q, nq, pq), 0);
    assert_int_equal(osq_score(m, mode, pq, nq, c, n, sc), 0);
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double cross = 0, qc2 = 0, xc2 = 0, qdc = 0, xdc = 0;
            for (size_t t = 0; t < d; t++) {
                double cj = s->c[t];
                cross += ((double)qh[i * d + t] - cj) * ((double)xh[j * d + t] - cj);
                qc2 += ((double)q[i * d + t] - cj) * ((double)q[i * d + t] - cj);
                xc2 += ((double)x[j * d + t] - cj) * ((double)x[j * d + t] - cj);
                qdc += (double)q[i * d + t] * cj;
                xdc += (double)x[j * d + t] * cj;
            }
            double want = sim == ECB_SIM_L2 ? -(qc2 + xc2 - 2 * cross) : cross + qdc + xdc - s->cdp;
            assert_float_equal(sc[i * n + j], want, 2e-3 * (1 + fabs(want)));
        }
    osq_destroy(m);
    osq_destroy(mq);
    free(x);
    free(c);
    free(qc);
    free(xh);
    free(qh);
    free(pq);
    free(sc);
}

static void test_score_formula(void **state)
{
    (void)state;
    for (int sim = 0; sim < 2; sim++) {
        check_formula(1, 0, ECB_MODE_SYMMETRIC, (ecb_similarity)sim);
        check_formula(4, 0, ECB_MODE_SYMMETRIC, (ecb_similarity)sim);
        check_formula(7, 0, ECB_MODE_SYMMETRIC, (ecb_similarity)sim);
        check_formula(1, 4, ECB_MODE_ASYMMETRIC, (ecb_similarity)sim); /* Lucene's BBQ */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_one_bit_by_hand, setup),
        cmocka_unit_test_setup(test_optimisation_lowers_loss, setup),
        cmocka_unit_test_setup(test_centroid, setup),
        cmocka_unit_test_setup(test_sizes, setup),
        cmocka_unit_test_setup(test_score_formula, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
