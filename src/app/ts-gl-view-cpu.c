/* ts-gl-view-cpu.c - the CPU side of TsGlView's shader contract (see
 * ts-gl-view-cpu.h): the diverging map as breakpoints, and the Cairo twin
 * of shaders/view.frag.glsl. */
#include "app/ts-gl-view-cpu.h"

#include <glib.h>
#include <math.h>
#include <string.h>

#include "explain/colormap.h"

const uint8_t ts_gl_background_rgb[3] = { 48, 48, 48 };
/* the crosshair colour of figure.c's panels, made opaque */
const uint8_t ts_gl_cross_rgb[3] = { 0, 255, 102 };

/* ---- the diverging map as breakpoints ---- */

/* Floats as unsigned keys in the floats' order (-0.0 just below +0.0). */
static uint32_t float_key(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

static float key_float(uint32_t k)
{
    uint32_t b = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static uint32_t div_rgb(uint32_t key)
{
    uint8_t c[3];
    ts_cmap_diverging(key_float(key), c);
    return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
}

typedef struct breaks_acc {
    GArray *t;   /* float */
    GArray *rgb; /* uint32 */
} breaks_acc;

/* Every colour change between keys a < b (colours ca != cb), by bisection
 * over the float keys down to neighbouring floats. */
static void find_breaks(breaks_acc *acc, uint32_t a, uint32_t b, uint32_t ca, uint32_t cb)
{
    if (b - a == 1) {
        float t = key_float(b);
        g_array_append_val(acc->t, t);
        g_array_append_val(acc->rgb, cb);
        return;
    }
    uint32_t mid = a + (b - a) / 2, cm = div_rgb(mid);
    if (cm != ca) find_breaks(acc, a, mid, ca, cm);
    if (cm != cb) find_breaks(acc, mid, b, cm, cb);
}

/* ts_cmap_diverging is constant below -1 and above 1 and, between its
 * ColorBrewer anchors, each channel is a monotone rounding of a linear
 * function, so its colour changes only where neighbouring samples differ
 * at a spacing (2^-15) far below the smallest step of any channel: sampling
 * then bisecting finds every change. */
const div_table *div_table_get(void)
{
    static div_table table;
    static gsize once;
    if (g_once_init_enter(&once)) {
        breaks_acc acc = { g_array_new(FALSE, FALSE, sizeof(float)),
                           g_array_new(FALSE, FALSE, sizeof(uint32_t)) };
        uint32_t prev_key = float_key(-1.0f), prev = div_rgb(prev_key);
        g_array_append_val(acc.rgb, prev);
        const int n_samples = 1 << 16;
        for (int j = 1; j <= n_samples; j++) {
            uint32_t k = float_key(-1.0f + 2.0f * (float)j / (float)n_samples);
            uint32_t c = div_rgb(k);
            if (c != prev) find_breaks(&acc, prev_key, k, prev, c);
            prev_key = k, prev = c;
        }
        table.n = (int)acc.t->len;
        table.breaks = (float *)g_array_free(acc.t, FALSE);
        table.rgba = g_malloc((size_t)(table.n + 1) * 4);
        for (int i = 0; i <= table.n; i++) {
            uint32_t c = g_array_index(acc.rgb, uint32_t, i);
            table.rgba[4 * i] = c >> 16, table.rgba[4 * i + 1] = c >> 8 & 255;
            table.rgba[4 * i + 2] = c & 255, table.rgba[4 * i + 3] = 255;
        }
        g_array_free(acc.rgb, TRUE);
        g_once_init_leave(&once, 1);
    }
    return &table;
}

/* Number of breakpoints <= t (view.frag.glsl's binary search). */
int div_index(const div_table *tab, float t)
{
    int lo = 0, hi = tab->n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (tab->breaks[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void ts_gl_view_diverging_lookup(float t, uint8_t rgb[3])
{
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = 128;
        return;
    }
    const div_table *tab = div_table_get();
    memcpy(rgb, tab->rgba + 4 * div_index(tab, t), 3);
}

/* ---- the Cairo twin ---- */

static inline uint32_t pack(const uint8_t c[3])
{
    return 0xff000000u | (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
}

/* Map pixel index along one axis for framebuffer pixel i (the shader's
 * floor((w - origin) * step)); values outside [0, n) become -1 or n. */
static int axis_index(int i, float origin, float step, int n)
{
    float d = ((float)i + 0.5f) - origin;
    float f = floorf(d * step);
    return f < 0 ? -1 : f >= (float)n ? n : (int)f;
}

void ts_gl_render_cpu(const ts_gl_maps *self, const view_params *p, uint32_t *out, int stride_px)
{
    uint32_t bg = pack(ts_gl_background_rgb), cross = pack(ts_gl_cross_rgb);
    int *mx = g_new(int, p->fb_w), *ix = g_new(int, p->fb_w);
    int *my = g_new(int, p->fb_h), *iy = g_new(int, p->fb_h);
    for (int x = 0; x < p->fb_w; x++) {
        mx[x] = axis_index(x, p->origin[0], p->inv_zoom, p->map_w);
        if (p->has_image) ix[x] = CLAMP(axis_index(x, p->origin[0], p->img_step[0], p->img_w), 0, p->img_w - 1);
    }
    for (int y = 0; y < p->fb_h; y++) {
        my[y] = axis_index(y, p->origin[1], p->inv_zoom, p->map_h);
        if (p->has_image) iy[y] = CLAMP(axis_index(y, p->origin[1], p->img_step[1], p->img_h), 0, p->img_h - 1);
    }
    /* the map's colours, once per map pixel */
    uint32_t *mc = NULL;
    size_t n = (size_t)p->map_w * p->map_h;
    if (p->layer == 0) {
        const div_table *tab = div_table_get();
        mc = g_new(uint32_t, n);
        for (size_t i = 0; i < n; i++) {
            float v = self->heat_rg[2 * i], kind = self->heat_rg[2 * i + 1];
            uint8_t c[3] = { 128, 128, 128 };
            if (kind != 1) {
                float t = kind == 2 ? 1.0f : kind == 3 ? -1.0f : v * p->heat_inv;
                memcpy(c, tab->rgba + 4 * div_index(tab, t), 3);
            }
            mc[i] = pack(c);
        }
    } else if (p->layer == 1) {
        mc = g_new(uint32_t, n);
        for (size_t i = 0; i < n; i++) {
            uint8_t c[3];
            ts_cmap_categorical(self->amap[i], c);
            mc[i] = pack(c);
        }
    }
    for (int y = 0; y < p->fb_h; y++) {
        uint32_t *row = out + (size_t)y * stride_px;
        for (int x = 0; x < p->fb_w; x++) {
            uint32_t c = bg;
            if (p->layer != 3 && mx[x] >= 0 && mx[x] < p->map_w && my[y] >= 0 && my[y] < p->map_h) {
                uint32_t img = 0;
                if (p->has_image) {
                    const uint8_t *q = ts_image_pixel(&self->image, ix[x], iy[y]);
                    img = pack(q);
                }
                if (p->layer == 2) {
                    c = img;
                } else {
                    uint32_t v = mc[(size_t)my[y] * p->map_w + mx[x]];
                    if (p->has_image) {
                        c = 0xff000000u;
                        for (int s = 0; s <= 16; s += 8) {
                            int a = (int)(img >> s & 255), b = (int)(v >> s & 255);
                            c |= (uint32_t)((a * (256 - p->alpha) + b * p->alpha + 128) >> 8) << s;
                        }
                    } else {
                        c = v;
                    }
                }
                if (p->cross_on && (x == p->cross[0] || y == p->cross[1])) c = cross;
            }
            row[x] = c;
        }
    }
    g_free(mc);
    g_free(mx), g_free(ix), g_free(my), g_free(iy);
}
