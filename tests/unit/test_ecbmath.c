/*
 * Unit tests of the numerical toolkit (harness/ecbmath): RNG determinism and
 * distribution, sampling without replacement, checked BLAS sizes, Haar
 * rotations, eigen/SVD on hand-made matrices, Procrustes, the parallel-for.
 * k-means and the CPU levels: test_kmeans.c; float16: test_half.c; top-k:
 * test_search.c.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int main(void)
{
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
