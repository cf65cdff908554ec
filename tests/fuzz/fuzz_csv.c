/*
 * CSV readers of results.csv / per_query.csv: ecb_csv_load
 * (reports/results_csv.c: the runner's resume and the readers) and
 * ecb_table_read (reports/csvread.c: report and compare), on the same file.
 */
#include "fuzz_common.h"
#include "reports/reports.h"
#include "reports/results_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("results.csv", data, size);
    ecb_csv_table *t = NULL;
    if (ecb_csv_load(path, &t) == 0) {
        for (size_t r = 0; r < t->nrows; r++)
            for (size_t c = 0; c < t->ncols; c++)
                if (!t->rows[r][c]) abort();
        ecb_csv_col(t, "cell_id");
        ecb_csv_table_free(t);
    }
    ecb_table *u = NULL;
    if (ecb_table_read(path, &u) == 0) {
        ecb_table_col(u, "status");
        ecb_table_free(u);
    }
    return 0;
}
