/*
 * Plugin loading (SQLite's loadable extensions, QEMU's ABI range check):
 * dlopen(RTLD_NOW | RTLD_LOCAL) so unresolved symbols fail at load, one
 * entry symbol named after the file stem, every rejection naming the path,
 * the field, the expected and the actual value.
 *
 * Where plugins may come from is checked as ssh checks its keys: a plugin
 * runs with the user's rights, so a directory (or any ancestor without the
 * sticky bit) or plugin file that anyone may write is refused, unless the
 * user opts in with ECBENCH_ALLOW_INSECURE_PLUGINS=1. A directory named in
 * ECBENCH_METHODS_PATH must exist: a typo there would otherwise run the
 * sweep without the plugins the user meant. `libfoo.so` (meson's and
 * CMake's default name) is the method foo; files whose stem starts with
 * '_' (methods/_template.c) are examples, loaded only by explicit path.
 */
#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/install.h"
#include "harness/budget_spec.h"
#include "harness/params.h"
#include "harness/registry.h"

static int reject(ecb_plugin *p, const char *fmt, ...) ECB_PRINTF(2, 3);
static int reject(ecb_plugin *p, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(p->reason);
    p->reason = ecb_strdup(buf);
    p->rejected = 1;
    return 0;
}

int ecb_params_validate(const ecb_param *table, const char *where)
{
    for (const ecb_param *p = table; p && p->name; p++) {
        switch (p->type) {
        case ECB_PARAM_BOOL:
            if (p->def.b != 0 && p->def.b != 1)
                return ecb_fail(ECB_EINVAL, "%s: parameter %s: bool default must be 0 or 1, got %d",
                                where, p->name, p->def.b);
            break;
        case ECB_PARAM_ENUM: {
            size_t n = 0;
            while (p->enum_values && p->enum_values[n]) n++;
            if (n == 0)
                return ecb_fail(ECB_EINVAL, "%s: parameter %s: enum without values", where,
                                p->name);
            if (p->def.b < 0 || (size_t)p->def.b >= n)
                return ecb_fail(ECB_EINVAL,
                                "%s: parameter %s: enum default index must be < %zu, got %d",
                                where, p->name, n, p->def.b);
            break;
        }
        case ECB_PARAM_INT:
            if (p->min <= p->max && ((double)p->def.i < p->min || (double)p->def.i > p->max))
                return ecb_fail(ECB_EINVAL, "%s: parameter %s: default %lld outside [%g, %g]",
                                where, p->name, (long long)p->def.i, p->min, p->max);
            break;
        case ECB_PARAM_SIZE:
            if (p->min <= p->max && ((double)p->def.u < p->min || (double)p->def.u > p->max))
                return ecb_fail(ECB_EINVAL, "%s: parameter %s: default %zu outside [%g, %g]",
                                where, p->name, p->def.u, p->min, p->max);
            break;
        case ECB_PARAM_DOUBLE:
            if (p->min <= p->max && (p->def.d < p->min || p->def.d > p->max))
                return ecb_fail(ECB_EINVAL, "%s: parameter %s: default %g outside [%g, %g]",
                                where, p->name, p->def.d, p->min, p->max);
            break;
        default:
            return ecb_fail(ECB_EINVAL, "%s: parameter %s: unknown type %d", where, p->name,
                            (int)p->type);
        }
    }
    return 0;
}

/* Required hooks; a missing one names the field. */
static const char *missing_hook(const ecb_method_vtable *v)
{
#define NEED(f) if (!v->f) return #f
    NEED(create);
    NEED(destroy);
    if (v->flags & ECB_METHOD_TRANSFORM) {
        NEED(out_dim);
        NEED(transform);
    } else {
        NEED(code_size);
        NEED(aux_bytes);
        NEED(encode);
        NEED(query_size);
        NEED(prepare);
        NEED(score);
    }
    if (v->flags & ECB_METHOD_NEEDS_TRAIN) NEED(train);
    if (v->flags & ECB_METHOD_DECODE) NEED(decode);
    if (v->flags & ECB_METHOD_SELECT) NEED(select);
#undef NEED
    return NULL;
}

static int insecure_allowed(void)
{
    const char *e = getenv("ECBENCH_ALLOW_INSECURE_PLUGINS");
    return e && strcmp(e, "1") == 0;
}

#define OPT_IN_HINT "or set ECBENCH_ALLOW_INSECURE_PLUGINS=1 to load it anyway"

int ecb_plugin_open(const char *path, ecb_plugin *p)
{
    memset(p, 0, sizeof *p);
    p->path = ecb_strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    p->stem = ecb_strdup(base);
    if (!p->path || !p->stem) return ECB_ENOMEM;
    char *dot = strrchr(p->stem, '.');
    if (dot) *dot = '\0';

    struct stat st;
    if (stat(path, &st) != 0) return reject(p, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return reject(p, "%s: not a regular file", path);
    if (st.st_mode & S_IWOTH) {
        if (!insecure_allowed())
            return reject(p, "%s: the plugin file is world-writable (mode %04o): anyone could "
                          "replace the code ecbench runs; fix with chmod o-w '%s', "
                          OPT_IN_HINT, path, (unsigned)(st.st_mode & 07777), path);
        ecb_log(ECB_LOG_WARN, "%s: loading a world-writable plugin because "
                "ECBENCH_ALLOW_INSECURE_PLUGINS=1", path);
    }
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) return reject(p, "%s: cannot load: %s", path, dlerror());
    /* libfoo.so is foo (build systems add the prefix), unless the library
     * really exports ecb_method_libfoo. */
    char sym[300], alt[310] = "";
    ecb_method_entry_fn fn = NULL;
    int lib = strncmp(p->stem, "lib", 3) == 0 && p->stem[3];
    if (lib) {
        snprintf(sym, sizeof sym, "ecb_method_%s", p->stem + 3);
        *(void **)&fn = dlsym(p->dl, sym);
        if (fn) memmove(p->stem, p->stem + 3, strlen(p->stem + 3) + 1);
        else snprintf(alt, sizeof alt, "%s or ", sym);
    }
    if (!fn) {
        snprintf(sym, sizeof sym, "ecb_method_%s", p->stem);
        *(void **)&fn = dlsym(p->dl, sym);
    }
    if (!fn) return reject(p, "%s: missing entry symbol %s%s (the symbol is named after the "
                           "file, without a 'lib' prefix)", path, alt, sym);
    const ecb_method_vtable *v = fn();
    if (!v) return reject(p, "%s: %s() returned NULL", path, sym);
    if (v->abi_version < ECB_METHOD_ABI_MIN || v->abi_version > ECB_METHOD_ABI_VERSION)
        return reject(p, "%s: abi_version: expected %u..%u, got %u (rebuild the plugin against "
                         "this ecbench's method.h)",
                      path, ECB_METHOD_ABI_MIN, ECB_METHOD_ABI_VERSION, v->abi_version);
    size_t min_size = offsetof(ecb_method_vtable, score) + sizeof v->score;
    if (v->struct_size < min_size)
        return reject(p, "%s: struct_size: expected at least %zu, got %u", path, min_size,
                      v->struct_size);
    /* Host-owned copy: fields past the plugin's struct_size read as zero. */
    memset(&p->vt, 0, sizeof p->vt);
    memcpy(&p->vt, v, v->struct_size < sizeof p->vt ? v->struct_size : sizeof p->vt);
    if (!p->vt.name || strcmp(p->vt.name, p->stem) != 0)
        return reject(p, "%s: name: expected \"%s\" (the file stem), got \"%s\"", path, p->stem,
                      p->vt.name ? p->vt.name : "(null)");
    if (p->vt.flags & ~ECB_METHOD_FLAGS_V1)
        return reject(p, "%s: flags: expected only bits of 0x%x (ABI v1), got 0x%x (bit 0x20 was "
                      "the native search() hook, removed before ABI v1 was frozen)",
                      path, ECB_METHOD_FLAGS_V1, p->vt.flags);
    if (p->vt.reserved_search)
        return reject(p, "%s: reserved_search: expected NULL (the native search() hook was "
                      "removed before ABI v1 was frozen; the host ranks score()), got a function",
                      path);
    const char *miss = missing_hook(&p->vt);
    if (miss) return reject(p, "%s: hook %s: required by flags 0x%x, got NULL", path, miss,
                            p->vt.flags);
    if (!(p->vt.flags & ECB_METHOD_TRANSFORM) &&
        !(p->vt.flags & (ECB_METHOD_SYMMETRIC | ECB_METHOD_ASYMMETRIC)))
        return reject(p, "%s: flags: expected ECB_METHOD_SYMMETRIC and/or ASYMMETRIC, got 0x%x",
                      path, p->vt.flags);
    if ((p->vt.flags & ECB_METHOD_SELECT) && !(p->vt.flags & ECB_METHOD_TRANSFORM))
        return reject(p, "%s: flags: ECB_METHOD_SELECT needs ECB_METHOD_TRANSFORM, got 0x%x", path,
                      p->vt.flags);
    if (p->vt.params && p->vt.params_size == 0 && p->vt.params[0].name)
        return reject(p, "%s: params_size: expected > 0 with a parameter table, got 0", path);
    if (ecb_params_validate(p->vt.params, path) != 0) return reject(p, "%s", ecb_last_error());
    if (ecb_param_conds_validate(p->vt.params, p->vt.param_conds, path) != 0)
        return reject(p, "%s", ecb_last_error());
    if (ecb_size_params_validate(p->vt.params, p->vt.size_params, path) != 0)
        return reject(p, "%s", ecb_last_error());
    for (const ecb_param *q = p->vt.params; q && q->name; q++) {
        size_t w = q->type == ECB_PARAM_INT ? sizeof(int64_t)
                   : q->type == ECB_PARAM_SIZE ? sizeof(size_t)
                   : q->type == ECB_PARAM_DOUBLE ? sizeof(double)
                                                 : sizeof(int);
        if (q->offset + w > p->vt.params_size)
            return reject(p, "%s: parameter %s: offset %zu + %zu exceeds params_size %zu", path,
                          q->name, q->offset, w, p->vt.params_size);
    }
    return 0;
}

static void plugin_close(ecb_plugin *p)
{
    /* Plugins stay mapped until exit: a state destroyed late must not call
     * into unmapped code, and ASan reports leaks with symbol names. */
    free(p->path);
    free(p->stem);
    free(p->reason);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses a directory others can write plugins into: dir itself
 * world-writable, or an ancestor world-writable without the sticky bit
 * (anyone could rename dir away and put their own in its place; /tmp's
 * sticky bit forbids that). Missing: ECB_ENOTFOUND. */
static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return ecb_fail(errno == ENOENT ? ECB_ENOTFOUND : ECB_EIO, "plugin directory %s: %s",
                        dir, errno == ENOENT ? "does not exist" : strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ecb_fail(ECB_EINVAL, "plugin directory %s: not a directory", dir);
    char *real = realpath(dir, NULL);
    if (!real) return ecb_fail(ECB_EIO, "plugin directory %s: %s", dir, strerror(errno));
    int rc = 0;
    for (int self = 1;; self = 0) {
        const char *at = real[0] ? real : "/";
        if (stat(at, &st) == 0 && (st.st_mode & S_IWOTH) && (self || !(st.st_mode & S_ISVTX))) {
            if (!insecure_allowed()) {
                rc = ecb_fail(ECB_EINVAL, "plugin directory %s: %s%s is world-writable%s (mode "
                              "%04o): anyone could plant code that ecbench would run; fix with "
                              "chmod o-w '%s', " OPT_IN_HINT, dir, self ? "" : "its ancestor ",
                              self ? "it" : at, self ? "" : " without the sticky bit",
                              (unsigned)(st.st_mode & 07777), at);
                break;
            }
            ecb_log(ECB_LOG_WARN, "plugin directory %s: loading although %s is world-writable, "
                    "because ECBENCH_ALLOW_INSECURE_PLUGINS=1", dir, at);
        }
        char *slash = strrchr(real, '/');
        if (!slash || !real[0]) break;
        *slash = '\0';
    }
    free(real);
    return rc;
}

static int add_dir(ecb_registry *r, const char *dir)
{
    int rc = check_dir(dir);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return ecb_fail(ECB_EIO, "plugin directory %s: cannot open: %s", dir, strerror(errno));
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 3, ".so") != 0) continue;
        /* _template.so (and lib_template.so) are examples, not methods */
        if (e->d_name[0] == '_' || strncmp(e->d_name, "lib_", 4) == 0) continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 16;
            char **nx = realloc(names, cap * sizeof *names);
            if (!nx) break;
            names = nx;
        }
        if (!(names[nn] = ecb_strdup(e->d_name))) break;
        nn++;
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str); /* deterministic order */
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        ecb_plugin *nx = realloc(r->items, (r->n + 1) * sizeof *nx);
        if (!nx) continue;
        r->items = nx;
        ecb_plugin *p = &r->items[r->n++];
        ecb_plugin_open(path, p);
        if (p->rejected) continue;
        for (size_t j = 0; j + 1 < r->n; j++) {
            if (!r->items[j].rejected && strcmp(r->items[j].vt.name, p->vt.name) == 0) {
                reject(p, "%s: name: \"%s\" is already provided by %s", path, p->vt.name,
                       r->items[j].path);
                break;
            }
        }
    }
    free(names);
    return 0;
}

/* Every directory of dirs must exist; the first `optional` (ecbench's own
 * directory) may be missing. */
static int load_dirs(const char *const *dirs, size_t ndirs, size_t optional, ecb_registry **out)
{
    *out = NULL;
    ecb_registry *r = ecb_calloc(1, sizeof *r);
    if (!r) return ECB_ENOMEM;
    for (size_t i = 0; i < ndirs; i++) {
        int rc = add_dir(r, dirs[i]);
        if (rc == ECB_ENOTFOUND && i < optional) continue;
        if (rc) {
            ecb_registry_free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

int ecb_registry_load_dirs(const char *const *dirs, size_t ndirs, ecb_registry **out)
{
    return load_dirs(dirs, ndirs, 0, out);
}

int ecb_registry_load_default(ecb_registry **out)
{
    *out = NULL;
    const char *dirs[64];
    size_t n = 0;
    /* ecbench's own plugins, found relative to the executable (installed
     * tree, or the build tree when run from it); none is not an error here:
     * ECBENCH_METHODS_PATH may name every plugin. */
    if (ecb_install_preload_toolkit() != 0) return ECB_EIO;
    char own[4096];
    int have_own = ecb_install_dir(ECB_DIR_METHODS, own, sizeof own) == 0;
    if (have_own) dirs[n++] = own;
    else ecb_clear_error();
    size_t optional = n;
    const char *envv = getenv("ECBENCH_METHODS_PATH");
    char *env = envv ? ecb_strdup(envv) : NULL;
    if (envv && !env) return ECB_ENOMEM;
    for (char *tok = env ? strtok(env, ":") : NULL; tok; tok = strtok(NULL, ":")) {
        char real[4096]; /* naming ecbench's own directory again loads it once */
        if (have_own && realpath(tok, real) && strcmp(real, own) == 0) continue;
        if (n == sizeof dirs / sizeof *dirs) {
            free(env);
            return ecb_fail(ECB_ERANGE, "ECBENCH_METHODS_PATH: more than %zu directories",
                            sizeof dirs / sizeof *dirs - optional);
        }
        dirs[n++] = tok;
    }
    int rc = load_dirs(dirs, n, optional, out);
    if (rc && envv) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ecb_last_error());
        rc = ecb_fail(rc, "%s (ECBENCH_METHODS_PATH=%s)", msg, envv);
    }
    free(env);
    return rc;
}

const ecb_plugin *ecb_registry_find(const ecb_registry *r, const char *name)
{
    const ecb_plugin *rej = NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->items[i].rejected && strcmp(r->items[i].vt.name, name) == 0) return &r->items[i];
        if (r->items[i].rejected && strcmp(r->items[i].stem, name) == 0) rej = &r->items[i];
    }
    if (rej) {
        ecb_fail(ECB_EABI, "method \"%s\" was rejected: %s", name, rej->reason);
        return NULL;
    }
    const char *names[512] = {0};
    size_t nn = 0;
    char list[2048];
    size_t off = 0;
    list[0] = '\0';
    for (size_t i = 0; i < r->n && nn < 512; i++) {
        if (r->items[i].rejected) continue;
        names[nn++] = r->items[i].vt.name;
        int w = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                         r->items[i].vt.name);
        if (w > 0 && (size_t)w < sizeof list - off) off += (size_t)w;
    }
    const char *hint = ecb_did_you_mean(name, names, nn);
    ecb_fail(ECB_ENOTFOUND, "unknown method \"%s\"%s%s%s (available: %s)", name,
             hint ? "; did you mean \"" : "", hint ? hint : "", hint ? "\"?" : "",
             nn ? list : "none: no plugins found; set ECBENCH_METHODS_PATH");
    return NULL;
}

size_t ecb_registry_rejected(const ecb_registry *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) n += r->items[i].rejected != 0;
    return n;
}

void ecb_registry_free(ecb_registry *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) plugin_close(&r->items[i]);
    free(r->items);
    free(r);
}
