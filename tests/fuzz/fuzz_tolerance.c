/*
 * `ecbench compare --tolerance METRIC=VALUE` (reports/compare.c,
 * ecb_tolerance_parse): what it accepts is a non-empty metric and a finite
 * value >= 0, absolute or relative.
 */
#include <fnmatch.h>
#include <math.h>

#include "fuzz_common.h"
#include "reports/reports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)fuzz_write; /* the input needs no file */
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ecb_tolerance t;
    if (ecb_tolerance_parse(s, "--tolerance", &t) == 0) {
        if (!t.metric[0] || strlen(t.metric) >= sizeof t.metric || !isfinite(t.value) || t.value < 0) abort();
        /* compare matches the metric as a glob against column names */
        (void)fnmatch(t.metric, "ndcg@10", 0);
        (void)fnmatch(t.metric, "query_p50_ms", 0);
    }
    double v;
    int rel;
    if (ecb_parse_tolerance(s, &v, &rel) == 0 && (!isfinite(v) || v < 0)) abort();
    free(s);
    return 0;
}
