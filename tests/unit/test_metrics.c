/*
 * Golden cases for harness/metrics.c, every expected value derived by hand
 * from trec_eval's definitions (m_ndcg_cut.c, m_recall.c, m_P.c,
 * m_map_cut.c, m_recip_rank.c, m_success.c at relevance level 1).
 *
 * The common collection: five corpus rows with string ids
 *   row 0 "10", row 1 "9", row 2 "11", row 3 "2", row 4 "7".
 * strcmp order: "10" < "11" < "2" < "7" < "9", so doc_id_rank is
 *   row0 -> 0, row1 -> 4, row2 -> 1, row3 -> 2, row4 -> 3.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#include "harness/metrics.h"
#include "harness/search.h"

static const uint32_t id_rank[5] = {0, 4, 1, 2, 3};

#define NK 3
static const size_t ks[NK] = {1, 5, 10};
#define V(out, m, c) ((out)[(m) * NK + (c)])

static void assert_close(double got, double want, const char *what)
{
    if (fabs(got - want) > 1e-12) {
        fprintf(stderr, "%s: got %.17g want %.17g\n", what, got, want);
        fail();
    }
}

/*
 * Query 1: scores row0 0.9, row1 0.9, row2 0.8, row3 0.5, row4 0.5 (two ties).
 * trec_eval order (score desc, docno desc as bytes):
 *   0.9 tie: "9" > "10"  -> row1, row0;  0.5 tie: "7" > "2" -> row4, row3.
 *   ranked = row1, row0, row2, row4, row3.
 * Judgments: row1 rel 2, row3 rel 1, row4 rel 0, row2 rel -1 (negative:
 * non-relevant), and a doc missing from the corpus (doc -1) with rel 3.
 * Gains by rank: 2, 0 (unjudged), 0 (negative), 0 (rel 0), 1.
 * Relevant (rel >= 1): row1, row3, missing -> R = 3. Ideal gains 3, 2, 1.
 *
 * k=1:  DCG = 2/log2(2) = 2;  IDCG = 3/log2(2) = 3;  nDCG = 2/3.
 *       recall = 1/3; P = 1/1; AP = (1/1)/3 = 1/3; RR = 1; success = 1.
 * k=5:  DCG = 2 + 1/log2(6) = 2.3868528072345416
 *       IDCG = 3 + 2/log2(3) + 1/log2(4) = 4.7618595071429155
 *       nDCG = 0.5012438530902055
 *       recall = 2/3; P = 2/5; AP = (1/1 + 2/5)/3 = 1.4/3; RR = 1; success 1.
 * k=10 (larger than the corpus): missing ranks are non-relevant, so DCG,
 *       IDCG (only 3 ideal docs), recall and AP equal k=5; P = 2/10.
 */
static void test_graded_ties_missing(void **state)
{
    (void)state;
    float sc[5] = {0.9f, 0.9f, 0.8f, 0.5f, 0.5f};
    int64_t ids[5] = {0, 1, 2, 3, 4};
    ecb_rank_sort(sc, ids, 5, id_rank);
    const int64_t want_order[5] = {1, 0, 2, 4, 3};
    for (int i = 0; i < 5; i++) assert_int_equal(ids[i], want_order[i]);

    const ecb_judgment j[5] = {{1, 2}, {3, 1}, {4, 0}, {2, -1}, {-1, 3}};
    double out[ECB_M_QRELS_COUNT * NK];
    assert_int_equal(ecb_metrics_query(ids, 5, j, 5, ks, NK, out), 0);

    assert_close(V(out, ECB_M_NDCG, 0), 2.0 / 3.0, "ndcg@1");
    assert_close(V(out, ECB_M_RECALL, 0), 1.0 / 3.0, "recall@1");
    assert_close(V(out, ECB_M_P, 0), 1.0, "P@1");
    assert_close(V(out, ECB_M_MAP, 0), 1.0 / 3.0, "map@1");
    assert_close(V(out, ECB_M_MRR, 0), 1.0, "mrr@1");
    assert_close(V(out, ECB_M_SUCCESS, 0), 1.0, "success@1");

    assert_close(V(out, ECB_M_NDCG, 1), 0.5012438530902055, "ndcg@5");
    assert_close(V(out, ECB_M_RECALL, 1), 2.0 / 3.0, "recall@5");
    assert_close(V(out, ECB_M_P, 1), 0.4, "P@5");
    assert_close(V(out, ECB_M_MAP, 1), 1.4 / 3.0, "map@5");
    assert_close(V(out, ECB_M_MRR, 1), 1.0, "mrr@5");
    assert_close(V(out, ECB_M_SUCCESS, 1), 1.0, "success@5");

    assert_close(V(out, ECB_M_NDCG, 2), 0.5012438530902055, "ndcg@10");
    assert_close(V(out, ECB_M_RECALL, 2), 2.0 / 3.0, "recall@10");
    assert_close(V(out, ECB_M_P, 2), 0.2, "P@10");
    assert_close(V(out, ECB_M_MAP, 2), 1.4 / 3.0, "map@10");
    assert_close(V(out, ECB_M_MRR, 2), 1.0, "mrr@10");
    assert_close(V(out, ECB_M_SUCCESS, 2), 1.0, "success@10");
}

/*
 * The same judgments with the ties broken the other way (numeric id order,
 * row0 before row1) would give DCG@1 = 0: the tie-break is observable.
 * ranked = row0, row1, ...: k=1 gain 0 -> nDCG@1 = 0, P@1 = 0, RR@1 = 0.
 */
static void test_tie_order_matters(void **state)
{
    (void)state;
    const int64_t ranked[5] = {0, 1, 2, 4, 3};
    const ecb_judgment j[5] = {{1, 2}, {3, 1}, {4, 0}, {2, -1}, {-1, 3}};
    double out[ECB_M_QRELS_COUNT * NK];
    assert_int_equal(ecb_metrics_query(ranked, 5, j, 5, ks, NK, out), 0);
    assert_close(V(out, ECB_M_NDCG, 0), 0.0, "ndcg@1");
    assert_close(V(out, ECB_M_P, 0), 0.0, "P@1");
    assert_close(V(out, ECB_M_MRR, 0), 0.0, "mrr@1");
    /* k=5: DCG = 2/log2(3) + 1/log2(6); IDCG as above */
    double dcg = 2.0 / log2(3.0) + 1.0 / log2(6.0);
    assert_close(V(out, ECB_M_NDCG, 1), dcg / 4.7618595071429155, "ndcg@5");
    /* AP@5 = (1/2 + 2/5) / 3 = 0.3 */
    assert_close(V(out, ECB_M_MAP, 1), 0.3, "map@5");
    assert_close(V(out, ECB_M_MRR, 1), 0.5, "mrr@5");
}

/* Only rel 0 and negative judgments: no relevant document, the query is
 * skipped (returns 1) and nothing is written. */
static void test_no_relevant_skipped(void **state)
{
    (void)state;
    const int64_t ranked[3] = {0, 1, 2};
    const ecb_judgment j[3] = {{0, 0}, {1, -1}, {-1, 0}};
    double out[ECB_M_QRELS_COUNT * NK];
    for (size_t i = 0; i < ECB_M_QRELS_COUNT * NK; i++) out[i] = 42.0;
    assert_int_equal(ecb_metrics_query(ranked, 3, j, 3, ks, NK, out), 1);
    for (size_t i = 0; i < ECB_M_QRELS_COUNT * NK; i++) assert_true(out[i] == 42.0);
    /* no judgments at all: skipped too */
    assert_int_equal(ecb_metrics_query(ranked, 3, NULL, 0, ks, NK, out), 1);
}

/* Relevant documents exist but none is retrieved (one is not even in the
 * corpus): every metric 0, not skipped. */
static void test_relevant_not_retrieved(void **state)
{
    (void)state;
    const int64_t ranked[2] = {0, 2};
    const ecb_judgment j[2] = {{3, 2}, {-1, 1}};
    double out[ECB_M_QRELS_COUNT * NK];
    assert_int_equal(ecb_metrics_query(ranked, 2, j, 2, ks, NK, out), 0);
    for (size_t i = 0; i < ECB_M_QRELS_COUNT * NK; i++) assert_close(out[i], 0.0, "zero");
}

/*
 * First relevant document at rank 4 (row3, rel 1; R = 1):
 *  k=1: RR cut at 1 -> 0; k=5: RR = 1/4, P = 1/5, recall 1, AP = (1/4)/1,
 *  nDCG = (1/log2(5)) / (1/log2(2)) = 1/log2(5) = 0.43067655807339306.
 * Padding entries (-1) take no rank: they are ignored.
 */
static void test_rr_cut_and_padding(void **state)
{
    (void)state;
    const int64_t ranked[6] = {0, 2, 4, 3, -1, -1};
    const ecb_judgment j[1] = {{3, 1}};
    double out[ECB_M_QRELS_COUNT * NK];
    assert_int_equal(ecb_metrics_query(ranked, 6, j, 1, ks, NK, out), 0);
    assert_close(V(out, ECB_M_MRR, 0), 0.0, "mrr@1");
    assert_close(V(out, ECB_M_SUCCESS, 0), 0.0, "success@1");
    assert_close(V(out, ECB_M_MRR, 1), 0.25, "mrr@5");
    assert_close(V(out, ECB_M_P, 1), 0.2, "P@5");
    assert_close(V(out, ECB_M_RECALL, 1), 1.0, "recall@5");
    assert_close(V(out, ECB_M_MAP, 1), 0.25, "map@5");
    assert_close(V(out, ECB_M_NDCG, 1), 0.43067655807339306, "ndcg@5");
    assert_close(V(out, ECB_M_SUCCESS, 2), 1.0, "success@10");
    assert_close(V(out, ECB_M_P, 2), 0.1, "P@10");
}

/*
 * Graded gains above 1 in the ideal list, with a lower-graded doc ranked
 * first: judgments row0 rel 1, row1 rel 3; ranked row0, row1.
 *  k=1: DCG 1, IDCG 3 -> 1/3.
 *  k=5: DCG = 1 + 3/log2(3); IDCG = 3 + 1/log2(3).
 */
static void test_graded_order(void **state)
{
    (void)state;
    const int64_t ranked[2] = {0, 1};
    const ecb_judgment j[2] = {{0, 1}, {1, 3}};
    double out[ECB_M_QRELS_COUNT * NK];
    assert_int_equal(ecb_metrics_query(ranked, 2, j, 2, ks, NK, out), 0);
    assert_close(V(out, ECB_M_NDCG, 0), 1.0 / 3.0, "ndcg@1");
    assert_close(V(out, ECB_M_NDCG, 1), (1 + 3 / log2(3.0)) / (3 + 1 / log2(3.0)), "ndcg@5");
    /* both relevant: AP@5 = (1/1 + 2/2)/2 = 1 */
    assert_close(V(out, ECB_M_MAP, 1), 1.0, "map@5");
}

/* kNN recall, ann-benchmarks style. */
static void test_knn_recall(void **state)
{
    (void)state;
    /* ties at the k-th score count: 3 of 3 */
    const float a[4] = {1.0f, 0.9f, 0.8f, 0.8f};
    assert_close(ecb_knn_recall(a, 4, 3, 0.8f), 1.0, "ties");
    /* one retrieved below the k-th: 2/3 */
    const float b[3] = {1.0f, 0.5f, 0.8f};
    assert_close(ecb_knn_recall(b, 3, 3, 0.8f), 2.0 / 3.0, "miss");
    /* fewer retrieved than k: 1/3 */
    assert_close(ecb_knn_recall(b, 1, 3, 0.8f), 1.0 / 3.0, "short");
    /* only the first k count */
    const float c[4] = {0.1f, 1.0f, 1.0f, 1.0f};
    assert_close(ecb_knn_recall(c, 4, 1, 1.0f), 0.0, "first k only");
    /* tolerance 1e-6 * max(1, |kth|): -1000 +- 1e-3 */
    const float d[2] = {-1000.0005f, -1000.01f};
    assert_close(ecb_knn_recall(d, 2, 2, -1000.0f), 0.5, "relative tolerance");
    assert_close(ecb_knn_recall(d, 0, 0, -1000.0f), 0.0, "k=0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graded_ties_missing),
        cmocka_unit_test(test_tie_order_matters),
        cmocka_unit_test(test_no_relevant_skipped),
        cmocka_unit_test(test_relevant_not_retrieved),
        cmocka_unit_test(test_rr_cut_and_padding),
        cmocka_unit_test(test_graded_order),
        cmocka_unit_test(test_knn_recall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
