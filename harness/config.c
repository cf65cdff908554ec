/*
 * Config schema v1: parsing, validation against the plugin registry, and
 * sweep expansion into cells. Every error names the file, the JSON path,
 * what was expected and what was found.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/config.h"
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

int ecb_json_check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                        const char *jpath)
{
    size_t n = 0;
    while (allowed[n]) n++;
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++) ok = strcmp(it->string, allowed[i]) == 0;
        if (ok) continue;
        const char *hint = ecb_did_you_mean(it->string, allowed, n);
        return ecb_fail(ECB_EINVAL, "%s: %s: unknown key \"%s\"%s%s%s", file, jpath, it->string,
                        hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "");
    }
    return 0;
}

static const char *json_type(const cJSON *v)
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

static int get_size(const cJSON *v, const char *file, const char *jpath, size_t lo, size_t hi,
                    size_t *out)
{
    if (!cJSON_IsNumber(v))
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an integer in [%zu, %zu], got %s", file,
                        jpath, lo, hi, json_type(v));
    double d = v->valuedouble;
    /* range first: converting an out-of-range double to an integer is UB */
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an integer in [%zu, %zu], got %g", file,
                        jpath, lo, hi, d);
    *out = (size_t)d;
    return 0;
}

/* ---- labels ---------------------------------------------------------- */

int ecb_stage_label(const ecb_stage *s, int all_params, char *buf, size_t n)
{
    char ps[1024];
    const ecb_method_vtable *vt = &s->plugin->vt;
    int rc = ecb_params_format_mask(vt->params, s->params, ",", all_params ? ~(uint64_t)0 : s->given,
                                    ps, sizeof ps);
    if (rc) return rc;
    int w = ps[0] ? snprintf(buf, n, "%s(%s)", vt->name, ps) : snprintf(buf, n, "%s", vt->name);
    return w < 0 || (size_t)w >= n ? ecb_fail(ECB_ERANGE, "label too long") : 0;
}

int ecb_chain_label(const ecb_chain *c, int all_params, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        char one[1200];
        int rc = ecb_stage_label(&c->stages[i], all_params, one, sizeof one);
        if (rc) return rc;
        int w = snprintf(buf + off, n - off, "%s%s", i ? ">" : "", one);
        if (w < 0 || (size_t)w >= n - off) return ecb_fail(ECB_ERANGE, "label too long");
        off += (size_t)w;
    }
    return 0;
}

void ecb_chain_release(ecb_chain *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->stages[i].params);
    free(c->stages);
    c->stages = NULL;
    c->n = 0;
}

static int chain_copy(ecb_chain *dst, const ecb_chain *src)
{
    dst->n = src->n;
    dst->stages = ecb_calloc(src->n ? src->n : 1, sizeof *dst->stages);
    if (!dst->stages) return ECB_ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        size_t ps = src->stages[i].plugin->vt.params_size;
        dst->stages[i].plugin = src->stages[i].plugin;
        dst->stages[i].given = src->stages[i].given;
        dst->stages[i].params = ecb_calloc(1, ps ? ps : 1);
        if (!dst->stages[i].params) return ECB_ENOMEM;
        if (ps) memcpy(dst->stages[i].params, src->stages[i].params, ps);
    }
    return 0;
}

/* ---- method entries: expansion of parameter axes ------------------------ */

/* One stage spec as written: plugin, and per parameter either a scalar or an
 * array of values (an axis). */
typedef struct {
    const ecb_plugin *plugin;
    const cJSON *params; /* object or NULL */
    char jpath[256];
} stage_spec;

static size_t axis_len(const cJSON *v) { return cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1; }

static size_t stage_combos(const stage_spec *s)
{
    size_t n = 1;
    for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next) n *= axis_len(it);
    return n;
}

/* Fill the params of combination idx of one stage. */
static int stage_fill(const stage_spec *s, size_t idx, const char *file, ecb_stage *out)
{
    const ecb_method_vtable *vt = &s->plugin->vt;
    out->plugin = s->plugin;
    out->params = ecb_calloc(1, vt->params_size ? vt->params_size : 1);
    if (!out->params) return ECB_ENOMEM;
    ecb_params_defaults(vt->params, out->params);
    char where[512];
    snprintf(where, sizeof where, "%s: %s.params", file, s->jpath);
    /* unknown keys first, with the hint */
    cJSON *tmp = cJSON_CreateObject();
    for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next)
        cJSON_AddItemToObject(tmp, it->string, cJSON_CreateNull());
    for (cJSON *it = tmp->child; it; it = it->next) {
        const ecb_param *p = NULL;
        for (const ecb_param *q = vt->params; q && q->name; q++)
            if (strcmp(q->name, it->string) == 0) p = q;
        if (!p) {
            cJSON *one = cJSON_CreateObject();
            cJSON_AddItemToObject(one, it->string, cJSON_CreateNull());
            int rc = ecb_params_fill(vt->params, one, out->params, where, vt->name);
            cJSON_Delete(one);
            cJSON_Delete(tmp);
            return rc;
        }
    }
    cJSON_Delete(tmp);
    /* The last parameter written varies fastest, like nested loops. */
    const cJSON *keys[64];
    size_t nkeys = 0;
    for (const cJSON *it = s->params ? s->params->child : NULL; it && nkeys < 64; it = it->next)
        keys[nkeys++] = it;
    for (size_t ki = nkeys; ki-- > 0;) {
        const cJSON *it = keys[ki];
        size_t len = axis_len(it);
        if (len == 0)
            return ecb_fail(ECB_EINVAL, "%s.%s: empty array: a sweep axis needs at least one value",
                            where, it->string);
        const cJSON *v = cJSON_IsArray(it) ? cJSON_GetArrayItem(it, (int)(idx % len)) : it;
        idx /= len;
        const ecb_param *p = NULL;
        for (const ecb_param *q = vt->params; q && q->name; q++)
            if (strcmp(q->name, it->string) == 0) p = q;
        size_t pi = (size_t)(p - vt->params);
        if (pi < 64) out->given |= (uint64_t)1 << pi;
        int rc = ecb_param_set(p, v, out->params, where, vt->name);
        if (rc) return rc;
    }
    return 0;
}

static int parse_stage(const cJSON *o, const char *file, const char *jpath,
                       const ecb_registry *reg, stage_spec *out)
{
    static const char *const keys[] = {"method", "params", NULL};
    if (!cJSON_IsObject(o))
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an object {\"method\": ...}, got %s", file,
                        jpath, json_type(o));
    int rc = ecb_json_check_keys(o, keys, file, jpath);
    if (rc) return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
    if (!cJSON_IsString(m))
        return ecb_fail(ECB_EINVAL, "%s: %s.method: expected a method name (string), got %s",
                        file, jpath, json_type(m));
    const ecb_plugin *p = ecb_registry_find(reg, m->valuestring);
    if (!p) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ecb_last_error());
        return ecb_fail(ECB_ENOTFOUND, "%s: %s.method: %s", file, jpath, msg);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    if (params && !cJSON_IsObject(params))
        return ecb_fail(ECB_EINVAL, "%s: %s.params: expected an object, got %s", file, jpath,
                        json_type(params));
    out->plugin = p;
    out->params = params;
    snprintf(out->jpath, sizeof out->jpath, "%s", jpath);
    return 0;
}

/* Build the chains of one methods[] entry into *chains (appended). */
static int expand_entry(const cJSON *e, size_t ei, const char *file, const ecb_registry *reg,
                        ecb_chain **chains, size_t *nchains)
{
    char jpath[128];
    snprintf(jpath, sizeof jpath, "$.methods[%zu]", ei);
    stage_spec specs[16];
    size_t ns = 0;
    int rc;
    if (!cJSON_IsObject(e))
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an object, got %s", file, jpath,
                        json_type(e));
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(e, "pipeline");
    if (pipe) {
        static const char *const keys[] = {"pipeline", NULL};
        if ((rc = ecb_json_check_keys(e, keys, file, jpath))) return rc;
        if (!cJSON_IsArray(pipe) || cJSON_GetArraySize(pipe) < 1 || cJSON_GetArraySize(pipe) > 15)
            return ecb_fail(ECB_EINVAL, "%s: %s.pipeline: expected an array of 1..15 stages, got %s",
                            file, jpath, json_type(pipe));
        size_t i = 0;
        for (const cJSON *s = pipe->child; s; s = s->next, i++) {
            char sp[160];
            snprintf(sp, sizeof sp, "%s.pipeline[%zu]", jpath, i);
            if ((rc = parse_stage(s, file, sp, reg, &specs[ns++]))) return rc;
        }
    } else {
        if ((rc = parse_stage(e, file, jpath, reg, &specs[ns++]))) return rc;
    }
    /* Stage order rule: transforms first, then at most one quantizer, last. */
    for (size_t i = 0; i + 1 < ns; i++)
        if (!(specs[i].plugin->vt.flags & ECB_METHOD_TRANSFORM))
            return ecb_fail(ECB_EINVAL,
                            "%s: %s: \"%s\" is a quantizer; only the last stage of a pipeline may "
                            "be one (expected a transform such as truncate, pca, rp, rotate)",
                            file, specs[i].jpath, specs[i].plugin->vt.name);
    size_t total = 1;
    for (size_t i = 0; i < ns; i++)
        for (const cJSON *it = specs[i].params ? specs[i].params->child : NULL; it; it = it->next)
            if (axis_len(it) == 0)
                return ecb_fail(ECB_EINVAL, "%s: %s.params.%s: empty array: a sweep axis needs at "
                                "least one value", file, specs[i].jpath, it->string);
    for (size_t i = 0; i < ns; i++) {
        size_t c = stage_combos(&specs[i]);
        if (c == 0 || total > 100000 / c)
            return ecb_fail(ECB_EINVAL, "%s: %s: sweep expands to too many (or zero) combinations",
                            file, jpath);
        total *= c;
    }
    ecb_chain *nc = realloc(*chains, (*nchains + total) * sizeof *nc);
    if (!nc) return ecb_fail(ECB_ENOMEM, "out of memory");
    *chains = nc;
    for (size_t t = 0; t < total; t++) {
        ecb_chain *c = &(*chains)[(*nchains)++];
        c->n = ns;
        c->stages = ecb_calloc(ns, sizeof *c->stages);
        if (!c->stages) return ECB_ENOMEM;
        size_t idx = t;
        /* Last stage varies fastest in the listing order: iterate in reverse. */
        size_t sub[16];
        for (size_t i = ns; i-- > 0;) {
            size_t cs = stage_combos(&specs[i]);
            sub[i] = idx % cs;
            idx /= cs;
        }
        for (size_t i = 0; i < ns; i++)
            if ((rc = stage_fill(&specs[i], sub[i], file, &c->stages[i]))) return rc;
    }
    return 0;
}

static int append_float32(ecb_chain *c, const ecb_registry *reg, const char *file)
{
    const ecb_plugin *f = ecb_registry_find(reg, "float32");
    if (!f)
        return ecb_fail(ECB_ENOTFOUND,
                        "%s: a chain ending in a transform needs the float32 method: %s", file,
                        ecb_last_error());
    ecb_stage *ns = realloc(c->stages, (c->n + 1) * sizeof *ns);
    if (!ns) return ECB_ENOMEM;
    c->stages = ns;
    c->stages[c->n].plugin = f;
    c->stages[c->n].params = ecb_calloc(1, 1);
    c->n++;
    return 0;
}

/* ---- datasets ----------------------------------------------------------- */

static int parse_dataset(const cJSON *o, size_t i, const char *file, ecb_dataset_spec *d)
{
    static const char *const keys[] = {"builtin", "manifest", "params", "name", "corpus_sizes", NULL};
    char jpath[64];
    snprintf(jpath, sizeof jpath, "$.datasets[%zu]", i);
    if (!cJSON_IsObject(o))
        return ecb_fail(ECB_EINVAL, "%s: %s: expected an object, got %s", file, jpath, json_type(o));
    int rc = ecb_json_check_keys(o, keys, file, jpath);
    if (rc) return rc;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "builtin");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "manifest");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "params");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!!b == !!m)
        return ecb_fail(ECB_EINVAL, "%s: %s: expected exactly one of \"builtin\" or \"manifest\"",
                        file, jpath);
    if (nm && !cJSON_IsString(nm))
        return ecb_fail(ECB_EINVAL, "%s: %s.name: expected a string, got %s", file, jpath, json_type(nm));
    char key[1024];
    if (b) {
        if (!cJSON_IsString(b) || strcmp(b->valuestring, "synthetic") != 0)
            return ecb_fail(ECB_EINVAL, "%s: %s.builtin: expected \"synthetic\", got %s", file,
                            jpath, cJSON_IsString(b) ? b->valuestring : json_type(b));
        char where[128];
        snprintf(where, sizeof where, "%s: %s.params", file, jpath);
        ecb_synth_defaults(&d->synth);
        if ((rc = ecb_params_fill(ecb_synth_param_table, p, &d->synth, where, "synthetic")))
            return rc;
        d->builtin = 1;
        char ps[512];
        ecb_params_format(ecb_synth_param_table, &d->synth, ",", 0, ps, sizeof ps);
        snprintf(key, sizeof key, "synthetic(%s)", ps);
        char dn[128];
        snprintf(dn, sizeof dn, "synthetic-%zux%zu", d->synth.n, d->synth.dim);
        d->name = ecb_strdup(nm ? nm->valuestring : dn);
    } else {
        if (p)
            return ecb_fail(ECB_EINVAL, "%s: %s.params: only built-in datasets take params", file, jpath);
        if (!cJSON_IsString(m))
            return ecb_fail(ECB_EINVAL, "%s: %s.manifest: expected a path, got %s", file, jpath,
                            json_type(m));
        d->manifest = ecb_path_join_rel(file, m->valuestring);
        snprintf(key, sizeof key, "manifest(%s)", m->valuestring);
        d->name = nm ? ecb_strdup(nm->valuestring) : NULL; /* filled from the manifest */
    }
    d->key = ecb_strdup(key);
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "corpus_sizes");
    if (cs) {
        if (!cJSON_IsArray(cs) || cJSON_GetArraySize(cs) < 1)
            return ecb_fail(ECB_EINVAL, "%s: %s.corpus_sizes: expected a non-empty array of sizes",
                            file, jpath);
        d->n_corpus_sizes = (size_t)cJSON_GetArraySize(cs);
        d->corpus_sizes = ecb_calloc(d->n_corpus_sizes, sizeof(size_t));
        size_t j = 0;
        for (const cJSON *it = cs->child; it; it = it->next, j++) {
            char jp[128];
            snprintf(jp, sizeof jp, "%s.corpus_sizes[%zu]", jpath, j);
            if ((rc = get_size(it, file, jp, 1, (size_t)1 << 40, &d->corpus_sizes[j]))) return rc;
        }
    } else {
        d->n_corpus_sizes = 1;
        d->corpus_sizes = ecb_calloc(1, sizeof(size_t)); /* 0 = full */
    }
    return 0;
}

/* ---- rescoring ------------------------------------------------------------ */

static int parse_rescore(const cJSON *o, size_t i, const char *file, const ecb_registry *reg,
                         ecb_rescore *r)
{
    char jpath[64];
    snprintf(jpath, sizeof jpath, "$.rescore[%zu]", i);
    memset(r, 0, sizeof *r);
    if (cJSON_IsString(o) && strcmp(o->valuestring, "none") == 0) {
        snprintf(r->label, sizeof r->label, "none");
        return 0;
    }
    static const char *const keys[] = {"factor", "with", NULL};
    if (!cJSON_IsObject(o))
        return ecb_fail(ECB_EINVAL,
                        "%s: %s: expected \"none\" or {\"factor\": N, \"with\": ...}, got %s",
                        file, jpath, json_type(o));
    int rc = ecb_json_check_keys(o, keys, file, jpath);
    if (rc) return rc;
    char jp[96];
    snprintf(jp, sizeof jp, "%s.factor", jpath);
    if ((rc = get_size(cJSON_GetObjectItemCaseSensitive(o, "factor"), file, jp, 1, 1000, &r->factor)))
        return rc;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "with");
    if (!w || (cJSON_IsString(w) && strcmp(w->valuestring, "float32") == 0)) {
        r->with_float32 = 1;
        snprintf(r->label, sizeof r->label, "float32x%zu", r->factor);
        return 0;
    }
    snprintf(jp, sizeof jp, "%s.with", jpath);
    const cJSON *obj = w;
    cJSON *tmp = NULL;
    if (cJSON_IsString(w)) { /* a method name with default params */
        tmp = cJSON_CreateObject();
        cJSON_AddStringToObject(tmp, "method", w->valuestring);
        obj = tmp;
    }
    stage_spec s;
    rc = parse_stage(obj, file, jp, reg, &s);
    if (!rc && stage_combos(&s) != 1)
        rc = ecb_fail(ECB_EINVAL, "%s: %s.params: rescoring takes one setting, not a sweep axis",
                      file, jp);
    if (!rc && (s.plugin->vt.flags & ECB_METHOD_TRANSFORM))
        rc = ecb_fail(ECB_EINVAL, "%s: %s: rescoring needs a quantizer, \"%s\" is a transform",
                      file, jp, s.plugin->vt.name);
    if (!rc) {
        r->with.n = 1;
        r->with.stages = ecb_calloc(1, sizeof *r->with.stages);
        rc = stage_fill(&s, 0, file, &r->with.stages[0]);
    }
    cJSON_Delete(tmp);
    if (rc) return rc;
    char lab[512];
    ecb_chain_label(&r->with, 0, lab, sizeof lab);
    snprintf(r->label, sizeof r->label, "%sx%zu", lab, r->factor);
    return 0;
}

/* ---- top level -------------------------------------------------------- */

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static char *canonical_cell(const ecb_config *c, const ecb_cell *cell)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", c->datasets[cell->dataset].key);
    cJSON_AddNumberToObject(o, "corpus_size", (double)cell->corpus_size);
    cJSON *ch = cJSON_AddArrayToObject(o, "chain");
    for (size_t i = 0; i < cell->chain.n; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "method", cell->chain.stages[i].plugin->vt.name);
        cJSON_AddItemToObject(s, "params", ecb_params_to_json(cell->chain.stages[i].plugin->vt.params,
                                                              cell->chain.stages[i].params));
        cJSON_AddItemToArray(ch, s);
    }
    cJSON_AddStringToObject(o, "mode", cell->mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric");
    const ecb_rescore *r = &c->rescores[cell->rescore];
    if (!r->factor) cJSON_AddStringToObject(o, "rescore", "none");
    else {
        cJSON *rs = cJSON_AddObjectToObject(o, "rescore");
        cJSON_AddNumberToObject(rs, "factor", (double)r->factor);
        if (r->with_float32) cJSON_AddStringToObject(rs, "with", "float32");
        else {
            cJSON *w = cJSON_AddObjectToObject(rs, "with");
            cJSON_AddStringToObject(w, "method", r->with.stages[0].plugin->vt.name);
            cJSON_AddItemToObject(w, "params", ecb_params_to_json(r->with.stages[0].plugin->vt.params,
                                                                  r->with.stages[0].params));
        }
    }
    cJSON *ks = cJSON_AddArrayToObject(o, "k");
    for (size_t i = 0; i < c->nk; i++) cJSON_AddItemToArray(ks, cJSON_CreateNumber((double)c->ks[i]));
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "train_size", (double)c->train_size);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int ecb_config_from_json(cJSON *json, const char *path, const ecb_registry *reg, ecb_config **out)
{
    static const char *const keys[] = {
        "schema_version", "name", "description", "datasets", "methods", "modes", "rescore", "k",
        "threads", "seed", "output", "train_size", "block_rows", "latency_queries", "isolate",
        "time_limit_s", "memory_limit_mb", "budgets", "budget_metric", "baseline", "ci", NULL};
    const char *file = path ? path : "<config>";
    int rc;
    ecb_config *c = ecb_calloc(1, sizeof *c);
    if (!c) { cJSON_Delete(json); return ECB_ENOMEM; }
    c->json = json;
    c->path = ecb_strdup(file);
    ecb_chain *chains = NULL;
    size_t nchains = 0;
    if (!cJSON_IsObject(json)) {
        rc = ecb_fail(ECB_EINVAL, "%s: $: expected a JSON object, got %s", file, json_type(json));
        goto err;
    }
    if ((rc = ecb_json_check_keys(json, keys, file, "$"))) goto err;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "schema_version");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        rc = ecb_fail(ECB_EINVAL, "%s: $.schema_version: expected 1, got %s", file,
                      v ? (cJSON_IsNumber(v) ? "another number" : json_type(v)) : "nothing (missing)");
        goto err;
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "name");
    if (v && !cJSON_IsString(v)) {
        rc = ecb_fail(ECB_EINVAL, "%s: $.name: expected a string, got %s", file, json_type(v));
        goto err;
    }
    c->name = ecb_strdup(v ? v->valuestring : "sweep");
    for (const char *p = c->name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.name: expected letters, digits, '-', '_' or '.', got \"%s\"",
                          file, c->name);
            goto err;
        }

    /* scalars with defaults */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = ncpu > 0 ? (size_t)ncpu : 1;
    c->seed = 42;
    c->train_size = 100000;
    c->block_rows = 65536;
    c->latency_queries = 200;
    c->isolate = -1;
    size_t tmp;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "threads"))) {
        if ((rc = get_size(v, file, "$.threads", 1, 1024, &c->threads))) goto err;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "seed"))) {
        if ((rc = get_size(v, file, "$.seed", 0, (size_t)1 << 53, &tmp))) goto err;
        c->seed = tmp;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "train_size")) &&
        (rc = get_size(v, file, "$.train_size", 1, (size_t)1 << 32, &c->train_size)))
        goto err;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "block_rows")) &&
        (rc = get_size(v, file, "$.block_rows", 64, (size_t)1 << 26, &c->block_rows)))
        goto err;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "latency_queries")) &&
        (rc = get_size(v, file, "$.latency_queries", 0, 1000000, &c->latency_queries)))
        goto err;
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "isolate"))) {
        if (!cJSON_IsBool(v)) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.isolate: expected true or false, got %s", file, json_type(v));
            goto err;
        }
        c->isolate = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "time_limit_s"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.time_limit_s: expected seconds >= 0, got %s", file, json_type(v));
            goto err;
        }
        c->time_limit_s = v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(json, "memory_limit_mb"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.memory_limit_mb: expected MiB >= 0, got %s", file, json_type(v));
            goto err;
        }
        c->memory_limit_mb = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(json, "output");
    if (v && !cJSON_IsString(v)) {
        rc = ecb_fail(ECB_EINVAL, "%s: $.output: expected a directory path, got %s", file, json_type(v));
        goto err;
    }
    if (v) c->output = ecb_strdup(v->valuestring);
    else {
        char def[512];
        snprintf(def, sizeof def, "results/%s", c->name);
        c->output = ecb_strdup(def);
    }

    /* k */
    v = cJSON_GetObjectItemCaseSensitive(json, "k");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.k: expected a non-empty array of cutoffs, got %s",
                          file, json_type(v));
            goto err;
        }
        c->nk = (size_t)cJSON_GetArraySize(v);
        c->ks = ecb_calloc(c->nk, sizeof *c->ks);
        size_t i = 0;
        for (const cJSON *it = v->child; it; it = it->next, i++) {
            char jp[32];
            snprintf(jp, sizeof jp, "$.k[%zu]", i);
            if ((rc = get_size(it, file, jp, 1, 100000, &c->ks[i]))) goto err;
        }
        qsort(c->ks, c->nk, sizeof *c->ks, cmp_size);
        size_t u = 0;
        for (i = 0; i < c->nk; i++)
            if (u == 0 || c->ks[u - 1] != c->ks[i]) c->ks[u++] = c->ks[i];
        c->nk = u;
    } else {
        c->nk = 2;
        c->ks = ecb_calloc(2, sizeof *c->ks);
        c->ks[0] = 10;
        c->ks[1] = 100;
    }

    /* modes */
    v = cJSON_GetObjectItemCaseSensitive(json, "modes");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.modes: expected a non-empty array, got %s", file, json_type(v));
            goto err;
        }
        c->modes = ecb_calloc((size_t)cJSON_GetArraySize(v), sizeof *c->modes);
        for (const cJSON *it = v->child; it; it = it->next) {
            static const char *const names[] = {"symmetric", "asymmetric"};
            if (cJSON_IsString(it) && strcmp(it->valuestring, "symmetric") == 0)
                c->modes[c->n_modes++] = ECB_MODE_SYMMETRIC;
            else if (cJSON_IsString(it) && strcmp(it->valuestring, "asymmetric") == 0)
                c->modes[c->n_modes++] = ECB_MODE_ASYMMETRIC;
            else {
                const char *hint = cJSON_IsString(it) ? ecb_did_you_mean(it->valuestring, names, 2) : NULL;
                rc = ecb_fail(ECB_EINVAL, "%s: $.modes[%zu]: expected \"symmetric\" or \"asymmetric\", got %s%s%s%s",
                              file, c->n_modes, cJSON_IsString(it) ? it->valuestring : json_type(it),
                              hint ? " (did you mean \"" : "", hint ? hint : "", hint ? "\"?)" : "");
                goto err;
            }
        }
    } else {
        c->modes = ecb_calloc(2, sizeof *c->modes);
        c->modes[0] = ECB_MODE_SYMMETRIC;
        c->modes[1] = ECB_MODE_ASYMMETRIC;
        c->n_modes = 2;
    }

    /* rescore */
    v = cJSON_GetObjectItemCaseSensitive(json, "rescore");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
            rc = ecb_fail(ECB_EINVAL, "%s: $.rescore: expected a non-empty array, got %s", file, json_type(v));
            goto err;
        }
        c->rescores = ecb_calloc((size_t)cJSON_GetArraySize(v), sizeof *c->rescores);
        for (const cJSON *it = v->child; it; it = it->next, c->n_rescores++)
            if ((rc = parse_rescore(it, c->n_rescores, file, reg, &c->rescores[c->n_rescores]))) {
                ecb_chain_release(&c->rescores[c->n_rescores].with); /* not counted yet */
                goto err;
            }
    } else {
        c->rescores = ecb_calloc(1, sizeof *c->rescores);
        snprintf(c->rescores[0].label, sizeof c->rescores[0].label, "none");
        c->n_rescores = 1;
    }

    /* datasets */
    v = cJSON_GetObjectItemCaseSensitive(json, "datasets");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        rc = ecb_fail(ECB_EINVAL, "%s: $.datasets: expected a non-empty array, got %s", file, json_type(v));
        goto err;
    }
    c->datasets = ecb_calloc((size_t)cJSON_GetArraySize(v), sizeof *c->datasets);
    for (const cJSON *it = v->child; it; it = it->next, c->n_datasets++)
        if ((rc = parse_dataset(it, c->n_datasets, file, &c->datasets[c->n_datasets]))) {
            c->n_datasets++;
            goto err;
        }

    /* methods */
    v = cJSON_GetObjectItemCaseSensitive(json, "methods");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1) {
        rc = ecb_fail(ECB_EINVAL, "%s: $.methods: expected a non-empty array, got %s", file, json_type(v));
        goto err;
    }
    size_t ei = 0;
    for (const cJSON *it = v->child; it; it = it->next, ei++)
        if ((rc = expand_entry(it, ei, file, reg, &chains, &nchains))) goto err;

    /* cells: dataset x corpus size x chain x mode x rescore */
    size_t total = 0;
    for (size_t d = 0; d < c->n_datasets; d++) total += c->datasets[d].n_corpus_sizes;
    total *= nchains * c->n_modes * c->n_rescores;
    c->cells = ecb_calloc(total ? total : 1, sizeof *c->cells);
    if (!c->cells) { rc = ECB_ENOMEM; goto err; }
    for (size_t d = 0; d < c->n_datasets; d++)
        for (size_t s = 0; s < c->datasets[d].n_corpus_sizes; s++)
            for (size_t ch = 0; ch < nchains; ch++)
                for (size_t mo = 0; mo < c->n_modes; mo++)
                    for (size_t r = 0; r < c->n_rescores; r++) {
                        ecb_cell *cell = &c->cells[c->n_cells++];
                        cell->dataset = d;
                        cell->corpus_size = c->datasets[d].corpus_sizes[s];
                        cell->mode = c->modes[mo];
                        cell->rescore = r;
                        if ((rc = chain_copy(&cell->chain, &chains[ch]))) goto err;
                        char lab[2048], all[4096];
                        ecb_chain_label(&cell->chain, 0, lab, sizeof lab);
                        size_t off = 0;
                        all[0] = '\0';
                        for (size_t i = 0; i < cell->chain.n; i++) {
                            char ps[1024];
                            ecb_params_format(cell->chain.stages[i].plugin->vt.params,
                                              cell->chain.stages[i].params, ";", 0, ps, sizeof ps);
                            int w = snprintf(all + off, sizeof all - off, "%s%s", i ? ">" : "", ps);
                            if (w > 0 && (size_t)w < sizeof all - off) off += (size_t)w;
                        }
                        cell->label_col = ecb_strdup(lab);
                        cell->params_col = ecb_strdup(all);
                        cell->method_col = ecb_strdup(cell->chain.n == 1
                                                          ? cell->chain.stages[0].plugin->vt.name
                                                          : lab);
                        if (cell->chain.stages[cell->chain.n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM)
                            if ((rc = append_float32(&cell->chain, reg, file))) goto err;
                        cell->canonical = canonical_cell(c, cell);
                        ecb_hash h;
                        ecb_hash_init(&h);
                        ecb_hash_update(&h, cell->canonical, strlen(cell->canonical));
                        snprintf(cell->id, sizeof cell->id, "%016" PRIx64, ecb_hash_final(&h));
                    }
    /* Identical cells (e.g. the same method listed twice) would collide. */
    for (size_t i = 0; i < c->n_cells; i++)
        for (size_t j = i + 1; j < c->n_cells && j < i + 4096; j++)
            if (strcmp(c->cells[i].id, c->cells[j].id) == 0) {
                rc = ecb_fail(ECB_EINVAL, "%s: $.methods: the sweep lists the same cell twice (%s, %s)",
                              file, c->cells[i].label_col,
                              c->cells[i].mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric");
                goto err;
            }
    for (size_t i = 0; i < nchains; i++) ecb_chain_release(&chains[i]);
    free(chains);
    *out = c;
    return 0;
err:
    for (size_t i = 0; i < nchains; i++) ecb_chain_release(&chains[i]);
    free(chains);
    ecb_config_free(c);
    return rc;
}

int ecb_config_load(const char *path, const ecb_registry *reg, ecb_config **out)
{
    cJSON *j;
    int rc = ecb_json_load_file(path, &j);
    if (rc) return rc;
    return ecb_config_from_json(j, path, reg, out);
}

void ecb_config_free(ecb_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_cells; i++) {
        ecb_cell *cell = &c->cells[i];
        ecb_chain_release(&cell->chain);
        free(cell->method_col);
        free(cell->params_col);
        free(cell->label_col);
        cJSON_free(cell->canonical);
    }
    free(c->cells);
    for (size_t i = 0; i < c->n_datasets; i++) {
        free(c->datasets[i].name);
        free(c->datasets[i].key);
        free(c->datasets[i].manifest);
        free(c->datasets[i].corpus_sizes);
    }
    free(c->datasets);
    for (size_t i = 0; i < c->n_rescores; i++) ecb_chain_release(&c->rescores[i].with);
    free(c->rescores);
    free(c->modes);
    free(c->ks);
    free(c->output);
    free(c->name);
    free(c->path);
    cJSON_Delete(c->json);
    free(c);
}
