/*
 * Unit tests of the binary plugin and of the popcount kernels behind
 * ecb_hamming_1xn: every kernel the CPU supports against the portable one
 * and a bit-by-bit count on random codes of many lengths (not multiples of
 * 8/32/64 included, buffers sized exactly so ASan sees any overread), hand
 * Hamming values, the documented bit order, median/mean thresholds on a
 * tiny hand-made set, and scores in both modes and similarities.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "harness/ecbmath/popcount.c"
#include "methods/binary.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 5, 1);
    return 0;
}

/* ---- popcount kernels ------------------------------------------------------ */

static uint32_t naive_hamming(const uint8_t *a, const uint8_t *b, size_t nb)
{
    uint32_t h = 0;
    for (size_t t = 0; t < nb; t++)
        for (int i = 0; i < 8; i++) h += ((a[t] ^ b[t]) >> i) & 1u;
    return h;
}

static void test_kernels_agree(void **state)
{
    (void)state;
    size_t lens[160];
    size_t nl = 0;
    for (size_t l = 0; l <= 140; l++) lens[nl++] = l;
    const size_t big[] = {191, 192, 193, 255, 256, 257, 300, 512, 1000, 1024, 4097};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) lens[nl++] = big[i];
    const size_t ns[] = {0, 1, 2, 3, 7, 17};
    ecb_rng r;
    ecb_rng_seed(&r, 1234);
    int tested[PC_NKERNELS] = {0};
    for (size_t li = 0; li < nl; li++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            size_t nb = lens[li], n = ns[ni];
            uint8_t *a = malloc(nb ? nb : 1), *codes = malloc(n > 0 && nb > 0 ? n * nb : 1);
            for (size_t t = 0; t < nb; t++) a[t] = (uint8_t)ecb_rng_next(&r);
            for (size_t t = 0; t < n * nb; t++) {
                /* Mix random bytes with all-ones/all-zeros runs. */
                uint64_t v = ecb_rng_next(&r);
                codes[t] = (v >> 60) == 0 ? 0xff : (v >> 60) == 1 ? 0 : (uint8_t)v;
            }
            uint32_t want[17], got[17 + 1];
            for (size_t j = 0; j < n; j++) want[j] = naive_hamming(a, codes + j * nb, nb);
            for (int k = 0; k < PC_NKERNELS; k++) {
                if (!pc_supported(k)) continue;
                tested[k] = 1;
                got[n] = 0xdeadbeef;
                if (nb > 0 && n > 0) pc_fn(k)(a, codes, n, nb, got);
                else for (size_t j = 0; j < n; j++) got[j] = 0;
                for (size_t j = 0; j < n; j++)
                    if (got[j] != want[j])
                        fail_msg("kernel %s nbytes=%zu code %zu: %u, expected %u", pc_names[k],
                                 nb, j, got[j], want[j]);
                assert_true(got[n] == 0xdeadbeef);
            }
            got[n] = 0xdeadbeef;
            ecb_hamming_1xn(a, codes, n, nb, got);
            if (n) assert_memory_equal(got, want, n * sizeof *want);
            assert_true(got[n] == 0xdeadbeef);
            free(a);
            free(codes);
        }
    fprintf(stderr, "popcount kernels tested:");
    for (int k = 0; k < PC_NKERNELS; k++)
        if (tested[k]) fprintf(stderr, " %s", pc_names[k]);
    fprintf(stderr, "; chosen: %s\n", ecb_popcount_kernel());
    assert_true(tested[PC_PORTABLE]);
}

/* ecb_sign_scores_hamming: every kernel's -hamming floats bit for bit against
 * -(float) of the naive count (h = 0 is -0.0f), for the sizes with kernels
 * of their own (8/16/32 bytes, AVX-512 above 32) and a few without, at
 * code counts around the AVX-512 kernels' 8- and 16-code steps and across
 * the 32 KiB tiles of a multi-query scan (4,113 codes of up to 64 bytes:
 * two tiles or more); buffers sized exactly (ASan) and a sentinel after
 * each output row. */
static void test_scores_kernels(void **state)
{
    (void)state;
    const size_t lens[] = {0,  1,  7,  8,  9,   15,  16,  17,  24,  31,  32,  33,
                           63, 64, 65, 96, 127, 128, 129, 192, 200, 384, 1000};
    const size_t ns[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4113};
    ecb_rng r;
    ecb_rng_seed(&r, 99);
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
            size_t nb = lens[li], n = ns[ni], nq = 3;
            if (n > 1000 && nb > 64) continue; /* larger codes span tiles at 100 */
            uint8_t *q = malloc(nb ? nq * nb : 1), *codes = malloc(nb ? n * nb : 1);
            for (size_t t = 0; t < nq * nb; t++) q[t] = (uint8_t)ecb_rng_next(&r);
            for (size_t t = 0; t < n * nb; t++) {
                uint64_t v = ecb_rng_next(&r);
                codes[t] = (v >> 60) == 0 ? 0xff : (v >> 60) == 1 ? 0 : (uint8_t)v;
            }
            if (nb && n > 1) memcpy(codes + nb, q, nb); /* a distance 0 */
            float *want = malloc(nq * n * sizeof *want), *got = malloc((nq * n + 1) * sizeof *got);
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < n; j++)
                    want[i * n + j] = -(float)naive_hamming(q + i * nb, codes + j * nb, nb);
            for (int k = 0; k <= PC_NKERNELS; k++) {
                if (k < PC_NKERNELS && !pc_supported(k)) continue;
                for (size_t t = 0; t <= nq * n; t++) got[t] = 12345.0f;
                if (k < PC_NKERNELS) hamming_scores_with(k, q, nq, codes, n, nb, got);
                else ecb_sign_scores_hamming(q, nq, codes, n, nb, got); /* the dispatch */
                if (memcmp(got, want, nq * n * sizeof *got))
                    for (size_t t = 0; t < nq * n; t++)
                        if (memcmp(&got[t], &want[t], sizeof *got))
                            fail_msg("kernel %s nbytes=%zu n=%zu score %zu: %g, expected %g",
                                     k < PC_NKERNELS ? pc_names[k] : "chosen", nb, n, t,
                                     (double)got[t], (double)want[t]);
                assert_true(got[nq * n] == 12345.0f);
            }
            if (nb && n > 1) assert_true(signbit(want[1]) && want[1] == 0.0f);
            free(q);
            free(codes);
            free(want);
            free(got);
        }
}

static void test_kernel_choice(void **state)
{
    (void)state;
    /* The widest kernel the (ECBENCH_CPU-capped) level allows is chosen. */
    int widest = PC_PORTABLE;
    for (int k = 0; k < PC_NKERNELS; k++)
        if (pc_supported(k)) widest = k;
    assert_string_equal(ecb_popcount_kernel(), pc_names[widest]);
}

static void test_hamming_hand(void **state)
{
    (void)state;
    const uint8_t a[3] = {0xff, 0x00, 0x0f};
    const uint8_t c[4 * 3] = {0xff, 0x00, 0x0f,  /* equal: 0 */
                              0x00, 0x00, 0x0f,  /* 8 */
                              0xfe, 0x01, 0x0f,  /* 2 */
                              0x00, 0xff, 0xf0}; /* 24 */
    uint32_t h[4];
    ecb_hamming_1xn(a, c, 4, 3, h);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 8);
    assert_int_equal(h[2], 2);
    assert_int_equal(h[3], 24);
}

/* ---- binary ---------------------------------------------------------------- */

static bin_state *mk(int threshold, size_t dim, ecb_similarity sim)
{
    struct bin_params p = {threshold};
    ecb_method *m = NULL;
    if (bin_create(&H, &p, dim, sim, &m)) fail_msg("bin_create: %s", ecb_last_error());
    return (bin_state *)m;
}

static void test_bit_order(void **state)
{
    (void)state;
    /* Bit j = dimension j, byte j/8, bit j%8, LSB first; 0 is not > 0. */
    const float x[10] = {1, -1, 1, 1, -1, -1, 0, 1, -1, 1};
    bin_state *s = mk(BIN_ZERO, 10, ECB_SIM_DOT);
    assert_int_equal(bin_code_size(&s->base), 2);
    assert_int_equal(bin_aux_bytes(&s->base), 0);
    uint8_t c[3] = {0xee, 0xee, 0xee};
    assert_int_equal(bin_encode(&s->base, x, 1, c), 0); /* zero threshold: no train needed */
    assert_int_equal(c[0], 0x8d); /* dims 0,2,3,7 */
    assert_int_equal(c[1], 0x02); /* dim 9; bits 10..15 zero */
    assert_int_equal(c[2], 0xee);
    bin_destroy(&s->base);
    for (size_t d = 1; d <= 70; d++) {
        s = mk(BIN_MEDIAN, d, ECB_SIM_L2);
        assert_int_equal(bin_code_size(&s->base), (d + 7) / 8);
        /* d thresholds + 2d L2 reconstruction levels */
        assert_int_equal(bin_aux_bytes(&s->base), 12 * d);
        bin_destroy(&s->base);
    }
    s = mk(BIN_MEAN, 768, ECB_SIM_DOT);
    assert_int_equal(bin_code_size(&s->base), 96);
    assert_int_equal(bin_aux_bytes(&s->base), 768 * 4);
    bin_destroy(&s->base);
    s = mk(BIN_ZERO, 13, ECB_SIM_L2);
    assert_int_equal(bin_code_size(&s->base), 2);
    assert_int_equal(bin_aux_bytes(&s->base), 13 * 8);
    bin_destroy(&s->base);
}

static void test_thresholds(void **state)
{
    (void)state;
    /* Four vectors, dim 2: column 0 {1,5,3,10} has median (3+5)/2 = 4 and
     * mean 4.75; column 1 {2,2,7,-1} median 2, mean 2.5. */
    const float x[8] = {1, 2, 5, 2, 3, 7, 10, -1};
    bin_state *s = mk(BIN_MEDIAN, 2, ECB_SIM_DOT);
    assert_int_equal(bin_train(&s->base, x, 0), ECB_EINVAL);
    assert_int_equal(bin_train(&s->base, x, 4), 0);
    assert_true(s->t[0] == 4.0f && s->t[1] == 2.0f);
    uint8_t c[4];
    bin_encode(&s->base, x, 4, c);
    /* col0 > 4: 0,1,0,1; col1 > 2: 0,0,1,0 */
    assert_int_equal(c[0], 0x0);
    assert_int_equal(c[1], 0x1);
    assert_int_equal(c[2], 0x2);
    assert_int_equal(c[3], 0x1);
    /* Odd sample: the first three vectors, medians 3 and 2. */
    assert_int_equal(bin_train(&s->base, x, 3), 0);
    assert_true(s->t[0] == 3.0f && s->t[1] == 2.0f);
    bin_destroy(&s->base);
    s = mk(BIN_MEAN, 2, ECB_SIM_DOT);
    assert_int_equal(bin_train(&s->base, x, 4), 0);
    assert_true(s->t[0] == 4.75f && s->t[1] == 2.5f);
    bin_destroy(&s->base);
    /* Zero threshold: training fits only the levels, the threshold stays 0;
     * column 0 has no value <= 0, so its bit-0 level is the threshold. */
    s = mk(BIN_ZERO, 2, ECB_SIM_L2);
    assert_int_equal(bin_train(&s->base, x, 4), 0);
    assert_true(s->t[0] == 0.0f && s->t[1] == 0.0f);
    assert_true(s->lo[0] == 0.0f && s->hi[0] == 4.75f);
    assert_true(s->lo[1] == -1.0f && s->hi[1] == 11.0f / 3.0f);
    bin_destroy(&s->base);
    /* The median threshold against sorting, with many duplicates. */
    ecb_rng r;
    ecb_rng_seed(&r, 2);
    for (size_t n = 1; n < 200; n++) {
        float v[200], w[200];
        for (size_t i = 0; i < n; i++) v[i] = w[i] = (float)ecb_rng_below(&r, 1 + n / 4);
        for (size_t i = 1; i < n; i++)
            for (size_t k = i; k > 0 && w[k - 1] > w[k]; k--) {
                float t = w[k];
                w[k] = w[k - 1];
                w[k - 1] = t;
            }
        float want = n % 2 ? w[n / 2] : (w[n / 2 - 1] + w[n / 2]) / 2;
        s = mk(BIN_MEDIAN, 1, ECB_SIM_DOT);
        assert_int_equal(bin_train(&s->base, v, n), 0);
        assert_true(s->t[0] == want);
        bin_destroy(&s->base);
    }
}

static void test_scores(void **state)
{
    (void)state;
    /* dim 3, zero threshold, x = (1, -2, 3) -> bits 101 -> s = (+1,-1,+1);
     * q = (0.5, -2, 1): asymmetric dot q.s = 0.5 + 2 + 1 = 3.5; L2 before
     * training (levels +-1) -||q - s||^2 = -(0.25 + 1 + 0) = -1.25, and for
     * s = (-1,-1,-1) q.s = -0.5 + 2 - 1 = 0.5, -(2.25 + 1 + 4) = -7.25;
     * symmetric: q -> bits 101 too, Hamming 0 and 2. */
    const float x[6] = {1, -2, 3, -1, -1, -1}, q[3] = {0.5f, -2, 1};
    for (int sim = 0; sim < 2; sim++) {
        bin_state *s = mk(BIN_ZERO, 3, (ecb_similarity)sim);
        uint8_t c[2], qc;
        bin_encode(&s->base, x, 2, c);
        assert_int_equal(c[0], 0x5);
        assert_int_equal(c[1], 0x0);
        float sc[2], prep[6];
        assert_int_equal(bin_query_size(&s->base, ECB_MODE_ASYMMETRIC), 24);
        bin_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, 1, prep);
        assert_int_equal(bin_score(&s->base, ECB_MODE_ASYMMETRIC, prep, 1, c, 2, sc), 0);
        assert_true(sc[0] == (sim == ECB_SIM_L2 ? -1.25f : 3.5f));
        assert_true(sc[1] == (sim == ECB_SIM_L2 ? -7.25f : 0.5f));
        assert_int_equal(bin_query_size(&s->base, ECB_MODE_SYMMETRIC), 1);
        bin_prepare(&s->base, ECB_MODE_SYMMETRIC, q, 1, &qc);
        assert_int_equal(qc, 0x5);
        assert_int_equal(bin_score(&s->base, ECB_MODE_SYMMETRIC, &qc, 1, c, 2, sc), 0);
        assert_true(sc[0] == 0.0f && sc[1] == -2.0f);
        bin_destroy(&s->base);
    }
    /* L2 asymmetric with mean thresholds: training {(0,0), (2,4)} gives
     * t = (1, 2) and levels lo = (0, 0), hi = (2, 4); x = (3, 0) -> bits
     * (1, 0) -> x^ = (2, 0); q = (1.5, 5): -(0.25 + 25) = -25.25. Dot is
     * q.s = 1.5 - 5 = -3.5. */
    const float tr[4] = {0, 0, 2, 4}, x2[2] = {3, 0}, q2[2] = {1.5f, 5};
    for (int sim = 0; sim < 2; sim++) {
        bin_state *s = mk(BIN_MEAN, 2, (ecb_similarity)sim);
        uint8_t c;
        assert_int_equal(bin_encode(&s->base, x2, 1, &c), ECB_EINVAL); /* before train */
        bin_train(&s->base, tr, 2);
        bin_encode(&s->base, x2, 1, &c);
        assert_int_equal(c, 0x1);
        assert_true(s->lo[0] == 0 && s->hi[0] == 2 && s->lo[1] == 0 && s->hi[1] == 4);
        float prep[4], sc;
        bin_prepare(&s->base, ECB_MODE_ASYMMETRIC, q2, 1, prep);
        bin_score(&s->base, ECB_MODE_ASYMMETRIC, prep, 1, &c, 1, &sc);
        assert_true(sc == (sim == ECB_SIM_L2 ? -25.25f : -3.5f));
        bin_destroy(&s->base);
    }
}

static void test_scan_random(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 77);
    const size_t dims[] = {1, 7, 8, 9, 13, 64, 100, 768};
    enum { N = 9, NQ = 3 };
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        size_t d = dims[di], nb = (d + 7) / 8;
        float *x = malloc(N * d * sizeof *x), *q = malloc(NQ * d * sizeof *q);
        for (size_t t = 0; t < N * d; t++) x[t] = (float)ecb_rng_normal(&r);
        for (size_t t = 0; t < NQ * d; t++) q[t] = (float)ecb_rng_normal(&r);
        for (int th = 0; th < 3; th++)
            for (int sim = 0; sim < 2; sim++) {
                bin_state *s = mk(th, d, (ecb_similarity)sim);
                assert_int_equal(bin_train(&s->base, x, N), 0);
                uint8_t *c = malloc(N * nb), *qc = malloc(NQ * nb);
                float *prep = malloc(2 * NQ * d * sizeof *prep), sc[NQ * N];
                bin_encode(&s->base, x, N, c);
                bin_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, NQ, prep);
                bin_score(&s->base, ECB_MODE_ASYMMETRIC, prep, NQ, c, N, sc);
                for (size_t i = 0; i < NQ; i++)
                    for (size_t j = 0; j < N; j++) {
                        double ref = 0, mag = 0;
                        for (size_t t = 0; t < d; t++) {
                            int b = x[j * d + t] > s->t[t];
                            double qv = q[i * d + t];
                            if (sim == ECB_SIM_L2) {
                                double e = qv - (b ? s->hi[t] : s->lo[t]);
                                ref -= e * e;
                                mag += e * e;
                            } else {
                                ref += b ? qv : -qv;
                                mag += fabs(qv);
                            }
                        }
                        assert_true(fabs(sc[i * N + j] - ref) <= 1e-5 * (mag + 1));
                    }
                bin_prepare(&s->base, ECB_MODE_SYMMETRIC, q, NQ, qc);
                bin_score(&s->base, ECB_MODE_SYMMETRIC, qc, NQ, c, N, sc);
                for (size_t i = 0; i < NQ; i++)
                    for (size_t j = 0; j < N; j++) {
                        double h = 0;
                        for (size_t t = 0; t < d; t++)
                            h += (x[j * d + t] > s->t[t]) != (q[i * d + t] > s->t[t]);
                        assert_true(sc[i * N + j] == (float)-h);
                    }
                free(c);
                free(qc);
                free(prep);
                bin_destroy(&s->base);
            }
        free(x);
        free(q);
    }
    const ecb_method_vtable *vt = ecb_method_binary();
    assert_true(vt->flags & ECB_METHOD_SYMMETRIC);
    assert_true(vt->flags & ECB_METHOD_ASYMMETRIC);
    assert_null(vt->decode);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_agree),
        cmocka_unit_test(test_scores_kernels),
        cmocka_unit_test(test_kernel_choice),
        cmocka_unit_test(test_hamming_hand),
        cmocka_unit_test_setup(test_bit_order, setup),
        cmocka_unit_test_setup(test_thresholds, setup),
        cmocka_unit_test_setup(test_scores, setup),
        cmocka_unit_test_setup(test_scan_random, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
