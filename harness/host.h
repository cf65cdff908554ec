/* The host services table handed to plugins (ecbench/method.h). */
#ifndef ECB_HOST_H
#define ECB_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "ecbench/method.h"

/* Fills h with the host services; seed and threads per cell. */
void ecb_host_init(ecb_host *h, uint64_t seed, size_t threads);

#endif
