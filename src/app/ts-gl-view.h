/* ts-gl-view.h - TsGlView: one map (an LRP relevance heatmap or the A(x,y)
 * landmark map), optionally over the face, at full resolution, with pan and
 * zoom, drawn on the GPU (GtkGLArea + shaders/view.*.glsl) and, where GL is
 * missing or fails, by a Cairo twin that gives the same pixels.
 *
 * Coordinates.  "Map pixels" follow image.h's convention: the centre of
 * map pixel (i, j) is the point (i, j), so the map covers
 * [-0.5, w-0.5) x [-0.5, h-0.5).  The transform is
 *     widget = origin + zoom * (map + 0.5)
 * (zoom = widget pixels per map pixel, origin = where the map's top-left
 * corner lands in the widget).  Every map pixel is a crisp square
 * (nearest-neighbour).  The map shown sets the coordinate space; with no
 * map (layer TS_GL_VIEW_IMAGE) the image's pixels do.  The image is
 * stretched over the map's rectangle (a 256x256 face under a 64x64 heatmap
 * is fine).
 *
 * Colours are colormap.h's, exactly: relevance through ts_cmap_diverging
 * with ts_colormap_relevance's scale rule, A(x,y) through
 * ts_cmap_categorical (tables made from those functions, indexed so that
 * every float gives colormap.c's colour).  The blend over the image is
 * (image*(256-a) + map*a + 128) >> 8 with a = round(opacity*256).
 *
 * Input: drag (primary button) pans; scroll wheel and pinch zoom about the
 * pointer; double-click fits; keys: arrows pan (Shift: more), + / = zoom
 * in, - zooms out, 0 fits, 1 shows one map pixel per screen pixel.  Until
 * the user pans or zooms, the view keeps the map fitted when resized.
 *
 * Signals:
 *   "hover" (double x, double y): the map pixel under the pointer, in map
 *       pixels as above; (-1, -1) when the pointer leaves the map.
 *   "view-changed" (): zoom or origin changed (to keep views in step).
 *
 * GL: a 3.3 core or ES 3.0 context, whichever GTK gives (GLSL "#version 330
 * core" / "#version 300 es" put in front of the GResource's shader text);
 * any failure (no GL, realize error, shader compile or link error, a GL
 * error while drawing, a map larger than the GL texture limit) is logged
 * once and the widget draws with the Cairo twin from then on.
 */
#ifndef TS_GL_VIEW_H
#define TS_GL_VIEW_H

#include <cairo.h>
#include <gtk/gtk.h>
#include <stdint.h>

#include "face/image.h"

G_BEGIN_DECLS

#define TS_TYPE_GL_VIEW (ts_gl_view_get_type())
G_DECLARE_FINAL_TYPE(TsGlView, ts_gl_view, TS, GL_VIEW, GtkWidget)

typedef enum {
    TS_GL_VIEW_HEAT = 0, /* the relevance map (over the image when one is set) */
    TS_GL_VIEW_AMAP,     /* the A(x,y) map (over the image when one is set) */
    TS_GL_VIEW_IMAGE,    /* the image alone */
} TsGlViewLayer;

GtkWidget *ts_gl_view_new(void);

/* Relevance map (H,W), copied.  scale > 0 fixes the symmetric colour scale
 * (to compare heatmaps); scale <= 0 takes max |finite value| as
 * ts_colormap_relevance does.  Shows the heat layer.  map NULL clears it. */
void ts_gl_view_set_heat(TsGlView *view, const float *map, int w, int h, float scale);
/* The scale in use (what the colour bar should be labelled with). */
float ts_gl_view_get_heat_scale(TsGlView *view);

/* A(x,y) landmark indices (H,W), copied; shows the A(x,y) layer.  map NULL
 * clears it. */
void ts_gl_view_set_amap(TsGlView *view, const uint8_t *map, int w, int h);

/* The face under the map, copied (converted to grey first when grey is
 * TRUE, as ts_image_to_grey does).  img NULL removes it. */
void ts_gl_view_set_image(TsGlView *view, const ts_image *img, gboolean grey);

/* Which layer is shown (set_heat / set_amap choose theirs). */
void ts_gl_view_set_layer(TsGlView *view, TsGlViewLayer layer);
TsGlViewLayer ts_gl_view_get_layer(TsGlView *view);

/* Opacity of the map over the image, 0..1 (default 0.6); without an image
 * the map is opaque. */
void ts_gl_view_set_opacity(TsGlView *view, double opacity);

/* Crosshair at map pixel (x, y) (a one-pixel green line through that point,
 * as the Cairo panels draw it); x < 0 or y < 0 removes it.  Typically fed
 * from another panel's "hover". */
void ts_gl_view_set_crosshair(TsGlView *view, double x, double y);

/* zoom: widget pixels per map pixel; ox, oy: widget position of the map's
 * top-left corner.  Any pointer may be NULL. */
void ts_gl_view_get_transform(TsGlView *view, double *zoom, double *ox, double *oy);
/* Sets the transform (zoom clamped to [1/32, 512]); counts as a user move
 * (no automatic fit on resize afterwards). */
void ts_gl_view_set_transform(TsGlView *view, double zoom, double ox, double oy);
/* Zoom to `zoom` keeping the map point under widget point (wx, wy) fixed. */
void ts_gl_view_set_zoom(TsGlView *view, double zoom, double wx, double wy);
/* Fits the map into the widget, centred, and resumes fitting on resize. */
void ts_gl_view_fit(TsGlView *view);

/* Widget point -> map pixel coordinates; FALSE when outside the map. */
gboolean ts_gl_view_widget_to_map(TsGlView *view, double wx, double wy, double *mx, double *my);

/* Asks for an OpenGL ES context instead of desktop GL; only before the
 * widget is realized (tests, drivers with broken desktop GL). */
void ts_gl_view_set_use_es(TsGlView *view, gboolean use_es);
/* TRUE while the GL path draws (realized, shaders compiled, no error). */
gboolean ts_gl_view_is_gl(TsGlView *view);
/* The GL context in use, e.g. "OpenGL 4.5, llvmpipe (LLVM 15.0.6, 256
 * bits)"; "" while none.  transfer: none. */
const char *ts_gl_view_get_gl_info(TsGlView *view);
/* Why GL is not used ("" before realize or while it works).
 * transfer: none. */
const char *ts_gl_view_get_gl_error(TsGlView *view);

/* The Cairo twin: the view as it would be drawn in a widget of width x
 * height pixels with the current transform, the same pixels as the GL path.
 * For export and tests.  transfer: full (an RGB24 image surface; its
 * status is an error status when it could not be made). */
cairo_surface_t *ts_gl_view_render_cairo(TsGlView *view, int width, int height);

/* The view's table form of ts_cmap_diverging: the same colour for every
 * float t (exposed for the test that checks it). */
void ts_gl_view_diverging_lookup(float t, uint8_t rgb[3]);

G_END_DECLS

#endif
