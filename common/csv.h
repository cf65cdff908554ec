/*
 * The one CSV reader and writer (libcsv, strict mode: a stray quote is an
 * error, never a silently merged field). Quoted fields may hold commas,
 * quotes and newlines; a UTF-8 byte-order mark at the start is skipped.
 * Used by resume, report, compare and the per-query join.
 */
#ifndef ECB_CSV_H
#define ECB_CSV_H

#include <stddef.h>

/* A CSV file held in memory: a header and nrows rows of ncols fields. Every
 * field is a NUL-terminated string, "" when empty; never NULL. */
typedef struct ecb_table {
    size_t ncols, nrows, cap;
    char **head;  /* ncols column names */
    char **cell;  /* nrows * ncols, row-major */
    char *path;   /* for messages */
} ecb_table;

/* Read a CSV file with a header row. Rows with a field count different from
 * the header are an error naming the file and line. */
int ecb_table_read(const char *path, ecb_table **out);
/* An empty table with the given columns (copied). */
int ecb_table_new(const char *const *cols, size_t ncols, ecb_table **out);
void ecb_table_free(ecb_table *t); /* accepts NULL */
/* Column index by name, or -1. */
int ecb_table_col(const ecb_table *t, const char *name);
/* Field of row r, column c; "" when c < 0. */
const char *ecb_table_at(const ecb_table *t, size_t r, int c);
/* Parse a numeric field: 1 and *out on success, 0 when empty, missing or
 * not a finite number. */
int ecb_table_num(const ecb_table *t, size_t r, int c, double *out);
/* Append a column (all rows ""); returns its index or a negative error. */
int ecb_table_add_col(ecb_table *t, const char *name);
/* Append an empty row; returns its index or a negative error. */
long ecb_table_add_row(ecb_table *t);
int ecb_table_set(ecb_table *t, size_t r, int c, const char *v);
int ecb_table_setf(ecb_table *t, size_t r, int c, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write atomically (ecb_write_file_atomic), quoting as ecb_csv_field. */
int ecb_table_write(const ecb_table *t, const char *path);
/* Keep only the rows r with keep[r] != 0 (order preserved). */
void ecb_table_filter(ecb_table *t, const unsigned char *keep);

/* Cut a half-written last record (a kill between a row's bytes): everything
 * after the last newline outside quotes. *trimmed tells whether it did. */
int ecb_csv_trim_partial(const char *path, int *trimmed);

#endif
