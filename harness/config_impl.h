/*
 * Internal interface between the config reader's files (config.c: the top
 * level and the scalar keys; config_json.c: JSON helpers; config_expand.c:
 * methods, rescoring and the cells). Not part of the core's interface.
 */
#ifndef ECB_CONFIG_IMPL_H
#define ECB_CONFIG_IMPL_H

#include "harness/config.h"

/* "a string", "a number", ... "nothing" for NULL: the actual value in messages. */
const char *ecb_cfg_json_type(const cJSON *v);
/* An integer in [lo, hi], else an error naming file, jpath and the value. */
int ecb_cfg_get_size(const cJSON *v, const char *file, const char *jpath, size_t lo, size_t hi,
                     size_t *out);

/* rescore[i]: "none" or {"factor": N, "with": "float32" | method}. */
int ecb_cfg_parse_rescore(const cJSON *o, size_t i, const char *file, const ecb_registry *reg,
                          ecb_rescore *r);
/* Expands $.methods (an array) into c->cells: needs datasets, modes,
 * rescores, ks, seed and train_size parsed. */
int ecb_cfg_expand(ecb_config *c, const cJSON *methods, const ecb_registry *reg);

#endif
