/*
 * opq: optimized product quantization, the non-parametric variant of Ge,
 * He, Ke, Sun, "Optimized Product Quantization", TPAMI 2014 (CVPR 2013),
 * structured like FAISS's OPQMatrix: learn an orthogonal rotation R jointly
 * with the PQ codebooks by alternating
 *   1. y = R x for the training sample,
 *   2. train PQ on y (k-means, warm-started from the previous codebooks
 *      after the first alternation) and reconstruct y^,
 *   3. R = argmin ||X R^T - Y^||_F over orthogonal R (Procrustes: the SVD
 *      of X^T Y^),
 * starting from a Haar-random R (FAISS's choice; rotation_init=identity
 * starts from the input axes instead, which keeps a meaningful dimension
 * grouping such as SIFT's: from a random start OPQ16 ends below plain PQ16
 * on SIFT, in FAISS as here); then a final PQ training on the last rotation
 * (kmeans_iters iterations, warm-started).
 *
 * Codes are those of pq on y = R x (ceil(m*nbits/8) bytes); aux_bytes
 * counts R (dim^2 floats) and the codebooks. Since R is orthogonal, q.x and
 * ||q - x|| are unchanged by it: ADC tables are built from R q, SDC from the
 * rotated reconstruction of the encoded query (see pq.c).
 *
 * Training sample: the harness passes a corpus sample; opq subsamples it to
 * train_size vectors (default 65536, FAISS's OPQMatrix max_train_points)
 * with the cell's seed. FAISS re-initialises k-means at every alternation;
 * the warm start here converges at least as well for the same iterations.
 *
 * Limits: m must divide dim; the sample needs at least 2^nbits vectors;
 * cost per alternation is one n x d x d sgemm, pq_iters k-means iterations
 * and a d x d SVD.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct opq_params {
    size_t m;
    size_t nbits;
    size_t iters;
    size_t pq_iters;
    size_t pq_iters_first;
    size_t kmeans_iters;
    int init;
    int rotation_init;
    size_t train_size;
};

static const char *const opq_init_names[] = {"kmeans++", "random", NULL};
static const char *const opq_rot_names[] = {"random", "identity", NULL};

static const ecb_param opq_params_table[] = {
    {"m", ECB_PARAM_SIZE, offsetof(struct opq_params, m), .def.u = 8, .min = 1, .max = 65536,
     .help = "number of sub-vectors; must divide the dimension"},
    {"nbits", ECB_PARAM_SIZE, offsetof(struct opq_params, nbits), .def.u = 8, .min = 4, .max = 8,
     .help = "bits per sub-vector code"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct opq_params, iters), .def.u = 50, .min = 1,
     .max = 10000, .help = "rotation/codebook alternations (FAISS OPQMatrix niter)"},
    {"pq_iters", ECB_PARAM_SIZE, offsetof(struct opq_params, pq_iters), .def.u = 4, .min = 1,
     .max = 10000, .help = "k-means iterations per alternation after the first"},
    {"pq_iters_first", ECB_PARAM_SIZE, offsetof(struct opq_params, pq_iters_first), .def.u = 40,
     .min = 1, .max = 10000, .help = "k-means iterations in the first alternation"},
    {"kmeans_iters", ECB_PARAM_SIZE, offsetof(struct opq_params, kmeans_iters), .def.u = 25,
     .min = 0, .max = 10000, .help = "k-means iterations of the final PQ on the learned rotation"},
    {"init", ECB_PARAM_ENUM, offsetof(struct opq_params, init), .def.b = 0,
     .enum_values = opq_init_names, .help = "k-means initialisation of the first alternation"},
    {"rotation_init", ECB_PARAM_ENUM, offsetof(struct opq_params, rotation_init), .def.b = 0,
     .enum_values = opq_rot_names,
     .help = "starting rotation: Haar-random (FAISS) or identity (keeps the input's dimension "
             "grouping, better when it is meaningful, e.g. SIFT)"},
    {"train_size", ECB_PARAM_SIZE, offsetof(struct opq_params, train_size), .def.u = 65536,
     .min = 0, .max = 1e12, .help = "training vectors drawn from the sample; 0 = all of it"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct opq_params p;
    ecb_pq pq;
    float *R; /* d x d, y = R x */
    size_t code_size;
    int trained;
} opq_state;

static const ecb_method_vtable opq_vtable;

static int opq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    const struct opq_params *p = params;
    if (p->m == 0 || dim % p->m)
        return host->fail(host, ECB_EINVAL,
                          "opq: parameter m=%zu must divide the dimension %zu "
                          "(expected a divisor of %zu)",
                          p->m, dim, dim);
    if (p->nbits < 4 || p->nbits > 8)
        return host->fail(host, ECB_EINVAL,
                          "opq: parameter nbits=%zu out of range (expected 4..8)", p->nbits);
    if (p->iters == 0 || p->pq_iters == 0 || p->pq_iters_first == 0)
        return host->fail(host, ECB_EINVAL,
                          "opq: parameters iters=%zu pq_iters=%zu pq_iters_first=%zu "
                          "(expected all >= 1)",
                          p->iters, p->pq_iters, p->pq_iters_first);
    if (p->init < 0 || p->init > 1)
        return host->fail(host, ECB_EINVAL,
                          "opq: parameter init=%d unknown (expected kmeans++ or random)", p->init);
    if (p->rotation_init < 0 || p->rotation_init > 1)
        return host->fail(host, ECB_EINVAL,
                          "opq: parameter rotation_init=%d unknown (expected random or identity)",
                          p->rotation_init);
    if (dim > 65536)
        return host->fail(host, ECB_EINVAL, "opq: dimension %zu too large (expected <= 65536)",
                          dim);
    opq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "opq: out of memory");
    s->base.vt = &opq_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->R = malloc(dim * dim * sizeof *s->R);
    int rc = s->R ? ecb_pq_init(&s->pq, dim, p->m, (unsigned)p->nbits, (size_t)1 << p->nbits, 0)
                  : ECB_ENOMEM;
    if (rc) {
        free(s->R);
        free(s);
        return host->fail(host, rc, "opq: cannot allocate state for m=%zu nbits=%zu dim=%zu",
                          p->m, p->nbits, dim);
    }
    s->code_size = ecb_code_bytes(p->m, (unsigned)p->nbits);
    *out = &s->base;
    return 0;
}

static void opq_destroy(ecb_method *m)
{
    if (!m) return;
    opq_state *s = (opq_state *)m;
    ecb_pq_free(&s->pq);
    free(s->R);
    free(s);
}

/* y = x R^T for n rows. */
static int opq_rotate(const opq_state *s, const float *x, size_t n, float *y)
{
    size_t d = s->base.dim;
    return ecb_gemm_nt(n, d, d, 1.0f, x, d, s->R, d, 0.0f, y, d);
}

static int opq_train(ecb_method *m, const float *x, size_t n)
{
    opq_state *s = (opq_state *)m;
    const ecb_host *h = m->host;
    const size_t d = m->dim, K = s->pq.ksub;
    size_t nt = s->p.train_size && n > s->p.train_size ? s->p.train_size : n;
    if (nt < K)
        return h->fail(h, ECB_EINVAL,
                       "opq: training sample too small for nbits=%zu: %zu vectors, expected at "
                       "least 2^nbits=%zu (check train_size=%zu and the sample size)",
                       s->p.nbits, nt, K, s->p.train_size);
    int rc = ECB_ENOMEM;
    float *X = NULL, *Y = malloc(nt * d * sizeof *Y), *Yh = malloc(nt * d * sizeof *Yh);
    float *Mf = malloc(d * d * sizeof *Mf);
    double *M = malloc(d * d * sizeof *M), *Q = malloc(d * d * sizeof *Q);
    uint8_t *codes = malloc(nt * s->code_size);
    size_t *idx = NULL;
    const char *step = "allocation";
    if (!Y || !Yh || !Mf || !M || !Q || !codes) goto fail;
    if (nt < n) {
        X = malloc(nt * d * sizeof *X);
        idx = malloc(nt * sizeof *idx);
        if (!X || !idx) goto fail;
        ecb_rng r;
        ecb_rng_seed2(&r, h->seed, 0x6f70717472ull /* "opqtr" */);
        ecb_rng_sample(&r, n, nt, idx);
        for (size_t i = 0; i < nt; i++) memcpy(X + i * d, x + idx[i] * d, d * sizeof *X);
    }
    const float *Xs = X ? X : x;
    step = "random rotation";
    if (s->p.rotation_init == 1) {
        memset(s->R, 0, d * d * sizeof *s->R);
        for (size_t i = 0; i < d; i++) s->R[i * d + i] = 1.0f;
    } else if ((rc = ecb_random_orthogonal(d, h->seed, s->R)) != 0) {
        goto fail;
    }
    ecb_kmeans_opts o = {.k = K, .tol = 0, .seed = h->seed, .threads = h->threads};
    for (size_t it = 0; it < s->p.iters; it++) {
        step = "rotation";
        if ((rc = opq_rotate(s, Xs, nt, Y)) != 0) goto fail;
        o.iters = it == 0 ? s->p.pq_iters_first : s->p.pq_iters;
        o.init = it > 0 ? ECB_KMEANS_GIVEN
                        : (s->p.init == 1 ? ECB_KMEANS_RANDOM : ECB_KMEANS_PLUSPLUS);
        step = "k-means";
        if ((rc = ecb_pq_train(&s->pq, &o, Y, nt)) != 0) goto fail;
        if ((rc = ecb_pq_encode(&s->pq, Y, nt, codes, s->code_size)) != 0) goto fail;
        ecb_pq_decode(&s->pq, codes, nt, s->code_size, Yh);
        /* Procrustes on M = X^T Y^: Q = U V^T minimises ||X Q - Y^||, and
         * y = R x means Y = X R^T, so R = Q^T. */
        step = "Procrustes";
        if ((rc = ecb_gemm_tn(d, d, nt, 1.0f, Xs, d, Yh, d, 0.0f, Mf, d)) != 0) goto fail;
        for (size_t i = 0; i < d * d; i++) M[i] = Mf[i];
        if ((rc = ecb_procrustes(d, M, Q)) != 0) goto fail;
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) s->R[a * d + b] = (float)Q[b * d + a];
    }
    if (s->p.kmeans_iters > 0) {
        step = "final k-means";
        if ((rc = opq_rotate(s, Xs, nt, Y)) != 0) goto fail;
        o.iters = s->p.kmeans_iters;
        o.init = ECB_KMEANS_GIVEN;
        if ((rc = ecb_pq_train(&s->pq, &o, Y, nt)) != 0) goto fail;
    }
    s->trained = 1;
    rc = 0;
    goto out;
fail:
    rc = h->fail(h, rc, "opq: %s failed while training on %zu x %zu vectors", step, nt, d);
out:
    free(X);
    free(idx);
    free(Y);
    free(Yh);
    free(Mf);
    free(M);
    free(Q);
    free(codes);
    return rc;
}

static size_t opq_code_size(const ecb_method *m) { return ((const opq_state *)m)->code_size; }

static size_t opq_aux_bytes(const ecb_method *m)
{
    const opq_state *s = (const opq_state *)m;
    return (m->dim * m->dim + ecb_pq_codebook_floats(&s->pq)) * sizeof(float);
}

enum { OPQ_BLOCK = 4096 };

static int opq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const opq_state *s = (const opq_state *)m;
    const size_t d = m->dim;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "opq: encode() before train()");
    size_t bs = n < OPQ_BLOCK ? n : OPQ_BLOCK;
    float *y = malloc((bs ? bs : 1) * d * sizeof *y);
    if (!y) return m->host->fail(m->host, ECB_ENOMEM, "opq: out of memory encoding");
    int rc = 0;
    for (size_t b = 0; b < n && !rc; b += bs) {
        size_t nb = n - b < bs ? n - b : bs;
        rc = opq_rotate(s, x + b * d, nb, y);
        if (!rc) rc = ecb_pq_encode(&s->pq, y, nb, codes + b * s->code_size, s->code_size);
    }
    free(y);
    return rc ? m->host->fail(m->host, rc, "opq: encoding %zu vectors failed", n) : 0;
}

static int opq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const opq_state *s = (const opq_state *)m;
    const size_t d = m->dim;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "opq: decode() before train()");
    size_t bs = n < OPQ_BLOCK ? n : OPQ_BLOCK;
    float *y = malloc((bs ? bs : 1) * d * sizeof *y);
    if (!y) return m->host->fail(m->host, ECB_ENOMEM, "opq: out of memory decoding");
    int rc = 0;
    for (size_t b = 0; b < n && !rc; b += bs) {
        size_t nb = n - b < bs ? n - b : bs;
        ecb_pq_decode(&s->pq, codes + b * s->code_size, nb, s->code_size, y);
        rc = ecb_gemm_nn(nb, d, d, 1.0f, y, d, s->R, d, 0.0f, x + b * d, d); /* x = R^T y */
    }
    free(y);
    return rc ? m->host->fail(m->host, rc, "opq: decoding %zu vectors failed", n) : 0;
}

static size_t opq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const opq_state *s = (const opq_state *)m;
    return s->p.m * s->pq.ksub * sizeof(float);
}

static int opq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq,
                       void *out)
{
    const opq_state *s = (const opq_state *)m;
    const size_t d = m->dim, tl = s->p.m * s->pq.ksub;
    float *lut = out;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "opq: prepare() before train()");
    float *y = malloc(d * sizeof *y), *rec = malloc(d * sizeof *rec);
    uint8_t *code = malloc(s->code_size);
    int rc = y && rec && code ? 0 : ECB_ENOMEM;
    for (size_t i = 0; i < nq && !rc; i++) {
        rc = opq_rotate(s, q + i * d, 1, y);
        if (rc) break;
        if (mode == ECB_MODE_SYMMETRIC) {
            /* the rotated reconstruction of the encoded query (SDC rows) */
            if ((rc = ecb_pq_encode(&s->pq, y, 1, code, s->code_size)) != 0) break;
            ecb_pq_decode(&s->pq, code, 1, s->code_size, rec);
            memcpy(y, rec, d * sizeof *y);
        }
        ecb_pq_lut(&s->pq, m->sim, y, lut + i * tl);
    }
    free(y);
    free(rec);
    free(code);
    return rc ? m->host->fail(m->host, rc, "opq: preparing %zu queries failed", nq) : 0;
}

static int opq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                     const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const opq_state *s = (const opq_state *)m;
    const size_t tl = s->p.m * s->pq.ksub;
    for (size_t i = 0; i < nq; i++)
        ecb_lut_scan((const float *)prepared + i * tl, s->p.m, (unsigned)s->p.nbits, codes,
                     s->code_size, n, scores + i * n);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses; the first wins ties. */
static const char *const opq_size_params[] = {"nbits", "m", NULL};

static const ecb_method_vtable opq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "opq",
    .summary = "optimized product quantization: learned rotation + PQ, ADC/SDC scoring",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = opq_params_table,
    .params_size = sizeof(struct opq_params),
    .create = opq_create,
    .destroy = opq_destroy,
    .train = opq_train,
    .code_size = opq_code_size,
    .aux_bytes = opq_aux_bytes,
    .encode = opq_encode,
    .decode = opq_decode,
    .query_size = opq_query_size,
    .prepare = opq_prepare,
    .score = opq_score,
    .size_params = opq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_opq(void) { return &opq_vtable; }
