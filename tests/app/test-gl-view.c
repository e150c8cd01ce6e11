/* test-gl-view.c - TsGlView (src/app/ts-gl-view.h) under Xvfb.
 *
 * What it checks:
 *   - the view's diverging table is ts_cmap_diverging for every float
 *     tried (random floats, the ends, NaN, +-Inf, denormals, both sides of
 *     every breakpoint; TS_TEST_EXHAUSTIVE=1 tries all floats in [-1,1]);
 *   - what the widget draws on screen (read back through the window's own
 *     GSK renderer) equals ts_gl_view_render_cairo at the same size, pixel
 *     for pixel, for heatmaps, A(x,y), the face under them, the crosshair,
 *     at zooms from 0.7 to 37 and fractional origins;
 *   - the mapping itself: with zoom 4 and origin (10, 20), screen pixel
 *     (10 + 4i + 2, 20 + 4j + 1) is ts_colormap_relevance's (or
 *     ts_colormap_amap's) colour of map pixel (i, j), for every map pixel;
 *   - input: keys (+, -, arrows, 0), scroll about the pointer, drag,
 *     double-click, and "hover" coordinates (pixel centres at integers,
 *     -1 outside), by emitting the widget's event controllers' signals.
 * Modes: no argument (whatever GL GTK gives, normally GL 3.3+ core on
 * Mesa llvmpipe), --gles (asks for OpenGL ES), --no-gl (GDK_DEBUG=
 * gl-disable: the Cairo fallback draws the widget), --broken-shader (a
 * fragment shader that does not compile, laid over the GResource with
 * G_RESOURCE_OVERLAYS: the compile error is reported and Cairo draws).  When GL cannot be
 * had, the test says so and checks the Cairo path.  TS_GL_VIEW_SHOTS=DIR
 * saves the screen and the twin as PNGs.
 */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/ts-gl-view.h"
#include "app/ts-render.h"
#include "explain/colormap.h"
#include "face/amap.h"
#include "face/image.h"

#define VIEW_W 480
#define VIEW_H 360

static int failures;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            failures++;                                   \
            printf("FAIL (%s:%d): ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                          \
            printf("\n");                                 \
        }                                                 \
    } while (0)

/* ---- the colour table ---- */

static int lookup_differs(float t)
{
    uint8_t a[3], b[3];
    ts_cmap_diverging(t, a);
    ts_gl_view_diverging_lookup(t, b);
    return memcmp(a, b, 3) != 0;
}

static float float_from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static void test_table(void)
{
    long bad = 0, tried = 0;
    float special[] = { 0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 1e-40f, -1e-40f, 2.0f, -2.0f, 1e30f, -1e30f,
                        INFINITY, -INFINITY, NAN, 0.1f, -0.1f, 0.2f, 0.8f, -0.6f };
    for (size_t i = 0; i < G_N_ELEMENTS(special); i++, tried++) bad += lookup_differs(special[i]);
    GRand *rng = g_rand_new_with_seed(7);
    for (int i = 0; i < 2000000; i++, tried++) {
        float t = (i & 1) ? (float)g_rand_double_range(rng, -1.2, 1.2) : float_from_bits(g_rand_int(rng));
        bad += lookup_differs(t);
    }
    /* both sides of every colour change, found by walking fine samples */
    uint8_t prev[3], c[3];
    ts_cmap_diverging(-1.0f, prev);
    for (int j = 1; j <= 1 << 20; j++) {
        float t = -1.0f + 2.0f * (float)j / (float)(1 << 20);
        ts_cmap_diverging(t, c);
        if (memcmp(c, prev, 3)) {
            float lo = t - 2.0f / (1 << 20), hi = t;
            while (nextafterf(lo, hi) != hi) {
                float mid = lo + (hi - lo) / 2;
                if (mid == lo || mid == hi) break;
                uint8_t m[3];
                ts_cmap_diverging(mid, m);
                if (memcmp(m, prev, 3)) hi = mid;
                else lo = mid;
            }
            bad += lookup_differs(lo) + lookup_differs(hi);
            tried += 2;
            memcpy(prev, c, 3);
        }
    }
    g_rand_free(rng);
    if (g_getenv("TS_TEST_EXHAUSTIVE")) {
        /* every float in [-1, 1] (about 2.1e9): a minute or so */
        for (uint32_t b = 0; b <= 0x3f800000u; b++) {
            bad += lookup_differs(float_from_bits(b)) + lookup_differs(float_from_bits(b | 0x80000000u));
            tried += 2;
        }
    }
    printf("colour table: %ld floats tried, %ld differ from ts_cmap_diverging\n", tried, bad);
    CHECK(bad == 0, "the view's diverging table differs from colormap.c for %ld floats", bad);
}

/* ---- maps ---- */

#define HEAT_W 64
#define HEAT_H 64
#define AMAP_W 128
#define AMAP_H 96

static void make_heat(float *h)
{
    for (int y = 0; y < HEAT_H; y++)
        for (int x = 0; x < HEAT_W; x++) {
            double u = (x - 31.5) / 20.0, v = (y - 28.0) / 16.0;
            h[y * HEAT_W + x] = (float)(sin(x * 0.23) * cos(y * 0.17) * exp(-(u * u + v * v) / 2) + 0.002 * (x - y));
        }
    h[3 * HEAT_W + 3] = NAN;
    h[3 * HEAT_W + 5] = INFINITY;
    h[3 * HEAT_W + 7] = -INFINITY;
    h[3 * HEAT_W + 9] = 0.0f;
}

/* 68 points roughly where a face's landmarks are (jaw, brows, nose, eyes,
 * mouth), in a 128 x 96 map */
static void make_amap(uint8_t *a)
{
    ts_points p = { .n = 68 };
    for (int i = 0; i < 17; i++) {
        double t = G_PI * (0.05 + 0.9 * i / 16.0);
        p.x[i] = (float)(64 - 50 * cos(t)), p.y[i] = (float)(30 + 60 * sin(t));
    }
    for (int i = 17; i < 27; i++) p.x[i] = (float)(24 + (i - 17) * 9 + (i >= 22 ? 6 : 0)), p.y[i] = 22 - (float)fabs(i - 21.5) * 0.8f;
    for (int i = 27; i < 36; i++) p.x[i] = i < 31 ? 64 : (float)(52 + (i - 31) * 6), p.y[i] = i < 31 ? (float)(34 + (i - 27) * 6) : 60;
    for (int i = 36; i < 48; i++) {
        double t = 2 * G_PI * ((i - 36) % 6) / 6.0;
        p.x[i] = (float)((i < 42 ? 42 : 86) + 8 * cos(t)), p.y[i] = (float)(32 + 3 * sin(t));
    }
    for (int i = 48; i < 68; i++) {
        double t = 2 * G_PI * (i < 60 ? (i - 48) / 12.0 : (i - 60) / 8.0);
        double r = i < 60 ? 16 : 9;
        p.x[i] = (float)(64 + r * cos(t)), p.y[i] = (float)(76 + r * 0.4 * sin(t));
    }
    ts_status st = ts_amap_compute(&p, AMAP_W, AMAP_H, a);
    CHECK(st == TS_OK, "ts_amap_compute: %s", ts_last_error());
}

static void make_image(ts_image *img)
{
    const char *root = g_getenv("TS_SOURCE_ROOT");
    char *path = g_build_filename(root ? root : ".", "node_modules", "@vladmandic", "face-api", "demo", "sample1.jpg", NULL);
    if (ts_image_load(path, img) != TS_OK) {
        printf("note: %s not readable (%s); a synthetic image instead\n", path, ts_last_error());
        ts_image_init(img, 200, 150);
        for (int y = 0; y < 150; y++)
            for (int x = 0; x < 200; x++) {
                uint8_t *q = ts_image_pixel(img, x, y);
                q[0] = (uint8_t)x, q[1] = (uint8_t)(y * 1.7), q[2] = (uint8_t)((x ^ y) & 255);
            }
    }
    g_free(path);
}

/* ---- the window ---- */

static gboolean count_frame(GtkWidget *w, GdkFrameClock *clock, gpointer data)
{
    (void)w, (void)clock;
    (*(int *)data)++;
    return G_SOURCE_CONTINUE;
}

static gboolean timed_out(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Lets GTK draw a few frames (changes reach the screen). */
static void settle(GtkWidget *view)
{
    int frames = 0;
    gboolean late = FALSE;
    guint tick = gtk_widget_add_tick_callback(view, count_frame, &frames, NULL);
    guint to = g_timeout_add(10000, timed_out, &late);
    while (frames < 4 && !late) g_main_context_iteration(NULL, TRUE);
    gtk_widget_remove_tick_callback(view, tick);
    if (!late) g_source_remove(to);
    /* pending idles (the fallback's redraw) */
    while (g_main_context_pending(NULL)) g_main_context_iteration(NULL, FALSE);
    CHECK(!late, "no frames drawn in 10 s");
}

/* What the widget shows, rendered by its window's renderer (GL or Cairo),
 * as cairo ARGB32 words (GDK_MEMORY_DEFAULT). */
static guint32 *read_screen(GtkWidget *view, int w, int h)
{
    guint32 *buf = g_new0(guint32, (size_t)w * h);
    GdkTexture *tex = ts_widget_render(view);
    if (tex && gdk_texture_get_width(tex) == w && gdk_texture_get_height(tex) == h)
        gdk_texture_download(tex, (guchar *)buf, (gsize)w * 4);
    g_clear_object(&tex);
    return buf;
}

static void save_png(const char *name, const guint32 *px, int w, int h)
{
    const char *dir = g_getenv("TS_GL_VIEW_SHOTS");
    if (!dir) return;
    cairo_surface_t *s = cairo_image_surface_create_for_data((unsigned char *)px, CAIRO_FORMAT_RGB24, w, h, w * 4);
    char *path = g_build_filename(dir, name, NULL);
    cairo_surface_write_to_png(s, path);
    g_free(path);
    cairo_surface_destroy(s);
}

static guint32 *twin(TsGlView *view, int w, int h)
{
    cairo_surface_t *s = ts_gl_view_render_cairo(view, w, h);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS, "render_cairo failed");
    guint32 *px = g_new(guint32, (size_t)w * h);
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++) memcpy(px + (size_t)y * w, d + (size_t)y * stride, (size_t)w * 4);
    cairo_surface_destroy(s);
    return px;
}

/* Screen vs twin, pixel by pixel. */
static void compare_case(GtkWidget *view, const char *name)
{
    settle(view);
    int w = gtk_widget_get_width(view), h = gtk_widget_get_height(view);
    guint32 *screen = read_screen(view, w, h), *cpu = twin(TS_GL_VIEW(view), w, h);
    long ndiff = 0;
    int maxd = 0, fx = -1, fy = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            guint32 a = screen[(size_t)y * w + x] & 0xffffff, b = cpu[(size_t)y * w + x] & 0xffffff;
            if (a == b) continue;
            if (!ndiff) fx = x, fy = y;
            ndiff++;
            for (int s = 0; s <= 16; s += 8) maxd = MAX(maxd, abs((int)(a >> s & 255) - (int)(b >> s & 255)));
        }
    double zoom, ox, oy;
    ts_gl_view_get_transform(TS_GL_VIEW(view), &zoom, &ox, &oy);
    printf("%-28s %dx%d zoom %.4g origin (%.4g, %.4g), %s: %ld differing pixels, max channel difference %d\n", name, w,
           h, zoom, ox, oy, ts_gl_view_is_gl(TS_GL_VIEW(view)) ? "GL" : "Cairo", ndiff, maxd);
    CHECK(ndiff == 0, "%s: screen and Cairo twin differ in %ld pixels (first at %d,%d: %06x vs %06x)", name, ndiff,
          fx, fy, fx >= 0 ? screen[(size_t)fy * w + fx] & 0xffffff : 0, fx >= 0 ? cpu[(size_t)fy * w + fx] & 0xffffff : 0);
    char *n1 = g_strdup_printf("%s-screen.png", name), *n2 = g_strdup_printf("%s-twin.png", name);
    save_png(n1, screen, w, h);
    save_png(n2, cpu, w, h);
    g_free(n1), g_free(n2);
    g_free(screen), g_free(cpu);
}

/* Screen pixel (10 + 4i + 2, 20 + 4j + 1) = the colour map's pixel (i, j). */
static void check_mapping(GtkWidget *view, const ts_image *ref, const char *name)
{
    ts_gl_view_set_transform(TS_GL_VIEW(view), 4, 10, 20);
    settle(view);
    int w = gtk_widget_get_width(view), h = gtk_widget_get_height(view);
    guint32 *screen = read_screen(view, w, h), *cpu = twin(TS_GL_VIEW(view), w, h);
    long checked = 0, bad_screen = 0, bad_cpu = 0;
    for (int j = 0; j < ref->height; j++)
        for (int i = 0; i < ref->width; i++) {
            int x = 10 + 4 * i + 2, y = 20 + 4 * j + 1;
            if (x >= w || y >= h) continue;
            const uint8_t *c = ts_image_pixel(ref, i, j);
            guint32 want = (guint32)c[0] << 16 | (guint32)c[1] << 8 | c[2];
            bad_screen += (screen[(size_t)y * w + x] & 0xffffff) != want;
            bad_cpu += (cpu[(size_t)y * w + x] & 0xffffff) != want;
            checked++;
        }
    printf("%-28s %ld map pixels at their screen place: %ld wrong on screen, %ld in the twin\n", name, checked,
           bad_screen, bad_cpu);
    CHECK(checked > 1000 && bad_screen == 0 && bad_cpu == 0, "%s: colours at known places differ", name);
    g_free(screen), g_free(cpu);
}

/* ---- input ---- */

static GtkEventController *controller_of(GtkWidget *w, GType type)
{
    GListModel *list = gtk_widget_observe_controllers(w);
    GtkEventController *found = NULL;
    for (guint i = 0; i < g_list_model_get_n_items(list) && !found; i++) {
        GtkEventController *c = g_list_model_get_item(list, i);
        if (G_TYPE_CHECK_INSTANCE_TYPE(c, type)) found = c;
        g_object_unref(c);
    }
    g_object_unref(list);
    return found;
}

typedef struct hover_rec {
    double x, y;
    int n;
} hover_rec;

static void on_hover(TsGlView *v, double x, double y, hover_rec *r)
{
    (void)v;
    r->x = x, r->y = y, r->n++;
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-9 * (1 + fabs(b));
}

static void test_input(GtkWidget *view)
{
    TsGlView *v = TS_GL_VIEW(view);
    int w = gtk_widget_get_width(view), h = gtk_widget_get_height(view);
    double z, ox, oy, z0, ox0, oy0;
    gboolean ret = FALSE;

    /* double-click fits: the 64x64 map in 480x360 -> zoom 360/64, centred */
    GtkEventController *click = controller_of(view, GTK_TYPE_GESTURE_CLICK);
    GtkEventController *keys = controller_of(view, GTK_TYPE_EVENT_CONTROLLER_KEY);
    GtkEventController *scroll = controller_of(view, GTK_TYPE_EVENT_CONTROLLER_SCROLL);
    GtkEventController *drag = controller_of(view, GTK_TYPE_GESTURE_DRAG);
    GtkEventController *motion = controller_of(view, GTK_TYPE_EVENT_CONTROLLER_MOTION);
    CHECK(click && keys && scroll && drag && motion, "the view lacks an input controller");
    if (!(click && keys && scroll && drag && motion)) return;
    ts_gl_view_set_transform(v, 2, 0, 0);
    g_signal_emit_by_name(click, "pressed", 2, 10.0, 10.0);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    double fz = fmin((double)w / HEAT_W, (double)h / HEAT_H);
    CHECK(near(z, fz) && near(ox, (w - HEAT_W * fz) / 2) && near(oy, (h - HEAT_H * fz) / 2),
          "double-click: zoom %g origin (%g,%g), want %g (%g,%g)", z, ox, oy, fz, (w - HEAT_W * fz) / 2,
          (h - HEAT_H * fz) / 2);

    /* '+' zooms 1.25x about the centre, '-' back, arrows pan by 32 px */
    ts_gl_view_get_transform(v, &z0, &ox0, &oy0);
    g_signal_emit_by_name(keys, "key-pressed", GDK_KEY_plus, 0, 0, &ret);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    CHECK(ret && near(z, z0 * 1.25) && near((w / 2.0 - ox) / z, (w / 2.0 - ox0) / z0)
              && near((h / 2.0 - oy) / z, (h / 2.0 - oy0) / z0),
          "'+': zoom %g -> %g, centre not kept", z0, z);
    g_signal_emit_by_name(keys, "key-pressed", GDK_KEY_minus, 0, 0, &ret);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    CHECK(near(z, z0) && fabs(ox - ox0) < 1e-9 && fabs(oy - oy0) < 1e-9, "'-' does not undo '+'");
    g_signal_emit_by_name(keys, "key-pressed", GDK_KEY_Left, 0, 0, &ret);
    g_signal_emit_by_name(keys, "key-pressed", GDK_KEY_Down, 0, 0, &ret);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    CHECK(near(ox, ox0 + 32) && near(oy, oy0 - 32), "arrows: origin (%g,%g), want (%g,%g)", ox, oy, ox0 + 32, oy0 - 32);
    g_signal_emit_by_name(keys, "key-pressed", GDK_KEY_0, 0, 0, &ret);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    CHECK(near(z, fz), "'0' does not fit");

    /* hover: pixel centres at integers, -1 outside and on leave */
    hover_rec hr = { 0, 0, 0 };
    gulong hid = g_signal_connect(view, "hover", G_CALLBACK(on_hover), &hr);
    ts_gl_view_set_transform(v, 4, 10, 20);
    g_signal_emit_by_name(motion, "motion", 10.0 + 4 * 7 + 2, 20.0 + 4 * 5 + 2);
    CHECK(hr.n == 1 && near(hr.x, 7) && near(hr.y, 5), "hover at the centre of (7,5): (%g,%g)", hr.x, hr.y);
    g_signal_emit_by_name(motion, "motion", 10.0 + 0.01, 20.0 + 4 * 64 - 0.01);
    CHECK(hr.n == 2 && near(hr.x, -0.5 + 0.0025) && hr.y < 63.5 && hr.y > 63.49, "hover near the corner: (%g,%g)",
          hr.x, hr.y);
    g_signal_emit_by_name(motion, "motion", 9.0, 30.0);
    CHECK(hr.n == 3 && hr.x == -1 && hr.y == -1, "hover left of the map: (%g,%g)", hr.x, hr.y);
    g_signal_emit_by_name(motion, "motion", 50.0, 50.0);
    g_signal_emit_by_name(motion, "leave");
    CHECK(hr.x == -1 && hr.y == -1, "leave: (%g,%g)", hr.x, hr.y);

    /* scroll zooms about the pointer: the map point under it stays */
    g_signal_emit_by_name(motion, "motion", 123.0, 77.0);
    double mx0, my0, mx1, my1;
    ts_gl_view_widget_to_map(v, 123.0, 77.0, &mx0, &my0);
    g_signal_emit_by_name(scroll, "scroll", 0.0, -2.0, &ret);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    ts_gl_view_widget_to_map(v, 123.0, 77.0, &mx1, &my1);
    CHECK(ret && near(z, 4 * 1.25 * 1.25) && fabs(mx1 - mx0) < 1e-9 && fabs(my1 - my0) < 1e-9,
          "scroll: zoom %g, point (%g,%g) -> (%g,%g)", z, mx0, my0, mx1, my1);

    /* drag pans by the pointer's travel */
    ts_gl_view_get_transform(v, &z0, &ox0, &oy0);
    g_signal_emit_by_name(drag, "drag-begin", 100.0, 100.0);
    g_signal_emit_by_name(drag, "drag-update", 17.5, -8.25);
    ts_gl_view_get_transform(v, &z, &ox, &oy);
    CHECK(near(z, z0) && near(ox, ox0 + 17.5) && near(oy, oy0 - 8.25), "drag: origin (%g,%g)", ox, oy);
    g_signal_handler_disconnect(view, hid);

    /* the API's zoom about a point */
    ts_gl_view_set_transform(v, 3, 5, 6);
    ts_gl_view_widget_to_map(v, 200, 150, &mx0, &my0);
    ts_gl_view_set_zoom(v, 7.5, 200, 150);
    ts_gl_view_widget_to_map(v, 200, 150, &mx1, &my1);
    ts_gl_view_get_transform(v, &z, NULL, NULL);
    CHECK(near(z, 7.5) && fabs(mx1 - mx0) < 1e-9 && fabs(my1 - my0) < 1e-9, "set_zoom about a point");
    printf("input: double-click, keys, hover, scroll, drag, set_zoom checked\n");
}

int main(int argc, char **argv)
{
    gboolean gles = argc > 1 && !strcmp(argv[1], "--gles");
    gboolean no_gl = argc > 1 && !strcmp(argv[1], "--no-gl");
    gboolean broken = argc > 1 && !strcmp(argv[1], "--broken-shader");
    char *overlay = NULL;
    if (no_gl) g_setenv("GDK_DEBUG", "gl-disable", TRUE);
    if (broken) {
        /* the real vertex shader and a fragment shader that cannot compile,
         * laid over the GResource's folder before anything reads it */
        const char *root = g_getenv("TS_SOURCE_ROOT");
        char *vert = NULL, *src = g_build_filename(root ? root : ".", "shaders", "view.vert.glsl", NULL);
        if (!g_file_get_contents(src, &vert, NULL, NULL)) {
            printf("SKIP: %s not readable (set TS_SOURCE_ROOT)\n", src);
            return 77;
        }
        overlay = g_dir_make_tmp("gl-view-XXXXXX", NULL);
        char *v = g_build_filename(overlay, "view.vert.glsl", NULL), *f = g_build_filename(overlay, "view.frag.glsl", NULL);
        g_file_set_contents(v, vert, -1, NULL);
        g_file_set_contents(f, "void main() { this is not GLSL; }\n", -1, NULL);
        char *env = g_strdup_printf("/org/traitscope/Traitscope/shaders=%s", overlay);
        g_setenv("G_RESOURCE_OVERLAYS", env, TRUE);
        g_free(env), g_free(v), g_free(f), g_free(src), g_free(vert);
    }
    if (!gtk_init_check()) {
        printf("SKIP: no display (run under xvfb-run)\n");
        return 77;
    }
    test_table();

    GtkWidget *win = gtk_window_new();
    gtk_window_set_decorated(GTK_WINDOW(win), FALSE);
    gtk_window_set_default_size(GTK_WINDOW(win), VIEW_W, VIEW_H);
    GtkWidget *view = ts_gl_view_new();
    gtk_widget_set_size_request(view, VIEW_W, VIEW_H);
    if (gles) ts_gl_view_set_use_es(TS_GL_VIEW(view), TRUE);
    gtk_window_set_child(GTK_WINDOW(win), view);

    float *heat = g_new(float, HEAT_W * HEAT_H);
    uint8_t *amap = g_new(uint8_t, AMAP_W * AMAP_H);
    ts_image face = { 0 };
    make_heat(heat);
    make_amap(amap);
    make_image(&face);
    TsGlView *v = TS_GL_VIEW(view);
    ts_gl_view_set_heat(v, heat, HEAT_W, HEAT_H, 0);
    gtk_window_present(GTK_WINDOW(win));
    settle(view);

    gboolean gl_at_start = ts_gl_view_is_gl(v);
    const char *renderer = G_OBJECT_TYPE_NAME(gtk_native_get_renderer(GTK_NATIVE(win)));
    if (ts_gl_view_is_gl(v)) {
        printf("GL path active: %s (%s), window renderer %s\n", ts_gl_view_get_gl_info(v),
               gles ? "OpenGL ES requested" : "default API", renderer);
        if (gles) CHECK(g_str_has_prefix(ts_gl_view_get_gl_info(v), "OpenGL ES"), "asked for GLES, got %s",
                        ts_gl_view_get_gl_info(v));
    } else {
        printf("NOTE: the GL path is not active (%s); only the Cairo path is checked (renderer %s)\n",
               ts_gl_view_get_gl_error(v), renderer);
        CHECK(no_gl || broken || !g_getenv("TS_TEST_REQUIRE_GL"), "TS_TEST_REQUIRE_GL: no GL under Xvfb");
    }
    if (no_gl) CHECK(!ts_gl_view_is_gl(v), "GL active although GDK_DEBUG=gl-disable");
    if (broken) CHECK(!ts_gl_view_is_gl(v) && strstr(ts_gl_view_get_gl_error(v), "view.frag.glsl does not compile"),
                      "a broken shader: GL %d, error '%s'", ts_gl_view_is_gl(v), ts_gl_view_get_gl_error(v));

    /* the mapping against colormap.c */
    ts_image ref = { 0 };
    float scale_used = 0;
    ts_colormap_relevance(heat, HEAT_W, HEAT_H, 0, &ref, &scale_used);
    CHECK(scale_used == ts_gl_view_get_heat_scale(v), "scale %g vs colormap.c's %g", ts_gl_view_get_heat_scale(v),
          scale_used);
    check_mapping(view, &ref, "mapping heat");
    ts_image_clear(&ref);

    /* screen vs twin */
    ts_gl_view_set_transform(v, 5.5, -13.25, 7.75);
    compare_case(view, "heat");
    ts_gl_view_set_transform(v, 37, -200.5, -310.3);
    compare_case(view, "heat-zoom37");
    ts_gl_view_set_image(v, &face, TRUE);
    ts_gl_view_set_opacity(v, 0.6);
    ts_gl_view_set_transform(v, 3.3, 31.7, -12.2);
    ts_gl_view_set_crosshair(v, 20.3, 40.7);
    compare_case(view, "heat-over-grey-face");
    ts_gl_view_set_heat(v, heat, HEAT_W, HEAT_H, 0.05f); /* a fixed scale: saturates */
    compare_case(view, "heat-fixed-scale");
    ts_gl_view_set_image(v, NULL, FALSE);
    ts_gl_view_set_crosshair(v, -1, -1);

    ts_gl_view_set_amap(v, amap, AMAP_W, AMAP_H);
    ts_colormap_amap(amap, AMAP_W, AMAP_H, &ref);
    check_mapping(view, &ref, "mapping amap");
    ts_image_clear(&ref);
    ts_gl_view_fit(v);
    compare_case(view, "amap-fit");
    ts_gl_view_set_image(v, &face, FALSE);
    ts_gl_view_set_opacity(v, 0.45);
    ts_gl_view_set_transform(v, 0.7, 101.3, 77.9);
    compare_case(view, "amap-over-face-zoom0.7");
    ts_gl_view_fit(v);
    ts_gl_view_set_crosshair(v, 64, 40);
    compare_case(view, "amap-over-face-fit");
    ts_gl_view_set_layer(v, TS_GL_VIEW_IMAGE);
    compare_case(view, "face");

    /* input, then one more look through the moved view */
    ts_gl_view_set_crosshair(v, -1, -1);
    ts_gl_view_set_image(v, NULL, FALSE);
    ts_gl_view_set_heat(v, heat, HEAT_W, HEAT_H, 0);
    settle(view);
    test_input(view);
    compare_case(view, "heat-after-input");
    gboolean was_gl = gl_at_start, is_gl = ts_gl_view_is_gl(v);
    CHECK(is_gl == was_gl, "the GL path %s during the test: %s", was_gl ? "stopped" : "started",
          ts_gl_view_get_gl_error(v));

    gtk_window_destroy(GTK_WINDOW(win));
    g_free(heat);
    g_free(amap);
    if (overlay) {
        char *v = g_build_filename(overlay, "view.vert.glsl", NULL), *f = g_build_filename(overlay, "view.frag.glsl", NULL);
        g_remove(v), g_remove(f), g_rmdir(overlay);
        g_free(v), g_free(f), g_free(overlay);
    }
    ts_image_clear(&face);
    if (failures) {
        printf("gl-view: %d checks failed\n", failures);
        return 1;
    }
    printf("gl-view: all checks passed (%s path)\n", is_gl ? "GL" : "Cairo");
    return 0;
}
