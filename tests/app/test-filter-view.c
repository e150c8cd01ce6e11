/* test-filter-view.c - clicking an activation map (figure.h's
 * ts_figure_act_map_at) and the enlarged map with its filter (TsFilterView),
 * under Xvfb, on a real face: face-api's sample1.jpg inspected with the
 * bundled baseline (model A, 3 channels) and LACNN (model B, 4 channels:
 * its conv1 filters have an A(x,y) channel).
 *
 *  - the activation panels are drawn at a known size; the centre of grid
 *    cell k hit-tests to k for every map, and the drawn pixel there has the
 *    colour of that grid pixel; the gaps between cells, the empty cells
 *    after the last map, the title band and the margins give -1;
 *  - TsFilterView shows map k of each model: the values it holds equal the
 *    inspect result's map k, its filter equals weights k of the layer copy,
 *    which equal the model's own conv1 weights; its statistics and colour
 *    range are the map's;
 *  - it survives the result being cleared (it keeps copies), pops up in a
 *    popover at a point of a panel-sized widget, and the window closes
 *    cleanly with the popover open.
 * With TS_SCREENSHOT_DIR set, writes filter-view.png and filter-popover.png
 * there.
 * Skips (77) without a display, the bundled models, the sample or the
 * landmark model.
 */
#include <gtk/gtk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain/activations.h"
#include "figure/figure.h"
#include "app/ts-filter-view.h"
#include "app/ts-render.h"

static int failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);            \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static void pump(int ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;
    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(NULL, FALSE)) {}
        g_usleep(2000);
    }
}

/* Renders a realized widget to a PNG (what a screenshot of it shows). */
static void save_png(GtkWidget *w, const char *name)
{
    const char *dir = g_getenv("TS_SCREENSHOT_DIR");
    if (!dir) return;
    char *path = g_build_filename(dir, name, NULL);
    if (ts_widget_save_png(w, path, NULL)) printf("wrote %s\n", path);
    g_free(path);
}

/* The panel layout of figure.c: a title band of max(12, 9% of the smaller
 * side), then a square picture area centred; the grid scaled into it. */
static void grid_geom(const ts_act_grid *g, double w, double h, double *ox, double *oy, double *sc)
{
    double title = fmax(12.0, fmin(w, h) * 0.09), side = fmax(1.0, fmin(w, h - title));
    *sc = side / fmax(g->w, g->h);
    *ox = (w - side) / 2 + (side - g->w * *sc) / 2;
    *oy = title + (side - g->h * *sc) / 2;
}

static void test_hits(const ts_inspect *r, ts_panel p, double W, double H)
{
    const ts_inspect_model *m = &r->model[p == TS_PANEL_ACT_B ? 1 : 0];
    const ts_act_grid *g = &m->act;
    int n = m->act_layer.c;
    CHECK(n > 0 && g->v, "%s: no grid", ts_panel_name(p));
    if (!g->v) return;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_paint(cr);
    ts_figure_draw_panel(cr, r, p, W, H, NULL);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    ts_image colours;
    CHECK(ts_act_grid_render(g, &colours) == TS_OK, "render");
    const unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);

    double ox, oy, sc;
    grid_geom(g, W, H, &ox, &oy, &sc);
    int gap = g->cols > 1 ? (g->w - g->cols * g->cell_w) / (g->cols - 1) : 0;
    for (int k = 0; k < g->cols * g->rows; k++) {
        int cx = (k % g->cols) * (g->cell_w + gap) + g->cell_w / 2, cy = (k / g->cols) * (g->cell_h + gap) + g->cell_h / 2;
        double x = ox + (cx + 0.5) * sc, y = oy + (cy + 0.5) * sc;
        int got = ts_figure_act_map_at(r, p, W, H, x, y);
        CHECK(got == (k < n ? k : -1), "%s: centre of cell %d hit-tests to %d", ts_panel_name(p), k, got);
        /* what is drawn there is that cell's colour */
        uint32_t v = *(const uint32_t *)(px + (size_t)(int)y * stride + 4 * (int)x);
        /* nearest-neighbour: the device pixel shows the grid pixel under its centre */
        int sx = (int)floor(((int)x + 0.5 - ox) / sc), sy = (int)floor(((int)y + 0.5 - oy) / sc);
        const uint8_t *want = ts_image_pixel(&colours, sx, sy);
        int dr = abs((int)(v >> 16 & 255) - want[0]), dg = abs((int)(v >> 8 & 255) - want[1]),
            db = abs((int)(v & 255) - want[2]);
        CHECK(dr <= 2 && dg <= 2 && db <= 2, "%s cell %d: drawn %06x, grid colour %02x%02x%02x", ts_panel_name(p), k,
              v & 0xffffff, want[0], want[1], want[2]);
        /* the gap right of this cell (when the drawing shows it at least a pixel wide) */
        if (k % g->cols < g->cols - 1 && gap * sc >= 1.0) {
            double gx = ox + ((k % g->cols) * (g->cell_w + gap) + g->cell_w + gap / 2.0) * sc;
            CHECK(ts_figure_act_map_at(r, p, W, H, gx, y) == -1, "%s: gap right of cell %d", ts_panel_name(p), k);
        }
    }
    CHECK(ts_figure_act_map_at(r, p, W, H, 1, 1) == -1, "title band");
    CHECK(ts_figure_act_map_at(r, p, W, H, ox - 2, oy + 3) == -1, "left of the grid");
    CHECK(ts_figure_act_map_at(r, p, W, H, ox + 3, oy + g->h * sc + 2) == -1, "below the grid");
    CHECK(ts_figure_act_map_at(r, p, W, H, -5, -5) == -1, "outside the panel");
    CHECK(ts_figure_act_map_at(r, TS_PANEL_FACE, W, H, ox + 3, oy + 3) == -1, "another panel");
    ts_image_clear(&colours);
    cairo_surface_destroy(s);
}

static void test_view(TsFilterView *v, const ts_inspect *r, const ts_model *model, int mi, int k)
{
    const ts_act_layer *L = &r->model[mi].act_layer;
    CHECK(ts_filter_view_show(v, r, mi, k), "show model %d map %d", mi, k);
    CHECK(ts_filter_view_get_model(v) == mi && ts_filter_view_get_map_index(v) == k, "indices");
    int h, w, c, kh, kw;
    const float *map = ts_filter_view_get_map(v, &h, &w);
    size_t hw = (size_t)L->h * L->w;
    CHECK(map && h == L->h && w == L->w && !memcmp(map, L->maps + k * hw, hw * sizeof(float)),
          "model %d: map %d shown is not the inspect result's", mi, k);
    const float *f = ts_filter_view_get_filter(v, &c, &kh, &kw);
    size_t per = (size_t)L->in_c * L->kh * L->kw;
    CHECK(f && c == L->in_c && kh == L->kh && kw == L->kw && !memcmp(f, L->weight + k * per, per * sizeof(float)),
          "model %d: filter %d shown is not the inspect result's", mi, k);
    /* ... which are the model's own weights */
    const ts_node *nd = &model->graph->nodes[ts_graph_index(model->graph, "conv1")];
    CHECK(c == model->meta.in_channels && !memcmp(f, nd->weight.data + k * per, per * sizeof(float)),
          "model %d: filter %d is not the model's conv1 filter", mi, k);
    float mn, mx, lo, hi;
    double mean, s = 0;
    ts_filter_view_get_stats(v, &mn, &mx, &mean);
    ts_filter_view_get_range(v, &lo, &hi);
    float wmn = INFINITY, wmx = -INFINITY;
    for (size_t q = 0; q < hw; q++) {
        wmn = fminf(wmn, map[q]), wmx = fmaxf(wmx, map[q]);
        s += map[q];
    }
    CHECK(mn == wmn && mx == wmx && fabs(mean - s / hw) < 1e-9 * (1 + fabs(mean)), "stats %g %g %g", mn, mx, mean);
    CHECK(lo == mn && hi == mx, "per-map grid: range is the map's own (%g..%g vs %g..%g)", lo, hi, mn, mx);
}

int main(int argc, char **argv)
{
    if (!gtk_init_check()) {
        printf("SKIP: no display\n");
        return 77;
    }
    const char *root = g_getenv("TS_SOURCE_ROOT");
    if (!root) root = ".";
    char *bp = g_build_filename(root, "resources", "models", "baseline.safetensors", NULL);
    char *lp = g_build_filename(root, "resources", "models", "lacnn.safetensors", NULL);
    char *ip = g_build_filename(root, "node_modules", "@vladmandic", "face-api", "demo", "sample1.jpg", NULL);
    ts_model *models[TS_INSPECT_MODELS] = { 0 };
    ts_image photo = { 0 };
    if (ts_model_load(bp, &models[0]) != TS_OK || ts_model_load(lp, &models[1]) != TS_OK ||
        ts_image_load(ip, &photo) != TS_OK) {
        printf("SKIP: %s\n", ts_last_error());
        return 77;
    }
    ts_inspector *in = ts_inspector_new();
    ts_inspect r;
    if (ts_inspector_run(in, &photo, models, NULL, &r) != TS_OK) {
        printf("SKIP: inspector: %s\n", ts_last_error());
        return 77;
    }
    CHECK(!r.model[0].error[0] && !r.model[1].error[0], "models: '%s' '%s'", r.model[0].error, r.model[1].error);
    CHECK(r.model[1].act_layer.in_c == 4, "LACNN conv1 has %d input channels", r.model[1].act_layer.in_c);

    test_hits(&r, TS_PANEL_ACT_A, 420, 300);
    test_hits(&r, TS_PANEL_ACT_B, 420, 300);
    test_hits(&r, TS_PANEL_ACT_B, 1200, 500); /* large: gaps several pixels wide */
    test_hits(&r, TS_PANEL_ACT_A, 260, 700);  /* tall */

    GtkWidget *win = gtk_window_new();
    gtk_window_set_default_size(GTK_WINDOW(win), 560, 420);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *view = ts_filter_view_new();
    gtk_box_append(GTK_BOX(box), view);
    gtk_window_set_child(GTK_WINDOW(win), box);
    TsFilterView *v = TS_FILTER_VIEW(view);
    CHECK(!ts_filter_view_show(v, &r, 1, r.model[1].act_layer.c), "map past the last");
    CHECK(ts_filter_view_get_map(v, NULL, NULL) == NULL, "nothing shown after a bad index");
    for (int k = 0; k < r.model[0].act_layer.c; k += 5) test_view(v, &r, models[0], 0, k);
    for (int k = 0; k < r.model[1].act_layer.c; k += 5) test_view(v, &r, models[1], 1, k);

    /* the popover path on a panel-sized widget, with a click's coordinates */
    GtkWidget *panel = gtk_drawing_area_new();
    gtk_widget_set_size_request(panel, 420, 300);
    gtk_box_append(GTK_BOX(box), panel);
    gtk_window_present(GTK_WINDOW(win));
    pump(300);

    /* show map 7 of the LACNN, then drop the result: the view keeps copies */
    ts_filter_view_set_model_name(v, "LACNN");
    test_view(v, &r, models[1], 1, 7);
    pump(300);
    save_png(win, "filter-view.png");
    ts_inspect_clear(&r);
    pump(100);

    /* move the view into a popover pointing at a click in the panel */
    g_object_ref(view);
    gtk_box_remove(GTK_BOX(box), view);
    GtkPopover *pop = ts_filter_view_popup_at(v, panel, 200, 150);
    g_object_unref(view);
    pump(300);
    CHECK(pop && gtk_widget_get_visible(GTK_WIDGET(pop)), "popover not shown");
    if (pop) save_png(GTK_WIDGET(pop), "filter-popover.png");
    CHECK(gtk_widget_get_ancestor(view, GTK_TYPE_POPOVER) == GTK_WIDGET(pop), "view not in the popover");
    CHECK(ts_filter_view_popup_at(v, panel, 40, 40) == pop, "same popover re-used");
    int h, w;
    CHECK(ts_filter_view_get_map(v, &h, &w) != NULL && h > 0, "copy gone with the result");
    gtk_window_destroy(GTK_WINDOW(win));
    pump(200);

    ts_inspector_free(in);
    ts_image_clear(&photo);
    ts_model_free(models[0]);
    ts_model_free(models[1]);
    g_free(bp);
    g_free(lp);
    g_free(ip);
    (void)argc, (void)argv;
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("filter-view: all checks passed\n");
    return failures ? 1 : 0;
}
