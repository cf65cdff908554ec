/*
 * kmeans: vector quantization with one codebook over whole vectors (Lloyd
 * 1982; the m = 1 case of product quantization): each vector is stored as
 * the id of its nearest of k centroids, 1 byte when k <= 256, else 2 bytes
 * (little-endian), so k <= 65536. The id needs only ceil(log2 k) bits
 * (code_bits): multi-vector corpora store their tokens' ids back to back at
 * that width, as HPC-ColPali does (k = 1024: 10 bits per token).
 *
 * Scoring (higher is better), by a per-query table of k scores:
 *  - asymmetric: q.c_j for DOT, -||q - c_j||^2 for L2 (one sgemm for a
 *    batch of queries plus the centroid norms); a code's score is one
 *    table lookup.
 *  - symmetric: centroid to centroid, i.e. the same table built from the
 *    centroid the query is encoded to.
 *  - hamming=true (symmetric only; HPC-ColPali's binary mode): minus the
 *    Hamming distance between the query's and the document's id strings.
 *    The ids are k-means' own numbering, so beyond "same centroid" (distance
 *    0) the distance says little about the centroids' similarity: that is
 *    the method as published. Asymmetric mode is refused (ECB_ENOTSUP: the
 *    harness records the cell as skipped).
 * aux_bytes: the k x dim codebook (floats). The centroid norms kept for L2
 * are derived from it and not counted.
 *
 * Training sample: the harness passes a corpus sample; kmeans subsamples it
 * to train_size vectors (0 = min(256 k, 100000)) with the cell's seed.
 * init=auto uses k-means++ up to k = 1024 and random sampling above, where
 * k-means++'s k sequential passes over the sample cost more than the whole
 * Lloyd run. Limits: the sample needs at least k vectors; a Lloyd iteration
 * costs n*k*dim multiply-adds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct km_params {
    size_t k;
    int init;
    size_t iters;
    size_t train_size;
    int hamming;
};

static const char *const km_init_names[] = {"auto", "kmeans++", "random", NULL};

static const ecb_param km_params_table[] = {
    {"k", ECB_PARAM_SIZE, offsetof(struct km_params, k), .def.u = 256, .min = 2, .max = 65536,
     .help = "number of centroids: ids of ceil(log2 k) bits, held in 1 byte up to 256, else 2 "
             "(multi-vector tokens are stored packed)"},
    {"init", ECB_PARAM_ENUM, offsetof(struct km_params, init), .def.b = 0,
     .enum_values = km_init_names,
     .help = "k-means initialisation; auto = kmeans++ for k <= 1024, else random"},
    {"iters", ECB_PARAM_SIZE, offsetof(struct km_params, iters), .def.u = 25, .min = 1,
     .max = 10000, .help = "k-means (Lloyd) iterations"},
    {"train_size", ECB_PARAM_SIZE, offsetof(struct km_params, train_size), .def.u = 0, .min = 0,
     .max = 1e12, .help = "training vectors drawn from the sample; 0 = min(256*k, 100000)"},
    {"hamming", ECB_PARAM_BOOL, offsetof(struct km_params, hamming), .def.b = 0,
     .help = "symmetric scoring by the Hamming distance of the ceil(log2 k)-bit id strings "
             "(HPC-ColPali); asymmetric mode is then refused"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct km_params p;
    ecb_pq pq;     /* m = 1: the codebook, encode/decode */
    float *cnorm;  /* k squared centroid norms (derived) */
    size_t code_size;
    int trained;
} km_state;

static const ecb_method_vtable km_vtable;

static int km_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct km_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "kmeans: input dimension must be >= 1, got 0");
    if (p->k < 2 || p->k > 65536)
        return host->fail(host, ECB_EINVAL, "kmeans: parameter k=%zu out of range (expected 2..65536)",
                          p->k);
    if (p->init < 0 || p->init > 2)
        return host->fail(host, ECB_EINVAL,
                          "kmeans: parameter init=%d unknown (expected auto, kmeans++ or random)",
                          p->init);
    if (p->iters == 0)
        return host->fail(host, ECB_EINVAL, "kmeans: parameter iters=0 (expected >= 1)");
    km_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "kmeans: out of memory");
    s->base.vt = &km_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    unsigned nbits = p->k <= 256 ? 8 : 16;
    s->cnorm = malloc(p->k * sizeof *s->cnorm);
    int rc = s->cnorm ? ecb_pq_init(&s->pq, dim, 1, nbits, p->k, 0) : ECB_ENOMEM;
    if (rc) {
        free(s->cnorm);
        free(s);
        return host->fail(host, rc, "kmeans: cannot allocate a %zu x %zu codebook", p->k, dim);
    }
    s->code_size = nbits / 8;
    *out = &s->base;
    return 0;
}

static void km_destroy(ecb_method *m)
{
    if (!m) return;
    km_state *s = (km_state *)m;
    ecb_pq_free(&s->pq);
    free(s->cnorm);
    free(s);
}

static int km_train(ecb_method *m, const float *x, size_t n)
{
    km_state *s = (km_state *)m;
    const ecb_host *h = m->host;
    const size_t d = m->dim, k = s->p.k;
    size_t want = s->p.train_size;
    if (want == 0) want = 256 * k < 100000 ? 256 * k : 100000;
    size_t nt = n > want ? want : n;
    if (nt < k)
        return h->fail(h, ECB_EINVAL,
                       "kmeans: training sample too small for k=%zu: %zu vectors, expected at "
                       "least k (check train_size=%zu and the sample size)",
                       k, nt, s->p.train_size);
    float *xs = NULL;
    if (nt < n) {
        size_t *rows = malloc(nt * sizeof *rows);
        xs = malloc(nt * d * sizeof *xs);
        if (!rows || !xs) {
            free(rows);
            free(xs);
            return h->fail(h, ECB_ENOMEM, "kmeans: out of memory for %zu training vectors", nt);
        }
        ecb_rng g;
        ecb_rng_seed2(&g, h->seed, 0x6b6d747261696eull /* "kmtrain" */);
        ecb_rng_sample(&g, n, nt, rows);
        for (size_t i = 0; i < nt; i++) memcpy(xs + i * d, x + rows[i] * d, d * sizeof *xs);
        free(rows);
    }
    int init = s->p.init == 0 ? (k <= 1024 ? 1 : 2) : s->p.init;
    ecb_kmeans_opts o = {.k = k, .iters = s->p.iters, .tol = 0,
                         .init = init == 1 ? ECB_KMEANS_PLUSPLUS : ECB_KMEANS_RANDOM,
                         .seed = h->seed, .threads = h->threads};
    int rc = ecb_kmeans(&o, xs ? xs : x, nt, d, s->pq.cb, NULL, NULL);
    free(xs);
    if (rc) return h->fail(h, rc, "kmeans: k-means failed on %zu x %zu training vectors", nt, d);
    for (size_t j = 0; j < k; j++) {
        double v = 0;
        for (size_t t = 0; t < d; t++) v += (double)s->pq.cb[j * d + t] * s->pq.cb[j * d + t];
        s->cnorm[j] = (float)v;
    }
    s->trained = 1;
    return 0;
}

static size_t km_code_size(const ecb_method *m) { return ((const km_state *)m)->code_size; }

/* ceil(log2 k): ids 0..k-1 fit, the bits above are zero. */
static size_t km_code_bits(const ecb_method *m)
{
    size_t k = ((const km_state *)m)->p.k, b = 0;
    while (((size_t)1 << b) < k) b++;
    return b;
}

static size_t km_aux_bytes(const ecb_method *m)
{
    return ((const km_state *)m)->p.k * m->dim * sizeof(float);
}

static int km_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const km_state *s = (const km_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "kmeans: encode() before train()");
    int rc = ecb_pq_encode(&s->pq, x, n, codes, s->code_size);
    return rc ? m->host->fail(m->host, rc, "kmeans: encoding %zu vectors failed", n) : 0;
}

static int km_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const km_state *s = (const km_state *)m;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "kmeans: decode() before train()");
    ecb_pq_decode(&s->pq, codes, n, s->code_size, x);
    return 0;
}

static size_t km_query_size(const ecb_method *m, ecb_mode mode)
{
    const km_state *s = (const km_state *)m;
    if (s->p.hamming && mode == ECB_MODE_SYMMETRIC) return s->code_size; /* the query's id */
    return s->p.k * sizeof(float);
}

static int km_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const km_state *s = (const km_state *)m;
    const size_t d = m->dim, k = s->p.k;
    if (!s->trained) return m->host->fail(m->host, ECB_EINVAL, "kmeans: prepare() before train()");
    if (s->p.hamming) {
        if (mode != ECB_MODE_SYMMETRIC)
            return m->host->fail(m->host, ECB_ENOTSUP, "kmeans: hamming=true compares id strings, "
                                 "so the query is encoded too: symmetric mode only");
        int rc = ecb_pq_encode(&s->pq, q, nq, out, s->code_size);
        return rc ? m->host->fail(m->host, rc, "kmeans: encoding %zu queries failed", nq) : 0;
    }
    float *lut = out, *rec = NULL;
    uint8_t *codes = NULL;
    int rc = 0;
    if (mode == ECB_MODE_SYMMETRIC) {
        rec = malloc(nq * d * sizeof *rec);
        codes = malloc(nq * s->code_size);
        if (!rec || !codes) { rc = ECB_ENOMEM; goto out; }
        if ((rc = ecb_pq_encode(&s->pq, q, nq, codes, s->code_size)) != 0) goto out;
        ecb_pq_decode(&s->pq, codes, nq, s->code_size, rec);
        q = rec;
    }
    if (m->sim == ECB_SIM_DOT) {
        rc = ecb_gemm_nt(nq, k, d, 1.0f, q, d, s->pq.cb, d, 0.0f, lut, k);
        goto out;
    }
    /* -||q - c||^2 = 2 q.c - ||c||^2 - ||q||^2 */
    if ((rc = ecb_gemm_nt(nq, k, d, 2.0f, q, d, s->pq.cb, d, 0.0f, lut, k)) != 0) goto out;
    for (size_t i = 0; i < nq; i++) {
        double qn = 0;
        for (size_t t = 0; t < d; t++) qn += (double)q[i * d + t] * q[i * d + t];
        float *row = lut + i * k;
        for (size_t j = 0; j < k; j++) row[j] = (float)((double)row[j] - s->cnorm[j] - qn);
    }
out:
    free(rec);
    free(codes);
    return rc ? m->host->fail(m->host, rc, "kmeans: preparing %zu queries failed", nq) : 0;
}

static int km_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                    const uint8_t *codes, size_t n, float *scores)
{
    const km_state *s = (const km_state *)m;
    const size_t k = s->p.k;
    if (s->p.hamming && mode == ECB_MODE_SYMMETRIC) {
        uint32_t *dist = malloc((n ? n : 1) * sizeof *dist);
        if (!dist) return m->host->fail(m->host, ECB_ENOMEM, "kmeans: out of memory");
        for (size_t i = 0; i < nq; i++) {
            ecb_hamming_1xn((const uint8_t *)prepared + i * s->code_size, codes, n, s->code_size,
                            dist);
            for (size_t j = 0; j < n; j++) scores[i * n + j] = -(float)dist[j];
        }
        free(dist);
        return 0;
    }
    for (size_t i = 0; i < nq; i++)
        ecb_lut_scan((const float *)prepared + i * k, 1, s->pq.nbits, codes, s->code_size, n,
                     scores + i * n);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const km_size_params[] = {"k", NULL};

static const ecb_method_vtable km_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "kmeans",
    .summary = "vector quantization: one k-means codebook, centroid ids of ceil(log2 k) bits, "
               "optional Hamming scoring",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC |
             ECB_METHOD_DECODE,
    .params = km_params_table,
    .params_size = sizeof(struct km_params),
    .create = km_create,
    .destroy = km_destroy,
    .train = km_train,
    .code_size = km_code_size,
    .aux_bytes = km_aux_bytes,
    .encode = km_encode,
    .decode = km_decode,
    .query_size = km_query_size,
    .prepare = km_prepare,
    .score = km_score,
    .size_params = km_size_params,
    .code_bits = km_code_bits,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_kmeans(void) { return &km_vtable; }
