/*
 * Unit tests of the toolkit's order statistics (harness/ecbmath/select.c):
 * every rank and quantile equals, bit for bit, what the sort that sq's
 * calibration used before gives (a radix sort by the float key, then
 * numpy's linear interpolation), on data made to be hard for a selection:
 * ties, signed zeros, infinities, sorted and reversed runs, tiny n; columns
 * with a row stride, any thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"

/* ---- the reference: sort by key, then index --------------------------------- */

static uint32_t ref_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static int ref_cmp(const void *a, const void *b)
{
    uint32_t x = ref_key(*(const float *)a), y = ref_key(*(const float *)b);
    return (x > y) - (x < y);
}

/* sq's former sq_quantile over the sorted values. */
static float ref_quantile(const float *v, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i >= n - 1) return v[n - 1];
    double f = pos - (double)i;
    return (float)((double)v[i] + f * ((double)v[i + 1] - (double)v[i]));
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Data of kind k (0..5) and size n. */
static void fill(float *v, size_t n, int kind, ecb_rng *r)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: v[i] = (float)ecb_rng_normal(r); break;
        case 1: v[i] = (float)(ecb_rng_below(r, 5)) - 2.0f; break; /* heavy ties */
        case 2: v[i] = ecb_rng_below(r, 2) ? 0.0f : -0.0f; break;  /* only signed zeros */
        case 3: v[i] = (float)i; break;                            /* sorted */
        case 4: v[i] = (float)(n - i) * 0.5f; break;               /* reversed */
        default: {
            static const float odd[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 3.0f};
            v[i] = ecb_rng_below(r, 3) ? (float)ecb_rng_normal(r) : odd[ecb_rng_below(r, 7)];
        }
        }
    }
}

static void test_select_ranks_match_sort(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 11);
    static const size_t sizes[] = {1, 2, 3, 7, 31, 32, 33, 100, 1000, 5000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int kind = 0; kind < 6; kind++) {
            size_t n = sizes[si];
            float *v = malloc(n * sizeof *v), *sorted = malloc(n * sizeof *sorted);
            fill(v, n, kind, &r);
            memcpy(sorted, v, n * sizeof *v);
            qsort(sorted, n, sizeof *sorted, ref_cmp);
            /* few ranks (selection), many (sort), repeats, any order */
            size_t nr_list[] = {1, 4, 40};
            for (size_t a = 0; a < 3; a++) {
                size_t nr = nr_list[a], ranks[40];
                for (size_t t = 0; t < nr; t++) ranks[t] = ecb_rng_below(&r, n);
                if (nr > 1) ranks[1] = ranks[0];
                float out[40];
                assert_int_equal(ecb_select_ranks(v, n, ranks, nr, out), 0);
                for (size_t t = 0; t < nr; t++)
                    if (!same_bits(out[t], sorted[ranks[t]]))
                        fail_msg("n=%zu kind=%d rank %zu: %a, sorted %a", n, kind, ranks[t],
                                 out[t], sorted[ranks[t]]);
            }
            size_t bad = n;
            assert_int_equal(ecb_select_ranks(v, n, &bad, 1, (float[1]){0}), ECB_EINVAL);
            free(v);
            free(sorted);
        }
}

/* sq's levels: the percentile pair and the quantile edges and medians. */
static size_t levels(size_t L, double *p)
{
    size_t np = 0;
    p[np++] = 0.025;
    p[np++] = 1.0 - 0.025;
    p[np++] = 0.0;
    p[np++] = 1.0;
    p[np++] = 0.5;
    for (size_t k = 1; k < L; k++) p[np++] = (double)k / (double)L;
    for (size_t c = 0; c < L; c++) p[np++] = ((double)c + 0.5) / (double)L;
    return np;
}

static void test_quantiles_match_sort(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 12);
    static const size_t sizes[] = {1, 2, 5, 64, 999, 4096};
    double p[5 + 511];
    for (size_t L = 4; L <= 256; L *= 8) { /* 4, 32, 256 */
        size_t np = levels(L, p);
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (int kind = 0; kind < 6; kind++) {
                size_t n = sizes[si];
                float *v = malloc(n * sizeof *v), *sorted = malloc(n * sizeof *sorted);
                float *out = malloc(np * sizeof *out);
                fill(v, n, kind, &r);
                memcpy(sorted, v, n * sizeof *v);
                qsort(sorted, n, sizeof *sorted, ref_cmp);
                assert_int_equal(ecb_quantiles(v, n, p, np, out), 0);
                for (size_t t = 0; t < np; t++)
                    if (!same_bits(out[t], ref_quantile(sorted, n, p[t])))
                        fail_msg("n=%zu kind=%d p=%g: %a, sorted %a", n, kind, p[t], out[t],
                                 ref_quantile(sorted, n, p[t]));
                free(v);
                free(sorted);
                free(out);
            }
    }
    float one = 1.0f, out;
    assert_int_equal(ecb_quantiles(&one, 0, p, 1, &out), ECB_EINVAL);
    double bad = 1.5;
    assert_int_equal(ecb_quantiles(&one, 1, &bad, 1, &out), ECB_EINVAL);
}

static void test_column_quantiles(void **state)
{
    (void)state;
    ecb_rng r;
    ecb_rng_seed(&r, 13);
    /* 37 columns (two full groups of 16 and a short one) in rows of 40 */
    const size_t n = 777, d = 37, ld = 40;
    float *x = malloc(n * ld * sizeof *x), *col = malloc(n * sizeof *col);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ld; j++) {
            float v[1];
            fill(v, 1, (int)(j % 6), &r);
            x[i * ld + j] = j < d ? v[0] : NAN; /* padding never read */
        }
    double p[5 + 63];
    size_t np = levels(32, p);
    float *a = malloc(d * np * sizeof *a), *b = malloc(d * np * sizeof *b);
    assert_int_equal(ecb_column_quantiles(x, n, d, ld, p, np, a, 1), 0);
    assert_int_equal(ecb_column_quantiles(x, n, d, ld, p, np, b, 2), 0);
    assert_memory_equal(a, b, d * np * sizeof *a);
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < n; i++) col[i] = x[i * ld + j];
        qsort(col, n, sizeof *col, ref_cmp);
        for (size_t t = 0; t < np; t++)
            if (!same_bits(a[j * np + t], ref_quantile(col, n, p[t])))
                fail_msg("column %zu p=%g: %a, sorted %a", j, p[t], a[j * np + t],
                         ref_quantile(col, n, p[t]));
    }
    /* ranks of columns: the median pair */
    size_t ranks[2] = {n / 2 - 1, n / 2};
    float *m = malloc(d * 2 * sizeof *m);
    assert_int_equal(ecb_column_ranks(x, n, d, ld, ranks, 2, m, 2), 0);
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < n; i++) col[i] = x[i * ld + j];
        qsort(col, n, sizeof *col, ref_cmp);
        assert_true(same_bits(m[2 * j], col[n / 2 - 1]) && same_bits(m[2 * j + 1], col[n / 2]));
    }
    assert_int_equal(ecb_column_ranks(x, n, d, d - 1, ranks, 2, m, 1), ECB_EINVAL);
    free(x);
    free(col);
    free(a);
    free(b);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_ranks_match_sort),
        cmocka_unit_test(test_quantiles_match_sort),
        cmocka_unit_test(test_column_quantiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
