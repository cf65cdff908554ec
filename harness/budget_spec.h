/*
 * What a config says about its report, parsed below the reports so that
 * the config is checked when it is read and the report reads the very same
 * values: memory budgets ("budgets": "64B", 128, "1KiB",
 * {"total": "2GiB", "corpus_size": N}), byte sizes, and the tolerances of
 * "ci" ("0.002" absolute, "+25%" relative). What a cell costs against a
 * budget, and the report itself, stay in reports/.
 */
#ifndef ECB_BUDGET_SPEC_H
#define ECB_BUDGET_SPEC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "harness/params.h"

typedef struct ecb_budget {
    char label[96];       /* "64 B/vec", "2 GiB for 30M" */
    double per_vector;    /* budget bytes per vector (total / corpus_size) */
    double corpus_size;   /* corpus the aux bytes are amortised over; 0 = the cell's */
} ecb_budget;

/* "64", "64B", "1.5KiB", "2GiB", "100 MB" -> bytes (SI: kB/MB/GB/TB = 1000^k;
 * IEC: KiB/MiB/GiB/TiB = 1024^k). */
int ecb_parse_bytes(const char *s, double *out);
/* Human size: "64 B", "1.5 KiB", "2 GiB". */
void ecb_format_bytes(double b, char *buf, size_t n);
/* Parse the config's "budgets" (an array of strings, numbers, or objects
 * {"total": "2GiB", "corpus_size": N}; one budget alone is taken as an
 * array of one). where names the file for messages; *out (caller frees)
 * gets *n budgets. NULL arr: none. */
int ecb_budgets_parse(const cJSON *arr, const char *where, ecb_budget **out, size_t *n);
/* Same, adding every bad budget to pr (nothing is returned then). */
int ecb_budgets_parse_all(const cJSON *arr, const char *where, ecb_budget **out, size_t *n,
                          ecb_problems *pr);
/* What a method entry's "budget" asks for: bytes per vector ("32B", 32,
 * "1KiB"), or a compression ratio against float32 at the dataset's
 * dimension ("16x": 4 * dim / 16 bytes). text is the canonical spelling
 * ("32B", "1.5KiB", "16x") that labels ("pq@32B") and cell ids use. */
typedef struct ecb_budget_target {
    double bytes;   /* > 0: bytes per vector; else ratio is */
    double ratio;   /* > 0: 4 * dim / ratio bytes per vector */
    char text[32];
} ecb_budget_target;

/* One budget target from a JSON number or string; ECB_EINVAL (no message)
 * when it is neither bytes nor a ratio. */
int ecb_budget_target_parse(const cJSON *v, ecb_budget_target *out);
/* Bytes per vector at dimension dim. */
double ecb_budget_target_bytes(const ecb_budget_target *t, size_t dim);

/* A plugin's size_params (method.h): each a parameter of table, of type
 * INT or SIZE with a finite range, ENUM or BOOL, listed once. where names
 * the plugin for the message. */
int ecb_size_params_validate(const ecb_param *table, const char *const *names,
                             const char *where);

/* A tolerance: "0.005" (absolute: *rel = 0) or "+25%" (relative: *rel = 1,
 * *v in percent); *v is the magnitude. */
int ecb_parse_tolerance(const char *s, double *v, int *rel);

#endif
