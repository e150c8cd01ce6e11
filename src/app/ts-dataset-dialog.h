/* ts-dataset-dialog.h - "Open Dataset…": a dataset spec (celeba:DIR,
 * utkface:DIR, adience:DIR, csv:FILE or a folder; data/dataset.h) and a
 * row limit.  Layout in ui/ts-dataset-dialog.ui.
 *
 * Signals: "open" (const char *spec, int limit): the user pressed Open (or
 *   Enter in the spec) with a spec that is not empty; the dialog closes. */
#ifndef TS_DATASET_DIALOG_H
#define TS_DATASET_DIALOG_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TS_TYPE_DATASET_DIALOG (ts_dataset_dialog_get_type())
G_DECLARE_FINAL_TYPE(TsDatasetDialog, ts_dataset_dialog, TS, DATASET_DIALOG, GtkWindow)

/* A dialog over `parent` with `spec` (may be NULL) filled in.
 * transfer: none (a toplevel window, destroyed when it closes). */
TsDatasetDialog *ts_dataset_dialog_new(GtkWindow *parent, const char *spec);

G_END_DECLS

#endif
