/*
 * The installed layout relative to the executable (common/install.h). The
 * build writes the paths of <libdir>/ecbench/methods, <datadir>/ecbench and
 * <libdir> relative to <bindir> (ECB_REL_*), so bin/ecbench finds
 * ../lib/<multiarch>/ecbench/methods wherever the prefix was moved. The
 * absolute build-tree paths (ECB_BUILD_ROOT, ECB_SOURCE_DIR) are a fallback
 * used only by an executable inside ECB_BUILD_ROOT: an installed binary
 * never reads them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ecb.h"
#include "common/install.h"

/* Defaults for builds that do not pass the layout (the fuzz targets). */
#ifndef ECB_REL_METHODS
#define ECB_REL_METHODS "../lib/ecbench/methods"
#endif
#ifndef ECB_REL_TEMPLATES
#define ECB_REL_TEMPLATES "../share/ecbench"
#endif
#ifndef ECB_REL_LIB
#define ECB_REL_LIB "../lib"
#endif
#ifndef ECB_BUILD_ROOT
#define ECB_BUILD_ROOT ""
#endif
#ifndef ECB_SOURCE_DIR
#define ECB_SOURCE_DIR ""
#endif

#define ECB_TOOLKIT_SONAME "libecbench-toolkit.so.1"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Directory of the running executable (symlinks resolved by the kernel). */
static int exe_dir(char *buf, size_t size)
{
    ssize_t l = readlink("/proc/self/exe", buf, size - 1);
    if (l <= 0 || (size_t)l >= size - 1)
        return ecb_fail(ECB_ENOTFOUND, "/proc/self/exe: cannot read the executable's path: %s",
                        l < 0 ? strerror(errno) : "path too long");
    buf[l] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return ecb_fail(ECB_ENOTFOUND, "/proc/self/exe: not an absolute path: %s", buf);
    *slash = '\0';
    return 0;
}

/* 1 when dir (an executable's directory) lies inside the build root. */
static int in_build_tree(const char *dir)
{
    if (!ECB_BUILD_ROOT[0]) return 0;
    char root[PATH_MAX];
    if (!realpath(ECB_BUILD_ROOT, root)) return 0; /* build tree deleted */
    size_t n = strlen(root);
    return strncmp(dir, root, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

int ecb_install_dir(ecb_dir_kind kind, char *buf, size_t size)
{
    static const char *const rel[] = {ECB_REL_METHODS, ECB_REL_TEMPLATES, ECB_REL_LIB};
    static const char *const what[] = {"plugin directory", "report templates", "library directory"};
    if ((unsigned)kind > ECB_DIR_LIB) return ecb_fail(ECB_EINVAL, "unknown directory kind %d", kind);
    char dir[PATH_MAX], cand[PATH_MAX + 256];
    int rc = exe_dir(dir, sizeof dir);
    if (rc) return rc;
    /* an absolute ECB_REL_* comes from a --libdir/--datadir outside the prefix */
    if (rel[kind][0] == '/') snprintf(cand, sizeof cand, "%s", rel[kind]);
    else snprintf(cand, sizeof cand, "%s/%s", dir, rel[kind]);
    if (!is_dir(cand) && in_build_tree(dir)) {
        const char *tree = kind == ECB_DIR_TEMPLATES ? ECB_SOURCE_DIR "/reports"
                           : kind == ECB_DIR_METHODS ? ECB_BUILD_ROOT "/methods"
                                                     : ECB_BUILD_ROOT;
        if (is_dir(tree)) snprintf(cand, sizeof cand, "%s", tree);
    }
    if (!is_dir(cand))
        return ecb_fail(ECB_ENOTFOUND, "%s: %s/%s does not exist (ecbench looks for its installed "
                        "files relative to its own location, %s)", what[kind], dir, rel[kind], dir);
    char real[PATH_MAX];
    const char *out = realpath(cand, real) ? real : cand;
    if (strlen(out) >= size)
        return ecb_fail(ECB_ERANGE, "%s: path longer than %zu bytes: %s", what[kind], size, out);
    memcpy(buf, out, strlen(out) + 1);
    return 0;
}

int ecb_install_preload_toolkit(void)
{
    char lib[PATH_MAX], path[PATH_MAX + 64];
    if (ecb_install_dir(ECB_DIR_LIB, lib, sizeof lib) != 0) {
        ecb_clear_error();
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", lib, ECB_TOOLKIT_SONAME);
    if (access(path, R_OK) != 0) return 0;
    /* Kept loaded until exit, like the plugins that need it. */
    if (!dlopen(path, RTLD_NOW | RTLD_LOCAL))
        return ecb_fail(ECB_EIO, "%s: cannot load: %s", path, dlerror());
    return 0;
}
