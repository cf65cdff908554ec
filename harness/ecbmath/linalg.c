/*
 * Linear algebra for the fitted methods: checked BLAS sizes, sgemm
 * wrappers (row-major), Haar-random rotations, symmetric eigen-decomposition
 * (LAPACK dsyevr), thin SVD (dgesdd) and orthogonal Procrustes.
 *
 * Every size handed to BLAS/LAPACK goes through ecb_blas_int: blasint is
 * 32-bit in Debian's OpenBLAS, and a silently truncated dimension would
 * read or write out of bounds.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "ecbench/ecbmath.h"

int ecb_blas_int(size_t v, int *out)
{
    if (v > (size_t)INT_MAX) return ECB_ERANGE;
    *out = (int)v;
    return 0;
}

/* Checked conversion of the five sizes a gemm call takes. */
static int gemm_sizes(size_t m, size_t n, size_t k, size_t lda, size_t ldb, size_t ldc,
                      int out[6])
{
    const size_t v[6] = {m, n, k, lda, ldb, ldc};
    for (int i = 0; i < 6; i++)
        if (ecb_blas_int(v[i], &out[i])) return ECB_ERANGE;
    return 0;
}

int ecb_gemm_nt(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    int s[6];
    if (gemm_sizes(m, n, k, lda, ldb, ldc, s)) return ECB_ERANGE;
    if (m == 0 || n == 0) return 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s[0], s[1], s[2], alpha, A, s[3], B,
                s[4], beta, C, s[5]);
    return 0;
}

int ecb_gemm_nn(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    int s[6];
    if (gemm_sizes(m, n, k, lda, ldb, ldc, s)) return ECB_ERANGE;
    if (m == 0 || n == 0) return 0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s[0], s[1], s[2], alpha, A, s[3], B,
                s[4], beta, C, s[5]);
    return 0;
}

int ecb_gemm_tn(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    int s[6];
    if (gemm_sizes(m, n, k, lda, ldb, ldc, s)) return ECB_ERANGE;
    if (m == 0 || n == 0) return 0;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s[0], s[1], s[2], alpha, A, s[3], B,
                s[4], beta, C, s[5]);
    return 0;
}

/* LAPACK's blocked QR (dgeqrf, dorgqr: block 32, unblocked below the last
 * 128 columns) computes a column from the columns to its left only, and
 * identically whether more columns follow, as long as it falls in the
 * blocked part; factoring the first d + ORTHO_TAIL columns therefore gives
 * the first d columns of the full factorisation bit for bit (checked against
 * the full construction in test_lsh_itq.c) at O(q d^2) instead of O(q^3). */
#define ORTHO_TAIL 160

/* The first d columns (q x d) of the Q factor of the first w columns of a
 * q x q Gaussian (all q x q drawn row-major, as the full rotation draws
 * them), signs fixed by R's diagonal: d <= w <= q. */
static int haar_cols(size_t q, size_t w, size_t d, uint64_t seed, float *R)
{
    int m, n;
    if (ecb_blas_int(q, &m) || ecb_blas_int(w, &n) || q > SIZE_MAX / sizeof(double) / w)
        return ECB_ERANGE;
    double *G = malloc(q * w * sizeof *G);
    double *tau = malloc(w * sizeof *tau);
    double *diag = malloc(d * sizeof *diag);
    int rc = ECB_ENOMEM;
    if (!G || !tau || !diag) goto out;
    ecb_rng rng;
    ecb_rng_seed2(&rng, seed, 0x526f74617465ull /* "Rotate" */);
    for (size_t i = 0; i < q; i++)
        for (size_t j = 0; j < q; j++) {
            double g = ecb_rng_normal(&rng);
            if (j < w) G[i * w + j] = g;
        }
    rc = ECB_ENUMERIC;
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, G, n, tau) != 0) goto out;
    for (size_t i = 0; i < d; i++) diag[i] = G[i * w + i];
    if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, n, n, G, n, tau) != 0) goto out;
    /* Q from Householder QR is not Haar-distributed until each column is
     * multiplied by the sign of R's diagonal (Mezzadri 2007). */
    for (size_t i = 0; i < q; i++)
        for (size_t j = 0; j < d; j++)
            R[i * d + j] = (float)(diag[j] < 0 ? -G[i * w + j] : G[i * w + j]);
    rc = 0;
out:
    free(G);
    free(tau);
    free(diag);
    return rc;
}

int ecb_random_orthogonal(size_t d, uint64_t seed, float *R)
{
    if (d == 0) return ECB_EINVAL;
    return haar_cols(d, d, d, seed, R);
}

int ecb_random_orthogonal_cols(size_t q, size_t d, uint64_t seed, float *R)
{
    if (d == 0 || d > q) return ECB_EINVAL;
    return haar_cols(q, q - d > ORTHO_TAIL ? d + ORTHO_TAIL : q, d, seed, R);
}

int ecb_eigh_desc(size_t d, const double *A, double *w, double *V)
{
    int n, found = 0;
    if (d == 0) return ECB_EINVAL;
    if (ecb_blas_int(d, &n) || d > SIZE_MAX / sizeof(double) / d) return ECB_ERANGE;
    double *a = malloc(d * d * sizeof *a);
    double *z = malloc(d * d * sizeof *z);
    double *ev = malloc(d * sizeof *ev);
    int *isuppz = malloc(2 * d * sizeof *isuppz);
    int rc = ECB_ENOMEM;
    if (!a || !z || !ev || !isuppz) goto out;
    memcpy(a, A, d * d * sizeof *a);
    rc = ECB_ENUMERIC;
    if (LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'A', 'U', n, a, n, 0.0, 0.0, 0, 0, 0.0, &found,
                       ev, z, n, isuppz) != 0 ||
        found != n)
        goto out;
    /* LAPACK returns ascending eigenvalues with eigenvectors as columns;
     * flip both, and fix each vector's sign (largest-magnitude component
     * positive) so that PCA and friends are reproducible. */
    for (size_t i = 0; i < d; i++) {
        size_t c = d - 1 - i, arg = 0;
        w[i] = ev[c];
        double best = -1.0;
        for (size_t j = 0; j < d; j++) {
            double v = fabs(z[j * d + c]);
            if (v > best) { best = v; arg = j; }
        }
        double sg = z[arg * d + c] < 0 ? -1.0 : 1.0;
        for (size_t j = 0; j < d; j++) V[i * d + j] = sg * z[j * d + c];
    }
    rc = 0;
out:
    free(a);
    free(z);
    free(ev);
    free(isuppz);
    return rc;
}

int ecb_svd(size_t m, size_t n, const double *A, double *U, double *s, double *Vt)
{
    int im, in, ir;
    if (m == 0 || n == 0) return ECB_EINVAL;
    size_t r = m < n ? m : n;
    if (ecb_blas_int(m, &im) || ecb_blas_int(n, &in) || ecb_blas_int(r, &ir) ||
        m > SIZE_MAX / sizeof(double) / n)
        return ECB_ERANGE;
    double *a = malloc(m * n * sizeof *a);
    if (!a) return ECB_ENOMEM;
    memcpy(a, A, m * n * sizeof *a);
    int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', im, in, a, in, s, U, ir, Vt, in);
    free(a);
    return info == 0 ? 0 : ECB_ENUMERIC;
}

int ecb_procrustes(size_t d, const double *M, double *R)
{
    if (d == 0) return ECB_EINVAL;
    if (d > SIZE_MAX / sizeof(double) / d) return ECB_ERANGE;
    double *U = malloc(d * d * sizeof *U);
    double *Vt = malloc(d * d * sizeof *Vt);
    double *s = malloc(d * sizeof *s);
    int rc = ECB_ENOMEM;
    if (!U || !Vt || !s) goto out;
    rc = ecb_svd(d, d, M, U, s, Vt);
    if (rc) goto out;
    int id;
    if ((rc = ecb_blas_int(d, &id)) != 0) goto out;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, id, id, id, 1.0, U, id, Vt, id, 0.0,
                R, id);
out:
    free(U);
    free(Vt);
    free(s);
    return rc;
}

/* Mean and population covariance (d x d, double) of n x d floats. The
 * covariance is accumulated by blocks of float sgemm on centred rows, each
 * block summed into double, so large samples stay fast without losing the
 * precision that float accumulation over all n would cost.
 *
 * Threads: the mean by column strips (each column still summed in row
 * order); the covariance by rounds of one block per worker, each block's
 * sgemm the same call whatever thread runs it, then the round's products
 * added into the double sum in block order, by element strips. So every
 * value is that of the one-thread loop, bit for bit, for any thread count.
 * (A tiled or ssyrk product would halve the work but rounds differently.) */
enum { COV_BLOCK = 1024, COV_STRIP = 16384 };

typedef struct {
    const float *x;
    size_t n, d;
    double *mean, *cov;
    float **xc, **c; /* per slot: one centred block, its product */
    size_t i0, nslot; /* the round: blocks i0/COV_BLOCK + [0, nslot) */
    size_t ncols;     /* columns per mean task */
} cov_job;

static int cov_mean_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    cov_job *j = arg;
    size_t d = j->d, c0 = task * j->ncols, c1 = c0 + j->ncols < d ? c0 + j->ncols : d;
    double *m = j->mean;
    for (size_t c = c0; c < c1; c++) m[c] = 0;
    for (size_t i = 0; i < j->n; i++) {
        const float *r = j->x + i * d;
        for (size_t c = c0; c < c1; c++) m[c] += r[c];
    }
    for (size_t c = c0; c < c1; c++) m[c] /= (double)j->n;
    return 0;
}

static int cov_block_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    cov_job *j = arg;
    size_t d = j->d, i0 = j->i0 + task * COV_BLOCK;
    size_t nb = j->n - i0 < COV_BLOCK ? j->n - i0 : COV_BLOCK;
    float *xc = j->xc[task];
    for (size_t i = 0; i < nb; i++)
        for (size_t t = 0; t < d; t++)
            xc[i * d + t] = (float)((double)j->x[(i0 + i) * d + t] - j->mean[t]);
    return ecb_gemm_tn(d, d, nb, 1.0f, xc, d, xc, d, 0.0f, j->c[task], d);
}

static int cov_add_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    cov_job *j = arg;
    size_t dd = j->d * j->d, t0 = task * COV_STRIP, t1 = t0 + COV_STRIP < dd ? t0 + COV_STRIP : dd;
    for (size_t s = 0; s < j->nslot; s++) {
        const float *c = j->c[s];
        for (size_t t = t0; t < t1; t++) j->cov[t] += c[t];
    }
    return 0;
}

int ecb_mean_covariance_mt(const float *x, size_t n, size_t d, double *mean, double *cov,
                           size_t threads)
{
    if (d == 0) return 0;
    if (d > SIZE_MAX / sizeof(double) / d || d > SIZE_MAX / sizeof(float) / COV_BLOCK)
        return ECB_ERANGE;
    size_t nblk = (n + COV_BLOCK - 1) / COV_BLOCK, dd = d * d;
    if (threads > nblk) threads = nblk;
    if (threads < 1) threads = 1;
    cov_job j = {.x = x, .n = n, .d = d, .mean = mean, .cov = cov};
    j.ncols = (d + threads - 1) / threads;
    int rc = ecb_parallel_for((d + j.ncols - 1) / j.ncols, threads, cov_mean_task, &j);
    if (rc) return rc;
    memset(cov, 0, dd * sizeof *cov);
    j.xc = calloc(threads, sizeof *j.xc);
    j.c = calloc(threads, sizeof *j.c);
    rc = ECB_ENOMEM;
    if (!j.xc || !j.c) goto out;
    for (size_t s = 0; s < threads; s++)
        if (!(j.xc[s] = malloc((size_t)COV_BLOCK * d * sizeof(float))) ||
            !(j.c[s] = malloc(dd * sizeof(float))))
            goto out;
    rc = 0;
    for (size_t b = 0; b < nblk && !rc; b += threads) {
        j.i0 = b * COV_BLOCK;
        j.nslot = nblk - b < threads ? nblk - b : threads;
        rc = ecb_parallel_for(j.nslot, threads, cov_block_task, &j);
        if (!rc) rc = ecb_parallel_for((dd + COV_STRIP - 1) / COV_STRIP, threads, cov_add_task, &j);
    }
    for (size_t t = 0; t < dd && !rc; t++) cov[t] /= (double)n;
out:
    for (size_t s = 0; s < threads && j.xc && j.c; s++) {
        free(j.xc[s]);
        free(j.c[s]);
    }
    free(j.xc);
    free(j.c);
    return rc;
}

int ecb_mean_covariance(const float *x, size_t n, size_t d, double *mean, double *cov)
{
    return ecb_mean_covariance_mt(x, n, d, mean, cov, 1);
}

int ecb_rows_unit(const float *x, size_t n, size_t d, double tol)
{
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        if (ss != 0 && !(fabs(ss - 1.0) <= tol)) return 0;
    }
    return 1;
}

void ecb_rows_normalize(float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * d;
        double ss = 0;
        for (size_t j = 0; j < d; j++) ss += (double)r[j] * r[j];
        if (!(ss > 0)) continue;
        double inv = 1.0 / sqrt(ss);
        for (size_t j = 0; j < d; j++) r[j] = (float)(r[j] * inv);
    }
}
