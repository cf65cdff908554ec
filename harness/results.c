/*
 * The results store: one column table drives the header, the row format,
 * reading rows back and packing a result for the isolation pipe, so the
 * four can never disagree on the column order.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/ecb.h"
#include "harness/metrics.h"
#include "harness/results.h"

typedef enum { C_TEXT, C_SIZE, C_NUM, C_SEED, C_STATUS, C_METRICS } col_type;

typedef struct {
    const char *name;
    col_type type;
    size_t off;
} column;

#define TXT(n, f) {n, C_TEXT, offsetof(ecb_cell_result, f)}
#define SZ(n, f) {n, C_SIZE, offsetof(ecb_cell_result, f)}
#define NUM(n, f) {n, C_NUM, offsetof(ecb_cell_result, f)}

/* results.csv, left to right; C_METRICS stands for every metric@k column. */
static const column columns[] = {
    TXT("cell_id", cell_id), TXT("dataset", dataset), SZ("corpus_size", corpus_size),
    TXT("method", method), TXT("params", params), TXT("label", label), TXT("mode", mode),
    TXT("rescore", rescore), SZ("n_corpus", n_corpus), SZ("n_queries", n_queries),
    SZ("dim", dim), {NULL, C_METRICS, 0},
    NUM("n_skipped_queries", n_skipped), NUM("recon_mse", mse), NUM("recon_cosine", cosine),
    NUM("bytes_per_vector", bpv), NUM("aux_bytes", aux), NUM("index_bytes", index_bytes),
    NUM("rescore_bytes", rescore_bytes), NUM("total_bytes_per_vector", total_bpv),
    NUM("compression_ratio", ratio),
    NUM("bits_per_dim", bits_per_dim), NUM("train_s", train_s), NUM("encode_vps", encode_vps),
    NUM("query_p50_ms", p50), NUM("query_p95_ms", p95), NUM("query_p99_ms", p99),
    NUM("qps", qps), NUM("peak_rss_mb", peak_rss_mb),
    {"seed", C_SEED, offsetof(ecb_cell_result, seed)}, {"status", C_STATUS, 0},
    TXT("error", error),
    /* appended for multi-vector datasets (empty for single-vector ones) */
    SZ("corpus_tokens", corpus_tokens), SZ("tokens_kept", tokens_kept),
};
#define NCOLUMNS (sizeof columns / sizeof *columns)
/* Columns appended after the first layout: a results.csv written without
 * them still reads (the values are then empty). */
#define N_APPENDED 2

/* Columns of the table's layout: all, or those of the first layout. */
static size_t layout_columns(const ecb_table *t)
{
    return t->ncols && strcmp(t->head[t->ncols - 1], columns[NCOLUMNS - 1].name) == 0
               ? NCOLUMNS : NCOLUMNS - N_APPENDED;
}

static const char *const status_names[ECB_CELL_STATUS_COUNT] = {
    "ok", "skipped", "error", "crashed", "timeout", "oom"};

const char *ecb_cell_status_name(ecb_cell_status s)
{
    return (unsigned)s < ECB_CELL_STATUS_COUNT ? status_names[s] : "error";
}

int ecb_cell_status_parse(const char *name)
{
    for (int i = 0; i < ECB_CELL_STATUS_COUNT; i++)
        if (strcmp(name, status_names[i]) == 0) return i;
    return -1;
}

int ecb_cell_status_final(ecb_cell_status s)
{
    return s == ECB_CELL_OK || s == ECB_CELL_SKIPPED;
}

static char **text_at(ecb_cell_result *r, size_t off) { return (char **)((char *)r + off); }
static double *num_at(ecb_cell_result *r, size_t off) { return (double *)((char *)r + off); }
static const char *ctext(const ecb_cell_result *r, size_t off)
{
    const char *s = *(char *const *)((const char *)r + off);
    return s ? s : "";
}
static double cnum(const ecb_cell_result *r, size_t off)
{
    return *(const double *)((const char *)r + off);
}

void ecb_cell_result_init(ecb_cell_result *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < NCOLUMNS; i++)
        if (columns[i].type == C_SIZE || columns[i].type == C_NUM) *num_at(r, columns[i].off) = NAN;
}

void ecb_cell_result_release(ecb_cell_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < NCOLUMNS; i++)
        if (columns[i].type == C_TEXT) free(*text_at(r, columns[i].off));
    free(r->mean);
    for (size_t q = 0; r->qids && q < r->nq; q++) free(r->qids[q]);
    free(r->qids);
    free(r->perq);
    ecb_cell_result_init(r);
}

int ecb_cell_result_set_error(ecb_cell_result *r, ecb_cell_status st, const char *msg)
{
    r->status = st;
    free(r->error);
    r->error = ecb_strdup(msg ? msg : "");
    return r->error ? 0 : ECB_ENOMEM;
}

/* ---- writing ------------------------------------------------------------ */

static int metric_header(ecb_buf *b, const size_t *ks, size_t nk)
{
    for (int m = 0; m < ECB_M_COUNT; m++)
        for (size_t i = 0; i < nk; i++)
            if (ecb_buf_printf(b, ",%s@%zu", ecb_metric_names[m], ks[i])) return ECB_ENOMEM;
    return 0;
}

static int header_n(ecb_buf *b, const size_t *ks, size_t nk, size_t ncol)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < ncol; i++)
        rc = columns[i].type == C_METRICS ? metric_header(b, ks, nk)
                                          : ecb_csv_field(b, columns[i].name, i == 0);
    return rc ? rc : ecb_buf_put(b, "\n", 1);
}

int ecb_results_header(ecb_buf *b, const size_t *ks, size_t nk)
{
    return header_n(b, ks, nk, NCOLUMNS);
}

int ecb_per_query_header(ecb_buf *b, const size_t *ks, size_t nk)
{
    int rc = ecb_buf_printf(b, "cell_id,qid");
    if (!rc) rc = metric_header(b, ks, nk);
    return rc ? rc : ecb_buf_put(b, "\n", 1);
}

/* Counts print as integers (%zu's digits), measured values as %.10g. */
static int put_size(ecb_buf *b, double v)
{
    if (v != v) return ecb_buf_put(b, ",", 1);
    return ecb_buf_printf(b, ",%.0f", v);
}

int ecb_results_format(const ecb_cell_result *r, ecb_buf *row, ecb_buf *pq)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < NCOLUMNS; i++) {
        const column *c = &columns[i];
        switch (c->type) {
        case C_TEXT: rc = ecb_csv_field(row, ctext(r, c->off), i == 0); break;
        case C_SIZE: rc = put_size(row, cnum(r, c->off)); break;
        case C_NUM: rc = ecb_csv_num(row, cnum(r, c->off)); break;
        case C_SEED: rc = ecb_buf_printf(row, ",%llu", (unsigned long long)r->seed); break;
        case C_STATUS: rc = ecb_csv_field(row, ecb_cell_status_name(r->status), 0); break;
        case C_METRICS:
            for (size_t m = 0; !rc && m < r->nm; m++) rc = ecb_csv_num(row, r->mean ? r->mean[m] : NAN);
            break;
        }
    }
    if (!rc) rc = ecb_buf_put(row, "\n", 1);
    for (size_t q = 0; !rc && q < r->nq; q++) {
        rc = ecb_csv_field(pq, ctext(r, offsetof(ecb_cell_result, cell_id)), 1);
        if (!rc) rc = ecb_csv_field(pq, r->qids[q], 0);
        for (size_t m = 0; !rc && m < r->nm; m++) rc = ecb_csv_num(pq, r->perq[q * r->nm + m]);
        if (!rc) rc = ecb_buf_put(pq, "\n", 1);
    }
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* The cutoffs named by the header's ndcg@k columns, in order. */
static int header_ks(const ecb_table *t, size_t **ks, size_t *nk)
{
    *ks = ecb_calloc(t->ncols ? t->ncols : 1, sizeof **ks);
    *nk = 0;
    if (!*ks) return ECB_ENOMEM;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *h = t->head[c];
        if (strncmp(h, "ndcg@", 5) != 0) continue;
        char *end;
        unsigned long long k = strtoull(h + 5, &end, 10);
        if (*end || !h[5]) continue;
        (*ks)[(*nk)++] = (size_t)k;
    }
    return 0;
}

static int check_layout(const ecb_table *t, int per_query, size_t **ks_out, size_t *nk_out)
{
    size_t *ks, nk;
    int rc = header_ks(t, &ks, &nk);
    if (rc) return rc;
    ecb_buf want = {0};
    rc = per_query ? ecb_per_query_header(&want, ks, nk) : header_n(&want, ks, nk, layout_columns(t));
    ecb_buf got = {0};
    for (size_t c = 0; !rc && c < t->ncols; c++) rc = ecb_csv_field(&got, t->head[c], c == 0);
    if (!rc) rc = ecb_buf_put(&got, "\n", 1);
    if (!rc && strcmp(want.p, got.p) != 0)
        rc = ecb_fail(ECB_EFORMAT, "%s: its columns are not ecbench's %s layout (another k list "
                      "is fine; this header is not one ecbench writes). expected: %.*s got: %.*s",
                      t->path, per_query ? "per_query.csv" : "results.csv", (int)want.len - 1,
                      want.p, (int)got.len - 1, got.p);
    ecb_buf_free(&want);
    ecb_buf_free(&got);
    if (!rc && ks_out) { *ks_out = ks; *nk_out = nk; }
    else free(ks);
    return rc;
}

static const ecb_table *sort_table;
static int cmp_row_id(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(sort_table->cell[x * sort_table->ncols], sort_table->cell[y * sort_table->ncols]);
    return c ? c : (x > y) - (x < y);
}

int ecb_results_load(const char *path, ecb_table **out, size_t **ks, size_t *nk)
{
    ecb_table *t = NULL;
    int rc = ecb_table_read(path, &t);
    if (!rc) rc = check_layout(t, 0, ks, nk);
    size_t *idx = rc ? NULL : ecb_malloc_array(t->nrows ? t->nrows : 1, sizeof *idx);
    if (!rc && !idx) rc = ECB_ENOMEM;
    if (!rc) { /* cell_id is column 0; sorted order exposes duplicates */
        for (size_t i = 0; i < t->nrows; i++) idx[i] = i;
        sort_table = t;
        qsort(idx, t->nrows, sizeof *idx, cmp_row_id);
        for (size_t i = 1; !rc && i < t->nrows; i++)
            if (strcmp(t->cell[idx[i] * t->ncols], t->cell[idx[i - 1] * t->ncols]) == 0)
                rc = ecb_fail(ECB_EFORMAT, "%s: cell_id %s appears in rows %zu and %zu: two runs "
                              "wrote this directory, or files were concatenated; results would "
                              "count twice", path, t->cell[idx[i] * t->ncols], idx[i - 1] + 1,
                              idx[i] + 1);
    }
    free(idx);
    if (rc) {
        ecb_table_free(t);
        if (ks && *ks && rc) { free(*ks); *ks = NULL; }
        return rc;
    }
    *out = t;
    return 0;
}

int ecb_per_query_load(const char *path, ecb_table **out)
{
    ecb_table *t = NULL;
    int rc = ecb_table_read(path, &t);
    if (!rc) rc = check_layout(t, 1, NULL, NULL);
    if (rc) { ecb_table_free(t); return rc; }
    *out = t;
    return 0;
}

static double parse_num(const char *s)
{
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

int ecb_results_row(const ecb_table *t, size_t r, ecb_cell_result *out)
{
    ecb_cell_result_init(out);
    size_t ncol = layout_columns(t), nm = t->ncols - (ncol - 1);
    const char *const *f = (const char *const *)t->cell + r * t->ncols;
    size_t c = 0;
    out->nm = nm;
    out->mean = ecb_malloc_array(nm ? nm : 1, sizeof *out->mean);
    if (!out->mean) return ECB_ENOMEM;
    for (size_t i = 0; i < ncol; i++) {
        const column *col = &columns[i];
        switch (col->type) {
        case C_TEXT:
            if (!(*text_at(out, col->off) = ecb_strdup(f[c++]))) return ECB_ENOMEM;
            break;
        case C_SIZE:
        case C_NUM: *num_at(out, col->off) = parse_num(f[c++]); break;
        case C_SEED: out->seed = strtoull(f[c++], NULL, 10); break;
        case C_STATUS: {
            int s = ecb_cell_status_parse(f[c]);
            if (s < 0)
                return ecb_fail(ECB_EFORMAT, "%s: row %zu: status: expected one of ok, skipped, "
                                "error, crashed, timeout, oom, got \"%s\"", t->path, r + 1, f[c]);
            out->status = (ecb_cell_status)s;
            c++;
            break;
        }
        case C_METRICS:
            for (size_t m = 0; m < nm; m++) out->mean[m] = parse_num(f[c++]);
            break;
        }
    }
    return 0;
}

/* ---- the isolation pipe -------------------------------------------------- */

static int put_u64(ecb_buf *b, uint64_t v) { return ecb_buf_put(b, (const char *)&v, sizeof v); }
static int put_str(ecb_buf *b, const char *s)
{
    size_t n = strlen(s ? s : "");
    int rc = put_u64(b, n);
    return rc ? rc : ecb_buf_put(b, s ? s : "", n);
}

int ecb_cell_result_pack(const ecb_cell_result *r, ecb_buf *b)
{
    int rc = put_u64(b, (uint64_t)r->status);
    if (!rc) rc = put_u64(b, (uint64_t)r->data_error);
    for (size_t i = 0; !rc && i < NCOLUMNS; i++) {
        const column *c = &columns[i];
        if (c->type == C_TEXT) rc = put_str(b, ctext(r, c->off));
        else if (c->type == C_SIZE || c->type == C_NUM) {
            double v = cnum(r, c->off);
            rc = ecb_buf_put(b, (const char *)&v, sizeof v);
        } else if (c->type == C_SEED) rc = put_u64(b, r->seed);
    }
    if (!rc) rc = put_u64(b, r->nm);
    if (!rc) rc = put_u64(b, r->mean != NULL);
    if (!rc && r->mean) rc = ecb_buf_put(b, (const char *)r->mean, r->nm * sizeof(double));
    if (!rc) rc = put_u64(b, r->nq);
    for (size_t q = 0; !rc && q < r->nq; q++) {
        rc = put_str(b, r->qids[q]);
        if (!rc) rc = ecb_buf_put(b, (const char *)(r->perq + q * r->nm), r->nm * sizeof(double));
    }
    return rc;
}

typedef struct { const char *p; size_t n, off; } reader;

static int get_bytes(reader *rd, void *dst, size_t n)
{
    if (n > rd->n - rd->off) return ecb_fail(ECB_EFORMAT, "cell result: truncated");
    memcpy(dst, rd->p + rd->off, n);
    rd->off += n;
    return 0;
}
static int get_u64(reader *rd, uint64_t *v) { return get_bytes(rd, v, sizeof *v); }
static int get_str(reader *rd, char **s)
{
    uint64_t n = 0;
    int rc = get_u64(rd, &n);
    if (rc) return rc;
    if (n > rd->n - rd->off) return ecb_fail(ECB_EFORMAT, "cell result: truncated text");
    if (!(*s = ecb_malloc((size_t)n + 1))) return ECB_ENOMEM;
    memcpy(*s, rd->p + rd->off, (size_t)n);
    (*s)[n] = '\0';
    rd->off += (size_t)n;
    return 0;
}

static int unpack(reader *rd, ecb_cell_result *r)
{
    uint64_t v = 0, has = 0;
    int rc = get_u64(rd, &v);
    if (rc) return rc;
    if (v >= ECB_CELL_STATUS_COUNT) return ecb_fail(ECB_EFORMAT, "cell result: bad status");
    r->status = (ecb_cell_status)v;
    if ((rc = get_u64(rd, &v))) return rc;
    r->data_error = v != 0;
    for (size_t i = 0; !rc && i < NCOLUMNS; i++) {
        const column *c = &columns[i];
        if (c->type == C_TEXT) rc = get_str(rd, text_at(r, c->off));
        else if (c->type == C_SIZE || c->type == C_NUM) rc = get_bytes(rd, num_at(r, c->off), sizeof(double));
        else if (c->type == C_SEED) rc = get_u64(rd, &r->seed);
    }
    if (!rc) rc = get_u64(rd, &v);
    if (!rc && v > rd->n / sizeof(double)) rc = ecb_fail(ECB_EFORMAT, "cell result: bad metric count");
    if (rc) return rc;
    r->nm = (size_t)v;
    if ((rc = get_u64(rd, &has))) return rc;
    if (has) {
        if (!(r->mean = ecb_malloc_array(r->nm ? r->nm : 1, sizeof(double)))) return ECB_ENOMEM;
        if ((rc = get_bytes(rd, r->mean, r->nm * sizeof(double)))) return rc;
    }
    if ((rc = get_u64(rd, &v))) return rc;
    if (v > rd->n - rd->off) return ecb_fail(ECB_EFORMAT, "cell result: bad query count");
    r->qids = ecb_calloc(v ? (size_t)v : 1, sizeof *r->qids);
    r->perq = ecb_malloc_array(v * r->nm > 0 ? (size_t)v * r->nm : 1, sizeof(double));
    if (!r->qids || !r->perq) return ECB_ENOMEM;
    for (size_t q = 0; q < v; q++) {
        r->nq = q + 1;
        if ((rc = get_str(rd, &r->qids[q]))) return rc;
        if ((rc = get_bytes(rd, r->perq + q * r->nm, r->nm * sizeof(double)))) return rc;
    }
    if (rd->off != rd->n) return ecb_fail(ECB_EFORMAT, "cell result: %zu trailing bytes", rd->n - rd->off);
    return 0;
}

int ecb_cell_result_unpack(const char *p, size_t n, ecb_cell_result *out)
{
    ecb_cell_result_init(out);
    reader rd = {p, n, 0};
    int rc = unpack(&rd, out);
    if (rc) ecb_cell_result_release(out);
    return rc;
}

int ecb_is_quality_metric(const char *col)
{
    const char *at = strchr(col, '@');
    if (!at || !at[1]) return 0;
    for (const char *q = at + 1; *q; q++)
        if (*q < '0' || *q > '9') return 0;
    size_t len = (size_t)(at - col);
    for (int i = 0; i < ECB_M_COUNT; i++)
        if (strlen(ecb_metric_names[i]) == len && strncmp(col, ecb_metric_names[i], len) == 0)
            return 1;
    return 0;
}
