/*
 * The one CSV reader (common/csv.c) and the results store on top of it
 * (harness/results.c): every row read back as a typed result, formatted
 * again and re-read must give the same fields.
 */
#include "fuzz_common.h"
#include "common/csv.h"
#include "harness/results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("results.csv", data, size);
    ecb_table *u = NULL;
    if (ecb_table_read(path, &u) == 0) {
        for (size_t i = 0; i < u->nrows * u->ncols; i++)
            if (!u->cell[i]) abort();
        ecb_table_col(u, "status");
        ecb_table_free(u);
    }
    /* resume's path: cut a partial tail, load, keep final rows, rewrite,
     * and the rewritten file must load again with the kept rows */
    int trimmed = 0;
    if (ecb_csv_trim_partial(path, &trimmed) != 0) return 0;
    size_t *ks = NULL, nk = 0;
    if (ecb_results_load(path, &u, &ks, &nk) == 0) {
        unsigned char *keep = calloc(u->nrows + 1, 1);
        int si = ecb_table_col(u, "status");
        size_t kept = 0;
        for (size_t r = 0; r < u->nrows; r++) {
            int st = ecb_cell_status_parse(ecb_table_at(u, r, si));
            keep[r] = st >= 0 && ecb_cell_status_final((ecb_cell_status)st);
            kept += keep[r];
        }
        ecb_table *v = NULL;
        if (ecb_table_read(path, &v) == 0) {
            ecb_table_filter(v, keep);
            if (ecb_table_write(v, path) != 0) abort();
            ecb_table_free(v);
            ecb_table *w = NULL;
            if (ecb_results_load(path, &w, NULL, NULL) != 0 || w->nrows != kept) abort();
            ecb_table_free(w);
        }
        free(keep);
        for (size_t r = 0; r < u->nrows; r++) {
            ecb_cell_result res;
            if (ecb_results_row(u, r, &res) == 0) {
                ecb_buf row = {0}, pq = {0};
                if (ecb_results_format(&res, &row, &pq) != 0) abort();
                ecb_buf_free(&row);
                ecb_buf_free(&pq);
                ecb_buf packed = {0};
                ecb_cell_result back;
                if (ecb_cell_result_pack(&res, &packed) == 0 &&
                    ecb_cell_result_unpack(packed.p ? packed.p : "", packed.len, &back) != 0)
                    abort();
                ecb_cell_result_release(&back);
                ecb_buf_free(&packed);
            }
            ecb_cell_result_release(&res);
        }
        free(ks);
        ecb_table_free(u);
    }
    return 0;
}
