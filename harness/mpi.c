/*
 * Open MPI start-up and the cells-over-ranks protocol (see mpi.h).
 *
 * Protocol of a sweep: every message from a worker to rank 0 (tag UP) is
 * [u64 cell][f64 seconds][u8 last-of-unit] followed by a packed
 * ecb_cell_result (cell = UINT64_MAX: "ready", no result). Rank 0 answers
 * each one (tag DOWN) with u64 words: [STOP], [CONT] (go on with the
 * unit), or [WORK, cell...] (the pending cells of the next unit). One
 * answer per message keeps both sides in lock-step, so a signal at rank 0
 * stops every worker after its current cell, as in a single process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ecb.h"
#include "harness/mpi.h"

#ifdef ECB_HAVE_MPI
#include <mpi.h>
#endif

static int g_init, g_rank, g_size = 1;

int ecb_mpi_rank(void) { return g_rank; }
int ecb_mpi_size(void) { return g_size; }

/* The size an MPI launcher announced in the environment, 0 when none. */
static long launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                       "MPI_LOCALNRANKS", NULL};
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atol(v) > 0 ? atol(v) : 1;
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

#ifndef ECB_HAVE_MPI

int ecb_mpi_built(void) { return 0; }

int ecb_mpi_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    long n = launched_size();
    if (n > 1)
        return ecb_fail(ECB_EINVAL, "started by an MPI launcher with %ld ranks, but this ecbench "
                        "was built without MPI (install libopenmpi-dev and rebuild with "
                        "-Dmpi=enabled)", n);
    return 0;
}

void ecb_mpi_finalize(void) {}
int ecb_mpi_agree(int rc) { return rc; }
int ecb_mpi_bcast_int(int *v) { (void)v; return 0; }
int ecb_mpi_agree_msg(int rc) { return rc; }
int ecb_mpi_bcast(void *p, size_t n) { (void)p; (void)n; return 0; }
int ecb_mpi_max_double(double *v) { (void)v; return 0; }
int ecb_mpi_reduce_max_float(float *v, size_t n) { (void)v; (void)n; return 0; }
int ecb_mpi_barrier(void) { return 0; }

static int copy_bytes(const void *p, size_t n, char **all, size_t *counts)
{
    if (!(*all = ecb_malloc(n ? n : 1))) return ECB_ENOMEM;
    if (n) memcpy(*all, p, n);
    if (counts) counts[0] = n;
    return 0;
}
int ecb_mpi_gather(const void *p, size_t n, char **all, size_t *counts)
{
    return copy_bytes(p, n, all, counts);
}
int ecb_mpi_allgather(const void *p, size_t n, char **all, size_t *counts)
{
    return copy_bytes(p, n, all, counts);
}

int ecb_mpi_sweep_lead(const ecb_units *u, const unsigned char *pending,
                       const ecb_mpi_sweep_ops *ops)
{
    (void)u;
    (void)pending;
    (void)ops;
    return ecb_fail(ECB_EINVAL, "this ecbench was built without MPI");
}

int ecb_mpi_sweep_work(const ecb_mpi_sweep_ops *ops)
{
    (void)ops;
    return ecb_fail(ECB_EINVAL, "this ecbench was built without MPI");
}

#else

enum { TAG_UP = 101, TAG_DOWN = 102 };
enum { MSG_STOP = 0, MSG_CONT = 1, MSG_WORK = 2 };
#define HDR (8 + 8 + 1)

int ecb_mpi_built(void) { return 1; }

int ecb_mpi_init(int *argc, char ***argv)
{
    if (!launched_size()) return 0;
    int prov = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS)
        return ecb_fail(ECB_EIO, "MPI_Init_thread failed");
    g_init = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return 0;
}

void ecb_mpi_finalize(void)
{
    if (g_init) MPI_Finalize();
    g_init = 0;
}

/* Sleep between polls: short at first (a reply is usually quick), up to
 * 2 ms while nothing happens. */
static void nap(unsigned *us)
{
    struct timespec ts = {0, (long)*us * 1000L};
    nanosleep(&ts, NULL);
    if (*us < 2000) *us *= 2;
}

static void wait_req(MPI_Request *r)
{
    unsigned us = 20;
    int done = 0;
    for (;;) {
        MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nap(&us);
    }
}

static int send_lazy(const void *p, size_t n, int dest, int tag)
{
    if (n > (size_t)INT32_MAX) return ecb_fail(ECB_ERANGE, "MPI message of %zu bytes", n);
    MPI_Request r;
    MPI_Isend(p, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &r);
    wait_req(&r);
    return 0;
}

/* Receive one message (any source when src < 0) into a malloc'd buffer. */
static int recv_lazy(int src, int tag, unsigned char **out, size_t *n, int *from,
                     int (*stopping)(void *), void *ctx, int *stop_seen)
{
    unsigned us = 20;
    MPI_Status st;
    int flag = 0;
    for (;;) {
        MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, tag, MPI_COMM_WORLD, &flag, &st);
        if (flag) break;
        if (stopping && stop_seen && !*stop_seen && stopping(ctx)) *stop_seen = 1;
        nap(&us);
    }
    int cnt = 0;
    MPI_Get_count(&st, MPI_BYTE, &cnt);
    unsigned char *b = ecb_malloc(cnt > 0 ? (size_t)cnt : 1);
    if (!b) return ECB_ENOMEM;
    MPI_Recv(b, cnt, MPI_BYTE, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    *out = b;
    *n = (size_t)cnt;
    if (from) *from = st.MPI_SOURCE;
    return 0;
}

int ecb_mpi_agree(int rc)
{
    if (!g_init || g_size == 1) return rc;
    int *all = ecb_calloc((size_t)g_size, sizeof *all);
    if (!all) return rc ? rc : ECB_ENOMEM; /* cannot agree: give up on this rank */
    MPI_Allgather(&rc, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    int out = 0, who = -1;
    for (int r = 0; r < g_size && !out; r++)
        if (all[r]) {
            out = all[r];
            who = r;
        }
    free(all);
    if (out && who != g_rank)
        ecb_fail(out, "rank %d failed to start (its message is in its own output)", who);
    return out;
}

int ecb_mpi_bcast_int(int *v)
{
    if (g_init && g_size > 1) MPI_Bcast(v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return 0;
}

/* ---- collectives ------------------------------------------------------------ */

int ecb_mpi_agree_msg(int rc)
{
    if (!g_init || g_size == 1) return rc;
    int *all = ecb_calloc((size_t)g_size, sizeof *all);
    if (!all) return rc ? rc : ECB_ENOMEM;
    MPI_Request r;
    MPI_Iallgather(&rc, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, &r);
    wait_req(&r);
    int out = 0, who = 0;
    for (int k = 0; k < g_size && !out; k++)
        if (all[k]) {
            out = all[k];
            who = k;
        }
    free(all);
    if (!out) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", who == g_rank ? ecb_last_error() : "");
    MPI_Ibcast(msg, (int)sizeof msg, MPI_CHAR, who, MPI_COMM_WORLD, &r);
    wait_req(&r);
    msg[sizeof msg - 1] = '\0';
    return ecb_fail(out, "MPI rank %d: %s", who, msg);
}

static int gather_impl(const void *p, size_t n, char **all, size_t *counts, int everyone)
{
    *all = NULL;
    size_t S = (size_t)g_size;
    uint64_t mine = n, *cnt = ecb_malloc_array(S, sizeof *cnt);
    int *ic = ecb_malloc_array(S, sizeof *ic), *disp = ecb_malloc_array(S, sizeof *disp);
    int rc = cnt && ic && disp ? 0 : ECB_ENOMEM;
    MPI_Request r;
    /* every rank takes part even after a local failure (then with 0 bytes) */
    if (rc) mine = 0;
    uint64_t dummy[1];
    MPI_Iallgather(&mine, 1, MPI_UINT64_T, cnt ? cnt : dummy, cnt ? 1 : 0, MPI_UINT64_T,
                   MPI_COMM_WORLD, &r);
    wait_req(&r);
    uint64_t tot = 0;
    for (size_t k = 0; !rc && k < S; k++) {
        if (tot > (uint64_t)INT32_MAX - cnt[k]) {
            rc = ecb_fail(ECB_ERANGE, "MPI gather of more than 2 GiB (%s)", "split the queries");
            break;
        }
        disp[k] = (int)tot;
        ic[k] = (int)cnt[k];
        tot += cnt[k];
        if (counts) counts[k] = (size_t)cnt[k];
    }
    if (!rc && (everyone || g_rank == 0) && !(*all = ecb_malloc(tot ? tot : 1))) rc = ECB_ENOMEM;
    if (rc) { /* cannot take part consistently: the whole job stops */
        ecb_log(ECB_LOG_ERROR, "MPI rank %d: %s", g_rank, ecb_last_error());
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (everyone)
        MPI_Iallgatherv(p, (int)n, MPI_BYTE, *all, ic, disp, MPI_BYTE, MPI_COMM_WORLD, &r);
    else
        MPI_Igatherv(p, (int)n, MPI_BYTE, *all, ic, disp, MPI_BYTE, 0, MPI_COMM_WORLD, &r);
    wait_req(&r);
    free(cnt);
    free(ic);
    free(disp);
    return 0;
}

int ecb_mpi_gather(const void *p, size_t n, char **all, size_t *counts)
{
    if (!g_init || g_size == 1) {
        if (!(*all = ecb_malloc(n ? n : 1))) return ECB_ENOMEM;
        if (n) memcpy(*all, p, n);
        if (counts) counts[0] = n;
        return 0;
    }
    return gather_impl(p, n, all, counts, 0);
}

int ecb_mpi_allgather(const void *p, size_t n, char **all, size_t *counts)
{
    if (!g_init || g_size == 1) return ecb_mpi_gather(p, n, all, counts);
    return gather_impl(p, n, all, counts, 1);
}

int ecb_mpi_bcast(void *p, size_t n)
{
    if (!g_init || g_size == 1) return 0;
    unsigned char *b = p;
    while (n) { /* in pieces below INT_MAX */
        int part = n > (1u << 30) ? (1 << 30) : (int)n;
        MPI_Request r;
        MPI_Ibcast(b, part, MPI_BYTE, 0, MPI_COMM_WORLD, &r);
        wait_req(&r);
        b += part;
        n -= (size_t)part;
    }
    return 0;
}

int ecb_mpi_max_double(double *v)
{
    if (!g_init || g_size == 1) return 0;
    double in = *v;
    MPI_Request r;
    MPI_Iallreduce(&in, v, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &r);
    wait_req(&r);
    return 0;
}

int ecb_mpi_reduce_max_float(float *v, size_t n)
{
    if (!g_init || g_size == 1) return 0;
    float *out = g_rank == 0 ? ecb_malloc_array(n ? n : 1, sizeof *out) : NULL;
    if (g_rank == 0 && !out) {
        ecb_log(ECB_LOG_ERROR, "MPI rank 0: out of memory in a reduction");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (size_t off = 0; off < n;) {
        int part = n - off > (1u << 28) ? (1 << 28) : (int)(n - off);
        MPI_Request r;
        MPI_Ireduce(v + off, out ? out + off : NULL, part, MPI_FLOAT, MPI_MAX, 0, MPI_COMM_WORLD,
                    &r);
        wait_req(&r);
        off += (size_t)part;
    }
    if (out) {
        memcpy(v, out, n * sizeof *v);
        free(out);
    }
    return 0;
}

int ecb_mpi_barrier(void)
{
    if (!g_init || g_size == 1) return 0;
    MPI_Request r;
    MPI_Ibarrier(MPI_COMM_WORLD, &r);
    wait_req(&r);
    return 0;
}

static int reply(int dest, uint64_t kind, const uint64_t *cells, size_t n)
{
    uint64_t *m = ecb_malloc_array(n + 1, sizeof *m);
    if (!m) return ECB_ENOMEM;
    m[0] = kind;
    if (n) memcpy(m + 1, cells, n * sizeof *m);
    int rc = send_lazy(m, (n + 1) * sizeof *m, dest, TAG_DOWN);
    free(m);
    return rc;
}

int ecb_mpi_sweep_lead(const ecb_units *u, const unsigned char *pending,
                       const ecb_mpi_sweep_ops *ops)
{
    size_t nr = (size_t)g_size;
    unsigned char *taken = ecb_calloc(u->n ? u->n : 1, 1);
    size_t *busy = ecb_calloc(u->ngroups ? u->ngroups : 1, sizeof *busy);
    size_t *cur = ecb_malloc_array(nr, sizeof *cur), *last = ecb_malloc_array(nr, sizeof *last);
    size_t maxc = 1;
    for (size_t i = 0; i < u->n; i++)
        if (u->units[i].count > maxc) maxc = u->units[i].count;
    uint64_t *cells = ecb_malloc_array(maxc, sizeof *cells);
    int rc = taken && busy && cur && last && cells ? 0 : ECB_ENOMEM;
    for (size_t r = 0; !rc && r < nr; r++) cur[r] = last[r] = SIZE_MAX;
    for (size_t i = 0; !rc && i < u->n; i++) {
        size_t k = 0;
        for (size_t c = 0; pending && c < u->units[i].count; c++) k += pending[u->units[i].first + c];
        taken[i] = k == 0;
    }
    size_t active = nr - 1;
    int stop = 0, stop_rc = 0;
    while (!rc && active) {
        unsigned char *m = NULL;
        size_t n = 0;
        int from = 0;
        if ((rc = recv_lazy(-1, TAG_UP, &m, &n, &from, ops->stopping, ops->ctx, &stop))) break;
        uint64_t cell = UINT64_MAX;
        double secs = 0;
        unsigned char lastc = 1;
        if (n >= HDR) {
            memcpy(&cell, m, 8);
            memcpy(&secs, m + 8, 8);
            lastc = m[16];
        }
        if (cell != UINT64_MAX) {
            int r2 = ops->record(ops->ctx, (size_t)cell, from, secs, (const char *)m + HDR, n - HDR);
            if (r2 && !stop_rc) {
                stop_rc = r2;
                stop = 1;
            }
        }
        free(m);
        if (!stop && ops->stopping(ops->ctx)) stop = 1;
        size_t w = (size_t)from;
        if (!stop && cell != UINT64_MAX && !lastc) {
            rc = reply(from, MSG_CONT, NULL, 0);
            continue;
        }
        if (cur[w] != SIZE_MAX) { /* its unit is finished (or abandoned) */
            busy[cur[w]]--;
            last[w] = cur[w];
            cur[w] = SIZE_MAX;
        }
        size_t next = stop ? SIZE_MAX : ecb_units_next(u, taken, busy, last[w]);
        if (next == SIZE_MAX) {
            rc = reply(from, MSG_STOP, NULL, 0);
            active--;
            continue;
        }
        const ecb_unit *un = &u->units[next];
        taken[next] = 1;
        busy[un->group]++;
        cur[w] = un->group;
        size_t k = 0;
        for (size_t c = 0; c < un->count; c++)
            if (pending[un->first + c]) cells[k++] = un->first + c;
        rc = reply(from, MSG_WORK, cells, k);
    }
    free(taken);
    free(busy);
    free(cur);
    free(last);
    free(cells);
    return rc ? rc : stop_rc;
}

static int send_up(uint64_t cell, double secs, int lastc, const char *p, size_t n)
{
    unsigned char *m = ecb_malloc(HDR + n);
    if (!m) return ECB_ENOMEM;
    memcpy(m, &cell, 8);
    memcpy(m + 8, &secs, 8);
    m[16] = (unsigned char)lastc;
    if (n) memcpy(m + HDR, p, n);
    int rc = send_lazy(m, HDR + n, 0, TAG_UP);
    free(m);
    return rc;
}

int ecb_mpi_sweep_work(const ecb_mpi_sweep_ops *ops)
{
    uint64_t *cells = NULL;
    size_t ncells = 0, next = 0;
    int rc = send_up(UINT64_MAX, 0, 1, NULL, 0);
    while (!rc) {
        unsigned char *m = NULL;
        size_t n = 0;
        if ((rc = recv_lazy(0, TAG_DOWN, &m, &n, NULL, NULL, NULL, NULL))) break;
        uint64_t kind = MSG_STOP;
        if (n >= 8) memcpy(&kind, m, 8);
        if (kind == MSG_WORK) {
            free(cells);
            ncells = (n - 8) / 8;
            cells = ecb_malloc_array(ncells ? ncells : 1, sizeof *cells);
            if (!cells) rc = ECB_ENOMEM;
            else memcpy(cells, m + 8, ncells * 8);
            next = 0;
        }
        free(m);
        if (rc || kind == MSG_STOP || next >= ncells) break;
        size_t c = (size_t)cells[next++];
        ecb_buf b = {0};
        double t0 = ecb_now();
        int crc = ops->compute(ops->ctx, c, &b);
        double secs = ecb_now() - t0;
        /* a result that could not be packed goes up empty: rank 0 makes
         * it the cell's error row */
        rc = send_up(c, secs, next == ncells, crc ? NULL : b.p, crc ? 0 : b.len);
        ecb_buf_free(&b);
    }
    free(cells);
    return rc;
}

#endif
