/* Units of work, the --part partition and rank 0's hand-out order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/partition.h"

double ecb_groundtruth_cost(size_t rows, size_t dim, size_t nq)
{
    return 2.0 * (double)rows * (double)dim * (double)nq;
}

double ecb_cell_cost(const ecb_config *cfg, const ecb_cell *cell, size_t rows, size_t dim,
                     size_t nq)
{
    size_t nl = nq < cfg->latency_queries ? nq : cfg->latency_queries;
    /* scan of every query in a batch and of the timed ones alone, encode */
    double c = 2.0 * (double)rows * (double)dim * (double)(nq + nl) + 8.0 * (double)rows * dim;
    const ecb_rescore *r = &cfg->rescores[cell->rescore];
    if (r->factor)
        c += 2.0 * (double)(nq + nl) * (double)(cfg->ks[cfg->nk - 1] * r->factor) * (double)dim;
    for (size_t i = 0; i < cell->chain.n; i++)
        if (cell->chain.stages[i].plugin->vt.flags & ECB_METHOD_NEEDS_TRAIN) {
            /* k-means-like training: 256 centroids, 25 iterations */
            size_t ts = rows < cfg->train_size ? rows : cfg->train_size;
            c += 2.0 * (double)ts * (double)dim * 256.0 * 25.0;
            break;
        }
    return c;
}

void ecb_units_release(ecb_units *u)
{
    if (!u) return;
    free(u->units);
    free(u->groups);
    memset(u, 0, sizeof *u);
}

static int same_chain(const ecb_cell *a, const ecb_cell *b)
{
    return strcmp(a->method_col, b->method_col) == 0 && strcmp(a->params_col, b->params_col) == 0;
}

int ecb_units_build(const ecb_config *cfg, ecb_dataset *const *full, ecb_units *u)
{
    memset(u, 0, sizeof *u);
    size_t nc = cfg->n_cells ? cfg->n_cells : 1;
    u->units = ecb_calloc(nc, sizeof *u->units);
    u->groups = ecb_calloc(nc, sizeof *u->groups);
    if (!u->units || !u->groups) {
        ecb_units_release(u);
        return ECB_ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_cells; i++) {
        const ecb_cell *c = &cfg->cells[i];
        const ecb_dataset *d = full[c->dataset];
        size_t n = ecb_dataset_n_corpus(d);
        size_t rows = c->corpus_size && c->corpus_size < n ? c->corpus_size : n;
        size_t g = 0;
        while (g < u->ngroups &&
               !(u->groups[g].dataset == c->dataset && u->groups[g].corpus_size == rows))
            g++;
        if (g == u->ngroups) {
            ecb_unit_group *G = &u->groups[u->ngroups++];
            G->dataset = c->dataset;
            G->corpus_size = rows;
            G->dim = ecb_dataset_dim(d);
            G->nq = ecb_dataset_n_queries(d);
            G->gt_cost = ecb_groundtruth_cost(rows, G->dim, G->nq);
        }
        const ecb_unit_group *G = &u->groups[g];
        double cost = ecb_cell_cost(cfg, c, rows, G->dim, G->nq);
        ecb_unit *last = u->n ? &u->units[u->n - 1] : NULL;
        if (last && last->group == g && same_chain(&cfg->cells[last->first], c)) {
            last->count++;
            last->cost += cost;
        } else
            u->units[u->n++] = (ecb_unit){.first = i, .count = 1, .group = g, .cost = cost};
    }
    return 0;
}

/* Items sorted by cost descending, ties by index: the LPT order. */
typedef struct {
    double cost;
    size_t idx;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int ecb_partition(const ecb_units *u, size_t n_cells, size_t part, size_t nparts,
                  unsigned char *mine)
{
    if (nparts == 0 || part == 0 || part > nparts)
        return ecb_fail(ECB_EINVAL, "--part: expected i/n with 1 <= i <= n, got %zu/%zu", part,
                        nparts);
    memset(mine, 0, n_cells);
    int by_group = u->ngroups >= nparts;
    size_t ni = by_group ? u->ngroups : u->n;
    item *it = ecb_calloc(ni ? ni : 1, sizeof *it);
    double *load = ecb_calloc(nparts, sizeof *load);
    size_t *owner = ecb_calloc(ni ? ni : 1, sizeof *owner);
    if (!it || !load || !owner) {
        free(it);
        free(load);
        free(owner);
        return ECB_ENOMEM;
    }
    for (size_t i = 0; i < ni; i++) it[i].idx = i;
    for (size_t i = 0; i < u->n; i++) it[by_group ? u->units[i].group : i].cost += u->units[i].cost;
    if (by_group)
        for (size_t g = 0; g < u->ngroups; g++) it[g].cost += u->groups[g].gt_cost;
    qsort(it, ni, sizeof *it, cmp_item);
    for (size_t i = 0; i < ni; i++) {
        size_t best = 0;
        for (size_t p = 1; p < nparts; p++)
            if (load[p] < load[best]) best = p;
        load[best] += it[i].cost;
        owner[it[i].idx] = best;
    }
    for (size_t i = 0; i < u->n; i++) {
        const ecb_unit *un = &u->units[i];
        if (owner[by_group ? un->group : i] == part - 1)
            memset(mine + un->first, 1, un->count);
    }
    free(it);
    free(load);
    free(owner);
    return 0;
}

int ecb_part_parse(const char *s, size_t *part, size_t *nparts)
{
    char *e1, *e2;
    unsigned long i = strtoul(s, &e1, 10), n = 0;
    int ok = e1 != s && *e1 == '/' && s[0] >= '0' && s[0] <= '9';
    if (ok) {
        n = strtoul(e1 + 1, &e2, 10);
        ok = e2 != e1 + 1 && *e2 == '\0' && e1[1] >= '0' && e1[1] <= '9';
    }
    if (!ok || i < 1 || n < 1 || i > n || n > 100000)
        return ecb_fail(ECB_EINVAL, "--part: expected i/n with 1 <= i <= n <= 100000 (e.g. 2/4), "
                        "got \"%s\"", s);
    *part = i;
    *nparts = n;
    return 0;
}

size_t ecb_units_next(const ecb_units *u, const unsigned char *taken, const size_t *busy,
                      size_t last_group)
{
    size_t own = SIZE_MAX, idle = SIZE_MAX, any = SIZE_MAX;
    for (size_t i = 0; i < u->n; i++) {
        if (taken[i]) continue;
        double c = u->units[i].cost;
        size_t g = u->units[i].group;
        /* strictly greater: ties go to the earlier unit (config order) */
        if (g == last_group && (own == SIZE_MAX || c > u->units[own].cost)) own = i;
        if (!busy[g] && (idle == SIZE_MAX || c > u->units[idle].cost)) idle = i;
        if (any == SIZE_MAX || c > u->units[any].cost) any = i;
    }
    return own != SIZE_MAX ? own : idle != SIZE_MAX ? idle : any;
}
