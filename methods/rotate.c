/*
 * rotate: a random orthogonal rotation y = R x (a float->float transform
 * stage, dimension unchanged), R Haar-distributed from the cell's seed
 * (ecb_random_orthogonal: QR of a Gaussian matrix with the sign fix).
 *
 * Alone it changes nothing but float rounding (dot products and distances
 * are preserved); its use is in front of a quantizer, which then sees the
 * variance spread evenly over the coordinates (the trick behind OPQ's
 * initialisation, RaBitQ and the TurboQuant family).
 *
 * Limits: the matrix is dense, dim x dim floats (counted in aux_bytes),
 * and generating it costs O(dim^3); dim is capped at 16384.
 */
#include <stddef.h>
#include <stdlib.h>

#include "ecbench/ecbmath.h"
#include "ecbench/method.h"

typedef struct {
    ecb_method base;
    float *R; /* dim x dim, row-major */
} rot_state;

/* Defined at the end (file order); create() stores it in the base. */
static const ecb_method_vtable rot_vtable;

/* Stream tag: the rotation of this stage differs from the one an lsh or
 * opq stage of the same pipeline draws from the same cell seed. */
#define ROT_STREAM 0x726f74617465ull /* "rotate" */

static int rot_create(const ecb_host *host, const void *params, size_t dim, ecb_similarity sim,
                      ecb_method **out)
{
    (void)params;
    if (dim == 0 || dim > 16384)
        return host->fail(host, ECB_EINVAL, "rotate: input dimension: expected 1..16384, got %zu",
                          dim);
    rot_state *s = calloc(1, sizeof *s);
    if (!s) return host->fail(host, ECB_ENOMEM, "rotate: out of memory");
    s->base.vt = &rot_vtable;
    s->base.host = host;
    s->base.dim = dim;
    s->base.sim = sim;
    s->R = malloc(dim * dim * sizeof *s->R);
    if (!s->R) {
        free(s);
        return host->fail(host, ECB_ENOMEM, "rotate: out of memory for a %zu x %zu matrix", dim,
                          dim);
    }
    ecb_rng r;
    ecb_rng_seed2(&r, host->seed, ROT_STREAM);
    int rc = ecb_random_orthogonal(dim, ecb_rng_next(&r), s->R);
    if (rc) {
        free(s->R);
        free(s);
        return host->fail(host, rc, "rotate: random orthogonal %zu x %zu matrix failed", dim, dim);
    }
    *out = &s->base;
    return 0;
}

static void rot_destroy(ecb_method *m)
{
    if (!m) return;
    rot_state *s = (rot_state *)m;
    free(s->R);
    free(s);
}

static size_t rot_code_size(const ecb_method *m) { return m->dim * sizeof(float); }
static size_t rot_aux_bytes(const ecb_method *m) { return m->dim * m->dim * sizeof(float); }
static size_t rot_out_dim(const ecb_method *m) { return m->dim; }

/** @param x n*dim floats. @param y n*dim floats, caller-owned. */
static int rot_transform(const ecb_method *m, const float *x, size_t n, float *y)
{
    const rot_state *s = (const rot_state *)m;
    size_t d = m->dim;
    if (n == 0) return 0;
    if (ecb_gemm_nt(n, d, d, 1.0f, x, d, s->R, d, 0.0f, y, d))
        return m->host->fail(m->host, ECB_ERANGE, "rotate: block of %zu x %zu too large for BLAS",
                             n, d);
    return 0;
}

/* No parameter sets the size: a memory budget takes it as it is. */
static const char *const rot_size_params[] = {NULL};

static const ecb_method_vtable rot_vtable = {
    .abi_version = ECB_METHOD_ABI_VERSION,
    .struct_size = sizeof(ecb_method_vtable),
    .name = "rotate",
    .summary = "random orthogonal rotation (Haar), dimension unchanged",
    .flags = ECB_METHOD_TRANSFORM,
    .params = NULL,
    .params_size = 0,
    .create = rot_create,
    .destroy = rot_destroy,
    .code_size = rot_code_size,
    .aux_bytes = rot_aux_bytes,
    .out_dim = rot_out_dim,
    .transform = rot_transform,
    .size_params = rot_size_params,
};

ECB_EXPORT const ecb_method_vtable *ecb_method_rotate(void) { return &rot_vtable; }
