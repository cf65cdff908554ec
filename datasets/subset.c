/*
 * Nested corpus subsets (DESIGN D5 "corpus-size control"): every judged
 * document, then documents in a seeded permutation fixed per dataset, so
 * smaller sizes are prefixes of larger ones; rows keep their order.
 */
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "datasets/dataset.h"
#include "ecbench/ecbmath.h"

static size_t nz(size_t v) { return v ? v : 1; }

static int cmp_szt(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int ecb_qrels_remap(const ecb_qrels *src, const int64_t *remap, ecb_qrels **out)
{
    ecb_qrels *q = ecb_calloc(1, sizeof *q);
    if (!q) return ECB_ENOMEM;
    q->n_queries = src->n_queries;
    q->judg = ecb_calloc(nz(q->n_queries), sizeof *q->judg);
    q->n_judg = ecb_calloc(nz(q->n_queries), sizeof *q->n_judg);
    if (!q->judg || !q->n_judg) { ecb_qrels_free(q); return ECB_ENOMEM; }
    for (size_t i = 0; i < q->n_queries; i++) {
        if (!src->n_judg[i]) continue;
        q->judg[i] = ecb_malloc_array(src->n_judg[i], sizeof **q->judg);
        if (!q->judg[i]) { ecb_qrels_free(q); return ECB_ENOMEM; }
        q->n_judg[i] = src->n_judg[i];
        for (size_t j = 0; j < q->n_judg[i]; j++) {
            q->judg[i][j] = src->judg[i][j];
            if (q->judg[i][j].doc >= 0) q->judg[i][j].doc = remap[q->judg[i][j].doc];
        }
    }
    q->n_unknown_doc = src->n_unknown_doc;
    q->n_unknown_query = src->n_unknown_query;
    q->n_lines = src->n_lines;
    *out = q;
    return 0;
}

/* keep[] gets the judged documents; returns their count. */
static size_t mark_judged(const ecb_dataset *full, unsigned char *keep)
{
    size_t judged = 0;
    if (full->qrels)
        for (size_t q = 0; q < full->qrels->n_queries; q++)
            for (size_t j = 0; j < full->qrels->n_judg[q]; j++) {
                int64_t doc = full->qrels->judg[q][j].doc;
                if (doc >= 0 && !keep[doc]) { keep[doc] = 1; judged++; }
            }
    return judged;
}

static int fill_subset(const ecb_dataset *full, const size_t *rows, size_t k, const int64_t *remap,
                       ecb_dataset *d)
{
    int rc;
    d->name = ecb_strdup(full->name);
    d->source = ecb_strdup(full->source ? full->source : "");
    d->sim = full->sim;
    if (!d->name || !d->source) return ECB_ENOMEM;
    if (full->mv) { /* multi-vector: the documents' tokens (ecb_mv_subset) */
        if ((rc = ecb_mv_subset(full->mv, rows, k, &d->mv))) return rc;
    } else {
        if ((rc = ecb_vecs_subset(full->corpus, rows, k, &d->corpus))) return rc;
        d->queries = ecb_vecs_ref(full->queries);
    }
    size_t nq = ecb_dataset_n_queries(full);
    d->doc_ids = ecb_calloc(nz(k), sizeof *d->doc_ids);
    d->query_ids = ecb_calloc(nz(nq), sizeof *d->query_ids);
    if (!d->doc_ids || !d->query_ids) return ECB_ENOMEM;
    for (size_t i = 0; i < k; i++)
        if (!(d->doc_ids[i] = ecb_strdup(full->doc_ids[rows[i]]))) return ECB_ENOMEM;
    for (size_t i = 0; i < nq; i++)
        if (!(d->query_ids[i] = ecb_strdup(full->query_ids[i]))) return ECB_ENOMEM;
    if (full->qrels && (rc = ecb_qrels_remap(full->qrels, remap, &d->qrels))) return rc;
    return ecb_dataset_finish(d);
}

int ecb_dataset_subset(const ecb_dataset *full, size_t size, uint64_t seed, ecb_dataset **out)
{
    size_t n = ecb_dataset_n_corpus(full);
    if (size > n)
        return ecb_fail(ECB_EINVAL, "%s: corpus size %zu is larger than the corpus (%zu vectors)",
                        full->name, size, n);
    unsigned char *keep = ecb_calloc(nz(n), 1);
    size_t *perm = ecb_malloc_array(nz(n), sizeof *perm);
    size_t *rows = ecb_malloc_array(nz(size), sizeof *rows);
    ecb_dataset *d = ecb_calloc(1, sizeof *d);
    int rc = 0;
    if (!keep || !perm || !rows || !d) { rc = ECB_ENOMEM; goto done; }
    size_t judged = mark_judged(full, keep);
    if (size < judged) {
        rc = ecb_fail(ECB_EINVAL, "%s: corpus size %zu is smaller than the %zu judged documents, "
                      "which every subset keeps", full->name, size, judged);
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep[i]) perm[m++] = i;
    ecb_rng r;
    ecb_rng_seed2(&r, seed, 0x5b5e7);
    for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
        size_t j = ecb_rng_below(&r, i);
        size_t t = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = t;
    }
    for (size_t i = 0; i < size - judged; i++) keep[perm[i]] = 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) rows[k++] = i;
    qsort(rows, k, sizeof *rows, cmp_szt);
    int64_t *remap = (int64_t *)perm; /* reuse: old row -> new row */
    for (size_t i = 0; i < n; i++) remap[i] = -1;
    for (size_t i = 0; i < k; i++) remap[rows[i]] = (int64_t)i;
    rc = fill_subset(full, rows, k, remap, d);
done:
    free(keep);
    free(perm);
    free(rows);
    if (rc) ecb_dataset_free(d);
    else *out = d;
    return rc;
}
