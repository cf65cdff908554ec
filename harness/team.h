/*
 * A parallel-for over task indices that never waits for a late thread, for
 * work of a millisecond or less (the scan of a small corpus).
 *
 * ecb_parallel_for joins its threads: on a loaded machine a new thread may
 * not run for milliseconds, and the calling thread, having done every task
 * itself, then waits for a thread that has nothing left to do; 2 threads
 * were slower than 1 on a scan of a millisecond (issue 13, item 8). Here the
 * caller waits only for the tasks that were started; a thread that arrives
 * late finds none left and exits on its own (detached).
 */
#ifndef ECB_TEAM_H
#define ECB_TEAM_H

#include <stddef.h>

#include "ecbench/ecbmath.h"

/* ecb_parallel_for's contract (tasks claimed in increasing order, worker in
 * [0, threads), the caller is worker 0, the lowest failing task's return
 * value, tasks after a failure may be skipped, fewer threads when one
 * cannot be created), except that it returns as soon as every task has
 * finished: fn and ctx are not used after it returns. ECB_ENOMEM when the
 * team cannot be allocated. */
int ecb_team_for(size_t ntasks, size_t threads, ecb_task_fn fn, void *ctx);

/* A worker's failure. The error message is per thread, so a worker keeps
 * its own with it, and the calling thread reports the failure of the lowest
 * failing task (the one ecb_parallel_for and ecb_team_for return). */
typedef struct {
    int rc;      /* 0: no failure */
    size_t task; /* the failing task, when rc != 0 */
    char msg[1024];
} ecb_task_error;

/* Records task's failure rc with the thread's last error; returns rc. */
int ecb_task_error_set(ecb_task_error *e, size_t task, int rc);

/* Of n records stride bytes apart from e0 (a member of an array of worker
 * structs), the lowest failing task's, raised again on this thread
 * (ecb_fail); returns its rc, or 0 when no record failed. */
int ecb_task_error_raise(const ecb_task_error *e0, size_t n, size_t stride);

#endif
