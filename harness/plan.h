/*
 * `ecbench plan CONFIG [--ranks N]` (DESIGN D11): before a cluster is
 * spent, per dataset and cell the bytes each rank will hold, the ground
 * truth's and the scans' floating-point work, and an estimated time from
 * throughputs measured here in a short calibration (sgemm GFLOP/s, and per
 * chain of the config its training, encoding and scan rates on a small
 * synthetic set of the dataset's dimension; the generator's rate for
 * synthetic corpora), in CPU seconds, so a busy machine does not slow the
 * estimate down. Nothing is run on the corpora themselves: sizes come
 * from the synthetic parameters or the manifests (their n_corpus / dim /
 * n_queries, else the vector files' headers).
 *
 * The model: a sharded dataset (`"shards"`, or automatic under
 * "rank_memory_mb") has every rank hold ceil(rows / ranks) rows and work on
 * them at once (a cell whose codes pass the budget streams them: encoded
 * again per cell, a chunk held); other datasets' cells are spread over
 * ranks - 1 workers (one process: all on it). Ranks on one node share its
 * cores: with more ranks x threads than cores (oversubscription), wall
 * time is the per-rank CPU time x ranks x threads / cores (--ranks-per-node;
 * nodes are assumed like this machine, idle). With every rank on this
 * machine, a second estimate counts its 1-minute load average as other
 * runnable threads sharing the cores: x (load + ranks x threads) / cores.
 * Message transfer is not modelled.
 */
#ifndef ECB_PLAN_H
#define ECB_PLAN_H

#include <stddef.h>
#include <stdio.h>

typedef struct ecb_plan_opts {
    const char *config_path;
    size_t ranks;           /* 0: 1 */
    size_t ranks_per_node;  /* 0: all ranks on one node */
    double calibrate_s;     /* per measured kernel, 0: default 0.2 s */
    FILE *out;
} ecb_plan_opts;

int ecb_plan(const ecb_plan_opts *o);

#endif
