/*
 * What a cell is evaluated on: a dataset at one corpus size, its queries
 * (normalised for cosine) and the exact float32 top-K, computed once per
 * (dataset, corpus size) and cached on disk by content hash.
 */
#ifndef ECB_EVALSET_H
#define ECB_EVALSET_H

#include <stddef.h>

#include "datasets/dataset.h"
#include "harness/search.h"

typedef struct ecb_evalset {
    ecb_dataset *ds;   /* the (sub)set evaluated */
    float *queries;    /* nq x dim, normalised when cosine (multi-vector: every query token) */
    size_t nq, dim;
    ecb_topk gt;       /* exact top-K with exact scores (multi-vector: exact MaxSim) */
    size_t K;          /* min(max k, corpus rows) */
    const int64_t *qoff; /* multi-vector: query i owns tokens [qoff[i], qoff[i+1]) of
                            queries (ds->mv->queries.offsets); NULL for single-vector data */
} ecb_evalset;

/* corpus_size 0 = the full corpus. quiet: no log line. */
int ecb_evalset_build(const ecb_dataset *full, size_t corpus_size, uint64_t seed, size_t maxk,
                      const ecb_search_opts *so, int quiet, ecb_evalset *out);
/* The same without the ground truth (gt left empty): for a corpus sharded
 * over MPI ranks, whose ground truth the ranks compute together. */
int ecb_evalset_prepare(const ecb_dataset *full, size_t corpus_size, uint64_t seed, size_t maxk,
                        ecb_evalset *out);
void ecb_evalset_release(ecb_evalset *e); /* accepts a zeroed one */

/* The similarity a plugin sees for a dataset (cosine data is normalised,
 * then scored by dot product). */
ecb_similarity ecb_evalset_method_sim(const ecb_evalset *e);

/* ECBENCH_CACHE_DIR, else $XDG_CACHE_HOME/ecbench, else ~/.cache/ecbench. */
const char *ecb_cache_dir(void);

#endif
