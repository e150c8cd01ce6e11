/* ts-curve.h - a small line plot drawn with Cairo: the training page's live
 * loss and accuracy curves (issue 7, "Training page").
 *
 * A plot holds a few series of (x, y) points, each with a name, a colour
 * and a style, and draws them with axes, "nice" tick marks (1, 2, 5 x 10^k
 * steps), axis labels, a title and a legend.  Labels are given already
 * translated; the plot draws text with Pango so any script shows.
 *
 * Invariants: the x range is fixed by the caller (the run's epochs, so the
 * plot does not jump while it fills) or follows the data; the y range is
 * fixed or follows the data (always including 0 for auto ranges).  Points
 * must be appended in non-decreasing x within a series (they are joined in
 * order).  Non-finite points are dropped on append.  Drawing never calls
 * into the engine: the plot only shows what it was given.
 */
#ifndef TS_CURVE_H
#define TS_CURVE_H

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TS_TYPE_CURVE (ts_curve_get_type())
G_DECLARE_FINAL_TYPE(TsCurve, ts_curve, TS, CURVE, GtkWidget)

typedef enum {
    TS_CURVE_LINE = 0,  /* thin line, no markers (per-step values) */
    TS_CURVE_MARKERS,   /* thick line with a dot at every point (per-epoch values) */
} TsCurveStyle;

/* An empty plot (auto ranges, no series).  transfer: floating. */
GtkWidget *ts_curve_new(void);

/* Texts (copied; NULL clears).  Give them translated. */
void ts_curve_set_title(TsCurve *c, const char *title);
void ts_curve_set_axis_labels(TsCurve *c, const char *x_label, const char *y_label);

/* Fixed ranges; lo >= hi returns the axis to following the data. */
void ts_curve_set_x_range(TsCurve *c, double lo, double hi);
void ts_curve_set_y_range(TsCurve *c, double lo, double hi);

/* With TRUE, the automatic y range of a TS_CURVE_LINE series with 10 points
 * or more spans only its values from the 2nd percentile up to twice its
 * 75th percentile (a few huge first-step losses are outliers);
 * TS_CURVE_MARKERS series count in full.  Points beyond the range are
 * clipped at the frame.  Default FALSE. */
void ts_curve_set_ignore_outliers(TsCurve *c, gboolean ignore);

/* Adds a series and returns its index (0, 1, ...).  name is copied. */
int ts_curve_add_series(TsCurve *c, const char *name, const GdkRGBA *color, TsCurveStyle style);

/* Appends one point to series `series` and redraws. */
void ts_curve_append(TsCurve *c, int series, double x, double y);
/* Replaces the points of a series with n (x, y) pairs from xy (copied). */
void ts_curve_set_points(TsCurve *c, int series, const double *xy, int n);
/* Drops every point of every series (the series stay). */
void ts_curve_clear(TsCurve *c);

int ts_curve_get_n_series(TsCurve *c);
/* Points held by a series (0 for a bad index). */
int ts_curve_get_n_points(TsCurve *c, int series);

G_END_DECLS

#endif
