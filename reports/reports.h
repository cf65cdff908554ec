/*
 * The report layer (DESIGN D7): reading results CSVs back, per-query
 * statistics against the baseline (results_stats.csv), memory budgets,
 * `ecbench report` (Markdown, LaTeX, gnuplot figures) and `ecbench compare`
 * (tolerances, JUnit XML, exit code for CI).
 *
 * Everything here is rebuilt from DIR/results.csv, DIR/per_query.csv and
 * DIR/manifest.json alone; nothing is re-run.
 */
#ifndef ECB_REPORTS_H
#define ECB_REPORTS_H

#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/csv.h"
#include "harness/budget_spec.h"
#include "harness/results.h"

/* ---- memory budgets (budget.c) ------------------------------------------ */

/* Bytes per vector a cell costs against budget b (b may be NULL = at the
 * cell's own corpus size): code bytes + rescoring bytes per vector + aux
 * bytes amortised over the budget's corpus size (or n_corpus). */
double ecb_budget_cost(const ecb_budget *b, double bytes_per_vector, double rescore_bytes,
                       double aux_bytes, double n_corpus);
/* Pareto frontier of n points (x, y), y higher is better; x lower is better
 * when x_lower_better, else higher is better. NaN points are ignored.
 * Writes the frontier's indices into idx (n entries), sorted by x
 * ascending; returns their count. */
size_t ecb_pareto(const double *x, const double *y, size_t n, int x_lower_better, size_t *idx);

/* ---- statistics against the baseline (report.c) -------------------------- */

typedef struct ecb_stats_opts {
    size_t permutations; /* sign-flip randomization test; >= 10000 by default */
    size_t bootstrap;    /* bootstrap resamples for the 95% CI */
    double alpha;        /* significance level after Holm, 0.05 */
    unsigned long long seed;
} ecb_stats_opts;
void ecb_stats_opts_default(ecb_stats_opts *o);

/* Build DIR/results_stats.csv from DIR/results.csv, DIR/per_query.csv and the
 * "baseline" key of DIR/manifest.json's config. *out (may be NULL) receives
 * the table, caller frees. */
int ecb_stats_build(const char *dir, const ecb_stats_opts *o, ecb_table **out);

/* ---- commands --------------------------------------------------------- */

/* Rebuild DIR/report.md, DIR/tables/ (LaTeX) and DIR/plots/ (data, gnuplot
 * scripts, PNG and SVG) from the CSVs and manifest. quiet: no stdout. */
int ecb_report_build(const char *dir, int quiet);
/* `ecbench report DIR [--no-plots] [--quiet]`; argv[0] = "report". */
int ecb_cmd_report(int argc, char **argv);
/* `ecbench compare BASE NEW [--tolerance M=V]... [--junit FILE]`: 0 no
 * regression, 1 regression (or missing cell), 2 usage or input error. */
int ecb_cmd_compare(int argc, char **argv);

#endif
