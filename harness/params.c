/*
 * Generic parameter handling from ecb_param tables. Plugins describe their
 * parameters as data; everything user-facing (JSON parsing, range checks,
 * "did you mean", help text, canonical labels) lives here once.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/params.h"

size_t ecb_params_count(const ecb_param *table)
{
    size_t n = 0;
    while (table && table[n].name) n++;
    return n;
}

static void *field(void *dst, const ecb_param *p) { return (char *)dst + p->offset; }
static const void *cfield(const void *src, const ecb_param *p)
{
    return (const char *)src + p->offset;
}

static void set_default(const ecb_param *p, void *dst);

void ecb_params_defaults(const ecb_param *table, void *dst)
{
    for (const ecb_param *p = table; p && p->name; p++) set_default(p, dst);
}

static const char *type_name(ecb_param_type t)
{
    switch (t) {
    case ECB_PARAM_BOOL: return "bool";
    case ECB_PARAM_INT: return "int";
    case ECB_PARAM_SIZE: return "size";
    case ECB_PARAM_DOUBLE: return "number";
    case ECB_PARAM_ENUM: return "enum";
    default: return "?";
    }
}

static void enum_list(const ecb_param *p, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; p->enum_values && p->enum_values[i]; i++) {
        int w = snprintf(buf + off, n - off, "%s%s", i ? "|" : "", p->enum_values[i]);
        if (w < 0 || (size_t)w >= n - off) break;
        off += (size_t)w;
    }
}

static int range_ok(const ecb_param *p, double v)
{
    return p->min > p->max || (v >= p->min && v <= p->max);
}

int ecb_param_set(const ecb_param *p, const cJSON *v, void *dst, const char *where,
                  const char *owner)
{
    char *txt = cJSON_PrintUnformatted(v);
    const char *shown = txt ? txt : "?";
    int rc = 0;
    switch (p->type) {
    case ECB_PARAM_BOOL:
        if (!cJSON_IsBool(v)) {
            rc = ecb_fail(ECB_EINVAL, "%s.%s: %s expects true or false, got %s", where, p->name,
                          owner, shown);
            break;
        }
        *(int *)field(dst, p) = cJSON_IsTrue(v);
        break;
    case ECB_PARAM_ENUM: {
        char list[512];
        enum_list(p, list, sizeof list);
        if (!cJSON_IsString(v)) {
            rc = ecb_fail(ECB_EINVAL, "%s.%s: %s expects one of %s, got %s", where, p->name,
                          owner, list, shown);
            break;
        }
        int idx = -1;
        size_t nv = 0;
        for (; p->enum_values && p->enum_values[nv]; nv++)
            if (strcmp(p->enum_values[nv], v->valuestring) == 0) idx = (int)nv;
        if (idx < 0) {
            const char *hint = ecb_did_you_mean(v->valuestring, p->enum_values, nv);
            rc = ecb_fail(ECB_EINVAL, "%s.%s: %s expects one of %s, got \"%s\"%s%s%s", where,
                          p->name, owner, list, v->valuestring, hint ? " (did you mean \"" : "",
                          hint ? hint : "", hint ? "\"?)" : "");
            break;
        }
        *(int *)field(dst, p) = idx;
        break;
    }
    case ECB_PARAM_INT:
    case ECB_PARAM_SIZE:
    case ECB_PARAM_DOUBLE: {
        if (!cJSON_IsNumber(v)) {
            rc = ecb_fail(ECB_EINVAL, "%s.%s: %s expects a %s, got %s", where, p->name, owner,
                          type_name(p->type), shown);
            break;
        }
        double d = v->valuedouble;
        if (!isfinite(d) || (p->type != ECB_PARAM_DOUBLE && d != floor(d))) {
            rc = ecb_fail(ECB_EINVAL, "%s.%s: %s expects an integer, got %s", where, p->name,
                          owner, shown);
            break;
        }
        if (p->type == ECB_PARAM_SIZE && d < 0) {
            rc = ecb_fail(ECB_ERANGE, "%s.%s: %s expects a non-negative integer, got %s",
                          where, p->name, owner, shown);
            break;
        }
        if (!range_ok(p, d) || fabs(d) > 9.0e15) {
            rc = ecb_fail(ECB_ERANGE, "%s.%s: %s expects a value in [%g, %g], got %s", where,
                          p->name, owner, p->min, p->max, shown);
            break;
        }
        if (p->type == ECB_PARAM_INT) *(int64_t *)field(dst, p) = (int64_t)d;
        else if (p->type == ECB_PARAM_SIZE) *(size_t *)field(dst, p) = (size_t)d;
        else *(double *)field(dst, p) = d;
        break;
    }
    default: rc = ecb_fail(ECB_EINTERNAL, "%s: bad parameter table entry %s", owner, p->name);
    }
    cJSON_free(txt);
    return rc;
}

const ecb_param *ecb_param_find(const ecb_param *table, const char *name, const char *where,
                                const char *owner)
{
    size_t np = ecb_params_count(table);
    for (size_t i = 0; i < np; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    const char *names[256] = {NULL};
    for (size_t i = 0; i < np && i < 256; i++) names[i] = table[i].name;
    const char *hint = ecb_did_you_mean(name, names, np < 256 ? np : 256);
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    for (size_t i = 0; i < np; i++) {
        int w = snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", table[i].name);
        if (w < 0 || (size_t)w >= sizeof list - off) break;
        off += (size_t)w;
    }
    ecb_fail(ECB_EINVAL, "%s: unknown parameter \"%s\" for method %s%s%s%s (known: %s)", where, name,
             owner, hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "",
             np ? list : "none");
    return NULL;
}

int ecb_params_fill_all(const ecb_param *table, const cJSON *obj, void *dst, const char *where,
                        const char *owner, ecb_problems *pr)
{
    ecb_params_defaults(table, dst);
    if (!obj) return 0;
    if (!cJSON_IsObject(obj))
        return ecb_problems_add(pr, ecb_fail(ECB_EINVAL, "%s: parameters of %s must be a JSON object",
                                             where, owner));
    int rc = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        const ecb_param *p = ecb_param_find(table, it->string, where, owner);
        int r = ecb_problems_add(pr, p ? ecb_param_set(p, it, dst, where, owner) : ECB_EINVAL);
        if (!rc) rc = r;
    }
    return rc;
}

int ecb_params_fill(const ecb_param *table, const cJSON *obj, void *dst, const char *where,
                    const char *owner)
{
    ecb_problems pr = {0};
    ecb_params_fill_all(table, obj, dst, where, owner, &pr);
    return ecb_problems_finish(&pr, where);
}

/* ---- several problems at once --------------------------------------------- */

#define ECB_PROBLEMS_KEPT 64

int ecb_problems_add(ecb_problems *pr, int rc)
{
    if (!rc) return 0;
    const char *msg = ecb_last_error();
    size_t l = strlen(msg);
    /* Past a screenful only the count grows (a fuzzed file can hold a
     * million mistakes); out of memory, the count and first code still tell. */
    char *nt = pr->n < ECB_PROBLEMS_KEPT ? realloc(pr->text, pr->len + l + 2) : NULL;
    if (nt) {
        pr->text = nt;
        memcpy(pr->text + pr->len, msg, l);
        pr->len += l;
        pr->text[pr->len++] = '\n';
        pr->text[pr->len] = '\0';
    }
    if (!pr->n++) pr->rc = rc;
    return rc;
}

int ecb_problems_finish(ecb_problems *pr, const char *what)
{
    if (!pr->n) return 0;
    int rc = pr->rc;
    if (!pr->text) {
        ecb_fail(rc, "%s: %zu problems (out of memory while listing them)", what, pr->n);
    } else if (pr->n == 1) {
        pr->text[pr->len - 1] = '\0';
        ecb_fail(rc, "%s", pr->text);
    } else {
        /* The message buffer is finite: list what fits, then count the rest. */
        char out[2000];
        size_t off = 0, shown = 0;
        int w = snprintf(out, sizeof out, "%s: %zu problems:", what, pr->n);
        off = w > 0 ? (size_t)w : 0;
        if (off > sizeof out / 2) off = sizeof out / 2; /* a header cut short */
        for (char *line = pr->text, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1) {
            /* room for this line, and after it for "... and N more" */
            size_t l = (size_t)(nl - line), room = sizeof out - off > 96 ? sizeof out - off - 96 : 0;
            if (l > room && (shown || !room)) break;
            if (l > room) l = room; /* the first one is always shown, cut if need be */
            int w2 = snprintf(out + off, sizeof out - off, "\n  %zu. %.*s", shown + 1, (int)l, line);
            if (w2 < 0 || (size_t)w2 >= sizeof out - off) break;
            off += (size_t)w2;
            shown++;
        }
        if (shown < pr->n)
            snprintf(out + off, sizeof out - off, "\n  ... and %zu more", pr->n - shown);
        ecb_fail(rc, "%s", out);
    }
    free(pr->text);
    memset(pr, 0, sizeof *pr);
    return rc;
}

static int format_value(const ecb_param *p, const void *src, char *buf, size_t n)
{
    switch (p->type) {
    case ECB_PARAM_BOOL: return snprintf(buf, n, "%s", *(const int *)cfield(src, p) ? "true" : "false");
    case ECB_PARAM_ENUM: {
        int i = *(const int *)cfield(src, p);
        return snprintf(buf, n, "%s", p->enum_values && i >= 0 ? p->enum_values[i] : "?");
    }
    case ECB_PARAM_INT: return snprintf(buf, n, "%" PRId64, *(const int64_t *)cfield(src, p));
    case ECB_PARAM_SIZE: return snprintf(buf, n, "%zu", *(const size_t *)cfield(src, p));
    case ECB_PARAM_DOUBLE: return snprintf(buf, n, "%g", *(const double *)cfield(src, p));
    default: return snprintf(buf, n, "?");
    }
}

static int is_default(const ecb_param *p, const void *src)
{
    switch (p->type) {
    case ECB_PARAM_BOOL:
    case ECB_PARAM_ENUM: return *(const int *)cfield(src, p) == p->def.b;
    case ECB_PARAM_INT: return *(const int64_t *)cfield(src, p) == p->def.i;
    case ECB_PARAM_SIZE: return *(const size_t *)cfield(src, p) == p->def.u;
    case ECB_PARAM_DOUBLE: return *(const double *)cfield(src, p) == p->def.d;
    default: return 1;
    }
}

int ecb_params_format(const ecb_param *table, const void *src, const char *sep,
                      int only_changed, char *buf, size_t n)
{
    return ecb_params_format_mask(table, src, sep, only_changed ? 0 : ~(uint64_t)0, buf, n);
}

/* ---- parameters that apply ------------------------------------------------- */

static const ecb_param *param_named(const ecb_param *table, const char *name)
{
    for (const ecb_param *p = table; p && p->name; p++)
        if (name && strcmp(p->name, name) == 0) return p;
    return NULL;
}

/* Every condition on p holds, and so do those on the parameters it depends
 * on (at most 8 deep, as validated at load). */
static int applies(const ecb_param *table, const ecb_param_cond *conds, const ecb_param *p,
                   const void *src, int depth)
{
    for (const ecb_param_cond *c = conds; c && c->param && depth <= 8; c++) {
        const ecb_param *q = strcmp(c->param, p->name) ? NULL : param_named(table, c->if_param);
        if (!q) continue;
        char val[128];
        format_value(q, src, val, sizeof val);
        int hit = 0;
        for (const char *const *v = c->if_values; v && *v && !hit; v++) hit = strcmp(*v, val) == 0;
        if (!hit || !applies(table, conds, q, src, depth + 1)) return 0;
    }
    return 1;
}

int ecb_param_applies(const ecb_param *table, const ecb_param_cond *conds, size_t idx,
                      const void *src)
{
    return applies(table, conds, &table[idx], src, 0);
}

/* A parameter conditional on one conditional on another... at most 8 deep
 * (which also rules out loops). */
static int cond_chain_too_deep(const ecb_param_cond *conds, const char *name, int depth)
{
    if (depth > 8) return 1;
    for (const ecb_param_cond *c = conds; c->param; c++)
        if (!strcmp(c->param, name) && c->if_param && cond_chain_too_deep(conds, c->if_param, depth + 1))
            return 1;
    return 0;
}

int ecb_param_conds_validate(const ecb_param *table, const ecb_param_cond *conds,
                             const char *where)
{
    size_t i = 0;
    for (const ecb_param_cond *c = conds; c && c->param; c++, i++) {
        const ecb_param *p = param_named(table, c->param), *q = param_named(table, c->if_param);
        if (!p || !q || p == q)
            return ecb_fail(ECB_EINVAL, "%s: param_conds[%zu]: expected two different parameters of "
                            "the table, got \"%s\" if \"%s\"", where, i, c->param,
                            c->if_param ? c->if_param : "(null)");
        if (!c->if_values || !c->if_values[0])
            return ecb_fail(ECB_EINVAL, "%s: param_conds[%zu]: %s: expected a non-empty list of "
                            "values of %s", where, i, c->param, q->name);
        for (const char *const *v = c->if_values; *v; v++) {
            int ok = 1;
            if (q->type == ECB_PARAM_ENUM) {
                ok = 0;
                for (const char *const *e = q->enum_values; e && *e && !ok; e++) ok = strcmp(*e, *v) == 0;
            } else if (q->type == ECB_PARAM_BOOL) {
                ok = !strcmp(*v, "true") || !strcmp(*v, "false");
            }
            if (!ok)
                return ecb_fail(ECB_EINVAL, "%s: param_conds[%zu]: %s: \"%s\" is not a value of %s",
                                where, i, c->param, *v, q->name);
        }
        if (cond_chain_too_deep(conds, c->param, 0))
            return ecb_fail(ECB_EINVAL, "%s: param_conds[%zu]: %s: its conditions loop or nest "
                            "deeper than 8", where, i, c->param);
    }
    return 0;
}

static void set_default(const ecb_param *p, void *dst)
{
    switch (p->type) {
    case ECB_PARAM_BOOL:
    case ECB_PARAM_ENUM: *(int *)field(dst, p) = p->def.b; break;
    case ECB_PARAM_INT: *(int64_t *)field(dst, p) = p->def.i; break;
    case ECB_PARAM_SIZE: *(size_t *)field(dst, p) = p->def.u; break;
    case ECB_PARAM_DOUBLE: *(double *)field(dst, p) = p->def.d; break;
    case ECB_PARAM_END: break;
    }
}

size_t ecb_params_reset_inapplicable(const ecb_param *table, const ecb_param_cond *conds,
                                     void *dst, uint64_t *given)
{
    size_t np = ecb_params_count(table), n = 0;
    if (!conds) return 0;
    /* decided on the values as given, then reset: a reset never changes
     * whether another parameter applies (that depends on its condition's
     * parameter applying, not on a reset value) */
    uint64_t off = 0;
    for (size_t i = 0; i < np && i < 64; i++)
        if (!applies(table, conds, &table[i], dst, 0)) off |= (uint64_t)1 << i;
    for (size_t i = 0; i < np && i < 64; i++) {
        if (!((off >> i) & 1)) continue;
        if (!is_default(&table[i], dst)) n++;
        set_default(&table[i], dst);
        if (given) *given &= ~((uint64_t)1 << i);
    }
    return n;
}

int ecb_params_format_mask(const ecb_param *table, const void *src, const char *sep,
                           uint64_t force, char *buf, size_t n)
{
    return ecb_params_format_applicable(table, NULL, src, sep, force, buf, n);
}

int ecb_params_format_applicable(const ecb_param *table, const ecb_param_cond *conds,
                                 const void *src, const char *sep, uint64_t force, char *buf,
                                 size_t n)
{
    size_t off = 0;
    int first = 1;
    if (n) buf[0] = '\0';
    size_t idx = 0;
    for (const ecb_param *p = table; p && p->name; p++, idx++) {
        int forced = idx < 64 && ((force >> idx) & 1);
        if ((!forced && is_default(p, src)) || !applies(table, conds, p, src, 0)) continue;
        char val[128];
        format_value(p, src, val, sizeof val);
        int w = snprintf(buf + off, n - off, "%s%s=%s", first ? "" : sep, p->name, val);
        if (w < 0 || (size_t)w >= n - off)
            return ecb_fail(ECB_ERANGE, "parameter list too long to format");
        off += (size_t)w;
        first = 0;
    }
    return 0;
}

cJSON *ecb_params_to_json(const ecb_param *table, const void *src)
{
    cJSON *o = cJSON_CreateObject();
    for (const ecb_param *p = table; o && p && p->name; p++) {
        switch (p->type) {
        case ECB_PARAM_BOOL: cJSON_AddBoolToObject(o, p->name, *(const int *)cfield(src, p)); break;
        case ECB_PARAM_ENUM: {
            int i = *(const int *)cfield(src, p);
            cJSON_AddStringToObject(o, p->name, p->enum_values[i]);
            break;
        }
        case ECB_PARAM_INT:
            cJSON_AddNumberToObject(o, p->name, (double)*(const int64_t *)cfield(src, p));
            break;
        case ECB_PARAM_SIZE:
            cJSON_AddNumberToObject(o, p->name, (double)*(const size_t *)cfield(src, p));
            break;
        case ECB_PARAM_DOUBLE:
            cJSON_AddNumberToObject(o, p->name, *(const double *)cfield(src, p));
            break;
        default: break;
        }
    }
    return o;
}

void ecb_params_help(FILE *f, const ecb_param *table)
{
    if (!table || !table->name) {
        fprintf(f, "  (no parameters)\n");
        return;
    }
    for (const ecb_param *p = table; p->name; p++) {
        char def[128], range[600] = "";
        switch (p->type) {
        case ECB_PARAM_BOOL: snprintf(def, sizeof def, "%s", p->def.b ? "true" : "false"); break;
        case ECB_PARAM_ENUM:
            snprintf(def, sizeof def, "%s", p->enum_values ? p->enum_values[p->def.b] : "?");
            enum_list(p, range, sizeof range);
            break;
        case ECB_PARAM_INT: snprintf(def, sizeof def, "%" PRId64, p->def.i); break;
        case ECB_PARAM_SIZE: snprintf(def, sizeof def, "%zu", p->def.u); break;
        case ECB_PARAM_DOUBLE: snprintf(def, sizeof def, "%g", p->def.d); break;
        default: snprintf(def, sizeof def, "?");
        }
        if (p->type != ECB_PARAM_ENUM && p->type != ECB_PARAM_BOOL && p->min <= p->max)
            snprintf(range, sizeof range, "%g..%g", p->min, p->max);
        fprintf(f, "  %-16s %-6s default %-10s %-22s %s\n", p->name, type_name(p->type), def,
                range, p->help ? p->help : "");
    }
}
