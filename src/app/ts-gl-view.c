/* ts-gl-view.c - TsGlView: a map (relevance or A(x,y)) over the face with
 * pan and zoom, drawn by shaders/view.{vert,frag}.glsl in a GtkGLArea, or
 * by ts_gl_render_cpu() (ts-gl-view-cpu.c), its Cairo twin, where GL is
 * missing or fails.
 *
 * Invariants:
 *   - One set of numbers drives both paths: params_compute() turns the
 *     widget state into the float / int values the shader receives as
 *     uniforms, and ts_gl_render_cpu() evaluates view.frag.glsl's contract with
 *     the very same values and the very same float operations (a
 *     subtraction then a multiplication, no fusable a*b+c), so the two
 *     paths give identical pixels (tests/app/test-gl-view.c checks it).
 *   - Colours are colormap.c's: the diverging map becomes a table of
 *     breakpoints (every float t where ts_cmap_diverging's output changes)
 *     and the colour of each interval; looking t up there is
 *     ts_cmap_diverging(t) for every float, so no formula is re-derived in
 *     GLSL.  Categories are ts_cmap_categorical's 256 colours.
 *   - The widget owns copies of every map it shows; nothing is computed
 *     here but colours (no engine call while drawing).
 *   - GL failure is final for the widget's life: once the Cairo path takes
 *     over (gl_error set), the GLArea is no longer drawn.
 */
#include "app/ts-gl-view.h"

#include <epoxy/gl.h>
#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain/colormap.h"
#include "app/ts-gl-view-cpu.h"

#define RESOURCE_SHADERS "/org/traitscope/Traitscope/shaders/"
#define ZOOM_MIN (1.0 / 32)
#define ZOOM_MAX 512.0
#define ZOOM_STEP 1.25
#define TABLE_W 256 /* entries per row of the table textures (shader: i & 255, i >> 8) */

/* ---- the widget ---- */

enum { U_FB_HEIGHT, U_ORIGIN, U_INV_ZOOM, U_MAP_SIZE, U_LAYER, U_HEAT_INV, U_N_BREAKS, U_HAS_IMAGE,
       U_IMG_STEP, U_IMG_SIZE, U_ALPHA, U_CROSS_ON, U_CROSS, U_CROSS_COLOUR, U_BACKGROUND,
       U_HEAT, U_BREAKS, U_HEAT_COLOURS, U_AMAP, U_CATEGORIES, U_IMAGE, N_UNIFORMS };
static const char *const uniform_names[N_UNIFORMS] = {
    "u_fb_height", "u_origin", "u_inv_zoom", "u_map_size", "u_layer", "u_heat_inv", "u_n_breaks",
    "u_has_image", "u_img_step", "u_img_size", "u_alpha", "u_cross_on", "u_cross", "u_cross_colour",
    "u_background", "u_heat", "u_breaks", "u_heat_colours", "u_amap", "u_categories", "u_image",
};
/* texture units, in the order of the sampler uniforms above */
enum { T_HEAT, T_BREAKS, T_HEAT_COLOURS, T_AMAP, T_CATEGORIES, T_IMAGE, N_TEX };
enum { DIRTY_HEAT = 1, DIRTY_AMAP = 2, DIRTY_IMAGE = 4 };

struct _TsGlView {
    GtkWidget parent_instance;
    GtkWidget *area; /* GtkGLArea */

    /* what is shown (owned copies) */
    float *heat_rg; /* (H,W,2): value, kind (0 finite, 1 NaN, 2 +Inf, 3 -Inf) */
    int heat_w, heat_h;
    float heat_scale, heat_inv;
    uint8_t *amap;
    int amap_w, amap_h;
    ts_image image; /* data NULL: none */
    TsGlViewLayer layer;
    double opacity;
    double cross_x, cross_y;

    /* transform: widget = origin + zoom * (map + 0.5) */
    double zoom, ox, oy;
    gboolean user_moved;
    int fitted_w, fitted_h; /* base size the last fit was for */
    double pointer_x, pointer_y;
    gboolean pointer_in;
    double hover_x, hover_y; /* last emitted */
    double drag_ox, drag_oy, pinch_zoom;

    /* GL */
    gboolean use_es, gl_ok;
    char *gl_error; /* non-NULL: the Cairo path draws */
    char *gl_info;
    GLuint program, vao, tex[N_TEX];
    GLint loc[N_UNIFORMS];
    GLint max_tex;
    unsigned dirty;
};

G_DEFINE_FINAL_TYPE(TsGlView, ts_gl_view, GTK_TYPE_WIDGET)

enum { SIG_HOVER, SIG_VIEW_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];


/* The layer actually drawn and the size of its map (the coordinate space). */
static int effective_layer(const TsGlView *self, int *w, int *h)
{
    if (self->layer == TS_GL_VIEW_HEAT && self->heat_rg) {
        *w = self->heat_w, *h = self->heat_h;
        return 0;
    }
    if (self->layer == TS_GL_VIEW_AMAP && self->amap) {
        *w = self->amap_w, *h = self->amap_h;
        return 1;
    }
    if (self->image.data) {
        *w = self->image.width, *h = self->image.height;
        return 2;
    }
    *w = *h = 0;
    return 3;
}

static int clamp_int(double v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

static void params_compute(const TsGlView *self, int fb_w, int fb_h, double scale, view_params *p)
{
    memset(p, 0, sizeof *p);
    p->fb_w = fb_w, p->fb_h = fb_h;
    p->layer = effective_layer(self, &p->map_w, &p->map_h);
    p->origin[0] = (float)(self->ox * scale);
    p->origin[1] = (float)(self->oy * scale);
    p->inv_zoom = (float)(1.0 / (self->zoom * scale));
    p->heat_inv = self->heat_inv;
    p->alpha = 256;
    if (self->image.data && p->layer != 3) {
        p->has_image = 1;
        p->img_w = self->image.width, p->img_h = self->image.height;
        p->img_step[0] = (float)((double)p->inv_zoom * p->img_w / p->map_w);
        p->img_step[1] = (float)((double)p->inv_zoom * p->img_h / p->map_h);
        if (p->layer != 2) p->alpha = (int)lrint(self->opacity * 256);
    }
    if (self->cross_x >= 0 && self->cross_y >= 0 && p->layer != 3) {
        p->cross_on = 1;
        /* kept within a pixel or two of the framebuffer: far-off values
         * must not overflow an int */
        p->cross[0] = clamp_int(floor((self->ox + (self->cross_x + 0.5) * self->zoom) * scale), -2, fb_w + 1);
        p->cross[1] = clamp_int(floor((self->oy + (self->cross_y + 0.5) * self->zoom) * scale), -2, fb_h + 1);
    }
}

static ts_gl_maps maps_of(const TsGlView *self)
{
    ts_gl_maps m = { self->heat_rg, self->amap, self->image };
    return m;
}

cairo_surface_t *ts_gl_view_render_cairo(TsGlView *self, int width, int height)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), NULL);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, MAX(width, 1), MAX(height, 1));
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
    view_params p;
    params_compute(self, MAX(width, 1), MAX(height, 1), 1.0, &p);
    cairo_surface_flush(s);
    ts_gl_maps maps = maps_of(self);
    ts_gl_render_cpu(&maps, &p, (uint32_t *)cairo_image_surface_get_data(s), cairo_image_surface_get_stride(s) / 4);
    cairo_surface_mark_dirty(s);
    return s;
}

/* ---- transform ---- */

static void queue_redraw(TsGlView *self)
{
    if (self->area && !self->gl_error) gtk_gl_area_queue_render(GTK_GL_AREA(self->area));
    gtk_widget_queue_draw(GTK_WIDGET(self));
}

static void changed(TsGlView *self)
{
    queue_redraw(self);
    g_signal_emit(self, signals[SIG_VIEW_CHANGED], 0);
}

static void fit(TsGlView *self)
{
    int bw, bh, W = gtk_widget_get_width(GTK_WIDGET(self)), H = gtk_widget_get_height(GTK_WIDGET(self));
    effective_layer(self, &bw, &bh);
    if (bw < 1 || bh < 1 || W < 1 || H < 1) return;
    self->zoom = CLAMP(fmin((double)W / bw, (double)H / bh), ZOOM_MIN, ZOOM_MAX);
    self->ox = (W - bw * self->zoom) / 2;
    self->oy = (H - bh * self->zoom) / 2;
    self->fitted_w = bw, self->fitted_h = bh;
    changed(self);
}

void ts_gl_view_fit(TsGlView *self)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    self->user_moved = FALSE;
    fit(self);
}

/* After the map changed: a new size re-fits (the old transform was for
 * other pixels); the same size keeps the user's view. */
static void map_changed(TsGlView *self)
{
    int bw, bh;
    effective_layer(self, &bw, &bh);
    if (!self->user_moved || bw != self->fitted_w || bh != self->fitted_h) {
        self->user_moved = FALSE;
        fit(self);
    }
    queue_redraw(self);
}

void ts_gl_view_get_transform(TsGlView *self, double *zoom, double *ox, double *oy)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    if (zoom) *zoom = self->zoom;
    if (ox) *ox = self->ox;
    if (oy) *oy = self->oy;
}

void ts_gl_view_set_transform(TsGlView *self, double zoom, double ox, double oy)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    if (!isfinite(zoom) || !isfinite(ox) || !isfinite(oy)) return;
    self->zoom = CLAMP(zoom, ZOOM_MIN, ZOOM_MAX);
    self->ox = ox, self->oy = oy;
    self->user_moved = TRUE;
    effective_layer(self, &self->fitted_w, &self->fitted_h);
    changed(self);
}

void ts_gl_view_set_zoom(TsGlView *self, double zoom, double wx, double wy)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    if (!isfinite(zoom)) return;
    zoom = CLAMP(zoom, ZOOM_MIN, ZOOM_MAX);
    /* the map point under (wx, wy) stays there */
    double px = (wx - self->ox) / self->zoom, py = (wy - self->oy) / self->zoom;
    ts_gl_view_set_transform(self, zoom, wx - px * zoom, wy - py * zoom);
}

gboolean ts_gl_view_widget_to_map(TsGlView *self, double wx, double wy, double *mx, double *my)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), FALSE);
    int bw, bh;
    effective_layer(self, &bw, &bh);
    double x = (wx - self->ox) / self->zoom - 0.5, y = (wy - self->oy) / self->zoom - 0.5;
    if (mx) *mx = x;
    if (my) *my = y;
    return bw > 0 && x >= -0.5 && y >= -0.5 && x < bw - 0.5 && y < bh - 0.5;
}

/* ---- data ---- */

void ts_gl_view_set_heat(TsGlView *self, const float *map, int w, int h, float scale)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    g_clear_pointer(&self->heat_rg, g_free);
    self->heat_w = self->heat_h = 0;
    self->heat_scale = self->heat_inv = 0;
    if (map && w > 0 && h > 0) {
        size_t n = (size_t)w * h;
        self->heat_rg = g_new(float, 2 * n);
        self->heat_w = w, self->heat_h = h;
        /* colormap.c's rule: a fixed positive scale, or max |finite value| */
        if (!(scale > 0) || !isfinite(scale)) {
            scale = 0;
            for (size_t i = 0; i < n; i++)
                if (isfinite(map[i]) && fabsf(map[i]) > scale) scale = fabsf(map[i]);
        }
        self->heat_scale = scale;
        self->heat_inv = scale > 0 ? 1.0f / scale : 0.0f;
        for (size_t i = 0; i < n; i++) {
            float v = map[i];
            self->heat_rg[2 * i] = isfinite(v) ? v : 0.0f;
            self->heat_rg[2 * i + 1] = isnan(v) ? 1.0f : isinf(v) ? (v > 0 ? 2.0f : 3.0f) : 0.0f;
        }
    }
    self->layer = TS_GL_VIEW_HEAT;
    self->dirty |= DIRTY_HEAT;
    map_changed(self);
}

float ts_gl_view_get_heat_scale(TsGlView *self)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), 0);
    return self->heat_scale;
}

void ts_gl_view_set_amap(TsGlView *self, const uint8_t *map, int w, int h)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    g_clear_pointer(&self->amap, g_free);
    self->amap_w = self->amap_h = 0;
    if (map && w > 0 && h > 0) {
        self->amap = g_memdup2(map, (size_t)w * h);
        self->amap_w = w, self->amap_h = h;
    }
    self->layer = TS_GL_VIEW_AMAP;
    self->dirty |= DIRTY_AMAP;
    map_changed(self);
}

void ts_gl_view_set_image(TsGlView *self, const ts_image *img, gboolean grey)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    ts_image_clear(&self->image);
    if (img && img->data && ts_image_copy(&self->image, img) == TS_OK && grey) ts_image_to_grey(&self->image);
    self->dirty |= DIRTY_IMAGE;
    map_changed(self);
}

void ts_gl_view_set_layer(TsGlView *self, TsGlViewLayer layer)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    if (self->layer == layer) return;
    self->layer = layer;
    map_changed(self);
}

TsGlViewLayer ts_gl_view_get_layer(TsGlView *self)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), TS_GL_VIEW_HEAT);
    return self->layer;
}

void ts_gl_view_set_opacity(TsGlView *self, double opacity)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    self->opacity = CLAMP(opacity, 0.0, 1.0);
    queue_redraw(self);
}

void ts_gl_view_set_crosshair(TsGlView *self, double x, double y)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    if (x < 0 || y < 0 || !isfinite(x) || !isfinite(y)) x = y = -1;
    if (x == self->cross_x && y == self->cross_y) return;
    self->cross_x = x, self->cross_y = y;
    queue_redraw(self);
}

/* ---- GL ---- */

static gboolean queue_draw_idle(gpointer data)
{
    gtk_widget_queue_draw(GTK_WIDGET(data));
    return G_SOURCE_REMOVE;
}

/* From now on the Cairo twin draws. */
static void use_cairo(TsGlView *self, const char *why, gboolean is_bug)
{
    if (self->gl_error) return;
    self->gl_ok = FALSE;
    self->gl_error = g_strdup(why && *why ? why : "unknown GL error");
    if (is_bug) g_warning("map view: GL failed, drawing with Cairo: %s", self->gl_error);
    else g_message("map view: no usable GL, drawing with Cairo: %s", self->gl_error);
    /* not from inside a snapshot: the next frame */
    g_idle_add_full(G_PRIORITY_DEFAULT, queue_draw_idle, g_object_ref(self), g_object_unref);
}

static GLuint compile_shader(GLenum type, const char *prefix, const char *name, GString *log)
{
    GError *err = NULL;
    char *path = g_strconcat(RESOURCE_SHADERS, name, NULL);
    GBytes *src = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, &err);
    g_free(path);
    if (!src) {
        g_string_append_printf(log, "%s: %s", name, err->message);
        g_error_free(err);
        return 0;
    }
    gsize len;
    const char *body = g_bytes_get_data(src, &len);
    const char *texts[2] = { prefix, body };
    GLint lens[2] = { (GLint)strlen(prefix), (GLint)len };
    GLuint sh = glCreateShader(type);
    glShaderSource(sh, 2, texts, lens);
    glCompileShader(sh);
    g_bytes_unref(src);
    GLint ok = 0;
    glGetShaderiv(sh, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        GLint n = 0;
        glGetShaderiv(sh, GL_INFO_LOG_LENGTH, &n);
        char *msg = g_malloc0((size_t)n + 1);
        glGetShaderInfoLog(sh, n, NULL, msg);
        g_string_append_printf(log, "%s does not compile: %s", name, msg);
        g_free(msg);
        glDeleteShader(sh);
        return 0;
    }
    return sh;
}

static GLuint make_texture(void)
{
    GLuint t;
    glGenTextures(1, &t);
    glBindTexture(GL_TEXTURE_2D, t);
    /* integer and float textures are complete only without filtering */
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    return t;
}

/* A table of n entries of entry_bytes each as a TABLE_W-wide texture
 * (zero padding after the last entry). */
static void upload_table(GLuint tex, GLenum internal, GLenum format, GLenum type, const void *data, int n,
                         size_t entry_bytes)
{
    int rows = (n + TABLE_W - 1) / TABLE_W;
    guint8 *buf = g_malloc0((size_t)rows * TABLE_W * entry_bytes);
    memcpy(buf, data, (size_t)n * entry_bytes);
    glBindTexture(GL_TEXTURE_2D, tex);
    glTexImage2D(GL_TEXTURE_2D, 0, internal, TABLE_W, rows, 0, format, type, buf);
    g_free(buf);
}

static void upload_dirty(TsGlView *self)
{
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    if (self->dirty & DIRTY_HEAT) {
        glBindTexture(GL_TEXTURE_2D, self->tex[T_HEAT]);
        static const float none[2] = { 0, 0 };
        if (self->heat_rg) glTexImage2D(GL_TEXTURE_2D, 0, GL_RG32F, self->heat_w, self->heat_h, 0, GL_RG, GL_FLOAT, self->heat_rg);
        else glTexImage2D(GL_TEXTURE_2D, 0, GL_RG32F, 1, 1, 0, GL_RG, GL_FLOAT, none);
    }
    if (self->dirty & DIRTY_AMAP) {
        glBindTexture(GL_TEXTURE_2D, self->tex[T_AMAP]);
        static const uint8_t none = 0;
        if (self->amap) glTexImage2D(GL_TEXTURE_2D, 0, GL_R8UI, self->amap_w, self->amap_h, 0, GL_RED_INTEGER, GL_UNSIGNED_BYTE, self->amap);
        else glTexImage2D(GL_TEXTURE_2D, 0, GL_R8UI, 1, 1, 0, GL_RED_INTEGER, GL_UNSIGNED_BYTE, &none);
    }
    if (self->dirty & DIRTY_IMAGE) {
        glBindTexture(GL_TEXTURE_2D, self->tex[T_IMAGE]);
        int w = self->image.data ? self->image.width : 1, h = self->image.data ? self->image.height : 1;
        uint8_t *rgba = g_malloc0((size_t)w * h * 4);
        if (self->image.data)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    memcpy(rgba + 4 * ((size_t)y * w + x), ts_image_pixel(&self->image, x, y), 3);
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8UI, w, h, 0, GL_RGBA_INTEGER, GL_UNSIGNED_BYTE, rgba);
        g_free(rgba);
    }
    self->dirty = 0;
}

static void gl_free(TsGlView *self)
{
    if (self->program) glDeleteProgram(self->program);
    if (self->vao) glDeleteVertexArrays(1, &self->vao);
    glDeleteTextures(N_TEX, self->tex);
    self->program = self->vao = 0;
    memset(self->tex, 0, sizeof self->tex);
    self->gl_ok = FALSE;
}

static void area_realize(GtkGLArea *area, TsGlView *self)
{
    if (self->gl_error) return;
    gtk_gl_area_make_current(area);
    GError *e = gtk_gl_area_get_error(area);
    if (e) {
        use_cairo(self, e->message, FALSE);
        return;
    }
    GdkGLContext *ctx = gtk_gl_area_get_context(area);
    gboolean es = gdk_gl_context_get_use_es(ctx);
    int major = 0, minor = 0;
    gdk_gl_context_get_version(ctx, &major, &minor);
    if (es ? major < 3 : (major < 3 || (major == 3 && minor < 3)) || gdk_gl_context_is_legacy(ctx)) {
        char *why = g_strdup_printf("%s %d.%d is too old (needs GL 3.3 core or GLES 3.0)", es ? "GLES" : "GL",
                                    major, minor);
        use_cairo(self, why, FALSE);
        g_free(why);
        return;
    }
    const char *prefix = es ? "#version 300 es\n"
                              "precision highp float;\nprecision highp int;\n"
                              "precision highp sampler2D;\nprecision highp usampler2D;\n"
                            : "#version 330 core\n";
    GString *log = g_string_new(NULL);
    GLuint vs = compile_shader(GL_VERTEX_SHADER, prefix, "view.vert.glsl", log);
    GLuint fs = vs ? compile_shader(GL_FRAGMENT_SHADER, prefix, "view.frag.glsl", log) : 0;
    if (vs && fs) {
        self->program = glCreateProgram();
        glAttachShader(self->program, vs);
        glAttachShader(self->program, fs);
        glLinkProgram(self->program);
        GLint ok = 0;
        glGetProgramiv(self->program, GL_LINK_STATUS, &ok);
        if (!ok) {
            char msg[2048] = "";
            glGetProgramInfoLog(self->program, sizeof msg, NULL, msg);
            g_string_append_printf(log, "the view's shaders do not link: %s", msg);
            glDeleteProgram(self->program);
            self->program = 0;
        }
    }
    if (vs) glDeleteShader(vs);
    if (fs) glDeleteShader(fs);
    if (!self->program) {
        use_cairo(self, log->str, TRUE);
        g_string_free(log, TRUE);
        return;
    }
    g_string_free(log, TRUE);
    for (int i = 0; i < N_UNIFORMS; i++) self->loc[i] = glGetUniformLocation(self->program, uniform_names[i]);
    glGetIntegerv(GL_MAX_TEXTURE_SIZE, &self->max_tex);
    glGenVertexArrays(1, &self->vao);
    for (int i = 0; i < N_TEX; i++) self->tex[i] = make_texture();

    /* the colour tables never change */
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    const div_table *tab = div_table_get();
    upload_table(self->tex[T_BREAKS], GL_R32F, GL_RED, GL_FLOAT, tab->breaks, tab->n, sizeof(float));
    upload_table(self->tex[T_HEAT_COLOURS], GL_RGBA8UI, GL_RGBA_INTEGER, GL_UNSIGNED_BYTE, tab->rgba, tab->n + 1, 4);
    uint8_t cat[TS_CMAP_CATEGORIES * 4];
    for (int i = 0; i < TS_CMAP_CATEGORIES; i++) {
        ts_cmap_categorical(i, cat + 4 * i);
        cat[4 * i + 3] = 255;
    }
    upload_table(self->tex[T_CATEGORIES], GL_RGBA8UI, GL_RGBA_INTEGER, GL_UNSIGNED_BYTE, cat, TS_CMAP_CATEGORIES, 4);
    self->dirty = DIRTY_HEAT | DIRTY_AMAP | DIRTY_IMAGE;
    GLenum err = glGetError();
    if (err != GL_NO_ERROR) {
        char *why = g_strdup_printf("GL error 0x%x while setting up", err);
        gl_free(self);
        use_cairo(self, why, TRUE);
        g_free(why);
        return;
    }
    g_free(self->gl_info);
    self->gl_info = g_strdup_printf("%s %d.%d, %s", es ? "OpenGL ES" : "OpenGL", major, minor,
                                    (const char *)glGetString(GL_RENDERER));
    self->gl_ok = TRUE;
}

static void area_unrealize(GtkGLArea *area, TsGlView *self)
{
    gtk_gl_area_make_current(area);
    if (!gtk_gl_area_get_error(area)) gl_free(self);
    self->gl_ok = FALSE;
}

static gboolean area_render(GtkGLArea *area, GdkGLContext *ctx, TsGlView *self)
{
    (void)ctx;
    if (!self->gl_ok || self->gl_error) return TRUE;
    if ((self->heat_rg && MAX(self->heat_w, self->heat_h) > self->max_tex)
        || (self->amap && MAX(self->amap_w, self->amap_h) > self->max_tex)
        || (self->image.data && MAX(self->image.width, self->image.height) > self->max_tex)) {
        char *why = g_strdup_printf("a map is larger than the GL texture limit (%d)", self->max_tex);
        use_cairo(self, why, FALSE);
        g_free(why);
        return TRUE;
    }
    upload_dirty(self);
    int scale = gtk_widget_get_scale_factor(GTK_WIDGET(area));
    int fb_w = gtk_widget_get_width(GTK_WIDGET(area)) * scale, fb_h = gtk_widget_get_height(GTK_WIDGET(area)) * scale;
    view_params p;
    params_compute(self, fb_w, fb_h, scale, &p);
    const div_table *tab = div_table_get();

    glViewport(0, 0, fb_w, fb_h);
    glDisable(GL_BLEND);
    glUseProgram(self->program);
    glUniform1f(self->loc[U_FB_HEIGHT], (float)fb_h);
    glUniform2f(self->loc[U_ORIGIN], p.origin[0], p.origin[1]);
    glUniform1f(self->loc[U_INV_ZOOM], p.inv_zoom);
    glUniform2i(self->loc[U_MAP_SIZE], p.map_w, p.map_h);
    glUniform1i(self->loc[U_LAYER], p.layer);
    glUniform1f(self->loc[U_HEAT_INV], p.heat_inv);
    glUniform1i(self->loc[U_N_BREAKS], tab->n);
    glUniform1i(self->loc[U_HAS_IMAGE], p.has_image);
    glUniform2f(self->loc[U_IMG_STEP], p.img_step[0], p.img_step[1]);
    glUniform2i(self->loc[U_IMG_SIZE], MAX(p.img_w, 1), MAX(p.img_h, 1));
    glUniform1i(self->loc[U_ALPHA], p.alpha);
    glUniform1i(self->loc[U_CROSS_ON], p.cross_on);
    glUniform2i(self->loc[U_CROSS], p.cross[0], p.cross[1]);
    glUniform3i(self->loc[U_CROSS_COLOUR], ts_gl_cross_rgb[0], ts_gl_cross_rgb[1], ts_gl_cross_rgb[2]);
    glUniform3i(self->loc[U_BACKGROUND], ts_gl_background_rgb[0], ts_gl_background_rgb[1], ts_gl_background_rgb[2]);
    for (int i = 0; i < N_TEX; i++) {
        glActiveTexture(GL_TEXTURE0 + i);
        glBindTexture(GL_TEXTURE_2D, self->tex[i]);
        glUniform1i(self->loc[U_HEAT + i], i);
    }
    glBindVertexArray(self->vao);
    glDrawArrays(GL_TRIANGLES, 0, 3);
    glBindVertexArray(0);
    glActiveTexture(GL_TEXTURE0);
    glUseProgram(0);
    GLenum err = glGetError();
    if (err != GL_NO_ERROR) {
        char *why = g_strdup_printf("GL error 0x%x while drawing", err);
        use_cairo(self, why, TRUE);
        g_free(why);
    }
    return TRUE;
}

gboolean ts_gl_view_is_gl(TsGlView *self)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), FALSE);
    return self->gl_ok && !self->gl_error;
}

const char *ts_gl_view_get_gl_info(TsGlView *self)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), "");
    return self->gl_info && ts_gl_view_is_gl(self) ? self->gl_info : "";
}

const char *ts_gl_view_get_gl_error(TsGlView *self)
{
    g_return_val_if_fail(TS_IS_GL_VIEW(self), "");
    return self->gl_error ? self->gl_error : "";
}

void ts_gl_view_set_use_es(TsGlView *self, gboolean use_es)
{
    g_return_if_fail(TS_IS_GL_VIEW(self));
    g_return_if_fail(!gtk_widget_get_realized(self->area));
    self->use_es = use_es;
    gtk_gl_area_set_use_es(GTK_GL_AREA(self->area), use_es);
}

/* ---- input ---- */

static void emit_hover(TsGlView *self, double x, double y)
{
    if (x == self->hover_x && y == self->hover_y) return;
    self->hover_x = x, self->hover_y = y;
    g_signal_emit(self, signals[SIG_HOVER], 0, x, y);
}

static void on_motion(GtkEventControllerMotion *c, double x, double y, TsGlView *self)
{
    (void)c;
    double mx, my;
    self->pointer_x = x, self->pointer_y = y, self->pointer_in = TRUE;
    if (ts_gl_view_widget_to_map(self, x, y, &mx, &my)) emit_hover(self, mx, my);
    else emit_hover(self, -1, -1);
}

static void on_leave(GtkEventControllerMotion *c, TsGlView *self)
{
    (void)c;
    self->pointer_in = FALSE;
    emit_hover(self, -1, -1);
}

static void anchor(TsGlView *self, double *x, double *y)
{
    if (self->pointer_in) {
        *x = self->pointer_x, *y = self->pointer_y;
    } else {
        *x = gtk_widget_get_width(GTK_WIDGET(self)) / 2.0;
        *y = gtk_widget_get_height(GTK_WIDGET(self)) / 2.0;
    }
}

static gboolean on_scroll(GtkEventControllerScroll *c, double dx, double dy, TsGlView *self)
{
    (void)c, (void)dx;
    double x, y;
    anchor(self, &x, &y);
    ts_gl_view_set_zoom(self, self->zoom * pow(ZOOM_STEP, -dy), x, y);
    return TRUE;
}

static void on_drag_begin(GtkGestureDrag *g, double x, double y, TsGlView *self)
{
    (void)g, (void)x, (void)y;
    self->drag_ox = self->ox, self->drag_oy = self->oy;
    gtk_widget_grab_focus(GTK_WIDGET(self));
}

static void on_drag_update(GtkGestureDrag *g, double dx, double dy, TsGlView *self)
{
    (void)g;
    ts_gl_view_set_transform(self, self->zoom, self->drag_ox + dx, self->drag_oy + dy);
}

static void on_pinch_begin(GtkGesture *g, GdkEventSequence *seq, TsGlView *self)
{
    (void)g, (void)seq;
    self->pinch_zoom = self->zoom;
}

static void on_pinch(GtkGestureZoom *g, double scale, TsGlView *self)
{
    double x, y;
    if (!gtk_gesture_get_bounding_box_center(GTK_GESTURE(g), &x, &y)) anchor(self, &x, &y);
    ts_gl_view_set_zoom(self, self->pinch_zoom * scale, x, y);
}

static void on_pressed(GtkGestureClick *g, int n_press, double x, double y, TsGlView *self)
{
    (void)g, (void)x, (void)y;
    gtk_widget_grab_focus(GTK_WIDGET(self));
    if (n_press == 2) ts_gl_view_fit(self);
}

static gboolean on_key(GtkEventControllerKey *c, guint keyval, guint keycode, GdkModifierType state,
                       TsGlView *self)
{
    (void)c, (void)keycode;
    double step = (state & GDK_SHIFT_MASK) ? 128 : 32, x, y;
    x = gtk_widget_get_width(GTK_WIDGET(self)) / 2.0;
    y = gtk_widget_get_height(GTK_WIDGET(self)) / 2.0;
    switch (keyval) {
    case GDK_KEY_Left: case GDK_KEY_KP_Left:
        ts_gl_view_set_transform(self, self->zoom, self->ox + step, self->oy);
        return TRUE;
    case GDK_KEY_Right: case GDK_KEY_KP_Right:
        ts_gl_view_set_transform(self, self->zoom, self->ox - step, self->oy);
        return TRUE;
    case GDK_KEY_Up: case GDK_KEY_KP_Up:
        ts_gl_view_set_transform(self, self->zoom, self->ox, self->oy + step);
        return TRUE;
    case GDK_KEY_Down: case GDK_KEY_KP_Down:
        ts_gl_view_set_transform(self, self->zoom, self->ox, self->oy - step);
        return TRUE;
    case GDK_KEY_plus: case GDK_KEY_equal: case GDK_KEY_KP_Add:
        ts_gl_view_set_zoom(self, self->zoom * ZOOM_STEP, x, y);
        return TRUE;
    case GDK_KEY_minus: case GDK_KEY_KP_Subtract:
        ts_gl_view_set_zoom(self, self->zoom / ZOOM_STEP, x, y);
        return TRUE;
    case GDK_KEY_0: case GDK_KEY_KP_0:
        ts_gl_view_fit(self);
        return TRUE;
    case GDK_KEY_1: case GDK_KEY_KP_1:
        ts_gl_view_set_zoom(self, 1.0, x, y);
        return TRUE;
    default:
        return FALSE;
    }
}

/* ---- GtkWidget ---- */

static void ts_gl_view_measure(GtkWidget *w, GtkOrientation o, int for_size, int *min, int *nat, int *min_base,
                               int *nat_base)
{
    (void)w, (void)o, (void)for_size;
    *min = 32;
    *nat = 256;
    *min_base = *nat_base = -1;
}

static void ts_gl_view_size_allocate(GtkWidget *w, int width, int height, int baseline)
{
    TsGlView *self = TS_GL_VIEW(w);
    gtk_widget_allocate(self->area, width, height, baseline, NULL);
    if (!self->user_moved) fit(self);
}

static void ts_gl_view_snapshot(GtkWidget *w, GtkSnapshot *snapshot)
{
    TsGlView *self = TS_GL_VIEW(w);
    if (!self->gl_error) {
        gtk_widget_snapshot_child(w, self->area, snapshot);
        return;
    }
    int scale = gtk_widget_get_scale_factor(w), width = gtk_widget_get_width(w), height = gtk_widget_get_height(w);
    if (width < 1 || height < 1) return;
    int fb_w = width * scale, fb_h = height * scale;
    view_params p;
    params_compute(self, fb_w, fb_h, scale, &p);
    guint32 *px = g_new(guint32, (size_t)fb_w * fb_h);
    ts_gl_maps maps = maps_of(self);
    ts_gl_render_cpu(&maps, &p, px, fb_w);
    /* 0xffRRGGBB words are GDK_MEMORY_DEFAULT (premultiplied BGRA in
     * memory on little-endian, ARGB words natively), opaque */
    GBytes *bytes = g_bytes_new_take(px, (size_t)fb_w * fb_h * 4);
    GdkTexture *tex = gdk_memory_texture_new(fb_w, fb_h, GDK_MEMORY_DEFAULT, bytes, (gsize)fb_w * 4);
    gtk_snapshot_append_texture(snapshot, tex, &GRAPHENE_RECT_INIT(0, 0, width, height));
    g_object_unref(tex);
    g_bytes_unref(bytes);
}

static void ts_gl_view_dispose(GObject *o)
{
    TsGlView *self = TS_GL_VIEW(o);
    g_clear_pointer(&self->area, gtk_widget_unparent);
    G_OBJECT_CLASS(ts_gl_view_parent_class)->dispose(o);
}

static void ts_gl_view_finalize(GObject *o)
{
    TsGlView *self = TS_GL_VIEW(o);
    g_free(self->heat_rg);
    g_free(self->amap);
    ts_image_clear(&self->image);
    g_free(self->gl_error);
    g_free(self->gl_info);
    G_OBJECT_CLASS(ts_gl_view_parent_class)->finalize(o);
}

static void ts_gl_view_class_init(TsGlViewClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    oc->dispose = ts_gl_view_dispose;
    oc->finalize = ts_gl_view_finalize;
    wc->measure = ts_gl_view_measure;
    wc->size_allocate = ts_gl_view_size_allocate;
    wc->snapshot = ts_gl_view_snapshot;
    gtk_widget_class_set_accessible_role(wc, GTK_ACCESSIBLE_ROLE_IMG);
    gtk_widget_class_set_css_name(wc, "ts-gl-view");
    signals[SIG_HOVER] = g_signal_new("hover", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_DOUBLE);
    signals[SIG_VIEW_CHANGED] = g_signal_new("view-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                             NULL, NULL, G_TYPE_NONE, 0);
}

static void ts_gl_view_init(TsGlView *self)
{
    GtkWidget *w = GTK_WIDGET(self);
    self->layer = TS_GL_VIEW_HEAT;
    self->opacity = 0.6;
    self->cross_x = self->cross_y = -1;
    self->hover_x = self->hover_y = -1;
    self->zoom = 1;

    self->area = gtk_gl_area_new();
    gtk_gl_area_set_auto_render(GTK_GL_AREA(self->area), FALSE);
    gtk_widget_set_parent(self->area, w);
    /* TS_GL_VIEW=cairo forces the Cairo path, =gles asks for OpenGL ES */
    const char *env = g_getenv("TS_GL_VIEW");
    if (env && !strcmp(env, "gles")) ts_gl_view_set_use_es(self, TRUE);
    if (env && !strcmp(env, "cairo")) self->gl_error = g_strdup("TS_GL_VIEW=cairo");
    g_signal_connect_after(self->area, "realize", G_CALLBACK(area_realize), self);
    g_signal_connect(self->area, "unrealize", G_CALLBACK(area_unrealize), self);
    g_signal_connect(self->area, "render", G_CALLBACK(area_render), self);

    gtk_widget_set_focusable(w, TRUE);
    gtk_widget_set_focus_on_click(w, TRUE);
    gtk_accessible_update_property(GTK_ACCESSIBLE(self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Map view"),
                                   GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                   _("Drag to pan, scroll to zoom, double-click to fit"), -1);

    GtkEventController *motion = gtk_event_controller_motion_new();
    g_signal_connect(motion, "motion", G_CALLBACK(on_motion), self);
    g_signal_connect(motion, "leave", G_CALLBACK(on_leave), self);
    gtk_widget_add_controller(w, motion);

    GtkEventController *scroll = gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
    g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
    gtk_widget_add_controller(w, scroll);

    GtkGesture *drag = gtk_gesture_drag_new();
    gtk_gesture_single_set_button(GTK_GESTURE_SINGLE(drag), GDK_BUTTON_PRIMARY);
    g_signal_connect(drag, "drag-begin", G_CALLBACK(on_drag_begin), self);
    g_signal_connect(drag, "drag-update", G_CALLBACK(on_drag_update), self);
    gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(drag));

    GtkGesture *pinch = gtk_gesture_zoom_new();
    g_signal_connect(pinch, "begin", G_CALLBACK(on_pinch_begin), self);
    g_signal_connect(pinch, "scale-changed", G_CALLBACK(on_pinch), self);
    gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(pinch));

    GtkGesture *click = gtk_gesture_click_new();
    g_signal_connect(click, "pressed", G_CALLBACK(on_pressed), self);
    gtk_widget_add_controller(w, GTK_EVENT_CONTROLLER(click));

    GtkEventController *keys = gtk_event_controller_key_new();
    g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key), self);
    gtk_widget_add_controller(w, keys);
}

GtkWidget *ts_gl_view_new(void)
{
    return g_object_new(TS_TYPE_GL_VIEW, NULL);
}
