/*
 * Internal interface between the config reader's files (config.c: the top
 * level and the scalar keys; config_json.c: JSON helpers; config_stage.c:
 * one stage, labels, rescoring; config_expand.c: method entries and the
 * cells; config_report.c: the keys only the report reads). Not part of the
 * core's interface.
 */
#ifndef ECB_CONFIG_IMPL_H
#define ECB_CONFIG_IMPL_H

#include "harness/config.h"
#include "harness/params.h"

/* "a string", "a number", ... "nothing" for NULL: the actual value in messages. */
const char *ecb_cfg_json_type(const cJSON *v);
/* An integer in [lo, hi], else an error naming file, jpath and the value. */
int ecb_cfg_get_size(const cJSON *v, const char *file, const char *jpath, size_t lo, size_t hi,
                     size_t *out);

/* ecb_fail(code, fmt...) recorded in pr; returns code. */
int ecb_cfg_problem(ecb_problems *pr, int code, const char *fmt, ...) ECB_PRINTF(3, 4);
/* Each key of obj not in allowed (NULL-terminated) is a problem, with a
 * "did you mean" hint. */
void ecb_cfg_check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                        const char *jpath, ecb_problems *pr);

/* A size, or a non-empty array of sizes (a sweep axis), each in [lo, hi];
 * *out (caller frees) gets *n values, *n = 0 after a problem. */
void ecb_cfg_get_size_axis(const cJSON *v, const char *file, const char *jpath, size_t lo,
                           size_t hi, size_t **out, size_t *n, ecb_problems *pr);

/* $.rescore (absent: "none" alone) into c->rescores: one entry per factor
 * of each element; every entry is left safe to release. */
void ecb_cfg_parse_rescores(ecb_config *c, const cJSON *v, const ecb_registry *reg, ecb_problems *pr);
/* Parses $.methods (each entry's problems go to pr) and, when pr holds no
 * problem at all, expands the sweep into c->cells: needs datasets, modes,
 * rescores, ks, seed and train_size parsed. Returns the first code. */
int ecb_cfg_expand(ecb_config *c, const cJSON *methods, const ecb_registry *reg, ecb_problems *pr);

/* ---- stages (config_stage.c) ---- */

/* One stage as written: a plugin and, per parameter, a scalar or an array
 * of values (an axis). */
typedef struct {
    const ecb_plugin *plugin;
    const cJSON *params; /* object or NULL */
    char jpath[96];      /* "$.methods[3].pipeline[1]" */
    size_t combos;       /* product of its axis lengths, SIZE_MAX past size_t */
} ecb_cfg_stage;

/* A string and an index, sorted by string then index (finding twins). */
typedef struct {
    const char *key;
    size_t i;
} ecb_cfg_keyed;
int ecb_cfg_cmp_keyed(const void *a, const void *b); /* qsort comparator */

size_t ecb_cfg_axis_len(const cJSON *v); /* an array's length, else 1 */
size_t ecb_cfg_mul_sat(size_t a, size_t b); /* a*b, SIZE_MAX on overflow */
/* {"method": name, "params": {...}} at jpath, every value of every axis
 * checked; keys: the keys the object may hold (NULL: method and params);
 * 0 when usable (else its problems are in pr). */
int ecb_cfg_parse_stage(const cJSON *o, const char *file, const char *jpath,
                        const ecb_registry *reg, const char *const *keys, ecb_cfg_stage *out,
                        ecb_problems *pr);
/* The parameters of combination idx of s (last axis fastest): < 0 on
 * error, 1 when a parameter that does not apply held another value than
 * its default (now reset), else 0. */
int ecb_cfg_stage_fill(const ecb_cfg_stage *s, size_t idx, const char *file, ecb_stage *out);
int ecb_cfg_chain_copy(ecb_chain *dst, const ecb_chain *src); /* deep */
/* One parameter's value from the params struct src into dst. */
void ecb_cfg_param_copy(const ecb_param *p, const void *src, void *dst);
/* A cell label from a method entry's "label": the label, then the values of
 * the chain's sweep axes that apply ("percentile(bits=4)"). */
int ecb_cfg_entry_label(const char *label, const ecb_chain *c, char *buf, size_t n);

/* ---- cells (config_cells.c) ---- */

/* Where a chain of the sweep comes from: its methods[] entry and budget
 * (an index into that entry's budgets; SIZE_MAX: not budget-targeted). */
typedef struct {
    size_t entry, budget;
} ecb_cfg_chain_src;

/* What the cells need of the methods[] entries. */
typedef struct {
    const char *const *label;                 /* per entry: "label" or NULL */
    const ecb_budget_target *const *budgets;  /* per entry: its budgets or NULL */
    size_t n;
} ecb_cfg_entries;

/* The cells: dataset x corpus size x chain x mode x rescore x threads (the
 * last fastest), total of them; fails on twins (one id twice), and adds a
 * problem for a label that names cells of two entries. */
int ecb_cfg_make_cells(ecb_config *c, const ecb_chain *chains, const ecb_cfg_chain_src *src,
                       size_t nchains, size_t total, const ecb_cfg_entries *e,
                       const ecb_registry *reg, ecb_problems *pr);
/* (Re)computes a cell's params column, canonical JSON and id from its chain. */
int ecb_cfg_cell_identity(const ecb_config *c, ecb_cell *cell);

/* "budgets", "budget_metric" and "ci" (ks_ok: the k list parsed, so metric
 * columns can be checked against it). */
void ecb_cfg_check_report(const ecb_config *c, const cJSON *json, int ks_ok, ecb_problems *pr);
/* "baseline": a method or label of the cells (its type only when the sweep
 * was not expanded). */
void ecb_cfg_check_baseline(const ecb_config *c, const cJSON *json, ecb_problems *pr);

#endif
