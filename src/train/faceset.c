/* faceset.c - building the in-memory bases of a set of faces; see
 * faceset.h.  Workers take rows from a shared counter; results go to their
 * row's slot, then kept rows are compacted in the order given, so the
 * result does not depend on thread timing.
 */
#include "train/faceset.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "train/sample.h"

typedef struct build_ctx {
    const ts_dataset *ds;
    const int *rows;
    int n;
    const ts_faceset_options *o;
    ts_lmcache *cache;        /* NULL without landmarks */
    ts_image *base;
    ts_points *pts;
    char *ok;                 /* per slot: 1 kept, 0 skipped */
    pthread_mutex_t mu;
    int next, done;
    volatile int stop;
    ts_status fatal;
    char fatal_msg[512];
    int n_skipped;
    int n_kept;                                  /* of kept[], sorted by dataset row */
    ts_faceset_skip kept[TS_FACESET_SKIPS_KEPT];
} build_ctx;

/* Records a skipped slot (under b->mu): counted, and kept when its dataset
 * row is among the first TS_FACESET_SKIPS_KEPT skipped so far, so that the
 * kept ones are the first in the dataset's order once all are done,
 * whatever the thread timing. */
static void note_skip(build_ctx *b, int slot, const char *message)
{
    b->n_skipped++;
    int row = b->rows[slot], at = b->n_kept;
    while (at > 0 && b->kept[at - 1].row > row) at--;
    if (at >= TS_FACESET_SKIPS_KEPT) return;
    int last = b->n_kept < TS_FACESET_SKIPS_KEPT ? b->n_kept : TS_FACESET_SKIPS_KEPT - 1;
    for (int k = last; k > at; k--) b->kept[k] = b->kept[k - 1];
    b->kept[at].row = row;
    snprintf(b->kept[at].message, sizeof b->kept[at].message, "%s", message);
    if (b->n_kept < TS_FACESET_SKIPS_KEPT) b->n_kept++;
}

ts_status ts_faceset_face(const ts_faceset_options *o, const char *path, ts_image *base, ts_points *pts)
{
    if (o->landmarks && !o->cache) return ts_error(TS_ERR_ARG, "faceset: %s: landmarks need an open cache", path);
    ts_image img = { 0 };
    ts_lm_entry e = { 0 };
    ts_status st = o->landmarks ? ts_lmcache_get(o->cache, path, &e, &img, NULL) : ts_image_load(path, &img);
    if (st == TS_OK) st = ts_sample_base(&img, o->landmarks ? &e.pts : NULL, o->align, o->size, base, pts);
    if (st == TS_OK && !o->landmarks) pts->n = 0;
    ts_image_clear(&img);
    ts_lm_entry_clear(&e);
    /* "face box 0.6x0.6 must be at least 1" alone does not say which image */
    return st == TS_OK ? st : ts_error_about(st, path);
}

static ts_status one_face(build_ctx *b, int i)
{
    ts_faceset_options o = *b->o;
    o.landmarks = b->cache != NULL;
    o.cache = b->cache;
    return ts_faceset_face(&o, b->ds->paths[b->rows[i]], &b->base[i], &b->pts[i]);
}

static void *worker(void *arg)
{
    build_ctx *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        int i = b->stop ? b->n : b->next++;
        pthread_mutex_unlock(&b->mu);
        if (i >= b->n) break;
        ts_status st = one_face(b, i);
        pthread_mutex_lock(&b->mu);
        if (st == TS_OK) {
            b->ok[i] = 1;
        } else if (st == TS_ERR_OOM) {
            b->fatal = st;
            snprintf(b->fatal_msg, sizeof b->fatal_msg, "%s", ts_last_error());
            b->stop = 1;
        } else {
            note_skip(b, i, ts_last_error());
        }
        b->done++;
        pthread_mutex_unlock(&b->mu);
    }
    return NULL;
}

void ts_faceset_clear(ts_faceset *fs)
{
    if (!fs) return;
    for (int i = 0; i < fs->n; i++) ts_image_clear(&fs->base[i]);
    free(fs->base);
    free(fs->pts);
    free(fs->rows);
    memset(fs, 0, sizeof *fs);
}

ts_status ts_faceset_partition(ts_faceset *all, const char *which, int n_sets, ts_faceset *const *out)
{
    int *count = calloc((size_t)n_sets, sizeof *count);
    if (!count) return ts_error(TS_ERR_OOM, "faceset: out of memory");
    for (int i = 0; i < all->n; i++) {
        TS_ASSERT(which[all->rows[i]] >= 0 && which[all->rows[i]] < n_sets);
        count[(int)which[all->rows[i]]]++;
    }
    bool oom = false;
    for (int k = 0; k < n_sets; k++) {
        ts_faceset *d = out[k];
        *d = (ts_faceset){ .size = all->size, .align = all->align, .landmarks = all->landmarks };
        size_t c = count[k] ? (size_t)count[k] : 1;
        d->rows = malloc(c * sizeof *d->rows);
        d->base = malloc(c * sizeof *d->base);
        d->pts = malloc(c * sizeof *d->pts);
        oom |= !d->rows || !d->base || !d->pts;
    }
    free(count);
    if (oom) {
        for (int k = 0; k < n_sets; k++) ts_faceset_clear(out[k]); /* n = 0: frees the arrays only */
        return ts_error(TS_ERR_OOM, "faceset: out of memory");
    }
    for (int i = 0; i < all->n; i++) {
        ts_faceset *d = out[(int)which[all->rows[i]]];
        d->rows[d->n] = all->rows[i];
        d->base[d->n] = all->base[i];
        d->pts[d->n] = all->pts[i];
        d->n++;
    }
    /* the images now belong to the sets */
    free(all->rows);
    free(all->base);
    free(all->pts);
    all->rows = NULL, all->base = NULL, all->pts = NULL, all->n = 0;
    return TS_OK;
}

ts_status ts_faceset_build(ts_faceset *fs, const ts_dataset *ds, const int *rows, int n, const ts_faceset_options *o,
                           ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort, void *user)
{
    memset(fs, 0, sizeof *fs);
    if (n < 1) return ts_error(TS_ERR_ARG, "faceset: no images to prepare");
    if (o->align != TS_ALIGN_NONE && !o->landmarks)
        return ts_error(TS_ERR_ARG, "faceset: alignment '%s' needs landmarks", ts_alignment_name(o->align));
    build_ctx b = { .ds = ds, .rows = rows, .n = n, .o = o };
    ts_lmcache *own_cache = NULL;
    if (o->landmarks && o->cache) {
        b.cache = o->cache;
    } else if (o->landmarks) {
        ts_lmcache_policy pol = o->policy ? *o->policy : ts_lmcache_policy_for(ds->kind);
        /* The cache keeps A(x,y) of the unaligned base next to the points. */
        TS_TRY(ts_lmcache_open(o->cache_dir, &pol, o->size, &own_cache));
        b.cache = own_cache;
    }
    b.base = calloc((size_t)n, sizeof *b.base);
    b.pts = calloc((size_t)n, sizeof *b.pts);
    b.ok = calloc((size_t)n, 1);
    if (!b.base || !b.pts || !b.ok) {
        free(b.base), free(b.pts), free(b.ok);
        ts_lmcache_free(own_cache);
        return ts_error(TS_ERR_OOM, "faceset: out of memory for %d faces", n);
    }
    pthread_mutex_init(&b.mu, NULL);
    int threads = o->threads > 0 ? o->threads : 2;
    if (threads > 64) threads = 64;
    pthread_t tid[64];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, worker, &b) == 0) started++;
    /* The caller's thread works too, one face at a time, and reports. */
    ts_status st = TS_OK;
    for (;;) {
        pthread_mutex_lock(&b.mu);
        int i = b.stop ? n : b.next++;
        pthread_mutex_unlock(&b.mu);
        if (i >= n) break;
        ts_status s1 = one_face(&b, i);
        pthread_mutex_lock(&b.mu);
        if (s1 == TS_OK) b.ok[i] = 1;
        else if (s1 == TS_ERR_OOM) {
            b.fatal = s1;
            snprintf(b.fatal_msg, sizeof b.fatal_msg, "%s", ts_last_error());
            b.stop = 1;
        } else {
            note_skip(&b, i, ts_last_error());
        }
        int done = ++b.done;
        pthread_mutex_unlock(&b.mu);
        if (progress && (done % 16 == 0 || done == n)) progress(done, n, user);
        if (should_abort && should_abort(user)) {
            pthread_mutex_lock(&b.mu);
            b.stop = 1;
            pthread_mutex_unlock(&b.mu);
            st = TS_CANCELLED;
        }
    }
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&b.mu);
    ts_lmcache_free(own_cache);
    if (st == TS_OK && b.fatal != TS_OK) st = ts_error(b.fatal, "%s", b.fatal_msg);
    if (st == TS_CANCELLED) ts_error(st, "preparing faces: cancelled");
    int kept = 0;
    if (st == TS_OK) {
        for (int i = 0; i < n; i++) kept += b.ok[i];
        if (kept == 0)
            st = ts_error(TS_ERR_IO, "faceset: none of the %d images could be prepared (first: %s)", n,
                          b.n_kept ? b.kept[0].message : "");
    }
    if (st == TS_OK) {
        fs->rows = malloc((size_t)kept * sizeof *fs->rows);
        if (!fs->rows) st = ts_error(TS_ERR_OOM, "faceset: out of memory");
    }
    if (st != TS_OK) {
        for (int i = 0; i < n; i++) ts_image_clear(&b.base[i]);
        free(b.base), free(b.pts), free(b.ok);
        free(fs->rows);
        fs->rows = NULL;
        return st;
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!b.ok[i]) {
            ts_image_clear(&b.base[i]);
            continue;
        }
        fs->rows[k] = rows[i];
        b.base[k] = b.base[i];
        b.pts[k] = b.pts[i];
        k++;
    }
    free(b.ok);
    fs->n = kept;
    fs->size = o->size;
    fs->align = o->align;
    fs->landmarks = o->landmarks;
    fs->base = b.base;
    fs->pts = b.pts;
    fs->n_skipped = b.n_skipped;
    fs->n_skipped_kept = b.n_kept;
    memcpy(fs->skipped, b.kept, sizeof b.kept);
    snprintf(fs->first_error, sizeof fs->first_error, "%s", b.n_kept ? b.kept[0].message : "");
    return TS_OK;
}
