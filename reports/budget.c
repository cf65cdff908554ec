/*
 * Memory budgets (DESIGN D6): "which method wins at 64 bytes per vector, or
 * with 2 GiB for 30M passages?"
 *
 * What a cell costs against a budget, per vector:
 *   bytes_per_vector                    (the codes)
 * + rescore_bytes / n_corpus            (the second representation rescoring
 *                                        reads; it has to be stored too)
 * + aux_bytes / N                       (codebooks, rotations, thresholds:
 *                                        amortised over the budget's corpus
 *                                        size N, or the evaluated corpus when
 *                                        the budget is per vector)
 * A cell fits when that cost is at most the budget's bytes per vector.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ecb.h"
#include "reports/reports.h"

int ecb_parse_bytes(const char *s, double *out)
{
    static const struct { const char *unit; double mult; } units[] = {
        {"", 1}, {"b", 1}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
        {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0},
        {"k", 1024.0}, {"m", 1048576.0}, {"g", 1073741824.0}, {"t", 1099511627776.0}};
    if (!s) return ECB_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v <= 0) return ECB_EINVAL;
    while (isspace((unsigned char)*end)) end++;
    char unit[8];
    size_t n = strlen(end);
    while (n && isspace((unsigned char)end[n - 1])) n--;
    if (n >= sizeof unit) return ECB_EINVAL;
    memcpy(unit, end, n);
    unit[n] = '\0';
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcasecmp(unit, units[i].unit) == 0) {
            *out = v * units[i].mult;
            return 0;
        }
    return ECB_EINVAL;
}

void ecb_format_bytes(double b, char *buf, size_t n)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t i = 0;
    while (b >= 1024 && i + 1 < sizeof u / sizeof *u) { b /= 1024; i++; }
    if (b == floor(b)) snprintf(buf, n, "%.0f %s", b, u[i]);
    else snprintf(buf, n, "%.3g %s", b, u[i]);
}

static void format_count(double c, char *buf, size_t n)
{
    if (c >= 1e9 && fmod(c, 1e8) == 0) snprintf(buf, n, "%gB", c / 1e9);
    else if (c >= 1e6 && fmod(c, 1e5) == 0) snprintf(buf, n, "%gM", c / 1e6);
    else if (c >= 1e3 && fmod(c, 1e2) == 0) snprintf(buf, n, "%gK", c / 1e3);
    else snprintf(buf, n, "%.0f", c);
}

static int bad_budget(const char *where, size_t i, const char *what)
{
    return ecb_fail(ECB_EINVAL,
                    "%s: $.budgets[%zu]: expected bytes per vector (\"64B\", 128, \"1KiB\") or "
                    "{\"total\": \"2GiB\", \"corpus_size\": N}, got %s",
                    where, i, what);
}

int ecb_budgets_parse(const cJSON *arr, const char *where, ecb_budget **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!arr) return 0;
    if (cJSON_IsObject(arr) || cJSON_IsString(arr) || cJSON_IsNumber(arr)) {
        /* one budget given without the array */
        cJSON *wrap = cJSON_CreateArray();
        if (!wrap) return ECB_ENOMEM;
        cJSON_AddItemReferenceToArray(wrap, (cJSON *)arr);
        int rc = ecb_budgets_parse(wrap, where, out, n);
        cJSON_Delete(wrap);
        return rc;
    }
    if (!cJSON_IsArray(arr))
        return ecb_fail(ECB_EINVAL, "%s: $.budgets: expected an array of budgets, got another JSON type",
                        where);
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    ecb_budget *b = ecb_calloc(cnt ? cnt : 1, sizeof *b);
    if (!b) return ECB_ENOMEM;
    size_t i = 0;
    int rc = 0;
    for (const cJSON *it = arr->child; it && !rc; it = it->next, i++) {
        double bytes;
        char hb[64];
        if (cJSON_IsNumber(it) || cJSON_IsString(it)) {
            if (cJSON_IsNumber(it)) {
                bytes = it->valuedouble;
                if (!(bytes > 0)) { rc = bad_budget(where, i, "a number <= 0"); break; }
            } else if (ecb_parse_bytes(it->valuestring, &bytes)) {
                char what[160];
                snprintf(what, sizeof what, "\"%.100s\"", it->valuestring);
                rc = bad_budget(where, i, what);
                break;
            }
            b[i].per_vector = bytes;
            b[i].corpus_size = 0;
            ecb_format_bytes(bytes, hb, sizeof hb);
            snprintf(b[i].label, sizeof b[i].label, "%s/vec", hb);
        } else if (cJSON_IsObject(it)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "total");
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "corpus_size");
            for (const cJSON *k = it->child; k; k = k->next)
                if (strcmp(k->string, "total") && strcmp(k->string, "corpus_size")) {
                    rc = ecb_fail(ECB_EINVAL, "%s: $.budgets[%zu].%s: unknown key (expected \"total\" "
                                  "and \"corpus_size\")", where, i, k->string);
                    break;
                }
            if (rc) break;
            if (!(cJSON_IsNumber(t) && t->valuedouble > 0) &&
                !(cJSON_IsString(t) && ecb_parse_bytes(t->valuestring, &bytes) == 0)) {
                rc = bad_budget(where, i, "an object without a valid \"total\" (e.g. \"2GiB\")");
                break;
            }
            if (cJSON_IsNumber(t)) bytes = t->valuedouble;
            if (!cJSON_IsNumber(c) || !(c->valuedouble >= 1) || c->valuedouble != floor(c->valuedouble)) {
                rc = bad_budget(where, i, "an object without a positive integer \"corpus_size\"");
                break;
            }
            b[i].corpus_size = c->valuedouble;
            b[i].per_vector = bytes / c->valuedouble;
            char hc[32];
            ecb_format_bytes(bytes, hb, sizeof hb);
            format_count(c->valuedouble, hc, sizeof hc);
            snprintf(b[i].label, sizeof b[i].label, "%.40s for %.31s", hb, hc);
        } else {
            rc = bad_budget(where, i, "another JSON type");
        }
    }
    if (rc) { free(b); return rc; }
    *out = b;
    *n = cnt;
    return 0;
}

double ecb_budget_cost(const ecb_budget *b, double bytes_per_vector, double rescore_bytes,
                       double aux_bytes, double n_corpus)
{
    double cost = bytes_per_vector;
    if (!isnan(rescore_bytes) && rescore_bytes > 0 && n_corpus > 0) cost += rescore_bytes / n_corpus;
    double amort = b && b->corpus_size > 0 ? b->corpus_size : n_corpus;
    if (!isnan(aux_bytes) && aux_bytes > 0 && amort > 0) cost += aux_bytes / amort;
    return cost;
}

typedef struct { double x, y; size_t i; } pt;

static int cmp_pt(const void *a, const void *b)
{
    const pt *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    if (p->y != q->y) return p->y > q->y ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

size_t ecb_pareto(const double *x, const double *y, size_t n, int x_lower_better, size_t *idx)
{
    pt *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i]))
            v[m++] = (pt){x_lower_better ? x[i] : -x[i], y[i], i};
    qsort(v, m, sizeof *v, cmp_pt);
    /* Walk from the best x: a point is on the frontier when it beats every
     * point with a better (or equal) x. */
    size_t k = 0;
    double best = -INFINITY;
    for (size_t j = 0; j < m; j++)
        if (v[j].y > best) {
            best = v[j].y;
            idx[k++] = v[j].i;
        }
    free(v);
    if (!x_lower_better) /* collected by x descending: flip to ascending */
        for (size_t a = 0, b = k ? k - 1 : 0; a < b; a++, b--) {
            size_t t = idx[a];
            idx[a] = idx[b];
            idx[b] = t;
        }
    return k;
}
