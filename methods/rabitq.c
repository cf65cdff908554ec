/*
 * rabitq: RaBitQ (Gao & Long, SIGMOD 2024, "RaBitQ: Quantizing
 * High-Dimensional Vectors with a Theoretical Error Bound for Approximate
 * Nearest Neighbor Search") and its multi-bit extension (Gao, Gou, Xu, Yang,
 * Long, Wong, SIGMOD 2025, "Practical and Asymptotically Optimal Quantization
 * of High-Dimensional Vectors in Euclidean Space for ANN Search", a.k.a.
 * extended RaBitQ). Written from the papers' descriptions. (One method per
 * file: the estimator, the multi-bit grid search and the scans take it past
 * 600 lines.)
 *
 * Encoding of x: pick the centroid c (the training mean, or the nearest of
 * `centroids` k-means centroids), rotate o' = P^T (x - c) with a Haar-random
 * orthogonal P, normalise u = o' / ||o'||, and quantize u onto the grid
 * y in {-(2^B-1)/2, ..., -1/2, 1/2, ..., (2^B-1)/2}^d rescaled to unit norm,
 * choosing the rescaling t of u that maximises cos(y, u) (B = 1: y = sign(u)/2,
 * plain RaBitQ; B > 1: the exact critical-point enumeration of extended
 * RaBitQ). The estimator of the paper,
 *     <o, q> ~= <y, q'> / <y, u>      (q' = P^T (q - c)),
 * is unbiased for B = 1 (the residual of y orthogonal to u is uniform on the
 * sphere of the complement after the random rotation) and asymptotically so
 * for B > 1.
 *
 * Code layout (code_size bytes per vector, in this order):
 *   float32 mul, float32 add      the two per-vector correction scalars;
 *   float32 err                   only with rerank_bound > 0;
 *   uint8 centroid id             only with centroids > 1;
 *   B bit planes of ceil(d/8) bytes: plane b holds bit b of the grid index
 *   k_i = y_i + (2^B-1)/2 in [0, 2^B-1]; plane B-1 is the sign code.
 * So 1 bit at d = 128 is 16 + 8 = 24 bytes, as FAISS's IndexRaBitQ; in
 * general bits * ceil(d/8) + 8 (+4 with rerank_bound, +1 with centroids).
 *
 * Scores (higher is better, the host's convention), with e = estimated
 * <x - c, q - c> = ||x - c|| <y, q'> / <y, u>:
 *   DOT:  <x, q> = e + <x, c> + (<c, q> - ||c||^2)
 *         mul = ||x - c|| / <y, u>, add = <x, c>
 *   L2:  -||x - q||^2 = 2 e - ||x - c||^2 - ||q - c||^2
 *         mul = 2 ||x - c|| / <y, u>, add = -||x - c||^2
 * The query-only terms are added too, so scores are estimates of the true
 * similarity, not just order-equivalent.
 *
 * Modes. Asymmetric: the float query, rotated, against the codes through a
 * byte lookup table (d/8 lookups per bit plane). Symmetric: the query is
 * quantized with the same B, and <y_x, y_q> / (<y_x, u_x> <y_q, u_q>)
 * estimates <o, q>, computed with AND-popcounts over the bit planes
 * (B^2 plane pairs).
 *
 * rerank_bound = eps0 > 0 (paper: eps0 = 1.9 gives a bound that holds with
 * high probability): the paper's error bound of the estimator,
 *     |est - <o, q>| <= eps0 sqrt((1 - <yhat,u>^2) / <yhat,u>^2) / sqrt(d - 1),
 * scaled to a score error, is stored per vector (the third float, `err`) and
 * added to the asymmetric score: the returned score is the OPTIMISTIC bound
 * (estimate + bound), not the estimate. ABI v1 has no field for a second
 * score, so this is the only way a plugin can steer the harness's generic
 * rescoring: retrieving k x factor candidates by their upper bound keeps
 * every candidate whose bound says it may still be in the true top-k, and the
 * float rescoring pass then orders them exactly. Without rescoring the
 * optimistic score ranks worse than the plain estimate; use it only with a
 * rescore factor. Symmetric mode ignores the bound (the paper's bound is for
 * a float query). Measured (bench/sota_table.py, seed 42): with a FIXED
 * rescore factor the bound does not help and costs 4 bytes: siftsmall 1 bit,
 * kNN recall@10 after float32 x2/x4/x10 rescoring 0.730/0.873/0.975 without,
 * 0.706/0.860/0.970 with eps0 = 1.9. The paper's gain is in re-ranking
 * fewer candidates adaptively (only those whose bound overlaps the current
 * k-th exact distance), which a fixed k x factor pass cannot express.
 *
 * Limits: no decode (the estimator is not a reconstruction). centroids <=
 * 256: this is a flat scan, not an IVF index, and every score() call
 * builds one lookup table per centroid for each query (asymmetric), and
 * prepare() quantizes the query once per centroid (symmetric).
 * The estimator's rescaling by <y, u> is the paper's; extended RaBitQ's
 * split into a sign code plus extra-bit code is a scan-speed layout detail we
 * replace by bit planes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct rabitq_params {
    size_t bits;
    size_t centroids;
    double rerank_bound;
};

static const ecb_param rabitq_params_table[] = {
    {"bits", ECB_PARAM_SIZE, offsetof(struct rabitq_params, bits), .def.u = 1, .min = 1,
     .max = 8, .help = "bits per dimension: 1 = RaBitQ, 2..8 = extended RaBitQ"},
    {"centroids", ECB_PARAM_SIZE, offsetof(struct rabitq_params, centroids), .def.u = 1,
     .min = 1, .max = 256,
     .help = "1 = normalise around the corpus mean; >1 = around the nearest k-means "
             "centroid (id stored per vector)"},
    {"rerank_bound", ECB_PARAM_DOUBLE, offsetof(struct rabitq_params, rerank_bound),
     .def.d = 0.0, .min = 0.0, .max = 100.0,
     .help = "eps0 of the error bound; >0 stores a 3rd float per vector and returns the "
             "optimistic score estimate+eps0*bound (asymmetric), meant for rescoring"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct rabitq_params p;
    size_t B, K, G;     /* bits, centroids, bytes per bit plane */
    size_t nf, idb;     /* floats and centroid-id bytes per code */
    size_t plane_off;   /* byte offset of the bit planes in a code */
    size_t code_size;
    int trained;
    float *rot;         /* d x d, row-major: o' = rot^T (x - c) */
    float *cent;        /* K x d, original space */
    float *rcent;       /* K x d, rot^T c_k */
    double *cnorm2;     /* ||c_k||^2 */
} rq_state;

/* Prepared asymmetric query: d floats P^T q, then per centroid
 * sum(P^T (q - c_k)), the query-only score constant and ||q - c_k||. The
 * lookup tables of q' = P^T q - P^T c_k are built in score(). */
#define RQ_QA_EXTRA 3
/* Prepared symmetric query, per centroid: 3 floats (query multiplier, score
 * constant, sum of grid indices) then the B bit planes, padded to 4 bytes. */
#define RQ_QS_HEAD 3

static int rq_create(const ecb_host *host, const void *params, size_t dim,
                     ecb_similarity sim, ecb_method **out)
{
    const struct rabitq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "rabitq: dim must be > 0, got 0");
    if (p->bits < 1 || p->bits > 8)
        return host->fail(host, ECB_ERANGE, "rabitq: bits must be in [1,8], got %zu", p->bits);
    if (p->centroids < 1 || p->centroids > 256)
        return host->fail(host, ECB_ERANGE, "rabitq: centroids must be in [1,256], got %zu",
                          p->centroids);
    if (!(p->rerank_bound >= 0.0))
        return host->fail(host, ECB_ERANGE, "rabitq: rerank_bound must be >= 0, got %g",
                          p->rerank_bound);
    rq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "rabitq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->B = p->bits;
    s->K = p->centroids;
    s->G = (dim + 7) / 8;
    s->nf = p->rerank_bound > 0.0 ? 3 : 2;
    s->idb = s->K == 1 ? 0 : 1;
    s->plane_off = s->nf * sizeof(float) + s->idb;
    s->code_size = s->plane_off + s->B * s->G;
    *out = &s->base;
    return 0;
}

static void rq_destroy(ecb_method *m)
{
    if (!m) return;
    rq_state *s = (rq_state *)m;
    free(s->rot);
    free(s->cent);
    free(s->rcent);
    free(s->cnorm2);
    free(s);
}

#define RQ_BLOCK 256

/* y = rot^T x for nb rows: y_i = sum_t x_it rot[t][:], accumulated in a
 * fixed order of t (rot^T is as Haar-random as rot). Not sgemm: OpenBLAS
 * rounds a row differently depending on its position in the block
 * (measured: 30-60% of rows differ in the last bit between a batch and
 * single-row calls), and a code must not depend on which other vectors were
 * encoded with it. The inner loop is a plain axpy, which vectorizes. */
static void rq_rotate(const rq_state *s, const float *x, size_t nb, float *y)
{
    size_t d = s->base.dim;
    for (size_t i0 = 0; i0 < nb; i0 += 16) {
        size_t i1 = nb - i0 < 16 ? nb : i0 + 16;
        memset(y + i0 * d, 0, (i1 - i0) * d * sizeof(float));
        for (size_t t = 0; t < d; t++) {
            const float *r = s->rot + t * d;
            for (size_t i = i0; i < i1; i++) {
                float xv = x[i * d + t];
                float *yi = y + i * d;
                for (size_t j = 0; j < d; j++) yi[j] += xv * r[j];
            }
        }
    }
}

/* Nearest centroid in the rotated space (rotation preserves distances). */
static size_t rq_nearest(const rq_state *s, const float *y)
{
    size_t d = s->base.dim, best = 0;
    double bd = INFINITY;
    for (size_t k = 0; k < s->K; k++) {
        double a = 0;
        for (size_t t = 0; t < d; t++) {
            double v = (double)y[t] - s->rcent[k * d + t];
            a += v * v;
        }
        if (a < bd) { bd = a; best = k; }
    }
    return best;
}

static int rq_train(ecb_method *m, const float *x, size_t n)
{
    rq_state *s = (rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, K = s->K;
    if (n < K)
        return h->fail(h, ECB_EINVAL, "rabitq: training sample has %zu vectors, needs >= "
                       "centroids=%zu", n, K);
    free(s->rot); free(s->cent); free(s->rcent); free(s->cnorm2);
    s->rot = malloc(d * d * sizeof(float));
    s->cent = malloc(K * d * sizeof(float));
    s->rcent = malloc(K * d * sizeof(float));
    s->cnorm2 = malloc(K * sizeof(double));
    if (!s->rot || !s->cent || !s->rcent || !s->cnorm2)
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory for d=%zu centroids=%zu", d, K);
    int rc;
    if (K == 1) {
        double *acc = calloc(d, sizeof(double));
        if (!acc) return h->fail(h, ECB_ENOMEM, "rabitq: out of memory");
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < d; t++) acc[t] += x[i * d + t];
        for (size_t t = 0; t < d; t++) s->cent[t] = (float)(acc[t] / (double)n);
        free(acc);
    } else {
        ecb_kmeans_opts o = {.k = K, .iters = 25, .tol = 1e-4, .init = ECB_KMEANS_PLUSPLUS,
                             .seed = h->seed ^ 0x7261626974710001ull, .threads = h->threads};
        rc = ecb_kmeans(&o, x, n, d, s->cent, NULL, NULL);
        if (rc) return h->fail(h, rc, "rabitq: k-means with k=%zu on %zu vectors failed", K, n);
    }
    rc = ecb_random_orthogonal(d, h->seed ^ 0x7261626974710002ull, s->rot);
    if (rc) return h->fail(h, rc, "rabitq: random rotation of size %zu failed", d);
    rq_rotate(s, s->cent, K, s->rcent);
    for (size_t k = 0; k < K; k++) {
        double a = 0;
        for (size_t t = 0; t < d; t++) a += (double)s->cent[k * d + t] * s->cent[k * d + t];
        s->cnorm2[k] = a;
    }
    s->trained = 1;
    return 0;
}

static size_t rq_code_size(const ecb_method *m) { return ((const rq_state *)m)->code_size; }

static size_t rq_aux_bytes(const ecb_method *m)
{
    const rq_state *s = (const rq_state *)m;
    return (m->dim * m->dim + s->K * m->dim) * sizeof(float);
}

/* ---- quantization of one unit vector ------------------------------------ */

typedef struct {
    double *a;       /* |u_i| */
    uint32_t *k;     /* magnitude level per dimension */
    uint32_t *ek, *ei, *ek2, *ei2; /* events (time key, dimension), d*(2^(B-1)-1) */
} rq_work;

static void rq_work_free(rq_work *w)
{
    free(w->a); free(w->k); free(w->ek); free(w->ei); free(w->ek2); free(w->ei2);
}

static int rq_work_alloc(rq_work *w, size_t d, size_t B)
{
    size_t K = (size_t)1 << (B - 1), E = d * (K > 1 ? K - 1 : 1);
    memset(w, 0, sizeof *w);
    w->a = malloc(d * sizeof(double));
    w->k = malloc(d * sizeof(uint32_t));
    w->ek = malloc(E * sizeof(uint32_t));
    w->ei = malloc(E * sizeof(uint32_t));
    w->ek2 = malloc(E * sizeof(uint32_t));
    w->ei2 = malloc(E * sizeof(uint32_t));
    if (!w->a || !w->k || !w->ek || !w->ei || !w->ek2 || !w->ei2) {
        rq_work_free(w);
        return -1;
    }
    return 0;
}

/* Stable LSD radix sort of n (key, payload) pairs by key, 4 passes of 8
 * bits; the result ends in (k, v) (an even number of passes). */
static void rq_radix_sort(uint32_t *k, uint32_t *v, uint32_t *k2, uint32_t *v2, size_t n)
{
    for (unsigned sh = 0; sh < 32; sh += 8) {
        size_t cnt[257] = {0};
        for (size_t e = 0; e < n; e++) cnt[(k[e] >> sh & 255) + 1]++;
        for (size_t b = 0; b < 256; b++) cnt[b + 1] += cnt[b];
        for (size_t e = 0; e < n; e++) {
            size_t dst = cnt[k[e] >> sh & 255]++;
            k2[dst] = k[e];
            v2[dst] = v[e];
        }
        uint32_t *t = k; k = k2; k2 = t;
        t = v; v = v2; v2 = t;
    }
}

/* Quantize the unit vector u (d) onto the B-bit grid, writing grid indices
 * idx[i] in [0, 2^B - 1] (y_i = idx_i - (2^B-1)/2). Returns <y, u> and stores
 * ||y||^2. For B > 1 this is extended RaBitQ's search over the rescaling t:
 * |y_i| = min(floor(t |u_i|), K-1) + 1/2 changes only at the critical points
 * t = m / |u_i|, so walking them in increasing order visits every distinct
 * candidate once, updating <y,|u|> and ||y||^2 incrementally; the prefix of
 * events with the best cosine is then replayed. The events are ordered by a
 * radix sort of their float32 times (positive floats order like their bit
 * patterns): a heap was 80% of the encoding time, mostly mispredicted
 * branches. */
static double rq_quantize(const float *u, size_t d, size_t B, rq_work *w, uint8_t *idx,
                          double *ynorm2)
{
    uint32_t K = 1u << (B - 1);
    double ip = 0, sq = 0.25 * (double)d;
    for (size_t i = 0; i < d; i++) {
        w->a[i] = fabs((double)u[i]);
        w->k[i] = 0;
        ip += 0.5 * w->a[i];
    }
    if (K > 1) {
        size_t ne = 0, best_nev = 0;
        for (uint32_t m = 1; m < K; m++)
            for (size_t i = 0; i < d; i++) {
                if (!(w->a[i] > 0)) continue;
                float t = (float)((double)m / w->a[i]);
                memcpy(&w->ek[ne], &t, sizeof t);
                w->ei[ne++] = (uint32_t)i;
            }
        rq_radix_sort(w->ek, w->ei, w->ek2, w->ei2, ne);
        double best = ip / sqrt(sq), ip_best = ip, sq_best = sq;
        for (size_t e = 0; e < ne; e++) {
            uint32_t i = w->ei[e];
            uint32_t k = ++w->k[i];
            ip += w->a[i];
            sq += 2.0 * k;
            /* compare cos^2 without the square root: ip > 0 throughout */
            if (ip * ip > best * best * sq) {
                best = ip / sqrt(sq);
                best_nev = e + 1;
                ip_best = ip;
                sq_best = sq;
            }
        }
        for (size_t i = 0; i < d; i++) w->k[i] = 0;
        for (size_t e = 0; e < best_nev; e++) w->k[w->ei[e]]++;
        ip = ip_best;
        sq = sq_best;
    }
    for (size_t i = 0; i < d; i++)
        idx[i] = (uint8_t)(u[i] >= 0 ? K + w->k[i] : K - 1 - w->k[i]);
    *ynorm2 = sq;
    return ip;
}

static void rq_pack_planes(const uint8_t *idx, size_t d, size_t B, size_t G, uint8_t *planes)
{
    memset(planes, 0, B * G);
    for (size_t i = 0; i < d; i++)
        for (size_t b = 0; b < B; b++)
            if (idx[i] >> b & 1) planes[b * G + i / 8] |= (uint8_t)(1u << (i % 8));
}

static int rq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const rq_state *s = (const rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, B = s->B;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "rabitq: encode before train");
    float *y = malloc(RQ_BLOCK * d * sizeof(float));
    float *u = malloc(d * sizeof(float));
    uint8_t *idx = malloc(d);
    rq_work w;
    if (!y || !u || !idx || rq_work_alloc(&w, d, B)) {
        free(y); free(u); free(idx);
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory encoding d=%zu", d);
    }
    int rc = 0;
    for (size_t i0 = 0; i0 < n; i0 += RQ_BLOCK) {
        size_t nb = n - i0 < RQ_BLOCK ? n - i0 : RQ_BLOCK;
        rq_rotate(s, x + i0 * d, nb, y);
        for (size_t j = 0; j < nb; j++) {
            const float *xj = x + (i0 + j) * d;
            float *yj = y + j * d;
            uint8_t *c = codes + (i0 + j) * s->code_size;
            size_t k = s->K == 1 ? 0 : rq_nearest(s, yj);
            const float *rc_ = s->rcent + k * d, *ck = s->cent + k * d;
            double nrm2 = 0, xc = 0;
            for (size_t t = 0; t < d; t++) {
                double v = (double)yj[t] - rc_[t];
                nrm2 += v * v;
                xc += (double)xj[t] * ck[t];
            }
            double nrm = sqrt(nrm2);
            double ip = 0, yn2 = 0.25 * (double)d;
            if (nrm > 0) {
                for (size_t t = 0; t < d; t++) u[t] = (float)(((double)yj[t] - rc_[t]) / nrm);
                ip = rq_quantize(u, d, B, &w, idx, &yn2);
            } else {
                memset(idx, 0, d);
            }
            float f[3];
            double mul = (nrm > 0 && ip > 0) ? nrm / ip : 0.0;
            if (m->sim == ECB_SIM_L2) {
                f[0] = (float)(2.0 * mul);
                f[1] = (float)(-nrm2);
            } else {
                f[0] = (float)mul;
                f[1] = (float)xc;
            }
            if (s->nf == 3) {
                /* |est<o,q> - <o,q>| <= eps0 sqrt(1-cos^2)/cos/sqrt(d-1) for unit
                 * q; in score units: scale * ||x-c|| * ||q-c|| times that. */
                double cosv = (nrm > 0 && yn2 > 0) ? ip / sqrt(yn2) : 1.0;
                if (cosv > 1.0) cosv = 1.0;
                double e = cosv > 0 ? sqrt(1.0 - cosv * cosv) / cosv : 0.0;
                e /= sqrt(d > 1 ? (double)(d - 1) : 1.0);
                f[2] = (float)((m->sim == ECB_SIM_L2 ? 2.0 : 1.0) * nrm * e);
            }
            memcpy(c, f, s->nf * sizeof(float));
            if (s->idb) c[s->nf * 4] = (uint8_t)k;
            rq_pack_planes(idx, d, B, s->G, c + s->plane_off);
        }
    }
    free(y); free(u); free(idx);
    rq_work_free(&w);
    return rc;
}

/* ---- queries ------------------------------------------------------------ */

static size_t rq_qs_stride(const rq_state *s)
{
    return (RQ_QS_HEAD * sizeof(float) + s->B * s->G + 3) / 4 * 4;
}

static size_t rq_query_size(const ecb_method *m, ecb_mode mode)
{
    const rq_state *s = (const rq_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) return s->K * rq_qs_stride(s);
    return (m->dim + s->K * RQ_QA_EXTRA) * sizeof(float);
}

/* Score-space constant of a query for centroid k: everything that does not
 * depend on the document. y is the rotated query P^T q. */
static double rq_qconst(const rq_state *s, size_t k, const float *y, double *qc_norm)
{
    size_t d = s->base.dim;
    double n2 = 0, cq = 0;
    for (size_t t = 0; t < d; t++) {
        double v = (double)y[t] - s->rcent[k * d + t];
        n2 += v * v;
        cq += (double)y[t] * s->rcent[k * d + t];
    }
    *qc_norm = sqrt(n2);
    return s->base.sim == ECB_SIM_L2 ? -n2 : cq - s->cnorm2[k];
}

static int rq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const rq_state *s = (const rq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, K = s->K;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "rabitq: prepare before train");
    float *y = malloc(d * sizeof(float));
    float *u = malloc(d * sizeof(float));
    uint8_t *idx = malloc(d);
    rq_work w;
    int have_w = mode == ECB_MODE_SYMMETRIC ? !rq_work_alloc(&w, d, s->B) : 1;
    if (!y || !u || !idx || !have_w) {
        free(y); free(u); free(idx);
        if (have_w && mode == ECB_MODE_SYMMETRIC) rq_work_free(&w);
        return h->fail(h, ECB_ENOMEM, "rabitq: out of memory preparing queries");
    }
    int rc = 0;
    size_t qsz = rq_query_size(m, mode);
    for (size_t i = 0; i < nq && !rc; i++) {
        rq_rotate(s, q + i * d, 1, y);
        uint8_t *o = (uint8_t *)out + i * qsz;
        if (mode == ECB_MODE_ASYMMETRIC) memcpy(o, y, d * sizeof(float));
        for (size_t k = 0; k < K; k++) {
            double qn;
            double qc = rq_qconst(s, k, y, &qn);
            if (mode == ECB_MODE_ASYMMETRIC) {
                float *f = (float *)(void *)o + d + k * RQ_QA_EXTRA;
                double sum = 0;
                for (size_t t = 0; t < d; t++) sum += y[t] - s->rcent[k * d + t];
                f[0] = (float)sum;
                f[1] = (float)qc;
                f[2] = (float)qn;
            } else {
                uint8_t *e = o + k * rq_qs_stride(s);
                double ip = 0, yn2;
                if (qn > 0) {
                    for (size_t t = 0; t < d; t++)
                        u[t] = (float)(((double)y[t] - s->rcent[k * d + t]) / qn);
                    ip = rq_quantize(u, d, s->B, &w, idx, &yn2);
                } else {
                    memset(idx, 0, d);
                }
                double sumk = 0;
                for (size_t t = 0; t < d; t++) sumk += idx[t];
                float f[RQ_QS_HEAD] = {(float)((qn > 0 && ip > 0) ? qn / ip : 0.0), (float)qc,
                                       (float)sumk};
                memcpy(e, f, sizeof f);
                rq_pack_planes(idx, d, s->B, s->G, e + sizeof f);
            }
        }
    }
    free(y); free(u); free(idx);
    if (mode == ECB_MODE_SYMMETRIC) rq_work_free(&w);
    return rc;
}

/* lut[g*256 + v] = sum of q[8g + j] over the set bits j of byte v. */
static void rq_build_lut(const float *q, size_t d, size_t G, float *lut)
{
    for (size_t g = 0; g < G; g++) {
        float *T = lut + g * 256;
        float qq[8];
        for (size_t j = 0; j < 8; j++) qq[j] = 8 * g + j < d ? q[8 * g + j] : 0.0f;
        T[0] = 0.0f;
        for (unsigned v = 1; v < 256; v++) T[v] = T[v & (v - 1)] + qq[__builtin_ctz(v)];
    }
}

static inline size_t rq_cid(const rq_state *s, const uint8_t *c)
{
    return s->idb ? c[s->nf * 4] : 0;
}

static int rq_score_asym(const rq_state *s, const void *prepared, size_t nq,
                         const uint8_t *codes, size_t n, float *scores)
{
    size_t d = s->base.dim, G = s->G, B = s->B, K = s->K, cs = s->code_size;
    size_t qstride = d + K * RQ_QA_EXTRA;
    float *lut = malloc((K * G * 256 + d) * sizeof(float));
    if (!lut) return s->base.host->fail(s->base.host, ECB_ENOMEM, "rabitq: out of memory "
                                        "for %zu lookup tables", K);
    float *qk = lut + K * G * 256;
    float cB = (float)(((1u << B) - 1) * 0.5);
    float eps = (float)s->p.rerank_bound;
    for (size_t i = 0; i < nq; i++) {
        const float *pq = (const float *)prepared + i * qstride;
        for (size_t k = 0; k < K; k++) {
            for (size_t t = 0; t < d; t++) qk[t] = pq[t] - s->rcent[k * d + t];
            rq_build_lut(qk, d, G, lut + k * G * 256);
        }
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * cs;
            float f[3];
            memcpy(f, c, s->nf * sizeof(float));
            size_t k = rq_cid(s, c);
            const float *L = lut + k * G * 256;
            const float *qe = pq + d + k * RQ_QA_EXTRA;
            const uint8_t *pl = c + s->plane_off;
            float acc = 0.0f;
            for (size_t b = 0; b < B; b++) acc += ecb_lut_sum8(L, pl + b * G, G) * (float)(1u << b);
            float ip = acc - cB * qe[0];
            float v = f[1] + f[0] * ip + qe[1];
            if (eps > 0) v += eps * qe[2] * f[2];
            sc[j] = v;
        }
    }
    free(lut);
    return 0;
}

static inline uint64_t rq_load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* popcount(a & b) over G bytes. */
static inline __attribute__((always_inline)) unsigned rq_popand(const uint8_t *a,
                                                                const uint8_t *b, size_t G)
{
    unsigned c = 0;
    size_t g = 0;
    for (; g + 8 <= G; g += 8) c += (unsigned)__builtin_popcountll(rq_load64(a + g) & rq_load64(b + g));
    for (; g < G; g++) c += (unsigned)__builtin_popcount((unsigned)(a[g] & b[g]));
    return c;
}

/* popcount(a ^ b) over G bytes (padding bits are 0 on both sides). */
static inline __attribute__((always_inline)) unsigned rq_popxor(const uint8_t *a,
                                                                const uint8_t *b, size_t G)
{
    unsigned c = 0;
    size_t g = 0;
    for (; g + 8 <= G; g += 8) c += (unsigned)__builtin_popcountll(rq_load64(a + g) ^ rq_load64(b + g));
    for (; g < G; g++) c += (unsigned)__builtin_popcount((unsigned)(a[g] ^ b[g]));
    return c;
}

static inline __attribute__((always_inline)) void
rq_score_sym_body(const rq_state *s, const uint8_t *prepared, size_t nq, const uint8_t *codes,
                  size_t n, float *scores)
{
    size_t d = s->base.dim, G = s->G, B = s->B, cs = s->code_size;
    size_t st = rq_qs_stride(s), qsz = s->K * st;
    double cB = ((1u << B) - 1) * 0.5;
    for (size_t i = 0; i < nq; i++) {
        const uint8_t *pq = prepared + i * qsz;
        float *sc = scores + i * n;
        for (size_t j = 0; j < n; j++) {
            const uint8_t *c = codes + j * cs;
            float f[2], qh[RQ_QS_HEAD];
            memcpy(f, c, sizeof f);
            const uint8_t *e = pq + rq_cid(s, c) * st;
            memcpy(qh, e, sizeof qh);
            const uint8_t *qp = e + sizeof qh, *xp = c + s->plane_off;
            if (B == 1) {
                /* y in {+-1/2}^d: <y_x,y_q> = (d - 2 ham) / 4 */
                unsigned ham = rq_popxor(xp, qp, G);
                double yy = 0.25 * ((double)d - 2.0 * ham);
                sc[j] = (float)(f[1] + (double)f[0] * qh[0] * yy + qh[1]);
                continue;
            }
            uint64_t dot = 0, sumx = 0;
            for (size_t a = 0; a < B; a++) {
                sumx += (uint64_t)rq_popand(xp + a * G, xp + a * G, G) << a;
                for (size_t b = 0; b < B; b++)
                    dot += (uint64_t)rq_popand(xp + a * G, qp + b * G, G) << (a + b);
            }
            double yy = (double)dot - cB * ((double)sumx + qh[2]) + (double)d * cB * cB;
            sc[j] = (float)(f[1] + (double)f[0] * qh[0] * yy + qh[1]);
        }
    }
}

__attribute__((target("popcnt"))) static void
rq_score_sym_popcnt(const rq_state *s, const uint8_t *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    rq_score_sym_body(s, prepared, nq, codes, n, scores);
}

static void rq_score_sym_generic(const rq_state *s, const uint8_t *prepared, size_t nq,
                                 const uint8_t *codes, size_t n, float *scores)
{
    rq_score_sym_body(s, prepared, nq, codes, n, scores);
}

static int rq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    const rq_state *s = (const rq_state *)m;
    if (mode == ECB_MODE_ASYMMETRIC) return rq_score_asym(s, prepared, nq, codes, n, scores);
    if (ecb_cpu()->popcnt)
        rq_score_sym_popcnt(s, prepared, nq, codes, n, scores);
    else
        rq_score_sym_generic(s, prepared, nq, codes, n, scores);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const rabitq_size_params[] = {"bits", NULL};

static const ecb_method_vtable rq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "rabitq",
    .summary = "RaBitQ: centroid + random rotation + 1..8-bit grid codes, unbiased estimator",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = rabitq_params_table,
    .params_size = sizeof(struct rabitq_params),
    .create = rq_create,
    .destroy = rq_destroy,
    .train = rq_train,
    .code_size = rq_code_size,
    .aux_bytes = rq_aux_bytes,
    .encode = rq_encode,
    .query_size = rq_query_size,
    .prepare = rq_prepare,
    .score = rq_score,
    .size_params = rabitq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_rabitq(void) { return &rq_vtable; }
