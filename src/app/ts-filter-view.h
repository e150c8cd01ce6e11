/* ts-filter-view.h - one activation map enlarged, beside the filter that
 * made it (issue 7, panel 3: "click a map to enlarge it and see that
 * filter").
 *
 * Shows map k of the inspected layer (conv1 by default) at its full
 * resolution, nearest-neighbour, coloured with the same viridis map and
 * the same range as the activation grid (the map's own min..max, or the
 * grid's shared range when the grid was made with shared_norm), with a
 * colour bar; and filter k's weights: input channels 0..2 as one RGB tile
 * (scaled symmetrically around 0, grey = 0, as ts_act_filters_rgb and the
 * filter plots of Krizhevsky et al. 2012 / Fig. 5 of the LACNN paper), and
 * for a 4-channel LACNN model the A(x,y) channel's weights as a separate
 * square in the diverging map (white = 0).  Text: layer, map index, kernel
 * size, stride, input channels, the map's min / max / mean, the bias.
 *
 * Invariant: the view copies what it shows out of the ts_inspect given to
 * ts_filter_view_show; it keeps no pointer into the result, which the
 * session may replace at any time.  Nothing here calls the engine.
 */
#ifndef TS_FILTER_VIEW_H
#define TS_FILTER_VIEW_H

#include <gtk/gtk.h>

#include "explain/inspect.h"

G_BEGIN_DECLS

#define TS_TYPE_FILTER_VIEW (ts_filter_view_get_type())
G_DECLARE_FINAL_TYPE(TsFilterView, ts_filter_view, TS, FILTER_VIEW, GtkWidget)

/* An empty view (shows "no map chosen").  Embeddable anywhere.
 * transfer: floating, as every new widget. */
GtkWidget *ts_filter_view_new(void);

/* Shows map `map` of model `model` (0 = A, 1 = B) of r, copying it and the
 * layer's filter `map`.  Returns FALSE (and shows why) when the model is
 * absent or failed, or the map index is out of range. */
gboolean ts_filter_view_show(TsFilterView *view, const ts_inspect *r, int model, int map);

/* Optional display name of the model ("baseline", "LACNN") for the title;
 * NULL: "model A" / "model B".  Copied; applies to the next show. */
void ts_filter_view_set_model_name(TsFilterView *view, const char *name);

/* Presents the view in a GtkPopover pointing at (x, y) of `parent` (widget
 * coordinates, e.g. a click in a panel).  The popover is made on first use
 * and kept (re-parented when `parent` changes); it is unparented when its
 * parent is destroyed.  Call ts_filter_view_show first.
 * transfer: none (the popover belongs to the view's parent). */
GtkPopover *ts_filter_view_popup_at(TsFilterView *view, GtkWidget *parent, double x, double y);

/* What is shown, for tests and for export.  transfer: none; valid until the
 * next show.  map: (h, w) raw values, NULL when nothing is shown.  filter:
 * (in_c, kh, kw) weights of the filter, NULL when the layer is no conv2d. */
const float *ts_filter_view_get_map(TsFilterView *view, int *h, int *w);
const float *ts_filter_view_get_filter(TsFilterView *view, int *in_c, int *kh, int *kw);
/* The map's colour range (what viridis 0 and 1 are) and its statistics. */
void ts_filter_view_get_range(TsFilterView *view, float *lo, float *hi);
void ts_filter_view_get_stats(TsFilterView *view, float *min, float *max, double *mean);
/* The model and map shown; -1 when none. */
int ts_filter_view_get_model(TsFilterView *view);
int ts_filter_view_get_map_index(TsFilterView *view);

G_END_DECLS

#endif
