/*
 * Float->float transforms: pca, rp, rotate. Hand-derived cases (a 2-D PCA
 * with known covariance), invariants (rotation preserves dot products,
 * full-dimension PCA keeps the kNN ranking for dot/cosine, whitening gives
 * an identity covariance, random projection preserves norms on average)
 * parameter rejection, and the threaded covariance equal to the one-thread
 * loop bit for bit.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The plugins first: cmocka.h defines a fail() macro that would rewrite
 * their host->fail(...) calls. */
#include "methods/pca.c"
#include "methods/rotate.c"
#include "methods/rp.c"

#include "testutil.h"


/* ---- a minimal host ----------------------------------------------------- */
static char tu_msg[1024];

static int th_fail(const ecb_host *h, int code, const char *fmt, ...)
{
    (void)h;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tu_msg, sizeof tu_msg, fmt, ap);
    va_end(ap);
    return code;
}

static void th_log(const ecb_host *h, int level, const char *fmt, ...)
{
    (void)h;
    (void)level;
    (void)fmt;
}

static ecb_host th_host(uint64_t seed)
{
    ecb_host h = {.abi_version = ECB_HOST_ABI_VERSION, .struct_size = sizeof(ecb_host),
                  .fail = th_fail, .log = th_log, .seed = seed, .threads = 1};
    return h;
}

/* ---- helpers ------------------------------------------------------------ */
static float *gauss(size_t n, size_t d, uint64_t seed, double offset)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    float *x = malloc(n * d * sizeof *x);
    for (size_t t = 0; t < n * d; t++) x[t] = (float)(ecb_rng_normal(&r) + offset);
    return x;
}

static void normalise(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        s = 1 / sqrt(s);
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(x[i * d + j] * s);
    }
}

/* Top-k ids by dot product (ties: lower id first). */
static void topk_dot(const float *q, const float *x, size_t n, size_t d, size_t k, size_t *ids)
{
    double *best = malloc(k * sizeof *best);
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (size_t t = 0; t < d; t++) s += (double)q[t] * x[j * d + t];
        if (m == k && s <= best[k - 1]) continue;
        size_t pos = m < k ? m++ : k - 1;
        while (pos > 0 && best[pos - 1] < s) {
            best[pos] = best[pos - 1];
            ids[pos] = ids[pos - 1];
            pos--;
        }
        best[pos] = s;
        ids[pos] = j;
    }
    free(best);
}

static double knn_recall(const float *q, const float *x, const float *qt, const float *xt,
                         size_t nq, size_t n, size_t d, size_t dt, size_t k)
{
    size_t a[16], b[16];
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++) {
        topk_dot(q + i * d, x, n, d, k, a);
        topk_dot(qt + i * dt, xt, n, dt, k, b);
        for (size_t u = 0; u < k; u++)
            for (size_t v = 0; v < k; v++) hit += a[u] == b[v];
    }
    return (double)hit / (double)(nq * k);
}

static ecb_method *make(const ecb_method_vtable *vt, const ecb_host *h, const void *params,
                        size_t dim, ecb_similarity sim)
{
    ecb_method *m = NULL;
    int rc = vt->create(h, params, dim, sim, &m);
    if (rc) fail_msg("create %s: %s", vt->name, tu_msg);
    assert_ptr_equal(m->vt, vt);
    return m;
}

/* ---- pca ---------------------------------------------------------------- */

/* Points (3,3) (-1,-1) (2,0) (0,2): mean (1,1), covariance
 * [[2.5,1.5],[1.5,2.5]] with eigenvalues 4 on (1,1)/sqrt2 and 1 on
 * (1,-1)/sqrt2 (signs: first component positive). */
static const float pts2[] = {3, 3, -1, -1, 2, 0, 0, 2};

static void test_pca_2d_l2_centred(void **st)
{
    (void)st;
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = 1, .whiten = 0};
    ecb_method *m = make(ecb_method_pca(), &h, &p, 2, ECB_SIM_L2);
    assert_int_equal(m->vt->train(m, pts2, 4), 0);
    assert_int_equal(pca_out_dim(m), 1);
    float y[4];
    assert_int_equal(pca_transform(m, pts2, 4, y), 0);
    const double r2 = sqrt(2.0);
    const double want[4] = {2 * r2, -2 * r2, 0, 0};
    for (int i = 0; i < 4; i++) assert_true(fabs(y[i] - want[i]) < 1e-5);
    /* projection (1x2) + bias (1) */
    assert_int_equal(pca_aux_bytes(m), 3 * sizeof(float));
    pca_destroy(m);
}

static void test_pca_2d_dot_uncentred(void **st)
{
    (void)st;
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = 1, .whiten = 0};
    ecb_method *m = make(ecb_method_pca(), &h, &p, 2, ECB_SIM_DOT);
    assert_int_equal(m->vt->train(m, pts2, 4), 0);
    float y[4];
    assert_int_equal(pca_transform(m, pts2, 4, y), 0);
    const double r2 = sqrt(2.0);
    const double want[4] = {3 * r2, -r2, r2, r2}; /* x.(1,1)/sqrt2, no mean removed */
    for (int i = 0; i < 4; i++) assert_true(fabs(y[i] - want[i]) < 1e-5);
    assert_int_equal(pca_aux_bytes(m), 2 * sizeof(float));
    pca_destroy(m);
}

static void test_pca_2d_whiten(void **st)
{
    (void)st;
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = 0, .whiten = 1};
    ecb_method *m = make(ecb_method_pca(), &h, &p, 2, ECB_SIM_L2);
    assert_int_equal(m->vt->train(m, pts2, 4), 0);
    assert_int_equal(pca_out_dim(m), 2);
    float y[8];
    assert_int_equal(pca_transform(m, pts2, 4, y), 0);
    /* axis 1 scaled by 1/sqrt(4), axis 2 by 1/sqrt(1) */
    const double r2 = sqrt(2.0);
    const double want[8] = {r2, 0, -r2, 0, 0, r2, 0, -r2};
    for (int i = 0; i < 8; i++) assert_true(fabs(y[i] - want[i]) < 1e-5);
    pca_destroy(m);
}

static void test_pca_rejects_dim_above_input(void **st)
{
    (void)st;
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = 3, .whiten = 0};
    ecb_method *m = NULL;
    assert_int_equal(ecb_method_pca()->create(&h, &p, 2, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_null(m);
    assert_non_null(strstr(tu_msg, "dim=3"));
    assert_non_null(strstr(tu_msg, "input dimension 2"));
}

/* Full-dimension PCA is an orthogonal rotation applied without centring
 * for DOT: the kNN ranking on cosine data is unchanged (DESIGN D3). The
 * data has a strong common direction so that centring would matter: the
 * L2 (centred) variant of the same fit must visibly lose recall here. */
static void test_pca_full_dim_keeps_ranking(void **st)
{
    (void)st;
    const size_t n = 2000, nq = 50, d = 32, k = 10;
    float *x = gauss(n, d, 11, 0.7), *q = gauss(nq, d, 12, 0.7);
    normalise(x, n, d);
    normalise(q, nq, d);
    ecb_host h = th_host(5);
    struct pca_params p = {.dim = 0, .whiten = 0};
    ecb_method *m = make(ecb_method_pca(), &h, &p, d, ECB_SIM_DOT);
    assert_int_equal(m->vt->train(m, x, n), 0);
    const pca_state *s = (const pca_state *)m;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double dp = 0;
            for (size_t t = 0; t < d; t++) dp += (double)s->W[a * d + t] * s->W[b * d + t];
            assert_true(fabs(dp - (a == b)) < 1e-5);
        }
    float *xt = malloc(n * d * sizeof *xt), *qt = malloc(nq * d * sizeof *qt);
    assert_int_equal(pca_transform(m, x, n, xt), 0);
    assert_int_equal(pca_transform(m, q, nq, qt), 0);
    double rec = knn_recall(q, x, qt, xt, nq, n, d, d, k);
    printf("pca full-dim (dot, uncentred) kNN recall@10 = %.4f\n", rec);
    assert_true(rec == 1.0);

    ecb_method *c = make(ecb_method_pca(), &h, &p, d, ECB_SIM_L2);
    assert_int_equal(c->vt->train(c, x, n), 0);
    assert_int_equal(pca_transform(c, x, n, xt), 0);
    assert_int_equal(pca_transform(c, q, nq, qt), 0);
    double rec_c = knn_recall(q, x, qt, xt, nq, n, d, d, k);
    printf("pca full-dim centred, ranked by dot: kNN recall@10 = %.4f\n", rec_c);
    assert_true(rec_c < 0.95);
    pca_destroy(c);
    pca_destroy(m);
    free(x);
    free(q);
    free(xt);
    free(qt);
}

/* Axis-aligned data with standard deviations 5,4,3,2,1,...: PCA to 3 keeps
 * (up to sampling noise) the first three coordinates, like truncation on a
 * sorted spectrum, and the kept variances are 25, 16, 9. */
static void test_pca_truncation_like(void **st)
{
    (void)st;
    const size_t n = 20000, d = 8;
    const double sd[8] = {5, 4, 3, 2, 1, 0.5, 0.25, 0.125};
    float *x = gauss(n, d, 21, 0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(x[i * d + j] * sd[j] + 1.0);
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = 3, .whiten = 0};
    ecb_method *m = make(ecb_method_pca(), &h, &p, d, ECB_SIM_L2);
    assert_int_equal(m->vt->train(m, x, n), 0);
    const pca_state *s = (const pca_state *)m;
    for (size_t a = 0; a < 3; a++) assert_true(s->W[a * d + a] > 0.99);
    float *y = malloc(n * 3 * sizeof *y);
    assert_int_equal(pca_transform(m, x, n, y), 0);
    for (size_t a = 0; a < 3; a++) {
        double mu = 0, var = 0;
        for (size_t i = 0; i < n; i++) mu += y[i * 3 + a];
        mu /= (double)n;
        for (size_t i = 0; i < n; i++) var += (y[i * 3 + a] - mu) * (y[i * 3 + a] - mu);
        var /= (double)n;
        assert_true(fabs(mu) < 1e-3);                     /* centred (L2) */
        assert_true(fabs(var / (sd[a] * sd[a]) - 1) < 0.05); /* sampling noise ~1% */
    }
    assert_int_equal(pca_aux_bytes(m), (3 * d + 3) * sizeof(float));
    pca_destroy(m);
    free(x);
    free(y);
}

/* Whitened output of the training data has identity covariance. */
static void test_pca_whiten_identity_covariance(void **st)
{
    (void)st;
    const size_t n = 5000, d = 16, od = 6;
    float *x = gauss(n, d, 31, 0.3);
    for (size_t i = 0; i < n; i++) /* mix coordinates: correlated, anisotropic */
        for (size_t j = d; j-- > 1;) x[i * d + j] = (float)(x[i * d + j] + 0.8 * x[i * d + j - 1] * (double)j);
    ecb_host h = th_host(1);
    struct pca_params p = {.dim = od, .whiten = 1};
    ecb_method *m = make(ecb_method_pca(), &h, &p, d, ECB_SIM_DOT);
    assert_int_equal(m->vt->train(m, x, n), 0);
    float *y = malloc(n * od * sizeof *y);
    assert_int_equal(pca_transform(m, x, n, y), 0);
    double mu[6] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < od; a++) mu[a] += y[i * od + a] / (double)n;
    for (size_t a = 0; a < od; a++)
        for (size_t b = 0; b < od; b++) {
            double c = 0;
            for (size_t i = 0; i < n; i++) c += (y[i * od + a] - mu[a]) * (y[i * od + b] - mu[b]);
            c /= (double)n;
            assert_true(fabs(c - (a == b)) < 1e-3);
        }
    pca_destroy(m);
    free(x);
    free(y);
}

/* ---- rotate ------------------------------------------------------------ */

static void test_rotate_preserves_dot(void **st)
{
    (void)st;
    const size_t n = 64, d = 48;
    float *x = gauss(n, d, 41, 0);
    ecb_host h = th_host(9);
    ecb_method *m = make(ecb_method_rotate(), &h, NULL, d, ECB_SIM_DOT);
    assert_int_equal(rot_out_dim(m), d);
    assert_int_equal(rot_aux_bytes(m), d * d * sizeof(float));
    float *y = malloc(n * d * sizeof *y);
    assert_int_equal(rot_transform(m, x, n, y), 0);
    double moved = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double a = 0, b = 0;
            for (size_t t = 0; t < d; t++) {
                a += (double)x[i * d + t] * x[j * d + t];
                b += (double)y[i * d + t] * y[j * d + t];
            }
            assert_true(fabs(a - b) < 1e-4 * (1 + fabs(a)));
        }
    for (size_t t = 0; t < n * d; t++) moved += fabs(x[t] - y[t]);
    assert_true(moved > 1.0 * (double)n); /* it did rotate */
    /* same seed, same rotation; another seed, another rotation */
    ecb_method *m2 = make(ecb_method_rotate(), &h, NULL, d, ECB_SIM_DOT);
    assert_memory_equal(((rot_state *)m)->R, ((rot_state *)m2)->R, d * d * sizeof(float));
    ecb_host h3 = th_host(10);
    ecb_method *m3 = make(ecb_method_rotate(), &h3, NULL, d, ECB_SIM_DOT);
    assert_memory_not_equal(((rot_state *)m)->R, ((rot_state *)m3)->R, d * d * sizeof(float));
    rot_destroy(m);
    rot_destroy(m2);
    rot_destroy(m3);
    rot_destroy(NULL);
    free(x);
    free(y);
}

/* ---- rp ------------------------------------------------------------------ */

static void rp_check_norms(int kind)
{
    const size_t n = 2000, d = 256, od = 64;
    float *x = gauss(n, d, 51, 0);
    normalise(x, n, d);
    ecb_host h = th_host(3);
    struct rp_params p = {.dim = od, .kind = kind};
    ecb_method *m = make(ecb_method_rp(), &h, &p, d, ECB_SIM_DOT);
    assert_int_equal(rp_out_dim(m), od);
    assert_int_equal(rp_aux_bytes(m), od * d * sizeof(float));
    float *y = malloc(n * od * sizeof *y);
    assert_int_equal(rp_transform(m, x, n, y), 0);
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t t = 0; t < od; t++) s += (double)y[i * od + t] * y[i * od + t];
        mean += s / (double)n;
    }
    printf("rp %s: mean ||Rx||^2 over %zu unit vectors = %.4f\n", rp_kinds[kind], n, mean);
    assert_true(fabs(mean - 1.0) < 0.05);
    if (kind == RP_SPARSE) {
        /* s = sqrt(256) = 16: nonzero with probability 1/16, value
         * +-sqrt(16/64) = +-0.5, signs balanced */
        const float *R = ((rp_state *)m)->R;
        size_t nz = 0, pos = 0;
        for (size_t t = 0; t < od * d; t++) {
            if (R[t] == 0) continue;
            nz++;
            pos += R[t] > 0;
            assert_true(fabsf(fabsf(R[t]) - 0.5f) < 1e-6f);
        }
        double frac = (double)nz / (double)(od * d);
        assert_true(fabs(frac - 1.0 / 16) < 0.01);
        assert_true(fabs((double)pos / (double)nz - 0.5) < 0.05);
    }
    rp_destroy(m);
    free(x);
    free(y);
}

static void test_rp_gaussian_norms(void **st) { (void)st; rp_check_norms(RP_GAUSSIAN); }
static void test_rp_sparse_norms(void **st) { (void)st; rp_check_norms(RP_SPARSE); }

static void test_rp_seeded(void **st)
{
    (void)st;
    ecb_host h1 = th_host(7), h2 = th_host(8);
    struct rp_params p = {.dim = 16, .kind = RP_GAUSSIAN};
    ecb_method *a = make(ecb_method_rp(), &h1, &p, 32, ECB_SIM_L2);
    ecb_method *b = make(ecb_method_rp(), &h1, &p, 32, ECB_SIM_L2);
    ecb_method *c = make(ecb_method_rp(), &h2, &p, 32, ECB_SIM_L2);
    assert_memory_equal(((rp_state *)a)->R, ((rp_state *)b)->R, 16 * 32 * sizeof(float));
    assert_memory_not_equal(((rp_state *)a)->R, ((rp_state *)c)->R, 16 * 32 * sizeof(float));
    rp_destroy(a);
    rp_destroy(b);
    rp_destroy(c);
}

/* The threaded covariance is the one-thread loop bit for bit: the mean
 * summed row by row in double, then 1024-row blocks centred in double,
 * multiplied by one sgemm each and added into double in block order (the
 * reference below is that loop, written out). n spans several blocks with a
 * short last one; threads 1..3, so some rounds are partial. */
static void test_covariance_threads_bits(void **st)
{
    (void)st;
    const size_t n = 2 * 1024 + 333, d = 37;
    float *x = malloc(n * d * sizeof *x), *xc = malloc(1024 * d * sizeof *xc);
    float *c = malloc(d * d * sizeof *c);
    double *mean = malloc(d * sizeof *mean), *cov = malloc(d * d * sizeof *cov);
    double *m2 = malloc(d * sizeof *m2), *c2 = malloc(d * d * sizeof *c2);
    ecb_rng r;
    ecb_rng_seed(&r, 5);
    for (size_t i = 0; i < n * d; i++) x[i] = (float)(ecb_rng_normal(&r) * (1 + i % 7) + 3);
    memset(mean, 0, d * sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    memset(cov, 0, d * d * sizeof *cov);
    for (size_t i0 = 0; i0 < n; i0 += 1024) {
        size_t nb = n - i0 < 1024 ? n - i0 : 1024;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++)
                xc[i * d + j] = (float)((double)x[(i0 + i) * d + j] - mean[j]);
        assert_int_equal(ecb_gemm_tn(d, d, nb, 1.0f, xc, d, xc, d, 0.0f, c, d), 0);
        for (size_t t = 0; t < d * d; t++) cov[t] += c[t];
    }
    for (size_t t = 0; t < d * d; t++) cov[t] /= (double)n;
    for (size_t threads = 1; threads <= 3; threads++) {
        assert_int_equal(ecb_mean_covariance_mt(x, n, d, m2, c2, threads), 0);
        assert_memory_equal(mean, m2, d * sizeof *m2);
        assert_memory_equal(cov, c2, d * d * sizeof *c2);
    }
    assert_int_equal(ecb_mean_covariance(x, n, d, m2, c2), 0);
    assert_memory_equal(cov, c2, d * d * sizeof *c2);
    free(x);
    free(xc);
    free(c);
    free(mean);
    free(cov);
    free(m2);
    free(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca_2d_l2_centred),
        cmocka_unit_test(test_pca_2d_dot_uncentred),
        cmocka_unit_test(test_pca_2d_whiten),
        cmocka_unit_test(test_pca_rejects_dim_above_input),
        cmocka_unit_test(test_pca_full_dim_keeps_ranking),
        cmocka_unit_test(test_pca_truncation_like),
        cmocka_unit_test(test_pca_whiten_identity_covariance),
        cmocka_unit_test(test_rotate_preserves_dot),
        cmocka_unit_test(test_rp_gaussian_norms),
        cmocka_unit_test(test_rp_sparse_norms),
        cmocka_unit_test(test_rp_seeded),
        cmocka_unit_test(test_covariance_threads_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
