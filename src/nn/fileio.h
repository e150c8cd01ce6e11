/* fileio.h - whole-file reads with a size cap, and atomic writes.
 *
 * Files users keep (checkpoints, figures, caches) are never half-written:
 * ts_atomic_open() writes to "PATH.tmp-XXXXXX" in the same directory and
 * ts_atomic_commit() flushes, fsyncs and renames it over PATH.  A crash or
 * an error before commit leaves PATH as it was.
 */
#ifndef TS_FILEIO_H
#define TS_FILEIO_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct ts_atomic_file {
    FILE *f;
    char *path;
    char *tmp;
} ts_atomic_file;

ts_status ts_atomic_open(ts_atomic_file *af, const char *path);
/* Flushes, fsyncs, closes and renames.  On failure the temporary file is
 * removed and PATH is untouched. */
ts_status ts_atomic_commit(ts_atomic_file *af);
/* Drops the temporary file (safe after a failed commit, and on NULL f). */
void ts_atomic_abort(ts_atomic_file *af);

/* Writes `len` bytes to `path` atomically. */
ts_status ts_write_file_atomic(const char *path, const void *data, size_t len);

/* Reads a whole file (at most max_len bytes, else TS_ERR_FORMAT).
 * transfer: full (*data, free() it). */
ts_status ts_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len);

#endif
