/*
 * Sweep expansion: method entries (a method or a pipeline, with parameter
 * axes) become chains, the rescoring entries become rescore specs, and the
 * product dataset x corpus size x chain x mode x rescoring becomes cells
 * with stable ids (a hash of each cell's canonical JSON).
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
                        jpath, ecb_cfg_json_type(o));
    int rc = ecb_json_check_keys(o, keys, file, jpath);
    if (rc) return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "method");
    if (!cJSON_IsString(m))
        return ecb_fail(ECB_EINVAL, "%s: %s.method: expected a method name (string), got %s",
                        file, jpath, ecb_cfg_json_type(m));
    const ecb_plugin *p = ecb_registry_find(reg, m->valuestring);
    if (!p) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ecb_last_error());
        return ecb_fail(ECB_ENOTFOUND, "%s: %s.method: %s", file, jpath, msg);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    if (params && !cJSON_IsObject(params))
        return ecb_fail(ECB_EINVAL, "%s: %s.params: expected an object, got %s", file, jpath,
                        ecb_cfg_json_type(params));
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
                        ecb_cfg_json_type(e));
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(e, "pipeline");
    if (pipe) {
        static const char *const keys[] = {"pipeline", NULL};
        if ((rc = ecb_json_check_keys(e, keys, file, jpath))) return rc;
        if (!cJSON_IsArray(pipe) || cJSON_GetArraySize(pipe) < 1 || cJSON_GetArraySize(pipe) > 15)
            return ecb_fail(ECB_EINVAL, "%s: %s.pipeline: expected an array of 1..15 stages, got %s",
                            file, jpath, ecb_cfg_json_type(pipe));
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

/* ---- rescoring ------------------------------------------------------------ */

int ecb_cfg_parse_rescore(const cJSON *o, size_t i, const char *file, const ecb_registry *reg,
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
                        file, jpath, ecb_cfg_json_type(o));
    int rc = ecb_json_check_keys(o, keys, file, jpath);
    if (rc) return rc;
    char jp[96];
    snprintf(jp, sizeof jp, "%s.factor", jpath);
    if ((rc = ecb_cfg_get_size(cJSON_GetObjectItemCaseSensitive(o, "factor"), file, jp, 1, 1000, &r->factor)))
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

/* ---- cells -------------------------------------------------------------- */

/* {"method": name, "params": {every parameter}} */
static cJSON *stage_json(const ecb_stage *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", s->plugin->vt.name);
    cJSON_AddItemToObject(o, "params", ecb_params_to_json(s->plugin->vt.params, s->params));
    return o;
}

/* What a cell's id hashes: every resolved parameter, not the spelling of
 * the config (so "bits": 8 and the default give one cell). */
static char *canonical_cell(const ecb_config *c, const ecb_cell *cell)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", c->datasets[cell->dataset].key);
    cJSON_AddNumberToObject(o, "corpus_size", (double)cell->corpus_size);
    cJSON *ch = cJSON_AddArrayToObject(o, "chain");
    for (size_t i = 0; i < cell->chain.n; i++) cJSON_AddItemToArray(ch, stage_json(&cell->chain.stages[i]));
    cJSON_AddStringToObject(o, "mode", cell->mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric");
    const ecb_rescore *r = &c->rescores[cell->rescore];
    if (!r->factor) cJSON_AddStringToObject(o, "rescore", "none");
    else {
        cJSON *rs = cJSON_AddObjectToObject(o, "rescore");
        cJSON_AddNumberToObject(rs, "factor", (double)r->factor);
        if (r->with_float32) cJSON_AddStringToObject(rs, "with", "float32");
        else cJSON_AddItemToObject(rs, "with", stage_json(&r->with.stages[0]));
    }
    cJSON *ks = cJSON_AddArrayToObject(o, "k");
    for (size_t i = 0; i < c->nk; i++) cJSON_AddItemToArray(ks, cJSON_CreateNumber((double)c->ks[i]));
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "train_size", (double)c->train_size);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The cell's columns and id: labels from the chain as written (a lone
 * transform shows as itself), then float32 appended for scoring. */
static int finish_cell(const ecb_config *c, ecb_cell *cell, const ecb_registry *reg)
{
    char lab[2048], all[4096];
    ecb_chain_label(&cell->chain, 0, lab, sizeof lab);
    size_t off = 0;
    all[0] = '\0';
    for (size_t i = 0; i < cell->chain.n; i++) {
        char ps[1024];
        ecb_params_format(cell->chain.stages[i].plugin->vt.params, cell->chain.stages[i].params,
                          ";", 0, ps, sizeof ps);
        int w = snprintf(all + off, sizeof all - off, "%s%s", i ? ">" : "", ps);
        if (w > 0 && (size_t)w < sizeof all - off) off += (size_t)w;
    }
    cell->label_col = ecb_strdup(lab);
    cell->params_col = ecb_strdup(all);
    cell->method_col = ecb_strdup(cell->chain.n == 1 ? cell->chain.stages[0].plugin->vt.name : lab);
    int rc;
    if (cell->chain.stages[cell->chain.n - 1].plugin->vt.flags & ECB_METHOD_TRANSFORM)
        if ((rc = append_float32(&cell->chain, reg, c->path))) return rc;
    cell->canonical = canonical_cell(c, cell);
    ecb_hash h;
    ecb_hash_init(&h);
    ecb_hash_update(&h, cell->canonical, strlen(cell->canonical));
    snprintf(cell->id, sizeof cell->id, "%016" PRIx64, ecb_hash_final(&h));
    return 0;
}

/* Identical cells (e.g. the same method listed twice) would collide. */
static int check_unique(const ecb_config *c)
{
    for (size_t i = 0; i < c->n_cells; i++)
        for (size_t j = i + 1; j < c->n_cells && j < i + 4096; j++)
            if (strcmp(c->cells[i].id, c->cells[j].id) == 0)
                return ecb_fail(ECB_EINVAL, "%s: $.methods: the sweep lists the same cell twice (%s, %s)",
                                c->path, c->cells[i].label_col,
                                c->cells[i].mode == ECB_MODE_SYMMETRIC ? "symmetric" : "asymmetric");
    return 0;
}

/* Cells: dataset x corpus size x chain x mode x rescore. */
static int make_cells(ecb_config *c, const ecb_chain *chains, size_t nchains, const ecb_registry *reg)
{
    size_t total = 0;
    for (size_t d = 0; d < c->n_datasets; d++) total += c->datasets[d].n_corpus_sizes;
    total *= nchains * c->n_modes * c->n_rescores;
    c->cells = ecb_calloc(total ? total : 1, sizeof *c->cells);
    if (!c->cells) return ECB_ENOMEM;
    int rc;
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
                        if ((rc = chain_copy(&cell->chain, &chains[ch]))) return rc;
                        if ((rc = finish_cell(c, cell, reg))) return rc;
                    }
    return check_unique(c);
}

int ecb_cfg_expand(ecb_config *c, const cJSON *methods, const ecb_registry *reg)
{
    const char *file = c->path;
    ecb_chain *chains = NULL;
    size_t nchains = 0, ei = 0;
    int rc = 0;
    if (!cJSON_IsArray(methods) || cJSON_GetArraySize(methods) < 1)
        return ecb_fail(ECB_EINVAL, "%s: $.methods: expected a non-empty array, got %s", file,
                        ecb_cfg_json_type(methods));
    for (const cJSON *it = methods->child; it && !rc; it = it->next, ei++)
        rc = expand_entry(it, ei, file, reg, &chains, &nchains);
    if (!rc) rc = make_cells(c, chains, nchains, reg);
    for (size_t i = 0; i < nchains; i++) ecb_chain_release(&chains[i]);
    free(chains);
    return rc;
}
