/* Crash-safe appends and replacements, the output directory lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/ecb.h"
#include "common/fileio.h"

static int write_all(int fd, const char *data, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (w == 0) return -ENOSPC;
        off += (size_t)w;
    }
    return 0;
}

int ecb_append_atomic(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return ecb_fail(ECB_EIO, "%s: cannot open for appending: %s", path, strerror(errno));
    struct stat st;
    off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
    int e = write_all(fd, data, n);
    if (!e && fsync(fd) != 0 && errno != EINVAL) e = -errno;
    if (e && before >= 0 && ftruncate(fd, before) != 0) { /* keep whole rows only */ }
    if (close(fd) != 0 && !e) e = -errno;
    if (e) return ecb_fail(ECB_EIO, "%s: append of %zu bytes failed: %s", path, n, strerror(-e));
    return 0;
}

int ecb_read_file(const char *path, ecb_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ecb_fail(ECB_EIO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) rc = ecb_buf_put(out, chunk, n);
    if (!rc && ferror(f)) rc = ecb_fail(ECB_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

int ecb_write_file_atomic(const char *path, const char *data, size_t n)
{
    size_t tl = strlen(path) + 32;
    char *tmp = ecb_malloc(tl);
    if (!tmp) return ECB_ENOMEM;
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = ecb_fail(ECB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    int e = write_all(fd, data, n);
    if (!e && fsync(fd) != 0 && errno != EINVAL) e = -errno;
    if (close(fd) != 0 && !e) e = -errno;
    int rc = 0;
    if (e) rc = ecb_fail(ECB_EIO, "%s: write of %zu bytes failed: %s", path, n, strerror(-e));
    else if (rename(tmp, path) != 0)
        rc = ecb_fail(ECB_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

struct ecb_dir_lock {
    int fd;
};

int ecb_dir_lock_take(const char *dir, ecb_dir_lock **out)
{
    *out = NULL;
    size_t pl = strlen(dir) + 8;
    char *path = ecb_malloc(pl);
    if (!path) return ECB_ENOMEM;
    snprintf(path, pl, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = ecb_fail(ECB_EIO, "%s: cannot open the lock file: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t r = pread(fd, holder, sizeof holder - 1, 0);
        holder[r > 0 ? r : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        int rc = e == EWOULDBLOCK
                     ? ecb_fail(ECB_EIO, "%s: another ecbench (pid %s) is writing this output "
                                "directory; wait for it or use another directory",
                                dir, *holder ? holder : "unknown")
                     : ecb_fail(ECB_EIO, "%s: cannot lock: %s", path, strerror(e));
        free(path);
        return rc;
    }
    free(path);
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) { /* the pid is a hint */ }
    ecb_dir_lock *l = ecb_calloc(1, sizeof *l);
    if (!l) { close(fd); return ECB_ENOMEM; }
    l->fd = fd;
    *out = l;
    return 0;
}

void ecb_dir_lock_release(ecb_dir_lock *l)
{
    if (!l) return;
    close(l->fd); /* closing the descriptor drops the flock */
    free(l);
}

int ecb_dir_check_writable(const char *dir)
{
    size_t pl = strlen(dir) + 40;
    char *path = ecb_malloc(pl);
    if (!path) return ECB_ENOMEM;
    snprintf(path, pl, "%s/.write-probe.%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) rc = ecb_fail(ECB_EIO, "%s: output directory is not writable: %s", dir, strerror(errno));
    else {
        int e = write_all(fd, "probe\n", 6);
        if (close(fd) != 0 && !e) e = -errno;
        unlink(path);
        if (e) rc = ecb_fail(ECB_EIO, "%s: cannot write in the output directory: %s", dir, strerror(-e));
    }
    free(path);
    return rc;
}
