/*
 * The sweep runner. Per cell: create the chain's stages, train them on a
 * seeded corpus sample, encode the corpus block by block (threads split the
 * blocks), prepare the queries, search the codes, optionally rescore, and
 * compute every metric against the qrels and the exact float32 top-k. Rows
 * are appended with one write() each, so a kill leaves whole rows only, and
 * a re-run resumes after the last finished cell.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "ecbench/ecbmath.h"
#include "harness/env.h"
#include "harness/isolate.h"
#include "harness/metrics.h"
#include "harness/progress.h"
#include "harness/runner.h"
#include "harness/search.h"
#include "reports/reports.h"
#include "reports/results_csv.h"


static size_t nz(size_t v) { return v ? v : 1; }

static ecb_similarity method_sim(ecb_ds_similarity s)
{
    return s == ECB_DS_L2 ? ECB_SIM_L2 : ECB_SIM_DOT;
}

static const char *mode_name(ecb_mode m)
{
    return m == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric";
}

static uint64_t mix_seed(uint64_t seed, uint64_t tag)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, &seed, sizeof seed);
    ecb_hash_update(&h, &tag, sizeof tag);
    return ecb_hash_final(&h);
}

/* ---- datasets and their float32 reference -------------------------------- */

typedef struct {
    ecb_dataset *ds;      /* the (sub)set evaluated */
    float *queries;       /* nq x dim, as given (normalised when cosine) */
    size_t nq, dim;
    ecb_topk gt;          /* exact top-K with exact scores */
    int have_gt;
    size_t K;
} ds_state;

static void ds_state_free(ds_state *s)
{
    if (!s) return;
    ecb_dataset_free(s->ds);
    free(s->queries);
    ecb_topk_release(&s->gt);
    memset(s, 0, sizeof *s);
}

static const char *cache_dir(void)
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

static int cmp_szt(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* A nested subset: every judged document, then documents in a seeded
 * permutation (fixed per dataset, so smaller sizes are prefixes of larger
 * ones), rows kept in their original order. */
static int make_subset(const ecb_dataset *full, size_t size, uint64_t seed, ecb_dataset **out)
{
    size_t n = ecb_vecs_count(full->corpus);
    unsigned char *keep = ecb_calloc(n, 1);
    size_t *perm = ecb_malloc_array(n, sizeof *perm);
    size_t *rows = ecb_malloc_array(nz(size), sizeof *rows);
    ecb_dataset *d = ecb_calloc(1, sizeof *d);
    int rc = 0;
    if (!keep || !perm || !rows || !d) { rc = ECB_ENOMEM; goto done; }
    size_t judged = 0;
    if (full->qrels)
        for (size_t q = 0; q < full->qrels->n_queries; q++)
            for (size_t j = 0; j < full->qrels->n_judg[q]; j++) {
                int64_t doc = full->qrels->judg[q][j].doc;
                if (doc >= 0 && !keep[doc]) { keep[doc] = 1; judged++; }
            }
    if (size < judged) {
        rc = ecb_fail(ECB_EINVAL, "%s: corpus size %zu is smaller than the %zu judged documents, "
                      "which every subset keeps", full->name, size, judged);
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep[i]) perm[m++] = i;
    ecb_rng r;
    ecb_rng_seed2(&r, seed, 0x5b5e7);
    for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
        size_t j = ecb_rng_below(&r, i);
        size_t t = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = t;
    }
    for (size_t i = 0; i < size - judged; i++) keep[perm[i]] = 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) rows[k++] = i;
    qsort(rows, k, sizeof *rows, cmp_szt);
    int64_t *remap = (int64_t *)perm; /* reuse: old row -> new row */
    for (size_t i = 0; i < n; i++) remap[i] = -1;
    for (size_t i = 0; i < k; i++) remap[rows[i]] = (int64_t)i;

    char nm[512];
    snprintf(nm, sizeof nm, "%s", full->name);
    d->name = ecb_strdup(nm);
    d->source = ecb_strdup(full->source ? full->source : "");
    d->sim = full->sim;
    if ((rc = ecb_vecs_subset(full->corpus, rows, k, &d->corpus))) goto done;
    d->queries = ecb_vecs_ref(full->queries);
    size_t nq = ecb_vecs_count(full->queries);
    d->doc_ids = ecb_calloc(k, sizeof *d->doc_ids);
    d->query_ids = ecb_calloc(nq, sizeof *d->query_ids);
    if (!d->doc_ids || !d->query_ids) { rc = ECB_ENOMEM; goto done; }
    for (size_t i = 0; i < k; i++) d->doc_ids[i] = ecb_strdup(full->doc_ids[rows[i]]);
    for (size_t i = 0; i < nq; i++) d->query_ids[i] = ecb_strdup(full->query_ids[i]);
    if (full->qrels) {
        ecb_qrels *q = ecb_calloc(1, sizeof *q);
        d->qrels = q;
        q->n_queries = full->qrels->n_queries;
        q->judg = ecb_calloc(q->n_queries, sizeof *q->judg);
        q->n_judg = ecb_calloc(q->n_queries, sizeof *q->n_judg);
        for (size_t i = 0; i < q->n_queries; i++) {
            q->n_judg[i] = full->qrels->n_judg[i];
            q->judg[i] = ecb_malloc_array(nz(q->n_judg[i]), sizeof **q->judg);
            for (size_t j = 0; j < q->n_judg[i]; j++) {
                q->judg[i][j] = full->qrels->judg[i][j];
                if (q->judg[i][j].doc >= 0) q->judg[i][j].doc = remap[q->judg[i][j].doc];
            }
        }
        q->n_unknown_doc = full->qrels->n_unknown_doc;
        q->n_unknown_query = full->qrels->n_unknown_query;
        q->n_lines = full->qrels->n_lines;
    }
    rc = ecb_dataset_finish(d);
done:
    free(keep);
    free(perm);
    free(rows);
    if (rc) ecb_dataset_free(d);
    else *out = d;
    return rc;
}

static int read_queries(ds_state *s)
{
    s->nq = ecb_vecs_count(s->ds->queries);
    s->dim = ecb_vecs_dim(s->ds->queries);
    s->queries = ecb_malloc_array(nz(s->nq * s->dim), sizeof(float));
    if (!s->queries) return ECB_ENOMEM;
    int rc = ecb_vecs_read(s->ds->queries, 0, s->nq, s->queries);
    if (rc) return rc;
    if (s->ds->sim == ECB_DS_COSINE) ecb_normalize_rows(s->queries, s->nq, s->dim);
    return 0;
}

/* ---- the run context ------------------------------------------------------- */

typedef struct {
    const ecb_config *cfg;
    const ecb_run_opts *opts;
    char *dir;
    char results_path[4200], per_query_path[4200];
    ecb_dataset **full;   /* per config dataset */
    ds_state cur;         /* dataset/corpus size being evaluated */
    long cur_ds;
    size_t cur_size;
    size_t maxk;
    double rss_override;  /* peak_rss_mb of rows the parent writes for a dead child */
    /* The last trained and encoded chain: consecutive cells that differ only
     * in mode or rescoring reuse it (timings are those of its one build). */
    struct built_chain *cache;
    char cache_key[8192];
    long cache_ds;
    size_t cache_size;
    double cache_train_s, cache_encode_vps;
} run_ctx;

static int ensure_ds(run_ctx *rc_, const ecb_cell *cell)
{
    if (rc_->cur_ds == (long)cell->dataset && rc_->cur_size == cell->corpus_size) return 0;
    ds_state_free(&rc_->cur);
    rc_->cur_ds = -1;
    ecb_dataset *full = rc_->full[cell->dataset];
    ds_state *s = &rc_->cur;
    int rc;
    size_t n = ecb_vecs_count(full->corpus);
    if (cell->corpus_size && cell->corpus_size < n) {
        rc = make_subset(full, cell->corpus_size, rc_->cfg->seed, &s->ds);
        if (rc) return rc;
    } else {
        /* the full corpus goes through the same path (identity subset) */
        rc = make_subset(full, n, rc_->cfg->seed, &s->ds);
        if (rc) return rc;
    }
    if ((rc = read_queries(s))) return rc;
    s->K = rc_->maxk;
    if (s->K > ecb_vecs_count(s->ds->corpus)) s->K = ecb_vecs_count(s->ds->corpus);
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = rc_->cfg->threads;
    if (rc_->cfg->block_rows) so.block_rows = rc_->cfg->block_rows;
    double t0 = ecb_now();
    rc = ecb_groundtruth(s->ds, s->K ? s->K : 1, cache_dir(), &so, &s->gt);
    if (rc) return rc;
    s->have_gt = 1;
    if (!rc_->opts->quiet)
        ecb_log(ECB_LOG_INFO, "%s: exact float32 top-%zu for %zu queries over %zu vectors (%.2f s)",
                s->ds->name, s->K, s->nq, ecb_vecs_count(s->ds->corpus), ecb_now() - t0);
    /* Cross-check provided ground truth (full corpus only). */
    if (full->gt && (!cell->corpus_size || cell->corpus_size >= n) && full->gt_k && s->K) {
        size_t kk = full->gt_k < s->K ? full->gt_k : s->K, agree = 0, tot = 0;
        for (size_t q = 0; q < s->nq; q++)
            for (size_t i = 0; i < kk; i++) {
                int32_t g = full->gt[q * full->gt_k + i];
                for (size_t j = 0; j < kk; j++)
                    if (s->gt.ids[q * s->gt.k + j] == g) { agree++; break; }
                tot++;
            }
        ecb_log(agree == tot ? ECB_LOG_INFO : ECB_LOG_WARN,
                "%s: provided ground truth agrees with exact search on %zu of %zu top-%zu "
                "neighbours (ties may be ordered differently)", s->ds->name, agree, tot, kk);
    }
    rc_->cur_ds = (long)cell->dataset;
    rc_->cur_size = cell->corpus_size;
    return 0;
}

/* ---- one chain: stages, training, encoding --------------------------------- */

typedef struct built_chain {
    const ecb_chain *chain;
    ecb_host hosts[16];
    ecb_method *m[16];
    size_t dims[17];       /* dims[i] = input dim of stage i */
    size_t n;
    size_t code_size;
    uint8_t *codes;        /* n_corpus x code_size */
} built_chain;

static void chain_destroy(built_chain *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->m[i]) b->chain->stages[i].plugin->vt.destroy(b->m[i]);
    free(b->codes);
    memset(b, 0, sizeof *b);
}

static const ecb_method_vtable *VT(const built_chain *b, size_t i)
{
    return &b->chain->stages[i].plugin->vt;
}

static int chain_create(built_chain *b, const ecb_chain *c, size_t dim, ecb_similarity sim,
                        uint64_t seed, size_t threads)
{
    memset(b, 0, sizeof *b);
    b->chain = c;
    b->dims[0] = dim;
    for (size_t i = 0; i < c->n; i++) {
        const ecb_method_vtable *vt = &c->stages[i].plugin->vt;
        ecb_host_init(&b->hosts[i], mix_seed(seed, i + 1), threads);
        ecb_clear_error();
        int rc = vt->create(&b->hosts[i], c->stages[i].params, b->dims[i], sim, &b->m[i]);
        b->n = i + 1;
        if (!rc && b->m[i]) b->m[i]->vt = vt;
        if (rc || !b->m[i]) {
            char lab[1200];
            ecb_stage_label(&c->stages[i], 1, lab, sizeof lab);
            b->m[i] = NULL;
            return ecb_fail(rc ? rc : ECB_EINTERNAL, "%s with input dimension %zu: %s", lab,
                            b->dims[i], ecb_last_error());
        }
        b->dims[i + 1] = (vt->flags & ECB_METHOD_TRANSFORM) ? vt->out_dim(b->m[i]) : b->dims[i];
        if (b->dims[i + 1] == 0)
            return ecb_fail(ECB_EINVAL, "%s: output dimension 0", vt->name);
    }
    return 0;
}

/* Apply the transforms of stages [0, last) to n rows; *out is malloc'd
 * unless no transform (then *out = x). */
static int chain_transform(const built_chain *b, size_t last, const float *x, size_t n,
                           float **out)
{
    const float *cur = x;
    float *owned = NULL;
    for (size_t i = 0; i < last; i++) {
        float *y = ecb_malloc_array(nz(n * b->dims[i + 1]), sizeof(float));
        if (!y) { free(owned); return ECB_ENOMEM; }
        int rc = VT(b, i)->transform(b->m[i], cur, n, y);
        free(owned);
        if (rc) { free(y); return rc; }
        owned = y;
        cur = y;
    }
    *out = (float *)cur;
    return 0;
}

static int chain_train(built_chain *b, const float *sample, size_t n)
{
    const float *cur = sample;
    float *owned = NULL;
    int rc = 0;
    for (size_t i = 0; i < b->n && !rc; i++) {
        const ecb_method_vtable *vt = VT(b, i);
        if (vt->train) {
            ecb_clear_error();
            rc = vt->train(b->m[i], cur, n);
            if (rc) {
                rc = ecb_fail(rc, "%s: train on %zu x %zu: %s", vt->name, n, b->dims[i],
                              ecb_last_error());
                break;
            }
        }
        if ((vt->flags & ECB_METHOD_TRANSFORM) && i + 1 < b->n) {
            float *y = ecb_malloc_array(nz(n * b->dims[i + 1]), sizeof(float));
            if (!y) { rc = ECB_ENOMEM; break; }
            rc = vt->transform(b->m[i], cur, n, y);
            free(owned);
            owned = y;
            cur = y;
        }
    }
    free(owned);
    return rc;
}

typedef struct {
    built_chain *b;
    const ecb_vecs *corpus;
    int normalize;
    size_t start, end, block;
    int rc;
    char err[1024];
} enc_job;

static void *enc_worker(void *arg)
{
    enc_job *j = arg;
    built_chain *b = j->b;
    size_t dim = b->dims[0], last = b->n - 1;
    float *x = ecb_malloc_array(j->block * dim, sizeof(float));
    if (!x) { j->rc = ECB_ENOMEM; return NULL; }
    for (size_t s = j->start; s < j->end && !j->rc; s += j->block) {
        size_t cnt = j->end - s < j->block ? j->end - s : j->block;
        int rc = ecb_vecs_read(j->corpus, s, cnt, x);
        if (!rc && j->normalize) ecb_normalize_rows(x, cnt, dim);
        float *y = NULL;
        if (!rc) rc = chain_transform(b, last, x, cnt, &y);
        if (!rc) {
            ecb_clear_error();
            rc = VT(b, last)->encode(b->m[last], y, cnt, b->codes + s * b->code_size);
            if (y != x) free(y);
        }
        if (rc) {
            j->rc = rc;
            snprintf(j->err, sizeof j->err, "%s", ecb_last_error());
        }
    }
    free(x);
    return NULL;
}

static int chain_encode(built_chain *b, const ecb_vecs *corpus, int normalize, size_t threads,
                        size_t block)
{
    size_t n = ecb_vecs_count(corpus), last = b->n - 1;
    b->code_size = VT(b, last)->code_size(b->m[last]);
    size_t bytes;
    if (!ecb_mul_ok(n, b->code_size, &bytes)) return ecb_fail(ECB_ENOMEM, "index size overflows");
    b->codes = ecb_malloc(bytes ? bytes : 1);
    if (!b->codes) return ECB_ENOMEM;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    enc_job jobs[64];
    pthread_t th[64];
    size_t per = (n + threads - 1) / threads;
    size_t started = 0;
    for (size_t t = 0; t < threads; t++) {
        jobs[t] = (enc_job){.b = b, .corpus = corpus, .normalize = normalize,
                            .start = t * per < n ? t * per : n,
                            .end = (t + 1) * per < n ? (t + 1) * per : n, .block = block};
        if (t == 0) continue;
        if (pthread_create(&th[t], NULL, enc_worker, &jobs[t]) == 0) started = t;
        else enc_worker(&jobs[t]);
    }
    enc_worker(&jobs[0]);
    for (size_t t = 1; t <= started; t++) pthread_join(th[t], NULL);
    for (size_t t = 0; t < threads; t++)
        if (jobs[t].rc) return ecb_fail(jobs[t].rc, "%s: encode: %s", VT(b, last)->name, jobs[t].err);
    return 0;
}

static size_t chain_aux(const built_chain *b)
{
    size_t a = 0;
    for (size_t i = 0; i < b->n; i++)
        if (VT(b, i)->aux_bytes) a += VT(b, i)->aux_bytes(b->m[i]);
    return a;
}

/* Queries through the transforms, then prepare() in mode. */
static int chain_prepare(const built_chain *b, ecb_mode mode, const float *q, size_t nq,
                         uint8_t **out, size_t *qsize)
{
    size_t last = b->n - 1;
    float *y;
    int rc = chain_transform(b, last, q, nq, &y);
    if (rc) return rc;
    *qsize = VT(b, last)->query_size(b->m[last], mode);
    *out = ecb_malloc_array(nz(nq * *qsize), 1);
    if (!*out) rc = ECB_ENOMEM;
    else {
        ecb_clear_error();
        rc = VT(b, last)->prepare(b->m[last], mode, y, nq, *out);
        if (rc) rc = ecb_fail(rc, "%s: prepare: %s", VT(b, last)->name, ecb_last_error());
    }
    if (y != q) free(y);
    return rc;
}

/* ---- one cell ---------------------------------------------------------- */

typedef struct {
    double train_s, encode_vps, p50, p95, p99, qps, mse, cosine;
    size_t bpv, aux, rescore_bytes, n_skipped;
    double *mean;     /* ECB_M_COUNT x nk */
    double *perq;     /* nq x ECB_M_COUNT x nk (NaN = not applicable) */
} cell_result;

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

typedef struct {
    built_chain *rb;       /* rescoring method, or NULL for float32 */
    ecb_mode rmode;
    uint8_t *rq;           /* prepared rescoring queries */
    size_t rqsize;
} rescorer;

/* Re-rank cand (count entries) of query q with the rescoring representation;
 * keeps the best kout in place (scores replaced). */
static int rescore_one(const ds_state *s, const rescorer *r, size_t q, float *scores,
                       int64_t *ids, size_t count, uint8_t *gather)
{
    int rc;
    if (!r->rb) {
        rc = ecb_exact_scores(s->ds->corpus, s->ds->sim, s->queries + q * s->dim, ids, count, scores);
        if (rc) return rc;
    } else {
        const built_chain *b = r->rb;
        size_t last = b->n - 1;
        for (size_t i = 0; i < count; i++)
            memcpy(gather + i * b->code_size, b->codes + (size_t)ids[i] * b->code_size, b->code_size);
        rc = VT(b, last)->score(b->m[last], r->rmode, r->rq + q * r->rqsize, 1, gather, count, scores);
        if (rc) return ecb_fail(rc, "%s: rescoring score: %s", VT(b, last)->name, ecb_last_error());
    }
    ecb_rank_sort(scores, ids, count, s->ds->doc_id_rank);
    return 0;
}

static int run_cell_inner(run_ctx *ctx, const ecb_cell *cell, cell_result *res)
{
    const ecb_config *cfg = ctx->cfg;
    ds_state *s = &ctx->cur;
    const ecb_rescore *rs = &cfg->rescores[cell->rescore];
    size_t n = ecb_vecs_count(s->ds->corpus), nk = cfg->nk, maxk = ctx->maxk;
    ecb_similarity sim = method_sim(s->ds->sim);
    int normalize = s->ds->sim == ECB_DS_COSINE;
    built_chain *bp = NULL, rb;
    memset(&rb, 0, sizeof rb);
    float *sample = NULL;
    size_t *rows = NULL;
    uint8_t *prepared = NULL, *gather = NULL;
    ecb_topk top = {0};
    rescorer r = {0};
    double *lat = NULL;
    float *ex = NULL;
    int rc;

    char key[8192];
    ecb_chain_label(&cell->chain, 1, key, sizeof key);
    int reuse = ctx->cache && ctx->cache_ds == (long)cell->dataset &&
                ctx->cache_size == cell->corpus_size && strcmp(ctx->cache_key, key) == 0;
    if (reuse) {
        bp = ctx->cache;
    } else {
        if (ctx->cache) { chain_destroy(ctx->cache); free(ctx->cache); ctx->cache = NULL; }
        bp = ecb_calloc(1, sizeof *bp);
        if (!bp) { rc = ECB_ENOMEM; goto out; }
        if ((rc = chain_create(bp, &cell->chain, s->dim, sim, cfg->seed, cfg->threads))) goto out;
    }
    /* training sample: seeded, from the corpus only */
    size_t ns = n < cfg->train_size ? n : cfg->train_size;
    rows = ecb_malloc_array(nz(ns), sizeof *rows);
    sample = ecb_malloc_array(nz(ns * s->dim), sizeof(float));
    if (!rows || !sample) { rc = ECB_ENOMEM; goto out; }
    ecb_rng rng;
    ecb_rng_seed2(&rng, cfg->seed, 0x7a1);
    ecb_rng_sample(&rng, n, ns, rows);
    if ((rc = ecb_vecs_read_rows(s->ds->corpus, rows, ns, sample))) goto out;
    if (normalize) ecb_normalize_rows(sample, ns, s->dim);

    double t0 = ecb_now();
    if (reuse) {
        res->train_s = ctx->cache_train_s;
        res->encode_vps = ctx->cache_encode_vps;
    } else {
        if ((rc = chain_train(bp, sample, ns))) goto out;
        res->train_s = ecb_now() - t0;
        t0 = ecb_now();
        if ((rc = chain_encode(bp, s->ds->corpus, normalize, cfg->threads, cfg->block_rows))) goto out;
        double enc = ecb_now() - t0;
        res->encode_vps = enc > 0 ? (double)n / enc : NAN;
    }
    res->bpv = bp->code_size;
    res->aux = chain_aux(bp);

    /* reconstruction quality on (up to) 4096 sample rows */
    size_t last = bp->n - 1;
    res->mse = res->cosine = NAN;
    if ((VT(bp, last)->flags & ECB_METHOD_DECODE) && ns > 0) {
        size_t nr = ns < 4096 ? ns : 4096, d = bp->dims[last];
        float *y = NULL, *yh = NULL;
        uint8_t *cd = ecb_malloc_array(nr, bp->code_size ? bp->code_size : 1);
        rc = chain_transform(bp, last, sample, nr, &y);
        if (!rc) yh = ecb_malloc_array(nr * d, sizeof(float));
        if (!rc && cd && yh && VT(bp, last)->encode(bp->m[last], y, nr, cd) == 0 &&
            VT(bp, last)->decode(bp->m[last], cd, nr, yh) == 0) {
            double se = 0, cs = 0;
            for (size_t i = 0; i < nr; i++) {
                double dot = 0, a2 = 0, b2 = 0;
                for (size_t t = 0; t < d; t++) {
                    double a = y[i * d + t], h = yh[i * d + t];
                    se += (a - h) * (a - h);
                    dot += a * h; a2 += a * a; b2 += h * h;
                }
                cs += (a2 > 0 && b2 > 0) ? dot / sqrt(a2 * b2) : (a2 == b2 ? 1.0 : 0.0);
            }
            res->mse = se / (double)(nr * d);
            res->cosine = cs / (double)nr;
        }
        if (y != sample) free(y);
        free(yh);
        free(cd);
        rc = 0;
    }

    /* rescoring representation */
    if (rs->factor) {
        if (rs->with_float32) {
            res->rescore_bytes = n * s->dim * sizeof(float);
        } else {
            if ((rc = chain_create(&rb, &rs->with, s->dim, sim, cfg->seed ^ 0x9e3779b97f4a7c15ull,
                                   cfg->threads)))
                goto out;
            if ((rc = chain_train(&rb, sample, ns))) goto out;
            if ((rc = chain_encode(&rb, s->ds->corpus, normalize, cfg->threads, cfg->block_rows)))
                goto out;
            res->rescore_bytes = rb.code_size * n + chain_aux(&rb);
            r.rb = &rb;
            uint32_t fl = VT(&rb, rb.n - 1)->flags;
            r.rmode = (fl & ECB_METHOD_ASYMMETRIC) ? ECB_MODE_ASYMMETRIC : ECB_MODE_SYMMETRIC;
            if ((rc = chain_prepare(&rb, r.rmode, s->queries, s->nq, &r.rq, &r.rqsize))) goto out;
        }
    }
    size_t k1 = rs->factor ? maxk * rs->factor : maxk;
    if (k1 > n) k1 = n;
    if (k1 == 0) k1 = 1;
    gather = ecb_malloc_array(k1, rb.code_size ? rb.code_size : 1);
    if (!gather) { rc = ECB_ENOMEM; goto out; }

    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = cfg->threads;

    /* batch throughput: all queries, all threads */
    size_t qsize;
    t0 = ecb_now();
    if ((rc = chain_prepare(bp, cell->mode, s->queries, s->nq, &prepared, &qsize))) goto out;
    rc = ecb_search_codes(bp->m[last], cell->mode, prepared, s->nq, bp->codes, n, k1,
                          s->ds->doc_id_rank, &so, &top);
    if (rc) { rc = ecb_fail(rc, "%s: search: %s", VT(bp, last)->name, ecb_last_error()); goto out; }
    if (rs->factor)
        for (size_t q = 0; q < s->nq; q++)
            if ((rc = rescore_one(s, &r, q, top.scores + q * top.k, top.ids + q * top.k,
                                  top.count[q], gather)))
                goto out;
    double tb = ecb_now() - t0;
    res->qps = tb > 0 ? (double)s->nq / tb : NAN;

    /* latency: queries one at a time on one thread (prepare + scan + rescore) */
    size_t nl = s->nq < cfg->latency_queries ? s->nq : cfg->latency_queries;
    lat = ecb_calloc(nl ? nl : 1, sizeof *lat);
    if (!lat) { rc = ECB_ENOMEM; goto out; }
    {
        ecb_search_opts one = so;
        one.threads = 1;
        openblas_set_num_threads(1);
        for (size_t q = 0; q < nl && !rc; q++) {
            ecb_topk t1 = {0};
            uint8_t *p1 = NULL;
            size_t qs1;
            double a = ecb_now();
            rc = chain_prepare(bp, cell->mode, s->queries + q * s->dim, 1, &p1, &qs1);
            if (!rc) rc = ecb_search_codes(bp->m[last], cell->mode, p1, 1, bp->codes, n, k1,
                                           s->ds->doc_id_rank, &one, &t1);
            if (!rc && rs->factor) rc = rescore_one(s, &r, q, t1.scores, t1.ids, t1.count[0], gather);
            lat[q] = (ecb_now() - a) * 1000.0;
            free(p1);
            ecb_topk_release(&t1);
        }
        openblas_set_num_threads((int)cfg->threads);
        if (rc) goto out;
    }
    res->p50 = percentile(lat, nl, 50);
    res->p95 = percentile(lat, nl, 95);
    res->p99 = percentile(lat, nl, 99);

    /* metrics */
    size_t nm = ECB_M_COUNT * nk;
    res->mean = ecb_calloc(nm, sizeof *res->mean);
    res->perq = ecb_malloc_array(nz(s->nq * nm), sizeof *res->perq);
    ex = ecb_malloc_array(nz(maxk), sizeof *ex);
    double *one = ecb_malloc_array(nm, sizeof *one);
    if (!res->mean || !res->perq || !ex || !one) { free(one); rc = ECB_ENOMEM; goto out; }
    size_t evaluated = 0;
    for (size_t q = 0; q < s->nq; q++) {
        double *pq = res->perq + q * nm;
        for (size_t i = 0; i < nm; i++) pq[i] = NAN;
        size_t cnt = top.count[q] < maxk ? top.count[q] : maxk;
        const int64_t *ids = top.ids + q * top.k;
        if (s->ds->qrels) {
            int skipped = ecb_metrics_query(ids, cnt, s->ds->qrels->judg[q], s->ds->qrels->n_judg[q],
                                            cfg->ks, nk, one);
            if (skipped < 0) {
                free(one);
                rc = skipped;
                goto out;
            }
            if (skipped) res->n_skipped++;
            else {
                evaluated++;
                for (size_t i = 0; i < (size_t)ECB_M_QRELS_COUNT * nk; i++) {
                    pq[i] = one[i];
                    res->mean[i] += one[i];
                }
            }
        }
        if ((rc = ecb_exact_scores(s->ds->corpus, s->ds->sim, s->queries + q * s->dim, ids, cnt, ex))) {
            free(one);
            goto out;
        }
        for (size_t i = 0; i < nk; i++) {
            size_t k = cfg->ks[i];
            size_t kk = k < s->gt.count[q] ? k : s->gt.count[q];
            float kth = kk ? s->gt.scores[q * s->gt.k + kk - 1] : -INFINITY;
            size_t nret = cnt < k ? cnt : k;
            double v = ecb_knn_recall(ex, nret, kk ? kk : 1, kth);
            pq[ECB_M_KNN * nk + i] = v;
            res->mean[ECB_M_KNN * nk + i] += v;
        }
    }
    free(one);
    for (size_t i = 0; i < nm; i++) {
        if (i < (size_t)ECB_M_QRELS_COUNT * nk)
            res->mean[i] = (s->ds->qrels && evaluated) ? res->mean[i] / (double)evaluated : NAN;
        else
            res->mean[i] = s->nq ? res->mean[i] / (double)s->nq : NAN;
    }

    /* TREC run file: exactly the ranked lists the metrics saw */
    if (ctx->opts->trec_run) {
        ecb_buf tb2 = {0};
        for (size_t q = 0; q < s->nq; q++) {
            size_t cnt = top.count[q] < maxk ? top.count[q] : maxk;
            for (size_t i = 0; i < cnt; i++)
                ecb_buf_printf(&tb2, "%s Q0 %s %zu %.9g %s\n", s->ds->query_ids[q],
                               s->ds->doc_ids[top.ids[q * top.k + i]], i + 1,
                               (double)top.scores[q * top.k + i], cell->id);
        }
        char path[4400];
        snprintf(path, sizeof path, "%s/runs", ctx->dir);
        rc = ecb_mkdir_p(path);
        snprintf(path, sizeof path, "%s/runs/%s.trec", ctx->dir, cell->id);
        if (!rc) rc = ecb_write_file_atomic(path, tb2.p ? tb2.p : "", tb2.len);
        ecb_buf_free(&tb2);
        if (rc) goto out;
    }
out:
    free(ex);
    free(lat);
    free(gather);
    free(prepared);
    free(r.rq);
    ecb_topk_release(&top);
    free(sample);
    free(rows);
    chain_destroy(&rb);
    if (bp && !rc && !reuse) {
        ctx->cache = bp;
        snprintf(ctx->cache_key, sizeof ctx->cache_key, "%s", key);
        ctx->cache_ds = (long)cell->dataset;
        ctx->cache_size = cell->corpus_size;
        ctx->cache_train_s = res->train_s;
        ctx->cache_encode_vps = res->encode_vps;
    } else if (bp && rc) {
        /* a failing cell never leaves a possibly inconsistent chain behind */
        chain_destroy(bp);
        free(bp);
        if (reuse) ctx->cache = NULL;
    }
    return rc;
}

/* Format the rows of a cell (ok, skipped or error). */
static void format_cell(const run_ctx *ctx, const ecb_cell *cell, const cell_result *res,
                        const char *status, const char *error, ecb_cell_output *o)
{
    const ecb_config *cfg = ctx->cfg;
    const ds_state *s = &ctx->cur;
    int have = s->ds != NULL && ctx->cur_ds == (long)cell->dataset;
    size_t nk = cfg->nk, nm = ECB_M_COUNT * nk;
    ecb_buf b = {0};
    ecb_csv_field(&b, cell->id, 1);
    ecb_csv_field(&b, have ? s->ds->name : cfg->datasets[cell->dataset].name
                                               ? cfg->datasets[cell->dataset].name : "?", 0);
    ecb_buf_printf(&b, ",%zu", have ? ecb_vecs_count(s->ds->corpus) : cell->corpus_size);
    ecb_csv_field(&b, cell->method_col, 0);
    ecb_csv_field(&b, cell->params_col, 0);
    ecb_csv_field(&b, cell->label_col, 0);
    ecb_csv_field(&b, mode_name(cell->mode), 0);
    ecb_csv_field(&b, cfg->rescores[cell->rescore].label, 0);
    if (have) ecb_buf_printf(&b, ",%zu,%zu,%zu", ecb_vecs_count(s->ds->corpus), s->nq, s->dim);
    else ecb_buf_printf(&b, ",,,");
    for (size_t i = 0; i < nm; i++) ecb_csv_num(&b, res && res->mean ? res->mean[i] : NAN);
    int ok = res && res->mean;
    double full_bytes = have ? 4.0 * (double)s->dim : NAN;
    size_t n = have ? ecb_vecs_count(s->ds->corpus) : 0;
    ecb_csv_num(&b, ok && s->ds->qrels ? (double)res->n_skipped : NAN);
    ecb_csv_num(&b, ok ? res->mse : NAN);
    ecb_csv_num(&b, ok ? res->cosine : NAN);
    ecb_csv_num(&b, ok ? (double)res->bpv : NAN);
    ecb_csv_num(&b, ok ? (double)res->aux : NAN);
    ecb_csv_num(&b, ok ? (double)res->bpv * (double)n + (double)res->aux : NAN);
    ecb_csv_num(&b, ok ? (double)res->rescore_bytes : NAN);
    ecb_csv_num(&b, ok && res->bpv ? full_bytes / (double)res->bpv : NAN);
    ecb_csv_num(&b, ok ? 8.0 * (double)res->bpv / (double)s->dim : NAN);
    ecb_csv_num(&b, ok ? res->train_s : NAN);
    ecb_csv_num(&b, ok ? res->encode_vps : NAN);
    ecb_csv_num(&b, ok ? res->p50 : NAN);
    ecb_csv_num(&b, ok ? res->p95 : NAN);
    ecb_csv_num(&b, ok ? res->p99 : NAN);
    ecb_csv_num(&b, ok ? res->qps : NAN);
    ecb_csv_num(&b, ctx->rss_override >= 0 ? ctx->rss_override : ecb_peak_rss_mb());
    ecb_buf_printf(&b, ",%llu", (unsigned long long)cfg->seed);
    ecb_csv_field(&b, status, 0);
    ecb_csv_field(&b, error ? error : "", 0);
    ecb_buf_put(&b, "\n", 1);
    o->row = b.p;
    ecb_buf pq = {0};
    if (ok) {
        for (size_t q = 0; q < s->nq; q++) {
            ecb_csv_field(&pq, cell->id, 1);
            ecb_csv_field(&pq, s->ds->query_ids[q], 0);
            for (size_t i = 0; i < nm; i++) ecb_csv_num(&pq, res->perq[q * nm + i]);
            ecb_buf_put(&pq, "\n", 1);
        }
    }
    o->per_query = pq.p ? pq.p : ecb_strdup("");
}

/* Run one cell in this process; never fails: problems become the row. */
static void run_cell(run_ctx *ctx, const ecb_cell *cell, ecb_cell_output *o)
{
    cell_result res;
    memset(&res, 0, sizeof res);
    const ecb_stage *q = &cell->chain.stages[cell->chain.n - 1];
    uint32_t need = cell->mode == ECB_MODE_SYMMETRIC ? ECB_METHOD_SYMMETRIC : ECB_METHOD_ASYMMETRIC;
    int rc = ensure_ds(ctx, cell);
    if (rc) {
        /* Unreadable data stops the sweep (every cell of it would fail); an
         * impossible corpus size (ECB_EINVAL) is only this cell's error. */
        format_cell(ctx, cell, NULL, "error", ecb_last_error(), o);
        o->status = rc == ECB_EINVAL ? 2 : 3;
        return;
    }
    if (!(q->plugin->vt.flags & need)) {
        char why[256];
        snprintf(why, sizeof why, "%s does not support %s scoring (flags 0x%x)", q->plugin->vt.name,
                 mode_name(cell->mode), q->plugin->vt.flags);
        format_cell(ctx, cell, NULL, "skipped", why, o);
        o->status = 1;
        return;
    }
    ecb_clear_error();
    rc = run_cell_inner(ctx, cell, &res);
    if (rc) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s: %s", ecb_errname(rc), ecb_last_error());
        free(res.mean);
        res.mean = NULL;
        /* an allocation that failed (e.g. at memory_limit_mb) is an oom */
        format_cell(ctx, cell, NULL, rc == ECB_ENOMEM ? "oom" : "error", msg, o);
        o->status = rc == ECB_ENOMEM ? 8 : 2;
    } else {
        format_cell(ctx, cell, &res, "ok", "", o);
        o->status = 0;
    }
    free(res.mean);
    free(res.perq);
}

/* ---- isolation (harness/isolate.h) ------------------------------------------ */

/* Isolate when the config says so, else (the default) when any plugin of
 * the cell comes from outside the build tree. */
static int cell_wants_isolation(const ecb_config *cfg, const ecb_cell *cell)
{
    if (cfg->isolate >= 0) return cfg->isolate;
    for (size_t i = 0; i < cell->chain.n; i++)
        if (ecb_plugin_is_external(cell->chain.stages[i].plugin)) return 1;
    const ecb_rescore *r = &cfg->rescores[cell->rescore];
    if (r->factor && !r->with_float32)
        for (size_t i = 0; i < r->with.n; i++)
            if (ecb_plugin_is_external(r->with.stages[i].plugin)) return 1;
    return 0;
}

typedef struct {
    run_ctx *ctx;
    const ecb_cell *cell;
} iso_cell;

/* In the child: the cell's rows as "<row length>\n<row><per-query rows>". */
static int iso_cell_fn(void *arg, char **text, size_t *len)
{
    iso_cell *a = arg;
    ecb_cell_output o = {0};
    run_cell(a->ctx, a->cell, &o);
    ecb_buf b = {0};
    ecb_buf_printf(&b, "%zu\n", strlen(o.row));
    ecb_buf_put(&b, o.row, strlen(o.row));
    ecb_buf_put(&b, o.per_query, strlen(o.per_query));
    free(o.row);
    free(o.per_query);
    *text = b.p;
    *len = b.len;
    return o.status;
}

static void iso_tick(void *arg, double elapsed) { ecb_progress_tick(arg, elapsed); }

/* Run the cell in a child (datasets and ground truth are loaded here first,
 * shared copy-on-write); a dead child becomes a crashed / timeout / oom row
 * with the child's own peak RSS. */
static void run_cell_isolated(run_ctx *ctx, const ecb_cell *cell, ecb_progress *pg,
                              ecb_cell_output *o)
{
    if (ensure_ds(ctx, cell)) { /* the error row, in process */
        run_cell(ctx, cell, o);
        return;
    }
    ecb_iso_limits lim = {ctx->cfg->time_limit_s, ctx->cfg->memory_limit_mb};
    iso_cell a = {ctx, cell};
    ecb_iso_result r;
    int rc = ecb_isolate_run(&lim, iso_cell_fn, &a, iso_tick, pg, &r);
    if (rc) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s: %s", ecb_errname(rc), ecb_last_error());
        format_cell(ctx, cell, NULL, "error", msg, o);
        o->status = 2;
        return;
    }
    if (r.status == ECB_ISO_OK) {
        char *end = NULL;
        unsigned long long rl = strtoull(r.text, &end, 10);
        size_t hl = end ? (size_t)(end - r.text) + 1 : 0;
        if (end && *end == '\n' && rl <= r.len - hl && rl > 0) {
            o->row = ecb_malloc(rl + 1);
            if (o->row) {
                memcpy(o->row, r.text + hl, rl);
                o->row[rl] = '\0';
            }
            o->per_query = ecb_strdup(r.text + hl + rl);
            o->status = r.code;
            ecb_iso_result_release(&r);
            if (o->row && o->per_query) return;
            free(o->row);
            free(o->per_query);
        } else
            ecb_iso_result_release(&r);
        r.status = ECB_ISO_CRASHED;
        snprintf(r.reason, sizeof r.reason, "the cell's process sent a malformed result");
    }
    static const char *const names[] = {"ok", "crashed", "timeout", "oom", "crashed"};
    static const int codes[] = {0, 6, 7, 8, 6}; /* crashed, timeout, oom */
    ctx->rss_override = r.peak_rss_mb;
    format_cell(ctx, cell, NULL, names[r.status], r.reason, o);
    ctx->rss_override = -1;
    o->status = codes[r.status];
}

/* Field `back` counted from the end of a CSV row (0: the error column, 1:
 * the status), unquoted, malloc'd. */
static char *row_field_back(const char *row, size_t back)
{
    const char *starts[64];
    size_t n = 0;
    starts[n++] = row;
    for (const char *p = row; *p && *p != '\n';) {
        if (*p == '"') { /* quoted: skip to the closing quote */
            for (p++; *p; p++)
                if (*p == '"') {
                    if (p[1] == '"') p++;
                    else { p++; break; }
                }
            continue;
        }
        if (*p == ',') {
            if (n == 64) { memmove(starts, starts + 1, 63 * sizeof *starts); n--; }
            starts[n++] = p + 1;
        }
        p++;
    }
    const char *start = back < n ? starts[n - 1 - back] : row;
    ecb_buf b = {0};
    if (*start == '"') {
        for (const char *p = start + 1; *p; p++) {
            if (*p == '"') {
                if (p[1] != '"') break;
                p++;
            }
            ecb_buf_put(&b, *p == '\n' ? " " : p, 1);
        }
    } else {
        size_t len = strcspn(start, ",\n");
        ecb_buf_put(&b, start, len);
    }
    return b.p ? b.p : ecb_strdup("");
}

/* ---- resume ---------------------------------------------------------------- */

/* Read finished cell ids from an existing results.csv; drop error rows (they
 * re-run) and any per-query rows without a finished result row. */
static int load_finished(run_ctx *ctx, const char *header, char ***ids, size_t *nids)
{
    *ids = NULL;
    *nids = 0;
    struct stat st;
    if (stat(ctx->results_path, &st) != 0) return 0;
    /* A half-written last line (killed mid-write) is cut off first. */
    FILE *f = fopen(ctx->results_path, "rb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot open: %s", ctx->results_path, strerror(errno));
    char *all = ecb_malloc((size_t)st.st_size + 1);
    size_t got = all ? fread(all, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!all) return ECB_ENOMEM;
    all[got] = '\0';
    size_t hl = strlen(header);
    if (got < hl || memcmp(all, header, hl) != 0) {
        free(all);
        return ecb_fail(ECB_EINVAL, "%s: its columns differ from this config's (another k list or "
                        "an older ecbench?); use another output directory or remove it",
                        ctx->results_path);
    }
    ecb_csv_table *t = NULL;
    int rc = ecb_csv_load(ctx->results_path, &t);
    if (rc) { free(all); return rc; }
    int ci = ecb_csv_col(t, "cell_id"), si = ecb_csv_col(t, "status");
    ecb_buf keep = {0};
    ecb_buf_put(&keep, header, hl);
    char **list = ecb_calloc(t->nrows + 1, sizeof *list);
    size_t dropped = 0;
    /* re-split the raw text by lines to keep rows byte-identical */
    const char *p = all + hl;
    for (size_t r = 0; r < t->nrows && *p; r++) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
        const char *status = t->rows[r][si];
        if (e && (strcmp(status, "ok") == 0 || strcmp(status, "skipped") == 0)) {
            ecb_buf_put(&keep, p, len);
            list[(*nids)++] = ecb_strdup(t->rows[r][ci]);
        } else dropped++;
        p += len;
    }
    if (dropped || *p) ecb_write_file_atomic(ctx->results_path, keep.p, keep.len);
    ecb_buf_free(&keep);
    ecb_csv_table_free(t);
    free(all);
    /* per_query.csv: keep rows of finished cells only */
    if (stat(ctx->per_query_path, &st) == 0) {
        FILE *g = fopen(ctx->per_query_path, "rb");
        char *txt = g ? ecb_malloc((size_t)st.st_size + 1) : NULL;
        size_t n2 = (g && txt) ? fread(txt, 1, (size_t)st.st_size, g) : 0;
        if (g) fclose(g);
        if (txt) {
            txt[n2] = '\0';
            ecb_buf out = {0};
            const char *q = txt;
            size_t line = 0;
            while (*q) {
                const char *e = strchr(q, '\n');
                if (!e) break; /* partial last line */
                size_t len = (size_t)(e - q) + 1;
                int keepit = line == 0;
                for (size_t i = 0; !keepit && i < *nids; i++)
                    keepit = strncmp(q, list[i], 16) == 0 && q[16] == ',';
                if (keepit) ecb_buf_put(&out, q, len);
                q += len;
                line++;
            }
            if (out.len != n2) ecb_write_file_atomic(ctx->per_query_path, out.p ? out.p : "", out.len);
            ecb_buf_free(&out);
            free(txt);
        }
    }
    *ids = list;
    return 0;
}

/* ---- validation before anything runs ------------------------------------ */

static int validate_cells(run_ctx *ctx)
{
    const ecb_config *cfg = ctx->cfg;
    for (size_t i = 0; i < cfg->n_cells; i++) {
        const ecb_cell *cell = &cfg->cells[i];
        if (i > 0 && cfg->cells[i - 1].dataset == cell->dataset &&
            cfg->cells[i - 1].mode != cell->mode)
            continue; /* same chain, other mode: already checked */
        const ecb_dataset *d = ctx->full[cell->dataset];
        built_chain b;
        int rc = chain_create(&b, &cell->chain, ecb_vecs_dim(d->corpus), method_sim(d->sim), cfg->seed, 1);
        chain_destroy(&b);
        if (rc)
            return ecb_fail(rc, "%s: dataset %s: %s", cfg->path, d->name, ecb_last_error());
        if (cfg->rescores[cell->rescore].factor && !cfg->rescores[cell->rescore].with_float32) {
            rc = chain_create(&b, &cfg->rescores[cell->rescore].with, ecb_vecs_dim(d->corpus),
                              method_sim(d->sim), cfg->seed, 1);
            chain_destroy(&b);
            if (rc) return ecb_fail(rc, "%s: rescore on %s: %s", cfg->path, d->name, ecb_last_error());
        }
    }
    return 0;
}

static int load_datasets(run_ctx *ctx)
{
    ecb_config *cfg = (ecb_config *)ctx->cfg;
    ctx->full = ecb_calloc(cfg->n_datasets, sizeof *ctx->full);
    if (!ctx->full) return ECB_ENOMEM;
    for (size_t i = 0; i < cfg->n_datasets; i++) {
        ecb_dataset_spec *sp = &cfg->datasets[i];
        int rc = sp->builtin ? ecb_dataset_synthetic(&sp->synth, &ctx->full[i])
                             : ecb_dataset_load_manifest(sp->manifest, &ctx->full[i]);
        if (rc) return rc;
        /* A generated corpus costs a regeneration per random row read
         * (rescoring, kNN recall): keep it in memory when it is small. */
        ecb_vecs *gen = ctx->full[i]->corpus;
        size_t gn = ecb_vecs_count(gen), gd = ecb_vecs_dim(gen);
        if (sp->builtin && gn <= ((size_t)1 << 28) / (gd ? gd : 1)) {
            float *mem = ecb_malloc_array(nz(gn * gd), sizeof(float));
            ecb_vecs *mv = NULL;
            if (!mem) return ECB_ENOMEM;
            if ((rc = ecb_vecs_read(gen, 0, gn, mem)) ||
                (rc = ecb_vecs_from_memory(mem, gn, gd, &mv))) {
                free(mem);
                return rc;
            }
            ctx->full[i]->corpus = mv;
            ecb_vecs_free(gen);
        }
        if (!sp->name) sp->name = ecb_strdup(ctx->full[i]->name);
        else {
            free(ctx->full[i]->name);
            ctx->full[i]->name = ecb_strdup(sp->name);
        }
        const ecb_qrels *q = ctx->full[i]->qrels;
        if (q && (q->n_unknown_query || q->n_unknown_doc))
            ecb_log(ECB_LOG_WARN, "%s: qrels: %zu line(s) name unknown queries (ignored), %zu "
                    "judgment(s) name documents not in the corpus (kept for recall and ideal DCG)",
                    ctx->full[i]->name, q->n_unknown_query, q->n_unknown_doc);
    }
    return 0;
}

static int write_manifest(const run_ctx *ctx, const char *started, int finished,
                          size_t n_ok, size_t n_skip, size_t n_err)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToObject(m, "config", cJSON_Duplicate(ctx->cfg->json, 1));
    cJSON_AddStringToObject(m, "config_path", ctx->cfg->path);
    cJSON_AddItemToObject(m, "environment", ecb_environment_json(ctx->cfg->threads));
    cJSON_AddStringToObject(m, "started", started);
    if (finished) {
        char ts[64];
        ecb_timestamp(ts, sizeof ts);
        cJSON_AddStringToObject(m, "finished", ts);
    }
    cJSON *c = cJSON_AddObjectToObject(m, "cells");
    cJSON_AddNumberToObject(c, "total", (double)ctx->cfg->n_cells);
    cJSON_AddNumberToObject(c, "ok", (double)n_ok);
    cJSON_AddNumberToObject(c, "skipped", (double)n_skip);
    cJSON_AddNumberToObject(c, "error", (double)n_err);
    char *txt = cJSON_Print(m);
    cJSON_Delete(m);
    char path[4400];
    snprintf(path, sizeof path, "%s/manifest.json", ctx->dir);
    size_t l = strlen(txt);
    txt[l] = '\0';
    ecb_buf b = {0};
    ecb_buf_printf(&b, "%s\n", txt);
    cJSON_free(txt);
    int rc = ecb_write_file_atomic(path, b.p, b.len);
    ecb_buf_free(&b);
    return rc;
}

int ecb_run(const ecb_run_opts *o)
{
    run_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.opts = o;
    ctx.cur_ds = -1;
    ctx.rss_override = -1;
    ecb_registry *reg = NULL;
    ecb_config *cfg = NULL;
    char **done = NULL;
    size_t ndone = 0;
    int rc = ecb_registry_load_default(&reg);
    if (rc) return rc;
    if ((rc = ecb_config_load(o->config_path, reg, &cfg))) goto out;
    ctx.cfg = cfg;
    ctx.maxk = cfg->ks[cfg->nk - 1];
    openblas_set_num_threads((int)cfg->threads);
    ctx.dir = ecb_strdup(o->output ? o->output : cfg->output);
    if ((rc = load_datasets(&ctx))) goto out;
    if ((rc = validate_cells(&ctx))) goto out;
    if ((rc = ecb_mkdir_p(ctx.dir))) goto out;
    snprintf(ctx.results_path, sizeof ctx.results_path, "%s/results.csv", ctx.dir);
    snprintf(ctx.per_query_path, sizeof ctx.per_query_path, "%s/per_query.csv", ctx.dir);
    ecb_buf hdr = {0}, pqh = {0};
    ecb_results_header(&hdr, cfg->ks, cfg->nk);
    ecb_per_query_header(&pqh, cfg->ks, cfg->nk);
    rc = load_finished(&ctx, hdr.p, &done, &ndone);
    if (!rc && access(ctx.results_path, F_OK) != 0)
        rc = ecb_write_file_atomic(ctx.results_path, hdr.p, hdr.len);
    if (!rc && access(ctx.per_query_path, F_OK) != 0)
        rc = ecb_write_file_atomic(ctx.per_query_path, pqh.p, pqh.len);
    ecb_buf_free(&hdr);
    ecb_buf_free(&pqh);
    if (rc) goto out;

    char started[64];
    ecb_timestamp(started, sizeof started);
    if (!o->quiet) {
        char env[512];
        ecb_environment_line(env, sizeof env, cfg->threads);
        ecb_log(ECB_LOG_INFO, "%s: %zu cells (%zu already done) -> %s", cfg->name, cfg->n_cells,
                ndone, ctx.dir);
        ecb_log(ECB_LOG_INFO, "environment: %s", env);
    }
    write_manifest(&ctx, started, 0, 0, 0, 0);
    size_t n_ok = 0, n_skip = 0, n_err = 0;
    ecb_progress *pg = ecb_progress_new(cfg->n_cells, ndone, o->quiet);
    ecb_interrupt_install();
    for (size_t i = 0; i < cfg->n_cells && !ecb_interrupted(); i++) {
        const ecb_cell *cell = &cfg->cells[i];
        int is_done = 0;
        for (size_t j = 0; j < ndone && !is_done; j++) is_done = strcmp(done[j], cell->id) == 0;
        if (is_done) continue;
        char desc[1600], size[32] = "";
        if (cell->corpus_size) snprintf(size, sizeof size, "@%zu", cell->corpus_size);
        snprintf(desc, sizeof desc, "%s%s %s %s rescore=%s%s", cfg->datasets[cell->dataset].name
                 ? cfg->datasets[cell->dataset].name : "?", size, cell->label_col,
                 mode_name(cell->mode), cfg->rescores[cell->rescore].label,
                 cell_wants_isolation(cfg, cell) ? " [isolated]" : "");
        /* load the (sub)set and its ground truth before the progress line;
         * a failure here is reported by run_cell as the cell's row */
        ensure_ds(&ctx, cell);
        ecb_progress_start(pg, desc);
        ecb_cell_output out = {0};
        if (cell_wants_isolation(cfg, cell)) run_cell_isolated(&ctx, cell, pg, &out);
        else run_cell(&ctx, cell, &out);
        /* per-query rows first: a result row implies its per-query rows exist */
        int wrc = ecb_append_atomic(ctx.per_query_path, out.per_query, strlen(out.per_query));
        if (!wrc) wrc = ecb_append_atomic(ctx.results_path, out.row, strlen(out.row));
        if (out.status == 0) n_ok++;
        else if (out.status == 1) n_skip++;
        else n_err++;
        char *st = row_field_back(out.row, 1), *err = out.status >= 2 ? row_field_back(out.row, 0) : NULL;
        ecb_progress_done(pg, st, err);
        if (out.status == 3 && !wrc) /* the data is at fault: every cell of it would fail */
            wrc = ecb_fail(ECB_EFORMAT, "dataset %s: %s", cfg->datasets[cell->dataset].name,
                           err ? err : "cannot be loaded");
        free(st);
        free(err);
        free(out.row);
        free(out.per_query);
        if (wrc) {
            ecb_progress_end(pg);
            ecb_progress_free(pg);
            ecb_interrupt_restore();
            rc = wrc;
            goto out;
        }
    }
    ecb_progress_end(pg);
    ecb_progress_free(pg);
    int sig = ecb_interrupted();
    ecb_interrupt_restore();
    if (sig) {
        size_t recorded = 0;
        ecb_csv_table *t = NULL;
        if (ecb_csv_load(ctx.results_path, &t) == 0) recorded = t->nrows;
        ecb_csv_table_free(t);
        write_manifest(&ctx, started, 0, n_ok + ndone, n_skip, n_err);
        fprintf(stderr, "ecbench: stopped by %s: %zu ok, %zu skipped, %zu failed in this run; %zu of "
                "%zu cells recorded in %s/results.csv; run the same command again to resume\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", n_ok, n_skip, n_err, recorded, cfg->n_cells,
                ctx.dir);
        rc = 128 + sig;
        goto out;
    }
    write_manifest(&ctx, started, 1, n_ok + ndone, n_skip, n_err);
    if (!o->no_report) {
        if (ecb_report_build(ctx.dir, o->quiet) != 0)
            ecb_log(ECB_LOG_WARN, "report: %s", ecb_last_error());
    }
    if (!o->quiet)
        fprintf(stderr, "ecbench: done: %zu ok, %zu skipped, %zu failed, %zu resumed; results in %s/results.csv\n",
                n_ok, n_skip, n_err, ndone, ctx.dir);
    rc = n_err ? 1 : 0;
out:
    for (size_t i = 0; i < ndone; i++) free(done[i]);
    free(done);
    if (ctx.cache) {
        chain_destroy(ctx.cache);
        free(ctx.cache);
    }
    ds_state_free(&ctx.cur);
    if (ctx.full)
        for (size_t i = 0; cfg && i < cfg->n_datasets; i++) ecb_dataset_free(ctx.full[i]);
    free(ctx.full);
    free(ctx.dir);
    ecb_config_free(cfg);
    ecb_registry_free(reg);
    return rc;
}
