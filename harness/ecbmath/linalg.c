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
 * precision that float accumulation over all n would cost. */
int ecb_mean_covariance(const float *x, size_t n, size_t d, double *mean, double *cov)
{
    enum { BLOCK = 1024 };
    memset(mean, 0, d * sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    memset(cov, 0, d * d * sizeof *cov);
    float *xc = malloc((size_t)BLOCK * d * sizeof *xc);
    float *c = malloc(d * d * sizeof *c);
    int rc = 0;
    if (!xc || !c) { rc = ECB_ENOMEM; goto out; }
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        size_t nb = n - i0 < BLOCK ? n - i0 : BLOCK;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++)
                xc[i * d + j] = (float)((double)x[(i0 + i) * d + j] - mean[j]);
        rc = ecb_gemm_tn(d, d, nb, 1.0f, xc, d, xc, d, 0.0f, c, d);
        if (rc) goto out;
        for (size_t t = 0; t < d * d; t++) cov[t] += c[t];
    }
    for (size_t t = 0; t < d * d; t++) cov[t] /= (double)n;
out:
    free(xc);
    free(c);
    return rc;
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
