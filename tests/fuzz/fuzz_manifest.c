/*
 * Dataset manifests (datasets/manifest.c): the input is manifest.json in a
 * directory holding copies of tests/data (small vector, id, qrels and
 * ground-truth files), so that mutated manifests reach the cross-checks
 * between real files (dims, counts, ids, qrels, ground truth).
 */
#include "datasets/dataset.h"
#include "fuzz_common.h"

#ifndef ECB_SOURCE_DIR
#define ECB_SOURCE_DIR "."
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init_dir();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s'/tests/data/*.* '%s'/ 2>/dev/null", ECB_SOURCE_DIR, fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_manifest: could not copy tests/data\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("fuzz_manifest.json", data, size);
    ecb_dataset *d = NULL;
    if (ecb_dataset_load_manifest(path, &d) == 0) ecb_dataset_free(d);
    return 0;
}
