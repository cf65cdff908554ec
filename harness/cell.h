/*
 * One cell, measured (DESIGN D4, D6): build (or reuse) the chain, train it
 * on a seeded corpus sample, encode, search every query in a batch and one
 * by one, rescore, compute every metric against the qrels and the exact
 * float32 top-k, and return a typed result. Never fails: problems become
 * the result's status and message.
 */
#ifndef ECB_CELL_H
#define ECB_CELL_H

#include "harness/chain.h"
#include "harness/config.h"
#include "harness/evalset.h"
#include "harness/results.h"

/* The last trained and encoded chain: consecutive cells that differ only in
 * mode or rescoring reuse it (their train/encode timings are those of its
 * one build). */
typedef struct ecb_chain_cache ecb_chain_cache;
int ecb_chain_cache_create(ecb_chain_cache **out);
void ecb_chain_cache_destroy(ecb_chain_cache *c); /* accepts NULL */
/* The cached chain for the chain label key on es, or NULL; *extra gets what
 * was stored with it (the multi-vector path keeps its token index there). */
ecb_chain_inst *ecb_chain_cache_find(ecb_chain_cache *c, const char *key, const ecb_evalset *es,
                                     double *train_s, double *encode_vps, void **extra);
/* The cache takes b and extra (freed by extra_free, may be NULL), dropping
 * what it held. */
void ecb_chain_cache_put(ecb_chain_cache *c, const char *key, const ecb_evalset *es,
                         ecb_chain_inst *b, double train_s, double encode_vps, void *extra,
                         void (*extra_free)(void *));
void ecb_chain_cache_drop(ecb_chain_cache *c); /* after a failed cell */

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

/* The pieces of a measurement that a distributed one (harness/shard.c)
 * shares with the local one, so both define every column alike. */

/* The seeded training-sample rows of a corpus of n rows (*rows malloc'd,
 * *ns = min(n, train_size)). */
int ecb_cell_sample_rows(const ecb_config *cfg, size_t n, size_t **rows, size_t *ns);
/* The size and reconstruction columns of a trained chain (bpv, aux, mse,
 * cosine; reconstruction on the sample). */
void ecb_cell_chain_columns(const ecb_chain_inst *b, const float *sample, size_t ns,
                            ecb_cell_result *res);
/* Candidates per query taken from the first stage: max k, times the
 * rescoring factor, at most n, at least 1. */
size_t ecb_cell_k1(const ecb_config *cfg, const ecb_cell *cell, size_t n);
/* The rescoring representation of a cell: float32 rows (rb NULL), or
 * another chain trained on the sample, its codes of corpus, the prepared
 * queries. */
typedef struct ecb_rescorer {
    ecb_chain_inst *rb;
    ecb_mode rmode;
    uint8_t *rq;          /* prepared queries, rqsize bytes each */
    size_t rqsize;
    uint8_t *gather;      /* codes of up to k1 candidates, one block per worker */
    size_t gather_stride;
} ecb_rescorer;
/* corpus: the rows to encode (all, or a rank's slice); n: rows of the whole
 * corpus (for *bytes, the rescoring index size). Nothing when the cell has
 * no rescoring. */
int ecb_rescorer_build(const ecb_cell_ctx *ctx, const ecb_cell *cell, const ecb_vecs *corpus,
                       size_t n, const float *sample, size_t ns, size_t k1, ecb_rescorer *r,
                       double *bytes);
/* Rescoring scores of count rows (of corpus) for query q, by worker
 * `worker` (< the cell's threads) of a parallel loop. */
int ecb_rescorer_score(const ecb_rescorer *r, const ecb_evalset *es, const ecb_vecs *corpus,
                       size_t q, const int64_t *rows, size_t count, float *scores, size_t worker);
void ecb_rescorer_release(ecb_rescorer *r);
/* Batch throughput: qps = nq / the median wall time of up to
 * ECB_QPS_PASSES passes of the whole query batch. Repeats stop once the
 * passes have taken ECB_QPS_BUDGET_S (a large corpus gets one pass, as a
 * user's one search would): one pass of a few milliseconds measures page
 * faults and wake-ups as much as the scan. Pass 1 fills top; every repeat
 * must return the same ranked lists bit for bit (else ECB_EINTERNAL). */
#define ECB_QPS_PASSES 5
#define ECB_QPS_BUDGET_S 0.25
int ecb_cell_batch(size_t nq, int (*pass)(void *ctx, ecb_topk *out), void *ctx, ecb_topk *top,
                   ecb_cell_result *res);
/* Single-query latency times the first latency_queries queries, but stops
 * once ECB_LATENCY_BUDGET_S have been spent and at least
 * ECB_LATENCY_MIN_QUERIES were timed. On a large corpus each is a full scan
 * on one thread while the others idle, and scans of the same rows take
 * nearly the same time: over the 15 cells of the 1M x 768 CoRECT sweep
 * whose one query took more than 0.1 s, p99/p50 of 20 queries was 1.03-1.46
 * (median 1.11). Twenty of them were 151 of its 717 s (sq 8-bit: 20 x 1.16 s). */
#define ECB_LATENCY_BUDGET_S 2.0
#define ECB_LATENCY_MIN_QUERIES 10
/* Single-query latency (p50/p95/p99 of res) over the first
 * latency_queries of nq queries, one(ctx, q) timed per query, within that
 * budget. */
int ecb_cell_latency(const ecb_config *cfg, size_t nq, int (*one)(void *ctx, size_t q),
                     void *ctx, ecb_cell_result *res);
/* Linear-interpolated percentile p (0-100) of v[0..n) (sorts v). */
double ecb_percentile(double *v, size_t n, double p);
/* Qrels metrics and kNN recall of the ranked lists top (its first max k
 * entries per query) into res (mean, perq, qids, n_skipped). exact: nq x
 * max k exact float32 scores of those entries (ecb_exact_scores), or NULL
 * to compute them from es (on `threads` workers). */
int ecb_cell_evaluate(const ecb_config *cfg, const ecb_evalset *es, const ecb_topk *top,
                      const float *exact, size_t threads, ecb_cell_result *res);
/* <trec_dir>/<cell id>.trec of the first maxk entries of top. */
int ecb_cell_write_trec(const char *trec_dir, const ecb_evalset *es, const ecb_cell *cell,
                        const ecb_topk *top, size_t maxk);
/* A measurement body: fills res's measured columns or returns an error. */
typedef int (*ecb_cell_body)(void *arg, ecb_cell_result *res);
/* ecb_cell_measure with another body: identity, the mode check (a skipped
 * row), the error row of a failing body, the derived costs. */
void ecb_cell_measure_with(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res,
                           ecb_cell_body body, void *arg);
/* The measurement body of a multi-vector (MaxSim) dataset
 * (harness/cell_mv.c); ecb_cell_measure chooses it when es->ds->mv. */
int ecb_cell_measure_mv(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res);

#endif
