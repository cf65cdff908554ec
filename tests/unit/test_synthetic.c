/*
 * The built-in synthetic collection: determinism (same seed, same bytes;
 * another seed, other bytes), rows computable independently, the shape of
 * the data (common mean, decaying but not axis-aligned spectrum), qrels
 * sanity, and exact cosine retrieval scoring a realistic, imperfect nDCG@10.
 * Golden: the corpus bytes equal those of the first (scalar) generator,
 * whatever kernel level ECBENCH_CPU picks (each level in a child process,
 * since the level is chosen once per process).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "datasets/dataset.h"
#include "harness/params.h"

static ecb_dataset *make(size_t n, size_t dim, size_t nq, double decay, uint64_t seed)
{
    ecb_synth_params p;
    ecb_synth_defaults(&p);
    p.n = n;
    p.dim = dim;
    p.queries = nq;
    p.decay = decay;
    p.seed = seed;
    ecb_dataset *d;
    int rc = ecb_dataset_synthetic(&p, &d);
    if (rc) fail_msg("synthetic: %s", ecb_last_error());
    return d;
}

static float *read_all(const ecb_vecs *v)
{
    size_t n = ecb_vecs_count(v), d = ecb_vecs_dim(v);
    float *x = malloc(n * d * sizeof *x);
    assert_non_null(x);
    assert_int_equal(ecb_vecs_read(v, 0, n, x), 0);
    return x;
}

static void test_defaults_and_table(void **state)
{
    (void)state;
    ecb_synth_params a, b;
    memset(&a, 0xab, sizeof a);
    memset(&b, 0xcd, sizeof b);
    ecb_synth_defaults(&a);
    ecb_params_defaults(ecb_synth_param_table, &b);
    assert_int_equal(a.n, b.n);
    assert_int_equal(a.dim, b.dim);
    assert_int_equal(a.queries, b.queries);
    assert_int_equal(a.clusters, b.clusters);
    assert_true(a.decay == b.decay);
    assert_true(a.seed == b.seed);
    assert_int_equal(a.n, 20000);
    assert_int_equal(a.dim, 128);
    assert_int_equal(a.queries, 200);
    const char *names[] = {"n", "dim", "queries", "clusters", "decay", "seed"};
    assert_int_equal(ecb_params_count(ecb_synth_param_table), 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(ecb_synth_param_table[i].name, names[i]);
        assert_non_null(ecb_synth_param_table[i].help);
    }
    ecb_synth_params p = a;
    ecb_dataset *d = (ecb_dataset *)1;
    p.queries = p.n + 1;
    assert_int_equal(ecb_dataset_synthetic(&p, &d), ECB_EINVAL);
    assert_null(d);
    assert_non_null(strstr(ecb_last_error(), "queries <= n"));
}

static void test_determinism(void **state)
{
    (void)state;
    ecb_dataset *a = make(3000, 48, 40, 1.0, 7), *b = make(3000, 48, 40, 1.0, 7),
                *c = make(3000, 48, 40, 1.0, 8);
    assert_string_equal(a->source, "builtin:synthetic");
    assert_int_equal(a->sim, ECB_DS_COSINE);
    float *xa = read_all(a->corpus), *xb = read_all(b->corpus), *xc = read_all(c->corpus);
    float *qa = read_all(a->queries), *qb = read_all(b->queries), *qc = read_all(c->queries);
    assert_memory_equal(xa, xb, 3000 * 48 * sizeof *xa);
    assert_memory_equal(qa, qb, 40 * 48 * sizeof *qa);
    assert_true(memcmp(xa, xc, 3000 * 48 * sizeof *xa) != 0);
    assert_true(memcmp(qa, qc, 40 * 48 * sizeof *qa) != 0);
    for (size_t q = 0; q < 40; q++) {
        assert_int_equal(a->qrels->n_judg[q], b->qrels->n_judg[q]);
        for (size_t j = 0; j < a->qrels->n_judg[q]; j++) {
            assert_int_equal(a->qrels->judg[q][j].doc, b->qrels->judg[q][j].doc);
            assert_int_equal(a->qrels->judg[q][j].rel, b->qrels->judg[q][j].rel);
        }
    }
    uint64_t ha, hb, hc;
    assert_int_equal(ecb_vecs_hash(a->corpus, &ha), 0);
    assert_int_equal(ecb_vecs_hash(b->corpus, &hb), 0);
    assert_int_equal(ecb_vecs_hash(c->corpus, &hc), 0);
    assert_true(ha == hb && ha != hc);

    /* Rows are independent of read order and block boundaries. */
    size_t rows[4] = {2999, 5, 1234, 5};
    float r[4 * 48];
    assert_int_equal(ecb_vecs_read_rows(a->corpus, rows, 4, r), 0);
    for (size_t i = 0; i < 4; i++)
        assert_memory_equal(r + i * 48, xa + rows[i] * 48, 48 * sizeof *r);
    /* A prefix of a larger corpus with the same seed is not promised (the
     * topic count depends on n), but every row is finite. */
    for (size_t i = 0; i < 3000 * 48; i++) assert_true(isfinite(xa[i]));
    free(xa), free(xb), free(xc), free(qa), free(qb), free(qc);
    ecb_dataset_free(a), ecb_dataset_free(b), ecb_dataset_free(c);
}

/* Top eigenvalue share of the covariance (power iteration, double); the
 * smallest and largest coordinate variance shares; |mean|^2 / trace. */
static double top_eig_share(const float *x, size_t n, size_t d, double *min_var,
                            double *max_var, double *mean_share)
{
    double *mu = calloc(d, sizeof *mu), *C = calloc(d * d, sizeof *C);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mu[j] += x[i * d + j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            for (size_t k = 0; k < d; k++)
                C[j * d + k] += (x[i * d + j] - mu[j]) * (x[i * d + k] - mu[k]) / (double)n;
    double tr = 0, m2 = 0;
    *min_var = INFINITY;
    *max_var = 0;
    for (size_t j = 0; j < d; j++) {
        tr += C[j * d + j];
        m2 += mu[j] * mu[j];
        *min_var = fmin(*min_var, C[j * d + j]);
        *max_var = fmax(*max_var, C[j * d + j]);
    }
    *mean_share = m2 / tr;
    *min_var /= tr; /* as shares of the total variance */
    *max_var /= tr;
    double *v = malloc(d * sizeof *v), *w = malloc(d * sizeof *w), lam = 0;
    for (size_t j = 0; j < d; j++) v[j] = 1.0 / sqrt((double)d) * (1 + 0.01 * (double)j);
    for (int it = 0; it < 300; it++) {
        double nrm = 0;
        for (size_t j = 0; j < d; j++) {
            w[j] = 0;
            for (size_t k = 0; k < d; k++) w[j] += C[j * d + k] * v[k];
            nrm += w[j] * w[j];
        }
        lam = sqrt(nrm);
        for (size_t j = 0; j < d; j++) v[j] = w[j] / lam;
    }
    free(mu), free(C), free(v), free(w);
    return lam / tr;
}

static void test_shape(void **state)
{
    (void)state;
    ecb_dataset *d = make(4000, 32, 10, 1.0, 3), *flat = make(4000, 32, 10, 0.0, 3);
    float *x = read_all(d->corpus), *xf = read_all(flat->corpus);
    double lo, hi, ms, lof, hif, msf;
    double s1 = top_eig_share(x, 4000, 32, &lo, &hi, &ms);
    double s0 = top_eig_share(xf, 4000, 32, &lof, &hif, &msf);
    /* decay 1 over 32 dims: the top axis holds far more than 1/32 ... */
    assert_true(s1 > 0.12);
    assert_true(s1 > 2 * s0);
    /* ... yet no coordinate axis is a principal axis: per-coordinate
     * variances are far more even than the spectrum. */
    assert_true(hi / lo < 6.0);
    assert_true(hi < 0.5 * s1);
    /* A common mean direction: |mu|^2 ~ 0.4 of the centred variance. */
    assert_true(ms > 0.25 && ms < 0.6);
    free(x), free(xf);
    ecb_dataset_free(d), ecb_dataset_free(flat);
}

static double ndcg10(const ecb_dataset *d, const float *x, const float *qv, size_t n, size_t dim,
                     size_t q)
{
    const ecb_qrels *qr = d->qrels;
    double *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t j = 0; j < dim; j++) {
            ab += (double)qv[q * dim + j] * x[i * dim + j];
            aa += (double)qv[q * dim + j] * qv[q * dim + j];
            bb += (double)x[i * dim + j] * x[i * dim + j];
        }
        s[i] = ab / sqrt(aa * bb);
    }
    double dcg = 0;
    for (int r = 0; r < 10; r++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++)
            if (s[i] > -INFINITY && (best == SIZE_MAX || s[i] > s[best])) best = i;
        s[best] = -INFINITY;
        for (size_t j = 0; j < qr->n_judg[q]; j++)
            if (qr->judg[q][j].doc == (int64_t)best && qr->judg[q][j].rel > 0)
                dcg += qr->judg[q][j].rel / log2(r + 2.0);
    }
    int g[4] = {0};
    for (size_t j = 0; j < qr->n_judg[q]; j++)
        if (qr->judg[q][j].rel > 0) g[qr->judg[q][j].rel]++;
    double idcg = 0;
    int r = 0;
    for (int rel = 3; rel >= 1; rel--)
        for (int c = 0; c < g[rel] && r < 10; c++, r++) idcg += rel / log2(r + 2.0);
    free(s);
    return dcg / idcg;
}

static void test_qrels_sanity(void **state)
{
    (void)state;
    const size_t n = 3000, dim = 32, nq = 60;
    ecb_dataset *d = make(n, dim, nq, 1.0, 11);
    const ecb_qrels *qr = d->qrels;
    assert_int_equal(qr->n_queries, nq);
    assert_int_equal(qr->n_unknown_doc, 0);
    assert_int_equal(qr->n_unknown_query, 0);
    size_t rel_total = 0, zero_total = 0;
    for (size_t q = 0; q < nq; q++) {
        int n3 = 0;
        for (size_t j = 0; j < qr->n_judg[q]; j++) {
            const ecb_judgment *a = &qr->judg[q][j];
            assert_true(a->doc >= 0 && (size_t)a->doc < n);
            assert_true(a->rel >= 0 && a->rel <= 3);
            n3 += a->rel == 3;
            rel_total += a->rel > 0;
            zero_total += a->rel == 0;
            for (size_t k = 0; k < j; k++) assert_true(qr->judg[q][k].doc != a->doc);
        }
        assert_int_equal(n3, 1); /* the source document */
    }
    double mean_rel = (double)rel_total / nq;
    assert_true(mean_rel > 4 && mean_rel < 25);
    assert_int_equal(zero_total, 2 * nq);
    /* Exact cosine retrieval is good but imperfect against latent qrels. */
    float *x = read_all(d->corpus), *qv = read_all(d->queries);
    double m = 0;
    for (size_t q = 0; q < nq; q++) m += ndcg10(d, x, qv, n, dim, q) / nq;
    fprintf(stderr, "synthetic n=%zu dim=%zu: float32 nDCG@10 = %.4f\n", n, dim, m);
    assert_true(m > 0.35 && m < 0.95);
    free(x), free(qv);
    ecb_dataset_free(d);
}

/* FNV-1a of every corpus byte of synthetic(n=3000, dim, 20 queries, seed 11),
 * as the scalar generator of commit 6f3a394 wrote them. */
static const struct {
    size_t dim;
    uint64_t fnv;
} golden[] = {{33, 0xa7d03a6eeb77123aull}, {100, 0xa60fec635ad7df3full}, {768, 0x6ad3f73d58fb63a4ull}};

static void print_golden(void)
{
    for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
        ecb_dataset *d = make(3000, golden[i].dim, 20, 1.0, 11);
        float *x = read_all(d->corpus);
        uint64_t h = 1469598103934665603ull;
        const unsigned char *c = (const unsigned char *)x;
        for (size_t k = 0; k < 3000 * golden[i].dim * sizeof *x; k++) h = (h ^ c[k]) * 1099511628211ull;
        printf("%zu %016llx\n", golden[i].dim, (unsigned long long)h);
        free(x);
        ecb_dataset_free(d);
    }
}

static void test_golden_every_kernel(void **state)
{
    (void)state;
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) TU_SKIP("no /proc/self/exe");
    self[len] = '\0';
    static const char *const levels[] = {"generic", "avx2", "avx512"};
    for (size_t l = 0; l < 3; l++) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "ECBENCH_CPU=%s ECB_TEST_SYNTH_GOLDEN=1 '%s'", levels[l], self);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
            size_t dim = 0;
            unsigned long long h = 0;
            if (fscanf(f, "%zu %llx", &dim, &h) != 2) fail_msg("%s: no hash line %zu", levels[l], i);
            if (dim != golden[i].dim || h != golden[i].fnv)
                fail_msg("ECBENCH_CPU=%s: dim %zu: corpus hash %016llx, expected %016llx", levels[l],
                         dim, h, (unsigned long long)golden[i].fnv);
        }
        assert_int_equal(pclose(f), 0);
    }
}

int main(void)
{
    if (getenv("ECB_TEST_SYNTH_GOLDEN")) { /* the child of test_golden_every_kernel */
        print_golden();
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_table),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_qrels_sanity),
        cmocka_unit_test(test_golden_every_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
