/* ts-data-preview.h - what a dataset spec holds, read in the background (a
 * model object, no widget): the training form's trait list and counts.
 *
 * ts_data_preview_set_spec reads the spec (ts_dataset_load, whose labels
 * files can be large) in a GTask, after `delay_ms` of quiet so typing a
 * path does not start a read per key.  A newer spec cancels an older read
 * and what it brings is dropped.
 *
 * Properties (read-only, notify): "loading" (gboolean), "error" (string:
 *   why the spec could not be read, NULL otherwise), "n-rows" (int).
 * The trait names are a GListModel of GtkStringObject
 * (ts_data_preview_get_traits), replaced as a whole when a read finishes.
 * Signals: "ready": a read finished (or failed, or the spec was emptied).
 */
#ifndef TS_DATA_PREVIEW_H
#define TS_DATA_PREVIEW_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TS_TYPE_DATA_PREVIEW (ts_data_preview_get_type())
G_DECLARE_FINAL_TYPE(TsDataPreview, ts_data_preview, TS, DATA_PREVIEW, GObject)

/* transfer: full. */
TsDataPreview *ts_data_preview_new(void);

/* Reads `spec` (copied; "" empties the preview at once) after delay_ms. */
void ts_data_preview_set_spec(TsDataPreview *p, const char *spec, guint delay_ms);

/* The traits of the last spec read.  transfer: none. */
GListModel *ts_data_preview_get_traits(TsDataPreview *p);
/* "female 4812, male 5188 (3 without a label)" for trait t, or NULL.
 * transfer: none. */
const char *ts_data_preview_get_counts(TsDataPreview *p, guint t);
int ts_data_preview_get_n_rows(TsDataPreview *p);
/* transfer: none; NULL when the last spec was read. */
const char *ts_data_preview_get_error(TsDataPreview *p);
gboolean ts_data_preview_is_loading(TsDataPreview *p);

G_END_DECLS

#endif
