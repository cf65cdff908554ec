/*
 * Between the parts of `ecbench report` (internal, not installed): the model
 * that stats.c and report.c build and that plots.c, tables.c and html.c
 * draw. Rows of results_stats.csv are grouped into datasets x corpus sizes,
 * each row knows its baseline row, and every lookup is by index or hash, so
 * the report stays linear in rows and columns.
 */
#ifndef ECB_REPORT_MODEL_H
#define ECB_REPORT_MODEL_H

#include <stddef.h>
#include <stdio.h>

#include "reports/reports.h"

/* ---- lookups ------------------------------------------------------------- */

/* String -> index, open addressing; keys are borrowed, not copied. */
typedef struct ecb_strindex {
    size_t cap, n;
    const char **key;
    size_t *val;
} ecb_strindex;
int ecb_strindex_init(ecb_strindex *ix, size_t expected);
/* 1 when inserted, 0 when key was there (*existing, may be NULL, gets its
 * value), negative on error. */
int ecb_strindex_put(ecb_strindex *ix, const char *key, size_t val, size_t *existing);
long ecb_strindex_get(const ecb_strindex *ix, const char *key); /* -1 when absent */
void ecb_strindex_free(ecb_strindex *ix);

/* n items partitioned by a string key: groups in order of first appearance,
 * members of a group in input order. */
typedef struct ecb_partition {
    size_t ngroups;
    size_t *start; /* ngroups + 1 offsets into rows */
    size_t *rows;  /* n item indices, grouped */
    size_t *of;    /* group of each item */
} ecb_partition;
int ecb_partition_build(const char *const *keys, size_t n, ecb_partition *p);
void ecb_partition_free(ecb_partition *p);

/* keys[i] = the fields of row i joined by '\x1f' (caller frees with
 * ecb_keys_free). */
char **ecb_row_keys(const ecb_table *t, const int *cols, size_t ncols);
void ecb_keys_free(char **keys, size_t n);

/* ---- baselines and ranking metrics (shared by stats.c and the report) ---- */

/* base[r] = the baseline row of row r (or -1): same dataset and corpus
 * size, rescore none, status ok, method or label = method (or label =
 * label when given); same mode preferred, then the default-params label. */
int ecb_baselines_resolve(const ecb_table *t, const char *method, const char *label, long *base);

/* The ranking metric of one dataset (rows[0..n) of t): wanted if it has
 * values, else knn_recall@ the same k, else knn_recall@10, else the first
 * quality column with values. Writes "" when none. */
void ecb_rank_metric(const ecb_table *t, const size_t *rows, size_t n, const char *wanted, char *buf,
                     size_t bufn);

/* ---- the model ------------------------------------------------------------ */

typedef struct ecb_rpt_cols {
    int id, dataset, corpus_size, method, params, label, mode, rescore, status, error, n_corpus,
        n_queries, dim, bpv, total_bpv, aux, index_bytes, rescore_bytes, ratio, bits, p50, qps, encode,
        significant, baseline_cell;
} ecb_rpt_cols;

/* One dataset at one corpus size. */
typedef struct ecb_rpt_group {
    const char *dataset;  /* borrowed from the table */
    char *slug;           /* file-name stem, unique in the report */
    double corpus_size;   /* the corpus_size column */
    double n_corpus;      /* largest n_corpus among the rows */
    size_t *rows;         /* table order: baseline, symmetric, asymmetric */
    size_t n;
    int is_main;          /* the dataset's largest corpus size */
    size_t nsizes;        /* groups of the same dataset */
    char metric[64];      /* ranking metric ("" when none) */
    int metric_col;
} ecb_rpt_group;

/* A metric column of the tables, with its statistics columns. */
typedef struct ecb_rpt_metric {
    char name[64];
    int col, p, delta;
} ecb_rpt_metric;

typedef struct ecb_report {
    const char *dir;
    int quiet;
    ecb_table *t;          /* results_stats.csv */
    ecb_rpt_cols c;
    ecb_run_manifest man;
    long *base;            /* baseline row of each row, -1 when none */
    ecb_rpt_group *groups;
    size_t ngroups;
    ecb_rpt_metric metrics[3];
    size_t nmetrics;
    double alpha;
    /* plots.c */
    char templates[4096];
    int gnuplot_missing;
    char **plots;          /* rendered figure base names */
    size_t nplots, cap_plots;
    ecb_strindex plot_ix;  /* name -> index in plots */
} ecb_report;

#define ECB_AT(R, r, f) ecb_table_at((R)->t, (r), (R)->c.f)
double ecb_rpt_num(const ecb_table *t, size_t r, int c); /* NAN when empty */
#define ECB_NUM(R, r, f) ecb_rpt_num((R)->t, (r), (R)->c.f)

/* Build the model from R->t and R->man (model.c). */
int ecb_report_model(ecb_report *R);
void ecb_report_model_free(ecb_report *R);

int ecb_rpt_row_ok(const ecb_report *R, size_t r);
/* Variant (one point shape each): 0 symmetric, 1 asymmetric, +2 rescored. */
int ecb_rpt_variant(const ecb_report *R, size_t r);
extern const char *const ecb_rpt_variant_names[4];
/* The chain's plugin names, "truncate>sq": one colour per family. */
void ecb_rpt_family(const ecb_report *R, size_t r, char *buf, size_t n);
/* Label plus what tells cells sharing it apart: "sq(bits=4) asym +float32x4". */
void ecb_rpt_cell_name(const ecb_report *R, size_t r, char *buf, size_t n);
double ecb_rpt_cost(const ecb_report *R, size_t r, const ecb_budget *b);
/* Value of metric m in row r, its % of the baseline's value, and the mark
 * from the statistics (-1 significant loss, +1 gain, 0 none). */
void ecb_rpt_metric_cell(const ecb_report *R, size_t r, const ecb_rpt_metric *m, double *v, double *pct,
                         int *mark);
/* Best cell within budget b (ties: the cheaper) and the runner-up (the best
 * with another label); -1 when none. */
void ecb_rpt_budget_pick(const ecb_report *R, const ecb_rpt_group *g, const ecb_budget *b, long *best,
                         long *second);
void ecb_rpt_fmt_num(double v, char *buf, size_t n);
int ecb_rpt_has_plot(const ecb_report *R, const char *name);

/* ---- report files (report.c) ------------------------------------------------ */

/* A report file: written to memory, then ecb_write_file_atomic on commit
 * (a temporary name, fsync, rename), so a failure (disk full, unwritable
 * path) leaves neither a temporary nor a partial file behind. */
typedef struct ecb_rfile {
    FILE *f;
    char *buf;
    size_t len;
    char *path;
} ecb_rfile;
/* Opens rf->f (a memory stream) for path. */
int ecb_rfile_open(ecb_rfile *rf, const char *path);
/* Checks the stream and replaces path atomically; releases rf either way.
 * Errors name the file. */
int ecb_rfile_commit(ecb_rfile *rf);
void ecb_rfile_discard(ecb_rfile *rf); /* accepts a zeroed or released rf */
char *ecb_rpt_pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the writers ------------------------------------------------------------ */

int ecb_report_plots(ecb_report *R);          /* plots.c: data, templates, render.sh, figures */
int ecb_report_tables(ecb_report *R);         /* tables.c: the LaTeX tables */
int ecb_report_markdown(ecb_report *R);       /* tables.c: report.md */

int ecb_report_html(ecb_report *R);           /* html.c: report.html */

/* ---- inline SVG for report.html (svg.c) ---------------------------------------- */

/* A scatter plot of n points; x[i] or y[i] NaN (or x <= 0 on a log axis)
 * leaves point i out. */
typedef struct ecb_svg_plot {
    const char *title, *xlabel, *ylabel;
    int logx;                 /* log2 x axis */
    size_t n;
    const double *x, *y;
    const char *const *cell;  /* cell id of each point (data-cell) */
    const char *const *hover; /* its <title>: the cell and its parameters */
    const int *family;        /* colour index */
    const int *variant;       /* ecb_rpt_variant */
    const unsigned char *mark; /* ringed points (best within a budget), or NULL */
    const size_t *front;      /* frontier: point indices by x */
    size_t nfront;
    const double *lines;      /* dashed vertical lines (budgets), or NULL */
    const char *const *line_labels;
    size_t nlines;
} ecb_svg_plot;
extern const char *const ecb_svg_palette[10];
int ecb_svg_scatter(FILE *f, const ecb_svg_plot *p);
void ecb_html_escape(FILE *f, const char *s);

void ecb_md_escape(FILE *f, const char *s);
void ecb_tex_escape(FILE *f, const char *s);

#endif
