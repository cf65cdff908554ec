/*
 * Open MPI underneath ecbench (DESIGN D11): start-up, rank and size, and
 * the cells-over-ranks protocol of a sweep. Everything here compiles
 * without MPI (meson -Dmpi=disabled, or no libopenmpi-dev): then there is
 * one rank and the distributed entry points fail with a message.
 *
 * MPI is initialised only when the process was started by a launcher
 * (mpirun/mpiexec, srun with PMI/PMIx: their environment says so), so a
 * plain `ecbench run` never touches MPI. Only the main thread calls MPI
 * (MPI_THREAD_FUNNELED); waits poll with a short sleep instead of MPI's
 * busy loop, since a rank that waits must leave the cores to the ranks
 * that compute (ranks often outnumber cores with --oversubscribe).
 */
#ifndef ECB_MPI_H
#define ECB_MPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "harness/partition.h"

/* 1 when built with MPI. */
int ecb_mpi_built(void);
/* Initialise MPI when launched by an MPI launcher; fails (ECB_EINVAL) when
 * launched with more than one rank by a binary built without MPI. */
int ecb_mpi_init(int *argc, char ***argv);
void ecb_mpi_finalize(void); /* no-op when not initialised */
int ecb_mpi_rank(void);      /* 0 without MPI */
int ecb_mpi_size(void);      /* 1 without MPI */

/* Every rank passes its rc; every rank gets rank 0's rc when non-zero,
 * else the lowest-ranked non-zero rc (its message is only on that rank),
 * else 0. A collective: every rank must call it. */
int ecb_mpi_agree(int rc);
/* Rank 0's value of *v, on every rank. */
int ecb_mpi_bcast_int(int *v);

/* ---- collectives for a sharded corpus (every rank calls each one, in the
 * same order; with one rank they are copies or no-ops) ---------------------- */

/* ecb_mpi_agree, and the failing rank's message reaches every rank
 * ("rank R: ..."), so that rank 0 can write it into the cell's row. */
int ecb_mpi_agree_msg(int rc);
/* Every rank's n bytes, concatenated in rank order: on rank 0 only
 * (gather) or on every rank (allgather). *all is malloc'd (NULL on the
 * other ranks of gather); counts (may be NULL) receives size entries. */
int ecb_mpi_gather(const void *p, size_t n, char **all, size_t *counts);
int ecb_mpi_allgather(const void *p, size_t n, char **all, size_t *counts);
/* Rank 0's n bytes at p, on every rank. */
int ecb_mpi_bcast(void *p, size_t n);
/* The maximum over ranks of *v, on every rank. */
int ecb_mpi_max_double(double *v);
/* Element-wise maximum over ranks of v[0..n), into rank 0's v. */
int ecb_mpi_reduce_max_float(float *v, size_t n);
int ecb_mpi_barrier(void);

/* ---- cells over ranks ---------------------------------------------------- */

typedef struct ecb_mpi_sweep_ops {
    void *ctx;
    /* a worker: measure cell `cell` into packed (ecb_cell_result_pack) */
    int (*compute)(void *ctx, size_t cell, ecb_buf *packed);
    /* rank 0: the packed result of `cell` from rank `rank`, measured in
     * `seconds`; non-zero stops the hand-out (an unwritable row, data that
     * cannot be read) and is returned by ecb_mpi_sweep_lead */
    int (*record)(void *ctx, size_t cell, int rank, double seconds, const char *p, size_t n);
    /* rank 0: non-zero when the sweep should stop handing out (a signal) */
    int (*stopping)(void *ctx);
} ecb_mpi_sweep_ops;

/* Rank 0: hand out the units to the other ranks as they free up
 * (ecb_units_next), one unit at a time; pending[c] marks the cells still
 * to run (finished cells of a unit are not sent; NULL: none). Every result is passed
 * to ops->record as it arrives. Returns when every worker has been told to
 * stop. */
int ecb_mpi_sweep_lead(const ecb_units *u, const unsigned char *pending,
                       const ecb_mpi_sweep_ops *ops);
/* Ranks > 0: compute what rank 0 hands out until it says stop. */
int ecb_mpi_sweep_work(const ecb_mpi_sweep_ops *ops);

#endif
