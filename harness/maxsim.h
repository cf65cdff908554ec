/*
 * MaxSim (late interaction, DESIGN D5 "multi-vector datasets"): a query of
 * tokens q_1..q_m against a document of tokens d_1..d_n scores
 *     sum_i max_j s(q_i, d_j)
 * where s is any method's token score (its score() hook in either mode) or
 * the exact float32 similarity. Plugins see only tokens: the harness builds
 * MaxSim from their scores, so every method works unchanged.
 *
 * Search is blocked like the single-vector scan: a fixed grid of document
 * blocks (whole documents, at most block_rows tokens each unless one
 * document is longer) and of query batches (whole queries, at most
 * block_queries tokens), so memory is bounded by the block sizes and the
 * result is bit-identical for any thread count. The sum over query tokens is
 * taken in double in token order, then rounded once to float, so two
 * documents whose best tokens score alike tie exactly (the one ranking order
 * of DESIGN D4 then breaks the tie).
 */
#ifndef ECB_MAXSIM_H
#define ECB_MAXSIM_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"
#include "harness/chain.h"
#include "harness/config.h"
#include "harness/search.h"

/* The stored tokens of a multi-vector corpus: which tokens are kept (after
 * the chain's token selection) and their codes, packed back to back at the
 * quantizer's code_bits when that is below 8 * code_size. */
typedef struct ecb_mv_index {
    size_t n_docs;
    int64_t *off;          /* n_docs + 1 offsets into the kept tokens */
    size_t *rows;          /* kept token rows of the dataset's tokens, or NULL: all kept */
    size_t ntok;           /* tokens kept */
    size_t code_size;      /* bytes of one code as the plugin reads it */
    size_t code_bits;      /* bits stored per token */
    uint8_t *packed;       /* ceil(ntok * code_bits / 8) bytes (+ 8 readable), or NULL */
    const uint8_t *codes;  /* ntok * code_size bytes (the chain's) when not packed */
    size_t bytes;          /* stored code bytes: the index without aux */
    ecb_vecs *kept;        /* the kept tokens as float vectors (a view of the dataset's) */
} ecb_mv_index;

void ecb_mv_index_release(ecb_mv_index *ix); /* accepts a zeroed one */

/* 1 if a stage of the chain selects tokens (ECB_METHOD_SELECT). */
int ecb_chain_selects(const ecb_chain *c);
/* 1 if the chain is the float32 baseline, after token selection at most:
 * its MaxSim is then computed exactly by the harness (ecb_maxsim_topk_exact),
 * since BLAS kernels round a product differently at different positions of
 * a block, which would split the exact ties MaxSim produces. */
int ecb_chain_is_exact(const ecb_chain *c);

/* Token selection by the chain's selecting stages, which must come first,
 * over mv (the dataset's corpus side): each one sees every document's
 * surviving tokens (normalised for cosine) and their saliences
 * (mv->weights, or the norms of the tokens as stored in the dataset).
 * Fills ix->off, ix->rows, ix->ntok, ix->n_docs (rows NULL and every token
 * kept when the chain selects nothing). */
int ecb_mv_select(const ecb_chain *c, const ecb_mv_side *mv, ecb_ds_similarity sim,
                  uint64_t seed, ecb_mv_index *ix);

/* Encode the kept tokens with the chain (trained) and store them: packed
 * when the quantizer's code_bits is below 8 * code_size (a code with bits
 * set beyond code_bits is an error naming the method). Sets ix->kept. */
int ecb_mv_index_encode(ecb_chain_inst *b, const ecb_mv_side *mv, int normalize,
                        size_t threads, size_t block_rows, ecb_mv_index *ix);

/* Search: top-k documents of nq queries by MaxSim over a method's codes.
 * prepared holds the query tokens prepared by the method in mode (query i
 * owns tokens [qoff[i] - qoff[0], qoff[i+1] - qoff[0]) of query_size bytes). */
int ecb_maxsim_search_codes(const ecb_method *m, ecb_mode mode, const uint8_t *prepared,
                            const int64_t *qoff, size_t nq, const ecb_mv_index *ix, size_t k,
                            const uint32_t *id_rank, const ecb_search_opts *o, ecb_topk *out);

/* Exact float32 MaxSim top-k: the blocked scan with sgemm token scores
 * over tokens (normalised here for cosine) grouped by doff, query tokens
 * qtok (already normalised; query i owns [qoff[i] - qoff[0], ...)), then
 * the winners re-scored by ecb_maxsim_exact_scores and re-sorted, so their
 * scores equal what that function returns for any document. */
int ecb_maxsim_topk_exact(const ecb_vecs *tokens, const int64_t *doff, size_t n_docs,
                          ecb_ds_similarity sim, const float *qtok, const int64_t *qoff,
                          size_t nq, size_t k, const uint32_t *id_rank,
                          const ecb_search_opts *o, ecb_topk *out);

/* Exact MaxSim of given documents (ids of -1 give -INFINITY) for one query
 * of nqt tokens (normalised for cosine), every token product and the sum in
 * double, in a fixed order: the ground truth's scores, float32 rescoring and
 * kNN recall. */
int ecb_maxsim_exact_scores(const ecb_vecs *tokens, const int64_t *doff, size_t n_docs,
                            ecb_ds_similarity sim, const float *qtok, size_t nqt,
                            const int64_t *ids, size_t count, float *out);

/* MaxSim of given documents with a method's codes, for one query's nqt
 * prepared tokens (rescoring with another method). */
int ecb_maxsim_score_docs(const ecb_method *m, ecb_mode mode, const uint8_t *prepared,
                          size_t nqt, const ecb_mv_index *ix, const int64_t *ids, size_t count,
                          float *out);

/* ecb_maxsim_topk_exact over every token of the dataset (qtok: every query
 * token, normalised for cosine). */
int ecb_maxsim_groundtruth(const ecb_dataset *ds, const float *qtok, size_t k,
                           const ecb_search_opts *o, ecb_topk *out);

/* Conformance checks of the multi-vector path (harness/maxsim_check.c,
 * run by harness/checkplugin.c). ecb_maxsim_check: MaxSim over n codes
 * (code_size cs, documents of 1..9 tokens) of nqv query vectors (grouped in
 * queries of 1..3) in mode, against MaxSim from one score matrix under
 * document-block and query-batch splits, bit-identical for 1 and 3
 * threads and from codes packed at code_bits. ecb_select_check: a
 * selecting transform on x (at least 50 rows) keeps 1..n increasing
 * indices, deterministically. Both return 0 (detail: what passed) or 1
 * (detail: what differs). m->vt must be set. */
int ecb_maxsim_check(const ecb_method *m, ecb_mode mode, const float *qv, size_t nqv,
                     const uint8_t *codes, size_t n, size_t cs, char *detail, size_t dn);
int ecb_select_check(const ecb_method *m, const float *x, char *detail, size_t dn);

/* Bit-level storage of codes (exposed for the tests): pack n codes of
 * code_size bytes keeping their first bits bits each (checking that no
 * higher bit is set), and unpack tokens [t0, t0+n) back. dst of pack has
 * ceil(n*bits/8) bytes, zeroed by the caller. */
int ecb_codes_pack(const uint8_t *codes, size_t n, size_t code_size, size_t bits, uint8_t *dst);
void ecb_codes_unpack(const uint8_t *packed, size_t t0, size_t n, size_t code_size, size_t bits,
                      uint8_t *dst);

#endif
