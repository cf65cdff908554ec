/*
 * ecb_team_for (team.h): the caller and up to threads - 1 detached threads
 * claim tasks from a shared counter. What a thread may touch after the
 * caller has returned is only the team record, which the last one out
 * frees; a task's fn and ctx are used only by a thread that claimed a task,
 * and the caller waits for every claimed task.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/ecb.h"
#include "harness/team.h"

typedef struct team {
    ecb_task_fn fn;
    void *ctx;
    size_t ntasks;
    atomic_size_t next, done, refs;
    atomic_size_t fail_task; /* lowest failing task, or SIZE_MAX */
    pthread_mutex_t lock;    /* guards fail_rc, and the wake-up of the caller */
    pthread_cond_t all_done;
    int fail_rc;
} team;

typedef struct team_member {
    team *t;
    size_t worker;
} team_member;

static void team_release(team *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1) return;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->all_done);
    free(t);
}

static void team_work(team *t, size_t worker)
{
    for (;;) {
        size_t u = atomic_fetch_add(&t->next, 1);
        if (u >= t->ntasks) return;
        /* a task after a lower failure is skipped, but still counts as finished */
        if (u < atomic_load(&t->fail_task)) {
            int rc = t->fn(t->ctx, u, worker);
            if (rc) {
                pthread_mutex_lock(&t->lock);
                if (u < atomic_load(&t->fail_task)) {
                    atomic_store(&t->fail_task, u);
                    t->fail_rc = rc;
                }
                pthread_mutex_unlock(&t->lock);
            }
        }
        if (atomic_fetch_add(&t->done, 1) + 1 == t->ntasks) {
            pthread_mutex_lock(&t->lock);
            pthread_cond_signal(&t->all_done);
            pthread_mutex_unlock(&t->lock);
        }
    }
}

static void *team_thread(void *arg)
{
    team_member m = *(team_member *)arg;
    free(arg);
    team_work(m.t, m.worker);
    team_release(m.t);
    return NULL;
}

int ecb_team_for(size_t ntasks, size_t threads, ecb_task_fn fn, void *ctx)
{
    if (threads > ntasks) threads = ntasks;
    if (threads <= 1) {
        for (size_t u = 0; u < ntasks; u++) {
            int rc = fn(ctx, u, 0);
            if (rc) return rc;
        }
        return 0;
    }
    team *t = ecb_calloc(1, sizeof *t);
    if (!t) return ECB_ENOMEM;
    t->fn = fn;
    t->ctx = ctx;
    t->ntasks = ntasks;
    atomic_init(&t->next, 0);
    atomic_init(&t->done, 0);
    atomic_init(&t->refs, 1);
    atomic_init(&t->fail_task, SIZE_MAX);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->all_done, NULL);
    pthread_attr_t attr;
    int detached = pthread_attr_init(&attr) == 0;
    if (detached && pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0) {
        pthread_attr_destroy(&attr);
        detached = 0;
    }
    for (size_t w = 1; detached && w < threads; w++) {
        team_member *m = malloc(sizeof *m);
        if (!m) break;
        *m = (team_member){t, w};
        atomic_fetch_add(&t->refs, 1);
        pthread_t tid;
        if (pthread_create(&tid, &attr, team_thread, m) != 0) {
            /* fewer threads, same result */
            atomic_fetch_sub(&t->refs, 1);
            free(m);
            break;
        }
    }
    if (detached) pthread_attr_destroy(&attr);
    team_work(t, 0);
    pthread_mutex_lock(&t->lock);
    while (atomic_load(&t->done) < ntasks) pthread_cond_wait(&t->all_done, &t->lock);
    int rc = t->fail_rc;
    pthread_mutex_unlock(&t->lock);
    team_release(t);
    return rc;
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
