/* Merging run directories and the canonical row order (see merge.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "common/fileio.h"
#include "harness/env.h"
#include "harness/merge.h"
#include "harness/registry.h"
#include "harness/results.h"

static char *pathf(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = ecb_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- canonical order ------------------------------------------------------ */

typedef struct {
    const char *id;
    size_t idx;
} id_idx;

static int cmp_id_idx(const void *a, const void *b)
{
    return strcmp(((const id_idx *)a)->id, ((const id_idx *)b)->id);
}

/* The config's cells sorted by id, for lookups. */
static id_idx *cell_index(const ecb_config *cfg)
{
    id_idx *ix = ecb_calloc(cfg->n_cells ? cfg->n_cells : 1, sizeof *ix);
    if (!ix) return NULL;
    for (size_t i = 0; i < cfg->n_cells; i++) ix[i] = (id_idx){cfg->cells[i].id, i};
    qsort(ix, cfg->n_cells, sizeof *ix, cmp_id_idx);
    return ix;
}

static size_t lookup(const id_idx *ix, size_t n, const char *id)
{
    id_idx key = {id, 0};
    const id_idx *h = n ? bsearch(&key, ix, n, sizeof *ix, cmp_id_idx) : NULL;
    return h ? h->idx : SIZE_MAX;
}

typedef struct {
    size_t key, row;
} row_key;

static int cmp_row_key(const void *a, const void *b)
{
    const row_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Stable reorder of t's rows by the config index of their cell_id. */
static int order_table(ecb_table *t, const id_idx *ix, size_t ncells)
{
    if (t->nrows < 2) return 0;
    row_key *k = ecb_calloc(t->nrows, sizeof *k);
    char **tmp = ecb_malloc_array(t->nrows * t->ncols, sizeof *tmp);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return ECB_ENOMEM;
    }
    for (size_t r = 0; r < t->nrows; r++) {
        size_t i = lookup(ix, ncells, ecb_table_at(t, r, 0));
        k[r] = (row_key){i == SIZE_MAX ? ncells + r : i, r};
    }
    qsort(k, t->nrows, sizeof *k, cmp_row_key);
    for (size_t r = 0; r < t->nrows; r++)
        memcpy(tmp + r * t->ncols, t->cell + k[r].row * t->ncols, t->ncols * sizeof *tmp);
    memcpy(t->cell, tmp, t->nrows * t->ncols * sizeof *tmp);
    free(k);
    free(tmp);
    return 0;
}

int ecb_results_canonical_order(const ecb_config *cfg, ecb_table *results, ecb_table *per_query)
{
    id_idx *ix = cell_index(cfg);
    if (!ix) return ECB_ENOMEM;
    int rc = order_table(results, ix, cfg->n_cells);
    if (!rc && per_query) rc = order_table(per_query, ix, cfg->n_cells);
    free(ix);
    return rc;
}

int ecb_run_dir_canonical_order(const ecb_config *cfg, const char *results_path,
                                const char *per_query_path)
{
    ecb_table *r = NULL, *q = NULL;
    int rc = ecb_results_load(results_path, &r, NULL, NULL);
    if (!rc) rc = ecb_per_query_load(per_query_path, &q);
    if (!rc) rc = ecb_results_canonical_order(cfg, r, q);
    /* per-query rows first: a result row implies its per-query rows */
    if (!rc) rc = ecb_table_write(q, per_query_path);
    if (!rc) rc = ecb_table_write(r, results_path);
    ecb_table_free(r);
    ecb_table_free(q);
    return rc;
}

int ecb_manifest_write(const char *dir, cJSON *m)
{
    char *txt = cJSON_Print(m);
    cJSON_Delete(m);
    if (!txt) return ecb_fail(ECB_ENOMEM, "%s/manifest.json: out of memory", dir);
    char *path = pathf(dir, "manifest.json");
    ecb_buf b = {0};
    int rc = path ? ecb_buf_printf(&b, "%s\n", txt) : ECB_ENOMEM;
    if (!rc) rc = ecb_write_file_atomic(path, b.p, b.len);
    cJSON_free(txt);
    free(path);
    ecb_buf_free(&b);
    return rc;
}

/* ---- merge ------------------------------------------------------------------ */

typedef struct {
    const char *dir;
    cJSON *man;
    ecb_table *res, *pq;
    long part, nparts;    /* 0: not a part */
} source;

static long json_long(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

static int load_source(source *s)
{
    char *mp = pathf(s->dir, "manifest.json"), *rp = pathf(s->dir, "results.csv"),
         *qp = pathf(s->dir, "per_query.csv");
    int rc = mp && rp && qp ? 0 : ECB_ENOMEM;
    if (!rc && access(mp, F_OK) != 0)
        rc = ecb_fail(ECB_EINVAL, "merge: %s: no manifest.json (not a run directory?)", s->dir);
    if (!rc) rc = ecb_json_load_file(mp, &s->man);
    if (!rc && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(s->man, "config")))
        rc = ecb_fail(ECB_EINVAL, "merge: %s: expected an object \"config\", found none", mp);
    if (!rc) rc = ecb_results_load(rp, &s->res, NULL, NULL);
    if (!rc) rc = ecb_per_query_load(qp, &s->pq);
    if (!rc) {
        const cJSON *part = cJSON_GetObjectItemCaseSensitive(s->man, "part");
        if (part) {
            s->part = json_long(part, "index");
            s->nparts = json_long(part, "count");
            if (s->part < 1 || s->nparts < s->part)
                rc = ecb_fail(ECB_EINVAL, "merge: %s: \"part\": expected index 1..count, got %ld "
                              "of %ld", mp, s->part, s->nparts);
        }
    }
    free(mp);
    free(rp);
    free(qp);
    return rc;
}

/* The first top-level key whose value differs, for the message. */
static const char *first_difference(const cJSON *a, const cJSON *b)
{
    for (const cJSON *x = a->child; x; x = x->next) {
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || !cJSON_Compare(x, y, 1)) return x->string;
    }
    for (const cJSON *y = b->child; y; y = y->next)
        if (!cJSON_GetObjectItemCaseSensitive(a, y->string)) return y->string;
    return "?";
}

static int check_sources(const ecb_merge_opts *o, source *s)
{
    const cJSON *c0 = cJSON_GetObjectItemCaseSensitive(s[0].man, "config");
    for (size_t i = 1; i < o->ndirs; i++) {
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(s[i].man, "config");
        if (!cJSON_Compare(c0, ci, 1))
            return ecb_fail(ECB_EINVAL, "merge: %s and %s ran different configs (first difference: "
                            "\"%s\"); only runs of one config merge", s[0].dir, s[i].dir,
                            first_difference(c0, ci));
        if (s[i].res->ncols != s[0].res->ncols)
            return ecb_fail(ECB_EINVAL, "merge: %s/results.csv has %zu columns, %s/results.csv %zu",
                            s[i].dir, s[i].res->ncols, s[0].dir, s[0].res->ncols);
        for (size_t c = 0; c < s[0].res->ncols; c++)
            if (strcmp(s[0].res->head[c], s[i].res->head[c]) != 0)
                return ecb_fail(ECB_EINVAL, "merge: column %zu is \"%s\" in %s/results.csv but "
                                "\"%s\" in %s/results.csv", c + 1, s[0].res->head[c], s[0].dir,
                                s[i].res->head[c], s[i].dir);
        if (s[i].pq->ncols != s[0].pq->ncols)
            return ecb_fail(ECB_EINVAL, "merge: %s/per_query.csv and %s/per_query.csv have "
                            "different columns", s[0].dir, s[i].dir);
    }
    /* parts: one count, each index once, none missing */
    long np = 0;
    for (size_t i = 0; i < o->ndirs; i++) {
        if (!s[i].nparts) continue;
        if (np && s[i].nparts != np)
            return ecb_fail(ECB_EINVAL, "merge: %s is a part of %ld, others of %ld", s[i].dir,
                            s[i].nparts, np);
        np = s[i].nparts;
        for (size_t j = 0; j < i; j++)
            if (s[j].part == s[i].part)
                return ecb_fail(ECB_EINVAL, "merge: %s and %s are both part %ld/%ld", s[j].dir,
                                s[i].dir, s[i].part, np);
    }
    return 0;
}

/* A part of the count the parts name that is not among the sources. */
static int check_parts_present(const ecb_merge_opts *o, const source *s)
{
    long np = 0;
    for (size_t i = 0; i < o->ndirs; i++)
        if (s[i].nparts) np = s[i].nparts;
    for (long p = 1; p <= np; p++) {
        size_t i = 0;
        while (i < o->ndirs && s[i].part != p) i++;
        if (i < o->ndirs) continue;
        if (!o->allow_partial)
            return ecb_fail(ECB_EINVAL, "merge: part %ld/%ld is missing (give its directory, or "
                            "--allow-partial to merge without it)", p, np);
        ecb_log(ECB_LOG_WARN, "merge: part %ld/%ld is missing (--allow-partial)", p, np);
    }
    return 0;
}

/* The merged manifest: the config, the first part's environment, and each
 * source's own record under "merged_from". */
static int write_manifest(const ecb_merge_opts *o, const source *s, const ecb_table *res,
                          size_t total)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToObject(m, "config",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s[0].man, "config"), 1));
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(s[0].man, "config_path");
    if (cJSON_IsString(cp)) cJSON_AddStringToObject(m, "config_path", cp->valuestring);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(s[0].man, "environment");
    if (env) cJSON_AddItemToObject(m, "environment", cJSON_Duplicate(env, 1));
    const char *started = NULL, *finished = NULL;
    int all_finished = 1;
    for (size_t i = 0; i < o->ndirs; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(s[i].man, "started");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(s[i].man, "finished");
        if (cJSON_IsString(a) && (!started || strcmp(a->valuestring, started) < 0))
            started = a->valuestring;
        if (!cJSON_IsString(b)) all_finished = 0;
        else if (!finished || strcmp(b->valuestring, finished) > 0) finished = b->valuestring;
    }
    if (started) cJSON_AddStringToObject(m, "started", started);
    if (finished && all_finished) cJSON_AddStringToObject(m, "finished", finished);
    size_t ok = 0, sk = 0, er = 0;
    int si = ecb_table_col(res, "status");
    for (size_t r = 0; r < res->nrows; r++) {
        int st = ecb_cell_status_parse(ecb_table_at(res, r, si));
        if (st == ECB_CELL_OK) ok++;
        else if (st == ECB_CELL_SKIPPED) sk++;
        else er++;
    }
    cJSON *cells = cJSON_AddObjectToObject(m, "cells");
    cJSON_AddNumberToObject(cells, "total", (double)total);
    cJSON_AddNumberToObject(cells, "ok", (double)ok);
    cJSON_AddNumberToObject(cells, "skipped", (double)sk);
    cJSON_AddNumberToObject(cells, "error", (double)er);
    cJSON_AddNumberToObject(cells, "missing", (double)(total - res->nrows));
    cJSON *from = cJSON_AddArrayToObject(m, "merged_from");
    for (size_t i = 0; i < o->ndirs; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dir", s[i].dir);
        static const char *const keep[] = {"part", "started", "finished", "environment", "cells",
                                           "mpi", NULL};
        for (size_t k = 0; keep[k]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s[i].man, keep[k]);
            if (v) cJSON_AddItemToObject(e, keep[k], cJSON_Duplicate(v, 1));
        }
        cJSON_AddItemToArray(from, e);
    }
    return ecb_manifest_write(o->out, m);
}

static int copy_row(ecb_table *dst, const ecb_table *src, size_t r)
{
    long w = ecb_table_add_row(dst);
    if (w < 0) return (int)w;
    for (size_t c = 0; c < src->ncols; c++) {
        int rc = ecb_table_set(dst, (size_t)w, (int)c, ecb_table_at(src, r, (int)c));
        if (rc) return rc;
    }
    return 0;
}

/* Gather every source's rows, refusing a cell id seen twice or foreign to
 * the config; per-query rows only of cells that have a row. */
static int gather(const ecb_merge_opts *o, const source *s, const ecb_config *cfg, ecb_table *res,
                  ecb_table *pq)
{
    int rc = 0;
    id_idx *ix = cell_index(cfg);
    size_t *from = ecb_malloc_array(cfg->n_cells ? cfg->n_cells : 1, sizeof *from);
    if (!rc && (!ix || !from)) rc = ECB_ENOMEM;
    for (size_t i = 0; !rc && i < cfg->n_cells; i++) from[i] = SIZE_MAX;
    for (size_t d = 0; !rc && d < o->ndirs; d++)
        for (size_t r = 0; !rc && r < s[d].res->nrows; r++) {
            const char *id = ecb_table_at(s[d].res, r, 0);
            size_t c = lookup(ix, cfg->n_cells, id);
            if (c == SIZE_MAX)
                rc = ecb_fail(ECB_EINVAL, "merge: %s/results.csv: cell %s is not a cell of the "
                              "config (results of another ecbench or plugin version?)", s[d].dir, id);
            else if (from[c] != SIZE_MAX)
                rc = ecb_fail(ECB_EINVAL, "merge: cell %s is in both %s and %s (overlapping runs); "
                              "merge each cell once", id, s[from[c]].dir, s[d].dir);
            else {
                from[c] = d;
                rc = copy_row(res, s[d].res, r);
            }
        }
    if (!rc) rc = check_parts_present(o, s);
    size_t missing = 0;
    const char *first = NULL;
    for (size_t i = 0; !rc && i < cfg->n_cells; i++)
        if (from[i] == SIZE_MAX) {
            if (!missing++) first = cfg->cells[i].id;
        }
    if (!rc && missing) {
        if (!o->allow_partial)
            rc = ecb_fail(ECB_EINVAL, "merge: %zu of the config's %zu cells have no row (first: %s); "
                          "run the missing parts (or resume them), or --allow-partial",
                          missing, cfg->n_cells, first);
        else
            ecb_log(ECB_LOG_WARN, "merge: %zu of %zu cells have no row (--allow-partial)", missing,
                    cfg->n_cells);
    }
    for (size_t d = 0; !rc && d < o->ndirs; d++)
        for (size_t r = 0; !rc && r < s[d].pq->nrows; r++) {
            size_t c = lookup(ix, cfg->n_cells, ecb_table_at(s[d].pq, r, 0));
            if (c != SIZE_MAX && from[c] == d) rc = copy_row(pq, s[d].pq, r);
        }
    if (!rc) rc = ecb_results_canonical_order(cfg, res, pq);
    free(ix);
    free(from);
    return rc;
}

int ecb_merge(const ecb_merge_opts *o)
{
    if (o->ndirs == 0) return ecb_fail(ECB_EINVAL, "merge: expected at least one run directory");
    source *s = ecb_calloc(o->ndirs, sizeof *s);
    ecb_registry *reg = NULL;
    ecb_config *cfg = NULL;
    ecb_table *res = NULL, *pq = NULL;
    ecb_dir_lock *lock = NULL;
    char *rp = pathf(o->out, "results.csv"), *qp = pathf(o->out, "per_query.csv");
    int rc = s && rp && qp ? 0 : ECB_ENOMEM;
    for (size_t i = 0; !rc && i < o->ndirs; i++) {
        s[i].dir = o->dirs[i];
        rc = load_source(&s[i]);
    }
    if (!rc) rc = check_sources(o, s);
    if (!rc) rc = ecb_registry_load_default(&reg);
    if (!rc) {
        /* the cell ids come from the config itself (config_path only
         * resolves its relative paths; nothing is read from them) */
        const cJSON *cp = cJSON_GetObjectItemCaseSensitive(s[0].man, "config_path");
        char *mp = pathf(s[0].dir, "manifest.json");
        const char *path = cJSON_IsString(cp) ? cp->valuestring : mp;
        cJSON *cj = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s[0].man, "config"), 1);
        rc = mp && cj ? ecb_config_from_json(cj, path, reg, &cfg) : ECB_ENOMEM;
        if (rc) rc = ecb_fail(rc, "merge: %s: its config: %s", s[0].dir, ecb_last_error());
        /* budget cells' ids hash the setting chosen for the data's shape */
        if (!rc)
            rc = ecb_config_resolve_budgets_recorded(
                cfg, cJSON_GetObjectItemCaseSensitive(s[0].man, "datasets"), mp);
        free(mp);
    }
    if (!rc) rc = ecb_table_new((const char *const *)s[0].res->head, s[0].res->ncols, &res);
    if (!rc) rc = ecb_table_new((const char *const *)s[0].pq->head, s[0].pq->ncols, &pq);
    if (!rc) rc = gather(o, s, cfg, res, pq);
    if (!rc && access(rp, F_OK) == 0)
        rc = ecb_fail(ECB_EINVAL, "merge: %s already holds results.csv; merge into a new directory",
                      o->out);
    if (!rc) rc = ecb_mkdir_p(o->out);
    if (!rc) rc = ecb_dir_lock_take(o->out, &lock);
    /* manifest.json last: a directory with one is a complete merge */
    if (!rc) rc = ecb_table_write(pq, qp);
    if (!rc) rc = ecb_table_write(res, rp);
    if (!rc) rc = write_manifest(o, s, res, cfg->n_cells);
    if (!rc && !o->quiet)
        ecb_log(ECB_LOG_INFO, "merged %zu directories: %zu rows, %zu per-query rows -> %s",
                o->ndirs, res->nrows, pq->nrows, o->out);
    ecb_dir_lock_release(lock);
    for (size_t i = 0; s && i < o->ndirs; i++) {
        cJSON_Delete(s[i].man);
        ecb_table_free(s[i].res);
        ecb_table_free(s[i].pq);
    }
    free(s);
    free(rp);
    free(qp);
    ecb_table_free(res);
    ecb_table_free(pq);
    ecb_config_free(cfg);
    ecb_registry_free(reg);
    return rc;
}
