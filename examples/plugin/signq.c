/*
 * signq: an example out-of-tree ecbench method, built only against the
 * installed SDK (`pkg-config ecbench-plugin`: <ecbench/method.h>,
 * <ecbench/ecbmath.h> and libecbench-toolkit.so.1). It keeps the sign of
 * each of the first `dims` coordinates, one bit each (1-bit quantization
 * with threshold zero, as in the binary-embedding literature), and scores
 *  - symmetric: minus the Hamming distance between the query's and the
 *    document's sign bits (the toolkit's popcount kernel, ecb_hamming_1xn);
 *  - asymmetric: the float query times the document's signs (+1/-1).
 * Both are order-equivalent to minus the squared distance for a fixed query
 * (every code has the same norm), so they serve dot and L2 alike.
 *
 * Its limits: no decode (a sign vector has no scale), no training.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ecbench/ecbmath.h>
#include <ecbench/method.h>

struct signq_params {
    size_t dims;
};

static const ecb_param signq_params_table[] = {
    {"dims", ECB_PARAM_SIZE, offsetof(struct signq_params, dims), .def.u = 0, .min = 0,
     .max = 1u << 20, .help = "leading coordinates kept, one bit each (0 = all)"},
    {NULL},
};

typedef struct {
    ecb_method base;
    size_t bits;   /* coordinates kept */
    size_t nbytes; /* bytes per code: ceil(bits / 8) */
} signq_state;

static int signq_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                        ecb_method **out)
{
    const struct signq_params *p = params;
    if (p->dims > dim)
        return host->fail(host, ECB_EINVAL, "signq: dims=%zu exceeds the dimension %zu", p->dims,
                          dim);
    signq_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "signq: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->bits = p->dims ? p->dims : dim;
    s->nbytes = (s->bits + 7) / 8;
    *out = &s->base;
    return 0;
}

static void signq_destroy(ecb_method *m) { free(m); }

static size_t signq_code_size(const ecb_method *m) { return ((const signq_state *)m)->nbytes; }

static size_t signq_aux_bytes(const ecb_method *m)
{
    (void)m;
    return 0; /* nothing trained */
}

/* Bit b of a code is in byte b/8 at position b%8, 1 for x >= 0: the layout
 * the toolkit's sign-code kernels expect. */
static int signq_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const signq_state *s = (const signq_state *)m;
    for (size_t i = 0; i < n; i++) {
        uint8_t *c = codes + i * s->nbytes;
        memset(c, 0, s->nbytes);
        for (size_t b = 0; b < s->bits; b++)
            if (x[i * m->dim + b] >= 0.0f) c[b / 8] |= (uint8_t)(1u << (b % 8));
    }
    return 0;
}

static size_t signq_query_size(const ecb_method *m, ecb_mode mode)
{
    const signq_state *s = (const signq_state *)m;
    return mode == ECB_MODE_SYMMETRIC ? s->nbytes : s->bits * sizeof(float);
}

static int signq_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    const signq_state *s = (const signq_state *)m;
    if (mode == ECB_MODE_SYMMETRIC) return signq_encode(m, q, nq, out);
    float *o = out;
    for (size_t i = 0; i < nq; i++) memcpy(o + i * s->bits, q + i * m->dim, s->bits * sizeof *o);
    return 0;
}

/* Called from several threads at once: scratch is allocated per call. */
static int signq_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                       const uint8_t *codes, size_t n, float *scores)
{
    const signq_state *s = (const signq_state *)m;
    if (mode == ECB_MODE_ASYMMETRIC) {
        int rc = ecb_sign_scores_dot(prepared, nq, codes, n, s->bits, s->nbytes, scores);
        return rc ? m->host->fail(m->host, rc, "signq: scoring %zu x %zu failed", nq, n) : 0;
    }
    uint32_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) return m->host->fail(m->host, ECB_ENOMEM, "signq: out of memory");
    const uint8_t *qc = prepared;
    for (size_t i = 0; i < nq; i++) {
        ecb_hamming_1xn(qc + i * s->nbytes, codes, n, s->nbytes, h);
        for (size_t j = 0; j < n; j++) scores[i * n + j] = -(float)h[j];
    }
    free(h);
    return 0;
}

static const ecb_method_vtable signq_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "signq",
    .summary = "example plugin: sign of the first dims coordinates, 1 bit each",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = signq_params_table,
    .params_size = sizeof(struct signq_params),
    .create = signq_create,
    .destroy = signq_destroy,
    .code_size = signq_code_size,
    .aux_bytes = signq_aux_bytes,
    .encode = signq_encode,
    .query_size = signq_query_size,
    .prepare = signq_prepare,
    .score = signq_score,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_signq(void) { return &signq_vtable; }
