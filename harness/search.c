/*
 * Exact and code-based top-k search in the one ranking order of DESIGN D4.
 *
 * Layout of a search: the corpus is cut into a fixed grid of blocks of
 * block_rows rows, the queries into a fixed grid of query blocks; worker
 * threads take (corpus block, query block) units (ecb_parallel_for), score
 * them (sgemm for float32, the method's score() for codes) into a query
 * block x block_rows buffer, and push candidates into their own per-query
 * bounded heaps. For a method whose score_rows allows it, a unit is a range
 * of a block's rows instead (the same scores), scored and ranked while its
 * scores are in cache. The heaps are merged at the end, query by query in
 * parallel. Memory is the block buffers plus threads x nq x k heap entries:
 * never an n x nq matrix. Exact search of a corpus of at most one block per
 * worker reads every block once, in parallel, before the scan, instead of
 * once per worker that scans it.
 * Because the grids do not depend on the thread count, every (query, row)
 * score comes from the same BLAS call shape whichever thread computes it,
 * and the result is the same for any thread count.
 *
 * OpenBLAS is set to one thread for the duration of the call (restored
 * afterwards): the workers are the parallelism, and OpenBLAS's threaded
 * sgemm (which it uses for large products only) rounds differently from its
 * single-threaded one, which would make a document's score depend on the
 * size of its block and on the worker count. Corpus blocks of exact search
 * are padded to whole BLAS tiles (ecb_gemm_rows_padded) for the same reason:
 * identical documents score identically, so ties go by id.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "ecbench/ecbmath.h"
#include "harness/search.h"
#include "harness/team.h"

int ecb_topk_alloc(ecb_topk *t, size_t nq, size_t k)
{
    memset(t, 0, sizeof *t);
    size_t nk;
    if (!ecb_mul_ok(nq, k, &nk))
        return ecb_fail(ECB_ENOMEM, "top-k: %zu queries x k=%zu overflows", nq, k);
    t->scores = ecb_malloc_array(nk ? nk : 1, sizeof *t->scores);
    t->ids = ecb_malloc_array(nk ? nk : 1, sizeof *t->ids);
    t->count = ecb_calloc(nq ? nq : 1, sizeof *t->count);
    if (!t->scores || !t->ids || !t->count) {
        ecb_topk_release(t);
        return ECB_ENOMEM;
    }
    for (size_t i = 0; i < nk; i++) {
        t->scores[i] = -INFINITY;
        t->ids[i] = -1;
    }
    t->nq = nq;
    t->k = k;
    return 0;
}

void ecb_topk_release(ecb_topk *t)
{
    if (!t) return;
    free(t->scores);
    free(t->ids);
    free(t->count);
    memset(t, 0, sizeof *t);
}

/* ---- options ------------------------------------------------------------ */

void ecb_search_opts_default(ecb_search_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus < 1 ? 1 : cpus > 256 ? 256 : (size_t)cpus;
    /* 4096 x 768 floats = 12 MiB of corpus and 1024 x 4096 scores = 16 MiB per
     * worker: large enough for sgemm to run near its peak (bench/exact_search). */
    o->block_rows = 4096;
    o->block_queries = 1024;
}

static void opts_resolve(const ecb_search_opts *o, ecb_search_opts *r)
{
    ecb_search_opts_default(r);
    if (o) {
        if (o->threads) r->threads = o->threads;
        if (o->block_rows) r->block_rows = o->block_rows;
        if (o->block_queries) r->block_queries = o->block_queries;
    }
}

/* Squared norm in double. Four partial sums: one accumulator would make the
 * loop wait on the add latency (the compiler may not reassociate), which
 * cost as much as a tenth of the sgemm time per corpus block. */
static double sumsq(const float *x, size_t d)
{
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t t = 0;
    for (; t + 4 <= d; t += 4) {
        a0 += (double)x[t] * x[t];
        a1 += (double)x[t + 1] * x[t + 1];
        a2 += (double)x[t + 2] * x[t + 2];
        a3 += (double)x[t + 3] * x[t + 3];
    }
    for (; t < d; t++) a0 += (double)x[t] * x[t];
    return (a0 + a1) + (a2 + a3);
}

void ecb_normalize_rows(float *x, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        float *r = x + i * dim;
        double ss = sumsq(r, dim);
        if (ss <= 0) continue;
        double inv = 1.0 / sqrt(ss);
        for (size_t t = 0; t < dim; t++) r[t] = (float)(r[t] * inv);
    }
}

/* ---- the blocked, threaded scan ------------------------------------------- */

/* The work unit is a (corpus block, query block) pair, so that a small
 * corpus (one or two blocks) still keeps every worker busy (issue 13, item
 * 8). What a unit computes must not depend on how the queries are cut:
 *  - the corpus blocks are the caller's block_rows grid, unchanged (a
 *    method's score() may round differently for another row count, and the
 *    MPI shards are cut on this grid);
 *  - query blocks subdivide the block_queries grid into multiples of
 *    QUERY_GRANULE queries. OpenBLAS's sgemm (Haswell/Zen kernels) takes
 *    the queries 12 at a time and a score depends on the query's place in
 *    those 12 (and on the call's query count when it is not a multiple of
 *    12): cut at multiples of 12 from the same origin, every query keeps its
 *    place, and every score its bits. test_search.c (query_split_bits)
 *    checks this on the machine's BLAS, for exact search and for each
 *    sgemm-based cast. (Cutting the corpus block instead would change
 *    bits: the same row scores differently in calls of 128 and 256 rows.)
 * The grid depends on the shape (n, nq, block sizes, code size) only, never
 * on the thread count. */
enum { QUERY_GRANULE = 12 };
/* Units wanted per search: enough for 2-4 workers to finish together on a
 * corpus of one or two blocks, few enough that the repeated packing above
 * stays small. */
enum { MIN_UNITS = 8 };
/* Score buffer of a code scan (query block x corpus block floats): kept
 * about this size when the queries allow it, so that a cheap kernel's
 * scores are read back from cache by the heaps (issue 13, item 7). */
enum { SCORE_BUFFER_BYTES = 256 * 1024 };
/* Codes of at most this many bytes are "cheap" (popcount, LUT, small SQ):
 * their scan is bound by the score buffer's traffic, not by the kernel.
 * A method's scan_kind hook, when it has one, says so instead: the size
 * alone took 96-byte popcounts for heavy and 24-byte PQ codes decoded for
 * sgemm for cheap (the CoRECT sweep's pq m=192/96 nbits=2 ran at half the
 * other reconstruction scans' QPS). */
enum { CHEAP_CODE_BYTES = 64 };
/* Score buffer of a scan by ranges (a method with score_rows): one range's
 * queries x rows, kept in L2 with the sgemm's packed blocks. A float32 scan
 * of a 65,536-row block wrote its 504 x 65,536 scores (132 MB, fresh pages
 * each scan) and read them back from memory: at d = 384 that was a tenth of
 * the scan at 1 thread and a quarter at 2 (page faults serialise). */
enum { RANGE_BYTES = 512 * 1024 };

/* ---- scratch kept between scans ----------------------------------------- */

/* The block, score and preload buffers of a scan, kept for the next scan
 * when small. Freed, a buffer of a few MiB goes back to the kernel (glibc
 * maps it, or trims a thread's arena), and the next scan of a small corpus
 * spent a third of its time faulting zeroed pages in again; with 2 workers
 * the faults serialise on the process's memory map and 2 threads ran no
 * faster than 1. Slots are atomic pointers (no lock: a forked child may
 * inherit them in any state); a buffer's capacity sits in a header before
 * it. Larger buffers (large corpora: a non-cheap scan's scores are its
 * query block x 65,536 rows, 262 MB per worker at 1,000 queries) are
 * ecb_big_alloc's, kept with the codes and released before a fork: the
 * batch pass, repeated for its median, faulted them in afresh each time. */
enum { SCRATCH_SLOTS = 8, SCRATCH_HEADER = 64 };
#define SCRATCH_KEEP_BYTES ((size_t)32 << 20)
static _Atomic(unsigned char *) g_scratch[SCRATCH_SLOTS];

/* header: the capacity, then the mapping's length (ecb_big_free's) */
static void *scratch_get(size_t n, size_t size)
{
    size_t bytes;
    if (!ecb_mul_ok(n, size, &bytes) || bytes > SIZE_MAX - SCRATCH_HEADER) {
        ecb_fail(ECB_ENOMEM, "search: buffer of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    size_t mapped = 0;
    if (bytes <= SCRATCH_KEEP_BYTES)
        for (size_t i = 0; i < SCRATCH_SLOTS; i++) {
            unsigned char *b = atomic_exchange(&g_scratch[i], NULL);
            if (!b) continue;
            size_t cap;
            memcpy(&cap, b, sizeof cap);
            if (cap >= bytes) return b + SCRATCH_HEADER;
            unsigned char *none = NULL; /* too small for this one: leave it */
            if (!atomic_compare_exchange_strong(&g_scratch[i], &none, b)) free(b);
        }
    unsigned char *b = bytes <= SCRATCH_KEEP_BYTES ? ecb_malloc(bytes + SCRATCH_HEADER)
                                                   : ecb_big_alloc(bytes + SCRATCH_HEADER, &mapped);
    if (!b) return NULL;
    memcpy(b, &bytes, sizeof bytes);
    memcpy(b + sizeof bytes, &mapped, sizeof mapped);
    return b + SCRATCH_HEADER;
}

static void scratch_put(void *p)
{
    if (!p) return;
    unsigned char *b = (unsigned char *)p - SCRATCH_HEADER;
    size_t cap, mapped;
    memcpy(&cap, b, sizeof cap);
    memcpy(&mapped, b + sizeof cap, sizeof mapped);
    if (cap > SCRATCH_KEEP_BYTES) {
        ecb_big_free(b, mapped);
        return;
    }
    for (size_t i = 0; i < SCRATCH_SLOTS; i++) {
        unsigned char *none = NULL;
        if (atomic_compare_exchange_strong(&g_scratch[i], &none, b)) return;
    }
    free(b);
}

typedef struct qblock {
    size_t q0, nq;
} qblock;

typedef struct scan_worker {
    ecb_topk heaps;
    float *xbuf, *sbuf; /* scratch, allocated on the worker's first unit */
    float *fbuf;        /* score_floor: the query block's floors */
    double *xn;
    size_t xblock;      /* corpus block held in xbuf (exact search), or SIZE_MAX */
    ecb_task_error err; /* the worker's failure */
} scan_worker;

typedef struct scan_job {
    /* what is scanned: either a float32 corpus or a method's codes */
    const ecb_vecs *corpus;
    const float *q;     /* exact: nq x d queries (normalised for cosine) */
    const double *qn;   /* exact l2: |q|^2 */
    ecb_ds_similarity sim;
    const ecb_method *m;
    ecb_mode mode;
    int floor;          /* call m's score_floor with the heaps' k-th best scores */
    const uint8_t *prepared;
    size_t qsize;
    const uint8_t *codes;
    size_t csize;

    size_t n, d, nq, k;
    const uint32_t *id_rank;
    size_t block_rows, nblocks;
    qblock *qb;         /* the query grid, nqb blocks in query order */
    size_t nqb, max_qb;
    scan_worker *w; /* one per worker of ecb_parallel_for */
    size_t nw;      /* workers */
    /* exact search of a corpus of at most one block per worker: every block
     * loaded once, by all workers, before the scan (preload), instead of
     * once per worker that scans it */
    float *xall;    /* block b at row b * xstride, padded with zero rows */
    double *xnall;  /* |x|^2 of every row (l2) */
    size_t xstride;
    /* codes: score() calls of this many rows (a multiple of the method's
     * score_rows), each range ranked while its scores are in cache; 0:
     * one call per corpus block */
    size_t range;
    /* with range: units are (range of rows, query block) pairs, each block
     * cut into parts of range rows (the last block into fewer) */
    size_t parts;  /* parts of a full block; 0 when units are whole blocks */
    size_t nparts; /* row units: parts of all blocks, or the blocks */
} scan_job;

/* Push one block of scores (nqb x nb, row per query) into the heaps.
 * Returns 0, or ECB_ENUMERIC (with the message) at the first non-finite
 * score: it would rank as garbage (NaN never enters a heap, +-inf ties
 * everything) and the cell would report numbers that mean nothing. With
 * floors (fl, per query of the block), a value below its query's floor is
 * a skipped code (score_floor may write -inf there), not an error. */
static int offer_block(const scan_job *j, ecb_topk *h, const float *sc, size_t ldc, size_t q0,
                       size_t nqb, size_t row0, size_t nb, const float *fl)
{
    size_t k = h->k;
    for (size_t q = q0; q < q0 + nqb; q++) {
        const float *row = sc + (q - q0) * ldc;
        size_t bad = ecb_heap_push_row(h->scores + q * k, h->ids + q * k, &h->count[q], k, row,
                                       nb, (int64_t)row0, j->id_rank);
        if (fl)
            while (bad < nb && !isnan(row[bad]) && row[bad] < fl[q - q0])
                for (bad++; bad < nb && isfinite(row[bad]); bad++) {}
        if (bad == nb) continue;
        static const char *const sims[] = {"cosine", "dot", "l2"};
        if (j->m)
            return ecb_fail(ECB_ENUMERIC,
                            "method '%s' (%s): score of query %zu against corpus row %zu is %g; "
                            "scores must be finite (values beyond the range of its codes or of "
                            "float32?)",
                            j->m->vt->name ? j->m->vt->name : "?",
                            j->mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric", q,
                            row0 + bad, (double)row[bad]);
        return ecb_fail(ECB_ENUMERIC,
                        "exact float32 search (%s): score of query %zu against corpus row %zu is "
                        "%g; scores must be finite (values too large for float32 arithmetic?)",
                        sims[j->sim], q, row0 + bad, (double)row[bad]);
    }
    return 0;
}

static int scan_alloc(const scan_job *j, scan_worker *w)
{
    size_t bq = j->max_qb;
    size_t rows = j->corpus  ? ecb_gemm_rows_padded(j->block_rows)
                  : j->range ? j->range
                             : j->block_rows;
    size_t sz;
    if (!ecb_mul_ok(bq, rows, &sz) || (j->corpus && !ecb_mul_ok(rows, j->d, &sz)))
        return ecb_fail(ECB_ENOMEM, "search: block of %zu queries x %zu rows x dim %zu overflows",
                        bq, rows, j->d);
    if (!(w->sbuf = scratch_get(bq * rows, sizeof *w->sbuf)) ||
        (j->floor && !(w->fbuf = ecb_malloc_array(bq, sizeof *w->fbuf))) ||
        (j->corpus && !j->xall && (!(w->xbuf = scratch_get(rows * j->d, sizeof *w->xbuf)) ||
                       !(w->xn = scratch_get(j->block_rows, sizeof *w->xn)))))
        return ECB_ENOMEM;
    return 0;
}

/* Exact search: corpus block b into the worker's xbuf (padded with zero
 * rows, normalised for cosine, norms for l2), unless it is there already:
 * units go corpus block by corpus block, so a worker mostly reads each
 * block once. */
static int load_block(const scan_job *j, scan_worker *w, size_t b, size_t r0, size_t nb,
                      size_t ldc)
{
    if (w->xblock == b) return 0;
    w->xblock = SIZE_MAX;
    int rc = ecb_vecs_read(j->corpus, r0, nb, w->xbuf);
    if (rc) return rc;
    memset(w->xbuf + nb * j->d, 0, (ldc - nb) * j->d * sizeof *w->xbuf);
    if (j->sim == ECB_DS_COSINE) ecb_normalize_rows(w->xbuf, nb, j->d);
    if (j->sim == ECB_DS_L2)
        for (size_t r = 0; r < nb; r++) w->xn[r] = sumsq(w->xbuf + r * j->d, j->d);
    w->xblock = b;
    return 0;
}

/* Rows per preload task: a tenth of a millisecond of reading and norms at
 * d = 128, so that 2 workers share even a one-block corpus evenly. */
enum { LOAD_ROWS = 1024 };

/* Preload task t: rows [c * LOAD_ROWS, ...) of corpus block b, where
 * (b, c) = (t / chunks per block, t % chunks per block), into xall exactly
 * as load_block would put them (the same rows, the same per-row
 * normalisation and norms: the scores do not change). */
static int preload_task(void *arg, size_t t, size_t worker)
{
    scan_job *j = arg;
    size_t cpb = (j->block_rows + LOAD_ROWS - 1) / LOAD_ROWS;
    size_t b = t / cpb, off = t % cpb * LOAD_ROWS;
    size_t r0 = b * j->block_rows + off;
    size_t end = j->n - b * j->block_rows < j->block_rows ? j->n : (b + 1) * j->block_rows;
    if (r0 >= end) return 0;
    size_t cnt = end - r0 < LOAD_ROWS ? end - r0 : LOAD_ROWS;
    float *x = j->xall + (b * j->xstride + off) * j->d;
    int rc = ecb_vecs_read(j->corpus, r0, cnt, x);
    if (rc) return ecb_task_error_set(&j->w[worker].err, t, rc);
    if (j->sim == ECB_DS_COSINE) ecb_normalize_rows(x, cnt, j->d);
    if (j->sim == ECB_DS_L2)
        for (size_t r = 0; r < cnt; r++) j->xnall[r0 + r] = sumsq(x + r * j->d, j->d);
    return 0;
}

/* Unit t: unit (corpus block t / nqb, query block
 * t % nqb), scored and offered to the worker's heaps. */
static int scan_unit(void *arg, size_t t, size_t worker)
{
    scan_job *j = arg;
    scan_worker *w = &j->w[worker];
    int rc;
    if (!w->sbuf && (rc = scan_alloc(j, w)) != 0) return ecb_task_error_set(&w->err, t, rc);
    size_t b = t / j->nqb, part = 0;
    if (j->parts) { /* unit t: part t / nqb of all blocks' parts */
        part = b % j->parts;
        b /= j->parts;
    }
    size_t q0 = j->qb[t % j->nqb].q0, nqb = j->qb[t % j->nqb].nq;
    size_t r0 = b * j->block_rows;
    size_t nb = j->n - r0 < j->block_rows ? j->n - r0 : j->block_rows;
    if (j->parts) {
        /* range `part` of the block (codes only): its scores are the block's,
         * bit for bit (score_rows: the range starts at a multiple of it from
         * the block's first row, where a whole-block call would have started
         * a piece) */
        r0 += part * j->range;
        nb -= part * j->range;
        if (nb > j->range) nb = j->range;
    }
    float *sbuf = w->sbuf;
    /* exact scores: the block padded with zero rows (ecb_gemm_rows_padded) */
    size_t ldc = j->corpus ? ecb_gemm_rows_padded(nb) : nb;
    if (j->corpus) {
        const float *xbuf = w->xbuf;
        const double *xn = w->xn;
        if (j->xall) {
            xbuf = j->xall + b * j->xstride * j->d;
            xn = j->xnall + r0;
        } else if ((rc = load_block(j, w, b, r0, nb, ldc)) != 0) {
            return ecb_task_error_set(&w->err, t, rc);
        }
        float alpha = j->sim == ECB_DS_L2 ? 2.0f : 1.0f;
        rc = ecb_gemm_nt(nqb, ldc, j->d, alpha, j->q + q0 * j->d, j->d, xbuf, j->d, 0.0f,
                         sbuf, ldc);
        if (rc) {
            ecb_fail(rc, "exact search: block %zu x %zu x %zu exceeds BLAS int range", nqb, ldc,
                     j->d);
            return ecb_task_error_set(&w->err, t, rc);
        }
        if (j->sim == ECB_DS_L2) {
            /* -|q-x|^2 = 2 q.x - |x|^2 - |q|^2, norms in double */
            for (size_t qi = 0; qi < nqb; qi++) {
                float *row = sbuf + qi * ldc;
                double qq = j->qn[q0 + qi];
                for (size_t r = 0; r < nb; r++) row[r] = (float)((double)row[r] - xn[r] - qq);
            }
        }
    } else if (j->floor) {
        /* the k-th best this worker holds: a code strictly below it cannot
         * enter its heap, nor the merged top-k (which is at least as good) */
        for (size_t qi = 0; qi < nqb; qi++) {
            const ecb_topk *h = &w->heaps;
            w->fbuf[qi] = h->count[q0 + qi] == h->k ? h->scores[(q0 + qi) * h->k] : -INFINITY;
        }
        rc = j->m->vt->score_floor(j->m, j->mode, j->prepared + q0 * j->qsize, nqb,
                                   j->codes + r0 * j->csize, nb, w->fbuf, sbuf);
        if (rc) return ecb_task_error_set(&w->err, t, rc > 0 ? ECB_EINTERNAL : rc);
    } else {
        rc = j->m->vt->score(j->m, j->mode, j->prepared + q0 * j->qsize, nqb,
                             j->codes + r0 * j->csize, nb, sbuf);
        if (rc) return ecb_task_error_set(&w->err, t, rc > 0 ? ECB_EINTERNAL : rc);
    }
    rc = offer_block(j, &w->heaps, sbuf, ldc, q0, nqb, r0, nb, j->floor ? w->fbuf : NULL);
    if (rc) return ecb_task_error_set(&w->err, t, rc);
    return 0;
}

/* The query grid: every block_queries group (the grid's origin) cut into
 * blocks of a multiple of QUERY_GRANULE queries (the group's last block
 * takes the rest, up to one and a half blocks), small enough for MIN_UNITS
 * units in all and, for cheap codes, a score buffer of about
 * SCORE_BUFFER_BYTES; large enough (4 granules) that an sgemm-based score
 * does not pack its corpus block for a handful of queries: each sgemm packs
 * the whole block again, about the cost of five queries (bench: siftsmall,
 * 100 queries in blocks of 100 / 48 / 24 / 12: 1 / 1.15 / 1.23 / 1.60 x the
 * time), which is also why there are few units, no smaller than needed. */
static int query_grid(scan_job *j, size_t block_queries)
{
    size_t group = block_queries < j->nq ? block_queries : j->nq;
    /* query blocks wanted: the rest of MIN_UNITS after the blocks, or after
     * the ranges of rows that are units of their own (scan) */
    size_t want = (MIN_UNITS + j->nparts - 1) / j->nparts;
    size_t qb = (group + want - 1) / want;
    int kind = j->m && j->m->vt->scan_kind ? j->m->vt->scan_kind(j->m, j->mode) : ECB_SCAN_DEFAULT;
    if (kind != ECB_SCAN_DEFAULT && kind != ECB_SCAN_CHEAP && kind != ECB_SCAN_HEAVY)
        return ecb_fail(ECB_EINVAL,
                        "method '%s': scan_kind returned %d; expected ECB_SCAN_DEFAULT (0), "
                        "ECB_SCAN_CHEAP (1) or ECB_SCAN_HEAVY (2)",
                        j->m->vt->name ? j->m->vt->name : "?", kind);
    int cheap = !j->corpus &&
                (kind == ECB_SCAN_CHEAP || (kind != ECB_SCAN_HEAVY && j->csize <= CHEAP_CODE_BYTES));
    size_t floor_q = cheap ? QUERY_GRANULE : 4 * QUERY_GRANULE;
    if (cheap) {
        /* a unit's scores: its queries x its rows (a range's, with ranges) */
        size_t fit = SCORE_BUFFER_BYTES / sizeof(float) / (j->parts ? j->range : j->block_rows);
        if (fit < qb) qb = fit;
    }
    if (qb < floor_q) qb = floor_q;
    qb = (qb + QUERY_GRANULE - 1) / QUERY_GRANULE * QUERY_GRANULE;
    if (qb > group) qb = group;
    size_t per_group = (group + qb - 1) / qb;
    size_t cnt = (j->nq + group - 1) / group * per_group;
    if (!(j->qb = ecb_malloc_array(cnt, sizeof *j->qb))) return ECB_ENOMEM;
    j->nqb = 0;
    j->max_qb = 0;
    for (size_t g0 = 0; g0 < j->nq; g0 += group) {
        size_t g1 = j->nq - g0 < group ? j->nq : g0 + group, first = j->nqb;
        for (size_t q0 = g0; q0 < g1; q0 += qb)
            j->qb[j->nqb++] = (qblock){q0, g1 - q0 < qb ? g1 - q0 : qb};
        /* a short tail joins the block before it (100 queries: 48 + 52, not
         * 48 + 48 + 4, which would leave one of 2 workers a third more) */
        if (j->nqb - first >= 2 && 2 * j->qb[j->nqb - 1].nq < qb) {
            j->qb[j->nqb - 2].nq += j->qb[j->nqb - 1].nq;
            j->nqb--;
        }
        for (size_t i = first; i < j->nqb; i++)
            if (j->qb[i].nq > j->max_qb) j->max_qb = j->qb[i].nq;
    }
    return 0;
}

/* Queries per merge-and-sort task: the merge is a few percent of a cheap
 * scan of a small corpus, which a serial merge would keep from scaling. */
enum { FINISH_QUERIES = 16 };

/* Finish task t: queries [t * FINISH_QUERIES, ...): the other workers'
 * heaps pushed into worker 0's (in worker order, as one serial merge
 * would), then sorted into ranking order. */
static int finish_task(void *arg, size_t t, size_t worker)
{
    (void)worker;
    scan_job *j = arg;
    ecb_topk *out = &j->w[0].heaps;
    size_t q1 = (t + 1) * FINISH_QUERIES < j->nq ? (t + 1) * FINISH_QUERIES : j->nq;
    for (size_t q = t * FINISH_QUERIES; q < q1; q++) {
        float *os = out->scores + q * j->k;
        int64_t *oi = out->ids + q * j->k;
        for (size_t w = 1; w < j->nw; w++) {
            const float *s = j->w[w].heaps.scores + q * j->k;
            const int64_t *id = j->w[w].heaps.ids + q * j->k;
            for (size_t i = 0; i < j->w[w].heaps.count[q]; i++)
                ecb_heap_push(os, oi, &out->count[q], j->k, s[i], id[i], j->id_rank);
        }
        ecb_heap_finish(os, oi, out->count[q], j->k, j->id_rank);
    }
    return 0;
}

/* Run the scan with o->threads workers and merge into out. Heaps are per
 * worker and merged in the one ranking order, a total order: the top-k is
 * the same whichever worker scanned which unit. */
static int scan(scan_job *j, const ecb_search_opts *o, ecb_topk *out)
{
    int rc = ecb_topk_alloc(out, j->nq, j->k);
    if (rc) return rc;
    if (j->k == 0 || j->nq == 0 || j->n == 0) return 0;
    /* no buffer larger than the data it holds */
    j->block_rows = o->block_rows < j->n ? o->block_rows : j->n;
    j->nblocks = (j->n + j->block_rows - 1) / j->block_rows;
    size_t group = o->block_queries < j->nq ? o->block_queries : j->nq;
    j->nparts = j->nblocks;
    if (j->range) {
        /* score_rows' multiple for a score buffer of about RANGE_BYTES; each
         * range a unit, so that the workers share even a one-block corpus
         * without cutting its queries, and every row is decoded, packed for
         * sgemm and has its norm taken once per query block (siftsmall
         * float32, 100 queries: cut into 48 + 52 queries, every row was
         * packed and its norm taken twice, 9% of the scan at 1 thread) */
        size_t g = j->range, per = RANGE_BYTES / sizeof(float) / group / g;
        size_t cap = j->n / MIN_UNITS / g; /* MIN_UNITS ranges, when there are rows enough */
        if (per > cap) per = cap;
        j->range = g * (per ? per : 1);
        if (j->range > j->block_rows) j->range = j->block_rows; /* one part: the block */
        size_t last = j->n - (j->nblocks - 1) * j->block_rows;
        j->parts = (j->block_rows + j->range - 1) / j->range;
        j->nparts = (j->nblocks - 1) * j->parts + (last + j->range - 1) / j->range;
    }
    if ((rc = query_grid(j, o->block_queries)) != 0) {
        ecb_topk_release(out);
        return rc;
    }
    size_t units;
    if (!ecb_mul_ok(j->nparts, j->nqb, &units)) {
        free(j->qb);
        ecb_topk_release(out);
        return ecb_fail(ECB_ENOMEM, "search: %zu x %zu units overflow", j->nparts, j->nqb);
    }

    size_t nt = o->threads < units ? o->threads : units;
    if (nt < 1) nt = 1;
    scan_worker *w = ecb_calloc(nt, sizeof *w);
    if (!w) {
        free(j->qb);
        ecb_topk_release(out);
        return ECB_ENOMEM;
    }
    j->w = w;
    j->nw = nt;
    for (size_t t = 0; t < nt; t++) w[t].xblock = SIZE_MAX;
    /* worker 0 fills out directly; the others merge into it */
    w[0].heaps = *out;
    for (size_t t = 1; t < nt; t++)
        if ((rc = ecb_topk_alloc(&w[t].heaps, j->nq, j->k)) != 0) goto done;
    /* BLAS runs single-threaded whatever the worker count: OpenBLAS
     * threads a large sgemm but not a small one, and the two paths round
     * differently, so a document would score differently in a full block
     * and in the last, short one (and with 1 or 2 workers). */
    /* Preload when it takes no more memory than the workers' own block
     * buffers would (a small corpus: one block per worker at most). */
    if (j->corpus && j->nblocks <= nt) {
        j->xstride = ecb_gemm_rows_padded(j->block_rows);
        size_t cpb = (j->block_rows + LOAD_ROWS - 1) / LOAD_ROWS;
        size_t sz;
        if (!ecb_mul_ok(j->nblocks * j->xstride, j->d, &sz) ||
            !(j->xall = scratch_get(sz, sizeof *j->xall)) ||
            !(j->xnall = scratch_get(j->n, sizeof *j->xnall))) {
            rc = ECB_ENOMEM;
            goto done;
        }
        for (size_t b = 0; b < j->nblocks; b++) { /* the zero rows that pad each block */
            size_t nb = j->n - b * j->block_rows < j->block_rows ? j->n - b * j->block_rows
                                                                 : j->block_rows;
            memset(j->xall + (b * j->xstride + nb) * j->d, 0,
                   (j->xstride - nb) * j->d * sizeof *j->xall);
        }
        if ((rc = ecb_parallel_for(j->nblocks * cpb, nt, preload_task, j)) != 0) {
            rc = ecb_task_error_raise(&w[0].err, nt, sizeof *w);
            goto done;
        }
    }
    int prev_blas = openblas_get_num_threads();
    if (prev_blas != 1) openblas_set_num_threads(1);
    rc = ecb_parallel_for(units, nt, scan_unit, j);
    if (prev_blas != 1) openblas_set_num_threads(prev_blas);
    if (rc) {
        rc = ecb_task_error_raise(&w[0].err, nt, sizeof *w);
        goto done;
    }
    rc = ecb_parallel_for((j->nq + FINISH_QUERIES - 1) / FINISH_QUERIES, nt, finish_task, j);
done:
    for (size_t t = 0; t < nt; t++) {
        if (t > 0) ecb_topk_release(&w[t].heaps);
        scratch_put(w[t].xbuf);
        scratch_put(w[t].sbuf);
        free(w[t].fbuf);
        scratch_put(w[t].xn);
    }
    free(w);
    free(j->qb);
    scratch_put(j->xall);
    scratch_put(j->xnall);
    j->qb = NULL;
    j->xall = NULL;
    j->xnall = NULL;
    if (rc) ecb_topk_release(out);
    return rc;
}

int ecb_search_exact(const ecb_vecs *corpus, const float *queries, size_t nq,
                     ecb_ds_similarity sim, size_t k, const uint32_t *id_rank,
                     const ecb_search_opts *o, ecb_topk *out)
{
    ecb_search_opts r;
    opts_resolve(o, &r);
    if (sim != ECB_DS_COSINE && sim != ECB_DS_DOT && sim != ECB_DS_L2)
        return ecb_fail(ECB_EINVAL, "exact search: similarity %d is not cosine, dot or l2",
                        (int)sim);
    scan_job j;
    memset(&j, 0, sizeof j);
    j.corpus = corpus;
    j.sim = sim;
    j.n = ecb_vecs_count(corpus);
    j.d = ecb_vecs_dim(corpus);
    j.nq = nq;
    j.k = k;
    j.id_rank = id_rank;
    size_t nqd;
    if (!ecb_mul_ok(nq, j.d, &nqd))
        return ecb_fail(ECB_ENOMEM, "exact search: %zu queries x dim %zu overflows", nq, j.d);
    float *q = ecb_malloc_array(nqd ? nqd : 1, sizeof *q);
    double *qn = ecb_malloc_array(nq ? nq : 1, sizeof *qn);
    if (!q || !qn) {
        free(q);
        free(qn);
        return ECB_ENOMEM;
    }
    if (nqd) memcpy(q, queries, nqd * sizeof *q);
    if (sim == ECB_DS_COSINE) ecb_normalize_rows(q, nq, j.d);
    for (size_t i = 0; i < nq; i++) qn[i] = sumsq(q + i * j.d, j.d);
    j.q = q;
    j.qn = qn;
    int rc = scan(&j, &r, out);
    free(q);
    free(qn);
    return rc;
}

int ecb_search_codes(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, size_t k, const uint32_t *id_rank,
                     const ecb_search_opts *o, ecb_topk *out)
{
    ecb_search_opts r;
    opts_resolve(o, &r);
    if (!m || !m->vt || !m->vt->score || !m->vt->code_size || !m->vt->query_size)
        return ecb_fail(ECB_EINVAL, "code search: method without score/code_size/query_size");
    scan_job j;
    memset(&j, 0, sizeof j);
    j.m = m;
    j.mode = mode;
    /* ECBENCH_NO_SCORE_FLOOR=1 scans with score() alone: the same results by
     * the hook's contract, which tests/e2e/score_floor.sh checks end to end;
     * ECBENCH_NO_SCORE_ROWS=1 scores whole blocks (the same bits: score_rows) */
    const char *nf = getenv("ECBENCH_NO_SCORE_FLOOR"), *nr = getenv("ECBENCH_NO_SCORE_ROWS");
    j.floor = m->vt->score_floor && !(nf && strcmp(nf, "1") == 0);
    j.range = !j.floor && m->vt->score_rows && !(nr && strcmp(nr, "1") == 0)
                  ? m->vt->score_rows(m)
                  : 0;
    j.prepared = prepared;
    j.qsize = m->vt->query_size(m, mode);
    j.codes = codes;
    j.csize = m->vt->code_size(m);
    j.n = n;
    j.nq = nq;
    j.k = k;
    j.id_rank = id_rank;
    return scan(&j, &r, out);
}

/* ---- exact scores of given rows --------------------------------------------- */

int ecb_exact_scores(const ecb_vecs *corpus, ecb_ds_similarity sim, const float *query,
                     const int64_t *rows, size_t n, float *out)
{
    enum { CHUNK = 256 };
    size_t d = ecb_vecs_dim(corpus), nc = ecb_vecs_count(corpus);
    size_t sz;
    if (!ecb_mul_ok(CHUNK, d, &sz)) return ecb_fail(ECB_ENOMEM, "exact scores: dim %zu", d);
    float *x = ecb_malloc_array(sz, sizeof *x);
    size_t *idx = ecb_malloc_array(CHUNK, sizeof *idx);
    if (!x || !idx) {
        free(x);
        free(idx);
        return ECB_ENOMEM;
    }
    double qq = 0;
    for (size_t t = 0; t < d; t++) qq += (double)query[t] * query[t];
    int rc = 0;
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t m = n - i0 < CHUNK ? n - i0 : CHUNK, cnt = 0;
        for (size_t i = 0; i < m; i++) {
            int64_t r = rows[i0 + i];
            if (r < -1 || (r >= 0 && (uint64_t)r >= nc)) {
                rc = ecb_fail(ECB_ERANGE, "exact scores: row %lld outside corpus of %zu rows",
                              (long long)r, nc);
                goto out;
            }
            if (r >= 0) idx[cnt++] = (size_t)r;
        }
        if (cnt && (rc = ecb_vecs_read_rows(corpus, idx, cnt, x)) != 0) goto out;
        size_t c = 0;
        for (size_t i = 0; i < m; i++) {
            if (rows[i0 + i] < 0) {
                out[i0 + i] = -INFINITY;
                continue;
            }
            const float *v = x + c++ * d;
            double dot = 0, xx = 0, l2 = 0;
            for (size_t t = 0; t < d; t++) {
                dot += (double)query[t] * v[t];
                xx += (double)v[t] * v[t];
                double df = (double)query[t] - v[t];
                l2 += df * df;
            }
            double s = sim == ECB_DS_DOT ? dot
                       : sim == ECB_DS_L2 ? -l2
                       : (qq > 0 && xx > 0 ? dot / (sqrt(qq) * sqrt(xx)) : 0.0);
            out[i0 + i] = (float)s;
            if (!isfinite(out[i0 + i])) {
                static const char *const sims[] = {"cosine", "dot", "l2"};
                rc = ecb_fail(ECB_ENUMERIC,
                              "exact scores (%s): score against corpus row %lld is %g, %g in "
                              "float32; scores must be finite (values too large for float32?)",
                              sims[sim], (long long)rows[i0 + i], s, (double)out[i0 + i]);
                goto out;
            }
        }
    }
out:
    free(x);
    free(idx);
    return rc;
}
