/* ts-window.h - the explorer's main window: image browser on the left,
 * the panels of the chosen face for two models on the right. */
#ifndef TS_WINDOW_H
#define TS_WINDOW_H

#include <gtk/gtk.h>

#include "figure/figure.h"
#include "app/ts-session.h"

G_BEGIN_DECLS

#define TS_TYPE_WINDOW (ts_window_get_type())
G_DECLARE_FINAL_TYPE(TsWindow, ts_window, TS, WINDOW, GtkApplicationWindow)

TsWindow *ts_window_new(GtkApplication *app);
/* --device: where the explorer's and the browser's networks run, and the
 * training page's initial choice (ts_session_set_device).  The status line
 * names the device the last inspection ran on. */
void ts_window_set_device(TsWindow *w, ts_device device);
TsSession *ts_window_get_session(TsWindow *w);
/* The window's parts, for tests and accessibility tools.  transfer: none.
 * The panel of a kind exists whether it is shown or not; the map view
 * (the zoomable GL view a double-click on A(x,y) or a heatmap opens) is
 * NULL until first opened. */
GtkWidget *ts_window_get_panel(TsWindow *w, ts_panel kind);
GtkWidget *ts_window_get_browser(TsWindow *w);
GtkWidget *ts_window_get_train_page(TsWindow *w);
GtkWidget *ts_window_get_filter_view(TsWindow *w);
GtkWidget *ts_window_get_map_view(TsWindow *w);
GtkWidget *ts_window_get_rules_editor(TsWindow *w);
/* The LRP target control (a GtkDropDown over the session's targets,
 * ts_session_get_target_labels / _values). */
GtkWidget *ts_window_get_target_control(TsWindow *w);
/* Adds images (folders are expanded to their PNG/JPEG files) and shows the
 * first one added. */
void ts_window_open(TsWindow *w, GFile **files, int n);
/* Opens a dataset spec (data/dataset.h; limit > 0: its first rows). */
void ts_window_open_spec(TsWindow *w, const char *spec, int limit);
/* Command-line arguments: one dataset spec, or images and folders. */
void ts_window_open_args(TsWindow *w, char **args);
/* The file of model i (0 = A) loaded in the last run, if it still exists;
 * NULL otherwise.  transfer: full. */
char *ts_window_get_remembered_model(TsWindow *w, int i);
/* Loads model i (0 = A, 1 = B). */
void ts_window_load_model(TsWindow *w, int i, const char *path);
/* Writes the panels shown of the current face as a figure (.png/.svg/.pdf)
 * and its JSON sidecar, in the session's worker; the callback runs on the
 * main thread.  The error names the file (or says there is no face yet). */
void ts_window_export_async(TsWindow *w, const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
gboolean ts_window_export_finish(TsWindow *w, GAsyncResult *result, GError **error);
/* The panels shown (remembered between runs in the state file). */
void ts_window_set_panels(TsWindow *w, const ts_panel *panels, int n);
int ts_window_get_panels(TsWindow *w, ts_panel *out); /* out: TS_PANEL_COUNT */
/* Shows page "explore" or "train" (other names are ignored). */
void ts_window_show_page(TsWindow *w, const char *page);
/* Renders the window as it is on screen to a PNG file. */
gboolean ts_window_screenshot(TsWindow *w, const char *path, GError **error);

G_END_DECLS

#endif
