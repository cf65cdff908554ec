/*
 * A built stage chain (DESIGN D2 "pipelines"): zero or more float->float
 * transforms followed by one quantizer, created from a config's ecb_chain,
 * trained on a sample, used to encode a corpus and to prepare queries.
 */
#ifndef ECB_CHAIN_H
#define ECB_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/dataset.h"
#include "harness/config.h"

typedef struct ecb_chain_inst ecb_chain_inst;

/* Create every stage for input dimension dim (stage i gets the seed mixed
 * with i + 1). Errors name the stage with all its parameters. */
int ecb_chain_inst_create(const ecb_chain *c, size_t dim, ecb_similarity sim, uint64_t seed,
                          size_t threads, ecb_chain_inst **out);
void ecb_chain_inst_destroy(ecb_chain_inst *b); /* accepts NULL */

/* Train each stage on the sample as transformed by the stages before it. */
int ecb_chain_inst_train(ecb_chain_inst *b, const float *sample, size_t n);
/* Encode the whole corpus (normalised first when normalize) block by block
 * on `threads` threads; the codes stay in the chain. */
int ecb_chain_inst_encode(ecb_chain_inst *b, const ecb_vecs *corpus, int normalize,
                          size_t threads, size_t block_rows);
/* Queries through the transforms, then the quantizer's prepare() in mode:
 * *out (malloc'd) holds nq x *qsize bytes. */
int ecb_chain_inst_prepare(const ecb_chain_inst *b, ecb_mode mode, const float *q, size_t nq,
                           uint8_t **out, size_t *qsize);
/* Reconstruction MSE and mean cosine of the quantizer on (up to 4,096 of)
 * the sample rows, in the quantizer's input space; NaN when it has no
 * decode. */
void ecb_chain_inst_recon(const ecb_chain_inst *b, const float *sample, size_t n, double *mse,
                          double *cosine);

const ecb_method *ecb_chain_inst_quantizer(const ecb_chain_inst *b);
const ecb_method_vtable *ecb_chain_inst_vt(const ecb_chain_inst *b); /* the quantizer's */
size_t ecb_chain_inst_code_size(const ecb_chain_inst *b);
const uint8_t *ecb_chain_inst_codes(const ecb_chain_inst *b); /* after encode */
size_t ecb_chain_inst_aux_bytes(const ecb_chain_inst *b);     /* every stage's */

#endif
