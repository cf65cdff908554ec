/*
 * One cell, measured (DESIGN D4, D6): build (or reuse) the chain, train it
 * on a seeded corpus sample, encode, search every query in a batch and one
 * by one, rescore, compute every metric against the qrels and the exact
 * float32 top-k, and return a typed result. Never fails: problems become
 * the result's status and message.
 */
#ifndef ECB_CELL_H
#define ECB_CELL_H

#include "harness/config.h"
#include "harness/evalset.h"
#include "harness/results.h"

/* The last trained and encoded chain: consecutive cells that differ only in
 * mode or rescoring reuse it (their train/encode timings are those of its
 * one build). */
typedef struct ecb_chain_cache ecb_chain_cache;
int ecb_chain_cache_create(ecb_chain_cache **out);
void ecb_chain_cache_destroy(ecb_chain_cache *c); /* accepts NULL */

typedef struct ecb_cell_ctx {
    const ecb_config *cfg;
    const ecb_evalset *es;   /* the cell's dataset at its corpus size */
    const char *trec_dir;    /* write <trec_dir>/<cell_id>.trec, or NULL */
    ecb_chain_cache *cache;  /* may be NULL */
} ecb_cell_ctx;

/* The identity columns of a cell (es may be NULL when its data could not be
 * loaded) and the run's seed. */
int ecb_cell_identity(const ecb_config *cfg, const ecb_cell *cell, const ecb_evalset *es,
                      ecb_cell_result *out);
/* Measure the cell into out (initialised here). */
void ecb_cell_measure(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *out);

const char *ecb_mode_name(ecb_mode m);

#endif
