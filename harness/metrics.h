/*
 * Retrieval metrics with trec_eval semantics (DESIGN D4) and kNN recall.
 * Every function takes one query's ranked list, already in the one ranking
 * order (best first).
 */
#ifndef ECB_METRICS_H
#define ECB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"

typedef enum {
    ECB_M_NDCG = 0, /* trec_eval ndcg_cut.k */
    ECB_M_RECALL,   /* recall.k: relevant retrieved in top k / all judged relevant */
    ECB_M_P,        /* P.k: relevant in top k / k */
    ECB_M_MAP,      /* map_cut.k */
    ECB_M_MRR,      /* recip_rank, only the top k considered */
    ECB_M_SUCCESS,  /* success.k: any relevant in top k */
    ECB_M_QRELS_COUNT,
    ECB_M_KNN = ECB_M_QRELS_COUNT, /* knn_recall@k */
    ECB_M_COUNT
} ecb_metric;

extern const char *const ecb_metric_names[ECB_M_COUNT]; /* "ndcg", ..., "knn_recall" */

/* Qrels metrics for one query at each cutoff ks[0..nk): out[m*nk + i] for m in
 * [0, ECB_M_QRELS_COUNT). ranked holds corpus rows (-1 entries ignored: they
 * take no rank). j are all judgments of the query (any grade; doc -1 for
 * judged documents missing from the corpus, which still count in the
 * recall/MAP denominators and the ideal DCG). Cutoffs beyond the list follow
 * trec_eval (missing ranks non-relevant, P@k still divides by k).
 * Returns 1 (and writes nothing) when the query has no judgment with rel > 0
 * (skipped), 0 when written, ECB_ENOMEM on allocation failure. */
int ecb_metrics_query(const int64_t *ranked, size_t nret, const ecb_judgment *j, size_t nj,
                      const size_t *ks, size_t nk, double *out);

/* kNN recall@k: fraction of the k retrieved rows whose exact float32 score is
 * at least the k-th exact float32 score (ties at the boundary count, as in
 * ann-benchmarks), capped at 1. exact[i] is the exact score of ranked[i]
 * (higher better); kth is the true k-th best exact score. A score counts
 * when exact[i] >= kth - 1e-6 * max(1, |kth|): a few float32 ulps of the
 * k-th score, so rounding differences between the ground truth and the
 * rescoring never cost recall (take both from ecb_exact_scores /
 * ecb_groundtruth, which agree bit for bit). Only the first k entries
 * count; fewer than k retrieved count as misses; k == 0 gives 0. */
double ecb_knn_recall(const float *exact, size_t nret, size_t k, float kth);

#endif
