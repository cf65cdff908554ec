/* Growing text buffer and the CSV quoting rule (libcsv's csv_write). */
#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static int buf_reserve(ecb_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1) {
        if (nc > ((size_t)-1) / 2) return ecb_fail(ECB_ENOMEM, "text buffer too large");
        nc *= 2;
    }
    char *np = realloc(b->p, nc);
    if (!np) return ecb_fail(ECB_ENOMEM, "out of memory (text buffer of %zu bytes)", nc);
    b->p = np;
    b->cap = nc;
    return 0;
}

int ecb_buf_put(ecb_buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n)) return ECB_ENOMEM;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int ecb_buf_printf(ecb_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    int rc = n < 0 ? ecb_fail(ECB_EINVAL, "bad format") : buf_reserve(b, (size_t)n);
    if (!rc) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
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
    int quote = n && (s[0] == ' ' || s[n - 1] == ' ');
    if (!quote && strpbrk(s, ",\"\r\n") == NULL) return ecb_buf_put(b, s, n);
    size_t need = csv_write(NULL, 0, s, n);
    if (buf_reserve(b, need)) return ECB_ENOMEM;
    csv_write(b->p + b->len, need, s, n);
    b->len += need;
    b->p[b->len] = '\0';
    return 0;
}

int ecb_csv_num(ecb_buf *b, double v)
{
    if (v != v) return ecb_buf_put(b, ",", 1);
    return ecb_buf_printf(b, ",%.10g", v);
}
