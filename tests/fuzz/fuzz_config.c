/*
 * Config parser (harness/config.c): the input is a config file, loaded with
 * the registry of the built plugins (so method parameters, pipelines and
 * rescoring are parsed and sweeps expanded) and again with an empty
 * registry (every method reference must be rejected cleanly). The config
 * reader checks the report's keys too; the "budgets" of an accepted config
 * must then parse again (what the report does).
 */
#include "fuzz_common.h"
#include "harness/config.h"
#include "harness/registry.h"
#include "harness/budget_spec.h"

static ecb_registry *reg_built;
static ecb_registry reg_empty;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init_dir();
    if (ecb_registry_load_default(&reg_built) != 0) {
        fprintf(stderr, "fuzz_config: cannot load plugins: %s\n", ecb_last_error());
        abort();
    }
    fprintf(stderr, "fuzz_config: %zu plugins loaded\n", reg_built->n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("config.json", data, size);
    ecb_config *c = NULL;
    if (ecb_config_load(path, reg_built, &c) == 0) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(c->json, "budgets");
        ecb_budget *bs = NULL;
        size_t nb = 0;
        if (ecb_budgets_parse(b, path, &bs, &nb) != 0) abort(); /* accepted, so it parses */
        free(bs);
        ecb_config_free(c);
    }
    c = NULL;
    if (ecb_config_load(path, &reg_empty, &c) == 0) ecb_config_free(c);
    return 0;
}
