/*
 * rp: random projection to `dim` dimensions (a float->float transform
 * stage), y = R x with R drawn once from the cell's seed.
 *
 *  - kind=gaussian: R_ij ~ N(0, 1/dim) (Johnson-Lindenstrauss);
 *  - kind=sparse: the very sparse projection of Li, Hastie & Church (KDD
 *    2006), generalising Achlioptas (2003): R_ij = sqrt(s/dim) * {+1 with
 *    probability 1/(2s), 0 with 1 - 1/s, -1 with 1/(2s)}, s = sqrt(input
 *    dimension).
 * Both scalings give E||Rx||^2 = ||x||^2, so norms and inner products are
 * preserved in expectation (not per vector).
 *
 * renormalize (auto | on | off, default auto) rescales every projected
 * vector to unit L2 norm, as pca does and for the same reason (see pca.c):
 * on cosine data the user compares projections by cosine. auto is
 * resolved in train(), which only inspects the sample (rp learns nothing):
 * on when the similarity is DOT and every training vector has unit norm
 * (or is zero), the cosine case; off otherwise, and off if train() was
 * never called.
 *
 * Limits: the matrix is generated at create (no training) and stored dense
 * (dim x input_dim floats, counted in aux_bytes as stored), even for the
 * sparse kind, whose benefit here is the distribution, not the storage.
 * The output dimension may exceed the input dimension (then it only adds
 * redundancy); it is capped at 1048576.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { RP_GAUSSIAN = 0, RP_SPARSE = 1 };
static const char *const rp_kinds[] = {"gaussian", "sparse", NULL};

enum { RP_RENORM_AUTO = 0, RP_RENORM_ON = 1, RP_RENORM_OFF = 2 };
static const char *const rp_renorms[] = {"auto", "on", "off", NULL};

struct rp_params {
    size_t dim; /* 0 = input dimension */
    int kind;
    int renormalize;
};

static const ecb_param rp_params_table[] = {
    {"dim", ECB_PARAM_SIZE, offsetof(struct rp_params, dim), .def.u = 0, .min = 0,
     .max = 1048576, .help = "output dimension; 0 keeps the input dimension"},
    {"kind", ECB_PARAM_ENUM, offsetof(struct rp_params, kind), .def.b = RP_GAUSSIAN,
     .enum_values = rp_kinds,
     .help = "gaussian N(0,1/dim) entries, or sparse +-sqrt(s/dim) with s = sqrt(input dim)"},
    {"renormalize", ECB_PARAM_ENUM, offsetof(struct rp_params, renormalize),
     .def.b = RP_RENORM_AUTO, .enum_values = rp_renorms,
     .help = "rescale projections to unit norm (cosine after projection); auto: on for "
             "cosine data (dot similarity on unit-norm vectors), off otherwise"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct rp_params p;
    size_t out;
    float *R;   /* out x dim */
    int renorm; /* renormalize resolved (auto decided in train) */
} rp_state;

/* Defined at the end (file order); create() stores it in the base. */
static const ecb_method_vtable rp_vtable;

/* Stream tag of this method's random draws (distinct from the other
 * methods of a pipeline that share the cell seed). */
#define RP_STREAM 0x72702d70726f6aull /* "rp-proj" */

static void rp_fill(rp_state *s, uint64_t seed)
{
    size_t d = s->base.dim, od = s->out;
    ecb_rng r;
    ecb_rng_seed2(&r, seed, RP_STREAM);
    if (s->p.kind == RP_GAUSSIAN) {
        double sd = 1.0 / sqrt((double)od);
        for (size_t t = 0; t < od * d; t++) s->R[t] = (float)(ecb_rng_normal(&r) * sd);
        return;
    }
    double sp = sqrt((double)d); /* >= 1 since d >= 1 */
    double half = 1.0 / (2.0 * sp);
    float v = (float)sqrt(sp / (double)od);
    for (size_t t = 0; t < od * d; t++) {
        double u = ecb_rng_uniform(&r);
        s->R[t] = u < half ? v : u < 2 * half ? -v : 0.0f;
    }
}

static int rp_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                     ecb_method **out)
{
    const struct rp_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "rp: input dimension must be >= 1, got 0");
    if (p->kind != RP_GAUSSIAN && p->kind != RP_SPARSE)
        return host->fail(host, ECB_EINVAL, "rp: parameter kind: expected gaussian|sparse, got %d",
                          p->kind);
    if (p->renormalize < RP_RENORM_AUTO || p->renormalize > RP_RENORM_OFF)
        return host->fail(host, ECB_EINVAL, "rp: parameter renormalize: expected auto|on|off, got %d",
                          p->renormalize);
    size_t od = p->dim ? p->dim : dim;
    if (od > 1048576)
        return host->fail(host, ECB_EINVAL, "rp: parameter dim: expected <= 1048576, got %zu", od);
    size_t cells;
    if (__builtin_mul_overflow(od, dim, &cells) || cells > ((size_t)1 << 31))
        return host->fail(host, ECB_ERANGE,
                          "rp: a %zu x %zu projection matrix is too large (max 2^31 entries)", od,
                          dim);
    rp_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "rp: out of memory");
    s->base.vt = &rp_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->out = od;
    s->R = malloc(cells * sizeof *s->R);
    if (!s->R) {
        free(s);
        return host->fail(host, ECB_ENOMEM, "rp: out of memory for a %zu x %zu matrix", od, dim);
    }
    rp_fill(s, host->seed);
    s->renorm = p->renormalize == RP_RENORM_ON;
    *out = &s->base;
    return 0;
}

static void rp_destroy(ecb_method *m)
{
    if (!m) return;
    rp_state *s = (rp_state *)m;
    free(s->R);
    free(s);
}

/* Nothing is learned: the sample only tells whether the data is cosine. */
static int rp_train(ecb_method *m, const float *x, size_t n)
{
    rp_state *s = (rp_state *)m;
    if (s->p.renormalize == RP_RENORM_AUTO)
        s->renorm = m->sim == ECB_SIM_DOT && n > 0 && ecb_rows_unit(x, n, m->dim, 1e-3);
    m->host->log(m->host, ECB_LOG_DEBUG, "rp: renormalize %s", s->renorm ? "on" : "off");
    return 0;
}

static size_t rp_code_size(const ecb_method *m)
{
    return ((const rp_state *)m)->out * sizeof(float);
}

static size_t rp_aux_bytes(const ecb_method *m)
{
    return ((const rp_state *)m)->out * m->dim * sizeof(float);
}

static size_t rp_out_dim(const ecb_method *m) { return ((const rp_state *)m)->out; }

/** @param x n*dim floats. @param y n*out floats, caller-owned. */
static int rp_transform(const ecb_method *m, const float *x, size_t n, float *y)
{
    const rp_state *s = (const rp_state *)m;
    if (n == 0) return 0;
    if (ecb_gemm_nt(n, s->out, m->dim, 1.0f, x, m->dim, s->R, m->dim, 0.0f, y, s->out))
        return m->host->fail(m->host, ECB_ERANGE, "rp: block of %zu x %zu too large for BLAS", n,
                             m->dim);
    if (s->renorm) ecb_rows_normalize(y, n, s->out);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const rp_size_params[] = {"dim", NULL};

static const ecb_method_vtable rp_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "rp",
    .summary = "random projection (Gaussian or very sparse), norms preserved in expectation",
    .flags = ECB_METHOD_TRANSFORM,
    .params = rp_params_table,
    .params_size = sizeof(struct rp_params),
    .create = rp_create,
    .destroy = rp_destroy,
    .train = rp_train,
    .code_size = rp_code_size,
    .aux_bytes = rp_aux_bytes,
    .out_dim = rp_out_dim,
    .transform = rp_transform,
    .size_params = rp_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_rp(void) { return &rp_vtable; }
