/* The host services table every plugin receives at create (DESIGN D2):
 * errors and logs go through the host's own channels, never the plugin's. */
#include <stdarg.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/host.h"

static int host_fail(const ecb_host *h, int code, const char *fmt, ...)
{
    (void)h;
    va_list ap;
    va_start(ap, fmt);
    ecb_vfail(code, fmt, ap);
    va_end(ap);
    return code;
}

static void host_log(const ecb_host *h, int level, const char *fmt, ...)
{
    (void)h;
    va_list ap;
    va_start(ap, fmt);
    ecb_vlog(level, fmt, ap);
    va_end(ap);
}

void ecb_host_init(ecb_host *h, uint64_t seed, size_t threads)
{
    memset(h, 0, sizeof *h);
    h->abi_version = ECB_HOST_ABI_VERSION;
    h->struct_size = sizeof *h;
    h->fail = host_fail;
    h->log = host_log;
    h->seed = seed;
    h->threads = threads ? threads : 1;
}

