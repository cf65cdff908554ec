#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ecbench/ecbmath.h"

#include "testutil.h"

const char *tu_shared_data(void)
{
    static char buf[4096];
    const char *env = getenv("ECB_SHARED_DATA");
    const char *cands[] = {env, "../shared/data", "../../shared/data", "../../../shared/data"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        struct stat st;
        if (cands[i] && stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(buf, sizeof buf, "%s", cands[i]);
            return buf;
        }
    }
    return NULL;
}

char *tu_shared_file(const char *rel)
{
    const char *d = tu_shared_data();
    if (!d) return NULL;
    size_t n = strlen(d) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", d, rel);
    struct stat st;
    if (stat(p, &st) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

const char *tu_methods_dir(void)
{
    const char *env = getenv("ECBENCH_METHODS_DIR");
    return env ? env : "methods";
}

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/ecbtest.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

int tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    return 0;
}

int tu_write_npy(const char *path, const char *hdr, const void *data, size_t bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t hl = strlen(hdr), pad = (64 - (10 + hl + 1) % 64) % 64, total = hl + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(total & 0xff),
                             (unsigned char)(total >> 8)};
    fwrite(pre, 1, 10, f);
    fputs(hdr, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    for (size_t i = 0; i < bytes; i++) fputc(data ? ((const unsigned char *)data)[i] : 0, f);
    return fclose(f) == 0 ? 0 : -1;
}

void tu_rmtree(char *dir)
{
    if (!dir) return;
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

float *tu_randn(size_t n, size_t d, uint64_t seed)
{
    ecb_rng r;
    ecb_rng_seed(&r, seed);
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; x && i < n * d; i++) x[i] = (float)ecb_rng_normal(&r);
    return x;
}

extern char **environ;

int tu_run_self_env(const char *name, const char *value, char *const args[])
{
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    size_t na = 0;
    while (args[na]) na++;
    char **argv = calloc(na + 2, sizeof *argv);
    if (!argv) return -1;
    argv[0] = self;
    for (size_t i = 0; i < na; i++) argv[i + 1] = args[i];
    char *old = getenv(name) ? strdup(getenv(name)) : NULL;
    setenv(name, value, 1);
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (old) setenv(name, old, 1);
    else unsetenv(name);
    free(old);
    free(argv);
    int st;
    if (rc != 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
