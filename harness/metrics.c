/*
 * Retrieval metrics with trec_eval semantics (DESIGN D4) and kNN recall.
 *
 * The qrels metrics follow trec_eval 9.x/10 (m_ndcg_cut.c, m_recall.c,
 * m_P.c, m_map_cut.c, m_recip_rank.c, m_success.c) for relevance_level 1:
 *  - a retrieved document's relevance is its judged grade; unjudged
 *    documents and negative grades count as non-relevant (gain 0);
 *  - "relevant" means grade >= 1; the recall and MAP denominators count
 *    every judged relevant document of the query, retrieved or not, and
 *    also judged documents absent from the corpus (doc == -1);
 *  - nDCG@k: DCG = sum over ranks r <= k of grade / log2(r + 1) (grade > 0);
 *    the ideal DCG takes the grades > 0 of all judged documents, sorted
 *    descending, cut at k. trec_eval sums in rank order; so do we, so the
 *    values agree to the last bits;
 *  - cutoffs larger than the list: missing ranks are non-relevant (P@k
 *    still divides by k);
 *  - recip_rank is trec_eval's, but only the top k ranks count (MRR@k).
 * A query without any judgment of grade > 0 is skipped (returns 1); trec_eval
 * itself would score such a query 0 (see tests/tools/treceval_lite.c -S).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/metrics.h"

const char *const ecb_metric_names[ECB_M_COUNT] = {
    "ndcg", "recall", "p", "map", "mrr", "success", "knn_recall",
};

static int cmp_doc(const void *a, const void *b)
{
    const ecb_judgment *x = a, *y = b;
    if (x->doc != y->doc) return x->doc < y->doc ? -1 : 1;
    /* duplicates (rejected by the qrels reader): the highest grade first */
    return (x->rel < y->rel) - (x->rel > y->rel);
}

static int cmp_rel_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

/* Grade of corpus row doc in the doc-sorted judgments; 0 when unjudged. */
static int grade_of(const ecb_judgment *byd, size_t n, int64_t doc)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (byd[mid].doc < doc) lo = mid + 1;
        else hi = mid;
    }
    if (lo < n && byd[lo].doc == doc) return byd[lo].rel > 0 ? byd[lo].rel : 0;
    return 0;
}

int ecb_metrics_query(const int64_t *ranked, size_t nret, const ecb_judgment *j, size_t nj,
                      const size_t *ks, size_t nk, double *out)
{
    size_t nrel = 0;
    for (size_t i = 0; i < nj; i++)
        if (j[i].rel >= 1) nrel++;
    if (nrel == 0) return 1;

    size_t maxk = 0;
    for (size_t c = 0; c < nk; c++)
        if (ks[c] > maxk) maxk = ks[c];

    ecb_judgment *byd = ecb_malloc_array(nj, sizeof *byd);
    int *ideal = ecb_malloc_array(nrel, sizeof *ideal);
    /* gains of the ranked list (compacted: -1 entries take no rank) */
    size_t nlist = nret < maxk ? nret : maxk;
    int *gain = ecb_malloc_array(nlist ? nlist : 1, sizeof *gain);
    if (!byd || !ideal || !gain) {
        free(byd);
        free(ideal);
        free(gain);
        return ECB_ENOMEM;
    }
    /* only judgments naming a corpus row can match a retrieved document */
    size_t nb = 0, ni = 0;
    for (size_t i = 0; i < nj; i++) {
        if (j[i].doc >= 0) byd[nb++] = j[i];
        if (j[i].rel >= 1) ideal[ni++] = j[i].rel;
    }
    qsort(byd, nb, sizeof *byd, cmp_doc);
    qsort(ideal, ni, sizeof *ideal, cmp_rel_desc);

    size_t ng = 0;
    for (size_t i = 0; i < nret && ng < nlist; i++)
        if (ranked[i] >= 0) gain[ng++] = grade_of(byd, nb, ranked[i]);

    for (size_t c = 0; c < nk; c++) {
        size_t k = ks[c];
        double dcg = 0, idcg = 0, ap = 0;
        size_t relret = 0, first = 0;
        size_t lim = ng < k ? ng : k;
        for (size_t r = 0; r < lim; r++) {
            if (gain[r] > 0) dcg += gain[r] / log2((double)(r + 2));
            if (gain[r] >= 1) {
                relret++;
                ap += (double)relret / (double)(r + 1);
                if (!first) first = r + 1;
            }
        }
        size_t ilim = ni < k ? ni : k;
        for (size_t r = 0; r < ilim; r++) idcg += ideal[r] / log2((double)(r + 2));

        out[ECB_M_NDCG * nk + c] = idcg > 0 ? dcg / idcg : 0.0;
        out[ECB_M_RECALL * nk + c] = (double)relret / (double)nrel;
        out[ECB_M_P * nk + c] = k ? (double)relret / (double)k : 0.0;
        out[ECB_M_MAP * nk + c] = ap / (double)nrel;
        out[ECB_M_MRR * nk + c] = first ? 1.0 / (double)first : 0.0;
        out[ECB_M_SUCCESS * nk + c] = relret ? 1.0 : 0.0;
    }
    free(byd);
    free(ideal);
    free(gain);
    return 0;
}

/*
 * ann-benchmarks counts a returned neighbour as correct when its true
 * distance is within the k-th true distance plus epsilon (1e-3 absolute
 * there). Our scores come from float32 sgemm on one side and from other
 * arithmetic on the other, so the tolerance is relative to the score scale:
 * 1e-6 * max(1, |kth|), i.e. a few float32 ulps of the k-th score, enough to
 * absorb rounding but far below any real gap between neighbours.
 */
double ecb_knn_recall(const float *exact, size_t nret, size_t k, float kth)
{
    if (k == 0) return 0.0;
    double mag = fabs((double)kth);
    double thr = (double)kth - 1e-6 * (mag > 1.0 ? mag : 1.0);
    size_t lim = nret < k ? nret : k, hit = 0;
    for (size_t i = 0; i < lim; i++)
        if ((double)exact[i] >= thr) hit++;
    return (double)hit / (double)k;
}
