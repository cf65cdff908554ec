/*
 * One stage of a method chain as a config writes it ({"method": name,
 * "params": {...}} with parameter axes): validation of every value, the
 * parameters of one combination, labels; and the rescoring entries, whose
 * "with" is such a stage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config_impl.h"
#include "harness/params.h"

/* ---- labels ---------------------------------------------------------- */

int ecb_stage_label(const ecb_stage *s, int all_params, char *buf, size_t n)
{
    char ps[1024];
    const ecb_method_vtable *vt = &s->plugin->vt;
    /* a label shows what was written or changed, where it applies; all_params
     * (cache keys, errors) shows every parameter */
    int rc = all_params ? ecb_params_format(vt->params, s->params, ",", 0, ps, sizeof ps)
                        : ecb_params_format_applicable(vt->params, vt->param_conds, s->params, ",",
                                                       s->given, ps, sizeof ps);
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

void ecb_cfg_param_copy(const ecb_param *p, const void *src, void *dst)
{
    size_t w = p->type == ECB_PARAM_INT    ? sizeof(int64_t)
               : p->type == ECB_PARAM_SIZE   ? sizeof(size_t)
               : p->type == ECB_PARAM_DOUBLE ? sizeof(double)
                                             : sizeof(int);
    memcpy((char *)dst + p->offset, (const char *)src + p->offset, w);
}

int ecb_cfg_entry_label(const char *label, const ecb_chain *c, char *buf, size_t n)
{
    /* the swept values only, so the cells of one labelled entry stay apart:
     * "percentile(bits=4)" */
    char axes[1024] = "";
    size_t off = 0;
    for (size_t i = 0; i < c->n; i++) {
        const ecb_stage *s = &c->stages[i];
        const ecb_method_vtable *vt = &s->plugin->vt;
        if (!s->axes) continue;
        /* axes that apply, formatted from a copy where every other parameter
         * is at its default (so that only they are listed) */
        uint64_t show = 0;
        size_t np = ecb_params_count(vt->params);
        for (size_t k = 0; k < np && k < 64; k++)
            if (((s->axes >> k) & 1) && ecb_param_applies(vt->params, vt->param_conds, k, s->params))
                show |= (uint64_t)1 << k;
        void *only = ecb_calloc(1, vt->params_size ? vt->params_size : 1);
        if (!only) return ECB_ENOMEM;
        ecb_params_defaults(vt->params, only);
        for (size_t k = 0; k < np && k < 64; k++)
            if ((show >> k) & 1) ecb_cfg_param_copy(&vt->params[k], s->params, only);
        char ps[512];
        int rc = ecb_params_format_mask(vt->params, only, ",", show, ps, sizeof ps);
        free(only);
        if (rc) return rc;
        if (!ps[0]) continue;
        int w = snprintf(axes + off, sizeof axes - off, "%s%s", off ? "," : "", ps);
        if (w < 0 || (size_t)w >= sizeof axes - off) return ecb_fail(ECB_ERANGE, "label too long");
        off += (size_t)w;
    }
    int w = off ? snprintf(buf, n, "%s(%s)", label, axes) : snprintf(buf, n, "%s", label);
    return w < 0 || (size_t)w >= n ? ecb_fail(ECB_ERANGE, "label too long") : 0;
}

void ecb_chain_release(ecb_chain *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->stages[i].params);
    free(c->stages);
    c->stages = NULL;
    c->n = 0;
}

int ecb_cfg_chain_copy(ecb_chain *dst, const ecb_chain *src)
{
    dst->n = src->n;
    dst->stages = ecb_calloc(src->n ? src->n : 1, sizeof *dst->stages);
    if (!dst->stages) return ECB_ENOMEM;
    for (size_t i = 0; i < src->n; i++) {
        size_t ps = src->stages[i].plugin->vt.params_size;
        dst->stages[i].plugin = src->stages[i].plugin;
        dst->stages[i].given = src->stages[i].given;
        dst->stages[i].axes = src->stages[i].axes;
        dst->stages[i].params = ecb_calloc(1, ps ? ps : 1);
        if (!dst->stages[i].params) return ECB_ENOMEM;
        if (ps) memcpy(dst->stages[i].params, src->stages[i].params, ps);
    }
    return 0;
}

/* ---- method entries: parameter axes ------------------------------------ */


int ecb_cfg_cmp_keyed(const void *a, const void *b)
{
    const ecb_cfg_keyed *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : (x->i > y->i) - (x->i < y->i);
}

size_t ecb_cfg_axis_len(const cJSON *v)
{
    return cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
}

size_t ecb_cfg_mul_sat(size_t a, size_t b)
{
    size_t r;
    return ecb_mul_ok(a, b, &r) ? r : SIZE_MAX;
}

/* Every key known, every value of every axis in range: each problem is
 * reported, and filling a combination later cannot fail. */
static void validate_stage(ecb_cfg_stage *s, const char *file, ecb_problems *pr)
{
    const ecb_method_vtable *vt = &s->plugin->vt;
    char where[160];
    snprintf(where, sizeof where, "%s: %s.params", file, s->jpath);
    void *scratch = ecb_calloc(1, vt->params_size ? vt->params_size : 1);
    if (!scratch) { ecb_problems_add(pr, ECB_ENOMEM); return; }
    s->combos = 1;
    for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next) {
        const ecb_param *p = ecb_param_find(vt->params, it->string, where, vt->name);
        if (!p) { ecb_problems_add(pr, ECB_EINVAL); continue; }
        if (cJSON_IsArray(it) && !it->child)
            ecb_cfg_problem(pr, ECB_EINVAL, "%s.%s: empty array: a sweep axis needs at least one value",
                            where, it->string);
        for (const cJSON *v = cJSON_IsArray(it) ? it->child : it; v; v = cJSON_IsArray(it) ? v->next : NULL)
            ecb_problems_add(pr, ecb_param_set(p, v, scratch, where, vt->name));
        s->combos = ecb_cfg_mul_sat(s->combos, ecb_cfg_axis_len(it));
    }
    free(scratch);
}

/* Fill the params of combination idx of one stage; the last parameter
 * written varies fastest, like nested loops. Returns 1 when a parameter
 * that does not apply held a value other than its default (now reset). */
int ecb_cfg_stage_fill(const ecb_cfg_stage *s, size_t idx, const char *file, ecb_stage *out)
{
    const ecb_method_vtable *vt = &s->plugin->vt;
    out->plugin = s->plugin;
    out->params = ecb_calloc(1, vt->params_size ? vt->params_size : 1);
    if (!out->params) return ECB_ENOMEM;
    ecb_params_defaults(vt->params, out->params);
    char where[160];
    snprintf(where, sizeof where, "%s: %s.params", file, s->jpath);
    size_t nkeys = 0;
    for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next) nkeys++;
    const cJSON **keys = ecb_calloc(nkeys ? nkeys : 1, sizeof *keys);
    if (!keys) return ECB_ENOMEM;
    nkeys = 0;
    for (const cJSON *it = s->params ? s->params->child : NULL; it; it = it->next) keys[nkeys++] = it;
    int rc = 0;
    for (size_t ki = nkeys; ki-- > 0 && !rc;) {
        const cJSON *it = keys[ki];
        size_t len = ecb_cfg_axis_len(it);
        const cJSON *v = cJSON_IsArray(it) ? cJSON_GetArrayItem(it, (int)(idx % len)) : it;
        idx /= len;
        const ecb_param *p = ecb_param_find(vt->params, it->string, where, vt->name);
        if (!p) { rc = ECB_EINVAL; break; }
        size_t pi = (size_t)(p - vt->params);
        if (pi < 64) out->given |= (uint64_t)1 << pi;
        if (pi < 64 && cJSON_IsArray(it)) out->axes |= (uint64_t)1 << pi;
        rc = ecb_param_set(p, v, out->params, where, vt->name);
    }
    free(keys);
    /* a setting that does not apply (sq's clip without percentile) is the
     * default's cell: one id, one row */
    size_t reset = rc ? 0 : ecb_params_reset_inapplicable(vt->params, vt->param_conds, out->params,
                                                          &out->given);
    return rc ? rc : reset > 0;
}

/* {"method": name, "params": {...}} at jpath; 0 when usable (its problems,
 * if any, are in pr). */
int ecb_cfg_parse_stage(const cJSON *o, const char *file, const char *jpath,
                        const ecb_registry *reg, const char *const *keys, ecb_cfg_stage *out,
                        ecb_problems *pr)
{
    static const char *const stage_keys[] = {"method", "params", NULL};
    if (!keys) keys = stage_keys;
    memset(out, 0, sizeof *out);
    snprintf(out->jpath, sizeof out->jpath, "%s", jpath);
    if (!cJSON_IsObject(o))
        return ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected an object {\"method\": ...}, got %s",
                               file, jpath, ecb_cfg_json_type(o));
    size_t before = pr->n;
    ecb_cfg_check_keys(o, keys, file, jpath, pr);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    const ecb_plugin *p = NULL;
    if (!cJSON_IsString(m))
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.method: expected a method name (string), got %s",
                        file, jpath, ecb_cfg_json_type(m));
    else if (!(p = ecb_registry_find(reg, m->valuestring))) {
        char msg[1800];
        snprintf(msg, sizeof msg, "%s", ecb_last_error());
        ecb_cfg_problem(pr, ECB_ENOTFOUND, "%s: %s.method: %s", file, jpath, msg);
    }
    if (params && !cJSON_IsObject(params))
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.params: expected an object, got %s", file, jpath,
                        ecb_cfg_json_type(params));
    else if (p) {
        out->plugin = p;
        out->params = params;
        validate_stage(out, file, pr);
    }
    return pr->n > before ? pr->rc : 0;
}

/* ---- rescoring ------------------------------------------------------------ */

/* The "with" of a rescoring entry: one quantizer setting, into r->with. */
static void parse_rescore_with(const cJSON *w, const char *file, const char *jpath,
                               const ecb_registry *reg, ecb_rescore *r, ecb_problems *pr)
{
    const cJSON *obj = w;
    cJSON *tmp = NULL;
    if (cJSON_IsString(w)) { /* a method name with default params */
        tmp = cJSON_CreateObject();
        cJSON_AddStringToObject(tmp, "method", w->valuestring);
        obj = tmp;
    }
    ecb_cfg_stage s;
    int rc = ecb_cfg_parse_stage(obj, file, jpath, reg, NULL, &s, pr);
    if (!rc && s.combos != 1)
        rc = ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s.params: rescoring takes one setting, not a sweep axis",
                             file, jpath);
    if (!rc && (s.plugin->vt.flags & ECB_METHOD_TRANSFORM))
        rc = ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: rescoring needs a quantizer, \"%s\" is a transform",
                             file, jpath, s.plugin->vt.name);
    if (!rc) {
        r->with.stages = ecb_calloc(1, sizeof *r->with.stages);
        if (r->with.stages) r->with.n = 1;
        rc = r->with.stages ? ecb_cfg_stage_fill(&s, 0, file, &r->with.stages[0]) : ECB_ENOMEM;
        ecb_problems_add(pr, rc < 0 ? rc : 0);
    }
    cJSON_Delete(tmp);
}

/* "none", "float32x4", "sq(bits=8)x4" */
static void rescore_label(ecb_rescore *r)
{
    char lab[512] = "float32";
    if (!r->factor) {
        snprintf(r->label, sizeof r->label, "none");
        return;
    }
    if (!r->with_float32) ecb_chain_label(&r->with, 0, lab, sizeof lab);
    snprintf(r->label, sizeof r->label, "%sx%zu", lab, r->factor);
}

/* A copy of proto at factor f, appended to c->rescores (room is there). */
static int add_rescore(ecb_config *c, const ecb_rescore *proto, size_t f)
{
    ecb_rescore *r = &c->rescores[c->n_rescores++];
    *r = *proto;
    r->with.stages = NULL;
    r->with.n = 0;
    r->factor = f;
    int rc = proto->with.n ? ecb_cfg_chain_copy(&r->with, &proto->with) : 0;
    rescore_label(r);
    return rc;
}

/* $.rescore[i]: "none", or {"factor": N or [N, ...], "with": "float32" |
 * method}: one rescoring per factor (a sweep axis, like parameters). */
static void parse_rescore(ecb_config *c, const cJSON *o, size_t i, const ecb_registry *reg,
                          ecb_problems *pr)
{
    static const char *const keys[] = {"factor", "with", NULL};
    const char *file = c->path;
    char jpath[64], jp[96];
    snprintf(jpath, sizeof jpath, "$.rescore[%zu]", i);
    ecb_rescore proto;
    memset(&proto, 0, sizeof proto);
    if (cJSON_IsString(o) && strcmp(o->valuestring, "none") == 0) {
        ecb_problems_add(pr, add_rescore(c, &proto, 0));
        return;
    }
    if (!cJSON_IsObject(o)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: %s: expected \"none\" or {\"factor\": N, \"with\": ...}, got %s",
                        file, jpath, ecb_cfg_json_type(o));
        return;
    }
    ecb_cfg_check_keys(o, keys, file, jpath, pr);
    size_t *f = NULL, nf = 0;
    snprintf(jp, sizeof jp, "%s.factor", jpath);
    ecb_cfg_get_size_axis(cJSON_GetObjectItemCaseSensitive(o, "factor"), file, jp, 1, 1000, &f, &nf, pr);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "with");
    proto.with_float32 = !w || (cJSON_IsString(w) && strcmp(w->valuestring, "float32") == 0);
    snprintf(jp, sizeof jp, "%s.with", jpath);
    size_t before = pr->n;
    if (!proto.with_float32) parse_rescore_with(w, file, jp, reg, &proto, pr);
    for (size_t j = 0; j < nf && pr->n == before; j++) ecb_problems_add(pr, add_rescore(c, &proto, f[j]));
    ecb_chain_release(&proto.with);
    free(f);
}

/* Entries written in $.rescore (factor axes count one a value), saturating. */
static size_t count_rescores(const cJSON *v)
{
    size_t n = 0;
    for (const cJSON *it = v->child; it; it = it->next) {
        const cJSON *f = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "factor") : NULL;
        size_t k = cJSON_IsArray(f) && f->child ? (size_t)cJSON_GetArraySize(f) : 1;
        n = n + k < n ? SIZE_MAX : n + k;
    }
    return n;
}

void ecb_cfg_parse_rescores(ecb_config *c, const cJSON *v, const ecb_registry *reg, ecb_problems *pr)
{
    static const cJSON none = {.type = cJSON_String, .valuestring = (char *)"none"};
    size_t n = v ? (cJSON_IsArray(v) ? count_rescores(v) : 0) : 1;
    if (v && (!cJSON_IsArray(v) || n < 1)) {
        ecb_cfg_problem(pr, ECB_EINVAL, "%s: $.rescore: expected a non-empty array, got %s", c->path,
                        ecb_cfg_json_type(v));
        return;
    }
    if (n > ECB_CONFIG_MAX_CELLS) {
        ecb_cfg_problem(pr, ECB_ERANGE, "%s: $.rescore: %zu rescorings, more than the %d cells a config "
                        "may have", c->path, n, ECB_CONFIG_MAX_CELLS);
        return;
    }
    c->rescores = ecb_calloc(n, sizeof *c->rescores);
    if (!c->rescores) {
        ecb_problems_add(pr, ECB_ENOMEM);
        return;
    }
    if (!v) {
        parse_rescore(c, &none, 0, reg, pr);
        return;
    }
    size_t i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) parse_rescore(c, it, i, reg, pr);
}
