/*
 * Where the running ecbench finds the files installed beside it (DESIGN D1:
 * `meson install` gives a relocatable tree). Everything is found relative
 * to the executable (/proc/self/exe), never through paths compiled in at
 * build time, so an installed tree keeps working when it is moved or the
 * build tree is deleted. Only an executable that lies inside the build
 * tree it was built in (build/ecbench, the test programs) falls back to the
 * build tree's plugins and the source tree's templates.
 */
#ifndef ECB_INSTALL_H
#define ECB_INSTALL_H

#include <stddef.h>

typedef enum {
    ECB_DIR_METHODS = 0,   /* plugins: <libdir>/ecbench/methods; build/methods */
    ECB_DIR_TEMPLATES = 1, /* report templates (*.gp): <datadir>/ecbench; source reports/ */
    ECB_DIR_LIB = 2,       /* <libdir>, holding libecbench-toolkit.so.1; the build root */
} ecb_dir_kind;

/* The directory of that kind for the running executable, written to buf:
 * the installed layout relative to the executable when that directory
 * exists, else the build tree's when the executable runs from it. Returns 0,
 * or ECB_ENOTFOUND with a message naming where it looked. */
int ecb_install_dir(ecb_dir_kind kind, char *buf, size_t size);

/* Loads the installed toolkit library (ECB_DIR_LIB/libecbench-toolkit.so.1)
 * once, so that a third-party plugin linked against it finds it by its
 * soname wherever the tree was moved, without an rpath or
 * LD_LIBRARY_PATH. Returns 0 when loaded or when there is none to load (a
 * plugin that needs it then fails to load, naming the library). */
int ecb_install_preload_toolkit(void);

#endif
