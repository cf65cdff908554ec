/*
 * Synthetic dataset parameters (issue 11, item 19): the input is the
 * "params" object of a built-in synthetic dataset in a config. Accepted
 * parameters must generate a dataset whose first and last rows read back
 * finite; sizes are capped here (the fuzzer's memory), not in ecbench.
 */
#include <math.h>

#include "fuzz_common.h"
#include "datasets/dataset.h"
#include "harness/config.h"
#include "harness/registry.h"

static ecb_registry *reg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init_dir();
    if (ecb_registry_load_default(&reg) != 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char pre[] = "{\"schema_version\": 1, \"datasets\": [{\"builtin\": \"synthetic\", "
                              "\"params\": ";
    static const char post[] = "}], \"methods\": [{\"method\": \"float32\"}], \"k\": [10]}";
    if (size > 4096) return 0;
    char *text = malloc(sizeof pre + size + sizeof post);
    memcpy(text, pre, sizeof pre - 1);
    memcpy(text + sizeof pre - 1, data, size);
    memcpy(text + sizeof pre - 1 + size, post, sizeof post);
    const char *path = fuzz_write("synth.json", text, strlen(text));
    free(text);
    ecb_config *c = NULL;
    if (ecb_config_load(path, reg, &c) != 0) return 0;
    const ecb_synth_params *p = &c->datasets[0].synth;
    ecb_dataset *d = NULL;
    if ((double)p->n * (double)p->dim <= 4e6 && (double)p->queries * (double)p->dim <= 4e6 &&
        ecb_dataset_synthetic(p, &d) == 0) {
        size_t n = ecb_vecs_count(d->corpus), dim = ecb_vecs_dim(d->corpus);
        float *row = malloc((dim ? dim : 1) * sizeof *row);
        size_t probe[2] = {0, n ? n - 1 : 0};
        for (int i = 0; i < 2 && n; i++)
            if (ecb_vecs_read(d->corpus, probe[i], 1, row) == 0)
                for (size_t t = 0; t < dim; t++)
                    if (!isfinite(row[t])) abort();
        free(row);
        ecb_dataset_free(d);
    }
    ecb_config_free(c);
    return 0;
}
