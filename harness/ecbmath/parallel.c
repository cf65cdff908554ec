/*
 * The one thread fan-out of ecbench (search, chain, k-means): a parallel-for
 * over task indices with a shared counter, run by a persistent pool.
 *
 * Why a counter rather than fixed ranges: tasks (corpus blocks, k-means
 * point ranges) are of unequal cost on a shared machine, and a counter keeps
 * every worker busy. Callers that need results independent of the thread
 * count make each task's output depend only on its index (the task grid
 * never depends on `threads`) and merge per-task or per-worker results in a
 * fixed order afterwards.
 *
 * Why a pool: a scan of a small corpus takes a millisecond or less, and
 * creating threads per call (then joining them) cost more than the second
 * thread gained: 2 threads were slower than 1 on siftsmall (issue 13). The
 * pool's threads are created the first time a call asks for them and then
 * wait on a condition variable between calls. The caller posts a job, works
 * on it itself as worker 0, and waits only for the tasks that were claimed:
 * a pool thread that wakes late finds no task left and never delays the
 * caller. That is why a job lives on the heap with a reference count: a late
 * thread may still read its counters after the caller has returned.
 *
 * Rules (ecbmath.h states the contract):
 *  - One job at a time. A call made while a job is running (a nested call
 *    from a task, or a call from another thread) runs on its calling thread
 *    alone: the same results (the grid does not depend on threads), no
 *    oversubscription, and no thread ever waits for another caller's job.
 *  - fork: the child has no pool threads (only the forking thread survives),
 *    so a pthread_atfork handler forgets them in the child, and its first
 *    parallel call creates its own. The isolation layer (harness/isolate.c)
 *    forks every cell from a parent whose pool may be running. Forking from
 *    inside a task is not supported (the child would wait for tasks that
 *    dead threads had claimed).
 *  - Shutdown: ecb_parallel_shutdown (declared for the host in
 *    harness/team.h; the toolkit library does not export it) joins the
 *    threads; it also runs at exit. The next call creates them again.
 *
 * Errors: a task returning non-zero records (task, rc) if it is the lowest
 * failing task so far; no task above the lowest recorded failure is started.
 * Since tasks are claimed in increasing order, every task below the lowest
 * failing one has been claimed before it and runs to completion, so the
 * reported failure is the same whatever the scheduling. The error message a
 * task sets (per-thread) stays in the thread that ran it: callers that need
 * it copy it into their context.
 *
 * If a thread cannot be created, the threads already in the pool (and the
 * calling thread) do the remaining work: fewer threads, same result.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "ecbench/ecbmath.h"

/* No machine this runs on has more cores; bounds the pool's thread table. */
#define ECB_PAR_MAX_THREADS 1024

typedef struct par_job {
    ecb_task_fn fn;
    void *ctx;
    size_t ntasks, threads;
    atomic_size_t next;      /* next task to claim */
    atomic_size_t done;      /* tasks finished (or skipped after a failure) */
    atomic_size_t joined;    /* pool threads that took a worker id */
    atomic_size_t refs;      /* the caller and every pool thread that took the job */
    atomic_size_t fail_task; /* lowest failing task, or SIZE_MAX */
    pthread_mutex_t lock;    /* guards fail_rc, and the caller's wake-up */
    pthread_cond_t all_done;
    int fail_rc;
} par_job;

static struct {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* a job was posted, or stop */
    par_job *job;         /* the running job, or NULL */
    uint64_t gen;         /* jobs posted so far */
    size_t nthreads;
    int stop;
    pthread_t tid[ECB_PAR_MAX_THREADS - 1];
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, {0}};

/* Jobs posted so far, readable without the lock (g_pool.gen's twin, for
 * the spin below). */
static atomic_uint_fast64_t g_posted;

static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;
static _Thread_local int t_pool_thread; /* this thread is one of the pool's */
static atomic_size_t g_created;         /* threads created, ever (tests) */

static void job_release(par_job *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1) return;
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->all_done);
    free(j);
}

static void job_work(par_job *j, size_t worker)
{
    for (;;) {
        size_t u = atomic_fetch_add(&j->next, 1);
        if (u >= j->ntasks) return;
        /* a task after a lower failure is skipped, but still counts as finished */
        if (u < atomic_load(&j->fail_task)) {
            int rc = j->fn(j->ctx, u, worker);
            if (rc) {
                pthread_mutex_lock(&j->lock);
                if (u < atomic_load(&j->fail_task)) {
                    atomic_store(&j->fail_task, u);
                    j->fail_rc = rc;
                }
                pthread_mutex_unlock(&j->lock);
            }
        }
        if (atomic_fetch_add(&j->done, 1) + 1 == j->ntasks) {
            pthread_mutex_lock(&j->lock);
            pthread_cond_signal(&j->all_done);
            pthread_mutex_unlock(&j->lock);
        }
    }
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* How long a thread spins for the other side before it blocks: a pool
 * thread after its job, for the next one; the caller after its own tasks,
 * for the pool's last. Blocked, a thread woke 20-45 microseconds after the
 * signal (measured on these VMs, quiet), and a search posts two or three
 * jobs back to back (scan, merge; a batch pass follows the last), so each
 * of them paid that wake-up; a scan of a small corpus at 2 threads takes
 * 150-250 microseconds in all. The spin ends at once when the awaited
 * event comes, and costs at most this much CPU when it does not. */
enum { SPIN_NS = 100000 };

/* One step of a spin that began at t0: 0 once SPIN_NS have passed. */
static int spin_on(uint64_t t0)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    return now_ns() - t0 < SPIN_NS;
}

static void *pool_thread(void *arg)
{
    (void)arg;
    t_pool_thread = 1;
    uint64_t seen = 0;
    pthread_mutex_lock(&g_pool.lock);
    for (;;) {
        while (!g_pool.stop && (!g_pool.job || g_pool.gen == seen))
            pthread_cond_wait(&g_pool.wake, &g_pool.lock);
        if (g_pool.stop) break;
        par_job *j = g_pool.job;
        seen = g_pool.gen;
        atomic_fetch_add(&j->refs, 1);
        pthread_mutex_unlock(&g_pool.lock);
        size_t w = atomic_fetch_add(&j->joined, 1) + 1;
        if (w < j->threads) job_work(j, w);
        job_release(j);
        /* the next job, if one comes soon */
        for (uint64_t t0 = now_ns(); atomic_load(&g_posted) == seen && spin_on(t0);) {}
        pthread_mutex_lock(&g_pool.lock);
    }
    pthread_mutex_unlock(&g_pool.lock);
    return NULL;
}

static void pool_prefork(void) { pthread_mutex_lock(&g_pool.lock); }
static void pool_postfork_parent(void) { pthread_mutex_unlock(&g_pool.lock); }

/* The child has only the forking thread: forget the others (their stacks
 * are gone; a job of another thread of the parent is left to leak). */
static void pool_postfork_child(void)
{
    g_pool.job = NULL;
    g_pool.nthreads = 0;
    g_pool.stop = 0;
    pthread_mutex_unlock(&g_pool.lock);
    pthread_cond_init(&g_pool.wake, NULL);
}

void ecb_parallel_shutdown(void)
{
    pthread_mutex_lock(&g_pool.lock);
    /* misuse (a job is running) or another shutdown under way */
    if (g_pool.job || g_pool.stop || t_pool_thread) {
        pthread_mutex_unlock(&g_pool.lock);
        return;
    }
    g_pool.stop = 1;
    pthread_cond_broadcast(&g_pool.wake);
    size_t n = g_pool.nthreads;
    pthread_mutex_unlock(&g_pool.lock);
    for (size_t i = 0; i < n; i++) pthread_join(g_pool.tid[i], NULL);
    pthread_mutex_lock(&g_pool.lock);
    g_pool.nthreads = 0;
    g_pool.stop = 0;
    pthread_mutex_unlock(&g_pool.lock);
}

static void pool_atexit(void)
{
    /* exit() from a pool thread cannot join it; nor is there anything to
     * join cleanly while another thread's job runs */
    if (t_pool_thread) return;
    ecb_parallel_shutdown();
}

static void pool_once(void)
{
    pthread_atfork(pool_prefork, pool_postfork_parent, pool_postfork_child);
    atexit(pool_atexit);
}

/* Grow the pool to want threads (called with g_pool.lock held). Pool
 * threads block every signal: they outlive the call that made them, and a
 * signal meant for the process belongs to the threads that handle it. */
static void pool_grow(size_t want)
{
    if (g_pool.nthreads >= want) return;
    sigset_t all, old;
    sigfillset(&all);
    /* a fault is the faulting thread's: blocked, it would kill the process
     * past any handler the cell installed */
    static const int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof sync_sigs / sizeof *sync_sigs; i++) sigdelset(&all, sync_sigs[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (g_pool.nthreads < want) {
        if (pthread_create(&g_pool.tid[g_pool.nthreads], NULL, pool_thread, NULL) != 0) break;
        g_pool.nthreads++;
        atomic_fetch_add(&g_created, 1);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int run_inline(size_t ntasks, ecb_task_fn fn, void *ctx)
{
    for (size_t t = 0; t < ntasks; t++) {
        int rc = fn(ctx, t, 0);
        if (rc) return rc;
    }
    return 0;
}

int ecb_parallel_for(size_t ntasks, size_t threads, ecb_task_fn fn, void *ctx)
{
    if (threads > ntasks) threads = ntasks;
    if (threads > ECB_PAR_MAX_THREADS) threads = ECB_PAR_MAX_THREADS;
    if (threads <= 1 || t_pool_thread) return run_inline(ntasks, fn, ctx);
    pthread_once(&g_pool_once, pool_once);
    par_job *j = malloc(sizeof *j);
    if (!j) return run_inline(ntasks, fn, ctx);
    j->fn = fn;
    j->ctx = ctx;
    j->ntasks = ntasks;
    j->threads = threads;
    j->fail_rc = 0;
    atomic_init(&j->next, 0);
    atomic_init(&j->done, 0);
    atomic_init(&j->joined, 0);
    atomic_init(&j->refs, 1);
    atomic_init(&j->fail_task, SIZE_MAX);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->all_done, NULL);

    pthread_mutex_lock(&g_pool.lock);
    if (g_pool.job || g_pool.stop) { /* busy: see the rules above */
        pthread_mutex_unlock(&g_pool.lock);
        job_release(j);
        return run_inline(ntasks, fn, ctx);
    }
    pool_grow(threads - 1);
    g_pool.job = j;
    g_pool.gen++;
    atomic_store(&g_posted, g_pool.gen);
    size_t helpers = g_pool.nthreads < threads - 1 ? g_pool.nthreads : threads - 1;
    if (helpers == g_pool.nthreads) pthread_cond_broadcast(&g_pool.wake);
    else
        for (size_t i = 0; i < helpers; i++) pthread_cond_signal(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);

    job_work(j, 0);
    /* the pool's last tasks, if they end soon */
    for (uint64_t t0 = now_ns(); atomic_load(&j->done) < ntasks && spin_on(t0);) {}
    pthread_mutex_lock(&j->lock);
    while (atomic_load(&j->done) < ntasks) pthread_cond_wait(&j->all_done, &j->lock);
    int rc = j->fail_rc;
    pthread_mutex_unlock(&j->lock);

    /* threads that have not taken the job yet never will */
    pthread_mutex_lock(&g_pool.lock);
    g_pool.job = NULL;
    pthread_mutex_unlock(&g_pool.lock);
    job_release(j);
    return rc;
}

size_t ecb_parallel_pool_threads(void)
{
    pthread_mutex_lock(&g_pool.lock);
    size_t n = g_pool.nthreads;
    pthread_mutex_unlock(&g_pool.lock);
    return n;
}

size_t ecb_parallel_threads_created(void) { return atomic_load(&g_created); }
