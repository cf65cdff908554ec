/* Its vtable name differs from its file stem: rejected. */
#include "ecbench/method.h"

static int c(const ecb_host *h, const void *p, size_t d, ecb_similarity s, ecb_method **o)
{
    (void)p; (void)d; (void)s; (void)o;
    return h->fail(h, ECB_ENOTSUP, "never created");
}
static void x(ecb_method *m) { (void)m; }
static size_t od(const ecb_method *m) { (void)m; return 1; }
static int tr(const ecb_method *m, const float *a, size_t n, float *b)
{
    (void)m; (void)a; (void)n; (void)b;
    return 0;
}

static const ecb_method_vtable vt = {
    .abi_version = ECB_METHOD_ABI_VERSION, .struct_size = sizeof(ecb_method_vtable),
    .name = "othername", .summary = "name mismatch", .flags = ECB_METHOD_TRANSFORM,
    .create = c, .destroy = x, .out_dim = od, .transform = tr,
};
ECB_EXPORT const ecb_method_vtable *ecb_method_wrongname(void) { return &vt; }
