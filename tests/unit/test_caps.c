/*
 * Caps lifted for CoRECT's sweeps (issue 12): pq with 1-3 bits per
 * sub-vector (bit streams crossing bytes, exact code sizes, ADC scores equal
 * to the reconstruction's) and lsh above 4096 bits (a tight frame drawn
 * directly: orthonormal columns, deterministic, exact code size). Both were
 * rejected at create before.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugins before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/lsh.c"
#include "methods/pq.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 3, 1);
    return 0;
}

static float *gauss(size_t n, size_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t t = 0; t < n * d; t++) x[t] = (float)ecb_rng_normal(&r);
    return x;
}

static void test_pq_low_bits(void **state)
{
    (void)state;
    const size_t d = 24, n = 400, nq = 2;
    float *x = gauss(n, d, 1), *q = gauss(nq, d, 2);
    for (size_t nbits = 1; nbits <= 3; nbits++) {
        struct pq_params p = {.m = 8, .nbits = nbits, .iters = 10};
        ecb_method *m = NULL;
        assert_int_equal(pq_create(&H, &p, d, ECB_SIM_DOT, &m), 0);
        assert_int_equal(pq_train(m, x, n), 0);
        /* 8 indices of nbits bits: 1, 2, 3 bytes; 8 codebooks of 2^nbits x 3 */
        assert_int_equal(pq_code_size(m), nbits);
        assert_int_equal(pq_aux_bytes(m), 8 * ((size_t)1 << nbits) * 3 * sizeof(float));
        size_t cs = pq_code_size(m);
        uint8_t *c = malloc(n * cs);
        float *xh = malloc(n * d * sizeof *xh), *lut = malloc(nq * pq_query_size(m, 1));
        float *sc = malloc(nq * n * sizeof *sc);
        assert_int_equal(pq_encode(m, x, n, c), 0);
        assert_int_equal(pq_decode(m, c, n, xh), 0);
        /* every index is below 2^nbits and the packing round-trips */
        uint32_t idx[8];
        for (size_t j = 0; j < n; j++) {
            ecb_code_unpack(c + j * cs, 8, (unsigned)nbits, idx);
            uint8_t again[3] = {0};
            ecb_code_pack(idx, 8, (unsigned)nbits, again);
            assert_memory_equal(again, c + j * cs, cs);
        }
        assert_int_equal(pq_prepare(m, ECB_MODE_ASYMMETRIC, q, nq, lut), 0);
        assert_int_equal(pq_score(m, ECB_MODE_ASYMMETRIC, lut, nq, c, n, sc), 0);
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < n; j++) {
                double e = 0;
                for (size_t t = 0; t < d; t++) e += (double)q[i * d + t] * xh[j * d + t];
                assert_float_equal(sc[i * n + j], e, 1e-4 * (1 + fabs(e)));
            }
        free(c);
        free(xh);
        free(lut);
        free(sc);
        pq_destroy(m);
    }
    struct pq_params bad = {.m = 8, .nbits = 0, .iters = 10};
    ecb_method *m = NULL;
    assert_int_equal(pq_create(&H, &bad, d, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "1..8"));
    free(x);
    free(q);
}

static void test_lsh_above_4096_bits(void **state)
{
    (void)state;
    const size_t d = 16, nb = 6144; /* CoRECT's 8 d at d = 768 has the same shape of problem */
    struct lsh_params p = {.nbits = nb, .rotate = 1, .train_thresholds = 0};
    ecb_method *a = NULL, *b = NULL;
    assert_int_equal(lsh_create(&H, &p, d, ECB_SIM_DOT, &a), 0);
    assert_int_equal(lsh_create(&H, &p, d, ECB_SIM_DOT, &b), 0);
    /* the planes are drawn in train(), from the seed alone */
    assert_int_equal(lsh_train(a, NULL, 0), 0);
    assert_int_equal(lsh_train(b, NULL, 0), 0);
    assert_int_equal(lsh_code_size(a), nb / 8);
    assert_int_equal(lsh_aux_bytes(a), nb * d * sizeof(float));
    const lsh_state *s = (const lsh_state *)a;
    assert_memory_equal(s->W, ((const lsh_state *)b)->W, nb * d * sizeof(float));
    /* W^T W = I: the d columns of a rotation of size nb. */
    for (size_t j = 0; j < d; j++)
        for (size_t k = 0; k < d; k++) {
            double dot = 0;
            for (size_t i = 0; i < nb; i++) dot += (double)s->W[i * d + j] * s->W[i * d + k];
            assert_float_equal(dot, j == k ? 1.0 : 0.0, 1e-5);
        }
    float *x = gauss(3, d, 4);
    uint8_t *c = malloc(3 * nb / 8);
    assert_int_equal(lsh_encode(a, x, 3, c), 0);
    /* bit i of the code is the sign of row i of W against x */
    for (size_t i = 0; i < nb; i += 97) {
        double pr = 0;
        for (size_t t = 0; t < d; t++) pr += (double)s->W[i * d + t] * x[t];
        if (fabs(pr) > 1e-5) assert_int_equal((c[i / 8] >> (i % 8)) & 1, pr >= 0);
    }
    free(x);
    free(c);
    lsh_destroy(a);
    lsh_destroy(b);
    p.nbits = 65537;
    assert_int_equal(lsh_create(&H, &p, d, ECB_SIM_DOT, &a), ECB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pq_low_bits, setup),
        cmocka_unit_test_setup(test_lsh_above_4096_bits, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
