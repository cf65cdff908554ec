/*
 * The run directory's manifest.json as report and compare read it: the one
 * reader of both. The manifest is input like any other file (it may have
 * been edited, truncated or come from someone else's run), so every key
 * read here is checked, and an object holding a key twice is rejected
 * (cJSON would silently keep the first).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ecb.h"
#include "reports/model.h"
#include "reports/reports.h"

#define MANIFEST_MAX_BYTES (64l << 20)

static int read_text(const char *path, char **out, size_t *len, int *absent)
{
    *out = NULL;
    *absent = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) { *absent = 1; return 0; }
        return ecb_fail(ECB_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ecb_fail(ECB_EFORMAT, "%s: not a regular file", path);
    }
    if (st.st_size > MANIFEST_MAX_BYTES) {
        fclose(f);
        return ecb_fail(ECB_EFORMAT, "%s: %lld bytes; a manifest is at most %ld", path,
                        (long long)st.st_size, MANIFEST_MAX_BYTES);
    }
    char *buf = ecb_malloc((size_t)st.st_size + 1);
    if (!buf) { fclose(f); return ECB_ENOMEM; }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return ecb_fail(ECB_EIO, "%s: read error", path); }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* Duplicate keys in any object of the document. */
static int check_dups(const cJSON *v, const char *path, int depth)
{
    if (depth > 200) return ecb_fail(ECB_EFORMAT, "%s: nested more than 200 levels deep", path);
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *it = v->child; it; it = it->next) n++;
        ecb_strindex ix = {0};
        int rc = ecb_strindex_init(&ix, n);
        for (const cJSON *it = v->child; it && !rc; it = it->next) {
            int r = ecb_strindex_put(&ix, it->string ? it->string : "", 0, NULL);
            if (r < 0) rc = r;
            else if (r == 0)
                rc = ecb_fail(ECB_EFORMAT, "%s: key \"%.100s\" appears twice in one object", path,
                              it->string ? it->string : "");
        }
        ecb_strindex_free(&ix);
        if (rc) return rc;
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v))
        for (const cJSON *it = v->child; it; it = it->next) {
            int rc = check_dups(it, path, depth + 1);
            if (rc) return rc;
        }
    return 0;
}

static int want_string(const cJSON *obj, const char *key, const char *path, const char *where,
                       const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsString(v))
        return ecb_fail(ECB_EFORMAT, "%s: %s.%s: expected a string", path, where, key);
    *out = v->valuestring;
    return 0;
}

static int only_keys(const cJSON *obj, const char *const *keys, size_t n, const char *path,
                     const char *where)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        size_t i = 0;
        while (i < n && strcmp(it->string, keys[i])) i++;
        if (i < n) continue;
        const char *dym = ecb_did_you_mean(it->string, keys, n);
        return ecb_fail(ECB_EFORMAT, "%s: %s.%.100s: unknown key%s%s%s", path, where, it->string,
                        dym ? " (did you mean \"" : "", dym ? dym : "", dym ? "\"?)" : "");
    }
    return 0;
}

static int read_baseline(const cJSON *cfg, const char *path, ecb_run_manifest *m)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, "baseline");
    if (!b) return 0;
    if (cJSON_IsString(b) && *b->valuestring) {
        m->baseline_method = b->valuestring;
        return 0;
    }
    static const char *const keys[] = {"method", "label"};
    if (!cJSON_IsObject(b))
        return ecb_fail(ECB_EFORMAT, "%s: $.config.baseline: expected a method name or "
                        "{\"method\": ..., \"label\": ...}", path);
    int rc = only_keys(b, keys, 2, path, "$.config.baseline");
    if (rc) return rc;
    const char *meth = NULL, *lab = NULL;
    if ((rc = want_string(b, "method", path, "$.config.baseline", &meth)) ||
        (rc = want_string(b, "label", path, "$.config.baseline", &lab)))
        return rc;
    if ((!meth || !*meth) && (!lab || !*lab))
        return ecb_fail(ECB_EFORMAT, "%s: $.config.baseline: expected a non-empty \"method\" or \"label\"",
                        path);
    if (meth && *meth) m->baseline_method = meth;
    if (lab && *lab) m->baseline_label = lab;
    return 0;
}

static int read_budget_metric(const cJSON *cfg, const char *path, ecb_run_manifest *m)
{
    const char *s = NULL;
    int rc = want_string(cfg, "budget_metric", path, "$.config", &s);
    if (rc || !s) return rc;
    if (ecb_is_quality_metric(s)) {
        m->budget_metric = s;
        m->budget_metric_given = 1;
        return 0;
    }
    static const char *const names[] = {"ndcg", "recall", "p", "map", "mrr", "success", "knn_recall"};
    char head[64];
    const char *at = strchr(s, '@');
    snprintf(head, sizeof head, "%.*s", at ? (int)(at - s) : 63, s);
    const char *dym = ecb_did_you_mean(head, names, sizeof names / sizeof *names);
    char hint[128] = "";
    if (dym) snprintf(hint, sizeof hint, " (did you mean \"%s%.20s\"?)", dym, at ? at : "@10");
    return ecb_fail(ECB_EFORMAT, "%s: $.config.budget_metric: expected a quality metric such as "
                    "\"ndcg@10\" (ndcg, recall, p, map, mrr, success or knn_recall, @ a k of the "
                    "run), got \"%.100s\"%s", path, s, hint);
}

static int read_ci(const cJSON *cfg, const char *path, ecb_run_manifest *m)
{
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(cfg, "ci");
    if (!ci) return 0;
    static const char *const keys[] = {"tolerances"};
    if (!cJSON_IsObject(ci))
        return ecb_fail(ECB_EFORMAT, "%s: $.config.ci: expected {\"tolerances\": {\"metric\": value}}", path);
    int rc = only_keys(ci, keys, 1, path, "$.config.ci");
    if (rc) return rc;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ci, "tolerances");
    if (!t) return 0;
    if (!cJSON_IsObject(t))
        return ecb_fail(ECB_EFORMAT, "%s: $.config.ci.tolerances: expected an object {\"metric\": value}",
                        path);
    for (const cJSON *it = t->child; it; it = it->next) {
        double v;
        int rel;
        int ok = cJSON_IsNumber(it) ? isfinite(it->valuedouble) && it->valuedouble >= 0
                 : cJSON_IsString(it) && ecb_parse_tolerance(it->valuestring, &v, &rel) == 0;
        if (!ok || !*it->string || strlen(it->string) >= sizeof(((ecb_tolerance *)0)->metric))
            return ecb_fail(ECB_EFORMAT, "%s: $.config.ci.tolerances.%.100s: expected a metric name "
                            "and a number >= 0 (absolute) or a string like \"+25%%\" (relative)",
                            path, it->string);
    }
    m->tolerances = t;
    return 0;
}

static int read_config(const cJSON *cfg, const char *path, ecb_run_manifest *m)
{
    int rc;
    if ((rc = want_string(cfg, "name", path, "$.config", &m->name)) || (rc = read_baseline(cfg, path, m)) ||
        (rc = read_budget_metric(cfg, path, m)) || (rc = read_ci(cfg, path, m)))
        return rc;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cfg, "seed");
    if (s) {
        /* the config loader accepts integers in [0, 2^53] */
        if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble <= 9007199254740992.0) ||
            s->valuedouble != floor(s->valuedouble))
            return ecb_fail(ECB_EFORMAT, "%s: $.config.seed: expected an integer in [0, 2^53]", path);
        m->has_seed = 1;
        m->seed = (unsigned long long)s->valuedouble;
    }
    char where[4200];
    snprintf(where, sizeof where, "%s: config", path);
    return ecb_budgets_parse(cJSON_GetObjectItemCaseSensitive(cfg, "budgets"), where, &m->budgets,
                             &m->nbudgets);
}

int ecb_run_manifest_load(const char *path, ecb_run_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->baseline_method = "float32";
    m->budget_metric = "ndcg@10";
    char *text;
    size_t len = 0;
    int absent;
    int rc = read_text(path, &text, &len, &absent);
    if (rc || absent) return rc;
    const char *end = NULL;
    m->json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!m->json) {
        rc = ecb_fail(ECB_EFORMAT, "%s: not valid JSON (near byte %zu)", path,
                      end && end >= text ? (size_t)(end - text) : (size_t)0);
        free(text);
        return rc;
    }
    free(text);
    if (!cJSON_IsObject(m->json)) {
        rc = ecb_fail(ECB_EFORMAT, "%s: expected a JSON object (an ecbench run manifest)", path);
        goto err;
    }
    if ((rc = check_dups(m->json, path, 0))) goto err;
    if ((rc = want_string(m->json, "config_path", path, "$", &m->config_path)) ||
        (rc = want_string(m->json, "started", path, "$", &m->started)) ||
        (rc = want_string(m->json, "finished", path, "$", &m->finished)))
        goto err;
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(m->json, "environment");
    if (env && !cJSON_IsObject(env)) {
        rc = ecb_fail(ECB_EFORMAT, "%s: $.environment: expected an object", path);
        goto err;
    }
    m->environment = env;
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(m->json, "config");
    if (cfg && !cJSON_IsObject(cfg)) {
        rc = ecb_fail(ECB_EFORMAT, "%s: $.config: expected an object (the run's config)", path);
        goto err;
    }
    m->config = cfg;
    if (cfg && (rc = read_config(cfg, path, m))) goto err;
    return 0;
err:
    ecb_run_manifest_release(m);
    return rc;
}

void ecb_run_manifest_release(ecb_run_manifest *m)
{
    if (!m) return;
    free(m->budgets);
    cJSON_Delete(m->json);
    memset(m, 0, sizeof *m);
    m->baseline_method = "float32";
    m->budget_metric = "ndcg@10";
}
