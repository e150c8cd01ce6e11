/* ts-face-list.h - the faces the browser lists (a model object, no widget):
 * a source read into TsFaceItems, with thumbnails decoded on demand.
 *
 * A source is image files and folders (sorted by name, not recursive), or
 * a dataset spec (celeba:DIR, utkface:DIR, adience:DIR, csv:FILE,
 * folder:DIR or a bare folder; data/dataset.h).  It is read in a GTask;
 * opening another one cancels the reading and drops what the old one
 * brings.  Items are appended in row order, one per dataset row (or listed
 * file): item i of the list model is row i of the source.
 *
 * The loaded source (TsFaceSource: the ts_dataset) is immutable once
 * published and reference counted, so a worker that outlives it (the
 * predictor's, TsPredictor) reads it safely.
 *
 * Thumbnails: ts_face_list_request_thumbnail asks for an item's picture
 * (the browser does when a row is bound); two exclusive low-priority
 * threads decode and scale them, newest request first, skipping items that
 * left the screen meanwhile; at most THUMB_CACHE pictures are kept, the
 * least recently loaded off-screen ones are dropped first.
 *
 * Errors: a source that does not load, rows its loader skipped, images
 * that cannot be read (the first MAX_FILE_ERRORS of a source) are emitted
 * as "error" (message naming the file) and kept in the "error" property.
 *
 * Signals: "error" (const char *message); "opened": a source finished
 *   loading (its items are listed) or failed to.
 * Properties (read-only, notify): "loading" (gboolean), "error" (string,
 *   NULL when none since the source was opened).
 */
#ifndef TS_FACE_LIST_H
#define TS_FACE_LIST_H

#include <gio/gio.h>

#include "data/dataset.h"
#include "app/ts-face-item.h"

G_BEGIN_DECLS

/* A loaded source, shared read-only with workers. */
typedef struct TsFaceSource TsFaceSource;
TsFaceSource *ts_face_source_ref(TsFaceSource *s);
void ts_face_source_unref(TsFaceSource *s);
/* transfer: none. */
const ts_dataset *ts_face_source_get_dataset(const TsFaceSource *s);

#define TS_TYPE_FACE_LIST (ts_face_list_get_type())
G_DECLARE_FINAL_TYPE(TsFaceList, ts_face_list, TS, FACE_LIST, GObject)

/* transfer: full. */
TsFaceList *ts_face_list_new(void);

/* Replaces the source.  A path that is neither an image nor a folder of
 * images is reported through "error" and the rest are listed. */
void ts_face_list_open_paths(TsFaceList *l, const char *const *paths, int n);
/* limit > 0 keeps the first `limit` rows. */
void ts_face_list_open_spec(TsFaceList *l, const char *spec, int limit);

/* The items (TsFaceItem).  transfer: none. */
GListModel *ts_face_list_get_items(TsFaceList *l);
/* The listed source, NULL while loading or after a failure.
 * transfer: none (ts_face_source_ref to keep it). */
TsFaceSource *ts_face_list_get_source(TsFaceList *l);
/* Shortcut: its dataset, or NULL.  transfer: none. */
const ts_dataset *ts_face_list_get_dataset(TsFaceList *l);
gboolean ts_face_list_is_loading(TsFaceList *l);
/* transfer: none; NULL when no error. */
const char *ts_face_list_get_error(TsFaceList *l);

/* An item's image could not be read or predicted: its error is set (once)
 * and, for the first MAX_FILE_ERRORS of a source, "error" is emitted. */
void ts_face_list_item_failed(TsFaceList *l, TsFaceItem *item, const char *message);
/* Emits "error" with a message about the source as a whole. */
void ts_face_list_report(TsFaceList *l, const char *message);

/* Decodes the item's thumbnail unless it has one or is queued. */
void ts_face_list_request_thumbnail(TsFaceList *l, TsFaceItem *item);

/* Lowers the calling thread's scheduling priority (Linux: per thread), for
 * background work that must yield to the main loop.  A thread that calls it
 * keeps the lower priority: only threads of our own may call it. */
void ts_lower_thread_priority(void);

G_END_DECLS

#endif
