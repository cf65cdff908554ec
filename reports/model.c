/*
 * The report's model: rows grouped into datasets x corpus sizes, the
 * baseline of every row, the ranking metric of every dataset, and the small
 * questions the writers ask about a row (its family, its variant, its cost
 * under a budget, its value as a percentage of the baseline's).
 *
 * Every grouping is a hash partition and every lookup an index, so a
 * results.csv with 100,000 columns or rows is read in time linear in its
 * size (a name lookup per row and column made it quadratic once).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "reports/model.h"

double ecb_rpt_num(const ecb_table *t, size_t r, int c)
{
    double v;
    return ecb_table_num(t, r, c, &v) ? v : NAN;
}

/* ---- lookups ----------------------------------------------------------------- */

static uint64_t str_hash(const char *s)
{
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, s, strlen(s));
    return ecb_hash_final(&h);
}

int ecb_strindex_init(ecb_strindex *ix, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2 + 1) {
        if (cap > SIZE_MAX / 4) return ecb_fail(ECB_ENOMEM, "index of %zu keys too large", expected);
        cap *= 2;
    }
    ix->n = 0;
    ix->cap = cap;
    ix->key = ecb_calloc(cap, sizeof *ix->key);
    ix->val = ecb_calloc(cap, sizeof *ix->val);
    if (!ix->key || !ix->val) {
        free(ix->key);
        free(ix->val);
        ix->key = NULL;
        ix->val = NULL;
        ix->cap = 0;
        return ECB_ENOMEM;
    }
    return 0;
}

static size_t slot_of(const ecb_strindex *ix, const char *key)
{
    size_t i = (size_t)str_hash(key) & (ix->cap - 1);
    while (ix->key[i] && strcmp(ix->key[i], key)) i = (i + 1) & (ix->cap - 1);
    return i;
}

int ecb_strindex_put(ecb_strindex *ix, const char *key, size_t val, size_t *existing)
{
    if ((ix->n + 1) * 2 > ix->cap) { /* keep the load under 1/2 */
        ecb_strindex big = {0};
        int rc = ecb_strindex_init(&big, ix->n + 1);
        if (rc) return rc;
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->key[i]) {
                size_t s = slot_of(&big, ix->key[i]);
                big.key[s] = ix->key[i];
                big.val[s] = ix->val[i];
            }
        big.n = ix->n;
        ecb_strindex_free(ix);
        *ix = big;
    }
    size_t s = slot_of(ix, key);
    if (ix->key[s]) {
        if (existing) *existing = ix->val[s];
        return 0;
    }
    ix->key[s] = key;
    ix->val[s] = val;
    ix->n++;
    return 1;
}

long ecb_strindex_get(const ecb_strindex *ix, const char *key)
{
    if (!ix->cap) return -1;
    size_t s = slot_of(ix, key);
    return ix->key[s] ? (long)ix->val[s] : -1;
}

void ecb_strindex_free(ecb_strindex *ix)
{
    free(ix->key);
    free(ix->val);
    memset(ix, 0, sizeof *ix);
}

int ecb_partition_build(const char *const *keys, size_t n, ecb_partition *p)
{
    memset(p, 0, sizeof *p);
    ecb_strindex ix = {0};
    int rc = ecb_strindex_init(&ix, n);
    if (rc) return rc;
    p->of = ecb_malloc_array(n ? n : 1, sizeof *p->of);
    p->rows = ecb_malloc_array(n ? n : 1, sizeof *p->rows);
    size_t *count = ecb_calloc(n + 1, sizeof *count);
    if (!p->of || !p->rows || !count) rc = ECB_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t g = 0;
        int r = ecb_strindex_put(&ix, keys[i], p->ngroups, &g);
        if (r < 0) { rc = r; break; }
        if (r == 1) g = p->ngroups++;
        p->of[i] = g;
        count[g]++;
    }
    if (!rc && !(p->start = ecb_calloc(p->ngroups + 1, sizeof *p->start))) rc = ECB_ENOMEM;
    if (!rc) { /* counting sort: stable, so members keep input order */
        for (size_t g = 0; g < p->ngroups; g++) p->start[g + 1] = p->start[g] + count[g];
        memcpy(count, p->start, p->ngroups * sizeof *count);
        for (size_t i = 0; i < n; i++) p->rows[count[p->of[i]]++] = i;
    }
    free(count);
    ecb_strindex_free(&ix);
    if (rc) ecb_partition_free(p);
    return rc;
}

void ecb_partition_free(ecb_partition *p)
{
    free(p->start);
    free(p->rows);
    free(p->of);
    memset(p, 0, sizeof *p);
}

char **ecb_row_keys(const ecb_table *t, const int *cols, size_t ncols)
{
    char **k = ecb_calloc(t->nrows ? t->nrows : 1, sizeof *k);
    if (!k) return NULL;
    for (size_t r = 0; r < t->nrows; r++) {
        size_t len = 1;
        for (size_t i = 0; i < ncols; i++) len += strlen(ecb_table_at(t, r, cols[i])) + 1;
        if (!(k[r] = ecb_malloc(len))) { ecb_keys_free(k, t->nrows); return NULL; }
        size_t o = 0;
        for (size_t i = 0; i < ncols; i++) {
            const char *s = ecb_table_at(t, r, cols[i]);
            size_t l = strlen(s);
            memcpy(k[r] + o, s, l);
            o += l;
            k[r][o++] = '\x1f'; /* unit separator: never in a key field's meaning */
        }
        k[r][o] = '\0';
    }
    return k;
}

void ecb_keys_free(char **keys, size_t n)
{
    if (!keys) return;
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
}

/* ---- baselines ------------------------------------------------------------------ */

static int status_ok(const char *s) { return !*s || strcmp(s, "ok") == 0; }

int ecb_baselines_resolve(const ecb_table *t, const char *method, const char *label, long *base)
{
    int cd = ecb_table_col(t, "dataset"), cs = ecb_table_col(t, "corpus_size");
    int cm = ecb_table_col(t, "mode"), cr = ecb_table_col(t, "rescore");
    int cst = ecb_table_col(t, "status"), cl = ecb_table_col(t, "label"), cme = ecb_table_col(t, "method");
    const char *want_label = label ? label : method;
    int k2c[] = {cd, cs}, k3c[] = {cd, cs, cm};
    char **k2 = ecb_row_keys(t, k2c, 2), **k3 = ecb_row_keys(t, k3c, 3);
    long *best = ecb_malloc_array(2 * t->nrows + 1, sizeof *best);
    ecb_strindex i2 = {0}, i3 = {0};
    int rc = (!k2 || !k3 || !best) ? ECB_ENOMEM : 0;
    if (!rc) rc = ecb_strindex_init(&i2, t->nrows);
    if (!rc) rc = ecb_strindex_init(&i3, t->nrows);
    /* A candidate scores 2 for the row's mode and 1 for the exact label; the
     * first best wins. So: the row's mode if any candidate has it, then the
     * label, then row order. */
    size_t nb = 0;
    for (size_t i = 0; !rc && i < t->nrows; i++) {
        const char *rs = ecb_table_at(t, i, cr), *lab = ecb_table_at(t, i, cl);
        if ((*rs && strcmp(rs, "none")) || !status_ok(ecb_table_at(t, i, cst))) continue;
        if (label ? strcmp(lab, label) != 0
                  : strcmp(ecb_table_at(t, i, cme), method) != 0 && strcmp(lab, method) != 0)
            continue;
        int lm = strcmp(lab, want_label) == 0;
        for (int k = 0; k < 2 && !rc; k++) {
            size_t g = 0;
            int r = ecb_strindex_put(k ? &i3 : &i2, k ? k3[i] : k2[i], nb, &g);
            if (r < 0) { rc = r; break; }
            if (r == 1) best[nb++] = (long)i;
            else if (lm && strcmp(ecb_table_at(t, (size_t)best[g], cl), want_label) != 0) best[g] = (long)i;
        }
    }
    for (size_t r = 0; !rc && r < t->nrows; r++) {
        base[r] = -1;
        if (!status_ok(ecb_table_at(t, r, cst))) continue;
        long g = ecb_strindex_get(&i3, k3[r]);
        if (g < 0) g = ecb_strindex_get(&i2, k2[r]);
        if (g >= 0) base[r] = best[g];
    }
    ecb_strindex_free(&i2);
    ecb_strindex_free(&i3);
    ecb_keys_free(k2, t->nrows);
    ecb_keys_free(k3, t->nrows);
    free(best);
    return rc;
}

/* ---- ranking metric ---------------------------------------------------------------- */

static int any_value(const ecb_table *t, const size_t *rows, size_t n, int c)
{
    for (size_t i = 0; c >= 0 && i < n; i++)
        if (!isnan(ecb_rpt_num(t, rows[i], c))) return 1;
    return 0;
}

void ecb_rank_metric(const ecb_table *t, const size_t *rows, size_t n, const char *wanted, char *buf,
                     size_t bufn)
{
    char cands[3][256];
    snprintf(cands[0], sizeof cands[0], "%.63s", wanted ? wanted : "ndcg@10");
    const char *at = strchr(cands[0], '@');
    snprintf(cands[1], sizeof cands[1], "knn_recall@%.20s", at ? at + 1 : "10");
    snprintf(cands[2], sizeof cands[2], "knn_recall@10");
    for (int i = 0; i < 3; i++)
        if (any_value(t, rows, n, ecb_table_col(t, cands[i]))) {
            snprintf(buf, bufn, "%.63s", cands[i]);
            return;
        }
    for (size_t c = 0; c < t->ncols; c++)
        if (ecb_is_quality_metric(t->head[c]) && any_value(t, rows, n, (int)c)) {
            snprintf(buf, bufn, "%.63s", t->head[c]);
            return;
        }
    if (bufn) buf[0] = '\0';
}

/* ---- the model ------------------------------------------------------------------------ */

static void cols_init(ecb_rpt_cols *c, const ecb_table *t)
{
#define C(f, n) c->f = ecb_table_col(t, n)
    C(id, "cell_id"); C(dataset, "dataset"); C(corpus_size, "corpus_size"); C(method, "method");
    C(params, "params"); C(label, "label"); C(mode, "mode"); C(rescore, "rescore"); C(status, "status");
    C(error, "error"); C(n_corpus, "n_corpus"); C(n_queries, "n_queries"); C(dim, "dim");
    C(bpv, "bytes_per_vector"); C(total_bpv, "total_bytes_per_vector"); C(aux, "aux_bytes"); C(index_bytes, "index_bytes");
    C(rescore_bytes, "rescore_bytes"); C(ratio, "compression_ratio"); C(bits, "bits_per_dim");
    C(p50, "query_p50_ms"); C(qps, "qps"); C(encode, "encode_vps"); C(significant, "significant");
    C(baseline_cell, "baseline_cell");
#undef C
}

static void slugify(const char *s, char *buf, size_t n)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++) {
        char ch = *s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) buf[o++] = ch;
        else if (ch >= 'A' && ch <= 'Z') buf[o++] = (char)(ch - 'A' + 'a');
        else if (o && buf[o - 1] != '-') buf[o++] = '-';
    }
    while (o && buf[o - 1] == '-') o--;
    buf[o] = '\0';
    if (!o) snprintf(buf, n, "dataset");
}

static int cmp_group(const void *a, const void *b)
{
    const ecb_rpt_group *x = a, *y = b;
    return x->n_corpus > y->n_corpus ? -1 : x->n_corpus < y->n_corpus; /* largest first */
}

/* Paper layout: nDCG at the smallest k, Recall at the largest, and the
 * fidelity kNN-recall at the smallest k. */
static void choose_table_metrics(ecb_report *R)
{
    const ecb_table *t = R->t;
    long kmin = -1, kmax = -1;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *h = t->head[c];
        if (!ecb_is_quality_metric(h)) continue;
        long k = strtol(strchr(h, '@') + 1, NULL, 10);
        if (kmin < 0 || k < kmin) kmin = k;
        if (k > kmax) kmax = k;
    }
    if (kmin < 0) return;
    char cand[3][64];
    snprintf(cand[0], 64, "ndcg@%ld", kmin);
    snprintf(cand[1], 64, "recall@%ld", kmax);
    snprintf(cand[2], 64, "knn_recall@%ld", kmin);
    size_t all = t->nrows;
    for (int i = 0; i < 3; i++) {
        int c = ecb_table_col(t, cand[i]);
        int any = 0;
        for (size_t r = 0; c >= 0 && r < all && !any; r++) any = !isnan(ecb_rpt_num(t, r, c));
        if (!any) continue;
        ecb_rpt_metric *m = &R->metrics[R->nmetrics++];
        snprintf(m->name, sizeof m->name, "%.63s", cand[i]);
        char name[96];
        m->col = c;
        snprintf(name, sizeof name, "p_%s", m->name);
        m->p = ecb_table_col(t, name);
        snprintf(name, sizeof name, "delta_%s", m->name);
        m->delta = ecb_table_col(t, name);
    }
}

/* Table order within a group: the baseline itself, then symmetric, then
 * asymmetric cells, each in results.csv order. */
static void order_rows(ecb_report *R, ecb_rpt_group *g, size_t *tmp)
{
    size_t k = 0;
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < g->n; i++) {
            size_t r = g->rows[i];
            int self = strcmp(ECB_AT(R, r, baseline_cell), ECB_AT(R, r, id)) == 0;
            int asym = strcmp(ECB_AT(R, r, mode), "asymmetric") == 0;
            if ((self ? 0 : asym ? 2 : 1) == pass) tmp[k++] = r;
        }
    memcpy(g->rows, tmp, g->n * sizeof *tmp);
}

/* Groups: dataset x corpus size, datasets in order of appearance; within a
 * run of one dataset, the largest corpus first (the dataset's main group). */
static int make_groups(ecb_report *R, char **ckeys, ecb_partition *gp)
{
    const ecb_table *t = R->t;
    for (size_t r = 0; r < t->nrows; r++) {
        double cs = ECB_NUM(R, r, corpus_size);
        const char *ds = ECB_AT(R, r, dataset);
        size_t len = strlen(ds) + 40;
        if (!(ckeys[r] = ecb_malloc(len))) return ECB_ENOMEM;
        if (isnan(cs)) snprintf(ckeys[r], len, "%s\x1fnan", ds);
        else snprintf(ckeys[r], len, "%s\x1f%.17g", ds, cs);
    }
    int rc = ecb_partition_build((const char *const *)ckeys, t->nrows, gp);
    if (rc) return rc;
    R->groups = ecb_calloc(gp->ngroups ? gp->ngroups : 1, sizeof *R->groups);
    if (!R->groups) return ECB_ENOMEM;
    R->ngroups = gp->ngroups;
    for (size_t g = 0; g < gp->ngroups; g++) {
        ecb_rpt_group *gr = &R->groups[g];
        size_t first = gp->rows[gp->start[g]];
        gr->dataset = ECB_AT(R, first, dataset);
        gr->corpus_size = ECB_NUM(R, first, corpus_size);
        gr->n = gp->start[g + 1] - gp->start[g];
        if (!(gr->rows = ecb_malloc_array(gr->n, sizeof *gr->rows))) return ECB_ENOMEM;
        memcpy(gr->rows, gp->rows + gp->start[g], gr->n * sizeof *gr->rows);
        for (size_t i = 0; i < gr->n; i++) {
            double n = ECB_NUM(R, gr->rows[i], n_corpus);
            if (n > gr->n_corpus) gr->n_corpus = n;
        }
    }
    for (size_t g = 0; g < R->ngroups;) {
        size_t e = g;
        while (e < R->ngroups && strcmp(R->groups[e].dataset, R->groups[g].dataset) == 0) e++;
        qsort(R->groups + g, e - g, sizeof *R->groups, cmp_group);
        R->groups[g].is_main = 1;
        g = e;
    }
    return 0;
}

/* Per group: its slug (unique: two datasets that slugify alike, or one
 * dataset in two runs of rows, get -2, -3...), the number of corpus sizes of
 * its dataset and its dataset's ranking metric. */
static int name_groups(ecb_report *R)
{
    const ecb_table *t = R->t;
    const char **gds = ecb_calloc(R->ngroups + 1, sizeof *gds);
    char **dkeys = ecb_calloc(t->nrows + 1, sizeof *dkeys);
    ecb_partition dp = {0}, gdp = {0};
    ecb_strindex used = {0};
    int rc = (!gds || !dkeys) ? ECB_ENOMEM : 0;
    for (size_t g = 0; g < R->ngroups; g++) gds[g] = R->groups[g].dataset;
    if (!rc) rc = ecb_partition_build(gds, R->ngroups, &gdp);
    for (size_t r = 0; r < t->nrows; r++) dkeys[r] = (char *)ECB_AT(R, r, dataset);
    if (!rc) rc = ecb_partition_build((const char *const *)dkeys, t->nrows, &dp);
    if (!rc) rc = ecb_strindex_init(&used, R->ngroups);
    for (size_t g = 0; !rc && g < R->ngroups; g++) {
        ecb_rpt_group *gr = &R->groups[g];
        gr->nsizes = gdp.start[gdp.of[g] + 1] - gdp.start[gdp.of[g]];
        char s[160], u[180];
        slugify(gr->dataset, s, 128);
        if (!gr->is_main) {
            size_t l = strlen(s);
            snprintf(s + l, sizeof s - l, "-n%.0f", gr->n_corpus);
        }
        snprintf(u, sizeof u, "%s", s);
        for (int k = 2; ecb_strindex_get(&used, u) >= 0; k++) snprintf(u, sizeof u, "%s-%d", s, k);
        if (!(gr->slug = ecb_strdup(u))) { rc = ECB_ENOMEM; break; }
        if ((rc = ecb_strindex_put(&used, gr->slug, g, NULL)) < 0) break;
        rc = 0;
        /* the dataset's rows are those of its first row's dataset group */
        size_t d = dp.of[gr->rows[0]];
        ecb_rank_metric(t, dp.rows + dp.start[d], dp.start[d + 1] - dp.start[d], R->man.budget_metric,
                        gr->metric, sizeof gr->metric);
        gr->metric_col = gr->metric[0] ? ecb_table_col(t, gr->metric) : -1;
    }
    ecb_strindex_free(&used);
    ecb_partition_free(&dp);
    ecb_partition_free(&gdp);
    free(gds);
    free(dkeys);
    return rc;
}

int ecb_report_model(ecb_report *R)
{
    const ecb_table *t = R->t;
    cols_init(&R->c, t);
    char **ckeys = ecb_calloc(t->nrows + 1, sizeof *ckeys);
    size_t *tmp = ecb_malloc_array(t->nrows + 1, sizeof *tmp);
    R->base = ecb_malloc_array(t->nrows + 1, sizeof *R->base);
    ecb_strindex ids = {0};
    ecb_partition gp = {0};
    int rc = (!ckeys || !tmp || !R->base) ? ECB_ENOMEM : ecb_strindex_init(&ids, t->nrows);
    for (size_t r = 0; !rc && r < t->nrows; r++)
        if ((rc = ecb_strindex_put(&ids, ECB_AT(R, r, id), r, NULL)) >= 0) rc = 0;
    for (size_t r = 0; !rc && r < t->nrows; r++) {
        const char *b = ECB_AT(R, r, baseline_cell);
        R->base[r] = *b ? ecb_strindex_get(&ids, b) : -1;
    }
    if (!rc) rc = make_groups(R, ckeys, &gp);
    if (!rc) rc = name_groups(R);
    for (size_t g = 0; !rc && g < R->ngroups; g++) order_rows(R, &R->groups[g], tmp);
    if (!rc) choose_table_metrics(R);
    ecb_partition_free(&gp);
    ecb_keys_free(ckeys, t->nrows);
    ecb_strindex_free(&ids);
    free(tmp);
    return rc;
}

void ecb_report_model_free(ecb_report *R)
{
    for (size_t g = 0; g < R->ngroups; g++) {
        free(R->groups[g].rows);
        free(R->groups[g].slug);
    }
    free(R->groups);
    free(R->base);
    R->groups = NULL;
    R->base = NULL;
    R->ngroups = 0;
}

/* ---- questions about a row ---------------------------------------------------------- */

int ecb_rpt_row_ok(const ecb_report *R, size_t r) { return status_ok(ECB_AT(R, r, status)); }

const char *const ecb_rpt_variant_names[4] = {"symmetric", "asymmetric", "symmetric+rescore",
                                              "asymmetric+rescore"};

int ecb_rpt_variant(const ecb_report *R, size_t r)
{
    const char *rs = ECB_AT(R, r, rescore);
    return (strcmp(ECB_AT(R, r, mode), "asymmetric") == 0) + 2 * (*rs && strcmp(rs, "none") != 0);
}

void ecb_rpt_family(const ecb_report *R, size_t r, char *buf, size_t n)
{
    const char *m = ECB_AT(R, r, method);
    size_t o = 0;
    int depth = 0;
    for (const char *p = m; *p && o + 1 < n; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (depth == 0) buf[o++] = *p;
    }
    buf[o] = '\0';
}

void ecb_rpt_cell_name(const ecb_report *R, size_t r, char *buf, size_t n)
{
    const char *rs = ECB_AT(R, r, rescore);
    int resc = *rs && strcmp(rs, "none");
    snprintf(buf, n, "%s%s%s%s", ECB_AT(R, r, label), strcmp(ECB_AT(R, r, mode), "asymmetric") == 0 ? " asym" : "",
             resc ? " +" : "", resc ? rs : "");
}

double ecb_rpt_cost(const ecb_report *R, size_t r, const ecb_budget *b)
{
    return ecb_budget_cost(b, ECB_NUM(R, r, bpv), ECB_NUM(R, r, rescore_bytes), ECB_NUM(R, r, aux),
                           ECB_NUM(R, r, n_corpus));
}

void ecb_rpt_metric_cell(const ecb_report *R, size_t r, const ecb_rpt_metric *m, double *v, double *pct,
                         int *mark)
{
    const ecb_table *t = R->t;
    *v = ecb_rpt_num(t, r, m->col);
    *pct = NAN;
    *mark = 0;
    long b = R->base[r];
    if (b >= 0) {
        double bv = ecb_rpt_num(t, (size_t)b, m->col);
        if (bv > 0 && !isnan(*v)) *pct = 100.0 * *v / bv;
    }
    double p = ecb_rpt_num(t, r, m->p), dl = ecb_rpt_num(t, r, m->delta);
    if (!isnan(p) && !isnan(dl) && p < R->alpha && (size_t)b != r) *mark = dl < 0 ? -1 : 1;
}

void ecb_rpt_budget_pick(const ecb_report *R, const ecb_rpt_group *g, const ecb_budget *b, long *best,
                         long *second)
{
    int mc = g->metric_col;
    *best = *second = -1;
    for (int pass = 0; pass < 2 && (pass == 0 || *best >= 0); pass++)
        for (size_t i = 0; i < g->n; i++) {
            size_t r = g->rows[i];
            double q = ecb_rpt_num(R->t, r, mc);
            if (!ecb_rpt_row_ok(R, r) || isnan(q) || !(ecb_rpt_cost(R, r, b) <= b->per_vector)) continue;
            long *slot = pass ? second : best;
            if (pass && strcmp(ECB_AT(R, r, label), ECB_AT(R, (size_t)*best, label)) == 0) continue;
            double qb = *slot >= 0 ? ecb_rpt_num(R->t, (size_t)*slot, mc) : -INFINITY;
            if (q > qb || (q == qb && ecb_rpt_cost(R, r, b) < ecb_rpt_cost(R, (size_t)*slot, b))) *slot = (long)r;
        }
}

void ecb_rpt_fmt_num(double v, char *buf, size_t n)
{
    if (isnan(v)) snprintf(buf, n, "–");
    else if (v == floor(v) && fabs(v) < 1e7) snprintf(buf, n, "%.0f", v);
    else if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3)) snprintf(buf, n, "%.3g", v);
    else if (fabs(v) >= 100) snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 10) snprintf(buf, n, "%.1f", v);
    else snprintf(buf, n, "%.3g", v);
}

int ecb_rpt_has_plot(const ecb_report *R, const char *name)
{
    return ecb_strindex_get(&R->plot_ix, name) >= 0;
}
