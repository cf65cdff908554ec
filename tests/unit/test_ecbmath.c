/*
 * Unit tests of the numerical toolkit (harness/ecbmath): RNG determinism and
 * distribution, sampling without replacement, checked BLAS sizes, Haar
 * rotations, eigen/SVD on hand-made matrices, Procrustes, k-means.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "testutil.h"

#include "ecbench/ecbmath.h"

/* ---- RNG ---------------------------------------------------------------- */

static void test_rng_golden(void **state)
{
    (void)state;
    /* splitmix64(0) first output is the published 0xe220a8397b1dcdaf; the
     * xoshiro state is the first four splitmix64 outputs. */
    ecb_rng r;
    ecb_rng_seed(&r, 0);
    assert_true(r.s[0] == 0xe220a8397b1dcdafull);
    assert_true(r.s[1] == 0x6e789e6aa1b965f4ull);
    assert_true(r.s[2] == 0x06c45d188009454full);
    assert_true(r.s[3] == 0xf88bb8a8724c81ecull);
    /* xoshiro256** output 1: rotl(s1*5, 7)*9 */
    uint64_t s1 = 0x6e789e6aa1b965f4ull * 5;
    uint64_t expect = ((s1 << 7) | (s1 >> 57)) * 9;
    assert_true(ecb_rng_next(&r) == expect);
}

static void test_rng_determinism(void **state)
{
    (void)state;
    ecb_rng a, b, c;
    ecb_rng_seed(&a, 42);
    ecb_rng_seed(&b, 42);
    ecb_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ecb_rng_next(&a), y = ecb_rng_next(&b), z = ecb_rng_next(&c);
        assert_true(x == y);
        differ += x != z;
    }
    assert_true(differ > 990);
    ecb_rng s1, s2;
    ecb_rng_seed2(&s1, 42, 1);
    ecb_rng_seed2(&s2, 42, 2);
    assert_true(ecb_rng_next(&s1) != ecb_rng_next(&s2));
    ecb_rng_seed2(&s1, 42, 1);
    ecb_rng_seed2(&s2, 42, 1);
    assert_true(ecb_rng_next(&s1) == ecb_rng_next(&s2));
}

static void test_rng_distributions(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 7);
    const int N = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
    for (int i = 0; i < N; i++) {
        double u = ecb_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        su2 += u * u;
        double g = ecb_rng_normal(&r);
        sn += g;
        sn2 += g * g;
        sn4 += g * g * g * g;
    }
    /* Means within ~5 standard errors. */
    assert_true(fabs(su / N - 0.5) < 5 * sqrt(1.0 / 12 / N));
    assert_true(fabs(su2 / N - 1.0 / 3) < 0.005);
    assert_true(fabs(sn / N) < 5 / sqrt((double)N));
    assert_true(fabs(sn2 / N - 1.0) < 0.02);
    assert_true(fabs(sn4 / N - 3.0) < 0.1); /* kurtosis of a Gaussian */

    /* Bounded ints: chi-square over 10 bins, and a bound that is not a power
     * of two close to 2^63, where a plain modulo would be badly biased. */
    size_t bins[10] = {0};
    for (int i = 0; i < N; i++) {
        size_t v = ecb_rng_below(&r, 10);
        assert_true(v < 10);
        bins[v]++;
    }
    double chi = 0, e = N / 10.0;
    for (int i = 0; i < 10; i++) chi += (bins[i] - e) * (bins[i] - e) / e;
    assert_true(chi < 30); /* df 9: p < 0.001 */
    size_t big = ((size_t)1 << 63) + ((size_t)1 << 62); /* 1.5 * 2^63 */
    size_t upper = 0;
    for (int i = 0; i < 20000; i++) {
        size_t v = ecb_rng_below(&r, big);
        assert_true(v < big);
        upper += v >= big / 2;
    }
    assert_true(upper > 9500 && upper < 10500);
    assert_int_equal(ecb_rng_below(&r, 1), 0);
    assert_int_equal(ecb_rng_below(&r, 0), 0);
}

static void check_sample(size_t n, size_t k, uint64_t seed)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    size_t *out = malloc((k ? k : 1) * sizeof *out);
    ecb_rng_sample(&r, n, k, out);
    for (size_t i = 0; i < k; i++) {
        assert_true(out[i] < n);
        if (i) assert_true(out[i - 1] < out[i]); /* sorted and distinct */
    }
    free(out);
}

static void test_rng_sample(void **state)
{
    (void)state;
    check_sample(10, 10, 1);   /* everything */
    check_sample(10, 0, 1);
    check_sample(1000, 500, 2);     /* selection path */
    check_sample(1000000, 1000, 3); /* Floyd path */
    check_sample(1u << 20, 1u << 16, 4);
    size_t all[10];
    ecb_rng r;
    ecb_rng_seed(&r, 5);
    ecb_rng_sample(&r, 10, 10, all);
    for (size_t i = 0; i < 10; i++) assert_int_equal(all[i], i);

    /* Uniformity: each of n=20 items chosen with probability k/n, for both
     * algorithms (k=2 of 100 takes Floyd's path, 10 of 20 selection's). */
    const int T = 20000;
    size_t hits[100] = {0}, out[10];
    for (int t = 0; t < T; t++) {
        ecb_rng_sample(&r, 100, 2, out);
        hits[out[0]]++;
        hits[out[1]]++;
    }
    for (int i = 0; i < 100; i++) assert_true(hits[i] > 280 && hits[i] < 520); /* mean 400 */
    memset(hits, 0, sizeof hits);
    for (int t = 0; t < T; t++) {
        ecb_rng_sample(&r, 20, 10, out);
        for (int j = 0; j < 10; j++) hits[out[j]]++;
    }
    for (int i = 0; i < 20; i++) assert_true(hits[i] > 9500 && hits[i] < 10500);

    /* Same seed, same sample. */
    size_t a[1000], b[1000];
    ecb_rng_seed(&r, 99);
    ecb_rng_sample(&r, 1000000, 1000, a);
    ecb_rng_seed(&r, 99);
    ecb_rng_sample(&r, 1000000, 1000, b);
    assert_memory_equal(a, b, sizeof a);
}

/* ---- BLAS sizes and gemm ------------------------------------------------ */

static void test_blas_int(void **state)
{
    (void)state;
    int v = -1;
    assert_int_equal(ecb_blas_int(0, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ecb_blas_int((size_t)INT_MAX, &v), 0);
    assert_int_equal(v, INT_MAX);
    v = 5;
    assert_int_equal(ecb_blas_int((size_t)INT_MAX + 1, &v), ECB_ERANGE);
    assert_int_equal(v, 5); /* untouched on failure */
    assert_int_equal(ecb_blas_int(SIZE_MAX, &v), ECB_ERANGE);
    float a = 1, c = 0;
    assert_int_equal(ecb_gemm_nt((size_t)INT_MAX + 1, 1, 1, 1, &a, 1, &a, 1, 0, &c, 1),
                     ECB_ERANGE);
    assert_int_equal(ecb_gemm_nn(1, 1, 1, 1, &a, (size_t)1 << 33, &a, 1, 0, &c, 1), ECB_ERANGE);
}

static void test_gemm(void **state)
{
    (void)state;
    const float A[6] = {1, 2, 3, 4, 5, 6};    /* 2x3 */
    const float B[6] = {1, 0, -1, 2, 1, 0};   /* 2x3 */
    float C[4];
    assert_int_equal(ecb_gemm_nt(2, 2, 3, 1.0f, A, 3, B, 3, 0.0f, C, 2), 0);
    /* A B^T = [[1-3, 2+2], [4-6, 8+5]] */
    assert_float_equal(C[0], -2, 0);
    assert_float_equal(C[1], 4, 0);
    assert_float_equal(C[2], -2, 0);
    assert_float_equal(C[3], 13, 0);
    const float Bn[6] = {1, 2, 0, 1, -1, 0}; /* 3x2 */
    assert_int_equal(ecb_gemm_nn(2, 2, 3, 2.0f, A, 3, Bn, 2, 0.0f, C, 2), 0);
    /* A Bn = [[1-3, 2+2], [4-6, 8+5]], times 2 */
    assert_float_equal(C[0], -4, 0);
    assert_float_equal(C[1], 8, 0);
    assert_float_equal(C[2], -4, 0);
    assert_float_equal(C[3], 26, 0);
    /* A^T A (3x3), row 0 = [1*1+4*4, 1*2+4*5, 1*3+4*6] */
    float G[9];
    assert_int_equal(ecb_gemm_tn(3, 3, 2, 1.0f, A, 3, A, 3, 0.0f, G, 3), 0);
    assert_float_equal(G[0], 17, 0);
    assert_float_equal(G[1], 22, 0);
    assert_float_equal(G[2], 27, 0);
    assert_float_equal(G[8], 45, 0);
}

/* ---- rotations, eigen, SVD, Procrustes ------------------------------------ */

static double max_dev_from_identity_rrt(const float *R, size_t d)
{
    double worst = 0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double s = 0;
            for (size_t t = 0; t < d; t++) s += (double)R[i * d + t] * R[j * d + t];
            double dev = fabs(s - (i == j ? 1.0 : 0.0));
            if (dev > worst) worst = dev;
        }
    return worst;
}

static void test_random_orthogonal(void **state)
{
    (void)state;
    const size_t dims[] = {1, 2, 7, 64, 200};
    for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
        size_t d = dims[t];
        float *R = malloc(d * d * sizeof *R), *R2 = malloc(d * d * sizeof *R2);
        assert_int_equal(ecb_random_orthogonal(d, 11, R), 0);
        assert_true(max_dev_from_identity_rrt(R, d) < 1e-5);
        assert_int_equal(ecb_random_orthogonal(d, 11, R2), 0);
        assert_memory_equal(R, R2, d * d * sizeof *R);
        assert_int_equal(ecb_random_orthogonal(d, 12, R2), 0);
        if (d > 1) assert_memory_not_equal(R, R2, d * d * sizeof *R);
        free(R);
        free(R2);
    }
    /* Haar: in d=2 the determinant is +1 or -1 with equal probability, and
     * R[0][0] = cos(theta) has mean 0 (a QR without sign fix is biased). */
    int pos = 0;
    double m00 = 0;
    for (uint64_t s = 0; s < 2000; s++) {
        float R[4];
        assert_int_equal(ecb_random_orthogonal(2, s, R), 0);
        pos += R[0] * R[3] - R[1] * R[2] > 0;
        m00 += R[0];
    }
    assert_true(pos > 900 && pos < 1100);
    assert_true(fabs(m00 / 2000) < 0.05);
    assert_int_equal(ecb_random_orthogonal(0, 1, NULL), ECB_EINVAL);
}

static void test_eigh(void **state)
{
    (void)state;
    /* [[2,1],[1,2]]: eigenvalues 3 (vector (1,1)/sqrt2) and 1 ((1,-1)/sqrt2). */
    const double A[4] = {2, 1, 1, 2};
    double w[2], V[4];
    assert_int_equal(ecb_eigh_desc(2, A, w, V), 0);
    assert_float_equal(w[0], 3.0, 1e-12);
    assert_float_equal(w[1], 1.0, 1e-12);
    double r = 1 / sqrt(2.0);
    assert_float_equal(V[0], r, 1e-12);
    assert_float_equal(V[1], r, 1e-12);
    assert_float_equal(fabs(V[2]), r, 1e-12);
    assert_float_equal(V[2] * V[3], -0.5, 1e-12);
    assert_true(V[2] > 0); /* sign convention: first max-|.| component positive */
    /* diag(1, 5, 3) permuted: rows are unit vectors e1, e2, e0 */
    const double D[9] = {1, 0, 0, 0, 5, 0, 0, 0, 3};
    double w3[3], V3[9];
    assert_int_equal(ecb_eigh_desc(3, D, w3, V3), 0);
    assert_float_equal(w3[0], 5, 1e-12);
    assert_float_equal(w3[1], 3, 1e-12);
    assert_float_equal(w3[2], 1, 1e-12);
    assert_float_equal(V3[0 * 3 + 1], 1, 1e-12);
    assert_float_equal(V3[1 * 3 + 2], 1, 1e-12);
    assert_float_equal(V3[2 * 3 + 0], 1, 1e-12);
}

static void test_svd(void **state)
{
    (void)state;
    /* A = [[3,0],[0,-2],[0,0]] (3x2): singular values 3, 2. */
    const double A[6] = {3, 0, 0, -2, 0, 0};
    double U[6], s[2], Vt[4];
    assert_int_equal(ecb_svd(3, 2, A, U, s, Vt), 0);
    assert_float_equal(s[0], 3, 1e-12);
    assert_float_equal(s[1], 2, 1e-12);
    /* Reconstruction U diag(s) Vt == A */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            double v = 0;
            for (int t = 0; t < 2; t++) v += U[i * 2 + t] * s[t] * Vt[t * 2 + j];
            assert_float_equal(v, A[i * 2 + j], 1e-12);
        }
    /* Wide matrix: [[1,1,0],[0,0,2]]: singular values 2, sqrt2. */
    const double B[6] = {1, 1, 0, 0, 0, 2};
    double Ub[4], sb[2], Vtb[6];
    assert_int_equal(ecb_svd(2, 3, B, Ub, sb, Vtb), 0);
    assert_float_equal(sb[0], 2, 1e-12);
    assert_float_equal(sb[1], sqrt(2.0), 1e-12);
}

static void test_procrustes(void **state)
{
    (void)state;
    /* Y = X Q for a known rotation Q; M = X^T Y; procrustes must return Q. */
    const size_t d = 16, n = 200;
    float *Qf = malloc(d * d * sizeof *Qf);
    assert_int_equal(ecb_random_orthogonal(d, 3, Qf), 0);
    double *X = malloc(n * d * sizeof *X), *Y = calloc(n * d, sizeof *Y);
    double *M = calloc(d * d, sizeof *M), *R = malloc(d * d * sizeof *R);
    ecb_rng r;
    ecb_rng_seed(&r, 4);
    for (size_t i = 0; i < n * d; i++) X[i] = ecb_rng_normal(&r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            for (size_t t = 0; t < d; t++) Y[i * d + j] += X[i * d + t] * Qf[t * d + j];
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++)
            for (size_t i = 0; i < n; i++) M[a * d + b] += X[i * d + a] * Y[i * d + b];
    assert_int_equal(ecb_procrustes(d, M, R), 0);
    for (size_t i = 0; i < d * d; i++) assert_float_equal(R[i], Qf[i], 1e-6);
    free(Qf);
    free(X);
    free(Y);
    free(M);
    free(R);
}

/* ---- k-means ---------------------------------------------------------------- */

/* n points around `nc` centres placed far apart (coordinate 100*c on a
 * rotating axis), Gaussian noise of sigma 1. */
static float *make_blobs(size_t nc, size_t per, size_t d, uint64_t seed, float *centres)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    for (size_t c = 0; c < nc; c++)
        for (size_t t = 0; t < d; t++)
            centres[c * d + t] = (t == c % d ? 100.0f * (float)(c + 1) : 0.0f) +
                                 (t == (c + 1) % d ? -50.0f * (float)c : 0.0f);
    float *x = malloc(nc * per * d * sizeof *x);
    for (size_t i = 0; i < nc * per; i++) {
        size_t c = i % nc; /* interleaved so clusters are not contiguous */
        for (size_t t = 0; t < d; t++)
            x[i * d + t] = centres[c * d + t] + (float)ecb_rng_normal(&r);
    }
    return x;
}

static void check_blobs(size_t d, ecb_kmeans_init init, size_t threads)
{
    const size_t nc = 6, per = 700; /* n = 4200 > 2 thread ranges */
    float *centres = malloc(nc * d * sizeof *centres);
    float *x = make_blobs(nc, per, d, 21, centres);
    float *c = malloc(nc * d * sizeof *c);
    uint32_t *asg = malloc(nc * per * sizeof *asg);
    double obj = 0;
    ecb_kmeans_opts o = {.k = nc, .iters = 20, .tol = 0, .init = init, .seed = 5,
                         .threads = threads};
    /* Random init can put two seeds in one blob (a local optimum Lloyd cannot
     * leave); k-means++ practically never does on blobs this far apart. Try
     * a few seeds for random init, as one would with nredo. */
    size_t matched = 0;
    for (uint64_t seed = 5; seed < 15 && matched < nc; seed++) {
        o.seed = seed;
        assert_int_equal(ecb_kmeans(&o, x, nc * per, d, c, asg, &obj), 0);
        matched = 0;
        for (size_t b = 0; b < nc; b++)
            for (size_t j = 0; j < nc; j++) {
                double dd = 0;
                for (size_t t = 0; t < d; t++)
                    dd += (c[j * d + t] - centres[b * d + t]) * (c[j * d + t] - centres[b * d + t]);
                if (dd < 0.5 * 0.5 * (double)d / 10) { matched++; break; }
            }
        if (init == ECB_KMEANS_PLUSPLUS) assert_int_equal(matched, nc);
    }
    assert_int_equal(matched, nc);
    /* Every point assigned to the centroid of its own blob; objective is
     * about n*d (unit noise variance). */
    for (size_t i = 0; i < nc * per; i++) assert_int_equal(asg[i], asg[i % nc]);
    assert_true(obj > 0.9 * (double)(nc * per * d) && obj < 1.1 * (double)(nc * per * d));
    free(centres);
    free(x);
    free(c);
    free(asg);
}

static void test_kmeans_blobs(void **state)
{
    (void)state;
    check_blobs(8, ECB_KMEANS_PLUSPLUS, 1);   /* direct kernel */
    check_blobs(8, ECB_KMEANS_RANDOM, 2);
    check_blobs(3, ECB_KMEANS_PLUSPLUS, 1);   /* d not a multiple of anything */
    check_blobs(64, ECB_KMEANS_PLUSPLUS, 2);  /* sgemm kernel */
    check_blobs(64, ECB_KMEANS_RANDOM, 1);
}

static void test_kmeans_assign_bruteforce(void **state)
{
    (void)state;
    /* Both kernels against a double-precision brute force, k not a multiple
     * of 4 and n not of 8, k > the 1024-centroid tile of the sgemm path. */
    const size_t dims[] = {5, 32, 33, 100};
    const size_t ks[] = {7, 1030};
    ecb_rng r;
    ecb_rng_seed(&r, 8);
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 2; b++) {
            size_t d = dims[a], k = ks[b], n = 301;
            float *x = malloc(n * d * sizeof *x), *c = malloc(k * d * sizeof *c);
            float *dist = malloc(n * sizeof *dist);
            uint32_t *asg = malloc(n * sizeof *asg), *asg2 = malloc(n * sizeof *asg2);
            for (size_t i = 0; i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
            for (size_t i = 0; i < k * d; i++) c[i] = (float)ecb_rng_normal(&r);
            assert_int_equal(ecb_kmeans_assign(x, n, d, c, k, asg, dist), 0);
            assert_int_equal(ecb_kmeans_assign_mt(x, n, d, c, k, asg2, NULL, 3), 0);
            assert_memory_equal(asg, asg2, n * sizeof *asg);
            for (size_t i = 0; i < n; i++) {
                double best = INFINITY;
                for (size_t j = 0; j < k; j++) {
                    double s = 0;
                    for (size_t t = 0; t < d; t++) {
                        double v = (double)x[i * d + t] - c[j * d + t];
                        s += v * v;
                    }
                    if (s < best) best = s;
                }
                double got = 0;
                for (size_t t = 0; t < d; t++) {
                    double v = (double)x[i * d + t] - c[asg[i] * d + t];
                    got += v * v;
                }
                /* float rounding of the expansion may pick a near-tie */
                assert_true(got <= best * (1 + 1e-4) + 1e-4);
                assert_float_equal(dist[i], got, 1e-3 * (got + 1));
            }
            free(x);
            free(c);
            free(dist);
            free(asg);
            free(asg2);
        }
}

/* ---- CPU features and the portable kernels --------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) buf = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* k-means with every kernel path the level selects (direct kernel and
 * k-means++ for small d, sgemm for larger d, random init), written to path:
 * centroids and assignments, raw bytes. */
static void kmeans_fingerprint(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const size_t dims[] = {6, 32, 40};
    for (size_t a = 0; a < 3; a++) {
        size_t d = dims[a], n = 1500, k = 37;
        float *x = malloc(n * d * sizeof *x), *c = malloc(k * d * sizeof *c);
        uint32_t *asg = malloc(n * sizeof *asg);
        ecb_rng r;
        ecb_rng_seed(&r, 100 + d);
        for (size_t i = 0; i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
        for (int init = 0; init < 2; init++) {
            ecb_kmeans_opts o = {.k = k, .iters = 8, .init = (ecb_kmeans_init)init, .seed = 5,
                                 .threads = 2};
            double obj;
            assert_int_equal(ecb_kmeans(&o, x, n, d, c, asg, &obj), 0);
            fwrite(c, sizeof *c, k * d, f);
            fwrite(asg, sizeof *asg, n, f);
            fwrite(&obj, sizeof obj, 1, f);
        }
        free(x);
        free(c);
        free(asg);
    }
    assert_int_equal(fclose(f), 0);
}

/* ecb_cpu() is read once per process, so the portable kernels need a
 * process of their own: run this binary again with ECBENCH_CPU=value and
 * the argument "cpu-child", which runs cpu_child_main() instead of the
 * tests. Returns the child's exit status. */
static int run_cpu_child(const char *value, const char *out)
{
    (void)ecb_cpu(); /* this process keeps its own level */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    char *old = getenv("ECBENCH_CPU") ? strdup(getenv("ECBENCH_CPU")) : NULL;
    setenv("ECBENCH_CPU", value, 1);
    char *argv[] = {self, "cpu-child", (char *)value, (char *)out, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (old) setenv("ECBENCH_CPU", old, 1);
    else unsetenv("ECBENCH_CPU");
    free(old);
    assert_int_equal(rc, 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In the child: the level asked for is the one in force, and the k-means
 * checks pass with the kernels it selects. */
static int cpu_child_main(const char *value, const char *out)
{
    /* the parent's stdout is its TAP stream: the child reports on stderr */
    dup2(2, 1);
    const ecb_cpu_features *c = ecb_cpu();
    fprintf(stderr, "cpu child: ECBENCH_CPU=%s -> level %s\n", value, c->name);
    if (strcmp(value, "bogus") == 0) return c->env_error && strstr(c->env_error, "bogus") ? 0 : 3;
    if (c->env_error) return 4;
    if (strcmp(value, "generic") == 0 &&
        (c->level != ECB_CPU_GENERIC || c->popcnt || c->avx || c->f16c || c->fma || c->avx2 ||
         c->avx512f || c->avx512bw || c->avx512vpopcntdq || strcmp(c->name, "generic")))
        return 5;
    if (strcmp(value, "popcnt") == 0 && (c->level > ECB_CPU_POPCNT || c->avx2 || c->fma))
        return 6;
    if (strcmp(value, "avx2") == 0 && (c->level > ECB_CPU_AVX2 || c->avx512f || c->avx512bw ||
                                       c->avx512vpopcntdq))
        return 8;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_assign_bruteforce),
        cmocka_unit_test(test_kmeans_blobs),
    };
    if (cmocka_run_group_tests(tests, NULL, NULL)) return 7;
    kmeans_fingerprint(out);
    return 0;
}

static void test_cpu_levels(void **state)
{
    (void)state;
    const ecb_cpu_features *c = ecb_cpu();
    fprintf(stderr, "cpu level: %s (popcnt %d avx %d f16c %d fma %d avx2 %d avx512f %d bw %d "
            "vpopcntdq %d)\n", c->name, c->popcnt, c->avx, c->f16c, c->fma, c->avx2, c->avx512f,
            c->avx512bw, c->avx512vpopcntdq);
    assert_true(c == ecb_cpu()); /* filled once */
    assert_true(c->level <= ECB_CPU_AVX512);
    if (c->level >= ECB_CPU_AVX2) assert_true(c->avx2 && c->fma && c->f16c && c->popcnt);
    /* the portable kernels, and narrower levels, in processes of their own:
     * k-means gives the same bits at every level */
    char *dir = tu_tmpdir(), here[600], there[600];
    snprintf(here, sizeof here, "%s/km-here", dir);
    snprintf(there, sizeof there, "%s/km-there", dir);
    kmeans_fingerprint(here);
    size_t n1 = 0;
    char *a = read_all(here, &n1);
    const char *levels[] = {"generic", "popcnt", "avx2"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(run_cpu_child(levels[i], there), 0);
        size_t n2 = 0;
        char *b = read_all(there, &n2);
        assert_true(n1 > 0 && n1 == n2);
        if (memcmp(a, b, n1)) fail_msg("k-means at level %s differs from level %s", levels[i],
                                       c->name);
        free(b);
    }
    free(a);
    /* a misspelt level is reported, not ignored */
    assert_int_equal(run_cpu_child("bogus", there), 0);
    remove(here);
    remove(there);
    rmdir(dir);
    free(dir);
}

static void test_kmeans_empty_repair(void **state)
{
    (void)state;
    /* Three blobs, but the given start has two identical centroids on blob
     * 0 and one far from everything: both of the extra centroids receive no
     * point in the first assignment and must be re-seeded by splitting. */
    const size_t d = 4, nc = 3, per = 200, n = nc * per;
    float centres[3 * 4];
    float *x = make_blobs(nc, per, d, 2, centres);
    float c[3 * 4];
    memcpy(c, centres, d * sizeof(float));
    memcpy(c + d, centres, d * sizeof(float));
    for (size_t t = 0; t < d; t++) c[2 * d + t] = 1e6f;
    uint32_t *asg = malloc(n * sizeof *asg);
    ecb_kmeans_opts o = {.k = 3, .iters = 30, .init = ECB_KMEANS_GIVEN, .seed = 1};
    assert_int_equal(ecb_kmeans(&o, x, n, d, c, asg, NULL), 0);
    size_t count[3] = {0};
    for (size_t i = 0; i < n; i++) count[asg[i]]++;
    for (size_t j = 0; j < 3; j++) assert_true(count[j] > 0);
    for (size_t i = 0; i < 3 * d; i++) assert_true(isfinite(c[i]) && fabsf(c[i]) < 1000);

    /* All points identical to one of two values, k = 4: two clusters stay
     * empty after splitting (nothing separates duplicates); the result is
     * still finite and the occupied centroids are exact. */
    float y[8 * 2];
    for (int i = 0; i < 8; i++) {
        y[2 * i] = (i & 1) ? 5.0f : -3.0f;
        y[2 * i + 1] = 0.0f;
    }
    float c2[4 * 2];
    uint32_t a2[8];
    ecb_kmeans_opts o2 = {.k = 4, .iters = 10, .init = ECB_KMEANS_RANDOM, .seed = 3};
    assert_int_equal(ecb_kmeans(&o2, y, 8, 2, c2, a2, NULL), 0);
    for (int i = 0; i < 8; i++) {
        /* split copies sit 1/1024 apart around the value */
        assert_float_equal(c2[a2[i] * 2], y[2 * i], 0.01);
        assert_true(isfinite(c2[2 * i % 8]));
    }
    free(x);
    free(asg);
}

static void test_kmeans_determinism(void **state)
{
    (void)state;
    const size_t d = 16, n = 5000, k = 64;
    ecb_rng r;
    ecb_rng_seed(&r, 77);
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
    float *c1 = malloc(k * d * sizeof *c1), *c2 = malloc(k * d * sizeof *c2);
    ecb_kmeans_opts o = {.k = k, .iters = 10, .init = ECB_KMEANS_PLUSPLUS, .seed = 9};
    assert_int_equal(ecb_kmeans(&o, x, n, d, c1, NULL, NULL), 0);
    o.threads = 2; /* thread count must not change the result */
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, NULL), 0);
    assert_memory_equal(c1, c2, k * d * sizeof *c1);
    o.seed = 10;
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, NULL), 0);
    assert_memory_not_equal(c1, c2, k * d * sizeof *c1);
    /* tol stops early but never raises the objective above a full run */
    double full, early;
    o.seed = 9;
    o.iters = 50;
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, &full), 0);
    o.tol = 1e-2;
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, &early), 0);
    assert_true(early >= full * 0.999);
    /* bad arguments */
    o.k = n + 1;
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, NULL), ECB_EINVAL);
    o.k = 0;
    assert_int_equal(ecb_kmeans(&o, x, n, d, c2, NULL, NULL), ECB_EINVAL);
    free(x);
    free(c1);
    free(c2);
}


/* ---- parallel-for ------------------------------------------------------- */

typedef struct par_ctx {
    size_t threads;
    _Atomic int *runs;       /* per task */
    _Atomic int bad_worker;
    pthread_t caller;
    _Atomic int other_thread;
    size_t fail_every;       /* tasks t with t % fail_every == fail_at fail */
    size_t fail_at;
} par_ctx;

static int par_task(void *arg, size_t task, size_t worker)
{
    par_ctx *c = arg;
    atomic_fetch_add(&c->runs[task], 1);
    if (worker >= (c->threads ? c->threads : 1)) atomic_store(&c->bad_worker, 1);
    if (!pthread_equal(pthread_self(), c->caller)) atomic_store(&c->other_thread, 1);
    /* uneven work, so that threads interleave differently on each run */
    volatile unsigned spin = 0;
    for (unsigned i = 0; i < (unsigned)(task * 7919 % 5000); i++) spin += i;
    if (c->fail_every && task % c->fail_every == c->fail_at) {
        /* the lowest failure finishes last: other workers race past it */
        if (task == c->fail_at && c->threads > 1) usleep(2000);
        return -(int)(task + 1);
    }
    return 0;
}

static void test_parallel_for_all_once(void **state)
{
    (void)state;
    enum { N = 2000 };
    static _Atomic int runs[N];
    for (size_t threads = 0; threads <= 5; threads++) {
        for (size_t ntasks = 0; ntasks <= N; ntasks = ntasks ? ntasks * 10 : 1) {
            for (size_t t = 0; t < N; t++) atomic_store(&runs[t], 0);
            par_ctx c = {.threads = threads, .runs = runs, .caller = pthread_self()};
            assert_int_equal(ecb_parallel_for(ntasks, threads, par_task, &c), 0);
            for (size_t t = 0; t < N; t++) assert_int_equal(atomic_load(&runs[t]), t < ntasks);
            assert_int_equal(atomic_load(&c.bad_worker), 0);
            /* inline: no thread is created for one thread or one task */
            if (threads <= 1 || ntasks <= 1) assert_int_equal(atomic_load(&c.other_thread), 0);
        }
    }
}

static void test_parallel_for_error_order(void **state)
{
    (void)state;
    enum { N = 600 };
    static _Atomic int runs[N];
    /* failures at 97, 197, 297...: the lowest (97) is reported every time,
     * and every task below it ran exactly once */
    for (int rep = 0; rep < 10; rep++) {
        for (size_t threads = 1; threads <= 4; threads++) {
            for (size_t t = 0; t < N; t++) atomic_store(&runs[t], 0);
            par_ctx c = {.threads = threads, .runs = runs, .caller = pthread_self(),
                         .fail_every = 100, .fail_at = 97};
            assert_int_equal(ecb_parallel_for(N, threads, par_task, &c), -98);
            for (size_t t = 0; t <= 97; t++) assert_int_equal(atomic_load(&runs[t]), 1);
            for (size_t t = 98; t < N; t++) assert_true(atomic_load(&runs[t]) <= 1);
            assert_int_equal(atomic_load(&c.bad_worker), 0);
        }
    }
    /* the first task failing */
    for (size_t t = 0; t < N; t++) atomic_store(&runs[t], 0);
    par_ctx c = {.threads = 3, .runs = runs, .caller = pthread_self(), .fail_every = 1};
    assert_int_equal(ecb_parallel_for(N, 3, par_task, &c), -1);
}

int main(int argc, char **argv)
{
    if (argc > 3 && strcmp(argv[1], "cpu-child") == 0) return cpu_child_main(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_golden),
        cmocka_unit_test(test_parallel_for_all_once),
        cmocka_unit_test(test_parallel_for_error_order),
        cmocka_unit_test(test_rng_determinism),
        cmocka_unit_test(test_rng_distributions),
        cmocka_unit_test(test_rng_sample),
        cmocka_unit_test(test_blas_int),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_random_orthogonal),
        cmocka_unit_test(test_eigh),
        cmocka_unit_test(test_svd),
        cmocka_unit_test(test_procrustes),
        cmocka_unit_test(test_kmeans_blobs),
        cmocka_unit_test(test_kmeans_assign_bruteforce),
        cmocka_unit_test(test_cpu_levels),
        cmocka_unit_test(test_kmeans_empty_repair),
        cmocka_unit_test(test_kmeans_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
