/*
 * Plugin discovery (issue 11 item 8, issue 16): a missing directory in
 * ECBENCH_METHODS_PATH is an error naming it; a world-writable plugin
 * directory (or an ancestor anyone can rename it in) or plugin file is
 * refused unless ECBENCH_ALLOW_INSECURE_PLUGINS=1, with a message saying
 * how; `libfoo.so` is the method foo; files starting with '_' (the
 * template) are not methods, though they still load by path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

#include "harness/registry.h"

static char *tmp;

static void assert_msg(const char *m, const char *needle)
{
    if (!m || !strstr(m, needle)) fail_msg("message \"%s\" lacks \"%s\"", m ? m : "", needle);
}

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

/* A fresh directory tmp/name (mode 0700) holding a copy of methods/src.so as dst. */
static char *plugin_dir(const char *name, const char *src, const char *dst)
{
    static char dir[4][4200];
    static int k;
    char *d = dir[k++ & 3];
    snprintf(d, sizeof dir[0], "%s/%s", tmp, name);
    sh("mkdir -p '%s' && chmod 700 '%s'", d, d);
    if (src) {
        char from[4200], to[4200];
        snprintf(from, sizeof from, "%s/%s.so", tu_methods_dir(), src);
        snprintf(to, sizeof to, "%s/%s", d, dst);
        sh("cp '%s' '%s'", from, to);
        sh("chmod 755 '%s'%s", to, "");
    }
    return d;
}

static const ecb_plugin *find_stem(const ecb_registry *r, const char *stem)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->items[i].stem, stem)) return &r->items[i];
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    unsetenv("ECBENCH_METHODS_PATH");
    unsetenv("ECBENCH_ALLOW_INSECURE_PLUGINS");
    return 0;
}

static void test_missing_path_dir(void **state)
{
    (void)state;
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/no/such/dir", tmp);
    char env[8800];
    snprintf(env, sizeof env, "%s:%s", plugin_dir("ok", "float32", "float32.so"), missing);
    setenv("ECBENCH_METHODS_PATH", env, 1);
    ecb_registry *r = NULL;
    int rc = ecb_registry_load_default(&r);
    ecb_registry_free(r);
    assert_int_equal(rc, ECB_ENOTFOUND);
    assert_msg(ecb_last_error(), "ECBENCH_METHODS_PATH");
    assert_msg(ecb_last_error(), missing);
    /* a file is not a directory either */
    char file[4300];
    snprintf(file, sizeof file, "%s/ok/float32.so", tmp);
    setenv("ECBENCH_METHODS_PATH", file, 1);
    rc = ecb_registry_load_default(&r);
    ecb_registry_free(r);
    assert_int_equal(rc, ECB_EINVAL);
    assert_msg(ecb_last_error(), "not a directory");
}

static void test_world_writable_dir(void **state)
{
    (void)state;
    const char *d = plugin_dir("ww", "sq", "sq.so");
    sh("chmod 777 '%s'%s", d, "");
    const char *dirs[1] = {d};
    ecb_registry *r = NULL;
    int rc = ecb_registry_load_dirs(dirs, 1, &r);
    ecb_registry_free(r);
    assert_int_equal(rc, ECB_EINVAL);
    assert_msg(ecb_last_error(), d);
    assert_msg(ecb_last_error(), "world-writable");
    assert_msg(ecb_last_error(), "chmod o-w");
    assert_msg(ecb_last_error(), "ECBENCH_ALLOW_INSECURE_PLUGINS=1");
    /* the opt-in loads it */
    setenv("ECBENCH_ALLOW_INSECURE_PLUGINS", "1", 1);
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_int_equal(r->n, 1);
    assert_false(r->items[0].rejected);
    ecb_registry_free(r);
    /* any other value is not an opt-in */
    setenv("ECBENCH_ALLOW_INSECURE_PLUGINS", "yes please", 1);
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), ECB_EINVAL);
    ecb_registry_free(r);
}

/* Anyone may rename a private directory out of a world-writable parent and
 * put their own in its place; a sticky parent (/tmp) forbids that. */
static void test_world_writable_parent(void **state)
{
    (void)state;
    const char *d = plugin_dir("wwp/inner", "sq", "sq.so");
    char parent[4300];
    snprintf(parent, sizeof parent, "%s/wwp", tmp);
    sh("chmod 777 '%s'%s", parent, "");
    const char *dirs[1] = {d};
    ecb_registry *r = NULL;
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), ECB_EINVAL);
    ecb_registry_free(r);
    assert_msg(ecb_last_error(), parent);
    sh("chmod 1777 '%s'%s", parent, "");
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_int_equal(r->n, 1);
    assert_false(r->items[0].rejected);
    ecb_registry_free(r);
}

static void test_world_writable_file(void **state)
{
    (void)state;
    const char *d = plugin_dir("wwf", "sq", "sq.so");
    sh("chmod 666 '%s/sq.so'%s", d, "");
    const char *dirs[1] = {d};
    ecb_registry *r = NULL;
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_int_equal(r->n, 1);
    assert_true(r->items[0].rejected);
    assert_msg(r->items[0].reason, "sq.so");
    assert_msg(r->items[0].reason, "world-writable");
    assert_msg(r->items[0].reason, "ECBENCH_ALLOW_INSECURE_PLUGINS=1");
    assert_null(ecb_registry_find(r, "sq"));
    assert_msg(ecb_last_error(), "world-writable");
    ecb_registry_free(r);
    setenv("ECBENCH_ALLOW_INSECURE_PLUGINS", "1", 1);
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_false(r->items[0].rejected);
    ecb_registry_free(r);
}

static void test_lib_prefix(void **state)
{
    (void)state;
    const char *d = plugin_dir("lib", "float16", "libfloat16.so");
    const char *dirs[1] = {d};
    ecb_registry *r = NULL;
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_int_equal(r->n, 1);
    if (r->items[0].rejected) fail_msg("libfloat16.so rejected: %s", r->items[0].reason);
    assert_string_equal(r->items[0].stem, "float16");
    const ecb_plugin *p = ecb_registry_find(r, "float16");
    assert_non_null(p);
    assert_string_equal(p->vt.name, "float16");
    ecb_registry_free(r);
    /* foo.so and libfoo.so are the same method: the second is a duplicate */
    d = plugin_dir("lib2", "float16", "libfloat16.so");
    plugin_dir("lib2", "float16", "float16.so");
    dirs[0] = d;
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_int_equal(r->n, 2);
    assert_int_equal(ecb_registry_rejected(r), 1);
    ecb_registry_free(r);
}

static void test_template_not_a_method(void **state)
{
    (void)state;
    const char *dirs[1] = {tu_methods_dir()};
    ecb_registry *r = NULL;
    assert_int_equal(ecb_registry_load_dirs(dirs, 1, &r), 0);
    assert_non_null(find_stem(r, "float32"));
    assert_null(find_stem(r, "_template"));
    assert_null(ecb_registry_find(r, "_template"));
    assert_msg(ecb_last_error(), "unknown method \"_template\"");
    ecb_registry_free(r);
    /* still loadable explicitly, for the conformance test */
    char path[4200];
    snprintf(path, sizeof path, "%s/_template.so", tu_methods_dir());
    ecb_plugin p;
    assert_int_equal(ecb_plugin_open(path, &p), 0);
    if (p.rejected) fail_msg("_template.so rejected: %s", p.reason);
    assert_string_equal(p.vt.name, "_template");
    free(p.path);
    free(p.stem);
    free(p.reason);
}

int main(void)
{
    tmp = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_missing_path_dir, setup),
        cmocka_unit_test_setup(test_world_writable_dir, setup),
        cmocka_unit_test_setup(test_world_writable_parent, setup),
        cmocka_unit_test_setup(test_world_writable_file, setup),
        cmocka_unit_test_setup(test_lib_prefix, setup),
        cmocka_unit_test_setup(test_template_not_a_method, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(tmp);
    return rc;
}
