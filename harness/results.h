/*
 * The results store (DESIGN D6, D7): the one definition of results.csv and
 * per_query.csv. One column table produces the header, formats a typed cell
 * result as a row, and reads rows back; the runner, resume, report and
 * compare all go through it, and the isolated child sends the typed result
 * (packed, bit-exact), never a CSV line.
 */
#ifndef ECB_RESULTS_H
#define ECB_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/csv.h"

typedef enum ecb_cell_status {
    ECB_CELL_OK = 0,
    ECB_CELL_SKIPPED, /* the method cannot run this cell (e.g. no asymmetric mode) */
    ECB_CELL_ERROR,   /* the cell failed with an error message; re-run on resume */
    ECB_CELL_CRASHED, /* its isolated process died */
    ECB_CELL_TIMEOUT, /* killed at time_limit_s */
    ECB_CELL_OOM,     /* ran out of memory (memory_limit_mb, or the kernel's OOM killer) */
    ECB_CELL_STATUS_COUNT
} ecb_cell_status;

const char *ecb_cell_status_name(ecb_cell_status s);
/* Status by name, or -1. */
int ecb_cell_status_parse(const char *name);
/* ok and skipped rows are final; every other status re-runs on resume. */
int ecb_cell_status_final(ecb_cell_status s);

/* One cell's row and its per-query rows. Strings are owned (malloc'd);
 * numbers are NaN when not applicable (an empty CSV field). */
typedef struct ecb_cell_result {
    ecb_cell_status status;
    int data_error;         /* the dataset itself could not be read: stops the sweep */
    char *error;            /* "" when none */
    char *cell_id, *dataset, *method, *params, *label, *mode, *rescore;
    double corpus_size, n_corpus, n_queries, dim;
    size_t nm;              /* ECB_M_COUNT x nk metric columns */
    double *mean;           /* nm values, or NULL (all empty) */
    double n_skipped, mse, cosine, bpv, aux, index_bytes, rescore_bytes, total_bpv, ratio, bits_per_dim;
    double train_s, encode_vps, p50, p95, p99, qps, peak_rss_mb;
    uint64_t seed;
    double corpus_tokens, tokens_kept; /* multi-vector: the corpus's tokens and those stored */
    size_t nq;              /* per-query rows (0 unless ok) */
    char **qids;            /* nq */
    double *perq;           /* nq x nm */
} ecb_cell_result;

/* Sets every number to NaN and every pointer to NULL. */
void ecb_cell_result_init(ecb_cell_result *r);
void ecb_cell_result_release(ecb_cell_result *r); /* accepts NULL; re-inits */
int ecb_cell_result_set_error(ecb_cell_result *r, ecb_cell_status st, const char *msg);

/* Headers for the cutoffs ks[0..nk). */
int ecb_results_header(ecb_buf *b, const size_t *ks, size_t nk);
int ecb_per_query_header(ecb_buf *b, const size_t *ks, size_t nk);
/* The cell's results.csv row and its per-query rows (each ending in '\n'). */
int ecb_results_format(const ecb_cell_result *r, ecb_buf *row, ecb_buf *per_query);

/* Read results.csv (per_query.csv) with the one CSV reader and check it is
 * the store's layout: the header must be exactly the store's header for
 * the cutoffs its metric columns name, and cell_ids must be unique. On
 * success ks and nk (may be NULL) receive those cutoffs (caller frees). */
int ecb_results_load(const char *path, ecb_table **out, size_t **ks, size_t *nk);
int ecb_per_query_load(const char *path, ecb_table **out);
/* The typed result of row r (its per-query rows are not read). */
int ecb_results_row(const ecb_table *t, size_t r, ecb_cell_result *out);

/* Pack / unpack a result for the pipe from an isolated child (doubles as
 * raw bits: the parent's row is bit-identical to an in-process one). */
int ecb_cell_result_pack(const ecb_cell_result *r, ecb_buf *out);
int ecb_cell_result_unpack(const char *p, size_t n, ecb_cell_result *out);

/* True for "<metric>@<k>" quality columns (ndcg, recall, p, map, mrr,
 * success, knn_recall): higher is better. */
int ecb_is_quality_metric(const char *col);

#endif
