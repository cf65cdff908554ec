/*
 * The config keys that only the report and `compare` read ("budgets",
 * "budget_metric", "baseline", "ci"), checked when the config is read: a
 * typo there would otherwise surface after the whole sweep, or never (a
 * report that silently falls back to another metric, a compare that
 * silently uses default tolerances).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/budget_spec.h"
#include "harness/config_impl.h"
#include "harness/metrics.h"
#include "harness/results.h"

static int has_k(const ecb_config *c, size_t k)
{
    for (size_t i = 0; i < c->nk; i++)
        if (c->ks[i] == k) return 1;
    return 0;
}

/* "<metric>@<k>" with a metric of metrics.h and k in the sweep's k list:
 * the quality columns results.csv will have. */
static int is_quality_column(const ecb_config *c, const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || !at[1]) return 0;
    char *end;
    unsigned long long k = strtoull(at + 1, &end, 10);
    if (*end || at[1] < '0' || at[1] > '9' || !has_k(c, (size_t)k)) return 0;
    size_t len = (size_t)(at - s);
    for (int m = 0; m < ECB_M_COUNT; m++)
        if (strlen(ecb_metric_names[m]) == len && !strncmp(s, ecb_metric_names[m], len)) return 1;
    return 0;
}

/* The nearest quality column: the metric name corrected, at the k written
 * when the sweep has it, else at the smallest k. */
static void quality_hint(const ecb_config *c, const char *s, char *hint, size_t n)
{
    hint[0] = '\0';
    const char *at = strrchr(s, '@');
    char name[64];
    snprintf(name, sizeof name, "%.*s", at ? (int)(at - s) : (int)strlen(s), s);
    const char *m = ecb_did_you_mean(name, ecb_metric_names, ECB_M_COUNT);
    if (!m || !c->nk) return;
    char *end;
    unsigned long long k = at ? strtoull(at + 1, &end, 10) : 0;
    if (!at || *end || !has_k(c, (size_t)k)) k = c->ks[0];
    snprintf(hint, n, "%s@%llu", m, k);
}

static void list_ks(const ecb_config *c, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->nk && off + 24 < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%zu", i ? ", " : "", c->ks[i]);
    if (c->nk && off + 24 >= n) snprintf(buf + off, n - off, ", ...");
}

static int bad_metric(const ecb_config *c, const char *jpath, const char *what, const char *got,
                      const char *hint, ecb_problems *pr)
{
    char ks[160];
    list_ks(c, ks, sizeof ks);
    return ecb_cfg_problem(pr, ECB_EINVAL,
                           "%s: %s: expected %s (ndcg, recall, p, map, mrr, success or knn_recall, "
                           "@ a cutoff of $.k: %s), got \"%.80s\"%s%s%s",
                           c->path, jpath, what, ks, got, hint[0] ? "; did you mean \"" : "", hint,
                           hint[0] ? "\"?" : "");
}

static void check_budget_metric(const ecb_config *c, const cJSON *v, int ks_ok, ecb_problems *pr)
{
    if (!v) return;
    if (!cJSON_IsString(v)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.budget_metric: expected a metric such as \"ndcg@10\", got %s",
                        c->path, ecb_cfg_json_type(v));
        return;
    }
    if (!ks_ok || is_quality_column(c, v->valuestring)) return;
    char hint[96];
    quality_hint(c, v->valuestring, hint, sizeof hint);
    bad_metric(c, "$.budget_metric", "a quality column of this sweep", v->valuestring, hint, pr);
}

/* ---- ci.tolerances ------------------------------------------------------------ */

/* The non-metric columns of results.csv, from the results store's own
 * header (column names hold no comma). */
typedef struct {
    char *text;
    const char *name[64];
    size_t n;
} columns;

static int load_columns(columns *cols)
{
    ecb_buf b = {0};
    memset(cols, 0, sizeof *cols);
    int rc = ecb_results_header(&b, NULL, 0);
    if (rc) {
        ecb_buf_free(&b);
        return rc;
    }
    cols->text = b.p;
    for (char *p = cols->text, *e; p && *p && cols->n < 64; p = e + 1) {
        e = p + strcspn(p, ",\n");
        int last = *e != ',';
        *e = '\0';
        cols->name[cols->n++] = p;
        if (last) break;
    }
    return 0;
}

static int is_column(const columns *cols, const char *s)
{
    for (size_t i = 0; i < cols->n; i++)
        if (!strcmp(s, cols->name[i])) return 1;
    return 0;
}

/* A glob ("ndcg@*", "*_ms") must match some column, or it checks nothing. */
static int glob_matches(const ecb_config *c, const columns *cols, const char *g)
{
    for (size_t i = 0; i < cols->n; i++)
        if (!fnmatch(g, cols->name[i], 0)) return 1;
    for (int m = 0; m < ECB_M_COUNT; m++)
        for (size_t i = 0; i < c->nk; i++) {
            char col[64];
            snprintf(col, sizeof col, "%s@%zu", ecb_metric_names[m], c->ks[i]);
            if (!fnmatch(g, col, 0)) return 1;
        }
    return 0;
}

static void check_tolerance(const ecb_config *c, const columns *cols, const cJSON *t, int ks_ok,
                            ecb_problems *pr)
{
    char jp[160], hint[96] = "";
    snprintf(jp, sizeof jp, "$.ci.tolerances.%.100s", t->string);
    double v;
    int rel;
    if (!(cJSON_IsNumber(t) && t->valuedouble >= 0) &&
        !(cJSON_IsString(t) && ecb_parse_tolerance(t->valuestring, &v, &rel) == 0)) {
        char *txt = cJSON_PrintUnformatted(t);
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected an absolute tolerance >= 0 (0.002) or a "
                        "relative one (\"+25%%\"), got %.60s", c->path, jp, txt ? txt : "?");
        cJSON_free(txt);
    }
    const char *name = t->string;
    if (!ks_ok || is_column(cols, name) || is_quality_column(c, name)) return;
    if (strpbrk(name, "*?[")) {
        if (!glob_matches(c, cols, name))
            ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: the pattern matches no column of this sweep's "
                            "results.csv", c->path, jp);
        return;
    }
    if (strchr(name, '@')) quality_hint(c, name, hint, sizeof hint);
    else {
        const char *h = ecb_did_you_mean(name, cols->name, cols->n);
        if (h) snprintf(hint, sizeof hint, "%s", h);
    }
    bad_metric(c, jp, "a results.csv column: a quality column of this sweep, or a cost column "
               "such as query_p50_ms or qps, or a pattern such as \"ndcg@*\"", name, hint, pr);
}

static void check_ci(const ecb_config *c, const cJSON *ci, int ks_ok, ecb_problems *pr)
{
    static const char *const keys[] = {"tolerances", NULL};
    if (!ci) return;
    if (!cJSON_IsObject(ci)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.ci: expected an object {\"tolerances\": {...}}, got %s",
                        c->path, ecb_cfg_json_type(ci));
        return;
    }
    ecb_cfg_check_keys(ci, keys, c->path, "$.ci", pr);
    const cJSON *tols = cJSON_GetObjectItemCaseSensitive(ci, "tolerances");
    if (!tols) return;
    if (!cJSON_IsObject(tols)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.ci.tolerances: expected an object {\"metric\": tolerance}, "
                        "e.g. {\"ndcg@10\": 0.002, \"query_p50_ms\": \"+25%%\"}, got %s", c->path,
                        ecb_cfg_json_type(tols));
        return;
    }
    columns cols;
    if (ecb_problems_add(pr, load_columns(&cols))) return;
    for (const cJSON *t = tols->child; t; t = t->next) check_tolerance(c, &cols, t, ks_ok, pr);
    free(cols.text);
}

void ecb_cfg_check_report(const ecb_config *c, const cJSON *json, int ks_ok, ecb_problems *pr)
{
    ecb_budget *b = NULL;
    size_t nb = 0;
    if (!ecb_budgets_parse_all(cJSON_GetObjectItemCaseSensitive(json, "budgets"), c->path, &b, &nb, pr))
        free(b);
    check_budget_metric(c, cJSON_GetObjectItemCaseSensitive(json, "budget_metric"), ks_ok, pr);
    check_ci(c, cJSON_GetObjectItemCaseSensitive(json, "ci"), ks_ok, pr);
}

/* ---- baseline ---------------------------------------------------------------- */

/* name must be the method column or the label of some cell (label_only:
 * the label), as the report matches it. */
static void check_baseline_name(const ecb_config *c, const char *jpath, const cJSON *v,
                                int label_only, ecb_problems *pr)
{
    if (!cJSON_IsString(v)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected a %s of this sweep, got %s", c->path, jpath,
                        label_only ? "label" : "method name or label", ecb_cfg_json_type(v));
        return;
    }
    if (!c->n_cells) return; /* not expanded: the config has other problems */
    for (size_t i = 0; i < c->n_cells; i++)
        if (!strcmp(v->valuestring, c->cells[i].label_col) ||
            (!label_only && !strcmp(v->valuestring, c->cells[i].method_col)))
            return;
    const char **names = ecb_calloc(2 * c->n_cells + 1, sizeof *names);
    size_t n = 0;
    for (size_t i = 0; names && i < c->n_cells; i++) {
        names[n++] = c->cells[i].label_col;
        if (!label_only) names[n++] = c->cells[i].method_col;
    }
    const char *hint = names ? ecb_did_you_mean(v->valuestring, names, n) : NULL;
    ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected a %s of this sweep (e.g. \"%s\"), got \"%.80s\"%s%s%s",
                    c->path, jpath, label_only ? "label" : "method name or label",
                    c->n_cells ? c->cells[0].method_col : "float32", v->valuestring,
                    hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    free(names);
}

void ecb_cfg_check_baseline(const ecb_config *c, const cJSON *json, ecb_problems *pr)
{
    static const char *const keys[] = {"method", "label", NULL};
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(json, "baseline");
    if (!b) return;
    if (cJSON_IsString(b)) {
        check_baseline_name(c, "$.baseline", b, 0, pr);
    } else if (cJSON_IsObject(b) && b->child) {
        ecb_cfg_check_keys(b, keys, c->path, "$.baseline", pr);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "method");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(b, "label");
        if (m) check_baseline_name(c, "$.baseline.method", m, 0, pr);
        if (l) check_baseline_name(c, "$.baseline.label", l, 1, pr);
    } else {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.baseline: expected a method name, a label, or "
                        "{\"method\": ..., \"label\": ...}, got %s", c->path, ecb_cfg_json_type(b));
    }
}
