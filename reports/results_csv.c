/* CSV writing/reading for results (libcsv for quoting and parsing). */
#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/metrics.h"
#include "reports/results_csv.h"

const char *const ecb_results_cost_columns[] = {
    "n_skipped_queries", "recon_mse", "recon_cosine", "bytes_per_vector", "aux_bytes",
    "index_bytes", "rescore_bytes", "compression_ratio", "bits_per_dim", "train_s",
    "encode_vps", "query_p50_ms", "query_p95_ms", "query_p99_ms", "qps", "peak_rss_mb", "seed",
    "status", "error", NULL};

static int buf_reserve(ecb_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) return ecb_fail(ECB_ENOMEM, "out of memory");
    b->p = np;
    b->cap = nc;
    return 0;
}

int ecb_buf_put(ecb_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n)) return ECB_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_vprintf(ecb_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || buf_reserve(b, (size_t)n)) return ECB_ENOMEM;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int ecb_buf_printf(ecb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void ecb_buf_free(ecb_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int ecb_csv_field(ecb_buf *b, const char *s, int first)
{
    if (!first && ecb_buf_put(b, ",", 1)) return ECB_ENOMEM;
    size_t n = strlen(s);
    if (strpbrk(s, ",\"\r\n") == NULL) return ecb_buf_put(b, s, n);
    /* libcsv quotes the whole field and doubles embedded quotes. */
    size_t need = csv_write(NULL, 0, s, n);
    if (buf_reserve(b, need)) return ECB_ENOMEM;
    csv_write(b->p + b->len, need, s, n);
    b->len += need;
    b->p[b->len] = '\0';
    return 0;
}

int ecb_csv_fieldf(ecb_buf *b, int first, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return ecb_csv_field(b, tmp, first);
}

int ecb_csv_num(ecb_buf *b, double v)
{
    if (v != v) return ecb_buf_put(b, ",", 1);
    return ecb_buf_printf(b, ",%.10g", v);
}

static int metric_columns(ecb_buf *b, const size_t *ks, size_t nk)
{
    for (int m = 0; m < ECB_M_COUNT; m++)
        for (size_t i = 0; i < nk; i++)
            if (ecb_buf_printf(b, ",%s@%zu", ecb_metric_names[m], ks[i])) return ECB_ENOMEM;
    return 0;
}

int ecb_results_header(ecb_buf *b, const size_t *ks, size_t nk)
{
    int rc = ecb_buf_printf(b, "cell_id,dataset,corpus_size,method,params,label,mode,rescore,"
                               "n_corpus,n_queries,dim");
    if (!rc) rc = metric_columns(b, ks, nk);
    for (size_t i = 0; !rc && ecb_results_cost_columns[i]; i++)
        rc = ecb_buf_printf(b, ",%s", ecb_results_cost_columns[i]);
    if (!rc) rc = ecb_buf_put(b, "\n", 1);
    return rc;
}

int ecb_per_query_header(ecb_buf *b, const size_t *ks, size_t nk)
{
    int rc = ecb_buf_printf(b, "cell_id,qid");
    if (!rc) rc = metric_columns(b, ks, nk);
    if (!rc) rc = ecb_buf_put(b, "\n", 1);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

typedef struct {
    ecb_csv_table *t;
    char **cur;
    size_t ncur, capcur;
    int failed;
} reader;

static void on_field(void *s, size_t n, void *ctx)
{
    reader *r = ctx;
    if (r->failed) return;
    if (r->ncur == r->capcur) {
        size_t nc = r->capcur ? r->capcur * 2 : 64;
        char **np = realloc(r->cur, nc * sizeof *np);
        if (!np) { r->failed = 1; return; }
        r->cur = np;
        r->capcur = nc;
    }
    char *f = malloc(n + 1);
    if (!f) { r->failed = 1; return; }
    memcpy(f, s, n);
    f[n] = '\0';
    r->cur[r->ncur++] = f;
}

static void on_row(int c, void *ctx)
{
    (void)c;
    reader *r = ctx;
    ecb_csv_table *t = r->t;
    if (r->failed) return;
    if (!t->header) {
        t->header = r->cur;
        t->ncols = r->ncur;
    } else {
        if (r->ncur != t->ncols) {
            r->failed = 2;
            for (size_t i = 0; i < r->ncur; i++) free(r->cur[i]);
            free(r->cur);
        } else {
            char ***nr = realloc(t->rows, (t->nrows + 1) * sizeof *nr);
            if (!nr) { r->failed = 1; return; }
            t->rows = nr;
            t->rows[t->nrows++] = r->cur;
        }
    }
    r->cur = NULL;
    r->ncur = r->capcur = 0;
}

int ecb_csv_load(const char *path, ecb_csv_table **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    reader r = {0};
    r.t = ecb_calloc(1, sizeof *r.t);
    if (!r.t) { fclose(f); return ECB_ENOMEM; }
    char buf[65536];
    size_t got;
    size_t line_rows = 0;
    int rc = 0;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (csv_parse(&p, buf, got, on_field, on_row, &r) != got) {
            rc = ecb_fail(ECB_EFORMAT, "%s: malformed CSV: %s", path, csv_strerror(csv_error(&p)));
            break;
        }
        if (r.failed) break;
    }
    if (!rc) csv_fini(&p, on_field, on_row, &r);
    csv_free(&p);
    fclose(f);
    (void)line_rows;
    if (!rc && r.failed == 2)
        rc = ecb_fail(ECB_EFORMAT, "%s: row %zu has a different number of fields than the header (%zu)",
                      path, r.t->nrows + 2, r.t->ncols);
    else if (!rc && r.failed)
        rc = ecb_fail(ECB_ENOMEM, "%s: out of memory", path);
    else if (!rc && !r.t->header)
        rc = ecb_fail(ECB_EFORMAT, "%s: empty CSV file (no header)", path);
    if (r.cur) {
        for (size_t i = 0; i < r.ncur; i++) free(r.cur[i]);
        free(r.cur);
    }
    if (rc) {
        ecb_csv_table_free(r.t);
        return rc;
    }
    *out = r.t;
    return 0;
}

int ecb_csv_col(const ecb_csv_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->header[i], name) == 0) return (int)i;
    return -1;
}

void ecb_csv_table_free(ecb_csv_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows; i++) {
        for (size_t j = 0; j < t->ncols; j++) free(t->rows[i][j]);
        free(t->rows[i]);
    }
    free(t->rows);
    if (t->header)
        for (size_t j = 0; j < t->ncols; j++) free(t->header[j]);
    free(t->header);
    free(t);
}

/* ---- crash-safe writes ------------------------------------------------ */

int ecb_append_atomic(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ecb_fail(ECB_EIO, "%s: cannot open for appending: %s", path, strerror(errno));
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            return ecb_fail(ECB_EIO, "%s: write failed: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    fsync(fd);
    close(fd);
    return 0;
}

int ecb_write_file_atomic(const char *path, const char *data, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ecb_fail(ECB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return ecb_fail(ECB_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    fsync(fd);
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ecb_fail(ECB_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    return 0;
}
