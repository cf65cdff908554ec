/* A quantizer without a score() hook: rejected, naming the hook. */
#include "ecbench/method.h"

static int c(const ecb_host *h, const void *p, size_t d, ecb_similarity s, ecb_method **o)
{
    (void)p; (void)d; (void)s; (void)o;
    return h->fail(h, ECB_ENOTSUP, "never created");
}
static void x(ecb_method *m) { (void)m; }

static const ecb_method_vtable vt = {
    .abi_version = ECB_METHOD_ABI_VERSION, .struct_size = sizeof(ecb_method_vtable),
    .name = "nohook", .summary = "missing score", .flags = ECB_METHOD_SYMMETRIC,
    .create = c, .destroy = x,
};
ECB_EXPORT const ecb_method_vtable *ecb_method_nohook(void) { return &vt; }
