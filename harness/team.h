/*
 * The host's side of the toolkit's parallel-for (ecb_parallel_for in
 * ecbench/ecbmath.h, harness/ecbmath/parallel.c): the controls of its
 * persistent thread pool, and the per-worker failure record of callers
 * whose tasks report errors.
 *
 * The pool controls are defined in the toolkit but declared here only: the
 * toolkit library (libecbench-toolkit.so) does not export them, since a
 * plugin has no business stopping the host's threads.
 */
#ifndef ECB_TEAM_H
#define ECB_TEAM_H

#include <stddef.h>

#include "ecbench/ecbmath.h"

/* Joins the pool's threads (idle between calls); the next ecb_parallel_for
 * that needs threads creates them again. Also runs at exit. Does nothing
 * when called from a task or while another thread's call is running. */
void ecb_parallel_shutdown(void);

/* Threads the pool holds now (0 before the first threaded call, after a
 * shutdown, and in a freshly forked child). */
size_t ecb_parallel_pool_threads(void);

/* Threads the pool has created since the process started (tests: a second
 * call of the same width creates none). */
size_t ecb_parallel_threads_created(void);

/* OpenBLAS on one thread, and its own worker threads stopped. ecbench
 * parallelises over fixed blocks itself (so that a row's result never
 * depends on how OpenBLAS would split a product by thread count), and
 * OpenBLAS's workers, created when the library loads, spin on sched_yield
 * for a while (about 0.1 s) before they sleep: setting one thread does not
 * stop them, and they took the second core from the first cells' 2-thread
 * scans (a siftsmall float32 cell at 2 threads ran at its 1-thread QPS in
 * about half the runs). Any later openblas_set_num_threads call, even of
 * 1, starts them again (measured: bench_scan_threads did, and its 2-thread
 * runs fell to 1-thread speed), so callers that set one thread for a
 * product do it only when the count is not 1 already. */
void ecb_blas_one_thread(void);

/* A worker's failure. The error message is per thread, so a worker keeps
 * its own with it, and the calling thread reports the failure of the lowest
 * failing task (the one ecb_parallel_for returns). */
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
