/*
 * pca and rp renormalisation (issue 12). The main check: on cosine data
 * (unit-norm vectors under dot, as the harness hands them), pca with the
 * default renormalize=auto scores query-document pairs exactly as an
 * independent NumPy computation of the cosine after projection (axes from
 * numpy.linalg.eigh of the centred covariance, projection without
 * centring, cosine of the projected vectors). The NumPy side runs as
 * /usr/bin/python3 on a fixture written here; without python3 or numpy the
 * case is skipped visibly. Also: auto resolves to off on L2 data and on dot
 * data with other norms, on/off override it, and rp renormalises the same
 * way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The plugins before cmocka, whose fail() macro would clash with host->fail(). */
#include "common/ecb.h"
#include "harness/host.h"
#include "methods/pca.c"
#include "methods/rp.c"

#include "testutil.h"

static ecb_host H;

static int setup(void **state)
{
    (void)state;
    ecb_host_init(&H, 5, 1);
    return 0;
}

/* Anisotropic Gaussian rows (distinct variances, so distinct eigenvalues),
 * shifted off the origin, optionally normalised. */
static float *fixture(size_t n, size_t d, uint64_t seed, int unit)
{
    float *x = malloc(n * d * sizeof *x);
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = (float)(ecb_rng_normal(&r) * (double)(d - j) + 0.5 * (double)j);
    if (unit) ecb_rows_normalize(x, n, d);
    return x;
}

static int write_raw(const char *path, const float *x, size_t cnt)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(x, sizeof *x, cnt, f);
    return fclose(f) == 0 && w == cnt ? 0 : -1;
}

static const char *py_script =
    "import sys\n"
    "try:\n"
    "    import numpy as np\n"
    "except ImportError:\n"
    "    sys.exit(77)\n"
    "d, n, nq, k = (int(a) for a in sys.argv[2:6])\n"
    "x = np.fromfile(sys.argv[1] + '/corpus.f32', dtype=np.float32).astype(np.float64).reshape(n, d)\n"
    "q = np.fromfile(sys.argv[1] + '/queries.f32', dtype=np.float32).astype(np.float64).reshape(nq, d)\n"
    "xc = x - x.mean(axis=0)\n"
    "w, v = np.linalg.eigh(xc.T @ xc / n)\n"
    "axes = v[:, np.argsort(w)[::-1][:k]]\n"
    "px, pq = x @ axes, q @ axes\n"
    "cos = (pq @ px.T) / np.outer(np.linalg.norm(pq, axis=1), np.linalg.norm(px, axis=1))\n"
    "cos.astype(np.float64).tofile(sys.argv[1] + '/cosine.f64')\n";

static void test_pca_cosine_matches_numpy(void **state)
{
    (void)state;
    const size_t d = 12, n = 300, nq = 5, k = 4;
    if (access("/usr/bin/python3", X_OK) != 0) TU_SKIP("/usr/bin/python3 not installed");
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    float *x = fixture(n, d, 1, 1), *q = fixture(nq, d, 2, 1);
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/corpus.f32", dir);
    assert_int_equal(write_raw(path, x, n * d), 0);
    snprintf(path, sizeof path, "%s/queries.f32", dir);
    assert_int_equal(write_raw(path, q, nq * d), 0);
    snprintf(path, sizeof path, "%s/pca_cos.py", dir);
    assert_int_equal(tu_write_file(path, py_script), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' %zu %zu %zu %zu", path, dir, d, n, nq, k);
    int st = system(cmd);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 77) TU_SKIP("python3 has no numpy");
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    double *ref = malloc(nq * n * sizeof *ref);
    snprintf(path, sizeof path, "%s/cosine.f64", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(ref, sizeof *ref, nq * n, f), nq * n);
    fclose(f);

    /* The plugin with its defaults (renormalize=auto), as the harness runs
     * it: trained on the corpus, its output scored by dot (float32). */
    struct pca_params p = {.dim = k, .whiten = 0, .renormalize = PCA_RENORM_AUTO};
    ecb_method *m = NULL;
    assert_int_equal(pca_create(&H, &p, d, ECB_SIM_DOT, &m), 0);
    assert_int_equal(pca_train(m, x, n), 0);
    assert_true(((pca_state *)m)->renorm);
    float *px = malloc(n * k * sizeof *px), *pq = malloc(nq * k * sizeof *pq);
    assert_int_equal(pca_transform(m, x, n, px), 0);
    assert_int_equal(pca_transform(m, q, nq, pq), 0);
    double worst = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t t = 0; t < k; t++) s += (double)pq[i * k + t] * px[j * k + t];
            double e = fabs(s - ref[i * n + j]);
            worst = e > worst ? e : worst;
        }
    fprintf(stderr, "pca(dim=%zu) cosine vs numpy: max |diff| = %.3g over %zu pairs\n", k, worst,
            nq * n);
    assert_true(worst < 1e-5);

    /* Without renormalisation the scores are the raw dot products, which
     * differ from the cosine: the test above would fail. */
    struct pca_params off = {.dim = k, .renormalize = PCA_RENORM_OFF};
    ecb_method *mo = NULL;
    assert_int_equal(pca_create(&H, &off, d, ECB_SIM_DOT, &mo), 0);
    assert_int_equal(pca_train(mo, x, n), 0);
    assert_int_equal(pca_transform(mo, x, n, px), 0);
    assert_int_equal(pca_transform(mo, q, nq, pq), 0);
    double s = 0;
    for (size_t t = 0; t < k; t++) s += (double)pq[t] * px[t];
    assert_true(fabs(s - ref[0]) > 1e-3);
    pca_destroy(mo);
    pca_destroy(m);
    free(ref);
    free(px);
    free(pq);
    free(x);
    free(q);
    free(dir);
}

static int rows_unit(const float *y, size_t n, size_t d)
{
    return ecb_rows_unit(y, n, d, 1e-5);
}

static void test_auto_resolution(void **state)
{
    (void)state;
    const size_t d = 10, n = 200, k = 3;
    float *unit = fixture(n, d, 3, 1), *raw = fixture(n, d, 3, 0);
    float *y = malloc(n * k * sizeof *y);
    struct { int renorm; ecb_similarity sim; const float *x; int want; } cases[] = {
        {PCA_RENORM_AUTO, ECB_SIM_DOT, NULL, 1}, /* cosine data */
        {PCA_RENORM_AUTO, ECB_SIM_DOT, NULL, 0}, /* dot data with norms */
        {PCA_RENORM_AUTO, ECB_SIM_L2, NULL, 0},
        {PCA_RENORM_ON, ECB_SIM_L2, NULL, 1},
        {PCA_RENORM_OFF, ECB_SIM_DOT, NULL, 0},
    };
    cases[0].x = unit;
    cases[1].x = raw;
    cases[2].x = unit;
    cases[3].x = raw;
    cases[4].x = unit;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct pca_params p = {.dim = k, .renormalize = cases[c].renorm};
        ecb_method *m = NULL;
        assert_int_equal(pca_create(&H, &p, d, cases[c].sim, &m), 0);
        assert_int_equal(pca_train(m, cases[c].x, n), 0);
        assert_int_equal(pca_transform(m, cases[c].x, n, y), 0);
        assert_int_equal(rows_unit(y, n, k), cases[c].want);
        pca_destroy(m);

        struct rp_params r = {.dim = k, .kind = RP_GAUSSIAN, .renormalize = cases[c].renorm};
        assert_int_equal(rp_create(&H, &r, d, cases[c].sim, &m), 0);
        assert_int_equal(rp_train(m, cases[c].x, n), 0);
        assert_int_equal(rp_transform(m, cases[c].x, n, y), 0);
        assert_int_equal(rows_unit(y, n, k), cases[c].want);
        rp_destroy(m);
    }
    /* rp without train: auto stays off (nothing seen to decide on). */
    struct rp_params r = {.dim = k, .kind = RP_GAUSSIAN, .renormalize = RP_RENORM_AUTO};
    ecb_method *m = NULL;
    assert_int_equal(rp_create(&H, &r, d, ECB_SIM_DOT, &m), 0);
    assert_int_equal(rp_transform(m, unit, n, y), 0);
    assert_int_equal(rows_unit(y, n, k), 0);
    rp_destroy(m);
    /* bad values are rejected with the parameter named */
    struct pca_params bad = {.dim = k, .renormalize = 3};
    assert_int_equal(pca_create(&H, &bad, d, ECB_SIM_DOT, &m), ECB_EINVAL);
    assert_non_null(strstr(ecb_last_error(), "renormalize"));
    free(unit);
    free(raw);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pca_cosine_matches_numpy, setup),
        cmocka_unit_test_setup(test_auto_resolution, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
