/*
 * Top-k selection in the one ranking order of DESIGN D4 (score descending,
 * ties by document id descending as a byte string, i.e. by doc_id_rank
 * descending), exact float32 search (blocked sgemm, never an n x nq matrix),
 * generic search over a method's codes, and the ground-truth cache.
 */
#ifndef ECB_SEARCH_H
#define ECB_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"
#include "common/ecb.h"
#include "ecbench/ecbmath.h"

/* Results: nq lists of up to k (score, id) pairs, best first; unused slots
 * hold id -1 and score -INFINITY. Without an id_rank, ties go to the larger
 * row (row ids are their own rank). */
typedef struct ecb_topk {
    size_t nq, k;
    float *scores;  /* nq*k */
    int64_t *ids;   /* nq*k, -1 pads when fewer than k candidates */
    size_t *count;  /* nq: filled entries */
} ecb_topk;

int ecb_topk_alloc(ecb_topk *t, size_t nq, size_t k);
void ecb_topk_release(ecb_topk *t); /* accepts zeroed */

/* The ranking order, heaps and sort are the toolkit's (ecbench/ecbmath.h:
 * ecb_rank_before, ecb_heap_push, ecb_rank_sort). */

/* Zero fields take the defaults. OpenBLAS runs at one thread during the
 * call (the workers use the cores; its threaded sgemm would round
 * differently). The work unit is (corpus block, query block): query blocks
 * cut each block_queries group at multiples of 12 queries, a cut that
 * changes no score (search.c). Per worker memory: block_rows*dim +
 * block_queries*block_rows floats at most, plus nq*k heap entries. */
typedef struct ecb_search_opts {
    size_t threads;     /* worker threads (>= 1) */
    size_t block_rows;  /* corpus rows per block (memory bound; scores depend on it) */
    size_t block_queries; /* queries per group, the query grid's origin (at most per unit) */
} ecb_search_opts;
void ecb_search_opts_default(ecb_search_opts *o);

/* Exact search with float32 vectors: cosine (both sides normalised), dot,
 * or l2 (score = -squared distance). The corpus streams in blocks. */
int ecb_search_exact(const ecb_vecs *corpus, const float *queries, size_t nq,
                     ecb_ds_similarity sim, size_t k, const uint32_t *id_rank,
                     const ecb_search_opts *o, ecb_topk *out);

/* Exact scores of given rows for one query (same definition as above),
 * accumulated in double; rows of -1 give -INFINITY, others outside the
 * corpus ECB_ERANGE. */
int ecb_exact_scores(const ecb_vecs *corpus, ecb_ds_similarity sim, const float *query,
                     const int64_t *rows, size_t n, float *out);

/* Generic search over codes: score() in blocks of block_rows codes, one
 * heap per query, threads split the (corpus block, query block) units and
 * merge. prepared is nq prepared queries of query_size(mode) bytes. */
int ecb_search_codes(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, size_t k, const uint32_t *id_rank,
                     const ecb_search_opts *o, ecb_topk *out);

/* Exact float32 top-k of the dataset's queries, cached on disk under
 * cache_dir (NULL: no cache) by a hash of corpus, queries, similarity, k and
 * doc_id_rank (file cache_dir/gt-<key>.bin: header with magic, version,
 * shape and hashes, then counts, scores, ids and a payload checksum; written
 * to a temporary file and renamed; a stale or damaged file is recomputed).
 * Queries are read from the dataset. The winners' scores are recomputed by
 * ecb_exact_scores (double accumulation) and re-sorted, so they equal what
 * ecb_exact_scores returns for the same rows (what kNN recall compares). */
int ecb_groundtruth(const ecb_dataset *ds, size_t k, const char *cache_dir,
                    const ecb_search_opts *o, ecb_topk *out);

/* L2-normalise n rows in place (zero rows left as zero). */
void ecb_normalize_rows(float *x, size_t n, size_t dim);

#endif
