/*
 * itq: iterative quantization (Gong & Lazebnik, CVPR 2011): PCA to nbits
 * dimensions, then an orthogonal rotation R learned to minimise the
 * quantization loss ||B - V R||_F^2 over binary B in {-1,+1}^(n x nbits),
 * alternating B = sign(V R) and R = Procrustes(V, B) (`iters` rounds,
 * from a random rotation drawn from the cell seed). Codes are the nbits
 * signs packed LSB-first into ceil(nbits/8) bytes.
 *
 * Centring: unlike the pca transform, ITQ subtracts the training mean
 * before projecting, as the paper does: sign codes only carry information
 * when each projected coordinate is zero-centred (otherwise most bits are
 * constant). Symmetric queries are encoded the same way.
 *
 * Scoring: symmetric = -Hamming distance (ecb_hamming_1xn); asymmetric =
 * the float projection of the centred query against the +-1 codes,
 * (R^T P (q - mu)).s, for DOT and L2 alike. For DOT the uncentred query
 * looks exact at first (q.x = q.(x - mu) + q.mu, the last term constant per
 * query), but a sign code drops ||x - mu||, which on unit-norm data is
 * 1 + |mu|^2 - 2 mu.x: centring the query subtracts the code's estimate of
 * mu.(x - mu) and compensates most of that. Measured on the synthetic
 * collection (5000 x 128, cosine, 64 bits): kNN recall@10 0.63 centred
 * against 0.52 uncentred (symmetric Hamming: 0.54).
 *
 * State counted in aux_bytes: the combined projection R^T P (nbits x dim)
 * and its bias R^T P mu (nbits). The per-iteration loss history is kept
 * for diagnostics only (not needed to encode or score).
 *
 * Limits: nbits <= input dimension (PCA cannot produce more axes); needs
 * n >= 2 training vectors; nbits <= 4096.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct itq_params {
    size_t nbits;
    size_t iters;
};

static const ecb_param itq_params_table[] = {
    {"nbits", ECB_PARAM_SIZE, offsetof(struct itq_params, nbits), .def.u = 64, .min = 1,
     .max = 4096, .help = "bits per code = PCA dimensions (<= input dimension)"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct itq_params, iters), .def.u = 50, .min = 0,
     .max = 10000, .help = "ITQ rotation iterations (B = sign(VR), R = Procrustes)"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct itq_params p;
    size_t nbits, nbytes;
    float *W;     /* nbits x dim: rows of R^T P */
    float *bias;  /* nbits: W mu */
    double *loss; /* iters+1 quantization losses (diagnostics) */
    size_t n_loss;
    int trained;
} itq_state;

/* Defined at the end (file order); create() stores it in the base. */
static const ecb_method_vtable itq_vtable;

#define ITQ_STREAM 0x6974712d726f74ull /* "itq-rot" */
enum { ITQ_BLOCK = 256 };

static int itq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    const struct itq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "itq: input dimension must be >= 1, got 0");
    if (p->nbits < 1 || p->nbits > 4096 || p->nbits > dim)
        return host->fail(host, ECB_EINVAL,
                          "itq: parameter nbits: expected 1..%zu (at most the input dimension "
                          "%zu, since ITQ keeps nbits PCA axes), got %zu",
                          dim < 4096 ? dim : (size_t)4096, dim, p->nbits);
    itq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "itq: out of memory");
    s->base.vt = &itq_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->nbits = p->nbits;
    s->nbytes = (p->nbits + 7) / 8;
    *out = &s->base;
    return 0;
}

static void itq_destroy(ecb_method *m)
{
    if (!m) return;
    itq_state *s = (itq_state *)m;
    free(s->W);
    free(s->bias);
    free(s->loss);
    free(s);
}

/* The ITQ alternation on V (n x c, centred PCA projections). R (c x c,
 * double in/out) starts random; loss receives iters+1 values
 * ||sign(VR_t) - VR_t||^2, non-increasing by construction. */
static int itq_rotation(const float *V, size_t n, size_t c, size_t iters, double *R,
                        double *loss)
{
    float *Rf = malloc(c * c * sizeof *Rf);
    float *Z = malloc(n * c * sizeof *Z);
    float *Mf = malloc(c * c * sizeof *Mf);
    double *M = malloc(c * c * sizeof *M);
    int rc = 0;
    if (!Rf || !Z || !Mf || !M) { rc = ECB_ENOMEM; goto out; }
    double vv = 0;
    for (size_t t = 0; t < n * c; t++) vv += (double)V[t] * V[t];
    for (size_t it = 0;; it++) {
        for (size_t t = 0; t < c * c; t++) Rf[t] = (float)R[t];
        if ((rc = ecb_gemm_nn(n, c, c, 1.0f, V, c, Rf, c, 0.0f, Z, c))) goto out;
        /* ||B - Z||^2 = n c - 2 sum|Z| + ||Z||^2 and ||Z|| = ||V|| (R orthogonal). */
        double abs_sum = 0;
        for (size_t t = 0; t < n * c; t++) {
            abs_sum += fabs((double)Z[t]);
            Z[t] = Z[t] >= 0 ? 1.0f : -1.0f; /* Z becomes B */
        }
        loss[it] = (double)n * (double)c - 2 * abs_sum + vv;
        if (it == iters) break;
        if ((rc = ecb_gemm_tn(c, c, n, 1.0f, V, c, Z, c, 0.0f, Mf, c))) goto out;
        for (size_t t = 0; t < c * c; t++) M[t] = Mf[t];
        if ((rc = ecb_procrustes(c, M, R))) goto out;
    }
out:
    free(Rf);
    free(Z);
    free(Mf);
    free(M);
    return rc;
}

static int itq_train(ecb_method *m, const float *x, size_t n)
{
    itq_state *s = (itq_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, c = s->nbits;
    if (n < 2) return h->fail(h, ECB_EINVAL, "itq: training needs >= 2 vectors, got %zu", n);
    double *mean = malloc(d * sizeof *mean);
    double *cov = malloc(d * d * sizeof *cov);
    double *w = malloc(d * sizeof *w);
    double *E = malloc(d * d * sizeof *E);
    float *P = malloc(c * d * sizeof *P);
    float *xc = malloc((size_t)ITQ_BLOCK * d * sizeof *xc);
    float *V = malloc(n * c * sizeof *V);
    float *R0 = malloc(c * c * sizeof *R0);
    double *R = malloc(c * c * sizeof *R);
    double *loss = malloc((s->p.iters + 1) * sizeof *loss);
    float *W = malloc(c * d * sizeof *W);
    float *bias = malloc(c * sizeof *bias);
    int rc = 0;
    if (!mean || !cov || !w || !E || !P || !xc || !V || !R0 || !R || !loss || !W || !bias) {
        rc = h->fail(h, ECB_ENOMEM, "itq: out of memory training on %zu x %zu", n, d);
        goto out;
    }
    if ((rc = ecb_mean_covariance(x, n, d, mean, cov))) {
        rc = h->fail(h, rc, "itq: covariance of the %zu x %zu sample failed", n, d);
        goto out;
    }
    if ((rc = ecb_eigh_desc(d, cov, w, E))) {
        rc = h->fail(h, rc, "itq: eigen-decomposition of the %zu x %zu covariance failed", d, d);
        goto out;
    }
    for (size_t t = 0; t < c * d; t++) P[t] = (float)E[t];
    for (size_t i0 = 0; i0 < n; i0 += ITQ_BLOCK) {
        size_t nb = n - i0 < ITQ_BLOCK ? n - i0 : ITQ_BLOCK;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < d; j++)
                xc[i * d + j] = (float)((double)x[(i0 + i) * d + j] - mean[j]);
        if ((rc = ecb_gemm_nt(nb, c, d, 1.0f, xc, d, P, d, 0.0f, V + i0 * c, c))) {
            rc = h->fail(h, rc, "itq: projection block too large for BLAS");
            goto out;
        }
    }
    ecb_rng r;
    ecb_rng_seed2(&r, h->seed, ITQ_STREAM);
    if ((rc = ecb_random_orthogonal(c, ecb_rng_next(&r), R0))) {
        rc = h->fail(h, rc, "itq: random %zu x %zu rotation failed", c, c);
        goto out;
    }
    for (size_t t = 0; t < c * c; t++) R[t] = R0[t];
    if ((rc = itq_rotation(V, n, c, s->p.iters, R, loss))) {
        rc = h->fail(h, rc, "itq: rotation iterations failed (nbits=%zu, n=%zu)", c, n);
        goto out;
    }
    /* W = R^T P: row k is sum_i R[i][k] P_i, computed in double. */
    for (size_t k = 0; k < c; k++) {
        double b = 0;
        for (size_t j = 0; j < d; j++) {
            double acc = 0;
            for (size_t i = 0; i < c; i++) acc += R[i * c + k] * E[i * d + j];
            W[k * d + j] = (float)acc;
            b += acc * mean[j];
        }
        bias[k] = (float)b;
    }
    free(s->W);
    free(s->bias);
    free(s->loss);
    s->W = W;
    s->bias = bias;
    s->loss = loss;
    s->n_loss = s->p.iters + 1;
    W = NULL;
    bias = NULL;
    loss = NULL;
    s->trained = 1;
    h->log(h, ECB_LOG_DEBUG, "itq: quantization loss %.6g -> %.6g after %zu iterations",
           s->loss[0], s->loss[s->n_loss - 1], s->p.iters);
out:
    free(mean);
    free(cov);
    free(w);
    free(E);
    free(P);
    free(xc);
    free(V);
    free(R0);
    free(R);
    free(loss);
    free(W);
    free(bias);
    return rc;
}

static size_t itq_code_size(const ecb_method *m) { return ((const itq_state *)m)->nbytes; }

static size_t itq_aux_bytes(const ecb_method *m)
{
    const itq_state *s = (const itq_state *)m;
    return (s->nbits * m->dim + s->nbits) * sizeof(float);
}

/* Centred projections W x - W mu of n <= ITQ_BLOCK rows. */
static int itq_project(const itq_state *s, const float *x, size_t n, float *P)
{
    size_t d = s->base.dim, c = s->nbits;
    if (ecb_gemm_nt(n, c, d, 1.0f, x, d, s->W, d, 0.0f, P, c)) return ECB_ERANGE;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < c; b++) P[i * c + b] -= s->bias[b];
    return 0;
}

static void itq_pack(const float *P, size_t n, size_t nb, size_t nbytes, uint8_t *codes)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *code = codes + i * nbytes;
        memset(code, 0, nbytes);
        for (size_t b = 0; b < nb; b++)
            if (P[i * nb + b] >= 0) code[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
}

/** @param x n*dim floats. @param codes n*ceil(nbits/8) bytes. */
static int itq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const itq_state *s = (const itq_state *)m;
    const ecb_host *h = m->host;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "itq: encode called before train");
    if (n == 0) return 0;
    size_t c = n < ITQ_BLOCK ? n : ITQ_BLOCK;
    float *P = malloc(c * s->nbits * sizeof *P);
    if (!P) return h->fail(h, ECB_ENOMEM, "itq: out of memory");
    for (size_t i0 = 0; i0 < n; i0 += ITQ_BLOCK) {
        c = n - i0 < ITQ_BLOCK ? n - i0 : ITQ_BLOCK;
        if (itq_project(s, x + i0 * m->dim, c, P)) {
            free(P);
            return h->fail(h, ECB_ERANGE, "itq: block too large for BLAS");
        }
        itq_pack(P, c, s->nbits, s->nbytes, codes + i0 * s->nbytes);
    }
    free(P);
    return 0;
}

static size_t itq_query_size(const ecb_method *m, ecb_mode mode)
{
    const itq_state *s = (const itq_state *)m;
    return mode == ECB_MODE_SYMMETRIC ? s->nbytes : s->nbits * sizeof(float);
}

static int itq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const itq_state *s = (const itq_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) return itq_encode(m, q, nq, out);
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "itq: prepare called before train");
    float *P = out;
    for (size_t i0 = 0; i0 < nq; i0 += ITQ_BLOCK) {
        size_t c = nq - i0 < ITQ_BLOCK ? nq - i0 : ITQ_BLOCK;
        if (itq_project(s, q + i0 * m->dim, c, P + i0 * s->nbits))
            return m->host->fail(m->host, ECB_ERANGE, "itq: block too large for BLAS");
    }
    return 0;
}

static int itq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    const itq_state *s = (const itq_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) {
        ecb_sign_scores_hamming(prepared, nq, codes, n, s->nbytes, scores);
        return 0;
    }
    int rc = ecb_sign_scores_dot(prepared, nq, codes, n, s->nbits, s->nbytes, scores);
    if (rc)
        return m->host->fail(m->host, rc, "itq: %s scoring %zu x %zu codes",
                             rc == ECB_ENOMEM ? "out of memory" : "block too large for BLAS", nq, n);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
/* Symmetric: a popcount per code. Asymmetric: each call unpacks the
 * block's signs for sgemm, which more queries per call share. */
static int itq_scan_kind(const ecb_method *m, ecb_mode mode)
{
    (void)m;
    return mode == ECB_MODE_SYMMETRIC ? ECB_SCAN_CHEAP : ECB_SCAN_HEAVY;
}

static const char *const itq_size_params[] = {"nbits", NULL};

static const ecb_method_vtable itq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "itq",
    .summary = "iterative quantization: centred PCA to nbits + learned rotation, sign codes",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = itq_params_table,
    .params_size = sizeof(struct itq_params),
    .create = itq_create,
    .destroy = itq_destroy,
    .train = itq_train,
    .code_size = itq_code_size,
    .aux_bytes = itq_aux_bytes,
    .encode = itq_encode,
    .query_size = itq_query_size,
    .prepare = itq_prepare,
    .score = itq_score,
    .scan_kind = itq_scan_kind,
    .size_params = itq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_itq(void) { return &itq_vtable; }
