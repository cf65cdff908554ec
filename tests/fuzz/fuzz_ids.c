/* Id files (datasets/ids_qrels.c): one id per line, duplicates rejected. */
#include "datasets/dataset.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("ids.txt", data, size);
    char **ids = NULL;
    size_t n = 0;
    if (ecb_ids_load(path, &ids, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!ids[i] || !ids[i][0]) abort(); /* empty ids are rejected */
        ecb_ids_free(ids, n);
    }
    return 0;
}
