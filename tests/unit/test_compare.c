/* `ecbench compare` (reports/compare.c) on the hand-made fixture
 * tests/data/report_fixture and doctored copies of it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "common/ecb.h"
#include "reports/reports.h"

static char *fixture_dir(void)
{
    const char *src = getenv("ECB_SOURCE_DIR");
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/data/report_fixture", src ? src : ".");
    return buf;
}

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

/* A fresh copy of the fixture; edit(field-replace) applied to results.csv. */
static char *copy_fixture(void)
{
    char *dir = tu_tmpdir();
    static const char *const files[] = {"results.csv", "per_query.csv", "manifest.json"};
    for (size_t i = 0; i < 3; i++) {
        char src[4200], dst[4200];
        snprintf(src, sizeof src, "%s/%s", fixture_dir(), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        char *s = read_all(src);
        assert_non_null(s);
        assert_int_equal(tu_write_file(dst, s), 0);
        free(s);
    }
    return dir;
}

/* Set results.csv[cell][column] = value in dir. */
static void set_field(const char *dir, const char *cell, const char *column, const char *value)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    ecb_table *t;
    assert_int_equal(ecb_table_read(p, &t), 0);
    int c = ecb_table_col(t, column), id = ecb_table_col(t, "cell_id");
    assert_true(c >= 0);
    int found = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (strcmp(ecb_table_at(t, r, id), cell) == 0) {
            assert_int_equal(ecb_table_set(t, r, c, value), 0);
            found = 1;
        }
    assert_true(found);
    assert_int_equal(ecb_table_write(t, p), 0);
    ecb_table_free(t);
}

static double get_num(const char *dir, const char *cell, const char *column)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    ecb_table *t;
    assert_int_equal(ecb_table_read(p, &t), 0);
    double v = -1;
    int id = ecb_table_col(t, "cell_id");
    for (size_t r = 0; r < t->nrows; r++)
        if (strcmp(ecb_table_at(t, r, id), cell) == 0) assert_true(ecb_table_num(t, r, ecb_table_col(t, column), &v));
    ecb_table_free(t);
    return v;
}

static void drop_row(const char *dir, const char *cell)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    ecb_table *t, *u;
    assert_int_equal(ecb_table_read(p, &t), 0);
    assert_int_equal(ecb_table_new((const char *const *)t->head, t->ncols, &u), 0);
    int id = ecb_table_col(t, "cell_id");
    for (size_t r = 0; r < t->nrows; r++) {
        if (strcmp(ecb_table_at(t, r, id), cell) == 0) continue;
        long nr = ecb_table_add_row(u);
        assert_true(nr >= 0);
        for (size_t c = 0; c < t->ncols; c++) ecb_table_set(u, (size_t)nr, (int)c, ecb_table_at(t, r, (int)c));
    }
    assert_int_equal(ecb_table_write(u, p), 0);
    ecb_table_free(t);
    ecb_table_free(u);
}

/* Append a copy of cell's row to dir's results.csv (two runs wrote it). */
static void dup_row(const char *dir, const char *cell)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", dir);
    ecb_table *t;
    assert_int_equal(ecb_table_read(p, &t), 0);
    int id = ecb_table_col(t, "cell_id");
    size_t n = t->nrows;
    for (size_t r = 0; r < n; r++) {
        if (strcmp(ecb_table_at(t, r, id), cell)) continue;
        long nr = ecb_table_add_row(t);
        assert_true(nr >= 0);
        for (size_t c = 0; c < t->ncols; c++) ecb_table_set(t, (size_t)nr, (int)c, ecb_table_at(t, r, (int)c));
    }
    assert_true(t->nrows == n + 1);
    assert_int_equal(ecb_table_write(t, p), 0);
    ecb_table_free(t);
}

/* Run compare with stdout captured into *out (caller frees). */
static int run_compare(char **out, int n, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "compare";
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && argc < 15; i++) argv[argc++] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char cap[] = "/tmp/ecbcmp.XXXXXX";
    int fd = mkstemp(cap);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = ecb_cmd_compare(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);
    char *s = read_all(cap);
    unlink(cap);
    if (out) *out = s;
    else free(s);
    return rc;
}

/* Minimal XML well-formedness: tags balance, attributes quoted. */
static int xml_well_formed(const char *s)
{
    char stack[64][64];
    int depth = 0, roots = 0;
    for (const char *p = s; (p = strchr(p, '<'));) {
        const char *e = strchr(p, '>');
        if (!e) return 0;
        if (p[1] == '?') { p = e + 1; continue; }
        int closing = p[1] == '/', selfc = e[-1] == '/';
        const char *nm = p + 1 + closing;
        size_t len = strcspn(nm, " />");
        if (!len || len >= 64) return 0;
        /* quotes inside the tag must pair up */
        int q = 0;
        for (const char *c = p; c < e; c++) q += *c == '"';
        if (q % 2) return 0;
        if (closing) {
            if (!depth || strncmp(stack[depth - 1], nm, len) || stack[depth - 1][len]) return 0;
            depth--;
        } else if (!selfc) {
            if (depth == 64) return 0;
            if (depth == 0) roots++;
            memcpy(stack[depth], nm, len);
            stack[depth++][len] = '\0';
        }
        p = e + 1;
    }
    return depth == 0 && roots == 1;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_self_compare_passes(void **state)
{
    (void)state;
    char *a = copy_fixture();
    char junit[4200];
    snprintf(junit, sizeof junit, "%s/junit.xml", a);
    char *out;
    assert_int_equal(run_compare(&out, 4, a, a, "--junit", junit), 0);
    assert_non_null(strstr(out, "0 regressions"));
    assert_non_null(strstr(out, "PASS"));
    free(out);
    char *x = read_all(junit);
    assert_non_null(x);
    assert_true(xml_well_formed(x));
    assert_non_null(strstr(x, "failures=\"0\""));
    assert_int_equal(count(x, "<failure"), 0);
    /* every ok cell contributes one testcase per present metric: toy has 14
     * metrics x 5 ok cells, vecs 2 knn metrics x 3 cells; plus the
     * p50 timing (manifest tolerance) for the 8 ok cells */
    assert_int_equal(count(x, "<testcase"), 14 * 5 + 2 * 3 + 8);
    free(x);
    free(a);
}

static void test_quality_drop_fails_and_names_cell(void **state)
{
    (void)state;
    char *a = copy_fixture(), *b = copy_fixture();
    char v[64], junit[4200];
    /* manifest tolerance for ndcg@10 is 0.005: drop by 0.006 */
    snprintf(v, sizeof v, "%.10g", get_num(b, "a000000000000004", "ndcg@10") - 0.006);
    set_field(b, "a000000000000004", "ndcg@10", v);
    snprintf(junit, sizeof junit, "%s/junit.xml", b);
    char *out;
    assert_int_equal(run_compare(&out, 4, a, b, "--junit", junit), 1);
    assert_non_null(strstr(out, "REGRESSIONS (1)"));
    assert_non_null(strstr(out, "a000000000000004"));
    assert_non_null(strstr(out, "pq(m=8,nbits=8)"));
    assert_non_null(strstr(out, "FAIL"));
    free(out);
    char *x = read_all(junit);
    assert_true(xml_well_formed(x));
    assert_int_equal(count(x, "<failure"), 1);
    assert_non_null(strstr(x, "failures=\"1\""));
    const char *f = strstr(x, "<failure");
    const char *tc = f;
    while (tc > x && strncmp(tc, "<testcase", 9)) tc--;
    assert_non_null(strstr(tc, "a000000000000004"));
    assert_true(strstr(tc, "name=\"ndcg@10\"") < f);
    free(x);

    /* a drop within the tolerance passes; a stricter CLI tolerance fails */
    snprintf(v, sizeof v, "%.10g", get_num(a, "a000000000000004", "ndcg@10") - 0.004);
    set_field(b, "a000000000000004", "ndcg@10", v);
    assert_int_equal(run_compare(NULL, 2, a, b), 0);
    assert_int_equal(run_compare(NULL, 4, a, b, "--tolerance", "ndcg@10=0.001"), 1);
    assert_int_equal(run_compare(NULL, 3, a, b, "--tolerance=ndcg@*=0.001"), 1);
    /* a rise is an improvement, not a failure */
    snprintf(v, sizeof v, "%.10g", get_num(a, "a000000000000004", "ndcg@10") + 0.05);
    set_field(b, "a000000000000004", "ndcg@10", v);
    assert_int_equal(run_compare(&out, 2, a, b), 0);
    assert_non_null(strstr(out, "IMPROVEMENTS (1)"));
    free(out);
    free(a);
    free(b);
}

static void test_latency_relative_tolerance(void **state)
{
    (void)state;
    char *a = copy_fixture(), *b = copy_fixture();
    /* manifest: query_p50_ms "+25%"; 0.05 -> 0.0624 is +24.8%, 0.0626 +25.2% */
    set_field(b, "a000000000000002", "query_p50_ms", "0.0624");
    assert_int_equal(run_compare(NULL, 2, a, b), 0);
    set_field(b, "a000000000000002", "query_p50_ms", "0.0626");
    char *out;
    assert_int_equal(run_compare(&out, 2, a, b), 1);
    assert_non_null(strstr(out, "query_p50_ms"));
    free(out);
    assert_int_equal(run_compare(NULL, 4, a, b, "--tolerance", "query_p50_ms=+30%"), 0);
    /* lower qps is worse */
    set_field(b, "a000000000000002", "query_p50_ms", "0.05");
    set_field(b, "a000000000000002", "qps", "10000");
    assert_int_equal(run_compare(NULL, 4, a, b, "--tolerance", "qps=10%"), 1);
    assert_int_equal(run_compare(NULL, 2, a, b), 0); /* timings unchecked by default */
    free(a);
    free(b);
}

static void test_missing_new_and_status(void **state)
{
    (void)state;
    char *a = copy_fixture(), *b = copy_fixture();
    drop_row(b, "a000000000000003");
    char *out;
    assert_int_equal(run_compare(&out, 2, a, b), 1);
    assert_non_null(strstr(out, "cell missing from NEW"));
    assert_non_null(strstr(out, "a000000000000003"));
    free(out);
    /* the reverse: a cell only in NEW is reported, not a failure */
    assert_int_equal(run_compare(&out, 2, b, a), 0);
    assert_non_null(strstr(out, "NEW CELLS, not in BASE (1)"));
    assert_non_null(strstr(out, "a000000000000003"));
    free(out);
    /* a cell that stopped running */
    char *c = copy_fixture();
    set_field(c, "a000000000000002", "status", "error");
    set_field(c, "a000000000000002", "error", "sq: boom");
    assert_int_equal(run_compare(&out, 2, a, c), 1);
    assert_non_null(strstr(out, "status ok -> error: sq: boom"));
    free(out);
    /* a value that went missing */
    char *d = copy_fixture();
    set_field(d, "a000000000000002", "recall@100", "");
    assert_int_equal(run_compare(&out, 2, a, d), 1);
    assert_non_null(strstr(out, "value missing in NEW"));
    free(out);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_usage_and_input_errors(void **state)
{
    (void)state;
    char *a = copy_fixture();
    char res[4200];
    snprintf(res, sizeof res, "%s/results.csv", a);
    assert_int_equal(run_compare(NULL, 0), 2);
    assert_int_equal(run_compare(NULL, 1, a), 2);
    assert_int_equal(run_compare(NULL, 2, a, "/nonexistent/dir"), 2);
    assert_int_equal(run_compare(NULL, 4, a, a, "--tolerance", "ndcg@10=abc"), 2);
    assert_int_equal(run_compare(NULL, 4, a, a, "--tolerance", "nonsense"), 2);
    assert_int_equal(run_compare(NULL, 4, a, a, "--tolerance", "ndgc@10=0.01"), 2); /* typo */
    assert_int_equal(run_compare(NULL, 3, a, a, "--bogus"), 2);
    /* a results.csv path works like its directory */
    assert_int_equal(run_compare(NULL, 2, res, a), 0);
    /* a malformed CSV is an input error */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.csv", a);
    tu_write_file(bad, "cell_id,ndcg@10\n\"unterminated,1\n");
    assert_int_equal(run_compare(NULL, 2, a, bad), 2);
    tu_write_file(bad, "cell_id,ndcg@10\nx,1,2\n");
    assert_int_equal(run_compare(NULL, 2, a, bad), 2);
    free(a);
}

/* Issue 11 item 4: a results.csv holding a cell twice (two runs into one
 * directory) is an input error on either side, never a silent pick. */
static void test_duplicate_cells_rejected(void **state)
{
    (void)state;
    char *a = copy_fixture(), *b = copy_fixture();
    dup_row(b, "a000000000000003");
    assert_int_equal(run_compare(NULL, 2, a, b), 2);
    assert_non_null(strstr(ecb_last_error(), "a000000000000003"));
    assert_non_null(strstr(ecb_last_error(), "appears in rows"));
    assert_int_equal(run_compare(NULL, 2, b, a), 2);
    assert_non_null(strstr(ecb_last_error(), "a000000000000003"));
    free(a);
    free(b);
}

/* Issue 11 item 13: a BASE value that is NaN or not a number fails its
 * cell (it used to read as "no value in BASE" and pass). */
static void test_base_not_a_number_fails(void **state)
{
    (void)state;
    static const char *const bad[] = {"nan", "NaN", "abc", "inf", "-inf", "1e999", "0.5x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *a = copy_fixture(), *b = copy_fixture();
        set_field(a, "a000000000000004", "ndcg@10", bad[i]);
        char *out;
        assert_int_equal(run_compare(&out, 2, a, b), 1);
        assert_non_null(strstr(out, "a000000000000004"));
        assert_non_null(strstr(out, "BASE value"));
        assert_non_null(strstr(out, "not a finite number"));
        assert_non_null(strstr(out, "FAIL"));
        free(out);
        /* NaN on both sides fails too; NEW alone not a number fails */
        set_field(b, "a000000000000004", "ndcg@10", bad[i]);
        assert_int_equal(run_compare(NULL, 2, a, b), 1);
        char *c = copy_fixture();
        assert_int_equal(run_compare(&out, 2, c, b), 1);
        assert_non_null(strstr(out, "NEW value"));
        free(out);
        free(a);
        free(b);
        free(c);
    }
    /* an empty field on both sides is "not applicable" and passes */
    char *a = copy_fixture(), *b = copy_fixture();
    set_field(a, "a000000000000004", "recon_mse", "");
    set_field(b, "a000000000000004", "recon_mse", "");
    assert_int_equal(run_compare(NULL, 4, a, b, "--tolerance", "recon_mse=0.1"), 0);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_compare_passes),
        cmocka_unit_test(test_quality_drop_fails_and_names_cell),
        cmocka_unit_test(test_latency_relative_tolerance),
        cmocka_unit_test(test_missing_new_and_status),
        cmocka_unit_test(test_usage_and_input_errors),
        cmocka_unit_test(test_duplicate_cells_rejected),
        cmocka_unit_test(test_base_not_a_number_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
