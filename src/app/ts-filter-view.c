/* ts-filter-view.c - see ts-filter-view.h.
 *
 * The view keeps its own copies (map, filter weights, numbers) and two
 * Cairo surfaces built from them at show time; the draw functions only
 * scale those surfaces (nearest-neighbour: one block is one unit) and add
 * a colour bar and its labels.  Colours come from explain/colormap.h, the
 * one colour module, so the enlarged map matches its cell in the grid.
 */
#include "app/ts-filter-view.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "explain/colormap.h"

struct _TsFilterView {
    GtkWidget parent;
    GtkWidget *box;                  /* the only direct child */
    GtkLabel *title, *info, *rgb_caption, *amap_caption;
    GtkDrawingArea *map_area, *rgb_area, *amap_area;

    /* what is shown (copies) */
    int model, map;                  /* -1: nothing */
    char layer[64];
    char *model_name;
    int h, w;
    float *values;                   /* (h, w) */
    float lo, hi;                    /* the colour range */
    float vmin, vmax;
    double vmean;
    int in_c, kh, kw, stride, n_maps;
    float *filter;                   /* (in_c, kh, kw) or NULL */
    float bias;
    gboolean has_bias;
    float amap_scale;                /* max |w| of the A(x,y) channel */
    cairo_surface_t *map_surf, *rgb_surf, *amap_surf;

    GtkPopover *popover;             /* weak: owned by its parent */
    GtkWidget *popover_parent;       /* weak */
    gulong destroy_handler;
};

G_DEFINE_FINAL_TYPE(TsFilterView, ts_filter_view, GTK_TYPE_WIDGET)

/* ---- surfaces ---- */

static cairo_surface_t *rgb_surface(int w, int h)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_surface_flush(s);
    return s;
}

static void put(cairo_surface_t *s, int x, int y, const uint8_t rgb[3])
{
    uint32_t *row = (uint32_t *)(cairo_image_surface_get_data(s) + (size_t)y * cairo_image_surface_get_stride(s));
    row[x] = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
}

static void clear_shown(TsFilterView *v)
{
    g_clear_pointer(&v->values, g_free);
    g_clear_pointer(&v->filter, g_free);
    g_clear_pointer(&v->map_surf, cairo_surface_destroy);
    g_clear_pointer(&v->rgb_surf, cairo_surface_destroy);
    g_clear_pointer(&v->amap_surf, cairo_surface_destroy);
    v->model = v->map = -1;
    v->h = v->w = v->in_c = v->kh = v->kw = v->stride = v->n_maps = 0;
    v->layer[0] = '\0';
    v->has_bias = FALSE;
}

/* Map values -> viridis over [lo, hi] (a constant map shows the middle, as
 * the grid does). */
static void build_map_surface(TsFilterView *v)
{
    v->map_surf = rgb_surface(v->w, v->h);
    float span = v->hi - v->lo;
    for (int y = 0; y < v->h; y++)
        for (int x = 0; x < v->w; x++) {
            float a = v->values[(size_t)y * v->w + x];
            float t = !isfinite(a) ? 0.0f : span > 0 ? (a - v->lo) / span : 0.5f;
            uint8_t rgb[3];
            ts_cmap_viridis(t, rgb);
            put(v->map_surf, x, y, rgb);
        }
    cairo_surface_mark_dirty(v->map_surf);
}

/* Channels 0..2 as R, G, B, scaled by the filter's own max |w| over those
 * channels so that grey is 0 (ts_act_filters_rgb's per-filter scaling);
 * one channel shows as grey levels.  Channel 3 (A(x,y)) in the diverging
 * map with its own symmetric scale. */
static void build_filter_surfaces(TsFilterView *v)
{
    if (!v->filter || !(v->in_c == 1 || v->in_c == 3 || v->in_c == 4)) return;
    size_t khw = (size_t)v->kh * v->kw;
    int nc = v->in_c >= 3 ? 3 : 1;
    float m = 0;
    for (size_t q = 0; q < nc * khw; q++) m = fmaxf(m, fabsf(v->filter[q]));
    v->rgb_surf = rgb_surface(v->kw, v->kh);
    for (int y = 0; y < v->kh; y++)
        for (int x = 0; x < v->kw; x++) {
            uint8_t rgb[3];
            for (int c = 0; c < 3; c++) {
                float w = v->filter[(nc == 3 ? c : 0) * khw + (size_t)y * v->kw + x];
                float t = m > 0 ? 0.5f + 0.5f * w / m : 0.5f;
                rgb[c] = (uint8_t)lrintf(fminf(fmaxf(t, 0.0f), 1.0f) * 255.0f);
            }
            put(v->rgb_surf, x, y, rgb);
        }
    cairo_surface_mark_dirty(v->rgb_surf);
    if (v->in_c != 4) return;
    const float *a = v->filter + 3 * khw;
    v->amap_scale = 0;
    for (size_t q = 0; q < khw; q++) v->amap_scale = fmaxf(v->amap_scale, fabsf(a[q]));
    v->amap_surf = rgb_surface(v->kw, v->kh);
    for (int y = 0; y < v->kh; y++)
        for (int x = 0; x < v->kw; x++) {
            uint8_t rgb[3];
            float w = a[(size_t)y * v->kw + x];
            ts_cmap_diverging(v->amap_scale > 0 ? w / v->amap_scale : 0.0f, rgb);
            put(v->amap_surf, x, y, rgb);
        }
    cairo_surface_mark_dirty(v->amap_surf);
}

/* ---- drawing ---- */

static void fg_colour(GtkWidget *w, cairo_t *cr)
{
    GdkRGBA c;
    /* GTK 4.8: gtk_widget_get_color arrives in 4.10 */
    gtk_style_context_get_color(gtk_widget_get_style_context(w), &c);
    gdk_cairo_set_source_rgba(cr, &c);
}

/* Paints s into the square (x, y, side) keeping its aspect, unsmoothed,
 * with a thin frame. */
static void paint_nearest(cairo_t *cr, cairo_surface_t *s, double x, double y, double side)
{
    int sw = cairo_image_surface_get_width(s), sh = cairo_image_surface_get_height(s);
    double sc = side / fmax(sw, sh);
    double ox = x + (side - sw * sc) / 2, oy = y + (side - sh * sc) / 2;
    cairo_save(cr);
    cairo_translate(cr, ox, oy);
    cairo_scale(cr, sc, sc);
    cairo_set_source_surface(cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, sw, sh);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_set_source_rgba(cr, 0.5, 0.5, 0.5, 0.8);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, ox - 0.5, oy - 0.5, sw * sc + 1, sh * sc + 1);
    cairo_stroke(cr);
}

static void label_at(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

/* Vertical colour bar: viridis (t in 0..1) or diverging (t in -1..1),
 * high end on top, with the two end values written beside it. */
static void colour_bar(GtkWidget *w, cairo_t *cr, double x, double y, double bw, double bh, ts_cmap cmap, float lo,
                       float hi)
{
    const int steps = 64;
    for (int i = 0; i < steps; i++) {
        float u = 1.0f - (i + 0.5f) / steps; /* 1 at the top */
        uint8_t rgb[3];
        if (cmap == TS_CMAP_VIRIDIS) ts_cmap_viridis(u, rgb);
        else ts_cmap_diverging(2 * u - 1, rgb);
        cairo_set_source_rgb(cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
        cairo_rectangle(cr, x, y + bh * i / steps, bw, bh / steps + 0.5);
        cairo_fill(cr);
    }
    fg_colour(w, cr);
    cairo_set_line_width(cr, 0.5);
    cairo_rectangle(cr, x, y, bw, bh);
    cairo_stroke(cr);
    cairo_select_font_face(cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 10);
    char s[32];
    g_snprintf(s, sizeof s, "%.3g", hi);
    label_at(cr, x + bw + 3, y + 8, s);
    g_snprintf(s, sizeof s, "%.3g", lo);
    label_at(cr, x + bw + 3, y + bh, s);
}

static void draw_map(GtkDrawingArea *a, cairo_t *cr, int width, int height, gpointer user)
{
    TsFilterView *v = user;
    if (!v->map_surf) return;
    double bar_room = 56, side = fmax(1, fmin(width - bar_room, height));
    paint_nearest(cr, v->map_surf, 0, (height - side) / 2, side);
    colour_bar(GTK_WIDGET(a), cr, side + 8, (height - side) / 2 + side * 0.05, 12, side * 0.9, TS_CMAP_VIRIDIS, v->lo,
               v->hi);
}

static void draw_rgb(GtkDrawingArea *a, cairo_t *cr, int width, int height, gpointer user)
{
    TsFilterView *v = user;
    (void)a;
    if (!v->rgb_surf) return;
    double side = fmin(width, height);
    paint_nearest(cr, v->rgb_surf, (width - side) / 2, (height - side) / 2, side);
}

static void draw_amap(GtkDrawingArea *a, cairo_t *cr, int width, int height, gpointer user)
{
    TsFilterView *v = user;
    if (!v->amap_surf) return;
    double bar_room = 56, side = fmax(1, fmin(width - bar_room, height));
    paint_nearest(cr, v->amap_surf, 0, (height - side) / 2, side);
    colour_bar(GTK_WIDGET(a), cr, side + 8, (height - side) / 2 + side * 0.05, 10, side * 0.9, TS_CMAP_DIVERGING,
               -v->amap_scale, v->amap_scale);
}

/* ---- text ---- */

static void update_text(TsFilterView *v, const char *why)
{
    if (why) {
        gtk_label_set_text(v->title, _("Activation map"));
        gtk_label_set_text(v->info, why);
    } else {
        char *who = v->model_name ? g_strdup(v->model_name)
                                  : g_strdup_printf(_("model %c"), v->model == 1 ? 'B' : 'A');
        /* TRANSLATORS: "LACNN · conv1 · map 12 of 96" */
        char *title = g_strdup_printf(_("%s · %s · map %d of %d"), who, v->layer, v->map, v->n_maps);
        gtk_label_set_text(v->title, title);
        GString *s = g_string_new(NULL);
        g_string_append_printf(s, _("Map %d × %d, min %.4g, max %.4g, mean %.4g"), v->w, v->h, v->vmin, v->vmax,
                               v->vmean);
        if (v->filter) {
            g_string_append_c(s, '\n');
            g_string_append_printf(s, _("Filter: kernel %d × %d over %d input channels, stride %d"), v->kh, v->kw,
                                   v->in_c, v->stride);
            if (v->has_bias) g_string_append_printf(s, _(", bias %.4g"), v->bias);
        } else {
            g_string_append_c(s, '\n');
            g_string_append(s, _("This layer has no convolution filters to show."));
        }
        gtk_label_set_text(v->info, s->str);
        g_string_free(s, TRUE);
        g_free(title);
        g_free(who);
    }
    gboolean rgb = v->rgb_surf != NULL, am = v->amap_surf != NULL;
    gtk_widget_set_visible(GTK_WIDGET(v->rgb_area), rgb);
    gtk_widget_set_visible(GTK_WIDGET(v->rgb_caption), rgb);
    gtk_label_set_text(v->rgb_caption, v->in_c == 1 ? _("Filter weights") : _("Filter, channels R G B (grey = 0)"));
    gtk_widget_set_visible(GTK_WIDGET(v->amap_area), am);
    gtk_widget_set_visible(GTK_WIDGET(v->amap_caption), am);
    gtk_widget_set_visible(GTK_WIDGET(v->map_area), v->map_surf != NULL);
    gtk_widget_queue_draw(GTK_WIDGET(v->map_area));
    gtk_widget_queue_draw(GTK_WIDGET(v->rgb_area));
    gtk_widget_queue_draw(GTK_WIDGET(v->amap_area));
    gtk_accessible_update_property(GTK_ACCESSIBLE(v), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   gtk_label_get_text(v->title), -1);
}

/* ---- public ---- */

gboolean ts_filter_view_show(TsFilterView *v, const ts_inspect *r, int model, int map)
{
    g_return_val_if_fail(TS_IS_FILTER_VIEW(v), FALSE);
    clear_shown(v);
    const ts_inspect_model *m = r && model >= 0 && model < TS_INSPECT_MODELS ? &r->model[model] : NULL;
    const ts_act_layer *L = m ? &m->act_layer : NULL;
    if (!m || !m->present || m->error[0] || !L->maps) {
        update_text(v, m && m->error[0] ? m->error : _("No activations for this model."));
        return FALSE;
    }
    if (map < 0 || map >= L->c) {
        update_text(v, _("No such map."));
        return FALSE;
    }
    v->model = model, v->map = map, v->n_maps = L->c;
    g_strlcpy(v->layer, L->name, sizeof v->layer);
    v->h = L->h, v->w = L->w;
    size_t hw = (size_t)L->h * L->w;
    v->values = g_memdup2(L->maps + (size_t)map * hw, hw * sizeof(float));
    ts_act_layer_map_stats(L, map, &v->vmin, &v->vmax, &v->vmean);
    /* the grid's range: its shared one when it has one, else the map's own */
    if (isfinite(m->act.lo) && isfinite(m->act.hi)) v->lo = m->act.lo, v->hi = m->act.hi;
    else v->lo = v->vmin, v->hi = v->vmax;
    if (L->weight) {
        size_t per = (size_t)L->in_c * L->kh * L->kw;
        v->in_c = L->in_c, v->kh = L->kh, v->kw = L->kw, v->stride = L->stride;
        v->filter = g_memdup2(L->weight + (size_t)map * per, per * sizeof(float));
        if (L->bias) v->bias = L->bias[map], v->has_bias = TRUE;
    }
    build_map_surface(v);
    build_filter_surfaces(v);
    update_text(v, NULL);
    return TRUE;
}

void ts_filter_view_set_model_name(TsFilterView *v, const char *name)
{
    g_return_if_fail(TS_IS_FILTER_VIEW(v));
    g_free(v->model_name);
    v->model_name = g_strdup(name);
}

const float *ts_filter_view_get_map(TsFilterView *v, int *h, int *w)
{
    if (h) *h = v->h;
    if (w) *w = v->w;
    return v->values;
}

const float *ts_filter_view_get_filter(TsFilterView *v, int *in_c, int *kh, int *kw)
{
    if (in_c) *in_c = v->in_c;
    if (kh) *kh = v->kh;
    if (kw) *kw = v->kw;
    return v->filter;
}

void ts_filter_view_get_range(TsFilterView *v, float *lo, float *hi)
{
    if (lo) *lo = v->lo;
    if (hi) *hi = v->hi;
}

void ts_filter_view_get_stats(TsFilterView *v, float *mn, float *mx, double *mean)
{
    if (mn) *mn = v->vmin;
    if (mx) *mx = v->vmax;
    if (mean) *mean = v->vmean;
}

int ts_filter_view_get_model(TsFilterView *v) { return v->model; }
int ts_filter_view_get_map_index(TsFilterView *v) { return v->map; }

/* The popover's parent is going away: take the popover (and this view
 * inside it) off it, so the parent finalizes without children. */
static void parent_destroyed(GtkWidget *parent, gpointer user)
{
    TsFilterView *v = user;
    if (v->popover && gtk_widget_get_parent(GTK_WIDGET(v->popover)) == parent) {
        gtk_popover_popdown(v->popover);
        gtk_widget_unparent(GTK_WIDGET(v->popover));
    }
    v->popover = NULL;
    v->popover_parent = NULL;
    v->destroy_handler = 0;
}

GtkPopover *ts_filter_view_popup_at(TsFilterView *v, GtkWidget *parent, double x, double y)
{
    g_return_val_if_fail(TS_IS_FILTER_VIEW(v) && GTK_IS_WIDGET(parent), NULL);
    if (!v->popover) {
        g_return_val_if_fail(gtk_widget_get_parent(GTK_WIDGET(v)) == NULL, NULL);
        v->popover = GTK_POPOVER(gtk_popover_new());
        gtk_popover_set_child(v->popover, GTK_WIDGET(v));
        gtk_widget_add_css_class(GTK_WIDGET(v->popover), "ts-filter-popover");
    }
    if (v->popover_parent != parent) {
        GtkWidget *pw = GTK_WIDGET(v->popover);
        g_object_ref(pw);
        if (v->popover_parent) {
            g_signal_handler_disconnect(v->popover_parent, v->destroy_handler);
            gtk_widget_unparent(pw);
        }
        gtk_widget_set_parent(pw, parent);
        g_object_unref(pw);
        v->popover_parent = parent;
        v->destroy_handler = g_signal_connect(parent, "destroy", G_CALLBACK(parent_destroyed), v);
    }
    gtk_popover_set_pointing_to(v->popover, &(GdkRectangle){ (int)x, (int)y, 1, 1 });
    gtk_popover_popup(v->popover);
    return v->popover;
}

/* ---- GObject ---- */

static void ts_filter_view_dispose(GObject *o)
{
    TsFilterView *v = TS_FILTER_VIEW(o);
    if (v->popover_parent && v->destroy_handler) g_signal_handler_disconnect(v->popover_parent, v->destroy_handler);
    v->popover_parent = NULL;
    v->destroy_handler = 0;
    v->popover = NULL;
    g_clear_pointer(&v->box, gtk_widget_unparent);
    G_OBJECT_CLASS(ts_filter_view_parent_class)->dispose(o);
}

static void ts_filter_view_finalize(GObject *o)
{
    TsFilterView *v = TS_FILTER_VIEW(o);
    clear_shown(v);
    g_free(v->model_name);
    G_OBJECT_CLASS(ts_filter_view_parent_class)->finalize(o);
}

static void ts_filter_view_class_init(TsFilterViewClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    oc->dispose = ts_filter_view_dispose;
    oc->finalize = ts_filter_view_finalize;
    gtk_widget_class_set_layout_manager_type(wc, GTK_TYPE_BIN_LAYOUT);
    gtk_widget_class_set_css_name(wc, "tsfilterview");
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_GROUP);
}

static GtkDrawingArea *area(int w, int h, GtkDrawingAreaDrawFunc fn, gpointer user, const char *label)
{
    GtkDrawingArea *a = GTK_DRAWING_AREA(gtk_drawing_area_new());
    gtk_drawing_area_set_content_width(a, w);
    gtk_drawing_area_set_content_height(a, h);
    gtk_drawing_area_set_draw_func(a, fn, user, NULL);
    gtk_accessible_update_property(GTK_ACCESSIBLE(a), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
    return a;
}

static GtkLabel *caption(const char *text)
{
    GtkLabel *l = GTK_LABEL(gtk_label_new(text));
    gtk_label_set_xalign(l, 0);
    gtk_widget_add_css_class(GTK_WIDGET(l), "caption");
    gtk_widget_add_css_class(GTK_WIDGET(l), "dim-label");
    return l;
}

static void ts_filter_view_init(TsFilterView *v)
{
    v->model = v->map = -1;
    /* an autohide popover (GTK 4.8) needs something inside that takes the
     * focus, or it asks a NULL root focus for its ancestry */
    gtk_widget_set_focusable(GTK_WIDGET(v), TRUE);
    v->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    gtk_widget_set_margin_start(v->box, 6);
    gtk_widget_set_margin_end(v->box, 6);
    gtk_widget_set_margin_top(v->box, 6);
    gtk_widget_set_margin_bottom(v->box, 6);
    gtk_widget_set_parent(v->box, GTK_WIDGET(v));

    v->title = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(v->title, 0);
    gtk_widget_add_css_class(GTK_WIDGET(v->title), "heading");
    gtk_box_append(GTK_BOX(v->box), GTK_WIDGET(v->title));

    GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    GtkWidget *left = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    gtk_box_append(GTK_BOX(left), GTK_WIDGET(caption(_("Response, full resolution"))));
    v->map_area = area(280, 224, draw_map, v, _("Enlarged activation map"));
    gtk_box_append(GTK_BOX(left), GTK_WIDGET(v->map_area));
    gtk_box_append(GTK_BOX(row), left);

    GtkWidget *right = gtk_box_new(GTK_ORIENTATION_VERTICAL, 4);
    v->rgb_caption = caption(_("Filter, channels R G B (grey = 0)"));
    gtk_box_append(GTK_BOX(right), GTK_WIDGET(v->rgb_caption));
    v->rgb_area = area(96, 96, draw_rgb, v, _("Filter weights, colour channels"));
    gtk_widget_set_halign(GTK_WIDGET(v->rgb_area), GTK_ALIGN_START);
    gtk_box_append(GTK_BOX(right), GTK_WIDGET(v->rgb_area));
    v->amap_caption = caption(_("Filter, A(x,y) channel"));
    gtk_box_append(GTK_BOX(right), GTK_WIDGET(v->amap_caption));
    v->amap_area = area(152, 96, draw_amap, v, _("Filter weights, A(x,y) channel"));
    gtk_widget_set_halign(GTK_WIDGET(v->amap_area), GTK_ALIGN_START);
    gtk_box_append(GTK_BOX(right), GTK_WIDGET(v->amap_area));
    gtk_box_append(GTK_BOX(row), right);
    gtk_box_append(GTK_BOX(v->box), row);

    v->info = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(v->info, 0);
    gtk_label_set_wrap(v->info, TRUE);
    gtk_label_set_max_width_chars(v->info, 60);
    gtk_box_append(GTK_BOX(v->box), GTK_WIDGET(v->info));
    update_text(v, _("Click a map in an activation panel to see it here with its filter."));
}

GtkWidget *ts_filter_view_new(void) { return g_object_new(TS_TYPE_FILTER_VIEW, NULL); }
