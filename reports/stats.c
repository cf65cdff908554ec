/*
 * Statistics against the baseline: results_stats.csv is results.csv plus,
 * per quality metric, the mean per-query difference to the baseline cell,
 * its bootstrap CI, and Holm-corrected randomization and t-test p-values,
 * then a "significant" verdict on the dataset's ranking metric.
 *
 * results.csv and per_query.csv are read through the results store
 * (harness/results.h), which checks their layout and rejects duplicate
 * cell_ids; the per-query join rejects a (cell_id, qid) pair given twice,
 * which would otherwise pair the wrong queries.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ecb.h"
#include "harness/stats.h"
#include "reports/model.h"
#include "reports/reports.h"

void ecb_stats_opts_default(ecb_stats_opts *o)
{
    o->permutations = 10000;
    o->bootstrap = 2000;
    o->alpha = 0.05;
    o->seed = 42;
}

static uint64_t hash_str(uint64_t seed, const char *a, const char *b)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, &seed, sizeof seed);
    ecb_hash_update(&h, a, strlen(a) + 1);
    ecb_hash_update(&h, b, strlen(b) + 1);
    return ecb_hash_final(&h);
}

/* ---- the per-query join ---------------------------------------------------------- */

typedef struct {
    const char *cell, *qid;
    size_t row;
} pq_key;

static int cmp_pq_key(const void *a, const void *b)
{
    const pq_key *x = a, *y = b;
    int c = strcmp(x->cell, y->cell);
    if (!c) c = strcmp(x->qid, y->qid);
    return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* per_query.csv sorted by (cell_id, qid), with each cell's range. */
typedef struct {
    const ecb_table *pq;
    pq_key *keys;
    ecb_strindex first; /* cell_id -> its first index in keys */
} pq_index;

static int pq_index_build(const ecb_table *pq, pq_index *ix)
{
    memset(ix, 0, sizeof *ix);
    ix->pq = pq;
    ix->keys = ecb_malloc_array(pq->nrows ? pq->nrows : 1, sizeof *ix->keys);
    if (!ix->keys) return ECB_ENOMEM;
    for (size_t i = 0; i < pq->nrows; i++)
        ix->keys[i] = (pq_key){ecb_table_at(pq, i, 0), ecb_table_at(pq, i, 1), i};
    qsort(ix->keys, pq->nrows, sizeof *ix->keys, cmp_pq_key);
    int rc = ecb_strindex_init(&ix->first, pq->nrows);
    for (size_t i = 0; !rc && i < pq->nrows; i++) {
        const pq_key *k = &ix->keys[i];
        if (i && strcmp(k->cell, k[-1].cell) == 0 && strcmp(k->qid, k[-1].qid) == 0)
            return ecb_fail(ECB_EFORMAT, "%s: cell %s, query %s appears in rows %zu and %zu: per-query "
                            "scores would be paired twice", pq->path, k->cell, k->qid, k[-1].row + 2,
                            k->row + 2);
        if ((rc = ecb_strindex_put(&ix->first, k->cell, i, NULL)) > 0) rc = 0;
    }
    return rc;
}

static void pq_index_free(pq_index *ix)
{
    free(ix->keys);
    ecb_strindex_free(&ix->first);
}

/* The rows of one cell: keys[*lo .. *hi). */
static void pq_range(const pq_index *ix, const char *cell, size_t *lo, size_t *hi)
{
    long f = ecb_strindex_get(&ix->first, cell);
    *lo = *hi = 0;
    if (f < 0) return;
    size_t e = (size_t)f;
    while (e < ix->pq->nrows && strcmp(ix->keys[e].cell, cell) == 0) e++;
    *lo = (size_t)f;
    *hi = e;
}

/* d[i] = cell - baseline of metric column c over the queries both have a
 * number for; returns their count. */
static size_t pq_pair(const pq_index *ix, size_t a0, size_t a1, size_t b0, size_t b1, int c, double *d)
{
    size_t n = 0;
    for (size_t i = a0, j = b0; i < a1 && j < b1;) {
        int k = strcmp(ix->keys[i].qid, ix->keys[j].qid);
        if (k < 0) { i++; continue; }
        if (k > 0) { j++; continue; }
        double x, y;
        if (ecb_table_num(ix->pq, ix->keys[i].row, c, &x) && ecb_table_num(ix->pq, ix->keys[j].row, c, &y))
            d[n++] = x - y;
        i++;
        j++;
    }
    return n;
}

/* ---- results_stats.csv ------------------------------------------------------------ */

static const char *const stat_pre[5] = {"delta_", "ci_lo_", "ci_hi_", "p_", "p_t_"};

/* results.csv's columns, baseline_cell, five statistics per metric and
 * significant; the results fields copied. */
static int stats_table(const ecb_table *res, const size_t *mc, size_t nm, ecb_table **out)
{
    size_t nc = res->ncols + 2 + 5 * nm;
    char **names = ecb_calloc(nc, sizeof *names);
    if (!names) return ECB_ENOMEM;
    int rc = 0;
    size_t k = 0;
    for (size_t c = 0; c < res->ncols; c++) names[k++] = res->head[c];
    names[k++] = "baseline_cell";
    for (size_t m = 0; !rc && m < nm; m++)
        for (size_t s = 0; s < 5; s++) {
            size_t len = strlen(stat_pre[s]) + strlen(res->head[mc[m]]) + 1;
            if (!(names[k] = ecb_malloc(len))) { rc = ECB_ENOMEM; break; }
            snprintf(names[k++], len, "%s%s", stat_pre[s], res->head[mc[m]]);
        }
    if (!rc) {
        names[k++] = "significant";
        rc = ecb_table_new((const char *const *)names, nc, out);
    }
    for (size_t i = res->ncols + 1; i < res->ncols + 1 + 5 * nm; i++) free(names[i]);
    free(names);
    for (size_t r = 0; !rc && r < res->nrows; r++) {
        long nr = ecb_table_add_row(*out);
        if (nr < 0) { rc = (int)nr; break; }
        for (size_t c = 0; !rc && c < res->ncols; c++) rc = ecb_table_set(*out, r, (int)c, ecb_table_at(res, r, (int)c));
    }
    if (rc) { ecb_table_free(*out); *out = NULL; }
    return rc;
}

/* Per-query statistics of every cell against its baseline. */
static int pair_stats(ecb_table *t, const ecb_table *res, const ecb_table *pq, const size_t *mc, size_t nm,
                      const long *base, const ecb_stats_opts *o, uint64_t seed, double *praw, double *ptraw)
{
    if (pq->ncols != 2 + nm)
        return ecb_fail(ECB_EFORMAT, "%s: %zu metric columns, but %s has %zu: the two files are not from "
                        "one run", pq->path, pq->ncols - 2, res->path, nm);
    for (size_t m = 0; m < nm; m++)
        if (strcmp(pq->head[2 + m], res->head[mc[m]]))
            return ecb_fail(ECB_EFORMAT, "%s: column %zu is %s, but %s's metric column %zu is %s: the two "
                            "files are not from one run", pq->path, m + 3, pq->head[2 + m], res->path,
                            m + 1, res->head[mc[m]]);
    pq_index ix;
    int rc = pq_index_build(pq, &ix);
    double *d = rc ? NULL : ecb_malloc_array(pq->nrows + 1, sizeof *d);
    if (!rc && !d) rc = ECB_ENOMEM;
    int first_stat = (int)res->ncols + 1;
    for (size_t r = 0; !rc && r < res->nrows; r++) {
        if (base[r] < 0) continue;
        const char *ida = ecb_table_at(res, r, 0), *idb = ecb_table_at(res, (size_t)base[r], 0);
        size_t a0, a1, b0, b1;
        pq_range(&ix, ida, &a0, &a1);
        pq_range(&ix, idb, &b0, &b1);
        if (a0 == a1 || b0 == b1) continue;
        int self = (size_t)base[r] == r;
        for (size_t m = 0; !rc && m < nm; m++) {
            size_t n = pq_pair(&ix, a0, a1, b0, b1, (int)(2 + m), d);
            if (!n) continue;
            double mean, sd, tt, pt, lo, hi;
            ecb_stats_mean_sd(d, n, &mean, &sd);
            ecb_stats_ttest(d, n, &tt, &pt);
            uint64_t s = hash_str(seed, ida, res->head[mc[m]]);
            double pr = ecb_stats_signflip(d, n, o->permutations, s);
            ecb_stats_bootstrap(d, n, o->bootstrap, 0.95, s, &lo, &hi);
            int c0 = first_stat + (int)m * 5;
            if ((rc = ecb_table_setf(t, r, c0, "%.6g", mean)) || (rc = ecb_table_setf(t, r, c0 + 1, "%.6g", lo)) ||
                (rc = ecb_table_setf(t, r, c0 + 2, "%.6g", hi)))
                break;
            /* The baseline against itself is not part of the family. */
            if (!self) {
                praw[r * nm + m] = pr;
                ptraw[r * nm + m] = pt;
            } else if ((rc = ecb_table_set(t, r, c0 + 3, "1")) || (rc = ecb_table_set(t, r, c0 + 4, "1"))) {
                break;
            }
        }
    }
    free(d);
    pq_index_free(&ix);
    return rc;
}

/* Holm across the cells of the sweep, per metric and per test; then
 * "significant" on each dataset's ranking metric: Holm-adjusted
 * randomization p below alpha, "loss" / "gain" / "no". */
static int holm_and_verdicts(ecb_table *t, const ecb_table *res, const size_t *mc, size_t nm, const long *base,
                             double alpha, const char *wanted, double *praw, double *ptraw)
{
    size_t R = res->nrows;
    int first_stat = (int)res->ncols + 1, c_sig = (int)t->ncols - 1, rc = 0;
    double *adj = ecb_malloc_array(R + 1, sizeof *adj);
    if (!adj) return ECB_ENOMEM;
    for (size_t m = 0; !rc && m < nm; m++)
        for (int k = 0; !rc && k < 2; k++) {
            double *src = k ? ptraw : praw;
            for (size_t r = 0; r < R; r++) adj[r] = src[r * nm + m];
            ecb_stats_holm(adj, R, adj);
            for (size_t r = 0; !rc && r < R; r++)
                if (!isnan(adj[r])) rc = ecb_table_setf(t, r, first_stat + (int)m * 5 + 3 + k, "%.6g", adj[r]);
        }
    free(adj);
    ecb_strindex mix = {0};
    ecb_partition dp = {0};
    int cd = ecb_table_col(res, "dataset");
    const char **ds = ecb_calloc(R + 1, sizeof *ds);
    if (!rc && !ds) rc = ECB_ENOMEM;
    for (size_t r = 0; !rc && r < R; r++) ds[r] = ecb_table_at(res, r, cd);
    if (!rc) rc = ecb_partition_build(ds, R, &dp);
    if (!rc) rc = ecb_strindex_init(&mix, nm);
    for (size_t m = 0; !rc && m < nm; m++)
        if ((rc = ecb_strindex_put(&mix, res->head[mc[m]], m, NULL)) > 0) rc = 0;
    for (size_t g = 0; !rc && g < dp.ngroups; g++) {
        const size_t *rows = dp.rows + dp.start[g];
        size_t n = dp.start[g + 1] - dp.start[g];
        char pm[64];
        ecb_rank_metric(res, rows, n, wanted, pm, sizeof pm);
        long m = pm[0] ? ecb_strindex_get(&mix, pm) : -1;
        if (m < 0) continue;
        int c0 = first_stat + (int)m * 5;
        for (size_t i = 0; !rc && i < n; i++) {
            size_t r = rows[i];
            if (base[r] < 0 || (size_t)base[r] == r) continue;
            double p = ecb_rpt_num(t, r, c0 + 3), dl = ecb_rpt_num(t, r, c0);
            if (isnan(p) || isnan(dl)) continue;
            rc = ecb_table_set(t, r, c_sig, p < alpha ? (dl < 0 ? "loss" : "gain") : "no");
        }
    }
    ecb_strindex_free(&mix);
    ecb_partition_free(&dp);
    free(ds);
    return rc;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int ecb_stats_build(const char *dir, const ecb_stats_opts *o, ecb_table **out)
{
    if (out) *out = NULL;
    ecb_stats_opts defo;
    if (!o) { ecb_stats_opts_default(&defo); o = &defo; }
    char *rp = ecb_rpt_pathf("%s/results.csv", dir), *qp = ecb_rpt_pathf("%s/per_query.csv", dir);
    char *sp = ecb_rpt_pathf("%s/results_stats.csv", dir), *mp = ecb_rpt_pathf("%s/manifest.json", dir);
    ecb_table *res = NULL, *pq = NULL, *t = NULL;
    ecb_run_manifest man;
    memset(&man, 0, sizeof man);
    size_t *mc = NULL, nm = 0;
    long *base = NULL;
    double *praw = NULL, *ptraw = NULL;
    int rc = (!rp || !qp || !sp || !mp) ? ECB_ENOMEM : 0;
    if (!rc) rc = ecb_results_load(rp, &res, NULL, NULL);
    if (!rc) rc = ecb_run_manifest_load(mp, &man);
    if (rc) goto done;
    if (man.budget_metric_given && ecb_table_col(res, man.budget_metric) < 0) {
        rc = ecb_fail(ECB_EFORMAT, "%s: $.config.budget_metric: \"%s\" is not a column of %s (its k list "
                      "does not hold that cutoff)", mp, man.budget_metric, rp);
        goto done;
    }
    uint64_t seed = man.has_seed ? man.seed : o->seed;
    mc = ecb_malloc_array(res->ncols + 1, sizeof *mc);
    base = ecb_malloc_array(res->nrows + 1, sizeof *base);
    size_t np = 0;
    if (!mc || !base) { rc = ECB_ENOMEM; goto done; }
    for (size_t c = 0; c < res->ncols; c++)
        if (ecb_is_quality_metric(res->head[c])) mc[nm++] = c;
    if (!ecb_mul_ok(res->nrows + 1, nm + 1, &np)) { rc = ecb_fail(ECB_ENOMEM, "%s: too large", rp); goto done; }
    praw = ecb_malloc_array(np, sizeof *praw);
    ptraw = ecb_malloc_array(np, sizeof *ptraw);
    if (!praw || !ptraw) { rc = ECB_ENOMEM; goto done; }
    for (size_t i = 0; i < np; i++) praw[i] = ptraw[i] = NAN;
    if ((rc = ecb_baselines_resolve(res, man.baseline_method, man.baseline_label, base)) ||
        (rc = stats_table(res, mc, nm, &t)))
        goto done;
    for (size_t r = 0; !rc && r < res->nrows; r++)
        if (base[r] >= 0) rc = ecb_table_set(t, r, (int)res->ncols, ecb_table_at(res, (size_t)base[r], 0));
    if (rc) goto done;
    if (file_exists(qp)) {
        if ((rc = ecb_per_query_load(qp, &pq)) ||
            (rc = pair_stats(t, res, pq, mc, nm, base, o, seed, praw, ptraw)))
            goto done;
    } else {
        ecb_log(ECB_LOG_WARN, "%s: not found; results_stats.csv has no per-query statistics", qp);
    }
    if ((rc = holm_and_verdicts(t, res, mc, nm, base, o->alpha, man.budget_metric, praw, ptraw))) goto done;
    rc = ecb_table_write(t, sp);
done:
    if (!rc && out) { *out = t; t = NULL; }
    ecb_table_free(t);
    ecb_table_free(res);
    ecb_table_free(pq);
    ecb_run_manifest_release(&man);
    free(mc); free(base); free(praw); free(ptraw);
    free(rp); free(qp); free(sp); free(mp);
    return rc;
}
