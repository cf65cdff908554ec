/*
 * Config schema v1 and sweep expansion (DESIGN D6). A config names
 * datasets, methods (or pipelines) with parameter axes, scoring modes,
 * rescoring, cutoffs and seeds; expansion yields cells with stable ids (a
 * hash of each cell's canonical JSON).
 */
#ifndef ECB_CONFIG_H
#define ECB_CONFIG_H

#include <cjson/cJSON.h>

#include "datasets/dataset.h"
#include "harness/budget_spec.h"
#include "harness/params.h"
#include "harness/registry.h"

/* One stage of a method chain: a plugin and its resolved parameters. */
typedef struct ecb_stage {
    const ecb_plugin *plugin;
    void *params;       /* params_size bytes, filled from the table */
    uint64_t given;     /* bit i: parameter i was written in the config */
    uint64_t axes;      /* bit i: parameter i was written as a sweep axis (an array) */
} ecb_stage;

/* Transforms followed by one quantizer (float32 appended when the chain
 * ends in a transform). */
typedef struct ecb_chain {
    ecb_stage *stages;
    size_t n;
} ecb_chain;

typedef struct ecb_rescore {
    size_t factor;      /* 0: no rescoring */
    int with_float32;   /* rescore with the float32 vectors */
    ecb_chain with;     /* else: rescore with this method's codes */
    char label[640];    /* "none", "float32x4", "sq(bits=8)x4" */
} ecb_rescore;

typedef struct ecb_dataset_spec {
    char *name;           /* display name */
    char *key;            /* canonical identity for cell ids */
    int builtin;          /* 1: synthetic, 2: synthetic-multivector */
    ecb_synth_params synth;
    ecb_synth_mv_params mvsynth;
    char *manifest;       /* resolved path */
    size_t *corpus_sizes; /* nested subsets; 0 entry = full corpus */
    size_t n_corpus_sizes;
    size_t shards;        /* "shards": corpus slices over MPI ranks (0: none) */
    int shards_auto;      /* shards chosen at load time from rank_memory_mb */
} ecb_dataset_spec;

typedef struct ecb_cell {
    size_t dataset;       /* index into config->datasets */
    size_t corpus_size;   /* 0 = full */
    ecb_chain chain;
    ecb_mode mode;
    size_t rescore;       /* index into config->rescores */
    size_t threads;       /* the threads this cell runs with: one value of $.threads */
    char id[17];          /* 16 hex digits */
    char *method_col;     /* plugin name or chain "truncate(dim=128)>sq(bits=4)" */
    char *params_col;     /* all params */
    char *label_col;      /* short label */
    char *canonical;      /* the canonical JSON hashed into id */
    /* A budget-targeted cell ("budget" on its method entry: budget.text is
     * set): until ecb_config_resolve_budgets() runs for its dataset, the
     * chain holds the written parameters and defaults, and the id hashes
     * them with the budget; resolved, the chain holds the chosen setting
     * and the id hashes it with the budget. */
    ecb_budget_target budget;
    int budget_pending;   /* 1 until resolved */
    size_t n_written;     /* stages as written (a float32 appended after a transform is not) */
    char *skip_reason;    /* set when no setting fits: the cell's row is "skipped" with it */
} ecb_cell;

/* A config expands to at most this many cells (dataset x corpus size x
 * method setting x mode x rescoring x threads); more is rejected when it is
 * read, before anything is allocated, naming the axes and their sizes.
 * Planning costs about 0.6 KiB and 13 us a cell (a million: 12.7 s and
 * 620 MB before the first cell runs), and a cell runs for a second or more,
 * so 100,000 cells are already more than a day of measuring. */
#define ECB_CONFIG_MAX_CELLS 100000

/* Time limit of an isolated cell whose config sets none: a hung plugin
 * ends as a "timeout" row within the hour instead of stalling the sweep. */
#define ECB_CONFIG_DEFAULT_TIME_LIMIT_S 3600.0

typedef struct ecb_config {
    char *path;
    cJSON *json;          /* the config as given */
    char *name;
    ecb_dataset_spec *datasets;
    size_t n_datasets;
    ecb_rescore *rescores;
    size_t n_rescores;
    ecb_mode *modes;
    size_t n_modes;
    size_t *ks;           /* ascending, unique */
    size_t nk;
    /* "threads": a count, or an array of counts (a sweep axis: every cell
     * runs at each, cell->threads says which). threads is the largest, what
     * the environment records and what BLAS is set to before a cell sets
     * its own. */
    size_t threads;
    size_t *threads_list;
    size_t n_threads_list;
    uint64_t seed;
    char *output;
    size_t train_size;    /* corpus sample rows given to train() */
    size_t block_rows;    /* corpus rows per block (memory bound) */
    size_t latency_queries; /* queries timed one by one for p50/p95/p99 */
    /* Isolation: cells run in a child process when isolate is 1, when
     * limits_set (a limit only holds in a child), or, at -1 (the default),
     * when a plugin of the cell comes from outside the build tree. The
     * runner decides; "isolate": false with a limit is rejected here. */
    int isolate;          /* -1 = default, 0 = never, 1 = always */
    int limits_set;       /* time_limit_s or memory_limit_mb written, > 0 */
    double time_limit_s;  /* per isolated cell: ECB_CONFIG_DEFAULT_TIME_LIMIT_S unless
                           * written; 0 (written) = none */
    double memory_limit_mb; /* per isolated cell, RLIMIT_AS; 0 = none */
    /* Per MPI rank (or the one process), MiB; 0 = none. A dataset whose
     * float32 corpus exceeds it is sharded over every rank when it has no
     * "shards"; a sharded cell whose codes for a rank's slice exceed it
     * streams them (harness/shard.h). */
    double rank_memory_mb;
    ecb_cell *cells;
    size_t n_cells;
} ecb_config;

/* Parse a JSON file, errors with "file:line:column: message". */
int ecb_json_load_file(const char *path, cJSON **out);
/* Line and column (1-based) of a byte offset in text. */
void ecb_text_position(const char *text, size_t offset, size_t *line, size_t *col);
/* Reject keys not in allowed (NULL-terminated), with a did-you-mean hint. */
int ecb_json_check_keys(const cJSON *obj, const char *const *allowed, const char *file,
                        const char *jpath);

/* Every key that appears twice in one object, at any depth, is a problem
 * named by its JSON path ("$.methods[2].params: key \"bits\" appears more
 * than once"). */
void ecb_json_find_duplicates(const cJSON *root, const char *file, ecb_problems *pr);

int ecb_config_load(const char *path, const ecb_registry *reg, ecb_config **out);
/* Same from an already-parsed JSON (takes ownership of json). */
int ecb_config_from_json(cJSON *json, const char *path, const ecb_registry *reg,
                         ecb_config **out);
void ecb_config_free(ecb_config *c);
/* After dataset di is loaded with n_corpus documents: every corpus_sizes
 * entry and every cutoff k must fit in it (k in the smallest subset
 * evaluated). 0, or ECB_EINVAL and a message listing each problem with its
 * JSON path. */
int ecb_config_check_dataset(const ecb_config *cfg, size_t di, size_t n_corpus);

/* Budget-targeted cells (DESIGN D6) of dataset di, once it is loaded with
 * vectors of dimension dim, similarity sim and n_corpus documents: each
 * gets the setting of its size-determining parameters whose cost per
 * vector (code_size + aux_bytes / corpus size, plus rescoring's second
 * representation) is the largest within its budget (the chain, params_col,
 * canonical and id follow), or a skip_reason when none fits. Call it for
 * every dataset before the cells are validated or their ids compared with
 * earlier results. 0, or an error (out of memory, a search too large). */
int ecb_config_resolve_budgets(ecb_config *cfg, size_t di, size_t dim, ecb_similarity sim,
                               size_t n_corpus);
/* The same for every dataset, from the shapes a run recorded in its
 * manifest.json ("datasets": [{"dim", "n_corpus", "similarity"}, ...]),
 * for tools that read no data (`ecbench merge`). where names the file. */
int ecb_config_resolve_budgets_recorded(ecb_config *cfg, const cJSON *datasets, const char *where);

/* The chooser behind it: sets the parameters of chain (transforms then a
 * quantizer, created at input dimension dim) that are size-determining
 * (the plugin's size_params; parameters written in the config, bit set in
 * stage.given, stay) to the setting of the largest cost <= budget, where
 * cost = quantizer code_size + (sum of aux_bytes) / n_corpus + extra
 * (bytes per vector). found 0 leaves chain unchanged. smallest: the least
 * cost of a valid setting seen (NaN: none was valid). */
typedef struct ecb_budget_choice {
    int found;
    double cost;
    double smallest;
    size_t creates;       /* create() calls the search made */
} ecb_budget_choice;
int ecb_budget_choose(ecb_chain *chain, size_t dim, ecb_similarity sim, size_t n_corpus,
                      double extra, double budget, ecb_budget_choice *out);

/* Label of one stage: "sq(bits=4)" (non-default params), "float32". */
int ecb_stage_label(const ecb_stage *s, int all_params, char *buf, size_t n);
/* Chain label "truncate(dim=128)>sq(bits=4)". */
int ecb_chain_label(const ecb_chain *c, int all_params, char *buf, size_t n);
/* Deep copy / free of a chain's parameter blocks. */
void ecb_chain_release(ecb_chain *c);

#endif
