/* faceset.h - the faces of a list of dataset rows, ready to sample: each
 * image decoded once, its landmarks taken from (or added to) the landmark
 * cache, and its base (sample.h: the image at the model's input size under
 * an alignment) kept in memory with the landmarks in base coordinates.
 *
 * Memory: S*S*3 bytes + one ts_points per face (150 x 150: 69 KB; 10,000
 * faces: 0.7 GB).  Building runs on `threads` threads (the caller's thread
 * is one of them and is the only one that calls the callbacks).
 *
 * A row whose image cannot be read or whose landmarks cannot be found is
 * left out: counted in n_skipped, and the first TS_FACESET_SKIPS_KEPT of
 * them (in dataset row order, whatever the thread timing) kept
 * with their messages, which name the file, for the caller to show.  The
 * build fails only when no row is left, on a cancel, or out of memory.
 */
#ifndef TS_FACESET_H
#define TS_FACESET_H

#include <stdbool.h>

#include "data/dataset.h"
#include "face/image.h"
#include "nn/model.h"
#include "train/cache.h"

#define TS_FACESET_SKIPS_KEPT 5

/* One row left out. */
typedef struct ts_faceset_skip {
    int row;           /* dataset row */
    char message[400]; /* "PATH: why" */
} ts_faceset_skip;

typedef struct ts_faceset {
    int n;              /* faces kept */
    int size;           /* S */
    ts_alignment align;
    bool landmarks;     /* pts valid */
    int *rows;          /* n dataset row indices, in the order given */
    ts_image *base;     /* n images S x S */
    ts_points *pts;     /* n, base coordinates (n = 0 each without landmarks) */
    int n_skipped;
    char first_error[512]; /* the message of skipped[0] ("" if none) */
    int n_skipped_kept;    /* min(n_skipped, TS_FACESET_SKIPS_KEPT) */
    ts_faceset_skip skipped[TS_FACESET_SKIPS_KEPT]; /* the first rows left out, in dataset row order */
} ts_faceset;

typedef struct ts_faceset_options {
    int size;                 /* S */
    ts_alignment align;       /* rotation/affine need landmarks */
    bool landmarks;           /* compute (or read) the 68 points */
    const char *cache_dir;    /* NULL: cache.h's default */
    const ts_lmcache_policy *policy; /* NULL: ts_lmcache_policy_for(ds->kind) */
    int threads;              /* 0: 2 */
    ts_lmcache *cache;        /* an open cache for this size (transfer: none), so a caller that
                               * builds many small sets (the app's browser, chunk by chunk)
                               * loads the localizer once; NULL: opened here from cache_dir
                               * and policy when landmarks are asked for */
} ts_faceset_options;

/* progress(done, total, user) every few faces; should_abort polled as
 * often (TS_CANCELLED when it says yes).  Either may be NULL. */
typedef void (*ts_faceset_progress_fn)(int done, int total, void *user);
typedef bool (*ts_faceset_abort_fn)(void *user);

ts_status ts_faceset_build(ts_faceset *fs, const ts_dataset *ds, const int *rows, int n_rows,
                           const ts_faceset_options *o, ts_faceset_progress_fn progress,
                           ts_faceset_abort_fn should_abort, void *user);
void ts_faceset_clear(ts_faceset *fs);

/* Moves the faces of `all` into n_sets sets by their dataset rows: face i
 * goes to out[which[all->rows[i]]] (each 0..n_sets-1), in order; each set
 * keeps all's size, alignment and landmark flag and no skip records.  all
 * is left empty (its images now belong to the sets).  The out sets are
 * overwritten (empty ones).  TS_ERR_OOM leaves all as it was and the out
 * sets empty. */
ts_status ts_faceset_partition(ts_faceset *all, const char *which, int n_sets, ts_faceset *const *out);

/* One face as ts_faceset_build makes it: the image at `path` decoded, its
 * landmarks from o->cache (required when o->landmarks; o->cache_dir and
 * o->policy are not used here), its base.  pts->n = 0 without landmarks.
 * The image's or the localizer's error naming the file; what a caller
 * uses to say why a row was left out of a set.  transfer: full (base,
 * ts_image_clear). */
ts_status ts_faceset_face(const ts_faceset_options *o, const char *path, ts_image *base, ts_points *pts);

#endif
