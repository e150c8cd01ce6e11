/* figure.c - Cairo drawing of the explorer's panels and figure export; see
 * figure.h.  Units are Cairo user units: points in SVG/PDF, device pixels
 * scaled by dpi/72 in PNG, widget pixels on screen. */
#include "figure/figure.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/colormap.h"
#include "face/align.h"
#include "face/amap.h"
#include "nn/fileio.h"
#include "nn/safetext.h"
#include "ts-config.h"

/* N_() marks the titles for translation; the app translates them, exports
 * of the CLI stay in English. */
#define N_(s) s
#define TR(o, s) ((o)->translate ? (o)->translate(s) : (s))

static const struct { const char *name, *title; } panels[TS_PANEL_COUNT] = {
    [TS_PANEL_FACE] = { "face", N_("Landmarks") },
    [TS_PANEL_AMAP] = { "amap", N_("A(x,y) nearest landmark") },
    [TS_PANEL_ACT_A] = { "act-a", N_("Activations A") },
    [TS_PANEL_ACT_B] = { "act-b", N_("Activations B") },
    [TS_PANEL_LRP_A] = { "lrp-a", N_("Relevance A") },
    [TS_PANEL_LRP_B] = { "lrp-b", N_("Relevance B") },
    [TS_PANEL_LRP_DIFF] = { "lrp-diff", N_("Relevance B - A") },
    [TS_PANEL_PRED] = { "pred", N_("Predictions") },
    [TS_PANEL_TABLE] = { "table", N_("Relevance by facial part") },
    [TS_PANEL_PHOTO] = { "photo", N_("Photo") },
};

const char *ts_panel_name(ts_panel p) { return p < TS_PANEL_COUNT ? panels[p].name : "?"; }
const char *ts_panel_title(ts_panel p) { return p < TS_PANEL_COUNT ? panels[p].title : "?"; }

bool ts_panel_parse(const char *s, ts_panel *out)
{
    for (int p = 0; p < TS_PANEL_COUNT; p++)
        if (!strcmp(s, panels[p].name)) {
            *out = (ts_panel)p;
            return true;
        }
    return false;
}

int ts_panel_list_parse(const char *s, ts_panel *out, int max)
{
    if (!strcmp(s, "all")) {
        int n = max < TS_PANEL_COUNT ? max : TS_PANEL_COUNT;
        for (int i = 0; i < n; i++) out[i] = (ts_panel)i;
        return n;
    }
    char *copy = strdup(s), *save = NULL;
    int n = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max || !ts_panel_parse(t, &out[n])) {
            ts_error(TS_ERR_ARG, "panel '%s' unknown (panels: face amap act-a act-b lrp-a lrp-b lrp-diff pred table photo, or all)", t);
            free(copy);
            return -1;
        }
        n++;
    }
    free(copy);
    if (n == 0) ts_error(TS_ERR_ARG, "no panels given");
    return n ? n : -1;
}

void ts_draw_opts_init(ts_draw_opts *o)
{
    memset(o, 0, sizeof *o);
    o->points = true;
    o->cross_x = o->cross_y = -1;
    o->model_name[0] = "baseline";
    o->model_name[1] = "LACNN";
}

/* ---- rasters ---- */

static cairo_surface_t *surface_from_image(const ts_image *img)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, img->width, img->height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
    cairo_surface_flush(s);
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < img->height; y++) {
        uint32_t *row = (uint32_t *)(dst + (size_t)y * stride);
        const uint8_t *src = img->data + (size_t)y * img->stride;
        for (int x = 0; x < img->width; x++)
            row[x] = (uint32_t)src[3 * x] << 16 | (uint32_t)src[3 * x + 1] << 8 | src[3 * x + 2];
    }
    cairo_surface_mark_dirty(s);
    return s;
}

/* Draws img scaled into the square (x,y,side,side), keeping its aspect. */
static void draw_image(cairo_t *cr, const ts_image *img, double x, double y, double side)
{
    if (!img->data) return;
    cairo_surface_t *s = surface_from_image(img);
    double sc = side / fmax(img->width, img->height);
    cairo_save(cr);
    cairo_translate(cr, x + (side - img->width * sc) / 2, y + (side - img->height * sc) / 2);
    cairo_scale(cr, sc, sc);
    cairo_set_source_surface(cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, img->width, img->height);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(s);
}

/* ---- layout: a title band, then a square picture area ---- */

typedef struct layout { double title_h, px, py, side; } layout;

static layout layout_for(double w, double h)
{
    layout l;
    l.title_h = fmax(12.0, fmin(w, h) * 0.09);
    double avail_h = h - l.title_h;
    l.side = fmax(1.0, fmin(w, avail_h));
    l.px = (w - l.side) / 2;
    l.py = l.title_h;
    return l;
}

static void set_fg(cairo_t *cr, const ts_draw_opts *o, double alpha)
{
    if (o->dark) cairo_set_source_rgba(cr, 0.92, 0.92, 0.92, alpha);
    else cairo_set_source_rgba(cr, 0.1, 0.1, 0.1, alpha);
}

/* Cairo's text calls take UTF-8 only: one invalid byte (a file name in an
 * error message, a --names value) would put the context in an error state
 * and blank the rest of the figure.  Such text is drawn repaired. */
static void show_text(cairo_t *cr, const char *s)
{
    if (ts_utf8_valid(s)) {
        cairo_show_text(cr, s);
        return;
    }
    char *r = ts_utf8_repair(s);
    if (r) cairo_show_text(cr, r);
    free(r);
}

static void draw_title(cairo_t *cr, const char *text, const layout *l, double w, const ts_draw_opts *o)
{
    char *t = ts_utf8_valid(text) ? NULL : ts_utf8_repair(text);
    if (t) text = t;
    cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, l->title_h * 0.62);
    cairo_text_extents_t te;
    cairo_text_extents(cr, text, &te);
    set_fg(cr, o, 1);
    cairo_move_to(cr, fmax(0, (w - te.x_advance) / 2), l->title_h * 0.72);
    show_text(cr, text);
    free(t);
}

static void text_at(cairo_t *cr, double x, double y, double size, const char *s)
{
    cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    show_text(cr, s);
}

/* Crop pixel -> panel coordinates for a crop drawn in l's square. */
static void crop_to_panel(const ts_inspect *r, const layout *l, double cx, double cy, double *x, double *y)
{
    double sc = l->side / fmax(r->crop.width, r->crop.height);
    double ox = l->px + (l->side - r->crop.width * sc) / 2, oy = l->py + (l->side - r->crop.height * sc) / 2;
    /* pixel centres at integers: pixel i covers [i, i+1) on the canvas */
    *x = ox + (cx + 0.5) * sc;
    *y = oy + (cy + 0.5) * sc;
}

/* the photo panel's geometry, defined with its drawing below */
typedef struct photo_geom { double ox, oy, sc; } photo_geom;
static bool photo_geom_for(const ts_inspect *r, double w, double h, photo_geom *g);
static bool photo_to_crop(const ts_inspect *r, ts_affine *xf);

bool ts_figure_panel_to_crop(const ts_inspect *r, ts_panel p, double w, double h, double px, double py,
                             double *cx, double *cy)
{
    if (!r->crop.data) return false;
    if (p == TS_PANEL_PHOTO) {
        photo_geom g;
        ts_affine xf;
        if (!photo_geom_for(r, w, h, &g) || !photo_to_crop(r, &xf)) return false;
        double x = (px - g.ox) / g.sc - 0.5, y = (py - g.oy) / g.sc - 0.5;
        if (x < -0.5 || y < -0.5 || x >= r->photo.width - 0.5 || y >= r->photo.height - 0.5) return false;
        ts_affine_apply(&xf, x, y, cx, cy);
        return *cx >= -0.5 && *cy >= -0.5 && *cx < r->crop.width - 0.5 && *cy < r->crop.height - 0.5;
    }
    layout l = layout_for(w, h);
    double sc = l.side / fmax(r->crop.width, r->crop.height);
    double ox = l.px + (l.side - r->crop.width * sc) / 2, oy = l.py + (l.side - r->crop.height * sc) / 2;
    *cx = (px - ox) / sc - 0.5;
    *cy = (py - oy) / sc - 0.5;
    return *cx >= -0.5 && *cy >= -0.5 && *cx < r->crop.width - 0.5 && *cy < r->crop.height - 0.5;
}

int ts_figure_act_map_at(const ts_inspect *r, ts_panel p, double w, double h, double px, double py)
{
    if (p != TS_PANEL_ACT_A && p != TS_PANEL_ACT_B) return -1;
    const ts_inspect_model *m = &r->model[p == TS_PANEL_ACT_B ? 1 : 0];
    const ts_act_grid *g = &m->act;
    if (!m->present || m->error[0] || !g->v || g->cols < 1 || g->cell_w < 1 || g->cell_h < 1) return -1;
    /* the same geometry as draw_image() gives the grid in the panel */
    layout l = layout_for(w, h);
    double sc = l.side / fmax(g->w, g->h);
    double gx = (px - (l.px + (l.side - g->w * sc) / 2)) / sc;
    double gy = (py - (l.py + (l.side - g->h * sc) / 2)) / sc;
    if (!(gx >= 0 && gy >= 0 && gx < g->w && gy < g->h)) return -1;
    /* gaps and empty cells are NaN in the grid; map pixels never are */
    if (isnan(g->v[(size_t)gy * g->w + (size_t)gx])) return -1;
    int gap = g->cols > 1 ? (g->w - g->cols * g->cell_w) / (g->cols - 1) : 0;
    int col = (int)gx / (g->cell_w + gap), row = (int)gy / (g->cell_h + gap);
    return row * g->cols + col;
}

/* The iBUG 68-point contours: jaw, brows, nose bridge, lower nose, eyes
 * (closed), outer and inner lips (closed). */
static const struct { int a, b; bool closed; } contours[] = {
    { 0, 16, false }, { 17, 21, false }, { 22, 26, false }, { 27, 30, false }, { 31, 35, false },
    { 36, 41, true }, { 42, 47, true },  { 48, 59, true },  { 60, 67, true },
};

static void draw_landmarks(cairo_t *cr, const ts_inspect *r, const layout *l, const ts_draw_opts *o)
{
    if (r->pts.n == 0) return;
    double rad = fmax(1.0, l->side / 160.0);
    if (o->contours && r->pts.n == TS_LANDMARKS) {
        cairo_set_source_rgba(cr, 0.2, 0.9, 1.0, 0.85);
        cairo_set_line_width(cr, rad * 0.6);
        for (size_t c = 0; c < sizeof contours / sizeof contours[0]; c++) {
            for (int i = contours[c].a; i <= contours[c].b; i++) {
                double x, y;
                crop_to_panel(r, l, r->pts.x[i], r->pts.y[i], &x, &y);
                if (i == contours[c].a) cairo_move_to(cr, x, y);
                else cairo_line_to(cr, x, y);
            }
            if (contours[c].closed) cairo_close_path(cr);
            cairo_stroke(cr);
        }
    }
    if (o->points) {
        for (int i = 0; i < r->pts.n; i++) {
            double x, y;
            crop_to_panel(r, l, r->pts.x[i], r->pts.y[i], &x, &y);
            cairo_arc(cr, x, y, rad, 0, 2 * M_PI);
            cairo_set_source_rgb(cr, 1.0, 0.85, 0.1);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            cairo_set_line_width(cr, rad * 0.35);
            cairo_stroke(cr);
        }
    }
    if (o->indices) {
        char num[8];
        for (int i = 0; i < r->pts.n; i++) {
            double x, y;
            crop_to_panel(r, l, r->pts.x[i], r->pts.y[i], &x, &y);
            snprintf(num, sizeof num, "%d", i);
            cairo_set_source_rgb(cr, 1, 1, 1);
            text_at(cr, x + rad * 1.2, y - rad * 1.2, fmax(5.0, l->side / 45.0), num);
        }
    }
}

static void draw_cross(cairo_t *cr, const ts_inspect *r, const layout *l, const ts_draw_opts *o)
{
    if (o->cross_x < 0 || o->cross_y < 0) return;
    double x, y;
    crop_to_panel(r, l, o->cross_x, o->cross_y, &x, &y);
    cairo_save(cr);
    cairo_rectangle(cr, l->px, l->py, l->side, l->side);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 0, 1, 0.4, 0.9);
    cairo_set_line_width(cr, 1.0);
    cairo_move_to(cr, x, l->py);
    cairo_line_to(cr, x, l->py + l->side);
    cairo_move_to(cr, l->px, y);
    cairo_line_to(cr, l->px + l->side, y);
    cairo_stroke(cr);
    cairo_restore(cr);
}

static void draw_message(cairo_t *cr, const layout *l, const char *msg, const ts_draw_opts *o)
{
    set_fg(cr, o, 0.7);
    double size = fmax(6.0, l->side / 22.0);
    /* wrap crudely at ~40 characters per line */
    char line[64];
    int y = 0;
    for (const char *p = msg; *p && y < 12;) {
        int n = (int)strlen(p) > 40 ? 40 : (int)strlen(p);
        memcpy(line, p, (size_t)n);
        line[n] = '\0';
        text_at(cr, l->px + 4, l->py + size * (1.5 + 1.3 * y++), size, line);
        p += n;
    }
}

float ts_figure_lrp_scale(const ts_inspect *r)
{
    float m = 0;
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        const ts_inspect_model *md = &r->model[i];
        if (!md->heat) continue;
        for (int k = 0; k < md->in_size * md->in_size; k++) m = fmaxf(m, fabsf(md->heat[k]));
    }
    return m > 0 ? m : 1;
}

/* A vertical colour bar of the diverging map with its scale at the right
 * edge of the picture square. */
static void draw_colorbar(cairo_t *cr, const layout *l, float scale, const ts_draw_opts *o)
{
    double bw = l->side * 0.05, bh = l->side * 0.8, bx = l->px + l->side + bw * 0.4, by = l->py + l->side * 0.1;
    int steps = 64;
    for (int i = 0; i < steps; i++) {
        uint8_t rgb[3];
        ts_cmap_diverging(1.0f - 2.0f * (i + 0.5f) / steps, rgb);
        cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
        cairo_rectangle(cr, bx, by + bh * i / steps, bw, bh / steps + 0.5);
        cairo_fill(cr);
    }
    set_fg(cr, o, 1);
    cairo_set_line_width(cr, 0.5);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_stroke(cr);
    char s[32];
    double fs = fmax(5.0, l->side / 26.0);
    snprintf(s, sizeof s, "+%.2g", scale);
    text_at(cr, bx - bw * 0.2, by - fs * 0.3, fs, s);
    snprintf(s, sizeof s, "-%.2g", scale);
    text_at(cr, bx - bw * 0.2, by + bh + fs, fs, s);
}

static void draw_heat(cairo_t *cr, const ts_inspect *r, const float *heat, int S, float scale, const layout *l0,
                      const ts_draw_opts *o)
{
    /* leave room for the colour bar on the right */
    layout l = *l0;
    l.side *= 0.86;
    ts_image img = { 0 };
    if (ts_colormap_relevance(heat, S, S, scale, &img, NULL) == TS_OK) {
        draw_image(cr, &img, l.px, l.py, l.side);
        ts_image_clear(&img);
    }
    /* faint landmarks over the heatmap: where on the face the relevance is */
    if (o->points && r->pts.n) {
        double sc = l.side / fmax(r->crop.width, r->crop.height);
        for (int i = 0; i < r->pts.n; i++) {
            double x, y;
            crop_to_panel(r, &l, r->pts.x[i], r->pts.y[i], &x, &y);
            cairo_arc(cr, x, y, fmax(0.6, sc * 0.6), 0, 2 * M_PI);
            cairo_set_source_rgba(cr, 0.2, 0.2, 0.2, 0.6);
            cairo_fill(cr);
        }
    }
    draw_cross(cr, r, &l, o);
    draw_colorbar(cr, &l, scale, o);
}

static void draw_pred(cairo_t *cr, const ts_inspect *r, const layout *l, const ts_draw_opts *o)
{
    /* every row in the panel: the font shrinks for two multi-label nets'
     * fourteen rows (in font sizes: the lines' heights below) */
    double lines = 1.4;
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        if (r->model[i].present) lines += 1.4 + (r->model[i].error[0] ? 1.6 : 1.2 * r->model[i].n_rows + 0.6);
    double fs = fmax(6.0, fmin(l->side / 18.0, l->side / lines)), y = l->py + fs * 1.4;
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        const ts_inspect_model *m = &r->model[i];
        if (!m->present) continue;
        set_fg(cr, o, 1);
        char s[160];
        snprintf(s, sizeof s, "%s", o->model_name[i] ? o->model_name[i] : (i ? "B" : "A"));
        cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, fs);
        cairo_move_to(cr, l->px, y);
        show_text(cr, s);
        y += fs * 1.4;
        if (m->error[0]) {
            text_at(cr, l->px, y, fs * 0.8, m->error);
            y += fs * 1.6;
            continue;
        }
        /* One row per class, or per trait of a multi-label model
         * (inspect.h); the marked row is the prediction, or the trait the
         * heatmap explains. */
        double bar_x = l->px + l->side * (m->multilabel ? 0.55 : 0.42), bar_w = l->side * (m->multilabel ? 0.3 : 0.45);
        for (int k = 0; k < m->n_rows && y < l->py + l->side; k++) {
            char label[112];
            set_fg(cr, o, 1);
            text_at(cr, l->px, y, fs * 0.85, m->rows[k].label);
            cairo_rectangle(cr, bar_x, y - fs * 0.75, bar_w * m->rows[k].p, fs * 0.8);
            if (m->rows[k].mark) cairo_set_source_rgb(cr, 0.85, 0.35, 0.2);
            else cairo_set_source_rgb(cr, 0.5, 0.6, 0.75);
            cairo_fill(cr);
            set_fg(cr, o, 1);
            snprintf(label, sizeof label, "%.1f%%", 100.0 * m->rows[k].p);
            text_at(cr, bar_x + bar_w + 2, y, fs * 0.75, label);
            y += fs * 1.2;
        }
        y += fs * 0.6;
    }
}

static void draw_table(cairo_t *cr, const ts_inspect *r, const layout *l, const ts_draw_opts *o)
{
    double fs = fmax(5.5, l->side / 20.0), y = l->py + fs * 1.3;
    double col[3] = { l->px, l->px + l->side * 0.45, l->px + l->side * 0.75 };
    set_fg(cr, o, 1);
    text_at(cr, col[0], y, fs, TR(o, N_("part")));
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        /* column headers: the model name up to any " · trait" suffix */
        char head[24];
        const char *nm = o->model_name[i] ? o->model_name[i] : (i ? "B" : "A");
        size_t n = strcspn(nm, " ");
        snprintf(head, sizeof head, "%.*s", (int)(n < 12 ? n : 12), nm);
        text_at(cr, col[1 + i], y, fs, head);
    }
    y += fs * 1.3;
    double total[TS_INSPECT_MODELS] = { 0 };
    for (int i = 0; i < TS_INSPECT_MODELS; i++)
        for (int p = 0; p < TS_PART_COUNT; p++) total[i] += fabs(r->model[i].part_sum[p]);
    char s[64];
    for (int p = 0; p < TS_PART_COUNT; p++) {
        /* the names of face/points.h, marked here for translation */
        static const char *const part_words[] = { N_("jaw"), N_("right_brow"), N_("left_brow"), N_("nose"),
                                                  N_("right_eye"), N_("left_eye"), N_("mouth") };
        const char *pn = ts_part_name((ts_face_part)p);
        for (size_t k = 0; k < sizeof part_words / sizeof part_words[0]; k++)
            if (!strcmp(pn, part_words[k])) pn = TR(o, part_words[k]);
        text_at(cr, col[0], y, fs * 0.9, pn);
        for (int i = 0; i < TS_INSPECT_MODELS; i++) {
            if (!r->model[i].present || total[i] <= 0) continue;
            snprintf(s, sizeof s, "%+.1f%%", 100.0 * r->model[i].part_sum[p] / total[i]);
            text_at(cr, col[1 + i], y, fs * 0.9, s);
        }
        y += fs * 1.15;
    }
    y += fs * 0.5;
    text_at(cr, col[0], y, fs * 0.9, TR(o, N_("|R| in A(x,y)")));
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        if (!r->model[i].present) continue;
        if (r->model[i].in_channels == 4) snprintf(s, sizeof s, "%.1f%%", 100.0 * r->model[i].channel_abs_share[3]);
        else snprintf(s, sizeof s, "n/a");
        text_at(cr, col[1 + i], y, fs * 0.9, s);
    }
    y += fs * 1.15;
    text_at(cr, col[0], y, fs * 0.9, TR(o, N_("negative share")));
    for (int i = 0; i < TS_INSPECT_MODELS; i++) {
        if (!r->model[i].present || r->model[i].error[0]) continue;
        snprintf(s, sizeof s, "%.1f%%", 100.0 * r->model[i].stats.negative_share);
        text_at(cr, col[1 + i], y, fs * 0.9, s);
    }
}

/* ---- the photo panel ---- */

/* Where the photo lies in a panel (photo_geom): panel = o + photo * sc,
 * photo in pixel edge coordinates (pixel i spans [i, i+1), as the
 * detector's boxes). */
static bool photo_geom_for(const ts_inspect *r, double w, double h, photo_geom *g)
{
    if (!r->photo.data || r->photo.width <= 0 || r->photo.height <= 0) return false;
    layout l = layout_for(w, h);
    double aw = fmax(1.0, w), ah = fmax(1.0, h - l.title_h);
    g->sc = fmin(aw / r->photo.width, ah / r->photo.height);
    g->ox = (w - r->photo.width * g->sc) / 2;
    g->oy = l.title_h + (ah - r->photo.height * g->sc) / 2;
    return true;
}

bool ts_figure_photo_face_rect(const ts_inspect *r, int k, double w, double h, double rect[4])
{
    photo_geom g;
    if (k < 0 || k >= r->n_faces || k >= TS_INSPECT_MAX_FACES || !photo_geom_for(r, w, h, &g)) return false;
    float b[4]; /* a turned face's box: its bounding box */
    ts_face_box_bounds(&r->faces[k], b);
    rect[0] = g.ox + b[0] * g.sc;
    rect[1] = g.oy + b[1] * g.sc;
    rect[2] = b[2] * g.sc;
    rect[3] = b[3] * g.sc;
    return true;
}

int ts_figure_photo_face_at(const ts_inspect *r, double w, double h, double px, double py)
{
    const double slack = 3;
    int best = -1;
    double best_area = INFINITY;
    for (int k = 0; k < r->n_faces && k < TS_INSPECT_MAX_FACES; k++) {
        double b[4];
        if (!ts_figure_photo_face_rect(r, k, w, h, b)) return -1;
        if (px < b[0] - slack || py < b[1] - slack || px > b[0] + b[2] + slack || py > b[1] + b[3] + slack) continue;
        /* nested or touching boxes: the smaller one is the one aimed at */
        if (b[2] * b[3] < best_area) {
            best_area = b[2] * b[3];
            best = k;
        }
    }
    return best;
}

/* The photo -> crop map of the inspected face (pixel-centre coordinates).
 * The crop is the photo scaled and shifted (alignment none), so a
 * similarity fitted to the landmarks in both frames recovers it exactly. */
static bool photo_to_crop(const ts_inspect *r, ts_affine *xf)
{
    if (r->whole) {
        *xf = ts_affine_identity();
        return r->photo.data != NULL;
    }
    if (r->photo_pts.n < 2 || r->photo_pts.n != r->pts.n) return false;
    return ts_affine_fit(&r->photo_pts, r->pts.x, r->pts.y, 1, xf) == TS_OK;
}

/* The photo into the rectangle of g, resampled to about the resolution it
 * is shown at: a 1920-pixel photo in a 300-pixel panel is box-filtered once
 * here instead of by Cairo on every redraw, and a PDF or SVG embeds it at
 * 300 dpi instead of at full size. */
static void draw_photo_image(cairo_t *cr, const ts_image *img, const photo_geom *g)
{
    double dx = img->width * g->sc, dy = img->height * g->sc;
    cairo_user_to_device_distance(cr, &dx, &dy);
    cairo_surface_type_t t = cairo_surface_get_type(cairo_get_target(cr));
    double want = fabs(dx) * ((t == CAIRO_SURFACE_TYPE_PDF || t == CAIRO_SURFACE_TYPE_SVG) ? 300.0 / 72.0 : 1.0);
    /* an integer shrink factor keeps the box filter exact and simple */
    int f = want > 0 ? (int)floor(img->width / want) : 1;
    if (f < 2) f = 1;
    int tw = img->width / f, th = img->height / f;
    if (tw < 1 || th < 1) return;
    cairo_surface_t *s = f == 1 ? surface_from_image(img) : cairo_image_surface_create(CAIRO_FORMAT_RGB24, tw, th);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return;
    }
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    uint32_t *acc = f == 1 ? NULL : calloc((size_t)tw * 3, sizeof *acc);
    if (f > 1 && !acc) {
        cairo_surface_destroy(s);
        return;
    }
    cairo_surface_flush(s);
    for (int y = 0; f > 1 && y < th; y++) {
        memset(acc, 0, (size_t)tw * 3 * sizeof *acc);
        for (int sy = y * f; sy < (y + 1) * f; sy++) {
            const uint8_t *src = img->data + (size_t)sy * img->stride;
            for (int x = 0; x < tw; x++)
                for (int sx = x * f; sx < (x + 1) * f; sx++) {
                    acc[3 * x] += src[3 * sx];
                    acc[3 * x + 1] += src[3 * sx + 1];
                    acc[3 * x + 2] += src[3 * sx + 2];
                }
        }
        uint32_t *row = (uint32_t *)(dst + (size_t)y * stride), n = (uint32_t)(f * f);
        for (int x = 0; x < tw; x++)
            row[x] = (acc[3 * x] / n) << 16 | (acc[3 * x + 1] / n) << 8 | acc[3 * x + 2] / n;
    }
    free(acc);
    cairo_surface_mark_dirty(s);
    cairo_save(cr);
    cairo_translate(cr, g->ox, g->oy);
    cairo_scale(cr, g->sc * f, g->sc * f);
    cairo_set_source_surface(cr, s, 0, 0);
    /* what is left to shrink is less than 2x: bilinear is enough, and
     * Cairo's GOOD filter would cost ~40 ms a redraw on a large panel */
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_rectangle(cr, 0, 0, tw, th);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(s);
}

static void draw_photo(cairo_t *cr, const ts_inspect *r, double w, double h, const ts_draw_opts *o)
{
    photo_geom g;
    if (!photo_geom_for(r, w, h, &g)) return;
    draw_photo_image(cr, &r->photo, &g);
    double unit = fmax(1.0, fmin(w, h) / 200.0), fs = fmax(7.0, fmin(w, h) / 22.0);
    /* the other faces first, the inspected one on top */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < r->n_faces && k < TS_INSPECT_MAX_FACES; k++) {
            bool chosen = k == r->face;
            if (chosen != (pass == 1)) continue;
            double b[4];
            ts_figure_photo_face_rect(r, k, w, h, b);
            /* a dark halo under the line keeps it visible on any photo */
            cairo_rectangle(cr, b[0], b[1], b[2], b[3]);
            cairo_set_source_rgba(cr, 0, 0, 0, 0.6);
            cairo_set_line_width(cr, unit * (chosen ? 3.2 : 2.0));
            cairo_stroke_preserve(cr);
            if (chosen) cairo_set_source_rgb(cr, 1.0, 0.55, 0.1);
            else cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
            cairo_set_line_width(cr, unit * (chosen ? 1.8 : 0.9));
            cairo_stroke(cr);
            char num[16];
            snprintf(num, sizeof num, "%d", k);
            cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL,
                                   chosen ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
            double size = chosen ? fs : fs * 0.8;
            cairo_set_font_size(cr, size);
            cairo_text_extents_t te;
            cairo_text_extents(cr, num, &te);
            /* the number in a tag above the box's top-left corner (inside
             * the box when the box touches the top of the picture) */
            double tx = b[0], ty = b[1] - size * 0.25;
            if (ty - size < g.oy) ty = b[1] + size;
            cairo_rectangle(cr, tx - unit, ty - size * 0.95, te.x_advance + 2 * unit, size * 1.15);
            if (chosen) cairo_set_source_rgb(cr, 1.0, 0.55, 0.1);
            else cairo_set_source_rgba(cr, 0, 0, 0, 0.6);
            cairo_fill(cr);
            if (chosen) cairo_set_source_rgb(cr, 0, 0, 0);
            else cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_move_to(cr, tx, ty);
            cairo_show_text(cr, num);
        }
    /* the inspected face's landmarks, small: what the other panels show */
    if (o->points && r->face >= 0) {
        /* dots sized to the face: 68 of them must fit in a small box */
        double rad = fmax(0.3, fmin(unit * 0.6, r->box[2] * g.sc / 90.0));
        cairo_set_source_rgb(cr, 1.0, 0.85, 0.1);
        for (int i = 0; i < r->photo_pts.n; i++) {
            cairo_arc(cr, g.ox + (r->photo_pts.x[i] + 0.5) * g.sc, g.oy + (r->photo_pts.y[i] + 0.5) * g.sc, rad, 0,
                      2 * M_PI);
            cairo_fill(cr);
        }
    }
    /* the crosshair: the face pixel under the pointer in the other panels */
    ts_affine xf, inv;
    if (o->cross_x >= 0 && o->cross_y >= 0 && photo_to_crop(r, &xf) && ts_affine_invert(&xf, &inv) == TS_OK) {
        double x, y;
        ts_affine_apply(&inv, o->cross_x, o->cross_y, &x, &y);
        x = g.ox + (x + 0.5) * g.sc;
        y = g.oy + (y + 0.5) * g.sc;
        double ph = r->photo.height * g.sc, pw = r->photo.width * g.sc;
        cairo_save(cr);
        cairo_rectangle(cr, g.ox, g.oy, pw, ph);
        cairo_clip(cr);
        cairo_set_source_rgba(cr, 0, 1, 0.4, 0.9);
        cairo_set_line_width(cr, 1.0);
        cairo_move_to(cr, x, g.oy);
        cairo_line_to(cr, x, g.oy + ph);
        cairo_move_to(cr, g.ox, y);
        cairo_line_to(cr, g.ox + pw, y);
        cairo_stroke(cr);
        cairo_restore(cr);
    }
    if (r->n_faces == 0) {
        layout l = layout_for(w, h);
        draw_message(cr, &l, TR(o, N_("no face detected")), o);
    }
}

void ts_figure_draw_panel(cairo_t *cr, const ts_inspect *r, ts_panel p, double w, double h, const ts_draw_opts *o)
{
    ts_draw_opts defaults;
    if (!o) {
        ts_draw_opts_init(&defaults);
        o = &defaults;
    }
    layout l = layout_for(w, h);
    char title[128];
    int mi = (p == TS_PANEL_ACT_B || p == TS_PANEL_LRP_B) ? 1 : 0;
    const char *mname = o->model_name[mi] ? o->model_name[mi] : (mi ? "B" : "A");
    switch (p) {
    case TS_PANEL_ACT_A:
    case TS_PANEL_ACT_B:
        snprintf(title, sizeof title, TR(o, N_("Activations: %s")), mname);
        break;
    case TS_PANEL_LRP_A:
    case TS_PANEL_LRP_B:
        snprintf(title, sizeof title, TR(o, N_("Relevance: %s")), mname);
        break;
    case TS_PANEL_LRP_DIFF:
        snprintf(title, sizeof title, TR(o, N_("Relevance: %s - %s")), o->model_name[1] ? o->model_name[1] : "B",
                 o->model_name[0] ? o->model_name[0] : "A");
        break;
    default:
        snprintf(title, sizeof title, "%s", TR(o, ts_panel_title(p)));
    }
    cairo_save(cr);
    draw_title(cr, title, &l, w, o);
    const ts_inspect_model *m = &r->model[mi];
    switch (p) {
    case TS_PANEL_FACE:
        draw_image(cr, &r->crop, l.px, l.py, l.side);
        draw_landmarks(cr, r, &l, o);
        draw_cross(cr, r, &l, o);
        break;
    case TS_PANEL_AMAP: {
        ts_image img = { 0 };
        if (r->amap && ts_colormap_amap(r->amap, r->crop.width, r->crop.height, &img) == TS_OK) {
            draw_image(cr, &img, l.px, l.py, l.side);
            ts_image_clear(&img);
        }
        ts_draw_opts o2 = *o;
        o2.contours = false;
        draw_landmarks(cr, r, &l, &o2);
        draw_cross(cr, r, &l, o);
        break;
    }
    case TS_PANEL_ACT_A:
    case TS_PANEL_ACT_B:
        if (!m->present) draw_message(cr, &l, TR(o, N_("no model loaded")), o);
        else if (m->error[0]) draw_message(cr, &l, m->error, o);
        else {
            ts_image img = { 0 };
            if (ts_act_grid_render(&m->act, &img) == TS_OK) {
                draw_image(cr, &img, l.px, l.py, l.side);
                ts_image_clear(&img);
            }
        }
        break;
    case TS_PANEL_LRP_A:
    case TS_PANEL_LRP_B:
        if (!m->present) draw_message(cr, &l, TR(o, N_("no model loaded")), o);
        else if (m->error[0] || !m->heat) draw_message(cr, &l, m->error, o);
        else draw_heat(cr, r, m->heat, m->in_size, ts_figure_lrp_scale(r), &l, o);
        break;
    case TS_PANEL_LRP_DIFF: {
        const ts_inspect_model *a = &r->model[0], *b = &r->model[1];
        if (!a->heat || !b->heat) draw_message(cr, &l, TR(o, N_("needs two models")), o);
        else if (a->in_size != b->in_size) draw_message(cr, &l, TR(o, N_("the models' input sizes differ")), o);
        else {
            int n = a->in_size * a->in_size;
            float *d = malloc((size_t)n * sizeof *d), mx = 0;
            if (d) {
                for (int k = 0; k < n; k++) mx = fmaxf(mx, fabsf(d[k] = b->heat[k] - a->heat[k]));
                draw_heat(cr, r, d, a->in_size, mx > 0 ? mx : 1, &l, o);
                free(d);
            }
        }
        break;
    }
    case TS_PANEL_PRED:
        draw_pred(cr, r, &l, o);
        break;
    case TS_PANEL_TABLE:
        draw_table(cr, r, &l, o);
        break;
    case TS_PANEL_PHOTO:
        draw_photo(cr, r, w, h, o);
        break;
    default:
        break;
    }
    cairo_restore(cr);
}

/* ---- export ---- */

static cairo_status_t write_stream(void *closure, const unsigned char *data, unsigned int len)
{
    FILE *f = closure;
    return fwrite(data, 1, len, f) == len ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static const char *ext_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : "";
}

/* The pixel row where the band of row r of a PNG of `total` rows starts:
 * half way down the gap above it (0 for the first row, the page's last
 * pixel for r == total).  Only white page lies on such a row. */
static int band_y(int r, int total, int n_panels, double scale)
{
    const double cell_w = 2.2 * 72, cell_h = cell_w * 1.1, pad = 6; /* as ts_figure_page_size */
    double W, H;
    ts_figure_page_size(total, n_panels, &W, &H);
    if (r <= 0) return 0;
    if (r >= total) return (int)ceil(H * scale - 1e-6);
    return (int)floor((pad / 2 + r * (cell_h + pad)) * scale);
}

static ts_status export_rows(const char *path, const ts_inspect *const *faces, int n_faces, int first, int total,
                             const ts_panel *ps, int n_panels, const ts_draw_opts *o, double dpi,
                             const char *sidecar_json);

ts_status ts_figure_export(const char *path, const ts_inspect *const *faces, int n_faces, const ts_panel *ps,
                           int n_panels, const ts_draw_opts *o, double dpi, const char *sidecar_json)
{
    return export_rows(path, faces, n_faces, 0, n_faces, ps, n_panels, o, dpi, sidecar_json);
}

ts_status ts_figure_export_band(const char *path, const ts_inspect *const *faces, int n_faces, int first,
                                int total_rows, const ts_panel *panels, int n_panels, const ts_draw_opts *o,
                                double dpi, const char *sidecar_json)
{
    const char *ext = ext_of(path);
    if (strcasecmp(ext, "png"))
        return ts_error(TS_ERR_ARG, "%s: a band of a figure is a .png (the bands are stacked as pixels)", path);
    if (first < 0 || n_faces < 1 || first + n_faces > total_rows)
        return ts_error(TS_ERR_ARG, "%s: rows %d..%d of a figure of %d", path, first, first + n_faces - 1, total_rows);
    return export_rows(path, faces, n_faces, first, total_rows, panels, n_panels, o, dpi, sidecar_json);
}

/* Rows [first, first + n_faces) of a figure of `total` rows; the whole page
 * when first == 0 and n_faces == total, else (PNG) their band of pixels. */
static ts_status export_rows(const char *path, const ts_inspect *const *faces, int n_faces, int first, int total,
                             const ts_panel *ps, int n_panels, const ts_draw_opts *o, double dpi,
                             const char *sidecar_json)
{
    if (n_faces < 1 || n_panels < 1) return ts_error(TS_ERR_ARG, "%s: a figure needs at least one face and one panel", path);
    const char *ext = ext_of(path);
    enum { PNG, SVG, PDF } kind;
    if (!strcasecmp(ext, "png")) kind = PNG;
    else if (!strcasecmp(ext, "svg")) kind = SVG;
    else if (!strcasecmp(ext, "pdf")) kind = PDF;
    else return ts_error(TS_ERR_ARG, "%s: unknown figure format '.%s' (use .png, .svg or .pdf)", path, ext);
    if (kind == PNG && !(dpi >= 30 && dpi <= 1200)) return ts_error(TS_ERR_ARG, "%s: dpi %.0f out of range 30..1200", path, dpi);

    const double cell_w = 2.2 * 72, cell_h = cell_w * 1.1, pad = 6; /* as ts_figure_page_size */
    double W, H;
    ts_figure_page_size(total, n_panels, &W, &H);
    ts_atomic_file af;
    TS_TRY(ts_atomic_open(&af, path));
    cairo_surface_t *s;
    double scale = kind == PNG ? dpi / 72.0 : 1.0;
    const bool band = first > 0 || n_faces < total;
    const int y0 = band ? band_y(first, total, n_panels, scale) : 0;
    const int y1 = band ? band_y(first + n_faces, total, n_panels, scale) : 0;
    /* the 1e-6: 499.2 pt at 150 dpi is 1040 pixels, not 1041 */
    if (kind == PNG)
        s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(W * scale - 1e-6),
                                       band ? y1 - y0 : (int)ceil(H * scale - 1e-6));
    else if (kind == SVG) s = cairo_svg_surface_create_for_stream(write_stream, af.f, W, H);
    else s = cairo_pdf_surface_create_for_stream(write_stream, af.f, W, H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        ts_status st = ts_error(TS_ERR_OOM, "%s: cannot create the figure surface: %s", path,
                                cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s);
        ts_atomic_abort(&af);
        return st;
    }
    cairo_t *cr = cairo_create(s);
    /* A band: the whole page moved up by a whole number of pixels, so
     * every pixel is the one the whole figure has there. */
    cairo_translate(cr, 0, -y0);
    cairo_scale(cr, scale, scale);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    ts_draw_opts light;
    if (o) light = *o;
    else ts_draw_opts_init(&light);
    light.dark = false;
    light.cross_x = light.cross_y = -1;
    for (int f = 0; f < n_faces; f++)
        for (int p = 0; p < n_panels; p++) {
            cairo_save(cr);
            cairo_translate(cr, pad + p * (cell_w + pad), pad + (first + f) * (cell_h + pad));
            cairo_rectangle(cr, 0, 0, cell_w, cell_h);
            cairo_clip(cr);
            ts_figure_draw_panel(cr, faces[f], ps[p], cell_w, cell_h, &light);
            cairo_restore(cr);
        }
    cairo_destroy(cr);
    cairo_surface_flush(s);
    cairo_status_t cs = CAIRO_STATUS_SUCCESS;
    if (kind == PNG) cs = cairo_surface_write_to_png_stream(s, write_stream, af.f);
    cairo_surface_finish(s);
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS) {
        /* cairo only says "error while writing"; the stream knows why */
        ts_status st = cs == CAIRO_STATUS_WRITE_ERROR
                           ? ts_error(TS_ERR_IO, "%s: write failed: %s", path, ts_atomic_strerror(&af))
                           : ts_error(TS_ERR_IO, "%s: writing the figure failed: %s", path, cairo_status_to_string(cs));
        ts_atomic_abort(&af);
        return st;
    }
    /* The figure and its sidecar are one output: both go to their
     * temporaries and are committed as a set, so a failure of either (a
     * full disk) leaves both old files as they were. */
    if (!sidecar_json) return ts_atomic_commit(&af);
    ts_atomic_file both[2] = { af, { 0 } };
    size_t n = strlen(path) + 6;
    char *side_path = malloc(n);
    ts_status st = side_path ? TS_OK : ts_error(TS_ERR_OOM, "out of memory");
    if (st == TS_OK) {
        snprintf(side_path, n, "%s.json", path);
        st = ts_atomic_open(&both[1], side_path);
        free(side_path);
    }
    size_t len = strlen(sidecar_json);
    if (st == TS_OK && fwrite(sidecar_json, 1, len, both[1].f) != len)
        st = ts_error(TS_ERR_IO, "%s: write failed: %s", both[1].path, ts_atomic_strerror(&both[1]));
    if (st != TS_OK) {
        ts_atomic_abort(&both[0]);
        ts_atomic_abort(&both[1]);
        return st;
    }
    return ts_atomic_commit_all(both, 2);
}

void ts_figure_page_size(int n_faces, int n_panels, double *w_pt, double *h_pt)
{
    /* panels 2.2 inches wide, 10% taller for the title, 6 pt apart */
    const double cell_w = 2.2 * 72, cell_h = cell_w * 1.1, pad = 6;
    *w_pt = n_panels * cell_w + (n_panels + 1) * pad;
    *h_pt = n_faces * cell_h + (n_faces + 1) * pad;
}

/* ---- the sidecar ---- */

static cJSON *box_json(const float *v)
{
    return cJSON_CreateFloatArray(v, 4);
}

char *ts_figure_sidecar_json(const ts_figure_record *rec)
{
    ts_draw_opts defaults;
    const ts_draw_opts *o = rec->opts;
    if (!o) {
        ts_draw_opts_init(&defaults);
        o = &defaults;
    }
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "tool", rec->tool ? rec->tool : "traitscope");
    cJSON_AddStringToObject(root, "version", TS_VERSION);
    cJSON *jimgs = cJSON_AddArrayToObject(root, "images");
    for (int k = 0; k < rec->n_rows; k++) {
        const ts_inspect *r = rec->faces[k];
        cJSON *ji = cJSON_CreateObject();
        cJSON_AddStringToObject(ji, "path", rec->images[k] ? rec->images[k] : "");
        cJSON_AddNumberToObject(ji, "face", r->face);
        cJSON_AddNumberToObject(ji, "faces_detected", r->n_faces);
        if (r->face >= 0 && r->face < r->n_faces) {
            const ts_face_box *b = &r->faces[r->face];
            float fb[4] = { b->x, b->y, b->w, b->h };
            cJSON_AddItemToObject(ji, "face_box", box_json(fb));
            cJSON_AddNumberToObject(ji, "face_score", b->score);
            cJSON_AddNumberToObject(ji, "face_roll", b->roll);
        }
        cJSON_AddItemToObject(ji, "box", box_json(r->box));
        cJSON_AddBoolToObject(ji, "whole_image_is_face", r->whole);
        cJSON_AddItemToArray(jimgs, ji);
    }
    cJSON *jm = cJSON_AddArrayToObject(root, "models");
    for (int m = 0; m < TS_INSPECT_MODELS; m++) {
        const ts_model *model = rec->models[m];
        if (!model) continue;
        const ts_model_meta *meta = &model->meta;
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "slot", m ? "B" : "A");
        cJSON_AddStringToObject(jo, "path", rec->model_path[m] ? rec->model_path[m] : "");
        cJSON_AddStringToObject(jo, "name", rec->model_name[m] ? rec->model_name[m] : "");
        cJSON_AddStringToObject(jo, "sha256", meta->hash);
        cJSON_AddStringToObject(jo, "arch", meta->arch ? meta->arch : "");
        cJSON_AddStringToObject(jo, "trait", meta->trait ? meta->trait : "");
        cJSON_AddNumberToObject(jo, "in_channels", meta->in_channels);
        cJSON_AddNumberToObject(jo, "in_size", meta->in_size);
        cJSON_AddStringToObject(jo, "landmarks", ts_landmark_method_name(meta->landmarks));
        cJSON *jc = cJSON_AddArrayToObject(jo, "classes");
        for (int c = 0; c < meta->n_classes; c++)
            cJSON_AddItemToArray(jc, cJSON_CreateString(meta->classes && meta->classes[c] ? meta->classes[c] : ""));
        /* the rules as applied per layer: the same for every row */
        const char *applied = "";
        for (int k = 0; k < rec->n_rows; k++)
            if (rec->faces[k]->model[m].rules[0]) {
                applied = rec->faces[k]->model[m].rules;
                break;
            }
        cJSON_AddStringToObject(jo, "lrp_rules", applied);
        cJSON_AddItemToArray(jm, jo);
    }
    cJSON *js = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddStringToObject(js, "landmarks", ts_landmark_method_name(rec->method));
    cJSON_AddStringToObject(js, "detector", ts_detector_kind_name(rec->detector));
    cJSON_AddStringToObject(js, "rules", rec->rules ? rec->rules : "");
    cJSON_AddStringToObject(js, "target", rec->target && rec->target[0] ? rec->target : "predicted");
    cJSON_AddStringToObject(js, "layer", rec->layer ? rec->layer : "conv1");
    cJSON_AddNumberToObject(js, "face", rec->face);
    cJSON_AddBoolToObject(js, "points", o->points);
    cJSON_AddBoolToObject(js, "indices", o->indices);
    cJSON_AddBoolToObject(js, "contours", o->contours);
    cJSON_AddNumberToObject(js, "dpi", rec->dpi);
    cJSON *jp = cJSON_AddArrayToObject(js, "panels");
    for (int p = 0; p < rec->n_panels; p++) cJSON_AddItemToArray(jp, cJSON_CreateString(ts_panel_name(rec->panels[p])));
    char *text = ts_json_print(root, true); /* names that are not UTF-8 repaired, kept as *_bytes */
    cJSON_Delete(root);
    return text;
}
