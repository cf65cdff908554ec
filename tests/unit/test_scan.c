/*
 * The scan's work split and the float-code scoring kernel (issue 13, items
 * 1, 2, 7, 8):
 *  - the search cuts one corpus block into several (corpus block, query
 *    block) units, query blocks on multiples of 12 queries inside the
 *    block_queries grid;
 *  - that cut changes no bit: exact search and a scan of float32/float16
 *    codes (ecb_scores_decoded) give the top-k, scores included, of one
 *    sgemm per corpus block over every query (the single-block scan of
 *    before), for 1-3 threads and query counts around the cut points;
 *  - ecb_scores_decoded: float32 codes read in place (widen NULL) score as
 *    the widened copy does, and the L2 score is exactly
 *    (2 q.x - |x|^2) - |q|^2 with sequential double norms, at the CPU
 *    level in force and (in a child process) at ECBENCH_CPU=generic and
 *    =avx2.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"
#include "harness/search.h"

static float *rand_mat(size_t n, size_t d, uint64_t seed) { return tu_randn(n, d, seed); }

/* ---- a float32 method on ecb_scores_decoded, recording its calls --------- */

static size_t f32_code_size(const ecb_method *m) { return m->dim * sizeof(float); }
static size_t f32_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

enum { MAX_CALLS = 4096 };
static struct {
    pthread_mutex_t lock;
    const float *q;
    size_t n;
    size_t q0[MAX_CALLS], nq[MAX_CALLS], rows[MAX_CALLS];
} calls = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, {0}, {0}, {0}};

static void record(const void *prepared, size_t nq, size_t d, size_t rows)
{
    pthread_mutex_lock(&calls.lock);
    if (calls.q && calls.n < MAX_CALLS) {
        calls.q0[calls.n] = (size_t)((const float *)prepared - calls.q) / d;
        calls.rows[calls.n] = rows;
        calls.nq[calls.n++] = nq;
    }
    pthread_mutex_unlock(&calls.lock);
}

static int f32_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    record(prepared, nq, m->dim, n);
    return ecb_scores_decoded(m, NULL, m->sim == ECB_SIM_L2, prepared, nq, codes,
                              m->dim * sizeof(float), n, m->dim, scores);
}

static void half_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const ecb_method *m = ctx;
    ecb_half_decode(codes, rows * m->dim, out);
}
static size_t f16_code_size(const ecb_method *m) { return m->dim * 2; }
static int f16_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    record(prepared, nq, m->dim, n);
    return ecb_scores_decoded(m, half_widen, m->sim == ECB_SIM_L2, prepared, nq, codes,
                              m->dim * 2, n, m->dim, scores);
}

static size_t decoded_rows(const ecb_method *m) { return ecb_scores_decoded_rows(m->dim); }

static ecb_method_vtable vtable(int half)
{
    ecb_method_vtable vt;
    memset(&vt, 0, sizeof vt);
    vt.code_size = half ? f16_code_size : f32_code_size;
    vt.query_size = f32_query_size;
    vt.score = half ? f16_score : f32_score;
    return vt;
}

/* The scan before units: every query of a block_queries group (GROUP)
 * against each corpus block in one score() call, heaps in the one ranking
 * order. */
enum { GROUP = 1024 };
static void reference(const ecb_method *m, const float *q, size_t nq, const uint8_t *codes,
                      size_t n, size_t k, size_t block_rows, ecb_topk *out)
{
    assert_int_equal(ecb_topk_alloc(out, nq, k), 0);
    size_t cs = m->vt->code_size(m);
    float *sc = malloc(nq * block_rows * sizeof *sc);
    for (size_t r0 = 0; r0 < n; r0 += block_rows) {
        size_t nb = n - r0 < block_rows ? n - r0 : block_rows;
        for (size_t g0 = 0; g0 < nq; g0 += GROUP) {
            size_t ng = nq - g0 < GROUP ? nq - g0 : GROUP;
            assert_int_equal(m->vt->score(m, ECB_MODE_ASYMMETRIC, q + g0 * m->dim, ng,
                                          codes + r0 * cs, nb, sc), 0);
            for (size_t i = 0; i < ng; i++)
                ecb_heap_push_row(out->scores + (g0 + i) * k, out->ids + (g0 + i) * k,
                                  &out->count[g0 + i], k, sc + i * nb, nb, (int64_t)r0, NULL);
        }
    }
    for (size_t i = 0; i < nq; i++)
        ecb_heap_finish(out->scores + i * k, out->ids + i * k, out->count[i], k, NULL);
    free(sc);
}

/* Exact search before units: sgemm of every query against each padded
 * corpus block, the norms as search.c takes them. */
static double sumsq4(const float *x, size_t d)
{
    double a[4] = {0, 0, 0, 0};
    size_t d4 = d / 4 * 4;
    for (size_t t = 0; t < d4; t++) a[t % 4] += (double)x[t] * x[t];
    for (size_t t = d4; t < d; t++) a[0] += (double)x[t] * x[t];
    return (a[0] + a[1]) + (a[2] + a[3]);
}

static void reference_exact_l2(const float *x, size_t n, size_t d, const float *q, size_t nq,
                               size_t k, size_t block_rows, ecb_topk *out)
{
    assert_int_equal(ecb_topk_alloc(out, nq, k), 0);
    size_t pr = ecb_gemm_rows_padded(block_rows);
    float *xb = calloc(pr * d, sizeof *xb), *sc = malloc(nq * pr * sizeof *sc);
    for (size_t r0 = 0; r0 < n; r0 += block_rows) {
        size_t nb = n - r0 < block_rows ? n - r0 : block_rows, ldc = ecb_gemm_rows_padded(nb);
        memset(xb, 0, pr * d * sizeof *xb);
        memcpy(xb, x + r0 * d, nb * d * sizeof *xb);
        for (size_t g0 = 0; g0 < nq; g0 += GROUP) {
            size_t ng = nq - g0 < GROUP ? nq - g0 : GROUP;
            assert_int_equal(ecb_gemm_nt(ng, ldc, d, 2.0f, q + g0 * d, d, xb, d, 0.0f, sc, ldc),
                             0);
            for (size_t i = g0; i < g0 + ng; i++) {
                float *row = sc + (i - g0) * ldc;
                double qq = sumsq4(q + i * d, d);
                for (size_t r = 0; r < nb; r++)
                    row[r] = (float)((double)row[r] - sumsq4(x + (r0 + r) * d, d) - qq);
                ecb_heap_push_row(out->scores + i * k, out->ids + i * k, &out->count[i], k, row,
                                  nb, (int64_t)r0, NULL);
            }
        }
    }
    for (size_t i = 0; i < nq; i++)
        ecb_heap_finish(out->scores + i * k, out->ids + i * k, out->count[i], k, NULL);
    free(xb);
    free(sc);
}

static void assert_same_topk(const ecb_topk *a, const ecb_topk *b, const char *what, size_t nq,
                             size_t threads)
{
    for (size_t i = 0; i < a->nq * a->k; i++)
        if (a->ids[i] != b->ids[i] || memcmp(&a->scores[i], &b->scores[i], sizeof(float))) {
            fprintf(stderr, "%s nq=%zu threads=%zu: entry %zu: (%lld, %.9g) vs (%lld, %.9g)\n",
                    what, nq, threads, i, (long long)a->ids[i], (double)a->scores[i],
                    (long long)b->ids[i], (double)b->scores[i]);
            fail();
        }
}

/* Every score is the one a single query block gives, bit for bit. */
static void test_split_bits(void **state)
{
    (void)state;
    openblas_set_num_threads(1);
    size_t n = 3000, d = 48, k = 10, block_rows = 1500;
    static const size_t nqs[] = {1, 11, 12, 13, 40, 100, 1100};
    float *x = rand_mat(n, d, 5), *q = rand_mat(1100, d, 6);
    uint8_t *h = malloc(n * d * 2);
    ecb_half_encode(x, n * d, h);
    ecb_vecs *v = NULL;
    float *xc = malloc(n * d * sizeof *xc);
    memcpy(xc, x, n * d * sizeof *xc);
    assert_int_equal(ecb_vecs_from_memory(xc, n, d, &v), 0);
    for (int half = 0; half < 2; half++)
        for (int l2 = 0; l2 < 2; l2++) {
            ecb_method_vtable vt = vtable(half);
            ecb_method m = {&vt, NULL, d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT};
            const uint8_t *codes = half ? h : (const uint8_t *)x;
            for (size_t a = 0; a < sizeof nqs / sizeof *nqs; a++) {
                size_t nq = nqs[a];
                if (nq > 1024 && (half || !l2)) continue; /* the group boundary once is enough */
                ecb_topk ref, got;
                reference(&m, q, nq, codes, n, k, block_rows, &ref);
                for (size_t threads = 1; threads <= 3; threads++) {
                    ecb_search_opts o = {threads, block_rows, 1024};
                    assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, codes, n,
                                                      k, NULL, &o, &got), 0);
                    assert_same_topk(&ref, &got, half ? "float16" : "float32", nq, threads);
                    ecb_topk_release(&got);
                }
                ecb_topk_release(&ref);
            }
        }
    /* exact search (l2: the norm terms too) */
    for (size_t a = 0; a < sizeof nqs / sizeof *nqs; a++) {
        size_t nq = nqs[a];
        ecb_topk ref, got;
        reference_exact_l2(x, n, d, q, nq, k, block_rows, &ref);
        for (size_t threads = 1; threads <= 3; threads++) {
            ecb_search_opts o = {threads, block_rows, 1024};
            assert_int_equal(ecb_search_exact(v, q, nq, ECB_DS_L2, k, NULL, &o, &got), 0);
            assert_same_topk(&ref, &got, "exact l2", nq, threads);
            ecb_topk_release(&got);
        }
        ecb_topk_release(&ref);
    }
    ecb_vecs_free(v);
    free(x);
    free(q);
    free(h);
}

/* A method with score_rows is scored range by range (ranges of a multiple of
 * its rows, the last one short and padded): the top-k, scores included, of
 * whole blocks, bit for bit. */
static void test_range_bits(void **state)
{
    (void)state;
    openblas_set_num_threads(1);
    size_t n = 9000, k = 10, block_rows = 4096; /* blocks 4096, 4096, 808 */
    static const size_t ds[] = {384, 100, 37}, nqs[] = {13, 100, 600};
    for (size_t a = 0; a < 3; a++) {
        size_t d = ds[a];
        float *x = rand_mat(n, d, 9 + a), *q = rand_mat(600, d, 12);
        uint8_t *h = malloc(n * d * 2);
        ecb_half_encode(x, n * d, h);
        for (int half = 0; half < 2; half++)
            for (int l2 = 0; l2 < 2; l2++) {
                ecb_method_vtable vt = vtable(half);
                vt.score_rows = decoded_rows;
                ecb_method m = {&vt, NULL, d, l2 ? ECB_SIM_L2 : ECB_SIM_DOT};
                const uint8_t *codes = half ? h : (const uint8_t *)x;
                for (size_t b = 0; b < 3; b++) {
                    size_t nq = nqs[b];
                    ecb_topk ref, got;
                    reference(&m, q, nq, codes, n, k, block_rows, &ref);
                    for (size_t threads = 1; threads <= 2; threads++) {
                        calls.q = q;
                        calls.n = 0;
                        ecb_search_opts o = {threads, block_rows, 1024};
                        assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, codes,
                                                          n, k, NULL, &o, &got), 0);
                        calls.q = NULL;
                        assert_same_topk(&ref, &got, half ? "float16 ranges" : "float32 ranges",
                                         nq, threads);
                        ecb_topk_release(&got);
                        /* ranges of a multiple of the rows, but a block's last */
                        size_t g = ecb_scores_decoded_rows(d), ranged = 0;
                        for (size_t i = 0; i < calls.n; i++) {
                            size_t r = calls.rows[i] % g;
                            ranged += calls.rows[i] < block_rows && calls.rows[i] != 808;
                            if (r && r != block_rows % g && r != 808 % g)
                                fail_msg("d=%zu nq=%zu: a call of %zu rows", d, nq,
                                         calls.rows[i]);
                        }
                        if (nq > 13) assert_true(ranged > 0);
                    }
                    ecb_topk_release(&ref);
                }
            }
        free(x);
        free(q);
        free(h);
    }
}

/* One corpus block is several units: the queries are cut into blocks of a
 * multiple of 12 from the origin of each block_queries group (before, a
 * 10,000-row corpus was one or three tasks whatever the query count). */
static void test_split_grid(void **state)
{
    (void)state;
    size_t n = 2000, d = 16, k = 5;
    float *x = rand_mat(n, d, 7), *q = rand_mat(300, d, 8);
    ecb_method_vtable vt = vtable(0);
    ecb_method m = {&vt, NULL, d, ECB_SIM_DOT};
    static const struct { size_t nq, block_queries; } cases[] = {{100, 1024}, {300, 128}};
    for (size_t c = 0; c < 2; c++) {
        calls.q = q;
        calls.n = 0;
        ecb_search_opts o = {1, 65536, cases[c].block_queries};
        ecb_topk t;
        assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, cases[c].nq,
                                          (const uint8_t *)x, n, k, NULL, &o, &t), 0);
        ecb_topk_release(&t);
        calls.q = NULL;
        assert_true(calls.n > 1);
        size_t covered = 0;
        for (size_t i = 0; i < calls.n; i++) {
            size_t g0 = calls.q0[i] / cases[c].block_queries * cases[c].block_queries;
            size_t g1 = g0 + cases[c].block_queries < cases[c].nq ? g0 + cases[c].block_queries
                                                                  : cases[c].nq;
            assert_int_equal((calls.q0[i] - g0) % 12, 0);
            assert_true(calls.q0[i] + calls.nq[i] <= g1);
            if (calls.q0[i] + calls.nq[i] < g1) assert_int_equal(calls.nq[i] % 12, 0);
            covered += calls.nq[i];
        }
        assert_int_equal(covered, cases[c].nq); /* one corpus block: each query once */
    }
    free(x);
    free(q);
}

/* ---- ecb_scores_decoded -------------------------------------------------- */

static void copy_widen(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    const ecb_method *m = ctx;
    memcpy(out, codes, rows * m->dim * sizeof(float));
}

static float seqnorm(const float *x, size_t d)
{
    double a = 0;
    for (size_t t = 0; t < d; t++) a += (double)x[t] * x[t];
    return (float)a;
}

/* Checks at the CPU level in force; returns the number of mismatches and
 * folds every score into *fp (so that two levels can be compared). */
static size_t decoded_checks(uint64_t *fp)
{
    static const size_t ds[] = {3, 16, 100, 768}, ns[] = {1, 63, 64, 65, 1000, 1345};
    static const size_t nqs[] = {1, 5, 13};
    size_t bad = 0;
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 6; b++)
            for (size_t c = 0; c < 3; c++) {
                size_t d = ds[a], n = ns[b], nq = nqs[c];
                float *x = rand_mat(n, d, a * 100 + b), *q = rand_mat(nq, d, 7 + c);
                float *q2 = malloc(nq * d * sizeof *q2);
                for (size_t i = 0; i < nq * d; i++) q2[i] = 2.0f * q[i];
                float *s0 = malloc(nq * n * sizeof *s0), *s1 = malloc(nq * n * sizeof *s1);
                float *s2 = malloc(nq * n * sizeof *s2);
                ecb_method m = {NULL, NULL, d, ECB_SIM_L2};
                const uint8_t *codes = (const uint8_t *)x;
                assert_int_equal(ecb_scores_decoded(&m, NULL, 1, q, nq, codes, 4 * d, n, d, s0), 0);
                assert_int_equal(ecb_scores_decoded(&m, copy_widen, 1, q, nq, codes, 4 * d, n, d,
                                                    s1), 0);
                bad += memcmp(s0, s1, nq * n * sizeof *s0) != 0;
                /* 2 q.x exactly as the dot product of 2q (a power of two scales
                 * every rounding), then the two norm terms in float */
                assert_int_equal(ecb_scores_decoded(&m, NULL, 0, q2, nq, codes, 4 * d, n, d, s2), 0);
                for (size_t i = 0; i < nq; i++) {
                    float qq = seqnorm(q + i * d, d);
                    for (size_t j = 0; j < n; j++) {
                        float want = (s2[i * n + j] - seqnorm(x + j * d, d)) - qq;
                        bad += memcmp(&want, &s0[i * n + j], sizeof want) != 0;
                    }
                }
                for (size_t i = 0; i < nq * n; i++) {
                    uint32_t u;
                    memcpy(&u, &s0[i], 4);
                    *fp = (*fp ^ u) * 0x100000001b3ull;
                }
                free(x);
                free(q);
                free(q2);
                free(s0);
                free(s1);
                free(s2);
            }
    return bad;
}

static void test_decoded(void **state)
{
    (void)state;
    openblas_set_num_threads(1);
    uint64_t fp = 0xcbf29ce484222325ull;
    assert_int_equal(decoded_checks(&fp), 0);
}

/* The portable kernels (ECBENCH_CPU=generic, in a child process since the
 * level is read once) give the same bits as the ones this CPU selects; so do
 * the AVX2 ones on an AVX-512 CPU (norms and the subtraction have a kernel
 * per level). */
static void test_decoded_generic(void **state)
{
    (void)state;
    openblas_set_num_threads(1);
    uint64_t fp = 0xcbf29ce484222325ull;
    assert_int_equal(decoded_checks(&fp), 0);
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)fp);
    /* the child keeps the environment: OPENBLAS_CORETYPE picks the sgemm
     * kernels, and with them the bits */
    char *args[] = {"cpu-child", want, NULL};
    assert_int_equal(tu_run_self_env("ECBENCH_CPU", "generic", args), 0);
    if (ecb_cpu()->level > ECB_CPU_AVX2)
        assert_int_equal(tu_run_self_env("ECBENCH_CPU", "avx2", args), 0);
}

static int cpu_child(const char *want)
{
    dup2(2, 1); /* the parent's stdout is its TAP stream */
    const char *level = getenv("ECBENCH_CPU");
    if (!level || strcmp(ecb_cpu()->name, level)) return 3;
    openblas_set_num_threads(1);
    uint64_t fp = 0xcbf29ce484222325ull;
    if (decoded_checks(&fp)) return 4;
    char got[32];
    snprintf(got, sizeof got, "%llu", (unsigned long long)fp);
    fprintf(stderr, "cpu child (%s): fingerprint %s, parent %s\n", level, got, want);
    return strcmp(got, want) ? 5 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "cpu-child") == 0) return cpu_child(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_bits),
        cmocka_unit_test(test_split_grid),
        cmocka_unit_test(test_range_bits),
        cmocka_unit_test(test_decoded),
        cmocka_unit_test(test_decoded_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
