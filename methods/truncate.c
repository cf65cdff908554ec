/*
 * truncate: keep the first `dim` coordinates (Matryoshka representation
 * learning, Kusupati et al., NeurIPS 2022), a float->float transform stage.
 *
 * renormalize=true rescales each truncated vector to unit L2 norm, which is
 * what evaluating Matryoshka embeddings by cosine similarity does; leave it
 * false (the default) for dot-product or L2 data, where the norm carries
 * information. A truncated vector that is all zeros stays zero.
 *
 * Limits: dim=0 keeps every coordinate (the identity); dim larger than the
 * input dimension is rejected at create. Used alone, the harness follows
 * it with float32; in a pipeline it is a first stage before a quantizer.
 * No trained state (aux_bytes 0).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

struct trunc_params {
    size_t dim; /* 0 = input dimension */
    int renormalize;
};

static const ecb_param trunc_params_table[] = {
    {"dim", ECB_PARAM_SIZE, offsetof(struct trunc_params, dim), .def.u = 0, .min = 0,
     .max = 1048576, .help = "number of leading coordinates kept (<= input dim); 0 keeps all"},
    {"renormalize", ECB_PARAM_BOOL, offsetof(struct trunc_params, renormalize), .def.b = 0,
     .help = "rescale each truncated vector to unit L2 norm (cosine on Matryoshka embeddings)"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct trunc_params p;
    size_t out;
} trunc_state;

static int trunc_create(const ecb_host *host, const void *params, size_t dim,
                        ecb_similarity sim, ecb_method **out)
{
    const struct trunc_params *p = params;
    if (dim == 0)
        return host->fail(host, ECB_EINVAL, "truncate: input dimension must be >= 1, got 0");
    if (p->dim > dim)
        return host->fail(host, ECB_EINVAL,
                          "truncate: parameter dim: expected at most the input dimension %zu, "
                          "got %zu",
                          dim, p->dim);
    trunc_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "truncate: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->out = p->dim ? p->dim : dim;
    *out = &s->base;
    return 0;
}

static void trunc_destroy(ecb_method *m) { free(m); }

static size_t trunc_code_size(const ecb_method *m)
{
    return ((const trunc_state *)m)->out * sizeof(float);
}

static size_t trunc_aux_bytes(const ecb_method *m) { (void)m; return 0; }

static size_t trunc_out_dim(const ecb_method *m) { return ((const trunc_state *)m)->out; }

/** @param x n*dim floats. @param y n*out floats, caller-owned. */
static int trunc_transform(const ecb_method *m, const float *x, size_t n, float *y)
{
    const trunc_state *s = (const trunc_state *)m;
    size_t d = m->dim, od = s->out;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * od;
        memmove(yi, xi, od * sizeof *yi);
        if (!s->p.renormalize) continue;
        double nn = 0;
        for (size_t j = 0; j < od; j++) nn += (double)yi[j] * yi[j];
        if (nn > 0) {
            double inv = 1.0 / sqrt(nn);
            for (size_t j = 0; j < od; j++) yi[j] = (float)(yi[j] * inv);
        }
    }
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const trunc_size_params[] = {"dim", NULL};

static const ecb_method_vtable trunc_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "truncate",
    .summary = "keep the first dim coordinates (Matryoshka), optionally renormalised",
    .flags = ECB_METHOD_TRANSFORM | ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC,
    .params = trunc_params_table,
    .params_size = sizeof(struct trunc_params),
    .create = trunc_create,
    .destroy = trunc_destroy,
    .code_size = trunc_code_size,
    .aux_bytes = trunc_aux_bytes,
    .out_dim = trunc_out_dim,
    .transform = trunc_transform,
    .size_params = trunc_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_truncate(void) { return &trunc_vtable; }
