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

#endif
