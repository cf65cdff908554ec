/*
 * Order statistics and quantiles without sorting (sq's percentile and
 * quantile calibration; binary's and lsh's medians can use the same).
 *
 * Why keys: values are ranked by their bits in IEEE total order (the order
 * of a radix sort by the usual float key: -NaN < -inf < ... < -0 < +0 < ...
 * < +inf < NaN), so the value of rank r is, bit for bit, element r of such a
 * sort, whatever the algorithm that finds it; a quantile computed from it
 * therefore does not move when a sort is replaced by a selection.
 *
 * Selection: MSD radix selection on the integer keys (digits of 12, 10 and
 * 10 bits), descending only into the buckets that hold wanted ranks: about
 * two passes over the data for a few ranks, an MSD radix sort when nearly
 * every bucket is wanted; O(n) either way, deterministic, branch-light.
 * Columns of a row-major matrix are gathered 16 at a time (one cache line
 * of each row), not one strided column at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "ecbench/ecbmath.h"

enum {
    SEL_SMALL = 32,    /* insertion sort below this */
    SEL_GROUP = 16,    /* columns gathered per task (64 bytes of a row) */
    SEL_BUCKETS = 4096, /* digits: 12 bits, then 10, then 10 */
};

static inline uint32_t sel_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float sel_unkey(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void sel_insertion(uint32_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--) a[j] = a[j - 1];
        a[j] = v;
    }
}

/* Keys of the wanted ranks r[0..nr) (ascending, distinct, absolute: a[0..n)
 * holds ranks [base, base+n)) into out[0..nr). MSD radix selection: one
 * histogram pass over the level's digit, one pass moving only the elements
 * of the buckets holding wanted ranks to their sorted place in tmp, then the
 * next digit within those buckets (a's space is free by then: it is their
 * scratch). Branch-light, unlike a quickselect's comparisons (which, on
 * random data, mispredict half the time). scratch: 3 x 2 x SEL_BUCKETS. */
static void sel_radix(uint32_t *a, size_t n, size_t base, const size_t *r, size_t nr,
                      uint32_t *out, uint32_t *tmp, size_t *scratch, unsigned level)
{
    if (nr == 0) return;
    if (n <= SEL_SMALL) {
        sel_insertion(a, n);
        for (size_t t = 0; t < nr; t++) out[t] = a[r[t] - base];
        return;
    }
    const unsigned sh = level == 0 ? 20 : level == 1 ? 10 : 0;
    const size_t nb = level == 0 ? SEL_BUCKETS : 1024;
    const uint32_t mk = (uint32_t)nb - 1;
    size_t *st = scratch + level * 2 * SEL_BUCKETS, *pos = st + SEL_BUCKETS;
    memset(st, 0, nb * sizeof *st);
    for (size_t i = 0; i < n; i++) st[a[i] >> sh & mk]++;
    size_t off = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t c = st[b];
        st[b] = off;
        off += c;
        pos[b] = SIZE_MAX;
    }
    /* the buckets of the wanted ranks (ranks and buckets both ascend) */
    size_t b = 0;
    for (size_t t = 0; t < nr; t++) {
        size_t k = r[t] - base;
        while (b + 1 < nb && st[b + 1] <= k) b++;
        pos[b] = st[b];
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = a[i];
        size_t bi = v >> sh & mk, p = pos[bi];
        if (p != SIZE_MAX) {
            tmp[p] = v;
            pos[bi] = p + 1;
        }
    }
    b = 0;
    for (size_t t = 0; t < nr;) {
        size_t k = r[t] - base;
        while (b + 1 < nb && st[b + 1] <= k) b++;
        size_t lo = st[b], hi = b + 1 < nb ? st[b + 1] : n, u = t;
        while (u < nr && r[u] - base < hi) u++;
        if (level == 2) /* all 32 bits decided: the bucket's keys are equal */
            for (size_t v = t; v < u; v++) out[v] = tmp[lo];
        else
            sel_radix(tmp + lo, hi - lo, base + lo, r + t, u - t, out + t, a + lo, scratch,
                      level + 1);
        t = u;
    }
}

/* Wanted ranks sorted and deduplicated: uniq[0..*nu) ascending, and for
 * each input t its position pos[t] in uniq. */
static int sel_plan(const size_t *ranks, size_t nr, size_t n, size_t *uniq, size_t *nu,
                    size_t *pos)
{
    for (size_t t = 0; t < nr; t++)
        if (ranks[t] >= n) return ECB_EINVAL;
    memcpy(uniq, ranks, nr * sizeof *uniq);
    /* few ranks: insertion sort */
    for (size_t i = 1; i < nr; i++) {
        size_t v = uniq[i], j = i;
        for (; j > 0 && uniq[j - 1] > v; j--) uniq[j] = uniq[j - 1];
        uniq[j] = v;
    }
    size_t u = 0;
    for (size_t i = 0; i < nr; i++)
        if (u == 0 || uniq[u - 1] != uniq[i]) uniq[u++] = uniq[i];
    *nu = u;
    for (size_t t = 0; t < nr; t++) {
        size_t lo = 0, hi = u;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (uniq[mid] <= ranks[t]) lo = mid;
            else hi = mid;
        }
        pos[t] = lo;
    }
    return 0;
}

int ecb_select_ranks(const float *v, size_t n, const size_t *ranks, size_t nr, float *out)
{
    if (nr == 0) return 0;
    size_t *uniq = malloc(nr * sizeof *uniq), *pos = malloc(nr * sizeof *pos);
    uint32_t *ok = malloc(nr * sizeof *ok), *a = malloc(n * sizeof *a);
    uint32_t *tmp = malloc(n * sizeof *tmp);
    size_t *scratch = malloc(6 * SEL_BUCKETS * sizeof *scratch);
    int rc = ECB_ENOMEM;
    if (!uniq || !pos || !ok || !a || !tmp || !scratch) goto out;
    size_t nu;
    if ((rc = sel_plan(ranks, nr, n, uniq, &nu, pos)) != 0) goto out;
    for (size_t i = 0; i < n; i++) a[i] = sel_key(v[i]);
    sel_radix(a, n, 0, uniq, nu, ok, tmp, scratch, 0);
    for (size_t t = 0; t < nr; t++) out[t] = sel_unkey(ok[pos[t]]);
out:
    free(uniq);
    free(pos);
    free(ok);
    free(a);
    free(tmp);
    free(scratch);
    return rc;
}

typedef struct {
    const float *x;
    size_t n, d, ld;
    const size_t *uniq, *pos;
    size_t nu, nr;
    float *out;
} sel_cols;

/* Task: columns [16 task, 16 task + 16) gathered row by row into keys. */
static int sel_cols_task(void *arg, size_t task, size_t worker)
{
    (void)worker;
    const sel_cols *c = arg;
    size_t j0 = task * SEL_GROUP, g = c->d - j0 < SEL_GROUP ? c->d - j0 : SEL_GROUP, n = c->n;
    uint32_t *keys = malloc(g * n * sizeof *keys), *tmp = malloc(n * sizeof *tmp);
    uint32_t *ok = malloc(c->nu * sizeof *ok);
    size_t *scratch = malloc(6 * SEL_BUCKETS * sizeof *scratch);
    int rc = keys && tmp && ok && scratch ? 0 : ECB_ENOMEM;
    if (rc) goto out;
    for (size_t i = 0; i < n; i++) {
        const float *row = c->x + i * c->ld + j0;
        for (size_t u = 0; u < g; u++) keys[u * n + i] = sel_key(row[u]);
    }
    for (size_t u = 0; u < g; u++) {
        sel_radix(keys + u * n, n, 0, c->uniq, c->nu, ok, tmp, scratch, 0);
        float *o = c->out + (j0 + u) * c->nr;
        for (size_t t = 0; t < c->nr; t++) o[t] = sel_unkey(ok[c->pos[t]]);
    }
out:
    free(keys);
    free(tmp);
    free(ok);
    free(scratch);
    return rc;
}

int ecb_column_ranks(const float *x, size_t n, size_t d, size_t ld, const size_t *ranks,
                     size_t nr, float *out, size_t threads)
{
    if (nr == 0 || d == 0) return 0;
    if (ld < d) return ECB_EINVAL;
    size_t *uniq = malloc(nr * sizeof *uniq), *pos = malloc(nr * sizeof *pos);
    int rc = ECB_ENOMEM;
    if (uniq && pos) {
        size_t nu;
        rc = sel_plan(ranks, nr, n, uniq, &nu, pos);
        if (!rc) {
            sel_cols c = {.x = x, .n = n, .d = d, .ld = ld, .uniq = uniq, .pos = pos,
                          .nu = nu, .nr = nr, .out = out};
            rc = ecb_parallel_for((d + SEL_GROUP - 1) / SEL_GROUP, threads, sel_cols_task, &c);
        }
    }
    free(uniq);
    free(pos);
    return rc;
}

/* ---- quantiles: numpy's linear interpolation between order statistics --- */

/* The ranks quantile p of n values reads: r[0] = floor(p (n-1)) and, unless
 * that is the last, r[1] = r[0] + 1. Returns how many. */
static size_t q_ranks(size_t n, double p, size_t r[2])
{
    double pos = p * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i >= n - 1) {
        r[0] = n - 1;
        return 1;
    }
    r[0] = i;
    r[1] = i + 1;
    return 2;
}

/* lo, hi: the values of the ranks q_ranks gave (hi unused when only one). */
static float q_lerp(size_t n, double p, float lo, float hi)
{
    double pos = p * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i >= n - 1) return lo;
    double f = pos - (double)i;
    return (float)((double)lo + f * ((double)hi - (double)lo));
}

static int q_check(size_t n, const double *p, size_t np)
{
    if (n == 0) return ECB_EINVAL;
    for (size_t t = 0; t < np; t++)
        if (!(p[t] >= 0.0 && p[t] <= 1.0)) return ECB_EINVAL;
    return 0;
}

/* The two ranks of every p (the second repeats the first when alone). */
static size_t *q_rank_list(size_t n, const double *p, size_t np)
{
    size_t *r = malloc(2 * np * sizeof *r);
    if (!r) return NULL;
    for (size_t t = 0; t < np; t++) {
        size_t two[2];
        size_t c = q_ranks(n, p[t], two);
        r[2 * t] = two[0];
        r[2 * t + 1] = c == 2 ? two[1] : two[0];
    }
    return r;
}

int ecb_quantiles(const float *v, size_t n, const double *p, size_t np, float *out)
{
    int rc = q_check(n, p, np);
    if (rc || np == 0) return rc;
    size_t *r = q_rank_list(n, p, np);
    float *val = malloc(2 * np * sizeof *val);
    rc = r && val ? ecb_select_ranks(v, n, r, 2 * np, val) : ECB_ENOMEM;
    if (!rc)
        for (size_t t = 0; t < np; t++) out[t] = q_lerp(n, p[t], val[2 * t], val[2 * t + 1]);
    free(r);
    free(val);
    return rc;
}

int ecb_column_quantiles(const float *x, size_t n, size_t d, size_t ld, const double *p,
                         size_t np, float *out, size_t threads)
{
    int rc = q_check(n, p, np);
    if (rc || np == 0 || d == 0) return rc;
    size_t *r = q_rank_list(n, p, np);
    float *val = NULL;
    size_t cells;
    if (r && !__builtin_mul_overflow(d, 2 * np, &cells)) val = malloc(cells * sizeof *val);
    rc = val ? ecb_column_ranks(x, n, d, ld, r, 2 * np, val, threads) : ECB_ENOMEM;
    if (!rc)
        for (size_t j = 0; j < d; j++)
            for (size_t t = 0; t < np; t++)
                out[j * np + t] =
                    q_lerp(n, p[t], val[j * 2 * np + 2 * t], val[j * 2 * np + 2 * t + 1]);
    free(r);
    free(val);
    return rc;
}
