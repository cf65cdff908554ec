/*
 * JSON helpers of the config reader: file loading with line/column errors,
 * key checks with a "did you mean" hint, typed getters whose messages name
 * the file, the JSON path, the expected and the actual value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config_impl.h"
#include "harness/params.h"

/* ---- JSON helpers ---------------------------------------------------- */

void ecb_text_position(const char *text, size_t offset, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < offset && text[i]; i++) {
        if (text[i] == '\n') { l++; c = 1; } else c++;
    }
    *line = l;
    *col = c;
}

int ecb_json_load_file(const char *path, cJSON **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot open: %m", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > ((size_t)64 << 20)) {
                fclose(f);
                free(buf);
                return ecb_fail(ECB_EFORMAT, "%s: larger than 64 MiB, not a config", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) { fclose(f); free(buf); return ecb_fail(ECB_ENOMEM, "%s: out of memory", path); }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    fclose(f);
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return ecb_fail(ECB_EFORMAT, "%s: contains a NUL byte, not JSON text", path);
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf, &end, 1);
    if (!j) {
        size_t off = end ? (size_t)(end - buf) : 0, line, col;
        ecb_text_position(buf, off, &line, &col);
        int rc = ecb_fail(ECB_EFORMAT, "%s:%zu:%zu: malformed JSON near '%.20s'", path, line,
                          col, buf + (off < len ? off : len));
        free(buf);
        return rc;
    }
    free(buf);
    *out = j;
    return 0;
}

void ecb_cfg_check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                        const char *jpath, ecb_problems *pr)
{
    size_t n = 0;
    while (allowed[n]) n++;
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++) ok = strcmp(it->string, allowed[i]) == 0;
        if (ok) continue;
        const char *hint = ecb_did_you_mean(it->string, allowed, n);
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: unknown key \"%s\"%s%s%s", file, jpath, it->string,
                        hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
}

int ecb_json_check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                        const char *jpath)
{
    ecb_problems pr = {0};
    ecb_cfg_check_keys(obj, allowed, file, jpath, &pr);
    return ecb_problems_finish(&pr, file);
}

int ecb_cfg_problem(ecb_problems *pr, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ecb_vfail(code, fmt, ap);
    va_end(ap);
    return ecb_problems_add(pr, code);
}

/* ---- duplicate keys ------------------------------------------------------ */

typedef struct {
    char p[512];
    size_t len;
} json_path;

/* Appends ".key" or "[i]" (cut at the buffer's end); returns the old length. */
static size_t path_push(json_path *jp, const cJSON *parent, const cJSON *it, size_t i)
{
    size_t old = jp->len;
    int w = cJSON_IsObject(parent) ? snprintf(jp->p + old, sizeof jp->p - old, ".%s", it->string)
                                   : snprintf(jp->p + old, sizeof jp->p - old, "[%zu]", i);
    if (w > 0) jp->len = old + (size_t)w < sizeof jp->p ? old + (size_t)w : sizeof jp->p - 1;
    return old;
}

static int cmp_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int c = strcmp(x->string, y->string);
    /* equal keys keep their order, so the message names them in file order */
    return c ? c : (x < y ? -1 : x > y);
}

static void find_dups(const cJSON *v, const char *file, json_path *jp, ecb_problems *pr)
{
    size_t n = 0, i = 0;
    for (const cJSON *it = v->child; it; it = it->next) n++;
    if (cJSON_IsObject(v) && n > 1) {
        /* sorted, not compared pairwise: an object may have a million keys */
        const cJSON **k = ecb_calloc(n, sizeof *k);
        if (!k) {
            ecb_problems_add(pr, ECB_ENOMEM);
            return;
        }
        for (const cJSON *it = v->child; it; it = it->next) k[i++] = it;
        qsort(k, n, sizeof *k, cmp_key);
        for (i = 1; i < n; i++)
            if (!strcmp(k[i]->string, k[i - 1]->string) && (i < 2 || strcmp(k[i]->string, k[i - 2]->string)))
                ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: key \"%s\" appears more than once (JSON "
                                "readers disagree on which one counts: keep one)", file, jp->p,
                                k[i]->string);
        free(k);
    }
    i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        if (!cJSON_IsObject(it) && !cJSON_IsArray(it)) continue;
        size_t old = path_push(jp, v, it, i);
        find_dups(it, file, jp, pr);
        jp->len = old;
        jp->p[old] = '\0';
    }
}

void ecb_json_find_duplicates(const cJSON *root, const char *file, ecb_problems *pr)
{
    json_path jp = {"$", 1};
    if (root) find_dups(root, file, &jp, pr);
}

const char *ecb_cfg_json_type(const cJSON *v)
{
    if (!v) return "nothing";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNull(v)) return "null";
    return "invalid JSON";
}

int ecb_cfg_get_size(const cJSON *v, const char *file, const char *jpath, size_t lo, size_t hi,
                    size_t *out)
{
    if (!cJSON_IsNumber(v))
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an integer in [%zu, %zu], got %s", file,
                        jpath, lo, hi, ecb_cfg_json_type(v));
    double d = v->valuedouble;
    /* range first: converting an out-of-range double to an integer is UB */
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an integer in [%zu, %zu], got %g", file,
                        jpath, lo, hi, d);
    *out = (size_t)d;
    return 0;
}

void ecb_cfg_get_size_axis(const cJSON *v, const char *file, const char *jpath, size_t lo,
                           size_t hi, size_t **out, size_t *n, ecb_problems *pr)
{
    *out = NULL;
    *n = 0;
    size_t len = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1, i = 0, before = pr->n;
    if (cJSON_IsArray(v) && !len) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: empty array: a sweep axis needs at least one value",
                        file, jpath);
        return;
    }
    size_t *a = ecb_calloc(len, sizeof *a);
    if (!a) {
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    for (const cJSON *it = cJSON_IsArray(v) ? v->child : v; i < len; it = it ? it->next : NULL, i++) {
        char jp[128];
        if (cJSON_IsArray(v)) snprintf(jp, sizeof jp, "%s[%zu]", jpath, i);
        else snprintf(jp, sizeof jp, "%s", jpath);
        ecb_problems_add(pr, ecb_cfg_get_size(it, file, jp, lo, hi, &a[i]));
    }
    if (pr->n > before) {
        free(a);
        return;
    }
    *out = a;
    *n = len;
}
