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

/* ---- the run directory's manifest.json (manifest.c) ----------------------- */

/* What report and compare read from DIR/manifest.json: the config the run
 * used and its environment record. Every key read here is checked (type,
 * range, unknown sub-keys, duplicate keys anywhere), so a typo is an error
 * naming the file and JSON path, never a silent default. */
typedef struct ecb_run_manifest {
    cJSON *json;                 /* the document; NULL when the file is absent */
    const cJSON *config;         /* "config", or NULL */
    const char *name;            /* config.name, or NULL */
    const char *config_path, *started, *finished; /* or NULL */
    const cJSON *environment;    /* an object, or NULL */
    const char *baseline_method; /* config.baseline (default "float32") */
    const char *baseline_label;  /* config.baseline.label, or NULL */
    const char *budget_metric;   /* config.budget_metric (default "ndcg@10") */
    int budget_metric_given;     /* the config named it (then it must be a column) */
    int has_seed;
    unsigned long long seed;     /* config.seed when has_seed */
    ecb_budget *budgets;         /* config.budgets */
    size_t nbudgets;
    const cJSON *tolerances;     /* config.ci.tolerances (checked), or NULL */
} ecb_run_manifest;
/* Read path (a manifest.json). A missing file is not an error: out gets the
 * defaults and json = NULL. */
int ecb_run_manifest_load(const char *path, ecb_run_manifest *out);
void ecb_run_manifest_release(ecb_run_manifest *m); /* accepts NULL */

/* ---- compare tolerances (compare.c) ------------------------------------------ */

typedef struct ecb_tolerance {
    char metric[128];   /* a column name or a glob ("ndcg@*") */
    double value;       /* absolute, or percent when relative */
    int relative;
    const char *source; /* "--tolerance", "manifest", "default" */
} ecb_tolerance;
/* "METRIC=VALUE", the value parsed by ecb_parse_tolerance
 * (harness/budget_spec.h); errors name source. */
int ecb_tolerance_parse(const char *arg, const char *source, ecb_tolerance *out);

/* ---- statistics against the baseline (stats.c) ----------------------------- */

typedef struct ecb_stats_opts {
    size_t permutations; /* sign-flip randomization test; >= 10000 by default */
    size_t bootstrap;    /* bootstrap resamples for the 95% CI */
    double alpha;        /* significance level after Holm, 0.05 */
    unsigned long long seed;
} ecb_stats_opts;
void ecb_stats_opts_default(ecb_stats_opts *o);

/* Build DIR/results_stats.csv from DIR/results.csv, DIR/per_query.csv and the
 * "baseline" key of DIR/manifest.json's config (read with the results store,
 * harness/results.h: the layout is checked and duplicate cell_ids are
 * rejected). *out (may be NULL) receives the table, caller frees. */
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
