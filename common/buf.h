/* A growing text buffer and CSV field formatting: the one quoting rule of
 * every CSV file ecbench writes (results, per-query rows, report tables). */
#ifndef ECB_BUF_H
#define ECB_BUF_H

#include <stddef.h>

#include "common/ecb.h"

typedef struct ecb_buf {
    char *p;        /* NUL-terminated when non-NULL */
    size_t len, cap;
} ecb_buf;
int ecb_buf_printf(ecb_buf *b, const char *fmt, ...) ECB_PRINTF(2, 3);
int ecb_buf_put(ecb_buf *b, const char *s, size_t n);
void ecb_buf_free(ecb_buf *b);

/* Append one CSV field, preceded by a comma unless first. It is quoted
 * (libcsv: whole field in quotes, quotes doubled) when it holds a comma, a
 * quote, CR/LF or a space at either end, so a reader that trims nothing
 * reads back the same bytes. */
int ecb_csv_field(ecb_buf *b, const char *s, int first);
/* A double: empty when NaN (not applicable), else %.10g. */
int ecb_csv_num(ecb_buf *b, double v);

#endif
