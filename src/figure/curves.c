/* curves.c - learning-curve plots with Cairo; see curves.h. */
#include "figure/curves.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nn/fileio.h"
#include "nn/safetext.h"

/* Colour-blind-safe qualitative palette (Okabe & Ito, 2008). */
static const double palette[8][3] = {
    { 0.000, 0.447, 0.698 }, { 0.835, 0.369, 0.000 }, { 0.000, 0.620, 0.451 }, { 0.800, 0.475, 0.655 },
    { 0.902, 0.624, 0.000 }, { 0.337, 0.706, 0.914 }, { 0.941, 0.894, 0.259 }, { 0.000, 0.000, 0.000 },
};

#define W_PT 520.0
#define H_PT 330.0

static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void text(cairo_t *cr, double x, double y, double size, double ax, const char *s)
{
    /* cairo takes UTF-8 only; an invalid --title would blank the plot */
    char *r = ts_utf8_valid(s) ? NULL : ts_utf8_repair(s);
    if (r) s = r;
    cairo_text_extents_t e;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.x_advance, y);
    cairo_show_text(cr, s);
    free(r);
}

static void draw(cairo_t *cr, const ts_curve_plot *p, const ts_curve_series *sr, int n)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < sr[k].n; i++) {
            x0 = fmin(x0, sr[k].x[i]), x1 = fmax(x1, sr[k].x[i]);
            y0 = fmin(y0, sr[k].y[i]), y1 = fmax(y1, sr[k].y[i]);
        }
    if (p->y_lo < p->y_hi) y0 = p->y_lo, y1 = p->y_hi;
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 0.01;
    double ys = nice_step(y1 - y0, 6), xs = nice_step(x1 - x0, 8);
    if (xs < 1) xs = 1;
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;

    /* frame: left margin for ticks, right for the legend */
    const double L = 52, T = 30, R = W_PT - 150, B = H_PT - 42;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (p->title) {
        /* over the frame when it fits there, else over the page, smaller
         * when it must be, never cut at the edges */
        char *r = ts_utf8_valid(p->title) ? NULL : ts_utf8_repair(p->title);
        cairo_text_extents_t e;
        cairo_set_font_size(cr, 11);
        cairo_text_extents(cr, r ? r : p->title, &e);
        free(r);
        double size = 11, room = W_PT - 16, cx = (L + R) / 2;
        if (e.x_advance > R - L) cx = W_PT / 2;
        if (e.x_advance > room) size = fmax(6, 11 * room / e.x_advance);
        text(cr, cx, 18, size, 0.5, p->title);
    }
    cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
#define PX(v) (L + ((v) - x0) / (x1 - x0) * (R - L))
#define PY(v) (B - ((v) - y0) / (y1 - y0) * (B - T))
    char buf[64];
    cairo_set_line_width(cr, 0.4);
    for (double v = y0; v <= y1 + ys / 2; v += ys) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, L, PY(v));
        cairo_line_to(cr, R, PY(v));
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(buf, sizeof buf, ys < 0.01 ? "%.3f" : ys < 0.1 ? "%.2f" : "%.1f", v);
        text(cr, L - 4, PY(v) + 3, 8, 1, buf);
    }
    for (double v = ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, PX(v), B);
        cairo_line_to(cr, PX(v), B + 3);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", v);
        text(cr, PX(v), B + 12, 8, 0.5, buf);
    }
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_stroke(cr);
    if (p->x_label) text(cr, (L + R) / 2, H_PT - 14, 9, 0.5, p->x_label);
    if (p->y_label) {
        cairo_save(cr);
        cairo_translate(cr, 13, (T + B) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text(cr, 0, 0, 9, 0.5, p->y_label);
        cairo_restore(cr);
    }

    for (int k = 0; k < n; k++) {
        const double *c = palette[sr[k].group % 8];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, 1.3);
        double dash[2] = { 4, 2.5 };
        cairo_set_dash(cr, dash, sr[k].dashed ? 2 : 0, 0);
        cairo_save(cr);
        cairo_rectangle(cr, L, T, R - L, B - T);
        cairo_clip(cr);
        for (int i = 0; i < sr[k].n; i++) {
            if (i == 0) cairo_move_to(cr, PX(sr[k].x[i]), PY(sr[k].y[i]));
            else cairo_line_to(cr, PX(sr[k].x[i]), PY(sr[k].y[i]));
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        for (int i = 0; i < sr[k].n; i++) {
            cairo_arc(cr, PX(sr[k].x[i]), PY(sr[k].y[i]), 1.4, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        if (sr[k].selected >= 0 && sr[k].selected < sr[k].n) {
            cairo_set_line_width(cr, 1.0);
            cairo_arc(cr, PX(sr[k].x[sr[k].selected]), PY(sr[k].y[sr[k].selected]), 3.6, 0, 2 * M_PI);
            cairo_stroke(cr);
        }
        cairo_restore(cr);
        /* legend entry */
        double ly = T + 6 + 12 * k;
        cairo_set_line_width(cr, 1.3);
        cairo_set_dash(cr, dash, sr[k].dashed ? 2 : 0, 0);
        cairo_move_to(cr, R + 10, ly - 3);
        cairo_line_to(cr, R + 30, ly - 3);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text(cr, R + 34, ly, 8, 0, sr[k].name ? sr[k].name : "");
    }
#undef PX
#undef PY
}

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int len)
{
    return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

ts_status ts_curves_export(const char *path, const ts_curve_plot *plot, const ts_curve_series *series, int n)
{
    const char *dot = strrchr(path, '.');
    enum { PNG, SVG, PDF } kind;
    if (dot && !strcasecmp(dot, ".png")) kind = PNG;
    else if (dot && !strcasecmp(dot, ".svg")) kind = SVG;
    else if (dot && !strcasecmp(dot, ".pdf")) kind = PDF;
    else return ts_error(TS_ERR_ARG, "%s: the plot is written as .png, .svg or .pdf", path);
    int points = 0;
    for (int k = 0; k < n; k++) points += series[k].n;
    if (points == 0) return ts_error(TS_ERR_ARG, "%s: nothing to plot (no series has points)", path);
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    const double scale = 150.0 / 72.0;
    cairo_surface_t *s;
    if (kind == PNG) s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(W_PT * scale), (int)ceil(H_PT * scale));
    else if (kind == SVG) s = cairo_svg_surface_create_for_stream(write_stream, af.f, W_PT, H_PT);
    else s = cairo_pdf_surface_create_for_stream(write_stream, af.f, W_PT, H_PT);
    cairo_t *cr = cairo_create(s);
    if (kind == PNG) cairo_scale(cr, scale, scale);
    draw(cr, plot, series, n);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    cairo_status_t cs = kind == PNG ? cairo_surface_write_to_png_stream(s, write_stream, af.f) : CAIRO_STATUS_SUCCESS;
    cairo_surface_finish(s);
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        /* cairo only says "error while writing"; the stream knows why */
        ts_status st = cs == CAIRO_STATUS_WRITE_ERROR
                           ? ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af))
                           : ts_error(TS_ERR_IO, "%s: drawing the plot failed (%s)", path, cairo_status_to_string(cs));
        ts_atomic_abort(&af);
        return st;
    }
    return ts_atomic_commit(&af);
}
