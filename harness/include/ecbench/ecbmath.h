/*
 * ecbmath: the numerical toolkit plugins link statically (libecbmath.a,
 * hidden visibility, so a plugin still exports only its entry symbol).
 * Shared by the harness and every fitted method: seeded RNG, checked BLAS
 * sizes, random rotations, eigen/SVD wrappers, k-means, popcount kernels.
 *
 * All functions are deterministic for a given seed and thread count 1;
 * with more BLAS threads, float sums may differ in the last bits.
 */
#ifndef ECBENCH_ECBMATH_H
#define ECBENCH_ECBMATH_H

#include <stddef.h>
#include <stdint.h>

#include "ecbench/method.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- RNG: xoshiro256** seeded by splitmix64 ------------------------------ */
typedef struct ecb_rng {
    uint64_t s[4];
} ecb_rng;

void ecb_rng_seed(ecb_rng *r, uint64_t seed);
/* Derive an independent stream: seed mixed with a stream tag. */
void ecb_rng_seed2(ecb_rng *r, uint64_t seed, uint64_t stream);
uint64_t ecb_rng_next(ecb_rng *r);
double ecb_rng_uniform(ecb_rng *r);            /* [0,1) */
double ecb_rng_normal(ecb_rng *r);             /* N(0,1) */
size_t ecb_rng_below(ecb_rng *r, size_t n);    /* uniform in [0,n), unbiased */
/* k distinct indices from [0,n) in increasing order (k <= n). */
void ecb_rng_sample(ecb_rng *r, size_t n, size_t k, size_t *out);

/* ---- checked BLAS sizes ------------------------------------------------ */
/* blasint is 32-bit here: every dimension passed to BLAS/LAPACK goes through
 * this. Returns 0 and stores the value, or ECB_ERANGE. */
int ecb_blas_int(size_t v, int *out);

/* C[m x n] = alpha * A[m x k] * B[n x k]^T + beta * C (row-major). */
int ecb_gemm_nt(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* C[m x n] = alpha * A[m x k] * B[k x n] + beta * C (row-major). */
int ecb_gemm_nn(size_t m, size_t n, size_t k, float alpha, const float *A, size_t lda,
                const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* ---- linear algebra ---------------------------------------------------- */
/* Random orthogonal d x d matrix (Haar, QR of a Gaussian with sign fix),
 * row-major. */
int ecb_random_orthogonal(size_t d, uint64_t seed, float *R);
/* Symmetric eigen-decomposition of the d x d matrix A (double, row-major):
 * eigenvalues descending into w, eigenvectors as rows of V (V[i*d+j] is
 * component j of the i-th eigenvector). */
int ecb_eigh_desc(size_t d, const double *A, double *w, double *V);
/* Thin SVD of the m x n matrix A (double, row-major): A = U diag(s) Vt with
 * U m x r, Vt r x n, r = min(m,n). */
int ecb_svd(size_t m, size_t n, const double *A, double *U, double *s, double *Vt);
/* Orthogonal Procrustes: R (d x d) maximising tr(R^T M) for M = X^T Y,
 * i.e. R = U V^T of the SVD of M (double, row-major). */
int ecb_procrustes(size_t d, const double *M, double *R);

/* ---- k-means ------------------------------------------------------------ */
typedef enum { ECB_KMEANS_PLUSPLUS = 0, ECB_KMEANS_RANDOM = 1 } ecb_kmeans_init;

typedef struct ecb_kmeans_opts {
    size_t k;
    size_t iters;        /* maximum Lloyd iterations */
    double tol;          /* stop when relative objective change < tol */
    ecb_kmeans_init init;
    uint64_t seed;
    size_t threads;      /* 0 = 1 */
} ecb_kmeans_opts;

/* Cluster n x d points x into opts->k centroids (k x d out). assign (n
 * entries, may be NULL) receives the final assignment; *objective (may be
 * NULL) the final sum of squared distances. Empty clusters are repaired by
 * splitting the largest one. Requires n >= k. */
int ecb_kmeans(const ecb_kmeans_opts *opts, const float *x, size_t n, size_t d,
               float *centroids, uint32_t *assign, double *objective);
/* Nearest centroid (L2) for each of n points, blocked sgemm. dist may be
 * NULL (squared distances). */
int ecb_kmeans_assign(const float *x, size_t n, size_t d, const float *centroids,
                      size_t k, uint32_t *assign, float *dist);

/* ---- popcount ------------------------------------------------------------ */
/* Hamming distance between one code and n codes of nbytes each (codes
 * contiguous), written as uint32 into out. The kernel (AVX-512 VPOPCNTDQ,
 * AVX2, POPCNT, portable) is chosen once at run time. */
void ecb_hamming_1xn(const uint8_t *a, const uint8_t *codes, size_t n, size_t nbytes,
                     uint32_t *out);
const char *ecb_popcount_kernel(void); /* name of the chosen kernel */

#ifdef __cplusplus
}
#endif
#endif /* ECBENCH_ECBMATH_H */
