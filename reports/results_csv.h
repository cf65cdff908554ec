/*
 * results.csv / per_query.csv: the column layout (one definition shared by
 * the runner and the readers), CSV field quoting with libcsv, a small CSV
 * table reader, and crash-safe appends (one write() per row, so a kill
 * leaves whole rows only).
 */
#ifndef ECB_RESULTS_CSV_H
#define ECB_RESULTS_CSV_H

#include <stddef.h>

#include "harness/ecb.h"

/* Growing text buffer. */
typedef struct ecb_buf {
    char *p;
    size_t len, cap;
} ecb_buf;
int ecb_buf_printf(ecb_buf *b, const char *fmt, ...) ECB_PRINTF(2, 3);
int ecb_buf_put(ecb_buf *b, const char *s, size_t n);
void ecb_buf_free(ecb_buf *b);

/* Append one CSV field (quoted with libcsv only when needed), preceded by a
 * comma unless first. */
int ecb_csv_field(ecb_buf *b, const char *s, int first);
int ecb_csv_fieldf(ecb_buf *b, int first, const char *fmt, ...) ECB_PRINTF(3, 4);
/* A double: empty when NaN (not applicable), else %.10g. */
int ecb_csv_num(ecb_buf *b, double v);

/* Header of results.csv and per_query.csv for the given cutoffs. */
int ecb_results_header(ecb_buf *b, const size_t *ks, size_t nk);
int ecb_per_query_header(ecb_buf *b, const size_t *ks, size_t nk);
extern const char *const ecb_results_cost_columns[]; /* after the metric columns */

/* A parsed CSV file. */
typedef struct ecb_csv_table {
    size_t ncols, nrows;
    char **header;    /* ncols */
    char ***rows;     /* nrows x ncols */
} ecb_csv_table;
int ecb_csv_load(const char *path, ecb_csv_table **out);
int ecb_csv_col(const ecb_csv_table *t, const char *name); /* index or -1 */
void ecb_csv_table_free(ecb_csv_table *t);

/* Append bytes to a file with a single write() and fsync (O_APPEND). */
int ecb_append_atomic(const char *path, const char *data, size_t n);
/* Replace a file's contents atomically (temp + rename). */
int ecb_write_file_atomic(const char *path, const char *data, size_t n);

#endif
