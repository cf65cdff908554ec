/*
 * Splitting a sweep's cells over workers (DESIGN D11): the deterministic
 * `--part i/n` partition for batch schedulers, and the order in which MPI
 * rank 0 hands out work. Both work on *units*: runs of consecutive cells
 * with the same dataset, corpus size and chain (they share one evaluation
 * set and one trained chain), grouped by (dataset, corpus size) since the
 * ground truth is computed once per group.
 *
 * Costs are estimates in floating-point operations, from the corpus rows,
 * the dimension and the queries only (methods are not told apart, except
 * that fitted ones add a training term): good enough to put the longest
 * work first and to balance parts, not a prediction of time (see plan).
 */
#ifndef ECB_PARTITION_H
#define ECB_PARTITION_H

#include <stddef.h>

#include "datasets/dataset.h"
#include "harness/config.h"

typedef struct ecb_unit {
    size_t first, count; /* cells [first, first + count) of the config */
    size_t group;        /* index into ecb_plan_units.groups */
    double cost;         /* estimated flops of its cells */
} ecb_unit;

typedef struct ecb_unit_group {
    size_t dataset, corpus_size; /* corpus_size: rows actually evaluated */
    size_t dim, nq;
    double gt_cost;      /* exact ground truth, once per group */
} ecb_unit_group;

typedef struct ecb_units {
    ecb_unit *units;
    size_t n;
    ecb_unit_group *groups;
    size_t ngroups;
} ecb_units;

/* Estimated flops of one cell on a corpus of rows x dim with nq queries. */
double ecb_cell_cost(const ecb_config *cfg, const ecb_cell *cell, size_t rows, size_t dim,
                     size_t nq);
/* Exact ground truth of rows x dim against nq queries (one sgemm). */
double ecb_groundtruth_cost(size_t rows, size_t dim, size_t nq);

/* The units of a config; full[d] is dataset d as loaded (for its sizes). */
int ecb_units_build(const ecb_config *cfg, ecb_dataset *const *full, ecb_units *out);
void ecb_units_release(ecb_units *u); /* accepts a zeroed one */

/* Part `part` (1-based) of nparts: mine[c] = 1 for the cells it runs.
 * Whole groups are dealt to parts (longest processing time first: the
 * costliest group to the least loaded part, ties to the lower index) when
 * there are at least nparts groups, else whole units; so a group's ground
 * truth is computed in one part whenever the sweep has enough groups. */
int ecb_partition(const ecb_units *u, size_t n_cells, size_t part, size_t nparts,
                  unsigned char *mine);

/* Parse "i/n" (1 <= i <= n <= 100000). */
int ecb_part_parse(const char *s, size_t *part, size_t *nparts);

/* Rank 0's choice of the next unit for a worker whose last group was
 * `last_group` (SIZE_MAX: none). busy[g] counts workers now on group g.
 * Among the units not yet taken (taken[u] == 0): the costliest of the
 * worker's own group (its evaluation set is loaded), else the costliest of
 * a group nobody works on (no ground truth computed twice at once), else
 * the costliest. Returns the unit index or SIZE_MAX when none is left. */
size_t ecb_units_next(const ecb_units *u, const unsigned char *taken, const size_t *busy,
                      size_t last_group);

#endif
