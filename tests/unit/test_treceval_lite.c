/*
 * Validates tests/tools/treceval_lite (the independent trec_eval checker the
 * end-to-end tests use) against real trec_eval output on Cranfield, and on
 * the hand-derived golden case of test_metrics.c written as TREC files.
 * The tool's path comes from $ECB_TOOL_TRECEVAL_LITE (set by tests/meson.build).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static const char *tool(void)
{
    const char *t = getenv("ECB_TOOL_TRECEVAL_LITE");
    return t && *t && access(t, X_OK) == 0 ? t : NULL;
}

/* Run a command, return its stdout (malloc'd) or NULL; *status gets the exit. */
static char *run_cmd(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 2) buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    *status = pclose(p);
    return buf;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

/* Look up "measure\tqid\tvalue" in tool output; NAN when absent. */
static double find_value(const char *out, const char *measure, const char *qid)
{
    char key[128];
    for (const char *l = out; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char m[64], q[64];
        double v;
        snprintf(key, sizeof key, "%.*s", (int)(len < 127 ? len : 127), l);
        if (sscanf(key, "%63s %63s %lf", m, q, &v) == 3 && !strcmp(m, measure) && !strcmp(q, qid))
            return v;
        l = e ? e + 1 : NULL;
    }
    return NAN;
}

static const char *cran_measures =
    "-m ndcg_cut.10,100 -m recall.10,100 -m recip_rank -m map_cut.100 -m P.10";

/* Byte-identical to trec_eval 10.0-rc3's own output (4 decimals). */
static void test_cranfield_trec_eval_output(void **state)
{
    (void)state;
    if (!tool()) TU_SKIP("ECB_TOOL_TRECEVAL_LITE not set or not built");
    char *qrels = tu_shared_file("cranfield/qrels.trec");
    char *runf = tu_shared_file("cranfield/run_float32.trec");
    char *ref = tu_shared_file("cranfield/trec_eval_output.txt");
    if (!qrels || !runf || !ref) TU_SKIP("cranfield data absent");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -q %s '%s' '%s'", tool(), cran_measures, qrels, runf);
    int st;
    char *out = run_cmd(cmd, &st);
    assert_non_null(out);
    assert_int_equal(st, 0);
    char *want = read_all(ref);
    assert_non_null(want);
    assert_string_equal(out, want);
    free(out);
    free(want);
    free(qrels);
    free(runf);
    free(ref);
}

/* Every per-query value and mean at 12 decimals, to 1e-9. */
static void test_cranfield_12dp(void **state)
{
    (void)state;
    if (!tool()) TU_SKIP("ECB_TOOL_TRECEVAL_LITE not set or not built");
    char *qrels = tu_shared_file("cranfield/qrels.trec");
    char *runf = tu_shared_file("cranfield/run_float32.trec");
    char *tsv = tu_shared_file("cranfield/reference_per_query_12dp.tsv");
    if (!qrels || !runf || !tsv) TU_SKIP("cranfield data absent");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' -q -P 12 %s '%s' '%s'", tool(), cran_measures, qrels, runf);
    int st;
    char *out = run_cmd(cmd, &st);
    assert_non_null(out);
    assert_int_equal(st, 0);

    FILE *f = fopen(tsv, "r");
    assert_non_null(f);
    char line[4096], hdr[16][32];
    int nh = 0;
    assert_non_null(fgets(line, sizeof line, f));
    for (char *t = strtok(line, "\t\r\n"); t && nh < 16; t = strtok(NULL, "\t\r\n"))
        snprintf(hdr[nh++], sizeof hdr[0], "%s", t);
    size_t nvals = 0, nq = 0;
    double maxdiff = 0, sums[16] = {0};
    while (fgets(line, sizeof line, f)) {
        char qid[64];
        int c = 0;
        for (char *t = strtok(line, "\t\r\n"); t && c < nh; t = strtok(NULL, "\t\r\n"), c++) {
            if (c == 0) {
                snprintf(qid, sizeof qid, "%s", t);
                continue;
            }
            double want = strtod(t, NULL), got = find_value(out, hdr[c], qid);
            assert_false(isnan(got));
            double d = fabs(got - want);
            if (d > maxdiff) maxdiff = d;
            sums[c] += got;
            nvals++;
        }
        nq++;
    }
    fclose(f);
    fprintf(stderr, "treceval_lite vs trec_eval 12dp: %zu values, %zu queries, max |diff| %.3g\n",
            nvals, nq, maxdiff);
    assert_true(maxdiff <= 1e-9);
    assert_int_equal(nq, 225);
    /* the "all" line is the mean over the 225 evaluated queries */
    for (int c = 1; c < nh; c++)
        assert_true(fabs(find_value(out, hdr[c], "all") - sums[c] / (double)nq) < 1e-9);
    free(out);
    free(qrels);
    free(runf);
    free(tsv);
}

/*
 * The golden case of test_metrics.c (test_graded_ties_missing) as TREC
 * files: docnos 10, 9, 11, 2, 7 and a judged doc "99" absent from the run.
 * The rank column is deliberately wrong; ties (0.9, 0.5) must be broken by
 * docno descending. Query "q2" has only rel 0 / negative judgments: trec_eval
 * evaluates it (all zeros, counted in "all"); -S skips it.
 */
static void test_golden_case(void **state)
{
    (void)state;
    if (!tool()) TU_SKIP("ECB_TOOL_TRECEVAL_LITE not set or not built");
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    char qp[512], rp[512];
    snprintf(qp, sizeof qp, "%s/qrels", dir);
    snprintf(rp, sizeof rp, "%s/run", dir);
    assert_int_equal(tu_write_file(qp, "q1 0 9 2\n"
                                       "q1 0 2 1\n"
                                       "q1 0 7 0\n"
                                       "q1 0 11 -1\n"
                                       "q1 0 99 3\n"
                                       "q2 0 10 0\n"
                                       "q2 0 9 -1\n"),
                     0);
    assert_int_equal(tu_write_file(rp, "q1 Q0 10 1 0.9 t\n"
                                       "q1 Q0 2 2 0.5 t\n"
                                       "q1 Q0 11 3 0.8 t\n"
                                       "q1 Q0 9 4 0.9 t\n"
                                       "q1 Q0 7 5 0.5 t\n"
                                       "q2 Q0 10 1 0.3 t\n"
                                       "q2 Q0 9 2 0.2 t\n"),
                     0);
    const char *ms = "-m ndcg_cut.1,5,10 -m recall.1,5,10 -m P.1,5,10 -m map_cut.1,5,10 "
                     "-m recip_rank -m success.1,5,10 -m recip_rank_cut.1,5";
    char cmd[4096];
    int st;
    snprintf(cmd, sizeof cmd, "'%s' -q -P 15 %s '%s' '%s'", tool(), ms, qp, rp);
    char *out = run_cmd(cmd, &st);
    assert_non_null(out);
    assert_int_equal(st, 0);
    const struct { const char *m; double v; } want[] = {
        {"ndcg_cut_1", 2.0 / 3.0},   {"ndcg_cut_5", 0.5012438530902055},
        {"ndcg_cut_10", 0.5012438530902055},
        {"recall_1", 1.0 / 3.0},     {"recall_5", 2.0 / 3.0}, {"recall_10", 2.0 / 3.0},
        {"P_1", 1.0},                {"P_5", 0.4},            {"P_10", 0.2},
        {"map_cut_1", 1.0 / 3.0},    {"map_cut_5", 1.4 / 3.0}, {"map_cut_10", 1.4 / 3.0},
        {"recip_rank", 1.0},         {"success_1", 1.0},      {"success_10", 1.0},
        {"recip_rank_cut_1", 1.0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        double got = find_value(out, want[i].m, "q1");
        if (!(fabs(got - want[i].v) < 1e-12)) {
            fprintf(stderr, "%s q1: got %.17g want %.17g\n", want[i].m, got, want[i].v);
            fail();
        }
        /* q2 scores 0 and halves the mean */
        assert_true(fabs(find_value(out, want[i].m, "q2")) < 1e-15);
        assert_true(fabs(find_value(out, want[i].m, "all") - want[i].v / 2) < 1e-12);
    }
    free(out);

    snprintf(cmd, sizeof cmd, "'%s' -q -S -P 15 %s '%s' '%s'", tool(), ms, qp, rp);
    out = run_cmd(cmd, &st);
    assert_non_null(out);
    assert_int_equal(st, 0);
    assert_true(isnan(find_value(out, "P_5", "q2")));
    assert_true(fabs(find_value(out, "P_5", "all") - 0.4) < 1e-12);
    assert_true(fabs(find_value(out, "ndcg_cut_5", "all") - 0.5012438530902055) < 1e-12);
    free(out);

    /* malformed input: exit status 2 and a message naming file and line */
    assert_int_equal(tu_write_file(rp, "q1 Q0 10 1 0.9 t\nq1 Q0 9 oops\n"), 0);
    snprintf(cmd, sizeof cmd, "'%s' -m P.5 '%s' '%s' 2>&1", tool(), qp, rp);
    out = run_cmd(cmd, &st);
    assert_non_null(out);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    assert_non_null(strstr(out, ":2:"));
    free(out);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cranfield_trec_eval_output),
        cmocka_unit_test(test_cranfield_12dp),
        cmocka_unit_test(test_golden_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
