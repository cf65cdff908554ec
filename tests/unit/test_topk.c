/*
 * The toolkit's one top-k (harness/ecbmath/topk.c): the ranking order of
 * DESIGN D4 (score descending, ties by the id's strcmp rank descending,
 * padding last), the rank sort, and the bounded heap against a full sort.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ecbench/ecbmath.h"

/* ---- ranking order --------------------------------------------------------- */

/* ids as strings "10","9","11","2","7": strcmp ranks 0,4,1,2,3. Equal scores
 * rank the larger string first ("9" before "10"); padding (-1) goes last. */
static void test_rank_sort(void **state)
{
    (void)state;
    const uint32_t id_rank[5] = {0, 4, 1, 2, 3};
    float s[7] = {0.5f, 0.9f, -INFINITY, 0.9f, 0.5f, 0.8f, 0.5f};
    int64_t id[7] = {3, 0, -1, 1, 4, 2, 0};
    /* (0.5, 0) and (0.5, 3) and (0.5, 4): "7" > "2" > "10" */
    ecb_rank_sort(s, id, 7, id_rank);
    const int64_t want[7] = {1, 0, 2, 4, 3, 0, -1};
    for (int i = 0; i < 7; i++) assert_int_equal(id[i], want[i]);
    assert_true(s[0] == 0.9f && s[2] == 0.8f && s[6] == -INFINITY);

    /* without id_rank: larger row first */
    float s2[3] = {1, 1, 1};
    int64_t id2[3] = {5, 7, 6};
    ecb_rank_sort(s2, id2, 3, NULL);
    assert_int_equal(id2[0], 7);
    assert_int_equal(id2[1], 6);
    assert_int_equal(id2[2], 5);

    /* header inline agrees with the sort */
    assert_true(ecb_rank_before(0.9f, 1, 0.9f, 0, id_rank));
    assert_false(ecb_rank_before(0.9f, 0, 0.9f, 1, id_rank));
    assert_true(ecb_rank_before(1.0f, 0, 0.9f, 1, id_rank));
}

/* A larger random sort: sorted output is in order and a permutation. */
static void test_rank_sort_random(void **state)
{
    (void)state;
    enum { N = 2000 };
    static float s[N];
    static int64_t id[N];
    static uint32_t rank[N];
    ecb_rng r;
    ecb_rng_seed(&r, 7);
    for (size_t i = 0; i < N; i++) {
        s[i] = (float)ecb_rng_below(&r, 50); /* many ties */
        id[i] = (int64_t)i;
        rank[i] = (uint32_t)((i * 7919) % N); /* a permutation */
    }
    ecb_rank_sort(s, id, N, rank);
    static int seen[N];
    memset(seen, 0, sizeof seen);
    for (size_t i = 0; i < N; i++) {
        seen[id[i]]++;
        if (i) assert_true(ecb_rank_before(s[i - 1], id[i - 1], s[i], id[i], rank));
    }
    for (size_t i = 0; i < N; i++) assert_int_equal(seen[i], 1);
}

/* The reference top-n: every non-NaN score of s with its row as id, in
 * ranking order. Returns how many. */
static size_t full_sort(const float *s, size_t n, const uint32_t *rank, float *all_s,
                        int64_t *all_i)
{
    size_t nall = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(s[i])) {
            all_s[nall] = s[i];
            all_i[nall++] = (int64_t)i;
        }
    ecb_rank_sort(all_s, all_i, nall, rank);
    return nall;
}

/* The bounded heap against a full sort: rows pushed in shuffled block order
 * (as search workers do) give the same top-k, NaN never enters, -inf does,
 * and fewer candidates than k pad with -1. */
static void test_heap_push(void **state)
{
    (void)state;
    enum { N = 3000, B = 100 };
    static float s[N], all_s[N];
    static int64_t all_i[N];
    static uint32_t rank[N];
    ecb_rng r;
    ecb_rng_seed(&r, 9);
    for (size_t i = 0; i < N; i++) {
        s[i] = (float)ecb_rng_below(&r, 40); /* many ties */
        rank[i] = (uint32_t)((i * 7919) % N);
    }
    s[17] = NAN;
    s[18] = -INFINITY;
    size_t nall = full_sort(s, N, rank, all_s, all_i);
    const size_t ks[] = {1, 7, 64, N - 1, N + 5};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        size_t k = ks[t], cnt = 0;
        float *hs = malloc(k * sizeof *hs);
        int64_t *hi = malloc(k * sizeof *hi);
        for (size_t b = 0; b < N / B; b++) {
            size_t blk = (b * 13) % (N / B); /* every block once, shuffled */
            ecb_heap_push_row(hs, hi, &cnt, k, s + blk * B, B, (int64_t)(blk * B), rank);
        }
        ecb_heap_finish(hs, hi, cnt, k, rank);
        for (size_t i = 0; i < k; i++) {
            if (i < nall) {
                assert_int_equal(hi[i], all_i[i]);
                assert_true(hs[i] == all_s[i]);
            } else {
                assert_int_equal(hi[i], -1);
                assert_true(hs[i] == -INFINITY);
            }
        }
        free(hs);
        free(hi);
    }
}

/* Long rows (the row floor of ecb_heap_push_row: a row offered to a heap
 * that is not full is first bounded by its group maxima) against a full
 * sort: integer scores with many ties (Hamming-like) and a few wide ones,
 * ids ranked by a permutation or by row, NaN / -inf / +inf scattered (the
 * first non-finite index is still reported), rows of several lengths in
 * shuffled order, k around the floor's limits. */
static void test_heap_push_long(void **state)
{
    (void)state;
    enum { N = 20000 };
    static float s[N], all_s[N];
    static int64_t all_i[N];
    static uint32_t rank[N];
    ecb_rng r;
    ecb_rng_seed(&r, 11);
    const size_t spans[] = {3, 40, 100000};
    const size_t rows[] = {N, 4096, 1000, 333};
    const size_t ks[] = {1, 10, 64, 65, 200};
    for (size_t sp = 0; sp < sizeof spans / sizeof *spans; sp++)
        for (int use_rank = 0; use_rank < 2; use_rank++) {
            for (size_t i = 0; i < N; i++) {
                s[i] = -(float)ecb_rng_below(&r, spans[sp]);
                rank[i] = (uint32_t)((i * 7919) % N);
            }
            const uint32_t *rk = use_rank ? rank : NULL;
            if (sp == 1) { /* non-finite scores, one group all NaN */
                s[5] = NAN;
                for (size_t i = 32; i < 48; i++) s[i] = NAN;
                s[700] = -INFINITY;
                s[N - 3] = INFINITY;
            }
            assert_true(full_sort(s, N, rk, all_s, all_i) >= 200); /* every k below */
            for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++)
                for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
                    size_t L = rows[ri], nr = (N + L - 1) / L, k = ks[t], cnt = 0;
                    float hs[200];
                    int64_t hi[200];
                    for (size_t b = 0; b < nr; b++) {
                        size_t blk = (b * 7 + 3) % nr; /* 7 is prime to every nr here */
                        size_t r0 = blk * L, len = N - r0 < L ? N - r0 : L;
                        size_t bad = ecb_heap_push_row(hs, hi, &cnt, k, s + r0, len,
                                                       (int64_t)r0, rk);
                        size_t want = len;
                        for (size_t j = 0; j < len && want == len; j++)
                            if (!isfinite(s[r0 + j])) want = j;
                        assert_int_equal(bad, want);
                    }
                    ecb_heap_finish(hs, hi, cnt, k, rk);
                    for (size_t i = 0; i < k; i++)
                        if (hi[i] != all_i[i] || hs[i] != all_s[i])
                            fail_msg("span %zu rank %d row %zu k %zu: entry %zu is (%g, %lld), "
                                     "expected (%g, %lld)",
                                     spans[sp], use_rank, L, k, i, (double)hs[i],
                                     (long long)hi[i], (double)all_s[i], (long long)all_i[i]);
                }
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_sort),
        cmocka_unit_test(test_rank_sort_random),
        cmocka_unit_test(test_heap_push),
        cmocka_unit_test(test_heap_push_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
