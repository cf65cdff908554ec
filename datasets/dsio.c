/*
 * Input helpers shared by the readers of datasets/: whole text files and
 * the NumPy .npy header.
 *
 * The .npy header dict is parsed as the Python literal it is (NumPy reads it
 * with ast.literal_eval) but only in the subset NumPy writes and accepts:
 * one dict, string keys, exactly 'descr', 'fortran_order' and 'shape', each
 * once; values a plain string, True/False and a tuple of integers; commas
 * between items, an optional trailing comma, any whitespace, and nothing
 * but whitespace after the closing brace. Searching the text for the keys
 * (as this reader once did) accepted headers NumPy itself refuses, e.g. a
 * missing comma, an extra key or a duplicate one, so a file ecbench read
 * could disagree with what the tool that wrote it meant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"

/* ---- opening -------------------------------------------------------------- */

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO (named pipe)" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISDIR(m) ? "a directory"
           : S_ISSOCK(m) ? "a socket" : "not a file";
}

int ecb_ds_open_regular(const char *path, const char *what, int *fd_out, size_t *size)
{
    *fd_out = -1;
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise wait. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return ecb_fail(errno == ENOENT ? ECB_ENOTFOUND : ECB_EIO, "%s: cannot open %s: %s",
                        path, what, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ecb_fail(ECB_EIO, "%s: cannot stat %s: %s", path, what, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ecb_fail(ECB_EINVAL, "%s: not a regular file but %s: ecbench reads a %s only "
                        "from a regular file, since a pipe or device may block or never end",
                        path, file_kind(st.st_mode), what);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl != -1) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    *size = (size_t)st.st_size;
    return 0;
}

/* ---- text files ------------------------------------------------------- */

int ecb_ds_read_file(const char *path, const char *what, size_t max_bytes, char **buf_out,
                     size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    int fd;
    size_t fsize;
    int rc = ecb_ds_open_regular(path, what, &fd, &fsize);
    if (rc) return rc;
    if (max_bytes && fsize > max_bytes) {
        close(fd);
        return ecb_fail(ECB_EFORMAT, "%s: %s larger than %zu bytes", path, what, max_bytes);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ecb_fail(ECB_ENOMEM, "%s: cannot read %s", path, what);
    }
    size_t cap = 1 << 16, n = 0;
    char *b = ecb_malloc(cap);
    if (!b) {
        fclose(f);
        return ECB_ENOMEM;
    }
    for (;;) {
        if (max_bytes && n > max_bytes) {
            rc = ecb_fail(ECB_EFORMAT, "%s: %s larger than %zu bytes", path, what, max_bytes);
            break;
        }
        if (cap - n < 2) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
            if (!nb) {
                rc = ecb_fail(ECB_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    if (!rc && ferror(f)) rc = ecb_fail(ECB_EIO, "%s: read error", path);
    fclose(f);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf_out = b;
    *len_out = n;
    return 0;
}

int ecb_ds_read_text(const char *path, const char *what, size_t max_bytes, char **buf_out,
                     size_t *len_out)
{
    int rc = ecb_ds_read_file(path, what, max_bytes, buf_out, len_out);
    char *b = *buf_out;
    if (!rc && *len_out >= 3 && memcmp(b, ECB_UTF8_BOM, 3) == 0) {
        memmove(b, b + 3, *len_out - 3 + 1);
        *len_out -= 3;
    }
    return rc;
}

/* ---- .npy header ------------------------------------------------------- */

typedef struct {
    const char *path;
    const char *s; /* header text (NUL-terminated copy) */
    size_t i;      /* cursor */
    size_t base;   /* file offset of s[0] */
} npy_lex;

static int npy_err(const npy_lex *x, const char *expected)
{
    const char *at = x->s + x->i;
    int n = (int)strcspn(at, "\n");
    if (n > 16) n = 16;
    return ecb_fail(ECB_EFORMAT, "%s: header byte %zu: expected %s, got %s%.*s%s (the .npy header is a "
                    "Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (rows, dim)})",
                    x->path, x->base + x->i, expected, *at ? "'" : "the end of the header",
                    *at ? n : 0, at, *at ? "'" : "");
}

static void npy_ws(npy_lex *x)
{
    while (x->s[x->i] && strchr(" \t\n\r\f\v", x->s[x->i])) x->i++;
}

/* A plain quoted string (no prefix, no escapes: NumPy writes none). */
static int npy_string(npy_lex *x, char *out, size_t cap, const char *what)
{
    char q = x->s[x->i];
    if (q != '\'' && q != '"') return npy_err(x, what);
    size_t start = ++x->i;
    while (x->s[x->i] && x->s[x->i] != q && x->s[x->i] != '\n') {
        if (x->s[x->i] == '\\')
            return npy_err(x, "a string without escape sequences");
        x->i++;
    }
    if (x->s[x->i] != q) {
        x->i = start - 1;
        return npy_err(x, "a closed string (unterminated string)");
    }
    size_t l = x->i - start;
    if (l >= cap) {
        x->i = start - 1;
        return npy_err(x, "a string of at most 15 characters");
    }
    memcpy(out, x->s + start, l);
    out[l] = '\0';
    x->i++;
    return 0;
}

/* A decimal integer as Python writes it: 0, or no leading zero. */
static int npy_int(npy_lex *x, uint64_t *out)
{
    const char *p = x->s + x->i;
    if (*p < '0' || *p > '9') return npy_err(x, "an integer (a non-negative dimension)");
    if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
        return npy_err(x, "an integer without a leading zero (Python rejects leading zeros)");
    uint64_t v = 0;
    size_t k = 0;
    for (; p[k] >= '0' && p[k] <= '9'; k++) {
        if (v > (UINT64_MAX - 9) / 10) return npy_err(x, "a dimension that is not too large");
        v = v * 10 + (uint64_t)(p[k] - '0');
    }
    x->i += k;
    *out = v;
    return 0;
}

static int npy_shape(npy_lex *x, ecb_npy_header *h)
{
    if (x->s[x->i] != '(') return npy_err(x, "a tuple '(rows, dim)' for 'shape'");
    size_t open = x->i++;
    h->ndim = 0;
    int comma = 0; /* a comma followed the last integer */
    for (;;) {
        npy_ws(x);
        if (x->s[x->i] == ')') break;
        if (h->ndim && !comma) return npy_err(x, "',' or ')' in the 'shape' tuple");
        if (h->ndim == ECB_NPY_MAX_DIMS) return npy_err(x, "at most 8 dimensions");
        int rc = npy_int(x, &h->shape[h->ndim]);
        if (rc) return rc;
        h->ndim++;
        npy_ws(x);
        comma = x->s[x->i] == ',';
        if (comma) x->i++;
    }
    if (h->ndim == 1 && !comma) {
        /* (20) is the integer 20 in Python: NumPy refuses it too. */
        char want[96];
        snprintf(want, sizeof want, "a tuple, but (%llu) is an integer in Python; write (%llu,)",
                 (unsigned long long)h->shape[0], (unsigned long long)h->shape[0]);
        x->i = open;
        return npy_err(x, want);
    }
    x->i++;
    return 0;
}

static int npy_dict(npy_lex *x, ecb_npy_header *h)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    int seen[3] = {0, 0, 0};
    npy_ws(x);
    if (x->s[x->i] != '{') return npy_err(x, "'{' (a Python dict)");
    x->i++;
    for (;;) {
        npy_ws(x);
        if (x->s[x->i] == '}') break;
        size_t at = x->i;
        char key[16];
        int rc = npy_string(x, key, sizeof key, "a quoted key or '}'");
        if (rc) return rc;
        int k = 0;
        while (k < 3 && strcmp(key, keys[k])) k++;
        if (k == 3) {
            x->i = at;
            char want[96];
            snprintf(want, sizeof want, "'descr', 'fortran_order' or 'shape' (unknown key '%s')",
                     key);
            return npy_err(x, want);
        }
        if (seen[k]) {
            x->i = at;
            char want[64];
            snprintf(want, sizeof want, "each key once (key '%s' appears twice)", key);
            return npy_err(x, want);
        }
        seen[k] = 1;
        npy_ws(x);
        if (x->s[x->i] != ':') return npy_err(x, "':' after the key");
        x->i++;
        npy_ws(x);
        if (k == 0) {
            rc = npy_string(x, h->descr, sizeof h->descr, "a string such as '<f4' for 'descr'");
        } else if (k == 1) {
            const char *p = x->s + x->i;
            size_t l = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
            if (l == 4 && !strncmp(p, "True", 4)) h->fortran_order = 1;
            else if (l == 5 && !strncmp(p, "False", 5)) h->fortran_order = 0;
            else rc = npy_err(x, "True or False for 'fortran_order'");
            if (!rc) x->i += l;
        } else {
            rc = npy_shape(x, h);
        }
        if (rc) return rc;
        npy_ws(x);
        if (x->s[x->i] == ',') {
            x->i++;
            continue;
        }
        if (x->s[x->i] != '}') return npy_err(x, "',' or '}' after a value");
    }
    x->i++;
    for (int k = 0; k < 3; k++)
        if (!seen[k]) {
            char want[64];
            snprintf(want, sizeof want, "the key '%s' (missing key '%s')", keys[k], keys[k]);
            x->i--;
            return npy_err(x, want);
        }
    npy_ws(x);
    if (x->s[x->i]) return npy_err(x, "only padding after the dict");
    return 0;
}

int ecb_npy_load_1d(const char *path, const char *what, const char *const *descrs,
                    void **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    char *buf;
    size_t len;
    int rc = ecb_ds_read_file(path, what, (size_t)1 << 34, &buf, &len);
    if (rc) return rc;
    ecb_npy_header h;
    if ((rc = ecb_npy_parse_header(path, (const unsigned char *)buf, len, &h))) goto out;
    size_t k = 0;
    while (descrs[k] && strcmp(descrs[k], h.descr)) k++;
    if (!descrs[k]) {
        rc = ecb_fail(ECB_EFORMAT, "%s: header field 'descr': expected '%s'%s%s%s (%s), got '%s'",
                      path, descrs[0], descrs[1] ? " or '" : "", descrs[1] ? descrs[1] : "",
                      descrs[1] ? "'" : "", what, h.descr);
        goto out;
    }
    if (h.ndim != 1) {
        rc = ecb_fail(ECB_EFORMAT, "%s: header field 'shape': expected 1 dimension (one value "
                      "per entry), got %zu", path, h.ndim);
        goto out;
    }
    size_t esz = (size_t)strtoul(h.descr + 2, NULL, 10), cnt = (size_t)h.shape[0], bytes;
    if (h.shape[0] > SIZE_MAX / esz || !ecb_mul_ok(cnt, esz, &bytes) ||
        h.data_off + bytes != len) {
        rc = ecb_fail(ECB_EFORMAT, "%s: shape (%llu,) of %s needs %llu bytes of data after the "
                      "%zu-byte header, file has %zu", path, (unsigned long long)h.shape[0],
                      h.descr, (unsigned long long)h.shape[0] * esz, h.data_off, len);
        goto out;
    }
    void *d = ecb_malloc(bytes ? bytes : 1);
    if (!d) {
        rc = ECB_ENOMEM;
        goto out;
    }
    memcpy(d, buf + h.data_off, bytes);
    *data = d;
    *n = cnt;
    /* index k of descrs picked: callers convert by it */
    rc = (int)k;
out:
    free(buf);
    return rc;
}

int ecb_npy_parse_header(const char *path, const unsigned char *m, size_t size,
                         ecb_npy_header *out)
{
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(m, "\x93NUMPY", 6) != 0)
        return ecb_fail(ECB_EFORMAT, "%s: magic: expected \"\\x93NUMPY\", not found (not a .npy "
                        "file)", path);
    unsigned major = m[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)m[8] | (size_t)m[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12)
            return ecb_fail(ECB_EFORMAT, "%s: truncated header (%zu bytes)", path, size);
        hlen = (size_t)m[8] | (size_t)m[9] << 8 | (size_t)m[10] << 16 | (size_t)m[11] << 24;
        hoff = 12;
    } else {
        return ecb_fail(ECB_EFORMAT, "%s: version: expected 1, 2 or 3, got %u.%u", path, major,
                        m[7]);
    }
    if (hlen > size - hoff || hlen > 65536)
        return ecb_fail(ECB_EFORMAT, "%s: header length %zu exceeds the file (%zu bytes)", path,
                        hlen, size);
    char *h = ecb_malloc(hlen + 1);
    if (!h) return ECB_ENOMEM;
    memcpy(h, m + hoff, hlen);
    h[hlen] = '\0';
    int rc = 0;
    if (strlen(h) != hlen)
        rc = ecb_fail(ECB_EFORMAT, "%s: header byte %zu: NUL byte in the header dict", path,
                      hoff + strlen(h));
    npy_lex x = {path, h, 0, hoff};
    if (!rc) rc = npy_dict(&x, out);
    free(h);
    out->data_off = hoff + hlen;
    return rc;
}
