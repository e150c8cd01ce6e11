/* curves.h - line plots of training runs for papers: validation accuracy
 * (or any per-epoch figure) against the epoch, one line per run, drawn
 * with Cairo into PNG, SVG or PDF (docs/results.md's learning curves,
 * `traitscope-cli curves`).
 *
 * Layout: a frame with "nice" ticks (1, 2, 5 x 10^k steps), the axis
 * labels, a title, and a legend to the right of the frame.  Series that
 * share a colour group (e.g. one trait's baseline and LACNN) share a
 * colour; dashed lines mark the second style (baselines).  A dot marks
 * each point and a ring the point a series marks as selected (the epoch
 * model selection kept).  Cairo only: the CLI links this without GTK.
 */
#ifndef TS_CURVES_H
#define TS_CURVES_H

#include <stdbool.h>

#include "nn/status.h"

typedef struct ts_curve_series {
    const char *name;   /* legend text */
    int group;          /* colour group, 0.. (wraps over the palette) */
    bool dashed;
    int n;
    const double *x, *y;
    int selected;       /* index of the ringed point; -1 none */
} ts_curve_series;

typedef struct ts_curve_plot {
    const char *title, *x_label, *y_label;
    double y_lo, y_hi;  /* fixed y range when y_lo < y_hi; else from the data */
} ts_curve_plot;

/* Draws the plot to `path` (.png at 150 dpi, .svg, .pdf by extension),
 * atomically.  TS_ERR_ARG for an unknown extension or no points; I/O
 * errors name the file. */
ts_status ts_curves_export(const char *path, const ts_curve_plot *plot, const ts_curve_series *series, int n);

#endif
