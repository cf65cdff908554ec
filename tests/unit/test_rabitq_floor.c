/*
 * rabitq's score_floor (issue 13: the multi-bit scan leaves out the lowest
 * bit plane of blocks of codes whose bound cannot reach the k-th best): the host's
 * top-k with the hook equals the top-k with score() alone, ids and score
 * bits, on siftsmall (skipped visibly without the shared data) and on a
 * clustered synthetic 768-d set, at 1, 2 and 4 bits, dot and L2, 1 and 2
 * threads, on the AVX2 and the portable kernels; the written values obey
 * the hook's contract against exact floors; and the multi-bit cases did
 * skip (RQ_COUNT_SKIPS counts the skipped pairs), so equality is not
 * vacuous.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka: its fail() macro would rewrite host->fail(...). */
#include "common/ecb.h"
#include "harness/host.h"
#include "datasets/dataset.h"
#include "harness/search.h"
#define RQ_COUNT_SKIPS
#include "methods/rabitq.c"

#include "testutil.h"

static ecb_host g_host;

/* The first max rows of an fvecs file, through the project's reader. */
static float *read_fvecs(const char *path, size_t *n, size_t *d, size_t max)
{
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_open(path, &v), 0);
    *d = ecb_vecs_dim(v);
    *n = ecb_vecs_count(v) < max ? ecb_vecs_count(v) : max;
    float *x = malloc(*n * *d * sizeof(float));
    assert_int_equal(ecb_vecs_read(v, 0, *n, x), 0);
    ecb_vecs_free(v);
    return x;
}

/* n points around 20 Gaussian centres (spread 1, noise 0.35 per
 * coordinate): neighbours stand out, as in embedding corpora. */
static float *clustered(size_t n, size_t d, uint64_t seed)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    float *c = malloc(20 * d * sizeof(float)), *x = malloc(n * d * sizeof(float));
    for (size_t i = 0; i < 20 * d; i++) c[i] = (float)ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(ecb_rng_next(&r) % 20);
        for (size_t t = 0; t < d; t++)
            x[i * d + t] = c[k * d + t] + 0.35f * (float)ecb_rng_normal(&r);
    }
    free(c);
    return x;
}

/* Top-k of every query through the host's scan, with or without the
 * hook (a vtable copy without score_floor), on the portable (simd 0), AVX2
 * (1) or AVX-512 (2) kernel. */
static void topk(rq_state *s, int hook, int simd, const void *pq, size_t nq,
                 const uint8_t *codes, size_t n, size_t k, size_t threads, ecb_topk *out)
{
    static ecb_method_vtable vt;
    vt = rq_vtable;
    if (!hook) vt.score_floor = NULL;
    s->base.vt = &vt;
    int keep = s->avx2, keep512 = s->avx512;
    s->avx2 = simd >= 1;
    s->avx512 = simd >= 2;
    ecb_search_opts o;
    ecb_search_opts_default(&o);
    o.threads = threads;
    o.block_rows = 512; /* many blocks: floors set early */
    assert_int_equal(ecb_search_codes(&s->base, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, k, NULL,
                                      &o, out),
                     0);
    s->avx2 = keep;
    s->avx512 = keep512;
}

/* Every (bits, sim, threads, kernel) case of one data set. */
static void check_set(const float *x, size_t n, const float *q, size_t nq, size_t d)
{
    const size_t bits[] = {1, 2, 4}, ks[] = {10, 100};
    for (size_t b = 0; b < 3; b++)
        for (int sim = 0; sim < 2; sim++) {
            ecb_host_init(&g_host, 3, 1);
            struct rabitq_params p = {.bits = bits[b], .centroids = 1};
            ecb_method *m = NULL;
            assert_int_equal(rq_create(&g_host, &p, d, sim ? ECB_SIM_L2 : ECB_SIM_DOT, &m), 0);
            rq_state *s = (rq_state *)m;
            assert_int_equal(rq_train(m, x, n), 0);
            size_t cs = rq_code_size(m), qs = rq_query_size(m, ECB_MODE_ASYMMETRIC);
            uint8_t *codes = malloc(n * cs);
            void *pq = malloc(nq * qs);
            assert_int_equal(rq_encode(m, x, n, codes), 0);
            assert_int_equal(rq_prepare(m, ECB_MODE_ASYMMETRIC, q, nq, pq), 0);
            for (size_t ki = 0; ki < 2; ki++) {
                size_t k = ks[ki];
                ecb_topk ref, got;
                topk(s, 0, 0, pq, nq, codes, n, k, 1, &ref);
                size_t before = rq_skipped;
                int top = s->avx2 ? 1 + (s->avx512 != 0) : 0;
                for (int simd = 0; simd <= top; simd++)
                    for (size_t th = 1; th <= 2; th++) {
                        topk(s, 1, simd, pq, nq, codes, n, k, th, &got);
                        assert_memory_equal(ref.ids, got.ids, nq * k * sizeof *ref.ids);
                        assert_memory_equal(ref.scores, got.scores, nq * k * sizeof *ref.scores);
                        ecb_topk_release(&got);
                    }
                size_t skipped = rq_skipped - before;
                printf("# d=%zu n=%zu bits=%zu %s k=%zu: %zu (query, code) pairs skipped "
                       "(%.1f%% of the scan's)\n", d, n, bits[b], sim ? "l2" : "dot", k, skipped,
                       100.0 * (double)skipped / ((1.0 + top) * 2.0 * (double)(nq * n)));
                if (bits[b] > 1 && k == 10) assert_true(skipped > 0);
                if (bits[b] == 1) assert_int_equal(skipped, 0);
                ecb_topk_release(&ref);
            }
            free(codes);
            free(pq);
            rq_destroy(m);
        }
}

static void test_floor_topk_siftsmall(void **state)
{
    (void)state;
    char *bp = tu_shared_file("siftsmall/base.fvecs");
    char *qp = tu_shared_file("siftsmall/query.fvecs");
    if (!bp || !qp) { free(bp); free(qp); TU_SKIP("shared data siftsmall absent"); return; }
    size_t n, d, nq, dq;
    float *x = read_fvecs(bp, &n, &d, 10000), *q = read_fvecs(qp, &nq, &dq, 30);
    assert_int_equal(d, dq);
    check_set(x, n, q, nq, d);
    free(x); free(q); free(bp); free(qp);
}

static void test_floor_topk_synthetic768(void **state)
{
    (void)state;
    const size_t n = 2000, nq = 12, d = 768;
    float *x = clustered(n + nq, d, 11);
    check_set(x, n, x + n * d, nq, d);
    free(x);
}

/* The contract against exact floors, directly: floors at a random score
 * of each query's row (and -inf for one query), AVX-512, AVX2 and portable kernels
 * write the same bits; every value >= its floor is score()'s, every value
 * below it stands for a score below it. Also 3 centroids and the rerank
 * bound, which the top-k cases above do not cover. */
static void test_floor_contract(void **state)
{
    (void)state;
    const size_t n = 700, nq = 5, d = 100;
    float *x = clustered(n + nq, d, 5);
    for (int cfg = 0; cfg < 3; cfg++) {
        ecb_host_init(&g_host, 3, 1);
        struct rabitq_params p = {.bits = cfg == 2 ? 3 : 4, .centroids = cfg ? 3 : 1,
                                  .rerank_bound = cfg == 2 ? 1.9 : 0.0};
        ecb_method *m = NULL;
        assert_int_equal(rq_create(&g_host, &p, d, cfg == 1 ? ECB_SIM_DOT : ECB_SIM_L2, &m), 0);
        rq_state *s = (rq_state *)m;
        assert_int_equal(rq_train(m, x, n), 0);
        size_t cs = rq_code_size(m), qs = rq_query_size(m, ECB_MODE_ASYMMETRIC);
        uint8_t *codes = malloc(n * cs);
        void *pq = malloc(nq * qs);
        float *ref = malloc(nq * n * sizeof(float)), *got = malloc(nq * n * sizeof(float));
        float *got2 = malloc(nq * n * sizeof(float)), fl[5];
        assert_int_equal(rq_encode(m, x, n, codes), 0);
        assert_int_equal(rq_prepare(m, ECB_MODE_ASYMMETRIC, x + n * d, nq, pq), 0);
        assert_int_equal(rq_score(m, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, ref), 0);
        for (size_t i = 0; i < nq; i++) fl[i] = i == 2 ? -INFINITY : ref[i * n + (i * 97) % n];
        size_t before = rq_skipped;
        int keep = s->avx2;
        s->avx2 = 0;
        assert_int_equal(rq_score_floor(m, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, fl, got), 0);
        s->avx2 = keep;
        assert_int_equal(rq_score_floor(m, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, fl, got2), 0);
        assert_memory_equal(got, got2, nq * n * sizeof(float));
        if (s->avx512) { /* and the AVX2 kernel where got2 ran the AVX-512 one */
            s->avx512 = 0;
            assert_int_equal(rq_score_floor(m, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, fl, got2), 0);
            s->avx512 = 1;
            assert_memory_equal(got, got2, nq * n * sizeof(float));
        }
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < n; j++) {
                float r = ref[i * n + j], g = got[i * n + j];
                if (g >= fl[i]) assert_memory_equal(&r, &g, sizeof r);
                else assert_true(r < fl[i]);
                if (r >= fl[i]) assert_true(g >= fl[i]);
            }
        assert_true(rq_skipped > before);
        free(codes); free(pq); free(ref); free(got); free(got2);
        rq_destroy(m);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor_contract),
        cmocka_unit_test(test_floor_topk_synthetic768),
        cmocka_unit_test(test_floor_topk_siftsmall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
