/*
 * Run directories put together (DESIGN D11): `ecbench merge OUT DIR...`
 * joins the directories of `run --part i/n` (or any runs of one config)
 * into one run directory, and the canonical row order shared with MPI
 * runs: rows in the config's cell order, so results.csv and per_query.csv
 * do not depend on which process finished first.
 */
#ifndef ECB_MERGE_H
#define ECB_MERGE_H

#include <stddef.h>

#include "common/csv.h"
#include "harness/config.h"

/* Reorder rows into the config's cell order (rows of unknown cells last,
 * in their order); per_query rows (may be NULL) follow their cell, keeping
 * their order within it. Column 0 of both tables is cell_id. */
int ecb_results_canonical_order(const ecb_config *cfg, ecb_table *results, ecb_table *per_query);
/* The same on the two files of a run directory, rewritten atomically. */
int ecb_run_dir_canonical_order(const ecb_config *cfg, const char *results_path,
                                const char *per_query_path);

/* Write DIR/manifest.json atomically (pretty-printed); deletes m. */
int ecb_manifest_write(const char *dir, cJSON *m);

typedef struct ecb_merge_opts {
    const char *out;
    const char *const *dirs;
    size_t ndirs;
    int allow_partial;  /* missing parts or cells are a warning, not an error */
    int quiet;
} ecb_merge_opts;

/* Refuses: a directory without manifest.json / results.csv, configs that
 * differ (the "config" objects of the manifests), different columns, a
 * cell id in two directories, the same part twice, parts of different
 * counts, rows of cells the config does not have, and (unless
 * allow_partial) a missing part or a cell of the config without a row.
 * OUT must not hold results yet. */
int ecb_merge(const ecb_merge_opts *o);

#endif
