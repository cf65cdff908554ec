/*
 * MaxSim search over multi-vector corpora (see maxsim.h for the contract):
 * the blocked threaded scan (over a method's codes or the exact float32
 * tokens), exact double-precision MaxSim of given documents, and the
 * ground truth. The stored tokens themselves (selection, encoding, bit
 * packing) are built by mvindex.c.
 *
 * Layout of a scan: documents are cut into a fixed grid of blocks of whole
 * documents (about block_rows tokens each), queries into batches of whole
 * queries (about block_queries tokens). A worker takes a document block,
 * unpacks (or reads) its tokens once, and for every query batch scores all
 * batch tokens against all block tokens in one call (the plugin's score()
 * or one sgemm), then reduces each (query, document) pair to its MaxSim and
 * offers the block's documents to its own per-query heaps, merged at the
 * end in the one ranking order. Memory per worker: the block's codes or
 * floats, a batch x block score buffer and nq x k heap entries.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/ecb.h"
#include "ecbench/ecbmath.h"
#include "harness/maxsim.h"
#include "harness/team.h"

static size_t nz(size_t v) { return v ? v : 1; }

/* ---- the scan -------------------------------------------------------------- */

typedef struct {
    ecb_topk heaps;
    uint8_t *cbuf;    /* unpacked codes of a block */
    float *xbuf;      /* exact: the block's tokens */
    double *xn;       /* exact l2: their squared norms */
    float *sbuf;      /* batch tokens x block tokens */
    float *dsc;       /* a query's MaxSim of the block's documents */
    ecb_task_error err; /* the worker's failure */
} mv_worker;

typedef struct {
    /* a method's codes ... */
    const ecb_method *m;
    ecb_mode mode;
    const uint8_t *prepared;
    size_t qsize;
    const ecb_mv_index *ix;
    /* ... or the exact tokens */
    const ecb_vecs *tokens;
    ecb_ds_similarity sim;
    const float *qtok;
    const double *qn;
    size_t d;

    const int64_t *doff, *qoff;
    size_t n_docs, nq, k;
    const uint32_t *id_rank;
    size_t *dblk, ndblk, *qblk, nqblk; /* block / batch starts, +1 entry each */
    size_t max_bt, max_bd, max_qt;     /* largest block tokens, block docs, batch tokens */
    mv_worker *w;
} mv_job;

/* Cut n sequences into runs of whole sequences of at most cap tokens (one
 * longer sequence makes a run alone); *starts gets nruns + 1 entries. */
static int grid(const int64_t *off, size_t n, size_t cap, size_t **starts, size_t *nruns,
                size_t *max_tok, size_t *max_seq)
{
    *starts = ecb_malloc_array(n + 1, sizeof **starts);
    if (!*starts) return ECB_ENOMEM;
    size_t r = 0;
    *max_tok = *max_seq = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && (size_t)(off[j + 1] - off[i]) <= cap) j++;
        (*starts)[r++] = i;
        size_t t = (size_t)(off[j] - off[i]);
        if (t > *max_tok) *max_tok = t;
        if (j - i > *max_seq) *max_seq = j - i;
        i = j;
    }
    (*starts)[r] = n;
    *nruns = r;
    return 0;
}

static int worker_alloc(const mv_job *j, mv_worker *w)
{
    size_t sz;
    if (!ecb_mul_ok(j->max_qt, j->max_bt, &sz) || (j->tokens && !ecb_mul_ok(j->max_bt, j->d, &sz)))
        return ecb_fail(ECB_ENOMEM, "maxsim: a batch of %zu query tokens x %zu document tokens "
                        "overflows", j->max_qt, j->max_bt);
    if (!(w->sbuf = ecb_malloc_array(nz(j->max_qt * j->max_bt), sizeof *w->sbuf)) ||
        !(w->dsc = ecb_malloc_array(nz(j->max_bd), sizeof *w->dsc)))
        return ECB_ENOMEM;
    if (j->ix && j->ix->packed &&
        !(w->cbuf = ecb_malloc_array(nz(j->max_bt), nz(j->ix->code_size))))
        return ECB_ENOMEM;
    if (j->tokens && (!(w->xbuf = ecb_malloc_array(nz(j->max_bt * j->d), sizeof *w->xbuf)) ||
                      !(w->xn = ecb_malloc_array(nz(j->max_bt), sizeof *w->xn))))
        return ECB_ENOMEM;
    return 0;
}

/* The best of n token scores; NaN when one is NaN (a broken score never
 * enters a heap instead of being silently passed over). */
static float row_max(const float *row, size_t n)
{
    float mx = -INFINITY;
    int nan = 0;
    for (size_t r = 0; r < n; r++) {
        nan |= row[r] != row[r];
        if (row[r] > mx) mx = row[r];
    }
    return nan ? NAN : mx;
}

/* Scores of the batch's nqt tokens (from query token qt0 on) against the
 * block's nt tokens (from t0 on) into w->sbuf. */
static int score_batch(const mv_job *j, mv_worker *w, const uint8_t *codes, size_t qt0,
                       size_t nqt, size_t nt)
{
    if (j->m) {
        ecb_clear_error();
        int rc = j->m->vt->score(j->m, j->mode, j->prepared + qt0 * j->qsize, nqt, codes, nt,
                                 w->sbuf);
        if (rc) return ecb_fail(rc > 0 ? ECB_EINTERNAL : rc, "%s: score: %s", j->m->vt->name,
                                ecb_last_error());
        return 0;
    }
    float alpha = j->sim == ECB_DS_L2 ? 2.0f : 1.0f;
    if (ecb_gemm_nt(nqt, nt, j->d, alpha, j->qtok + qt0 * j->d, j->d, w->xbuf, j->d, 0.0f,
                    w->sbuf, nt))
        return ecb_fail(ECB_ERANGE, "maxsim: block %zu x %zu x %zu exceeds BLAS int range", nqt,
                        nt, j->d);
    if (j->sim == ECB_DS_L2)
        for (size_t a = 0; a < nqt; a++) {
            float *row = w->sbuf + a * nt;
            for (size_t r = 0; r < nt; r++)
                row[r] = (float)((double)row[r] - w->xn[r] - j->qn[qt0 + a]);
        }
    return 0;
}

/* Task b: document block b against every query batch. */
static int scan_block(void *arg, size_t b, size_t worker)
{
    mv_job *j = arg;
    mv_worker *w = &j->w[worker];
    int rc;
    if (!w->sbuf && (rc = worker_alloc(j, w)) != 0) return ecb_task_error_set(&w->err, b, rc);
    size_t d0 = j->dblk[b], d1 = j->dblk[b + 1];
    size_t t0 = (size_t)j->doff[d0], nt = (size_t)j->doff[d1] - t0;
    const uint8_t *codes = NULL;
    if (j->ix) {
        size_t cs = j->ix->code_size;
        if (j->ix->packed) {
            ecb_codes_unpack(j->ix->packed, t0, nt, cs, j->ix->code_bits, w->cbuf);
            codes = w->cbuf;
        } else {
            codes = j->ix->codes + t0 * cs;
        }
    } else {
        if ((rc = ecb_vecs_read(j->tokens, t0, nt, w->xbuf)) != 0) return ecb_task_error_set(&w->err, b, rc);
        if (j->sim == ECB_DS_COSINE) ecb_normalize_rows(w->xbuf, nt, j->d);
        if (j->sim == ECB_DS_L2)
            for (size_t r = 0; r < nt; r++) {
                double s = 0;
                for (size_t t = 0; t < j->d; t++) s += (double)w->xbuf[r * j->d + t] * w->xbuf[r * j->d + t];
                w->xn[r] = s;
            }
    }
    for (size_t qb = 0; qb < j->nqblk; qb++) {
        size_t q0 = j->qblk[qb], q1 = j->qblk[qb + 1];
        size_t qt0 = (size_t)(j->qoff[q0] - j->qoff[0]);
        size_t nqt = (size_t)(j->qoff[q1] - j->qoff[q0]);
        if ((rc = score_batch(j, w, codes, qt0, nqt, nt)) != 0) return ecb_task_error_set(&w->err, b, rc);
        for (size_t q = q0; q < q1; q++) {
            size_t a0 = (size_t)(j->qoff[q] - j->qoff[q0]), a1 = (size_t)(j->qoff[q + 1] - j->qoff[q0]);
            for (size_t dd = d0; dd < d1; dd++) {
                size_t r0 = (size_t)j->doff[dd] - t0, r1 = (size_t)j->doff[dd + 1] - t0;
                double acc = 0;
                for (size_t a = a0; a < a1; a++) acc += row_max(w->sbuf + a * nt + r0, r1 - r0);
                w->dsc[dd - d0] = (float)acc;
            }
            ecb_heap_push_row(w->heaps.scores + q * j->k, w->heaps.ids + q * j->k,
                              &w->heaps.count[q], j->k, w->dsc, d1 - d0, (int64_t)d0, j->id_rank);
        }
    }
    return 0;
}

static int run_scan(mv_job *j, const ecb_search_opts *o, ecb_topk *out)
{
    ecb_search_opts r;
    ecb_search_opts_default(&r);
    if (o && o->threads) r.threads = o->threads;
    if (o && o->block_rows) r.block_rows = o->block_rows;
    if (o && o->block_queries) r.block_queries = o->block_queries;
    int rc = ecb_topk_alloc(out, j->nq, j->k);
    if (rc || j->k == 0 || j->nq == 0 || j->n_docs == 0) return rc;
    size_t dummy, nt = 0;
    if ((rc = grid(j->doff, j->n_docs, r.block_rows, &j->dblk, &j->ndblk, &j->max_bt, &j->max_bd)) ||
        (rc = grid(j->qoff, j->nq, r.block_queries, &j->qblk, &j->nqblk, &j->max_qt, &dummy)))
        goto done;
    nt = r.threads < j->ndblk ? r.threads : j->ndblk;
    if (nt < 1) nt = 1;
    if (!(j->w = ecb_calloc(nt, sizeof *j->w))) {
        rc = ECB_ENOMEM;
        goto done;
    }
    j->w[0].heaps = *out; /* worker 0 fills out; the others merge into it */
    for (size_t t = 1; !rc && t < nt; t++) rc = ecb_topk_alloc(&j->w[t].heaps, j->nq, j->k);
    if (rc) goto done;
    /* BLAS on one thread whatever the worker count: a multi-threaded sgemm
     * splits its blocks differently, and the scores would depend on it */
    int prev = openblas_get_num_threads();
    /* only when it is not 1 already: any openblas_set_num_threads call starts
     * OpenBLAS's own threads again (harness/team.h, ecb_blas_one_thread) */
    if (prev != 1) openblas_set_num_threads(1);
    rc = ecb_parallel_for(j->ndblk, nt, scan_block, j);
    if (prev != 1) openblas_set_num_threads(prev);
    if (rc) {
        rc = ecb_task_error_raise(&j->w[0].err, nt, sizeof *j->w);
        goto done;
    }
    for (size_t t = 1; t < nt; t++)
        for (size_t q = 0; q < j->nq; q++)
            for (size_t i = 0; i < j->w[t].heaps.count[q]; i++)
                ecb_heap_push(out->scores + q * j->k, out->ids + q * j->k, &out->count[q], j->k,
                              j->w[t].heaps.scores[q * j->k + i], j->w[t].heaps.ids[q * j->k + i],
                              j->id_rank);
    for (size_t q = 0; q < j->nq; q++)
        ecb_heap_finish(out->scores + q * j->k, out->ids + q * j->k, out->count[q], j->k,
                        j->id_rank);
done:
    for (size_t t = 0; j->w && t < nt; t++) {
        if (t > 0) ecb_topk_release(&j->w[t].heaps);
        free(j->w[t].cbuf);
        free(j->w[t].xbuf);
        free(j->w[t].xn);
        free(j->w[t].sbuf);
        free(j->w[t].dsc);
    }
    free(j->w);
    free(j->dblk);
    free(j->qblk);
    if (rc) ecb_topk_release(out);
    return rc;
}

int ecb_maxsim_search_codes(const ecb_method *m, ecb_mode mode, const uint8_t *prepared,
                            const int64_t *qoff, size_t nq, const ecb_mv_index *ix, size_t k,
                            const uint32_t *id_rank, const ecb_search_opts *o, ecb_topk *out)
{
    mv_job j = {.m = m, .mode = mode, .prepared = prepared, .qsize = m->vt->query_size(m, mode),
                .ix = ix, .doff = ix->off, .qoff = qoff, .n_docs = ix->n_docs, .nq = nq, .k = k,
                .id_rank = id_rank};
    return run_scan(&j, o, out);
}

static int search_exact(const ecb_vecs *tokens, const int64_t *doff, size_t n_docs,
                        ecb_ds_similarity sim, const float *qtok, const int64_t *qoff,
                        size_t nq, size_t k, const uint32_t *id_rank,
                        const ecb_search_opts *o, ecb_topk *out)
{
    size_t d = ecb_vecs_dim(tokens), nqt = nq ? (size_t)(qoff[nq] - qoff[0]) : 0;
    double *qn = ecb_malloc_array(nz(nqt), sizeof *qn);
    if (!qn) return ECB_ENOMEM;
    const float *q = qtok;
    for (size_t a = 0; a < nqt; a++) {
        double s = 0;
        for (size_t t = 0; t < d; t++) s += (double)q[a * d + t] * q[a * d + t];
        qn[a] = s;
    }
    mv_job j = {.tokens = tokens, .sim = sim, .qtok = qtok, .qn = qn, .d = d, .doff = doff,
                .qoff = qoff, .n_docs = n_docs, .nq = nq, .k = k, .id_rank = id_rank};
    int rc = run_scan(&j, o, out);
    free(qn);
    return rc;
}

/* ---- MaxSim of given documents ---------------------------------------------- */

/* Exact token scores of one document: acc[a*n + r] = s(q_a, x_r) with
 * every product and sum in double, summed over the dimensions in order
 * (xt holds the n tokens transposed, d x n): each value is a fixed
 * sequence of operations, the same for the same pair of vectors wherever
 * they sit, and the loop over r vectorises without reassociating a sum. */
static void exact_token_scores(const float *q, size_t nqt, const double *xt, size_t n, size_t d,
                               int l2, double *acc)
{
    enum { R = 8 }; /* tokens per register block */
    for (size_t a = 0; a < nqt; a++) {
        const float *qa = q + a * d;
        size_t r0 = 0;
        for (; r0 + R <= n; r0 += R) {
            double s[R] = {0};
            for (size_t t = 0; t < d; t++) {
                double v = qa[t];
                const double *xr = xt + t * n + r0;
                if (l2)
                    for (size_t u = 0; u < R; u++) s[u] -= (v - xr[u]) * (v - xr[u]);
                else
                    for (size_t u = 0; u < R; u++) s[u] += v * xr[u];
            }
            memcpy(acc + a * n + r0, s, sizeof s);
        }
        for (size_t r = r0; r < n; r++) {
            double s = 0;
            for (size_t t = 0; t < d; t++) {
                double v = qa[t], x = xt[t * n + r];
                if (l2) s -= (v - x) * (v - x);
                else s += v * x;
            }
            acc[a * n + r] = s;
        }
    }
}

int ecb_maxsim_exact_scores(const ecb_vecs *tokens, const int64_t *doff, size_t n_docs,
                            ecb_ds_similarity sim, const float *qtok, size_t nqt,
                            const int64_t *ids, size_t count, float *out)
{
    size_t d = ecb_vecs_dim(tokens), cap = 0;
    float *x = NULL;
    double *xt = NULL, *acc = NULL;
    int rc = 0;
    for (size_t i = 0; i < count && !rc; i++) {
        int64_t id = ids[i];
        if (id < 0) {
            out[i] = -INFINITY;
            continue;
        }
        if ((uint64_t)id >= n_docs) {
            rc = ecb_fail(ECB_ERANGE, "maxsim: document %lld outside the corpus of %zu",
                          (long long)id, n_docs);
            break;
        }
        size_t a = (size_t)doff[id], n = (size_t)doff[id + 1] - a;
        if (n > cap) {
            free(x);
            free(xt);
            free(acc);
            cap = n;
            x = ecb_malloc_array(cap * d, sizeof *x);
            xt = ecb_malloc_array(cap * d, sizeof *xt);
            acc = ecb_malloc_array(nz(nqt) * cap, sizeof *acc);
            if (!x || !xt || !acc) {
                rc = ECB_ENOMEM;
                break;
            }
        }
        if ((rc = ecb_vecs_read(tokens, a, n, x)) != 0) break;
        if (sim == ECB_DS_COSINE) ecb_normalize_rows(x, n, d);
        for (size_t r = 0; r < n; r++)
            for (size_t t = 0; t < d; t++) xt[t * n + r] = x[r * d + t];
        exact_token_scores(qtok, nqt, xt, n, d, sim == ECB_DS_L2, acc);
        double sum = 0;
        for (size_t q = 0; q < nqt; q++) {
            double best = -INFINITY;
            for (size_t r = 0; r < n; r++)
                if (acc[q * n + r] > best) best = acc[q * n + r];
            sum += best;
        }
        out[i] = (float)sum;
    }
    free(x);
    free(xt);
    free(acc);
    return rc;
}

int ecb_maxsim_score_docs(const ecb_method *m, ecb_mode mode, const uint8_t *prepared,
                          size_t nqt, const ecb_mv_index *ix, const int64_t *ids, size_t count,
                          float *out)
{
    size_t cs = ix->code_size, cap = 0;
    uint8_t *cbuf = NULL;
    float *sbuf = NULL;
    int rc = 0;
    for (size_t i = 0; i < count && !rc; i++) {
        if (ids[i] < 0) {
            out[i] = -INFINITY;
            continue;
        }
        if ((uint64_t)ids[i] >= ix->n_docs) {
            rc = ecb_fail(ECB_ERANGE, "maxsim: document %lld outside the corpus of %zu",
                          (long long)ids[i], ix->n_docs);
            break;
        }
        size_t a = (size_t)ix->off[ids[i]], n = (size_t)ix->off[ids[i] + 1] - a;
        if (n > cap) {
            free(cbuf);
            free(sbuf);
            cap = n;
            cbuf = ecb_malloc_array(cap, nz(cs));
            sbuf = ecb_malloc_array(nz(nqt) * cap, sizeof *sbuf);
            if (!cbuf || !sbuf) {
                rc = ECB_ENOMEM;
                break;
            }
        }
        const uint8_t *codes = ix->codes + a * cs;
        if (ix->packed) {
            ecb_codes_unpack(ix->packed, a, n, cs, ix->code_bits, cbuf);
            codes = cbuf;
        }
        ecb_clear_error();
        if ((rc = m->vt->score(m, mode, prepared, nqt, codes, n, sbuf)) != 0) {
            rc = ecb_fail(rc > 0 ? ECB_EINTERNAL : rc, "%s: score: %s", m->vt->name,
                          ecb_last_error());
            break;
        }
        double acc = 0;
        for (size_t q = 0; q < nqt; q++) acc += row_max(sbuf + q * n, n);
        out[i] = (float)acc;
    }
    free(cbuf);
    free(sbuf);
    return rc;
}

typedef struct {
    const ecb_vecs *tokens;
    const int64_t *doff, *qoff;
    size_t n_docs, d;
    ecb_ds_similarity sim;
    const float *qtok;
    const uint32_t *id_rank;
    ecb_topk *out;
    float **sc;          /* k scores per worker */
    char (*msg)[1024];   /* per query: the error of a failed task */
} rescore_job;

/* Task q: re-score query q's winners exactly and re-sort them. */
static int rescore_task(void *arg, size_t q, size_t worker)
{
    rescore_job *j = arg;
    ecb_topk *t = j->out;
    size_t a = (size_t)(j->qoff[q] - j->qoff[0]), nqt = (size_t)(j->qoff[q + 1] - j->qoff[q]);
    float *sc = j->sc[worker];
    int rc = ecb_maxsim_exact_scores(j->tokens, j->doff, j->n_docs, j->sim, j->qtok + a * j->d,
                                     nqt, t->ids + q * t->k, t->count[q], sc);
    if (rc) {
        snprintf(j->msg[q], sizeof j->msg[q], "%s", ecb_last_error());
        return rc;
    }
    memcpy(t->scores + q * t->k, sc, t->count[q] * sizeof *sc);
    ecb_rank_sort(t->scores + q * t->k, t->ids + q * t->k, t->count[q], j->id_rank);
    return 0;
}

int ecb_maxsim_topk_exact(const ecb_vecs *tokens, const int64_t *doff, size_t n_docs,
                          ecb_ds_similarity sim, const float *qtok, const int64_t *qoff,
                          size_t nq, size_t k, const uint32_t *id_rank,
                          const ecb_search_opts *o, ecb_topk *out)
{
    int rc = search_exact(tokens, doff, n_docs, sim, qtok, qoff, nq, k, id_rank, o, out);
    if (rc || nq == 0) return rc;
    size_t threads = o && o->threads ? o->threads : 1;
    if (threads > nq) threads = nq;
    rescore_job j = {tokens, doff, qoff, n_docs, ecb_vecs_dim(tokens), sim, qtok, id_rank, out,
                     ecb_calloc(threads, sizeof(float *)), ecb_calloc(nq, sizeof *j.msg)};
    rc = j.sc && j.msg ? 0 : ECB_ENOMEM;
    for (size_t t = 0; !rc && t < threads; t++)
        if (!(j.sc[t] = ecb_malloc_array(nz(k), sizeof(float)))) rc = ECB_ENOMEM;
    if (!rc && (rc = ecb_parallel_for(nq, threads, rescore_task, &j)) != 0) {
        for (size_t q = 0; q < nq; q++) /* the lowest failing query's message */
            if (j.msg[q][0]) {
                rc = ecb_fail(rc, "%s", j.msg[q]);
                break;
            }
    }
    for (size_t t = 0; j.sc && t < threads; t++) free(j.sc[t]);
    free(j.sc);
    free(j.msg);
    if (rc) ecb_topk_release(out);
    return rc;
}

int ecb_maxsim_groundtruth(const ecb_dataset *ds, const float *qtok, size_t k,
                           const ecb_search_opts *o, ecb_topk *out)
{
    const ecb_mvdata *mv = ds->mv;
    return ecb_maxsim_topk_exact(mv->corpus.tokens, mv->corpus.offsets, mv->corpus.n_items,
                                 ds->sim, qtok, mv->queries.offsets, mv->queries.n_items, k,
                                 ds->doc_id_rank, o, out);
}
