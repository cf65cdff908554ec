/* File writes that never leave a partial result looking complete, and the
 * output directory's lock. */
#ifndef ECB_FILEIO_H
#define ECB_FILEIO_H

#include <stddef.h>

/* Append bytes with one write() per call and fsync (O_APPEND), so a kill
 * leaves whole rows only. A short write (disk full) is truncated back to
 * the old size and reported. */
int ecb_append_atomic(const char *path, const char *data, size_t n);
/* Append the whole of path to out (out may already hold text). */
struct ecb_buf;
int ecb_read_file(const char *path, struct ecb_buf *out);
/* Replace a file's contents atomically: path.tmp.<pid>, fsync, rename. On
 * any failure the temporary is removed and the old file is left intact. */
int ecb_write_file_atomic(const char *path, const char *data, size_t n);

/* An exclusive advisory lock (flock) on DIR/.lock, holding the holder's pid.
 * Fails at once with ECB_EBUSY-style ECB_EIO and a message naming the
 * holder's pid when another process holds it. Released by ecb_dir_unlock
 * or when the process exits. */
typedef struct ecb_dir_lock ecb_dir_lock;
int ecb_dir_lock_take(const char *dir, ecb_dir_lock **out);
void ecb_dir_lock_release(ecb_dir_lock *l); /* accepts NULL */

/* Creates and removes a probe file in dir: a read-only or full directory
 * fails here, before any cell is computed. */
int ecb_dir_check_writable(const char *dir);

#endif
