/*
 * Stand-in for datasets/hdf5.c when libhdf5 was not found at build time
 * (meson -Dhdf5=auto without libhdf5-dev, or -Dhdf5=disabled): an "hdf5"
 * dataset is then a clear error instead of an unknown key.
 */
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/dsio.h"

int ecb_hdf5_available(void) { return 0; }

int ecb_hdf5_open(const char *path, const void *image, size_t image_size, ecb_hdf5_parts *p)
{
    (void)image;
    (void)image_size;
    memset(p, 0, sizeof *p);
    return ecb_fail(ECB_ENOTSUP, "%s: this ecbench was built without HDF5 support (libhdf5 was "
                    "not found at build time): install libhdf5-dev (scripts/deps.sh does) and "
                    "rebuild with meson setup --reconfigure -Dhdf5=enabled", path);
}

void ecb_hdf5_parts_free(ecb_hdf5_parts *p) { memset(p, 0, sizeof *p); }
