/*
 * prune: token pruning for multi-vector (late-interaction) documents, the
 * "attention-guided dynamic pruning" of HPC-ColPali (keep the most salient
 * patches of each page): every document keeps its ceil(p * n) tokens of
 * highest salience, where the salience is the dataset's
 * corpus_token_weights (attention mass, IDF, ...) or, without them, the
 * token's norm as stored. Queries keep all their tokens.
 *
 * It is a transform stage (the identity on each vector) with the
 * ECB_METHOD_SELECT hook, so it composes in pipelines and must come first:
 * prune(p=0.5)>kmeans(k=256). Used alone the harness follows it with
 * float32. On single-vector datasets the harness skips cells with it.
 *
 * Ties in salience keep the earlier token. ceil(p * n) is computed as
 * ceil(p * n - 1e-9), so that a product such as 0.7 * 10, which is
 * 7.000000000000001 in binary floating point, keeps 7 tokens; at least one
 * token always survives. No trained state (aux_bytes 0).
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/method.h"

struct prune_params {
    double p;
};

static const ecb_param prune_params_table[] = {
    {"p", ECB_PARAM_DOUBLE, offsetof(struct prune_params, p), .def.d = 0.5, .min = 1e-6,
     .max = 1, .help = "share of each document's tokens kept (the ceil(p * n) most salient)"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct prune_params p;
} prune_state;

static int prune_create(const ecb_host *host, const void *params, size_t dim,
                        ecb_similarity sim, ecb_method **out)
{
    const struct prune_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "prune: input dimension must be >= 1, got 0");
    if (!(p->p > 0 && p->p <= 1))
        return host->fail(host, ECB_EINVAL, "prune: parameter p=%g: expected 0 < p <= 1", p->p);
    prune_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "prune: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    *out = &s->base;
    return 0;
}

static void prune_destroy(ecb_method *m) { free(m); }

static size_t prune_out_dim(const ecb_method *m) { return m->dim; }

/* The vectors themselves are unchanged: pruning removes whole tokens. */
static int prune_transform(const ecb_method *m, const float *x, size_t n, float *y)
{
    memcpy(y, x, n * m->dim * sizeof *y);
    return 0;
}

/* Salience descending, then position ascending. */
static int before(const float *w, size_t a, size_t b)
{
    return w[a] > w[b] || (w[a] == w[b] && a < b);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static int prune_select(const ecb_method *m, const float *x, const float *w, size_t n,
                        size_t *keep, size_t *kept)
{
    (void)x;
    const prune_state *s = (const prune_state *)m;
    size_t k = (size_t)ceil(s->p.p * (double)n - 1e-9);
    if (k < 1) k = 1;
    if (k > n) k = n;
    /* insertion into a sorted list of the k best: documents have tens to
     * hundreds of tokens, and this needs no scratch memory */
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++) {
        if (cnt == k && !before(w, i, keep[k - 1])) continue;
        size_t j = cnt < k ? cnt++ : k - 1;
        while (j > 0 && before(w, i, keep[j - 1])) {
            keep[j] = keep[j - 1];
            j--;
        }
        keep[j] = i;
    }
    qsort(keep, k, sizeof *keep, cmp_size);
    *kept = k;
    return 0;
}

static const ecb_method_vtable prune_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "prune",
    .summary = "multi-vector token pruning: keep the ceil(p*n) most salient tokens per document",
    .flags = ECB_METHOD_TRANSFORM | ECB_METHOD_SELECT,
    .params = prune_params_table,
    .params_size = sizeof(struct prune_params),
    .create = prune_create,
    .destroy = prune_destroy,
    .out_dim = prune_out_dim,
    .transform = prune_transform,
    .select = prune_select,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_prune(void) { return &prune_vtable; }
