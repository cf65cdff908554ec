/* Units of work, the --part partition and rank 0's hand-out order
 * (harness/partition.c) on hand-made unit lists; the slices of a sharded
 * corpus and the per-rank memory budget (harness/shard.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "harness/partition.h"
#include "harness/shard.h"

/* 3 groups; units (first, count, group, cost) over 12 cells. */
static ecb_unit units3[] = {
    {0, 2, 0, 10}, {2, 2, 0, 40}, {4, 2, 1, 5}, {6, 2, 1, 5}, {8, 2, 2, 100}, {10, 2, 2, 1},
};
static ecb_unit_group groups3[3];

static ecb_units make3(void)
{
    ecb_units u = {units3, 6, groups3, 3};
    return u;
}

static void test_every_cell_in_exactly_one_part(void **state)
{
    (void)state;
    ecb_units u = make3();
    for (size_t n = 1; n <= 8; n++) {
        unsigned char seen[12] = {0}, mine[12];
        for (size_t p = 1; p <= n; p++) {
            assert_int_equal(ecb_partition(&u, 12, p, n, mine), 0);
            for (size_t c = 0; c < 12; c++) seen[c] += mine[c];
        }
        for (size_t c = 0; c < 12; c++) assert_int_equal(seen[c], 1);
    }
}

static void test_groups_stay_whole_when_enough(void **state)
{
    (void)state;
    ecb_units u = make3();
    for (size_t n = 1; n <= 3; n++)
        for (size_t p = 1; p <= n; p++) {
            unsigned char mine[12];
            assert_int_equal(ecb_partition(&u, 12, p, n, mine), 0);
            for (size_t i = 0; i < u.n; i++) /* a group's cells are all in or all out */
                for (size_t j = 0; j < u.n; j++)
                    if (u.units[i].group == u.units[j].group)
                        assert_int_equal(mine[u.units[i].first], mine[u.units[j].first]);
        }
    /* LPT with 2 parts: group 2 (101) alone, groups 0 (50) and 1 (10) together */
    unsigned char mine[12];
    assert_int_equal(ecb_partition(&u, 12, 1, 2, mine), 0);
    assert_int_equal(mine[8], 1);
    assert_int_equal(mine[0], 0);
    assert_int_equal(mine[4], 0);
}

static void test_partition_deterministic_and_checked(void **state)
{
    (void)state;
    ecb_units u = make3();
    unsigned char a[12], b[12];
    assert_int_equal(ecb_partition(&u, 12, 2, 5, a), 0);
    assert_int_equal(ecb_partition(&u, 12, 2, 5, b), 0);
    assert_memory_equal(a, b, 12);
    assert_int_not_equal(ecb_partition(&u, 12, 0, 2, a), 0);
    assert_int_not_equal(ecb_partition(&u, 12, 3, 2, a), 0);
}

static void test_part_parse(void **state)
{
    (void)state;
    size_t i, n;
    assert_int_equal(ecb_part_parse("2/4", &i, &n), 0);
    assert_int_equal(i, 2);
    assert_int_equal(n, 4);
    static const char *const bad[] = {"0/4", "5/4", "1/0", "4", "/4", "1/", "a/b", "1/4x",
                                      "-1/4", "1/-4", " 1/4", "1/100001", ""};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        assert_int_not_equal(ecb_part_parse(bad[k], &i, &n), 0);
}

static void test_next_unit_order(void **state)
{
    (void)state;
    ecb_units u = make3();
    unsigned char taken[6] = {0};
    size_t busy[3] = {0};
    /* nothing loaded: the costliest unit overall */
    size_t a = ecb_units_next(&u, taken, busy, SIZE_MAX);
    assert_int_equal(a, 4);
    taken[a] = 1;
    busy[2]++;
    /* a second worker: the costliest of a group nobody works on (0: 40) */
    size_t b = ecb_units_next(&u, taken, busy, SIZE_MAX);
    assert_int_equal(b, 1);
    taken[b] = 1;
    busy[0]++;
    /* the first worker finishes: it stays on its group (unit 5, cost 1) */
    busy[2]--;
    size_t c = ecb_units_next(&u, taken, busy, 2);
    assert_int_equal(c, 5);
    taken[c] = 1;
    /* then its group is done: an idle group (1), equal costs -> earlier unit */
    size_t d = ecb_units_next(&u, taken, busy, 2);
    assert_int_equal(d, 2);
    taken[d] = 1;
    taken[3] = 1;
    /* only group 0's unit 0 is left, though group 0 is busy */
    assert_int_equal(ecb_units_next(&u, taken, busy, 1), 0);
    taken[0] = 1;
    assert_true(ecb_units_next(&u, taken, busy, 1) == SIZE_MAX);
}

/* Ranks' slices tile the rows in order, start on block boundaries, and do
 * not depend on anything but (n, slices, align, ranks). */
static void test_shard_range_tiles(void **state)
{
    (void)state;
    static const size_t ns[] = {0, 1, 511, 512, 513, 6000, 1398, 10000000};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t slices = 1; slices <= 7; slices++)
            for (size_t S = 1; S <= 5; S++) {
                size_t next = 0;
                for (size_t r = 0; r < S; r++) {
                    size_t lo, hi;
                    ecb_shard_range(ns[a], slices, 512, r, S, &lo, &hi);
                    assert_int_equal(lo, next);
                    assert_true(hi >= lo && hi <= ns[a]);
                    assert_true(lo % 512 == 0 || lo == ns[a]);
                    next = hi;
                }
                assert_int_equal(next, ns[a]);
            }
    /* 12 blocks in 6 slices over 3 ranks: 4 blocks each */
    size_t lo, hi;
    ecb_shard_range(6000, 6, 512, 1, 3, &lo, &hi);
    assert_int_equal(lo, 2048);
    assert_int_equal(hi, 4096);
}

/* rank_memory_mb: explicit "shards" win; otherwise every rank when the
 * float32 corpus passes the budget; streaming above it; chunks of whole
 * alignment units under a quarter of the budget. */
static void test_shard_budget(void **state)
{
    (void)state;
    ecb_dataset_spec ds[2];
    memset(ds, 0, sizeof ds);
    ds[1].shards = 6;
    ecb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.datasets = ds;
    cfg.n_datasets = 2;
    cfg.block_rows = 512;
    int aut = -1;
    /* no budget: not sharded unless written */
    assert_int_equal(ecb_shard_count(&cfg, 0, 1000000, 768, 4, &aut), 0);
    assert_int_equal(aut, 0);
    assert_int_equal(ecb_shard_count(&cfg, 1, 1000000, 768, 4, &aut), 6);
    assert_int_equal(aut, 0);
    assert_false(ecb_shard_streams(&cfg, 1000000, 3072));
    cfg.rank_memory_mb = 1024; /* 1 GiB: 349,525 rows of 768 floats */
    assert_int_equal(ecb_shard_count(&cfg, 0, 349525, 768, 4, &aut), 0);
    assert_int_equal(aut, 0);
    assert_int_equal(ecb_shard_count(&cfg, 0, 349526, 768, 4, &aut), 4);
    assert_int_equal(aut, 1);
    assert_int_equal(ecb_shard_count(&cfg, 0, 349526, 768, 1, &aut), 1); /* one process: one slice */
    assert_int_equal(ecb_shard_count(&cfg, 1, 10000000, 768, 4, &aut), 6);
    assert_int_equal(aut, 0);
    assert_false(ecb_shard_streams(&cfg, 349525, 3072));
    assert_true(ecb_shard_streams(&cfg, 349526, 3072));
    /* chunks: 65,536 rows (128 units of 512) unless a quarter of the
     * budget holds fewer; never less than one unit */
    assert_int_equal(ecb_shard_stream_rows(&cfg, 3072), 65536);
    cfg.rank_memory_mb = 16; /* 4 MiB a chunk: 1365 rows of 3072 B -> 2 units */
    assert_int_equal(ecb_shard_stream_rows(&cfg, 3072), 1024);
    cfg.rank_memory_mb = 0.001;
    assert_int_equal(ecb_shard_stream_rows(&cfg, 3072), 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell_in_exactly_one_part),
        cmocka_unit_test(test_groups_stay_whole_when_enough),
        cmocka_unit_test(test_partition_deterministic_and_checked),
        cmocka_unit_test(test_part_parse),
        cmocka_unit_test(test_next_unit_order),
        cmocka_unit_test(test_shard_range_tiles),
        cmocka_unit_test(test_shard_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
