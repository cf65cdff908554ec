/*
 * `ecbench report DIR`: statistics against the baseline (results_stats.csv),
 * report.md, LaTeX tables (booktabs) under tables/ and plots/ (gnuplot data
 * files, the static templates copied from reports/, PNG and SVG), rebuilt from
 * DIR/results.csv, DIR/per_query.csv and DIR/manifest.json alone.
 *
 * C writes data files and runs the templates with arguments; it never
 * builds plot code. plots/render.sh repeats the exact gnuplot commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ecb.h"
#include "common/install.h"
#include "harness/stats.h"
#include "reports/reports.h"

extern char **environ;


void ecb_stats_opts_default(ecb_stats_opts *o)
{
    o->permutations = 10000;
    o->bootstrap = 2000;
    o->alpha = 0.05;
    o->seed = 42;
}

/* ---- small helpers --------------------------------------------------------- */

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = ecb_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static double num(const ecb_table *t, size_t r, int c)
{
    double v;
    return ecb_table_num(t, r, c, &v) ? v : NAN;
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

/* manifest.json, or NULL when absent (the report still works without it). */
static cJSON *load_manifest(const char *dir)
{
    char *p = pathf("%s/manifest.json", dir);
    if (!p) return NULL;
    FILE *f = fopen(p, "rb");
    free(p);
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char tmp[8192];
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        memcpy(buf + len, tmp, n);
        len += n;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[len] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) ecb_log(ECB_LOG_WARN, "%s/manifest.json: not valid JSON; report without config", dir);
    return j;
}

static const cJSON *manifest_config(const cJSON *m)
{
    const cJSON *c = m ? cJSON_GetObjectItemCaseSensitive(m, "config") : NULL;
    return cJSON_IsObject(c) ? c : NULL;
}

/* ---- which metric ranks cells ------------------------------------------------ */

/* The budget/plot metric of one dataset: config's budget_metric (default
 * ndcg@10) if the dataset has values for it, else knn_recall@ the same k,
 * else knn_recall@10, else the first quality column with values. */
static const char *pick_metric(const ecb_table *t, const char *dataset, const char *wanted,
                               char *buf, size_t bufn)
{
    int cd = ecb_table_col(t, "dataset");
    char cands[3][256];
    snprintf(cands[0], sizeof cands[0], "%.63s", wanted ? wanted : "ndcg@10");
    const char *at = strchr(cands[0], '@');
    snprintf(cands[1], sizeof cands[1], "knn_recall@%.20s", at ? at + 1 : "10");
    snprintf(cands[2], sizeof cands[2], "knn_recall@10");
    for (int i = 0; i < 3; i++) {
        int c = ecb_table_col(t, cands[i]);
        if (c < 0) continue;
        for (size_t r = 0; r < t->nrows; r++)
            if ((!dataset || strcmp(ecb_table_at(t, r, cd), dataset) == 0) && !isnan(num(t, r, c))) {
                snprintf(buf, bufn, "%.63s", cands[i]);
                return buf;
            }
    }
    for (size_t c = 0; c < t->ncols; c++) {
        if (!ecb_is_quality_metric(t->head[c])) continue;
        for (size_t r = 0; r < t->nrows; r++)
            if ((!dataset || strcmp(ecb_table_at(t, r, cd), dataset) == 0) && !isnan(num(t, r, (int)c))) {
                snprintf(buf, bufn, "%.63s", t->head[c]);
                return buf;
            }
    }
    return NULL;
}

static const char *config_budget_metric(const cJSON *cfg)
{
    const cJSON *v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "budget_metric") : NULL;
    return cJSON_IsString(v) ? v->valuestring : "ndcg@10";
}

/* ---- statistics ---------------------------------------------------------- */

typedef struct { const char *key; size_t row; } keyrow;

static int cmp_keyrow(const void *a, const void *b)
{
    const keyrow *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* First index of key in sorted v (n entries), or n. */
static size_t find_key(const keyrow *v, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].key, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && strcmp(v[lo].key, key) == 0 ? lo : n;
}

typedef struct {
    const char *method;   /* plugin or chain name */
    const char *label;    /* exact label, or NULL */
} baseline_spec;

static int is_baseline(const ecb_table *t, size_t r, const baseline_spec *b)
{
    const char *lab = ecb_table_at(t, r, ecb_table_col(t, "label"));
    if (b->label) return strcmp(lab, b->label) == 0;
    return strcmp(ecb_table_at(t, r, ecb_table_col(t, "method")), b->method) == 0 ||
           strcmp(lab, b->method) == 0;
}

/* The baseline row for row r: same dataset, corpus_size and mode (else any
 * mode), rescore none, status ok; prefers the default-params label. */
static long find_baseline(const ecb_table *t, size_t r, const baseline_spec *b)
{
    int cd = ecb_table_col(t, "dataset"), cs = ecb_table_col(t, "corpus_size");
    int cm = ecb_table_col(t, "mode"), cr = ecb_table_col(t, "rescore");
    int cst = ecb_table_col(t, "status"), cl = ecb_table_col(t, "label");
    long best = -1;
    int best_score = -1;
    for (size_t i = 0; i < t->nrows; i++) {
        if (strcmp(ecb_table_at(t, i, cd), ecb_table_at(t, r, cd)) ||
            strcmp(ecb_table_at(t, i, cs), ecb_table_at(t, r, cs)))
            continue;
        const char *rs = ecb_table_at(t, i, cr);
        if (*rs && strcmp(rs, "none")) continue;
        const char *st = ecb_table_at(t, i, cst);
        if (*st && strcmp(st, "ok")) continue;
        if (!is_baseline(t, i, b)) continue;
        int score = (strcmp(ecb_table_at(t, i, cm), ecb_table_at(t, r, cm)) == 0) * 2 +
                    (strcmp(ecb_table_at(t, i, cl), b->label ? b->label : b->method) == 0);
        if (score > best_score) { best = (long)i; best_score = score; }
    }
    return best;
}

int ecb_stats_build(const char *dir, const ecb_stats_opts *o, ecb_table **out)
{
    if (out) *out = NULL;
    ecb_stats_opts defo;
    if (!o) { ecb_stats_opts_default(&defo); o = &defo; }
    char *rp = pathf("%s/results.csv", dir), *qp = pathf("%s/per_query.csv", dir);
    char *sp = pathf("%s/results_stats.csv", dir);
    ecb_table *t = NULL, *pq = NULL;
    cJSON *man = NULL;
    keyrow *idx = NULL, *ra = NULL, *rb = NULL;
    double *d = NULL, *praw = NULL, *ptraw = NULL, *adj = NULL;
    size_t *metric_cols = NULL;
    long *base = NULL;
    int rc = 0;
    if (!rp || !qp || !sp) { rc = ECB_ENOMEM; goto done; }
    if ((rc = ecb_table_read(rp, &t))) goto done;
    static const char *const required[] = {"cell_id", "dataset", "corpus_size", "method", "label",
                                           "mode", "rescore", "status"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++)
        if (ecb_table_col(t, required[i]) < 0) {
            rc = ecb_fail(ECB_EFORMAT, "%s: missing column \"%s\" (is this an ecbench results.csv?)",
                          rp, required[i]);
            goto done;
        }
    man = load_manifest(dir);
    const cJSON *cfg = manifest_config(man);
    baseline_spec bs = {"float32", NULL};
    const cJSON *bj = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "baseline") : NULL;
    if (cJSON_IsObject(bj)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(bj, "method");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(bj, "label");
        if (cJSON_IsString(m)) bs.method = m->valuestring;
        if (cJSON_IsString(l)) bs.label = l->valuestring;
    } else if (cJSON_IsString(bj)) {
        bs.method = bj->valuestring;
    }
    const cJSON *sj = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "seed") : NULL;
    /* a manifest is input like any other: convert only in-range seeds */
    uint64_t seed = (cJSON_IsNumber(sj) && sj->valuedouble >= 0 && sj->valuedouble < 9.0e15)
                        ? (uint64_t)sj->valuedouble : o->seed;

    size_t nm = 0;
    metric_cols = ecb_calloc(t->ncols + 1, sizeof *metric_cols);
    if (!metric_cols) { rc = ECB_ENOMEM; goto done; }
    for (size_t c = 0; c < t->ncols; c++)
        if (ecb_is_quality_metric(t->head[c])) metric_cols[nm++] = c;
    /* Names are copied: adding columns reallocates head. */
    char (*mname)[64] = ecb_calloc(nm ? nm : 1, sizeof *mname);
    if (!mname) { rc = ECB_ENOMEM; goto done; }
    for (size_t m = 0; m < nm; m++) snprintf(mname[m], sizeof mname[m], "%.63s", t->head[metric_cols[m]]);

    int c_base = ecb_table_add_col(t, "baseline_cell");
    if (c_base < 0) { rc = c_base; free(mname); goto done; }
    int first_stat = (int)t->ncols;
    for (size_t m = 0; m < nm; m++) {
        static const char *const pre[] = {"delta_", "ci_lo_", "ci_hi_", "p_", "p_t_"};
        for (size_t k = 0; k < 5; k++) {
            char name[96];
            snprintf(name, sizeof name, "%s%s", pre[k], mname[m]);
            int c = ecb_table_add_col(t, name);
            if (c < 0) { rc = c; free(mname); goto done; }
        }
    }
    int c_sig = ecb_table_add_col(t, "significant");
    if (c_sig < 0) { rc = c_sig; free(mname); goto done; }
#define STATCOL(m, k) (first_stat + (int)(m) * 5 + (k))

    int cid = ecb_table_col(t, "cell_id"), cst = ecb_table_col(t, "status");
    base = ecb_calloc(t->nrows ? t->nrows : 1, sizeof *base);
    praw = ecb_calloc((t->nrows + 1) * (nm + 1), sizeof *praw);
    ptraw = ecb_calloc((t->nrows + 1) * (nm + 1), sizeof *ptraw);
    adj = ecb_calloc(t->nrows + 1, sizeof *adj);
    if (!base || !praw || !ptraw || !adj) { rc = ECB_ENOMEM; free(mname); goto done; }
    for (size_t i = 0; i < (t->nrows + 1) * (nm + 1); i++) praw[i] = ptraw[i] = NAN;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *st = ecb_table_at(t, r, cst);
        base[r] = (*st && strcmp(st, "ok")) ? -1 : find_baseline(t, r, &bs);
        if (base[r] >= 0) ecb_table_set(t, r, c_base, ecb_table_at(t, (size_t)base[r], cid));
    }

    if (file_exists(qp)) {
        if ((rc = ecb_table_read(qp, &pq))) { free(mname); goto done; }
        int qcid = ecb_table_col(pq, "cell_id"), qq = ecb_table_col(pq, "qid");
        if (qcid < 0 || qq < 0) {
            rc = ecb_fail(ECB_EFORMAT, "%s: expected columns cell_id and qid", qp);
            free(mname);
            goto done;
        }
        int *qmc = ecb_calloc(nm ? nm : 1, sizeof *qmc);
        idx = ecb_calloc(pq->nrows ? pq->nrows : 1, sizeof *idx);
        ra = ecb_calloc(pq->nrows ? pq->nrows : 1, sizeof *ra);
        rb = ecb_calloc(pq->nrows ? pq->nrows : 1, sizeof *rb);
        d = ecb_calloc(pq->nrows ? pq->nrows : 1, sizeof *d);
        if (!qmc || !idx || !ra || !rb || !d) { free(qmc); rc = ECB_ENOMEM; free(mname); goto done; }
        for (size_t m = 0; m < nm; m++) qmc[m] = ecb_table_col(pq, mname[m]);
        for (size_t i = 0; i < pq->nrows; i++) idx[i] = (keyrow){ecb_table_at(pq, i, qcid), i};
        qsort(idx, pq->nrows, sizeof *idx, cmp_keyrow);
        for (size_t r = 0; r < t->nrows; r++) {
            if (base[r] < 0) continue;
            const char *ida = ecb_table_at(t, r, cid), *idb = ecb_table_at(t, (size_t)base[r], cid);
            size_t a0 = find_key(idx, pq->nrows, ida), b0 = find_key(idx, pq->nrows, idb);
            size_t na = 0, nb = 0;
            for (size_t i = a0; i < pq->nrows && strcmp(idx[i].key, ida) == 0; i++)
                ra[na++] = (keyrow){ecb_table_at(pq, idx[i].row, qq), idx[i].row};
            for (size_t i = b0; i < pq->nrows && strcmp(idx[i].key, idb) == 0; i++)
                rb[nb++] = (keyrow){ecb_table_at(pq, idx[i].row, qq), idx[i].row};
            if (!na || !nb) continue;
            qsort(ra, na, sizeof *ra, cmp_keyrow);
            qsort(rb, nb, sizeof *rb, cmp_keyrow);
            int self = (size_t)base[r] == r;
            for (size_t m = 0; m < nm; m++) {
                if (qmc[m] < 0) continue;
                size_t n = 0;
                for (size_t i = 0, j = 0; i < na && j < nb;) {
                    int c = strcmp(ra[i].key, rb[j].key);
                    if (c < 0) { i++; continue; }
                    if (c > 0) { j++; continue; }
                    double x, y;
                    if (ecb_table_num(pq, ra[i].row, qmc[m], &x) && ecb_table_num(pq, rb[j].row, qmc[m], &y))
                        d[n++] = x - y;
                    i++;
                    j++;
                }
                if (!n) continue;
                double mean, sd, tt, pt, lo, hi;
                ecb_stats_mean_sd(d, n, &mean, &sd);
                ecb_stats_ttest(d, n, &tt, &pt);
                uint64_t s = hash_str(seed, ida, mname[m]);
                double pr = ecb_stats_signflip(d, n, o->permutations, s);
                ecb_stats_bootstrap(d, n, o->bootstrap, 0.95, s, &lo, &hi);
                ecb_table_setf(t, r, STATCOL(m, 0), "%.6g", mean);
                ecb_table_setf(t, r, STATCOL(m, 1), "%.6g", lo);
                ecb_table_setf(t, r, STATCOL(m, 2), "%.6g", hi);
                /* The baseline against itself is not part of the family. */
                if (!self) {
                    praw[r * nm + m] = pr;
                    ptraw[r * nm + m] = pt;
                } else {
                    ecb_table_set(t, r, STATCOL(m, 3), "1");
                    ecb_table_set(t, r, STATCOL(m, 4), "1");
                }
            }
        }
        free(qmc);
    } else {
        ecb_log(ECB_LOG_WARN, "%s: not found; results_stats.csv has no per-query statistics", qp);
    }

    /* Holm across the cells of the sweep, per metric and per test. */
    for (size_t m = 0; m < nm; m++)
        for (int k = 0; k < 2; k++) {
            double *src = k ? ptraw : praw;
            for (size_t r = 0; r < t->nrows; r++) adj[r] = src[r * nm + m];
            ecb_stats_holm(adj, t->nrows, adj);
            for (size_t r = 0; r < t->nrows; r++)
                if (!isnan(adj[r])) ecb_table_setf(t, r, STATCOL(m, 3 + k), "%.6g", adj[r]);
        }
    /* significant: on the dataset's ranking metric, Holm-adjusted
     * randomization p below alpha; "loss" / "gain" / "no". */
    int cd = ecb_table_col(t, "dataset");
    for (size_t r = 0; r < t->nrows; r++) {
        if (base[r] < 0 || (size_t)base[r] == r) continue;
        char mb[64];
        const char *pm = pick_metric(t, ecb_table_at(t, r, cd), config_budget_metric(cfg), mb, sizeof mb);
        if (!pm) continue;
        char name[96];
        snprintf(name, sizeof name, "p_%s", pm);
        double p = num(t, r, ecb_table_col(t, name));
        snprintf(name, sizeof name, "delta_%s", pm);
        double dl = num(t, r, ecb_table_col(t, name));
        if (isnan(p) || isnan(dl)) continue;
        ecb_table_set(t, r, c_sig, p < o->alpha ? (dl < 0 ? "loss" : "gain") : "no");
    }
#undef STATCOL
    free(mname);
    rc = ecb_table_write(t, sp);
done:
    if (!rc && out) { *out = t; t = NULL; }
    ecb_table_free(t);
    ecb_table_free(pq);
    cJSON_Delete(man);
    free(idx); free(ra); free(rb); free(d); free(praw); free(ptraw); free(adj);
    free(metric_cols); free(base);
    free(rp); free(qp); free(sp);
    return rc;
}

/* ---- the report ------------------------------------------------------------ */

typedef struct {
    const ecb_table *t;
    int id, dataset, corpus_size, method, label, mode, rescore, status, error, n_corpus,
        n_queries, dim, bpv, aux, index_bytes, rescore_bytes, ratio, bits, p50, qps, encode,
        significant;
} cols;

static void cols_init(cols *c, const ecb_table *t)
{
    c->t = t;
#define C(f, n) c->f = ecb_table_col(t, n)
    C(id, "cell_id"); C(dataset, "dataset"); C(corpus_size, "corpus_size"); C(method, "method");
    C(label, "label"); C(mode, "mode"); C(rescore, "rescore"); C(status, "status");
    C(error, "error"); C(n_corpus, "n_corpus"); C(n_queries, "n_queries"); C(dim, "dim");
    C(bpv, "bytes_per_vector"); C(aux, "aux_bytes"); C(index_bytes, "index_bytes");
    C(rescore_bytes, "rescore_bytes"); C(ratio, "compression_ratio"); C(bits, "bits_per_dim");
    C(p50, "query_p50_ms"); C(qps, "qps"); C(encode, "encode_vps"); C(significant, "significant");
#undef C
}

#define AT(c, r, f) ecb_table_at((c)->t, (r), (c)->f)
#define NUM(c, r, f) num((c)->t, (r), (c)->f)

static int row_ok(const cols *c, size_t r)
{
    const char *s = AT(c, r, status);
    return !*s || strcmp(s, "ok") == 0;
}

static double cell_cost(const cols *c, size_t r, const ecb_budget *b)
{
    return ecb_budget_cost(b, NUM(c, r, bpv), NUM(c, r, rescore_bytes), NUM(c, r, aux),
                           NUM(c, r, n_corpus));
}

/* Family for plot legends (one colour each): the chain's plugin names,
 * "truncate>sq". */
static void family(const cols *c, size_t r, char *buf, size_t n)
{
    const char *m = AT(c, r, method);
    size_t o = 0;
    int depth = 0;
    for (const char *p = m; *p && o + 1 < n; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (depth == 0) buf[o++] = *p;
    }
    buf[o] = '\0';
}

/* Variant (one point shape each): 0 symmetric, 1 asymmetric, +2 rescored. */
/* Label plus what distinguishes cells sharing it: "sq(bits=4) asym +float32x4". */
static void cell_name(const cols *c, size_t r, char *buf, size_t n)
{
    const char *rs = AT(c, r, rescore);
    snprintf(buf, n, "%s%s%s%s", AT(c, r, label), strcmp(AT(c, r, mode), "asymmetric") == 0 ? " asym" : "",
             *rs && strcmp(rs, "none") ? " +" : "", *rs && strcmp(rs, "none") ? rs : "");
}

static const char *const variant_names[] = {"symmetric", "asymmetric", "symmetric+rescore",
                                            "asymmetric+rescore"};
static int variant(const cols *c, size_t r)
{
    const char *rs = AT(c, r, rescore);
    return (strcmp(AT(c, r, mode), "asymmetric") == 0) + 2 * (*rs && strcmp(rs, "none") != 0);
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

static void md_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n' || *s == '\r') fputc(' ', f);
        else fputc(*s, f);
    }
}

static void tex_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '_': case '%': case '&': case '#': case '$': case '{': case '}':
            fputc('\\', f); fputc(*s, f); break;
        case '~': fputs("\\textasciitilde{}", f); break;
        case '^': fputs("\\textasciicircum{}", f); break;
        case '\\': fputs("\\textbackslash{}", f); break;
        case '>': fputs("\\textgreater{}", f); break;
        case '<': fputs("\\textless{}", f); break;
        default: fputc(*s, f);
        }
    }
}

static void tsv_field(FILE *f, const char *s)
{
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' || *s == '"' ? ' ' : *s, f);
}

/* A group of rows: one dataset at one corpus size. */
typedef struct {
    char dataset[256];
    char slug[128];
    double corpus_size;   /* the corpus_size column */
    double n_corpus;      /* largest n_corpus among the rows */
    size_t *rows;
    size_t n;
    int is_main;          /* the dataset's largest corpus size */
    char metric[64];      /* ranking metric */
} group;

typedef struct {
    const char *dir;
    int quiet;
    ecb_table *t;
    cols c;
    cJSON *man;
    const cJSON *cfg;
    ecb_budget *budgets;
    size_t nbudgets;
    group *groups;
    size_t ngroups;
    char metrics[4][64];  /* table metrics (present columns) */
    size_t nmetrics;
    double alpha;
    char templates[4096];
    int gnuplot_missing;
    int plots_failed;
    FILE *render;         /* plots/render.sh */
    char *plots[256];     /* rendered figure base names */
    size_t nplots;
} report;

static int add_group(report *R, const char *ds, double cs, size_t r)
{
    for (size_t g = 0; g < R->ngroups; g++)
        if (strcmp(R->groups[g].dataset, ds) == 0 &&
            (R->groups[g].corpus_size == cs || (isnan(cs) && isnan(R->groups[g].corpus_size)))) {
            R->groups[g].rows[R->groups[g].n++] = r;
            return 0;
        }
    group *ng = realloc(R->groups, (R->ngroups + 1) * sizeof *ng);
    if (!ng) return ECB_ENOMEM;
    R->groups = ng;
    group *g = &R->groups[R->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->dataset, sizeof g->dataset, "%s", ds);
    g->corpus_size = cs;
    g->rows = ecb_calloc(R->t->nrows, sizeof *g->rows);
    if (!g->rows) return ECB_ENOMEM;
    g->rows[g->n++] = r;
    return 0;
}

static void choose_table_metrics(report *R)
{
    /* Paper layout: nDCG at the smallest k, Recall at the largest, and the
     * fidelity kNN-recall at the smallest k. */
    long kmin = -1, kmax = -1;
    for (size_t c = 0; c < R->t->ncols; c++) {
        const char *h = R->t->head[c];
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
    for (int i = 0; i < 3; i++) {
        int c = ecb_table_col(R->t, cand[i]);
        if (c < 0) continue;
        int any = 0;
        for (size_t r = 0; r < R->t->nrows && !any; r++) any = !isnan(num(R->t, r, c));
        if (any) snprintf(R->metrics[R->nmetrics++], 64, "%.63s", cand[i]);
    }
}

/* Value of metric m in row r, its % of the baseline, and the significance
 * mark from results_stats ("v" loss, "^" gain, "" none). */
static void metric_cell(report *R, size_t r, const char *m, double *v, double *pct, int *mark)
{
    const ecb_table *t = R->t;
    *v = num(t, r, ecb_table_col(t, m));
    *pct = NAN;
    *mark = 0;
    const char *bid = ecb_table_at(t, r, ecb_table_col(t, "baseline_cell"));
    if (*bid) {
        for (size_t i = 0; i < t->nrows; i++)
            if (strcmp(ecb_table_at(t, i, R->c.id), bid) == 0) {
                double b = num(t, i, ecb_table_col(t, m));
                if (b > 0 && !isnan(*v)) *pct = 100.0 * *v / b;
                break;
            }
    }
    char name[96];
    snprintf(name, sizeof name, "p_%s", m);
    double p = num(t, r, ecb_table_col(t, name));
    snprintf(name, sizeof name, "delta_%s", m);
    double dl = num(t, r, ecb_table_col(t, name));
    if (!isnan(p) && !isnan(dl) && p < R->alpha && strcmp(bid, ecb_table_at(t, r, R->c.id)))
        *mark = dl < 0 ? -1 : 1;
}

static void fmt_num(double v, char *buf, size_t n)
{
    if (isnan(v)) snprintf(buf, n, "–");
    else if (v == floor(v) && fabs(v) < 1e7) snprintf(buf, n, "%.0f", v);
    else if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3)) snprintf(buf, n, "%.3g", v);
    else if (fabs(v) >= 100) snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 10) snprintf(buf, n, "%.1f", v);
    else snprintf(buf, n, "%.3g", v);
}

/* ---- gnuplot ------------------------------------------------------------- */

static int find_templates(report *R)
{
    const char *env = getenv("ECBENCH_REPORTS_DIR");
    char own[4096] = "";
    if (ecb_install_dir(ECB_DIR_TEMPLATES, own, sizeof own) != 0) ecb_clear_error();
    const char *cands[] = {env, own[0] ? own : NULL};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        if (!cands[i]) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/pareto.gp", cands[i]);
        if (file_exists(p)) {
            snprintf(R->templates, sizeof R->templates, "%s", cands[i]);
            return 0;
        }
    }
    return ecb_fail(ECB_ENOTFOUND, "gnuplot templates (pareto.gp...) not found in "
                    "$ECBENCH_REPORTS_DIR (%s) nor in ecbench's data directory (%s)",
                    env ? env : "unset", own[0] ? own : "<datadir>/ecbench next to the executable: absent");
}

static int copy_file(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in) return ecb_fail(ECB_EIO, "%s: cannot open: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return ecb_fail(ECB_EIO, "%s: cannot create: %s", dst, strerror(errno));
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out) ? ecb_fail(ECB_EIO, "%s: write failed", dst) : 0;
}

static void sh_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* Run `gnuplot -c SCRIPT ARGS...` inside plots/ for out.png and out.svg;
 * args[1] is the output base name, completed with each extension. */
static void run_gnuplot(report *R, const char *script, const char *base, const char **args, size_t nargs)
{
    char *plots = pathf("%s/plots", R->dir);
    if (!plots) return;
    for (int e = 0; e < 2; e++) {
        const char *ext = e ? "svg" : "png";
        char outname[512];
        snprintf(outname, sizeof outname, "%s.%s", base, ext);
        char *argv[24];
        size_t a = 0;
        argv[a++] = "gnuplot";
        argv[a++] = "-c";
        argv[a++] = (char *)script;
        argv[a++] = (char *)args[0];
        argv[a++] = outname;
        for (size_t i = 1; i < nargs && a < 23; i++) argv[a++] = (char *)args[i];
        argv[a] = NULL;
        if (R->render) {
            for (size_t i = 0; i < a; i++) {
                if (i) fputc(' ', R->render);
                sh_quote(R->render, argv[i]);
            }
            fputc('\n', R->render);
        }
        if (R->gnuplot_missing) continue;
        /* The child changes into plots/ (so the scripts see the same relative
         * paths as render.sh) without touching the caller's cwd. */
        char *sargv[32];
        size_t sa = 0;
        sargv[sa++] = "sh";
        sargv[sa++] = "-c";
        sargv[sa++] = "cd \"$0\" && exec gnuplot \"$@\"";
        sargv[sa++] = plots;
        for (size_t i = 1; i < a; i++) sargv[sa++] = argv[i];
        sargv[sa] = NULL;
        char *log = pathf("%s/gnuplot.log", plots);
        pid_t pid;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        int rc = posix_spawnp(&pid, "sh", &fa, NULL, sargv, environ);
        posix_spawn_file_actions_destroy(&fa);
        free(log);
        if (rc != 0) {
            R->gnuplot_missing = 1;
            ecb_log(ECB_LOG_WARN, "cannot run sh for gnuplot (%s): figures not rendered; data and scripts "
                    "are in %s (run render.sh there)", strerror(rc), plots);
            continue;
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        char *outp = pathf("%s/%s", plots, outname);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
            R->gnuplot_missing = 1;
            ecb_log(ECB_LOG_WARN, "gnuplot not found: figures not rendered; data and scripts are in %s "
                    "(install gnuplot-nox, then run render.sh there)", plots);
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !outp || !file_exists(outp)) {
            R->plots_failed++;
            ecb_log(ECB_LOG_WARN, "gnuplot %s failed for %s (see %s/gnuplot.log)", script, outname, plots);
        } else if (e == 0 && R->nplots < sizeof R->plots / sizeof *R->plots) {
            R->plots[R->nplots++] = ecb_strdup(base);
        }
        free(outp);
    }
    free(plots);
}

static FILE *open_plot_data(report *R, const char *name)
{
    char *p = pathf("%s/plots/%s", R->dir, name);
    FILE *f = p ? fopen(p, "w") : NULL;
    if (!f) ecb_log(ECB_LOG_WARN, "%s: cannot create: %s", p ? p : name, strerror(errno));
    free(p);
    return f;
}

/* Blocks per family: "title" line then rows x y label variant, blocks
 * separated by two blank lines (gnuplot `index`). Block 0 is the frontier
 * when given. vars receives the variant names present ("" when only one,
 * so the plot needs no shape legend). */
static size_t write_family_blocks(FILE *f, report *R, const group *g, const double *x, const double *y,
                                  const size_t *front, size_t nfront, char *vars, size_t nvars)
{
    const cols *c = &R->c;
    size_t blocks = 0;
    if (front) {
        fprintf(f, "Pareto frontier\n");
        for (size_t i = 0; i < nfront; i++) {
            size_t r = g->rows[front[i]];
            fprintf(f, "%.9g\t%.9g\t", x[front[i]], y[front[i]]);
            tsv_field(f, AT(c, r, label));
            fprintf(f, "\t%d\n", variant(c, r));
        }
        fprintf(f, "\n\n");
        blocks++;
    }
    char (*fams)[128] = ecb_calloc(g->n ? g->n : 1, sizeof *fams);
    if (!fams) return blocks;
    size_t nf = 0;
    int seen[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < g->n; i++) {
        if (isnan(x[i]) || isnan(y[i])) continue;
        char fam[128];
        family(c, g->rows[i], fam, sizeof fam);
        seen[variant(c, g->rows[i])] = 1;
        size_t k = 0;
        while (k < nf && strcmp(fams[k], fam)) k++;
        if (k == nf) snprintf(fams[nf++], sizeof *fams, "%s", fam);
    }
    for (size_t k = 0; k < nf; k++) {
        tsv_field(f, fams[k]);
        fputc('\n', f);
        for (size_t i = 0; i < g->n; i++) {
            if (isnan(x[i]) || isnan(y[i])) continue;
            char fam[128];
            family(c, g->rows[i], fam, sizeof fam);
            if (strcmp(fam, fams[k])) continue;
            fprintf(f, "%.9g\t%.9g\t", x[i], y[i]);
            tsv_field(f, AT(c, g->rows[i], label));
            fprintf(f, "\t%d\n", variant(c, g->rows[i]));
        }
        fprintf(f, "\n\n");
        blocks++;
    }
    free(fams);
    vars[0] = '\0';
    if (seen[0] + seen[1] + seen[2] + seen[3] > 1)
        for (int v = 0; v < 4; v++)
            if (seen[v]) {
                size_t l = strlen(vars);
                snprintf(vars + l, nvars - l, "%s%s", l ? " " : "", variant_names[v]);
            }
    return blocks;
}

/* The best cell within budget b (ties: the cheaper) and the runner-up: the
 * best cell with another label, i.e. the next method or setting to
 * consider (the winner in the other scoring mode would say little). */
static void budget_pick(report *R, const group *g, int mc, const ecb_budget *b, long *best, long *second)
{
    const cols *c = &R->c;
    *best = *second = -1;
    for (int pass = 0; pass < 2 && (pass == 0 || *best >= 0); pass++)
        for (size_t i = 0; i < g->n; i++) {
            size_t r = g->rows[i];
            double q = num(R->t, r, mc);
            if (!row_ok(c, r) || isnan(q) || !(cell_cost(c, r, b) <= b->per_vector)) continue;
            long *slot = pass ? second : best;
            if (pass && strcmp(AT(c, r, label), AT(c, (size_t)*best, label)) == 0) continue;
            double qb = *slot >= 0 ? num(R->t, (size_t)*slot, mc) : -INFINITY;
            if (q > qb || (q == qb && cell_cost(c, r, b) < cell_cost(c, (size_t)*slot, b))) *slot = (long)r;
        }
}

static void plots_for_group(report *R, group *g)
{
    const cols *c = &R->c;
    int mc = ecb_table_col(R->t, g->metric);
    double *x = ecb_calloc(g->n + 1, sizeof *x), *y = ecb_calloc(g->n + 1, sizeof *y);
    size_t *front = ecb_calloc(g->n + 1, sizeof *front);
    if (!x || !y || !front) goto out;
    char title[512], base[256], data[300], vars[128];
    char ylabel[96];
    snprintf(ylabel, sizeof ylabel, "%s", g->metric);

    /* quality vs compression ratio of the searched codes; rescored cells are
     * left out (their second representation is not in the ratio; they are
     * in the bytes figure) */
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        int use = row_ok(c, r) && variant(c, r) < 2;
        x[i] = use ? NUM(c, r, ratio) : NAN;
        y[i] = use ? num(R->t, r, mc) : NAN;
    }
    size_t nf = ecb_pareto(x, y, g->n, 0, front);
    snprintf(base, sizeof base, "pareto_%s", g->slug);
    snprintf(data, sizeof data, "%s.dat", base);
    FILE *f = open_plot_data(R, data);
    if (f) {
        write_family_blocks(f, R, g, x, y, front, nf, vars, sizeof vars);
        fclose(f);
        snprintf(title, sizeof title, "%s (%.0f docs): quality vs compression, no rescoring", g->dataset,
                 g->n_corpus);
        const char *args[] = {data, title, "compression ratio vs float32 (log scale)", ylabel, "logx", "",
                              vars};
        run_gnuplot(R, "pareto.gp", base, args, 7);
    }

    /* quality vs bytes per vector (the budget frontier), budgets as lines */
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = row_ok(c, r) ? cell_cost(c, r, NULL) : NAN;
        y[i] = row_ok(c, r) ? num(R->t, r, mc) : NAN;
        if (!(x[i] > 0)) x[i] = NAN;
    }
    nf = ecb_pareto(x, y, g->n, 1, front);
    snprintf(base, sizeof base, "bytes_%s", g->slug);
    snprintf(data, sizeof data, "%s.dat", base);
    if ((f = open_plot_data(R, data))) {
        write_family_blocks(f, R, g, x, y, front, nf, vars, sizeof vars);
        fclose(f);
        char blist[1024] = "";
        for (size_t b = 0; b < R->nbudgets; b++) {
            size_t l = strlen(blist);
            snprintf(blist + l, sizeof blist - l, "%s%.6g", l ? " " : "", R->budgets[b].per_vector);
        }
        snprintf(title, sizeof title, "%s (%.0f docs): quality vs memory per vector", g->dataset, g->n_corpus);
        const char *args[] = {data, title, "bytes per vector: codes + rescoring data + amortised aux (log scale)",
                              ylabel, "logx", blist, vars};
        run_gnuplot(R, "pareto.gp", base, args, 7);
    }

    /* QPS vs quality */
    int any_qps = 0;
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = row_ok(c, r) ? num(R->t, r, mc) : NAN;
        y[i] = row_ok(c, r) ? NUM(c, r, qps) : NAN;
        if (!(y[i] > 0)) y[i] = NAN;
        any_qps |= !isnan(y[i]) && !isnan(x[i]);
    }
    if (any_qps) {
        snprintf(base, sizeof base, "qps_%s", g->slug);
        snprintf(data, sizeof data, "%s.dat", base);
        if ((f = open_plot_data(R, data))) {
            write_family_blocks(f, R, g, x, y, NULL, 0, vars, sizeof vars);
            fclose(f);
            snprintf(title, sizeof title, "%s (%.0f docs): throughput vs quality", g->dataset, g->n_corpus);
            const char *args[] = {data, title, ylabel, "queries per second, batch, all threads (log scale)",
                                  vars};
            run_gnuplot(R, "qps.gp", base, args, 5);
        }
    }

    /* per-budget winners and runners-up as bars */
    if (R->nbudgets) {
        snprintf(base, sizeof base, "budget_%s", g->slug);
        snprintf(data, sizeof data, "%s.dat", base);
        if ((f = open_plot_data(R, data))) {
            fprintf(f, "# budget\tbest\tbest_label\trunner_up\trunner_up_label\ttop\n");
            for (size_t b = 0; b < R->nbudgets; b++) {
                long best, second;
                budget_pick(R, g, mc, &R->budgets[b], &best, &second);
                char nm[600];
                tsv_field(f, R->budgets[b].label);
                if (best >= 0) {
                    fprintf(f, "\t%.9g\t", num(R->t, (size_t)best, mc));
                    cell_name(c, (size_t)best, nm, sizeof nm);
                    tsv_field(f, nm);
                } else fprintf(f, "\tNaN\t(nothing fits)");
                if (second >= 0) {
                    fprintf(f, "\t%.9g\t", num(R->t, (size_t)second, mc));
                    cell_name(c, (size_t)second, nm, sizeof nm);
                    tsv_field(f, nm);
                } else fprintf(f, "\tNaN\t(none)");
                fprintf(f, "\t%.9g\n", best >= 0 ? num(R->t, (size_t)best, mc) : 0.0);
            }
            fclose(f);
            snprintf(title, sizeof title, "%s (%.0f docs): best cells per memory budget", g->dataset,
                     g->n_corpus);
            const char *args[] = {data, title, ylabel};
            run_gnuplot(R, "budget.gp", base, args, 3);
        }
    }
out:
    free(x);
    free(y);
    free(front);
}

/* Quality vs corpus size. One line per method family (so the legend stays
 * short): the family's best setting without rescoring at the largest size,
 * followed across the sizes by its label and mode. */
static void corpus_plot(report *R, const char *dataset, const char *slug, const char *metric)
{
    const cols *c = &R->c;
    const ecb_table *t = R->t;
    size_t ng = 0;
    for (size_t g = 0; g < R->ngroups; g++) ng += strcmp(R->groups[g].dataset, dataset) == 0;
    if (ng < 2) return;
    int mc = ecb_table_col(t, metric);
    double nmax = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (strcmp(AT(c, r, dataset), dataset) == 0 && NUM(c, r, n_corpus) > nmax) nmax = NUM(c, r, n_corpus);
    /* representatives: rows at the largest size, best per family */
    size_t *rep = ecb_calloc(t->nrows + 1, sizeof *rep);
    char (*fams)[128] = ecb_calloc(t->nrows + 1, sizeof *fams);
    size_t nrep = 0;
    if (!rep || !fams) { free(rep); free(fams); return; }
    for (size_t r = 0; r < t->nrows; r++) {
        if (strcmp(AT(c, r, dataset), dataset) || !row_ok(c, r) || variant(c, r) >= 2 ||
            NUM(c, r, n_corpus) != nmax || isnan(num(t, r, mc)))
            continue;
        char fam[128];
        family(c, r, fam, sizeof fam);
        size_t k = 0;
        while (k < nrep && strcmp(fams[k], fam)) k++;
        if (k == nrep) { snprintf(fams[nrep], sizeof *fams, "%s", fam); rep[nrep++] = r; }
        else if (num(t, r, mc) > num(t, rep[k], mc)) rep[k] = r;
    }
    char base[256], data[300], title[512];
    snprintf(base, sizeof base, "corpus_%s", slug);
    snprintf(data, sizeof data, "%s.dat", base);
    FILE *f = open_plot_data(R, data);
    if (!f) { free(rep); free(fams); return; }
    for (size_t k = 0; k < nrep; k++) {
        char nm[600];
        cell_name(c, rep[k], nm, sizeof nm);
        tsv_field(f, nm);
        fputc('\n', f);
        double last = -1;
        for (;;) { /* rows of the same label/mode/rescore by growing size */
            long pick = -1;
            for (size_t r = 0; r < t->nrows; r++) {
                if (strcmp(AT(c, r, dataset), dataset) || !row_ok(c, r) ||
                    strcmp(AT(c, r, label), AT(c, rep[k], label)) || strcmp(AT(c, r, mode), AT(c, rep[k], mode)) ||
                    strcmp(AT(c, r, rescore), AT(c, rep[k], rescore)) || isnan(num(t, r, mc)))
                    continue;
                double n = NUM(c, r, n_corpus);
                if (n > last && (pick < 0 || n < NUM(c, (size_t)pick, n_corpus))) pick = (long)r;
            }
            if (pick < 0) break;
            last = NUM(c, (size_t)pick, n_corpus);
            fprintf(f, "%.9g\t%.9g\n", last, num(t, (size_t)pick, mc));
        }
        fprintf(f, "\n\n");
    }
    fclose(f);
    free(rep);
    free(fams);
    snprintf(title, sizeof title, "%s: quality as the corpus grows (best setting per method)", dataset);
    const char *args[] = {data, title, "corpus size (documents; log scale)", metric};
    run_gnuplot(R, "corpus.gp", base, args, 4);
}

/* ---- Markdown and LaTeX ----------------------------------------------------- */

static void write_group_table_md(report *R, FILE *f, const group *g)
{
    const cols *c = &R->c;
    fprintf(f, "| method | mode | rescore | B/vec | ratio |");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, " %s |", R->metrics[m]);
    fprintf(f, " p50 ms | QPS |\n|---|---|---|---:|---:|");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, "---:|");
    fprintf(f, "---:|---:|\n");
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        if (!row_ok(c, r)) continue;
        char a[64], b[64];
        fprintf(f, "| `");
        md_escape(f, AT(c, r, label));
        fprintf(f, "` | %s | ", AT(c, r, mode));
        md_escape(f, AT(c, r, rescore));
        fmt_num(NUM(c, r, bpv), a, sizeof a);
        fmt_num(NUM(c, r, ratio), b, sizeof b);
        fprintf(f, " | %s | %s× |", a, b);
        for (size_t m = 0; m < R->nmetrics; m++) {
            double v, pct;
            int mark;
            metric_cell(R, r, R->metrics[m], &v, &pct, &mark);
            if (isnan(v)) { fprintf(f, " – |"); continue; }
            fprintf(f, " %.4f", v);
            if (!isnan(pct)) fprintf(f, " (%.1f%%)", pct);
            fprintf(f, "%s |", mark < 0 ? " ▼" : mark > 0 ? " ▲" : "");
        }
        fmt_num(NUM(c, r, p50), a, sizeof a);
        fmt_num(NUM(c, r, qps), b, sizeof b);
        fprintf(f, " %s | %s |\n", a, b);
    }
}

static void write_group_table_tex(report *R, const group *g, const char *name)
{
    const cols *c = &R->c;
    char *p = pathf("%s/tables/%s.tex", R->dir, name);
    FILE *f = p ? fopen(p, "w") : NULL;
    if (!f) { ecb_log(ECB_LOG_WARN, "%s: cannot create", p ? p : name); free(p); return; }
    free(p);
    fprintf(f, "%% ecbench report: %s, generated from results_stats.csv; needs \\usepackage{booktabs}\n",
            g->dataset);
    fprintf(f, "%% $\\downarrow$/$\\uparrow$: significant loss/gain vs the baseline "
            "(paired randomization test, Holm-corrected, alpha=%g)\n", R->alpha);
    fprintf(f, "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{lllrr");
    for (size_t m = 0; m < R->nmetrics; m++) fprintf(f, "r");
    fprintf(f, "}\n\\toprule\nMethod & Mode & Rescore & B/vec & Ratio");
    for (size_t m = 0; m < R->nmetrics; m++) {
        fprintf(f, " & ");
        tex_escape(f, R->metrics[m]);
    }
    fprintf(f, " \\\\\n\\midrule\n");
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        if (!row_ok(c, r)) continue;
        char a[64], b[64];
        fprintf(f, "\\texttt{");
        tex_escape(f, AT(c, r, label));
        fprintf(f, "} & %s & ", strcmp(AT(c, r, mode), "asymmetric") == 0 ? "asym" : "sym");
        tex_escape(f, AT(c, r, rescore));
        fmt_num(NUM(c, r, bpv), a, sizeof a);
        fmt_num(NUM(c, r, ratio), b, sizeof b);
        fprintf(f, " & %s & %s$\\times$", a, b);
        for (size_t m = 0; m < R->nmetrics; m++) {
            double v, pct;
            int mark;
            metric_cell(R, r, R->metrics[m], &v, &pct, &mark);
            if (isnan(v)) { fprintf(f, " & --"); continue; }
            fprintf(f, " & %.4f", v);
            if (!isnan(pct)) fprintf(f, " (%.1f\\%%)", pct);
            if (mark) fprintf(f, "$^{%s}$", mark < 0 ? "\\downarrow" : "\\uparrow");
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n\\caption{");
    tex_escape(f, g->dataset);
    fprintf(f, " (%.0f documents): quality in absolute terms and as %% of the baseline.}\n", g->n_corpus);
    fprintf(f, "\\label{tab:ecbench-%s}\n\\end{table}\n", name);
    fclose(f);
}

/* Best and runner-up under each budget, for one group; writes Markdown and
 * appends to the LaTeX budgets table. */
static void write_budgets(report *R, FILE *md, FILE *tex, const group *g)
{
    const cols *c = &R->c;
    int mc = ecb_table_col(R->t, g->metric);
    fprintf(md, "\n### %s (%.0f documents, ranked by %s)\n\n", g->dataset, g->n_corpus, g->metric);
    fprintf(md, "| budget | best | %s | B/vec | runner-up | %s | B/vec |\n|---|---|---:|---:|---|---:|---:|\n",
            g->metric, g->metric);
    for (size_t b = 0; b < R->nbudgets; b++) {
        const ecb_budget *bu = &R->budgets[b];
        long best, second;
        budget_pick(R, g, mc, bu, &best, &second);
        fprintf(md, "| %s | ", bu->label);
        if (tex) {
            tex_escape(tex, g->dataset);
            fprintf(tex, " & ");
            tex_escape(tex, bu->label);
        }
        long pick[2] = {best, second};
        for (int k = 0; k < 2; k++) {
            if (pick[k] < 0) {
                fprintf(md, "%s | – | – |", k ? " –" : "nothing fits");
                if (tex) fprintf(tex, " & -- & -- & --");
                continue;
            }
            size_t r = (size_t)pick[k];
            char a[64];
            fmt_num(cell_cost(c, r, bu), a, sizeof a);
            fprintf(md, "%s`", k ? " " : "");
            md_escape(md, AT(c, r, label));
            fprintf(md, "` %s%s%s | %.4f | %s |",
                    strcmp(AT(c, r, mode), "asymmetric") == 0 ? "asym" : "sym",
                    strcmp(AT(c, r, rescore), "none") && *AT(c, r, rescore) ? " +" : "",
                    strcmp(AT(c, r, rescore), "none") ? AT(c, r, rescore) : "",
                    num(R->t, r, mc), a);
            if (tex) {
                char nm[600];
                cell_name(c, r, nm, sizeof nm);
                fprintf(tex, " & \\texttt{");
                tex_escape(tex, nm);
                fprintf(tex, "} & %.4f & %s", num(R->t, r, mc), a);
            }
        }
        fputc('\n', md);
        if (tex) fprintf(tex, " \\\\\n");
    }
    /* the quality-vs-bytes frontier */
    double *x = ecb_calloc(g->n + 1, sizeof *x), *y = ecb_calloc(g->n + 1, sizeof *y);
    size_t *front = ecb_calloc(g->n + 1, sizeof *front);
    if (!x || !y || !front) { free(x); free(y); free(front); return; }
    for (size_t i = 0; i < g->n; i++) {
        size_t r = g->rows[i];
        x[i] = row_ok(c, r) ? cell_cost(c, r, NULL) : NAN;
        y[i] = row_ok(c, r) ? num(R->t, r, mc) : NAN;
    }
    size_t nf = ecb_pareto(x, y, g->n, 1, front);
    fprintf(md, "\nQuality-vs-bytes frontier (no cell is both smaller and better than these):\n\n"
                "| B/vec | %s | cell |\n|---:|---:|---|\n", g->metric);
    for (size_t i = 0; i < nf; i++) {
        size_t r = g->rows[front[i]];
        char a[64];
        fmt_num(x[front[i]], a, sizeof a);
        fprintf(md, "| %s | %.4f | `", a, y[front[i]]);
        md_escape(md, AT(c, r, label));
        fprintf(md, "` %s%s%s |\n", strcmp(AT(c, r, mode), "asymmetric") == 0 ? "asym" : "sym",
                strcmp(AT(c, r, rescore), "none") && *AT(c, r, rescore) ? " +" : "",
                strcmp(AT(c, r, rescore), "none") ? AT(c, r, rescore) : "");
    }
    free(x); free(y); free(front);
}

static void json_brief(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(buf, n, "%.10g", v->valuedouble);
    else if (cJSON_IsBool(v)) snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else {
        char *s = cJSON_PrintUnformatted(v);
        snprintf(buf, n, "%s", s ? s : "");
        if (s && strlen(s) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
        cJSON_free(s);
    }
}

static int cmp_group(const void *a, const void *b)
{
    const group *x = a, *y = b;
    return x->n_corpus > y->n_corpus ? -1 : x->n_corpus < y->n_corpus; /* largest first */
}

static int build(report *R)
{
    const ecb_table *t = R->t;
    const cols *c = &R->c;
    int rc;
    /* groups: dataset x corpus size, datasets in order of appearance */
    for (size_t r = 0; r < t->nrows; r++)
        if ((rc = add_group(R, AT(c, r, dataset), NUM(c, r, corpus_size), r))) return rc;
    /* stable within a dataset: by corpus size; mark each dataset's largest */
    for (size_t g = 0; g < R->ngroups;) {
        size_t e = g;
        while (e < R->ngroups && strcmp(R->groups[e].dataset, R->groups[g].dataset) == 0) e++;
        for (size_t k = g; k < e; k++) {
            group *gr = &R->groups[k];
            gr->n_corpus = 0;
            int sym = 0, asym = 0;
            for (size_t i = 0; i < gr->n; i++) {
                double n = NUM(c, gr->rows[i], n_corpus);
                if (n > gr->n_corpus) gr->n_corpus = n;
                if (strcmp(AT(c, gr->rows[i], mode), "asymmetric") == 0) asym = 1;
                else sym = 1;
            }
            (void)sym; (void)asym;
        }
        qsort(R->groups + g, e - g, sizeof *R->groups, cmp_group);
        R->groups[g].is_main = 1;
        g = e;
    }
    /* datasets that are not contiguous (rare) are handled as separate runs; slugs unique */
    for (size_t g = 0; g < R->ngroups; g++) {
        group *gr = &R->groups[g];
        char s[128];
        slugify(gr->dataset, s, sizeof s);
        if (!gr->is_main) {
            size_t l = strlen(s);
            snprintf(s + l, sizeof s - l, "-n%.0f", gr->n_corpus);
        }
        snprintf(gr->slug, sizeof gr->slug, "%s", s);
        char mb[64];
        const char *pm = pick_metric(t, gr->dataset, config_budget_metric(R->cfg), mb, sizeof mb);
        snprintf(gr->metric, sizeof gr->metric, "%s", pm ? pm : "");
        /* table order: baseline first, then config order; symmetric before asymmetric */
        size_t *tmp = ecb_calloc(gr->n, sizeof *tmp);
        if (!tmp) return ECB_ENOMEM;
        size_t k = 0;
        for (int pass = 0; pass < 3; pass++)
            for (size_t i = 0; i < gr->n; i++) {
                size_t r = gr->rows[i];
                int self = strcmp(ecb_table_at(t, r, ecb_table_col(t, "baseline_cell")), AT(c, r, id)) == 0;
                int asym = strcmp(AT(c, r, mode), "asymmetric") == 0;
                int cls = self ? 0 : asym ? 2 : 1;
                if (cls == pass) tmp[k++] = r;
            }
        memcpy(gr->rows, tmp, gr->n * sizeof *tmp);
        free(tmp);
    }
    choose_table_metrics(R);

    char *tables = pathf("%s/tables", R->dir), *plots = pathf("%s/plots", R->dir);
    if (!tables || !plots) { free(tables); free(plots); return ECB_ENOMEM; }
    if ((rc = ecb_mkdir_p(tables)) || (rc = ecb_mkdir_p(plots))) { free(tables); free(plots); return rc; }

    /* plots first, so report.md can reference only what was rendered */
    int have_templates = find_templates(R) == 0;
    if (!have_templates) ecb_log(ECB_LOG_WARN, "%s; no figures", ecb_last_error());
    if (have_templates) {
        static const char *const gps[] = {"pareto.gp", "qps.gp", "budget.gp", "corpus.gp"};
        for (size_t i = 0; i < sizeof gps / sizeof *gps; i++) {
            char src[4300], dst[4300];
            snprintf(src, sizeof src, "%s/%s", R->templates, gps[i]);
            snprintf(dst, sizeof dst, "%s/%s", plots, gps[i]);
            if (file_exists(src)) copy_file(src, dst);
        }
        char *gl = pathf("%s/gnuplot.log", plots);
        if (gl) remove(gl);
        free(gl);
        char *rs = pathf("%s/render.sh", plots);
        R->render = rs ? fopen(rs, "w") : NULL;
        if (R->render)
            fprintf(R->render, "#!/bin/sh\n# Re-render every figure of this report (run from anywhere).\n"
                               "# The data files (*.dat) were written by `ecbench report`; edit the .gp\n"
                               "# templates here to restyle.\nset -e\ncd \"$(dirname \"$0\")\"\n");
        for (size_t g = 0; g < R->ngroups; g++)
            if (R->groups[g].metric[0]) plots_for_group(R, &R->groups[g]);
        for (size_t g = 0; g < R->ngroups; g++)
            if (R->groups[g].is_main && R->groups[g].metric[0])
                corpus_plot(R, R->groups[g].dataset, R->groups[g].slug, R->groups[g].metric);
        if (R->render) {
            fclose(R->render);
            R->render = NULL;
            chmod(rs, 0755);
        }
        free(rs);
    }

    /* report.md */
    char *mdp = pathf("%s/report.md", R->dir), *mdt = pathf("%s/report.md.tmp", R->dir);
    FILE *md = mdt ? fopen(mdt, "w") : NULL;
    if (!md) {
        rc = ecb_fail(ECB_EIO, "%s: cannot create: %s", mdt ? mdt : "report.md", strerror(errno));
        free(mdp); free(mdt); free(tables); free(plots);
        return rc;
    }
    const cJSON *nm = R->cfg ? cJSON_GetObjectItemCaseSensitive(R->cfg, "name") : NULL;
    fprintf(md, "# ecbench report: %s\n\n", cJSON_IsString(nm) ? nm->valuestring : R->dir);
    size_t nok = 0, nskip = 0, nerr = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *s = AT(c, r, status);
        if (!*s || strcmp(s, "ok") == 0) nok++;
        else if (strcmp(s, "skipped") == 0) nskip++;
        else nerr++;
    }
    fprintf(md, "## Overview\n\n");
    fprintf(md, "- **Cells**: %zu (%zu ok, %zu skipped, %zu failed), rebuilt from `results.csv`, "
                "`per_query.csv` and `manifest.json` by `ecbench report`.\n", t->nrows, nok, nskip, nerr);
    const cJSON *v;
    if (R->man && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(R->man, "config_path")))
        fprintf(md, "- **Config**: `%s`\n", v->valuestring);
    if (R->man && cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(R->man, "started"))) {
        const cJSON *fin = cJSON_GetObjectItemCaseSensitive(R->man, "finished");
        fprintf(md, "- **Run**: %s → %s\n", v->valuestring, cJSON_IsString(fin) ? fin->valuestring : "?");
    }
    fprintf(md, "- **Datasets**:");
    int first_ds = 1;
    for (size_t g = 0; g < R->ngroups; g++)
        if (R->groups[g].is_main) {
            size_t r0 = R->groups[g].rows[0];
            fprintf(md, "%s %s (%.0f docs, %s queries, dim %s%s)", first_ds ? "" : ";", R->groups[g].dataset,
                    R->groups[g].n_corpus, AT(c, r0, n_queries), AT(c, r0, dim),
                    strncmp(R->groups[g].metric, "knn_", 4) == 0 ? ", no qrels" : "");
            first_ds = 0;
        }
    fprintf(md, "\n");
    const cJSON *bj = R->cfg ? cJSON_GetObjectItemCaseSensitive(R->cfg, "baseline") : NULL;
    const cJSON *bm = cJSON_IsObject(bj) ? cJSON_GetObjectItemCaseSensitive(bj, "method") : NULL;
    fprintf(md, "- **Baseline**: `%s` on the same dataset, corpus size and mode, without rescoring. "
                "Percentages are of the baseline.\n", cJSON_IsString(bm) ? bm->valuestring : "float32");
    fprintf(md, "- **Significance**: ▼ significant loss, ▲ significant gain against the baseline: "
                "paired sign-flip randomization test on per-query scores (10,000 permutations, seeded), "
                "Holm-corrected across the cells of the sweep, α = %g. `results_stats.csv` adds, per "
                "metric, the mean difference (`delta_`), its bootstrap 95%% CI (`ci_lo_`, `ci_hi_`), "
                "the Holm-adjusted randomization p (`p_`) and paired t-test p (`p_t_`).\n", R->alpha);
    fprintf(md, "- **Ranking metric** (budgets, plots): `%s` (config `budget_metric`); datasets without "
                "qrels fall back to `knn_recall`.\n", config_budget_metric(R->cfg));

    /* per dataset / corpus size tables */
    for (size_t g = 0; g < R->ngroups; g++) {
        group *gr = &R->groups[g];
        size_t r0 = gr->rows[0];
        if (gr->is_main) fprintf(md, "\n## %s\n\n", gr->dataset);
        else fprintf(md, "\n### %s at %.0f documents\n\n", gr->dataset, gr->n_corpus);
        fprintf(md, "%.0f documents, %s queries, dimension %s. Table: `tables/%s.tex`.\n\n", gr->n_corpus,
                AT(c, r0, n_queries), AT(c, r0, dim), gr->slug);
        write_group_table_md(R, md, gr);
        write_group_table_tex(R, gr, gr->slug);
        static const struct { const char *pre, *what; } figs[] = {
            {"pareto_", "Quality vs compression ratio; the line is the Pareto frontier (no cell compresses "
                        "more at equal or better quality)."},
            {"bytes_", "Quality vs bytes per vector; dashed lines mark the budgets."},
            {"qps_", "Batch throughput vs quality."},
            {"budget_", "Best and runner-up cell within each memory budget."},
            {"corpus_", "Quality as the corpus grows (nested subsets keeping every judged document)."}};
        for (size_t k = 0; k < sizeof figs / sizeof *figs; k++) {
            char name[256];
            snprintf(name, sizeof name, "%s%s", figs[k].pre, gr->slug);
            for (size_t p = 0; p < R->nplots; p++)
                if (strcmp(R->plots[p], name) == 0)
                    fprintf(md, "\n![%s](plots/%s.png)\n\n%s ([SVG](plots/%s.svg))\n", name, name, figs[k].what,
                            name);
        }
        if (gr->is_main) {
            size_t nsz = 0;
            for (size_t h = 0; h < R->ngroups; h++) nsz += strcmp(R->groups[h].dataset, gr->dataset) == 0;
            if (nsz < 2)
                fprintf(md, "\n_No quality-vs-corpus-size figure: the dataset was run at one corpus size "
                            "(add `\"corpus_sizes\": [...]` to it in the config)._\n");
        }
    }

    /* budgets */
    char *btp = pathf("%s/tables/budgets.tex", R->dir);
    FILE *btex = NULL;
    if (R->nbudgets) {
        fprintf(md, "\n## Memory budgets\n\nA cell fits a budget when its bytes per vector — codes, plus "
                    "the rescoring representation, plus auxiliary data (codebooks, rotations) amortised "
                    "over the budget's corpus size (or the evaluated corpus for a per-vector budget) — "
                    "are at most the budget. Table: `tables/budgets.tex`.\n");
        btex = btp ? fopen(btp, "w") : NULL;
        if (btex)
            fprintf(btex, "%% ecbench report: best cell per memory budget; needs \\usepackage{booktabs}\n"
                          "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{lllrrlrr}\n\\toprule\n"
                          "Dataset & Budget & Best & Quality & B/vec & Runner-up & Quality & B/vec \\\\\n"
                          "\\midrule\n");
        for (size_t g = 0; g < R->ngroups; g++)
            if (R->groups[g].is_main && R->groups[g].metric[0]) write_budgets(R, md, btex, &R->groups[g]);
        if (btex) {
            fprintf(btex, "\\bottomrule\n\\end{tabular}\n\\caption{Best cell per memory budget.}\n"
                          "\\label{tab:ecbench-budgets}\n\\end{table}\n");
            fclose(btex);
        }
    } else {
        fprintf(md, "\n## Memory budgets\n\n_No budgets in the config (add e.g. `\"budgets\": [\"32B\", \"64B\", "
                    "{\"total\": \"2GiB\", \"corpus_size\": 30000000}]`)._\n");
    }
    free(btp);

    if (nskip + nerr) {
        fprintf(md, "\n## Skipped and failed cells\n\n| dataset | method | mode | status | reason |\n|---|---|---|---|---|\n");
        for (size_t r = 0; r < t->nrows; r++) {
            if (row_ok(c, r)) continue;
            fprintf(md, "| %s | `", AT(c, r, dataset));
            md_escape(md, AT(c, r, label));
            fprintf(md, "` | %s | %s | ", AT(c, r, mode), AT(c, r, status));
            md_escape(md, AT(c, r, error));
            fprintf(md, " |\n");
        }
    }

    fprintf(md, "\n## Environment\n\n");
    const cJSON *env = R->man ? cJSON_GetObjectItemCaseSensitive(R->man, "environment") : NULL;
    if (cJSON_IsObject(env)) {
        fprintf(md, "| key | value |\n|---|---|\n");
        for (const cJSON *it = env->child; it; it = it->next) {
            char val[400];
            json_brief(it, val, sizeof val);
            fprintf(md, "| %s | ", it->string);
            md_escape(md, val);
            fprintf(md, " |\n");
        }
    } else {
        fprintf(md, "_manifest.json has no environment record._\n");
    }
    fprintf(md, "\n## Files\n\n- `results.csv`, `per_query.csv`: the measurements; `results_stats.csv`: "
                "the same rows with the statistics columns.\n- `tables/*.tex`: booktabs tables.\n"
                "- `plots/`: PNG and SVG figures, their data (`*.dat`), the gnuplot templates (`*.gp`) and "
                "`render.sh`, which re-renders every figure.\n");
    if (R->gnuplot_missing)
        fprintf(md, "\n_gnuplot was not found: figures were not rendered (install `gnuplot-nox`, then run "
                    "`plots/render.sh`)._\n");
    int bad = ferror(md);
    bad |= fclose(md) != 0;
    if (bad || rename(mdt, mdp) != 0) rc = ecb_fail(ECB_EIO, "%s: write failed", mdp);
    else rc = 0;
    free(mdp); free(mdt); free(tables); free(plots);
    return rc;
}

int ecb_report_build(const char *dir, int quiet)
{
    report R;
    memset(&R, 0, sizeof R);
    R.dir = dir;
    R.quiet = quiet;
    R.alpha = 0.05;
    ecb_stats_opts so;
    ecb_stats_opts_default(&so);
    int rc = ecb_stats_build(dir, &so, &R.t);
    if (rc) return rc;
    R.man = load_manifest(dir);
    R.cfg = manifest_config(R.man);
    if (R.cfg) {
        char where[4200];
        snprintf(where, sizeof where, "%s/manifest.json: config", dir);
        rc = ecb_budgets_parse(cJSON_GetObjectItemCaseSensitive(R.cfg, "budgets"), where, &R.budgets,
                               &R.nbudgets);
    }
    if (!rc) {
        cols_init(&R.c, R.t);
        rc = build(&R);
    }
    if (!rc && !quiet) {
        printf("report: %s/report.md\ntables: %s/tables/\nplots:  %s/plots/ (%zu figures, PNG and SVG)\n",
               dir, dir, dir, R.nplots);
        if (R.plots_failed) printf("warning: %d figure(s) failed to render, see %s/plots/gnuplot.log\n",
                                   R.plots_failed, dir);
    }
    for (size_t g = 0; g < R.ngroups; g++) free(R.groups[g].rows);
    free(R.groups);
    for (size_t p = 0; p < R.nplots; p++) free(R.plots[p]);
    free(R.budgets);
    cJSON_Delete(R.man);
    ecb_table_free(R.t);
    return rc;
}

int ecb_cmd_report(int argc, char **argv)
{
    const char *dir = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) quiet = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: ecbench report DIR [--quiet]\n\n"
                   "Rebuild DIR/results_stats.csv, DIR/report.md, DIR/tables/*.tex and DIR/plots/\n"
                   "(PNG, SVG, data files and gnuplot scripts) from DIR/results.csv,\n"
                   "DIR/per_query.csv and DIR/manifest.json; nothing is re-run.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ecbench report: unknown option %s (try --help)\n", argv[i]);
            return 2;
        } else if (!dir) dir = argv[i];
        else {
            fprintf(stderr, "ecbench report: one results directory expected, got also %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: ecbench report DIR [--quiet]\n");
        return 2;
    }
    int rc = ecb_report_build(dir, quiet);
    if (rc) {
        fprintf(stderr, "ecbench report: %s\n", ecb_last_error());
        return 2;
    }
    return 0;
}
