/*
 * Per-worker failure records (team.h): a task's error message is set on the
 * thread that ran it, so each worker keeps its own and the caller raises the
 * lowest failing task's again on its thread. And OpenBLAS kept to one thread.
 */
#include <stdio.h>

#include <cblas.h>

#include "common/ecb.h"
#include "harness/team.h"

/* OpenBLAS's thread server shutdown (what its fork handler calls), weak:
 * another BLAS has no such thing, and then there is nothing to stop. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void ecb_blas_one_thread(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

int ecb_task_error_set(ecb_task_error *e, size_t task, int rc)
{
    e->rc = rc;
    e->task = task;
    snprintf(e->msg, sizeof e->msg, "%s", ecb_last_error());
    return rc;
}

int ecb_task_error_raise(const ecb_task_error *e0, size_t n, size_t stride)
{
    const ecb_task_error *first = NULL;
    for (size_t t = 0; t < n; t++) {
        const ecb_task_error *e = (const ecb_task_error *)((const char *)e0 + t * stride);
        if (e->rc && (!first || e->task < first->task)) first = e;
    }
    return first ? ecb_fail(first->rc, "%s", first->msg) : 0;
}
