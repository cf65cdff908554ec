/*
 * A cell measured over a corpus sharded across MPI ranks (see shard.h).
 * The steps mirror harness/cell.c's (sample, chain, rescorer, batch,
 * latency, metrics) and share its definitions (ecb_cell_evaluate,
 * ecb_percentile, ecb_cell_measure_with); what differs is where rows live.
 * Every step that can fail on one rank ends in ecb_mpi_agree_msg, so all
 * ranks leave a failing cell together, with the failing rank's message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/env.h"
#include "harness/mpi.h"
#include "harness/search.h"
#include "harness/shard.h"

static size_t nz(size_t v) { return v ? v : 1; }

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

size_t ecb_shard_align(const ecb_config *cfg)
{
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    /* code scans and ground truth use the config's block_rows, else the
     * search default; encoding the config's, else its own default */
    size_t a = cfg->block_rows ? cfg->block_rows : so.block_rows;
    size_t b = cfg->block_rows ? cfg->block_rows : 4096;
    return a / gcd(a, b) * b;
}

static double budget_bytes(const ecb_config *cfg) { return cfg->rank_memory_mb * 1048576.0; }

size_t ecb_shard_count(const ecb_config *cfg, size_t d, size_t n, size_t dim, size_t nranks,
                       int *automatic)
{
    *automatic = 0;
    if (cfg->datasets[d].shards) return cfg->datasets[d].shards;
    if (cfg->rank_memory_mb > 0 && (double)n * (double)dim * 4.0 > budget_bytes(cfg)) {
        *automatic = 1;
        return nranks ? nranks : 1;
    }
    return 0;
}

int ecb_shard_streams(const ecb_config *cfg, size_t slice_rows, size_t code_size)
{
    return cfg->rank_memory_mb > 0 && (double)slice_rows * (double)code_size > budget_bytes(cfg);
}

size_t ecb_shard_stream_rows(const ecb_config *cfg, size_t code_size)
{
    size_t a = nz(ecb_shard_align(cfg)), units = nz((65536 + a - 1) / a);
    double fit = budget_bytes(cfg) / 4.0 / ((double)a * (double)nz(code_size));
    if (fit < (double)units) units = fit >= 1 ? (size_t)fit : 1;
    return a * units;
}

void ecb_shard_range(size_t n, size_t slices, size_t align, size_t rank, size_t nranks,
                     size_t *lo, size_t *hi)
{
    size_t nb = (n + align - 1) / align;
    size_t s0 = rank * slices / nranks, s1 = (rank + 1) * slices / nranks;
    size_t b0 = s0 * nb / slices, b1 = s1 * nb / slices;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

void ecb_shard_release(ecb_shard *sh)
{
    if (!sh) return;
    ecb_vecs_free(sh->local);
    ecb_chain_inst_destroy(sh->inst);
    memset(sh, 0, sizeof *sh);
}

/* ---- merging per-rank top-k lists --------------------------------------------- */

/* One candidate as sent by a rank: the ranking score, a score carried
 * along (exact or rescoring score, else equal), the global row. */
typedef struct {
    float key, val;
    int64_t id;
} cand;

/* Append one query's list: u32 count, then count candidates. */
static int pack_list(ecb_buf *b, const float *key, const float *val, const int64_t *ids,
                     size_t cnt, size_t lo)
{
    uint32_t c = (uint32_t)cnt;
    int rc = ecb_buf_put(b, (const char *)&c, sizeof c);
    for (size_t i = 0; !rc && i < cnt; i++) {
        cand x = {key[i], val ? val[i] : key[i], ids[i] + (int64_t)lo};
        rc = ecb_buf_put(b, (const char *)&x, sizeof x);
    }
    return rc;
}

/* Per-rank read positions in the gathered lists. */
typedef struct {
    const char *p, *end;
} cursor;

static int cursors_init(const char *all, const size_t *counts, size_t S, cursor *cur)
{
    size_t off = 0;
    for (size_t r = 0; r < S; r++) {
        cur[r].p = all + off;
        cur[r].end = all + off + counts[r];
        off += counts[r];
    }
    return 0;
}

static int cmp_cand_id(const void *a, const void *b)
{
    int64_t x = ((const cand *)a)->id, y = ((const cand *)b)->id;
    return x < y ? -1 : x > y;
}

/* Merge the next query of every rank's list into the top k (s, id, *cnt)
 * in the one ranking order of the keys; with carry, the scores become the
 * carried ones and are sorted again (rescoring, exact ground truth). pool
 * holds S * k candidates. */
static int merge_query(cursor *cur, size_t S, size_t k, const uint32_t *id_rank, int carry,
                       float *s, int64_t *id, size_t *cnt, cand *pool)
{
    size_t np = 0;
    *cnt = 0;
    for (size_t r = 0; r < S; r++) {
        uint32_t c;
        if (cur[r].end - cur[r].p < (ptrdiff_t)sizeof c) goto bad;
        memcpy(&c, cur[r].p, sizeof c);
        cur[r].p += sizeof c;
        if (c > k || (size_t)(cur[r].end - cur[r].p) < c * sizeof(cand)) goto bad;
        for (uint32_t i = 0; i < c; i++) {
            cand x;
            memcpy(&x, cur[r].p, sizeof x);
            cur[r].p += sizeof x;
            pool[np++] = x;
            ecb_heap_push(s, id, cnt, k, x.key, x.id, id_rank);
        }
    }
    ecb_heap_finish(s, id, *cnt, k, id_rank);
    if (carry) {
        qsort(pool, np, sizeof *pool, cmp_cand_id);
        for (size_t i = 0; i < *cnt; i++) {
            cand key = {0, 0, id[i]};
            const cand *h = bsearch(&key, pool, np, sizeof *pool, cmp_cand_id);
            s[i] = h ? h->val : NAN;
        }
        ecb_rank_sort(s, id, *cnt, id_rank);
    }
    return 0;
bad:
    return ecb_fail(ECB_EINTERNAL, "sharded merge: a rank's top-k list is malformed");
}

/* Gather every rank's packed lists to rank 0 and merge all nq queries into
 * out (allocated nq x k on rank 0). */
static int gather_merge(const ecb_buf *mine, size_t nq, size_t k, const uint32_t *id_rank,
                        int carry, ecb_topk *out)
{
    size_t S = (size_t)ecb_mpi_size();
    size_t *counts = ecb_calloc(S, sizeof *counts);
    char *all = NULL;
    int rc = counts ? 0 : ECB_ENOMEM;
    if (!rc) rc = ecb_mpi_gather(mine->p ? mine->p : "", mine->len, &all, counts);
    if (!rc && ecb_mpi_rank() == 0) {
        cursor *cur = ecb_calloc(S, sizeof *cur);
        cand *pool = ecb_malloc_array(nz(S * k), sizeof *pool);
        rc = cur && pool ? ecb_topk_alloc(out, nq, k) : ECB_ENOMEM;
        if (!rc) cursors_init(all, counts, S, cur);
        for (size_t q = 0; !rc && q < nq; q++)
            rc = merge_query(cur, S, k, id_rank, carry, out->scores + q * k, out->ids + q * k,
                             &out->count[q], pool);
        free(cur);
        free(pool);
    }
    free(all);
    free(counts);
    return rc;
}

/* ---- the evaluation set ----------------------------------------------------------- */

static int make_local(const ecb_evalset *es, ecb_shard *sh)
{
    size_t cnt = sh->hi - sh->lo, dim = es->dim;
    /* a generated slice that fits is kept in memory: rescoring and kNN
     * recall read rows at random, each a regeneration otherwise */
    if (strcmp(ecb_vecs_path(es->ds->corpus), "<generated>") == 0 &&
        cnt <= ((size_t)1 << 28) / nz(dim)) {
        float *mem = ecb_malloc_array(nz(cnt * dim), sizeof *mem);
        if (!mem) return ECB_ENOMEM;
        int rc = ecb_vecs_read(es->ds->corpus, sh->lo, cnt, mem);
        if (!rc) rc = ecb_vecs_from_memory(mem, cnt, dim, &sh->local);
        if (rc) free(mem);
        return rc;
    }
    size_t *rows = ecb_malloc_array(nz(cnt), sizeof *rows);
    if (!rows) return ECB_ENOMEM;
    for (size_t i = 0; i < cnt; i++) rows[i] = sh->lo + i;
    int rc = ecb_vecs_subset(es->ds->corpus, rows, cnt, &sh->local);
    free(rows);
    return rc;
}

/* Exact top-K, as ecb_groundtruth computes it, from every slice. */
static int shard_groundtruth(const ecb_config *cfg, ecb_evalset *es, ecb_shard *sh)
{
    const ecb_dataset *ds = es->ds;
    size_t nq = es->nq, d = es->dim, K = nz(es->K);
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = cfg->threads;
    if (cfg->block_rows) so.block_rows = cfg->block_rows;
    /* the raw queries, as ecb_groundtruth reads them */
    float *q = ecb_malloc_array(nz(nq * d), sizeof *q);
    float *ex = ecb_malloc_array(K, sizeof *ex);
    ecb_topk t = {0};
    ecb_buf b = {0};
    int rc = q && ex ? 0 : ECB_ENOMEM;
    if (!rc && nq) rc = ecb_vecs_read(ds->queries, 0, nq, q);
    if (!rc)
        rc = ecb_search_exact(sh->local, q, nq, ds->sim, K, ds->doc_id_rank + sh->lo, &so, &t);
    for (size_t i = 0; !rc && i < nq; i++) {
        size_t cnt = t.count[i];
        rc = ecb_exact_scores(sh->local, ds->sim, q + i * d, t.ids + i * K, cnt, ex);
        if (!rc) rc = pack_list(&b, t.scores + i * K, ex, t.ids + i * K, cnt, sh->lo);
    }
    rc = ecb_mpi_agree_msg(rc);
    if (!rc) rc = gather_merge(&b, nq, K, ds->doc_id_rank, 1, &es->gt);
    free(q);
    free(ex);
    ecb_topk_release(&t);
    ecb_buf_free(&b);
    return rc;
}

int ecb_shard_evalset_build(const ecb_dataset *full, size_t corpus_size, const ecb_config *cfg,
                            size_t slices, int quiet, ecb_evalset *es, ecb_shard *sh)
{
    memset(sh, 0, sizeof *sh);
    int rc = ecb_evalset_prepare(full, corpus_size, cfg->seed, cfg->ks[cfg->nk - 1], es);
    if (!rc) {
        sh->n = ecb_vecs_count(es->ds->corpus);
        sh->slices = slices;
        sh->align = ecb_shard_align(cfg);
        ecb_shard_range(sh->n, slices, sh->align, (size_t)ecb_mpi_rank(), (size_t)ecb_mpi_size(),
                        &sh->lo, &sh->hi);
        rc = make_local(es, sh);
    }
    rc = ecb_mpi_agree_msg(rc);
    double t0 = ecb_now();
    if (!rc) rc = shard_groundtruth(cfg, es, sh);
    if (!rc) rc = ecb_mpi_agree_msg(rc);
    if (!rc && !quiet && ecb_mpi_rank() == 0)
        ecb_log(ECB_LOG_INFO, "%s: exact float32 top-%zu for %zu queries over %zu vectors in %zu "
                "slices on %d ranks (%.2f s)", es->ds->name, es->K, es->nq, sh->n, slices,
                ecb_mpi_size(), ecb_now() - t0);
    if (rc) {
        ecb_evalset_release(es);
        ecb_shard_release(sh);
    }
    return rc;
}

/* ---- one cell ------------------------------------------------------------------- */

typedef struct {
    const ecb_cell_ctx *ctx;
    ecb_shard *sh;
    const ecb_cell *cell;
    const ecb_evalset *es;
    ecb_cell_result *res;
    size_t n, maxk, threads, k1;
    float *sample;
    size_t ns;
    ecb_chain_inst *b;      /* the cell's chain (owned by sh when cached) */
    int owns_b;
    ecb_rescorer rsc;       /* the rescoring representation of this slice */
    float *rs;              /* rescoring scores of one query's candidates */
    ecb_topk top;           /* rank 0: the merged lists */
    int stream;             /* codes too large for rank_memory_mb: streamed */
} smeasure;

/* The training sample: each rank reads the sample rows it holds, every
 * rank receives them all (in rank order) and puts them in sample order. */
static int take_sample(smeasure *m)
{
    const ecb_shard *sh = m->sh;
    size_t d = m->es->dim, S = (size_t)ecb_mpi_size(), *rows = NULL;
    int rc = ecb_cell_sample_rows(m->ctx->cfg, m->n, &rows, &m->ns);
    size_t mine = 0;
    for (size_t p = 0; !rc && p < m->ns; p++) mine += rows[p] >= sh->lo && rows[p] < sh->hi;
    size_t *loc = rc ? NULL : ecb_malloc_array(nz(mine), sizeof *loc);
    float *buf = rc ? NULL : ecb_malloc_array(nz(mine * d), sizeof *buf);
    m->sample = rc ? NULL : ecb_malloc_array(nz(m->ns * d), sizeof(float));
    if (!rc && (!loc || !buf || !m->sample)) rc = ECB_ENOMEM;
    size_t k = 0;
    for (size_t p = 0; !rc && p < m->ns; p++)
        if (rows[p] >= sh->lo && rows[p] < sh->hi) loc[k++] = rows[p] - sh->lo;
    if (!rc) rc = ecb_vecs_read_rows(sh->local, loc, mine, buf);
    rc = ecb_mpi_agree_msg(rc);
    char *all = NULL;
    if (!rc) rc = ecb_mpi_allgather(buf, mine * d * sizeof *buf, &all, NULL);
    /* rank r's rows arrive in sample order among the rows of its range */
    size_t off = 0;
    for (size_t r = 0; !rc && r < S; r++) {
        size_t lo, hi;
        ecb_shard_range(m->n, sh->slices, sh->align, r, S, &lo, &hi);
        for (size_t p = 0; p < m->ns; p++)
            if (rows[p] >= lo && rows[p] < hi) {
                memcpy(m->sample + p * d, all + off, d * sizeof(float));
                off += d * sizeof(float);
            }
    }
    if (!rc && m->es->ds->sim == ECB_DS_COSINE) ecb_normalize_rows(m->sample, m->ns, d);
    free(all);
    free(buf);
    free(loc);
    free(rows);
    return rc;
}

/* Build, train and encode this rank's slice, or reuse the last chain. */
static int build_chain(smeasure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    ecb_shard *sh = m->sh;
    char key[8192];
    ecb_chain_label(&m->cell->chain, 1, key, sizeof key);
    if (sh->inst && strcmp(sh->key, key) == 0) {
        m->b = sh->inst;
        m->res->train_s = sh->train_s;
        m->res->encode_vps = sh->encode_vps;
        m->stream = sh->stream;
        return 0;
    }
    ecb_chain_inst_destroy(sh->inst);
    sh->inst = NULL;
    sh->key[0] = '\0';
    int rc = ecb_chain_inst_create(&m->cell->chain, m->es->dim, ecb_evalset_method_sim(m->es),
                                   cfg->seed, m->threads, &m->b);
    m->owns_b = !rc;
    double t0 = ecb_now(), train = 0, enc = 0;
    if (!rc) rc = ecb_chain_inst_train(m->b, m->sample, m->ns);
    train = ecb_now() - t0;
    rc = ecb_mpi_agree_msg(rc);
    /* the code size is known once trained (an encode of no rows sets it);
     * every rank decides on the largest slice, so all take the same path */
    ecb_vecs *none = NULL;
    size_t zero = 0;
    if (!rc) rc = ecb_vecs_subset(sh->local, &zero, 0, &none);
    if (!rc) rc = ecb_chain_inst_encode(m->b, none, 0, 1, cfg->block_rows);
    ecb_vecs_free(none);
    double rows = (double)(sh->hi - sh->lo);
    ecb_mpi_max_double(&rows);
    m->stream = !rc && ecb_shard_streams(cfg, (size_t)rows, ecb_chain_inst_code_size(m->b));
    if (m->stream && ecb_mpi_rank() == 0)
        ecb_log(ECB_LOG_INFO, "%s: codes of %.0f rows x %zu bytes over rank_memory_mb %g: streamed "
                "in chunks of %zu rows", key, rows, ecb_chain_inst_code_size(m->b),
                cfg->rank_memory_mb, ecb_shard_stream_rows(cfg, ecb_chain_inst_code_size(m->b)));
    t0 = ecb_now();
    if (!rc && !m->stream)
        rc = ecb_chain_inst_encode(m->b, sh->local, m->es->ds->sim == ECB_DS_COSINE, m->threads,
                                   cfg->block_rows);
    enc = ecb_now() - t0;
    rc = ecb_mpi_agree_msg(rc);
    if (rc) return rc;
    ecb_mpi_max_double(&train);
    ecb_mpi_max_double(&enc);
    m->res->train_s = train;
    m->res->encode_vps = enc > 0 && !m->stream ? (double)m->n / enc : NAN; /* streamed: later */
    sh->inst = m->b;
    m->owns_b = 0;
    snprintf(sh->key, sizeof sh->key, "%s", key);
    sh->train_s = m->res->train_s;
    sh->encode_vps = m->res->encode_vps;
    sh->stream = m->stream;
    return 0;
}

static int build_rescorer(smeasure *m)
{
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    int rc = ecb_rescorer_build(m->ctx, m->cell, m->sh->local, m->n, m->sample, m->ns, m->k1,
                                &m->rsc, &m->res->rescore_bytes);
    if (!rc && rs->factor && !(m->rs = ecb_malloc_array(nz(m->k1), sizeof *m->rs))) rc = ECB_ENOMEM;
    return ecb_mpi_agree_msg(rc);
}

/* Scan this rank's codes for nq prepared queries (first q0) and pack the
 * lists (with rescoring scores when rescoring). */
static int scan_pack(smeasure *m, const uint8_t *prepared, size_t q0, size_t nq, size_t threads,
                     ecb_buf *out)
{
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    ecb_search_opts so;
    ecb_search_opts_default(&so);
    so.threads = threads;
    if (m->ctx->cfg->block_rows) so.block_rows = m->ctx->cfg->block_rows;
    ecb_topk t = {0};
    const ecb_method_vtable *vt = ecb_chain_inst_vt(m->b);
    int rc = ecb_search_codes(ecb_chain_inst_quantizer(m->b), m->cell->mode, prepared, nq,
                              ecb_chain_inst_codes(m->b), m->sh->hi - m->sh->lo, m->k1,
                              m->es->ds->doc_id_rank + m->sh->lo, &so, &t);
    if (rc) rc = ecb_fail(rc, "%s: search: %s", vt->name, ecb_last_error());
    for (size_t q = 0; !rc && q < nq; q++) {
        const int64_t *ids = t.ids + q * t.k;
        if (rs->factor)
            rc = ecb_rescorer_score(&m->rsc, m->es, m->sh->local, q0 + q, ids, t.count[q], m->rs,
                                    0);
        if (!rc)
            rc = pack_list(out, t.scores + q * t.k, rs->factor ? m->rs : NULL, ids, t.count[q],
                           m->sh->lo);
    }
    ecb_topk_release(&t);
    return rc;
}

/* Batch throughput: every query on every rank, gathered and merged. */
static int batch(smeasure *m)
{
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    uint8_t *prepared = NULL;
    size_t qsize;
    ecb_buf b = {0};
    ecb_mpi_barrier();
    double t0 = ecb_now();
    int rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries, m->es->nq, &prepared,
                                    &qsize);
    if (!rc) rc = scan_pack(m, prepared, 0, m->es->nq, m->threads, &b);
    rc = ecb_mpi_agree_msg(rc);
    if (!rc)
        rc = gather_merge(&b, m->es->nq, m->k1, m->es->ds->doc_id_rank, rs->factor != 0, &m->top);
    double tb = ecb_now() - t0;
    free(prepared);
    ecb_buf_free(&b);
    m->res->qps = tb > 0 ? (double)m->es->nq / tb : NAN;
    return ecb_mpi_agree_msg(rc);
}

/* Rank 0 adds the slowest rank's time of each query (lat, nl of them, on
 * every rank) to its own merge of that query's lists (lists: each rank's
 * packed lists of queries [0, nl)): p50/p95/p99 into the result. */
static int latency_merge(smeasure *m, double *lat, size_t nl, const ecb_buf *lists)
{
    const ecb_rescore *rs = &m->ctx->cfg->rescores[m->cell->rescore];
    size_t S = (size_t)ecb_mpi_size();
    char *all_lat = NULL, *all_lists = NULL;
    size_t *counts = ecb_calloc(S, sizeof *counts);
    int rc = ecb_mpi_agree_msg(counts ? 0 : ECB_ENOMEM);
    if (!rc) rc = ecb_mpi_gather(lat, nl * sizeof *lat, &all_lat, NULL);
    if (!rc) rc = ecb_mpi_gather(lists->p ? lists->p : "", lists->len, &all_lists, counts);
    if (!rc && ecb_mpi_rank() == 0) {
        cursor *cur = ecb_calloc(S, sizeof *cur);
        cand *pool = ecb_malloc_array(nz(S * m->k1), sizeof *pool);
        float *s = ecb_malloc_array(nz(m->k1), sizeof *s);
        int64_t *id = ecb_malloc_array(nz(m->k1), sizeof *id);
        rc = cur && pool && s && id ? 0 : ECB_ENOMEM;
        if (!rc) cursors_init(all_lists, counts, S, cur);
        const double *lr = (const double *)all_lat;
        for (size_t q = 0; !rc && q < nl; q++) {
            size_t cnt;
            double a = ecb_now();
            rc = merge_query(cur, S, m->k1, m->es->ds->doc_id_rank, rs->factor != 0, s, id, &cnt,
                             pool);
            double slowest = 0;
            for (size_t r = 0; r < S; r++)
                if (lr[r * nl + q] > slowest) slowest = lr[r * nl + q];
            lat[q] = slowest + (ecb_now() - a) * 1000.0;
        }
        if (!rc) {
            m->res->p50 = ecb_percentile(lat, nl, 50);
            m->res->p95 = ecb_percentile(lat, nl, 95);
            m->res->p99 = ecb_percentile(lat, nl, 99);
        }
        free(cur);
        free(pool);
        free(s);
        free(id);
    }
    free(all_lat);
    free(all_lists);
    free(counts);
    return ecb_mpi_agree_msg(rc);
}


/* Latency: each rank times its part of each query alone on one thread;
 * rank 0 adds the slowest rank's time to its own merge of that query. */
static int latency(smeasure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    size_t nl = m->es->nq < cfg->latency_queries ? m->es->nq : cfg->latency_queries;
    double *lat = ecb_calloc(nz(nl), sizeof *lat);
    ecb_buf lists = {0};
    int rc = lat ? 0 : ECB_ENOMEM;
    double spent = 0;
    for (size_t q = 0; q < nl; q++) {
        /* the same budget as one process; the slowest rank decides for all,
         * and a rank that failed stops everyone (1e300) */
        double all = rc ? 1e300 : spent;
        ecb_mpi_max_double(&all);
        if (all >= 1e300) break;
        if (all > ECB_LATENCY_BUDGET_S && q >= ECB_LATENCY_MIN_QUERIES) {
            nl = q;
            break;
        }
        uint8_t *p1 = NULL;
        size_t qs1;
        double a = ecb_now();
        rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries + q * m->es->dim, 1, &p1,
                                    &qs1);
        if (!rc) rc = scan_pack(m, p1, q, 1, 1, &lists);
        lat[q] = (ecb_now() - a) * 1000.0;
        spent += lat[q] / 1000.0;
        free(p1);
    }
    rc = ecb_mpi_agree_msg(rc);
    if (!rc) rc = latency_merge(m, lat, nl, &lists);
    free(lat);
    ecb_buf_free(&lists);
    return rc;
}

/* ---- a streamed cell (codes over rank_memory_mb) ------------------------------ */

/* The latency queries worth timing on the remaining chunks: the one-process
 * rule (stop past ECB_LATENCY_BUDGET_S once ECB_LATENCY_MIN_QUERIES are
 * timed) on each query's time so far scaled to the whole slice. */
static size_t stream_timed(const double *lat_ms, size_t nl, double scale)
{
    double spent = 0;
    for (size_t q = 0; q < nl; q++) {
        if (spent > ECB_LATENCY_BUDGET_S && q >= ECB_LATENCY_MIN_QUERIES) return q;
        spent += lat_ms[q] * scale / 1000.0;
    }
    return nl;
}

/* Offer a chunk's lists (ids from c0) to the running top-k heaps. */
static void stream_offer(const ecb_topk *t, size_t c0, size_t k1, const uint32_t *id_rank,
                         float *hs, int64_t *hid, size_t *hcnt)
{
    for (size_t q = 0; q < t->nq; q++)
        for (size_t i = 0; i < t->count[q]; i++)
            ecb_heap_push(hs + q * k1, hid + q * k1, &hcnt[q], k1, t->scores[q * t->k + i],
                          t->ids[q * t->k + i] + (int64_t)c0, id_rank);
}

typedef struct {
    uint8_t *prep, **prep1; /* every query; each latency query alone */
    float *hs;              /* running top-k1 per query (heaps, then sorted) */
    int64_t *hid;
    size_t *hcnt;
    double *lat;            /* ms per latency query */
    double scan_s, enc_s;
    size_t nl, timed;
} stream_state;

/* One chunk [c0, c0 + cnt) of the slice: encode, scan every query on the
 * cell's threads, then each timed latency query alone on one thread. */
static int stream_chunk_pass(smeasure *m, stream_state *st, size_t c0, size_t cnt,
                             const ecb_search_opts *so, const ecb_search_opts *so1)
{
    const ecb_shard *sh = m->sh;
    const uint32_t *id_rank = m->es->ds->doc_id_rank + sh->lo;
    const ecb_method *qz;
    size_t *rows = ecb_malloc_array(nz(cnt), sizeof *rows);
    ecb_vecs *part = NULL;
    ecb_topk t = {0};
    int rc = rows ? 0 : ECB_ENOMEM;
    for (size_t i = 0; !rc && i < cnt; i++) rows[i] = c0 + i;
    if (!rc) rc = ecb_vecs_subset(sh->local, rows, cnt, &part);
    free(rows);
    double a = ecb_now();
    if (!rc)
        rc = ecb_chain_inst_encode(m->b, part, m->es->ds->sim == ECB_DS_COSINE, m->threads,
                                   m->ctx->cfg->block_rows);
    st->enc_s += ecb_now() - a;
    ecb_vecs_free(part);
    if (rc) return rc;
    qz = ecb_chain_inst_quantizer(m->b);
    const uint8_t *codes = ecb_chain_inst_codes(m->b);
    a = ecb_now();
    rc = ecb_search_codes(qz, m->cell->mode, st->prep, m->es->nq, codes, cnt, m->k1, id_rank + c0,
                          so, &t);
    if (!rc) stream_offer(&t, c0, m->k1, id_rank, st->hs, st->hid, st->hcnt);
    st->scan_s += ecb_now() - a;
    ecb_topk_release(&t);
    for (size_t q = 0; !rc && q < st->timed; q++) {
        a = ecb_now();
        rc = ecb_search_codes(qz, m->cell->mode, st->prep1[q], 1, codes, cnt, m->k1, id_rank + c0,
                              so1, &t);
        st->lat[q] += (ecb_now() - a) * 1000.0;
        ecb_topk_release(&t);
    }
    if (rc) rc = ecb_fail(rc, "%s: search: %s", ecb_chain_inst_vt(m->b)->name, ecb_last_error());
    return rc;
}

/* Batch and latency in one pass over the slice, chunk by chunk; then
 * rescoring, the gather and merge (batch) and latency_merge. */
static int stream_measure(smeasure *m)
{
    const ecb_config *cfg = m->ctx->cfg;
    const ecb_rescore *rs = &cfg->rescores[m->cell->rescore];
    const ecb_shard *sh = m->sh;
    size_t nq = m->es->nq, k1 = m->k1, ns = sh->hi - sh->lo, d = m->es->dim, qsize;
    stream_state st = {0};
    st.nl = nq < cfg->latency_queries ? nq : cfg->latency_queries;
    st.timed = st.nl;
    ecb_search_opts so, so1;
    ecb_search_opts_default(&so);
    so.threads = m->threads;
    if (cfg->block_rows) so.block_rows = cfg->block_rows;
    so1 = so;
    so1.threads = 1;
    ecb_buf b = {0}, lb = {0};
    st.prep1 = ecb_calloc(nz(st.nl), sizeof *st.prep1);
    st.lat = ecb_calloc(nz(st.nl), sizeof *st.lat);
    st.hs = ecb_malloc_array(nz(nq * k1), sizeof *st.hs);
    st.hid = ecb_malloc_array(nz(nq * k1), sizeof *st.hid);
    st.hcnt = ecb_calloc(nz(nq), sizeof *st.hcnt);
    int rc = st.prep1 && st.lat && st.hs && st.hid && st.hcnt ? 0 : ECB_ENOMEM;
    double a = ecb_now();
    if (!rc) rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries, nq, &st.prep, &qsize);
    st.scan_s += ecb_now() - a;
    for (size_t q = 0; !rc && q < st.nl; q++) {
        a = ecb_now();
        rc = ecb_chain_inst_prepare(m->b, m->cell->mode, m->es->queries + q * d, 1, &st.prep1[q],
                                    &qsize);
        st.lat[q] = (ecb_now() - a) * 1000.0;
    }
    size_t chunk = ecb_shard_stream_rows(cfg, ecb_chain_inst_code_size(m->b));
    for (size_t c0 = 0; !rc && c0 < ns; c0 += chunk) {
        size_t cnt = ns - c0 < chunk ? ns - c0 : chunk;
        rc = stream_chunk_pass(m, &st, c0, cnt, &so, &so1);
        if (c0 == 0) st.timed = stream_timed(st.lat, st.nl, (double)ns / (double)cnt);
    }
    const uint32_t *id_rank = m->es->ds->doc_id_rank + sh->lo;
    a = ecb_now();
    for (size_t q = 0; !rc && q < nq; q++) {
        float *hs = st.hs + q * k1;
        int64_t *hid = st.hid + q * k1;
        double r0 = ecb_now();
        ecb_heap_finish(hs, hid, st.hcnt[q], k1, id_rank);
        if (rs->factor)
            rc = ecb_rescorer_score(&m->rsc, m->es, sh->local, q, hid, st.hcnt[q], m->rs, 0);
        if (q < st.timed) st.lat[q] += (ecb_now() - r0) * 1000.0;
        if (!rc) rc = pack_list(&b, hs, rs->factor ? m->rs : NULL, hid, st.hcnt[q], sh->lo);
        if (!rc && q < st.timed)
            rc = pack_list(&lb, hs, rs->factor ? m->rs : NULL, hid, st.hcnt[q], sh->lo);
    }
    st.scan_s += ecb_now() - a;
    rc = ecb_mpi_agree_msg(rc);
    double timed = -(double)st.timed; /* the fewest timed queries over the ranks */
    ecb_mpi_max_double(&timed);
    ecb_mpi_max_double(&st.scan_s);
    ecb_mpi_max_double(&st.enc_s);
    if (!rc) {
        ecb_mpi_barrier();
        a = ecb_now();
        rc = gather_merge(&b, nq, k1, m->es->ds->doc_id_rank, rs->factor != 0, &m->top);
        double tb = st.scan_s + (ecb_now() - a);
        m->res->qps = tb > 0 ? (double)nq / tb : NAN;
        m->res->encode_vps = st.enc_s > 0 ? (double)m->n / st.enc_s : NAN;
        m->sh->encode_vps = m->res->encode_vps;
        rc = ecb_mpi_agree_msg(rc);
    }
    /* the lists of the queries only some ranks timed are dropped with them */
    size_t nt = (size_t)-timed;
    if (!rc) rc = latency_merge(m, st.lat, nt, &lb);
    for (size_t q = 0; st.prep1 && q < st.nl; q++) free(st.prep1[q]);
    free(st.prep1);
    free(st.prep);
    free(st.lat);
    free(st.hs);
    free(st.hid);
    free(st.hcnt);
    ecb_buf_free(&b);
    ecb_buf_free(&lb);
    return rc;
}

/* kNN recall needs the exact scores of the retrieved rows: rank 0 sends the
 * lists, each rank scores the rows it holds (-inf elsewhere), the maximum
 * over ranks is the owner's score. Then rank 0 computes every metric. */
static int evaluate(smeasure *m)
{
    const ecb_evalset *es = m->es;
    const ecb_shard *sh = m->sh;
    size_t nq = es->nq, maxk = m->maxk;
    int64_t *ids = ecb_malloc_array(nz(nq * maxk), sizeof *ids);
    float *ex = ecb_malloc_array(nz(nq * maxk), sizeof *ex);
    int64_t *loc = ecb_malloc_array(nz(maxk), sizeof *loc);
    float *sc = ecb_malloc_array(nz(maxk), sizeof *sc);
    size_t *pos = ecb_malloc_array(nz(maxk), sizeof *pos);
    int rc = ids && ex && loc && sc && pos ? 0 : ECB_ENOMEM;
    if (!rc && ecb_mpi_rank() == 0)
        for (size_t q = 0; q < nq; q++)
            for (size_t i = 0; i < maxk; i++)
                ids[q * maxk + i] = i < m->top.count[q] && i < m->top.k ? m->top.ids[q * m->top.k + i]
                                                                        : -1;
    rc = ecb_mpi_agree_msg(rc);
    if (!rc) rc = ecb_mpi_bcast(ids, nq * maxk * sizeof *ids);
    for (size_t q = 0; !rc && q < nq; q++) {
        size_t nl = 0;
        for (size_t i = 0; i < maxk; i++) {
            int64_t g = ids[q * maxk + i];
            ex[q * maxk + i] = -INFINITY;
            if (g >= (int64_t)sh->lo && g < (int64_t)sh->hi) {
                loc[nl] = g - (int64_t)sh->lo;
                pos[nl++] = i;
            }
        }
        rc = ecb_exact_scores(sh->local, es->ds->sim, es->queries + q * es->dim, loc, nl, sc);
        for (size_t j = 0; !rc && j < nl; j++) ex[q * maxk + pos[j]] = sc[j];
    }
    rc = ecb_mpi_agree_msg(rc);
    if (!rc) rc = ecb_mpi_reduce_max_float(ex, nq * maxk);
    if (!rc && ecb_mpi_rank() == 0) {
        rc = ecb_cell_evaluate(m->ctx->cfg, es, &m->top, ex, m->threads, m->res);
        if (!rc && m->ctx->trec_dir)
            rc = ecb_cell_write_trec(m->ctx->trec_dir, es, m->cell, &m->top, maxk);
    }
    free(ids);
    free(ex);
    free(loc);
    free(sc);
    free(pos);
    return ecb_mpi_agree_msg(rc);
}

static int measure_all(smeasure *m)
{
    int rc;
    if ((rc = take_sample(m))) return rc;
    if ((rc = build_chain(m))) return rc;
    ecb_cell_chain_columns(m->b, m->sample, m->ns, m->res);
    m->k1 = ecb_cell_k1(m->ctx->cfg, m->cell, m->n);
    if ((rc = build_rescorer(m))) return rc;
    if (m->stream) {
        if ((rc = stream_measure(m))) return rc;
    } else {
        if ((rc = batch(m))) return rc;
        if ((rc = latency(m))) return rc;
    }
    return evaluate(m);
}

typedef struct {
    const ecb_cell_ctx *ctx;
    ecb_shard *sh;
    const ecb_cell *cell;
} body_arg;

static int shard_body(void *arg, ecb_cell_result *res)
{
    const body_arg *a = arg;
    const ecb_config *cfg = a->ctx->cfg;
    smeasure m = {.ctx = a->ctx, .sh = a->sh, .cell = a->cell, .es = a->ctx->es, .res = res,
                  .n = a->sh->n, .maxk = cfg->ks[cfg->nk - 1], .threads = a->cell->threads};
    int rc = measure_all(&m);
    if (rc && a->sh->inst) { /* never keep a chain a failing cell may have left half-built */
        if (m.b == a->sh->inst) m.b = NULL;
        ecb_chain_inst_destroy(a->sh->inst);
        a->sh->inst = NULL;
        a->sh->key[0] = '\0';
    }
    if (m.owns_b) ecb_chain_inst_destroy(m.b);
    ecb_rescorer_release(&m.rsc);
    free(m.rs);
    free(m.sample);
    ecb_topk_release(&m.top);
    double rss = ecb_peak_rss_mb();
    ecb_mpi_max_double(&rss);
    res->peak_rss_mb = rss;
    return rc;
}

void ecb_shard_measure(const ecb_cell_ctx *ctx, ecb_shard *sh, const ecb_cell *cell,
                       ecb_cell_result *res)
{
    body_arg a = {ctx, sh, cell};
    ecb_cell_measure_with(ctx, cell, res, shard_body, &a);
}
