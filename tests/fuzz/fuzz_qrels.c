/*
 * Qrels readers (datasets/ids_qrels.c): TREC `qid iter docid rel` and BEIR
 * TSV with a header, detected from content, mapped through fixed id lists
 * (those of tests/data plus a few numeric ones).
 */
#include "datasets/dataset.h"
#include "fuzz_common.h"

static char *const qids[] = {"q1", "q2", "q3", "1", "2", "3", "test-q"};
static char *const dids[] = {"d1", "d2", "d3", "d4", "d5", "0", "1", "2", "10", "doc-1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("qrels.txt", data, size);
    ecb_qrels *q = NULL;
    if (ecb_qrels_load(path, qids, sizeof qids / sizeof *qids, dids, sizeof dids / sizeof *dids,
                       &q) == 0) {
        for (size_t i = 0; i < q->n_queries; i++)
            for (size_t j = 0; j < q->n_judg[i]; j++)
                if (q->judg[i][j].doc < -1 ||
                    q->judg[i][j].doc >= (int64_t)(sizeof dids / sizeof *dids))
                    abort(); /* a judgment outside the corpus must be -1 */
        ecb_qrels_free(q);
    }
    return 0;
}
