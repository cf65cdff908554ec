/* Measuring one cell: chain, sample, search, rescoring, latency, metrics
 * (multi-vector datasets: harness/cell_mv.c, with the pieces shared here;
 * the chain cache's small API for it puts this file just over 600 lines). */
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
#include "harness/maxsim.h"
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
    void *extra;                /* stored with inst (multi-vector: its token index) */
    void (*extra_free)(void *);
};

int ecb_chain_cache_create(ecb_chain_cache **out)
{
    *out = ecb_calloc(1, sizeof **out);
    return *out ? 0 : ECB_ENOMEM;
}

void ecb_chain_cache_destroy(ecb_chain_cache *c)
{
    if (!c) return;
    ecb_chain_cache_drop(c);
    free(c);
}

void ecb_chain_cache_drop(ecb_chain_cache *c)
{
    ecb_chain_inst_destroy(c->inst);
    if (c->extra_free) c->extra_free(c->extra);
    c->inst = NULL;
    c->extra = NULL;
    c->extra_free = NULL;
    c->key[0] = '\0';
    c->es = NULL;
}

ecb_chain_inst *ecb_chain_cache_find(ecb_chain_cache *c, const char *key, const ecb_evalset *es,
                                     double *train_s, double *encode_vps, void **extra)
{
    if (!c || !c->inst || c->es != es || strcmp(c->key, key) != 0) return NULL;
    *train_s = c->train_s;
    *encode_vps = c->encode_vps;
    if (extra) *extra = c->extra;
    return c->inst;
}

void ecb_chain_cache_put(ecb_chain_cache *c, const char *key, const ecb_evalset *es,
                         ecb_chain_inst *b, double train_s, double encode_vps, void *extra,
                         void (*extra_free)(void *))
{
    ecb_chain_cache_drop(c);
    c->inst = b;
    snprintf(c->key, sizeof c->key, "%s", key);
    c->es = es;
    c->train_s = train_s;
    c->encode_vps = encode_vps;
    c->extra = extra;
    c->extra_free = extra_free;
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
        r->corpus_size = r->n_corpus = (double)ecb_dataset_n_corpus(es->ds);
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
    size_t sample_mapped;    /* ecb_big_alloc's, for ecb_big_free */
    ecb_chain_inst *b;       /* the cell's chain (owned by the cache when cached) */
    int owns_b;
    ecb_rescorer rs;         /* the rescoring representation */
    size_t k1;               /* candidates per query from the first stage */
    ecb_topk top;
} measure;

int ecb_cell_sample_rows(const ecb_config *cfg, size_t n, size_t **rows, size_t *ns)
{
    *ns = n < cfg->train_size ? n : cfg->train_size;
    if (!(*rows = ecb_malloc_array(nz(*ns), sizeof **rows))) return ECB_ENOMEM;
    ecb_rng rng;
    ecb_rng_seed2(&rng, cfg->seed, 0x7a1); /* from the corpus only, never the queries */
    ecb_rng_sample(&rng, n, *ns, *rows);
    return 0;
}

static int take_sample(measure *m)
{
    size_t *rows = NULL;
    int rc = ecb_cell_sample_rows(m->ctx->cfg, m->n, &rows, &m->ns);
    size_t bytes;
    if (!rc && !ecb_mul_ok(m->ns, m->es->dim * sizeof(float), &bytes))
        rc = ecb_fail(ECB_ENOMEM, "training sample of %zu x %zu floats overflows", m->ns, m->es->dim);
    if (!rc && !(m->sample = ecb_big_alloc(bytes, &m->sample_mapped))) rc = ECB_ENOMEM;
    if (!rc) rc = ecb_vecs_read_rows(m->es->ds->corpus, rows, m->ns, m->sample);
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
    if (cache) ecb_chain_cache_drop(cache);
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
int ecb_rescorer_build(const ecb_cell_ctx *ctx, const ecb_cell *cell, const ecb_vecs *corpus,
                       size_t n, const float *sample, size_t ns, size_t k1, ecb_rescorer *r,
                       double *bytes)
{
    const ecb_config *cfg = ctx->cfg;
    const ecb_evalset *es = ctx->es;
    const ecb_rescore *rs = &cfg->rescores[cell->rescore];
    memset(r, 0, sizeof *r);
    *bytes = 0;
    if (!rs->factor) return 0;
    if (rs->with_float32) {
        *bytes = (double)n * (double)es->dim * sizeof(float);
        return 0;
    }
    int rc = ecb_chain_inst_create(&rs->with, es->dim, ecb_evalset_method_sim(es),
                                   cfg->seed ^ 0x9e3779b97f4a7c15ull, cell->threads, &r->rb);
    if (!rc) rc = ecb_chain_inst_train(r->rb, sample, ns);
    if (!rc) rc = ecb_chain_inst_encode(r->rb, corpus, es->ds->sim == ECB_DS_COSINE,
                                        cell->threads, cfg->block_rows);
    if (rc) return rc;
    *bytes = (double)ecb_chain_inst_code_size(r->rb) * (double)n +
             (double)ecb_chain_inst_aux_bytes(r->rb);
    uint32_t fl = ecb_chain_inst_vt(r->rb)->flags;
    r->rmode = (fl & ECB_METHOD_ASYMMETRIC) ? ECB_MODE_ASYMMETRIC : ECB_MODE_SYMMETRIC;
    rc = ecb_chain_inst_prepare(r->rb, r->rmode, es->queries, es->nq, &r->rq, &r->rqsize);
    r->gather_stride = nz(k1) * nz(ecb_chain_inst_code_size(r->rb));
    if (!rc && !(r->gather = ecb_malloc_array(nz(cell->threads), r->gather_stride)))
        rc = ECB_ENOMEM;
    return rc;
}

int ecb_rescorer_score(const ecb_rescorer *r, const ecb_evalset *es, const ecb_vecs *corpus,
                       size_t q, const int64_t *rows, size_t count, float *scores, size_t worker)
{
    if (!r->rb)
        return ecb_exact_scores(corpus, es->ds->sim, es->queries + q * es->dim, rows, count,
                                scores);
    size_t cs = ecb_chain_inst_code_size(r->rb);
    const uint8_t *codes = ecb_chain_inst_codes(r->rb);
    uint8_t *gather = r->gather + worker * r->gather_stride;
    for (size_t i = 0; i < count; i++) memcpy(gather + i * cs, codes + (size_t)rows[i] * cs, cs);
    const ecb_method_vtable *vt = ecb_chain_inst_vt(r->rb);
    int rc = vt->score((ecb_method *)ecb_chain_inst_quantizer(r->rb), r->rmode,
                       r->rq + q * r->rqsize, 1, gather, count, scores);
    return rc ? ecb_fail(rc, "%s: rescoring score: %s", vt->name, ecb_last_error()) : 0;
}

void ecb_rescorer_release(ecb_rescorer *r)
{
    ecb_chain_inst_destroy(r->rb);
    free(r->rq);
    free(r->gather);
    memset(r, 0, sizeof *r);
}

/* Re-rank the count candidates of query q with the rescoring representation
 * (scores replaced, in the one ranking order). */
static int rescore_one(const measure *m, size_t q, float *scores, int64_t *ids, size_t count,
                       size_t worker)
{
    int rc = ecb_rescorer_score(&m->rs, m->es, m->es->ds->corpus, q, ids, count, scores, worker);
    if (!rc) ecb_rank_sort(scores, ids, count, m->es->ds->doc_id_rank);
    return rc;
}

static int search(const measure *m, const uint8_t *prepared, size_t nq, size_t threads,
                  ecb_topk *out)
{
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = threads;
    if (m->ctx->cfg->block_rows) so.block_rows = m->ctx->cfg->block_rows; /* the config's bound */
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

typedef struct rescore_job {
    measure *m;
    ecb_topk *top;
} rescore_job;

static int rescore_task(void *arg, size_t task, size_t worker)
{
    rescore_job *j = arg;
    ecb_topk *t = j->top;
    int rc = 0;
    size_t q1 = (task + 1) * QUERY_TASK < t->nq ? (task + 1) * QUERY_TASK : t->nq;
    for (size_t q = task * QUERY_TASK; !rc && q < q1; q++)
        rc = rescore_one(j->m, q, t->scores + q * t->k, t->ids + q * t->k, t->count[q], worker);
    return rc;
}

/* One batch pass: all queries, all threads (prepare + scan + rescore). */
static int batch_pass(void *arg, ecb_topk *out)
{
    measure *m = arg;
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    uint8_t *prepared = NULL;
    size_t qsize;
    int rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries, m->es->nq, &prepared,
                                    &qsize);
    if (!rc) rc = search(m, prepared, m->es->nq, m->threads, out);
    free(prepared);
    rescore_job j = {m, out};
    if (!rc && rs->factor)
        rc = ecb_parallel_for((m->es->nq + QUERY_TASK - 1) / QUERY_TASK, m->threads, rescore_task,
                              &j);
    return rc;
}

/* The ranked lists of a repeated pass against the first one's, bit for bit. */
static int same_topk(const ecb_topk *a, const ecb_topk *b, size_t pass)
{
    for (size_t q = 0; q < a->nq; q++) {
        size_t n = a->count[q] > b->count[q] ? a->count[q] : b->count[q];
        for (size_t r = 0; r < n && r < a->k; r++) {
            size_t i = q * a->k + r;
            if (a->ids[i] == b->ids[i] && memcmp(&a->scores[i], &b->scores[i], sizeof(float)) == 0)
                continue;
            return ecb_fail(ECB_EINTERNAL,
                            "batch pass %zu ranked query %zu differently from pass 1 at rank %zu "
                            "(row %lld score %.9g, pass 1: row %lld score %.9g): the method's "
                            "scores are not deterministic",
                            pass, q, r + 1, (long long)b->ids[i], (double)b->scores[i],
                            (long long)a->ids[i], (double)a->scores[i]);
        }
    }
    return 0;
}

int ecb_cell_batch(size_t nq, int (*pass)(void *ctx, ecb_topk *out), void *ctx, ecb_topk *top,
                   ecb_cell_result *res)
{
    double t[ECB_QPS_PASSES], spent = 0;
    size_t np = 0;
    while (np < ECB_QPS_PASSES && (np == 0 || spent < ECB_QPS_BUDGET_S)) {
        ecb_topk again = {0}, *out = np ? &again : top;
        double a = ecb_now();
        int rc = pass(ctx, out);
        t[np] = ecb_now() - a;
        spent += t[np++];
        if (!rc && out != top) rc = same_topk(top, out, np);
        ecb_topk_release(&again);
        if (rc) return rc;
    }
    double tb = ecb_percentile(t, np, 50);
    res->qps = tb > 0 ? (double)nq / tb : NAN;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double ecb_percentile(double *v, size_t n, double p)
{
    if (n == 0) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (v[hi] - v[lo]) * (pos - (double)lo);
}

int ecb_cell_latency(const ecb_config *cfg, size_t nq, int (*one)(void *ctx, size_t q),
                     void *ctx, ecb_cell_result *res)
{
    size_t nl = nq < cfg->latency_queries ? nq : cfg->latency_queries;
    double *lat = ecb_calloc(nz(nl), sizeof *lat), spent = 0;
    if (!lat) return ECB_ENOMEM;
    int rc = 0;
    for (size_t q = 0; q < nl && !rc; q++) {
        if (spent > ECB_LATENCY_BUDGET_S && q >= ECB_LATENCY_MIN_QUERIES) {
            nl = q;
            break;
        }
        double a = ecb_now();
        rc = one(ctx, q);
        lat[q] = (ecb_now() - a) * 1000.0;
        spent += lat[q] / 1000.0;
    }
    if (!rc) {
        res->p50 = ecb_percentile(lat, nl, 50);
        res->p95 = ecb_percentile(lat, nl, 95);
        res->p99 = ecb_percentile(lat, nl, 99);
    }
    free(lat);
    return rc;
}

/* One query on one thread: prepare + scan + rescore. */
static int latency_one(void *arg, size_t q)
{
    measure *m = arg;
    ecb_topk t1 = {0};
    uint8_t *p1 = NULL;
    size_t qs1;
    int rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries + q * m->es->dim, 1, &p1,
                                    &qs1);
    if (!rc) rc = search(m, p1, 1, 1, &t1);
    if (!rc && m->ctx->cfg->rescores[m->cell->rescore].factor)
        rc = rescore_one(m, q, t1.scores, t1.ids, t1.count[0], 0);
    free(p1);
    ecb_topk_release(&t1);
    return rc;
}

typedef struct {
    const ecb_evalset *es;
    const ecb_topk *top;
    size_t maxk;
    float *ex; /* nq x maxk exact float32 scores of the retrieved lists */
} exact_job;

static int exact_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    exact_job *j = arg;
    const ecb_evalset *es = j->es;
    const ecb_topk *top = j->top;
    int rc = 0;
    size_t q1 = (task + 1) * QUERY_TASK < es->nq ? (task + 1) * QUERY_TASK : es->nq;
    for (size_t q = task * QUERY_TASK; !rc && q < q1; q++) {
        size_t cnt = top->count[q] < j->maxk ? top->count[q] : j->maxk;
        rc = ecb_exact_scores(es->ds->corpus, es->ds->sim, es->queries + q * es->dim,
                              top->ids + q * top->k, cnt, j->ex + q * j->maxk);
    }
    return rc;
}

/* Qrels metrics and kNN recall per query, and their means (summed in query
 * order, whatever the thread count). */
int ecb_cell_evaluate(const ecb_config *cfg, const ecb_evalset *es, const ecb_topk *top,
                      const float *exact, size_t threads, ecb_cell_result *res)
{
    size_t nk = cfg->nk, nm = res->nm, nq = es->nq, maxk = cfg->ks[cfg->nk - 1];
    res->mean = ecb_calloc(nm, sizeof *res->mean);
    res->perq = ecb_malloc_array(nz(nq * nm), sizeof *res->perq);
    res->qids = ecb_calloc(nz(nq), sizeof *res->qids);
    float *ex = ecb_malloc_array(nz(nq * maxk), sizeof *ex);
    double *one = ecb_malloc_array(nm, sizeof *one);
    int rc = res->mean && res->perq && res->qids && ex && one ? 0 : ECB_ENOMEM;
    exact_job ej = {es, top, maxk, ex};
    if (!rc && exact) memcpy(ex, exact, nq * maxk * sizeof *ex);
    else if (!rc)
        rc = ecb_parallel_for((nq + QUERY_TASK - 1) / QUERY_TASK, threads, exact_task, &ej);
    size_t evaluated = 0, skipped = 0;
    for (size_t q = 0; !rc && q < nq; q++) {
        double *pq = res->perq + q * nm;
        for (size_t i = 0; i < nm; i++) pq[i] = NAN;
        if (!(res->qids[q] = ecb_strdup(es->ds->query_ids[q]))) { rc = ECB_ENOMEM; break; }
        res->nq = q + 1;
        size_t cnt = top->count[q] < maxk ? top->count[q] : maxk;
        const int64_t *ids = top->ids + q * top->k;
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
        const float *exq = ex + q * maxk;
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
int ecb_cell_write_trec(const char *trec_dir, const ecb_evalset *es, const ecb_cell *cell,
                        const ecb_topk *top, size_t maxk)
{
    ecb_buf b = {0};
    int rc = 0;
    for (size_t q = 0; !rc && q < es->nq; q++) {
        size_t cnt = top->count[q] < maxk ? top->count[q] : maxk;
        for (size_t i = 0; !rc && i < cnt; i++)
            rc = ecb_buf_printf(&b, "%s Q0 %s %zu %.9g %s\n", es->ds->query_ids[q],
                                es->ds->doc_ids[top->ids[q * top->k + i]], i + 1,
                                (double)top->scores[q * top->k + i], cell->id);
    }
    size_t pl = strlen(trec_dir) + 40;
    char *path = rc ? NULL : ecb_malloc(pl);
    if (!rc && !path) rc = ECB_ENOMEM;
    if (!rc) rc = ecb_mkdir_p(trec_dir);
    if (!rc) {
        snprintf(path, pl, "%s/%s.trec", trec_dir, cell->id);
        rc = ecb_write_file_atomic(path, b.p ? b.p : "", b.len);
    }
    free(path);
    ecb_buf_free(&b);
    return rc;
}

void ecb_cell_chain_columns(const ecb_chain_inst *b, const float *sample, size_t ns,
                            ecb_cell_result *res)
{
    res->bpv = (double)ecb_chain_inst_code_size(b);
    res->aux = (double)ecb_chain_inst_aux_bytes(b);
    ecb_chain_inst_recon(b, sample, ns, &res->mse, &res->cosine);
}

size_t ecb_cell_k1(const ecb_config *cfg, const ecb_cell *cell, size_t n)
{
    const ecb_rescore *rs = &cfg->rescores[cell->rescore];
    size_t maxk = cfg->ks[cfg->nk - 1];
    size_t k1 = rs->factor ? maxk * rs->factor : maxk;
    if (k1 > n) k1 = n;
    return k1 ? k1 : 1;
}

static int measure_all(measure *m)
{
    int rc;
    if ((rc = take_sample(m))) return rc;
    if ((rc = build_chain(m))) return rc;
    ecb_cell_chain_columns(m->b, m->sample, m->ns, m->res);
    m->k1 = ecb_cell_k1(m->ctx->cfg, m->cell, m->n);
    if ((rc = ecb_rescorer_build(m->ctx, m->cell, m->es->ds->corpus, m->n, m->sample, m->ns, m->k1,
                                 &m->rs, &m->res->rescore_bytes)))
        return rc;
    if ((rc = ecb_cell_batch(m->es->nq, batch_pass, m, &m->top, m->res))) return rc;
    if ((rc = ecb_cell_latency(m->ctx->cfg, m->es->nq, latency_one, m, m->res))) return rc;
    if ((rc = ecb_cell_evaluate(m->ctx->cfg, m->es, &m->top, NULL, m->threads, m->res)))
        return rc;
    if (m->ctx->trec_dir &&
        (rc = ecb_cell_write_trec(m->ctx->trec_dir, m->es, m->cell, &m->top, m->maxk)))
        return rc;
    return 0;
}

/* Costs derived from the measured sizes. A rescored cell stores its codes
 * and the second representation: its total bytes per vector and its ratio
 * count both (aux bytes stay their own column, amortised by budgets).
 * Multi-vector (tokens_kept set): the codes' bytes and bits_per_dim (per
 * stored token coordinate) are measured, bytes per vector are per document
 * and the ratio is against the float32 copy of every corpus token. */
static void derive_costs(ecb_cell_result *r)
{
    double second = r->rescore_bytes > 0 ? r->rescore_bytes : 0;
    if (r->tokens_kept == r->tokens_kept) {
        double code = r->index_bytes - r->aux;
        r->index_bytes += second;
        r->total_bpv = r->n_corpus > 0 ? r->bpv + second / r->n_corpus : r->bpv;
        r->ratio = code + second > 0 ? 4.0 * r->dim * r->corpus_tokens / (code + second) : NAN;
        return;
    }
    r->index_bytes = r->bpv * r->n_corpus + r->aux + second;
    r->total_bpv = r->n_corpus > 0 ? r->bpv + second / r->n_corpus : r->bpv;
    r->ratio = r->total_bpv > 0 ? 4.0 * r->dim / r->total_bpv : NAN;
    r->bits_per_dim = 8.0 * r->bpv / r->dim;
}

void ecb_cell_measure_with(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res,
                           ecb_cell_body body, void *arg)
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
    ecb_clear_error();
    int rc = body(arg, res);
    /* a body may have set a larger peak (another process's) */
    double rss = ecb_peak_rss_mb();
    if (!(res->peak_rss_mb >= rss)) res->peak_rss_mb = rss;
    if (rc) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s: %s", ecb_errname(rc), ecb_last_error());
        rss = res->peak_rss_mb;
        ecb_cell_result_release(res);
        ecb_cell_identity(cfg, cell, ctx->es, res);
        res->peak_rss_mb = rss;
        /* an allocation that failed (e.g. at memory_limit_mb) is an oom; a
         * plugin refusing what its parameters cannot do (ECB_ENOTSUP, e.g.
         * kmeans hamming=true in asymmetric mode) is a skip with its reason */
        ecb_cell_result_set_error(res, rc == ECB_ENOMEM    ? ECB_CELL_OOM
                                       : rc == ECB_ENOTSUP ? ECB_CELL_SKIPPED
                                                           : ECB_CELL_ERROR, msg);
        return;
    }
    derive_costs(res);
}

typedef struct {
    const ecb_cell_ctx *ctx;
    const ecb_cell *cell;
} local_arg;

/* The measurement in this process (the chain may come from the cache). */
static int measure_local(void *arg, ecb_cell_result *res)
{
    const local_arg *a = arg;
    const ecb_cell_ctx *ctx = a->ctx;
    const ecb_config *cfg = ctx->cfg;
    const ecb_rescore *rsc = &cfg->rescores[a->cell->rescore];
    if (ecb_chain_selects(&a->cell->chain) || (rsc->factor && ecb_chain_selects(&rsc->with)))
        return ecb_fail(ECB_ENOTSUP, "token selection (%s) needs a multi-vector dataset; %s has one "
                        "vector per document", a->cell->method_col, ctx->es->ds->name);
    measure m = {.ctx = ctx, .cell = a->cell, .es = ctx->es, .res = res,
                 .n = ecb_vecs_count(ctx->es->ds->corpus), .maxk = cfg->ks[cfg->nk - 1],
                 .threads = a->cell->threads};
    int rc = measure_all(&m);
    if (rc && m.b && !m.owns_b && ctx->cache) {
        /* a failing cell never leaves a possibly inconsistent chain behind */
        ecb_chain_cache_drop(ctx->cache);
        m.b = NULL;
    }
    if (m.owns_b) ecb_chain_inst_destroy(m.b);
    ecb_rescorer_release(&m.rs);
    ecb_big_free(m.sample, m.sample_mapped);
    ecb_topk_release(&m.top);
    return rc;
}

static int measure_mv(void *arg, ecb_cell_result *res)
{
    const local_arg *a = arg;
    return ecb_cell_measure_mv(a->ctx, a->cell, res);
}

void ecb_cell_measure(const ecb_cell_ctx *ctx, const ecb_cell *cell, ecb_cell_result *res)
{
    local_arg a = {ctx, cell};
    ecb_cell_measure_with(ctx, cell, res, ctx->es->ds->mv ? measure_mv : measure_local, &a);
}
