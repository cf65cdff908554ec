/*
 * Bulk content hashing (the ground-truth cache key hashes whole corpora):
 * XXH3-64 from libxxhash when the build has it (tens of GB/s), else the
 * byte-wise FNV-1a of ecb_hash (about 0.25 GB/s). The two give different
 * values, so a cache written by one build is a miss for the other, never a
 * wrong hit. Short, structural hashes (cell ids, resume keys) stay on
 * ecb_hash: their values are recorded in result files.
 */
#include <stdlib.h>

#include "common/ecb.h"

#ifdef ECB_HAVE_XXHASH
#include <xxhash.h>
#endif

struct ecb_chash {
#ifdef ECB_HAVE_XXHASH
    XXH3_state_t *st;
#else
    ecb_hash h;
#endif
};

ecb_chash *ecb_chash_new(void)
{
    ecb_chash *c = ecb_malloc(sizeof *c);
    if (!c) return NULL;
#ifdef ECB_HAVE_XXHASH
    c->st = XXH3_createState();
    if (!c->st || XXH3_64bits_reset(c->st) != XXH_OK) {
        XXH3_freeState(c->st);
        free(c);
        ecb_fail(ECB_ENOMEM, "out of memory for a hash state");
        return NULL;
    }
#else
    ecb_hash_init(&c->h);
#endif
    return c;
}

void ecb_chash_update(ecb_chash *c, const void *p, size_t n)
{
#ifdef ECB_HAVE_XXHASH
    (void)XXH3_64bits_update(c->st, p, n); /* fails only on a NULL state */
#else
    ecb_hash_update(&c->h, p, n);
#endif
}

uint64_t ecb_chash_digest(const ecb_chash *c)
{
#ifdef ECB_HAVE_XXHASH
    return (uint64_t)XXH3_64bits_digest(c->st);
#else
    return ecb_hash_final(&c->h);
#endif
}

const char *ecb_chash_name(void)
{
#ifdef ECB_HAVE_XXHASH
    return "xxh3-64";
#else
    return "fnv1a-64";
#endif
}

void ecb_chash_free(ecb_chash *c)
{
    if (!c) return;
#ifdef ECB_HAVE_XXHASH
    XXH3_freeState(c->st);
#endif
    free(c);
}
