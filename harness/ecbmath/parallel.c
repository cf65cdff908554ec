/*
 * The one thread fan-out of ecbench (search, chain, k-means): a parallel-for
 * over task indices with a shared counter.
 *
 * Why a counter rather than fixed ranges: tasks (corpus blocks, k-means
 * point ranges) are of unequal cost on a shared machine, and a counter keeps
 * every worker busy. Callers that need results independent of the thread
 * count make each task's output depend only on its index (the task grid
 * never depends on `threads`) and merge per-task or per-worker results in a
 * fixed order afterwards.
 *
 * Errors: a task returning non-zero records (task, rc) if it is the lowest
 * failing task so far; no task above the lowest recorded failure is started.
 * Since tasks are claimed in increasing order, every task below the lowest
 * failing one has been claimed before it and runs to completion, so the
 * reported failure is the same whatever the scheduling. The error message a
 * task sets (per-thread) stays in the thread that ran it: callers that need
 * it copy it into their context.
 *
 * If a thread cannot be created, the threads already running (and the
 * calling thread) do the remaining work: fewer threads, same result.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "ecbench/ecbmath.h"

/* No machine this runs on has more cores; bounds the stack array below. */
#define ECB_PAR_MAX_THREADS 1024

typedef struct par_job {
    ecb_task_fn fn;
    void *ctx;
    size_t ntasks;
    atomic_size_t next;
    atomic_size_t fail_task; /* lowest failing task, or SIZE_MAX */
    pthread_mutex_t lock;    /* guards fail_rc together with fail_task */
    int fail_rc;
} par_job;

typedef struct par_worker {
    par_job *job;
    size_t id;
} par_worker;

static void par_loop(par_job *j, size_t worker)
{
    for (;;) {
        size_t t = atomic_fetch_add(&j->next, 1);
        if (t >= j->ntasks || t > atomic_load(&j->fail_task)) return;
        int rc = j->fn(j->ctx, t, worker);
        if (rc) {
            pthread_mutex_lock(&j->lock);
            if (t < atomic_load(&j->fail_task)) {
                atomic_store(&j->fail_task, t);
                j->fail_rc = rc;
            }
            pthread_mutex_unlock(&j->lock);
        }
    }
}

static void *par_thread(void *arg)
{
    par_worker *w = arg;
    par_loop(w->job, w->id);
    return NULL;
}

int ecb_parallel_for(size_t ntasks, size_t threads, ecb_task_fn fn, void *ctx)
{
    if (threads > ntasks) threads = ntasks;
    if (threads > ECB_PAR_MAX_THREADS) threads = ECB_PAR_MAX_THREADS;
    if (threads <= 1) {
        for (size_t t = 0; t < ntasks; t++) {
            int rc = fn(ctx, t, 0);
            if (rc) return rc;
        }
        return 0;
    }
    par_job j;
    j.fn = fn;
    j.ctx = ctx;
    j.ntasks = ntasks;
    j.fail_rc = 0;
    atomic_init(&j.next, 0);
    atomic_init(&j.fail_task, SIZE_MAX);
    pthread_mutex_init(&j.lock, NULL);
    pthread_t *tid = malloc((threads - 1) * sizeof *tid);
    par_worker *w = malloc((threads - 1) * sizeof *w);
    size_t started = 0;
    if (tid && w) {
        for (; started < threads - 1; started++) {
            w[started].job = &j;
            w[started].id = started + 1;
            if (pthread_create(&tid[started], NULL, par_thread, &w[started]) != 0) break;
        }
    }
    par_loop(&j, 0);
    for (size_t t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.lock);
    free(tid);
    free(w);
    return j.fail_rc;
}
