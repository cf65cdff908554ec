/* The report layer: CSV reading, budgets, Pareto frontier, results_stats.csv
 * and `ecbench report` on the hand-made fixture tests/data/report_fixture
 * (toy: float32 baseline, sq(bits=8) identical per query, binary shifted by
 * exactly -0.1 on every query and metric, pq noisy, binary rescored shifted
 * by -0.005, one failed lsh cell; vecs: no qrels, knn_recall only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "common/ecb.h"
#include "harness/results.h"
#include "reports/reports.h"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static char *copy_fixture(void)
{
    const char *src = getenv("ECB_SOURCE_DIR");
    char *dir = tu_tmpdir();
    static const char *const files[] = {"results.csv", "per_query.csv", "manifest.json"};
    for (size_t i = 0; i < 3; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/tests/data/report_fixture/%s", src ? src : ".", files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        char *s = read_all(a);
        assert_non_null(s);
        tu_write_file(b, s);
        free(s);
    }
    return dir;
}

static int exists(const char *dir, const char *rel)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

static int have_gnuplot(void)
{
    return system("gnuplot --version >/dev/null 2>&1") == 0;
}

/* ---- csv -------------------------------------------------------------------- */

static void test_csv_roundtrip(void **state)
{
    (void)state;
    char *d = tu_tmpdir();
    char p[4200];
    snprintf(p, sizeof p, "%s/t.csv", d);
    tu_write_file(p, "a,b,c\n1,\"x,y\",\n\"q\"\"uote\", lead,3\r\n");
    ecb_table *t;
    assert_int_equal(ecb_table_read(p, &t), 0);
    assert_int_equal(t->ncols, 3);
    assert_int_equal(t->nrows, 2);
    assert_string_equal(ecb_table_at(t, 0, 1), "x,y");
    assert_string_equal(ecb_table_at(t, 0, 2), "");
    assert_string_equal(ecb_table_at(t, 1, 0), "q\"uote");
    assert_string_equal(ecb_table_at(t, 1, 1), " lead");
    double v;
    assert_false(ecb_table_num(t, 0, 2, &v));
    assert_true(ecb_table_num(t, 1, 2, &v) && v == 3);
    assert_int_equal(ecb_table_col(t, "c"), 2);
    assert_int_equal(ecb_table_col(t, "zz"), -1);
    int c = ecb_table_add_col(t, "d");
    assert_int_equal(c, 3);
    ecb_table_setf(t, 1, c, "%d", 42);
    assert_int_equal(ecb_table_write(t, p), 0);
    ecb_table_free(t);
    assert_int_equal(ecb_table_read(p, &t), 0);
    assert_string_equal(ecb_table_at(t, 0, 1), "x,y");
    assert_string_equal(ecb_table_at(t, 1, 0), "q\"uote");
    assert_string_equal(ecb_table_at(t, 1, 1), " lead");
    assert_string_equal(ecb_table_at(t, 1, 3), "42");
    ecb_table_free(t);
    /* ragged rows are an error naming the record */
    tu_write_file(p, "a,b\n1,2\n3\n");
    assert_int_equal(ecb_table_read(p, &t), ECB_EFORMAT);
    assert_non_null(strstr(ecb_last_error(), "record 3"));
    tu_write_file(p, "");
    assert_int_equal(ecb_table_read(p, &t), ECB_EFORMAT);
    free(d);
}

static void test_quality_metric_names(void **state)
{
    (void)state;
    assert_true(ecb_is_quality_metric("ndcg@10"));
    assert_true(ecb_is_quality_metric("knn_recall@100"));
    assert_true(ecb_is_quality_metric("p@5"));
    assert_false(ecb_is_quality_metric("query_p50_ms"));
    assert_false(ecb_is_quality_metric("ndcg@"));
    assert_false(ecb_is_quality_metric("ndcg@10x"));
    assert_false(ecb_is_quality_metric("delta_ndcg@10"));
}

/* ---- budgets ----------------------------------------------------------------- */

static void test_parse_bytes(void **state)
{
    (void)state;
    double v;
    assert_int_equal(ecb_parse_bytes("64B", &v), 0);
    assert_true(v == 64);
    assert_int_equal(ecb_parse_bytes("128", &v), 0);
    assert_true(v == 128);
    assert_int_equal(ecb_parse_bytes("1.5KiB", &v), 0);
    assert_true(v == 1536);
    assert_int_equal(ecb_parse_bytes("2GiB", &v), 0);
    assert_true(v == 2147483648.0);
    assert_int_equal(ecb_parse_bytes("1 MB", &v), 0);
    assert_true(v == 1e6);
    assert_int_equal(ecb_parse_bytes("3kb", &v), 0);
    assert_true(v == 3000);
    assert_int_not_equal(ecb_parse_bytes("12XB", &v), 0);
    assert_int_not_equal(ecb_parse_bytes("-4B", &v), 0);
    assert_int_not_equal(ecb_parse_bytes("B", &v), 0);
}

static void test_budgets_parse_and_cost(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("[\"32B\", 64, {\"total\": \"2GiB\", \"corpus_size\": 30000000}]");
    ecb_budget *b;
    size_t n;
    assert_int_equal(ecb_budgets_parse(j, "cfg.json", &b, &n), 0);
    assert_int_equal(n, 3);
    assert_true(b[0].per_vector == 32 && b[0].corpus_size == 0);
    assert_string_equal(b[0].label, "32 B/vec");
    assert_true(b[1].per_vector == 64);
    assert_true(fabs(b[2].per_vector - 2147483648.0 / 3e7) < 1e-9);
    assert_true(b[2].corpus_size == 3e7);
    assert_string_equal(b[2].label, "2 GiB for 30M");
    /* codes + rescoring per vector + aux amortised over the budget's corpus */
    assert_true(fabs(ecb_budget_cost(&b[2], 8, 256000, 65536, 1000) - (8 + 256 + 65536 / 3e7)) < 1e-12);
    /* per-vector budget: aux amortised over the evaluated corpus */
    assert_true(fabs(ecb_budget_cost(&b[0], 8, 0, 65536, 1000) - (8 + 65.536)) < 1e-12);
    assert_true(ecb_budget_cost(NULL, 8, NAN, NAN, 1000) == 8);
    free(b);
    cJSON_Delete(j);
    /* a single budget without the array */
    j = cJSON_Parse("{\"total\": \"2GiB\", \"corpus_size\": 30000000}");
    assert_int_equal(ecb_budgets_parse(j, "cfg.json", &b, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(b[0].label, "2 GiB for 30M");
    free(b);
    cJSON_Delete(j);
    const char *bad[] = {"[\"12XB\"]", "[{\"total\": \"1GiB\"}]", "[{\"total\": \"1GiB\", \"corpus_size\": 10, "
                         "\"x\": 1}]", "[true]", "{}", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        j = cJSON_Parse(bad[i]);
        assert_int_equal(ecb_budgets_parse(j, "cfg.json", &b, &n), ECB_EINVAL);
        assert_non_null(strstr(ecb_last_error(), "cfg.json"));
        cJSON_Delete(j);
    }
}

static void test_pareto(void **state)
{
    (void)state;
    /* bytes (lower better) vs quality: 8->0.4, 16->0.6, 16->0.5 (dominated),
     * 32->0.55 (dominated), 64->0.7, 128->0.7 (dominated: equal quality, bigger) */
    const double x[] = {64, 8, 16, 16, 32, 128, NAN};
    const double y[] = {0.7, 0.4, 0.6, 0.5, 0.55, 0.7, 0.9};
    size_t idx[7];
    size_t k = ecb_pareto(x, y, 7, 1, idx);
    assert_int_equal(k, 3);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 2);
    assert_int_equal(idx[2], 0);
    /* compression ratio (higher better): 1->0.7, 4->0.7, 32->0.4, 16->0.3 */
    const double r[] = {1, 4, 32, 16};
    const double q[] = {0.7, 0.7, 0.4, 0.3};
    k = ecb_pareto(r, q, 4, 0, idx);
    assert_int_equal(k, 2);
    assert_int_equal(idx[0], 1); /* sorted by x ascending */
    assert_int_equal(idx[1], 2);
}

/* ---- statistics columns ----------------------------------------------------- */

static size_t row_of(const ecb_table *t, const char *id)
{
    int c = ecb_table_col(t, "cell_id");
    for (size_t r = 0; r < t->nrows; r++)
        if (strcmp(ecb_table_at(t, r, c), id) == 0) return r;
    fail_msg("cell %s not in table", id);
    return 0;
}

static double col_num(const ecb_table *t, const char *id, const char *col)
{
    double v = NAN;
    int c = ecb_table_col(t, col);
    assert_true(c >= 0);
    ecb_table_num(t, row_of(t, id), c, &v);
    return v;
}

static void test_stats_columns(void **state)
{
    (void)state;
    char *d = copy_fixture();
    ecb_table *t;
    assert_int_equal(ecb_stats_build(d, NULL, &t), 0);
    assert_true(exists(d, "results_stats.csv"));
    /* the results columns stay first and in order */
    assert_int_equal(ecb_table_col(t, "cell_id"), 0);
    assert_true(ecb_table_col(t, "delta_ndcg@10") > ecb_table_col(t, "error"));
    assert_true(ecb_table_col(t, "p_knn_recall@100") > 0);
    assert_true(ecb_table_col(t, "significant") == (int)t->ncols - 1);
    int cb = ecb_table_col(t, "baseline_cell"), cs = ecb_table_col(t, "significant");
    /* the baseline: itself, p = 1, no mark */
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000001"), cb), "a000000000000001");
    assert_true(col_num(t, "a000000000000001", "p_ndcg@10") == 1);
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000001"), cs), "");
    /* identical per query: delta 0, p = 1, not significant */
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000002"), cb), "a000000000000001");
    assert_true(col_num(t, "a000000000000002", "delta_ndcg@10") == 0);
    assert_true(col_num(t, "a000000000000002", "p_ndcg@10") == 1);
    assert_true(col_num(t, "a000000000000002", "p_t_ndcg@10") == 1);
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000002"), cs), "no");
    /* constant shift -0.1: delta, CI collapsed on it, significant loss;
     * Holm over the 4 compared toy cells: 4 * 1/10001 */
    assert_true(fabs(col_num(t, "a000000000000003", "delta_ndcg@10") + 0.1) < 1e-9);
    assert_true(fabs(col_num(t, "a000000000000003", "ci_lo_ndcg@10") + 0.1) < 1e-9);
    assert_true(fabs(col_num(t, "a000000000000003", "ci_hi_ndcg@10") + 0.1) < 1e-9);
    assert_true(fabs(col_num(t, "a000000000000003", "p_ndcg@10") - 4.0 / 10001) < 1e-8);
    assert_true(col_num(t, "a000000000000003", "p_t_ndcg@10") == 0);
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000003"), cs), "loss");
    /* the mean per-query difference equals the difference of the means */
    double dpq = col_num(t, "a000000000000004", "ndcg@10") - col_num(t, "a000000000000001", "ndcg@10");
    assert_true(fabs(col_num(t, "a000000000000004", "delta_ndcg@10") - dpq) < 1e-5);
    assert_true(col_num(t, "a000000000000004", "ci_lo_ndcg@10") < dpq);
    assert_true(col_num(t, "a000000000000004", "ci_hi_ndcg@10") > dpq);
    /* the rescored cell is compared with the unrescored baseline */
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000005"), cb), "a000000000000001");
    /* failed cell: no statistics */
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000006"), cb), "");
    assert_true(isnan(col_num(t, "a000000000000006", "delta_ndcg@10")));
    /* no qrels: ndcg stats empty, significance from knn_recall@10 */
    assert_string_equal(ecb_table_at(t, row_of(t, "b000000000000002"), cb), "b000000000000001");
    assert_true(isnan(col_num(t, "b000000000000002", "delta_ndcg@10")));
    assert_true(fabs(col_num(t, "b000000000000002", "delta_knn_recall@10") + 0.01) < 1e-9);
    assert_string_equal(ecb_table_at(t, row_of(t, "b000000000000002"), cs), "loss");
    /* deterministic: a rebuild writes the same file */
    char p[4200];
    snprintf(p, sizeof p, "%s/results_stats.csv", d);
    char *first = read_all(p);
    ecb_table_free(t);
    assert_int_equal(ecb_stats_build(d, NULL, NULL), 0);
    char *second = read_all(p);
    assert_string_equal(first, second);
    free(first);
    free(second);
    free(d);
}

static void test_baseline_config(void **state)
{
    (void)state;
    char *d = copy_fixture();
    /* make sq(bits=8) the baseline: binary is then compared with sq */
    char p[4200];
    snprintf(p, sizeof p, "%s/manifest.json", d);
    char *m = read_all(p);
    char *at = strstr(m, "\"budget_metric\"");
    assert_non_null(at);
    size_t n = strlen(m) + 64;
    char *m2 = malloc(n);
    snprintf(m2, n, "%.*s\"baseline\": {\"method\": \"sq\"}, %s", (int)(at - m), m, at);
    tu_write_file(p, m2);
    ecb_table *t;
    assert_int_equal(ecb_stats_build(d, NULL, &t), 0);
    int cb = ecb_table_col(t, "baseline_cell");
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000003"), cb), "a000000000000002");
    assert_string_equal(ecb_table_at(t, row_of(t, "a000000000000001"), cb), "a000000000000002");
    /* vecs has no sq cell: no baseline, no statistics */
    assert_string_equal(ecb_table_at(t, row_of(t, "b000000000000002"), cb), "");
    ecb_table_free(t);
    free(m);
    free(m2);
    free(d);
}

/* Every key of the run manifest that report reads is checked: a typo or a
 * wrong type is an error naming the file and the JSON path, not a silent
 * default (issue 11 item 6, as report and compare read it). */
static void test_manifest_checked(void **state)
{
    (void)state;
    static const struct { const char *json, *want; } bad[] = {
        {"{\"config\": {\"budget_metric\": \"ndgc@10\"}}", "did you mean \"ndcg@10\""},
        {"{\"config\": {\"budget_metric\": \"ndcg@5\"}}", "is not a column"},
        {"{\"config\": {\"budgets\": [\"32X\"]}}", "$.budgets[0]"},
        {"{\"config\": {\"baseline\": 5}}", "$.config.baseline"},
        {"{\"config\": {\"baseline\": {\"methd\": \"sq\"}}}", "did you mean \"method\""},
        {"{\"config\": {\"ci\": {\"tolerance\": {}}}}", "did you mean \"tolerances\""},
        {"{\"config\": {\"ci\": {\"tolerances\": \"abc\"}}}", "$.config.ci.tolerances"},
        {"{\"config\": {\"ci\": {\"tolerances\": {\"ndcg@10\": -1}}}}", "ndcg@10"},
        {"{\"config\": {\"seed\": 1e300}}", "$.config.seed"},
        {"{\"config\": {\"seed\": 1, \"seed\": 2}}", "appears twice"},
        {"{\"config\": []}", "$.config"},
        {"[1, 2]", "expected a JSON object"},
        {"{\"config\": {", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *d = copy_fixture(), p[4200];
        snprintf(p, sizeof p, "%s/manifest.json", d);
        tu_write_file(p, bad[i].json);
        assert_int_not_equal(ecb_report_build(d, 1), 0);
        if (!strstr(ecb_last_error(), bad[i].want) || !strstr(ecb_last_error(), "manifest.json"))
            fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].json, ecb_last_error(), bad[i].want);
        free(d);
    }
    /* absent: defaults */
    char *d = copy_fixture(), p[4200];
    snprintf(p, sizeof p, "%s/manifest.json", d);
    assert_int_equal(remove(p), 0);
    assert_int_equal(ecb_report_build(d, 1), 0);
    free(d);
}

/* Append to path a copy of its first line starting with prefix; returns
 * the original text (caller frees). */
static char *append_copy_of_line(const char *path, const char *prefix)
{
    char *orig = read_all(path);
    char key[64];
    snprintf(key, sizeof key, "\n%s", prefix);
    const char *row = strstr(orig, key);
    assert_non_null(row);
    size_t len = strcspn(row + 1, "\n"), n = strlen(orig) + len + 2;
    char *twice = malloc(n);
    snprintf(twice, n, "%s%.*s\n", orig, (int)len, row + 1);
    tu_write_file(path, twice);
    free(twice);
    return orig;
}

/* Issue 11 item 4: a cell twice in results.csv, or a query twice for one
 * cell in per_query.csv, is an error, not a statistic computed twice. */
static void test_duplicates_rejected(void **state)
{
    (void)state;
    char *d = copy_fixture();
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", d);
    char *res = append_copy_of_line(p, "a000000000000002,");
    assert_int_equal(ecb_stats_build(d, NULL, NULL), ECB_EFORMAT);
    assert_non_null(strstr(ecb_last_error(), "a000000000000002"));
    assert_int_not_equal(ecb_report_build(d, 1), 0);
    char *argv[] = {"report", d, "--quiet", NULL};
    assert_int_equal(ecb_cmd_report(3, argv), 2);
    tu_write_file(p, res);
    assert_int_equal(ecb_stats_build(d, NULL, NULL), 0);
    /* per_query.csv: one (cell, query) pair twice */
    snprintf(p, sizeof p, "%s/per_query.csv", d);
    free(append_copy_of_line(p, "a000000000000003,"));
    assert_int_equal(ecb_stats_build(d, NULL, NULL), ECB_EFORMAT);
    assert_non_null(strstr(ecb_last_error(), "a000000000000003"));
    assert_non_null(strstr(ecb_last_error(), "appears in"));
    free(res);
    free(d);
}

/* ---- the report ------------------------------------------------------------- */

static void test_report_files(void **state)
{
    (void)state;
    char *d = copy_fixture();
    assert_int_equal(ecb_report_build(d, 1), 0);
    assert_true(exists(d, "report.md"));
    assert_true(exists(d, "report.html"));
    assert_true(exists(d, "results_stats.csv"));
    assert_true(exists(d, "tables/toy.tex"));
    assert_true(exists(d, "tables/vecs.tex"));
    assert_true(exists(d, "tables/budgets.tex"));
    assert_true(exists(d, "plots/pareto.gp"));
    assert_true(exists(d, "plots/render.sh"));
    assert_true(exists(d, "plots/pareto_toy.dat"));
    char p[4200];
    snprintf(p, sizeof p, "%s/report.md", d);
    char *md = read_all(p);
    /* tables: absolute, % of float32, significance marks */
    assert_non_null(strstr(md, "| `binary` | symmetric | none | 8 | 32× | 0.4653 (82.3%) ▼ |"));
    assert_non_null(strstr(md, "| `sq(bits=8)` | symmetric | none | 64 | 4× | 0.5653 (100.0%) |"));
    /* budgets: sq's 512 aux bytes over 1000 docs push it past 64 B/vec;
     * amortised over 10K docs it fits 1 MiB (104.9 B/vec) and wins */
    assert_non_null(strstr(md, "| 64 B/vec | `binary` sym | 0.4653 | 8 | – | – | – |"));
    assert_non_null(strstr(md, "| 1 MiB for 10K | `sq(bits=8)` sym | 0.5653 | 64.1 | `pq(m=8,nbits=8)` sym |"));
    /* no qrels: ranked by knn_recall */
    assert_non_null(strstr(md, "### vecs (500 documents, ranked by knn_recall@10)"));
    assert_non_null(strstr(md, "lsh: nbits=7 must be a multiple of 8"));
    assert_non_null(strstr(md, "| openblas_corename | Haswell |"));
    free(md);
    /* report.html: self-contained, the same numbers, points named on hover */
    snprintf(p, sizeof p, "%s/report.html", d);
    char *html = read_all(p);
    assert_non_null(html);
    assert_non_null(strstr(html, "<tr data-cell=\"a000000000000003\" data-family=\"binary\" "
                                 "data-mode=\"symmetric\" data-rescore=\"none\">"));
    assert_non_null(strstr(html, "<td data-v=\"0.465315\">0.4653 <span class=\"pct\">(82.3%)</span>"
                                 "<span class=\"sig loss\""));
    assert_non_null(strstr(html, "<g class=\"pt\" data-cell=\"a000000000000004\">"));
    assert_non_null(strstr(html, "<title>pq(m=8,nbits=8)\nsymmetric scoring, rescore none\nmethod pq"));
    assert_non_null(strstr(html, "<option value=\"float32x4\">float32x4</option>"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "https://"));
    assert_non_null(strstr(html, "</script>\n</body></html>\n"));
    free(html);
    snprintf(p, sizeof p, "%s/tables/toy.tex", d);
    char *tex = read_all(p);
    assert_non_null(strstr(tex, "\\toprule"));
    assert_non_null(strstr(tex, "\\bottomrule"));
    assert_non_null(strstr(tex, "\\texttt{pq(m=8,nbits=8)}"));
    assert_non_null(strstr(tex, "0.4653 (82.3\\%)$^{\\downarrow}$"));
    assert_non_null(strstr(tex, "ndcg@10"));
    assert_null(strstr(tex, "knn_recall")); /* escaped as knn\_recall */
    free(tex);
    if (!have_gnuplot()) {
        free(d);
        TU_SKIP("gnuplot not installed: figures not rendered");
    }
    static const char *const figs[] = {"pareto_toy", "bytes_toy", "qps_toy", "budget_toy",
                                       "pareto_vecs", "bytes_vecs", "qps_vecs", "budget_vecs"};
    for (size_t i = 0; i < sizeof figs / sizeof *figs; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "plots/%s.png", figs[i]);
        assert_true(exists(d, rel));
        snprintf(p, sizeof p, "%s/%s", d, rel);
        FILE *f = fopen(p, "rb");
        unsigned char sig[8] = {0};
        assert_int_equal(fread(sig, 1, 8, f), 8);
        fclose(f);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
        snprintf(rel, sizeof rel, "plots/%s.svg", figs[i]);
        assert_true(exists(d, rel));
        snprintf(p, sizeof p, "%s/%s", d, rel);
        char *svg = read_all(p);
        assert_non_null(strstr(svg, "<svg"));
        assert_non_null(strstr(svg, "</svg>"));
        free(svg);
    }
    snprintf(p, sizeof p, "%s/report.md", d);
    md = read_all(p);
    assert_non_null(strstr(md, "![pareto_toy](plots/pareto_toy.png)"));
    free(md);
    free(d);
}

/* A file that cannot be replaced (a directory in its place) fails the
 * report with its name, leaving no temporary and no report.md. */
static void test_report_unwritable(void **state)
{
    (void)state;
    char *d = copy_fixture();
    char p[4300];
    snprintf(p, sizeof p, "%s/tables/toy.tex/x", d);
    assert_int_equal(ecb_mkdir_p(p), 0);
    assert_int_not_equal(ecb_report_build(d, 1), 0);
    assert_non_null(strstr(ecb_last_error(), "tables/toy.tex"));
    assert_false(exists(d, "report.md"));
    snprintf(p, sizeof p, "find '%s' -name '*.tmp*' | grep -q .", d);
    assert_int_not_equal(system(p), 0);
    free(d);
}

/* In results.csv of dir, every field of column col equal to from := to. */
static void replace_field(const char *dir, const char *col, const char *from, const char *to)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    ecb_table *t;
    assert_int_equal(ecb_table_read(p, &t), 0);
    int c = ecb_table_col(t, col), n = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (strcmp(ecb_table_at(t, r, c), from) == 0) n += ecb_table_set(t, r, c, to) == 0;
    assert_true(n > 0);
    assert_int_equal(ecb_table_write(t, p), 0);
    ecb_table_free(t);
}

/* Issue 11 item 14: LaTeX specials and a newline in a dataset name or a
 * label are escaped everywhere text goes into a .tex file (the caption's %
 * used to comment out its closing brace), and every table compiles. */
static void test_latex_specials(void **state)
{
    (void)state;
    static const char nasty[] = "to%y_#1 & $2 ~^\\{x}|<a>\"q\"\nNEXTLINE";
    char *d = copy_fixture();
    replace_field(d, "dataset", "toy", nasty);
    replace_field(d, "label", "sq(bits=8)", "sq_{8}%#&$~^\\ \"\nNEXTLABEL");
    assert_int_equal(ecb_report_build(d, 1), 0);
    char p[4300], cmd[9000];
    snprintf(p, sizeof p, "%s/tables", d);
    /* no line of any table starts with what followed a newline */
    snprintf(cmd, sizeof cmd, "cat '%s'/*.tex | grep -q '^NEXT'", p);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'as \\\\%% of the baseline' '%s'/*.tex", p);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'to\\\\%%y\\\\_\\\\#1 \\\\& \\\\$2' '%s'/*.tex", p);
    assert_int_equal(system(cmd), 0);
    /* nor of report.md */
    snprintf(cmd, sizeof cmd, "grep -q '^NEXT' '%s/report.md'", d);
    assert_int_not_equal(system(cmd), 0);
    const char *src = getenv("ECB_SOURCE_DIR");
    snprintf(cmd, sizeof cmd, "sh '%s/tests/tools/texcheck.sh' '%s'/*.tex", src ? src : ".", p);
    int rc = system(cmd);
    free(d);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) TU_SKIP("pdflatex not installed: tables not compiled");
    assert_int_equal(rc, 0);
}

/* Issue 11 item 16: a results.csv with 20,006 metric columns (a k list of
 * 2,858 cutoffs) and per_query.csv at that width: statistics, report and
 * compare are linear in the columns (they were quadratic: minutes), so
 * this runs in about a second; the answers are checked at the far end. */
static void test_many_columns(void **state)
{
    (void)state;
    enum { NK = 2858, NC = 3, NQ = 2 };
    static const char *const labels[NC] = {"float32", "sq(bits=8)", "binary"};
    size_t *ks = malloc(NK * sizeof *ks);
    for (size_t i = 0; i < NK; i++) ks[i] = i + 1;
    ecb_buf res = {0}, pq = {0};
    assert_int_equal(ecb_results_header(&res, ks, NK), 0);
    assert_int_equal(ecb_per_query_header(&pq, ks, NK), 0);
    size_t nm = 7 * (size_t)NK;
    for (int c = 0; c < NC; c++) {
        ecb_cell_result r;
        ecb_cell_result_init(&r);
        char id[32], q0[8], q1[8];
        snprintf(id, sizeof id, "c%015d", c);
        r.cell_id = strdup(id);
        r.dataset = strdup("wide");
        r.method = strdup(c == 1 ? "sq" : labels[c]);
        r.params = strdup("");
        r.label = strdup(labels[c]);
        r.mode = strdup("symmetric");
        r.rescore = strdup("none");
        r.error = strdup("");
        r.corpus_size = r.n_corpus = 1000;
        r.n_queries = NQ;
        r.dim = 64;
        r.bpv = c == 0 ? 256 : c == 1 ? 64 : 8;
        r.total_bpv = r.bpv;
        r.aux = 0;
        r.ratio = 256 / r.bpv;
        r.nm = nm;
        r.nq = NQ;
        r.mean = malloc(nm * sizeof *r.mean);
        r.perq = malloc(NQ * nm * sizeof *r.perq);
        r.qids = malloc(NQ * sizeof *r.qids);
        snprintf(q0, sizeof q0, "q0");
        snprintf(q1, sizeof q1, "q1");
        r.qids[0] = strdup(q0);
        r.qids[1] = strdup(q1);
        /* metric m: 0.5 + m / 1e6, minus 0.1 per cell index, on both queries */
        for (size_t m = 0; m < nm; m++) {
            r.mean[m] = 0.5 + (double)m / 1e6 - 0.1 * c;
            r.perq[m] = r.perq[nm + m] = r.mean[m];
        }
        assert_int_equal(ecb_results_format(&r, &res, &pq), 0);
        ecb_cell_result_release(&r);
    }
    char *d = tu_tmpdir(), p[4300];
    snprintf(p, sizeof p, "%s/results.csv", d);
    tu_write_file(p, res.p);
    snprintf(p, sizeof p, "%s/per_query.csv", d);
    tu_write_file(p, pq.p);
    snprintf(p, sizeof p, "%s/manifest.json", d);
    tu_write_file(p, "{\"config\": {\"name\": \"wide\", \"seed\": 1, \"budgets\": [\"64B\", \"1KiB\"]}}");
    ecb_buf_free(&res);
    ecb_buf_free(&pq);

    ecb_stats_opts o;
    ecb_stats_opts_default(&o);
    o.permutations = 16;
    o.bootstrap = 16;
    ecb_table *t;
    assert_int_equal(ecb_stats_build(d, &o, &t), 0);
    assert_int_equal(t->ncols, 33 + nm + 1 + 5 * nm + 1); /* 33 columns besides the metrics */
    /* the far end: knn_recall@2858 of binary is 0.2 below float32's */
    assert_true(fabs(col_num(t, "c000000000000002", "delta_knn_recall@2858") + 0.2) < 1e-9);
    assert_true(fabs(col_num(t, "c000000000000001", "delta_ndcg@1") + 0.1) < 1e-9);
    assert_string_equal(ecb_table_at(t, row_of(t, "c000000000000002"), ecb_table_col(t, "baseline_cell")),
                        "c000000000000000");
    ecb_table_free(t);

    /* the report at that width (per-query statistics are covered above) */
    snprintf(p, sizeof p, "%s/per_query.csv", d);
    assert_int_equal(remove(p), 0);
    assert_int_equal(ecb_report_build(d, 1), 0);
    snprintf(p, sizeof p, "%s/report.md", d);
    char *md = read_all(p);
    assert_non_null(strstr(md, "| method | mode | rescore | B/vec | ratio | ndcg@1 | recall@2858 | knn_recall@1 |"));
    assert_non_null(strstr(md, "| `binary` | symmetric | none | 8 | 32× | 0.3000 (60.0%) |"));
    assert_non_null(strstr(md, "| 64 B/vec | `sq(bits=8)` sym |"));
    free(md);
    /* compare: the run against itself passes, every column checked */
    char *argv[] = {"compare", d, d, "--quiet", NULL};
    fflush(stdout);
    assert_int_equal(ecb_cmd_compare(4, argv), 0);
    free(ks);
    free(d);
}

static void test_cmd_report_usage(void **state)
{
    (void)state;
    char *argv1[] = {"report", NULL};
    assert_int_equal(ecb_cmd_report(1, argv1), 2);
    char *argv2[] = {"report", "/nonexistent/results", NULL};
    assert_int_equal(ecb_cmd_report(2, argv2), 2);
    char *argv3[] = {"report", "a", "b", NULL};
    assert_int_equal(ecb_cmd_report(3, argv3), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_roundtrip),
        cmocka_unit_test(test_quality_metric_names),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_budgets_parse_and_cost),
        cmocka_unit_test(test_pareto),
        cmocka_unit_test(test_stats_columns),
        cmocka_unit_test(test_baseline_config),
        cmocka_unit_test(test_duplicates_rejected),
        cmocka_unit_test(test_manifest_checked),
        cmocka_unit_test(test_report_files),
        cmocka_unit_test(test_report_unwritable),
        cmocka_unit_test(test_latex_specials),
        cmocka_unit_test(test_many_columns),
        cmocka_unit_test(test_cmd_report_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
