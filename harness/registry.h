/*
 * Plugin registry: loads every method shared object from the methods
 * directories, validates it, and keeps a host-owned copy of its vtable (the
 * host never writes into the plugin's). Rejected plugins are kept with their
 * reason so that `ecbench list` and a config naming them can say why.
 */
#ifndef ECB_REGISTRY_H
#define ECB_REGISTRY_H

#include "common/ecb.h"

typedef struct ecb_plugin {
    char *path;
    char *stem;               /* file stem = expected method name */
    void *dl;
    ecb_method_vtable vt;     /* host-owned copy, zero-filled past struct_size */
    int rejected;             /* nonzero: vt unusable, reason says why */
    char *reason;
} ecb_plugin;

typedef struct ecb_registry {
    ecb_plugin *items;
    size_t n;
} ecb_registry;

/* Load from the default directories: ecbench's own plugin directory, found
 * relative to the executable (<libdir>/ecbench/methods of an installed
 * tree, or the build tree's methods/ when run from it; common/install.h;
 * none is not an error), then every directory of ECBENCH_METHODS_PATH
 * (colon-separated; each must exist). Files whose name starts with '_' or
 * 'lib_' are skipped (templates); libfoo.so is the method foo. A
 * world-writable directory, or an ancestor world-writable without the
 * sticky bit, is an error (ECB_EINVAL) unless
 * ECBENCH_ALLOW_INSECURE_PLUGINS=1. On error *out is NULL. */
int ecb_registry_load_default(ecb_registry **out);
/* The same over an explicit list; every directory must exist. */
int ecb_registry_load_dirs(const char *const *dirs, size_t ndirs, ecb_registry **out);
/* Validate one file (any name: the conformance test loads _template.so
 * this way); a world-writable file is rejected unless opted in as above.
 * On rejection, p->rejected is set and reason filled; returns 0 unless out
 * of memory. p->stem is the method name the file must declare. */
int ecb_plugin_open(const char *path, ecb_plugin *p);
/* A usable plugin by name, or NULL with an error naming what exists (or
 * why the plugin of that name was rejected). */
const ecb_plugin *ecb_registry_find(const ecb_registry *r, const char *name);
size_t ecb_registry_rejected(const ecb_registry *r);
void ecb_registry_free(ecb_registry *r);

/* Validate a parameter table (types, enum lists, defaults in range). */
int ecb_params_validate(const ecb_param *table, const char *where);

#endif
