/*
 * Budgets and tolerances as a config writes them (see budget_spec.h). A
 * budget is bytes per vector, or a total for a corpus size: the report
 * divides the total by that size and amortises the codebooks over it. A
 * method entry's budget target is bytes per vector or a ratio; which
 * parameters a plugin lets a budget choose is checked here at load.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness/budget_spec.h"

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

/* One budget: bytes per vector (a number or a size string). */
static int parse_per_vector(const cJSON *it, const char *where, size_t i, ecb_budget *b)
{
    double bytes;
    char hb[64];
    if (cJSON_IsNumber(it)) {
        bytes = it->valuedouble;
        if (!(bytes > 0)) return bad_budget(where, i, "a number <= 0");
    } else if (ecb_parse_bytes(it->valuestring, &bytes)) {
        char what[160];
        snprintf(what, sizeof what, "\"%.100s\"", it->valuestring);
        return bad_budget(where, i, what);
    }
    b->per_vector = bytes;
    b->corpus_size = 0;
    ecb_format_bytes(bytes, hb, sizeof hb);
    snprintf(b->label, sizeof b->label, "%s/vec", hb);
    return 0;
}

/* One budget: {"total": size, "corpus_size": N}. */
static int parse_total(const cJSON *it, const char *where, size_t i, ecb_budget *b)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "total");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "corpus_size");
    double bytes = 0;
    char hb[64];
    for (const cJSON *k = it->child; k; k = k->next)
        if (strcmp(k->string, "total") && strcmp(k->string, "corpus_size"))
            return ecb_fail(ECB_EINVAL, "%s: $.budgets[%zu].%s: unknown key (expected \"total\" "
                            "and \"corpus_size\")", where, i, k->string);
    if (!(cJSON_IsNumber(t) && t->valuedouble > 0) &&
        !(cJSON_IsString(t) && ecb_parse_bytes(t->valuestring, &bytes) == 0))
        return bad_budget(where, i, "an object without a valid \"total\" (e.g. \"2GiB\")");
    if (cJSON_IsNumber(t)) bytes = t->valuedouble;
    if (!cJSON_IsNumber(c) || !(c->valuedouble >= 1) || c->valuedouble != floor(c->valuedouble))
        return bad_budget(where, i, "an object without a positive integer \"corpus_size\"");
    b->corpus_size = c->valuedouble;
    b->per_vector = bytes / c->valuedouble;
    char hc[32];
    ecb_format_bytes(bytes, hb, sizeof hb);
    format_count(c->valuedouble, hc, sizeof hc);
    snprintf(b->label, sizeof b->label, "%.40s for %.31s", hb, hc);
    return 0;
}

int ecb_budgets_parse_all(const cJSON *arr, const char *where, ecb_budget **out, size_t *n,
                          ecb_problems *pr)
{
    *out = NULL;
    *n = 0;
    if (!arr) return 0;
    if (cJSON_IsObject(arr) || cJSON_IsString(arr) || cJSON_IsNumber(arr)) {
        /* one budget given without the array */
        cJSON *wrap = cJSON_CreateArray();
        if (!wrap) return ecb_problems_add(pr, ECB_ENOMEM);
        cJSON_AddItemReferenceToArray(wrap, (cJSON *)arr);
        int rc = ecb_budgets_parse_all(wrap, where, out, n, pr);
        cJSON_Delete(wrap);
        return rc;
    }
    if (!cJSON_IsArray(arr))
        return ecb_problems_add(pr, ecb_fail(ECB_EINVAL, "%s: $.budgets: expected an array of budgets, "
                                             "got another JSON type", where));
    size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0, before = pr->n;
    ecb_budget *b = ecb_calloc(cnt ? cnt : 1, sizeof *b);
    if (!b) return ecb_problems_add(pr, ECB_ENOMEM);
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (cJSON_IsNumber(it) || cJSON_IsString(it))
            ecb_problems_add(pr, parse_per_vector(it, where, i, &b[i]));
        else if (cJSON_IsObject(it))
            ecb_problems_add(pr, parse_total(it, where, i, &b[i]));
        else
            ecb_problems_add(pr, bad_budget(where, i, "another JSON type"));
    }
    if (pr->n > before) {
        free(b);
        return pr->rc;
    }
    *out = b;
    *n = cnt;
    return 0;
}

int ecb_budgets_parse(const cJSON *arr, const char *where, ecb_budget **out, size_t *n)
{
    ecb_problems pr = {0};
    ecb_budgets_parse_all(arr, where, out, n, &pr);
    return ecb_problems_finish(&pr, where);
}

int ecb_parse_tolerance(const char *s, double *v, int *rel)
{
    char *end;
    while (*s == ' ') s++;
    double x = strtod(s, &end);
    if (end == s || !isfinite(x)) return ECB_EINVAL;
    while (*end == ' ') end++;
    *rel = 0;
    if (*end == '%') { *rel = 1; end++; }
    while (*end == ' ') end++;
    if (*end) return ECB_EINVAL;
    *v = fabs(x);
    return 0;
}

/* ---- budget targets of method entries ------------------------------------ */

/* "32B", "1.5KiB", "16x": %.15g keeps the written value exact for anything a
 * config sensibly holds and gives one spelling per value. */
int ecb_budget_target_parse(const cJSON *v, ecb_budget_target *out)
{
    memset(out, 0, sizeof *out);
    if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble > 0) || !isfinite(v->valuedouble)) return ECB_EINVAL;
        out->bytes = v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        double x = strtod(s, &end);
        while (isspace((unsigned char)*end)) end++;
        if (end != s && (*end == 'x' || *end == 'X')) {
            const char *rest = end + 1;
            while (isspace((unsigned char)*rest)) rest++;
            if (*rest || !(x > 0) || !isfinite(x)) return ECB_EINVAL;
            out->ratio = x;
        } else if (ecb_parse_bytes(s, &out->bytes) || !isfinite(out->bytes)) {
            return ECB_EINVAL;
        }
    } else {
        return ECB_EINVAL;
    }
    if (out->ratio > 0) snprintf(out->text, sizeof out->text, "%.15gx", out->ratio);
    else if (out->bytes >= 1024 && fmod(out->bytes, 1024) == 0 && out->bytes < 1e15)
        snprintf(out->text, sizeof out->text, "%.15gKiB", out->bytes / 1024);
    else snprintf(out->text, sizeof out->text, "%.15gB", out->bytes);
    return 0;
}

double ecb_budget_target_bytes(const ecb_budget_target *t, size_t dim)
{
    return t->ratio > 0 ? 4.0 * (double)dim / t->ratio : t->bytes;
}

int ecb_size_params_validate(const ecb_param *table, const char *const *names,
                             const char *where)
{
    size_t i = 0;
    for (const char *const *n = names; n && *n; n++, i++) {
        const ecb_param *p = table;
        while (p && p->name && strcmp(p->name, *n)) p++;
        if (!p || !p->name)
            return ecb_fail(ECB_EINVAL, "%s: size_params[%zu]: expected a parameter of the table, "
                            "got \"%s\"", where, i, *n);
        int ranged = (p->type == ECB_PARAM_INT || p->type == ECB_PARAM_SIZE) && p->min <= p->max;
        if (!ranged && p->type != ECB_PARAM_ENUM && p->type != ECB_PARAM_BOOL)
            return ecb_fail(ECB_EINVAL, "%s: size_params[%zu]: %s: expected an int or size "
                            "parameter with a finite range, an enum or a bool, got %s", where, i,
                            *n, p->type == ECB_PARAM_DOUBLE ? "a double" : "an unbounded integer");
        for (const char *const *m = names; m != n; m++)
            if (!strcmp(*m, *n))
                return ecb_fail(ECB_EINVAL, "%s: size_params[%zu]: %s is listed twice", where, i, *n);
    }
    return 0;
}
