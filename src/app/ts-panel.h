/* ts-panel.h - one panel of the explorer (landmarks, A(x,y), activations,
 * relevance, predictions, tables): draws the session's current result with
 * figure.h's ts_figure_draw_panel, the same code that exports figures.
 * Emits "hover" (x, y in crop pixels; -1, -1 when the pointer leaves) so
 * the window can move the crosshair in every panel, and "pressed" (int
 * n_press, double x, double y in widget pixels) for clicks (pick a face,
 * enlarge an activation map, open a map in the zoomable view). */
#ifndef TS_PANEL_H
#define TS_PANEL_H

#include <gtk/gtk.h>

#include "figure/figure.h"
#include "app/ts-session.h"

G_BEGIN_DECLS

#define TS_TYPE_PANEL (ts_panel_widget_get_type())
G_DECLARE_FINAL_TYPE(TsPanelWidget, ts_panel_widget, TS, PANEL_WIDGET, GtkWidget)

/* opts: borrowed, shared by all panels of a window (must outlive them). */
GtkWidget *ts_panel_widget_new(TsSession *session, ts_panel kind, const ts_draw_opts *opts);
ts_panel ts_panel_widget_get_kind(TsPanelWidget *p);

G_END_DECLS

#endif
