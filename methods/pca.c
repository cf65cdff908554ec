/*
 * pca: principal component projection to `dim` dimensions, optionally
 * whitened (a float->float transform stage; used alone, the harness scores
 * its output as float32).
 *
 * Axes: the top eigenvectors of the centred covariance (population, /n) of
 * the training sample, accumulated and decomposed in double. Each axis is
 * sign-normalised (its largest-magnitude component positive, first one on a
 * tie) so that a seed-free fit is reproducible across LAPACK builds.
 *
 * Centring rule (DESIGN D3): with DOT similarity (cosine arrives as DOT on
 * normalised vectors) the projection is applied WITHOUT subtracting the
 * mean: q.x = (Pq).(Px) when P is square orthogonal, while centring both
 * sides changes scores by a document-dependent term (-mu.x) and so changes
 * the ranking (FAISS's PCAMatrix centres and loses it). Consequently pca to
 * the full dimension is an exact rotation for DOT and keeps kNN recall at 1.
 * With L2 the mean is subtracted: distances are translation invariant, so
 * the ranking is the same either way, and zero-centred output is what the
 * quantizers that may follow in a pipeline (binary, lsh, sq) expect. The
 * stored state is then the projection plus its bias P*mu.
 *
 * Whitening divides each axis by sqrt(eigenvalue) (eigenvalues below
 * 1e-10 of the largest are clamped there): it equalises variances for a
 * following quantizer but is not orthogonal, so it does not preserve
 * ranking even at full dimension.
 *
 * renormalize (auto | on | off, default auto) rescales every projected
 * vector to unit L2 norm, so that a following float32 (or quantizer) scores
 * the cosine of the projections: what a user of a cosine-similarity model
 * computes after reducing it, and not the raw dot product of the shortened
 * vectors. auto means on for cosine data and off otherwise. The plugin
 * ABI hands methods cosine data as DOT on L2-normalised vectors, so auto
 * is resolved in train() from what the method sees: on when the
 * similarity is DOT and every training vector has unit norm (or is zero),
 * which is exactly the cosine case (and dot on unit vectors is cosine);
 * off for L2 and for dot data with other norms, where the norm carries
 * information. The resolved value is logged; the params column records
 * the setting (auto) and the dataset's similarity decides it.
 *
 * Limits: dim <= input dimension (checked in create); the training sample
 * needs n >= 2 vectors; the matrix is dense, dim*input_dim floats.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

enum { PCA_RENORM_AUTO = 0, PCA_RENORM_ON = 1, PCA_RENORM_OFF = 2 };
static const char *const pca_renorms[] = {"auto", "on", "off", NULL};

struct pca_params {
    size_t dim; /* 0 = input dimension */
    int whiten;
    int renormalize;
};

static const ecb_param pca_params_table[] = {
    {"dim", ECB_PARAM_SIZE, offsetof(struct pca_params, dim), .def.u = 0, .min = 0,
     .max = 1048576, .help = "output dimension (<= input dimension); 0 keeps the input dimension"},
    {"whiten", ECB_PARAM_BOOL, offsetof(struct pca_params, whiten), .def.b = 0,
     .help = "divide each axis by the square root of its eigenvalue"},
    {"renormalize", ECB_PARAM_ENUM, offsetof(struct pca_params, renormalize),
     .def.b = PCA_RENORM_AUTO, .enum_values = pca_renorms,
     .help = "rescale projections to unit norm (cosine after projection); auto: on for "
             "cosine data (dot similarity on unit-norm vectors), off otherwise"},
    {NULL},
};

typedef struct {
    ecb_method base;
    struct pca_params p;
    size_t out;     /* output dimension */
    float *W;       /* out x dim: axes as rows, whitening folded in */
    float *bias;    /* out: W*mean, subtracted after projecting (L2 only) */
    double kept;    /* fraction of the total variance on the kept axes */
    int renorm;     /* renormalize resolved (auto decided in train) */
    int trained;
} pca_state;

/* Defined at the end (file order); create() stores it in the base. */
static const ecb_method_vtable pca_vtable;

static int pca_create(const ecb_host *host, const void *params, size_t dim,
                      ecb_similarity sim, ecb_method **out)
{
    const struct pca_params *p = params;
    if (dim == 0) return host->fail(host, ECB_EINVAL, "pca: input dimension must be >= 1, got 0");
    size_t od = p->dim ? p->dim : dim;
    if (od > dim)
        return host->fail(host, ECB_EINVAL,
                          "pca: parameter dim=%zu exceeds the input dimension %zu "
                          "(expected 1..%zu, or 0 for the input dimension)",
                          p->dim, dim, dim);
    if (p->renormalize < PCA_RENORM_AUTO || p->renormalize > PCA_RENORM_OFF)
        return host->fail(host, ECB_EINVAL,
                          "pca: parameter renormalize: expected auto|on|off, got %d",
                          p->renormalize);
    pca_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "pca: out of memory");
    s->base.vt = &pca_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *p;
    s->out = od;
    *out = &s->base;
    return 0;
}

static void pca_destroy(ecb_method *m)
{
    if (!m) return;
    pca_state *s = (pca_state *)m;
    free(s->W);
    free(s->bias);
    free(s);
}

static int pca_train(ecb_method *m, const float *x, size_t n)
{
    pca_state *s = (pca_state *)m;
    const ecb_host *h = m->host;
    size_t d = m->dim, od = s->out;
    if (n < 2) return h->fail(h, ECB_EINVAL, "pca: training needs >= 2 vectors, got %zu", n);
    double *mean = malloc(d * sizeof *mean);
    double *cov = malloc(d * d * sizeof *cov);
    double *w = malloc(d * sizeof *w);
    double *V = malloc(d * d * sizeof *V);
    float *W = malloc(od * d * sizeof *W);
    float *bias = m->sim == ECB_SIM_L2 ? malloc(od * sizeof *bias) : NULL;
    int rc = 0;
    if (!mean || !cov || !w || !V || !W || (m->sim == ECB_SIM_L2 && !bias)) {
        rc = h->fail(h, ECB_ENOMEM, "pca: out of memory for a %zu x %zu covariance", d, d);
        goto out;
    }
    rc = ecb_mean_covariance_mt(x, n, d, mean, cov, h->threads);
    if (rc) {
        rc = h->fail(h, rc, "pca: covariance of %zu x %zu sample failed", n, d);
        goto out;
    }
    rc = ecb_eigh_desc(d, cov, w, V);
    if (rc) {
        rc = h->fail(h, rc, "pca: eigen-decomposition of the %zu x %zu covariance failed", d, d);
        goto out;
    }
    double total = 0, kept = 0, floor_ = w[0] > 0 ? w[0] * 1e-10 : 1e-30;
    for (size_t i = 0; i < d; i++) total += w[i] > 0 ? w[i] : 0;
    for (size_t i = 0; i < od; i++) {
        double *v = V + i * d;
        size_t arg = 0;
        for (size_t j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[arg]) * (1 + 1e-12)) arg = j;
        double sign = v[arg] < 0 ? -1.0 : 1.0;
        double lam = w[i] > floor_ ? w[i] : floor_;
        double scale = s->p.whiten ? sign / sqrt(lam) : sign;
        kept += w[i] > 0 ? w[i] : 0;
        double b = 0;
        for (size_t j = 0; j < d; j++) {
            W[i * d + j] = (float)(v[j] * scale);
            b += v[j] * scale * mean[j];
        }
        if (bias) bias[i] = (float)b;
    }
    free(s->W);
    free(s->bias);
    s->W = W;
    s->bias = bias;
    W = NULL;
    bias = NULL;
    s->kept = total > 0 ? kept / total : 1.0;
    s->renorm = s->p.renormalize == PCA_RENORM_ON ||
                (s->p.renormalize == PCA_RENORM_AUTO && m->sim == ECB_SIM_DOT &&
                 ecb_rows_unit(x, n, d, 1e-3));
    s->trained = 1;
    h->log(h, ECB_LOG_DEBUG, "pca: %zu -> %zu dims keep %.4f of the variance%s, renormalize %s",
           d, od, s->kept,
           m->sim == ECB_SIM_L2 ? " (centred, L2)" : " (uncentred projection, DOT)",
           s->renorm ? "on" : "off");
out:
    free(mean);
    free(cov);
    free(w);
    free(V);
    free(W);
    free(bias);
    return rc;
}

static size_t pca_code_size(const ecb_method *m)
{
    return ((const pca_state *)m)->out * sizeof(float);
}

static size_t pca_aux_bytes(const ecb_method *m)
{
    const pca_state *s = (const pca_state *)m;
    return (s->out * m->dim + (m->sim == ECB_SIM_L2 ? s->out : 0)) * sizeof(float);
}

static size_t pca_out_dim(const ecb_method *m) { return ((const pca_state *)m)->out; }

/** @param x n*dim floats. @param y n*out floats, caller-owned. */
static int pca_transform(const ecb_method *m, const float *x, size_t n, float *y)
{
    const pca_state *s = (const pca_state *)m;
    const ecb_host *h = m->host;
    if (!s->trained) return h->fail(h, ECB_EINVAL, "pca: transform called before train");
    if (n == 0) return 0;
    size_t d = m->dim, od = s->out;
    if (ecb_gemm_nt(n, od, d, 1.0f, x, d, s->W, d, 0.0f, y, od))
        return h->fail(h, ECB_ERANGE, "pca: block of %zu x %zu too large for BLAS", n, d);
    if (s->bias)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < od; j++) y[i * od + j] -= s->bias[j];
    if (s->renorm) ecb_rows_normalize(y, n, od);
    return 0;
}

/* What a memory budget ("budget" in a config) chooses. */
static const char *const pca_size_params[] = {"dim", NULL};

static const ecb_method_vtable pca_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "pca",
    .summary = "principal component projection (optional whitening, renormalised on cosine "
               "data); uncentred for dot/cosine",
    .flags = ECB_METHOD_NEEDS_TRAIN | ECB_METHOD_TRANSFORM,
    .params = pca_params_table,
    .params_size = sizeof(struct pca_params),
    .create = pca_create,
    .destroy = pca_destroy,
    .train = pca_train,
    .code_size = pca_code_size,
    .aux_bytes = pca_aux_bytes,
    .out_dim = pca_out_dim,
    .transform = pca_transform,
    .size_params = pca_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_pca(void) { return &pca_vtable; }
