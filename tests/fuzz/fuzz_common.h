/*
 * Shared helpers of the libFuzzer targets: a private temp directory per
 * process, input bytes written to a file with a chosen name (the readers
 * take paths, and pick the format by extension), logging silenced.
 */
#ifndef ECB_FUZZ_COMMON_H
#define ECB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ecb.h"

static char fuzz_dir[512];

static void fuzz_init_dir(void)
{
    if (fuzz_dir[0]) return;
    const char *t = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/ecbfuzz.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fuzz_dir)) {
        perror("mkdtemp");
        abort();
    }
    ecb_log_level = -1; /* warnings about odd inputs would flood the run */
}

/* Write data to fuzz_dir/name; returns the path (static buffer). */
static const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[1024];
    fuzz_init_dir();
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

#endif
