/*
 * The runner (DESIGN D6): loads a config, validates every cell up front,
 * then for each cell trains, encodes, searches, rescores, computes metrics
 * and appends one row to results.csv (and the per-query rows) immediately.
 */
#ifndef ECB_RUNNER_H
#define ECB_RUNNER_H

#include <stddef.h>

#include "harness/config.h"

typedef struct ecb_run_opts {
    const char *config_path;
    const char *output;   /* overrides the config's output dir */
    int trec_run;         /* write DIR/runs/<cell_id>.trec */
    int quiet;
    int no_report;        /* skip the report at the end */
} ecb_run_opts;

/* Returns 0 when every cell is ok or skipped, 1 when some cell failed, or a
 * negative ecb error (message in ecb_last_error()) when the sweep could not
 * start. */
int ecb_run(const ecb_run_opts *o);

/* Results row of one cell, as text: the results.csv line and the
 * per_query.csv lines. Exposed so isolation can pass them between
 * processes. */
typedef struct ecb_cell_output {
    char *row;       /* one CSV line with '\n' */
    char *per_query; /* zero or more lines */
    int status;      /* 0 ok, 1 skipped, 2 error, 3 dataset unreadable (stops the sweep),
                        6 crashed, 7 timeout, 8 oom */
} ecb_cell_output;

#endif
