/*
 * lsh: random-hyperplane LSH (Charikar 2002, sign random projections):
 * nbits hyperplanes through the origin (or through trained thresholds),
 * one bit per hyperplane, packed LSB-first into ceil(nbits/8) bytes.
 *
 * Hyperplanes, matching FAISS's IndexLSH(d, nbits) defaults
 * (rotate_data=true, train_thresholds=false) so the comparison is fair:
 *  - rotate=true: FAISS's RandomRotationMatrix(d, nbits): for nbits <= d,
 *    nbits orthonormal rows (the first rows of a Haar rotation); for
 *    nbits > d a tight frame: the first d columns of a Haar rotation of
 *    size nbits (orthonormal columns, rows of norm ~sqrt(d/nbits)). Only the
 *    directions matter for the bits; the frame spreads them more evenly
 *    than independent draws. Up to LSH_FULL_ROTATION (4096) bits the frame
 *    is the first d columns of a Haar rotation of size nbits, as it always
 *    was (so those results do not move), computed without the other
 *    nbits - d columns (ecb_random_orthogonal_cols: the same bits at
 *    O(nbits d^2)); above, where even the draws would be nbits^2 (6144 bits
 *    = CoRECT's 8 d at d = 768), the
 *    d columns are drawn directly: an nbits x d Gaussian orthonormalised
 *    column by column (modified Gram-Schmidt, twice, in double), which is
 *    the same distribution (the Q factor of a Gaussian with a positive R
 *    diagonal is Haar) at O(nbits d^2).
 *  - rotate=false: independent Gaussian hyperplanes (classic SimHash).
 *  The hyperplanes are drawn in train() from the seed alone (never from the
 *  sample), so that create() is cheap: the runner creates every chain once
 *  just to check a config before running it.
 *  - train_thresholds=false (default): bit = [w.x >= 0], data not centred,
 *    as FAISS does. true: per-bit threshold = median of w.x over the
 *    training sample (FAISS's train_thresholds), stored and counted.
 *
 * Scoring: symmetric = -Hamming distance (ecb_hamming_1xn); asymmetric =
 * (Wq - t).s with s the +-1 code (float query against sign codes). For L2
 * the same scores are used (no per-vector norm is stored); ranking then
 * approximates angular, not Euclidean, neighbours.
 *
 * Limits: 1 <= nbits <= 65536; the projection is dense (nbits x dim floats,
 * in aux_bytes).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct lsh_params {
    size_t nbits;
    int rotate;
    int train_thresholds;
};

static const ecb_param lsh_params_table[] = {
    {"nbits", ECB_PARAM_SIZE, offsetof(struct lsh_params, nbits), .def.u = 64, .min = 1,
     .max = 65536, .help = "number of hyperplanes = bits per code"},
    {"rotate", ECB_PARAM_BOOL, offsetof(struct lsh_params, rotate), .def.b = 1,
     .help = "orthonormal hyperplanes from a random rotation (FAISS IndexLSH rotate_data); "
             "false: independent Gaussian hyperplanes"},
    {"train_thresholds", ECB_PARAM_BOOL, offsetof(struct lsh_params, train_thresholds),
     .def.b = 0, .help = "threshold each bit at the training median instead of 0"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct lsh_params p;
    size_t nbits, nbytes;
    float *W;   /* nbits x dim hyperplane normals */
    float *thr; /* nbits thresholds, or NULL (all zero) */
} lsh_state;

/* Defined at the end (file order); create() stores it in the base. */
static const ecb_method_vtable lsh_vtable;

#define LSH_STREAM 0x6c73682d68797000ull /* "lsh-hyp" */
enum { LSH_BLOCK = 256, LSH_FULL_ROTATION = 4096, LSH_MAX_BITS = 65536 };

/* nb x d rows with orthonormal columns (nb > d): modified Gram-Schmidt of a
 * Gaussian, each column orthogonalised twice ("twice is enough") so the
 * columns stay orthonormal to rounding in double. */
static int lsh_frame(size_t nb, size_t d, ecb_rng *r, float *W)
{
    double *G = malloc(nb * d * sizeof *G); /* column-major: column j at G + j*nb */
    if (!G) return ECB_ENOMEM;
    for (size_t t = 0; t < nb * d; t++) G[t] = ecb_rng_normal(r);
    int rc = 0;
    for (size_t j = 0; j < d && !rc; j++) {
        double *g = G + j * nb;
        for (int pass = 0; pass < 2; pass++)
            for (size_t k = 0; k < j; k++) {
                const double *e = G + k * nb;
                double dot = 0;
                for (size_t i = 0; i < nb; i++) dot += e[i] * g[i];
                for (size_t i = 0; i < nb; i++) g[i] -= dot * e[i];
            }
        double nn = 0;
        for (size_t i = 0; i < nb; i++) nn += g[i] * g[i];
        if (!(nn > 0)) rc = ECB_ENUMERIC;
        double inv = 1.0 / sqrt(nn);
        for (size_t i = 0; i < nb; i++) g[i] *= inv;
    }
    if (!rc)
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++) W[i * d + j] = (float)G[j * nb + i];
    free(G);
    return rc;
}

static int lsh_hyperplanes(lsh_state *s, uint64_t seed)
{
    size_t d = s->base.dim, nb = s->nbits;
    ecb_rng r;
    ecb_rng_seed2(&r, seed, LSH_STREAM);
    if (!s->p.rotate) {
        for (size_t t = 0; t < nb * d; t++) s->W[t] = (float)ecb_rng_normal(&r);
        return 0;
    }
    if (nb > LSH_FULL_ROTATION && nb > d) return lsh_frame(nb, d, &r, s->W);
    /* nb > d: the first d columns of the nb x nb rotation, without building
     * the rest (the same bits, O(nb d^2) instead of O(nb^3)) */
    if (nb > d) return ecb_random_orthogonal_cols(nb, d, ecb_rng_next(&r), s->W);
    float *Q = malloc(d * d * sizeof *Q);
    if (!Q) return ECB_ENOMEM;
    int rc = ecb_random_orthogonal(d, ecb_rng_next(&r), Q);
    if (!rc) memcpy(s->W, Q, nb * d * sizeof *Q); /* its first nb rows */
    free(Q);
    return rc;
}

static int lsh_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    const struct lsh_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "lsh: input dimension must be >= 1, got 0");
    if (p->nbits < 1 || p->nbits > LSH_MAX_BITS)
        return host->fail(host, ECB_EINVAL, "lsh: parameter nbits: expected 1..%d, got %zu",
                          LSH_MAX_BITS, p->nbits);
    size_t cells;
    if (__builtin_mul_overflow(p->nbits, dim, &cells) || cells > ((size_t)1 << 31))
        return host->fail(host, ECB_ERANGE,
                          "lsh: %zu hyperplanes of dimension %zu are too many (max 2^31 entries)",
                          p->nbits, dim);
    lsh_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "lsh: out of memory");
    s->base.vt = &lsh_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->nbits = p->nbits;
    s->nbytes = (p->nbits + 7) / 8;
    /* The hyperplanes are drawn in train(), not here: creating a chain only
     * to check a config (the runner does, for every cell) costs nothing. */
    *out = &s->base;
    return 0;
}

static void lsh_destroy(ecb_method *m)
{
    if (!m) return;
    lsh_state *s = (lsh_state *)m;
    free(s->W);
    free(s->thr);
    free(s);
}

/* Projections of n rows (n <= LSH_BLOCK), thresholds subtracted. */
static int lsh_project(const lsh_state *s, const float *x, size_t n, float *P)
{
    size_t d = s->base.dim, nb = s->nbits;
    if (!s->W) return ECB_EINVAL; /* before train() */
    if (ecb_gemm_nt(n, nb, d, 1.0f, x, d, s->W, d, 0.0f, P, nb)) return ECB_ERANGE;
    if (s->thr)
        for (size_t i = 0; i < n; i++)
            for (size_t b = 0; b < nb; b++) P[i * nb + b] -= s->thr[b];
    return 0;
}

static int lsh_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int lsh_train(ecb_method *m, const float *x, size_t n)
{
    lsh_state *s = (lsh_state *)m;
    const ecb_host *h = m->host;
    if (!s->W) {
        /* from the seed only, never the sample: the same planes every time */
        float *W = malloc(s->nbits * m->dim * sizeof *W);
        s->W = W;
        int rc = W ? lsh_hyperplanes(s, h->seed) : ECB_ENOMEM;
        if (rc) {
            free(W);
            s->W = NULL;
            return h->fail(h, rc, "lsh: cannot draw %zu hyperplanes in dimension %zu", s->nbits,
                           m->dim);
        }
    }
    if (!s->p.train_thresholds) return 0;
    if (n == 0) return h->fail(h, ECB_EINVAL, "lsh: train_thresholds needs >= 1 vector, got 0");
    size_t nb = s->nbits, d = m->dim;
    float *P = malloc(n * nb * sizeof *P);
    float *col = malloc(n * sizeof *col);
    float *thr = malloc(nb * sizeof *thr);
    int rc = 0;
    if (!P || !col || !thr) {
        rc = h->fail(h, ECB_ENOMEM, "lsh: out of memory for %zu x %zu projections", n, nb);
        goto out;
    }
    free(s->thr);
    s->thr = NULL;
    for (size_t i0 = 0; i0 < n; i0 += LSH_BLOCK) {
        size_t c = n - i0 < LSH_BLOCK ? n - i0 : LSH_BLOCK;
        if (lsh_project(s, x + i0 * d, c, P + i0 * nb)) {
            rc = h->fail(h, ECB_ERANGE, "lsh: projection block too large for BLAS");
            goto out;
        }
    }
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = 0; i < n; i++) col[i] = P[i * nb + b];
        qsort(col, n, sizeof *col, lsh_cmp_float);
        thr[b] = n % 2 ? col[n / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
    }
    s->thr = thr;
    thr = NULL;
out:
    free(P);
    free(col);
    free(thr);
    return rc;
}

static size_t lsh_code_size(const ecb_method *m) { return ((const lsh_state *)m)->nbytes; }

static size_t lsh_aux_bytes(const ecb_method *m)
{
    const lsh_state *s = (const lsh_state *)m;
    /* from the parameters, not s->thr: exact before train() too (size_params) */
    return (s->nbits * m->dim + (s->p.train_thresholds ? s->nbits : 0)) * sizeof(float);
}

/* Bit b of a code is byte b/8, bit b%8 (LSB first, as FAISS packs). */
static void lsh_pack(const float *P, size_t n, size_t nb, size_t nbytes, uint8_t *codes)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *c = codes + i * nbytes;
        memset(c, 0, nbytes);
        for (size_t b = 0; b < nb; b++) /* no branch: the signs are coin flips */
            c[b >> 3] |= (uint8_t)((unsigned)(P[i * nb + b] >= 0) << (b & 7));
    }
}

/** @param x n*dim floats. @param codes n*ceil(nbits/8) bytes. */
static int lsh_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const lsh_state *s = (const lsh_state *)m;
    size_t c = n < LSH_BLOCK ? n : LSH_BLOCK;
    if (!s->W) return m->host->fail(m->host, ECB_EINVAL, "lsh: encode called before train");
    if (n == 0) return 0;
    float *P = malloc(c * s->nbits * sizeof *P);
    if (!P) return m->host->fail(m->host, ECB_ENOMEM, "lsh: out of memory");
    for (size_t i0 = 0; i0 < n; i0 += LSH_BLOCK) {
        c = n - i0 < LSH_BLOCK ? n - i0 : LSH_BLOCK;
        if (lsh_project(s, x + i0 * m->dim, c, P)) {
            free(P);
            return m->host->fail(m->host, ECB_ERANGE, "lsh: block too large for BLAS");
        }
        lsh_pack(P, c, s->nbits, s->nbytes, codes + i0 * s->nbytes);
    }
    free(P);
    return 0;
}

static size_t lsh_query_size(const ecb_method *m, ecb_mode mode)
{
    const lsh_state *s = (const lsh_state *)m;
    return mode == ECB_MODE_SYMMETRIC ? s->nbytes : s->nbits * sizeof(float);
}

static int lsh_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const lsh_state *s = (const lsh_state *)m;
    if (!s->W) return m->host->fail(m->host, ECB_EINVAL, "lsh: prepare called before train");
    if (mode == ECB_MODE_SYMMETRIC) return lsh_encode(m, q, nq, out);
    float *P = out;
    for (size_t i0 = 0; i0 < nq; i0 += LSH_BLOCK) {
        size_t c = nq - i0 < LSH_BLOCK ? nq - i0 : LSH_BLOCK;
        if (lsh_project(s, q + i0 * m->dim, c, P + i0 * s->nbits))
            return m->host->fail(m->host, ECB_ERANGE, "lsh: block too large for BLAS");
    }
    return 0;
}

static int lsh_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    const lsh_state *s = (const lsh_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) {
        ecb_sign_scores_hamming(prepared, nq, codes, n, s->nbytes, scores);
        return 0;
    }
    int rc = ecb_sign_scores_dot(prepared, nq, codes, n, s->nbits, s->nbytes, scores);
    if (rc)
        return m->host->fail(m->host, rc, "lsh: %s scoring %zu x %zu codes",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq, n);
    return 0;
}

/* Symmetric: a popcount per code. Asymmetric: each call unpacks the
 * block's signs for sgemm, which more queries per call share. */
static int lsh_scan_kind(const ecb_method *m, ecb_mode mode)
{
    (void)m;
    return mode == ECB_MODE_SYMMETRIC ? ECB_SCAN_CHEAP : ECB_SCAN_HEAVY;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const lsh_size_params[] = {"nbits", NULL};

static const ecb_method_vtable lsh_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "lsh",
    .summary = "random-hyperplane LSH, nbits sign bits (FAISS IndexLSH defaults), Hamming",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = lsh_params_table,
    .params_size = sizeof(struct lsh_params),
    .create = lsh_create,
    .destroy = lsh_destroy,
    .train = lsh_train,
    .code_size = lsh_code_size,
    .aux_bytes = lsh_aux_bytes,
    .encode = lsh_encode,
    .query_size = lsh_query_size,
    .prepare = lsh_prepare,
    .score = lsh_score,
    .scan_kind = lsh_scan_kind,
    .size_params = lsh_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_lsh(void) { return &lsh_vtable; }
