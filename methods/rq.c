/*
 * rq: residual quantization (Juang and Gray 1982; Chen, Guan, Wang,
 * "Approximate nearest neighbor search by residual vector quantization",
 * Sensors 2010), greedy: stage s runs k-means with 2^nbits centroids over
 * the full dimension on the residuals left by stages 0..s-1, and a vector
 * is encoded by picking, stage by stage, the centroid nearest to its current
 * residual (beam width 1; FAISS's ResidualQuantizer searches a beam).
 *
 * Codes: `stages` indices of nbits packed LSB-first, ceil(stages*nbits/8)
 * bytes, and with L2 similarity a float32 ||x^||^2 after them (4 more
 * bytes, counted in code_size): x^ = sum_s c_s is not orthogonal across
 * stages, so its norm cannot come from per-stage tables.
 * aux_bytes: stages * 2^nbits * dim floats of codebooks.
 *
 * Scoring (higher is better), with per-stage tables of 2^nbits entries:
 *  - DOT: q.x^ = sum_s q.c_s(x), a plain table sum.
 *  - L2:  -||q - x^||^2 = -||q||^2 + sum_s 2 q.c_s(x) - ||x^||^2, the last
 *    term read from the code.
 *  - symmetric: the query is encoded and reconstructed, and the same tables
 *    are built from its reconstruction: the exact score between the two
 *    reconstructions.
 *
 * Training sample: the harness passes a corpus sample; rq subsamples it to
 * train_size vectors (0 = 256 * 2^nbits, FAISS's max_points_per_centroid)
 * with the cell's seed. Limits: the sample needs at least 2^nbits vectors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct rq_params {
    size_t stages;
    size_t nbits;
    int init;
    size_t iters;
    size_t train_size;
};

static const char *const rq_init_names[] = {"kmeans++", "random", NULL};

static const ecb_param rq_params_table[] = {
    {"stages", ECB_PARAM_SIZE, offsetof(struct rq_params, stages), .def.u = 8, .min = 1,
     .max = 256, .help = "number of residual stages (codebooks)"},
    {"nbits", ECB_PARAM_SIZE, offsetof(struct rq_params, nbits), .def.u = 8, .min = 4, .max = 8,
     .help = "bits per stage (2^nbits centroids per codebook)"},
    {"init", ECB_PARAM_ENUM, offsetof(struct rq_params, init), .def.b = 0,
     .enum_values = rq_init_names, .help = "k-means initialisation"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct rq_params, iters), .def.u = 25, .min = 1,
     .max = 10000, .help = "k-means iterations per stage"},
    {"train_size", ECB_PARAM_SIZE, offsetof(struct rq_params, train_size), .def.u = 0, .min = 0,
     .max = 1e12, .help = "training vectors drawn from the sample; 0 = 256 * 2^nbits"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct rq_params p;
    size_t K;          /* 2^nbits */
    float *cb;         /* stages x K x dim */
    size_t idx_bytes;  /* packed indices */
    size_t code_size;  /* idx_bytes (+ 4 for L2) */
    int trained;
} rq_state;

static const ecb_method_vtable rq_vtable;

static int rq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct rq_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "rq: input dimension must be >= 1, got 0");
    if (p->stages == 0 || p->stages > 256)
        return host->fail(host, ECB_EINVAL,
                          "rq: parameter stages=%zu out of range (expected 1..256)", p->stages);
    if (p->nbits < 4 || p->nbits > 8)
        return host->fail(host, ECB_EINVAL, "rq: parameter nbits=%zu out of range (expected 4..8)",
                          p->nbits);
    if (p->init < 0 || p->init > 1)
        return host->fail(host, ECB_EINVAL,
                          "rq: parameter init=%d unknown (expected kmeans++ or random)", p->init);
    if (p->iters == 0) return host->fail(host, ECB_EINVAL, "rq: parameter iters=0 (expected >= 1)");
    rq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "rq: out of memory");
    s->base.vt = &rq_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->K = (size_t)1 << p->nbits;
    s->cb = calloc(p->stages * s->K * dim, sizeof *s->cb);
    if (!s->cb) {
        free(s);
        return host->fail(host, ECB_ENOMEM, "rq: cannot allocate %zu codebooks of %zu x %zu",
                          p->stages, (size_t)1 << p->nbits, dim);
    }
    s->idx_bytes = ecb_code_bytes(p->stages, (unsigned)p->nbits);
    s->code_size = s->idx_bytes + (sim == ECB_SIM_L2 ? sizeof(float) : 0);
    *out = &s->base;
    return 0;
}

static void rq_destroy(ecb_method *m)
{
    if (!m) return;
    rq_state *s = (rq_state *)m;
    free(s->cb);
    free(s);
}

/* Greedy encoding of n vectors: idx (stages x n, stage-major) and, when
 * rec is not NULL, the reconstructions. r is an n x d scratch that ends as
 * the final residual. */
static int rq_encode_idx(const rq_state *s, const float *x, size_t n, float *r, uint32_t *idx,
                         size_t stages_done)
{
    const size_t d = s->base.dim, K = s->K;
    memcpy(r, x, n * d * sizeof *r);
    for (size_t st = 0; st < stages_done; st++) {
        const float *cb = s->cb + st * K * d;
        uint32_t *id = idx + st * n;
        int rc = ecb_kmeans_assign(r, n, d, cb, K, id, NULL);
        if (rc) return rc;
        for (size_t i = 0; i < n; i++) {
            const float *c = cb + (size_t)id[i] * d;
            float *ri = r + i * d;
            for (size_t t = 0; t < d; t++) ri[t] -= c[t];
        }
    }
    return 0;
}

static int rq_train(ecb_method *m, const float *x, size_t n)
{
    rq_state *s = (rq_state *)m;
    const ecb_host *h = m->host;
    const size_t d = m->dim, K = s->K;
    size_t want = s->p.train_size ? s->p.train_size : 256 * K;
    size_t nt = n > want ? want : n;
    if (nt < K)
        return h->fail(h, ECB_EINVAL,
                       "rq: training sample too small for nbits=%zu: %zu vectors, expected at "
                       "least 2^nbits=%zu (check train_size=%zu and the sample size)",
                       s->p.nbits, nt, K, s->p.train_size);
    float *r = malloc(nt * d * sizeof *r);
    uint32_t *id = malloc(nt * sizeof *id);
    size_t *rows = nt < n ? malloc(nt * sizeof *rows) : NULL;
    if (!r || !id || (nt < n && !rows)) {
        free(r);
        free(id);
        free(rows);
        return h->fail(h, ECB_ENOMEM, "rq: out of memory for %zu training vectors", nt);
    }
    if (rows) {
        ecb_rng g;
        ecb_rng_seed2(&g, h->seed, 0x7271747261696eull /* "rqtrain" */);
        ecb_rng_sample(&g, n, nt, rows);
        for (size_t i = 0; i < nt; i++) memcpy(r + i * d, x + rows[i] * d, d * sizeof *r);
    } else {
        memcpy(r, x, nt * d * sizeof *r);
    }
    int rc = 0;
    for (size_t st = 0; st < s->p.stages && !rc; st++) {
        float *cb = s->cb + st * K * d;
        ecb_kmeans_opts o = {.k = K, .iters = s->p.iters, .tol = 0,
                             .init = s->p.init == 1 ? ECB_KMEANS_RANDOM : ECB_KMEANS_PLUSPLUS,
                             .seed = h->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(st + 1)),
                             .threads = h->threads};
        rc = ecb_kmeans(&o, r, nt, d, cb, id, NULL);
        if (rc) {
            rc = h->fail(h, rc, "rq: k-means of stage %zu failed on %zu x %zu residuals", st, nt, d);
            break;
        }
        for (size_t i = 0; i < nt; i++) {
            const float *c = cb + (size_t)id[i] * d;
            for (size_t t = 0; t < d; t++) r[i * d + t] -= c[t];
        }
    }
    free(r);
    free(id);
    free(rows);
    if (!rc) s->trained = 1;
    return rc;
}

static size_t rq_code_size(const ecb_method *m) { return ((const rq_state *)m)->code_size; }

static size_t rq_aux_bytes(const ecb_method *m)
{
    const rq_state *s = (const rq_state *)m;
    return s->p.stages * s->K * m->dim * sizeof(float);
}

enum { RQ_BLOCK = 1024 };

static int rq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const rq_state *s = (const rq_state *)m;
    const size_t d = m->dim, S = s->p.stages;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "rq: encode() before train()");
    float *r = malloc((size_t)RQ_BLOCK * d * sizeof *r);
    uint32_t *idx = malloc((size_t)RQ_BLOCK * S * sizeof *idx), one[256];
    int rc = r && idx ? 0 : ECB_ENOMEM;
    for (size_t b = 0; b < n && !rc; b += RQ_BLOCK) {
        size_t nb = n - b < RQ_BLOCK ? n - b : RQ_BLOCK;
        if ((rc = rq_encode_idx(s, x + b * d, nb, r, idx, S)) != 0) break;
        for (size_t i = 0; i < nb; i++) {
            uint8_t *code = codes + (b + i) * s->code_size;
            for (size_t st = 0; st < S; st++) one[st] = idx[st * nb + i];
            ecb_code_pack(one, S, (unsigned)s->p.nbits, code);
            if (m->sim == ECB_SIM_L2) {
                /* ||x^||^2 with x^ = x - final residual */
                double nn = 0;
                for (size_t t = 0; t < d; t++) {
                    double v = (double)x[(b + i) * d + t] - r[i * d + t];
                    nn += v * v;
                }
                float f = (float)nn;
                memcpy(code + s->idx_bytes, &f, sizeof f);
            }
        }
    }
    free(r);
    free(idx);
    return rc ? m->host->fail(m->host, rc, "rq: encoding %zu vectors failed", n) : 0;
}

static int rq_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const rq_state *s = (const rq_state *)m;
    const size_t d = m->dim, S = s->p.stages, K = s->K;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "rq: decode() before train()");
    uint32_t idx[256];
    for (size_t i = 0; i < n; i++) {
        ecb_code_unpack(codes + i * s->code_size, S, (unsigned)s->p.nbits, idx);
        float *xi = x + i * d;
        memset(xi, 0, d * sizeof *xi);
        for (size_t st = 0; st < S; st++) {
            const float *c = s->cb + (st * K + idx[st]) * d;
            for (size_t t = 0; t < d; t++) xi[t] += c[t];
        }
    }
    return 0;
}

/* Prepared query: stages*K table floats, then one bias float (-||q||^2 for
 * L2, 0 for DOT). */
static size_t rq_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    const rq_state *s = (const rq_state *)m;
    return (s->p.stages * s->K + 1) * sizeof(float);
}

static int rq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const rq_state *s = (const rq_state *)m;
    const size_t d = m->dim, S = s->p.stages, K = s->K, ql = S * K + 1;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "rq: prepare() before train()");
    float *qq = NULL, *res = NULL;
    uint32_t *idx = NULL;
    int rc = 0;
    if (mode == ECB_MODE_SYMMETRIC) {
        /* tables of the reconstructed queries */
        qq = malloc(nq * d * sizeof *qq);
        res = malloc(nq * d * sizeof *res);
        idx = malloc(nq * S * sizeof *idx);
        if (!qq || !res || !idx) { rc = ECB_ENOMEM; goto out; }
        if ((rc = rq_encode_idx(s, q, nq, res, idx, S)) != 0) goto out;
        for (size_t i = 0; i < nq * d; i++) qq[i] = q[i] - res[i];
        q = qq;
    }
    float *lut = out;
    const float alpha = m->sim == ECB_SIM_L2 ? 2.0f : 1.0f;
    for (size_t st = 0; st < S && !rc; st++)
        /* lut[i][st*K + j] = alpha * q_i . c_stj, written in place (ldc = ql) */
        rc = ecb_gemm_nt(nq, K, d, alpha, q, d, s->cb + st * K * d, d, 0.0f, lut + st * K, ql);
    for (size_t i = 0; i < nq && !rc; i++) {
        double qn = 0;
        if (m->sim == ECB_SIM_L2)
            for (size_t t = 0; t < d; t++) qn += (double)q[i * d + t] * q[i * d + t];
        lut[i * ql + S * K] = (float)-qn;
    }
out:
    free(qq);
    free(res);
    free(idx);
    return rc ? m->host->fail(m->host, rc, "rq: preparing %zu queries failed", nq) : 0;
}

static void rq_scan(const rq_state *s, const float *lut, const uint8_t *codes, size_t n,
                    float *out)
{
    const size_t S = s->p.stages, K = s->K;
    ecb_lut_scan(lut, S, (unsigned)s->p.nbits, codes, s->code_size, n, out);
    if (s->base.sim != ECB_SIM_L2) return;
    const float bias = lut[S * K];
    for (size_t j = 0; j < n; j++) {
        float nn;
        memcpy(&nn, codes + j * s->code_size + s->idx_bytes, sizeof nn);
        out[j] += bias - nn;
    }
}

static int rq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const rq_state *s = (const rq_state *)m;
    const size_t ql = s->p.stages * s->K + 1;
    for (size_t i = 0; i < nq; i++)
        rq_scan(s, (const float *)prepared + i * ql, codes, n, scores + i * n);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses; the first wins ties. */
static const char *const rq_size_params[] = {"nbits", "stages", NULL};

static const ecb_method_vtable rq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "rq",
    .summary = "residual quantization: greedy stages x 2^nbits full-dimension codebooks",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = rq_params_table,
    .params_size = sizeof(struct rq_params),
    .create = rq_create,
    .destroy = rq_destroy,
    .train = rq_train,
    .code_size = rq_code_size,
    .aux_bytes = rq_aux_bytes,
    .encode = rq_encode,
    .decode = rq_decode,
    .query_size = rq_query_size,
    .prepare = rq_prepare,
    .score = rq_score,
    .size_params = rq_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_rq(void) { return &rq_vtable; }
