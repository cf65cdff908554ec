/*
 * Unit tests of rabitq: the grid search of extended RaBitQ and the
 * estimator on tiny cases computed by hand (identity rotation, centroid 0),
 * unbiasedness of the 1-bit asymmetric estimator over random rotations, the
 * rerank bound, multi-centroid codes, and the kNN recall floors of issue 5 on
 * siftsmall (skipped visibly without the shared data).
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

static rq_state *make(size_t dim, ecb_similarity sim, size_t bits, size_t cents, double eps,
                      uint64_t seed)
{
    ecb_host_init(&g_host, seed, 1);
    struct rabitq_params p = {.bits = bits, .centroids = cents, .rerank_bound = eps};
    ecb_method *m = NULL;
    assert_int_equal(rq_create(&g_host, &p, dim, sim, &m), 0);
    return (rq_state *)m;
}

/* Train on {x, -x} (mean exactly 0), then replace the rotation by the
 * identity so that every number below can be derived by hand. */
static void train_identity(rq_state *s, const float *x)
{
    size_t d = s->base.dim;
    float *smp = calloc(2 * d, sizeof(float));
    for (size_t t = 0; t < d; t++) { smp[t] = x[t]; smp[d + t] = -x[t]; }
    assert_int_equal(rq_train(&s->base, smp, 2), 0);
    for (size_t t = 0; t < d * d; t++) s->rot[t] = (t % (d + 1) == 0) ? 1.0f : 0.0f;
    for (size_t t = 0; t < d; t++) {
        assert_true(s->cent[t] == 0.0f);
        s->rcent[t] = 0.0f;
    }
    free(smp);
}

static float score1(rq_state *s, ecb_mode mode, const float *q, const uint8_t *code)
{
    size_t qs = rq_query_size(&s->base, mode);
    void *pq = malloc(qs);
    float v = NAN;
    assert_int_equal(rq_prepare(&s->base, mode, q, 1, pq), 0);
    assert_int_equal(rq_score(&s->base, mode, pq, 1, code, 1, &v), 0);
    free(pq);
    return v;
}

/* u = (0.28, 0.96). B = 1: y = (1/2, 1/2), <y,u> = 0.62.
 * B = 2 (magnitudes 1/2, 3/2): critical t at 1/0.96 and 1/0.28; cosines
 * 0.62/sqrt(0.5) = 0.8768, 1.58/sqrt(2.5) = 0.99928, 1.86/sqrt(4.5) = 0.8768,
 * so the best grid point is y = (1/2, 3/2), indices (2, 3). */
static void test_quantize_hand(void **state)
{
    (void)state;
    float u[2] = {0.28f, 0.96f};
    uint8_t idx[2];
    double yn2;
    rq_work w;
    assert_int_equal(rq_work_alloc(&w, 2, 1), 0);
    double ip = rq_quantize(u, 2, 1, &w, idx, &yn2);
    assert_float_equal(ip, 0.62, 1e-6);
    assert_float_equal(yn2, 0.5, 1e-12);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 1);
    rq_work_free(&w);

    assert_int_equal(rq_work_alloc(&w, 2, 2), 0);
    ip = rq_quantize(u, 2, 2, &w, idx, &yn2);
    assert_float_equal(ip, 1.58, 1e-6);
    assert_float_equal(yn2, 2.5, 1e-12);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 3);
    /* negative coordinate: index mirrored below the middle */
    float v[2] = {-0.28f, 0.96f};
    ip = rq_quantize(v, 2, 2, &w, idx, &yn2);
    assert_float_equal(ip, 1.58, 1e-6);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 3);
    rq_work_free(&w);
}

/* x = (3,1,0,0), c = 0, identity rotation, 1 bit: u = x/sqrt(10),
 * y = (1/2,1/2,1/2,1/2) (zeros go up), <y,u> = 2/sqrt(10), so
 * mul = ||x|| / <y,u> = 5 exactly. q = (1,2,3,4): <y,q> = 5.
 *   DOT asym: 5 * 5 = 25.   L2 asym: -||x||^2 + 2*5*5 - ||q||^2 = -10+50-30 = 10.
 * Symmetric: y_q = (1/2,...), <y_q,u_q> = 5/sqrt(30), query multiplier
 * ||q|| / <y_q,u_q> = 6, <y_x,y_q> = 1:
 *   DOT sym: 5 * 6 * 1 = 30.  L2 sym: -10 + 10 * 6 - 30 = 20. */
static void test_estimator_hand(void **state)
{
    (void)state;
    const float x[4] = {3, 1, 0, 0}, q[4] = {1, 2, 3, 4};
    for (int l2 = 0; l2 <= 1; l2++) {
        rq_state *s = make(4, l2 ? ECB_SIM_L2 : ECB_SIM_DOT, 1, 1, 0.0, 7);
        train_identity(s, x);
        assert_int_equal(rq_code_size(&s->base), 8 + 1);
        uint8_t code[12];
        assert_int_equal(rq_encode(&s->base, x, 1, code), 0);
        float f[2];
        memcpy(f, code, 8);
        assert_float_equal(f[0], l2 ? 10.0 : 5.0, 1e-5);
        assert_float_equal(f[1], l2 ? -10.0 : 0.0, 1e-5);
        assert_int_equal(code[8], 0x0f);
        assert_float_equal(score1(s, ECB_MODE_ASYMMETRIC, q, code), l2 ? 10.0 : 25.0, 1e-4);
        assert_float_equal(score1(s, ECB_MODE_SYMMETRIC, q, code), l2 ? 20.0 : 30.0, 1e-4);
        rq_destroy(&s->base);
    }
}

/* 2 bits, x = (0.28, 0.96): indices (2,3) -> plane 0 = 0b10, plane 1 = 0b11;
 * <y,u> = 1.58, mul = 1/1.58. q = (1,0): <y,q> = 2 - 1.5 = 0.5, so the DOT
 * estimate is 0.5/1.58 = 0.316456 (exact 0.28). Symmetric: q = (1,0) has one
 * critical t (= 1), cosines 0.7071 then 1.5/sqrt(2.5) = 0.9487, so
 * y_q = (3/2, 1/2), indices (3,2), <y_q,u_q> = 1.5; <y_x,y_q> = 0.75 + 0.75
 * = 1.5 and the estimate is (1/1.58) * (||q||/1.5) * 1.5 = 1/1.58. */
static void test_extended_hand(void **state)
{
    (void)state;
    const float x[2] = {0.28f, 0.96f}, q[2] = {1, 0};
    rq_state *s = make(2, ECB_SIM_DOT, 2, 1, 0.0, 3);
    train_identity(s, x);
    assert_int_equal(rq_code_size(&s->base), 8 + 2);
    uint8_t code[10];
    assert_int_equal(rq_encode(&s->base, x, 1, code), 0);
    float f[2];
    memcpy(f, code, 8);
    assert_float_equal(f[0], 1.0 / 1.58, 1e-6);
    assert_int_equal(code[8], 0x2);
    assert_int_equal(code[9], 0x3);
    assert_float_equal(score1(s, ECB_MODE_ASYMMETRIC, q, code), 0.5 / 1.58, 1e-6);
    assert_float_equal(score1(s, ECB_MODE_SYMMETRIC, q, code), 1.0 / 1.58, 1e-6);
    rq_destroy(&s->base);
}

static void unit_pair(size_t d, double cosv, uint64_t seed, float *x, float *q)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    double nx = 0, nz = 0, dot = 0;
    float *z = malloc(d * sizeof(float));
    for (size_t t = 0; t < d; t++) { x[t] = (float)ecb_rng_normal(&r); nx += (double)x[t] * x[t]; }
    for (size_t t = 0; t < d; t++) x[t] = (float)(x[t] / sqrt(nx));
    for (size_t t = 0; t < d; t++) { z[t] = (float)ecb_rng_normal(&r); dot += (double)z[t] * x[t]; }
    for (size_t t = 0; t < d; t++) { z[t] = (float)(z[t] - dot * x[t]); nz += (double)z[t] * z[t]; }
    for (size_t t = 0; t < d; t++)
        q[t] = (float)(cosv * x[t] + sqrt(1 - cosv * cosv) * z[t] / sqrt(nz));
    free(z);
}

/* For fixed unit x, q with <x,q> = 0.8, the 1-bit asymmetric estimate over
 * independent random rotations must average to 0.8: mean within 4 standard
 * errors. The uncorrected estimate <yhat, q'> (no division by <yhat,u>)
 * shrinks towards 0 by E<yhat,u> ~ 0.8 and must be rejected by the same
 * criterion, which shows the test can see a bias. */
static void test_unbiased_1bit(void **state)
{
    (void)state;
    const size_t d = 64, trials = 1500;
    float x[64], q[64], smp[128];
    unit_pair(d, 0.8, 11, x, q);
    for (size_t t = 0; t < d; t++) { smp[t] = x[t]; smp[d + t] = -x[t]; }
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    for (size_t k = 0; k < trials; k++) {
        rq_state *s = make(d, ECB_SIM_DOT, 1, 1, 0.0, 1000 + k);
        assert_int_equal(rq_train(&s->base, smp, 2), 0);
        uint8_t code[8 + 8];
        assert_int_equal(rq_encode(&s->base, x, 1, code), 0);
        double e = score1(s, ECB_MODE_ASYMMETRIC, q, code);
        float mul;
        memcpy(&mul, code, 4);
        double cosyu = 1.0 / (mul * sqrt((double)d) / 2.0); /* <yhat,u>, ||x|| = 1 */
        double naive = e * cosyu;
        sum += e; sum2 += e * e;
        nsum += naive; nsum2 += naive * naive;
        rq_destroy(&s->base);
    }
    double mean = sum / trials, se = sqrt((sum2 / trials - mean * mean) / trials);
    double nmean = nsum / trials, nse = sqrt((nsum2 / trials - nmean * nmean) / trials);
    fprintf(stderr, "rabitq 1-bit: mean estimate %.5f (exact 0.8, se %.5f); uncorrected %.5f\n",
            mean, se, nmean);
    assert_true(fabs(mean - 0.8) < 4 * se + 1e-4);
    assert_true(fabs(nmean - 0.8) > 10 * nse);
}

/* With rerank_bound = eps the asymmetric score is the estimate plus
 * eps * ||q - c|| * err, err = scale ||x-c|| sqrt(1-cos^2)/cos/sqrt(d-1). */
static void test_rerank_bound(void **state)
{
    (void)state;
    const size_t d = 32;
    float x[32], q[32], smp[64];
    unit_pair(d, 0.5, 5, x, q);
    for (size_t t = 0; t < d; t++) { x[t] *= 3; smp[t] = x[t]; smp[d + t] = -x[t]; }
    for (int l2 = 0; l2 <= 1; l2++) {
        ecb_similarity sim = l2 ? ECB_SIM_L2 : ECB_SIM_DOT;
        rq_state *a = make(d, sim, 1, 1, 0.0, 9), *b = make(d, sim, 1, 1, 1.9, 9);
        assert_int_equal(rq_train(&a->base, smp, 2), 0);
        assert_int_equal(rq_train(&b->base, smp, 2), 0);
        assert_int_equal(rq_code_size(&b->base), rq_code_size(&a->base) + 4);
        uint8_t ca[8 + 4], cb[12 + 4];
        assert_int_equal(rq_encode(&a->base, x, 1, ca), 0);
        assert_int_equal(rq_encode(&b->base, x, 1, cb), 0);
        float fa[2], fb[3];
        memcpy(fa, ca, 8);
        memcpy(fb, cb, 12);
        assert_float_equal(fa[0], fb[0], 0);
        double nrm = 3.0, cosv = nrm / (fa[0] / (l2 ? 2.0 : 1.0)) / (sqrt((double)d) / 2);
        double err = (l2 ? 2.0 : 1.0) * nrm * sqrt(1 - cosv * cosv) / cosv / sqrt(d - 1.0);
        assert_float_equal(fb[2], err, 1e-4 * err);
        double qn = 0;
        for (size_t t = 0; t < d; t++) qn += (double)q[t] * q[t];
        float sa = score1(a, ECB_MODE_ASYMMETRIC, q, ca), sb = score1(b, ECB_MODE_ASYMMETRIC, q, cb);
        assert_float_equal(sb - sa, 1.9 * sqrt(qn) * err, 1e-4);
        /* symmetric ignores the bound */
        assert_float_equal(score1(a, ECB_MODE_SYMMETRIC, q, ca), score1(b, ECB_MODE_SYMMETRIC, q, cb), 1e-5);
        rq_destroy(&a->base);
        rq_destroy(&b->base);
    }
}

/* Clustered data, 8 centroids: ids are stored, and the 4-bit L2 estimate is
 * close to the true squared distance (relative RMS error < 1% asymmetric,
 * < 1.5% symmetric; measured 0.34% and 0.50%). */
static void test_centroids(void **state)
{
    (void)state;
    const size_t d = 48, n = 600, K = 8;
    ecb_rng r;
    ecb_rng_seed(&r, 77);
    float *cent = malloc(K * d * sizeof(float)), *x = malloc(n * d * sizeof(float));
    for (size_t i = 0; i < K * d; i++) cent[i] = (float)(5 * ecb_rng_normal(&r));
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < d; t++) x[i * d + t] = cent[(i % K) * d + t] + (float)ecb_rng_normal(&r);
    rq_state *s = make(d, ECB_SIM_L2, 4, K, 0.0, 4);
    assert_int_equal(rq_train(&s->base, x, n), 0);
    size_t cs = rq_code_size(&s->base);
    assert_int_equal(cs, 8 + 1 + 4 * 6);
    uint8_t *codes = malloc(n * cs);
    assert_int_equal(rq_encode(&s->base, x, n, codes), 0);
    size_t used[8] = {0};
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i * cs + 8] < K);
        used[codes[i * cs + 8]]++;
    }
    for (size_t k = 0; k < K; k++) assert_true(used[k] > 0);
    float *sc = malloc(5 * n * sizeof(float));
    for (int mode = 0; mode <= 1; mode++) {
        size_t qs = rq_query_size(&s->base, (ecb_mode)mode);
        void *pq = malloc(5 * qs);
        assert_int_equal(rq_prepare(&s->base, (ecb_mode)mode, x + 100 * d, 5, pq), 0);
        assert_int_equal(rq_score(&s->base, (ecb_mode)mode, pq, 5, codes, n, sc), 0);
        double se = 0, sx = 0;
        for (size_t i = 0; i < 5; i++)
            for (size_t j = 0; j < n; j++) {
                double e = 0;
                for (size_t t = 0; t < d; t++) {
                    double v = (double)x[(100 + i) * d + t] - x[j * d + t];
                    e += v * v;
                }
                se += (sc[i * n + j] + e) * (sc[i * n + j] + e);
                sx += e * e;
            }
        fprintf(stderr, "rabitq 4-bit, 8 centroids, %s: relative RMS error of -||x-q||^2 %.4f\n",
                mode ? "asymmetric" : "symmetric", sqrt(se / sx));
        assert_true(sqrt(se / sx) < (mode ? 0.01 : 0.015));
        free(pq);
    }
    free(sc); free(codes); free(cent); free(x);
    rq_destroy(&s->base);
}

static float *read_fvecs(const char *path, size_t *n, size_t *d)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    int32_t dd;
    assert_int_equal(fread(&dd, 4, 1, f), 1);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *d = (size_t)dd;
    *n = (size_t)sz / (4 + 4 * *d);
    float *x = malloc(*n * *d * sizeof(float));
    for (size_t i = 0; i < *n; i++) {
        assert_int_equal(fread(&dd, 4, 1, f), 1);
        assert_int_equal(fread(x + i * *d, 4, *d, f), *d);
    }
    fclose(f);
    return x;
}

/* Top-10 ids by score descending (ties: lower id first). */
static void top10(const float *s, size_t n, size_t *out)
{
    for (size_t a = 0; a < 10; a++) out[a] = SIZE_MAX;
    for (size_t j = 0; j < n; j++) {
        size_t p = 10;
        while (p > 0 && (out[p - 1] == SIZE_MAX || s[j] > s[out[p - 1]])) p--;
        if (p < 10) {
            for (size_t a = 9; a > p; a--) out[a] = out[a - 1];
            out[p] = j;
        }
    }
}

/* Issue 5's floors: kNN recall@10 (asymmetric, L2) >= 0.41 at 1 bit and
 * >= 0.86 at 4 bits (FAISS 1.15 IndexRaBitQ: 0.427 and 0.874). */
static void test_siftsmall_recall(void **state)
{
    (void)state;
    char *bp = tu_shared_file("siftsmall/base.fvecs"), *qp = tu_shared_file("siftsmall/query.fvecs");
    if (!bp || !qp) { free(bp); free(qp); TU_SKIP("shared data siftsmall absent"); return; }
    size_t n, d, nq, dq;
    float *x = read_fvecs(bp, &n, &d), *q = read_fvecs(qp, &nq, &dq);
    assert_int_equal(d, dq);
    float *ex = malloc(nq * n * sizeof(float)), *sc = malloc(nq * n * sizeof(float));
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double e = 0;
            for (size_t t = 0; t < d; t++) {
                double v = (double)q[i * d + t] - x[j * d + t];
                e += v * v;
            }
            ex[i * n + j] = (float)-e;
        }
    const size_t bits[2] = {1, 4};
    const double floor_[2] = {0.41, 0.86};
    for (int b = 0; b < 2; b++) {
        rq_state *s = make(d, ECB_SIM_L2, bits[b], 1, 0.0, 1);
        assert_int_equal(rq_train(&s->base, x, n), 0);
        size_t cs = rq_code_size(&s->base), qs = rq_query_size(&s->base, ECB_MODE_ASYMMETRIC);
        uint8_t *codes = malloc(n * cs);
        void *pq = malloc(nq * qs);
        assert_int_equal(rq_encode(&s->base, x, n, codes), 0);
        assert_int_equal(rq_prepare(&s->base, ECB_MODE_ASYMMETRIC, q, nq, pq), 0);
        assert_int_equal(rq_score(&s->base, ECB_MODE_ASYMMETRIC, pq, nq, codes, n, sc), 0);
        size_t hit = 0;
        for (size_t i = 0; i < nq; i++) {
            size_t a[10], e[10];
            top10(sc + i * n, n, a);
            top10(ex + i * n, n, e);
            for (int u = 0; u < 10; u++)
                for (int v = 0; v < 10; v++) hit += a[u] == e[v];
        }
        double rec = (double)hit / (10.0 * nq);
        fprintf(stderr, "rabitq bits=%zu siftsmall knn_recall@10 = %.3f (%zu bytes/vector)\n",
                bits[b], rec, cs);
        assert_true(rec >= floor_[b]);
        free(codes); free(pq);
        rq_destroy(&s->base);
    }
    free(x); free(q); free(ex); free(sc); free(bp); free(qp);
}

static void test_rejects(void **state)
{
    (void)state;
    ecb_host_init(&g_host, 1, 1);
    ecb_method *m = NULL;
    struct rabitq_params p = {.bits = 9, .centroids = 1};
    assert_int_equal(rq_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    p.bits = 1;
    p.centroids = 0;
    assert_int_equal(rq_create(&g_host, &p, 8, ECB_SIM_DOT, &m), ECB_ERANGE);
    p.centroids = 4;
    assert_int_equal(rq_create(&g_host, &p, 8, ECB_SIM_DOT, &m), 0);
    float x[16] = {0};
    assert_int_equal(rq_train(m, x, 2), ECB_EINVAL); /* fewer vectors than centroids */
    rq_destroy(m);
    rq_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_hand),
        cmocka_unit_test(test_estimator_hand),
        cmocka_unit_test(test_extended_hand),
        cmocka_unit_test(test_unbiased_1bit),
        cmocka_unit_test(test_rerank_bound),
        cmocka_unit_test(test_centroids),
        cmocka_unit_test(test_siftsmall_recall),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
