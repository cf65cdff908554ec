/*
 * A corpus sharded over MPI ranks (DESIGN D11, `"shards": N` on a
 * dataset). The evaluated corpus is cut into N slices of whole scan blocks
 * (ecb_shard_align rows: every block a rank scores is a block the single
 * process scores, so every score is computed on the same data in the same
 * shape); rank r of S holds the contiguous slices [r*N/S, (r+1)*N/S) as a
 * view of the memory-mapped (or generated) corpus.
 *
 * Every rank: takes the seeded training sample (the rows are gathered from
 * the ranks that hold them), trains the same chain on it, encodes its slice,
 * scans it and returns per-query top-k lists of (score, global row); rank 0
 * merges them in the one ranking order. Ground truth is computed the same
 * way (sgemm top-K per slice, merged on the sgemm scores, then the winners'
 * exact double-accumulated scores, as ecb_groundtruth does). Rescoring is
 * done by the rank holding each candidate; kNN recall's exact scores too.
 * So every quality column equals the single process's, bit for bit.
 *
 * The columns that differ by nature (documented in the README):
 *   train_s      the slowest rank's training (each rank trains the same chain)
 *   encode_vps   corpus rows / the slowest rank's encoding time
 *   qps          queries / wall time at rank 0 from a barrier to the merged
 *                lists (prepare + scan + rescore on every rank, gather, merge)
 *   query_p*_ms  per query: the slowest rank's prepare + scan + rescore, plus
 *                rank 0's merge (message transfer not included)
 *   peak_rss_mb  the largest peak over the ranks
 *   index_bytes  as in one process (codes of all rows + aux + the rescoring
 *                representation): the total over the ranks; each rank also
 *                holds its own copy of aux_bytes
 *
 * A per-rank memory budget (the config's "rank_memory_mb") shards a
 * dataset without "shards" over every rank when its float32 corpus exceeds
 * the budget (also in one process: one slice), and makes a cell stream
 * when its codes for the largest slice would exceed it: each rank encodes,
 * scans and drops its slice chunk by chunk (whole alignment units, so the
 * same blocks as a held index: the same scores, bit for bit), timing the
 * latency queries on each chunk alone. A streamed cell's columns:
 *   encode_vps   corpus rows / the slowest rank's summed chunk encoding
 *                (a generated corpus: generation included, as when held)
 *   qps          queries / (the slowest rank's prepare + chunk scans +
 *                rescoring, + rank 0's gather and merge after a barrier)
 *   query_p*_ms  per query: the slowest rank's prepare + its one-thread
 *                scans of every chunk + rescoring, plus rank 0's merge
 *   index_bytes  unchanged: the size of the index had it been held
 */
#ifndef ECB_SHARD_H
#define ECB_SHARD_H

#include <stddef.h>

#include "harness/cell.h"
#include "harness/chain.h"
#include "harness/config.h"
#include "harness/evalset.h"

typedef struct ecb_shard {
    size_t lo, hi;         /* this rank's rows [lo, hi) of the evaluated corpus */
    size_t n;              /* rows of the evaluated corpus */
    size_t slices, align;
    ecb_vecs *local;       /* rows [lo, hi) */
    /* the last trained and encoded chain (cells differing only in mode or
     * rescoring reuse it, as in one process) */
    ecb_chain_inst *inst;
    char key[8192];
    double train_s, encode_vps;
    int stream;            /* that chain's cells stream their codes */
} ecb_shard;

/* The shard count of dataset d of n rows x dim on nranks ranks: its
 * "shards", else nranks when rank_memory_mb is set and n x dim float32
 * exceeds it (*automatic = 1), else 0 (not sharded). */
size_t ecb_shard_count(const ecb_config *cfg, size_t d, size_t n, size_t dim, size_t nranks,
                       int *automatic);
/* 1 when codes of code_size bytes for slice_rows rows exceed the budget. */
int ecb_shard_streams(const ecb_config *cfg, size_t slice_rows, size_t code_size);
/* Rows per streamed chunk: whole alignment units (the blocks of a held
 * index), about 65,536 rows, fewer when their codes would pass a quarter
 * of the budget (at least one unit). */
size_t ecb_shard_stream_rows(const ecb_config *cfg, size_t code_size);

/* Rows per alignment unit: a multiple of every block size the scans and
 * the encoder use for this config. */
size_t ecb_shard_align(const ecb_config *cfg);
/* Rows [*lo, *hi) of rank `rank` of nranks, for n rows in `slices` slices
 * of whole `align`-row blocks. */
void ecb_shard_range(size_t n, size_t slices, size_t align, size_t rank, size_t nranks,
                     size_t *lo, size_t *hi);

/* Collective: the evaluation set of full at corpus_size (rank 0 gets the
 * exact ground truth, merged from every slice) and this rank's slice. An
 * error is every rank's, with the failing rank's message. */
int ecb_shard_evalset_build(const ecb_dataset *full, size_t corpus_size, const ecb_config *cfg,
                            size_t slices, int quiet, ecb_evalset *es, ecb_shard *sh);
void ecb_shard_release(ecb_shard *sh); /* accepts a zeroed one; re-zeroes */

/* Collective: one cell measured over the shards; rank 0's res is its row
 * (the other ranks' res carry the same status). */
void ecb_shard_measure(const ecb_cell_ctx *ctx, ecb_shard *sh, const ecb_cell *cell,
                       ecb_cell_result *res);

#endif
