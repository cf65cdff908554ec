/*
 * k-means of the toolkit (harness/ecbmath/kmeans.c, kmeans_assign.c):
 * clustering of separated blobs, the assignment against a double-precision
 * brute force, empty-cluster repair, determinism across thread counts, and
 * the CPU levels (ecb_cpu, ECBENCH_CPU): the portable kernels give the same
 * bits as the AVX2 and AVX-512 ones, checked in child processes since the
 * level is read once per process.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"

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
 * k-means++ for small d, sgemm for larger d, random init; n = 1500 ends in a
 * partial block of the 8- and 32-point kernels and k = 37 in a partial
 * group of centroids), written to path: centroids and assignments, raw
 * bytes. */
static void kmeans_fingerprint(const char *path)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const size_t dims[] = {6, 24, 32, 40};
    for (size_t a = 0; a < 4; a++) {
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
    char *args[] = {"cpu-child", (char *)value, (char *)out, NULL};
    int rc = tu_run_self_env("ECBENCH_CPU", value, args);
    assert_true(rc >= 0);
    return rc;
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


/* Exact ties in the sgemm path's argmin (duplicated centroids give equal
 * sums bit for bit): the first index wins, in every tile and whatever the
 * position of the duplicates relative to the eight-wide vector blocks and
 * the 1024-centroid tiles; and k-means on d > 32 gives the same centroids
 * on 1, 2 and 3 threads (threaded assignment and update). */
static void test_kmeans_ties_threads(void **state)
{
    (void)state;
    const size_t d = 40, n = 203, k = 1100;
    ecb_rng r;
    ecb_rng_seed(&r, 12);
    float *x = malloc(n * d * sizeof *x), *c = malloc(k * d * sizeof *c);
    uint32_t *asg = malloc(n * sizeof *asg), *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
    /* far centroids everywhere, then copies of each point's own centroid */
    for (size_t i = 0; i < k * d; i++) c[i] = 100.0f + (float)ecb_rng_normal(&r);
    const size_t pos[][3] = {{3, 5, 900}, {9, 17, 1030}, {1029, 1031, 1099}, {0, 8, 16}};
    for (size_t i = 0; i < n; i++) {
        const size_t *p = pos[i % 4];
        for (int q = 0; q < 3; q++)
            for (size_t t = 0; t < d; t++) c[p[q] * d + t] = x[i * d + t] + 0.25f;
        assert_int_equal(ecb_kmeans_assign(x + i * d, 1, d, c, k, &asg[i], NULL), 0);
        assert_int_equal(asg[i], (uint32_t)p[0]);
        for (int q = 0; q < 3; q++)
            for (size_t t = 0; t < d; t++) c[p[q] * d + t] = 100.0f;
    }
    for (size_t t = 0; t < 4 * d; t++) c[t] = 0.0f; /* four identical centroids */
    for (size_t t = 4 * d; t < k * d; t++) c[t] = 100.0f;
    assert_int_equal(ecb_kmeans_assign(x, n, d, c, k, asg, NULL), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(asg[i], 0);
    float *c1 = malloc(37 * d * sizeof *c1), *c2 = malloc(37 * d * sizeof *c2);
    ecb_kmeans_opts o = {.k = 37, .iters = 6, .init = ECB_KMEANS_RANDOM, .seed = 3};
    assert_int_equal(ecb_kmeans(&o, x, n, d, c1, ref, NULL), 0);
    for (size_t threads = 2; threads <= 3; threads++) {
        o.threads = threads;
        assert_int_equal(ecb_kmeans(&o, x, n, d, c2, asg, NULL), 0);
        assert_memory_equal(c1, c2, 37 * d * sizeof *c1);
        assert_memory_equal(ref, asg, n * sizeof *asg);
    }
    free(x);
    free(c);
    free(c1);
    free(c2);
    free(asg);
    free(ref);
}

int main(int argc, char **argv)
{
    if (argc > 3 && strcmp(argv[1], "cpu-child") == 0) return cpu_child_main(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmeans_blobs),
        cmocka_unit_test(test_kmeans_assign_bruteforce),
        cmocka_unit_test(test_cpu_levels),
        cmocka_unit_test(test_kmeans_empty_repair),
        cmocka_unit_test(test_kmeans_determinism),
        cmocka_unit_test(test_kmeans_ties_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
