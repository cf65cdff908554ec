/*
 * Memory budgets (DESIGN D6): "which method wins at 64 bytes per vector, or
 * with 2 GiB for 30M passages?"
 *
 * What a cell costs against a budget, per vector:
 *   bytes_per_vector                    (the codes)
 * + rescore_bytes / n_corpus            (the second representation rescoring
 *                                        reads; it has to be stored too)
 * + aux_bytes / N                       (codebooks, rotations, thresholds:
 *                                        amortised over the budget's corpus
 *                                        size N, or the evaluated corpus when
 *                                        the budget is per vector)
 * A cell fits when that cost is at most the budget's bytes per vector. The
 * budget strings themselves are parsed in harness/budget_spec.c, where the
 * config reader checks them too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/budget_spec.h"
#include "reports/reports.h"

double ecb_budget_cost(const ecb_budget *b, double bytes_per_vector, double rescore_bytes,
                       double aux_bytes, double n_corpus)
{
    double cost = bytes_per_vector;
    if (!isnan(rescore_bytes) && rescore_bytes > 0 && n_corpus > 0) cost += rescore_bytes / n_corpus;
    double amort = b && b->corpus_size > 0 ? b->corpus_size : n_corpus;
    if (!isnan(aux_bytes) && aux_bytes > 0 && amort > 0) cost += aux_bytes / amort;
    return cost;
}

typedef struct { double x, y; size_t i; } pt;

static int cmp_pt(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    if (p->y != q->y) return p->y > q->y ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

size_t ecb_pareto(const double *x, const double *y, size_t n, int x_lower_better, size_t *idx)
{
    pt *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i]))
            v[m++] = (pt){x_lower_better ? x[i] : -x[i], y[i], i};
    qsort(v, m, sizeof *v, cmp_pt);
    /* Walk from the best x: a point is on the frontier when it beats every
     * point with a better (or equal) x. */
    size_t k = 0;
    double best = -INFINITY;
    for (size_t j = 0; j < m; j++)
        if (v[j].y > best) {
            best = v[j].y;
            idx[k++] = v[j].i;
        }
    free(v);
    if (!x_lower_better) /* collected by x descending: flip to ascending */
        for (size_t a = 0, b = k ? k - 1 : 0; a < b; a++, b--) {
            size_t t = idx[a];
            idx[a] = idx[b];
            idx[b] = t;
        }
    return k;
}
