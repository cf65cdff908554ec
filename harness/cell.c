/* Measuring one cell: chain, sample, search, rescoring, latency, metrics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "common/fileio.h"
#include "ecbench/ecbmath.h"
#include "harness/cell.h"
#include "harness/chain.h"
#include "harness/env.h"
#include "harness/metrics.h"
#include "harness/search.h"

static size_t nz(size_t v) { return v ? v : 1; }

const char *ecb_mode_name(ecb_mode m)
{
    return m == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric";
}

struct ecb_chain_cache {
    ecb_chain_inst *inst;
    char key[8192];
    const ecb_evalset *es;
    double train_s, encode_vps;
};

int ecb_chain_cache_create(ecb_chain_cache **out)
{
    *out = ecb_calloc(1, sizeof **out);
    return *out ? 0 : ECB_ENOMEM;
}

void ecb_chain_cache_destroy(ecb_chain_cache *c)
{
    if (!c) return;
    ecb_chain_inst_destroy(c->inst);
    free(c);
}

static void cache_clear(ecb_chain_cache *c)
{
    ecb_chain_inst_destroy(c->inst);
    c->inst = NULL;
    c->key[0] = '\0';
    c->es = NULL;
}

int ecb_cell_identity(const ecb_config *cfg, const ecb_cell *cell, const ecb_evalset *es,
                      ecb_cell_result *r)
{
    const char *dsname = es ? es->ds->name
                            : cfg->datasets[cell->dataset].name ? cfg->datasets[cell->dataset].name
                                                                : "?";
    r->cell_id = ecb_strdup(cell->id);
    r->dataset = ecb_strdup(dsname);
    r->method = ecb_strdup(cell->method_col);
    r->params = ecb_strdup(cell->params_col);
    r->label = ecb_strdup(cell->label_col);
    r->mode = ecb_strdup(ecb_mode_name(cell->mode));
    r->rescore = ecb_strdup(cfg->rescores[cell->rescore].label);
    r->error = ecb_strdup("");
    if (!r->cell_id || !r->dataset || !r->method || !r->params || !r->label || !r->mode ||
        !r->rescore || !r->error)
        return ECB_ENOMEM;
    r->nm = (size_t)ECB_M_COUNT * cfg->nk;
    r->seed = cfg->seed;
    if (es) {
        r->corpus_size = r->n_corpus = (double)ecb_vecs_count(es->ds->corpus);
        r->n_queries = (double)es->nq;
        r->dim = (double)es->dim;
    } else
        r->corpus_size = (double)cell->corpus_size;
    return 0;
}

/* ---- the pieces of a measurement ------------------------------------------ */

typedef struct {
    const ecb_cell_ctx *ctx;
    const ecb_cell *cell;
    const ecb_evalset *es;
    ecb_cell_result *res;
    size_t n, maxk, threads;
    float *sample;           /* ns training rows (normalised for cosine) */
    size_t ns;
    ecb_chain_inst *b;       /* the cell's chain (owned by the cache when cached) */
    int owns_b;
    ecb_chain_inst *rb;      /* rescoring chain, NULL for float32 or none */
    ecb_mode rmode;
    uint8_t *rq;             /* prepared rescoring queries */
    size_t rqsize;
    uint8_t *gather;         /* candidate codes for rescoring, one k1 block per worker */
    size_t gather_stride;
    size_t k1;               /* candidates per query from the first stage */
    ecb_topk top;
} measure;

static int take_sample(measure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    m->ns = m->n < cfg->train_size ? m->n : cfg->train_size;
    size_t *rows = ecb_malloc_array(nz(m->ns), sizeof *rows);
    m->sample = ecb_malloc_array(nz(m->ns * m->es->dim), sizeof(float));
    int rc = rows && m->sample ? 0 : ECB_ENOMEM;
    if (!rc) {
        ecb_rng rng;
        ecb_rng_seed2(&rng, cfg->seed, 0x7a1); /* from the corpus only, never the queries */
        ecb_rng_sample(&rng, m->n, m->ns, rows);
        rc = ecb_vecs_read_rows(m->es->ds->corpus, rows, m->ns, m->sample);
    }
    if (!rc && m->es->ds->sim == ECB_DS_COSINE) ecb_normalize_rows(m->sample, m->ns, m->es->dim);
    free(rows);
    return rc;
}

/* Build, train and encode the cell's chain, or reuse the cached one. */
static int build_chain(measure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    ecb_chain_cache *cache = m->ctx->cache;
    char key[8192];
    ecb_chain_label(&m->cell->chain, 1, key, sizeof key);
    if (cache && cache->inst && cache->es == m->es && strcmp(cache->key, key) == 0) {
        m->b = cache->inst;
        m->res->train_s = cache->train_s;
        m->res->encode_vps = cache->encode_vps;
        return 0;
    }
    if (cache) cache_clear(cache);
    int rc = ecb_chain_inst_create(&m->cell->chain, m->es->dim, ecb_evalset_method_sim(m->es),
                                   cfg->seed, m->threads, &m->b);
    if (rc) return rc;
    m->owns_b = 1;
    double t0 = ecb_now();
    if ((rc = ecb_chain_inst_train(m->b, m->sample, m->ns))) return rc;
    m->res->train_s = ecb_now() - t0;
    t0 = ecb_now();
    rc = ecb_chain_inst_encode(m->b, m->es->ds->corpus, m->es->ds->sim == ECB_DS_COSINE,
                               m->threads, cfg->block_rows);
    if (rc) return rc;
    double enc = ecb_now() - t0;
    m->res->encode_vps = enc > 0 ? (double)m->n / enc : NAN;
    if (cache) {
        cache->inst = m->b;
        m->owns_b = 0;
        snprintf(cache->key, sizeof cache->key, "%s", key);
        cache->es = m->es;
        cache->train_s = m->res->train_s;
        cache->encode_vps = m->res->encode_vps;
    }
    return 0;
}

/* The rescoring representation: float32 vectors, or another chain's codes. */
static int build_rescorer(measure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_rescore *rs = &cfg->rescores[m->cell->rescore];
    m->res->rescore_bytes = 0;
    if (!rs->factor) return 0;
    if (rs->with_float32) {
        m->res->rescore_bytes = (double)m->n * (double)m->es->dim * sizeof(float);
        return 0;
    }
    int rc = ecb_chain_inst_create(&rs->with, m->es->dim, ecb_evalset_method_sim(m->es),
                                   cfg->seed ^ 0x9e3779b97f4a7c15ull, m->threads, &m->rb);
    if (!rc) rc = ecb_chain_inst_train(m->rb, m->sample, m->ns);
    if (!rc) rc = ecb_chain_inst_encode(m->rb, m->es->ds->corpus, m->es->ds->sim == ECB_DS_COSINE,
                                        m->threads, cfg->block_rows);
    if (rc) return rc;
    m->res->rescore_bytes = (double)ecb_chain_inst_code_size(m->rb) * (double)m->n +
                            (double)ecb_chain_inst_aux_bytes(m->rb);
    uint32_t fl = ecb_chain_inst_vt(m->rb)->flags;
    m->rmode = (fl & ECB_METHOD_ASYMMETRIC) ? ECB_MODE_ASYMMETRIC : ECB_MODE_SYMMETRIC;
    rc = ecb_chain_inst_prepare(m->rb, m->rmode, m->es->queries, m->es->nq, &m->rq, &m->rqsize);
    m->gather_stride = nz(m->k1) * nz(ecb_chain_inst_code_size(m->rb));
    if (!rc && !(m->gather = ecb_malloc_array(nz(m->threads), m->gather_stride))) rc = ECB_ENOMEM;
    return rc;
}

/* Re-rank the count candidates of query q with the rescoring representation
 * (scores replaced, in the one ranking order). */
static int rescore_one(const measure *m, size_t q, float *scores, int64_t *ids, size_t count,
                       size_t worker)
{
    const ecb_evalset *es = m->es;
    int rc;
    if (!m->rb) {
        rc = ecb_exact_scores(es->ds->corpus, es->ds->sim, es->queries + q * es->dim, ids, count,
                              scores);
        if (rc) return rc;
    } else {
        size_t cs = ecb_chain_inst_code_size(m->rb);
        const uint8_t *codes = ecb_chain_inst_codes(m->rb);
        uint8_t *gather = m->gather + worker * m->gather_stride;
        for (size_t i = 0; i < count; i++)
            memcpy(gather + i * cs, codes + (size_t)ids[i] * cs, cs);
        const ecb_method_vtable *vt = ecb_chain_inst_vt(m->rb);
        rc = vt->score((ecb_method *)ecb_chain_inst_quantizer(m->rb), m->rmode,
                       m->rq + q * m->rqsize, 1, gather, count, scores);
        if (rc) return ecb_fail(rc, "%s: rescoring score: %s", vt->name, ecb_last_error());
    }
    ecb_rank_sort(scores, ids, count, es->ds->doc_id_rank);
    return 0;
}

static int search(const measure *m, const uint8_t *prepared, size_t nq, size_t threads,
                  ecb_topk *out)
{
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = threads;
    const ecb_method_vtable *vt = ecb_chain_inst_vt(m->b);
    int rc = ecb_search_codes(ecb_chain_inst_quantizer(m->b), m->cell->mode, prepared, nq,
                              ecb_chain_inst_codes(m->b), m->n, m->k1, m->es->ds->doc_id_rank, &so,
                              out);
    if (rc) rc = ecb_fail(rc, "%s: search: %s", vt->name, ecb_last_error());
    return rc;
}

/* Queries per parallel task: each query is rescored on its own, so the
 * result does not depend on the grouping. */
enum { QUERY_TASK = 8 };

static int rescore_task(void *arg, size_t task, size_t worker)
{
    measure *m = arg;
    int rc = 0;
    size_t q1 = (task + 1) * QUERY_TASK < m->es->nq ? (task + 1) * QUERY_TASK : m->es->nq;
    for (size_t q = task * QUERY_TASK; !rc && q < q1; q++)
        rc = rescore_one(m, q, m->top.scores + q * m->top.k, m->top.ids + q * m->top.k,
                         m->top.count[q], worker);
    return rc;
}

/* Batch throughput: all queries, all threads (prepare + scan + rescore). */
static int batch(measure *m)
{
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    uint8_t *prepared = NULL;
    size_t qsize;
    double t0 = ecb_now();
    int rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries, m->es->nq, &prepared,
                                    &qsize);
    if (!rc) rc = search(m, prepared, m->es->nq, m->threads, &m->top);
    if (!rc && rs->factor)
        rc = ecb_parallel_for((m->es->nq + QUERY_TASK - 1) / QUERY_TASK, m->threads, rescore_task,
                              m);
    double tb = ecb_now() - t0;
    free(prepared);
    m->res->qps = tb > 0 ? (double)m->es->nq / tb : NAN;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
    if (n == 0) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

/* Latency: queries one at a time on one thread (prepare + scan + rescore),
 * the first latency_queries of them; on a large corpus each is a full scan,
 * so timing stops once ECB_LATENCY_BUDGET_S have been spent and at least
 * ECB_LATENCY_MIN_QUERIES were timed (README, results.csv). */
#define ECB_LATENCY_BUDGET_S 2.0
#define ECB_LATENCY_MIN_QUERIES 20
static int latency(measure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_rescore *rs = &cfg->rescores[m->cell->rescore];
    size_t nl = m->es->nq < cfg->latency_queries ? m->es->nq : cfg->latency_queries;
    double *lat = ecb_calloc(nz(nl), sizeof *lat);
    if (!lat) return ECB_ENOMEM;
    int rc = 0;
    double spent = 0;
    for (size_t q = 0; q < nl && !rc; q++) {
        if (spent > ECB_LATENCY_BUDGET_S && q >= ECB_LATENCY_MIN_QUERIES) {
            nl = q;
            break;
        }
        ecb_topk t1 = {0};
        uint8_t *p1 = NULL;
        size_t qs1;
        double a = ecb_now();
        rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries + q * m->es->dim, 1, &p1,
                                    &qs1);
        if (!rc) rc = search(m, p1, 1, 1, &t1);
        if (!rc && rs->factor) rc = rescore_one(m, q, t1.scores, t1.ids, t1.count[0], 0);
        lat[q] = (ecb_now() - a) * 1000.0;
        spent += lat[q] / 1000.0;
        free(p1);
        ecb_topk_release(&t1);
    }
    if (!rc) {
        m->res->p50 = percentile(lat, nl, 50);
        m->res->p95 = percentile(lat, nl, 95);
        m->res->p99 = percentile(lat, nl, 99);
    }
    free(lat);
    return rc;
}

typedef struct {
    const measure *m;
    float *ex; /* nq x maxk exact float32 scores of the retrieved lists */
} exact_job;

static int exact_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    exact_job *j = arg;
    const measure *m = j->m;
    const ecb_evalset *es = m->es;
    int rc = 0;
    size_t q1 = (task + 1) * QUERY_TASK < es->nq ? (task + 1) * QUERY_TASK : es->nq;
    for (size_t q = task * QUERY_TASK; !rc && q < q1; q++) {
        size_t cnt = m->top.count[q] < m->maxk ? m->top.count[q] : m->maxk;
        rc = ecb_exact_scores(es->ds->corpus, es->ds->sim, es->queries + q * es->dim,
                              m->top.ids + q * m->top.k, cnt, j->ex + q * m->maxk);
    }
    return rc;
}

/* Qrels metrics and kNN recall per query, and their means (summed in query
 * order, whatever the thread count). */
static int evaluate(measure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_evalset *es = m->es;
    ecb_cell_result *res = m->res;
    size_t nk = cfg->nk, nm = res->nm, nq = es->nq;
    res->mean = ecb_calloc(nm, sizeof *res->mean);
    res->perq = ecb_malloc_array(nz(nq * nm), sizeof *res->perq);
    res->qids = ecb_calloc(nz(nq), sizeof *res->qids);
    float *ex = ecb_malloc_array(nz(nq * m->maxk), sizeof *ex);
    double *one = ecb_malloc_array(nm, sizeof *one);
    int rc = res->mean && res->perq && res->qids && ex && one ? 0 : ECB_ENOMEM;
    exact_job ej = {m, ex};
    if (!rc) rc = ecb_parallel_for((nq + QUERY_TASK - 1) / QUERY_TASK, m->threads, exact_task, &ej);
    size_t evaluated = 0, skipped = 0;
    for (size_t q = 0; !rc && q < nq; q++) {
        double *pq = res->perq + q * nm;
        for (size_t i = 0; i < nm; i++) pq[i] = NAN;
        if (!(res->qids[q] = ecb_strdup(es->ds->query_ids[q]))) { rc = ECB_ENOMEM; break; }
        res->nq = q + 1;
        size_t cnt = m->top.count[q] < m->maxk ? m->top.count[q] : m->maxk;
        const int64_t *ids = m->top.ids + q * m->top.k;
        if (es->ds->qrels) {
            int sk = ecb_metrics_query(ids, cnt, es->ds->qrels->judg[q], es->ds->qrels->n_judg[q],
                                       cfg->ks, nk, one);
            if (sk < 0) { rc = sk; break; }
            if (sk) skipped++;
            else {
                evaluated++;
                for (size_t i = 0; i < (size_t)ECB_M_QRELS_COUNT * nk; i++) {
                    pq[i] = one[i];
                    res->mean[i] += one[i];
                }
            }
        }
        const float *exq = ex + q * m->maxk;
        for (size_t i = 0; !rc && i < nk; i++) {
            size_t k = cfg->ks[i];
            size_t kk = k < es->gt.count[q] ? k : es->gt.count[q];
            float kth = kk ? es->gt.scores[q * es->gt.k + kk - 1] : -INFINITY;
            double v = ecb_knn_recall(exq, cnt < k ? cnt : k, kk ? kk : 1, kth);
            pq[ECB_M_KNN * nk + i] = v;
            res->mean[ECB_M_KNN * nk + i] += v;
        }
    }
    free(one);
    free(ex);
    if (rc) return rc;
    for (size_t i = 0; i < nm; i++) {
        if (i < (size_t)ECB_M_QRELS_COUNT * nk)
            res->mean[i] = (es->ds->qrels && evaluated) ? res->mean[i] / (double)evaluated : NAN;
        else
            res->mean[i] = nq ? res->mean[i] / (double)nq : NAN;
    }
    res->n_skipped = es->ds->qrels ? (double)skipped : NAN;
    return 0;
}

/* TREC run file: exactly the ranked lists the metrics saw. */
static int write_trec_run(const measure *m)
{
    const ecb_evalset *es = m->es;
    ecb_buf b = {0};
    int rc = 0;
    for (size_t q = 0; !rc && q < es->nq; q++) {
        size_t cnt = m->top.count[q] < m->maxk ? m->top.count[q] : m->maxk;
        for (size_t i = 0; !rc && i < cnt; i++)
            rc = ecb_buf_printf(&b, "%s Q0 %s %zu %.9g %s\n", es->ds->query_ids[q],
                                es->ds->doc_ids[m->top.ids[q * m->top.k + i]], i + 1,
                                (double)m->top.scores[q * m->top.k + i], m->cell->id);
    }
    size_t pl = strlen(m->ctx->trec_dir) + 40;
    char *path = rc ? NULL : ecb_malloc(pl);
    if (!rc && !path) rc = ECB_ENOMEM;
    if (!rc) rc = ecb_mkdir_p(m->ctx->trec_dir);
    if (!rc) {
        snprintf(path, pl, "%s/%s.trec", m->ctx->trec_dir, m->cell->id);
        rc = ecb_write_file_atomic(path, b.p ? b.p : "", b.len);
    }
    free(path);
    ecb_buf_free(&b);
    return rc;
}

static int measure_all(measure *m)
{
    int rc;
    if ((rc = take_sample(m))) return rc;
    if ((rc = build_chain(m))) return rc;
    m->res->bpv = (double)ecb_chain_inst_code_size(m->b);
    m->res->aux = (double)ecb_chain_inst_aux_bytes(m->b);
    ecb_chain_inst_recon(m->b, m->sample, m->ns, &m->res->mse, &m->res->cosine);
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    m->k1 = rs->factor ? m->maxk * rs->factor : m->maxk;
    if (m->k1 > m->n) m->k1 = m->n;
    if (m->k1 == 0) m->k1 = 1;
    if ((rc = build_rescorer(m))) return rc;
    if ((rc = batch(m))) return rc;
    if ((rc = latency(m))) return rc;
    if ((rc = evaluate(m))) return rc;
    if (m->ctx->trec_dir && (rc = write_trec_run(m))) return rc;
    return 0;
}

/* Costs derived from the measured sizes. A rescored cell stores its codes
 * and the second representation: its total bytes per vector and its ratio
 * count both (aux bytes stay their own column, amortised by budgets). */
static void derive_costs(ecb_cell_result *r)
{
    double second = r->rescore_bytes > 0 ? r->rescore_bytes : 0;
    r->index_bytes = r->bpv * r->n_corpus + r->aux + second;
    r->total_bpv = r->n_corpus > 0 ? r->bpv + second / r->n_corpus : r->bpv;
    r->ratio = r->total_bpv > 0 ? 4.0 * r->dim / r->total_bpv : NAN;
    r->bits_per_dim = 8.0 * r->bpv / r->dim;
}

void ecb_cell_measure(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res)
{
    ecb_cell_result_init(res);
    const ecb_config *cfg = ctx->cfg;
    if (ecb_cell_identity(cfg, cell, ctx->es, res)) {
        ecb_cell_result_set_error(res, ECB_CELL_ERROR, "ENOMEM: out of memory");
        return;
    }
    res->peak_rss_mb = ecb_peak_rss_mb();
    if (cell->skip_reason || cell->budget_pending) { /* nothing fits its budget, or never resolved */
        ecb_cell_result_set_error(res, cell->skip_reason ? ECB_CELL_SKIPPED : ECB_CELL_ERROR,
                                  cell->skip_reason ? cell->skip_reason : "budget not resolved");
        return;
    }
    const ecb_stage *q = &cell->chain.stages[cell->chain.n - 1];
    uint32_t need = cell->mode == ECB_MODE_SYMMETRIC ? ECB_METHOD_SYMMETRIC : ECB_METHOD_ASYMMETRIC;
    if (!(q->plugin->vt.flags & need)) {
        char why[256];
        snprintf(why, sizeof why, "%s does not support %s scoring (flags 0x%x)", q->plugin->vt.name,
                 ecb_mode_name(cell->mode), q->plugin->vt.flags);
        ecb_cell_result_set_error(res, ECB_CELL_SKIPPED, why);
        return;
    }
    measure m = {.ctx = ctx, .cell = cell, .es = ctx->es, .res = res,
                 .n = ecb_vecs_count(ctx->es->ds->corpus), .maxk = cfg->ks[cfg->nk - 1],
                 .threads = cell->threads};
    ecb_clear_error();
    int rc = measure_all(&m);
    if (rc && m.b && !m.owns_b && ctx->cache) {
        /* a failing cell never leaves a possibly inconsistent chain behind */
        cache_clear(ctx->cache);
        m.b = NULL;
    }
    if (m.owns_b) ecb_chain_inst_destroy(m.b);
    ecb_chain_inst_destroy(m.rb);
    free(m.rq);
    free(m.gather);
    free(m.sample);
    ecb_topk_release(&m.top);
    res->peak_rss_mb = ecb_peak_rss_mb();
    if (rc) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s: %s", ecb_errname(rc), ecb_last_error());
        double rss = res->peak_rss_mb;
        ecb_cell_result_release(res);
        ecb_cell_identity(cfg, cell, ctx->es, res);
        res->peak_rss_mb = rss;
        /* an allocation that failed (e.g. at memory_limit_mb) is an oom */
        ecb_cell_result_set_error(res, rc == ECB_ENOMEM ? ECB_CELL_OOM : ECB_CELL_ERROR, msg);
        return;
    }
    derive_costs(res);
}
