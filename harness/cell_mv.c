/*
 * One cell of a multi-vector (late-interaction) dataset, measured like a
 * single-vector one (harness/cell.c, whose shared pieces it uses: sample
 * rows, k1, metrics, run files, latency budget) over the stored tokens:
 *  - the chain's token selection (prune), a seeded sample of the kept
 *    tokens to train on, their codes, packed at the quantizer's code_bits
 *    (mvindex.c); cached with the chain for the next cell of the same chain;
 *  - search by MaxSim over the method's token scores (maxsim.c), or, for
 *    the float32 baseline (alone or after pruning), exactly;
 *  - rescoring: exact float32 MaxSim over every token of the candidates, or
 *    MaxSim over another method's codes of them;
 *  - kNN recall against exact float32 MaxSim (the evaluation set's ground
 *    truth), and the costs: bytes per document, the codes of every kept
 *    token, bits per token coordinate, the corpus's and the kept tokens.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/cell.h"
#include "harness/maxsim.h"

static size_t nz(size_t v) { return v ? v : 1; }

typedef struct {
    const ecb_cell_ctx *ctx;
    const ecb_cell *cell;
    const ecb_evalset *es;
    const ecb_mv_side *side;  /* the corpus tokens */
    ecb_cell_result *res;
    size_t n, maxk, threads, k1;
    int exact;                /* float32 baseline: MaxSim computed exactly */
    float *sample;            /* ns training tokens (normalised for cosine) */
    size_t ns;
    ecb_chain_inst *b;        /* owned by the cache when cached */
    int owns_b;
    ecb_mv_index *ix;         /* b's stored tokens: &own_ix or the cache's */
    ecb_mv_index own_ix;
    ecb_chain_inst *rb;       /* rescoring chain, NULL for float32 or none */
    ecb_mode rmode;
    uint8_t *rq;              /* rescoring: every query token, prepared */
    size_t rqsize;
    ecb_mv_index rix;
    ecb_topk top;
} mvm;

/* Query q's tokens. */
static const float *query_tokens(const ecb_evalset *es, size_t q, size_t *n)
{
    *n = (size_t)(es->qoff[q + 1] - es->qoff[q]);
    return es->queries + (size_t)es->qoff[q] * es->dim;
}

static size_t total_qtokens(const ecb_evalset *es) { return (size_t)es->qoff[es->nq]; }

/* The seeded training sample, drawn from the kept tokens. */
static int take_sample(mvm *m)
{
    size_t *rows = NULL;
    int rc = ecb_cell_sample_rows(m->ctx->cfg, m->ix->ntok, &rows, &m->ns);
    if (!rc && !(m->sample = ecb_malloc_array(nz(m->ns * m->es->dim), sizeof(float))))
        rc = ECB_ENOMEM;
    for (size_t i = 0; !rc && m->ix->rows && i < m->ns; i++) rows[i] = m->ix->rows[rows[i]];
    if (!rc) rc = ecb_vecs_read_rows(m->side->tokens, rows, m->ns, m->sample);
    if (!rc && m->es->ds->sim == ECB_DS_COSINE) ecb_normalize_rows(m->sample, m->ns, m->es->dim);
    free(rows);
    return rc;
}

static void index_free(void *p)
{
    ecb_mv_index_release(p);
    free(p);
}

/* Select, sample, train and encode the chain's tokens, or reuse the cache. */
static int build_index(mvm *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_dataset *ds = m->es->ds;
    ecb_chain_cache *cache = m->ctx->cache;
    char key[8192];
    void *extra = NULL;
    ecb_chain_label(&m->cell->chain, 1, key, sizeof key);
    if (cache && (m->b = ecb_chain_cache_find(cache, key, m->es, &m->res->train_s,
                                              &m->res->encode_vps, &extra)) && extra) {
        m->ix = extra;
        return take_sample(m);
    }
    m->b = NULL;
    m->ix = &m->own_ix;
    int rc = ecb_mv_select(&m->cell->chain, m->side, ds->sim, cfg->seed, m->ix);
    if (!rc) rc = take_sample(m);
    if (!rc) rc = ecb_chain_inst_create(&m->cell->chain, m->es->dim, ecb_evalset_method_sim(m->es),
                                        cfg->seed, m->threads, &m->b);
    if (rc) return rc;
    m->owns_b = 1;
    double t0 = ecb_now();
    if ((rc = ecb_chain_inst_train(m->b, m->sample, m->ns))) return rc;
    m->res->train_s = ecb_now() - t0;
    t0 = ecb_now();
    rc = ecb_mv_index_encode(m->b, m->side, ds->sim == ECB_DS_COSINE, m->threads,
                             cfg->block_rows, m->ix);
    if (rc) return rc;
    double enc = ecb_now() - t0;
    m->res->encode_vps = enc > 0 ? (double)m->ix->ntok / enc : NAN; /* token vectors per second */
    ecb_mv_index *kept = cache ? ecb_malloc(sizeof *kept) : NULL;
    if (kept) { /* the cache owns chain and index from here on */
        *kept = m->own_ix;
        memset(&m->own_ix, 0, sizeof m->own_ix);
        ecb_chain_cache_put(cache, key, m->es, m->b, m->res->train_s, m->res->encode_vps, kept,
                            index_free);
        m->ix = kept;
        m->owns_b = 0;
    }
    return 0;
}

/* The rescoring representation: exact float32 MaxSim over every token, or
 * another chain's codes of the tokens it keeps. */
static int build_rescorer(mvm *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_rescore *rs = &cfg->rescores[m->cell->rescore];
    const ecb_dataset *ds = m->es->ds;
    m->res->rescore_bytes = 0;
    if (!rs->factor) return 0;
    if (rs->with_float32) {
        m->res->rescore_bytes = (double)ecb_vecs_count(m->side->tokens) * (double)m->es->dim *
                                sizeof(float);
        return 0;
    }
    int rc = ecb_mv_select(&rs->with, m->side, ds->sim, cfg->seed, &m->rix);
    if (!rc) rc = ecb_chain_inst_create(&rs->with, m->es->dim, ecb_evalset_method_sim(m->es),
                                        cfg->seed ^ 0x9e3779b97f4a7c15ull, m->threads, &m->rb);
    if (!rc) rc = ecb_chain_inst_train(m->rb, m->sample, m->ns);
    if (!rc) rc = ecb_mv_index_encode(m->rb, m->side, ds->sim == ECB_DS_COSINE, m->threads,
                                      cfg->block_rows, &m->rix);
    if (rc) return rc;
    m->res->rescore_bytes = (double)m->rix.bytes + (double)ecb_chain_inst_aux_bytes(m->rb);
    uint32_t fl = ecb_chain_inst_vt(m->rb)->flags;
    m->rmode = (fl & ECB_METHOD_ASYMMETRIC) ? ECB_MODE_ASYMMETRIC : ECB_MODE_SYMMETRIC;
    return ecb_chain_inst_prepare(m->rb, m->rmode, m->es->queries, total_qtokens(m->es), &m->rq,
                                  &m->rqsize);
}

/* Re-rank query q's count candidates (scores replaced, one ranking order). */
static int rescore_one(const mvm *m, size_t q, float *scores, int64_t *ids, size_t count)
{
    size_t nqt;
    const float *qt = query_tokens(m->es, q, &nqt);
    int rc = !m->rb ? ecb_maxsim_exact_scores(m->side->tokens, m->side->offsets, m->n,
                                              m->es->ds->sim, qt, nqt, ids, count, scores)
                    : ecb_maxsim_score_docs(ecb_chain_inst_quantizer(m->rb), m->rmode,
                                            m->rq + (size_t)m->es->qoff[q] * m->rqsize, nqt,
                                            &m->rix, ids, count, scores);
    if (!rc) ecb_rank_sort(scores, ids, count, m->es->ds->doc_id_rank);
    return rc;
}

/* Queries q0 .. q0 + nq - 1 (their tokens prepared, unless exact). */
static int search(const mvm *m, const uint8_t *prepared, size_t q0, size_t nq, size_t threads,
                  ecb_topk *out)
{
    const ecb_evalset *es = m->es;
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = threads;
    if (m->ctx->cfg->block_rows) so.block_rows = m->ctx->cfg->block_rows;
    int rc = m->exact
                 ? ecb_maxsim_topk_exact(m->ix->kept, m->ix->off, m->n, es->ds->sim,
                                         es->queries + (size_t)es->qoff[q0] * es->dim,
                                         es->qoff + q0, nq, m->k1, es->ds->doc_id_rank, &so, out)
                 : ecb_maxsim_search_codes(ecb_chain_inst_quantizer(m->b), m->cell->mode, prepared,
                                           es->qoff + q0, nq, m->ix, m->k1, es->ds->doc_id_rank,
                                           &so, out);
    if (rc) rc = ecb_fail(rc, "%s: MaxSim search: %s", ecb_chain_inst_vt(m->b)->name,
                          ecb_last_error());
    return rc;
}

static int prepare(const mvm *m, const float *q, size_t rows, uint8_t **out)
{
    size_t qs;
    *out = NULL;
    return m->exact ? 0 : ecb_chain_inst_prepare(m->b, m->cell->mode, q, rows, out, &qs);
}

typedef struct {
    mvm *m;
    ecb_topk *top;      /* the ranked lists */
    float *ex;          /* nq x maxk exact scores, or NULL: rescore the top */
    char (*msg)[1024];  /* per query: the error of a failed task */
} query_job;

/* Task q: rescore query q's candidates, or its exact scores for kNN recall. */
static int query_task(void *arg, size_t q, size_t worker)
{
    (void)worker;
    query_job *j = arg;
    mvm *m = j->m;
    ecb_topk *t = j->top;
    int rc;
    if (!j->ex) {
        rc = rescore_one(m, q, t->scores + q * t->k, t->ids + q * t->k, t->count[q]);
    } else {
        size_t cnt = t->count[q] < m->maxk ? t->count[q] : m->maxk, nqt;
        const float *qt = query_tokens(m->es, q, &nqt);
        rc = ecb_maxsim_exact_scores(m->side->tokens, m->side->offsets, m->n, m->es->ds->sim, qt,
                                     nqt, t->ids + q * t->k, cnt, j->ex + q * m->maxk);
    }
    if (rc) snprintf(j->msg[q], sizeof j->msg[q], "%s", ecb_last_error());
    return rc;
}

static int per_query(mvm *m, ecb_topk *top, float *ex)
{
    size_t nq = m->es->nq;
    query_job j = {m, top, ex, ecb_calloc(nz(nq), sizeof *j.msg)};
    if (!j.msg) return ECB_ENOMEM;
    int rc = ecb_parallel_for(nq, m->threads, query_task, &j);
    for (size_t q = 0; rc && q < nq; q++) /* the lowest failing query's message */
        if (j.msg[q][0]) {
            rc = ecb_fail(rc, "%s", j.msg[q]);
            break;
        }
    free(j.msg);
    return rc;
}

/* One batch pass: every query, all threads (prepare + MaxSim + rescore). */
static int batch_pass(void *arg, ecb_topk *out)
{
    mvm *m = arg;
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    uint8_t *prepared = NULL;
    int rc = prepare(m, m->es->queries, total_qtokens(m->es), &prepared);
    if (!rc) rc = search(m, prepared, 0, m->es->nq, m->threads, out);
    free(prepared);
    if (!rc && rs->factor) rc = per_query(m, out, NULL);
    return rc;
}

/* Latency of one query on one thread (prepare + MaxSim + rescore). */
static int latency_one(void *arg, size_t q)
{
    mvm *m = arg;
    ecb_topk t1 = {0};
    uint8_t *p1 = NULL;
    size_t rows;
    const float *qv = query_tokens(m->es, q, &rows);
    int rc = prepare(m, qv, rows, &p1);
    if (!rc) rc = search(m, p1, q, 1, 1, &t1);
    if (!rc && m->ctx->cfg->rescores[m->cell->rescore].factor)
        rc = rescore_one(m, q, t1.scores, t1.ids, t1.count[0]);
    free(p1);
    ecb_topk_release(&t1);
    return rc;
}

/* kNN recall needs the exact scores of the retrieved documents: already
 * there for the float32 baseline over every token and after float32
 * rescoring, computed otherwise. */
static int evaluate(mvm *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_rescore *rs = &cfg->rescores[m->cell->rescore];
    size_t nq = m->es->nq;
    float *ex = ecb_malloc_array(nz(nq * m->maxk), sizeof *ex);
    if (!ex) return ECB_ENOMEM;
    int rc = 0;
    if ((m->exact && !m->ix->rows) || (rs->factor && rs->with_float32)) {
        for (size_t q = 0; q < nq; q++) {
            size_t cnt = m->top.count[q] < m->maxk ? m->top.count[q] : m->maxk;
            memcpy(ex + q * m->maxk, m->top.scores + q * m->top.k, cnt * sizeof *ex);
        }
    } else {
        rc = per_query(m, &m->top, ex);
    }
    if (!rc) rc = ecb_cell_evaluate(cfg, m->es, &m->top, ex, m->threads, m->res);
    free(ex);
    return rc;
}

static int measure_all(mvm *m)
{
    int rc;
    if ((rc = build_index(m))) return rc;
    ecb_cell_chain_columns(m->b, m->sample, m->ns, m->res);
    ecb_cell_result *r = m->res;
    r->bpv = (double)m->ix->bytes / (double)m->n; /* per document: its stored tokens' bytes */
    r->index_bytes = (double)m->ix->bytes + r->aux;
    r->bits_per_dim = (double)m->ix->code_bits / (double)m->es->dim;
    r->corpus_tokens = (double)ecb_vecs_count(m->side->tokens);
    r->tokens_kept = (double)m->ix->ntok;
    m->k1 = ecb_cell_k1(m->ctx->cfg, m->cell, m->n);
    if ((rc = build_rescorer(m))) return rc;
    if ((rc = ecb_cell_batch(m->es->nq, batch_pass, m, &m->top, m->res))) return rc;
    if ((rc = ecb_cell_latency(m->ctx->cfg, m->es->nq, latency_one, m, m->res))) return rc;
    if ((rc = evaluate(m))) return rc;
    if (m->ctx->trec_dir &&
        (rc = ecb_cell_write_trec(m->ctx->trec_dir, m->es, m->cell, &m->top, m->maxk)))
        return rc;
    return 0;
}

int ecb_cell_measure_mv(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res)
{
    const ecb_config *cfg = ctx->cfg;
    mvm m = {.ctx = ctx, .cell = cell, .es = ctx->es, .side = &ctx->es->ds->mv->corpus,
             .res = res, .n = ctx->es->ds->mv->corpus.n_items, .maxk = cfg->ks[cfg->nk - 1],
             .threads = cell->threads, .exact = ecb_chain_is_exact(&cell->chain)};
    int rc = measure_all(&m);
    if (rc && m.b && !m.owns_b && ctx->cache) ecb_chain_cache_drop(ctx->cache); /* never reuse */
    if (m.owns_b) ecb_chain_inst_destroy(m.b);
    ecb_mv_index_release(&m.own_ix);
    ecb_chain_inst_destroy(m.rb);
    ecb_mv_index_release(&m.rix);
    free(m.rq);
    free(m.sample);
    ecb_topk_release(&m.top);
    return rc;
}
