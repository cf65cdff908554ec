/*
 * The run directory's manifest.json as report and compare read it
 * (reports/manifest.c, ecb_run_manifest_load): types, ranges, unknown and
 * duplicate keys, budgets, baseline, ci tolerances. A manifest the reader
 * accepts must give the fields it promises.
 */
#include <math.h>

#include "fuzz_common.h"
#include "reports/reports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("manifest.json", data, size);
    ecb_run_manifest m;
    if (ecb_run_manifest_load(path, &m) == 0) {
        if (!m.baseline_method || !m.budget_metric || !ecb_is_quality_metric(m.budget_metric)) abort();
        for (size_t i = 0; i < m.nbudgets; i++)
            if (!(m.budgets[i].per_vector > 0) || !isfinite(m.budgets[i].per_vector)) abort();
        for (const cJSON *t = m.tolerances ? m.tolerances->child : NULL; t; t = t->next) {
            double v = 0;
            int rel;
            if (cJSON_IsString(t) && ecb_parse_tolerance(t->valuestring, &v, &rel) != 0) abort();
            if (cJSON_IsNumber(t)) v = t->valuedouble;
            if (!(v >= 0) || !isfinite(v)) abort();
        }
        ecb_run_manifest_release(&m);
    }
    return 0;
}
