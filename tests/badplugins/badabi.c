/* A plugin built for a future ABI: the registry must reject it by name. */
#include "ecbench/method.h"

static int c(const ecb_host *h, const void *p, size_t d, ecb_similarity s, ecb_method **o)
{
    (void)p; (void)d; (void)s; (void)o;
    return h->fail(h, ECB_ENOTSUP, "never created");
}
static void x(ecb_method *m) { (void)m; }

static const ecb_method_vtable vt = {
    .abi_version = 99, .struct_size = sizeof(ecb_method_vtable), .name = "badabi",
    .summary = "built for ABI 99", .flags = ECB_METHOD_TRANSFORM, .create = c, .destroy = x,
};
ECB_EXPORT const ecb_method_vtable *ecb_method_badabi(void) { return &vt; }
