/* ts-curve.c - see ts-curve.h.
 *
 * Invariants: c->series is an array of Series; each Series' points is a
 * GArray of double pairs (x, y) in append order.  Drawing happens in
 * snapshot() through a Cairo node sized to the widget; text colour follows
 * the theme's foreground colour, grid lines are that colour at low alpha,
 * so the plot reads on light and dark themes alike.
 */
#include "app/ts-curve.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>

typedef struct Series {
    char *name;
    GdkRGBA color;
    TsCurveStyle style;
    GArray *points; /* double pairs */
} Series;

struct _TsCurve {
    GtkWidget parent;
    char *title, *x_label, *y_label;
    double x_lo, x_hi, y_lo, y_hi; /* fixed when lo < hi */
    gboolean robust;               /* auto y range: outliers of thin series ignored */
    GArray *series;                /* Series */
};

G_DEFINE_FINAL_TYPE(TsCurve, ts_curve, GTK_TYPE_WIDGET)

static void series_clear(gpointer p)
{
    Series *s = p;
    g_free(s->name);
    g_array_unref(s->points);
}

/* ---- ticks ---- */

/* A step of 1, 2 or 5 x 10^k that cuts [lo, hi] into about `want` parts. */
static double nice_step(double lo, double hi, int want)
{
    double span = hi - lo;
    if (!(span > 0) || want < 1) return 1;
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Data range of every series along x (axis 0) or y (axis 1).  With
 * c->robust, a thin (per-step) series adds to the y range only its values
 * from the 2nd percentile up to twice its 75th percentile: the first steps
 * of a run can have a loss ten times the rest, and would flatten everything
 * after them (the epoch means, drawn with markers, still count in full). */
static gboolean data_range(TsCurve *c, int axis, double *lo, double *hi)
{
    gboolean any = FALSE;
    for (guint i = 0; i < c->series->len; i++) {
        Series *s = &g_array_index(c->series, Series, i);
        guint n = s->points->len / 2;
        if (c->robust && axis == 1 && s->style == TS_CURVE_LINE && n >= 10) {
            double *v = g_new(double, n);
            for (guint k = 0; k < n; k++) v[k] = g_array_index(s->points, double, 2 * k + 1);
            qsort(v, n, sizeof *v, cmp_double);
            double a = v[n * 2 / 100], b = MIN(v[n - 1], 2 * v[n * 3 / 4]);
            g_free(v);
            if (!any || a < *lo) *lo = a;
            if (!any || b > *hi) *hi = b;
            any = TRUE;
            continue;
        }
        for (guint k = 0; k < n; k++) {
            double v = g_array_index(s->points, double, 2 * k + axis);
            if (!any || v < *lo) *lo = v;
            if (!any || v > *hi) *hi = v;
            any = TRUE;
        }
    }
    return any;
}

static void ranges(TsCurve *c, double *x0, double *x1, double *y0, double *y1)
{
    if (c->x_lo < c->x_hi) {
        *x0 = c->x_lo;
        *x1 = c->x_hi;
    } else if (data_range(c, 0, x0, x1)) {
        if (*x1 <= *x0) *x1 = *x0 + 1;
    } else {
        *x0 = 0;
        *x1 = 1;
    }
    if (c->y_lo < c->y_hi) {
        *y0 = c->y_lo;
        *y1 = c->y_hi;
    } else if (data_range(c, 1, y0, y1)) {
        /* include 0, and round the top up to a tick so the curve never
         * touches the frame */
        if (*y0 > 0) *y0 = 0;
        if (*y1 <= *y0) *y1 = *y0 + 1;
        double st = nice_step(*y0, *y1, 4);
        *y1 = ceil(*y1 / st) * st;
        *y0 = floor(*y0 / st) * st;
    } else {
        *y0 = 0;
        *y1 = 1;
    }
}

/* ---- drawing ---- */

static void set_rgba(cairo_t *cr, const GdkRGBA *c, double alpha)
{
    cairo_set_source_rgba(cr, c->red, c->green, c->blue, c->alpha * alpha);
}

/* Draws `text` with its anchor at (x, y): ax, ay in [0,1] pick the point of
 * the text's box (0,0 top-left; 0.5,0.5 centre). */
static void draw_text(cairo_t *cr, PangoLayout *lay, const char *text, double x, double y, double ax, double ay,
                      double *w_out)
{
    pango_layout_set_text(lay, text, -1);
    int w, h;
    pango_layout_get_pixel_size(lay, &w, &h);
    cairo_move_to(cr, round(x - ax * w), round(y - ay * h));
    pango_cairo_show_layout(cr, lay);
    if (w_out) *w_out = w;
}

static void format_tick(char *buf, size_t len, double v, double step)
{
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6) decimals = 6;
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" */
    g_snprintf(buf, len, "%.*f", decimals, v);
}

static void draw(TsCurve *c, cairo_t *cr, double W, double H)
{
    GdkRGBA fg;
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    gtk_style_context_get_color(gtk_widget_get_style_context(GTK_WIDGET(c)), &fg);
    G_GNUC_END_IGNORE_DEPRECATIONS

    PangoLayout *lay = gtk_widget_create_pango_layout(GTK_WIDGET(c), NULL);
    PangoFontDescription *small = pango_font_description_copy(
        pango_context_get_font_description(pango_layout_get_context(lay)));
    double base = pango_font_description_get_size(small) / (double)PANGO_SCALE;
    if (base <= 0) base = 10;
    pango_font_description_set_size(small, (int)(base * 0.85 * PANGO_SCALE));
    PangoFontDescription *bold = pango_font_description_copy(small);
    pango_font_description_set_weight(bold, PANGO_WEIGHT_BOLD);
    pango_font_description_set_size(bold, (int)(base * PANGO_SCALE));

    /* Legend: one band under the title, entries flowing left to right
     * and wrapping, so it never covers the curves. */
    double fh = base * 1.6;
    double left = 8 + 3.6 * base + (c->y_label ? fh : 0), right = W - 14;
    pango_layout_set_font_description(lay, small);
    int legend_lines = 0;
    double ex[64], ey[64]; /* entry positions, relative to the band */
    {
        double x = 0, line_w = right - left;
        for (guint i = 0; i < c->series->len && i < G_N_ELEMENTS(ex); i++) {
            int w, h;
            pango_layout_set_text(lay, g_array_index(c->series, Series, i).name, -1);
            pango_layout_get_pixel_size(lay, &w, &h);
            double ew = 26 + w + 12;
            if (legend_lines == 0) legend_lines = 1;
            if (x > 0 && x + ew > line_w) {
                x = 0;
                legend_lines++;
            }
            ex[i] = x;
            ey[i] = (legend_lines - 1) * fh;
            x += ew;
        }
    }
    double legend_top = 8 + (c->title ? fh + 4 : 0);
    double top = legend_top + legend_lines * fh + (legend_lines ? 6 : 0) + 4;
    double bottom = H - 8 - fh - (c->x_label ? fh : 0);
    if (right - left < 40 || bottom - top < 30) goto done;

    double x0, x1, y0, y1;
    ranges(c, &x0, &x1, &y0, &y1);
#define PX(v) (left + ((v) - x0) / (x1 - x0) * (right - left))
#define PY(v) (bottom - ((v) - y0) / (y1 - y0) * (bottom - top))

    /* title */
    if (c->title) {
        pango_layout_set_font_description(lay, bold);
        set_rgba(cr, &fg, 0.9);
        draw_text(cr, lay, c->title, left, 6, 0, 0, NULL);
    }
    pango_layout_set_font_description(lay, small);

    /* grid and ticks */
    char buf[32];
    cairo_set_line_width(cr, 1);
    int want_y = (int)CLAMP((bottom - top) / 40, 2, 8);
    double ys = nice_step(y0, y1, want_y);
    for (double v = ceil(y0 / ys - 1e-9) * ys; v <= y1 + ys * 1e-9; v += ys) {
        double py = round(PY(v)) + 0.5;
        set_rgba(cr, &fg, 0.12);
        cairo_move_to(cr, left, py);
        cairo_line_to(cr, right, py);
        cairo_stroke(cr);
        set_rgba(cr, &fg, 0.7);
        format_tick(buf, sizeof buf, v, ys);
        draw_text(cr, lay, buf, left - 6, py, 1, 0.5, NULL);
    }
    int want_x = (int)CLAMP((right - left) / 70, 2, 10);
    double xs = nice_step(x0, x1, want_x);
    if (x1 - x0 >= 1 && xs < 1) xs = 1; /* epochs: whole numbers */
    for (double v = ceil(x0 / xs - 1e-9) * xs; v <= x1 + xs * 1e-9; v += xs) {
        double px = round(PX(v)) + 0.5;
        set_rgba(cr, &fg, 0.12);
        cairo_move_to(cr, px, top);
        cairo_line_to(cr, px, bottom);
        cairo_stroke(cr);
        set_rgba(cr, &fg, 0.7);
        format_tick(buf, sizeof buf, v, xs);
        draw_text(cr, lay, buf, px, bottom + 4, 0.5, 0, NULL);
    }
    /* axes */
    set_rgba(cr, &fg, 0.55);
    cairo_move_to(cr, left + 0.5, top);
    cairo_line_to(cr, left + 0.5, bottom + 0.5);
    cairo_line_to(cr, right, bottom + 0.5);
    cairo_stroke(cr);
    set_rgba(cr, &fg, 0.75);
    if (c->x_label) draw_text(cr, lay, c->x_label, (left + right) / 2, bottom + 4 + fh, 0.5, 0, NULL);
    if (c->y_label) {
        cairo_save(cr);
        cairo_translate(cr, 6, (top + bottom) / 2);
        cairo_rotate(cr, -G_PI / 2);
        draw_text(cr, lay, c->y_label, 0, 0, 0.5, 0, NULL);
        cairo_restore(cr);
    }

    /* series, clipped to the plot area */
    gboolean any = FALSE;
    cairo_save(cr);
    cairo_rectangle(cr, left, top - 4, right - left + 4, bottom - top + 8);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (guint i = 0; i < c->series->len; i++) {
        Series *s = &g_array_index(c->series, Series, i);
        guint n = s->points->len / 2;
        if (!n) continue;
        any = TRUE;
        const double *p = (const double *)s->points->data;
        set_rgba(cr, &s->color, s->style == TS_CURVE_LINE ? 0.55 : 1);
        cairo_set_line_width(cr, s->style == TS_CURVE_LINE ? 1.2 : 2.2);
        for (guint k = 0; k < n; k++) {
            if (k) cairo_line_to(cr, PX(p[2 * k]), PY(p[2 * k + 1]));
            else cairo_move_to(cr, PX(p[0]), PY(p[1]));
        }
        cairo_stroke(cr);
        if (s->style == TS_CURVE_MARKERS) {
            for (guint k = 0; k < n; k++) {
                cairo_arc(cr, PX(p[2 * k]), PY(p[2 * k + 1]), 3.5, 0, 2 * G_PI);
                set_rgba(cr, &s->color, 1);
                cairo_fill(cr);
            }
        }
    }
    cairo_restore(cr);
    if (!any) {
        set_rgba(cr, &fg, 0.45);
        draw_text(cr, lay, _("No data yet"), (left + right) / 2, (top + bottom) / 2, 0.5, 0.5, NULL);
    }

    /* legend */
    for (guint i = 0; i < c->series->len && i < G_N_ELEMENTS(ex); i++) {
        Series *se = &g_array_index(c->series, Series, i);
        double lx = left + ex[i], ly = legend_top + ey[i] + fh / 2;
        set_rgba(cr, &se->color, 1);
        cairo_set_line_width(cr, se->style == TS_CURVE_LINE ? 1.2 : 2.2);
        cairo_move_to(cr, lx, ly);
        cairo_line_to(cr, lx + 20, ly);
        cairo_stroke(cr);
        if (se->style == TS_CURVE_MARKERS) {
            cairo_arc(cr, lx + 10, ly, 3, 0, 2 * G_PI);
            cairo_fill(cr);
        }
        set_rgba(cr, &fg, 0.85);
        draw_text(cr, lay, se->name, lx + 26, ly, 0, 0.5, NULL);
    }
#undef PX
#undef PY
done:
    pango_font_description_free(small);
    pango_font_description_free(bold);
    g_object_unref(lay);
}

static void ts_curve_snapshot(GtkWidget *w, GtkSnapshot *snap)
{
    double W = gtk_widget_get_width(w), H = gtk_widget_get_height(w);
    if (W < 1 || H < 1) return;
    cairo_t *cr = gtk_snapshot_append_cairo(snap, &GRAPHENE_RECT_INIT(0, 0, W, H));
    draw(TS_CURVE(w), cr, W, H);
    cairo_destroy(cr);
}

static void ts_curve_measure(GtkWidget *w, GtkOrientation o, int for_size, int *min, int *nat, int *min_base,
                             int *nat_base)
{
    (void)w;
    (void)for_size;
    *min = o == GTK_ORIENTATION_HORIZONTAL ? 220 : 160;
    *nat = o == GTK_ORIENTATION_HORIZONTAL ? 420 : 220;
    *min_base = *nat_base = -1;
}

/* ---- public ---- */

GtkWidget *ts_curve_new(void) { return g_object_new(TS_TYPE_CURVE, NULL); }

static void set_str(char **f, const char *v)
{
    g_free(*f);
    *f = v && *v ? g_strdup(v) : NULL;
}

void ts_curve_set_title(TsCurve *c, const char *title)
{
    g_return_if_fail(TS_IS_CURVE(c));
    set_str(&c->title, title);
    gtk_accessible_update_property(GTK_ACCESSIBLE(c), GTK_ACCESSIBLE_PROPERTY_LABEL, title ? title : "", -1);
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_set_axis_labels(TsCurve *c, const char *x_label, const char *y_label)
{
    g_return_if_fail(TS_IS_CURVE(c));
    set_str(&c->x_label, x_label);
    set_str(&c->y_label, y_label);
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_set_x_range(TsCurve *c, double lo, double hi)
{
    g_return_if_fail(TS_IS_CURVE(c));
    c->x_lo = lo;
    c->x_hi = hi;
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_set_y_range(TsCurve *c, double lo, double hi)
{
    g_return_if_fail(TS_IS_CURVE(c));
    c->y_lo = lo;
    c->y_hi = hi;
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_set_ignore_outliers(TsCurve *c, gboolean ignore)
{
    g_return_if_fail(TS_IS_CURVE(c));
    c->robust = ignore;
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

int ts_curve_add_series(TsCurve *c, const char *name, const GdkRGBA *color, TsCurveStyle style)
{
    g_return_val_if_fail(TS_IS_CURVE(c) && color, -1);
    Series s = { g_strdup(name ? name : ""), *color, style, g_array_new(FALSE, FALSE, sizeof(double)) };
    g_array_append_val(c->series, s);
    gtk_widget_queue_draw(GTK_WIDGET(c));
    return (int)c->series->len - 1;
}

void ts_curve_append(TsCurve *c, int series, double x, double y)
{
    g_return_if_fail(TS_IS_CURVE(c));
    if (series < 0 || (guint)series >= c->series->len || !isfinite(x) || !isfinite(y)) return;
    double p[2] = { x, y };
    g_array_append_vals(g_array_index(c->series, Series, series).points, p, 2);
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_set_points(TsCurve *c, int series, const double *xy, int n)
{
    g_return_if_fail(TS_IS_CURVE(c));
    if (series < 0 || (guint)series >= c->series->len) return;
    GArray *a = g_array_index(c->series, Series, series).points;
    g_array_set_size(a, 0);
    for (int k = 0; k < n; k++)
        if (isfinite(xy[2 * k]) && isfinite(xy[2 * k + 1])) g_array_append_vals(a, xy + 2 * k, 2);
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

void ts_curve_clear(TsCurve *c)
{
    g_return_if_fail(TS_IS_CURVE(c));
    for (guint i = 0; i < c->series->len; i++) g_array_set_size(g_array_index(c->series, Series, i).points, 0);
    gtk_widget_queue_draw(GTK_WIDGET(c));
}

int ts_curve_get_n_series(TsCurve *c)
{
    g_return_val_if_fail(TS_IS_CURVE(c), 0);
    return (int)c->series->len;
}

int ts_curve_get_n_points(TsCurve *c, int series)
{
    g_return_val_if_fail(TS_IS_CURVE(c), 0);
    if (series < 0 || (guint)series >= c->series->len) return 0;
    return (int)(g_array_index(c->series, Series, series).points->len / 2);
}

/* ---- life cycle ---- */

static void ts_curve_finalize(GObject *o)
{
    TsCurve *c = TS_CURVE(o);
    g_free(c->title);
    g_free(c->x_label);
    g_free(c->y_label);
    g_array_unref(c->series);
    G_OBJECT_CLASS(ts_curve_parent_class)->finalize(o);
}

static void ts_curve_class_init(TsCurveClass *k)
{
    G_OBJECT_CLASS(k)->finalize = ts_curve_finalize;
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(k);
    wc->snapshot = ts_curve_snapshot;
    wc->measure = ts_curve_measure;
    gtk_widget_class_set_css_name(wc, "tscurve");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_IMG);
}

static void ts_curve_init(TsCurve *c)
{
    c->series = g_array_new(FALSE, FALSE, sizeof(Series));
    g_array_set_clear_func(c->series, series_clear);
}
