/*
 * CSV tables: read with libcsv (strict mode, so a stray quote is an error
 * rather than a silently merged field), edit in memory, write back
 * atomically.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "common/buf.h"
#include "common/csv.h"
#include "common/ecb.h"
#include "common/fileio.h"

typedef struct {
    ecb_table *t;
    char **row;       /* fields of the row being parsed */
    size_t nrow, caprow;
    size_t line;      /* 1-based line of the current record */
    int rc;
} parse_state;

static int grow_rows(ecb_table *t, size_t need)
{
    if (need <= t->cap) return 0;
    size_t cap = t->cap ? t->cap * 2 : 64;
    while (cap < need) cap *= 2;
    size_t bytes;
    if (!ecb_mul_ok(cap, t->ncols ? t->ncols : 1, &bytes) || !ecb_mul_ok(bytes, sizeof(char *), &bytes))
        return ecb_fail(ECB_ENOMEM, "%s: table too large", t->path);
    char **c = realloc(t->cell, bytes);
    if (!c) return ecb_fail(ECB_ENOMEM, "%s: out of memory reading rows", t->path);
    t->cell = c;
    t->cap = cap;
    return 0;
}

static void on_field(void *s, size_t len, void *data)
{
    parse_state *ps = data;
    if (ps->rc) return;
    if (ps->nrow == ps->caprow) {
        size_t cap = ps->caprow ? ps->caprow * 2 : 64;
        char **r = realloc(ps->row, cap * sizeof *r);
        if (!r) { ps->rc = ecb_fail(ECB_ENOMEM, "out of memory"); return; }
        ps->row = r;
        ps->caprow = cap;
    }
    char *f = ecb_malloc(len + 1);
    if (!f) { ps->rc = ECB_ENOMEM; return; }
    if (len) memcpy(f, s, len);
    f[len] = '\0';
    ps->row[ps->nrow++] = f;
}

static void drop_row(parse_state *ps)
{
    for (size_t i = 0; i < ps->nrow; i++) free(ps->row[i]);
    ps->nrow = 0;
}

static void on_row(int c, void *data)
{
    (void)c;
    parse_state *ps = data;
    ecb_table *t = ps->t;
    ps->line++;
    if (ps->rc) { drop_row(ps); return; }
    if (!t->head) {
        t->head = ps->row;
        t->ncols = ps->nrow;
        ps->row = NULL;
        ps->nrow = ps->caprow = 0;
        return;
    }
    if (ps->nrow != t->ncols) {
        ps->rc = ecb_fail(ECB_EFORMAT, "%s: record %zu: expected %zu fields (as the header), got %zu",
                          t->path, ps->line, t->ncols, ps->nrow);
        drop_row(ps);
        return;
    }
    if ((ps->rc = grow_rows(t, t->nrows + 1))) { drop_row(ps); return; }
    memcpy(t->cell + t->nrows * t->ncols, ps->row, t->ncols * sizeof(char *));
    t->nrows++;
    ps->nrow = 0;
}

/* Keep spaces inside unquoted fields: labels are data. */
static int no_space(unsigned char c) { (void)c; return 0; }

int ecb_table_read(const char *path, ecb_table **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot open: %s", path, strerror(errno));
    ecb_table *t = ecb_calloc(1, sizeof *t);
    if (!t) { fclose(f); return ECB_ENOMEM; }
    t->path = ecb_strdup(path);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        fclose(f);
        ecb_table_free(t);
        return ecb_fail(ECB_ENOMEM, "%s: csv_init failed", path);
    }
    csv_set_space_func(&p, no_space);
    parse_state ps = {.t = t};
    char buf[65536];
    size_t n;
    int rc = 0;
    int first = 1;
    while (!ps.rc && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        const char *s = buf;
        if (first && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) { s += 3; n -= 3; }
        first = 0;
        if (csv_parse(&p, s, n, on_field, on_row, &ps) != n) {
            rc = ecb_fail(ECB_EFORMAT, "%s: record %zu: malformed CSV (%s)", path, ps.line + 1,
                          csv_strerror(csv_error(&p)));
            break;
        }
    }
    if (!rc && !ps.rc && ferror(f)) rc = ecb_fail(ECB_EIO, "%s: read error", path);
    if (!rc && !ps.rc && csv_fini(&p, on_field, on_row, &ps) != 0)
        rc = ecb_fail(ECB_EFORMAT, "%s: record %zu: unterminated quoted field at end of file", path,
                      ps.line + 1);
    csv_free(&p);
    fclose(f);
    drop_row(&ps);
    free(ps.row);
    if (!rc) rc = ps.rc;
    if (!rc && !t->head) rc = ecb_fail(ECB_EFORMAT, "%s: empty file (expected a header row)", path);
    if (rc) { ecb_table_free(t); return rc; }
    *out = t;
    return 0;
}

int ecb_table_new(const char *const *cols, size_t ncols, ecb_table **out)
{
    ecb_table *t = ecb_calloc(1, sizeof *t);
    if (!t) return ECB_ENOMEM;
    t->path = ecb_strdup("<table>");
    t->head = ecb_calloc(ncols ? ncols : 1, sizeof(char *));
    if (!t->head) { ecb_table_free(t); return ECB_ENOMEM; }
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        if (!(t->head[i] = ecb_strdup(cols[i]))) { ecb_table_free(t); return ECB_ENOMEM; }
    *out = t;
    return 0;
}

void ecb_table_free(ecb_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++) free(t->cell[i]);
    free(t->cell);
    for (size_t i = 0; t->head && i < t->ncols; i++) free(t->head[i]);
    free(t->head);
    free(t->path);
    free(t);
}

int ecb_table_col(const ecb_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->head[i], name) == 0) return (int)i;
    return -1;
}

const char *ecb_table_at(const ecb_table *t, size_t r, int c)
{
    if (c < 0 || (size_t)c >= t->ncols || r >= t->nrows) return "";
    return t->cell[r * t->ncols + (size_t)c];
}

int ecb_table_num(const ecb_table *t, size_t r, int c, double *out)
{
    const char *s = ecb_table_at(t, r, c);
    if (!*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

int ecb_table_add_col(ecb_table *t, const char *name)
{
    size_t nc = t->ncols + 1, bytes;
    size_t rows = t->cap > t->nrows ? t->cap : t->nrows;
    if (!ecb_mul_ok(rows ? rows : 1, nc, &bytes) || !ecb_mul_ok(bytes, sizeof(char *), &bytes))
        return ecb_fail(ECB_ENOMEM, "table too large");
    char **cell = ecb_malloc(bytes);
    char **head = realloc(t->head, nc * sizeof *head);
    char *nm = ecb_strdup(name);
    if (!cell || !head || !nm) {
        free(cell);
        free(nm);
        if (head) t->head = head;
        return ecb_fail(ECB_ENOMEM, "out of memory adding column %s", name);
    }
    t->head = head;
    for (size_t r = 0; r < t->nrows; r++) {
        memcpy(cell + r * nc, t->cell + r * t->ncols, t->ncols * sizeof(char *));
        cell[r * nc + t->ncols] = NULL;
    }
    int rc = 0;
    for (size_t r = 0; r < t->nrows; r++)
        if (!(cell[r * nc + t->ncols] = ecb_strdup(""))) rc = ECB_ENOMEM;
    free(t->cell);
    t->cell = cell;
    t->cap = rows;
    t->head[t->ncols] = nm;
    t->ncols = nc;
    return rc ? rc : (int)(nc - 1);
}

long ecb_table_add_row(ecb_table *t)
{
    int rc = grow_rows(t, t->nrows + 1);
    if (rc) return rc;
    char **row = t->cell + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) row[i] = NULL;
    t->nrows++;
    for (size_t i = 0; i < t->ncols; i++)
        if (!(row[i] = ecb_strdup(""))) return ECB_ENOMEM;
    return (long)(t->nrows - 1);
}

int ecb_table_set(ecb_table *t, size_t r, int c, const char *v)
{
    if (c < 0 || (size_t)c >= t->ncols || r >= t->nrows)
        return ecb_fail(ECB_EINTERNAL, "table cell (%zu,%d) out of range", r, c);
    char *s = ecb_strdup(v ? v : "");
    if (!s) return ECB_ENOMEM;
    free(t->cell[r * t->ncols + (size_t)c]);
    t->cell[r * t->ncols + (size_t)c] = s;
    return 0;
}

int ecb_table_setf(ecb_table *t, size_t r, int c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ecb_table_set(t, r, c, buf);
}

int ecb_table_write(const ecb_table *t, const char *path)
{
    ecb_buf b = {0};
    int rc = 0;
    for (size_t c = 0; !rc && c < t->ncols; c++) rc = ecb_csv_field(&b, t->head[c], c == 0);
    if (!rc) rc = ecb_buf_put(&b, "\n", 1);
    for (size_t r = 0; !rc && r < t->nrows; r++) {
        for (size_t c = 0; !rc && c < t->ncols; c++)
            rc = ecb_csv_field(&b, t->cell[r * t->ncols + c], c == 0);
        if (!rc) rc = ecb_buf_put(&b, "\n", 1);
    }
    if (!rc) rc = ecb_write_file_atomic(path, b.p, b.len);
    ecb_buf_free(&b);
    return rc;
}

void ecb_table_filter(ecb_table *t, const unsigned char *keep)
{
    size_t w = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->cell + r * t->ncols;
        if (keep[r]) {
            if (w != r) memmove(t->cell + w * t->ncols, row, t->ncols * sizeof *row);
            w++;
        } else
            for (size_t c = 0; c < t->ncols; c++) free(row[c]);
    }
    t->nrows = w;
}

int ecb_csv_trim_partial(const char *path, int *trimmed)
{
    *trimmed = 0;
    ecb_buf b = {0};
    int rc = ecb_read_file(path, &b);
    /* A newline ends a record only outside quotes; a doubled quote toggles
     * twice, so parity is enough. */
    size_t end = 0;
    int quoted = 0;
    for (size_t i = 0; !rc && i < b.len; i++) {
        if (b.p[i] == '"') quoted = !quoted;
        else if (b.p[i] == '\n' && !quoted) end = i + 1;
    }
    if (!rc && end < b.len) {
        rc = ecb_write_file_atomic(path, b.p, end);
        *trimmed = 1;
    }
    ecb_buf_free(&b);
    return rc;
}
