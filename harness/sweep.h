/*
 * The sweep (DESIGN D6): load a config, check every cell can be built, lock
 * the output directory, resume after the rows already there, run each cell
 * (in process, or in an isolated child), append its rows at once, keep
 * manifest.json current. The report is not built here: the CLI runs it
 * after a sweep (reports sit above the harness).
 */
#ifndef ECB_SWEEP_H
#define ECB_SWEEP_H

#include <stddef.h>

typedef struct ecb_run_opts {
    const char *config_path;
    const char *output;   /* overrides the config's output dir */
    int trec_run;         /* write DIR/runs/<cell_id>.trec */
    int quiet;
    size_t part, nparts;  /* --part i/n (1-based); nparts 0 = every cell */
} ecb_run_opts;

typedef struct ecb_run_summary {
    char *dir;            /* the output directory (malloc'd; caller frees) */
    size_t total, ok, skipped, failed, resumed;
    int interrupted;      /* the signal that stopped the sweep, or 0 */
} ecb_run_summary;

/* Under an MPI launcher with more than one rank, rank 0 hands the cells
 * out to the other ranks and is the only writer (harness/mpi.h); every rank
 * calls ecb_run and gets rank 0's return value. With a part, only the
 * cells of that part run (harness/partition.h) and the manifest says which
 * part it is, for `ecbench merge`.
 *
 * Returns 0 when every cell is ok or skipped, 1 when some cell failed,
 * 128 + signal when interrupted, or a negative ecb error (message in
 * ecb_last_error()) when the sweep could not start or a row could not be
 * written. summary (may be NULL) is filled as far as the sweep got. */
int ecb_run(const ecb_run_opts *o, ecb_run_summary *summary);

#endif
