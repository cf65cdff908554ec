/*
 * Generic parameter handling from ecb_param tables (fio's option tables):
 * defaults, JSON filling with range checks, unknown keys with a "did you
 * mean" hint, canonical formatting and help text.
 */
#ifndef ECB_PARAMS_H
#define ECB_PARAMS_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/ecb.h"

/* Several problems of one input, reported together: a config wrong in three
 * places says so in one run, not in three. Zero-initialise; add each failure
 * as it happens (the message is the thread's ecb_last_error()); finish once. */
typedef struct ecb_problems {
    char *text;   /* the messages, one per line */
    size_t n, len;
    int rc;       /* code of the first problem */
} ecb_problems;
/* Records the current error message under code rc (0: nothing); returns rc. */
int ecb_problems_add(ecb_problems *pr, int rc);
/* 0 when nothing was recorded. Else sets the thread's error to the one
 * message as it was, or to "<what>: N problems:" and the numbered list
 * (cut, with a count of the rest, where it outgrows the message buffer),
 * and returns the first code. Frees the list either way. */
int ecb_problems_finish(ecb_problems *pr, const char *what);

size_t ecb_params_count(const ecb_param *table);
void ecb_params_defaults(const ecb_param *table, void *dst);
/* Fill dst (defaults first) from a JSON object of scalar values. where names
 * the file and JSON path for messages, e.g. "configs/x.json: $.methods[1].params".
 * owner names the method. Every bad key is reported, not only the first. */
int ecb_params_fill(const ecb_param *table, const cJSON *obj, void *dst, const char *where,
                    const char *owner);
/* Same, adding each problem to pr; returns the first problem's code. */
int ecb_params_fill_all(const ecb_param *table, const cJSON *obj, void *dst, const char *where,
                        const char *owner, ecb_problems *pr);
/* The entry called name, or NULL and an error naming where, the owner, the
 * closest name ("did you mean") and the known ones. */
const ecb_param *ecb_param_find(const ecb_param *table, const char *name, const char *where,
                                const char *owner);
/* Set one parameter from a JSON scalar. */
int ecb_param_set(const ecb_param *p, const cJSON *v, void *dst, const char *where,
                  const char *owner);
/* Canonical "name=value" list joined by sep; only_changed skips defaults. */
int ecb_params_format(const ecb_param *table, const void *src, const char *sep,
                      int only_changed, char *buf, size_t n);
/* Same, but a parameter whose bit is set in force (bit i = table entry i)
 * is listed even at its default. */
int ecb_params_format_mask(const ecb_param *table, const void *src, const char *sep,
                           uint64_t force, char *buf, size_t n);
/* Parameters that apply (ecb_param_cond, method.h): 1 when table[idx] does
 * for the values in src (conds may be NULL: every one does). */
int ecb_param_applies(const ecb_param *table, const ecb_param_cond *conds, size_t idx,
                      const void *src);
/* Like ecb_params_format_mask, leaving out the parameters that do not apply. */
int ecb_params_format_applicable(const ecb_param *table, const ecb_param_cond *conds,
                                 const void *src, const char *sep, uint64_t force, char *buf,
                                 size_t n);
/* Sets every parameter that does not apply to its default (and clears its
 * bit in *given, may be NULL): a setting that cannot matter does not make
 * another cell. Returns how many held another value. */
size_t ecb_params_reset_inapplicable(const ecb_param *table, const ecb_param_cond *conds,
                                     void *dst, uint64_t *given);
/* A plugin's conditions name two different parameters of its table, values
 * the condition's parameter can take, and do not loop. */
int ecb_param_conds_validate(const ecb_param *table, const ecb_param_cond *conds,
                             const char *where);
/* JSON object of all parameters (for canonical cell JSON). */
cJSON *ecb_params_to_json(const ecb_param *table, const void *src);
void ecb_params_help(FILE *f, const ecb_param *table);
/* Closest candidate within edit distance <= max(2, len/3), or NULL. */

#endif
