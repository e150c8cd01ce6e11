/* ts-gl-view-cpu.h - private to TsGlView (ts-gl-view.c): what its GL path
 * and its Cairo twin share.
 *
 * One set of numbers drives both paths: the widget turns its state into
 * view_params, the float / int values the shader receives as uniforms, and
 * ts_gl_render_cpu evaluates view.frag.glsl's contract with the very same
 * values and the very same float operations (a subtraction then a
 * multiplication, no fusable a*b+c), so the two paths give identical
 * pixels (tests/app/test-gl-view.c checks it).  Colours are colormap.c's:
 * the diverging map becomes a table of breakpoints (every float t where
 * ts_cmap_diverging's output changes) and the colour of each interval, the
 * table the shader searches too.
 */
#ifndef TS_GL_VIEW_CPU_H
#define TS_GL_VIEW_CPU_H

#include <stdint.h>

#include "face/image.h"

extern const uint8_t ts_gl_background_rgb[3];
extern const uint8_t ts_gl_cross_rgb[3];

typedef struct div_table {
    int n;            /* breakpoints */
    float *breaks;    /* n ascending floats: the first t of each new colour */
    uint8_t *rgba;    /* n + 1 colours, RGBA (alpha unused) */
} div_table;

/* The table (built once, kept for the process).  transfer: none. */
const div_table *div_table_get(void);
/* Number of breakpoints <= t (view.frag.glsl's binary search). */
int div_index(const div_table *tab, float t);

/* Everything the shader gets, computed once for both paths. */
typedef struct view_params {
    int fb_w, fb_h;
    float origin[2], inv_zoom;
    int map_w, map_h;
    int layer; /* 0 relevance, 1 A(x,y), 2 image only, 3 nothing */
    float heat_inv;
    int has_image;
    float img_step[2];
    int img_w, img_h;
    int alpha;
    int cross_on, cross[2];
} view_params;

/* The maps a view shows (borrowed): heat_rg (H,W,2): value, kind (0
 * finite, 1 NaN, 2 +Inf, 3 -Inf); amap (H,W) indices; image (data NULL:
 * none). */
typedef struct ts_gl_maps {
    const float *heat_rg;
    const uint8_t *amap;
    ts_image image;
} ts_gl_maps;

/* The Cairo twin of view.frag.glsl: out is fb_w x fb_h 0xffRRGGBB. */
void ts_gl_render_cpu(const ts_gl_maps *maps, const view_params *p, uint32_t *out, int stride_px);

#endif
