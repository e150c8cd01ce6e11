/* ts-export-dialog.h - the Export Figure dialog: a composed figure of one
 * or several faces (rows) x chosen panels (columns) to PNG at a chosen
 * DPI, SVG or PDF, with its JSON sidecar (figure.h).
 *
 * The dialog asks the window's TsSession to do the work
 * (ts_session_export_async), so the figure is made in the session's worker
 * with the models and settings the window shows, and the window never
 * freezes.  While it runs the dialog shows its progress; a failure is
 * shown in the dialog (the message names the file or image and the
 * problem) and leaves any existing file as it was; success emits
 * "exported" and closes the dialog.  Cancel stops a running export.
 *
 * Wiring from the window (e.g. the win.export action):
 *   ts_panel shown[TS_PANEL_COUNT];
 *   int n = ts_window_get_panels(w, shown);
 *   TsExportDialog *d = ts_export_dialog_new(GTK_WINDOW(w), session, shown, n,
 *                                            selected_paths, &w->opts);
 *   g_signal_connect(d, "exported", G_CALLBACK(on_exported), w);
 *   gtk_window_present(GTK_WINDOW(d));
 */
#ifndef TS_EXPORT_DIALOG_H
#define TS_EXPORT_DIALOG_H

#include <gtk/gtk.h>

#include "figure/figure.h"
#include "app/ts-session.h"

G_BEGIN_DECLS

#define TS_TYPE_EXPORT_DIALOG (ts_export_dialog_get_type())
G_DECLARE_FINAL_TYPE(TsExportDialog, ts_export_dialog, TS, EXPORT_DIALOG, GtkWindow)

/* parent: the window it is modal and transient for (may be NULL).
 * session: referenced.  shown: the panels checked at first (the ones the
 * window shows; NULL/0: all).  selected: NULL-terminated paths of the
 * images selected in the browser, copied (NULL or empty: only "Current
 * face" can be chosen).  opts: copied; its toggles (points, indices,
 * contours) and translate are used.  transfer: none (GTK owns toplevel
 * windows; the dialog is destroyed when it closes). */
TsExportDialog *ts_export_dialog_new(GtkWindow *parent, TsSession *session, const ts_panel *shown, int n_shown,
                                     const char *const *selected, const ts_draw_opts *opts);

/* The output file; the format follows a .png/.svg/.pdf extension (a name
 * without one gets the chosen format's).  transfer: none. */
void ts_export_dialog_set_path(TsExportDialog *d, const char *path);
const char *ts_export_dialog_get_path(TsExportDialog *d);
/* PNG resolution, 72..1200 (default 300). */
void ts_export_dialog_set_dpi(TsExportDialog *d, double dpi);
double ts_export_dialog_get_dpi(TsExportDialog *d);
void ts_export_dialog_set_panels(TsExportDialog *d, const ts_panel *panels, int n);
/* The checked panels in figure order (the photo first); out: TS_PANEL_COUNT. */
int ts_export_dialog_get_panels(TsExportDialog *d, ts_panel *out);
/* TRUE: one row per selected image; FALSE: the current face only. */
void ts_export_dialog_set_use_selected(TsExportDialog *d, gboolean use_selected);
/* Does what the Export button does. */
void ts_export_dialog_export(TsExportDialog *d);
/* The message shown under the settings ("" when none).  transfer: none. */
const char *ts_export_dialog_get_message(TsExportDialog *d);

/* Signals:
 *   "exported" (const char *path): the figure and PATH.json were written;
 *       the dialog closes right after.
 *   "export-failed" (const char *message): shown in the dialog, which
 *       stays open. */

G_END_DECLS

#endif
