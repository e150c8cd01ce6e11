/* fileio.h - whole-file reads with a size cap, atomic writes of one file or
 * of a set of files, output locks, and the checks around them.
 *
 * Files users keep (checkpoints, figures, caches) are never half-written:
 * ts_atomic_open() writes to "PATH.tmp-XXXXXX" in the same directory and
 * ts_atomic_commit() flushes, fsyncs and renames it over PATH.  A crash or
 * an error before commit leaves PATH as it was.
 *
 * An output made of several files (a Caffe export: .caffemodel, .prototxt,
 * .binaryproto; a figure and its .json sidecar) is committed as a set with
 * ts_atomic_commit_all(): every file is written, flushed and fsynced to its
 * temporary first, and only when all of them are safely on disk are they
 * renamed.  A full disk, an I/O error or a failed write of any member
 * leaves every old file byte-identical.  (The renames themselves are the
 * only step that is not all-or-nothing; each replaces a directory entry in
 * place and cannot run out of space, and targets that are folders are
 * refused before the first rename.)
 *
 * Write errors keep the system's reason: a failed write reports
 * "PATH: write failed: No space left on device", never a bare "failed".
 *
 * A run that rewrites its outputs again and again (training) takes the
 * output's lock first (ts_output_lock_take): a second writer of the same
 * output fails at once, naming the first.  Holding the lock, it may remove
 * the temporaries a killed predecessor left (ts_atomic_clean_stale).
 *
 * Test hook: when the environment variable TS_TEST_DISK_FREE_BYTES=N is
 * set, the atomic writes of this process behave as on a disk with N free
 * bytes (ENOSPC past them).  It exists for tests that cannot mount a small
 * tmpfs; nothing else reads it.
 */
#ifndef TS_FILEIO_H
#define TS_FILEIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nn/status.h"

typedef struct ts_atomic_sink ts_atomic_sink;

typedef struct ts_atomic_file {
    FILE *f;              /* write here (stdio) */
    char *path;           /* the final name */
    char *tmp;            /* the temporary beside it */
    ts_atomic_sink *sink; /* the descriptor under f and its first write error */
} ts_atomic_file;

ts_status ts_atomic_open(ts_atomic_file *af, const char *path);
/* Flushes, fsyncs, closes and renames.  On failure the temporary file is
 * removed and PATH is untouched. */
ts_status ts_atomic_commit(ts_atomic_file *af);
/* Commits n open files as one set: all are flushed and fsynced first; if
 * any fails, all temporaries are removed and no PATH is touched.  Every
 * member is closed on return, whatever the result. */
ts_status ts_atomic_commit_all(ts_atomic_file *files, int n);
/* Drops the temporary file (safe after a failed commit, and on NULL f). */
void ts_atomic_abort(ts_atomic_file *af);
/* transfer: none.  Why the last write to af failed (strerror text of the
 * first error the system reported, else of errno). */
const char *ts_atomic_strerror(const ts_atomic_file *af);

/* Writes `len` bytes to `path` atomically. */
ts_status ts_write_file_atomic(const char *path, const void *data, size_t len);

/* One member of ts_write_files_atomic. */
typedef struct ts_file_part {
    const char *path;
    const void *data;
    size_t len;
} ts_file_part;

/* Writes n files as one set (ts_atomic_commit_all): either all are
 * replaced or none is. */
ts_status ts_write_files_atomic(const ts_file_part *parts, int n);

/* Reads a whole file (at most max_len bytes, else TS_ERR_FORMAT).
 * transfer: full (*data, free() it). */
ts_status ts_read_file(const char *path, size_t max_len, uint8_t **data, size_t *len);

/* True when both paths exist and name the same file (same device and
 * inode, so links and other spellings count): writing `a` would change `b`. */
bool ts_same_file(const char *a, const char *b);

/* ---- output locks ------------------------------------------------------- */

typedef struct ts_output_lock {
    int fd;     /* -1 when not held */
    char *path; /* "OUT.lock" */
} ts_output_lock;

/* Takes the lock of output `out`: the file "OUT.lock" beside it, locked
 * with flock() and holding "pid N: WHAT".  Another holder (another process,
 * or another lock taken in this one) makes it fail at once with TS_ERR_IO:
 * "OUT is being written by pid N (WHAT); ...".  The lock goes with the
 * process: a killed holder leaves at most an unlocked OUT.lock, which the
 * next take reuses.  `what` describes the writer (e.g. "traitscope-cli
 * train"). */
ts_status ts_output_lock_take(ts_output_lock *l, const char *out, const char *what);
/* Releases and removes OUT.lock; a no-op on a lock not held. */
void ts_output_lock_release(ts_output_lock *l);

/* Removes the temporaries "PATH.tmp-XXXXXX" that an atomic write of PATH
 * left when its process was killed.  Only safe while nothing else writes
 * PATH (hold its output lock).  *removed (may be NULL) gets the count. */
ts_status ts_atomic_clean_stale(const char *path, int *removed);

#endif
