/*
 * Unit tests of rabitq's kernels (issue 13): the AVX2 rotation gives the
 * portable loop's bits (so codes do not depend on the CPU), the fast scan's
 * AVX2 kernel gives the portable kernel's bits, scores do not depend on how
 * queries and codes are split into score() calls,
 * and the quantized lookup table stays within its rounding bound of the
 * float estimate <y, q' - c'_k> computed directly. The AVX2 cases skip
 * visibly on a CPU without AVX2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka: its fail() macro would rewrite host->fail(...). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/rabitq.c"

#include "testutil.h"

static ecb_host g_host;

static float *gauss(size_t n, uint64_t seed)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)ecb_rng_normal(&r);
    return x;
}

static rq_state *trained(size_t d, ecb_similarity sim, size_t bits, size_t K, double eps,
                         const float *x, size_t n)
{
    ecb_host_init(&g_host, 5, 1);
    struct rabitq_params p = {.bits = bits, .centroids = K, .rerank_bound = eps};
    ecb_method *m = NULL;
    assert_int_equal(rq_create(&g_host, &p, d, sim, &m), 0);
    assert_int_equal(rq_train(m, x, n), 0);
    return (rq_state *)m;
}

/* rq_rot_avx2 (+ the portable tail columns) == rq_rot_portable, bit for bit,
 * for dimensions with and without a multiple of 8 or 24 columns and row
 * counts with and without a multiple of 4. */
static void test_rotation_avx2_portable(void **state)
{
    (void)state;
    if (!ecb_cpu()->avx2) TU_SKIP("no AVX2 on this CPU");
    const size_t dims[] = {1, 7, 8, 24, 33, 100, 128, 200};
    const size_t rows[] = {1, 3, 4, 5, 17};
    for (size_t a = 0; a < sizeof dims / sizeof *dims; a++) {
        size_t d = dims[a];
        float *rot = gauss(d * d, 100 + d), *x = gauss(17 * d, 200 + d);
        float *y0 = malloc(17 * d * sizeof(float)), *y1 = malloc(17 * d * sizeof(float));
        for (size_t b = 0; b < sizeof rows / sizeof *rows; b++) {
            size_t nb = rows[b];
            rq_rot_portable(x, nb, rot, d, 0, y0);
            rq_rot_avx2(x, nb, rot, d, y1);
            if (d % 8) rq_rot_portable(x, nb, rot, d, d / 8 * 8, y1);
            assert_memory_equal(y0, y1, nb * d * sizeof(float));
        }
        free(rot); free(x); free(y0); free(y1);
    }
}

/* Codes: every CPU path and every batch split give the same bytes. */
static void test_encode_split_and_cpu(void **state)
{
    (void)state;
    const size_t d = 100, n = 300;
    float *x = gauss(n * d, 7);
    for (size_t bits = 1; bits <= 4; bits += 3) {
        rq_state *s = trained(d, ECB_SIM_L2, bits, 3, 0.0, x, n);
        size_t cs = rq_code_size(&s->base);
        uint8_t *all = malloc(n * cs), *one = malloc(n * cs), *port = malloc(n * cs);
        assert_int_equal(rq_encode(&s->base, x, n, all), 0);
        for (size_t i = 0; i < n; i += 7) {
            size_t nb = n - i < 7 ? n - i : 7;
            assert_int_equal(rq_encode(&s->base, x + i * d, nb, one + i * cs), 0);
        }
        assert_memory_equal(all, one, n * cs);
        int avx2 = s->avx2;
        s->avx2 = 0;
        assert_int_equal(rq_encode(&s->base, x, n, port), 0);
        s->avx2 = avx2;
        assert_memory_equal(all, port, n * cs);
        free(all); free(one); free(port);
        rq_destroy(&s->base);
    }
    free(x);
}

/* All nq x n scores in one call. */
static float *score_all(rq_state *s, const void *pq, size_t nq, const uint8_t *codes, size_t n)
{
    float *sc = malloc(nq * n * sizeof(float));
    assert_int_equal(rq_score(&s->base, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, sc), 0);
    return sc;
}

/* The fast scan: AVX-512 == AVX2 == portable, and one call == any split of
 * queries and codes (odd code blocks, single queries), for 1..8 bits, 1 or 3
 * centroids, with and without the rerank bound, dimensions with partial
 * bytes, odd byte counts per plane (the AVX-512 kernel's half-empty last
 * pair), one past 128 bytes per plane (the AVX2 kernel's widening) and one
 * past 256 (the AVX-512 kernel's, 128 pairs). */
static void test_scan_avx2_portable_split(void **state)
{
    (void)state;
    int have = ecb_cpu()->avx2, have512 = 0;
    const size_t nq = 9, n = 333;
    const struct { size_t d, bits, K; double eps; } cases[] = {
        {50, 1, 1, 0.0}, {50, 4, 3, 0.0}, {130, 2, 1, 1.9}, {64, 8, 3, 1.9},
        {1100, 1, 1, 0.0}, {1100, 8, 1, 0.0}, {96, 3, 3, 0.0},
        {2100, 4, 1, 0.0}, {2100, 1, 1, 0.0}, {2050, 2, 3, 1.9}, {120, 4, 1, 0.0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t d = cases[c].d;
        float *x = gauss(n * d, 31 + c), *q = gauss(nq * d, 41 + c);
        for (int l2 = 0; l2 <= 1; l2++) {
            rq_state *s = trained(d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, cases[c].bits, cases[c].K,
                                  cases[c].eps, x, n);
            size_t cs = rq_code_size(&s->base), qs = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
            uint8_t *codes = malloc(n * cs), *pq = malloc(nq * qs);
            assert_int_equal(rq_encode(&s->base, x, n, codes), 0);
            assert_int_equal(rq_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, nq, pq), 0);
            float *ref = score_all(s, pq, nq, codes, n);
            /* portable kernel */
            int avx2 = s->avx2;
            s->avx2 = 0;
            float *port = score_all(s, pq, nq, codes, n);
            s->avx2 = avx2;
            assert_memory_equal(ref, port, nq * n * sizeof(float));
            /* the AVX2 kernel where ref ran the AVX-512 one */
            if (s->avx2 && s->avx512) {
                have512 = 1;
                s->avx512 = 0;
                float *ymm = score_all(s, pq, nq, codes, n);
                s->avx512 = 1;
                assert_memory_equal(ref, ymm, nq * n * sizeof(float));
                free(ymm);
            }
            /* splits: queries 1 + 2 + 6, codes 37 + 200 + 96 */
            const size_t qcut[] = {0, 1, 3, nq}, ccut[] = {0, 37, 237, n};
            float *part = malloc(nq * 200 * sizeof(float));
            for (size_t a = 0; a + 1 < 4; a++)
                for (size_t b = 0; b + 1 < 4; b++) {
                    size_t q0 = qcut[a], nqa = qcut[a + 1] - q0, j0 = ccut[b], nb = ccut[b + 1] - j0;
                    assert_int_equal(rq_score(&s->base, ECB_MODE_ASYMMETRIC, pq + q0 * qs, nqa,
                                              codes + j0 * cs, nb, part), 0);
                    for (size_t i = 0; i < nqa; i++)
                        assert_memory_equal(part + i * nb, ref + (q0 + i) * n + j0,
                                            nb * sizeof(float));
                }
            free(part); free(port); free(ref); free(codes); free(pq);
            rq_destroy(&s->base);
        }
        free(x); free(q);
    }
    if (!have) TU_SKIP("no AVX2 on this CPU: only the portable kernel and the splits were checked");
    else if (!have512)
        TU_SKIP("no AVX-512 (or ECBENCH_CPU below avx512): AVX2 and portable kernels checked");
}

/* The quantized table against the float estimate: with delta the table's
 * step, every entry is off by at most delta/2, a plane sums 2G entries and
 * the planes are weighted 2^b, so |ip - ip_float| <= delta/2 * 2G * (2^B-1)
 * (plus float rounding); scores then differ by at most |mul| times that. */
static void test_lut_bound(void **state)
{
    (void)state;
    const size_t d = 72, n = 200, nq = 4;
    float *x = gauss(n * d, 3), *q = gauss(nq * d, 4);
    for (size_t bits = 1; bits <= 4; bits += 3) {
        rq_state *s = trained(d, ECB_SIM_L2, bits, 2, 0.0, x, n);
        size_t cs = rq_code_size(&s->base), qs = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
        uint8_t *codes = malloc(n * cs), *pq = malloc(nq * qs);
        float *y = malloc(nq * d * sizeof(float));
        assert_int_equal(rq_encode(&s->base, x, n, codes), 0);
        assert_int_equal(rq_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, nq, pq), 0);
        rq_rotate(s, q, nq, y);
        float *sc = score_all(s, pq, nq, codes, n);
        double cB = ((1u << bits) - 1) * 0.5, worst = 0;
        for (size_t i = 0; i < nq; i++) {
            double delta;
            memcpy(&delta, pq + i * qs, sizeof delta);
            double bound = delta / 2 * 2 * (double)s->G * (double)((1u << bits) - 1);
            for (size_t j = 0; j < n; j++) {
                const uint8_t *c = codes + j * cs;
                float f[2];
                memcpy(f, c, sizeof f);
                size_t k = rq_cid(s, c);
                double ip = 0, qn;
                for (size_t t = 0; t < d; t++) {
                    unsigned v = 0;
                    for (size_t b = 0; b < bits; b++)
                        v |= (unsigned)(c[s->plane_off + b * s->G + t / 8] >> (t % 8) & 1) << b;
                    ip += (v - cB) * ((double)y[i * d + t] - s->rcent[k * d + t]);
                }
                double ref = f[1] + (double)f[0] * ip + rq_qconst(s, k, y + i * d, &qn);
                double err = fabs(sc[i * n + j] - ref);
                double tol = fabs(f[0]) * bound + 1e-5 * (fabs(ref) + fabs(f[1]));
                if (err / tol > worst) worst = err / tol;
                assert_true(err <= tol);
            }
        }
        fprintf(stderr, "rabitq %zu-bit: worst |fast scan - float| / bound = %.3f\n", bits, worst);
        free(sc); free(y); free(codes); free(pq);
        rq_destroy(&s->base);
    }
    free(x); free(q);
}

/* FNV-1a of the scores of one case (4 bits, 17 bytes per plane: an odd
 * count), on the kernel this process selects; *k512 gets whether that is
 * the AVX-512 one. */
static unsigned long long scan_fingerprint(int *k512)
{
    const size_t d = 130, n = 333, nq = 5;
    float *x = gauss(n * d, 3), *q = gauss(nq * d, 4);
    rq_state *s = trained(d, ECB_SIM_DOT, 4, 1, 0.0, x, n);
    *k512 = s->avx2 && s->avx512;
    size_t cs = rq_code_size(&s->base), qs = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
    uint8_t *codes = malloc(n * cs), *pq = malloc(nq * qs);
    assert_int_equal(rq_encode(&s->base, x, n, codes), 0);
    assert_int_equal(rq_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, nq, pq), 0);
    float *sc = score_all(s, pq, nq, codes, n);
    unsigned long long h = 0xcbf29ce484222325ull;
    const unsigned char *b = (const unsigned char *)sc;
    for (size_t i = 0; i < nq * n * sizeof *sc; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    free(sc); free(codes); free(pq); free(x); free(q);
    rq_destroy(&s->base);
    return h;
}

/* ECBENCH_CPU=avx2 on an AVX-512 CPU (a child process: the level is read
 * once) selects the AVX2 kernel, with the same bits. */
static void test_cpu_cap_avx2(void **state)
{
    (void)state;
    if (ecb_cpu()->level < ECB_CPU_AVX512) {
        TU_SKIP("no AVX-512 on this CPU (or ECBENCH_CPU below avx512)");
        return;
    }
    int k512 = 0;
    char want[32];
    snprintf(want, sizeof want, "%llu", scan_fingerprint(&k512));
    assert_true(k512);
    char *args[] = {"cpu-child", want, NULL};
    assert_int_equal(tu_run_self_env("ECBENCH_CPU", "avx2", args), 0);
}

static int cpu_child(const char *want)
{
    int k512 = 1;
    char got[32];
    snprintf(got, sizeof got, "%llu", scan_fingerprint(&k512));
    fprintf(stderr, "cpu child (%s): AVX-512 kernel %d, fingerprint %s, parent %s\n",
            ecb_cpu()->name, k512, got, want);
    if (strcmp(ecb_cpu()->name, "avx2") || k512) return 3;
    return strcmp(got, want) ? 5 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "cpu-child") == 0) return cpu_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_avx2_portable),
        cmocka_unit_test(test_encode_split_and_cpu),
        cmocka_unit_test(test_scan_avx2_portable_split),
        cmocka_unit_test(test_lut_bound),
        cmocka_unit_test(test_cpu_cap_avx2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
