/*
 * _template: copy this file to methods/<name>.c, rename every "tmpl" and
 * "_template", and fill in the hooks. It is built and passes the
 * conformance test as it is (a float32 identity with one parameter), so a
 * copy starts from working code.
 *
 * What a method file holds, in this order: this comment (what it is, the
 * paper it follows, its limits) -> includes -> params struct -> param table
 * -> state struct -> hooks in lifecycle order -> vtable -> the one exported
 * function, named ecb_method_<file stem>.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

/* Parameters: the host fills this struct from JSON using the table below
 * (defaults, ranges, enums, "did you mean"); `ecbench list --params` prints
 * the help strings. */
struct tmpl_params {
    double scale;
};

static const ecb_param tmpl_params_table[] = {
    {"scale", ECB_PARAM_DOUBLE, offsetof(struct tmpl_params, scale), .def.d = 1.0, .min = 1e-6,
     .max = 1e6, .help = "multiplies every coordinate (a stand-in for real parameters)"},
    {NULL},
};

/* State: the base comes first so the host can treat it as ecb_method. */
typedef struct {
    ecb_method base;
    struct tmpl_params p;
} tmpl_state;

static int tmpl_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                       ecb_method **out)
{
    tmpl_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "_template: out of memory");
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->p = *(const struct tmpl_params *)params;
    *out = &s->base;
    return 0;
}

static void tmpl_destroy(ecb_method *m) { free(m); }

static size_t tmpl_code_size(const ecb_method *m) { return m->dim * sizeof(float); }

static size_t tmpl_aux_bytes(const ecb_method *m)
{
    (void)m;
    return 0; /* count every trained array here: codebooks, rotations, thresholds */
}

static int tmpl_encode(const ecb_method *m, const float *x, size_t n, uint8_t *codes)
{
    const tmpl_state *s = (const tmpl_state *)m;
    float *c = (float *)(void *)codes;
    for (size_t i = 0; i < n * m->dim; i++) c[i] = x[i] * (float)s->p.scale;
    return 0;
}

static int tmpl_decode(const ecb_method *m, const uint8_t *codes, size_t n, float *x)
{
    const tmpl_state *s = (const tmpl_state *)m;
    const float *c = (const float *)(const void *)codes;
    for (size_t i = 0; i < n * m->dim; i++) x[i] = c[i] / (float)s->p.scale;
    return 0;
}

static size_t tmpl_query_size(const ecb_method *m, ecb_mode mode)
{
    (void)mode;
    return m->dim * sizeof(float);
}

/* Symmetric: the query is encoded like a document. Asymmetric: kept float. */
static int tmpl_prepare(const ecb_method *m, ecb_mode mode, const float *q, size_t nq, void *out)
{
    if (mode == ECB_MODE_SYMMETRIC) return tmpl_encode(m, q, nq, out);
    const tmpl_state *s = (const tmpl_state *)m;
    float *o = out;
    for (size_t i = 0; i < nq * m->dim; i++) o[i] = q[i] * (float)s->p.scale;
    return 0;
}

static int tmpl_score(const ecb_method *m, ecb_mode mode, const void *prepared, size_t nq,
                      const uint8_t *codes, size_t n, float *scores)
{
    (void)mode;
    const float *q = prepared;
    const float *x = (const float *)(const void *)codes;
    size_t d = m->dim;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < n; j++) {
            double acc = 0;
            for (size_t t = 0; t < d; t++) {
                double a = q[i * d + t], b = x[j * d + t];
                acc += m->sim == ECB_SIM_DOT ? a * b : -(a - b) * (a - b);
            }
            scores[i * n + j] = (float)acc;
        }
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const tmpl_size_params[] = {NULL};

static const ecb_method_vtable tmpl_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "_template",
    .summary = "copy-and-rename starting point (a scaled float32 identity)",
    .flags = ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC | ECB_METHOD_DECODE,
    .params = tmpl_params_table,
    .params_size = sizeof(struct tmpl_params),
    .create = tmpl_create,
    .destroy = tmpl_destroy,
    .code_size = tmpl_code_size,
    .aux_bytes = tmpl_aux_bytes,
    .encode = tmpl_encode,
    .decode = tmpl_decode,
    .query_size = tmpl_query_size,
    .prepare = tmpl_prepare,
    .score = tmpl_score,
    .size_params = tmpl_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method__template(void) { return &tmpl_vtable; }
