/*
 * The per_query.csv <-> results.csv join behind results_stats.csv
 * (reports/stats.c): the input is results.csv, a line "--", then
 * per_query.csv. Both go through the results store, baselines are resolved,
 * per-query scores are paired by (cell_id, qid) and the statistics
 * computed (few permutations and resamples, to stay fast); then the
 * report's model groups the rows. Accepted input must give one stats row
 * per results row.
 */
#include "fuzz_common.h"
#include "reports/model.h"
#include "reports/reports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sep[] = "\n--\n";
    const uint8_t *cut = NULL;
    for (size_t i = 0; i + 4 <= size && !cut; i++)
        if (memcmp(data + i, sep, 4) == 0) cut = data + i;
    size_t nres = cut ? (size_t)(cut - data) + 1 : size;
    fuzz_write("results.csv", data, nres);
    char pq[1024];
    snprintf(pq, sizeof pq, "%s/per_query.csv", fuzz_dir);
    if (cut) fuzz_write("per_query.csv", cut + 4, size - nres - 3);
    else remove(pq);
    ecb_stats_opts o;
    ecb_stats_opts_default(&o);
    o.permutations = 8;
    o.bootstrap = 8;
    ecb_table *t = NULL;
    if (ecb_stats_build(fuzz_dir, &o, &t) == 0) {
        ecb_table *res = NULL;
        char rp[1024];
        snprintf(rp, sizeof rp, "%s/results.csv", fuzz_dir);
        if (ecb_results_load(rp, &res, NULL, NULL) != 0 || res->nrows != t->nrows) abort();
        ecb_table_free(res);
        ecb_report R;
        memset(&R, 0, sizeof R);
        R.dir = fuzz_dir;
        R.alpha = 0.05;
        R.t = t;
        ecb_run_manifest_load("/nonexistent/manifest.json", &R.man);
        if (ecb_report_model(&R) == 0) {
            size_t n = 0;
            for (size_t g = 0; g < R.ngroups; g++) n += R.groups[g].n;
            if (n != t->nrows) abort();
        }
        ecb_report_model_free(&R);
        ecb_run_manifest_release(&R.man);
    }
    ecb_table_free(t);
    return 0;
}
