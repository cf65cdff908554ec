/* Evaluation sets: subset, queries, exact ground truth (and its check
 * against a dataset's own ground-truth file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/evalset.h"
#include "harness/maxsim.h"

static size_t nz(size_t v) { return v ? v : 1; }

const char *ecb_cache_dir(void)
{
    static char buf[4096];
    const char *e = getenv("ECBENCH_CACHE_DIR");
    if (e && *e) return e;
    const char *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (x && *x) snprintf(buf, sizeof buf, "%s/ecbench", x);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/ecbench", home);
    else return NULL;
    return buf;
}

ecb_similarity ecb_evalset_method_sim(const ecb_evalset *e)
{
    return e->ds->sim == ECB_DS_L2 ? ECB_SIM_L2 : ECB_SIM_DOT;
}

void ecb_evalset_release(ecb_evalset *e)
{
    if (!e) return;
    ecb_dataset_free(e->ds);
    free(e->queries);
    ecb_topk_release(&e->gt);
    memset(e, 0, sizeof *e);
}

static int read_queries(ecb_evalset *e)
{
    /* multi-vector: every query token (MaxSim scores token by token) */
    const ecb_vecs *src = e->ds->mv ? e->ds->mv->queries.tokens : e->ds->queries;
    size_t rows = ecb_vecs_count(src);
    e->nq = ecb_dataset_n_queries(e->ds);
    e->dim = ecb_vecs_dim(src);
    if (e->ds->mv) e->qoff = e->ds->mv->queries.offsets;
    e->queries = ecb_malloc_array(nz(rows * e->dim), sizeof(float));
    if (!e->queries) return ECB_ENOMEM;
    int rc = ecb_vecs_read(src, 0, rows, e->queries);
    if (rc) return rc;
    if (e->ds->sim == ECB_DS_COSINE) ecb_normalize_rows(e->queries, rows, e->dim);
    return 0;
}

/* A dataset's own ground truth (full corpus only) against exact search:
 * a disagreement is logged, since ties may be ordered differently. */
static void crosscheck(const ecb_dataset *full, const ecb_evalset *e)
{
    size_t kk = full->gt_k < e->K ? full->gt_k : e->K, agree = 0, tot = 0;
    for (size_t q = 0; q < e->nq; q++)
        for (size_t i = 0; i < kk; i++) {
            int32_t g = full->gt[q * full->gt_k + i];
            for (size_t j = 0; j < kk; j++)
                if (e->gt.ids[q * e->gt.k + j] == g) { agree++; break; }
            tot++;
        }
    ecb_log(agree == tot ? ECB_LOG_INFO : ECB_LOG_WARN,
            "%s: provided ground truth agrees with exact search on %zu of %zu top-%zu "
            "neighbours (ties may be ordered differently)", e->ds->name, agree, tot, kk);
}

int ecb_evalset_prepare(const ecb_dataset *full, size_t corpus_size, uint64_t seed, size_t maxk,
                        ecb_evalset *e)
{
    memset(e, 0, sizeof *e);
    size_t n = ecb_dataset_n_corpus(full);
    int whole = !corpus_size || corpus_size == n;
    /* the full corpus goes through the same path (identity subset) */
    int rc = ecb_dataset_subset(full, whole ? n : corpus_size, seed, &e->ds);
    if (!rc) rc = read_queries(e);
    if (rc) { ecb_evalset_release(e); return rc; }
    size_t nc = ecb_dataset_n_corpus(e->ds);
    e->K = maxk < nc ? maxk : nc;
    return 0;
}

int ecb_evalset_build(const ecb_dataset *full, size_t corpus_size, uint64_t seed, size_t maxk,
                      const ecb_search_opts *so, int quiet, ecb_evalset *e)
{
    int rc = ecb_evalset_prepare(full, corpus_size, seed, maxk, e);
    if (rc) return rc;
    size_t n = ecb_dataset_n_corpus(full), nc = ecb_dataset_n_corpus(e->ds);
    int whole = !corpus_size || corpus_size == n;
    double t0 = ecb_now();
    rc = e->ds->mv ? ecb_maxsim_groundtruth(e->ds, e->queries, nz(e->K), so, &e->gt)
                   : ecb_groundtruth(e->ds, nz(e->K), ecb_cache_dir(), so, &e->gt);
    if (rc) { ecb_evalset_release(e); return rc; }
    if (!quiet)
        ecb_log(ECB_LOG_INFO, "%s: exact float32 %stop-%zu for %zu queries over %zu %s (%.2f s)",
                e->ds->name, e->ds->mv ? "MaxSim " : "", e->K, e->nq, nc,
                e->ds->mv ? "documents" : "vectors", ecb_now() - t0);
    if (full->gt && whole && full->gt_k && e->K) crosscheck(full, e);
    return 0;
}
