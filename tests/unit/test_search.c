/*
 * harness/search.c: exact blocked/threaded search against a double-precision
 * brute force, search over a method's codes, the lowest failing block's
 * error, non-finite scores, identical documents tying, exact scores, and the
 * ground-truth cache. The ranking order and heaps: test_topk.c.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cblas.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"
#include "harness/cell.h"
#include "harness/search.h"

/* ---- helpers ------------------------------------------------------------- */

static float *rand_mat(size_t n, size_t d, uint64_t seed) { return tu_randn(n, d, seed); }

static ecb_vecs *vecs_copy(const float *x, size_t n, size_t d)
{
    float *c = malloc(n * d * sizeof *c);
    memcpy(c, x, n * d * sizeof *c);
    ecb_vecs *v = NULL;
    assert_int_equal(ecb_vecs_from_memory(c, n, d, &v), 0);
    return v;
}

static double ref_score(const float *q, const float *x, size_t d, ecb_ds_similarity sim)
{
    double dot = 0, qq = 0, xx = 0, l2 = 0;
    for (size_t t = 0; t < d; t++) {
        dot += (double)q[t] * x[t];
        qq += (double)q[t] * q[t];
        xx += (double)x[t] * x[t];
        l2 += ((double)q[t] - x[t]) * ((double)q[t] - x[t]);
    }
    if (sim == ECB_DS_DOT) return dot;
    if (sim == ECB_DS_L2) return -l2;
    return dot / sqrt(qq * xx);
}

/* ---- exact search --------------------------------------------------------- */

static void check_exact(ecb_ds_similarity sim, size_t n, size_t d, size_t nq, size_t k)
{
    float *x = rand_mat(n, d, 11 + sim);
    float *q = rand_mat(nq, d, 99 + sim);
    ecb_vecs *v = vecs_copy(x, n, d);
    ecb_topk ref;
    memset(&ref, 0, sizeof ref);
    /* brute force in double: all scores, sorted by the same order */
    double *all = malloc(n * sizeof *all);
    const size_t threads[] = {1, 2, 3};
    const size_t brows[] = {64, 1000, 4096};
    const size_t bqs[] = {3, 5, 1024};
    for (size_t cfg = 0; cfg < 3; cfg++) {
        ecb_search_opts o = {threads[cfg], brows[cfg], bqs[cfg]};
        ecb_topk t;
        assert_int_equal(ecb_search_exact(v, q, nq, sim, k, NULL, &o, &t), 0);
        assert_int_equal(t.nq, nq);
        assert_int_equal(t.k, k);
        for (size_t i = 0; i < nq; i++) {
            size_t want_cnt = k < n ? k : n;
            assert_int_equal(t.count[i], want_cnt);
            for (size_t j = 0; j < n; j++) all[j] = ref_score(q + i * d, x + j * d, d, sim);
            for (size_t r = 0; r < want_cnt; r++) {
                int64_t id = t.ids[i * k + r];
                assert_true(id >= 0 && (size_t)id < n);
                /* score close to the double reference */
                double tol = 1e-4 * (1 + fabs(all[id]));
                assert_true(fabs(t.scores[i * k + r] - all[id]) < tol);
                /* nothing outside the list beats it by more than rounding */
                if (r == want_cnt - 1)
                    for (size_t j = 0; j < n; j++) {
                        int in = 0;
                        for (size_t rr = 0; rr < want_cnt; rr++)
                            if (t.ids[i * k + rr] == (int64_t)j) in = 1;
                        if (!in) assert_true(all[j] <= all[id] + tol);
                    }
                if (r) assert_true(t.scores[i * k + r - 1] >= t.scores[i * k + r]);
            }
            for (size_t r = want_cnt; r < k; r++) assert_int_equal(t.ids[i * k + r], -1);
        }
        if (cfg == 0) {
            ref = t;
        } else {
            /* identical for any thread count and block size? ids yes when
             * scores are well separated (random data), scores to rounding */
            for (size_t i = 0; i < nq * k; i++) assert_int_equal(t.ids[i], ref.ids[i]);
            ecb_topk_release(&t);
        }
    }
    ecb_topk_release(&ref);
    free(all);
    ecb_vecs_free(v);
    free(x);
    free(q);
}

static void test_exact_cosine(void **state) { (void)state; check_exact(ECB_DS_COSINE, 1000, 16, 7, 10); }
static void test_exact_dot(void **state) { (void)state; check_exact(ECB_DS_DOT, 1000, 16, 7, 10); }
static void test_exact_l2(void **state) { (void)state; check_exact(ECB_DS_L2, 1000, 16, 7, 10); }
static void test_exact_k_gt_n(void **state) { (void)state; check_exact(ECB_DS_DOT, 37, 8, 4, 50); }

/* Same thread count and block grid -> bit-identical scores for 1 vs 3 threads. */
static void test_exact_deterministic(void **state)
{
    (void)state;
    size_t n = 3000, d = 32, nq = 9, k = 20;
    float *x = rand_mat(n, d, 5), *q = rand_mat(nq, d, 6);
    ecb_vecs *v = vecs_copy(x, n, d);
    ecb_search_opts o1 = {1, 256, 4}, o3 = {3, 256, 4};
    ecb_topk a, b;
    assert_int_equal(ecb_search_exact(v, q, nq, ECB_DS_L2, k, NULL, &o1, &a), 0);
    assert_int_equal(ecb_search_exact(v, q, nq, ECB_DS_L2, k, NULL, &o3, &b), 0);
    assert_memory_equal(a.ids, b.ids, nq * k * sizeof *a.ids);
    assert_memory_equal(a.scores, b.scores, nq * k * sizeof *a.scores);
    ecb_topk_release(&a);
    ecb_topk_release(&b);
    ecb_vecs_free(v);
    free(x);
    free(q);
}

/* A corpus of at most one block per worker is read once, in row chunks,
 * before the scan (preload); otherwise each worker reads the blocks it
 * scans. Both give the same bits: 2 blocks of 2,500 rows (3 preload chunks
 * each, the last one short) scanned by 1 thread (no preload) and by 2 or 3
 * (preload), for every similarity. */
static void test_exact_preload_bits(void **state)
{
    (void)state;
    size_t n = 5000, d = 24, nq = 30, k = 15;
    float *x = rand_mat(n, d, 11), *q = rand_mat(nq, d, 12);
    ecb_vecs *v = vecs_copy(x, n, d);
    const ecb_ds_similarity sims[] = {ECB_DS_COSINE, ECB_DS_DOT, ECB_DS_L2};
    for (size_t si = 0; si < 3; si++) {
        ecb_search_opts o1 = {1, 2500, 1024};
        ecb_topk ref;
        assert_int_equal(ecb_search_exact(v, q, nq, sims[si], k, NULL, &o1, &ref), 0);
        for (size_t threads = 2; threads <= 3; threads++) {
            ecb_search_opts o = {threads, 2500, 1024};
            ecb_topk t;
            assert_int_equal(ecb_search_exact(v, q, nq, sims[si], k, NULL, &o, &t), 0);
            assert_memory_equal(t.ids, ref.ids, nq * k * sizeof *t.ids);
            assert_memory_equal(t.scores, ref.scores, nq * k * sizeof *t.scores);
            assert_memory_equal(t.count, ref.count, nq * sizeof *t.count);
            ecb_topk_release(&t);
        }
        ecb_topk_release(&ref);
    }
    ecb_vecs_free(v);
    free(x);
    free(q);
}

/* Duplicate vectors tie exactly: order by doc_id_rank descending, across
 * block and thread boundaries. */
static void test_exact_ties(void **state)
{
    (void)state;
    size_t n = 10, d = 4;
    float *x = calloc(n * d, sizeof *x);
    for (size_t i = 0; i < n; i++) x[i * d + (i % 2)] = 1.0f; /* two distinct vectors */
    float q[4] = {1, 0, 0, 0};
    /* rank = reverse of row for even rows, i.e. id strings sorting oddly */
    const uint32_t rank[10] = {9, 0, 7, 1, 5, 2, 3, 4, 8, 6};
    ecb_vecs *v = vecs_copy(x, n, d);
    for (size_t th = 1; th <= 2; th++) {
        ecb_search_opts o = {th, 3, 1};
        ecb_topk t;
        assert_int_equal(ecb_search_exact(v, q, 1, ECB_DS_DOT, 4, rank, &o, &t), 0);
        /* even rows score 1: ranks 9(0),7(2),5(4),3(6),8(8): best 0, 8, 2, 4 */
        const int64_t want[4] = {0, 8, 2, 4};
        for (int i = 0; i < 4; i++) {
            assert_int_equal(t.ids[i], want[i]);
            assert_true(t.scores[i] == 1.0f);
        }
        ecb_topk_release(&t);
    }
    ecb_vecs_free(v);
    free(x);
}

/* ---- search over codes: a float32-like fake method ----------------------- */

static size_t fake_code_size(const ecb_method *m) { return m->dim * sizeof(float); }
static size_t fake_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}
static int fake_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                      const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const float *q = prepared, *x = (const float *)codes;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t t = 0; t < m->dim; t++) s += (double)q[i * m->dim + t] * x[j * m->dim + t];
            scores[i * n + j] = (float)s;
        }
    return 0;
}
static int fake_fail_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                           const uint8_t *codes, size_t n, float *scores)
{
    (void)m; (void)mode; (void)prepared; (void)nq; (void)codes; (void)n; (void)scores;
    return ecb_fail(ECB_ENUMERIC, "fake: score failed on purpose");
}

/* A fake method scoring float32 "codes" with the given score(). */
typedef int (*fake_score_fn)(const ecb_method *, ecb_mode, const void *, size_t, const uint8_t *,
                             size_t, float *);
static ecb_method_vtable fake_vtable(fake_score_fn score)
{
    ecb_method_vtable vt;
    memset(&vt, 0, sizeof vt);
    vt.code_size = fake_code_size;
    vt.query_size = fake_query_size;
    vt.score = score;
    return vt;
}

static void test_search_codes(void **state)
{
    (void)state;
    size_t n = 500, d = 8, nq = 5, k = 7;
    float *x = rand_mat(n, d, 21), *q = rand_mat(nq, d, 22);
    ecb_method_vtable vt = fake_vtable(fake_score);
    ecb_method m = {&vt, NULL, d, ECB_SIM_DOT};
    ecb_vecs *v = vecs_copy(x, n, d);
    ecb_search_opts o = {2, 64, 2};
    ecb_topk a, b;
    assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, (const uint8_t *)x, n, k,
                                      NULL, &o, &a), 0);
    assert_int_equal(ecb_search_exact(v, q, nq, ECB_DS_DOT, k, NULL, &o, &b), 0);
    for (size_t i = 0; i < nq * k; i++) {
        assert_int_equal(a.ids[i], b.ids[i]);
        assert_true(fabsf(a.scores[i] - b.scores[i]) < 1e-4f);
    }
    ecb_topk_release(&a);
    ecb_topk_release(&b);

    /* a failing score() surfaces its code and message */
    vt.score = fake_fail_score;
    assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, (const uint8_t *)x, n, k,
                                      NULL, &o, &a), ECB_ENUMERIC);
    assert_non_null(strstr(ecb_last_error(), "on purpose"));
    ecb_vecs_free(v);
    free(x);
    free(q);
}

/* scan_kind: a method's hint sets the query blocks score() sees (small for
 * CHEAP, at least 48 for HEAVY, by code size for DEFAULT), never the
 * results; a value outside the enum fails the search, naming the hook. */
static _Atomic size_t kind_min_nq, kind_max_nq;
static int kind_value;
static int fake_kind(const ecb_method *m, ecb_mode mode)
{
    (void)m;
    (void)mode;
    return kind_value;
}
static int fake_kind_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                           const uint8_t *codes, size_t n, float *scores)
{
    size_t v = atomic_load(&kind_min_nq);
    while (nq < v && !atomic_compare_exchange_weak(&kind_min_nq, &v, nq)) {}
    v = atomic_load(&kind_max_nq);
    while (nq > v && !atomic_compare_exchange_weak(&kind_max_nq, &v, nq)) {}
    return fake_score(m, mode, prepared, nq, codes, n, scores);
}

static void test_search_scan_kind(void **state)
{
    (void)state;
    /* 16-byte codes: cheap by size; 100 queries, one block of 2,000 rows */
    size_t n = 2000, d = 4, nq = 100, k = 10;
    float *x = rand_mat(n, d, 25), *q = rand_mat(nq, d, 26);
    ecb_method_vtable vt = fake_vtable(fake_kind_score);
    vt.scan_kind = fake_kind;
    ecb_method m = {&vt, NULL, d, ECB_SIM_DOT};
    ecb_topk ref;
    ecb_search_opts o = {2, 65536, 1024};
    static const struct {
        int kind;
        size_t min_nq, max_nq; /* the blocks score() must see */
    } cases[] = {
        {ECB_SCAN_DEFAULT, 12, 36}, {ECB_SCAN_CHEAP, 12, 36}, {ECB_SCAN_HEAVY, 48, 100}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        kind_value = cases[c].kind;
        atomic_store(&kind_min_nq, SIZE_MAX);
        atomic_store(&kind_max_nq, 0);
        ecb_topk a;
        assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, (const uint8_t *)x, n,
                                          k, NULL, &o, &a), 0);
        assert_true(atomic_load(&kind_min_nq) >= cases[c].min_nq);
        assert_true(atomic_load(&kind_max_nq) <= cases[c].max_nq);
        if (c == 0) {
            ref = a;
            continue;
        }
        assert_memory_equal(a.ids, ref.ids, nq * k * sizeof *a.ids);
        assert_memory_equal(a.scores, ref.scores, nq * k * sizeof *a.scores);
        ecb_topk_release(&a);
    }
    ecb_topk_release(&ref);
    /* 16-byte codes counted as heavy once the hook says so: blocks of 48 + 52 */
    kind_value = ECB_SCAN_HEAVY;
    atomic_store(&kind_min_nq, SIZE_MAX);
    ecb_topk a;
    assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, (const uint8_t *)x, n, k,
                                      NULL, &o, &a), 0);
    assert_int_equal(atomic_load(&kind_min_nq), 48);
    ecb_topk_release(&a);
    /* 128-byte codes (32 floats): heavy by size, small blocks once cheap */
    float *x32 = rand_mat(n, 32, 27), *q32 = rand_mat(nq, 32, 28);
    ecb_method m32 = {&vt, NULL, 32, ECB_SIM_DOT};
    for (int kind = ECB_SCAN_DEFAULT; kind <= ECB_SCAN_CHEAP; kind++) {
        kind_value = kind;
        atomic_store(&kind_min_nq, SIZE_MAX);
        atomic_store(&kind_max_nq, 0);
        assert_int_equal(ecb_search_codes(&m32, ECB_MODE_ASYMMETRIC, q32, nq,
                                          (const uint8_t *)x32, n, k, NULL, &o, &a), 0);
        if (kind == ECB_SCAN_DEFAULT) assert_int_equal(atomic_load(&kind_min_nq), 48);
        else assert_true(atomic_load(&kind_max_nq) <= 36);
        ecb_topk_release(&a);
    }
    free(x32);
    free(q32);
    kind_value = 7;
    assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq, (const uint8_t *)x, n, k,
                                      NULL, &o, &a), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "scan_kind returned 7"));
    free(x);
    free(q);
}

/* Fails on every block from row 128 on, naming its first row; the lowest
 * failing block is slow, so other workers fail first in time. */
static const uint8_t *fail_base;
static int fake_fail_late(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                          const uint8_t *codes, size_t n, float *scores)
{
    size_t row = (size_t)(codes - fail_base) / (m->dim * sizeof(float));
    if (row < 128) return fake_score(m, mode, prepared, nq, codes, n, scores);
    if (row == 128) usleep(3000);
    return ecb_fail(ECB_ENUMERIC - (row != 128), "fake: failed at row %zu", row);
}

/* The failure reported is the lowest failing block's, whatever the thread
 * count and scheduling (code and message). */
static void test_search_codes_first_error(void **state)
{
    (void)state;
    size_t n = 1000, d = 4, nq = 3, k = 5;
    float *x = rand_mat(n, d, 23), *q = rand_mat(nq, d, 24);
    ecb_method_vtable vt = fake_vtable(fake_fail_late);
    ecb_method m = {&vt, NULL, d, ECB_SIM_DOT};
    fail_base = (const uint8_t *)x;
    for (size_t threads = 1; threads <= 4; threads++)
        for (int rep = 0; rep < 3; rep++) {
            ecb_search_opts o = {threads, 64, 2};
            ecb_topk a;
            assert_int_equal(ecb_search_codes(&m, ECB_MODE_ASYMMETRIC, q, nq,
                                              (const uint8_t *)x, n, k, NULL, &o, &a),
                             ECB_ENUMERIC);
            assert_string_equal(ecb_last_error(), "fake: failed at row 128");
        }
    free(x);
    free(q);
}

/* ---- non-finite scores (issue 11 item 11) ------------------------------------ */

/* Finite but huge vectors overflow float32 scores: the search fails with the
 * first (block, query, row) whatever the threads and block sizes, instead of
 * ranking infinities. */
static void test_exact_nonfinite(void **state)
{
    (void)state;
    size_t n = 300, d = 6, nq = 4, k = 5;
    float *x = rand_mat(n, d, 51), *q = rand_mat(nq, d, 52);
    for (size_t t = 0; t < d; t++) x[70 * d + t] = x[250 * d + t] = 1e30f;
    ecb_vecs *v = vecs_copy(x, n, d);
    for (size_t cfg = 0; cfg < 3; cfg++) {
        ecb_search_opts o = {cfg + 1, cfg == 0 ? 300 : 32, cfg == 2 ? 1 : 8};
        for (int sim = 0; sim < 3; sim++) {
            ecb_topk t;
            assert_int_equal(ecb_search_exact(v, q, nq, (ecb_ds_similarity)sim, k, NULL, &o, &t),
                             sim == ECB_DS_L2 ? ECB_ENUMERIC : 0);
            if (sim != ECB_DS_L2) { /* q.x ~ 1e30 and cosine stay finite; |x|^2 does not */
                ecb_topk_release(&t);
                continue;
            }
            assert_non_null(strstr(ecb_last_error(), "query 0 against corpus row 70 is"));
            assert_non_null(strstr(ecb_last_error(), "must be finite"));
        }
    }
    float out[2];
    const int64_t rows[2] = {1, 70};
    assert_int_equal(ecb_exact_scores(v, ECB_DS_L2, q, rows, 2, out), ECB_ENUMERIC);
    assert_non_null(strstr(ecb_last_error(), "corpus row 70"));
    assert_int_equal(ecb_exact_scores(v, ECB_DS_COSINE, q, rows, 2, out), 0);
    ecb_vecs_free(v);
    free(x);
    free(q);
}

/* A method's NaN or inf at (query 1, row 130) names the method and them. */
static int fake_nan_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                          const uint8_t *codes, size_t n, float *scores)
{
    int rc = fake_score(m, mode, prepared, nq, codes, n, scores);
    size_t row0 = (size_t)(codes - fail_base) / (m->dim * sizeof(float));
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++)
            if (row0 + j >= 130 && (i > 0 || row0 + j >= 200))
                scores[i * n + j] = (j & 1) ? NAN : -INFINITY;
    return rc;
}

static void test_codes_nonfinite(void **state)
{
    (void)state;
    size_t n = 400, d = 4, nq = 3, k = 5;
    float *x = rand_mat(n, d, 53), *q = rand_mat(nq, d, 54);
    ecb_method_vtable vt = fake_vtable(fake_nan_score);
    vt.name = "fakenan";
    ecb_method m = {&vt, NULL, d, ECB_SIM_DOT};
    fail_base = (const uint8_t *)x;
    for (size_t threads = 1; threads <= 3; threads++) {
        ecb_search_opts o = {threads, 64, 2};
        ecb_topk a;
        assert_int_equal(ecb_search_codes(&m, ECB_MODE_SYMMETRIC, q, nq, (const uint8_t *)x, n, k,
                                          NULL, &o, &a), ECB_ENUMERIC);
        /* block 128..191 holds the first non-finite score, of query 1 at row 130 */
        assert_non_null(strstr(ecb_last_error(), "method 'fakenan' (symmetric): score of query 1 "
                                                 "against corpus row 130 is -inf"));
    }
    free(x);
    free(q);
}

/* ---- identical documents tie (issue 11 item 10) -------------------------------- */

static void widen_f32(const void *ctx, const uint8_t *codes, size_t rows, float *out)
{
    memcpy(out, codes, rows * *(const size_t *)ctx * sizeof *out);
}

/* A corpus of one vector repeated: every copy must get the same score from
 * exact search and from the cast methods' scoring (ecb_scores_decoded),
 * wherever it sits in a BLAS block, so that the tie goes to the largest
 * ids. BLAS kernels compute the edge rows of a matrix differently; without
 * padding, copies in the last partial tile scored one ulp apart. */
static void test_duplicates_tie(void **state)
{
    (void)state;
    const size_t dims[] = {128, 768, 37};
    const size_t ns[] = {37, 301, 4100};
    size_t nq = 5, k = 10;
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 3; b++) {
            size_t d = dims[a], n = ns[b];
            float *one = rand_mat(1, d, 61 + a), *q = rand_mat(nq, d, 62);
            float *x = malloc(n * d * sizeof *x);
            for (size_t i = 0; i < n; i++) memcpy(x + i * d, one, d * sizeof *x);
            ecb_vecs *v = vecs_copy(x, n, d);
            for (int sim = 0; sim < 3; sim++)
                for (size_t cfg = 0; cfg < 2; cfg++) {
                    ecb_search_opts o = {cfg + 1, cfg ? 300 : 0, 0};
                    ecb_topk t;
                    assert_int_equal(
                        ecb_search_exact(v, q, nq, (ecb_ds_similarity)sim, k, NULL, &o, &t), 0);
                    for (size_t i = 0; i < nq; i++)
                        for (size_t r = 0; r < k; r++) {
                            if (t.ids[i * k + r] != (int64_t)(n - 1 - r))
                                fail_msg("exact sim %d d=%zu n=%zu query %zu rank %zu: id %lld, "
                                         "want %zu", sim, d, n, i, r,
                                         (long long)t.ids[i * k + r], n - 1 - r);
                            if (t.scores[i * k + r] != t.scores[i * k])
                                fail_msg("exact sim %d d=%zu n=%zu cfg %zu query %zu rank %zu: "
                                         "%.9g, rank 0 %.9g", sim, d, n, cfg, i, r,
                                         t.scores[i * k + r], t.scores[i * k]);
                        }
                    ecb_topk_release(&t);
                }
            /* as in a search, whose scan runs BLAS single-threaded */
            float *sc = malloc(nq * n * sizeof *sc);
            int blas = openblas_get_num_threads();
            openblas_set_num_threads(1);
            for (int l2 = 0; l2 < 2; l2++) {
                assert_int_equal(ecb_scores_decoded(&d, widen_f32, l2, q, nq, (const uint8_t *)x,
                                                    d * sizeof(float), n, d, sc), 0);
                for (size_t i = 0; i < nq; i++)
                    for (size_t j = 0; j < n; j++)
                        if (sc[i * n + j] != sc[i * n])
                            fail_msg("decoded l2=%d d=%zu n=%zu query %zu: row %zu scores %.9g, "
                                     "row 0 %.9g", l2, d, n, i, j, sc[i * n + j], sc[i * n]);
            }
            openblas_set_num_threads(blas);
            free(sc);
            ecb_vecs_free(v);
            free(x);
            free(one);
            free(q);
        }
}

/* ---- exact scores -------------------------------------------------------- */

static void test_exact_scores(void **state)
{
    (void)state;
    size_t n = 50, d = 12;
    float *x = rand_mat(n, d, 31), *q = rand_mat(1, d, 32);
    ecb_vecs *v = vecs_copy(x, n, d);
    const int64_t rows[5] = {3, -1, 49, 0, 3};
    float out[5];
    for (int sim = 0; sim < 3; sim++) {
        assert_int_equal(ecb_exact_scores(v, (ecb_ds_similarity)sim, q, rows, 5, out), 0);
        for (int i = 0; i < 5; i++) {
            if (rows[i] < 0) {
                assert_true(out[i] == -INFINITY);
                continue;
            }
            double want = ref_score(q, x + rows[i] * d, d, (ecb_ds_similarity)sim);
            assert_true(fabs(out[i] - want) <= 1e-6 * (1 + fabs(want)));
        }
    }
    const int64_t bad[1] = {50};
    assert_int_equal(ecb_exact_scores(v, ECB_DS_DOT, q, bad, 1, out), ECB_ERANGE);
    ecb_vecs_free(v);
    free(x);
    free(q);
}

/* ---- ground truth cache ----------------------------------------------------- */

static char *find_gt_file(const char *dir)
{
    DIR *dd = opendir(dir);
    if (!dd) return NULL;
    struct dirent *e;
    char *res = NULL;
    while ((e = readdir(dd)))
        if (!strncmp(e->d_name, "gt-", 3)) {
            size_t len = strlen(dir) + strlen(e->d_name) + 2;
            res = malloc(len);
            snprintf(res, len, "%s/%s", dir, e->d_name);
            break;
        }
    closedir(dd);
    return res;
}

static void test_groundtruth_cache(void **state)
{
    (void)state;
    size_t n = 400, d = 10, nq = 6, k = 15;
    float *x = rand_mat(n, d, 41), *q = rand_mat(nq, d, 42);
    ecb_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.name = "unit";
    ds.sim = ECB_DS_COSINE;
    ds.corpus = vecs_copy(x, n, d);
    ds.queries = vecs_copy(q, nq, d);
    char *dir = tu_tmpdir();
    char cache[512];
    snprintf(cache, sizeof cache, "%s/gtcache", dir);
    ecb_search_opts o = {2, 128, 4};

    ecb_topk a, b, c;
    assert_int_equal(ecb_groundtruth(&ds, k, cache, &o, &a), 0);
    char *f = find_gt_file(cache);
    assert_non_null(f);
    /* cached scores are ecb_exact_scores's */
    float sc[15];
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(ecb_exact_scores(ds.corpus, ds.sim, q + i * d, a.ids + i * k, k, sc), 0);
        assert_memory_equal(sc, a.scores + i * k, k * sizeof *sc);
    }
    /* second call loads the file: identical */
    assert_int_equal(ecb_groundtruth(&ds, k, cache, &o, &b), 0);
    assert_memory_equal(a.ids, b.ids, nq * k * sizeof *a.ids);
    assert_memory_equal(a.scores, b.scores, nq * k * sizeof *a.scores);
    assert_memory_equal(a.count, b.count, nq * sizeof *a.count);
    ecb_topk_release(&b);

    /* damage a payload byte: detected, recomputed, same answer */
    FILE *fp = fopen(f, "r+b");
    assert_non_null(fp);
    fseek(fp, -3, SEEK_END);
    int ch = fgetc(fp);
    fseek(fp, -3, SEEK_END);
    fputc(ch ^ 0x5a, fp);
    fclose(fp);
    assert_int_equal(ecb_groundtruth(&ds, k, cache, &o, &c), 0);
    assert_memory_equal(a.ids, c.ids, nq * k * sizeof *a.ids);
    ecb_topk_release(&c);

    /* truncated file: same */
    assert_int_equal(truncate(f, 40), 0);
    assert_int_equal(ecb_groundtruth(&ds, k, cache, &o, &c), 0);
    assert_memory_equal(a.ids, c.ids, nq * k * sizeof *a.ids);
    ecb_topk_release(&c);

    /* another k is another key, another file */
    assert_int_equal(ecb_groundtruth(&ds, 5, cache, &o, &c), 0);
    for (size_t i = 0; i < nq; i++)
        assert_memory_equal(c.ids + i * 5, a.ids + i * k, 5 * sizeof *c.ids);
    ecb_topk_release(&c);

    /* no cache dir: computed, same */
    assert_int_equal(ecb_groundtruth(&ds, k, NULL, &o, &c), 0);
    assert_memory_equal(a.ids, c.ids, nq * k * sizeof *a.ids);
    ecb_topk_release(&c);

    ecb_topk_release(&a);
    free(f);
    ecb_vecs_free(ds.corpus);
    ecb_vecs_free(ds.queries);
    free(dir);
    free(x);
    free(q);
}

/* Our exact ground truth against the ground truth shipped with real data
 * sets. Tie order may differ (SIFT distances are integers), so rank by rank
 * the exact scores must agree: ours, and those of the shipped ids. */
static void check_shipped_gt(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/manifest.json", name);
    char *man = tu_shared_file(rel);
    if (!man) {
        fprintf(stderr, "SKIP %s: %s absent\n", __func__, rel);
        return;
    }
    ecb_dataset *ds = NULL;
    assert_int_equal(ecb_dataset_load_manifest(man, &ds), 0);
    assert_non_null(ds->gt);
    size_t nq = ecb_vecs_count(ds->queries), d = ecb_vecs_dim(ds->queries), k = ds->gt_k;
    ecb_search_opts o;
    ecb_search_opts_default(&o);
    ecb_topk t;
    assert_int_equal(ecb_groundtruth(ds, k, NULL, &o, &t), 0);
    float *q = malloc(d * sizeof *q), *sc = malloc(k * sizeof *sc);
    int64_t *ids = malloc(k * sizeof *ids);
    size_t same_id = 0, total = 0;
    double maxrel = 0;
    for (size_t i = 0; i < nq; i++) {
        assert_int_equal(ecb_vecs_read(ds->queries, i, 1, q), 0);
        for (size_t r = 0; r < k; r++) ids[r] = ds->gt[i * k + r];
        assert_int_equal(ecb_exact_scores(ds->corpus, ds->sim, q, ids, k, sc), 0);
        for (size_t r = 0; r < k; r++) {
            double a = t.scores[i * k + r], b = sc[r];
            double rd = fabs(a - b) / fmax(1.0, fabs(b));
            if (rd > maxrel) maxrel = rd;
            same_id += t.ids[i * k + r] == ids[r];
            total++;
        }
    }
    fprintf(stderr, "%s: %zu queries x k=%zu: same id at %zu of %zu ranks, max rel score diff %.3g\n",
            name, nq, k, same_id, total, maxrel);
    assert_true(maxrel <= 1e-6);
    free(q);
    free(sc);
    free(ids);
    ecb_topk_release(&t);
    ecb_dataset_free(ds);
    free(man);
}

static void test_shipped_groundtruth(void **state)
{
    (void)state;
    if (!tu_shared_data()) TU_SKIP("shared data absent");
    check_shipped_gt("siftsmall");
    check_shipped_gt("bigann10k");
    check_shipped_gt("fmnistsmall");
}

/* ---- batch throughput: repeated passes -------------------------------------- */

typedef struct fake_pass {
    size_t calls, differ_at; /* differ_at: the call (1-based) that ranks differently */
    double sleep_s;
} fake_pass;

static int fake_pass_fn(void *arg, ecb_topk *out)
{
    fake_pass *f = arg;
    f->calls++;
    int rc = ecb_topk_alloc(out, 3, 2);
    if (rc) return rc;
    for (size_t q = 0; q < 3; q++) {
        out->count[q] = 2;
        for (size_t r = 0; r < 2; r++) {
            out->ids[q * 2 + r] = (int64_t)(q + r);
            out->scores[q * 2 + r] = 1.0f - 0.25f * (float)r;
        }
    }
    if (f->calls == f->differ_at) out->scores[2 * 2 + 1] = nextafterf(0.75f, 1.0f);
    if (f->sleep_s > 0) usleep((useconds_t)(f->sleep_s * 1e6));
    return 0;
}

static void test_cell_batch_passes(void **state)
{
    (void)state;
    /* quick passes: repeated ECB_QPS_PASSES times, pass 1's lists kept */
    fake_pass f = {0, 0, 0.0};
    ecb_topk top = {0};
    ecb_cell_result r;
    ecb_cell_result_init(&r);
    assert_int_equal(ecb_cell_batch(3, fake_pass_fn, &f, &top, &r), 0);
    assert_int_equal(f.calls, ECB_QPS_PASSES);
    assert_true(r.qps > 0 && isfinite(r.qps));
    assert_int_equal(top.nq, 3);
    assert_int_equal(top.ids[5], 3);
    ecb_topk_release(&top);
    /* a pass longer than the budget: one pass only */
    fake_pass slow = {0, 0, ECB_QPS_BUDGET_S + 0.01};
    assert_int_equal(ecb_cell_batch(3, fake_pass_fn, &slow, &top, &r), 0);
    assert_int_equal(slow.calls, 1);
    assert_true(r.qps < 3.0 / ECB_QPS_BUDGET_S);
    ecb_topk_release(&top);
    /* a repeat that differs in one score bit fails, naming pass, query and rank */
    fake_pass bad = {0, 3, 0.0};
    assert_int_equal(ecb_cell_batch(3, fake_pass_fn, &bad, &top, &r), ECB_EINTERNAL);
    assert_non_null(strstr(ecb_last_error(), "batch pass 3 ranked query 2 differently"));
    assert_non_null(strstr(ecb_last_error(), "rank 2"));
    ecb_topk_release(&top);
    ecb_cell_result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_cosine),
        cmocka_unit_test(test_exact_dot),
        cmocka_unit_test(test_exact_l2),
        cmocka_unit_test(test_exact_k_gt_n),
        cmocka_unit_test(test_exact_deterministic),
        cmocka_unit_test(test_exact_preload_bits),
        cmocka_unit_test(test_exact_ties),
        cmocka_unit_test(test_search_codes),
        cmocka_unit_test(test_search_codes_first_error),
        cmocka_unit_test(test_exact_nonfinite),
        cmocka_unit_test(test_codes_nonfinite),
        cmocka_unit_test(test_duplicates_tie),
        cmocka_unit_test(test_exact_scores),
        cmocka_unit_test(test_groundtruth_cache),
        cmocka_unit_test(test_shipped_groundtruth),
        cmocka_unit_test(test_cell_batch_passes),
        cmocka_unit_test(test_search_scan_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
