/* Environment fingerprint recorded with every run: timings mean nothing
 * without the CPU, the BLAS build and kernel, threads and compiler. */
#ifndef ECB_ENV_H
#define ECB_ENV_H

#include <cjson/cJSON.h>
#include <stddef.h>

cJSON *ecb_environment_json(size_t threads);
/* Short one-line summary ("cpu | blas core | threads"). */
void ecb_environment_line(char *buf, size_t n, size_t threads);
/* Peak resident memory of this process so far, MiB. */
double ecb_peak_rss_mb(void);
/* ISO-8601 UTC timestamp. */
void ecb_timestamp(char *buf, size_t n);

#endif
